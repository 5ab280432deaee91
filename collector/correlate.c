#include "correlate.h"

#include "faultcode.h"
#include "grow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORR_BUCKETS 4096
#define CORR_PROBE_HTTP 3
#define CORR_PROBE_DNS 4
#define CORR_PROBE_MTU 5
#define CORR_PROBE_TRACE 6
#define CORR_PROBE_CAPTURE 7
#define CORR_PROBE_HOST 8
#define CORR_MAX_SYSCTLS 16
#define CORR_WINDOW 64 /* results a window rule looks at, at most */
#define CORR_MAX_HOPS 16
#define CORR_PROBE_ICMP 1
#define CORR_PROBE_TCP 2

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

const char *correlate_verdict_name(enum corr_verdict v)
{
    static const char *const names[] = {"?",    "AGENT",  "MTU_BLACKHOLE", "DNS_RESOLVER",
                                        "DNS_ZONE", "PATH", "TARGET", "REGION", "DRIFT", "HOP"};
    return v >= CORR_AGENT && v <= CORR_HOP ? names[v] : "?";
}

void correlate_config_defaults(struct correlate_config *cfg)
{
    cfg->open_after = 3;
    cfg->close_after = 2;
    cfg->silent_after_us = 15 * 1000000LL;
    cfg->agent_share = 0.8;
    cfg->agent_min_targets = 2;
    cfg->target_share = 0.5;
    cfg->target_min_regions = 2;
    cfg->resolver_min_names = 2;
    cfg->confirm_after_us = 3 * 1000000LL;
    cfg->lagging_after_us = 2 * 1000000LL;
    cfg->window_us = 300 * 1000000LL;
    cfg->window_min_samples = 10;
    cfg->min_success = 0.98;
    cfg->max_reset_share = 0.1;
    cfg->max_jitter_us = 200 * 1000LL;
    cfg->hop_min_hosts = 2;
}

struct correlate *correlate_new(const struct correlate_config *cfg)
{
    struct correlate *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (cfg)
        c->cfg = *cfg;
    else
        correlate_config_defaults(&c->cfg);
    return c;
}

void correlate_free(struct correlate **pc)
{
    if (!pc || !*pc)
        return;
    struct correlate *c = *pc;
    for (size_t i = 0; i < c->npairs; i++)
        free(c->pairs[i]);
    free(c->pairs);
    for (size_t i = 0; i < c->npaths; i++)
        free(c->paths[i]);
    free(c->paths);
    free(c->agents);
    free(c->hosts);
    free(c);
    *pc = NULL;
}

static size_t corr__agent(struct correlate *c, const char *name, const char *region)
{
    for (size_t i = 0; i < c->nagents; i++)
        if (strcmp(c->agents[i].name, name) == 0) {
            if (region && region[0])
                snprintf(c->agents[i].region, sizeof c->agents[i].region, "%s", region);
            return i;
        }
    if (FL_GROW(c->agents, c->capagents, c->nagents, 16))
        return SIZE_MAX;
    struct corr_agent *a = &c->agents[c->nagents];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->region, sizeof a->region, "%s", region ? region : "");
    return c->nagents++;
}

static unsigned corr__hash(size_t agent, const char *target, const char *address, int probe)
{
    unsigned h = 2166136261u ^ (unsigned)agent ^ ((unsigned)probe << 24);
    for (const char *s = target; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    for (const char *s = address; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % CORR_BUCKETS;
}

/* The host part of a target as reported, and the port it names: "web:80"
 * and "[::1]:80" name web (or ::1) and 80, "http://web/" web and 80,
 * "https://web:8443/x" 8443, "web/A" and "web" no port (0). */
static int corr__split_target(const char *target, char *host, size_t len)
{
    const char *scheme_end = strstr(target, "://");
    const char *p = scheme_end ? scheme_end + 3 : target;
    size_t n;
    if (*p == '[') {
        p++;
        n = strcspn(p, "]");
    } else {
        n = strcspn(p, ":/");
    }
    snprintf(host, len, "%.*s", (int)(n < len ? n : len - 1), p);
    const char *after = p + n + (p[n] == ']');
    if (*after == ':')
        return atoi(after + 1);
    if (scheme_end)
        return !strncmp(target, "https", 5) ? 443 : 80;
    return 0;
}

static void corr__host_of(const char *target, char *out, size_t len)
{
    corr__split_target(target, out, len);
}

static int corr__is_address(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static struct corr_pair *corr__pair(struct correlate *c, size_t agent, const struct corr_input *in)
{
    unsigned h = corr__hash(agent, in->target, in->address, in->probe);
    for (struct corr_pair *p = c->buckets[h]; p; p = p->next)
        if (p->agent == agent && p->probe == in->probe && !strcmp(p->target, in->target) &&
            !strcmp(p->address, in->address))
            return p;
    if (FL_GROW(c->pairs, c->cappairs, c->npairs, 64))
        return NULL;
    struct corr_pair *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->agent = agent;
    p->probe = in->probe;
    snprintf(p->target, sizeof p->target, "%s", in->target);
    snprintf(p->address, sizeof p->address, "%s", in->address ? in->address : "");
    p->port = corr__split_target(in->target, p->written, sizeof p->written);
    p->written_literal = corr__is_address(p->written);
    snprintf(p->host, sizeof p->host, "%s", p->written);
    p->next = c->buckets[h];
    c->buckets[h] = p;
    c->pairs[c->npairs++] = p;
    /* Join the ring of the same (agent, target, probe) at other addresses;
     * the first such pair heads the group in its own hash table. */
    unsigned g = corr__hash(agent, in->target, "", in->probe);
    struct corr_pair *head = c->groups[g];
    while (head && !(head->agent == agent && head->probe == p->probe &&
                     !strcmp(head->target, p->target)))
        head = head->next_group;
    if (head) {
        p->sibling = head->sibling ? head->sibling : head;
        head->sibling = p;
    } else {
        p->next_group = c->groups[g];
        c->groups[g] = p;
    }
    return p;
}

void correlate_host(struct correlate *c, const char *host, const char *region,
                    const char *agent)
{
    for (size_t i = 0; i < c->nhosts; i++)
        if (!strcmp(c->hosts[i].name, host)) {
            snprintf(c->hosts[i].region, sizeof c->hosts[i].region, "%s", region);
            snprintf(c->hosts[i].agent, sizeof c->hosts[i].agent, "%s", agent ? agent : "");
            return;
        }
    if (FL_GROW(c->hosts, c->caphosts, c->nhosts, 16))
        return;
    snprintf(c->hosts[c->nhosts].name, sizeof c->hosts[0].name, "%s", host);
    snprintf(c->hosts[c->nhosts].region, sizeof c->hosts[0].region, "%s", region);
    snprintf(c->hosts[c->nhosts].agent, sizeof c->hosts[0].agent, "%s", agent ? agent : "");
    c->nhosts++;
}

static const struct corr_host *corr__host(const struct correlate *c, const char *target)
{
    char host[CORR_NAME];
    corr__host_of(target, host, sizeof host);
    for (size_t i = 0; i < c->nhosts; i++)
        if (!strcmp(c->hosts[i].name, host))
            return &c->hosts[i];
    return NULL;
}

static const char *corr__target_region(const struct correlate *c, const char *target)
{
    const struct corr_host *h = corr__host(c, target);
    return h ? h->region : "";
}

/* Is TARGET the host agent A runs on? */
static int corr__targets_agent(const struct correlate *c, const char *target, const char *agent)
{
    const struct corr_host *h = corr__host(c, target);
    return h && !strcmp(h->agent, agent);
}

void correlate_role(struct correlate *c, const char *agent, const char *role)
{
    size_t a = corr__agent(c, agent, NULL);
    if (a != SIZE_MAX)
        snprintf(c->agents[a].role, sizeof c->agents[a].role, "%s", role ? role : "");
}

void correlate_watching_since(struct correlate *c, int64_t since_us)
{
    c->watching_since = since_us;
}

void correlate_heartbeat(struct correlate *c, const char *agent, const char *region,
                         int64_t now_us)
{
    size_t a = corr__agent(c, agent, region);
    if (a != SIZE_MAX && now_us > c->agents[a].last_seen)
        c->agents[a].last_seen = now_us;
}

/* Does a window rule hold over P's results of the last window before NOW?
 * The fault it stands for (its latest failure's, or jitter), 0 when none. */
static uint16_t corr__window_rule(const struct correlate *c, const struct corr_pair *p,
                                  int64_t now)
{
    size_t n = 0, failed = 0, resets = 0, answered = 0;
    double sum = 0, sumsq = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct corr_sample *s = &p->samples[i];
        if (s->ts < now - c->cfg.window_us)
            continue;
        n++;
        failed += !s->ok;
        resets += s->reset_or_timeout;
        if (s->ok && p->probe == CORR_PROBE_ICMP) {
            /* Pooled: each result's echoes have this mean and spread. */
            double avg = s->rtt_avg_us, sd = s->rtt_stddev_us;
            answered++;
            sum += avg;
            sumsq += sd * sd + avg * avg;
        }
    }
    if (n < (size_t)c->cfg.window_min_samples)
        return 0;
    if (p->probe == CORR_PROBE_TCP || p->probe == CORR_PROBE_HTTP) {
        if ((c->cfg.min_success > 0 && failed >= 2 &&
             (double)(n - failed) < c->cfg.min_success * (double)n) ||
            (c->cfg.max_reset_share > 0 && resets >= 2 &&
             (double)resets > c->cfg.max_reset_share * (double)n))
            return p->fault;
    }
    if (p->probe == CORR_PROBE_ICMP && c->cfg.max_jitter_us > 0 &&
        answered >= (size_t)c->cfg.window_min_samples) {
        double mean = sum / (double)answered, var = sumsq / (double)answered - mean * mean;
        if (var > (double)c->cfg.max_jitter_us * (double)c->cfg.max_jitter_us)
            return FL_FAULT_ICMP_JITTER;
    }
    return 0;
}

static void corr__update(const struct correlate *c, struct corr_pair *p,
                         const struct corr_input *in)
{
    if (p->last_ts && in->ts_us > p->last_ts)
        p->gap_us = in->ts_us - p->last_ts;
    if (in->ts_us > p->last_ts)
        p->last_ts = in->ts_us;
    struct corr_sample *s = &p->samples[p->next_sample];
    p->next_sample = (p->next_sample + 1) % CORR_WINDOW;
    if (p->nsamples < CORR_WINDOW)
        p->nsamples++;
    *s = (struct corr_sample){
        .ts = in->ts_us,
        .ok = (uint8_t)(in->ok != 0),
        .reset_or_timeout = !in->ok && (in->fault == FL_FAULT_TCP_RESET ||
                                         in->fault == FL_FAULT_TCP_TIMEOUT ||
                                         in->fault == FL_FAULT_HTTP_TIMEOUT),
        .rtt_avg_us = in->rtt_avg_us,
        .rtt_stddev_us = in->rtt_stddev_us,
    };
    if (in->ok) {
        p->fails = 0;
        p->oks++;
        if (p->hard && p->oks >= c->cfg.close_after) {
            /* Recovered: an outage at this address is over, and what it
             * cost this agent's checks of the address (a service restarted
             * fails a connect or two that never made three in a row) must
             * not hold any of them now. */
            p->hard = 0;
            for (size_t i = 0; i < c->npairs; i++) {
                struct corr_pair *q = c->pairs[i];
                if (q->agent == p->agent && !strcmp(q->address, p->address)) {
                    q->nsamples = q->next_sample = 0;
                    if (q->windowed && !q->hard) {
                        q->windowed = 0;
                        q->failing = 0;
                    }
                }
            }
        }
    } else {
        p->oks = 0;
        p->fault = in->fault;
        p->black_hole = in->black_hole;
        if (++p->fails >= c->cfg.open_after)
            p->hard = 1;
    }
    uint16_t window_fault = corr__window_rule(c, p, in->ts_us);
    if (window_fault) {
        p->windowed = 1;
        if (!p->hard)
            p->fault = window_fault;
    } else if (p->oks >= c->cfg.close_after) {
        p->windowed = 0;
    }
    p->failing = p->hard || p->windowed;
}

static struct corr_path *corr__path_to(const struct correlate *c, size_t a, const char *address)
{
    unsigned h = corr__hash(a, "", address, CORR_PROBE_TRACE);
    for (struct corr_path *path = c->path_buckets[h]; path; path = path->next)
        if (path->agent == a && !strcmp(path->address, address))
            return path;
    return NULL;
}

/* Remember the latest trace of (agent A, address).  One that no hop
 * answered (routers limit the ICMP errors they send) says nothing about
 * the path: the one known stays. */
static void corr__trace(struct correlate *c, size_t a, const struct corr_input *in)
{
    struct corr_path *path = corr__path_to(c, a, in->address);
    size_t answered = 0;
    for (size_t i = 0; i < in->nhops; i++)
        answered += in->hops[i] && in->hops[i][0];
    if (path && path->nhops && !answered && !in->reached)
        return;
    if (!path) {
        unsigned h = corr__hash(a, "", in->address, CORR_PROBE_TRACE);
        if (FL_GROW(c->paths, c->cappaths, c->npaths, 64))
            return;
        path = calloc(1, sizeof *path);
        if (!path)
            return;
        path->agent = a;
        snprintf(path->address, sizeof path->address, "%s", in->address);
        path->next = c->path_buckets[h];
        c->path_buckets[h] = path;
        c->paths[c->npaths++] = path;
    }
    corr__host_of(in->target, path->host, sizeof path->host);
    path->reached = in->reached;
    path->nhops = 0;
    for (size_t i = 0; i < in->nhops && path->nhops < CORR_MAX_HOPS; i++)
        if (in->hops[i] && in->hops[i][0])
            snprintf(path->hops[path->nhops++], sizeof path->hops[0], "%s", in->hops[i]);
}

void correlate_result(struct correlate *c, const struct corr_input *in)
{
    c->results++;
    /* Capture windows are evidence, not health; traces are the paths. */
    if (in->probe == CORR_PROBE_CAPTURE || !in->address)
        return;
    size_t a = corr__agent(c, in->agent, in->region);
    if (a == SIZE_MAX)
        return;
    if (in->probe == CORR_PROBE_TRACE) {
        if (in->address[0])
            corr__trace(c, a, in);
        return;
    }
    /* A backlog delivered late (the agent was cut off) is history, not
     * the health of now: it must not reopen what has healed. */
    if (in->ts_us + c->cfg.silent_after_us < c->agents[a].last_seen)
        return;
    if (in->ts_us > c->agents[a].last_seen)
        c->agents[a].last_seen = in->ts_us;
    if (in->received_us)
        c->agents[a].lag_us = in->received_us - in->ts_us - (int64_t)in->duration_us;
    if (in->probe == CORR_PROBE_HOST && in->nsysctls) {
        struct corr_agent *ag = &c->agents[a];
        ag->nsysctls = 0;
        for (size_t i = 0; i < in->nsysctls && ag->nsysctls < CORR_MAX_SYSCTLS; i++) {
            snprintf(ag->sysctl[ag->nsysctls][0], sizeof ag->sysctl[0][0], "%s", in->sysctl_names[i]);
            snprintf(ag->sysctl[ag->nsysctls][1], sizeof ag->sysctl[0][1], "%s", in->sysctl_values[i]);
            ag->nsysctls++;
        }
    }
    struct corr_pair *p = corr__pair(c, a, in);
    if (!p)
        return;
    snprintf(p->target_region, sizeof p->target_region, "%s",
             in->target_region ? in->target_region : corr__target_region(c, in->target));
    corr__update(c, p, in);
    if (in->probe == CORR_PROBE_HTTP && in->server && in->ok)
        snprintf(p->server, sizeof p->server, "%s", in->server);
    /* A result without an address (the name did not resolve) stands for
     * every address of the target; once an address answers again, the
     * target resolves, and the address-less pair is healthy too. */
    for (struct corr_pair *q = p->sibling; q && q != p; q = q->sibling) {
        if (!in->address[0] && !in->ok)
            corr__update(c, q, in);
        else if (in->address[0] && in->ok && !q->address[0])
            q->failing = q->fails = q->hard = q->windowed = 0;
    }
}

uint64_t correlate_results(const struct correlate *c)
{
    return c->results;
}

size_t correlate_failing(const struct correlate *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->npairs; i++)
        n += c->pairs[i]->failing;
    return n;
}

/* ---- diagnoses ------------------------------------------------------------ */

static void corr__add_name(char (*list)[CORR_NAME], size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], name) == 0)
            return;
    if (*n < CORR_MAX_NAMES)
        snprintf(list[(*n)++], CORR_NAME, "%s", name);
}

static void corr__explain(struct correlate *c, struct corr_diagnosis *d, struct corr_pair *p)
{
    p->explained = 1;
    d->npairs++;
    corr__add_name(d->agents, &d->nagents, c->agents[p->agent].name);
    corr__add_name(d->targets, &d->ntargets, p->target);
    if (((p->fault >> 4) & 0xf) > ((d->fault >> 4) & 0xf) || !d->fault)
        d->fault = p->fault;
}

static struct corr_diagnosis *corr__new(struct corr_diagnosis *out, size_t *n, size_t max,
                                        enum corr_verdict v, const char *component)
{
    if (*n >= max)
        return NULL;
    struct corr_diagnosis *d = &out[(*n)++];
    memset(d, 0, sizeof *d);
    d->verdict = v;
    snprintf(d->component, sizeof d->component, "%s", component);
    return d;
}

/* Does some agent other than P's have a healthy pair toward the same
 * target and address? */
static int corr__reached_by_other(const struct correlate *c, const struct corr_pair *p)
{
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *q = c->pairs[i];
        if (q->agent != p->agent && !q->failing && q->probe == p->probe &&
            !strcmp(q->target, p->target) && !strcmp(q->address, p->address))
            return 1;
    }
    return 0;
}

/* How long agent A has said nothing that this engine could have heard. */
static int64_t corr__quiet_for(const struct correlate *c, size_t a, int64_t now)
{
    int64_t seen = c->agents[a].last_seen;
    return now - (seen > c->watching_since ? seen : c->watching_since);
}

static int corr__silent(const struct correlate *c, size_t a, int64_t now)
{
    return corr__quiet_for(c, a, now) > c->cfg.silent_after_us;
}

/* Its results reach us late: whatever it says now, its own link (or its
 * region's) is in trouble, and what others see of its host is that too. */
static int corr__lagging(const struct correlate *c, size_t a)
{
    return c->agents[a].lag_us > c->cfg.lagging_after_us;
}

/* Silent, or on its way there (nothing for half that long), or lagging:
 * its own link, or its region's, is in trouble. */
static int corr__late(const struct correlate *c, size_t a, int64_t now)
{
    return corr__quiet_for(c, a, now) > c->cfg.silent_after_us / 2 || corr__lagging(c, a);
}

static void corr__silent_agents(struct correlate *c, int64_t now, struct corr_diagnosis *out,
                                size_t *n, size_t max)
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

static void corr__agents(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
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

/* Region R cut off (or lossy, or slow) as a whole: every live agent of R
 * fails toward at least half of the hosts it probes outside R, every other
 * region fails toward R, and outside R things work.  One place explains
 * it: R's uplink. */
static void corr__regions(struct correlate *c, int64_t now, struct corr_diagnosis *out,
                          size_t *n, size_t max)
{
    for (size_t a0 = 0; a0 < c->nagents; a0++) {
        const char *r = c->agents[a0].region;
        int first = 1;
        for (size_t b = 0; b < a0 && first; b++)
            first = strcmp(c->agents[b].region, r) != 0;
        if (!r[0] || !first)
            continue;
        size_t live = 0, bad = 0;
        for (size_t a = 0; a < c->nagents; a++) {
            if (strcmp(c->agents[a].region, r))
                continue;
            if (corr__late(c, a, now)) { /* its reports suffer too */
                live++;
                bad++;
                continue;
            }
            /* Counted by host: a slow uplink fails every host's ping but
             * not its TCP checks, and that is still every host. */
            char hosts[CORR_MAX_NAMES][CORR_NAME], failing[CORR_MAX_NAMES][CORR_NAME];
            size_t nhosts = 0, nfailing = 0;
            for (size_t i = 0; i < c->npairs; i++) {
                const struct corr_pair *p = c->pairs[i];
                if (p->agent != a || !strcmp(p->target_region, r) || p->probe == CORR_PROBE_HOST)
                    continue; /* a host check looks at the agent's own host */
                /* For DNS the server is what is reached. */
                const char *h = p->probe == CORR_PROBE_DNS ? p->address : p->written;
                corr__add_name(hosts, &nhosts, h);
                if (p->failing && !p->explained)
                    corr__add_name(failing, &nfailing, h);
            }
            live++;
            bad += nhosts && nfailing * 2 >= nhosts;
        }
        if (live < 2 || bad < live)
            continue;
        size_t nsilent = 0;
        for (size_t a = 0; a < c->nagents; a++)
            nsilent += !strcmp(c->agents[a].region, r) && corr__late(c, a, now);
        /* Every other region fails toward R; something outside R works. */
        char others[CORR_MAX_NAMES][CORR_NAME];
        size_t nothers = 0, toward = 0;
        int healthy_outside = 0;
        for (size_t a = 0; a < c->nagents; a++)
            if (c->agents[a].region[0] && strcmp(c->agents[a].region, r) &&
                !corr__silent(c, a, now))
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
            healthy_outside = !p->failing && strcmp(c->agents[p->agent].region, r) &&
                              strcmp(p->target_region, r);
        }
        if (!nothers || toward < nothers || !healthy_outside)
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
        snprintf(d->explanation, sizeof d->explanation,
                 "%s's uplink: its %zu agents fail toward most of what lies outside it (%zu "
                 "silent or late) and %zu other region%s fail toward it (%zu pairs); the rest of the "
                 "fleet works",
                 r, live, nsilent, nothers, nothers > 1 ? "s" : "", d->npairs);
    }
}

static void corr__mtu(struct correlate *c, struct corr_diagnosis *out, size_t *n, size_t max)
{
    for (size_t i = 0; i < c->npairs; i++) {
        struct corr_pair *p = c->pairs[i];
        if (p->explained || !p->failing || p->probe != CORR_PROBE_MTU || !p->black_hole)
            continue;
        struct corr_diagnosis *d = corr__new(out, n, max, CORR_MTU_BLACKHOLE, p->target);
        if (!d)
            return;
        for (size_t k = i; k < c->npairs; k++) {
            struct corr_pair *q = c->pairs[k];
            if (!q->explained && q->failing && q->probe == CORR_PROBE_MTU && q->black_hole &&
                !strcmp(q->target, p->target))
                corr__explain(c, d, q);
        }
        snprintf(d->explanation, sizeof d->explanation,
                 "path MTU black hole toward %s, seen by %zu agents", p->target, d->nagents);
    }
}

/* Agents and regions behind the pairs matching FN(pair, arg), failing
 * (unexplained) ones or all. */
struct corr_spread {
    char agents[CORR_MAX_NAMES][CORR_NAME], regions[CORR_MAX_NAMES][CORR_NAME];
    size_t nagents, nregions;
};

static void corr__spread(const struct correlate *c, int failing,
                         int (*fn)(const struct corr_pair *, const void *), const void *arg,
                         struct corr_spread *sp)
{
    sp->nagents = sp->nregions = 0;
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        if (failing && (p->explained || !p->failing))
            continue;
        if (!fn(p, arg))
            continue;
        corr__add_name(sp->agents, &sp->nagents, c->agents[p->agent].name);
        corr__add_name(sp->regions, &sp->nregions, c->agents[p->agent].region);
    }
}

/* Failing from enough of those who look: at least half of the agents, and
 * from target_min_regions regions when they span that many.  One agent's
 * (or one region's) trouble is not the server's. */
static int corr__widespread(const struct correlate *c,
                            int (*fn)(const struct corr_pair *, const void *), const void *arg)
{
    struct corr_spread all, bad;
    corr__spread(c, 0, fn, arg, &all);
    corr__spread(c, 1, fn, arg, &bad);
    size_t need_regions = all.nregions < (size_t)c->cfg.target_min_regions
                              ? all.nregions
                              : (size_t)c->cfg.target_min_regions;
    return bad.nagents && (double)bad.nagents >= c->cfg.target_share * (double)all.nagents &&
           bad.nregions >= need_regions;
}

static int corr__dns_server_is(const struct corr_pair *p, const void *server)
{
    return p->probe == CORR_PROBE_DNS && !strcmp(p->address, server);
}

static int corr__dns_name_is(const struct corr_pair *p, const void *name)
{
    return p->probe == CORR_PROBE_DNS && !strcmp(p->target, name);
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

static void corr__dns(struct correlate *c, struct corr_diagnosis *out, size_t *n, size_t max)
{
    /* One server failing for most of the names it is asked, seen widely:
     * the resolver.  Anything else failing toward its address is it too. */
    for (size_t i = 0; i < c->npairs; i++) {
        struct corr_pair *p = c->pairs[i];
        if (p->explained || !p->failing || p->probe != CORR_PROBE_DNS)
            continue;
        char names[CORR_MAX_NAMES][CORR_NAME], asked[CORR_MAX_NAMES][CORR_NAME];
        size_t nnames = 0, nasked = 0;
        for (size_t k = 0; k < c->npairs; k++) {
            const struct corr_pair *q = c->pairs[k];
            if (q->probe != CORR_PROBE_DNS || strcmp(q->address, p->address))
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
    /* Names failing through every server asked, widely: their zone (the
     * name less its first label; "broken.test" for itself), which is what
     * the servers all answer from. */
    for (size_t i = 0; i < c->npairs; i++) {
        struct corr_pair *p = c->pairs[i];
        if (p->explained || !p->failing || p->probe != CORR_PROBE_DNS ||
            !corr__widespread(c, corr__dns_name_is, p->target))
            continue;
        char zone[CORR_NAME], other[CORR_NAME];
        corr__zone_of(p->target, zone, sizeof zone);
        size_t nnames = 0;
        char names[CORR_MAX_NAMES][CORR_NAME];
        for (size_t k = i; k < c->npairs; k++) {
            const struct corr_pair *q = c->pairs[k];
            if (q->explained || !q->failing || q->probe != CORR_PROBE_DNS)
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
            if (q->explained || !q->failing || q->probe != CORR_PROBE_DNS)
                continue;
            for (size_t m = 0; m < nnames; m++)
                if (!strcmp(names[m], q->target)) {
                    corr__explain(c, d, q);
                    break;
                }
        }
        char list[200] = "";
        for (size_t m = 0; m < nnames; m++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%.*s", m ? ", " : "",
                     (int)strcspn(names[m], "/"), names[m]);
        }
        snprintf(d->explanation, sizeof d->explanation,
                 "zone %.80s: %.180s fail%s through every server asked, from %zu agents; the "
                 "servers answer other names",
                 zone, list, nnames > 1 ? "" : "s", d->nagents);
    }
}

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

static void corr__paths(struct correlate *c, struct corr_diagnosis *out, size_t *n, size_t max)
{
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

/* ---- HOP: the router the failing paths share ------------------------------ */


/* The path P's packets take: the trace toward its address.  An IPv6
 * address goes by the IPv4 trace of the same target (a failing one first,
 * for a name with several hosts): the routers are the same ones, and one
 * family's votes then name one address for each of them. */
static const struct corr_path *corr__path_of(const struct correlate *c, const struct corr_pair *p)
{
    if (!p->address[0])
        return NULL;
    if (strchr(p->address, ':') && p->probe != CORR_PROBE_DNS) {
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

static void corr__hops(struct correlate *c, struct corr_diagnosis *out, size_t *n, size_t max)
{
    if (!c->npaths)
        return;
    struct corr_hop *hops = NULL;
    size_t nhops = 0, caphops = 0;
    /* Hops a working path crosses: a trace that reached its target, from
     * an agent with nothing failing at that address. */
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
            while (h < nhops && strcmp(hops[h].address, path->hops[k]))
                h++;
            if (h == nhops) {
                if (FL_GROW(hops, caphops, nhops, 32))
                    goto out;
                memset(&hops[h], 0, sizeof hops[h]);
                snprintf(hops[h].address, sizeof hops[h].address, "%s", path->hops[k]);
                nhops++;
            }
            hops[h].healthy |= healthy;
        }
    }
    for (;;) {
        /* Each failing path: one vote, shared by its hops. */
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
        /* The most votes; on a tie, the hop farther along (the last one
         * the failing paths still share). */
        struct corr_hop *best = NULL;
        for (size_t h = 0; h < nhops; h++) {
            struct corr_hop *x = &hops[h];
            if (x->healthy || x->tried || x->votes <= 0)
                continue;
            if (!best || x->votes > best->votes + 1e-9 ||
                (x->votes > best->votes - 1e-9 && x->depth > best->depth))
                best = x;
        }
        if (!best)
            break;
        best->tried = 1;
        /* Failing behind it toward enough hosts (told apart by the
         * address traced: two names of one machine are one host), none of
         * them the hop itself, seen from two agents at least: from one
         * alone, a router on its way out is that agent's (or its region's)
         * trouble until the others say otherwise. */
        char dests[CORR_MAX_NAMES][CORR_NAME], hosts[CORR_MAX_NAMES][CORR_NAME];
        char seen_from[CORR_MAX_NAMES][CORR_NAME];
        size_t ndests = 0, nhosts = 0, nseen = 0;
        int is_target = 0;
        for (size_t i = 0; i < c->npairs; i++) {
            const struct corr_pair *p = c->pairs[i];
            const struct corr_path *path = corr__path_of(c, p);
            if (p->explained || !p->failing || !corr__crosses_hop(path, best->address))
                continue;
            corr__add_name(dests, &ndests, path->address);
            corr__add_name(hosts, &nhosts, path->host);
            corr__add_name(seen_from, &nseen, c->agents[p->agent].name);
            is_target |= !strcmp(p->address, best->address) || !strcmp(path->address, best->address);
        }
        if (is_target || ndests < (size_t)c->cfg.hop_min_hosts || nseen < 2)
            continue;
        struct corr_diagnosis *d = corr__new(out, n, max, CORR_HOP, best->address);
        if (!d)
            break;
        /* Every failing pair toward those addresses is behind it too, even
         * one whose own trace stopped short (routers limit the ICMP errors
         * they send) or has not come in yet. */
        for (size_t i = 0; i < c->npairs; i++) {
            struct corr_pair *p = c->pairs[i];
            if (p->explained || !p->failing)
                continue;
            const struct corr_path *path = corr__path_of(c, p);
            int behind = corr__crosses_hop(path, best->address);
            for (size_t k = 0; k < ndests && !behind; k++)
                behind = !strcmp(dests[k], p->address) || (path && !strcmp(dests[k], path->address));
            if (behind)
                corr__explain(c, d, p);
        }
        char list[200] = "";
        for (size_t k = 0; k < nhosts; k++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", hosts[k]);
        }
        snprintf(d->explanation, sizeof d->explanation,
                 "router %s: the traces of %zu failing pairs from %zu agents toward %s cross it, "
                 "and no working path does",
                 best->address, d->npairs, d->nagents, list);
    }
out:
    free(hops);
}

/* ---- one machine, one name ----------------------------------------------
 * Checks name a machine as they were written: "localhost:80" by one agent,
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
static int corr__name_before(const char *a, int a_literal, const char *b, int b_literal)
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
    return corr__name_before(x->name, x->literal, y->name, y->literal) ? -1
           : corr__name_before(y->name, y->literal, x->name, x->literal) ? 1 : 0;
}

static int corr__cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct corr_name *)a)->name, ((const struct corr_name *)b)->name);
}

/* Does P contact a machine at its address?  A DNS pair asks its server
 * about a name, a host check reads the agent's own host. */
static int corr__contacts(const struct corr_pair *p)
{
    return p->address[0] && p->probe != CORR_PROBE_DNS && p->probe != CORR_PROBE_HOST;
}

static void corr__identify(struct correlate *c)
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
            names[nn++] = (struct corr_name){.name = na[i]->written,
                                             .literal = na[i]->written_literal};
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

/* Is TARGET the host of an agent in trouble itself: gone quiet (half the
 * silence limit), reporting late, or failing toward something of its own?
 * Then others failing toward that host are likely its (or its region's)
 * trouble seen from outside: wait for the AGENT or REGION verdict rather
 * than name the host.  A host whose own agent is fine but which nobody
 * reaches is a TARGET. */
static int corr__quiet_agent_host(const struct correlate *c, const char *target, int64_t now)
{
    const struct corr_host *h = corr__host(c, target);
    if (!h || !h->agent[0])
        return 0;
    for (size_t a = 0; a < c->nagents; a++) {
        if (strcmp(c->agents[a].name, h->agent))
            continue;
        if (corr__late(c, a, now))
            return 1;
        for (size_t i = 0; i < c->npairs; i++) {
            const struct corr_pair *p = c->pairs[i];
            if (p->agent == a && p->failing && !p->explained && p->probe != CORR_PROBE_HOST)
                return 1;
        }
        return 0;
    }
    return 0;
}

/* Does P contact the machine HOST (corr__identify's name for it)? */
static int corr__on_host(const struct corr_pair *p, const void *host)
{
    return corr__contacts(p) && !strcmp(p->host, host);
}

/* Does every address HOST's pairs probe fail for some agent? */
static int corr__host_down_everywhere(const struct correlate *c, const char *host)
{
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        if (!corr__on_host(p, host))
            continue;
        int failing = 0;
        for (size_t k = 0; k < c->npairs && !failing; k++) {
            const struct corr_pair *q = c->pairs[k];
            failing = q->failing && !q->explained && !strcmp(q->address, p->address) &&
                      corr__on_host(q, host);
        }
        if (!failing)
            return 0;
    }
    return 1;
}

/* What a TARGET diagnosis blames: a machine, one service on it (a port),
 * or one check's target there (a URL). */
struct corr_scope {
    const char *host;
    int port;           /* -1: any */
    const char *target; /* NULL: any */
};

static int corr__in_scope(const struct corr_pair *p, const void *arg)
{
    const struct corr_scope *sc = arg;
    return corr__on_host(p, sc->host) && (sc->port < 0 || p->port == sc->port) &&
           (!sc->target || !strcmp(p->target, sc->target));
}

/* Is P's health news?  Its latest result is no older than two of its own
 * intervals (and a second for the way): an agent that went quiet, or a
 * check that stopped, leaves its pairs as they were. */
static int corr__fresh(const struct correlate *c, const struct corr_pair *p, int64_t now)
{
    int64_t gap = p->gap_us ? p->gap_us : c->cfg.silent_after_us / 2;
    return now - p->last_ts <= 2 * gap + 1000000;
}

/* Does something in SCOPE answer now (a pair of it whose latest result was
 * good, lately, from an agent that reports)?  A pair on its way to failing
 * (a failure or two, not yet open_after) does not. */
static int corr__answers(const struct correlate *c, const struct corr_scope *sc, int64_t now)
{
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        if (!p->failing && p->oks > 0 && corr__in_scope(p, sc) && corr__fresh(c, p, now) &&
            !corr__late(c, p->agent, now))
            return 1;
    }
    return 0;
}

/* The narrowest thing that explains P's failure: the machine when nothing
 * on it answers; else the service at P's port when nothing there answers
 * (web:80 refused for tcp and for http://web/ alike: nginx is down); else
 * P's own target (http://web/ answers 404 or slowly while web:80
 * connects).  A closed port and a 404 on a machine that answers ping are
 * two faults, each with its own code. */
static void corr__scope_of(const struct correlate *c, const struct corr_pair *p, int64_t now,
                           struct corr_scope *sc, char *component, size_t len)
{
    *sc = (struct corr_scope){.host = p->host, .port = -1};
    snprintf(component, len, "%s", p->host);
    if (!corr__answers(c, sc, now))
        return;
    sc->port = p->port;
    if (!corr__answers(c, sc, now)) {
        if (!p->port)
            return;
        /* The service by the least name its checks give the machine (one
         * that is not an address if there is one), so that it does not
         * depend on which of them fails first. */
        const struct corr_pair *best = p;
        for (size_t i = 0; i < c->npairs; i++) {
            const struct corr_pair *q = c->pairs[i];
            if (corr__in_scope(q, sc) &&
                corr__name_before(q->written, q->written_literal, best->written,
                                  best->written_literal))
                best = q;
        }
        snprintf(component, len, strchr(best->written, ':') ? "[%s]:%d" : "%s:%d", best->written,
                 p->port);
        return;
    }
    sc->target = p->target;
    snprintf(component, len, "%s", p->target);
}

/* One machine, service or target failing from agents in several regions:
 * a TARGET (corr__scope_of says which).  Machines failing at every address
 * go first.  A diagnosis takes along the failures of other names at the
 * addresses it explains (a name with several backends, one of them this
 * machine), at the same port when it blames a service or a target: the
 * same address is the same machine. */
static int corr__cmp_service(const void *a, const void *b)
{
    const struct corr_pair *x = *(struct corr_pair *const *)a, *y = *(struct corr_pair *const *)b;
    int r = x->naddrs - y->naddrs; /* a machine before a name with several backends */
    if (!r)
        r = strcmp(x->host, y->host);
    if (!r)
        r = x->port - y->port;
    if (!r)
        r = strcmp(x->target, y->target);
    return r;
}

static void corr__targets(struct correlate *c, int64_t now, struct corr_diagnosis *out, size_t *n,
                          size_t max)
{
    /* The widest blame first (machines down at every address, machines,
     * services, targets), and in each the pairs of one machine before those
     * of names with several backends, then by name: which result came first,
     * or the order a restarted collector read them back in, never decides
     * what is blamed. */
    struct corr_pair **order = malloc((c->npairs ? c->npairs : 1) * sizeof *order);
    if (!order)
        return;
    memcpy(order, c->pairs, c->npairs * sizeof *order);
    qsort(order, c->npairs, sizeof *order, corr__cmp_service);
    for (int pass = 0; pass < 4; pass++) {
        for (size_t i = 0; i < c->npairs; i++) {
            struct corr_pair *p = order[i];
            if (p->explained || !p->failing || !corr__contacts(p) ||
                corr__quiet_agent_host(c, p->target, now))
                continue;
            struct corr_scope sc;
            char component[CORR_NAME];
            corr__scope_of(c, p, now, &sc, component, sizeof component);
            int level = sc.target ? 3 : sc.port >= 0 ? 2 : 1;
            if (pass == 0 ? level != 1 || !corr__host_down_everywhere(c, sc.host) : level != pass)
                continue;
            struct corr_spread all, bad;
            corr__spread(c, 0, corr__in_scope, &sc, &all);
            corr__spread(c, 1, corr__in_scope, &sc, &bad);
            if (bad.nregions < (size_t)c->cfg.target_min_regions ||
                (double)bad.nagents < c->cfg.target_share * (double)all.nagents)
                continue;
            struct corr_diagnosis *d = corr__new(out, n, max, CORR_TARGET, component);
            if (!d)
                break;
            for (size_t k = 0; k < c->npairs; k++) {
                struct corr_pair *q = order[k];
                if (!q->explained && q->failing && corr__in_scope(q, &sc))
                    corr__explain(c, d, q);
            }
            for (size_t k = 0; k < c->npairs; k++) {
                struct corr_pair *q = order[k];
                if (q->explained || !q->failing || !corr__contacts(q) ||
                    (sc.port >= 0 && q->port != sc.port) || (sc.target && q->probe != p->probe))
                    continue;
                for (size_t m = 0; m < c->npairs; m++)
                    if (c->pairs[m]->explained && corr__in_scope(c->pairs[m], &sc) &&
                        !strcmp(c->pairs[m]->address, q->address)) {
                        corr__explain(c, d, q);
                        break;
                    }
            }
            char list[200] = "";
            for (size_t t = 0; t < d->ntargets; t++) {
                size_t len = strlen(list);
                snprintf(list + len, sizeof list - len, "%s%s", t ? ", " : "", d->targets[t]);
            }
            int len = snprintf(d->explanation, sizeof d->explanation,
                               "%s fails (%s) from %zu of the %zu agents probing it, in %zu regions",
                               component, list, bad.nagents, all.nagents, bad.nregions);
            if (sc.port >= 0 && len > 0 && (size_t)len < sizeof d->explanation)
                snprintf(d->explanation + len, sizeof d->explanation - (size_t)len,
                         sc.target ? "; %s answers at port %d" : "; %s answers", sc.host, sc.port);
        }
    }
    free(order);
}

/* Different Server headers from the addresses behind one HTTP target, in
 * healthy answers: the backends have drifted apart.  Only addresses (each
 * as the agents see it, by majority) count, not agents: a proxy in front
 * of one agent is not drift. */
static void corr__drift(struct correlate *c, struct corr_diagnosis *out, size_t *n, size_t max)
{
    for (size_t i = 0; i < c->npairs; i++) {
        const struct corr_pair *p = c->pairs[i];
        if (p->probe != CORR_PROBE_HTTP || p->failing || !p->server[0])
            continue;
        int first = 1;
        for (size_t k = 0; k < i && first; k++)
            first = !(c->pairs[k]->probe == CORR_PROBE_HTTP && !strcmp(c->pairs[k]->target, p->target) &&
                      !c->pairs[k]->failing && c->pairs[k]->server[0]);
        if (!first)
            continue;
        char servers[CORR_MAX_NAMES][CORR_NAME], where[CORR_MAX_NAMES][CORR_NAME];
        size_t nservers = 0, nwhere = 0;
        for (size_t k = i; k < c->npairs; k++) {
            const struct corr_pair *q = c->pairs[k];
            if (q->probe != CORR_PROBE_HTTP || q->failing || !q->server[0] ||
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
            if (q->probe == CORR_PROBE_HTTP && !strcmp(q->target, p->target) && q->server[0])
                corr__add_name(d->agents, &d->nagents, c->agents[q->agent].name);
        }
        char list[256] = "";
        for (size_t w = 0; w < nwhere; w++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%.120s", w ? "; " : "", where[w]);
        }
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
static void corr__sysctl_drift(struct correlate *c, int64_t now, struct corr_diagnosis *out,
                               size_t *n, size_t max)
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
                     "%s differs within role %s: %s; the %zu others have %s", dotted,
                     first->role, odd, best, common);
        }
    }
}

size_t correlate_evaluate(struct correlate *c, int64_t now_us, struct corr_diagnosis *out,
                          size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->npairs; i++)
        c->pairs[i]->explained = 0;
    corr__identify(c);
    corr__regions(c, now_us, out, &n, max);
    corr__silent_agents(c, now_us, out, &n, max);
    corr__agents(c, now_us, out, &n, max);
    corr__mtu(c, out, &n, max);
    corr__dns(c, out, &n, max);
    corr__paths(c, out, &n, max);
    corr__hops(c, out, &n, max);
    corr__targets(c, now_us, out, &n, max);
    corr__drift(c, out, &n, max);
    corr__sysctl_drift(c, now_us, out, &n, max);
    return n;
}
