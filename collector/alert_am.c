/* alert_am: the Prometheus Alertmanager sink.  POST /api/v2/alerts, one
 * alert per incident whose labels are its identity; every active alert is
 * re-sent each resend_interval (Alertmanager resolves an alert it has not
 * heard of for its resolve_timeout), resolved ones carry endsAt. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_sink.h"
#include "faultcode.h"
#include "query.h"
#include "resultfmt.h"

/* An alert Alertmanager must keep hearing about. */
struct alert_active {
    int64_t id;
    char *alert; /* one alert object, JSON */
    struct alert_active *next;
};

struct am_state {
    struct alert_active *active;
    int64_t next_resend_us; /* 0: nothing to re-send yet */
};

static struct am_state *am__state(struct alert_sink *s)
{
    if (!s->state)
        s->state = calloc(1, sizeof(struct am_state));
    return s->state;
}

/* One Alertmanager alert.  Its labels are its identity, so they hold only
 * what stays fixed for the incident's life; the rest are annotations. */
static char *am__alert(const struct alerter *a, const struct incident *in, int64_t ends_us)
{
    char id[24], code[8], level[4];
    snprintf(id, sizeof id, "%lld", (long long)in->id);
    snprintf(code, sizeof code, "0x%04x", in->fault);
    int l = fault_level(in->fault);
    snprintf(level, sizeof level, l < 4 ? "L%d" : "info", l);
    json_t *labels =
        json_pack("{ss ss ss ss ss}", "alertname", "FaultlineIncident", "verdict", in->verdict,
                  "component", in->component, "severity", level, "incident", id);
    json_t *ann =
        json_pack("{ss ss so so}", "summary", in->explanation ? in->explanation : "", "fault_code",
                  code, "agents", json_string(in->agents_json ? in->agents_json : "[]"), "targets",
                  json_string(in->targets_json ? in->targets_json : "[]"));
    json_t *o = json_pack("{so so so}", "labels", labels, "annotations", ann, "startsAt",
                          query_time(in->start_us));
    if (o && ends_us)
        json_object_set_new(o, "endsAt", query_time(ends_us));
    if (o && alert_link_base(a))
        json_object_set_new(
            o, "generatorURL",
            json_sprintf("%s/api/v1/incidents/%lld", alert_link_base(a), (long long)in->id));
    char *s = o ? json_dumps(o, FL_JSON_EXACT) : NULL;
    json_decref(o);
    return s;
}

/* Alertmanager wants a JSON array: wrap one alert, or join the active set. */
static char *am__body(const struct am_state *am, const char *one)
{
    size_t len = 3;
    if (one)
        len += strlen(one);
    else
        for (const struct alert_active *x = am->active; x; x = x->next)
            len += strlen(x->alert) + 1;
    char *b = malloc(len);
    if (!b)
        return NULL;
    char *p = b;
    *p++ = '[';
    if (one) {
        p = stpcpy(p, one);
    } else {
        for (const struct alert_active *x = am->active; x; x = x->next) {
            if (x != am->active)
                *p++ = ',';
            p = stpcpy(p, x->alert);
        }
    }
    *p++ = ']';
    *p = '\0';
    return b;
}

static void am__track(struct am_state *am, int64_t id, const char *alert)
{
    struct alert_active **pp = &am->active;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    if (!alert) { /* resolved */
        if (*pp) {
            struct alert_active *x = *pp;
            *pp = x->next;
            free(x->alert);
            free(x);
        }
        return;
    }
    char *copy = strdup(alert);
    if (!copy)
        return;
    if (!*pp) {
        *pp = calloc(1, sizeof **pp);
        if (!*pp) {
            free(copy);
            return;
        }
        (*pp)->id = id;
    }
    free((*pp)->alert);
    (*pp)->alert = copy;
}

static void am__event(struct alerter *a, struct alert_sink *s, enum incident_event ev,
                      const struct incident *in, int64_t now_us)
{
    struct am_state *am = am__state(s);
    char *alert = am ? am__alert(a, in, ev == INCIDENT_RESOLVE ? in->end_us : 0) : NULL;
    if (!alert)
        return;
    am__track(am, in->id, ev == INCIDENT_RESOLVE ? NULL : alert);
    alert_push(a, s, am__body(am, alert), in->id, ev, now_us);
    free(alert);
    if (!am->next_resend_us)
        am->next_resend_us = now_us + s->cfg.resend_us;
}

static void am__adopt(struct alerter *a, struct alert_sink *s, const struct incident *in)
{
    struct am_state *am = am__state(s);
    char *alert = am ? am__alert(a, in, 0) : NULL;
    if (!alert)
        return;
    am__track(am, in->id, alert);
    free(alert);
    am->next_resend_us = 1; /* soon: it may have expired while we were down */
}

static int am__start(struct alerter *a, struct alert_sink *s)
{
    char url[1024];
    size_t len = strlen(s->cfg.url);
    while (len && s->cfg.url[len - 1] == '/')
        len--; /* "http://am:9093/" and "http://am:9093" alike */
    snprintf(url, sizeof url, "%.*s/api/v2/alerts", (int)len, s->cfg.url);
    return alert_start_post(a, s, url);
}

static int64_t am__due(const struct alert_sink *s)
{
    const struct am_state *am = s->state;
    return am && am->active && am->next_resend_us ? am->next_resend_us : -1;
}

/* Re-send every active alert (unless a delivery is waiting: it carries
 * them all). */
static void am__tick(struct alerter *a, struct alert_sink *s, int64_t now_us)
{
    struct am_state *am = s->state;
    if (!s->head)
        alert_push(a, s, am__body(am, NULL), 0, INCIDENT_UPDATE, now_us);
    am->next_resend_us = now_us + s->cfg.resend_us;
}

static void am__free(struct alert_sink *s)
{
    struct am_state *am = s->state;
    while (am && am->active)
        am__track(am, am->active->id, NULL);
    free(am);
    s->state = NULL;
}

const struct alert_sink_ops alert_am_ops = {
    .kind = {.name = "alertmanager", .takes_url = 1},
    .event = am__event,
    .adopt = am__adopt,
    .start = am__start,
    .due_us = am__due,
    .tick = am__tick,
    .free = am__free,
};
