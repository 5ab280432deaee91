/* store: the store interface, dispatched to the backend the location's
 * scheme names. */
#include <stdio.h>
#include <string.h>

#include "store_backend.h"

static const struct store_ops *const store__backends[] = {&store_sqlite_ops};

struct store *store_open(const struct store_opts *opts, char *err, size_t errlen)
{
    const char *url = opts->url ? opts->url : "";
    const char *colon = strchr(url, ':');
    size_t scheme_len = colon ? (size_t)(colon - url) : 0;
    /* A bare path (no scheme, or a directory with a colon in it) is SQLite's. */
    const char *slash = strchr(url, '/');
    if (!colon || (slash && slash < colon) || scheme_len == 0)
        return store_sqlite_ops.open(url, opts, err, errlen);
    for (size_t i = 0; i < sizeof store__backends / sizeof store__backends[0]; i++)
        if (strlen(store__backends[i]->scheme) == scheme_len &&
            !strncmp(url, store__backends[i]->scheme, scheme_len))
            return store__backends[i]->open(colon + 1, opts, err, errlen);
    if (!strncmp(url, "postgresql:", 11) || !strncmp(url, "postgres:", 9))
        snprintf(err, errlen, "%.200s: this build has no PostgreSQL store (use sqlite:PATH)", url);
    else
        snprintf(err, errlen, "%.200s: unknown store '%.*s' (sqlite:PATH, or a file path)", url,
                 (int)(scheme_len < 32 ? scheme_len : 32), url);
    return NULL;
}

void store_free(struct store **st)
{
    if (st && *st) {
        (*st)->ops->close(*st);
        *st = NULL;
    }
}

const char *store_errmsg(struct store *st)
{
    return st ? st->ops->errmsg(st) : "no store";
}

int store_begin(struct store *st)
{
    return st->ops->begin(st);
}

int store_commit(struct store *st)
{
    return st->ops->commit(st);
}

void store_rollback(struct store *st)
{
    st->ops->rollback(st);
}

int64_t store_agent_id(struct store *st, const char *name)
{
    return st->ops->agent_id(st, name);
}

int store_agent_seen(struct store *st, int64_t agent, const char *version, const char *labels_json,
                     int64_t now_us)
{
    return st->ops->agent_seen(st, agent, version, labels_json, now_us);
}

int store_agent_heartbeat(struct store *st, int64_t agent, uint64_t spool_depth, uint64_t dropped,
                          int64_t clock_offset_us, int64_t now_us)
{
    return st->ops->agent_heartbeat(st, agent, spool_depth, dropped, clock_offset_us, now_us);
}

int store_committed(struct store *st, int64_t agent, uint64_t epoch, uint64_t *committed)
{
    return st->ops->committed(st, agent, epoch, committed);
}

int store_put_results(struct store *st, int64_t agent, uint64_t epoch, fl_result *const *results,
                      size_t n, uint8_t *fresh, size_t *inserted, uint64_t *committed)
{
    return st->ops->put_results(st, agent, epoch, results, n, fresh, inserted, committed);
}

int store_put_gap(struct store *st, int64_t agent, uint64_t epoch, uint64_t from, uint64_t to,
                  const char *reason, int64_t now_us, uint64_t *committed)
{
    return st->ops->put_gap(st, agent, epoch, from, to, reason, now_us, committed);
}

int store_incident_open(struct store *st, const struct store_incident *in, int64_t *id)
{
    return st->ops->incident_open(st, in, id);
}

int store_incident_update(struct store *st, const struct store_incident *in)
{
    return st->ops->incident_update(st, in);
}

int store_incident_close(struct store *st, int64_t id, int64_t end_us)
{
    return st->ops->incident_close(st, id, end_us);
}

int store_healed_at(struct store *st, const struct store_names *agents,
                    const struct store_names *targets, int64_t since_us, int64_t *healed_us)
{
    return st->ops->healed_at(st, agents, targets, since_us, healed_us);
}

int store_query_incidents(struct store *st, const struct store_incident_filter *f,
                          int (*fn)(void *ctx, const struct store_incident *in), void *ctx)
{
    return st->ops->query_incidents(st, f, fn, ctx);
}

int store_query_results(struct store *st, const struct store_filter *f,
                        int (*fn)(void *ctx, const struct store_result_row *row), void *ctx)
{
    return st->ops->query_results(st, f, fn, ctx);
}

int store_query_agents(struct store *st, int (*fn)(void *ctx, const struct store_agent_row *row),
                       void *ctx)
{
    return st->ops->query_agents(st, fn, ctx);
}

int store_put_refusals(struct store *st, const struct store_refusal_row *rows, size_t n)
{
    return st->ops->put_refusals(st, rows, n);
}

int store_query_refusals(struct store *st,
                         int (*fn)(void *ctx, const struct store_refusal_row *row), void *ctx)
{
    return st->ops->query_refusals(st, fn, ctx);
}

int store_query_gaps(struct store *st, const char *agent,
                     int (*fn)(void *ctx, const struct store_gap_row *row), void *ctx)
{
    return st->ops->query_gaps(st, agent, fn, ctx);
}
