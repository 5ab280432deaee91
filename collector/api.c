#include "api.h"
#include "auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "faultcode.h"
#include "query.h"
#include "resultfmt.h"
#include "timeutil.h"

#define API_MAX_LIMIT 10000

struct api {
    struct MHD_Daemon *d;
    struct api_sources src;
};

/* ---- parameters ----------------------------------------------------------------- */

void api_query_init(struct api_query *q, enum api_query_kind kind)
{
    memset(q, 0, sizeof *q);
    q->incidents.limit = 100;
    q->results.limit = 100;
    (void)kind;
}

static int api__error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int api__error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int api__time(const char *key, const char *value, int64_t now_us, int64_t *out, char *err,
                     size_t errlen)
{
    if (value && time_parse_point(value, now_us, out) == 0)
        return 0;
    return api__error(err, errlen, "%s: '%.64s' is not a time (10m, 2026-11-22T10:00:00Z, @1763800000)",
                      key, value ? value : "");
}

static int api__limit(const char *value, int64_t *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long long v = value ? strtoll(value, &end, 10) : -1;
    if (!value || errno || end == value || *end || v < 1 || v > API_MAX_LIMIT)
        return api__error(err, errlen, "limit: '%.64s' is not a count from 1 to %d",
                          value ? value : "", API_MAX_LIMIT);
    *out = v;
    return 0;
}

static int api__text(const char *key, const char *value, const char **out, char *err,
                     size_t errlen)
{
    if (!value || !value[0] || strlen(value) > 255)
        return api__error(err, errlen, "%s: expected 1 to 255 characters", key);
    *out = value;
    return 0;
}

#define API_NOT_MINE 1 /* a parameter the filter has not */

static int api__incident_param(struct api_query *q, const char *key, const char *value, char *err,
                               size_t errlen)
{
    if (!strcmp(key, "verdict")) {
        for (int v = CORR_AGENT; v <= CORR_HOP; v++)
            if (value && !strcmp(value, correlate_verdict_name((enum corr_verdict)v))) {
                q->incidents.verdict = value;
                return 0;
            }
        return api__error(err, errlen, "verdict: '%.64s' is not a verdict (AGENT, TARGET, ...)",
                          value ? value : "");
    }
    if (!strcmp(key, "component"))
        return api__text(key, value, &q->incidents.component, err, errlen);
    if (!strcmp(key, "agent"))
        return api__text(key, value, &q->incidents.agent, err, errlen);
    if (!strcmp(key, "target"))
        return api__text(key, value, &q->incidents.target, err, errlen);
    if (!strcmp(key, "region"))
        return api__text(key, value, &q->incidents.region, err, errlen);
    if (!strcmp(key, "code")) {
        uint16_t code;
        if (!value || fault_parse(value, &code) != 0 || !code)
            return api__error(err, errlen, "code: '%.64s' is not a fault code like 0x3795",
                              value ? value : "");
        q->incidents.fault_code = code;
        return 0;
    }
    if (!strcmp(key, "open")) {
        if (!value || (strcmp(value, "1") && strcmp(value, "true") && strcmp(value, "0") &&
                       strcmp(value, "false")))
            return api__error(err, errlen, "open: '%.64s' is not true or false",
                              value ? value : "");
        q->incidents.open_only = value[0] == '1' || value[0] == 't';
        return 0;
    }
    return API_NOT_MINE;
}

static int api__result_param(struct api_query *q, const char *key, const char *value, char *err,
                             size_t errlen)
{
    if (!strcmp(key, "agent"))
        return api__text(key, value, &q->results.agent, err, errlen);
    if (!strcmp(key, "target"))
        return api__text(key, value, &q->results.target, err, errlen);
    if (!strcmp(key, "probe")) {
        if (!value || !(q->results.probe = resultfmt_probe_parse(value)))
            return api__error(err, errlen, "probe: unknown probe '%.64s'", value ? value : "");
        return 0;
    }
    if (!strcmp(key, "status")) {
        if (value && !strcmp(value, "notok"))
            q->results.status = -1;
        else if (!value || !(q->results.status = resultfmt_status_parse(value)))
            return api__error(err, errlen, "status: '%.64s' is not ok, fail, error or notok",
                              value ? value : "");
        return 0;
    }
    return API_NOT_MINE;
}

int api_query_param(struct api_query *q, enum api_query_kind kind, const char *key,
                    const char *value, int64_t now_us, char *err, size_t errlen)
{
    int incidents = kind == API_QUERY_INCIDENTS, results = kind == API_QUERY_RESULTS;
    static const char *const keys[] = {"since",  "until",  "limit", "verdict", "component",
                                       "agent",  "target", "region", "code",   "open",
                                       "probe",  "status"};
    for (unsigned k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        if (strcmp(key, keys[k]))
            continue;
        if (q->given & (1u << k))
            return api__error(err, errlen, "%s: given twice", key);
        q->given |= 1u << k;
    }
    if (!strcmp(key, "since") || !strcmp(key, "until")) {
        int64_t t;
        if (api__time(key, value, now_us, &t, err, errlen))
            return -1;
        int since = key[0] == 's';
        if (incidents)
            *(since ? &q->incidents.since_us : &q->incidents.until_us) = t;
        else if (results)
            *(since ? &q->results.since_us : &q->results.until_us) = t;
        else
            *(since ? &q->since_us : &q->until_us) = t;
        return 0;
    }
    if (!strcmp(key, "limit") && (incidents || results))
        return api__limit(value, incidents ? &q->incidents.limit : &q->results.limit, err,
                          errlen);
    int rc = incidents ? api__incident_param(q, key, value, err, errlen)
             : results ? api__result_param(q, key, value, err, errlen)
                       : API_NOT_MINE;
    if (rc != API_NOT_MINE)
        return rc;
    return api__error(err, errlen, "unknown parameter '%.64s'", key);
}

/* ---- responses -------------------------------------------------------------------- */

static enum MHD_Result api__send(struct MHD_Connection *conn, unsigned status, const char *type,
                                 char *body)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result api__json(struct MHD_Connection *conn, unsigned status, json_t *o)
{
    char *body = o ? json_dumps(o, FL_JSON_EXACT) : NULL;
    json_decref(o);
    if (!body)
        return api__send(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                         strdup("{\"error\":\"out of memory\"}"));
    return api__send(conn, status, "application/json", body);
}

static enum MHD_Result api__fail(struct MHD_Connection *conn, unsigned status, const char *why)
{
    return api__json(conn, status, json_pack("{s:s}", "error", why));
}

struct api__params {
    struct api_query q;
    enum api_query_kind kind;
    int64_t now_us;
    char err[256];
    int bad;
};

static enum MHD_Result api__param(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    struct api__params *p = cls;
    if (p->bad)
        return MHD_NO;
    if (api_query_param(&p->q, p->kind, key, value, p->now_us, p->err, sizeof p->err) != 0) {
        p->bad = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

static int api__collect(void *ctx, const struct store_incident *in)
{
    json_array_append_new(ctx, query_incident_json(in, time_now_us()));
    return 0;
}

static int api__collect_result(void *ctx, const struct store_result_row *row)
{
    json_array_append_new(ctx, query_result_json(row));
    return 0;
}

static int api__collect_agent(void *ctx, const struct store_agent_row *row)
{
    json_array_append_new(ctx, query_agent_json(row, time_now_us()));
    return 0;
}

static int api__collect_gap(void *ctx, const struct store_gap_row *row)
{
    json_array_append_new(ctx, query_gap_json(row));
    return 0;
}

/* /api/v1/gaps takes one parameter, agent. */
struct api__gap_params {
    const char *agent;
    char err[160];
};

static enum MHD_Result api__gap_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct api__gap_params *p = cls;
    if (strcmp(key, "agent") == 0 && value && *value && !p->agent) {
        p->agent = value;
        return MHD_YES;
    }
    snprintf(p->err, sizeof p->err, "%s: %s", key,
             strcmp(key, "agent") ? "unknown parameter (gaps takes agent)"
                                  : "expected one agent name");
    return MHD_NO;
}

struct api__one {
    int64_t id;
    struct store *st;
    json_t *evidence;
};

static int api__evidence(void *ctx, const struct store_incident *in)
{
    struct api__one *o = ctx;
    o->evidence = query_evidence(o->st, in, time_now_us());
    return 1;
}

/* ---- /metrics ------------------------------------------------------------------------- */

struct api__buf {
    char *s;
    size_t len, cap;
    int oom;
};

static void api__printf(struct api__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void api__printf(struct api__buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = b->oom ? 0 : vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (b->oom || n < 0)
            return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* A label value: \, " and newline escaped. */
static void api__label(struct api__buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            api__printf(b, "\\%c", *v);
        else if (*v == '\n')
            api__printf(b, "\\n");
        else
            api__printf(b, "%c", *v);
    }
}

static void api__family(struct api__buf *b, const char *name, const char *type, const char *help)
{
    api__printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int api__metric_agent(void *ctx, const struct store_agent_row *row)
{
    struct api__buf *b = ctx;
    api__printf(b, "faultline_agent_last_seen_timestamp_seconds{agent=\"");
    api__label(b, row->name);
    api__printf(b, "\"} %.3f\n", (double)row->last_seen_us / 1e6);
    return 0;
}

struct api__open_count {
    char verdict[32][32];
    long count[32];
    size_t n;
};

static int api__count_open(void *ctx, const struct store_incident *in)
{
    struct api__open_count *oc = ctx;
    size_t i = 0;
    while (i < oc->n && strcmp(oc->verdict[i], in->verdict))
        i++;
    if (i == oc->n) {
        if (oc->n == 32)
            return 0;
        snprintf(oc->verdict[oc->n++], sizeof oc->verdict[0], "%s", in->verdict);
    }
    oc->count[i]++;
    return 0;
}

/* The collector's counters: messages, results, alerts, handshakes. */
static void api__metrics_counters(struct api *api, struct api__buf *b)
{
    const struct ingest_counters *ic = api->src.ingest;
    api__family(b, "faultline_messages_received_total", "counter", "Envelopes received from agents.");
    api__printf(b, "faultline_messages_received_total %llu\n", (unsigned long long)ic->messages);
    api__family(b, "faultline_messages_rejected_total", "counter", "Envelopes rejected, by reason.");
    for (int i = 1; i < WIRE_NSTATUS; i++)
        api__printf(b, "faultline_messages_rejected_total{reason=\"%s\"} %llu\n",
                    wire_status_name((enum wire_status)i), (unsigned long long)ic->rejected[i]);
    const struct alert_counters *ac = api->src.alerts;
    const struct {
        const char *name, *help;
        uint64_t value;
    } counters[] = {
        {"faultline_results_stored_total", "Results stored.", ic->results_stored},
        {"faultline_results_duplicate_total", "Results received again and ignored.",
         ic->results_duplicate},
        {"faultline_commit_failures_total", "Store transactions that failed.",
         ic->commit_failures},
        {"faultline_alerts_delivered_total", "Alert events delivered by the sinks.",
         ac->delivered},
        {"faultline_alert_delivery_failures_total",
         "Alert deliveries that failed (and are retried).", ac->failed_attempts},
        {"faultline_alerts_dropped_total", "Alert events given up.", ac->dropped},
        {"faultline_impersonations_total",
         "Messages whose payload named another agent than their key (stored under the key's).",
         ic->impersonations},
        {"faultline_handshakes_accepted_total", "CURVE handshakes the allow-list let in.",
         api->src.auth ? auth_accepted(api->src.auth) : 0},
        {"faultline_handshakes_refused_total", "CURVE handshakes refused (key not listed, bad request).",
         api->src.auth ? auth_refused(api->src.auth) : 0},
        {"faultline_connections_accepted_total", "TCP connections accepted on the agents' port.",
         ic->connections_accepted},
        {"faultline_connections_closed_total", "Connections on the agents' port that ended.",
         ic->connections_closed},
        {"faultline_handshakes_failed_total",
         "ZeroMQ handshakes that failed before authentication (a bad greeting, too slow).",
         ic->handshakes_failed},
        {"faultline_connections_revoked_total",
         "Live connections cut because their key left the allow-list.",
         api->src.auth ? auth_revoked(api->src.auth) : 0},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        api__family(b, counters[i].name, "counter", counters[i].help);
        api__printf(b, "%s %llu\n", counters[i].name, (unsigned long long)counters[i].value);
    }
}

/* What is open and failing now, and when each agent was last heard of. */
static void api__metrics_state(struct api *api, struct api__buf *b)
{
    struct api__open_count oc = {.n = 0};
    struct store_incident_filter f = {.open_only = 1};
    store_query_incidents(api->src.st, &f, api__count_open, &oc);
    api__family(b, "faultline_incidents_open", "gauge", "Incidents open now, by verdict.");
    for (int v = CORR_AGENT; v <= CORR_HOP; v++) {
        const char *name = correlate_verdict_name((enum corr_verdict)v);
        long n = 0;
        for (size_t i = 0; i < oc.n; i++)
            if (!strcmp(oc.verdict[i], name))
                n = oc.count[i];
        api__printf(b, "faultline_incidents_open{verdict=\"%s\"} %ld\n", name, n);
    }
    if (api->src.corr) {
        api__family(b, "faultline_pairs_failing", "gauge",
                    "(agent, target, probe, address) pairs failing now, explained or not.");
        api__printf(b, "faultline_pairs_failing %zu\n", correlate_failing(api->src.corr));
    }
    api__family(b, "faultline_agent_last_seen_timestamp_seconds", "gauge",
                "When each agent was last heard from (unix seconds).");
    store_query_agents(api->src.st, api__metric_agent, b);
}

/* The keys refused lately. */
static void api__metrics_refusals(struct api *api, struct api__buf *b)
{
    if (!api->src.auth)
        return;
    const struct auth_refusal *r;
    size_t n = auth_refusals(api->src.auth, &r);
    api__family(b, "faultline_refused_key_last_seen_timestamp_seconds", "gauge",
                "When a key not in the allow-list last tried to connect (unix seconds), with "
                "the address it came from; the keys refused last, dropped once listed.");
    for (size_t i = 0; i < n; i++) /* Z85 has no '"' or '\\' */
        api__printf(b, "faultline_refused_key_last_seen_timestamp_seconds{key=\"%s\","
                        "address=\"%s\"} %.3f\n",
                    r[i].key, r[i].address, (double)r[i].last_us / 1e6);
    api__family(b, "faultline_refused_key_handshakes_total", "counter",
                "Handshakes refused, per key not in the allow-list.");
    for (size_t i = 0; i < n; i++)
        api__printf(b, "faultline_refused_key_handshakes_total{key=\"%s\"} %llu\n",
                    r[i].key, (unsigned long long)r[i].count);
}

static enum MHD_Result api__metrics(struct api *api, struct MHD_Connection *conn)
{
    struct api__buf b = {0};
    api__metrics_counters(api, &b);
    api__metrics_state(api, &b);
    api__metrics_refusals(api, &b);
    if (b.oom) {
        free(b.s);
        return api__fail(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    return api__send(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                     b.s ? b.s : strdup(""));
}

/* ---- the page -------------------------------------------------------------------------- */

static const char api_page[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>faultline</title>"
    "<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}"
    ".open{color:#b00;font-weight:bold}</style></head><body><h1>faultline</h1>"
    "<h2>Incidents</h2><table id=\"inc\"><tr><th>id</th><th>verdict</th><th>component</th>"
    "<th>fault</th><th>start</th><th>duration</th><th>state</th><th>explanation</th></tr></table>"
    "<h2>Last 24 hours</h2><pre id=\"sum\"></pre><script>"
    "function esc(s){return String(s).replace(/[&<>\"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c]))}"
    "async function load(){const r=await fetch('api/v1/incidents?limit=50');const a=await r.json();"
    "const t=document.getElementById('inc');while(t.rows.length>1)t.deleteRow(1);"
    "for(const i of a){const row=t.insertRow();row.innerHTML=[i.id,i.verdict,i.component,i.fault_code,"
    "i.start,Math.round(i.duration_s)+' s',i.open?'<span class=open>OPEN</span>':'closed',i.explanation]"
    ".map((v,k)=>'<td>'+(k==6?v:esc(v))+'</td>').join('')}"
    "const s=await (await fetch('api/v1/summary?since=24h')).json();"
    "document.getElementById('sum').textContent=JSON.stringify(s.by_verdict,null,1)}"
    "load();setInterval(load,5000)</script></body></html>";

/* ---- dispatch ------------------------------------------------------------------------------ */

typedef enum MHD_Result api_route_fn(struct api *api, struct MHD_Connection *conn,
                                     const char *rest);

static enum MHD_Result api__healthz(struct api *api, struct MHD_Connection *conn, const char *rest)
{
    (void)api;
    (void)rest;
    return api__send(conn, MHD_HTTP_OK, "text/plain", strdup("ok\n"));
}

static enum MHD_Result api__page(struct api *api, struct MHD_Connection *conn, const char *rest)
{
    (void)api;
    (void)rest;
    return api__send(conn, MHD_HTTP_OK, "text/html; charset=utf-8", strdup(api_page));
}

static enum MHD_Result api__metrics_route(struct api *api, struct MHD_Connection *conn,
                                          const char *rest)
{
    (void)rest;
    return api__metrics(api, conn);
}

/* A JSON answer built by a store query: OUT, or the store's error. */
static enum MHD_Result api__answer(struct api *api, struct MHD_Connection *conn, int rc, json_t *out)
{
    if (rc != 0 || !out) {
        json_decref(out);
        return api__fail(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, store_errmsg(api->src.st));
    }
    return api__json(conn, MHD_HTTP_OK, out);
}

static enum MHD_Result api__agents(struct api *api, struct MHD_Connection *conn, const char *rest)
{
    (void)rest;
    json_t *a = json_array();
    return api__answer(api, conn, store_query_agents(api->src.st, api__collect_agent, a), a);
}

static enum MHD_Result api__gaps(struct api *api, struct MHD_Connection *conn, const char *rest)
{
    (void)rest;
    struct api__gap_params gp = {0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, api__gap_param, &gp);
    if (gp.err[0])
        return api__fail(conn, MHD_HTTP_BAD_REQUEST, gp.err);
    json_t *a = json_array();
    return api__answer(api, conn, store_query_gaps(api->src.st, gp.agent, api__collect_gap, a), a);
}

/* /api/v1/incidents/ID: the incident with its evidence. */
static enum MHD_Result api__incident(struct api *api, struct MHD_Connection *conn, const char *rest)
{
    char *end;
    errno = 0;
    long long id = strtoll(rest, &end, 10);
    if (errno || end == rest || *end || id <= 0)
        return api__fail(conn, MHD_HTTP_BAD_REQUEST, "incident id: expected a positive number");
    struct store_incident_filter f = {.id = id};
    json_t *a = json_array();
    if (store_query_incidents(api->src.st, &f, api__collect, a) != 0)
        return api__answer(api, conn, -1, a);
    json_t *one = json_array_size(a) ? json_incref(json_array_get(a, 0)) : NULL;
    json_decref(a);
    if (!one)
        return api__fail(conn, MHD_HTTP_NOT_FOUND, "no such incident");
    struct api__one one_in = {.id = id, .st = api->src.st};
    store_query_incidents(api->src.st, &f, api__evidence, &one_in);
    if (one_in.evidence)
        json_object_set_new(one, "evidence", one_in.evidence);
    return api__json(conn, MHD_HTTP_OK, one);
}

/* The query parameters of KIND into P: 0, or -1 once a 400 is sent (*RC). */
static int api__query(struct MHD_Connection *conn, enum api_query_kind kind, struct api__params *p,
                      enum MHD_Result *rc)
{
    *p = (struct api__params){.now_us = time_now_us(), .kind = kind};
    api_query_init(&p->q, kind);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, api__param, p);
    if (p->bad)
        *rc = api__fail(conn, MHD_HTTP_BAD_REQUEST, p->err);
    return p->bad ? -1 : 0;
}

static enum MHD_Result api__incidents(struct api *api, struct MHD_Connection *conn,
                                      const char *rest)
{
    (void)rest;
    struct api__params p;
    enum MHD_Result rc;
    if (api__query(conn, API_QUERY_INCIDENTS, &p, &rc) != 0)
        return rc;
    json_t *out = json_array();
    return api__answer(api, conn, store_query_incidents(api->src.st, &p.q.incidents, api__collect, out),
                       out);
}

static enum MHD_Result api__results(struct api *api, struct MHD_Connection *conn, const char *rest)
{
    (void)rest;
    struct api__params p;
    enum MHD_Result rc;
    if (api__query(conn, API_QUERY_RESULTS, &p, &rc) != 0)
        return rc;
    json_t *out = json_array();
    return api__answer(api, conn,
                       store_query_results(api->src.st, &p.q.results, api__collect_result, out), out);
}

static enum MHD_Result api__summary(struct api *api, struct MHD_Connection *conn, const char *rest)
{
    (void)rest;
    struct api__params p;
    enum MHD_Result rc;
    if (api__query(conn, API_QUERY_SUMMARY, &p, &rc) != 0)
        return rc;
    json_t *out = query_summary(api->src.st, p.q.since_us, p.q.until_us, p.now_us);
    return api__answer(api, conn, out ? 0 : -1, out);
}

/* Every endpoint: a path, or a path prefix whose rest the handler reads. */
static const struct api_route {
    const char *path;
    int prefix;
    api_route_fn *fn;
} api__routes[] = {
    {"/", 0, api__page},
    {"/healthz", 0, api__healthz},
    {"/metrics", 0, api__metrics_route},
    {"/api/v1/agents", 0, api__agents},
    {"/api/v1/gaps", 0, api__gaps},
    {"/api/v1/incidents", 0, api__incidents},
    {"/api/v1/incidents/", 1, api__incident},
    {"/api/v1/results", 0, api__results},
    {"/api/v1/summary", 0, api__summary},
};

static const struct api_route *api__route(const char *url, const char **rest)
{
    for (size_t i = 0; i < sizeof api__routes / sizeof api__routes[0]; i++) {
        const struct api_route *r = &api__routes[i];
        size_t len = strlen(r->path);
        if (r->prefix ? !strncmp(url, r->path, len) : !strcmp(url, r->path)) {
            *rest = url + len;
            return r;
        }
    }
    return NULL;
}

static enum MHD_Result api__handle(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
    (void)version;
    (void)upload_data;
    struct api *api = cls;
    if (!*con_cls) { /* first call: headers only */
        *con_cls = api;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* nothing here takes a body */
        return MHD_YES;
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return api__fail(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET");
    const char *rest;
    const struct api_route *r = api__route(url, &rest);
    return r ? r->fn(api, conn, rest) : api__fail(conn, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

/* ---- life -------------------------------------------------------------------------------- */

int api_parse_addr(const char *addr, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[128];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return api__error(err, errlen, "'%s': expected HOST:PORT, [V6]:PORT or :PORT", addr);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 1 || port > 65535)
        return api__error(err, errlen, "'%s': bad port", addr);
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    size_t hl = strlen(host);
    if (hl == 0 || !strcmp(host, "*")) {
        in6->sin6_family = AF_INET6; /* both families */
        in6->sin6_addr = in6addr_any;
        in6->sin6_port = htons((uint16_t)port);
    } else if (host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
            return api__error(err, errlen, "'%s': not an IPv6 address", addr);
    } else {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
            return api__error(err, errlen, "'%s': not an IPv4 address", addr);
    }
    return 0;
}

struct api *api_new(const char *addr, const struct api_sources *src, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (api_parse_addr(addr, &ss, err, errlen) != 0)
        return NULL;
    struct api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->src = *src;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6 | MHD_USE_DUAL_STACK;
    api->d = MHD_start_daemon(flags, 0, NULL, NULL, api__handle, api, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_END);
    if (!api->d) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
        free(api);
        return NULL;
    }
    return api;
}

int api_port(const struct api *api)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->d, MHD_DAEMON_INFO_BIND_PORT);
    return info ? (int)info->port : -1;
}

void api_free(struct api **papi)
{
    if (!papi || !*papi)
        return;
    MHD_stop_daemon((*papi)->d);
    free(*papi);
    *papi = NULL;
}

int api_fd(const struct api *api)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(api->d, MHD_DAEMON_INFO_EPOLL_FD);
    return i ? i->epoll_fd : -1;
}

long api_timeout_ms(const struct api *api)
{
    MHD_UNSIGNED_LONG_LONG t;
    if (MHD_get_timeout(api->d, &t) != MHD_YES)
        return -1;
    return t > 3600000 ? 3600000 : (long)t;
}

void api_run(struct api *api)
{
    MHD_run(api->d);
}
