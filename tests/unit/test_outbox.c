/* The agent's outbox: seqs survive restarts, acks free rows, a full
 * outbox drops the oldest and says which. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent.h"
#include "test_util.h"

static fl_result rs[16];
static fl_result *ptrs[16];

static fl_result **make(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        faultline__result__init(&rs[i]);
        rs[i].agent = (char *)"a1";
        rs[i].probe = FAULTLINE__PROBE_TYPE__PROBE_TCP;
        rs[i].target = (char *)"t:1";
        rs[i].address = (char *)"10.0.0.1";
        rs[i].start_us = 1;
        rs[i].status = FAULTLINE__STATUS__STATUS_OK;
        ptrs[i] = &rs[i];
    }
    return ptrs;
}

static void seqs_and_epoch_survive_reopen(void **state)
{
    char *dir = test_tmpdir();
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/o.db", dir);
    struct outbox *ob = outbox_open(path, 1000, err, sizeof err);
    assert_non_null(ob);
    uint64_t epoch = outbox_epoch(ob);
    assert_true(epoch != 0);
    assert_int_equal(outbox_next_seq(ob), 1);
    assert_int_equal(outbox_put(ob, make(5), 5), 0);
    assert_int_equal(rs[4].seq, 5);
    assert_int_equal(outbox_ack(ob, 5), 0); /* empty now */
    outbox_free(&ob);
    ob = outbox_open(path, 1000, err, sizeof err);
    assert_int_equal(outbox_epoch(ob), epoch);
    assert_int_equal(outbox_next_seq(ob), 6);
    assert_int_equal(outbox_depth(ob), 0);
    assert_int_equal(outbox_put(ob, make(2), 2), 0);
    assert_int_equal(rs[0].seq, 6);
    outbox_free(&ob);
    /* A new spool is a new epoch. */
    snprintf(path, sizeof path, "%s/o2.db", dir);
    ob = outbox_open(path, 1000, err, sizeof err);
    assert_true(outbox_epoch(ob) != epoch);
    outbox_free(&ob);
    test_rmdir(dir);
}

static void read_and_ack(void **state)
{
    char *dir = test_tmpdir();
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/o.db", dir);
    struct outbox *ob = outbox_open(path, 1000, err, sizeof err);
    assert_int_equal(outbox_put(ob, make(10), 10), 0);
    struct outbox_row out[16];
    int n = outbox_read(ob, 4, 16, out);
    assert_int_equal(n, 7);
    assert_int_equal(out[0].seq, 4);
    assert_int_equal(out[6].seq, 10);
    /* Stored as staged: the packed result, its seq inside. */
    fl_result *r = faultline__result__unpack(NULL, out[0].len, out[0].data);
    assert_non_null(r);
    assert_int_equal(r->seq, 4);
    assert_string_equal(r->target, "t:1");
    faultline__result__free_unpacked(r, NULL);
    outbox_rows_free(out, (size_t)n);
    assert_int_equal(outbox_ack(ob, 6), 0);
    assert_int_equal(outbox_depth(ob), 4);
    assert_int_equal(outbox_oldest(ob), 7);
    n = outbox_read(ob, 1, 16, out);
    assert_int_equal(n, 4);
    assert_int_equal(out[0].seq, 7);
    outbox_rows_free(out, (size_t)n);
    outbox_free(&ob);
    test_rmdir(dir);
}

static void full_outbox_drops_oldest_as_a_gap(void **state)
{
    char *dir = test_tmpdir();
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/o.db", dir);
    struct outbox *ob = outbox_open(path, 100, err, sizeof err);
    for (int i = 0; i < 25; i++)
        assert_int_equal(outbox_put(ob, make(10), 10), 0); /* 250 results, cap 100 */
    assert_int_equal(outbox_depth(ob), 100);
    assert_int_equal(outbox_dropped(ob), 150);
    assert_int_equal(outbox_oldest(ob), 151);
    uint64_t from, to;
    const char *reason;
    assert_int_equal(outbox_gap(ob, &from, &to, &reason), 1);
    assert_int_equal(from, 1); /* one merged range, not fifteen */
    assert_int_equal(to, 150);
    assert_non_null(strstr(reason, "outbox full"));
    /* Once the collector's mark passes the gap it is forgotten. */
    assert_int_equal(outbox_ack(ob, 150), 0);
    assert_int_equal(outbox_gap(ob, &from, &to, &reason), 0);
    outbox_free(&ob);
    /* The drop count survives a restart. */
    ob = outbox_open(path, 100, err, sizeof err);
    assert_int_equal(outbox_dropped(ob), 150);
    outbox_free(&ob);
    test_rmdir(dir);
}

static void unwritable_path_is_an_error(void **state)
{
    char err[256];
    assert_null(outbox_open("/nonexistent/dir/o.db", 100, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/dir/o.db"));
}

struct flushed {
    struct outbox *ob;
    size_t calls, n;
    int ok;
    uint64_t depth; /* what the spool held when it said so */
};

static void on_flushed(void *ctx, size_t n, int ok)
{
    struct flushed *f = ctx;
    f->calls++;
    f->n += n;
    f->ok = ok;
    f->depth = outbox_depth(f->ob);
    outbox_flush_stop(f->ob); /* the loop may end now */
}

/* Staged results are written by the outbox's own timer, in one
 * transaction for all staged before it fired, and then announced. */
static void staged_results_are_flushed_by_the_outbox(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/o.db", dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outbox *ob = outbox_open(path, 1000, err, sizeof err);
    struct flushed f = {.ob = ob};
    outbox_flush_after(ob, &loop, 20, on_flushed, &f);
    assert_int_equal(outbox_stage(ob, make(3), 3), 0);
    assert_int_equal(outbox_stage(ob, make(4), 4), 0);
    assert_int_equal(outbox_depth(ob), 0); /* staged, not yet written */
    uv_run(&loop, UV_RUN_DEFAULT);         /* returns once the timer has fired and closed */
    assert_int_equal(f.calls, 1);
    assert_int_equal(f.n, 7);
    assert_true(f.ok);
    assert_int_equal(f.depth, 7);
    assert_int_equal(outbox_staged(ob), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    outbox_free(&ob);
    test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(staged_results_are_flushed_by_the_outbox),
        cmocka_unit_test(seqs_and_epoch_survive_reopen),
        cmocka_unit_test(read_and_ack),
        cmocka_unit_test(full_outbox_drops_oldest_as_a_gap),
        cmocka_unit_test(unwritable_path_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
