/* corr_identity: one machine, one name, whatever the checks call it. */
#include "correlate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks name a machine as they were written: "localhost:80" by one agent,
 * "127.0.0.1:80" by another, "http://web/" and "web:80".  The names whose
 * checks reach the same set of addresses are one machine, and it is called
 * by the least of them that is not an address ("localhost" rather than
 * "127.0.0.1"; an address only when no name reaches it).  A name with more
 * addresses than another (several backends) is a machine of its own.  The
 * choice depends only on the names and addresses probed, never on which
 * result came first, so an incident's component does not switch. */

struct corr_name {
    const char *name; /* a pair's written host */
    int literal;      /* the name is an address */
    char addrs[512];  /* its addresses, sorted, joined with ' ' */
    int naddrs;
    char canonical[CORR_NAME];
};

/* The better of two names for one machine: not an address, then the least. */
int corr__name_before(const char *a, int a_literal, const char *b, int b_literal)
{
    return a_literal != b_literal ? a_literal < b_literal : strcmp(a, b) < 0;
}

/* Pairs by the name they were written with, then address. */
static int corr__cmp_name_addr(const void *a, const void *b)
{
    const struct corr_pair *x = *(const struct corr_pair *const *)a,
                           *y = *(const struct corr_pair *const *)b;
    int r = strcmp(x->written, y->written);
    return r ? r : strcmp(x->address, y->address);
}

static int corr__cmp_machine(const void *a, const void *b)
{
    const struct corr_name *x = a, *y = b;
    int r = strcmp(x->addrs, y->addrs);
    if (r)
        return r;
    return corr__name_before(x->name, x->literal, y->name, y->literal)   ? -1
           : corr__name_before(y->name, y->literal, x->name, x->literal) ? 1
                                                                         : 0;
}

static int corr__cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct corr_name *)a)->name, ((const struct corr_name *)b)->name);
}

/* Does P contact a machine at its address?  A DNS pair asks its server
 * about a name, a host check reads the agent's own host. */
int corr__contacts(const struct corr_pair *p)
{
    return p->address[0] && p->probe != FL_PROBE_DNS && p->probe != FL_PROBE_HOST;
}

void corr__identify(struct correlate *c)
{
    const struct corr_pair **na = malloc((c->npairs ? c->npairs : 1) * sizeof *na);
    struct corr_name *names = NULL;
    size_t n = 0, distinct = 0, nn = 0;
    if (!na)
        return; /* each pair keeps the name it was written with */
    for (size_t i = 0; i < c->npairs; i++)
        if (corr__contacts(c->pairs[i]))
            na[n++] = c->pairs[i];
    qsort(na, n, sizeof *na, corr__cmp_name_addr);
    for (size_t i = 0; i < n; i++)
        distinct += !i || strcmp(na[i]->written, na[i - 1]->written);
    names = calloc(distinct ? distinct : 1, sizeof *names);
    if (!names)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (i && !corr__cmp_name_addr(&na[i], &na[i - 1]))
            continue;
        if (!nn || strcmp(names[nn - 1].name, na[i]->written))
            names[nn++] =
                (struct corr_name){.name = na[i]->written, .literal = na[i]->written_literal};
        struct corr_name *x = &names[nn - 1];
        size_t len = strlen(x->addrs);
        snprintf(x->addrs + len, sizeof x->addrs - len, "%s%s", len ? " " : "", na[i]->address);
        x->naddrs++;
    }
    /* By machine, the best name first; then by name, to look them up. */
    qsort(names, nn, sizeof *names, corr__cmp_machine);
    for (size_t i = 0; i < nn; i++)
        snprintf(names[i].canonical, sizeof names[i].canonical, "%s",
                 i && !strcmp(names[i].addrs, names[i - 1].addrs) ? names[i - 1].canonical
                                                                  : names[i].name);
    qsort(names, nn, sizeof *names, corr__cmp_name);
    for (size_t i = 0; i < c->npairs; i++) {
        struct corr_pair *p = c->pairs[i];
        struct corr_name key = {.name = p->written};
        const struct corr_name *x = bsearch(&key, names, nn, sizeof *names, corr__cmp_name);
        snprintf(p->host, sizeof p->host, "%s", x ? x->canonical : p->written);
        p->naddrs = x ? x->naddrs : 0;
    }
out:
    free(names);
    free(na);
}
