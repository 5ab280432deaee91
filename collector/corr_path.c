/* corr_path: PATH, two regions that cannot reach each other while a third
 * reaches both. */
#include "correlate_int.h"

#include <stdio.h>
#include <string.h>

static const char *corr__region(const struct correlate *c, const struct corr_pair *p)
{
    return c->agents[p->agent].region;
}

/* A healthy pair from an agent in a region other than R and S toward a
 * target in region TO. */
static int corr__third_reaches(const struct correlate *c, const char *r, const char *s,
                               const char *to)
{
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        const char *from = corr__region(c, p);
        if (!p->failing && from[0] && strcmp(from, r) && strcmp(from, s) &&
            !strcmp(p->target_region, to))
            return 1;
    }
    return 0;
}

/* Failing (unexplained) pairs from region FROM toward targets in TO. */
static size_t corr__failing_between(const struct correlate *c, const char *from, const char *to)
{
    size_t n = 0;
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        n += !p->explained && p->failing && !strcmp(corr__region(c, p), from) &&
             !strcmp(p->target_region, to);
    }
    return n;
}

void corr__paths(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
                 size_t max)
{
    (void)now;
    for (size_t i = 0; i < c->npairs; i++) {
        struct corr_pair *p = c->pairs[i];
        const char *r = corr__region(c, p), *s = p->target_region;
        if (p->explained || !p->failing || !r[0] || !s[0] || !strcmp(r, s))
            continue;
        char lo[32], hi[32];
        snprintf(lo, sizeof lo, "%s", strcmp(r, s) < 0 ? r : s);
        snprintf(hi, sizeof hi, "%s", strcmp(r, s) < 0 ? s : r);
        /* Both ways, while a third region reaches both sides: the path
         * between them, not one end. */
        if (!corr__failing_between(c, lo, hi) || !corr__failing_between(c, hi, lo) ||
            !corr__third_reaches(c, lo, hi, lo) || !corr__third_reaches(c, lo, hi, hi))
            continue;
        char comp[CORR_NAME];
        snprintf(comp, sizeof comp, "%s<->%s", lo, hi);
        struct corr_diagnosis *d = corr__new(out, n, max, CORR_PATH, comp);
        if (!d)
            return;
        for (size_t k = i; k < c->npairs; k++) {
            struct corr_pair *q = c->pairs[k];
            const char *qr = corr__region(c, q);
            if (!q->explained && q->failing &&
                ((!strcmp(qr, lo) && !strcmp(q->target_region, hi)) ||
                 (!strcmp(qr, hi) && !strcmp(q->target_region, lo))))
                corr__explain(c, d, q);
        }
        snprintf(d->explanation, sizeof d->explanation,
                 "%s cannot reach %s: %zu agents x %zu targets failing both ways; other regions "
                 "reach both",
                 lo, hi, d->nagents, d->ntargets);
    }
}
