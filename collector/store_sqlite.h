/* store_sqlite: what the SQLite backend's files (store_sqlite.c: opening,
 * transactions, ingest; store_sqlite_query.c: incidents and queries)
 * share.  Private to them. */
#ifndef FL_STORE_SQLITE_H
#define FL_STORE_SQLITE_H

#include <sqlite3.h>

#include "store_backend.h"

/* target (name, address) -> id, so the hot path does no text lookups. */
struct store_target_slot {
    char *key; /* "name\naddress" */
    int64_t id;
};

struct store_sqlite {
    struct store base; /* first: the handle store.c dispatches on */
    sqlite3 *db;
    int readonly;
    sqlite3_stmt *ins_result, *ins_target, *get_target, *ins_agent, *get_agent, *get_stream,
        *put_stream, *agent_seen, *agent_hb, *ins_gap;
    struct store_target_slot *targets;
    size_t ntargets, cap;
};

/* The history's side of store_sqlite_ops (store_sqlite_query.c). */
int sqlite_incident_open(struct store *base, const struct store_incident *in, int64_t *id);
int sqlite_incident_update(struct store *base, const struct store_incident *in);
int sqlite_incident_close(struct store *base, int64_t id, int64_t end_us);
int sqlite_healed_at(struct store *base, const struct store_names *agents,
                     const struct store_names *targets, int64_t since_us, int64_t *healed_us);
int sqlite_query_incidents(struct store *base, const struct store_incident_filter *f,
                           int (*fn)(void *ctx, const struct store_incident *in), void *ctx);
int sqlite_query_results(struct store *base, const struct store_filter *f,
                         int (*fn)(void *ctx, const struct store_result_row *row), void *ctx);
int sqlite_query_agents(struct store *base, int (*fn)(void *ctx, const struct store_agent_row *row),
                        void *ctx);
int sqlite_put_refusals(struct store *base, const struct store_refusal_row *rows, size_t n);
int sqlite_query_refusals(struct store *base,
                          int (*fn)(void *ctx, const struct store_refusal_row *row), void *ctx);
int sqlite_query_gaps(struct store *base, const char *agent,
                      int (*fn)(void *ctx, const struct store_gap_row *row), void *ctx);

#endif
