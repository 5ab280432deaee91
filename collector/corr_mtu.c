/* corr_mtu: MTU_BLACKHOLE, from what the path MTU probes say. */
#include "correlate_int.h"

#include <stdio.h>
#include <string.h>

void corr__mtu(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n, size_t max)
{
    (void)now;
    for (size_t i = 0; i < c->npairs; i++) {
        struct corr_pair *p = c->pairs[i];
        if (p->explained || !p->failing || p->probe != FL_PROBE_MTU || !p->black_hole)
            continue;
        struct corr_diagnosis *d = corr__new(out, n, max, CORR_MTU_BLACKHOLE, p->target);
        if (!d)
            return;
        for (size_t k = i; k < c->npairs; k++) {
            struct corr_pair *q = c->pairs[k];
            if (!q->explained && q->failing && q->probe == FL_PROBE_MTU && q->black_hole &&
                !strcmp(q->target, p->target))
                corr__explain(c, d, q);
        }
        snprintf(d->explanation, sizeof d->explanation,
                 "path MTU black hole toward %s, seen by %zu agents", p->target, d->nagents);
    }
}
