/* store_sqlite: the embedded store.
 *
 * Designed for ingest: integer ids for agents and targets (text appears
 * once, in their own tables), one unique index that makes inserts
 * idempotent, a time index, and a partial index on failures only, which is
 * what the fault history asks for.  WAL with synchronous=FULL by default:
 * a row the collector acknowledged survives power loss. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"

#define STORE_SCHEMA_VERSION 1

static const char store_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS agent("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, version TEXT, labels TEXT,"
    "  first_seen_us INTEGER, last_seen_us INTEGER, last_heartbeat_us INTEGER,"
    "  spool_depth INTEGER DEFAULT 0, dropped INTEGER DEFAULT 0, clock_offset_us INTEGER);"
    "CREATE TABLE IF NOT EXISTS stream("
    "  agent_id INTEGER NOT NULL, epoch INTEGER NOT NULL, committed_upto INTEGER NOT NULL,"
    "  PRIMARY KEY(agent_id, epoch)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS target("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL,"
    "  UNIQUE(name, address));"
    "CREATE TABLE IF NOT EXISTS result("
    "  agent_id INTEGER NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  ts_us INTEGER NOT NULL, probe INTEGER NOT NULL, target_id INTEGER NOT NULL,"
    "  duration_us INTEGER NOT NULL, status INTEGER NOT NULL, fault_code INTEGER NOT NULL,"
    "  message TEXT, detail BLOB);"
    "CREATE UNIQUE INDEX IF NOT EXISTS result_key ON result(agent_id, epoch, seq);"
    "CREATE INDEX IF NOT EXISTS result_ts ON result(ts_us);"
    "CREATE INDEX IF NOT EXISTS result_fail ON result(target_id, ts_us) WHERE status <> 1;"
    "CREATE TABLE IF NOT EXISTS incident("
    "  id INTEGER PRIMARY KEY, verdict TEXT NOT NULL, component TEXT NOT NULL,"
    "  fault_code INTEGER NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER,"
    "  updated_us INTEGER NOT NULL, agents TEXT, targets TEXT, npairs INTEGER,"
    "  explanation TEXT);"
    "CREATE INDEX IF NOT EXISTS incident_start ON incident(start_us);"
    "CREATE INDEX IF NOT EXISTS incident_open ON incident(verdict, component) WHERE end_us IS NULL;"
    "CREATE TABLE IF NOT EXISTS gap("
    "  agent_id INTEGER NOT NULL, epoch INTEGER NOT NULL, from_seq INTEGER NOT NULL,"
    "  to_seq INTEGER NOT NULL, reason TEXT, received_us INTEGER,"
    "  PRIMARY KEY(agent_id, epoch, from_seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS refused_key("
    "  key TEXT PRIMARY KEY, address TEXT NOT NULL, first_seen_us INTEGER NOT NULL,"
    "  last_seen_us INTEGER NOT NULL, handshakes INTEGER NOT NULL) WITHOUT ROWID;";

static const char *sqlite_errmsg(struct store *base)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    return st && st->db ? sqlite3_errmsg(st->db) : "no database";
}

static int store__prep(struct store_sqlite *st, sqlite3_stmt **s, const char *sql)
{
    return sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL) == SQLITE_OK
               ? 0
               : -1;
}

static int store__prepare_writer(struct store_sqlite *st)
{
    return store__prep(st, &st->ins_result,
                       "INSERT OR IGNORE INTO result(agent_id,epoch,seq,ts_us,probe,target_id,"
                       "duration_us,status,fault_code,message,detail) "
                       "VALUES(?,?,?,?,?,?,?,?,?,?,?)") ||
           store__prep(st, &st->ins_target,
                       "INSERT OR IGNORE INTO target(name,address) VALUES(?,?)") ||
           store__prep(st, &st->get_target, "SELECT id FROM target WHERE name=? AND address=?") ||
           store__prep(st, &st->ins_agent, "INSERT OR IGNORE INTO agent(name) VALUES(?)") ||
           store__prep(st, &st->get_agent, "SELECT id FROM agent WHERE name=?") ||
           store__prep(st, &st->get_stream,
                       "SELECT committed_upto FROM stream WHERE agent_id=? AND epoch=?") ||
           store__prep(st, &st->put_stream,
                       "INSERT INTO stream(agent_id,epoch,committed_upto) VALUES(?,?,?) "
                       "ON CONFLICT(agent_id,epoch) DO UPDATE SET committed_upto="
                       "max(committed_upto, excluded.committed_upto)") ||
           store__prep(st, &st->agent_seen,
                       "UPDATE agent SET version=?, labels=coalesce(?, labels),"
                       " first_seen_us=coalesce(first_seen_us, ?), last_seen_us=? WHERE id=?") ||
           store__prep(st, &st->agent_hb,
                       "UPDATE agent SET spool_depth=?, dropped=?, clock_offset_us=?,"
                       " last_heartbeat_us=?, last_seen_us=?,"
                       " first_seen_us=coalesce(first_seen_us, ?) WHERE id=?") ||
           store__prep(st, &st->ins_gap,
                       "INSERT INTO gap(agent_id,epoch,from_seq,to_seq,reason,received_us)"
                       " VALUES(?,?,?,?,?,?) ON CONFLICT(agent_id,epoch,from_seq) DO UPDATE"
                       " SET to_seq=max(to_seq, excluded.to_seq), reason=excluded.reason,"
                       " received_us=excluded.received_us");
}

static void sqlite_close(struct store *base);
static void sqlite_rollback(struct store *base);

static struct store *sqlite_open(const char *path, const struct store_opts *opts, char *err,
                                 size_t errlen)
{
    if (!path[0]) { /* SQLite would make a temporary database of it, lost at close */
        snprintf(err, errlen, "no database file given");
        return NULL;
    }
    struct store_sqlite *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->readonly = opts->readonly;
    int flags = opts->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_extended_result_codes(st->db, 1);
    if (!opts->readonly) {
        char pragmas[200];
        snprintf(pragmas, sizeof pragmas,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF;",
                 opts->sync_normal ? "NORMAL" : "FULL");
        char *msg = NULL;
        if (sqlite3_exec(st->db, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db, store_schema, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(st->db,
                         "INSERT OR IGNORE INTO meta(key,value) VALUES('schema_version','1')",
                         NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(st->db));
            sqlite3_free(msg);
            goto fail;
        }
        if (store__prepare_writer(st) != 0) {
            snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(st->db));
            goto fail;
        }
    } else {
        sqlite3_stmt *s = NULL;
        int ok = sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key='schema_version'",
                                    -1, &s, NULL) == SQLITE_OK &&
                 sqlite3_step(s) == SQLITE_ROW;
        int version = ok ? sqlite3_column_int(s, 0) : 0;
        sqlite3_finalize(s);
        if (version != STORE_SCHEMA_VERSION) {
            snprintf(err, errlen, "%s: not a faultline database (or a newer schema)", path);
            goto fail;
        }
    }
    st->base.ops = &store_sqlite_ops;
    return &st->base;
fail:
    sqlite_close(&st->base);
    return NULL;
}

static void sqlite_close(struct store *base)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    sqlite3_stmt **stmts[] = {&st->ins_result, &st->ins_target, &st->get_target,
                              &st->ins_agent,  &st->get_agent,  &st->get_stream,
                              &st->put_stream, &st->agent_seen, &st->agent_hb,
                              &st->ins_gap};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        sqlite3_finalize(*stmts[i]);
    for (size_t i = 0; i < st->cap; i++)
        free(st->targets[i].key);
    free(st->targets);
    sqlite3_close(st->db);
    free(st);
}

static int sqlite_begin(struct store *base)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    return sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int sqlite_commit(struct store *base)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite_rollback(&st->base);
    return -1;
}

static void sqlite_rollback(struct store *base)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    /* Ids cached during the failed transaction may not exist: forget them. */
    for (size_t i = 0; i < st->cap; i++) {
        free(st->targets[i].key);
        st->targets[i].key = NULL;
    }
    st->ntargets = 0;
}

/* Run a prepared statement that returns at most one integer. */
static int store__step_int(sqlite3_stmt *s, int64_t *out)
{
    int rc = sqlite3_step(s);
    int result = -1;
    if (rc == SQLITE_ROW) {
        if (out)
            *out = sqlite3_column_int64(s, 0);
        result = 1;
    } else if (rc == SQLITE_DONE) {
        result = 0;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return result;
}

static int64_t sqlite_agent_id(struct store *base, const char *name)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    int64_t id;
    sqlite3_bind_text(st->get_agent, 1, name, -1, SQLITE_STATIC);
    int rc = store__step_int(st->get_agent, &id);
    if (rc == 1)
        return id;
    if (rc < 0)
        return -1;
    sqlite3_bind_text(st->ins_agent, 1, name, -1, SQLITE_STATIC);
    if (store__step_int(st->ins_agent, NULL) < 0)
        return -1;
    return sqlite3_last_insert_rowid(st->db);
}

static int sqlite_agent_seen(struct store *base, int64_t agent, const char *version, const char *labels_json,
                     int64_t now_us)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    sqlite3_stmt *s = st->agent_seen;
    sqlite3_bind_text(s, 1, version, -1, SQLITE_STATIC);
    if (labels_json)
        sqlite3_bind_text(s, 2, labels_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now_us);
    sqlite3_bind_int64(s, 4, now_us);
    sqlite3_bind_int64(s, 5, agent);
    return store__step_int(s, NULL) < 0 ? -1 : 0;
}

static int sqlite_agent_heartbeat(struct store *base, int64_t agent, uint64_t spool_depth, uint64_t dropped,
                          int64_t clock_offset_us, int64_t now_us)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    sqlite3_stmt *s = st->agent_hb;
    sqlite3_bind_int64(s, 1, (int64_t)spool_depth);
    sqlite3_bind_int64(s, 2, (int64_t)dropped);
    sqlite3_bind_int64(s, 3, clock_offset_us);
    sqlite3_bind_int64(s, 4, now_us);
    sqlite3_bind_int64(s, 5, now_us);
    sqlite3_bind_int64(s, 6, now_us);
    sqlite3_bind_int64(s, 7, agent);
    return store__step_int(s, NULL) < 0 ? -1 : 0;
}

static int sqlite_committed(struct store *base, int64_t agent, uint64_t epoch, uint64_t *committed)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    int64_t v = 0;
    sqlite3_bind_int64(st->get_stream, 1, agent);
    sqlite3_bind_int64(st->get_stream, 2, (int64_t)epoch);
    int rc = store__step_int(st->get_stream, &v);
    if (rc < 0)
        return -1;
    *committed = rc == 1 ? (uint64_t)v : 0;
    return 0;
}

/* Move the stream's mark (now MARK) to TO when FROM..TO continues it. */
static int store__move_mark(struct store_sqlite *st, int64_t agent, uint64_t epoch, uint64_t mark,
                            uint64_t from, uint64_t to, uint64_t *committed)
{
    if (from <= mark + 1 && to > mark) {
        mark = to;
        sqlite3_bind_int64(st->put_stream, 1, agent);
        sqlite3_bind_int64(st->put_stream, 2, (int64_t)epoch);
        sqlite3_bind_int64(st->put_stream, 3, (int64_t)mark);
        if (store__step_int(st->put_stream, NULL) < 0)
            return -1;
    }
    *committed = mark;
    return 0;
}

static int store__advance(struct store_sqlite *st, int64_t agent, uint64_t epoch, uint64_t from,
                          uint64_t to, uint64_t *committed)
{
    uint64_t mark;
    if (sqlite_committed(&st->base, agent, epoch, &mark) != 0)
        return -1;
    return store__move_mark(st, agent, epoch, mark, from, to, committed);
}

static uint64_t store__hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int store__target_grow(struct store_sqlite *st)
{
    size_t ncap = st->cap ? st->cap * 2 : 1024;
    struct store_target_slot *n = calloc(ncap, sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < st->cap; i++) {
        if (!st->targets[i].key)
            continue;
        size_t j = store__hash(st->targets[i].key) & (ncap - 1);
        while (n[j].key)
            j = (j + 1) & (ncap - 1);
        n[j] = st->targets[i];
    }
    free(st->targets);
    st->targets = n;
    st->cap = ncap;
    return 0;
}

static int64_t store__target_id(struct store_sqlite *st, const char *name, const char *address)
{
    char key[FL_WIRE_MAX_TEXT + FL_WIRE_MAX_NAME + 4];
    snprintf(key, sizeof key, "%s\n%s", name, address);
    if (st->ntargets * 2 >= st->cap && store__target_grow(st) != 0)
        return -1;
    size_t j = store__hash(key) & (st->cap - 1);
    while (st->targets[j].key) {
        if (strcmp(st->targets[j].key, key) == 0)
            return st->targets[j].id;
        j = (j + 1) & (st->cap - 1);
    }
    int64_t id;
    sqlite3_bind_text(st->ins_target, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->ins_target, 2, address, -1, SQLITE_STATIC);
    if (store__step_int(st->ins_target, NULL) < 0)
        return -1;
    sqlite3_bind_text(st->get_target, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->get_target, 2, address, -1, SQLITE_STATIC);
    if (store__step_int(st->get_target, &id) != 1)
        return -1;
    st->targets[j].key = strdup(key);
    if (!st->targets[j].key)
        return id;
    st->targets[j].id = id;
    st->ntargets++;
    return id;
}

static int sqlite_put_results(struct store *base, int64_t agent, uint64_t epoch, fl_result *const *results,
                      size_t n, uint8_t *fresh, size_t *inserted, uint64_t *committed)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    sqlite3_stmt *s = st->ins_result;
    uint8_t detail[1024];
    *inserted = 0;
    for (size_t i = 0; i < n; i++) {
        const fl_result *r = results[i];
        int64_t target = store__target_id(st, r->target, r->address);
        if (target < 0)
            return -1;
        /* The per-probe detail is kept packed, as a Result with only the
         * detail set: compact, and readable by every later version. */
        fl_result only = FAULTLINE__RESULT__INIT;
        only.detail_case = r->detail_case;
        only.icmp = r->icmp; /* the oneof shares storage: copying one copies all */
        size_t dlen = faultline__result__get_packed_size(&only);
        uint8_t *dbuf = dlen <= sizeof detail ? detail : malloc(dlen);
        if (!dbuf)
            return -1;
        faultline__result__pack(&only, dbuf);
        sqlite3_bind_int64(s, 1, agent);
        sqlite3_bind_int64(s, 2, (int64_t)epoch);
        sqlite3_bind_int64(s, 3, (int64_t)r->seq);
        sqlite3_bind_int64(s, 4, r->start_us);
        sqlite3_bind_int(s, 5, r->probe);
        sqlite3_bind_int64(s, 6, target);
        sqlite3_bind_int64(s, 7, r->duration_us);
        sqlite3_bind_int(s, 8, r->status);
        sqlite3_bind_int(s, 9, (int)r->fault_code);
        if (r->message && r->message[0])
            sqlite3_bind_text(s, 10, r->message, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 10);
        if (dlen)
            sqlite3_bind_blob(s, 11, dbuf, (int)dlen, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 11);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (dbuf != detail)
            free(dbuf);
        if (rc != SQLITE_DONE)
            return -1;
        int stored = sqlite3_changes(st->db) > 0;
        *inserted += (size_t)stored;
        if (fresh)
            fresh[i] = (uint8_t)stored;
    }
    return store__advance(st, agent, epoch, results[0]->seq, results[n - 1]->seq, committed);
}

/* A gap row holds only what is missing: the part of FROM..TO at or below
 * the stream's mark was stored (the agent dropped results it had sent but
 * whose Ack it never got), and an agent that reports the same gap grown
 * (its outbox dropped more) extends the row instead of adding one. */
static int sqlite_put_gap(struct store *base, int64_t agent, uint64_t epoch, uint64_t from, uint64_t to,
                  const char *reason, int64_t now_us, uint64_t *committed)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    uint64_t mark;
    if (sqlite_committed(&st->base, agent, epoch, &mark) != 0)
        return -1;
    if (from <= mark)
        from = mark + 1;
    if (from > to) {
        *committed = mark;
        return 0;
    }
    sqlite3_stmt *s = st->ins_gap;
    sqlite3_bind_int64(s, 1, agent);
    sqlite3_bind_int64(s, 2, (int64_t)epoch);
    sqlite3_bind_int64(s, 3, (int64_t)from);
    sqlite3_bind_int64(s, 4, (int64_t)to);
    sqlite3_bind_text(s, 5, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, now_us);
    if (store__step_int(s, NULL) < 0)
        return -1;
    return store__move_mark(st, agent, epoch, mark, from, to, committed);
}

const struct store_ops store_sqlite_ops = {
    .scheme = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .errmsg = sqlite_errmsg,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .agent_id = sqlite_agent_id,
    .agent_seen = sqlite_agent_seen,
    .agent_heartbeat = sqlite_agent_heartbeat,
    .committed = sqlite_committed,
    .put_results = sqlite_put_results,
    .put_gap = sqlite_put_gap,
    .incident_open = sqlite_incident_open,
    .incident_update = sqlite_incident_update,
    .incident_close = sqlite_incident_close,
    .healed_at = sqlite_healed_at,
    .query_incidents = sqlite_query_incidents,
    .query_results = sqlite_query_results,
    .query_agents = sqlite_query_agents,
    .put_refusals = sqlite_put_refusals,
    .query_refusals = sqlite_query_refusals,
    .query_gaps = sqlite_query_gaps,
};
