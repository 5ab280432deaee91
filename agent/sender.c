/* sender: the agent's half of the delivery protocol, on a ZeroMQ DEALER
 * driven by the libuv loop.
 *
 *   not welcomed: send Hello every second until a Welcome says where the
 *                 collector stands; then resend from committed_upto+1.
 *   welcomed:     send batches from the outbox while fewer than
 *                 SENDER_WINDOW results are unacknowledged; an Ack moves
 *                 the mark and frees outbox rows.  No Ack progress for
 *                 SENDER_ACK_TIMEOUT while results are in flight (collector
 *                 restarted, connection lost) means: Hello again.
 *   The socket's monitor says when the connection drops (whatever was in
 *   flight on it is gone: not welcomed any more) and when a new one has
 *   finished its handshake (Hello at once, not at the next tick), so
 *   delivery resumes as soon as the network does.
 *   refused:      the collector's allow-list does not hold our key (or the
 *                 handshake broke: a wrong server key).  libzmq never dials
 *                 again after that, so we do, backing off from
 *                 SENDER_REDIAL_MIN_MS to SENDER_REDIAL_MAX_MS: a key added
 *                 to the collector's list (and its SIGHUP) gets us in within
 *                 about a second.  The 1st, 2nd, 4th, 8th ... refusal is
 *                 logged, with the collector's address and our public key;
 *                 so are handshakes that break (a wrong server key), which
 *                 libzmq dials again by itself.
 *
 * ZMQ_FD is edge-triggered and only signals "readable": we drain while
 * ZMQ_EVENTS says POLLIN, and after every send check ZMQ_EVENTS again,
 * because a send can consume the notification of replies already queued. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "agent.h"
#include "log.h"
#include "timeutil.h"
#include "transport.h"

#define SENDER_BATCH 256
#define SENDER_WINDOW 2048
#define SENDER_TICK_MS 200
#define SENDER_HELLO_NS (1000ull * 1000 * 1000)
#define SENDER_ACK_TIMEOUT_NS (5000ull * 1000 * 1000)
#define SENDER_REDIAL_MIN_MS 100
#define SENDER_REDIAL_MAX_MS 1000

static char sender_version[] = FL_VERSION; /* protobuf-c wants char * */

struct sender {
    uv_loop_t *loop;
    void *sock, *mon;
    uv_poll_t poll, mpoll;
    uv_idle_t idle;
    uv_timer_t tick, redial;
    int closing;
    const struct agent_config *cfg;
    struct outbox *ob;
    int welcomed;
    uint64_t acked, sent; /* collector's mark; highest seq sent */
    uint64_t last_progress_ns, last_hello_ns, last_heartbeat_ns, last_gap_ns;
    uint64_t refused, broken;   /* handshakes refused / failed, ever */
    uint64_t turned_away;       /* refused or failed since the last success */
    unsigned backoff_ms;        /* the next re-dial's delay; 0: none due */
    int up;                     /* a connection finished its handshake */
    int handshake_ended;        /* this connection's failure is counted */
};

static void sender__on_idle(uv_idle_t *h);

/* Send LEN bytes of BUF to the collector, without waiting.  0 or -1. */
static int sender__send_bytes(struct sender *s, const uint8_t *buf, size_t len)
{
    int rc = zmq_send(s->sock, buf, len, ZMQ_DONTWAIT);
    int events = 0;
    size_t elen = sizeof events;
    if (zmq_getsockopt(s->sock, ZMQ_EVENTS, &events, &elen) == 0 && (events & ZMQ_POLLIN))
        uv_idle_start(&s->idle, sender__on_idle);
    return rc < 0 ? -1 : 0;
}

static int sender__send(struct sender *s, fl_envelope *env)
{
    uint8_t *buf;
    env->agent = s->cfg->name;
    size_t len = wire_encode(env, &buf);
    if (!len)
        return -1;
    int rc = sender__send_bytes(s, buf, len);
    free(buf);
    return rc;
}

static void sender__hello(struct sender *s, uint64_t now)
{
    Faultline__Hello h = FAULTLINE__HELLO__INIT;
    h.epoch = outbox_epoch(s->ob);
    h.next_seq = outbox_next_seq(s->ob);
    h.version = sender_version;
    h.labels = s->cfg->labels;
    h.n_labels = s->cfg->nlabels;
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.body_case = FAULTLINE__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    /* Not connected yet (ZMQ_IMMEDIATE refuses): try again next tick. */
    if (sender__send(s, &env) == 0)
        s->last_hello_ns = now;
}

static void sender__heartbeat(struct sender *s, uint64_t now)
{
    Faultline__Heartbeat h = FAULTLINE__HEARTBEAT__INIT;
    h.epoch = outbox_epoch(s->ob);
    h.version = sender_version;
    h.labels = s->cfg->labels;
    h.n_labels = s->cfg->nlabels;
    h.spool_depth = outbox_depth(s->ob);
    h.next_seq = outbox_next_seq(s->ob);
    h.sent_us = time_now_us();
    h.dropped = outbox_dropped(s->ob);
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.body_case = FAULTLINE__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &h;
    s->last_heartbeat_ns = now;
    sender__send(s, &env);
}

static void sender__gap(struct sender *s, uint64_t from, uint64_t to, const char *reason,
                        uint64_t now)
{
    Faultline__Gap g = FAULTLINE__GAP__INIT;
    char why[FL_WIRE_MAX_TEXT + 1];
    snprintf(why, sizeof why, "%s", reason);
    g.epoch = outbox_epoch(s->ob);
    g.from_seq = from;
    g.to_seq = to;
    g.reason = why;
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.body_case = FAULTLINE__ENVELOPE__BODY_GAP;
    env.gap = &g;
    s->last_gap_ns = now;
    sender__send(s, &env);
}

/* Results the collector lacks and the agent no longer holds: either dropped
 * from a full outbox (kept as a gap), or acknowledged earlier by a
 * collector whose database has since been lost.  Say so, once a second at
 * most, until the collector's mark passes them. */
static void sender__gaps(struct sender *s, uint64_t now)
{
    if (now - s->last_gap_ns < SENDER_HELLO_NS)
        return;
    uint64_t from, to;
    const char *reason;
    uint64_t lowest = outbox_oldest(s->ob);
    if (outbox_gap(s->ob, &from, &to, &reason) == 1 && to >= s->acked + 1) {
        if (from > s->acked + 1)
            sender__gap(s, s->acked + 1, from - 1, "not held by the agent (acknowledged before)",
                        now);
        else
            sender__gap(s, from, to, reason, now);
        return;
    }
    if (s->acked + 1 < lowest)
        sender__gap(s, s->acked + 1, lowest - 1, "not held by the agent (acknowledged before)",
                    now);
}

static void sender__pump(struct sender *s)
{
    if (s->closing)
        return;
    uint64_t now = time_mono_ns();
    if (!s->welcomed) {
        if (now - s->last_hello_ns >= SENDER_HELLO_NS)
            sender__hello(s, now);
        return;
    }
    sender__gaps(s, now);
    struct outbox_row batch[SENDER_BATCH];
    while (s->sent - s->acked < SENDER_WINDOW) {
        uint64_t from = s->sent + 1;
        if (from < outbox_oldest(s->ob))
            from = outbox_oldest(s->ob);
        size_t room = SENDER_WINDOW - (size_t)(s->sent - s->acked);
        int n = outbox_read(s->ob, from, room < SENDER_BATCH ? room : SENDER_BATCH, batch);
        if (n <= 0)
            break;
        /* As the outbox keeps them: packed once, when they were made. */
        const uint8_t *data[SENDER_BATCH];
        size_t lens[SENDER_BATCH];
        for (int i = 0; i < n; i++) {
            data[i] = batch[i].data;
            lens[i] = batch[i].len;
        }
        if (s->sent == s->acked)
            s->last_progress_ns = now; /* the ack clock starts with the first in flight */
        uint8_t *buf;
        size_t len = wire_encode_batch(s->cfg->name, outbox_epoch(s->ob), data, lens, (size_t)n,
                                       &buf);
        int rc = len ? sender__send_bytes(s, buf, len) : -1;
        free(buf);
        uint64_t last = batch[n - 1].seq;
        outbox_rows_free(batch, (size_t)n);
        if (rc != 0)
            break; /* no connection (ZMQ_IMMEDIATE): the outbox keeps them */
        s->sent = last;
    }
}

static void sender__on_ack(struct sender *s, uint64_t epoch, uint64_t upto, int welcome)
{
    if (epoch != outbox_epoch(s->ob))
        return;
    uint64_t now = time_mono_ns();
    if (welcome) {
        if (!s->welcomed)
            log_info("collector welcomes us: committed up to %llu, outbox holds %llu",
                     (unsigned long long)upto, (unsigned long long)outbox_depth(s->ob));
        s->welcomed = 1;
        s->acked = upto;
        s->sent = upto; /* resend everything after the mark */
        s->last_progress_ns = now;
        s->last_gap_ns = 0;
    } else if (upto > s->acked) {
        s->acked = upto;
        s->last_progress_ns = now;
    }
    if (s->sent < s->acked)
        s->sent = s->acked;
    if (outbox_ack(s->ob, s->acked) != 0)
        log_error("outbox: cannot forget acknowledged results (will retry)");
    sender__pump(s);
}

static void sender__handle(struct sender *s, const void *data, size_t len)
{
    struct wire_msg *m = NULL;
    char why[160];
    enum wire_status st = wire_decode(data, len, &m, why, sizeof why);
    if (st != WIRE_OK) {
        log_warn("rejected message from the collector (%s): %s", wire_status_name(st), why);
        return;
    }
    const fl_envelope *env = m->env;
    if (env->body_case == FAULTLINE__ENVELOPE__BODY_WELCOME)
        sender__on_ack(s, env->welcome->epoch, env->welcome->committed_upto, 1);
    else if (env->body_case == FAULTLINE__ENVELOPE__BODY_ACK)
        sender__on_ack(s, env->ack->epoch, env->ack->committed_upto, 0);
    else
        log_warn("unexpected message from the collector ignored");
    wire_msg_free(&m);
}

static void sender__drain(struct sender *s)
{
    for (;;) {
        int events = 0;
        size_t elen = sizeof events;
        if (s->closing || zmq_getsockopt(s->sock, ZMQ_EVENTS, &events, &elen) != 0 ||
            !(events & ZMQ_POLLIN))
            return;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, s->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        sender__handle(s, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
    }
}

static void sender__on_poll(uv_poll_t *h, int status, int events)
{
    sender__drain(h->data);
}

static void sender__on_redial(uv_timer_t *t)
{
    struct sender *s = t->data;
    char err[256];
    if (transport_redial(s->sock, s->cfg->endpoint, err, sizeof err) != 0)
        log_error("%s", err);
}

/* A handshake that did not let us in: count it, say so on a back-off step
 * (the 1st, 2nd, 4th, 8th ... time), and after an authentication refusal
 * or a protocol error (which end libzmq's own reconnecting) dial again after
 * the back-off.  REASON: NULL for a refusal, else what broke. */
static void sender__turned_away(struct sender *s, uint32_t value, const char *reason, int redial)
{
    uint64_t n = reason ? ++s->broken : ++s->refused;
    s->turned_away++;
    s->handshake_ended = 1;
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : SENDER_REDIAL_MIN_MS;
    if (s->backoff_ms > SENDER_REDIAL_MAX_MS)
        s->backoff_ms = SENDER_REDIAL_MAX_MS;
    if ((n & (n - 1)) == 0) {
        if (!reason)
            log_warn("the collector at %s refused this agent's key %s (status %u; %llu refused so "
                     "far, next try in %u ms): add the key to the collector's allow-list and "
                     "send the collector SIGHUP",
                     s->cfg->endpoint, s->cfg->keys.public_key, value, (unsigned long long)n,
                     s->backoff_ms);
        else
            log_warn("the handshake with the collector at %s failed (%s; %llu failed so far): "
                     "if this goes on, is collector.server_key (%s) the collector's public key?",
                     s->cfg->endpoint, reason, (unsigned long long)n, s->cfg->keys.server_key);
    }
    if (redial)
        uv_timer_start(&s->redial, sender__on_redial, s->backoff_ms, 0);
}

static void sender__events(struct sender *s)
{
    enum transport_event ev;
    uint32_t value;
    char why[64];
    while (!s->closing && (ev = transport_event(s->mon, &value)) != TRANSPORT_NONE) {
        switch (ev) {
        case TRANSPORT_DOWN:
            if (s->up && s->welcomed)
                log_warn("connection to the collector lost; %llu results in flight will be resent",
                         (unsigned long long)(s->sent - s->acked));
            else if (!s->up && !s->handshake_ended)
                sender__turned_away(s, 0, "the connection closed during the handshake", 0);
            s->up = s->handshake_ended = 0;
            s->welcomed = 0;
            s->sent = s->acked;
            break;
        case TRANSPORT_REFUSED:
            sender__turned_away(s, value, NULL, 1);
            break;
        case TRANSPORT_FAILED:
            /* An errno: the connection broke, libzmq dials again itself. */
            if (value < ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED)
                sender__turned_away(s, value, zmq_strerror((int)value), 0);
            else {
                snprintf(why, sizeof why, "ZMTP error 0x%x", (unsigned)value);
                sender__turned_away(s, value, why, 1);
            }
            break;
        case TRANSPORT_UP:
            if (s->turned_away)
                log_info("the collector at %s let this agent in after %llu refused or failed "
                         "handshakes",
                         s->cfg->endpoint, (unsigned long long)s->turned_away);
            else
                log_debug("connected to the collector");
            s->up = 1;
            s->turned_away = 0;
            s->backoff_ms = 0;
            uv_timer_stop(&s->redial);
            s->last_hello_ns = 0; /* greet now */
            sender__pump(s);
            break;
        default:
            break;
        }
    }
}

static void sender__on_monitor(uv_poll_t *h, int status, int events)
{
    sender__events(h->data);
}

static void sender__on_idle(uv_idle_t *h)
{
    uv_idle_stop(h);
    sender__drain(h->data);
}

static void sender__on_tick(uv_timer_t *t)
{
    struct sender *s = t->data;
    uint64_t now = time_mono_ns();
    if (s->welcomed && s->sent > s->acked && now - s->last_progress_ns > SENDER_ACK_TIMEOUT_NS) {
        log_warn("no acknowledgement for %llu results in %llus: greeting the collector again",
                 (unsigned long long)(s->sent - s->acked),
                 (unsigned long long)(SENDER_ACK_TIMEOUT_NS / 1000000000));
        s->welcomed = 0;
        s->sent = s->acked;
        s->last_hello_ns = 0;
    }
    if (now - s->last_heartbeat_ns >= (uint64_t)s->cfg->heartbeat_us * 1000)
        sender__heartbeat(s, now);
    sender__events(s);
    sender__pump(s);
    sender__drain(s);
}

struct sender *sender_new(uv_loop_t *loop, void *zctx, const struct agent_config *cfg,
                          struct outbox *ob, char *err, size_t errlen)
{
    struct sender *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->sock = transport_agent_open(zctx, cfg->endpoint, &cfg->keys, &s->mon, err, errlen);
    if (!s->sock) {
        free(s);
        return NULL;
    }
    int fd, mfd;
    size_t fdlen = sizeof fd;
    zmq_getsockopt(s->sock, ZMQ_FD, &fd, &fdlen);
    zmq_getsockopt(s->mon, ZMQ_FD, &mfd, &fdlen);
    s->loop = loop;
    s->cfg = cfg;
    s->ob = ob;
    uv_poll_init_socket(loop, &s->poll, fd);
    uv_poll_init_socket(loop, &s->mpoll, mfd);
    uv_idle_init(loop, &s->idle);
    uv_timer_init(loop, &s->tick);
    uv_timer_init(loop, &s->redial);
    s->poll.data = s->mpoll.data = s->idle.data = s->tick.data = s->redial.data = s;
    uv_poll_start(&s->poll, UV_READABLE, sender__on_poll);
    uv_poll_start(&s->mpoll, UV_READABLE, sender__on_monitor);
    uv_timer_start(&s->tick, sender__on_tick, 0, SENDER_TICK_MS);
    return s;
}

void sender_kick(struct sender *s)
{
    sender__pump(s);
}

static void sender__on_close(uv_handle_t *h)
{
    struct sender *s = h->data;
    if (--s->closing == 0) {
        transport_free(&s->sock);
        transport_free(&s->mon);
        free(s);
    }
}

void sender_stop(struct sender *s)
{
    if (s->closing)
        return;
    s->closing = 5;
    uv_close((uv_handle_t *)&s->redial, sender__on_close);
    uv_close((uv_handle_t *)&s->poll, sender__on_close);
    uv_close((uv_handle_t *)&s->mpoll, sender__on_close);
    uv_close((uv_handle_t *)&s->idle, sender__on_close);
    uv_close((uv_handle_t *)&s->tick, sender__on_close);
}

void sender_free(struct sender **ps)
{
    if (!ps || !*ps)
        return;
    sender_stop(*ps); /* memory goes in the last close callback */
    *ps = NULL;
}
