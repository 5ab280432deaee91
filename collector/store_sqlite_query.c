/* store_sqlite_query: the SQLite store's incidents and queries.  An
 * incident's names are kept as a JSON array of strings, which json_each
 * reads in the queries. */
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"

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

static int store__exec_incident(struct store_sqlite *st, const char *sql,
                                const struct store_incident *in, int64_t extra)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":verdict"), in->verdict, -1,
                      SQLITE_STATIC);
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

int sqlite_incident_open(struct store *base, const struct store_incident *in, int64_t *id)
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

int sqlite_incident_update(struct store *base, const struct store_incident *in)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    return store__exec_incident(st,
                                "UPDATE incident SET fault_code = :fault, updated_us = :updated,"
                                " agents = :agents, targets = :targets, npairs = :npairs,"
                                " explanation = :explanation WHERE id = :id",
                                in, in->id);
}

int sqlite_incident_close(struct store *base, int64_t id, int64_t end_us)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE incident SET end_us = %lld WHERE id = %lld",
             (long long)end_us, (long long)id);
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int sqlite_healed_at(struct store *base, const struct store_names *agents,
                     const struct store_names *targets, int64_t since_us, int64_t *healed_us)
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

int sqlite_query_incidents(struct store *base, const struct store_incident_filter *f,
                           int (*fn)(void *ctx, const struct store_incident *in), void *ctx)
{
    struct store_sqlite *st = (struct store_sqlite *)base;
    const struct store_cond conds[] = {
        {f->id != 0, "id = :id", ":id", NULL, f->id},
        {f->verdict != NULL, "verdict = :verdict", ":verdict", f->verdict, 0},
        {f->component != NULL, "component = :component", ":component", f->component, 0},
        {f->agent != NULL, "EXISTS (SELECT 1 FROM json_each(incident.agents) WHERE value = :agent)",
         ":agent", f->agent, 0},
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
    sqlite3_stmt *s =
        store__select(st,
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

int sqlite_query_results(struct store *base, const struct store_filter *f,
                         int (*fn)(void *ctx, const struct store_result_row *row), void *ctx)
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

int sqlite_query_agents(struct store *base, int (*fn)(void *ctx, const struct store_agent_row *row),
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

int sqlite_put_refusals(struct store *base, const struct store_refusal_row *rows, size_t n)
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

int sqlite_query_refusals(struct store *base,
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

int sqlite_query_gaps(struct store *base, const char *agent,
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
