/* alert_sink: what the dispatcher (alert.c) and the sinks (alert_log.c,
 * alert_webhook.c, alert_am.c, alert_exec.c) share.  Private to them.
 *
 * A sink is its ops: what an incident event becomes (a queued delivery,
 * or a log line at once), how the delivery at the head of its queue is
 * started (an HTTP POST through the dispatcher's curl multi handle, or a
 * child process), and, for a sink that re-sends on its own, when and
 * what.  The dispatcher owns the queues, the retries and the polling. */
#ifndef FL_ALERT_SINK_H
#define FL_ALERT_SINK_H

#include <curl/curl.h>
#include <sys/types.h>

#include "alert.h"

struct alert_job {
    char *body; /* what is sent (JSON) */
    int64_t id; /* incident */
    enum incident_event ev;
    int64_t created_us;
    unsigned attempts;
    struct alert_job *next;
};

struct alert_sink {
    const struct alert_sink_ops *ops;
    struct alert_sink_config cfg;
    char name[48];
    struct alert_job *head, *tail;
    size_t queued;
    /* in flight: a curl easy handle or a child process */
    CURL *easy;
    pid_t child;
    int64_t started_us;
    int64_t next_try_us, backoff_us;
    void *state; /* the sink's own (ops->free releases it) */
};

struct alert_sink_ops {
    struct alert_sink_kind kind;
    /* EV for IN, which the sink's level routes to it. */
    void (*event)(struct alerter *a, struct alert_sink *s, enum incident_event ev,
                  const struct incident *in, int64_t now_us);
    /* An incident open when the collector started (NULL: nothing to do). */
    void (*adopt)(struct alerter *a, struct alert_sink *s, const struct incident *in);
    /* Start delivering S->head: 0, or -1 with errno (NULL: never queues). */
    int (*start)(struct alerter *a, struct alert_sink *s);
    /* When it next wants to act on its own, -1: never (NULL: never).
     * tick() then runs at that time. */
    int64_t (*due_us)(const struct alert_sink *s);
    void (*tick)(struct alerter *a, struct alert_sink *s, int64_t now_us);
    void (*free)(struct alert_sink *s);
};

extern const struct alert_sink_ops alert_log_ops, alert_webhook_ops, alert_am_ops, alert_exec_ops;

/* Queue BODY (taken: freed when delivered or dropped; NULL is ignored) for
 * S, about incident ID. */
void alert_push(struct alerter *a, struct alert_sink *s, char *body, int64_t id,
                enum incident_event ev, int64_t now_us);
/* POST S->head's body to URL as JSON. */
int alert_start_post(struct alerter *a, struct alert_sink *s, const char *url);
/* The collector's URL for links (NULL: none). */
const char *alert_link_base(const struct alerter *a);
/* Count a delivery made at once (the log sink). */
void alert_delivered_now(struct alerter *a);

#endif
