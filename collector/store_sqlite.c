/* store_sqlite: the embedded store.
 *
 * Designed for ingest: integer ids for agents and targets (text appears
 * once, in their own tables), one unique index that makes inserts
 * idempotent, a time index, and a partial index on failures only, which is
 * what the fault history asks for.  WAL with synchronous=FULL by default:
 * a row the collector acknowledged survives power loss. */
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_backend.h"

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

/* target (name, address) -> id, so the hot path does no text lookups. */
struct store_target_slot {
    char *key; /* "name\naddress" */
    int64_t id;
};

struct store_sqlite {
    struct store base; /* first: the handle store.c dispatches on */
    sqlite3 *db;
    int readonly;
    sqlite3_stmt *ins_result, *ins_target, *get_target, *ins_agent, *get_agent, *get_stream,
        *put_stream, *agent_seen, *agent_hb, *ins_gap;
    struct store_target_slot *targets;
    size_t ntargets, cap;
};

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

/* ---- incidents ------------------------------------------------------- */

/* Names are kept as a JSON array of strings (json_each reads them). */
static void store__bind_names(sqlite3_stmt *s, const char *param, const struct store_names *names)
{
    json_t *a = json_array();
    for (size_t i = 0; names && i < names->n; i++)
        json_array_append_new(a, json_string(names->v[i]));
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    int k = sqlite3_bind_parameter_index(s, param);
    sqlite3_bind_text(s, k, text ? text : "[]", -1, SQLITE_TRANSIENT);
    free(text);
}

/* A stored JSON array of names, read: the strings live in the JSON, the
 * pointers to them in V, until store__names_done. */
struct store__names_buf {
    json_t *json;
    const char **v;
};

static struct store_names store__names(const unsigned char *text, struct store__names_buf *b)
{
    b->json = json_loads(text ? (const char *)text : "[]", 0, NULL);
    size_t n = json_is_array(b->json) ? json_array_size(b->json) : 0, k = 0;
    b->v = calloc(n ? n : 1, sizeof *b->v);
    for (size_t i = 0; b->v && i < n; i++) {
        const char *name = json_string_value(json_array_get(b->json, i));
        if (name)
            b->v[k++] = name;
    }
    return (struct store_names){.v = b->v, .n = b->v ? k : 0};
}

static void store__names_done(struct store__names_buf *b)
{
    free(b->v);
    json_decref(b->json);
}

static int store__exec_incident(struct store_sqlite *st, const char *sql, const struct store_incident *in,
                                int64_t extra)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":verdict"), in->verdict, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":component"), in->component, -1,
                      SQLITE_STATIC);
    sqlite3_bind_int(s, sqlite3_bind_parameter_index(s, ":fault"), (int)in->fault_code);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":start"), in->start_us);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":updated"), in->updated_us);
    store__bind_names(s, ":agents", &in->agents);
    store__bind_names(s, ":targets", &in->targets);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":npairs"), in->npairs);
    sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":explanation"), in->explanation, -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":id"), extra);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int sqlite_incident_open(struct store *base, const struct store_incident *in, int64_t *id)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    if (store__exec_incident(st,
                             "INSERT INTO incident(verdict, component, fault_code, start_us,"
                             " updated_us, agents, targets, npairs, explanation) VALUES(:verdict,"
                             " :component, :fault, :start, :updated, :agents, :targets, :npairs,"
                             " :explanation)",
                             in, 0) != 0)
        return -1;
    *id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

static int sqlite_incident_update(struct store *base, const struct store_incident *in)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    return store__exec_incident(st,
                                "UPDATE incident SET fault_code = :fault, updated_us = :updated,"
                                " agents = :agents, targets = :targets, npairs = :npairs,"
                                " explanation = :explanation WHERE id = :id",
                                in, in->id);
}

static int sqlite_incident_close(struct store *base, int64_t id, int64_t end_us)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE incident SET end_us = %lld WHERE id = %lld",
             (long long)end_us, (long long)id);
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int sqlite_healed_at(struct store *base, const struct store_names *agents,
                            const struct store_names *targets, int64_t since_us,
                            int64_t *healed_us)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    static const char sql[] =
        "WITH a AS (SELECT id FROM agent WHERE name IN (SELECT value FROM json_each(?1))),"
        " t AS (SELECT id FROM target WHERE name IN (SELECT value FROM json_each(?2))),"
        " f AS (SELECT agent_id, target_id, max(ts_us) AS last FROM result"
        "       WHERE status <> 1 AND ts_us >= ?3 AND target_id IN t AND agent_id IN a"
        "       GROUP BY agent_id, target_id)"
        " SELECT max((SELECT min(r.ts_us + r.duration_us) FROM result r WHERE r.ts_us > f.last"
        "             AND r.agent_id = f.agent_id AND r.target_id = f.target_id AND r.status = 1))"
        " FROM f";
    sqlite3_stmt *s;
    *healed_us = 0;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    store__bind_names(s, "?1", agents);
    store__bind_names(s, "?2", targets);
    sqlite3_bind_int64(s, 3, since_us);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *healed_us = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* One condition of a query: when ON, SQL joins the WHERE clause and its
 * parameter PARAM (NULL: none) is bound to TEXT, or else to NUM. */
struct store_cond {
    int on;
    const char *sql, *param, *text;
    int64_t num;
};

/* HEAD, the conditions that are on, ORDER and LIMIT (0: none), prepared
 * and bound.  NULL on error (store_errmsg says why). */
static sqlite3_stmt *store__select(struct store_sqlite *st, const char *head,
                                   const struct store_cond *conds, size_t n, const char *order,
                                   int64_t limit)
{
    char sql[2048];
    size_t len = (size_t)snprintf(sql, sizeof sql, "%s WHERE 1", head);
    for (size_t i = 0; i < n && len < sizeof sql; i++)
        if (conds[i].on)
            len += (size_t)snprintf(sql + len, sizeof sql - len, " AND %s", conds[i].sql);
    if (len < sizeof sql)
        len += (size_t)snprintf(sql + len, sizeof sql - len, " ORDER BY %s%s", order,
                                limit > 0 ? " LIMIT :limit" : "");
    sqlite3_stmt *s;
    if (len >= sizeof sql || sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!conds[i].on || !conds[i].param)
            continue;
        int k = sqlite3_bind_parameter_index(s, conds[i].param);
        if (conds[i].text)
            sqlite3_bind_text(s, k, conds[i].text, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(s, k, conds[i].num);
    }
    if (limit > 0)
        sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":limit"), limit);
    return s;
}

static int sqlite_query_incidents(struct store *base, const struct store_incident_filter *f,
                                  int (*fn)(void *ctx, const struct store_incident *in),
                                  void *ctx)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    const struct store_cond conds[] = {
        {f->id != 0, "id = :id", ":id", NULL, f->id},
        {f->verdict != NULL, "verdict = :verdict", ":verdict", f->verdict, 0},
        {f->component != NULL, "component = :component", ":component", f->component, 0},
        {f->agent != NULL,
         "EXISTS (SELECT 1 FROM json_each(incident.agents) WHERE value = :agent)", ":agent",
         f->agent, 0},
        {f->target != NULL,
         "EXISTS (SELECT 1 FROM json_each(incident.targets) WHERE value = :target)", ":target",
         f->target, 0},
        {f->region != NULL,
         "EXISTS (SELECT 1 FROM json_each(incident.agents) j JOIN agent a"
         " ON a.name = j.value WHERE json_extract(a.labels, '$.region') = :region)",
         ":region", f->region, 0},
        {f->fault_code != 0, "fault_code = :fault", ":fault", NULL, f->fault_code},
        {f->open_only, "end_us IS NULL", NULL, NULL, 0},
        {f->since_us != 0, "coalesce(end_us, :since) >= :since", ":since", NULL, f->since_us},
        {f->until_us != 0, "start_us < :until", ":until", NULL, f->until_us},
    };
    sqlite3_stmt *s = store__select(
        st,
        "SELECT id, verdict, component, fault_code, start_us, coalesce(end_us, 0),"
        " updated_us, coalesce(agents, '[]'), coalesce(targets, '[]'), npairs,"
        " coalesce(explanation, '') FROM incident",
        conds, sizeof conds / sizeof conds[0], "start_us DESC, id DESC", f->limit);
    if (!s)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store__names_buf agents = {0}, targets = {0};
        struct store_incident in = {
            .id = sqlite3_column_int64(s, 0),
            .verdict = (const char *)sqlite3_column_text(s, 1),
            .component = (const char *)sqlite3_column_text(s, 2),
            .fault_code = (uint32_t)sqlite3_column_int(s, 3),
            .start_us = sqlite3_column_int64(s, 4),
            .end_us = sqlite3_column_int64(s, 5),
            .updated_us = sqlite3_column_int64(s, 6),
            .agents = store__names(sqlite3_column_text(s, 7), &agents),
            .targets = store__names(sqlite3_column_text(s, 8), &targets),
            .npairs = sqlite3_column_int64(s, 9),
            .explanation = (const char *)sqlite3_column_text(s, 10),
        };
        int stop = fn(ctx, &in);
        store__names_done(&agents);
        store__names_done(&targets);
        if (stop)
            break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* ---- queries ---------------------------------------------------------- */

static int sqlite_query_results(struct store *base, const struct store_filter *f,
                                int (*fn)(void *ctx, const struct store_result_row *row),
                                void *ctx)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    const struct store_cond conds[] = {
        {f->agent != NULL, "a.name = :agent", ":agent", f->agent, 0},
        {f->target != NULL, "t.name = :target", ":target", f->target, 0},
        {f->probe != 0, "r.probe = :probe", ":probe", NULL, f->probe},
        {f->status > 0, "r.status = :status", ":status", NULL, f->status},
        {f->status < 0, "r.status <> 1", NULL, NULL, 0},
        {f->since_us != 0, "r.ts_us >= :since", ":since", NULL, f->since_us},
        {f->until_us != 0, "r.ts_us < :until", ":until", NULL, f->until_us},
    };
    sqlite3_stmt *s = store__select(
        st,
        "SELECT a.name, r.epoch, r.seq, r.ts_us, r.probe, r.status, t.name,"
        " t.address, r.message, r.duration_us, r.fault_code, r.detail"
        " FROM result r JOIN agent a ON a.id = r.agent_id JOIN target t ON t.id = r.target_id",
        conds, sizeof conds / sizeof conds[0],
        f->oldest_first ? "r.ts_us, r.seq" : "r.ts_us DESC, r.seq DESC", f->limit);
    if (!s)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_result_row row = {
            .agent = (const char *)sqlite3_column_text(s, 0),
            .epoch = (uint64_t)sqlite3_column_int64(s, 1),
            .seq = (uint64_t)sqlite3_column_int64(s, 2),
            .ts_us = sqlite3_column_int64(s, 3),
            .probe = sqlite3_column_int(s, 4),
            .status = sqlite3_column_int(s, 5),
            .target = (const char *)sqlite3_column_text(s, 6),
            .address = (const char *)sqlite3_column_text(s, 7),
            .message = (const char *)sqlite3_column_text(s, 8),
            .duration_us = (uint32_t)sqlite3_column_int64(s, 9),
            .fault_code = (uint32_t)sqlite3_column_int(s, 10),
            .detail = sqlite3_column_blob(s, 11),
            .detail_len = (size_t)sqlite3_column_bytes(s, 11),
        };
        if (fn(ctx, &row))
            break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int sqlite_query_agents(struct store *base, int (*fn)(void *ctx, const struct store_agent_row *row),
                       void *ctx)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    static const char sql[] =
        "SELECT name, coalesce(version,''), coalesce(labels,'{}'), coalesce(first_seen_us,0),"
        " coalesce(last_seen_us,0), coalesce(last_heartbeat_us,0), coalesce(clock_offset_us,0),"
        " spool_depth, dropped,"
        " (SELECT count(*) FROM result r WHERE r.agent_id = a.id),"
        " (SELECT coalesce(sum(to_seq - from_seq + 1),0) FROM gap g WHERE g.agent_id = a.id)"
        " FROM agent a ORDER BY name";
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_agent_row row = {
            .name = (const char *)sqlite3_column_text(s, 0),
            .version = (const char *)sqlite3_column_text(s, 1),
            .labels_json = (const char *)sqlite3_column_text(s, 2),
            .first_seen_us = sqlite3_column_int64(s, 3),
            .last_seen_us = sqlite3_column_int64(s, 4),
            .last_heartbeat_us = sqlite3_column_int64(s, 5),
            .clock_offset_us = sqlite3_column_int64(s, 6),
            .spool_depth = (uint64_t)sqlite3_column_int64(s, 7),
            .dropped = (uint64_t)sqlite3_column_int64(s, 8),
            .results = (uint64_t)sqlite3_column_int64(s, 9),
            .gaps_missing = (uint64_t)sqlite3_column_int64(s, 10),
        };
        if (fn(ctx, &row))
            break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int sqlite_put_refusals(struct store *base, const struct store_refusal_row *rows, size_t n)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    sqlite3_stmt *s = NULL;
    if (sqlite3_exec(st->db, "DELETE FROM refused_key", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db,
                           "INSERT OR REPLACE INTO refused_key(key, address, first_seen_us,"
                           " last_seen_us, handshakes) VALUES (?, ?, ?, ?, ?)",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_bind_text(s, 1, rows[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, rows[i].address, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, rows[i].first_us);
        sqlite3_bind_int64(s, 4, rows[i].last_us);
        sqlite3_bind_int64(s, 5, (sqlite3_int64)rows[i].count);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return rc;
}

static int sqlite_query_refusals(struct store *base,
                         int (*fn)(void *ctx, const struct store_refusal_row *row), void *ctx)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT key, address, first_seen_us, last_seen_us, handshakes"
                           " FROM refused_key ORDER BY last_seen_us DESC",
                           -1, &s, NULL) != SQLITE_OK)
        /* A database no collector of this version has opened yet. */
        return strstr(sqlite3_errmsg(st->db), "no such table") ? 0 : -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_refusal_row row = {
            .key = (const char *)sqlite3_column_text(s, 0),
            .address = (const char *)sqlite3_column_text(s, 1),
            .first_us = sqlite3_column_int64(s, 2),
            .last_us = sqlite3_column_int64(s, 3),
            .count = (uint64_t)sqlite3_column_int64(s, 4),
        };
        if (fn(ctx, &row))
            break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int sqlite_query_gaps(struct store *base, const char *agent,
                     int (*fn)(void *ctx, const struct store_gap_row *row), void *ctx)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    static const char sql[] =
        "SELECT a.name, g.epoch, g.from_seq, g.to_seq, coalesce(g.reason,''),"
        " coalesce(g.received_us,0) FROM gap g JOIN agent a ON a.id = g.agent_id"
        " WHERE ?1 IS NULL OR a.name = ?1 ORDER BY a.name, g.epoch, g.from_seq";
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    if (agent)
        sqlite3_bind_text(s, 1, agent, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_gap_row row = {
            .agent = (const char *)sqlite3_column_text(s, 0),
            .epoch = (uint64_t)sqlite3_column_int64(s, 1),
            .from_seq = (uint64_t)sqlite3_column_int64(s, 2),
            .to_seq = (uint64_t)sqlite3_column_int64(s, 3),
            .reason = (const char *)sqlite3_column_text(s, 4),
            .received_us = sqlite3_column_int64(s, 5),
        };
        if (fn(ctx, &row))
            break;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
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
