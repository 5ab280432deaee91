/* store_backend: what a store backend implements (store_sqlite.c) and the
 * dispatch in store.c calls.  Private to the store. */
#ifndef FL_STORE_BACKEND_H
#define FL_STORE_BACKEND_H

#include "store.h"

/* Every backend's handle starts with this. */
struct store {
    const struct store_ops *ops;
};

/* One entry per store.h function, with the same contract. */
struct store_ops {
    const char *scheme; /* "sqlite": opened by sqlite:LOCATION */
    /* LOCATION: what follows the scheme (a file for SQLite). */
    struct store *(*open)(const char *location, const struct store_opts *opts, char *err,
                          size_t errlen);
    void (*close)(struct store *st);
    const char *(*errmsg)(struct store *st);
    int (*begin)(struct store *st);
    int (*commit)(struct store *st);
    void (*rollback)(struct store *st);
    int64_t (*agent_id)(struct store *st, const char *name);
    int (*agent_seen)(struct store *st, int64_t agent, const char *version, const char *labels_json,
                      int64_t now_us);
    int (*agent_heartbeat)(struct store *st, int64_t agent, uint64_t spool_depth, uint64_t dropped,
                           int64_t clock_offset_us, int64_t now_us);
    int (*committed)(struct store *st, int64_t agent, uint64_t epoch, uint64_t *committed);
    int (*put_results)(struct store *st, int64_t agent, uint64_t epoch, fl_result *const *results,
                       size_t n, uint8_t *fresh, size_t *inserted, uint64_t *committed);
    int (*put_gap)(struct store *st, int64_t agent, uint64_t epoch, uint64_t from, uint64_t to,
                   const char *reason, int64_t now_us, uint64_t *committed);
    int (*incident_open)(struct store *st, const struct store_incident *in, int64_t *id);
    int (*incident_update)(struct store *st, const struct store_incident *in);
    int (*incident_close)(struct store *st, int64_t id, int64_t end_us);
    int (*healed_at)(struct store *st, const struct store_names *agents,
                     const struct store_names *targets, int64_t since_us, int64_t *healed_us);
    int (*query_incidents)(struct store *st, const struct store_incident_filter *f,
                           int (*fn)(void *ctx, const struct store_incident *in), void *ctx);
    int (*query_results)(struct store *st, const struct store_filter *f,
                         int (*fn)(void *ctx, const struct store_result_row *row), void *ctx);
    int (*query_agents)(struct store *st, int (*fn)(void *ctx, const struct store_agent_row *row),
                        void *ctx);
    int (*put_refusals)(struct store *st, const struct store_refusal_row *rows, size_t n);
    int (*query_refusals)(struct store *st,
                          int (*fn)(void *ctx, const struct store_refusal_row *row), void *ctx);
    int (*query_gaps)(struct store *st, const char *agent,
                      int (*fn)(void *ctx, const struct store_gap_row *row), void *ctx);
};

extern const struct store_ops store_sqlite_ops;

#endif
