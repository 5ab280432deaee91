/* The collector's store: idempotent inserts and the committed mark. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store.h"
#include "test_db.h"
#include "test_util.h"

struct fixture {
    char *dir;
    struct store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_tmpdir();
    char path[256];
    f->st = test_store_open(f->dir, path, sizeof path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_free(&f->st);
    test_rmdir(f->dir);
    free(f);
    return 0;
}

static fl_result results[64];
static fl_result *ptrs[64];

static fl_result **make(uint64_t first, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fl_result *r = &results[i];
        faultline__result__init(r);
        r->seq = first + i;
        r->probe = FAULTLINE__PROBE_TYPE__PROBE_ICMP;
        r->target = (char *)"web.lab.test";
        r->address = (char *)"10.77.100.2";
        r->start_us = 1795300000000000 + (int64_t)(first + i);
        r->status = i % 2 ? FAULTLINE__STATUS__STATUS_FAIL : FAULTLINE__STATUS__STATUS_OK;
        r->fault_code = i % 2 ? 0x31a1 : 0;
        ptrs[i] = r;
    }
    return ptrs;
}

static int count_rows(void *ctx, const struct store_result_row *row)
{
    (*(int *)ctx)++;
    return 0;
}

static int count_incident(void *ctx, const struct store_incident *in)
{
    (void)in;
    (*(int *)ctx)++;
    return 0;
}

static int stored(struct store *st)
{
    int n = 0;
    struct store_filter f = {0};
    assert_int_equal(store_query_results(st, &f, count_rows, &n), 0);
    return n;
}

static void same_batch_twice_is_stored_once(void **state)
{
    struct fixture *f = *state;
    int64_t agent = store_agent_id(f->st, "a1");
    size_t inserted;
    uint64_t mark;
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_put_results(f->st, agent, 9, make(1, 10), 10, NULL, &inserted, &mark), 0);
    assert_int_equal(store_commit(f->st), 0);
    assert_int_equal(inserted, 10);
    assert_int_equal(mark, 10);
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_put_results(f->st, agent, 9, make(1, 10), 10, NULL, &inserted, &mark), 0);
    assert_int_equal(store_commit(f->st), 0);
    assert_int_equal(inserted, 0);
    assert_int_equal(mark, 10);
    assert_int_equal(stored(f->st), 10);
    /* Overlapping resend: only the new part is stored. */
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_put_results(f->st, agent, 9, make(6, 10), 10, NULL, &inserted, &mark), 0);
    assert_int_equal(store_commit(f->st), 0);
    assert_int_equal(inserted, 5);
    assert_int_equal(mark, 15);
    assert_int_equal(stored(f->st), 15);
}

static void mark_moves_only_on_contiguous_batches(void **state)
{
    struct fixture *f = *state;
    int64_t agent = store_agent_id(f->st, "a2");
    size_t inserted;
    uint64_t mark;
    store_begin(f->st);
    assert_int_equal(store_put_results(f->st, agent, 1, make(11, 5), 5, NULL, &inserted, &mark), 0);
    store_commit(f->st);
    assert_int_equal(inserted, 5); /* stored... */
    assert_int_equal(mark, 0);     /* ...but 1..10 are missing: no ack past them */
    store_begin(f->st);
    assert_int_equal(store_put_results(f->st, agent, 1, make(1, 10), 10, NULL, &inserted, &mark), 0);
    store_commit(f->st);
    assert_int_equal(mark, 10); /* the agent resends 11..15 later; dedupe keeps them once */
    /* Another epoch of the same agent is its own stream. */
    assert_int_equal(store_committed(f->st, agent, 2, &mark), 0);
    assert_int_equal(mark, 0);
}

static void gap_moves_the_mark(void **state)
{
    struct fixture *f = *state;
    int64_t agent = store_agent_id(f->st, "a3");
    size_t inserted;
    uint64_t mark;
    store_begin(f->st);
    assert_int_equal(store_put_gap(f->st, agent, 5, 1, 100, "outbox full", 1, &mark), 0);
    assert_int_equal(mark, 100);
    assert_int_equal(store_put_results(f->st, agent, 5, make(101, 3), 3, NULL, &inserted, &mark), 0);
    assert_int_equal(mark, 103);
    store_commit(f->st);
}

static int collect_gap(void *ctx, const struct store_gap_row *row)
{
    struct store_gap_row *out = ctx;
    while (out->to_seq)
        out++;
    *out = *row;
    out->agent = out->reason = NULL; /* owned by the statement */
    return 0;
}

/* A gap row says what is missing: not what was stored before the agent
 * dropped it unacknowledged, and one row grows when the gap grows. */
static void gap_rows_hold_only_the_missing(void **state)
{
    struct fixture *f = *state;
    int64_t agent = store_agent_id(f->st, "a6");
    size_t inserted;
    uint64_t mark;
    store_begin(f->st);
    assert_int_equal(store_put_results(f->st, agent, 7, make(1, 10), 10, NULL, &inserted, &mark), 0);
    /* 1..10 were stored but never acknowledged; the outbox dropped 1..30. */
    assert_int_equal(store_put_gap(f->st, agent, 7, 1, 30, "outbox full", 1, &mark), 0);
    assert_int_equal(mark, 30);
    /* The same report again, and an older, smaller one: nothing new. */
    assert_int_equal(store_put_gap(f->st, agent, 7, 1, 30, "outbox full", 2, &mark), 0);
    assert_int_equal(store_put_gap(f->st, agent, 7, 5, 20, "outbox full", 3, &mark), 0);
    /* Beyond a hole (41..45 not here yet): kept as reported, then grown. */
    assert_int_equal(store_put_gap(f->st, agent, 7, 46, 50, "outbox full", 4, &mark), 0);
    assert_int_equal(mark, 30);
    assert_int_equal(store_put_gap(f->st, agent, 7, 46, 60, "outbox full", 5, &mark), 0);
    store_commit(f->st);
    struct store_gap_row rows[8] = {0};
    assert_int_equal(store_query_gaps(f->st, "a6", collect_gap, rows), 0);
    assert_int_equal(rows[0].from_seq, 11);
    assert_int_equal(rows[0].to_seq, 30);
    assert_int_equal(rows[1].from_seq, 46);
    assert_int_equal(rows[1].to_seq, 60);
    assert_int_equal(rows[2].to_seq, 0);
}

static void rollback_forgets_everything(void **state)
{
    struct fixture *f = *state;
    int64_t agent = store_agent_id(f->st, "a4");
    size_t inserted;
    uint64_t mark;
    store_begin(f->st);
    assert_int_equal(store_put_results(f->st, agent, 1, make(1, 4), 4, NULL, &inserted, &mark), 0);
    store_rollback(f->st);
    assert_int_equal(store_committed(f->st, agent, 1, &mark), 0);
    assert_int_equal(mark, 0);
    assert_int_equal(stored(f->st), 0);
    /* The target-id cache must not keep ids from the rolled-back work. */
    store_begin(f->st);
    assert_int_equal(store_put_results(f->st, agent, 1, make(1, 4), 4, NULL, &inserted, &mark), 0);
    assert_int_equal(store_commit(f->st), 0);
    assert_int_equal(stored(f->st), 4);
}

static int count_agent(void *ctx, const struct store_agent_row *row)
{
    (void)row;
    (*(size_t *)ctx)++;
    return 0;
}

static void readonly_open_refuses_foreign_files(void **state)
{
    char *dir = test_tmpdir();
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/not.db", dir);
    test_write(path, "hello");
    struct store_opts so = {.url = path, .readonly = 1};
    assert_null(store_open(&so, err, sizeof err));
    snprintf(path, sizeof path, "%s/missing.db", dir);
    assert_null(store_open(&so, err, sizeof err));
    test_rmdir(dir);
}

static int count_filtered(struct store *st, struct store_filter f)
{
    int n = 0;
    assert_int_equal(store_query_results(st, &f, count_rows, &n), 0);
    return n;
}

/* Each filter narrows what a query returns, and together they all hold. */
static void filters_narrow_the_results(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin(f->st), 0);
    int64_t a1 = store_agent_id(f->st, "a1"), a2 = store_agent_id(f->st, "a2");
    size_t ins;
    uint64_t mark;
    assert_int_equal(store_put_results(f->st, a1, 1, make(1, 10), 10, NULL, &ins, &mark), 0);
    assert_int_equal(store_put_results(f->st, a2, 1, make(1, 6), 6, NULL, &ins, &mark), 0);
    assert_int_equal(store_commit(f->st), 0);
    int64_t t0 = 1795300000000000;
    assert_int_equal(count_filtered(f->st, (struct store_filter){.agent = "a1"}), 10);
    assert_int_equal(count_filtered(f->st, (struct store_filter){.status = -1}), 5 + 3);
    assert_int_equal(count_filtered(f->st, (struct store_filter){.agent = "a2", .status = 1}), 3);
    assert_int_equal(count_filtered(f->st, (struct store_filter){.target = "nowhere"}), 0);
    assert_int_equal(count_filtered(f->st, (struct store_filter){.since_us = t0 + 5}), 6 + 2);
    assert_int_equal(count_filtered(f->st, (struct store_filter){.until_us = t0 + 5}), 4 + 4);
    assert_int_equal(count_filtered(f->st, (struct store_filter){.probe = 2}), 0);
    assert_int_equal(count_filtered(f->st, (struct store_filter){.agent = "a1", .limit = 3}), 3);
    static const char *const agents[] = {"a1"}, *const targets[] = {"web:80"};
    struct store_incident in = {.verdict = "TARGET", .component = "web", .explanation = "x",
                                .agents = {agents, 1}, .targets = {targets, 1},
                                .fault_code = 0x3791, .start_us = t0, .updated_us = t0};
    int64_t id;
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_incident_open(f->st, &in, &id), 0);
    assert_int_equal(store_commit(f->st), 0);
    int n = 0;
    struct store_incident_filter inf = {.agent = "a1", .open_only = 1, .verdict = "TARGET"};
    assert_int_equal(store_query_incidents(f->st, &inf, count_incident, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    inf.agent = "a2";
    assert_int_equal(store_query_incidents(f->st, &inf, count_incident, &n), 0);
    assert_int_equal(n, 0);
}

/* A store is chosen by its location's scheme: sqlite:PATH is the same
 * SQLite file as PATH; a scheme without a backend is refused by name. */
static void the_scheme_chooses_the_store(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[256], url[300], err[512];
    snprintf(path, sizeof path, "%s/a.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    struct store_opts so = {.url = url};
    struct store *st = store_open(&so, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(store_begin(st), 0);
    assert_true(store_agent_id(st, "a1") > 0);
    assert_int_equal(store_commit(st), 0);
    store_free(&st);
    assert_null(st);
    struct store_opts plain = {.url = path, .readonly = 1}; /* the same file, by its path */
    st = store_open(&plain, err, sizeof err);
    assert_non_null(st);
    size_t agents = 0;
    assert_int_equal(store_query_agents(st, count_agent, &agents), 0);
    assert_int_equal(agents, 1);
    store_free(&st);
    struct store_opts pg = {.url = "postgresql://db.example/faultline"};
    assert_null(store_open(&pg, err, sizeof err));
    assert_non_null(strstr(err, "no PostgreSQL store"));
    const char *empty[] = {"", "sqlite:"}; /* never a temporary database */
    for (size_t i = 0; i < 2; i++) {
        struct store_opts none = {.url = empty[i]};
        assert_null(store_open(&none, err, sizeof err));
        assert_string_equal(err, "no database file given");
    }
    struct store_opts other = {.url = "mysql://db.example/faultline"};
    assert_null(store_open(&other, err, sizeof err));
    assert_non_null(strstr(err, "unknown store 'mysql'"));
    test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_batch_twice_is_stored_once, setup, teardown),
        cmocka_unit_test_setup_teardown(mark_moves_only_on_contiguous_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(gap_moves_the_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(gap_rows_hold_only_the_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_forgets_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(filters_narrow_the_results, setup, teardown),
        cmocka_unit_test(readonly_open_refuses_foreign_files),
        cmocka_unit_test(the_scheme_chooses_the_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
