/* corr_dns: DNS_RESOLVER (one server fails for most names) and DNS_ZONE
 * (names fail through every server). */
#include "correlate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int corr__dns_server_is(const struct corr_pair *p, const void *server)
{
    return p->probe == FL_PROBE_DNS && !strcmp(p->address, server);
}

static int corr__dns_name_is(const struct corr_pair *p, const void *name)
{
    return p->probe == FL_PROBE_DNS && !strcmp(p->target, name);
}

/* "web.lab.test/A" -> its zone, "lab.test" (the name itself at the top). */
static void corr__zone_of(const char *target, char *out, size_t len)
{
    size_t n = strcspn(target, "/");
    const char *dot = memchr(target, '.', n);
    if (dot && memchr(dot + 1, '.', n - (size_t)(dot + 1 - target)))
        snprintf(out, len, "%.*s", (int)(n - (size_t)(dot + 1 - target)), dot + 1);
    else
        snprintf(out, len, "%.*s", (int)n, target);
}

/* One server failing for most of the names it is asked, seen widely: the
 * resolver.  Anything else failing toward its address is it too. */
void corr__dns_resolvers(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
                         size_t max)
{
    (void)now;
    for (size_t i = 0; i < c->npairs; i++) {
        struct corr_pair *p = c->pairs[i];
        if (p->explained || !p->failing || p->probe != FL_PROBE_DNS)
            continue;
        char names[CORR_MAX_NAMES][CORR_NAME], asked[CORR_MAX_NAMES][CORR_NAME];
        size_t nnames = 0, nasked = 0;
        for (size_t k = 0; k < c->npairs; k++) {
            const struct corr_pair *q = c->pairs[k];
            if (q->probe != FL_PROBE_DNS || strcmp(q->address, p->address))
                continue;
            corr__add_name(asked, &nasked, q->target);
            if (!q->explained && q->failing)
                corr__add_name(names, &nnames, q->target);
        }
        if (nnames < (size_t)c->cfg.resolver_min_names || nnames * 2 <= nasked ||
            !corr__widespread(c, corr__dns_server_is, p->address))
            continue;
        struct corr_diagnosis *d = corr__new(out, n, max, CORR_DNS_RESOLVER, p->address);
        if (!d)
            return;
        for (size_t k = i; k < c->npairs; k++) {
            struct corr_pair *q = c->pairs[k];
            if (!q->explained && q->failing && !strcmp(q->address, p->address))
                corr__explain(c, d, q);
        }
        snprintf(d->explanation, sizeof d->explanation,
                 "DNS server %s fails for %zu of the %zu names it is asked, from %zu agents",
                 p->address, nnames, nasked, d->nagents);
    }
}

/* Names failing through every server asked, widely: their zone (the name
 * less its first label; "broken.test" for itself), which is what the
 * servers all answer from. */
void corr__dns_zones(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
                     size_t max)
{
    (void)now;
    for (size_t i = 0; i < c->npairs; i++) {
        struct corr_pair *p = c->pairs[i];
        if (p->explained || !p->failing || p->probe != FL_PROBE_DNS ||
            !corr__widespread(c, corr__dns_name_is, p->target))
            continue;
        char zone[CORR_NAME], other[CORR_NAME];
        corr__zone_of(p->target, zone, sizeof zone);
        size_t nnames = 0;
        char names[CORR_MAX_NAMES][CORR_NAME];
        for (size_t k = i; k < c->npairs; k++) {
            const struct corr_pair *q = c->pairs[k];
            if (q->explained || !q->failing || q->probe != FL_PROBE_DNS)
                continue;
            corr__zone_of(q->target, other, sizeof other);
            if (!strcmp(zone, other) && corr__widespread(c, corr__dns_name_is, q->target))
                corr__add_name(names, &nnames, q->target);
        }
        struct corr_diagnosis *d = corr__new(out, n, max, CORR_DNS_ZONE, zone);
        if (!d)
            return;
        for (size_t k = i; k < c->npairs; k++) {
            struct corr_pair *q = c->pairs[k];
            if (q->explained || !q->failing || q->probe != FL_PROBE_DNS)
                continue;
            for (size_t m = 0; m < nnames; m++)
                if (!strcmp(names[m], q->target)) {
                    corr__explain(c, d, q);
                    break;
                }
        }
        char list[200];
        corr__join(list, sizeof list, names, nnames, ", ", '/');
        snprintf(d->explanation, sizeof d->explanation,
                 "zone %.80s: %.180s fail%s through every server asked, from %zu agents; the "
                 "servers answer other names",
                 zone, list, nnames > 1 ? "" : "s", d->nagents);
    }
}
