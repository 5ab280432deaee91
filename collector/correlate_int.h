/* correlate_int: what the engine (correlate.c, corr_identity.c) and its
 * rules (corr_*.c) share.  Private to the correlation module: nothing
 * outside collector/correlate*.c and corr_*.c includes it.
 *
 * The engine keeps one health state per (agent, target, probe, address),
 * a "pair", plus the agents, the hosts the fleet runs on and the latest
 * traceroute per (agent, address).  A rule reads them at evaluation time
 * and appends diagnoses: it explains a failing pair (corr__explain) at most
 * once, and rules run in the order of corr__rules (correlate.c), the most
 * specific cause first. */
#ifndef FL_CORRELATE_INT_H
#define FL_CORRELATE_INT_H

#include "correlate.h"
#include "probetype.h"

#include <stddef.h>
#include <stdint.h>

#define CORR_BUCKETS 4096
#define CORR_MAX_SYSCTLS 16
#define CORR_WINDOW 64 /* results a window rule looks at, at most */
#define CORR_MAX_HOPS 16

struct corr_agent {
    char name[CORR_NAME / 2], region[32];
    int64_t last_seen;
    int64_t lag_us; /* delivery delay of its latest result */
    char role[32];
    char sysctl[CORR_MAX_SYSCTLS][2][48]; /* name, value: from its latest host result */
    size_t nsysctls;
};

struct corr_sample {
    int64_t ts;
    uint32_t rtt_avg_us, rtt_stddev_us;
    uint8_t ok, reset_or_timeout;
};

struct corr_pair {
    size_t agent; /* index into agents */
    char target[CORR_NAME], target_region[32], address[64];
    int probe;
    int failing, fails, oks, black_hole, explained;
    int hard;     /* failing by consecutive failures */
    int64_t last_ts, gap_us; /* its latest result, and the time since the one before */
    int windowed; /* failing by a window rule */
    uint16_t fault;
    struct corr_sample samples[CORR_WINDOW]; /* a ring, since the last recovery */
    size_t nsamples, next_sample;
    char server[64]; /* http: the Server header of the last answer */
    char written[CORR_NAME]; /* the host part of its target, as the check wrote it */
    int written_literal;     /* ... and that is an address */
    char host[CORR_NAME];    /* the machine it contacts, one name for it (corr__identify) */
    int naddrs;              /* how many addresses the written name reaches */
    int port;                /* the service it contacts there: tcp/http port, 0 for none */
    struct corr_pair *next;    /* hash chain */
    struct corr_pair *sibling;    /* ring of the other addresses of (agent, target, probe) */
    struct corr_pair *next_group; /* chain of group heads */
};

struct corr_host {
    char name[CORR_NAME], region[32], agent[CORR_NAME / 2];
};

/* The latest traceroute of one agent toward one address. */
struct corr_path {
    size_t agent;
    char host[CORR_NAME], address[64];
    int reached;
    int failing_here; /* the agent has a failing pair at the address (evaluation) */
    size_t nhops;
    char hops[CORR_MAX_HOPS][64];
    struct corr_path *next;
};

struct correlate {
    struct correlate_config cfg;
    int64_t watching_since; /* correlate_watching_since() */
    uint64_t results; /* given to correlate_result */
    struct corr_host *hosts;
    size_t nhosts, caphosts;
    struct corr_agent *agents;
    size_t nagents, capagents;
    struct corr_pair **pairs; /* in creation order */
    size_t npairs, cappairs;
    struct corr_pair *buckets[CORR_BUCKETS];
    struct corr_pair *groups[CORR_BUCKETS]; /* by (agent, target, probe) */
    struct corr_path **paths;
    size_t npaths, cappaths;
    struct corr_path *path_buckets[CORR_BUCKETS];
};

/* Agents and regions behind the pairs matching FN(pair, arg), failing
 * (unexplained) ones or all. */
struct corr_spread {
    char agents[CORR_MAX_NAMES][CORR_NAME], regions[CORR_MAX_NAMES][CORR_NAME];
    size_t nagents, nregions;
};

typedef int corr_match_fn(const struct corr_pair *p, const void *arg);

/* ---- lookups (correlate.c) ---- */
const struct corr_host *corr__host(const struct correlate *c, const char *target);
int corr__targets_agent(const struct correlate *c, const char *target, const char *agent);
struct corr_path *corr__path_to(const struct correlate *c, size_t a, const char *address);

/* ---- what the rules build diagnoses with (correlate.c) ---- */
void corr__add_name(char (*list)[CORR_NAME], size_t *n, const char *name);
void corr__explain(struct correlate *c, struct corr_diagnosis *d, struct corr_pair *p);
struct corr_diagnosis *corr__new(struct corr_diagnosis *out, size_t *n, size_t max,
                                 enum corr_verdict v, const char *component);
int corr__reached_by_other(const struct correlate *c, const struct corr_pair *p);
int64_t corr__quiet_for(const struct correlate *c, size_t a, int64_t now);
int corr__silent(const struct correlate *c, size_t a, int64_t now);
int corr__lagging(const struct correlate *c, size_t a);
int corr__late(const struct correlate *c, size_t a, int64_t now);
void corr__spread(const struct correlate *c, int failing, corr_match_fn *fn, const void *arg,
                  struct corr_spread *sp);
int corr__widespread(const struct correlate *c, corr_match_fn *fn, const void *arg);
/* LIST joined with SEP into OUT (cut to LEN), each name cut at its first STOP
 * character when STOP is given ("web.lab.test/A" -> "web.lab.test"). */
void corr__join(char *out, size_t len, char (*list)[CORR_NAME], size_t n, const char *sep,
                char stop);

/* ---- one machine, one name (corr_identity.c) ---- */
int corr__name_before(const char *a, int a_literal, const char *b, int b_literal);
int corr__contacts(const struct corr_pair *p);
void corr__identify(struct correlate *c);

/* ---- the rules, in corr__rules order ---- */
typedef void corr_rule_fn(struct correlate *c, int64_t now, struct corr_diagnosis *out,
                          size_t *n, size_t max);
corr_rule_fn corr__regions;        /* corr_agent.c */
corr_rule_fn corr__silent_agents;  /* corr_agent.c */
corr_rule_fn corr__agents;         /* corr_agent.c */
corr_rule_fn corr__mtu;            /* corr_mtu.c */
corr_rule_fn corr__dns_resolvers;  /* corr_dns.c */
corr_rule_fn corr__dns_zones;      /* corr_dns.c */
corr_rule_fn corr__paths;          /* corr_path.c */
corr_rule_fn corr__hops;           /* corr_hop.c */
corr_rule_fn corr__targets;        /* corr_target.c */
corr_rule_fn corr__server_drift;   /* corr_drift.c */
corr_rule_fn corr__sysctl_drift;   /* corr_drift.c */

#endif
