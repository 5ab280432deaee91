/* faultline-collector internals. */
#ifndef FL_COLLECTOR_H
#define FL_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "correlate.h"
#include "store.h"
#include "wire.h"

struct collector_config {
    char *listen;    /* ZeroMQ endpoint agents connect to */
    char *database;  /* SQLite file */
    char *http_listen; /* HTTP API address; "" when off */
    char *external_url; /* how people reach it, for links in alerts; NULL: from http_listen */
    char *key;       /* the collector's CURVE key pair (faultline keygen) */
    char *allow;     /* the agents' public keys: a directory of NAME.pub or a file */
    int sync_normal; /* synchronous=NORMAL: faster, not power-loss safe */
    int64_t stats_interval_us;
    int64_t evaluate_interval_us; /* how often failures are correlated into incidents */
    struct correlate_config corr; /* thresholds (section "correlation") */
    struct alert_sink_config *sinks; /* section "alerts" */
    size_t nsinks;
};

/* Load FILE into CFG (defaults first).  0, or -1 with every error, one
 * "file:line:col: message" per line, in ERR. */
int collector_config_load(const char *file, struct collector_config *cfg, char *err,
                          size_t errlen);
void collector_config_defaults(struct collector_config *cfg);
void collector_config_free(struct collector_config *cfg);

struct ingest_counters {
    uint64_t messages;                  /* envelopes received */
    uint64_t rejected[WIRE_NSTATUS];    /* by reason (index WIRE_OK unused) */
    uint64_t unexpected;                /* valid but not for a collector */
    uint64_t results_stored, results_duplicate;
    uint64_t batches, gaps, hellos, heartbeats;
    uint64_t commits, commit_failures;
    uint64_t impersonations; /* payloads naming another agent than the key's */
    uint64_t connections_accepted, connections_closed;
    uint64_t handshakes_failed; /* with a reason libzmq reports */
};

struct ingest;
struct correlate;

/* Ingest on SOCK (a ROUTER) into ST, feeding every result and heartbeat to
 * CORR (may be NULL).  NULL on allocation failure. */
struct ingest *ingest_new(void *sock, struct store *st, struct correlate *corr);
void ingest_destroy(struct ingest **in);

/* With AUTH, each message is the authenticated agent's (its ZMQ User-Id),
 * whatever name the payload carries. */
struct auth;
void ingest_set_auth(struct ingest *in, struct auth *auth);

/* Receive what is waiting (at most MAX messages, and no more once 16,384
 * results are in), store it in one transaction and, only once it is committed, answer every agent.
 * Returns the number of messages handled, or -1 when the store failed (the
 * transaction was rolled back and nothing was acknowledged). */
int ingest_drain(struct ingest *in, int max);

const struct ingest_counters *ingest_counters(const struct ingest *in);

/* Give CORR one result of AGENT, received at RECEIVED_US (0: unknown, as
 * for history read back from the store). */
void ingest_correlate_result(struct correlate *corr, const char *agent, const fl_result *r,
                             int64_t received_us);

/* Count the connections and failed handshakes the socket's monitor MON
 * reports. */
void ingest_monitor(struct ingest *in, void *mon);

/* Before the first message: give CORR what ST knows (its agents, their
 * labels, and the results of the last WINDOW_US, oldest first), and start
 * its watch at NOW_US.  *REPLAYED gets the count of results.  0 or -1. */
int collector_restore(struct store *st, struct correlate *corr, int64_t window_us, int64_t now_us,
                      uint64_t *replayed);

#endif
