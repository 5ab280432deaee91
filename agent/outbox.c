/* outbox: every result is stored here (SQLite, WAL) before it is sent, and
 * leaves only when the collector's Ack says it is committed there.
 *
 * A spool gets a random 64-bit epoch when it is created; seqs are
 * monotonic within it and survive restarts.  Commits are synchronous=FULL:
 * were a power cut to roll the spool back, seqs already acknowledged would
 * be handed out again and the collector would discard the new results as
 * duplicates.  When the spool holds `max` results, the oldest are dropped
 * and the range is kept as a gap, which the sender reports: loss is
 * counted, never silent. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent.h"

struct outbox_staged {
    uint64_t seq;
    size_t len;
    uint8_t *data;
};

struct outbox {
    sqlite3 *db;
    struct outbox_staged *staged; /* packed, seq assigned, not yet written */
    size_t nstaged, capstaged;
    uint64_t durable_next; /* next_seq as last committed */
    sqlite3_stmt *ins, *sel, *del, *del_gap, *set_next, *drop, *gap_get, *gap_put;
    uint64_t epoch, next_seq, oldest, depth, dropped;
    uint64_t acked; /* highest ack applied since open */
    int64_t max;
    char gap_reason[128];
    /* the flush policy (outbox_flush_after) */
    uv_timer_t flush_timer;
    int flush_on, flush_ms;
    void (*flushed)(void *ctx, size_t n, int ok);
    void *flushed_ctx;
};

/* The outbox appends at one end and reads and deletes at the other, so a
 * small page cache serves it as well as a large one, and a long backlog
 * does not leave the agent bigger than it was (512 KiB, not SQLite's 2 MiB). */
static const char outbox_schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "PRAGMA cache_size=-512;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY, data BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS gap(from_seq INTEGER PRIMARY KEY, to_seq INTEGER NOT NULL,"
    "  reason TEXT NOT NULL);";

static void outbox__drop_staged(struct outbox *ob);
static void outbox__on_flush_timer(uv_timer_t *t);

static int outbox__exec(struct outbox *ob, const char *sql)
{
    return sqlite3_exec(ob->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int64_t outbox__meta(struct outbox *ob, const char *key, int *found)
{
    sqlite3_stmt *s;
    int64_t v = 0;
    *found = 0;
    if (sqlite3_prepare_v2(ob->db, "SELECT value FROM meta WHERE key=?", -1, &s, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
        *found = 1;
    }
    sqlite3_finalize(s);
    return v;
}

static int outbox__prepare(struct outbox *ob)
{
    struct {
        sqlite3_stmt **s;
        const char *sql;
    } stmts[] = {
        {&ob->ins, "INSERT INTO outbox(seq, data) VALUES(?, ?)"},
        {&ob->sel, "SELECT data, seq FROM outbox WHERE seq >= ? ORDER BY seq LIMIT ?"},
        {&ob->del, "DELETE FROM outbox WHERE seq <= ?"},
        {&ob->del_gap, "DELETE FROM gap WHERE to_seq <= ?"},
        {&ob->set_next, "INSERT OR REPLACE INTO meta(key, value) VALUES('next_seq', ?)"},
        {&ob->drop, "DELETE FROM outbox WHERE seq < ?"},
        {&ob->gap_get, "SELECT from_seq, to_seq, reason FROM gap ORDER BY from_seq LIMIT 1"},
        {&ob->gap_put, "INSERT INTO gap(from_seq, to_seq, reason) VALUES(?, ?, ?) "
                       "ON CONFLICT(from_seq) DO UPDATE SET to_seq = excluded.to_seq"},
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if (sqlite3_prepare_v3(ob->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].s,
                               NULL) != SQLITE_OK)
            return -1;
    return 0;
}

struct outbox *outbox_open(const char *path, int64_t max, char *err, size_t errlen)
{
    struct outbox *ob = calloc(1, sizeof *ob);
    if (!ob) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ob->max = max;
    if (sqlite3_open_v2(path, &ob->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(ob->db, 5000) != SQLITE_OK || outbox__exec(ob, outbox_schema) != 0)
        goto fail;
    int found;
    ob->epoch = (uint64_t)outbox__meta(ob, "epoch", &found);
    if (!found) {
        do {
            if (getrandom(&ob->epoch, sizeof ob->epoch, 0) != sizeof ob->epoch)
                goto fail;
            ob->epoch &= INT64_MAX; /* SQLite integers are signed */
        } while (ob->epoch == 0);
        char sql[160];
        snprintf(sql, sizeof sql,
                 "INSERT INTO meta(key, value) VALUES('epoch', %lld), ('next_seq', 1)",
                 (long long)ob->epoch);
        if (outbox__exec(ob, sql) != 0)
            goto fail;
    }
    ob->next_seq = (uint64_t)outbox__meta(ob, "next_seq", &found);
    if (!found || ob->next_seq == 0)
        ob->next_seq = 1;
    ob->durable_next = ob->next_seq;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(ob->db, "SELECT count(*), coalesce(min(seq), 0) FROM outbox", -1, &s,
                           NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_step(s) == SQLITE_ROW) {
        ob->depth = (uint64_t)sqlite3_column_int64(s, 0);
        ob->oldest = (uint64_t)sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    if (ob->depth == 0)
        ob->oldest = ob->next_seq;
    ob->dropped = (uint64_t)outbox__meta(ob, "dropped", &found);
    if (outbox__prepare(ob) != 0)
        goto fail;
    return ob;
fail:
    snprintf(err, errlen, "%s: %s", path, ob->db ? sqlite3_errmsg(ob->db) : "cannot open");
    outbox_free(&ob);
    return NULL;
}

void outbox_free(struct outbox **pob)
{
    if (!pob || !*pob)
        return;
    struct outbox *ob = *pob;
    sqlite3_stmt *all[] = {ob->ins, ob->sel, ob->del, ob->del_gap, ob->set_next, ob->drop,
                           ob->gap_get, ob->gap_put};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    outbox__drop_staged(ob);
    free(ob->staged);
    sqlite3_close(ob->db);
    free(ob);
    *pob = NULL;
}

uint64_t outbox_epoch(const struct outbox *ob) { return ob->epoch; }
uint64_t outbox_next_seq(const struct outbox *ob) { return ob->next_seq; }
uint64_t outbox_depth(const struct outbox *ob) { return ob->depth; }
uint64_t outbox_dropped(const struct outbox *ob) { return ob->dropped; }
uint64_t outbox_oldest(const struct outbox *ob) { return ob->oldest; }

static int outbox__step(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Drop the oldest rows so that at most max remain; keep the range as a gap. */
static int outbox__trim(struct outbox *ob, uint64_t *depth, uint64_t *oldest)
{
    if ((int64_t)*depth <= ob->max)
        return 0;
    uint64_t n = *depth - (uint64_t)ob->max;
    uint64_t from = *oldest, to = *oldest + n - 1;
    sqlite3_bind_int64(ob->drop, 1, (int64_t)(to + 1));
    if (outbox__step(ob->drop) != 0)
        return -1;
    /* Extend the gap that ends just before, if there is one. */
    uint64_t gfrom = from, gto;
    const char *greason;
    if (outbox_gap(ob, &gfrom, &gto, &greason) == 1 && gto + 1 == from)
        from = gfrom;
    sqlite3_bind_int64(ob->gap_put, 1, (int64_t)from);
    sqlite3_bind_int64(ob->gap_put, 2, (int64_t)to);
    sqlite3_bind_text(ob->gap_put, 3, "outbox full: oldest results dropped", -1, SQLITE_STATIC);
    if (outbox__step(ob->gap_put) != 0)
        return -1;
    char sql[96];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta(key, value) VALUES('dropped', %lld)",
             (long long)(ob->dropped + n));
    if (outbox__exec(ob, sql) != 0)
        return -1;
    *depth -= n;
    *oldest = to + 1;
    return 0;
}

int outbox_stage(struct outbox *ob, fl_result **results, size_t n)
{
    if (ob->nstaged + n > ob->capstaged) {
        size_t ncap = ob->capstaged ? ob->capstaged * 2 : 256;
        while (ncap < ob->nstaged + n)
            ncap *= 2;
        struct outbox_staged *ns = realloc(ob->staged, ncap * sizeof *ns);
        if (!ns)
            return -1;
        ob->staged = ns;
        ob->capstaged = ncap;
    }
    for (size_t i = 0; i < n; i++) {
        results[i]->seq = ob->next_seq;
        size_t len = faultline__result__get_packed_size(results[i]);
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf) {
            results[i]->seq = 0;
            return -1;
        }
        faultline__result__pack(results[i], buf);
        ob->staged[ob->nstaged++] = (struct outbox_staged){ob->next_seq, len, buf};
        ob->next_seq++;
    }
    if (ob->flush_on && !uv_is_active((uv_handle_t *)&ob->flush_timer))
        uv_timer_start(&ob->flush_timer, outbox__on_flush_timer, (uint64_t)ob->flush_ms, 0);
    return 0;
}

static void outbox__drop_staged(struct outbox *ob)
{
    for (size_t i = 0; i < ob->nstaged; i++)
        free(ob->staged[i].data);
    ob->nstaged = 0;
}

size_t outbox_staged(const struct outbox *ob)
{
    return ob->nstaged;
}

static void outbox__on_flush_timer(uv_timer_t *t)
{
    struct outbox *ob = t->data;
    size_t n = ob->nstaged;
    int ok = outbox_flush(ob) == 0;
    if (ob->flushed)
        ob->flushed(ob->flushed_ctx, n, ok);
}

void outbox_flush_after(struct outbox *ob, uv_loop_t *loop, int flush_ms,
                        void (*flushed)(void *ctx, size_t n, int ok), void *ctx)
{
    uv_timer_init(loop, &ob->flush_timer);
    ob->flush_timer.data = ob;
    ob->flush_on = 1;
    ob->flush_ms = flush_ms;
    ob->flushed = flushed;
    ob->flushed_ctx = ctx;
}

void outbox_flush_stop(struct outbox *ob)
{
    if (!ob || !ob->flush_on)
        return;
    ob->flush_on = 0;
    uv_timer_stop(&ob->flush_timer);
    uv_close((uv_handle_t *)&ob->flush_timer, NULL);
}

int outbox_flush(struct outbox *ob)
{
    if (ob->nstaged == 0)
        return 0;
    if (outbox__exec(ob, "BEGIN IMMEDIATE") != 0)
        goto fail_nobegin;
    uint64_t depth = ob->depth, oldest = ob->oldest;
    for (size_t i = 0; i < ob->nstaged; i++) {
        sqlite3_bind_int64(ob->ins, 1, (int64_t)ob->staged[i].seq);
        sqlite3_bind_blob(ob->ins, 2, ob->staged[i].data, (int)ob->staged[i].len, SQLITE_STATIC);
        if (outbox__step(ob->ins) != 0)
            goto fail;
        depth++;
    }
    uint64_t before_trim = depth;
    if (outbox__trim(ob, &depth, &oldest) != 0)
        goto fail;
    sqlite3_bind_int64(ob->set_next, 1, (int64_t)ob->next_seq);
    if (outbox__step(ob->set_next) != 0 || outbox__exec(ob, "COMMIT") != 0)
        goto fail;
    ob->dropped += before_trim - depth;
    ob->depth = depth;
    ob->oldest = oldest;
    ob->durable_next = ob->next_seq;
    outbox__drop_staged(ob);
    return 0;
fail:
    outbox__exec(ob, "ROLLBACK");
fail_nobegin:
    /* Nothing of it was written or sent: hand the seqs out again. */
    ob->next_seq = ob->durable_next;
    outbox__drop_staged(ob);
    return -1;
}

int outbox_put(struct outbox *ob, fl_result **results, size_t n)
{
    if (outbox_stage(ob, results, n) != 0) {
        ob->next_seq = ob->durable_next;
        outbox__drop_staged(ob);
        return -1;
    }
    return outbox_flush(ob);
}

int outbox_read(struct outbox *ob, uint64_t from, size_t max, struct outbox_row *out)
{
    sqlite3_bind_int64(ob->sel, 1, (int64_t)from);
    sqlite3_bind_int64(ob->sel, 2, (int64_t)max);
    int n = 0, rc;
    while ((size_t)n < max && (rc = sqlite3_step(ob->sel)) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(ob->sel, 0);
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy)
            break; /* what was read goes; the rest waits for the next read */
        memcpy(copy, sqlite3_column_blob(ob->sel, 0), len);
        out[n++] = (struct outbox_row){.seq = (uint64_t)sqlite3_column_int64(ob->sel, 1),
                                       .data = copy, .len = len};
    }
    sqlite3_reset(ob->sel);
    return n;
}

void outbox_rows_free(struct outbox_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].data);
        rows[i].data = NULL;
    }
}

int outbox_ack(struct outbox *ob, uint64_t upto)
{
    if (upto <= ob->acked)
        return 0; /* heartbeats repeat the last ack: nothing to do */
    sqlite3_bind_int64(ob->del, 1, (int64_t)upto);
    sqlite3_bind_int64(ob->del_gap, 1, (int64_t)upto);
    if (outbox__exec(ob, "BEGIN IMMEDIATE") != 0)
        return -1;
    if (outbox__step(ob->del) != 0)
        goto fail;
    uint64_t removed = (uint64_t)sqlite3_changes(ob->db);
    if (outbox__step(ob->del_gap) != 0 || outbox__exec(ob, "COMMIT") != 0)
        goto fail;
    ob->depth -= removed;
    ob->acked = upto;
    if (upto + 1 > ob->oldest)
        ob->oldest = upto + 1 < ob->next_seq ? upto + 1 : ob->next_seq;
    return 0;
fail:
    outbox__exec(ob, "ROLLBACK");
    return -1;
}

int outbox_gap(struct outbox *ob, uint64_t *from, uint64_t *to, const char **reason)
{
    int found = 0;
    if (sqlite3_step(ob->gap_get) == SQLITE_ROW) {
        *from = (uint64_t)sqlite3_column_int64(ob->gap_get, 0);
        *to = (uint64_t)sqlite3_column_int64(ob->gap_get, 1);
        snprintf(ob->gap_reason, sizeof ob->gap_reason, "%s",
                 (const char *)sqlite3_column_text(ob->gap_get, 2));
        *reason = ob->gap_reason;
        found = 1;
    }
    sqlite3_reset(ob->gap_get);
    return found;
}
