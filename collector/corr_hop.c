/* corr_hop: HOP, the router the traces of failing pairs share and no
 * working path crosses. */
#include "correlate_int.h"

#include "grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The path P's packets take: the trace toward its address.  An IPv6
 * address goes by the IPv4 trace of the same target (a failing one first,
 * for a name with several hosts): the routers are the same ones, and one
 * family's votes then name one address for each of them. */
static const struct corr_path *corr__path_of(const struct correlate *c, const struct corr_pair *p)
{
    if (!p->address[0])
        return NULL;
    if (strchr(p->address, ':') && p->probe != FL_PROBE_DNS) {
        const struct corr_path *any = NULL;
        for (const struct corr_pair *q = p->sibling; q && q != p; q = q->sibling) {
            const struct corr_path *path;
            if (!q->address[0] || strchr(q->address, ':') ||
                !(path = corr__path_to(c, p->agent, q->address)) || !path->nhops)
                continue;
            if (q->failing)
                return path;
            if (!any)
                any = path;
        }
        if (any)
            return any;
    }
    const struct corr_path *path = corr__path_to(c, p->agent, p->address);
    return path && path->nhops ? path : NULL;
}

static int corr__crosses_hop(const struct corr_path *path, const char *hop)
{
    for (size_t i = 0; path && i < path->nhops; i++)
        if (!strcmp(path->hops[i], hop))
            return 1;
    return 0;
}

struct corr_hop {
    char address[64];
    double votes;
    int healthy, tried;
    size_t depth; /* its largest distance from an agent, in hops */
};

/* Every router the traces cross, and whether a working path crosses it:
 * a trace that reached its target, from an agent with nothing failing at
 * that address.  Returns the count, or SIZE_MAX when out of memory. */
static size_t corr__hop_list(struct correlate *c, struct corr_hop **hops)
{
    size_t nhops = 0, caphops = 0;
    for (size_t i = 0; i < c->npaths; i++)
        c->paths[i]->failing_here = 0;
    for (size_t i = 0; i < c->npairs; i++) {
        struct corr_path *path;
        if (c->pairs[i]->failing &&
            (path = corr__path_to(c, c->pairs[i]->agent, c->pairs[i]->address)))
            path->failing_here = 1;
    }
    for (size_t i = 0; i < c->npaths; i++) {
        const struct corr_path *path = c->paths[i];
        int healthy = path->reached && !path->failing_here;
        for (size_t k = 0; k < path->nhops; k++) {
            size_t h = 0;
            while (h < nhops && strcmp((*hops)[h].address, path->hops[k]))
                h++;
            if (h == nhops) {
                if (FL_GROW(*hops, caphops, nhops, 32))
                    return SIZE_MAX;
                memset(&(*hops)[h], 0, sizeof(*hops)[h]);
                snprintf((*hops)[h].address, sizeof(*hops)[h].address, "%s", path->hops[k]);
                nhops++;
            }
            (*hops)[h].healthy |= healthy;
        }
    }
    return nhops;
}

/* Each failing (unexplained) path gives one vote, shared by its hops; the
 * hop with the most votes that no working path crosses and that was not
 * tried yet, on a tie the one farther along (the last one the failing
 * paths still share).  NULL when there is none. */
static struct corr_hop *corr__hop_most_voted(const struct correlate *c, struct corr_hop *hops,
                                             size_t nhops)
{
    for (size_t h = 0; h < nhops; h++)
        hops[h].votes = 0;
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        const struct corr_path *path;
        if (p->explained || !p->failing || !(path = corr__path_of(c, p)))
            continue;
        for (size_t k = 0; k < path->nhops; k++)
            for (size_t h = 0; h < nhops; h++)
                if (!strcmp(hops[h].address, path->hops[k])) {
                    hops[h].votes += 1.0 / (double)path->nhops;
                    if (k + 1 > hops[h].depth)
                        hops[h].depth = k + 1;
                    break;
                }
    }
    struct corr_hop *best = NULL;
    for (size_t h = 0; h < nhops; h++) {
        struct corr_hop *x = &hops[h];
        if (x->healthy || x->tried || x->votes <= 0)
            continue;
        if (!best || x->votes > best->votes + 1e-9 ||
            (x->votes > best->votes - 1e-9 && x->depth > best->depth))
            best = x;
    }
    return best;
}

/* What lies behind HOP: the addresses failing paths through it lead to,
 * the hosts those are, and the agents that see it. */
struct corr_behind {
    char dests[CORR_MAX_NAMES][CORR_NAME], hosts[CORR_MAX_NAMES][CORR_NAME];
    char seen_from[CORR_MAX_NAMES][CORR_NAME];
    size_t ndests, nhosts, nseen;
    int is_target; /* the hop is itself one of the addresses that fail */
};

static void corr__behind(const struct correlate *c, const char *hop, struct corr_behind *b)
{
    b->ndests = b->nhosts = b->nseen = 0;
    b->is_target = 0;
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        const struct corr_path *path = corr__path_of(c, p);
        if (p->explained || !p->failing || !corr__crosses_hop(path, hop))
            continue;
        corr__add_name(b->dests, &b->ndests, path->address);
        corr__add_name(b->hosts, &b->nhosts, path->host);
        corr__add_name(b->seen_from, &b->nseen, c->agents[p->agent].name);
        b->is_target |= !strcmp(p->address, hop) || !strcmp(path->address, hop);
    }
}

/* Blame HOP for what lies behind it: every failing pair toward those
 * addresses, even one whose own trace stopped short (routers limit the
 * ICMP errors they send) or has not come in yet. */
static void corr__blame_hop(struct correlate *c, struct corr_diagnosis *d, const char *hop,
                            struct corr_behind *b)
{
    for (size_t i = 0; i < c->npairs; i++) {
        struct corr_pair *p = c->pairs[i];
        if (p->explained || !p->failing)
            continue;
        const struct corr_path *path = corr__path_of(c, p);
        int behind = corr__crosses_hop(path, hop);
        for (size_t k = 0; k < b->ndests && !behind; k++)
            behind =
                !strcmp(b->dests[k], p->address) || (path && !strcmp(b->dests[k], path->address));
        if (behind)
            corr__explain(c, d, p);
    }
    char list[200];
    corr__join(list, sizeof list, b->hosts, b->nhosts, ", ", 0);
    snprintf(d->explanation, sizeof d->explanation,
             "router %s: the traces of %zu failing pairs from %zu agents toward %s cross it, "
             "and no working path does",
             hop, d->npairs, d->nagents, list);
}

void corr__hops(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n, size_t max)
{
    (void)now;
    if (!c->npaths)
        return;
    struct corr_hop *hops = NULL;
    size_t nhops = corr__hop_list(c, &hops);
    struct corr_behind *behind = malloc(sizeof *behind);
    struct corr_hop *best;
    /* Failing behind it toward enough hosts (told apart by the address
     * traced: two names of one machine are one host), none of them the hop
     * itself, seen from two agents at least: from one alone, a router on
     * its way out is that agent's (or its region's) trouble until the
     * others say otherwise. */
    while (nhops != SIZE_MAX && behind && (best = corr__hop_most_voted(c, hops, nhops))) {
        best->tried = 1;
        corr__behind(c, best->address, behind);
        if (behind->is_target || behind->ndests < (size_t)c->cfg.hop_min_hosts || behind->nseen < 2)
            continue;
        struct corr_diagnosis *d = corr__new(out, n, max, CORR_HOP, best->address);
        if (!d)
            break;
        corr__blame_hop(c, d, best->address, behind);
    }
    free(behind);
    free(hops);
}
