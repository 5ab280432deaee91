/* ingest: messages from agents into the store, acknowledged once they
 * are committed, and every result and heartbeat on to correlation. */
#ifndef FL_INGEST_H
#define FL_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "wire.h"

struct ingest_counters {
    uint64_t messages;               /* envelopes received */
    uint64_t rejected[WIRE_NSTATUS]; /* by reason (index WIRE_OK unused) */
    uint64_t unexpected;             /* valid but not for a collector */
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
void ingest_free(struct ingest **in);

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

/* Tell CORR that AGENT is alive at NOW_US (0: only known to exist), in
 * REGION with ROLE (its labels; NULL for none), and that it runs on HOST
 * (its `host` label) as well as on the host named like it: results toward
 * either get its region as their target's. */
void ingest_correlate_agent(struct correlate *corr, const char *agent, const char *region,
                            const char *role, const char *host, int64_t now_us);

/* Give CORR one result of AGENT, received at RECEIVED_US (0: unknown, as
 * for history read back from the store). */
void ingest_correlate_result(struct correlate *corr, const char *agent, const fl_result *r,
                             int64_t received_us);

/* Count the connections and failed handshakes the socket's monitor MON
 * reports. */
void ingest_monitor(struct ingest *in, void *mon);

#endif
