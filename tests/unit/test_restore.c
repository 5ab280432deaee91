/* A restarted collector carries on: the engine it rebuilds from the store
 * diagnoses what the one before it did, agents get their time to come back
 * before they count as silent, a standing fault keeps its incident (same
 * id, no new open, no resolve), and a fault that healed while the collector
 * was down closes at the time it healed.  Real SQLite files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "collector.h"
#include "ingest.h"
#include "correlate.h"
#include "faultcode.h"
#include "incident.h"
#include "store.h"
#include "test_db.h"
#include "test_util.h"

#define S 1000000LL
#define T0 1795300000000000LL /* the first probe */
#define EVERY (2 * S)

static const char *const agents[] = {"a1", "a2", "a3"};
static const char *const regions[] = {"r1", "r2", "r3"};
static const char *const labels[] = {"{\"region\":\"r1\"}", "{\"region\":\"r2\"}",
                                     "{\"region\":\"r3\"}"};

struct fixture {
    char *dir, db[256];
    struct store *st;
    struct correlate *live; /* the engine that saw the results arrive */
    uint64_t seq[3];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_tmpdir();
    f->st = test_store_open(f->dir, f->db, sizeof f->db);
    f->live = correlate_new(NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    correlate_free(&f->live);
    store_free(&f->st);
    test_rmdir(f->dir);
    free(f);
    return 0;
}

/* Round K of probes at T0 + K * EVERY: every agent checks web:80 (failing
 * when WEB_FAILS) and dns:53 (always fine); stored, committed, then given
 * to ENGINES (as ingest does), and each agent is seen at that time. */
static void round_of(struct fixture *f, int k, int web_fails, struct correlate **engines, size_t n)
{
    int64_t ts = T0 + k * EVERY;
    assert_int_equal(store_begin(f->st), 0);
    fl_result r[3][2], *batch[2];
    for (size_t a = 0; a < 3; a++) {
        int64_t id = store_agent_id(f->st, agents[a]);
        assert_true(id > 0);
        assert_int_equal(store_agent_seen(f->st, id, "test", labels[a], ts + S / 10), 0);
        for (int t = 0; t < 2; t++) {
            fl_result *x = &r[a][t];
            faultline__result__init(x);
            x->seq = ++f->seq[a];
            x->probe = FAULTLINE__PROBE_TYPE__PROBE_TCP;
            x->target = (char *)(t ? "dns:53" : "web:80");
            x->address = (char *)(t ? "10.0.0.2" : "10.0.0.1");
            x->start_us = ts + t * 1000;
            x->duration_us = 300;
            int fail = !t && web_fails;
            x->status = fail ? FAULTLINE__STATUS__STATUS_FAIL : FAULTLINE__STATUS__STATUS_OK;
            x->fault_code = fail ? FL_FAULT_TCP_REFUSED : 0;
            batch[t] = x;
        }
        size_t inserted;
        uint64_t committed;
        assert_int_equal(store_put_results(f->st, id, 1, batch, 2, NULL, &inserted, &committed), 0);
        assert_int_equal(inserted, 2);
    }
    assert_int_equal(store_commit(f->st), 0);
    for (size_t e = 0; e < n; e++)
        for (size_t a = 0; a < 3; a++) {
            correlate_heartbeat(engines[e], agents[a], regions[a], ts + S / 10);
            for (int t = 0; t < 2; t++)
                ingest_correlate_result(engines[e], agents[a], &r[a][t], ts + S / 10);
        }
}

static struct corr_diagnosis d1[16], d2[16];

static void the_rebuilt_engine_sees_what_the_live_one_saw(void **state)
{
    struct fixture *f = *state;
    for (int k = 0; k < 5; k++)
        round_of(f, k, 1, &f->live, 1);
    int64_t stop = T0 + 4 * EVERY + S;
    size_t n1 = correlate_evaluate(f->live, stop, d1, 16);
    assert_int_equal(n1, 1);
    assert_int_equal(d1[0].verdict, CORR_TARGET);

    /* Down for a minute: the new engine learns from the store alone. */
    int64_t start = stop + 60 * S;
    struct correlate *again = correlate_new(NULL);
    uint64_t replayed = 0;
    assert_int_equal(collector_restore(f->st, again, 5 * 60 * S, start, &replayed), 0);
    assert_int_equal(replayed, 5 * 3 * 2);
    assert_int_equal(correlate_failing(again), correlate_failing(f->live));
    /* The agents have not reconnected yet: that is not silence. */
    size_t n2 = correlate_evaluate(again, start + S, d2, 16);
    assert_int_equal(n2, n1);
    assert_int_equal(d2[0].verdict, d1[0].verdict);
    assert_string_equal(d2[0].component, d1[0].component);
    assert_int_equal(d2[0].fault, d1[0].fault);
    assert_int_equal(d2[0].nagents, d1[0].nagents);
    /* Nobody came back in silent_after: now they are silent. */
    n2 = correlate_evaluate(again, start + 16 * S, d2, 16);
    size_t silent = 0;
    for (size_t i = 0; i < n2; i++)
        silent += d2[i].verdict == CORR_AGENT && d2[i].fault == FL_FAULT_AGENT_SILENT;
    assert_int_equal(silent, 3);
    correlate_free(&again);
}

/* The first good result after the last failure: the time a fault healed. */
static const char *const three[] = {"a1", "a2", "a3"}, *const one[] = {"a1"};
static const char *const web[] = {"web:80"}, *const web_dns[] = {"web:80", "dns:53"},
                         *const dns[] = {"dns:53"};

/* When the failures of AGENTS toward TARGETS healed, by the store. */
static int64_t healed_at(struct fixture *f, const char *const *who, size_t nwho,
                         const char *const *toward, size_t ntoward)
{
    struct store_names a = {who, nwho}, t = {toward, ntoward};
    int64_t healed = -1;
    assert_int_equal(store_healed_at(f->st, &a, &t, T0, &healed), 0);
    return healed;
}

/* The first good result after the last failure: the time a fault healed. */
static void healed_at_is_the_first_good_result_after_the_last_failure(void **state)
{
    struct fixture *f = *state;
    for (int k = 0; k < 4; k++)
        round_of(f, k, 1, &f->live, 1);
    assert_int_equal(healed_at(f, three, 3, web, 1), 0); /* still failing */
    round_of(f, 4, 0, &f->live, 1);
    round_of(f, 5, 0, &f->live, 1);
    assert_int_equal(healed_at(f, three, 3, web, 1), T0 + 4 * EVERY + 300); /* its answer */
    /* A target that never failed says nothing about when the others healed. */
    assert_int_equal(healed_at(f, three, 3, web_dns, 2), T0 + 4 * EVERY + 300);
    /* What the incident does not name does not count. */
    assert_int_equal(healed_at(f, one, 1, dns, 1), 0);
}

static size_t opens, resolves;
static int64_t resolved_end;

static void count_event(void *ctx, enum incident_event ev, const struct incident *in)
{
    (void)ctx;
    opens += ev == INCIDENT_OPEN;
    resolves += ev == INCIDENT_RESOLVE;
    if (ev == INCIDENT_RESOLVE)
        resolved_end = in->end_us;
}

/* Open incidents as the store has them. */
static struct incidents *open_incidents(struct store *st, int64_t confirm_us)
{
    struct incidents *inc = incidents_new(confirm_us);
    assert_non_null(inc);
    assert_int_equal(incidents_load(inc, st), 0);
    return inc;
}

static int64_t evaluate(struct store *st, struct correlate *c, struct incidents *inc, int64_t now)
{
    size_t n = correlate_evaluate(c, now, d1, 16);
    assert_int_equal(store_begin(st), 0);
    assert_int_equal(incidents_apply(inc, st, d1, n, now, NULL, NULL), 0);
    assert_int_equal(store_commit(st), 0);
    incidents_flush_events(inc, count_event, NULL);
    return (int64_t)n;
}

static int first_id(void *ctx, const struct store_incident *in)
{
    *(int64_t *)ctx = in->id;
    return 1;
}

static int64_t open_incident(struct store *st)
{
    int64_t id = 0;
    struct store_incident_filter f = {.open_only = 1};
    assert_int_equal(store_query_incidents(st, &f, first_id, &id), 0);
    return id;
}

static int end_of(void *ctx, const struct store_incident *in)
{
    *(int64_t *)ctx = in->end_us;
    return 1;
}

/* Killed with the fault standing; back while it still stands; then it
 * heals while the collector is down again; back once more. */
static void a_standing_fault_keeps_its_incident_and_a_healed_one_ends_when_it_healed(void **state)
{
    struct fixture *f = *state;
    struct incidents *inc = open_incidents(f->st, 3 * S);
    opens = resolves = 0;
    for (int k = 0; k < 5; k++) {
        round_of(f, k, 1, &f->live, 1);
        evaluate(f->st, f->live, inc, T0 + k * EVERY + S);
    }
    assert_int_equal(opens, 1);
    int64_t id = open_incident(f->st);
    assert_true(id > 0);
    incidents_free(&inc); /* SIGKILL */

    int64_t start = T0 + 30 * S;
    struct correlate *again = correlate_new(NULL);
    uint64_t replayed;
    assert_int_equal(collector_restore(f->st, again, 5 * 60 * S, start, &replayed), 0);
    inc = open_incidents(f->st, 3 * S);
    for (int k = 15; k < 20; k++) { /* the agents are back; still failing */
        round_of(f, k, 1, &again, 1);
        evaluate(f->st, again, inc, T0 + k * EVERY + S);
    }
    assert_int_equal(opens, 1);
    assert_int_equal(resolves, 0);
    assert_int_equal(open_incident(f->st), id);
    incidents_free(&inc);
    correlate_free(&again);

    /* Down again; it heals at round 22 and the agents keep what they
     * probed meanwhile; they deliver it when the collector is back. */
    for (int k = 20; k < 22; k++)
        round_of(f, k, 1, NULL, 0);
    start = T0 + 40 * EVERY;
    again = correlate_new(NULL);
    assert_int_equal(collector_restore(f->st, again, 5 * 60 * S, start, &replayed), 0);
    inc = open_incidents(f->st, 3 * S);
    for (int k = 22; k < 42; k++)
        round_of(f, k, 0, &again, 1); /* the backlog, then the present */
    evaluate(f->st, again, inc, start + S);
    assert_int_equal(resolves, 1);
    assert_int_equal(opens, 1);
    assert_int_equal(resolved_end, T0 + 22 * EVERY + 300);
    int64_t end = 0;
    struct store_incident_filter q = {.id = id};
    assert_int_equal(store_query_incidents(f->st, &q, end_of, &end), 0);
    assert_int_equal(end, T0 + 22 * EVERY + 300);
    incidents_free(&inc);
    correlate_free(&again);
}

/* DRIFT is made of good answers that disagree: failures of its targets
 * along the way say nothing about when it ended. */
static void drift_ends_when_it_is_seen_gone(void **state)
{
    struct fixture *f = *state;
    struct incidents *inc = open_incidents(f->st, 0);
    round_of(f, 0, 1, NULL, 0); /* a failure of web:80, then good answers */
    round_of(f, 1, 0, NULL, 0);
    struct corr_diagnosis d = {.verdict = CORR_DRIFT, .fault = 0x4145, .nagents = 1,
                               .ntargets = 1};
    snprintf(d.component, sizeof d.component, "web:80");
    snprintf(d.agents[0], sizeof d.agents[0], "a1");
    snprintf(d.targets[0], sizeof d.targets[0], "web:80");
    snprintf(d.explanation, sizeof d.explanation, "Server headers differ");
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(incidents_apply(inc, f->st, &d, 1, T0 - S, NULL, NULL), 0);
    assert_int_equal(store_commit(f->st), 0);
    round_of(f, 2, 1, NULL, 0);
    round_of(f, 3, 0, NULL, 0);
    resolves = 0;
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(incidents_apply(inc, f->st, NULL, 0, T0 + 60 * S, NULL, NULL), 0);
    assert_int_equal(store_commit(f->st), 0);
    incidents_flush_events(inc, count_event, NULL);
    assert_int_equal(resolves, 1);
    assert_int_equal(resolved_end, T0 + 60 * S);
    incidents_free(&inc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_rebuilt_engine_sees_what_the_live_one_saw, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(healed_at_is_the_first_good_result_after_the_last_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_standing_fault_keeps_its_incident_and_a_healed_one_ends_when_it_healed, setup,
            teardown),
        cmocka_unit_test_setup_teardown(drift_ends_when_it_is_seen_gone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
