/* The probe type table: every type the wire defines has one row, and every
 * row names, numbers, carries and formats its detail, through the wire and
 * back; the agent implements exactly the types the table has. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "probetype.h"
#include "resultfmt.h"
#include "wire.h"

static void every_wire_type_has_one_row(void **state)
{
    (void)state;
    const ProtobufCEnumDescriptor *e = &faultline__probe_type__descriptor;
    size_t n, rows = 0;
    const struct probetype *all = probetype_all(&n);
    for (unsigned i = 0; i < e->n_values; i++) {
        if (e->values[i].value == FAULTLINE__PROBE_TYPE__PROBE_UNSPECIFIED) {
            assert_null(probetype_of(e->values[i].value));
            continue;
        }
        const struct probetype *pt = probetype_of(e->values[i].value);
        assert_non_null(pt);
        rows++;
        assert_ptr_equal(probetype_named(pt->name), pt);
        assert_int_equal(resultfmt_probe_parse(pt->name), pt->type);
        assert_non_null(pt->text);
        assert_non_null(pt->json);
    }
    assert_int_equal(rows, n);
    for (size_t i = 0; i < n; i++) /* wire order, no type twice */
        for (size_t k = i + 1; k < n; k++) {
            assert_true(all[i].type < all[k].type);
            assert_string_not_equal(all[i].name, all[k].name);
        }
}

/* R alone in a batch envelope, encoded. */
static size_t pack_one(fl_result *r, uint8_t **buf)
{
    fl_result *rs[1] = {r};
    Faultline__Batch b = FAULTLINE__BATCH__INIT;
    b.epoch = 1;
    b.results = rs;
    b.n_results = 1;
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.agent = "a1";
    env.body_case = FAULTLINE__ENVELOPE__BODY_BATCH;
    env.batch = &b;
    return wire_encode(&env, buf);
}

/* The Result field that carries detail DETAIL_CASE. */
static const ProtobufCFieldDescriptor *detail_field(int detail_case)
{
    const ProtobufCMessageDescriptor *d = &faultline__result__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++)
        if ((int)d->fields[i].id == detail_case && d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
            return &d->fields[i];
    return NULL;
}

static void every_detail_round_trips_and_formats(void **state)
{
    (void)state;
    size_t n;
    const struct probetype *all = probetype_all(&n);
    for (size_t i = 0; i < n; i++) {
        const struct probetype *pt = &all[i];
        const ProtobufCFieldDescriptor *f = detail_field(pt->detail_case);
        assert_non_null(f);
        const ProtobufCMessageDescriptor *dd = f->descriptor;
        void *detail = calloc(1, dd->sizeof_message);
        assert_non_null(detail);
        protobuf_c_message_init(dd, detail);
        fl_result r = FAULTLINE__RESULT__INIT;
        r.seq = 1;
        r.agent = "a1";
        r.probe = (Faultline__ProbeType)pt->type;
        r.target = "t";
        r.address = "127.0.0.1";
        r.start_us = 1795300000000000;
        r.status = FAULTLINE__STATUS__STATUS_OK;
        r.detail_case = (Faultline__Result__DetailCase)pt->detail_case;
        *(void **)((char *)&r + f->offset) = detail;
        uint8_t *buf = NULL;
        size_t len = pack_one(&r, &buf);
        assert_true(len > 0);
        struct wire_msg *m = NULL;
        assert_int_equal(wire_decode(buf, len, &m, NULL, 0), WIRE_OK);
        const fl_result *back = m->env->batch->results[0];
        assert_int_equal(back->probe, pt->type);
        assert_ptr_equal(probetype_detail(back), pt);
        char text[1024];
        resultfmt_detail_text(back, text, sizeof text);
        assert_true(text[0] != '\0');
        json_t *o = resultfmt_json(back);
        assert_non_null(json_object_get(o, pt->name)); /* the detail, under the type's name */
        json_decref(o);
        wire_msg_free(&m);
        free(buf);
        free(detail);
    }
}

/* A type outside the table is refused on the wire. */
static void unknown_type_is_refused(void **state)
{
    (void)state;
    fl_result r = FAULTLINE__RESULT__INIT;
    r.seq = 1;
    r.agent = "a1";
    r.probe = (Faultline__ProbeType)99;
    r.target = "t";
    r.start_us = 1795300000000000;
    r.status = FAULTLINE__STATUS__STATUS_OK;
    uint8_t *buf = NULL;
    size_t len = pack_one(&r, &buf);
    struct wire_msg *m = NULL;
    assert_int_equal(wire_decode(buf, len, &m, NULL, 0), WIRE_INVALID);
    assert_null(m);
    free(buf);
}

/* The agent implements every type of the table, and no other. */
static void the_agent_implements_the_table(void **state)
{
    (void)state;
    size_t n;
    const struct probetype *all = probetype_all(&n);
    for (size_t i = 0; i < n; i++) {
        const struct probe_ops *ops = probe_find(all[i].name);
        assert_non_null(ops);
        assert_int_equal(ops->type, all[i].type);
    }
    char names[256];
    snprintf(names, sizeof names, "%s", probe_names());
    size_t count = 0;
    for (char *save, *tok = strtok_r(names, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        assert_non_null(probetype_named(tok));
        count++;
    }
    assert_int_equal(count, n);
    assert_non_null(probe_for_evidence(PROBE_EVIDENCE_PATH));
    assert_non_null(probe_for_evidence(PROBE_EVIDENCE_TRAFFIC));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_wire_type_has_one_row),
        cmocka_unit_test(every_detail_round_trips_and_formats),
        cmocka_unit_test(unknown_type_is_refused),
        cmocka_unit_test(the_agent_implements_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
