/* The envelope decoder: what it accepts, and every way it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static fl_result *make_result(uint64_t seq)
{
    static fl_result r[8];
    static Faultline__TcpDetail d[8];
    fl_result *x = &r[seq % 8];
    faultline__result__init(x);
    faultline__tcp_detail__init(&d[seq % 8]);
    x->seq = seq;
    x->agent = "a1";
    x->probe = FAULTLINE__PROBE_TYPE__PROBE_TCP;
    x->target = "web.lab.test:80";
    x->address = "10.77.100.2";
    x->start_us = 1795300000000000;
    x->status = FAULTLINE__STATUS__STATUS_FAIL;
    x->fault_code = 0x3795;
    x->message = "";
    d[seq % 8].port = 80;
    d[seq % 8].outcome = FAULTLINE__TCP_OUTCOME__TCP_RESET;
    x->detail_case = FAULTLINE__RESULT__DETAIL_TCP;
    x->tcp = &d[seq % 8];
    return x;
}

/* A valid batch of N results starting at FIRST, packed. */
static size_t pack_batch(uint64_t first, size_t n, uint8_t **out)
{
    fl_result *rs[8];
    for (size_t i = 0; i < n; i++)
        rs[i] = make_result(first + i);
    Faultline__Batch b = FAULTLINE__BATCH__INIT;
    b.epoch = 42;
    b.results = rs;
    b.n_results = n;
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.agent = "a1";
    env.body_case = FAULTLINE__ENVELOPE__BODY_BATCH;
    env.batch = &b;
    return wire_encode(&env, out);
}

static void batch_round_trips(void **state)
{
    uint8_t *buf;
    size_t len = pack_batch(7, 3, &buf);
    struct wire_msg *m = NULL;
    assert_int_equal(wire_decode(buf, len, &m, NULL, 0), WIRE_OK);
    assert_non_null(m);
    assert_int_equal(m->env->version, FL_WIRE_VERSION);
    assert_string_equal(m->env->agent, "a1");
    assert_int_equal(m->env->body_case, FAULTLINE__ENVELOPE__BODY_BATCH);
    assert_int_equal(m->env->batch->n_results, 3);
    assert_int_equal(m->env->batch->results[2]->seq, 9);
    assert_int_equal(m->env->batch->results[0]->fault_code, 0x3795);
    assert_int_equal(m->env->batch->results[0]->tcp->outcome, FAULTLINE__TCP_OUTCOME__TCP_RESET);
    wire_msg_free(&m);
    assert_null(m);
    free(buf);
}

static void empty_message_is_rejected(void **state)
{
    struct wire_msg *m = (struct wire_msg *)1;
    assert_int_equal(wire_decode("", 0, &m, NULL, 0), WIRE_EMPTY);
    assert_null(m);
}

static void oversize_is_rejected_before_unpacking(void **state)
{
    size_t len = FL_WIRE_MAX_MSG + 1;
    uint8_t *buf = calloc(1, len);
    struct wire_msg *m;
    char why[160];
    assert_int_equal(wire_decode(buf, len, &m, why, sizeof why), WIRE_OVERSIZE);
    assert_non_null(strstr(why, "limit"));
    free(buf);
}

static void every_truncation_is_rejected(void **state)
{
    uint8_t *buf;
    size_t len = pack_batch(1, 2, &buf);
    for (size_t cut = 1; cut < len; cut++) {
        struct wire_msg *m = NULL;
        /* The body comes last, so every prefix cuts it: never accepted. */
        if (wire_decode(buf, cut, &m, NULL, 0) == WIRE_OK)
            fail_msg("truncated at %zu of %zu bytes was accepted", cut, len);
        assert_null(m);
    }
    free(buf);
}

static void wrong_version_is_rejected(void **state)
{
    Faultline__Ack a = FAULTLINE__ACK__INIT;
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.agent = "a1";
    env.body_case = FAULTLINE__ENVELOPE__BODY_ACK;
    env.ack = &a;
    uint8_t *buf;
    size_t len = wire_encode(&env, &buf);
    /* wire_encode stamps the version; pack by hand with another one. */
    free(buf);
    env.version = FL_WIRE_VERSION + 1;
    len = faultline__envelope__get_packed_size(&env);
    buf = malloc(len);
    faultline__envelope__pack(&env, buf);
    struct wire_msg *m;
    assert_int_equal(wire_decode(buf, len, &m, NULL, 0), WIRE_VERSION);
    free(buf);
}

static void envelope_without_body_is_rejected(void **state)
{
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.agent = "a1";
    uint8_t *buf;
    size_t len = wire_encode(&env, &buf);
    struct wire_msg *m;
    assert_int_equal(wire_decode(buf, len, &m, NULL, 0), WIRE_NO_BODY);
    free(buf);
}

static void random_bytes_never_crash_and_are_rejected(void **state)
{
    srand(1234);
    uint8_t buf[512];
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        size_t len = 1 + (size_t)rand() % sizeof buf;
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rand();
        struct wire_msg *m = NULL;
        if (wire_decode(buf, len, &m, NULL, 0) == WIRE_OK)
            accepted++;
        wire_msg_free(&m);
    }
    assert_int_equal(accepted, 0);
}

static void invalid_fields_are_rejected(void **state)
{
    fl_result *rs[2] = {make_result(5), make_result(7)}; /* not contiguous */
    Faultline__Batch b = FAULTLINE__BATCH__INIT;
    b.epoch = 1;
    b.results = rs;
    b.n_results = 2;
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.agent = "a1";
    env.body_case = FAULTLINE__ENVELOPE__BODY_BATCH;
    env.batch = &b;
    uint8_t *buf;
    size_t len = wire_encode(&env, &buf);
    struct wire_msg *m;
    char why[160];
    assert_int_equal(wire_decode(buf, len, &m, why, sizeof why), WIRE_INVALID);
    assert_non_null(strstr(why, "order"));
    free(buf);

    rs[1] = make_result(6);
    env.agent = "bad agent!";
    len = wire_encode(&env, &buf);
    assert_int_equal(wire_decode(buf, len, &m, NULL, 0), WIRE_INVALID);
    free(buf);

    env.agent = "a1";
    rs[0]->fault_code = 0x10000;
    len = wire_encode(&env, &buf);
    assert_int_equal(wire_decode(buf, len, &m, NULL, 0), WIRE_INVALID);
    free(buf);
    rs[0]->fault_code = 0x3795;

    b.epoch = 0;
    len = wire_encode(&env, &buf);
    assert_int_equal(wire_decode(buf, len, &m, NULL, 0), WIRE_INVALID);
    free(buf);
}

/* A message that declares a huge length for a nested field is refused
 * without allocating it. */
static void lying_length_is_malformed(void **state)
{
    /* field 12 (batch), wire type 2, length 0x7fffffff, then nothing */
    const uint8_t buf[] = {0x08, 0x01, 0x62, 0xff, 0xff, 0xff, 0xff, 0x07};
    struct wire_msg *m;
    assert_int_equal(wire_decode(buf, sizeof buf, &m, NULL, 0), WIRE_MALFORMED);
}

static void agent_names(void **state)
{
    assert_true(wire_valid_name("r1a1"));
    assert_true(wire_valid_name("host-1.example_2"));
    assert_false(wire_valid_name(""));
    assert_false(wire_valid_name("a b"));
    assert_false(wire_valid_name("a/b"));
    char longname[80];
    memset(longname, 'a', sizeof longname - 1);
    longname[79] = 0;
    assert_false(wire_valid_name(longname));
}

/* A batch made of results already packed is the same bytes as the batch
 * packed from the results themselves. */
static void batch_from_packed_results_is_the_same_bytes(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 5; n++) {
        fl_result *rs[8];
        uint8_t *packed[8];
        size_t lens[8];
        for (size_t i = 0; i < n; i++) {
            rs[i] = make_result(100 + i);
            lens[i] = faultline__result__get_packed_size(rs[i]);
            packed[i] = malloc(lens[i]);
            faultline__result__pack(rs[i], packed[i]);
        }
        Faultline__Batch b = FAULTLINE__BATCH__INIT;
        b.epoch = 0x1234567890abcdefULL;
        b.results = rs;
        b.n_results = n;
        fl_envelope env = FAULTLINE__ENVELOPE__INIT;
        env.agent = "a1";
        env.body_case = FAULTLINE__ENVELOPE__BODY_BATCH;
        env.batch = &b;
        uint8_t *want, *got;
        size_t want_len = wire_encode(&env, &want);
        size_t got_len = wire_encode_batch("a1", b.epoch, (const uint8_t *const *)packed, lens, n,
                                           &got);
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
        struct wire_msg *m = NULL;
        assert_int_equal(wire_decode(got, got_len, &m, NULL, 0), n ? WIRE_OK : WIRE_INVALID);
        wire_msg_free(&m);
        free(want);
        free(got);
        for (size_t i = 0; i < n; i++)
            free(packed[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_from_packed_results_is_the_same_bytes),
        cmocka_unit_test(batch_round_trips),
        cmocka_unit_test(empty_message_is_rejected),
        cmocka_unit_test(oversize_is_rejected_before_unpacking),
        cmocka_unit_test(every_truncation_is_rejected),
        cmocka_unit_test(wrong_version_is_rejected),
        cmocka_unit_test(envelope_without_body_is_rejected),
        cmocka_unit_test(random_bytes_never_crash_and_are_rejected),
        cmocka_unit_test(invalid_fields_are_rejected),
        cmocka_unit_test(lying_length_is_malformed),
        cmocka_unit_test(agent_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
