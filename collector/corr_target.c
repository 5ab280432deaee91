/* corr_target: TARGET, a machine, service or URL failing from several
 * regions, blamed as narrowly as what still answers allows. */
#include "correlate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Is TARGET the host of an agent in trouble itself: gone quiet (half the
 * silence limit), reporting late, or failing toward something of its own?
 * Then others failing toward that host are likely its (or its region's)
 * trouble seen from outside: wait for the AGENT or REGION verdict rather
 * than name the host.  A host whose own agent is fine but which nobody
 * reaches is a TARGET. */
static int corr__quiet_agent_host(const struct correlate *c, const char *target, int64_t now)
{
    const struct corr_host *h = corr__host(c, target);
    if (!h || !h->agent[0])
        return 0;
    for (size_t a = 0; a < c->nagents; a++) {
        if (strcmp(c->agents[a].name, h->agent))
            continue;
        if (corr__late(c, a, now))
            return 1;
        for (size_t i = 0; i < c->npairs; i++) {
            const struct corr_pair *p = c->pairs[i];
            if (p->agent == a && p->failing && !p->explained && p->probe != FL_PROBE_HOST)
                return 1;
        }
        return 0;
    }
    return 0;
}

/* Does P contact the machine HOST (corr__identify's name for it)? */
static int corr__on_host(const struct corr_pair *p, const void *host)
{
    return corr__contacts(p) && !strcmp(p->host, host);
}

/* Does every address HOST's pairs probe fail for some agent? */
static int corr__host_down_everywhere(const struct correlate *c, const char *host)
{
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        if (!corr__on_host(p, host))
            continue;
        int failing = 0;
        for (size_t k = 0; k < c->npairs && !failing; k++) {
            const struct corr_pair *q = c->pairs[k];
            failing = q->failing && !q->explained && !strcmp(q->address, p->address) &&
                      corr__on_host(q, host);
        }
        if (!failing)
            return 0;
    }
    return 1;
}

/* What a TARGET diagnosis blames: a machine, one service on it (a port),
 * or one check's target there (a URL). */
struct corr_scope {
    const char *host;
    int port;           /* -1: any */
    const char *target; /* NULL: any */
};

static int corr__in_scope(const struct corr_pair *p, const void *arg)
{
    const struct corr_scope *sc = arg;
    return corr__on_host(p, sc->host) && (sc->port < 0 || p->port == sc->port) &&
           (!sc->target || !strcmp(p->target, sc->target));
}

/* Is P's health news?  Its latest result is no older than two of its own
 * intervals (and a second for the way): an agent that went quiet, or a
 * check that stopped, leaves its pairs as they were. */
static int corr__fresh(const struct correlate *c, const struct corr_pair *p, int64_t now)
{
    int64_t gap = p->gap_us ? p->gap_us : c->cfg.silent_after_us / 2;
    /* Counted from the engine's start, as silence is: what a restarted
     * collector read back is news until the agents had time to say more. */
    int64_t seen = p->last_ts > c->watching_since ? p->last_ts : c->watching_since;
    return now - seen <= 2 * gap + 1000000;
}

/* Does something in SCOPE answer now (a pair of it whose latest result was
 * good, lately, from an agent that reports)?  A pair on its way to failing
 * (a failure or two, not yet open_after) does not. */
static int corr__answers(const struct correlate *c, const struct corr_scope *sc, int64_t now)
{
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        if (!p->failing && p->oks > 0 && corr__in_scope(p, sc) && corr__fresh(c, p, now) &&
            !corr__late(c, p->agent, now))
            return 1;
    }
    return 0;
}

/* The narrowest thing that explains P's failure: the machine when nothing
 * on it answers; else the service at P's port when nothing there answers
 * (web:80 refused for tcp and for http://web/ alike: nginx is down); else
 * P's own target (http://web/ answers 404 or slowly while web:80
 * connects).  A closed port and a 404 on a machine that answers ping are
 * two faults, each with its own code. */
static void corr__scope_of(const struct correlate *c, const struct corr_pair *p, int64_t now,
                           struct corr_scope *sc, char *component, size_t len)
{
    *sc = (struct corr_scope){.host = p->host, .port = -1};
    snprintf(component, len, "%s", p->host);
    if (!corr__answers(c, sc, now))
        return;
    sc->port = p->port;
    if (!corr__answers(c, sc, now)) {
        if (!p->port)
            return;
        /* The service by the least name its checks give the machine (one
         * that is not an address if there is one), so that it does not
         * depend on which of them fails first. */
        const struct corr_pair *best = p;
        for (size_t i = 0; i < c->npairs; i++) {
            const struct corr_pair *q = c->pairs[i];
            if (corr__in_scope(q, sc) && corr__name_before(q->written, q->written_literal,
                                                           best->written, best->written_literal))
                best = q;
        }
        snprintf(component, len, strchr(best->written, ':') ? "[%s]:%d" : "%s:%d", best->written,
                 p->port);
        return;
    }
    sc->target = p->target;
    snprintf(component, len, "%s", p->target);
}

/* One machine, service or target failing from agents in several regions:
 * a TARGET (corr__scope_of says which).  Machines failing at every address
 * go first.  A diagnosis takes along the failures of other names at the
 * addresses it explains (a name with several backends, one of them this
 * machine), at the same port when it blames a service or a target: the
 * same address is the same machine. */
static int corr__cmp_service(const void *a, const void *b)
{
    const struct corr_pair *x = *(struct corr_pair *const *)a, *y = *(struct corr_pair *const *)b;
    int r = x->naddrs - y->naddrs; /* a machine before a name with several backends */
    if (!r)
        r = strcmp(x->host, y->host);
    if (!r)
        r = x->port - y->port;
    if (!r)
        r = strcmp(x->target, y->target);
    return r;
}

void corr__targets(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
                   size_t max)
{
    /* The widest blame first (machines down at every address, machines,
     * services, targets), and in each the pairs of one machine before those
     * of names with several backends, then by name: which result came first,
     * or the order a restarted collector read them back in, never decides
     * what is blamed. */
    struct corr_pair **order = malloc((c->npairs ? c->npairs : 1) * sizeof *order);
    if (!order)
        return;
    memcpy(order, c->pairs, c->npairs * sizeof *order);
    qsort(order, c->npairs, sizeof *order, corr__cmp_service);
    for (int pass = 0; pass < 4; pass++) {
        for (size_t i = 0; i < c->npairs; i++) {
            struct corr_pair *p = order[i];
            if (p->explained || !p->failing || !corr__contacts(p) ||
                corr__quiet_agent_host(c, p->target, now))
                continue;
            struct corr_scope sc;
            char component[CORR_NAME];
            corr__scope_of(c, p, now, &sc, component, sizeof component);
            int level = sc.target ? 3 : sc.port >= 0 ? 2 : 1;
            if (pass == 0 ? level != 1 || !corr__host_down_everywhere(c, sc.host) : level != pass)
                continue;
            struct corr_spread all, bad;
            corr__spread(c, 0, corr__in_scope, &sc, &all);
            corr__spread(c, 1, corr__in_scope, &sc, &bad);
            if (bad.nregions < (size_t)c->cfg.target_min_regions ||
                (double)bad.nagents < c->cfg.target_share * (double)all.nagents)
                continue;
            struct corr_diagnosis *d = corr__new(out, n, max, CORR_TARGET, component);
            if (!d)
                break;
            for (size_t k = 0; k < c->npairs; k++) {
                struct corr_pair *q = order[k];
                if (!q->explained && q->failing && corr__in_scope(q, &sc))
                    corr__explain(c, d, q);
            }
            for (size_t k = 0; k < c->npairs; k++) {
                struct corr_pair *q = order[k];
                if (q->explained || !q->failing || !corr__contacts(q) ||
                    (sc.port >= 0 && q->port != sc.port) || (sc.target && q->probe != p->probe))
                    continue;
                for (size_t m = 0; m < c->npairs; m++)
                    if (c->pairs[m]->explained && corr__in_scope(c->pairs[m], &sc) &&
                        !strcmp(c->pairs[m]->address, q->address)) {
                        corr__explain(c, d, q);
                        break;
                    }
            }
            char list[200];
            corr__join(list, sizeof list, d->targets, d->ntargets, ", ", 0);
            int len =
                snprintf(d->explanation, sizeof d->explanation,
                         "%s fails (%s) from %zu of the %zu agents probing it, in %zu regions",
                         component, list, bad.nagents, all.nagents, bad.nregions);
            if (sc.port >= 0 && len > 0 && (size_t)len < sizeof d->explanation)
                snprintf(d->explanation + len, sizeof d->explanation - (size_t)len,
                         sc.target ? "; %s answers at port %d" : "; %s answers", sc.host, sc.port);
        }
    }
    free(order);
}
