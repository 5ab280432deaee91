/* ingest: ROUTER messages -> validate -> store -> commit -> answer.
 *
 * The order is the collector's promise: an Ack (or Welcome) never names a
 * seq whose row is not committed.  Replies are therefore queued while the
 * transaction is open and sent only after COMMIT succeeded; when it fails
 * they are dropped and the agents resend (inserts are idempotent). */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "auth.h"
#include "ingest.h"
#include "correlate.h"
#include "grow.h"
#include "log.h"
#include "probetype.h"
#include "timeutil.h"
#include "transport.h"

#define INGEST_MAX_ROUTING 256

struct ingest_reply {
    uint8_t routing[INGEST_MAX_ROUTING];
    size_t routing_len;
    uint8_t *data;
    size_t len;
};

/* A batch stored in the open transaction: the engine hears of its new
 * results once the transaction has committed, never before, never twice. */
struct ingest_fed {
    struct wire_msg *m;
    char *agent;    /* stored under this name (its key's) */
    uint8_t *fresh; /* per result: stored now (not a duplicate) */
};

struct ingest {
    void *sock;
    struct store *st;
    struct correlate *corr;
    struct auth *auth;
    struct ingest_counters c;
    struct ingest_reply *replies;
    size_t nreplies, cap;
    struct ingest_fed *fed; /* batches of the open transaction, for the engine */
    size_t nfed, capfed;
    uint64_t log_window_ns;      /* start of the current 10 s */
    unsigned logged, suppressed; /* warnings about agents' messages in it */
};

static void ingest__feed(struct ingest *in, int committed);

/* Warnings about what agents send are limited to 20 per 10 s, so that one
 * agent sending nonsense cannot fill the disk with logs; what was held back
 * is counted in the next line.  Every case is counted in /metrics anyway. */
#define INGEST_LOG_BURST 20
#define INGEST_LOG_WINDOW_NS (10ull * 1000 * 1000 * 1000)

static int ingest__may_log(struct ingest *in)
{
    uint64_t now = time_mono_ns();
    if (now - in->log_window_ns >= INGEST_LOG_WINDOW_NS) {
        if (in->suppressed)
            log_warn("%u more warnings about agents' messages held back in the last %llu s",
                     in->suppressed, (unsigned long long)(INGEST_LOG_WINDOW_NS / 1000000000));
        in->log_window_ns = now;
        in->logged = in->suppressed = 0;
    }
    if (in->logged < INGEST_LOG_BURST) {
        in->logged++;
        return 1;
    }
    in->suppressed++;
    return 0;
}

struct ingest *ingest_new(void *sock, struct store *st, struct correlate *corr)
{
    struct ingest *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->sock = sock;
    in->st = st;
    in->corr = corr;
    return in;
}

void ingest_set_auth(struct ingest *in, struct auth *auth)
{
    in->auth = auth;
}

/* The agent behind PAYLOAD is the one its key names (ZAP's User-Id), not
 * whoever the payload says: store under that name.  Returns the name the
 * payload claimed when it had to be replaced (to put back before the
 * message is freed), NULL otherwise; -1 in *DROP when the connection is
 * not an authenticated one. */
static char *ingest__authenticate(struct ingest *in, zmq_msg_t *payload, fl_envelope *env,
                                  int *drop)
{
    *drop = 0;
    if (!in->auth)
        return NULL;
    const char *uid = zmq_msg_gets(payload, "User-Id");
    if (!uid || !uid[0]) {
        *drop = 1;
        return NULL;
    }
    auth_seen(in->auth, uid, zmq_msg_get(payload, ZMQ_SRCFD));
    if (!strcmp(uid, env->agent))
        return NULL;
    uint64_t n = ++in->c.impersonations;
    if (ingest__may_log(in))
        log_warn("agent %s sent a message naming itself '%.64s': stored as %s (%llu so far)", uid,
                 env->agent, uid, (unsigned long long)n);
    char *claimed = env->agent;
    env->agent = (char *)(uintptr_t)uid;
    return claimed;
}

static void ingest__drop_replies(struct ingest *in)
{
    for (size_t i = 0; i < in->nreplies; i++)
        free(in->replies[i].data);
    in->nreplies = 0;
}

void ingest_free(struct ingest **pin)
{
    if (!pin || !*pin)
        return;
    ingest__drop_replies(*pin);
    ingest__feed(*pin, 0);
    free((*pin)->fed);
    free((*pin)->replies);
    free(*pin);
    *pin = NULL;
}

const struct ingest_counters *ingest_counters(const struct ingest *in)
{
    return &in->c;
}

/* Queue an answer (Welcome or Ack) to the peer at ROUTING. */
static int ingest__reply(struct ingest *in, zmq_msg_t *routing, fl_envelope *env)
{
    if (in->nreplies == in->cap) {
        size_t ncap = in->cap ? in->cap * 2 : 64;
        struct ingest_reply *n = realloc(in->replies, ncap * sizeof *n);
        if (!n)
            return -1;
        in->replies = n;
        in->cap = ncap;
    }
    struct ingest_reply *r = &in->replies[in->nreplies];
    r->routing_len = zmq_msg_size(routing);
    if (r->routing_len > INGEST_MAX_ROUTING)
        return -1;
    memcpy(r->routing, zmq_msg_data(routing), r->routing_len);
    r->len = wire_encode(env, &r->data);
    if (!r->len) {
        free(r->data);
        return -1;
    }
    in->nreplies++;
    return 0;
}

static void ingest__send_replies(struct ingest *in)
{
    for (size_t i = 0; i < in->nreplies; i++) {
        struct ingest_reply *r = &in->replies[i];
        /* A peer that went away is simply skipped by the ROUTER. */
        if (zmq_send(in->sock, r->routing, r->routing_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(in->sock, r->data, r->len, ZMQ_DONTWAIT) < 0)
            log_debug("reply dropped: %s", zmq_strerror(errno));
    }
    ingest__drop_replies(in);
}

static char *ingest__labels_json(size_t n, Faultline__Label **labels)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, labels[i]->key, json_string(labels[i]->value));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static int ingest__answer(struct ingest *in, zmq_msg_t *routing, char *agent,
                          uint64_t epoch, uint64_t committed, int welcome)
{
    fl_envelope out = FAULTLINE__ENVELOPE__INIT;
    Faultline__Welcome w = FAULTLINE__WELCOME__INIT;
    Faultline__Ack a = FAULTLINE__ACK__INIT;
    out.agent = agent;
    if (welcome) {
        w.epoch = epoch;
        w.committed_upto = committed;
        out.body_case = FAULTLINE__ENVELOPE__BODY_WELCOME;
        out.welcome = &w;
    } else {
        a.epoch = epoch;
        a.committed_upto = committed;
        out.body_case = FAULTLINE__ENVELOPE__BODY_ACK;
        out.ack = &a;
    }
    return ingest__reply(in, routing, &out);
}

static const char *ingest__label(size_t n, Faultline__Label **labels, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(labels[i]->key, key))
            return labels[i]->value;
    return "";
}

void ingest_correlate_agent(struct correlate *corr, const char *agent, const char *region,
                            const char *role, const char *host, int64_t now_us)
{
    region = region ? region : "";
    correlate_heartbeat(corr, agent, region, now_us);
    correlate_role(corr, agent, role ? role : "");
    correlate_host(corr, agent, region, agent);
    if (host && host[0])
        correlate_host(corr, host, region, agent);
}

static void ingest__alive(struct ingest *in, const char *agent, size_t n, Faultline__Label **labels,
                          int64_t now)
{
    if (in->corr)
        ingest_correlate_agent(in->corr, agent, ingest__label(n, labels, "region"),
                               ingest__label(n, labels, "role"), ingest__label(n, labels, "host"),
                               now);
}

void ingest_correlate_result(struct correlate *corr, const char *agent, const fl_result *r,
                             int64_t received_us)
{
    struct probe_signals sig = {0};
    const struct probetype *pt = probetype_detail(r);
    if (pt && pt->signals)
        pt->signals(r, &sig);
    struct corr_input ci = {
        .agent = agent, .region = NULL, .target = r->target, .target_region = NULL,
        .address = r->address, .probe = r->probe,
        .ok = r->status == FAULTLINE__STATUS__STATUS_OK, .fault = (uint16_t)r->fault_code,
        .black_hole = sig.black_hole, .ts_us = r->start_us, .duration_us = r->duration_us,
        .received_us = received_us, .server = sig.server,
        .sysctl_names = sig.sysctl_names, .sysctl_values = sig.sysctl_values,
        .nsysctls = sig.nsysctls, .hops = sig.hops, .nhops = sig.nhops, .reached = sig.reached,
        .rtt_avg_us = sig.rtt_avg_us, .rtt_stddev_us = sig.rtt_stddev_us,
    };
    correlate_result(corr, &ci);
}

static void ingest__correlate(struct ingest *in, const char *agent, const Faultline__Batch *b,
                              const uint8_t *fresh)
{
    if (!in->corr)
        return;
    int64_t now_us = time_now_us();
    for (size_t i = 0; i < b->n_results; i++)
        if (fresh[i])
            ingest_correlate_result(in->corr, agent, b->results[i], now_us);
}

/* Handle one valid envelope inside the open transaction.  -1 means the
 * store failed and the whole transaction must go.  For a batch, *FRESH gets
 * its per-result "stored now" flags (the caller's to free). */
static int ingest__handle(struct ingest *in, zmq_msg_t *routing, const fl_envelope *env,
                          uint8_t **fresh)
{
    int64_t now = time_now_us();
    int64_t agent = store_agent_id(in->st, env->agent);
    uint64_t committed = 0;
    if (agent < 0)
        return -1;
    switch (env->body_case) {
    case FAULTLINE__ENVELOPE__BODY_HELLO: {
        const Faultline__Hello *h = env->hello;
        char *labels = ingest__labels_json(h->n_labels, h->labels);
        int rc = store_agent_seen(in->st, agent, h->version, labels, now);
        free(labels);
        if (rc || store_committed(in->st, agent, h->epoch, &committed))
            return -1;
        in->c.hellos++;
        ingest__alive(in, env->agent, h->n_labels, h->labels, now);
        if (ingest__may_log(in))
            log_info("agent %s hello: epoch %016llx next_seq %llu, committed %llu", env->agent,
                     (unsigned long long)h->epoch, (unsigned long long)h->next_seq,
                     (unsigned long long)committed);
        return ingest__answer(in, routing, env->agent, h->epoch, committed, 1);
    }
    case FAULTLINE__ENVELOPE__BODY_BATCH: {
        const Faultline__Batch *b = env->batch;
        size_t inserted;
        if (!(*fresh = malloc(b->n_results ? b->n_results : 1)) ||
            store_put_results(in->st, agent, b->epoch, b->results, b->n_results, *fresh,
                              &inserted, &committed))
            return -1;
        in->c.batches++; /* stored and duplicates are counted at the commit */
        return ingest__answer(in, routing, env->agent, b->epoch, committed, 0);
    }
    case FAULTLINE__ENVELOPE__BODY_GAP: {
        const Faultline__Gap *g = env->gap;
        if (store_put_gap(in->st, agent, g->epoch, g->from_seq, g->to_seq, g->reason, now,
                          &committed))
            return -1;
        in->c.gaps++;
        if (ingest__may_log(in))
            log_warn("agent %s reports results %llu..%llu lost: %s", env->agent,
                     (unsigned long long)g->from_seq, (unsigned long long)g->to_seq, g->reason);
        return ingest__answer(in, routing, env->agent, g->epoch, committed, 0);
    }
    case FAULTLINE__ENVELOPE__BODY_HEARTBEAT: {
        const Faultline__Heartbeat *h = env->heartbeat;
        if (store_agent_heartbeat(in->st, agent, h->spool_depth, h->dropped, h->sent_us - now,
                                  now) ||
            store_committed(in->st, agent, h->epoch, &committed))
            return -1;
        in->c.heartbeats++;
        ingest__alive(in, env->agent, h->n_labels, h->labels, now);
        return ingest__answer(in, routing, env->agent, h->epoch, committed, 0);
    }
    default:
        in->c.unexpected++;
        if (ingest__may_log(in))
            log_warn("agent %s sent a message only a collector sends; ignored", env->agent);
        return 0;
    }
}

/* Receive one [routing][payload] pair without blocking.  1 when one was
 * read, 0 when nothing is waiting. */
static int ingest__recv(struct ingest *in, zmq_msg_t *routing, zmq_msg_t *payload)
{
    if (zmq_msg_recv(routing, in->sock, ZMQ_DONTWAIT) < 0)
        return 0;
    /* A ROUTER always delivers the routing frame and the payload together;
     * extra frames from a misbehaving peer are read and dropped. */
    if (!zmq_msg_more(routing) || zmq_msg_recv(payload, in->sock, ZMQ_DONTWAIT) < 0)
        return -1;
    while (zmq_msg_more(payload)) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        zmq_msg_recv(&extra, in->sock, ZMQ_DONTWAIT);
        zmq_msg_close(&extra);
        zmq_msg_close(payload);
        zmq_msg_init(payload);
        return -1;
    }
    return 1;
}

/* One transaction takes at most this many results (some 40 ms of work
 * here), so that handshakes, the API and the next agents' acks never wait
 * long behind a backlog being drained. */
#define INGEST_TXN_RESULTS 16384

static void ingest__fed_free(struct ingest_fed *f)
{
    wire_msg_free(&f->m);
    free(f->agent);
    free(f->fresh);
}

/* The transaction is over: COMMITTED, its batches' new results count as
 * stored and the engine learns them; otherwise none of it happened. */
static void ingest__feed(struct ingest *in, int committed)
{
    for (size_t i = 0; i < in->nfed; i++) {
        struct ingest_fed *f = &in->fed[i];
        if (committed) {
            const Faultline__Batch *b = f->m->env->batch;
            for (size_t k = 0; k < b->n_results; k++) {
                in->c.results_stored += f->fresh[k];
                in->c.results_duplicate += !f->fresh[k];
            }
            ingest__correlate(in, f->agent, b, f->fresh);
        }
        ingest__fed_free(f);
    }
    in->nfed = 0;
}

int ingest_drain(struct ingest *in, int max)
{
    int handled = 0, open = 0, failed = 0;
    size_t results = 0;
    while (handled < max && results < INGEST_TXN_RESULTS) {
        zmq_msg_t routing, payload;
        zmq_msg_init(&routing);
        zmq_msg_init(&payload);
        int got = ingest__recv(in, &routing, &payload);
        if (got == 0) {
            zmq_msg_close(&routing);
            zmq_msg_close(&payload);
            break;
        }
        handled++;
        in->c.messages++;
        struct wire_msg *m = NULL;
        char why[160];
        enum wire_status ws =
            got < 0 ? WIRE_MALFORMED
                    : wire_decode(zmq_msg_data(&payload), zmq_msg_size(&payload), &m, why,
                                  sizeof why);
        if (got < 0)
            snprintf(why, sizeof why, "multi-part message");
        if (ws != WIRE_OK) {
            in->c.rejected[ws]++;
            if (ingest__may_log(in)) {
                const char *uid = got < 0 ? NULL : zmq_msg_gets(&payload, "User-Id");
                log_warn("rejected a message from %s (%s): %s", uid ? uid : "an agent",
                         wire_status_name(ws), why);
            }
        } else if (!failed) {
            int drop;
            char *claimed = ingest__authenticate(in, &payload, m->env, &drop);
            uint8_t *fresh = NULL;
            if (drop) {
                in->c.unexpected++;
            } else {
                if (!open && store_begin(in->st) == 0)
                    open = 1;
                if (!open || ingest__handle(in, &routing, m->env, &fresh) != 0)
                    failed = 1;
                else if (m->env->body_case == FAULTLINE__ENVELOPE__BODY_BATCH)
                    results += m->env->batch->n_results;
            }
            char *agent = fresh && !failed ? strdup(m->env->agent) : NULL;
            if (claimed)
                m->env->agent = claimed;
            if (agent && !FL_GROW(in->fed, in->capfed, in->nfed, 64)) {
                in->fed[in->nfed++] = (struct ingest_fed){.m = m, .agent = agent, .fresh = fresh};
                m = NULL;
            } else {
                if (fresh && !failed)
                    failed = 1; /* out of memory: the agent sends it again */
                free(agent);
                free(fresh);
            }
        }
        wire_msg_free(&m);
        zmq_msg_close(&routing);
        zmq_msg_close(&payload);
    }
    if (open && !failed && store_commit(in->st) == 0) {
        in->c.commits++;
        ingest__feed(in, 1);
        ingest__send_replies(in);
        return handled;
    }
    ingest__feed(in, 0);
    if (open || failed) {
        in->c.commit_failures++;
        log_error("store failed, nothing acknowledged (agents will resend): %s",
                  store_errmsg(in->st));
        store_rollback(in->st);
        ingest__drop_replies(in);
        return -1;
    }
    return handled;
}

void ingest_monitor(struct ingest *in, void *mon)
{
    enum transport_event ev;
    while ((ev = transport_event(mon, NULL)) != TRANSPORT_NONE) {
        if (ev == TRANSPORT_ACCEPTED)
            in->c.connections_accepted++;
        else if (ev == TRANSPORT_DOWN)
            in->c.connections_closed++;
        else if (ev == TRANSPORT_FAILED)
            in->c.handshakes_failed++;
    }
}
