/* What the correlation tests share: a fleet of six agents in three
 * regions, a fresh engine per test, and rounds of the lab's checks. */
#ifndef FL_TEST_CORRELATE_H
#define FL_TEST_CORRELATE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "correlate.h"
#include "faultcode.h"

#define S 1000000LL
#define ICMP 1
#define TCP 2
#define DNS 4
#define MTU 5

static const char *const agents[6] = {"r1a1", "r1a2", "r2a1", "r2a2", "r3a1", "r3a2"};

static inline const char *region_of(const char *agent)
{
    static char r[3];
    snprintf(r, sizeof r, "%.2s", agent);
    return r;
}

static struct correlate *c;
static struct corr_diagnosis diag[16];
static int64_t now;

static inline int setup(void **state)
{
    c = correlate_new(NULL);
    now = 1000 * S;
    return 0;
}

static inline int teardown(void **state)
{
    correlate_free(&c);
    return 0;
}

static inline void feed(const char *agent, const char *target, const char *target_region,
                 const char *address, int probe, int ok)
{
    struct corr_input in = {.agent = agent, .region = region_of(agent), .target = target,
                            .target_region = target_region, .address = address, .probe = probe,
                            .ok = ok, .fault = ok ? 0 : 0x3791, .ts_us = now};
    correlate_result(c, &in);
}

/* One round of the lab's checks: every agent probes web:80, dns:53 and the
 * first agent of each other region.  FAILS(agent, target) says which fail;
 * the results of the agents SILENT(agent) names (may be NULL) never arrive. */
static inline void round_silent(int (*fails)(const char *agent, const char *target),
                         int (*silent)(const char *agent))
{
    for (int a = 0; a < 6; a++) {
        if (silent && silent(agents[a]))
            continue;
        const char *targets[] = {"web:80", "dns:53"};
        for (int t = 0; t < 2; t++)
            feed(agents[a], targets[t], "", "10.0.0.1", TCP, !fails(agents[a], targets[t]));
        for (int r = 1; r <= 3; r++) {
            char peer[8], reg[3];
            snprintf(peer, sizeof peer, "r%da1", r);
            snprintf(reg, sizeof reg, "r%d", r);
            if (!strcmp(reg, region_of(agents[a])))
                continue;
            feed(agents[a], peer, reg, "10.0.0.2", ICMP, !fails(agents[a], peer));
        }
    }
    now += 5 * S;
}

static inline void round_of(int (*fails)(const char *agent, const char *target))
{
    round_silent(fails, NULL);
}

/* Every agent's host is known by the agent's name, in its region. */
static inline void hosts_are_agents(void)
{
    for (int a = 0; a < 6; a++)
        correlate_host(c, agents[a], region_of(agents[a]), agents[a]);
}

static inline size_t rounds(int n, int (*fails)(const char *, const char *))
{
    for (int i = 0; i < n; i++)
        round_of(fails);
    return correlate_evaluate(c, now, diag, 16);
}

static inline int none(const char *a, const char *t) { return 0; }
static inline int web_down(const char *a, const char *t) { return !strcmp(t, "web:80"); }
static inline int r1a2_isolated(const char *a, const char *t) { return !strcmp(a, "r1a2"); }
static inline int cut_r1_r2(const char *a, const char *t)
{
    return (!strncmp(a, "r1", 2) && !strncmp(t, "r2", 2)) ||
           (!strncmp(a, "r2", 2) && !strncmp(t, "r1", 2));
}


#endif
