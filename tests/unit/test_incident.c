/* Incidents over time: a diagnosis opens one only once it has held for the
 * confirmation time, grows it, closes it, and every change becomes one
 * alert event, in order, only after the caller's commit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "incident.h"
#include "test_db.h"
#include "test_util.h"

#define S 1000000LL

static char events[16][64];
static size_t nevents;

static void record(void *ctx, enum incident_event ev, const struct incident *in)
{
    if (nevents < 16)
        snprintf(events[nevents++], sizeof events[0], "%s %s %s %zu", incident_event_name(ev),
                 in->verdict, in->component, strlen(in->agents_json));
}

static struct corr_diagnosis diag(enum corr_verdict v, const char *component, size_t nagents)
{
    struct corr_diagnosis d = {.verdict = v, .fault = 0x3791, .nagents = nagents};
    snprintf(d.component, sizeof d.component, "%s", component);
    for (size_t i = 0; i < nagents; i++)
        snprintf(d.agents[i], sizeof d.agents[i], "a%zu", i);
    snprintf(d.explanation, sizeof d.explanation, "test");
    return d;
}

static int count_fn(void *ctx, const struct store_incident *in)
{
    (*(int *)ctx)++;
    return 0;
}

static int apply(struct store *st, struct incidents *inc, const struct corr_diagnosis *d,
                 size_t n, int64_t now)
{
    size_t opened = 0, closed = 0;
    if (st)
        assert_int_equal(store_begin(st), 0);
    assert_int_equal(incidents_apply(inc, st, d, n, now, &opened, &closed), 0);
    if (st)
        assert_int_equal(store_commit(st), 0);
    incidents_flush_events(inc, record, NULL);
    return (int)opened - (int)closed;
}

/* Open incidents as the store has them (none in a new one). */
static struct incidents *open_incidents(struct store *st, int64_t confirm_us)
{
    struct incidents *inc = incidents_new(confirm_us);
    assert_non_null(inc);
    if (st)
        assert_int_equal(incidents_load(inc, st), 0);
    return inc;
}

/* A partial picture never opens; a diagnosis held confirm_after opens
 * one, a grown one updates it, a gone one closes it: with a store (ST) or
 * without (NULL: the logic alone). */
static void lifecycle(struct store *st)
{
    struct incidents *inc = open_incidents(st, 3 * S);
    nevents = 0;
    struct corr_diagnosis path_d = diag(CORR_PATH, "r2<->r3", 3);
    struct corr_diagnosis region = diag(CORR_REGION, "r3", 4);
    /* A passing partial picture (PATH for 1 s) never opens anything. */
    assert_int_equal(apply(st, inc, &path_d, 1, 100 * S), 0);
    assert_int_equal(apply(st, inc, &region, 1, 101 * S), 0);
    assert_int_equal(apply(st, inc, &region, 1, 103 * S), 0);
    assert_int_equal(nevents, 0);
    assert_int_equal(apply(st, inc, &region, 1, 104 * S), 1); /* held 3 s */
    region = diag(CORR_REGION, "r3", 6);
    assert_int_equal(apply(st, inc, &region, 1, 105 * S), 0); /* grew */
    assert_int_equal(apply(st, inc, &region, 1, 106 * S), 0); /* same: no event */
    assert_int_equal(apply(st, inc, NULL, 0, 107 * S), -1);   /* gone: closed */
    assert_int_equal(nevents, 3);
    assert_string_equal(events[0], "open REGION r3 21");
    assert_string_equal(events[1], "update REGION r3 31");
    assert_string_equal(events[2], "resolve REGION r3 31");
    incidents_free(&inc);
}

static void diagnosis_opens_after_confirmation_grows_and_closes(void **state)
{
    char *dir = test_tmpdir(), path[256];
    struct store *st = test_store_open(dir, path, sizeof path);
    lifecycle(st);
    /* The PATH seen once was never stored. */
    struct store_incident_filter f = {0};
    int count = 0;
    assert_int_equal(store_query_incidents(st, &f, count_fn, &count), 0);
    assert_int_equal(count, 1);
    store_free(&st);
    test_rmdir(dir);
}

static void the_logic_needs_no_store(void **state)
{
    lifecycle(NULL);
}

static int count_matching(struct store *st, struct store_incident_filter f)
{
    int count = 0;
    assert_int_equal(store_query_incidents(st, &f, count_fn, &count), 0);
    return count;
}

/* The fault history by agent, target, region (of the agents involved) and code. */
static void history_filters(void **state)
{
    char *dir = test_tmpdir(), path[256];
    struct store *st = test_store_open(dir, path, sizeof path);
    assert_int_equal(store_begin(st), 0);
    store_agent_seen(st, store_agent_id(st, "a0"), "1", "{\"region\":\"r1\"}", 1);
    store_agent_seen(st, store_agent_id(st, "a1"), "1", "{\"region\":\"r2\"}", 1);
    assert_int_equal(store_commit(st), 0);
    struct incidents *inc = open_incidents(st, 0);
    struct corr_diagnosis d[2] = {diag(CORR_TARGET, "web", 2), diag(CORR_AGENT, "a0", 1)};
    snprintf(d[0].targets[0], sizeof d[0].targets[0], "web:80");
    d[0].ntargets = 1;
    d[1].fault = 0x12a2;
    apply(st, inc, d, 2, 100 * S);
    struct store_incident_filter any = {0};
    assert_int_equal(count_matching(st, any), 2);
    assert_int_equal(count_matching(st, (struct store_incident_filter){.agent = "a1"}), 1);
    assert_int_equal(count_matching(st, (struct store_incident_filter){.agent = "zz"}), 0);
    assert_int_equal(count_matching(st, (struct store_incident_filter){.target = "web:80"}), 1);
    assert_int_equal(count_matching(st, (struct store_incident_filter){.region = "r1"}), 2);
    assert_int_equal(count_matching(st, (struct store_incident_filter){.region = "r2"}), 1);
    assert_int_equal(count_matching(st, (struct store_incident_filter){.fault_code = 0x12a2}), 1);
    assert_int_equal(
        count_matching(st, (struct store_incident_filter){.region = "r2", .fault_code = 0x12a2}), 0);
    incidents_free(&inc);
    store_free(&st);
    test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diagnosis_opens_after_confirmation_grows_and_closes),
        cmocka_unit_test(history_filters),
        cmocka_unit_test(the_logic_needs_no_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
