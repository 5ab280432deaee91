#include "incident.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "faultcode.h"
#include "grow.h"
#include "log.h"
#include "query.h"

/* A set of names, in the order they were first seen. */
struct name_set {
    char **v;
    size_t n, cap;
};

struct open_incident {
    int64_t id, start_us;
    char verdict[32], component[CORR_NAME];
    struct name_set agents, targets; /* what it blames: they only grow while it is open */
    char explanation[384];
    uint16_t fault;
    int seen;
};

/* What changed, kept until the caller has committed it. */
struct incident_change {
    enum incident_event ev;
    struct incident in; /* its strings point into own[] */
    char *own[5];
};

/* A diagnosis seen, not yet held long enough to open an incident. */
struct pending {
    char verdict[32], component[CORR_NAME];
    int64_t first_us;
    int seen;
};

struct incidents {
    struct store *st;   /* during incidents_apply only; NULL: no store */
    int64_t last_id;    /* the highest id known (numbers incidents without a store) */
    int64_t confirm_us;
    struct pending *pending;
    size_t npending, cappending;
    struct open_incident *open;
    size_t nopen, cap;
    struct incident_change *events;
    size_t nevents, capevents;
};

const char *incident_event_name(enum incident_event e)
{
    switch (e) {
    case INCIDENT_OPEN: return "open";
    case INCIDENT_UPDATE: return "update";
    case INCIDENT_RESOLVE: return "resolve";
    }
    return "?";
}

/* Add NAME unless it is in S already: 1 when added, 0 when it was, -1
 * out of memory. */
static int name_set_add(struct name_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], name))
            return 0;
    char *copy = strdup(name);
    if (!copy || FL_GROW(s->v, s->cap, s->n, 8)) {
        free(copy);
        return -1;
    }
    s->v[s->n++] = copy;
    return 1;
}

static void name_set_free(struct name_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (struct name_set){0};
}

static struct store_names name_set_view(const struct name_set *s)
{
    return (struct store_names){.v = (const char *const *)s->v, .n = s->n};
}

/* S as JSON text (a new string), for the alerts. */
static char *name_set_json(const struct name_set *s)
{
    struct store_names view = name_set_view(s);
    json_t *a = query_names_of(&view);
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

/* O as the alerts see it, ending at END_US (0: open); its strings are
 * copies, kept in OWN[5] (freed by the caller).  0, or -1 out of memory. */
static int incidents__snapshot(const struct open_incident *o, struct incident *out,
                               int64_t end_us, char *own[5])
{
    own[0] = strdup(o->verdict);
    own[1] = strdup(o->component);
    own[2] = strdup(o->explanation);
    own[3] = name_set_json(&o->agents);
    own[4] = name_set_json(&o->targets);
    if (!own[0] || !own[1] || !own[2] || !own[3] || !own[4]) {
        for (int i = 0; i < 5; i++)
            free(own[i]);
        return -1;
    }
    *out = (struct incident){
        .id = o->id, .verdict = own[0], .component = own[1], .explanation = own[2],
        .agents_json = own[3], .targets_json = own[4], .fault = o->fault,
        .start_us = o->start_us, .end_us = end_us,
    };
    return 0;
}

static void incidents__event(struct incidents *inc, enum incident_event ev,
                             const struct open_incident *o, int64_t end_us)
{
    if (FL_GROW(inc->events, inc->capevents, inc->nevents, 16))
        return;
    struct incident_change *e = &inc->events[inc->nevents];
    e->ev = ev;
    if (incidents__snapshot(o, &e->in, end_us, e->own) == 0)
        inc->nevents++;
}

static void incidents__drop_events(struct incidents *inc)
{
    for (size_t i = 0; i < inc->nevents; i++)
        for (int k = 0; k < 5; k++)
            free(inc->events[i].own[k]);
    inc->nevents = 0;
}

void incidents_flush_events(struct incidents *inc, incidents_event_fn fn, void *ctx)
{
    for (size_t i = 0; i < inc->nevents && fn; i++)
        fn(ctx, inc->events[i].ev, &inc->events[i].in);
    incidents__drop_events(inc);
}

void incidents_foreach_open(struct incidents *inc, incidents_event_fn fn, void *ctx)
{
    for (size_t i = 0; i < inc->nopen; i++) {
        struct incident snap;
        char *own[5];
        if (incidents__snapshot(&inc->open[i], &snap, 0, own) != 0)
            continue;
        fn(ctx, INCIDENT_OPEN, &snap);
        for (int k = 0; k < 5; k++)
            free(own[k]);
    }
}

static int incidents__load(void *ctx, const struct store_incident *in)
{
    struct incidents *inc = ctx;
    if (FL_GROW(inc->open, inc->cap, inc->nopen, 16))
        return 1;
    struct open_incident *o = &inc->open[inc->nopen++];
    memset(o, 0, sizeof *o);
    o->id = in->id;
    o->start_us = in->start_us;
    snprintf(o->verdict, sizeof o->verdict, "%s", in->verdict);
    snprintf(o->component, sizeof o->component, "%s", in->component);
    for (size_t i = 0; i < in->agents.n; i++)
        name_set_add(&o->agents, in->agents.v[i]);
    for (size_t i = 0; i < in->targets.n; i++)
        name_set_add(&o->targets, in->targets.v[i]);
    snprintf(o->explanation, sizeof o->explanation, "%s", in->explanation ? in->explanation : "");
    o->fault = (uint16_t)in->fault_code;
    if (in->id > inc->last_id)
        inc->last_id = in->id;
    return 0;
}

struct incidents *incidents_new(int64_t confirm_us)
{
    struct incidents *inc = calloc(1, sizeof *inc);
    if (inc)
        inc->confirm_us = confirm_us;
    return inc;
}

int incidents_load(struct incidents *inc, struct store *st)
{
    struct store_incident_filter f = {.open_only = 1};
    return store_query_incidents(st, &f, incidents__load, inc);
}

static void incidents__drop(struct open_incident *o)
{
    name_set_free(&o->agents);
    name_set_free(&o->targets);
}

void incidents_free(struct incidents **pinc)
{
    if (!pinc || !*pinc)
        return;
    for (size_t i = 0; i < (*pinc)->nopen; i++)
        incidents__drop(&(*pinc)->open[i]);
    incidents__drop_events(*pinc);
    free((*pinc)->events);
    free((*pinc)->pending);
    free((*pinc)->open);
    free(*pinc);
    *pinc = NULL;
}

/* Has the diagnosis (VERDICT, COMPONENT) held for confirm_us?  Tracks it
 * as seen this round either way. */
static int incidents__confirmed(struct incidents *inc, const char *verdict, const char *component,
                                int64_t now_us)
{
    struct pending *p = NULL;
    for (size_t i = 0; i < inc->npending && !p; i++)
        if (!strcmp(inc->pending[i].verdict, verdict) &&
            !strcmp(inc->pending[i].component, component))
            p = &inc->pending[i];
    if (!p) {
        if (FL_GROW(inc->pending, inc->cappending, inc->npending, 16))
            return 1; /* no memory to wait with: open at once */
        p = &inc->pending[inc->npending++];
        snprintf(p->verdict, sizeof p->verdict, "%s", verdict);
        snprintf(p->component, sizeof p->component, "%s", component);
        p->first_us = now_us;
    }
    p->seen = 1;
    return now_us - p->first_us >= inc->confirm_us;
}

static struct open_incident *incidents__find(struct incidents *inc, const char *verdict,
                                             const char *component)
{
    for (size_t i = 0; i < inc->nopen; i++)
        if (!strcmp(inc->open[i].verdict, verdict) && !strcmp(inc->open[i].component, component))
            return &inc->open[i];
    return NULL;
}

/* The names of D (COUNT of them) into S: 1 when S grew, 0 when it had
 * them all, -1 out of memory. */
static int incidents__add_names(struct name_set *s, const char (*names)[CORR_NAME], size_t count)
{
    int grew = 0;
    for (size_t i = 0; i < count; i++) {
        int rc = name_set_add(s, names[i]);
        if (rc < 0)
            return -1;
        grew |= rc;
    }
    return grew;
}

/* O seen again as D: when what it blames grew (an incident's sets only
 * grow while it is open), keep the explanation of the moment it grew; its
 * fault stays the most severe seen while open.  0 or -1. */
static int incidents__refresh(struct incidents *inc, struct open_incident *o,
                              const struct corr_diagnosis *d, int64_t now_us)
{
    o->seen = 1;
    int a = incidents__add_names(&o->agents, d->agents, d->nagents);
    int t = incidents__add_names(&o->targets, d->targets, d->ntargets);
    if (a < 0 || t < 0)
        return -1;
    if (!a && !t)
        return 0;
    if (fault_level(o->fault) > fault_level(d->fault))
        o->fault = d->fault;
    snprintf(o->explanation, sizeof o->explanation, "%s", d->explanation);
    struct store_incident in = {
        .id = o->id, .verdict = o->verdict, .component = o->component,
        .explanation = o->explanation, .agents = name_set_view(&o->agents),
        .targets = name_set_view(&o->targets), .fault_code = o->fault, .start_us = now_us,
        .updated_us = now_us, .npairs = (int64_t)d->npairs,
    };
    int rc = inc->st ? store_incident_update(inc->st, &in) : 0;
    if (rc == 0)
        incidents__event(inc, INCIDENT_UPDATE, o, 0);
    return rc;
}

/* A new incident IN.  0 or -1 (store); *OPENED counts it. */
static int incidents__open(struct incidents *inc, const struct store_incident *in,
                           size_t *opened)
{
    int64_t id = inc->last_id + 1; /* without a store: numbered here */
    if (inc->st && store_incident_open(inc->st, in, &id) != 0)
        return -1;
    struct store_incident row = *in;
    row.id = id;
    if (incidents__load(inc, &row) != 0)
        return 0; /* stored; it is loaded again with the others after a restart */
    inc->open[inc->nopen - 1].seen = 1;
    incidents__event(inc, INCIDENT_OPEN, &inc->open[inc->nopen - 1], 0);
    (*opened)++;
    log_warn("incident %lld opened: %s %s: %s", (long long)id, in->verdict, in->component,
             in->explanation);
    return 0;
}

/* Diagnosis D at NOW_US: refresh the incident it matches, or open one once
 * it has held for confirm_us.  0 or -1. */
static int incidents__diagnosis(struct incidents *inc, const struct corr_diagnosis *d,
                                int64_t now_us, size_t *opened)
{
    const char *verdict = correlate_verdict_name(d->verdict);
    struct open_incident *o = incidents__find(inc, verdict, d->component);
    if (o)
        return incidents__refresh(inc, o, d, now_us);
    if (!incidents__confirmed(inc, verdict, d->component, now_us))
        return 0;
    struct name_set agents = {0}, targets = {0};
    int rc = -1;
    if (incidents__add_names(&agents, d->agents, d->nagents) >= 0 &&
        incidents__add_names(&targets, d->targets, d->ntargets) >= 0) {
        struct store_incident in = {
            .verdict = verdict, .component = d->component, .explanation = d->explanation,
            .agents = name_set_view(&agents), .targets = name_set_view(&targets),
            .fault_code = d->fault, .start_us = now_us, .updated_us = now_us,
            .npairs = (int64_t)d->npairs,
        };
        rc = incidents__open(inc, &in, opened);
    }
    name_set_free(&agents);
    name_set_free(&targets);
    return rc;
}

/* Close O, not seen at NOW_US.  It ended when the failures it explains
 * came good, which may be well before now: the engine's hysteresis, or a
 * collector that was down while it healed and learns of it from the
 * agents' backlogs.  DRIFT is made of good answers that disagree: it ends
 * when seen gone.  0 or -1. */
static int incidents__close(struct incidents *inc, struct open_incident *o, int64_t now_us)
{
    int64_t end_us = now_us, healed_us = 0;
    struct store_names agents = name_set_view(&o->agents), targets = name_set_view(&o->targets);
    if (inc->st && strcmp(o->verdict, correlate_verdict_name(CORR_DRIFT)) &&
        store_healed_at(inc->st, &agents, &targets, o->start_us, &healed_us) != 0)
        return -1;
    if (healed_us > o->start_us && healed_us < now_us)
        end_us = healed_us;
    if (inc->st && store_incident_close(inc->st, o->id, end_us) != 0)
        return -1;
    log_info("incident %lld closed: %s %s after %lld s (healed %.1f s ago)", (long long)o->id,
             o->verdict, o->component, (long long)((end_us - o->start_us) / 1000000),
             (double)(now_us - end_us) / 1e6);
    incidents__event(inc, INCIDENT_RESOLVE, o, end_us);
    return 0;
}

/* Forget the diagnoses waiting that are neither seen now nor opened. */
static void incidents__forget_pending(struct incidents *inc)
{
    for (size_t i = 0; i < inc->npending;) {
        const struct pending *p = &inc->pending[i];
        if (p->seen && !incidents__find(inc, p->verdict, p->component))
            i++;
        else
            inc->pending[i] = inc->pending[--inc->npending];
    }
}

static int incidents__apply(struct incidents *inc, const struct corr_diagnosis *d, size_t n,
                            int64_t now_us, size_t *opened, size_t *closed)
{
    size_t o_count = 0, c_count = 0;
    for (size_t i = 0; i < inc->nopen; i++)
        inc->open[i].seen = 0;
    for (size_t i = 0; i < inc->npending; i++)
        inc->pending[i].seen = 0;
    for (size_t k = 0; k < n; k++)
        if (incidents__diagnosis(inc, &d[k], now_us, &o_count) != 0)
            return -1;
    for (size_t i = 0; i < inc->nopen;) {
        struct open_incident *o = &inc->open[i];
        if (o->seen) {
            i++;
            continue;
        }
        if (incidents__close(inc, o, now_us) != 0)
            return -1;
        c_count++;
        incidents__drop(o);
        inc->open[i] = inc->open[--inc->nopen];
    }
    incidents__forget_pending(inc);
    if (opened)
        *opened = o_count;
    if (closed)
        *closed = c_count;
    return 0;
}

int incidents_apply(struct incidents *inc, struct store *st, const struct corr_diagnosis *d,
                    size_t n, int64_t now_us, size_t *opened, size_t *closed)
{
    inc->st = st; /* borrowed for this evaluation only */
    int rc = incidents__apply(inc, d, n, now_us, opened, closed);
    inc->st = NULL;
    return rc;
}
