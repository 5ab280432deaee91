/* corr_agent: rules that blame an agent or a region: REGION (its uplink),
 * AGENT (silent, or failing toward most of what others reach). */
#include "correlate_int.h"

#include "faultcode.h"

#include <stdio.h>
#include <string.h>

/* An agent silent for silent_after (one not already explained by its
 * region): AGENT, with every pair of its own and the failures toward its
 * host. */
void corr__silent_agents(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
                         size_t max)
{
    for (size_t a = 0; a < c->nagents; a++) {
        const struct corr_agent *ag = &c->agents[a];
        int region_blamed = 0;
        for (size_t k = 0; k < *n && !region_blamed; k++)
            region_blamed = out[k].verdict == CORR_REGION && !strcmp(out[k].component, ag->region);
        if (corr__silent(c, a, now) && !region_blamed) {
            struct corr_diagnosis *d = corr__new(out, n, max, CORR_AGENT, ag->name);
            if (!d)
                return;
            corr__add_name(d->agents, &d->nagents, ag->name);
            for (size_t i = 0; i < c->npairs; i++)
                if (c->pairs[i]->agent == a)
                    corr__explain(c, d, c->pairs[i]);
            for (size_t i = 0; i < c->npairs; i++)
                if (c->pairs[i]->failing && !c->pairs[i]->explained &&
                    corr__targets_agent(c, c->pairs[i]->target, ag->name))
                    corr__explain(c, d, c->pairs[i]);
            d->fault = FL_FAULT_AGENT_SILENT;
            snprintf(d->explanation, sizeof d->explanation, "%s has been silent for %lld s",
                     ag->name, (long long)((now - ag->last_seen) / 1000000));
        }
    }
}

/* An agent failing toward most of its targets (agent_share, at least
 * agent_min_targets) while other agents reach at least half of those:
 * AGENT, the trouble is its own. */
void corr__agents(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
                  size_t max)
{
    for (size_t a = 0; a < c->nagents; a++) {
        const struct corr_agent *ag = &c->agents[a];
        if (corr__silent(c, a, now))
            continue;
        /* Its pairs, those failing, and those others reach. */
        size_t targets = 0, failing = 0, reached = 0;
        for (size_t i = 0; i < c->npairs; i++) {
            const struct corr_pair *p = c->pairs[i];
            if (p->agent != a)
                continue;
            targets++;
            if (p->failing && !p->explained) { /* a region's trouble is not the agent's */
                failing++;
                reached += corr__reached_by_other(c, p);
            }
        }
        if (targets < (size_t)c->cfg.agent_min_targets || !failing ||
            (double)failing < c->cfg.agent_share * (double)targets || reached * 2 < failing)
            continue;
        struct corr_diagnosis *d = corr__new(out, n, max, CORR_AGENT, ag->name);
        if (!d)
            return;
        for (size_t i = 0; i < c->npairs; i++)
            if (c->pairs[i]->failing && !c->pairs[i]->explained &&
                (c->pairs[i]->agent == a || corr__targets_agent(c, c->pairs[i]->target, ag->name)))
                corr__explain(c, d, c->pairs[i]);
        snprintf(d->explanation, sizeof d->explanation,
                 "%s fails toward %zu of its %zu targets; other agents reach %zu of those",
                 ag->name, failing, targets, reached);
    }
}

/* Does P cross region R's edge: from an agent of R toward a target
 * elsewhere, or from elsewhere toward a target in R? */
static int corr__crosses(const struct correlate *c, const struct corr_pair *p, const char *r)
{
    int from_r = !strcmp(c->agents[p->agent].region, r), to_r = !strcmp(p->target_region, r);
    return from_r != to_r;
}

/* Does agent A (of region R) fail toward at least half of the hosts it
 * probes outside R?  Counted by host: a slow uplink fails every host's
 * ping but not its TCP checks, and that is still every host. */
static int corr__fails_outward(const struct correlate *c, size_t a, const char *r)
{
    char hosts[CORR_MAX_NAMES][CORR_NAME], failing[CORR_MAX_NAMES][CORR_NAME];
    size_t nhosts = 0, nfailing = 0;
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        if (p->agent != a || !strcmp(p->target_region, r) || p->probe == FL_PROBE_HOST)
            continue; /* a host check looks at the agent's own host */
        /* For DNS the server is what is reached. */
        const char *h = p->probe == FL_PROBE_DNS ? p->address : p->written;
        corr__add_name(hosts, &nhosts, h);
        if (p->failing && !p->explained)
            corr__add_name(failing, &nfailing, h);
    }
    return nhosts && nfailing * 2 >= nhosts;
}

/* Every other (live) region fails toward R, and something outside R
 * works.  Returns how many other regions there are, 0 when it does not
 * hold. */
static size_t corr__others_fail_toward(const struct correlate *c, const char *r, int64_t now)
{
    char others[CORR_MAX_NAMES][CORR_NAME];
    size_t nothers = 0, toward = 0;
    int healthy_outside = 0;
    for (size_t a = 0; a < c->nagents; a++)
        if (c->agents[a].region[0] && strcmp(c->agents[a].region, r) && !corr__silent(c, a, now))
            corr__add_name(others, &nothers, c->agents[a].region);
    for (size_t k = 0; k < nothers; k++) {
        int found = 0;
        for (size_t i = 0; i < c->npairs && !found; i++) {
            const struct corr_pair *p = c->pairs[i];
            found = p->failing && !p->explained && !strcmp(p->target_region, r) &&
                    !strcmp(c->agents[p->agent].region, others[k]);
        }
        toward += (size_t)found;
    }
    for (size_t i = 0; i < c->npairs && !healthy_outside; i++) {
        const struct corr_pair *p = c->pairs[i];
        healthy_outside =
            !p->failing && strcmp(c->agents[p->agent].region, r) && strcmp(p->target_region, r);
    }
    return nothers && toward == nothers && healthy_outside ? nothers : 0;
}

/* Region R cut off (or lossy, or slow) as a whole: every live agent of R
 * fails toward at least half of the hosts it probes outside R (one late
 * itself counts: its reports suffer too), every other region fails toward
 * R, and outside R things work.  One place explains it: R's uplink. */
void corr__regions(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
                   size_t max)
{
    for (size_t a0 = 0; a0 < c->nagents; a0++) {
        const char *r = c->agents[a0].region;
        int first = 1;
        for (size_t b = 0; b < a0 && first; b++)
            first = strcmp(c->agents[b].region, r) != 0;
        if (!r[0] || !first)
            continue;
        size_t live = 0, bad = 0, nsilent = 0, nothers;
        for (size_t a = 0; a < c->nagents; a++) {
            if (strcmp(c->agents[a].region, r))
                continue;
            int late = corr__late(c, a, now);
            live++;
            nsilent += (size_t)late;
            bad += late || corr__fails_outward(c, a, r);
        }
        if (live < 2 || bad < live || !(nothers = corr__others_fail_toward(c, r, now)))
            continue;
        struct corr_diagnosis *d = corr__new(out, n, max, CORR_REGION, r);
        if (!d)
            return;
        for (size_t i = 0; i < c->npairs; i++) {
            struct corr_pair *p = c->pairs[i];
            if (p->failing && !p->explained && corr__crosses(c, p, r))
                corr__explain(c, d, p);
        }
        for (size_t a = 0; a < c->nagents; a++)
            if (!strcmp(c->agents[a].region, r))
                corr__add_name(d->agents, &d->nagents, c->agents[a].name);
        if (!d->fault)
            d->fault = FL_FAULT_AGENT_SILENT;
        snprintf(
            d->explanation, sizeof d->explanation,
            "%s's uplink: its %zu agents fail toward most of what lies outside it (%zu "
            "silent or late) and %zu other region%s fail toward it (%zu pairs); the rest of the "
            "fleet works",
            r, live, nsilent, nothers, nothers > 1 ? "s" : "", d->npairs);
    }
}
