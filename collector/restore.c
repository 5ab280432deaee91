/* restore: a restarted collector carries on.  From the store: the agents
 * it knew (so one that never comes back is seen as silent, and its host
 * name keeps its region), then the results of the last correlation window,
 * oldest first, as they arrived: the engine's health states are what they
 * were, a standing fault keeps its incident, and one that healed meanwhile
 * closes when the agents' backlogs show it. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "ingest.h"
#include "correlate.h"
#include "grow.h"
#include "store.h"

struct collector_restore {
    struct correlate *corr;
    int64_t newest_us; /* the last time an agent was heard of */
    uint64_t results;
    struct collector_seen *seen; /* what each agent last said, for after the replay */
    size_t nseen, capseen;
    int failed; /* out of memory */
};

struct collector_seen {
    char *name;
    int64_t last_seen_us;
};

static int collector_seed(void *ctx, const struct store_agent_row *row)
{
    struct collector_restore *r = ctx;
    json_error_t jerr;
    json_t *labels = json_loads(row->labels_json, 0, &jerr);
    const char *region = labels ? json_string_value(json_object_get(labels, "region")) : NULL;
    const char *host = labels ? json_string_value(json_object_get(labels, "host")) : NULL;
    const char *role = labels ? json_string_value(json_object_get(labels, "role")) : NULL;
    ingest_correlate_agent(r->corr, row->name, region, role, host, 0);
    json_decref(labels);
    if (row->last_seen_us > r->newest_us)
        r->newest_us = row->last_seen_us;
    char *name = FL_GROW(r->seen, r->capseen, r->nseen, 64) ? NULL : strdup(row->name);
    if (!name)
        return r->failed = 1;
    r->seen[r->nseen++] = (struct collector_seen){name, row->last_seen_us};
    return 0;
}

static int collector_replay(void *ctx, const struct store_result_row *row)
{
    struct collector_restore *r = ctx;
    fl_result *d = row->detail_len ? faultline__result__unpack(NULL, row->detail_len, row->detail)
                                   : NULL;
    fl_result res = FAULTLINE__RESULT__INIT;
    if (d)
        res = *d; /* its detail, still d's */
    res.target = (char *)(uintptr_t)row->target;
    res.address = (char *)(uintptr_t)row->address;
    res.probe = (Faultline__ProbeType)row->probe;
    res.status = (Faultline__Status)row->status;
    res.fault_code = row->fault_code;
    res.start_us = row->ts_us;
    res.duration_us = row->duration_us;
    ingest_correlate_result(r->corr, row->agent, &res, 0);
    if (d)
        faultline__result__free_unpacked(d, NULL);
    r->results++;
    return 0;
}

int collector_restore(struct store *st, struct correlate *corr, int64_t window_us, int64_t now_us,
                      uint64_t *replayed)
{
    struct collector_restore r = {.corr = corr};
    int rc = -1;
    if (store_query_agents(st, collector_seed, &r) != 0 || r.failed)
        goto out;
    struct store_filter f = {.since_us = r.newest_us - window_us, .oldest_first = 1};
    if (r.newest_us && store_query_results(st, &f, collector_replay, &r) != 0)
        goto out;
    /* After the replay (whose results move each agent's last sign of life
     * along): what the agents last said of themselves. */
    for (size_t i = 0; i < r.nseen; i++)
        correlate_heartbeat(corr, r.seen[i].name, NULL, r.seen[i].last_seen_us);
    correlate_watching_since(corr, now_us);
    *replayed = r.results;
    rc = 0;
out:
    for (size_t i = 0; i < r.nseen; i++)
        free(r.seen[i].name);
    free(r.seen);
    return rc;
}
