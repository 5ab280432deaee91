#include "correlate_int.h"

#include "faultcode.h"
#include "grow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


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

const struct corr_host *corr__host(const struct correlate *c, const char *target)
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
int corr__targets_agent(const struct correlate *c, const char *target, const char *agent)
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
        if (s->ok && p->probe == FL_PROBE_ICMP) {
            /* Pooled: each result's echoes have this mean and spread. */
            double avg = s->rtt_avg_us, sd = s->rtt_stddev_us;
            answered++;
            sum += avg;
            sumsq += sd * sd + avg * avg;
        }
    }
    if (n < (size_t)c->cfg.window_min_samples)
        return 0;
    if (p->probe == FL_PROBE_TCP || p->probe == FL_PROBE_HTTP) {
        if ((c->cfg.min_success > 0 && failed >= 2 &&
             (double)(n - failed) < c->cfg.min_success * (double)n) ||
            (c->cfg.max_reset_share > 0 && resets >= 2 &&
             (double)resets > c->cfg.max_reset_share * (double)n))
            return p->fault;
    }
    if (p->probe == FL_PROBE_ICMP && c->cfg.max_jitter_us > 0 &&
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

struct corr_path *corr__path_to(const struct correlate *c, size_t a, const char *address)
{
    unsigned h = corr__hash(a, "", address, FL_PROBE_TRACE);
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
        unsigned h = corr__hash(a, "", in->address, FL_PROBE_TRACE);
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
    const struct probetype *pt = probetype_of(in->probe);
    if (!pt || pt->evidence_only || !in->address)
        return;
    size_t a = corr__agent(c, in->agent, in->region);
    if (a == SIZE_MAX)
        return;
    if (in->probe == FL_PROBE_TRACE) {
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
    if (in->probe == FL_PROBE_HOST && in->nsysctls) {
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
    if (in->probe == FL_PROBE_HTTP && in->server && in->ok)
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

void corr__add_name(char (*list)[CORR_NAME], size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], name) == 0)
            return;
    if (*n < CORR_MAX_NAMES)
        snprintf(list[(*n)++], CORR_NAME, "%s", name);
}

void corr__explain(struct correlate *c, struct corr_diagnosis *d, struct corr_pair *p)
{
    p->explained = 1;
    d->npairs++;
    corr__add_name(d->agents, &d->nagents, c->agents[p->agent].name);
    corr__add_name(d->targets, &d->ntargets, p->target);
    if (((p->fault >> 4) & 0xf) > ((d->fault >> 4) & 0xf) || !d->fault)
        d->fault = p->fault;
}

struct corr_diagnosis *corr__new(struct corr_diagnosis *out, size_t *n, size_t max,
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
int corr__reached_by_other(const struct correlate *c, const struct corr_pair *p)
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
int64_t corr__quiet_for(const struct correlate *c, size_t a, int64_t now)
{
    int64_t seen = c->agents[a].last_seen;
    return now - (seen > c->watching_since ? seen : c->watching_since);
}

int corr__silent(const struct correlate *c, size_t a, int64_t now)
{
    return corr__quiet_for(c, a, now) > c->cfg.silent_after_us;
}

/* Its results reach us late: whatever it says now, its own link (or its
 * region's) is in trouble, and what others see of its host is that too. */
int corr__lagging(const struct correlate *c, size_t a)
{
    return c->agents[a].lag_us > c->cfg.lagging_after_us;
}

/* Silent, or on its way there (nothing for half that long), or lagging:
 * its own link, or its region's, is in trouble. */
int corr__late(const struct correlate *c, size_t a, int64_t now)
{
    return corr__quiet_for(c, a, now) > c->cfg.silent_after_us / 2 || corr__lagging(c, a);
}

/* Agents and regions behind the pairs matching FN(pair, arg), failing
 * (unexplained) ones or all. */
void corr__spread(const struct correlate *c, int failing, corr_match_fn *fn, const void *arg,
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
int corr__widespread(const struct correlate *c, corr_match_fn *fn, const void *arg)
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

void corr__join(char *out, size_t len, char (*list)[CORR_NAME], size_t n, const char *sep,
                char stop)
{
    char stops[2] = {stop, 0};
    out[0] = 0;
    for (size_t k = 0; k < n; k++) {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%.*s", k ? sep : "", (int)strcspn(list[k], stops),
                 list[k]);
    }
}

/* The rules, in the order they explain failing pairs: the most specific
 * cause first, each pair explained once (correlate.h tells what each one
 * concludes). */
static corr_rule_fn *const corr__rules[] = {
    corr__regions,      corr__silent_agents, corr__agents,  corr__mtu,
    corr__dns_resolvers, corr__dns_zones,    corr__paths,   corr__hops,
    corr__targets,      corr__server_drift,  corr__sysctl_drift,
};

size_t correlate_evaluate(struct correlate *c, int64_t now_us, struct corr_diagnosis *out,
                          size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->npairs; i++)
        c->pairs[i]->explained = 0;
    corr__identify(c);
    for (size_t r = 0; r < sizeof corr__rules / sizeof corr__rules[0]; r++)
        corr__rules[r](c, now_us, out, &n, max);
    return n;
}
