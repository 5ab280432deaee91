/* alert: incidents to people.
 *
 * One alert per incident: it is raised when the incident opens, updated
 * when what it blames grows, and resolved when it closes; single failing
 * checks never alert.  Each sink has a queue delivered in order, one
 * delivery in flight at a time; a delivery that fails is retried with
 * exponential back-off (1 s doubling to 60 s) until it is older than the
 * sink's give_up age, then dropped with an error.  Nothing here blocks:
 * HTTP goes through a libcurl multi handle whose sockets the collector's
 * zmq_poll watches, exec children are reaped without waiting.
 *
 * Sinks:
 *   log           one log line per event
 *   webhook       POST {"event": "open|update|resolve", "incident": {...}}
 *   alertmanager  POST /api/v2/alerts; labels alertname, verdict,
 *                 component, severity, incident; generatorURL the
 *                 incident's API URL; active alerts re-sent every
 *                 resend_interval; resolved with endsAt
 *   exec          runs a command with the event as JSON on stdin (and
 *                 FAULTLINE_EVENT, FAULTLINE_INCIDENT in its environment)
 * Routing: a sink takes incidents at its `severity` level or more severe
 * (L1 critical, L2 high, L3 warning; "all" also takes informational). */
#ifndef FL_ALERT_H
#define FL_ALERT_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "incident.h"

enum alert_sink_type {
    ALERT_SINK_LOG = 1,
    ALERT_SINK_WEBHOOK,
    ALERT_SINK_ALERTMANAGER,
    ALERT_SINK_EXEC,
    ALERT_SINK_NTYPES = ALERT_SINK_EXEC
};

/* What configuration needs to know of a sink type. */
struct alert_sink_kind {
    const char *name;  /* "webhook" */
    int takes_url;     /* 'url' is required, and only it takes one */
    int takes_command; /* 'command' is required, and only it takes one */
};

/* The kind of sink type T (NULL for none), and the type named NAME (0
 * for none). */
const struct alert_sink_kind *alert_sink_kind(enum alert_sink_type t);
enum alert_sink_type alert_sink_type_named(const char *name);

struct alert_sink_config {
    enum alert_sink_type type;
    char *url;            /* webhook: the URL; alertmanager: its base URL */
    char **argv;          /* exec: NULL-terminated */
    int level;            /* 1..3: deliver incidents at level <= this; 4: all */
    int64_t timeout_us;   /* one delivery (10 s) */
    int64_t resend_us;    /* alertmanager: re-send active alerts (60 s) */
    int64_t give_up_us;   /* drop a delivery failing for longer than this (1 h) */
};

struct alert_counters {
    uint64_t queued, delivered, failed_attempts, dropped;
};

struct alerter;

/* A dispatcher for N sinks (copied).  LINK_BASE (may be NULL) is the
 * collector's URL: an alert links to LINK_BASE/api/v1/incidents/ID
 * (Alertmanager's generatorURL).  NULL on allocation failure. */
struct alerter *alert_new(const struct alert_sink_config *sinks, size_t n,
                            const char *link_base);
/* Deliveries still queued are dropped; children still running are left
 * to finish on their own. */
void alert_free(struct alerter **a);

/* Queue EV for IN on every sink its level routes to.  Copies what it needs. */
void alert_event(struct alerter *a, enum incident_event ev, const struct incident *in,
                   int64_t now_us);

/* An incident already open when the collector started: alertmanager sinks
 * keep re-sending it (without a new open on the other sinks). */
void alert_adopt(struct alerter *a, const struct incident *in);

/* Poll integration: the file descriptors to watch go to ITEMS (at most
 * MAX); returns how many.  alert_timeout_ms() is how long the caller may
 * sleep (-1: no deadline).  alert_run() does whatever is due: pass the
 * items back after zmq_poll(). */
size_t alert_pollitems(struct alerter *a, zmq_pollitem_t *items, size_t max);
long alert_timeout_ms(struct alerter *a, int64_t now_us);
void alert_run(struct alerter *a, const zmq_pollitem_t *items, size_t n, int64_t now_us);

/* Deliveries still queued or in flight. */
size_t alert_pending(const struct alerter *a);
const struct alert_counters *alert_counters(const struct alerter *a);

/* The JSON body a webhook or exec sink gets for EV (caller frees). */
char *alert_payload_json(enum incident_event ev, const struct incident *in);

#endif
