/* correlate: from many probe results to a few root causes.
 *
 * Every (agent, target, probe, address) has a health state with
 * hysteresis: it turns failing after `open_after` consecutive failures and
 * healthy again after `close_after` consecutive successes, so one lost
 * probe opens nothing and a flapping target does not open and close at
 * every result.  Window rules catch what fails now and then but never
 * `open_after` times in a row: over the results of the last `window`
 * (at least `window_min_samples` of them, at least two failures), a TCP or
 * HTTP success rate below `min_success`, a share of resets and timeouts
 * above `max_reset_share`, or an ICMP rtt standard deviation (all echoes
 * of the window pooled) above `max_jitter`.  A pair a window rule opened
 * closes once the rule no longer holds and `close_after` results in a row
 * were good.  When a pair recovers from consecutive failures, every check
 * of that agent toward that address starts a new window: an outage that
 * is over (and the connect or two a restart cost the other checks) does
 * not hold them.  correlate_evaluate() explains the failing pairs from the
 * most specific cause outward, each pair explained once, in this order
 * (the rule table in correlate.c; each rule family has its file corr_*.c):
 *   REGION         every agent of region R fails toward most of what lies
 *                  outside R, every other region fails toward R, and the
 *                  rest works: R's uplink (cut, lossy or slow)
 *   AGENT          the agent is silent (no result or heartbeat)
 *   AGENT          the agent fails toward most of its targets while other
 *                  agents reach them
 *   MTU_BLACKHOLE  a path MTU probe names a black hole toward the target
 *   DNS_RESOLVER   one server fails for more than half of the names it is
 *                  asked, from agents in several regions; failures of other
 *                  probes toward its address are explained by it too
 *   DNS_ZONE       names fail through every server asked, widely: their
 *                  zone (the name less its first label)
 *   PATH           agents of region R fail toward targets in region S and
 *                  those of S toward R, while a third region reaches both
 *   HOP            the traceroutes of failing pairs, toward at least two
 *                  hosts, share a router that no working path crosses:
 *                  each failing path gives 1/h of a vote to each of its h
 *                  hops, and the hop with the most votes is blamed
 *   TARGET         agents in several regions fail toward a host: its
 *                  failing services (web:80, http://web/) are one target
 * and, from what works rather than what fails:
 *   DRIFT          the addresses behind one HTTP target answer with
 *                  different Server headers (one backend left on an old
 *                  version), or a TCP sysctl differs between the hosts of
 *                  one role (agent label `role`): "lab/tcp_syn_retries"
 * Pure: no I/O, no clock; the caller feeds results and says what time it is. */
#ifndef FL_CORRELATE_H
#define FL_CORRELATE_H

#include <stddef.h>
#include <stdint.h>

enum corr_verdict {
    CORR_AGENT = 1,
    CORR_MTU_BLACKHOLE,
    CORR_DNS_RESOLVER,
    CORR_DNS_ZONE,
    CORR_PATH,
    CORR_TARGET,
    CORR_REGION,
    CORR_DRIFT,
    CORR_HOP,
};

const char *correlate_verdict_name(enum corr_verdict v);

struct correlate_config {
    int64_t open_after;         /* consecutive failures that make a pair failing (3) */
    int64_t close_after;        /* consecutive successes that make it healthy (2) */
    int64_t silent_after_us;    /* no result or heartbeat for this long: silent (15 s) */
    double agent_share;         /* AGENT: share of its targets failing (0.8) */
    int64_t agent_min_targets;  /* AGENT: with at least this many targets (2) */
    double target_share;        /* TARGET: share of its agents failing (0.5) */
    int64_t target_min_regions; /* TARGET: failing agents in at least this many regions (2) */
    int64_t resolver_min_names; /* DNS_RESOLVER: names failing through one server (2) */
    int64_t confirm_after_us;   /* incidents: a diagnosis held this long opens one (3 s) */
    int64_t lagging_after_us;   /* results arriving this late: the agent's link is in trouble (2 s) */
    int64_t window_us;          /* window rules: over this long (5 min) */
    int64_t window_min_samples; /* window rules: judged from this many results (10) */
    double min_success;         /* TCP, HTTP: success rate below this fails (0.98; 0: off) */
    double max_reset_share;     /* TCP, HTTP: resets and timeouts above this share fail (0.1; 0: off) */
    int64_t max_jitter_us;      /* ICMP: rtt standard deviation above this fails (200 ms; 0: off) */
    int64_t hop_min_hosts;      /* HOP: failing paths toward at least this many hosts (2) */
};

void correlate_config_defaults(struct correlate_config *cfg);

/* One result as the engine needs it. */
struct corr_input {
    const char *agent, *region;  /* region: the agent's label ("" when none) */
    const char *target;          /* as reported: "web.lab.test:80", "web.lab.test/A" */
    const char *target_region;   /* region of the target; NULL: from correlate_host() */
    const char *address;         /* probed address; for DNS the server */
    int probe;                   /* Faultline__ProbeType */
    int ok;
    uint16_t fault;
    int black_hole;              /* mtu result that names a black hole */
    int64_t ts_us;               /* when the probe ran; much older than the agent's last
                                  * sign of life: history, left out of health */
    uint32_t duration_us;        /* how long it ran */
    const char *server;          /* http: the Server header answered (NULL: none) */
    const char *const *sysctl_names;  /* host: the TCP sysctls it read */
    const char *const *sysctl_values;
    size_t nsysctls;
    int64_t received_us;         /* when the collector got it (0: unknown) */
    uint32_t rtt_avg_us, rtt_stddev_us; /* icmp: over the echoes answered */
    const char *const *hops;     /* trace: the addresses that answered, nearest first */
    size_t nhops;
    int reached;                 /* trace: the target itself answered */
};

#define CORR_MAX_NAMES 64
#define CORR_NAME 128

struct corr_diagnosis {
    enum corr_verdict verdict;
    char component[CORR_NAME];     /* agent, target, "r1<->r2", server, zone, hop address */
    uint16_t fault;                /* the most severe fault of the pairs explained */
    size_t nagents, ntargets, npairs;
    char agents[CORR_MAX_NAMES][CORR_NAME];
    char targets[CORR_MAX_NAMES][CORR_NAME];
    char explanation[384];         /* one line for a person */
};

struct correlate;

struct correlate *correlate_new(const struct correlate_config *cfg);
void correlate_free(struct correlate **c);

/* Feed one result, in arrival order. */
void correlate_result(struct correlate *c, const struct corr_input *in);

/* HOST (a name agents probe, e.g. "r1a1.lab.test") lies in REGION and is
 * where AGENT runs (NULL: no agent): results toward it get that target
 * region when the caller gives none, and when the agent itself is blamed,
 * failures toward its host are explained by it too. */
void correlate_host(struct correlate *c, const char *host, const char *region,
                    const char *agent);

/* AGENT has the role ROLE (its `role` label; "" for none): hosts of one
 * role should be configured alike. */
void correlate_role(struct correlate *c, const char *agent, const char *role);

/* An agent is alive (a heartbeat), even when it has nothing to report. */
void correlate_heartbeat(struct correlate *c, const char *agent, const char *region,
                         int64_t now_us);

/* The engine has been listening since SINCE_US (a collector's start): an
 * agent is silent only once it has said nothing for silent_after since
 * then, whatever it said before (agents reconnect to a restarted collector,
 * and what they did while it was away is not silence). */
void correlate_watching_since(struct correlate *c, int64_t since_us);

/* The root causes of everything failing at NOW_US, at most MAX of them,
 * into OUT (caller's array).  Returns the count. */
size_t correlate_evaluate(struct correlate *c, int64_t now_us, struct corr_diagnosis *out,
                          size_t max);

/* Pairs failing now, and how many of them the last evaluation explained. */
size_t correlate_failing(const struct correlate *c);

/* Results the engine has been given, ever. */
uint64_t correlate_results(const struct correlate *c);

#endif
