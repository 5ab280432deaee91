/* store: the collector's history, behind one interface whatever keeps it:
 * a backend (store_backend.h) is chosen when the store is opened, by the
 * location's scheme.  sqlite:PATH, or a bare PATH, is the embedded SQLite
 * store (store_sqlite.c); postgresql://... is reserved for PostgreSQL.
 *
 * Writers group work in a transaction (store_begin ... store_commit); the
 * collector acknowledges results to agents only after store_commit()
 * returned 0.  Inserts are idempotent on (agent, epoch, seq). */
#ifndef FL_STORE_H
#define FL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct store;

struct store_opts {
    const char *url; /* sqlite:PATH or PATH; postgresql://... (not in this build) */
    int readonly;     /* the CLI: open an existing database, never write */
    int sync_normal;  /* faster commits that a power loss may undo (SQLite: synchronous=NORMAL) */
};

/* Open (creating schema when writable).  NULL with a reason in ERR. */
struct store *store_open(const struct store_opts *opts, char *err, size_t errlen);
void store_free(struct store **st);

/* The last error, as text for logs. */
const char *store_errmsg(struct store *st);

/* Transactions: one writer at a time.  0 or -1. */
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);

/* The id of agent NAME, created on first sight.  -1 on error. */
int64_t store_agent_id(struct store *st, const char *name);

/* Record what an agent said about itself.  LABELS_JSON may be NULL. */
int store_agent_seen(struct store *st, int64_t agent, const char *version, const char *labels_json,
                     int64_t now_us);
int store_agent_heartbeat(struct store *st, int64_t agent, uint64_t spool_depth, uint64_t dropped,
                          int64_t clock_offset_us, int64_t now_us);

/* Highest seq such that every seq up to it is stored, for (agent, epoch);
 * 0 for a stream never seen. */
int store_committed(struct store *st, int64_t agent, uint64_t epoch, uint64_t *committed);

/* Store N contiguous results of one stream; move the stream's committed
 * mark when they continue it.  *INSERTED counts new rows (the rest were
 * duplicates) and FRESH, when not NULL, gets N flags: 1 for a result stored
 * now, 0 for a duplicate; *COMMITTED gets the stream's mark.  0 or -1. */
int store_put_results(struct store *st, int64_t agent, uint64_t epoch, fl_result *const *results,
                      size_t n, uint8_t *fresh, size_t *inserted, uint64_t *committed);

/* Record seqs FROM..TO that the agent will never send, and move the mark
 * past them when they continue it. */
int store_put_gap(struct store *st, int64_t agent, uint64_t epoch, uint64_t from, uint64_t to,
                  const char *reason, int64_t now_us, uint64_t *committed);

/* ---- incidents ------------------------------------------------------- */

/* Names, as a set: an incident's agents or its targets. */
struct store_names {
    const char *const *v;
    size_t n;
};

struct store_incident {
    int64_t id;
    const char *verdict, *component, *explanation;
    struct store_names agents, targets;
    uint32_t fault_code;
    int64_t start_us, end_us, updated_us; /* end_us 0 while open */
    int64_t npairs;
};

/* Open an incident; its id goes to *ID.  0 or -1. */
int store_incident_open(struct store *st, const struct store_incident *in, int64_t *id);
/* Refresh an open incident (what it explains grew or changed). */
int store_incident_update(struct store *st, const struct store_incident *in);
int store_incident_close(struct store *st, int64_t id, int64_t end_us);

/* When the failures of AGENTS toward TARGETS since SINCE_US stopped: for
 * each (agent, target, address) that failed, the end of the first good
 * result after its last failure; the latest of those into *HEALED_US; 0
 * when there is none (none failed, or none came good).  An incident ends
 * then, not when the engine was sure of it, nor when a collector that was
 * down came back.  0 or -1. */
int store_healed_at(struct store *st, const struct store_names *agents,
                    const struct store_names *targets, int64_t since_us, int64_t *healed_us);

struct store_incident_filter {
    int64_t since_us, until_us; /* incidents overlapping the range; 0: no bound */
    const char *verdict, *component;
    const char *agent;  /* among the agents it involves */
    const char *target; /* among its targets */
    const char *region; /* one of its agents is in it (their `region` label) */
    int fault_code;     /* exactly; 0: any */
    int open_only;
    int64_t id; /* one incident; 0: any */
    int64_t limit;
};

/* Newest first.  0 or -1. */
int store_query_incidents(struct store *st, const struct store_incident_filter *f,
                          int (*fn)(void *ctx, const struct store_incident *in), void *ctx);

/* ---- queries ---------------------------------------------------------- */

struct store_filter {
    const char *agent;   /* exact name, or NULL */
    const char *target;  /* exact target name, or NULL */
    int probe;           /* Faultline__ProbeType, 0 for any */
    int status;          /* Faultline__Status, 0 for any; -1 for "not ok" */
    int64_t since_us;    /* 0: no bound */
    int64_t until_us;    /* 0: no bound */
    int64_t limit;       /* 0: no limit */
    int oldest_first;    /* in the order they ran (default: newest first) */
};

struct store_result_row {
    const char *agent;
    uint64_t epoch, seq;
    int64_t ts_us;
    int probe, status;
    const char *target, *address, *message;
    uint32_t duration_us, fault_code;
    const void *detail; /* packed Result holding only the detail */
    size_t detail_len;
};

struct store_agent_row {
    const char *name, *version, *labels_json;
    int64_t first_seen_us, last_seen_us, last_heartbeat_us, clock_offset_us;
    uint64_t spool_depth, dropped, results, gaps_missing;
};

/* Call FN for each matching row, newest first unless F says otherwise; FN
 * returns nonzero to stop.
 * 0 or -1. */
int store_query_results(struct store *st, const struct store_filter *f,
                        int (*fn)(void *ctx, const struct store_result_row *row), void *ctx);
int store_query_agents(struct store *st,
                       int (*fn)(void *ctx, const struct store_agent_row *row), void *ctx);

/* Keys the collector refused lately (its allow-list does not hold them):
 * store_put_refusals replaces what is stored with ROWS. 0 or -1. */
struct store_refusal_row {
    const char *key, *address;
    int64_t first_us, last_us;
    uint64_t count;
};
int store_put_refusals(struct store *st, const struct store_refusal_row *rows, size_t n);
/* Each refused key, the one refused last first. 0 or -1. */
int store_query_refusals(struct store *st,
                         int (*fn)(void *ctx, const struct store_refusal_row *row), void *ctx);

/* Results an agent reported lost (Gap records), as the ranges still missing. */
struct store_gap_row {
    const char *agent, *reason;
    uint64_t epoch, from_seq, to_seq;
    int64_t received_us;
};

/* Each gap, of AGENT only unless NULL, by agent, epoch and seq. 0 or -1. */
int store_query_gaps(struct store *st, const char *agent,
                     int (*fn)(void *ctx, const struct store_gap_row *row), void *ctx);

#endif
