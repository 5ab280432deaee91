/* The sender's credit window: welcomed, it sends what the outbox holds
 * until SENDER_WINDOW (2,048) results are unacknowledged, and each Ack
 * lets as many more go.  A real outbox file, real ZeroMQ (inproc: what the
 * sender sent is in the test's socket when sender_kick returns), the
 * sender on a real libuv loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "agent.h"
#include "test_util.h"
#include "timeutil.h"
#include "transport.h"
#include "wire.h"

#define ENDPOINT "inproc://test-sender"
#define WINDOW 2048

struct peer {
    void *router;
    zmq_msg_t who; /* the sender's routing id, from its first message */
    int have_who;
    uint64_t epoch, results, hellos, highest;
};

static void reply(struct peer *p, fl_envelope *env)
{
    env->agent = (char *)"a1";
    uint8_t *buf;
    size_t len = wire_encode(env, &buf);
    zmq_msg_t id;
    zmq_msg_init(&id);
    zmq_msg_copy(&id, &p->who);
    assert_true(zmq_msg_send(&id, p->router, ZMQ_SNDMORE) >= 0);
    assert_int_equal(zmq_send(p->router, buf, len, 0), (int)len);
    free(buf);
}

/* Take what the sender sent: count batch results, answer a Hello with a
 * Welcome at WELCOME_UPTO. */
static void take(struct peer *p, uint64_t welcome_upto)
{
    for (;;) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&id, p->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            return;
        }
        assert_true(zmq_msg_recv(&body, p->router, 0) >= 0);
        if (!p->have_who) {
            zmq_msg_init(&p->who);
            zmq_msg_copy(&p->who, &id);
            p->have_who = 1;
        }
        struct wire_msg *m = NULL;
        assert_int_equal(wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), &m, NULL, 0),
                         WIRE_OK);
        if (m->env->body_case == FAULTLINE__ENVELOPE__BODY_HELLO) {
            p->hellos++;
            p->epoch = m->env->hello->epoch;
            Faultline__Welcome w = FAULTLINE__WELCOME__INIT;
            w.epoch = p->epoch;
            w.committed_upto = welcome_upto;
            fl_envelope env = FAULTLINE__ENVELOPE__INIT;
            env.body_case = FAULTLINE__ENVELOPE__BODY_WELCOME;
            env.welcome = &w;
            reply(p, &env);
        } else if (m->env->body_case == FAULTLINE__ENVELOPE__BODY_BATCH) {
            const Faultline__Batch *b = m->env->batch;
            p->results += b->n_results;
            if (b->n_results && b->results[b->n_results - 1]->seq > p->highest)
                p->highest = b->results[b->n_results - 1]->seq;
        }
        wire_msg_free(&m);
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
}

static void ack(struct peer *p, uint64_t upto)
{
    Faultline__Ack a = FAULTLINE__ACK__INIT;
    a.epoch = p->epoch;
    a.committed_upto = upto;
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.body_case = FAULTLINE__ENVELOPE__BODY_ACK;
    env.ack = &a;
    reply(p, &env);
}

/* Run the loop and the peer until COND holds (at most 5 s). */
#define RUN_UNTIL(loop, p, upto, cond)                                                             \
    do {                                                                                           \
        uint64_t until_ = time_mono_ns() + 5000000000ull;                                          \
        while (!(cond) && time_mono_ns() < until_) {                                               \
            zmq_pollitem_t it_ = {.socket = (p)->router, .events = ZMQ_POLLIN};                    \
            zmq_poll(&it_, 1, 10);                                                                 \
            take((p), (upto));                                                                     \
            uv_run((loop), UV_RUN_NOWAIT);                                                         \
        }                                                                                          \
        assert_true(cond);                                                                         \
    } while (0)

static void the_window_bounds_what_is_in_flight(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/o.db", dir);
    struct outbox *ob = outbox_open(path, 100000, err, sizeof err);
    assert_non_null(ob);
    static fl_result rs[5000], *ptrs[5000];
    for (size_t i = 0; i < 5000; i++) {
        faultline__result__init(&rs[i]);
        rs[i].probe = FAULTLINE__PROBE_TYPE__PROBE_ICMP;
        rs[i].target = (char *)"t";
        rs[i].address = (char *)"127.0.0.1";
        rs[i].start_us = 1796000000000000 + (int64_t)i;
        rs[i].status = FAULTLINE__STATUS__STATUS_OK;
        ptrs[i] = &rs[i];
    }
    assert_int_equal(outbox_put(ob, ptrs, 5000), 0);

    void *zctx = zmq_ctx_new();
    struct peer p = {0};
    struct transport_keys keys = {.insecure = 1};
    p.router = transport_collector_open(zctx, ENDPOINT, &keys, NULL, err, sizeof err);
    assert_non_null(p.router);
    struct agent_config cfg = {
        .name = (char *)"a1", .endpoint = (char *)ENDPOINT, .keys = {.insecure = 1}};
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct sender *s = sender_new(&loop, zctx, &cfg, ob, err, sizeof err);
    assert_non_null(s);

    /* Welcomed at 0: the window's worth goes, no more. */
    RUN_UNTIL(&loop, &p, 0, p.results >= WINDOW);
    sender_kick(s);
    take(&p, 0);
    assert_int_equal(p.results, WINDOW);
    assert_int_equal(p.highest, WINDOW);
    /* An Ack of 1,000 lets 1,000 more go. */
    ack(&p, 1000);
    RUN_UNTIL(&loop, &p, 0, p.results >= WINDOW + 1000);
    sender_kick(s);
    take(&p, 0);
    assert_int_equal(p.results, WINDOW + 1000);
    assert_int_equal(p.highest, WINDOW + 1000);
    assert_int_equal(outbox_depth(ob), 5000 - 1000); /* acknowledged rows are gone */

    sender_free(&s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    zmq_msg_close(&p.who);
    transport_free(&p.router);
    zmq_ctx_term(zctx);
    outbox_free(&ob);
    test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_window_bounds_what_is_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
