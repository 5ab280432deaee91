/* Ingest and the correlation engine: the engine learns a result only once
 * it is committed, and only once.  Real ZeroMQ (inproc), a real SQLite
 * file; a second connection to that file makes a transaction fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <zmq.h>

#include "ingest.h"
#include "correlate.h"
#include "store.h"
#include "test_db.h"
#include "test_util.h"
#include "timeutil.h"
#include "transport.h"
#include "wire.h"

#define ENDPOINT "inproc://test-ingest"

struct fixture {
    char *dir, db[256];
    void *zctx, *router, *dealer;
    struct store *st;
    struct correlate *corr;
    struct ingest *in;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char err[256];
    f->dir = test_tmpdir();
    f->st = test_store_open(f->dir, f->db, sizeof f->db);
    struct correlate_config cfg;
    correlate_config_defaults(&cfg);
    f->corr = correlate_new(&cfg);
    assert_non_null(f->corr);
    f->zctx = zmq_ctx_new();
    struct transport_keys keys = {.insecure = 1};
    f->router = transport_collector_open(f->zctx, ENDPOINT, &keys, NULL, err, sizeof err);
    assert_non_null(f->router);
    f->dealer = zmq_socket(f->zctx, ZMQ_DEALER);
    assert_int_equal(zmq_connect(f->dealer, ENDPOINT), 0);
    f->in = ingest_new(f->router, f->st, f->corr);
    assert_non_null(f->in);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    ingest_free(&f->in);
    transport_free(&f->router);
    transport_free(&f->dealer);
    zmq_ctx_term(f->zctx);
    correlate_free(&f->corr);
    store_free(&f->st);
    test_rmdir(f->dir);
    free(f);
    return 0;
}

static void send_env(struct fixture *f, fl_envelope *env)
{
    uint8_t *buf;
    env->agent = (char *)"a1";
    size_t len = wire_encode(env, &buf);
    assert_true(len > 0);
    assert_int_equal(zmq_send(f->dealer, buf, len, 0), (int)len);
    free(buf);
}

/* Failing ICMP results FIRST.. of a1 toward web.lab.test, sent as one batch. */
static void send_batch(struct fixture *f, uint64_t first, size_t n)
{
    fl_result results[8], *ptrs[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        faultline__result__init(&results[i]);
        results[i].seq = first + i;
        results[i].probe = FAULTLINE__PROBE_TYPE__PROBE_ICMP;
        results[i].target = (char *)"web.lab.test";
        results[i].address = (char *)"10.77.100.2";
        results[i].start_us = time_now_us();
        results[i].status = FAULTLINE__STATUS__STATUS_FAIL;
        results[i].fault_code = 0x31a1;
        ptrs[i] = &results[i];
    }
    Faultline__Batch b = FAULTLINE__BATCH__INIT;
    b.epoch = 9;
    b.results = ptrs;
    b.n_results = n;
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.body_case = FAULTLINE__ENVELOPE__BODY_BATCH;
    env.batch = &b;
    send_env(f, &env);
}

static void send_gap(struct fixture *f, uint64_t from, uint64_t to)
{
    Faultline__Gap g = FAULTLINE__GAP__INIT;
    g.epoch = 9;
    g.from_seq = from;
    g.to_seq = to;
    g.reason = (char *)"outbox full";
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.body_case = FAULTLINE__ENVELOPE__BODY_GAP;
    env.gap = &g;
    send_env(f, &env);
}

/* Take in the MESSAGES sent (waiting for them to arrive, at most 2 s);
 * ingest_drain's return. */
static int drain(struct fixture *f, int messages)
{
    int handled = 0, rc = 0;
    while (handled < messages) {
        zmq_pollitem_t it = {.socket = f->router, .events = ZMQ_POLLIN};
        assert_int_equal(zmq_poll(&it, 1, 2000), 1);
        rc = ingest_drain(f->in, messages - handled);
        if (rc < 0)
            return rc;
        handled += rc;
    }
    return rc;
}

static uint64_t stored(struct fixture *f)
{
    return ingest_counters(f->in)->results_stored;
}

static void a_resent_batch_is_learnt_once(void **state)
{
    struct fixture *f = *state;
    send_batch(f, 1, 2);
    assert_true(drain(f, 1) > 0);
    assert_int_equal(correlate_results(f->corr), 2);
    assert_int_equal(correlate_failing(f->corr), 0); /* 2 of the 3 failures needed */
    send_batch(f, 1, 2); /* resent: its Ack was lost */
    assert_true(drain(f, 1) > 0);
    assert_int_equal(stored(f), 2);
    assert_int_equal(ingest_counters(f->in)->results_duplicate, 2);
    assert_int_equal(correlate_results(f->corr), 2);
    assert_int_equal(correlate_failing(f->corr), 0);
    /* A batch that overlaps: only its new result is news. */
    send_batch(f, 2, 2);
    assert_true(drain(f, 1) > 0);
    assert_int_equal(correlate_results(f->corr), 3);
    assert_int_equal(correlate_failing(f->corr), 1); /* the third failure */
}

static void a_failed_transaction_teaches_nothing(void **state)
{
    struct fixture *f = *state;
    send_batch(f, 1, 2);
    assert_true(drain(f, 1) > 0);
    /* Another writer makes any gap insert fail: a batch and a gap taken in
     * one transaction both go, and nothing is acknowledged. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TRIGGER no_gaps BEFORE INSERT ON gap "
                                  "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    send_batch(f, 3, 2);
    send_gap(f, 5, 5);
    assert_int_equal(drain(f, 2), -1);
    assert_int_equal(stored(f), 2);
    assert_int_equal(correlate_results(f->corr), 2);
    assert_int_equal(correlate_failing(f->corr), 0);
    /* The agent sends the batch again once the store works: learnt once. */
    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER no_gaps", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    send_batch(f, 3, 2);
    assert_true(drain(f, 1) > 0);
    assert_int_equal(stored(f), 4);
    assert_int_equal(correlate_results(f->corr), 4);
    assert_int_equal(correlate_failing(f->corr), 1);
}

static uint64_t rejected(struct fixture *f)
{
    uint64_t n = 0;
    for (int i = 1; i < WIRE_NSTATUS; i++)
        n += ingest_counters(f->in)->rejected[i];
    return n;
}

/* Bytes that are no envelope, and a batch holding a probe type nobody
 * knows: counted as refused, nothing stored, nothing learnt, and ingest
 * takes the next good batch as if nothing happened. */
static void bad_messages_are_refused_and_counted(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(zmq_send(f->dealer, "\x0a\xff\xff garbage", 11, 0), 11);
    fl_result r = FAULTLINE__RESULT__INIT;
    r.seq = 1;
    r.probe = (Faultline__ProbeType)99;
    r.target = (char *)"web.lab.test";
    r.start_us = time_now_us();
    r.status = FAULTLINE__STATUS__STATUS_FAIL;
    fl_result *ptrs[1] = {&r};
    Faultline__Batch b = FAULTLINE__BATCH__INIT;
    b.epoch = 9;
    b.results = ptrs;
    b.n_results = 1;
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.body_case = FAULTLINE__ENVELOPE__BODY_BATCH;
    env.batch = &b;
    send_env(f, &env);
    drain(f, 2);
    assert_int_equal(ingest_counters(f->in)->messages, 2);
    assert_int_equal(rejected(f), 2);
    assert_int_equal(stored(f), 0);
    assert_int_equal(correlate_results(f->corr), 0);
    send_batch(f, 1, 3);
    assert_true(drain(f, 1) > 0);
    assert_int_equal(stored(f), 3);
    assert_int_equal(rejected(f), 2);
}

/* The committed mark of the agent's latest Ack, waiting for one (2 s). */
static uint64_t last_ack(struct fixture *f)
{
    uint64_t upto = 0;
    zmq_pollitem_t it = {.socket = f->dealer, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&it, 1, 2000), 1);
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, f->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return upto;
        }
        struct wire_msg *w = NULL;
        if (wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), &w, NULL, 0) == WIRE_OK &&
            w->env->body_case == FAULTLINE__ENVELOPE__BODY_ACK)
            upto = w->env->ack->committed_upto;
        wire_msg_free(&w);
        zmq_msg_close(&m);
    }
}

/* A batch after a hole nobody reported is stored but does not move the
 * mark; results the agent lost (a Gap) move it to the gap's end, and the
 * agent's resend of what follows (a duplicate now) moves it on. */
static void a_gap_moves_the_mark(void **state)
{
    struct fixture *f = *state;
    send_batch(f, 1, 2);
    assert_true(drain(f, 1) > 0);
    assert_int_equal(last_ack(f), 2);
    send_batch(f, 6, 1); /* 3..5 not here yet */
    assert_true(drain(f, 1) > 0);
    assert_int_equal(last_ack(f), 2);
    send_gap(f, 3, 5);
    assert_true(drain(f, 1) > 0);
    assert_int_equal(last_ack(f), 5);
    assert_int_equal(ingest_counters(f->in)->gaps, 1);
    send_batch(f, 6, 1);
    assert_true(drain(f, 1) > 0);
    assert_int_equal(last_ack(f), 6);
    assert_int_equal(stored(f), 3);
    assert_int_equal(ingest_counters(f->in)->results_duplicate, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_resent_batch_is_learnt_once, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_transaction_teaches_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_messages_are_refused_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(a_gap_moves_the_mark, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
