#include "query.h"

#include <stdint.h>
#include <string.h>

#include "faultcode.h"
#include "resultfmt.h"
#include "timeutil.h"

json_t *query_time(int64_t us)
{
    char buf[40];
    if (!us)
        return json_null();
    time_format_us(us, buf, sizeof buf);
    return json_string(buf);
}

json_t *query_names(const char *text)
{
    json_error_t jerr;
    json_t *a = text ? json_loads(text, 0, &jerr) : NULL;
    if (!json_is_array(a)) {
        json_decref(a);
        a = json_array();
    }
    return a;
}

json_t *query_names_of(const struct store_names *names)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < names->n; i++)
        json_array_append_new(a, json_string(names->v[i]));
    return a;
}

json_t *query_incident_json(const struct store_incident *in, int64_t now_us)
{
    char fault[12];
    snprintf(fault, sizeof fault, "0x%04x", in->fault_code);
    struct fl_fault_info fi;
    fault_decode(in->fault_code, &fi);
    double dur = (double)((in->end_us ? in->end_us : now_us) - in->start_us) / 1e6;
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:f, s:b, s:o, s:o, s:I, s:s, s:I}",
                          "id", (json_int_t)in->id, "verdict", in->verdict, "component",
                          in->component, "fault_code", fault, "level", fi.level, "start",
                          query_time(in->start_us), "duration_s", dur, "open", !in->end_us,
                          "agents", query_names_of(&in->agents), "targets",
                          query_names_of(&in->targets), "pairs", (json_int_t)in->npairs,
                          "explanation", in->explanation ? in->explanation : "", "start_us",
                          (json_int_t)in->start_us);
    if (o && in->end_us) {
        json_object_set_new(o, "end", query_time(in->end_us));
        json_object_set_new(o, "end_us", json_integer(in->end_us));
    }
    return o;
}

json_t *query_agent_json(const struct store_agent_row *row, int64_t now_us)
{
    json_error_t jerr;
    json_t *labels = json_loads(row->labels_json ? row->labels_json : "{}", 0, &jerr);
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:f, s:I, s:I, s:I, s:I, s:f}", "name",
                     row->name, "version", row->version ? row->version : "", "labels",
                     json_is_object(labels) ? labels : json_object(), "first_seen",
                     query_time(row->first_seen_us), "last_seen",
                     query_time(row->last_seen_us), "last_seen_ago_s",
                     (double)(now_us - row->last_seen_us) / 1e6, "outbox_depth",
                     (json_int_t)row->spool_depth, "dropped", (json_int_t)row->dropped,
                     "results", (json_int_t)row->results, "missing",
                     (json_int_t)row->gaps_missing, "clock_offset_ms",
                     (double)row->clock_offset_us / 1000.0);
}

json_t *query_refusal_json(const struct store_refusal_row *row, int64_t now_us)
{
    return json_pack("{s:s, s:s, s:o, s:o, s:f, s:I}", "refused_key", row->key, "address",
                     row->address, "first_seen", query_time(row->first_us), "last_seen",
                     query_time(row->last_us), "last_seen_ago_s",
                     (double)(now_us - row->last_us) / 1e6, "handshakes",
                     (json_int_t)row->count);
}

json_t *query_gap_json(const struct store_gap_row *row)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:o}", "agent", row->agent, "epoch",
                     (json_int_t)row->epoch, "from_seq", (json_int_t)row->from_seq, "to_seq",
                     (json_int_t)row->to_seq, "missing",
                     (json_int_t)(row->to_seq - row->from_seq + 1), "reason", row->reason,
                     "received", query_time(row->received_us));
}

fl_result *query_result(const struct store_result_row *row, fl_result *r)
{
    fl_result *d = row->detail_len
                               ? faultline__result__unpack(NULL, row->detail_len, row->detail)
                               : NULL;
    faultline__result__init(r);
    if (d) {
        r->detail_case = d->detail_case;
        r->icmp = d->icmp; /* shares the oneof's storage */
    }
    r->agent = (char *)(uintptr_t)row->agent;
    r->seq = row->seq;
    r->probe = (Faultline__ProbeType)row->probe;
    r->target = (char *)(uintptr_t)row->target;
    r->address = (char *)(uintptr_t)row->address;
    r->start_us = row->ts_us;
    r->duration_us = row->duration_us;
    r->status = (Faultline__Status)row->status;
    r->fault_code = row->fault_code;
    r->message = (char *)(uintptr_t)(row->message ? row->message : "");
    return d;
}

json_t *query_result_json(const struct store_result_row *row)
{
    fl_result r;
    fl_result *d = query_result(row, &r);
    json_t *o = resultfmt_json(&r);
    if (o)
        json_object_set_new(o, "epoch", json_integer((json_int_t)row->epoch));
    if (d)
        faultline__result__free_unpacked(d, NULL);
    return o;
}

/* ---- evidence ---------------------------------------------------------------- */

static int query__append(void *ctx, const struct store_result_row *row)
{
    json_array_append_new(ctx, query_result_json(row));
    return 0;
}

json_t *query_evidence(struct store *st, const struct store_incident *in, int64_t now_us)
{
    json_t *targets = query_names_of(&in->targets);
    json_t *out = json_pack("{s:[], s:[], s:[]}", "failures", "traces", "captures");
    size_t i;
    json_t *t;
    int rc = 0;
    /* From a little before it opened (the failures that opened it) to its end. */
    int64_t from = in->start_us - 60 * 1000000LL, to = in->end_us ? in->end_us : now_us;
    json_array_foreach(targets, i, t) {
        if (i >= 16 || rc)
            break;
        struct store_filter f = {.target = json_string_value(t), .status = -1,
                                 .since_us = from, .until_us = in->start_us + 1, .limit = 5};
        rc |= store_query_results(st, &f, query__append, json_object_get(out, "failures"));
        f = (struct store_filter){.target = json_string_value(t), .probe = 6, .since_us = from,
                                  .until_us = to, .limit = 5};
        rc |= store_query_results(st, &f, query__append, json_object_get(out, "traces"));
        f.probe = 7;
        rc |= store_query_results(st, &f, query__append, json_object_get(out, "captures"));
    }
    json_decref(targets);
    if (rc) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- summary ----------------------------------------------------------------- */

struct query__sum {
    json_t *by_verdict, *by_component, *by_region, *regions; /* regions: agent -> region */
    json_t *total;
    int64_t now_us;
};

/* Add one incident lasting DUR seconds to the bucket KEY of GROUP. */
static void query__add(json_t *group, const char *key, double dur, int open)
{
    json_t *b = json_object_get(group, key);
    if (!b) {
        b = json_pack("{s:i, s:i, s:f, s:f, s:f, s:i}", "incidents", 0, "open", 0,
                      "total_duration_s", 0.0, "longest_s", 0.0, "closed_duration_s", 0.0,
                      "closed", 0);
        json_object_set_new(group, key, b);
    }
#define QUERY_ADD_INT(name, v)                                                                    \
    json_object_set_new(b, name, json_integer(json_integer_value(json_object_get(b, name)) + (v)))
#define QUERY_ADD_REAL(name, v)                                                                   \
    json_object_set_new(b, name, json_real(json_real_value(json_object_get(b, name)) + (v)))
    QUERY_ADD_INT("incidents", 1);
    QUERY_ADD_INT("open", open);
    QUERY_ADD_REAL("total_duration_s", dur);
    if (!open) {
        QUERY_ADD_INT("closed", 1);
        QUERY_ADD_REAL("closed_duration_s", dur);
    }
    if (dur > json_real_value(json_object_get(b, "longest_s")))
        json_object_set_new(b, "longest_s", json_real(dur));
}

static int query__incident(void *ctx, const struct store_incident *in)
{
    struct query__sum *s = ctx;
    int open = in->end_us == 0;
    double dur = (double)((open ? s->now_us : in->end_us) - in->start_us) / 1e6;
    char comp[300];
    snprintf(comp, sizeof comp, "%s %s", in->verdict, in->component);
    query__add(s->total, "all", dur, open);
    query__add(s->by_verdict, in->verdict, dur, open);
    query__add(s->by_component, comp, dur, open);
    /* Once per region its agents are in. */
    json_t *agents = query_names_of(&in->agents), *seen = json_object();
    size_t i;
    json_t *a;
    json_array_foreach(agents, i, a) {
        const char *r = json_string_value(json_object_get(s->regions, json_string_value(a)));
        if (r && r[0] && !json_object_get(seen, r)) {
            json_object_set_new(seen, r, json_true());
            query__add(s->by_region, r, dur, open);
        }
    }
    json_decref(seen);
    json_decref(agents);
    return 0;
}

static int query__region(void *ctx, const struct store_agent_row *row)
{
    struct query__sum *s = ctx;
    json_error_t jerr;
    json_t *labels = json_loads(row->labels_json ? row->labels_json : "{}", 0, &jerr);
    const char *r = json_string_value(json_object_get(labels, "region"));
    if (r)
        json_object_set_new(s->regions, row->name, json_string(r));
    json_decref(labels);
    return 0;
}

/* Turn the sums of each bucket into mean time to resolve. */
static void query__finish(json_t *group)
{
    const char *k;
    json_t *b;
    json_object_foreach(group, k, b) {
        json_int_t closed = json_integer_value(json_object_get(b, "closed"));
        double sum = json_real_value(json_object_get(b, "closed_duration_s"));
        json_object_set_new(b, "mttr_s", closed ? json_real(sum / (double)closed) : json_null());
        json_object_del(b, "closed_duration_s");
    }
}

json_t *query_summary(struct store *st, int64_t since_us, int64_t until_us, int64_t now_us)
{
    struct query__sum s = {.by_verdict = json_object(), .by_component = json_object(),
                           .by_region = json_object(), .regions = json_object(),
                           .total = json_object(), .now_us = now_us};
    struct store_incident_filter f = {.since_us = since_us, .until_us = until_us};
    json_t *out = NULL;
    if (store_query_agents(st, query__region, &s) == 0 &&
        store_query_incidents(st, &f, query__incident, &s) == 0) {
        query__finish(s.total);
        query__finish(s.by_verdict);
        query__finish(s.by_component);
        query__finish(s.by_region);
        json_t *total = json_object_get(s.total, "all");
        total = total ? json_incref(total) : json_pack("{s:i}", "incidents", 0);
        out = json_pack("{s:o, s:o, s:o, s:O, s:O, s:O}", "since",
                        since_us ? query_time(since_us) : json_null(), "until",
                        query_time(until_us ? until_us : now_us), "total", total, "by_verdict",
                        s.by_verdict, "by_component", s.by_component, "by_region", s.by_region);
    }
    json_decref(s.by_verdict);
    json_decref(s.by_component);
    json_decref(s.by_region);
    json_decref(s.regions);
    json_decref(s.total);
    return out;
}
