/* corr_drift: DRIFT, from what works: backends of one HTTP target with
 * different Server headers, hosts of one role with different TCP sysctls. */
#include "correlate_int.h"

#include "faultcode.h"

#include <stdio.h>
#include <string.h>

/* Different Server headers from the addresses behind one HTTP target, in
 * healthy answers: the backends have drifted apart.  Only addresses (each
 * as the agents see it, by majority) count, not agents: a proxy in front
 * of one agent is not drift. */
void corr__server_drift(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
                        size_t max)
{
    (void)now;
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        if (p->probe != FL_PROBE_HTTP || p->failing || !p->server[0])
            continue;
        int first = 1;
        for (size_t k = 0; k < i && first; k++)
            first = !(c->pairs[k]->probe == FL_PROBE_HTTP &&
                      !strcmp(c->pairs[k]->target, p->target) && !c->pairs[k]->failing &&
                      c->pairs[k]->server[0]);
        if (!first)
            continue;
        char servers[CORR_MAX_NAMES][CORR_NAME], where[CORR_MAX_NAMES][CORR_NAME];
        size_t nservers = 0, nwhere = 0;
        for (size_t k = i; k < c->npairs; k++) {
            const struct corr_pair *q = c->pairs[k];
            if (q->probe != FL_PROBE_HTTP || q->failing || !q->server[0] ||
                strcmp(q->target, p->target))
                continue;
            size_t before = nservers;
            corr__add_name(servers, &nservers, q->server);
            if (nservers > before) {
                char w[CORR_NAME];
                snprintf(w, sizeof w, "%.60s at %.60s", q->server, q->address);
                corr__add_name(where, &nwhere, w);
            }
        }
        if (nservers < 2)
            continue;
        struct corr_diagnosis *d = corr__new(out, n, max, CORR_DRIFT, p->written);
        if (!d)
            return;
        d->fault = FL_FAULT_HTTP_DRIFT;
        corr__add_name(d->targets, &d->ntargets, p->target);
        for (size_t k = i; k < c->npairs; k++) {
            const struct corr_pair *q = c->pairs[k];
            if (q->probe == FL_PROBE_HTTP && !strcmp(q->target, p->target) && q->server[0])
                corr__add_name(d->agents, &d->nagents, c->agents[q->agent].name);
        }
        char list[256];
        corr__join(list, sizeof list, where, nwhere, "; ", 0);
        snprintf(d->explanation, sizeof d->explanation,
                 "%.100s answers with %zu different Server headers: %.200s", p->target, nservers,
                 list);
    }
}

static const char *corr__sysctl(const struct corr_agent *ag, const char *name)
{
    for (size_t i = 0; i < ag->nsysctls; i++)
        if (!strcmp(ag->sysctl[i][0], name))
            return ag->sysctl[i][1];
    return NULL;
}

/* A TCP sysctl differing between the live hosts of one role (at least 3
 * reporting): the hosts holding a value other than the most common one
 * have drifted. */
void corr__sysctl_drift(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
                        size_t max)
{
    for (size_t a0 = 0; a0 < c->nagents; a0++) {
        const struct corr_agent *first = &c->agents[a0];
        if (!first->role[0] || !first->nsysctls || corr__silent(c, a0, now))
            continue;
        int seen = 0;
        for (size_t b = 0; b < a0 && !seen; b++)
            seen = !strcmp(c->agents[b].role, first->role) && c->agents[b].nsysctls &&
                   !corr__silent(c, b, now);
        if (seen)
            continue; /* the role is handled from its first live agent */
        for (size_t k = 0; k < first->nsysctls; k++) {
            const char *name = first->sysctl[k][0];
            /* The most common value, among the role's live hosts. */
            const char *common = NULL;
            size_t best = 0, hosts = 0;
            for (size_t a = a0; a < c->nagents; a++) {
                const char *v = corr__sysctl(&c->agents[a], name);
                if (!v || strcmp(c->agents[a].role, first->role) || corr__silent(c, a, now))
                    continue;
                hosts++;
                size_t count = 0;
                for (size_t b = a0; b < c->nagents; b++) {
                    const char *w = corr__sysctl(&c->agents[b], name);
                    count += w && !strcmp(w, v) && !strcmp(c->agents[b].role, first->role) &&
                             !corr__silent(c, b, now);
                }
                if (count > best) {
                    best = count;
                    common = v;
                }
            }
            if (hosts < 3 || best == hosts || !common)
                continue;
            char key[CORR_NAME], dotted[64];
            snprintf(dotted, sizeof dotted, "%s", name);
            for (char *p = dotted; *p; p++)
                if (*p == '/')
                    *p = '.';
            snprintf(key, sizeof key, "%s/%s", first->role, dotted);
            struct corr_diagnosis *d = corr__new(out, n, max, CORR_DRIFT, key);
            if (!d)
                return;
            d->fault = FL_FAULT_HOST_SYSCTL_DRIFT;
            char odd[200] = "";
            for (size_t a = a0; a < c->nagents; a++) {
                const char *v = corr__sysctl(&c->agents[a], name);
                if (!v || strcmp(c->agents[a].role, first->role) || corr__silent(c, a, now) ||
                    !strcmp(v, common))
                    continue;
                corr__add_name(d->agents, &d->nagents, c->agents[a].name);
                size_t len = strlen(odd);
                snprintf(odd + len, sizeof odd - len, "%s%s has %s", len ? ", " : "",
                         c->agents[a].name, v);
            }
            snprintf(d->explanation, sizeof d->explanation,
                     "%s differs within role %s: %s; the %zu others have %s", dotted, first->role,
                     odd, best, common);
        }
    }
}
