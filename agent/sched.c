/* sched: every (check, target) is a job with its own one-shot timer,
 * re-armed against an absolute wall-clock schedule (no drift), at an
 * offset inside the interval derived from hash(agent, check, target), so
 * a fleet of agents never fires in step.  A run resolves the target's name
 * (asynchronously, through libuv's resolver pool) and probes every address
 * it has, one result per address. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "faultcode.h"
#include "log.h"
#include "timeutil.h"

#define SCHED_MAX_ADDRS 8
#define SCHED_STALE_US (3600 * 1000000LL) /* addresses kept through a resolver outage */
#define SCHED_STALE_RETRY_US (30 * 1000000LL) /* meanwhile, the resolver is asked this often */
#define SCHED_RESOLVE_EVERY_US (30 * 1000000LL) /* a name's addresses are reused this long */

struct sched_job {
    struct sched *sched;
    const struct check *check;
    size_t check_idx;
    const char *host;
    char target[300];
    int64_t interval_us, offset_us;
    int64_t next_us; /* wall clock of the next slot */
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    struct addrinfo literal;          /* a target written as an address */
    struct sockaddr_storage literal_addr;
    int resolving;
    struct probe_run *runs;
    size_t nruns, pending;
    uint64_t skipped;
    /* the last status seen per address, to notice "healthy -> failing" */
    char last_addr[SCHED_MAX_ADDRS][64];
    int last_status[SCHED_MAX_ADDRS];
    /* the addresses of the last resolution that worked, and when */
    struct sockaddr_storage stale[SCHED_MAX_ADDRS];
    size_t nstale;
    int64_t resolved_us;
    int64_t stale_until_us; /* resolver failing: use the stale addresses till then */
    int refreshing;         /* j->gai is refreshing them in the background */
};

/* A traceroute or capture window started because a target turned from
 * healthy to failing: evidence kept with the target's results. */
struct sched_trace {
    struct probe_run run;
    struct check check; /* its own copy: a capture's window is the trigger's */
    struct sched *sched;
    char target[300];
    uint64_t triggered_by;
    struct sched_trace *next;
};

struct sched {
    uv_loop_t *loop;
    char agent[FL_WIRE_MAX_NAME + 1];
    struct sched_job *jobs;
    size_t njobs;
    size_t active;
    int stopped;
    size_t closing, resolving; /* handles closing, resolver requests out */
    struct check trace_check;   /* what a triggered trace runs */
    struct sched_trace *traces; /* triggered traces in flight */
    int destroyed;
    sched_results_fn fn;
    void *ctx;
};

int64_t sched_offset_us(const char *agent, size_t check, const char *target, int64_t interval_us)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {agent, target};
    for (int p = 0; p < 2; p++) {
        for (const char *c = parts[p]; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    h = (h ^ check) * 1099511628211ULL;
    h ^= h >> 29; /* FNV's low bits mix poorly; fold the high ones in */
    return (int64_t)(h % (uint64_t)interval_us);
}

/* An address needs no resolver: keep it parsed, and skip the thread pool
 * that uv_getaddrinfo() would use on every run. */
static void sched__parse_literal(struct sched_job *j)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)&j->literal_addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&j->literal_addr;
    if (inet_pton(AF_INET, j->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        j->literal.ai_addrlen = sizeof *in4;
    } else if (inet_pton(AF_INET6, j->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        j->literal.ai_addrlen = sizeof *in6;
    } else {
        return;
    }
    j->literal.ai_family = j->literal_addr.ss_family;
    j->literal.ai_addr = (struct sockaddr *)&j->literal_addr;
}

struct sched *sched_new(uv_loop_t *loop, const char *agent, const struct agent_config *cfg,
                        sched_results_fn fn, void *ctx)
{
    struct sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < cfg->nchecks; i++)
        n += cfg->checks[i].ntargets;
    s->jobs = calloc(n ? n : 1, sizeof *s->jobs);
    if (!s->jobs) {
        free(s);
        return NULL;
    }
    s->loop = loop;
    snprintf(s->agent, sizeof s->agent, "%s", agent);
    s->trace_check.ops = probe_for_evidence(PROBE_EVIDENCE_PATH);
    if (s->trace_check.ops)
        s->trace_check.ops->defaults(s->trace_check.opts);
    s->trace_check.timeout_us = 10 * 1000000LL;
    s->fn = fn;
    s->ctx = ctx;
    for (size_t i = 0; i < cfg->nchecks; i++) {
        const struct check *ck = &cfg->checks[i];
        for (size_t t = 0; t < ck->ntargets; t++) {
            struct sched_job *j = &s->jobs[s->njobs++];
            j->sched = s;
            j->check = ck;
            j->check_idx = i;
            j->host = ck->targets[t];
            ck->ops->target_name(ck->opts, j->host, j->target, sizeof j->target);
            j->interval_us = ck->interval_us;
            j->offset_us = sched_offset_us(agent, i, j->target, ck->interval_us);
            sched__parse_literal(j);
            uv_timer_init(loop, &j->timer);
            j->timer.data = j;
        }
    }
    return s;
}

size_t sched_active(const struct sched *s)
{
    return s->active;
}

static void sched__trace_done(struct probe_run *run)
{
    struct sched_trace *t = run->owner;
    struct sched *s = t->sched;
    for (struct sched_trace **pp = &s->traces; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    run->result.agent = s->agent;
    run->result.target = t->target;
    run->result.address = run->address;
    if (run->result.detail_case == FAULTLINE__RESULT__DETAIL_TRACE)
        run->result.trace->triggered_by = t->triggered_by;
    else if (run->result.detail_case == FAULTLINE__RESULT__DETAIL_CAPTURE)
        run->result.capture->triggered_by = t->triggered_by;
    fl_result *r = &run->result;
    if (!s->stopped)
        s->fn(s->ctx, &r, 1);
    free(run->owned);
    free(t);
    s->active--;
}

/* Trace the path toward a failing address (or capture its traffic for a
 * while) at once, as evidence kept with the target's results. */
static void sched__trigger(struct sched_job *j, const struct probe_run *failed, uint64_t seq,
                           enum probe_evidence e)
{
    struct sched *s = j->sched;
    const struct probe_ops *ops = probe_for_evidence(e);
    struct sched_trace *t = ops ? calloc(1, sizeof *t) : NULL;
    if (!t)
        return;
    if (e == PROBE_EVIDENCE_PATH) {
        t->check = s->trace_check;
    } else {
        t->check.ops = ops;
        ops->defaults(t->check.opts);
        t->check.timeout_us = j->check->capture_on_failure_us;
        if (ops->set_window)
            ops->set_window(t->check.opts, j->check->capture_on_failure_us);
    }
    t->sched = s;
    t->triggered_by = seq;
    snprintf(t->target, sizeof t->target, "%s", j->target);
    struct probe_run *r = &t->run;
    faultline__result__init(&r->result);
    r->loop = s->loop;
    r->check = &t->check;
    r->host = j->host;
    r->addr = failed->addr;
    r->addrlen = failed->addrlen;
    snprintf(r->address, sizeof r->address, "%s", failed->address);
    r->done = sched__trace_done;
    r->owner = t;
    s->active++;
    if (probe_start(r) < 0) {
        sched__trace_done(r); /* an error result says why */
        return;
    }
    t->next = s->traces;
    s->traces = t;
}

/* Remember each address's status; a turn from ok to failing gets a trace. */
static void sched__watch(struct sched_job *j)
{
    for (size_t i = 0; i < j->nruns; i++) {
        const struct probe_run *r = &j->runs[i];
        if (!r->address[0])
            continue;
        size_t k = 0;
        while (k < SCHED_MAX_ADDRS && j->last_addr[k][0] && strcmp(j->last_addr[k], r->address))
            k++;
        if (k == SCHED_MAX_ADDRS)
            k = 0; /* the name now has other addresses: start over */
        int was = j->last_addr[k][0] ? j->last_status[k] : 0;
        snprintf(j->last_addr[k], sizeof j->last_addr[k], "%s", r->address);
        j->last_status[k] = r->result.status;
        if (was != FAULTLINE__STATUS__STATUS_OK ||
            r->result.status != FAULTLINE__STATUS__STATUS_FAIL || j->sched->stopped)
            continue;
        if (j->check->trace_on_failure)
            sched__trigger(j, r, r->result.seq, PROBE_EVIDENCE_PATH);
        if (j->check->capture_on_failure_us)
            sched__trigger(j, r, r->result.seq, PROBE_EVIDENCE_TRAFFIC);
    }
}

static void sched__finish(struct sched_job *j)
{
    struct sched *s = j->sched;
    fl_result *results[SCHED_MAX_ADDRS];
    for (size_t i = 0; i < j->nruns; i++) {
        struct probe_run *r = &j->runs[i];
        r->result.agent = s->agent;
        r->result.target = j->target;
        r->result.address = r->address;
        results[i] = &r->result;
    }
    if (!s->stopped && j->nruns)
        s->fn(s->ctx, results, j->nruns); /* assigns their seqs */
    sched__watch(j);
    for (size_t i = 0; i < j->nruns; i++)
        free(j->runs[i].owned);
    free(j->runs);
    j->runs = NULL;
    j->nruns = j->pending = 0;
    s->active--;
}

static void sched__run_done(struct probe_run *run)
{
    struct sched_job *j = run->owner;
    if (--j->pending == 0)
        sched__finish(j);
}

static void sched__init_run(struct sched_job *j, struct probe_run *r)
{
    faultline__result__init(&r->result);
    r->loop = j->sched->loop;
    r->check = j->check;
    r->host = j->host;
    r->done = sched__run_done;
    r->owner = j;
    r->result.message = r->message;
    r->result.address = r->address;
}

/* The run cannot start: one result says why. */
static void sched__fail_job(struct sched_job *j, int status, uint16_t fault, const char *why)
{
    j->runs = calloc(1, sizeof *j->runs);
    if (!j->runs) {
        j->sched->active--;
        return;
    }
    j->nruns = 1;
    struct probe_run *r = &j->runs[0];
    sched__init_run(j, r);
    r->result.probe = (Faultline__ProbeType)j->check->ops->type;
    r->result.start_us = time_now_us();
    probe_set(r, status, fault, "%s", why);
    sched__finish(j);
}

/* The name could not be resolved: one result says so. */
static void sched__resolve_failed(struct sched_job *j, int status)
{
    uint16_t fault = FL_FAULT_RESOLVE_TEMPFAIL;
    if (status == UV_EAI_NONAME)
        fault = FL_FAULT_RESOLVE_NXDOMAIN;
    else if (status == UV_EAI_NODATA || status == UV_EAI_ADDRFAMILY)
        fault = FL_FAULT_RESOLVE_NOFAMILY;
    char why[300];
    snprintf(why, sizeof why, "cannot resolve %s: %s", j->host, uv_strerror(status));
    sched__fail_job(j, FAULTLINE__STATUS__STATUS_FAIL, fault, why);
}

/* Memory goes once every timer is closed and no resolver request can
 * still call back into it. */
static void sched__maybe_free(struct sched *s)
{
    if (s->destroyed && s->closing == 0 && s->resolving == 0) {
        free(s->jobs);
        free(s);
    }
}

static void sched__start_runs(struct sched_job *j, struct addrinfo *res);

static void sched__remember(struct sched_job *j, const struct addrinfo *res)
{
    j->nstale = 0;
    for (const struct addrinfo *ai = res; ai && j->nstale < SCHED_MAX_ADDRS; ai = ai->ai_next)
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            ai->ai_addrlen <= sizeof j->stale[0])
            memcpy(&j->stale[j->nstale++], ai->ai_addr, ai->ai_addrlen);
    j->resolved_us = time_now_us();
}

/* Probe the addresses of the last successful resolution. */
static void sched__run_cached(struct sched_job *j)
{
    struct addrinfo ai[SCHED_MAX_ADDRS];
    for (size_t i = 0; i < j->nstale; i++) {
        memset(&ai[i], 0, sizeof ai[i]);
        ai[i].ai_family = j->stale[i].ss_family;
        ai[i].ai_addr = (struct sockaddr *)&j->stale[i];
        ai[i].ai_addrlen = j->stale[i].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                             : sizeof(struct sockaddr_in);
        ai[i].ai_next = i + 1 < j->nstale ? &ai[i + 1] : NULL;
    }
    sched__start_runs(j, ai);
}

/* Are there addresses to probe without waiting for the resolver?  Those of
 * the last successful resolution serve for up to SCHED_STALE_US; they are
 * refreshed in the background every SCHED_RESOLVE_EVERY_US (every
 * SCHED_STALE_RETRY_US while the resolver fails), so a slow resolver (a
 * lossy uplink, timeouts) never holds up a probe nor starves libuv's few
 * resolver threads. */
static int sched__cached(const struct sched_job *j)
{
    return j->nstale && (j->refreshing || time_now_us() - j->resolved_us < SCHED_STALE_US);
}

static void sched__on_refreshed(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct sched_job *j = req->data;
    struct sched *s = j->sched;
    j->refreshing = 0;
    s->resolving--;
    if (s->stopped) {
        uv_freeaddrinfo(res);
        sched__maybe_free(s);
        return;
    }
    if (status == UV_EAI_NONAME || status == UV_EAI_NODATA) {
        j->nstale = 0; /* an answer: the next run resolves and reports it */
    } else if (status < 0) {
        j->stale_until_us = time_now_us() + SCHED_STALE_RETRY_US;
        log_debug("cannot resolve %s (%s): still probing the addresses it had", j->host,
                  uv_strerror(status));
    } else {
        sched__remember(j, res);
        j->stale_until_us = 0;
    }
    uv_freeaddrinfo(res);
}

static void sched__refresh(struct sched_job *j, const struct addrinfo *hints)
{
    int64_t now = time_now_us();
    if (j->refreshing || now - j->resolved_us < SCHED_RESOLVE_EVERY_US || now < j->stale_until_us)
        return;
    j->gai.data = j;
    if (uv_getaddrinfo(j->sched->loop, &j->gai, sched__on_refreshed, j->host, NULL, hints) == 0) {
        j->refreshing = 1;
        j->sched->resolving++;
    }
}

/* The resolver failed without saying the name does not exist (timeout,
 * server down, SERVFAIL): probe the addresses it gave last time, for up to
 * SCHED_STALE_US (as RFC 8767 lets resolvers serve stale data).  A DNS
 * outage is the DNS checks' to report; it should not also make every other
 * check of the fleet fail and hide what the network is doing. */
static int sched__serve_stale(struct sched_job *j, int status)
{
    if (status == UV_EAI_NONAME || status == UV_EAI_NODATA || !j->nstale ||
        time_now_us() - j->resolved_us > SCHED_STALE_US) {
        j->stale_until_us = 0;
        return 0;
    }
    log_debug("cannot resolve %s (%s): probing the addresses it had %lld s ago", j->host,
              uv_strerror(status), (long long)((time_now_us() - j->resolved_us) / 1000000));
    /* Ask again only now and then: a resolver that times out would
     * otherwise hold every run (and libuv's few resolver threads). */
    if (status != 0)
        j->stale_until_us = time_now_us() + SCHED_STALE_RETRY_US;
    sched__run_cached(j);
    return 1;
}

static void sched__on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct sched_job *j = req->data;
    struct sched *s = j->sched;
    j->resolving = 0;
    s->resolving--;
    if (s->stopped) {
        uv_freeaddrinfo(res);
        s->active--;
        sched__maybe_free(s);
        return;
    }
    if (status < 0) {
        if (!sched__serve_stale(j, status))
            sched__resolve_failed(j, status);
        return;
    }
    sched__remember(j, res);
    sched__start_runs(j, res);
    uv_freeaddrinfo(res);
}

/* Probe every distinct address in RES (not freed here). */
static void sched__start_runs(struct sched_job *j, struct addrinfo *res)
{
    struct addrinfo *uniq[SCHED_MAX_ADDRS];
    size_t n = 0;
    for (struct addrinfo *ai = res; ai && n < SCHED_MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6 && ai->ai_family != AF_UNSPEC)
            continue; /* AF_UNSPEC: a probe of this host itself (host) */
        int dup = 0;
        for (size_t i = 0; i < n && !dup; i++)
            dup = uniq[i]->ai_addrlen == ai->ai_addrlen &&
                  memcmp(uniq[i]->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0;
        if (!dup)
            uniq[n++] = ai;
    }
    j->runs = calloc(n ? n : 1, sizeof *j->runs);
    if (!j->runs || n == 0) {
        free(j->runs);
        j->runs = NULL;
        if (n == 0)
            sched__resolve_failed(j, UV_EAI_NODATA);
        else
            j->sched->active--;
        return;
    }
    j->nruns = n;
    j->pending = n + 1; /* +1 until every run has started */
    for (size_t i = 0; i < n; i++) {
        struct probe_run *r = &j->runs[i];
        sched__init_run(j, r);
        memcpy(&r->addr, uniq[i]->ai_addr, uniq[i]->ai_addrlen);
        r->addrlen = uniq[i]->ai_addrlen;
        const void *a = r->addr.ss_family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)&r->addr)->sin6_addr
                            : (const void *)&((struct sockaddr_in *)&r->addr)->sin_addr;
        if (r->addr.ss_family != AF_UNSPEC)
            inet_ntop(r->addr.ss_family, a, r->address, sizeof r->address);
        if (probe_start(r) < 0)
            j->pending--; /* complete already, with an error result */
    }
    if (--j->pending == 0)
        sched__finish(j);
}

static void sched__run(struct sched_job *j)
{
    if (j->nruns || j->resolving) {
        j->skipped++;
        log_warn("check %s %s still running at its next slot; slot skipped",
                 j->check->ops->name, j->target);
        return;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
    hints.ai_family = j->check->family == FAMILY_IPV4   ? AF_INET
                      : j->check->family == FAMILY_IPV6 ? AF_INET6
                                                         : AF_UNSPEC;
    if (j->check->ops->addresses) {
        /* The probe says where to go (a DNS probe: the servers to ask). */
        struct sockaddr_storage ss[SCHED_MAX_ADDRS];
        struct addrinfo ai[SCHED_MAX_ADDRS];
        int n = j->check->ops->addresses(j->check->opts, j->check->family, ss, SCHED_MAX_ADDRS);
        if (n == -ENOSYS)
            goto resolve; /* the probe goes to the target after all */
        j->sched->active++;
        if (n <= 0) {
            sched__fail_job(j, FAULTLINE__STATUS__STATUS_ERROR, FL_FAULT_PROBE_INTERNAL,
                            n == 0 ? "no server of the requested family to ask"
                                   : "cannot read the system's resolver configuration");
            return;
        }
        for (int i = 0; i < n; i++) {
            memset(&ai[i], 0, sizeof ai[i]);
            ai[i].ai_family = ss[i].ss_family;
            ai[i].ai_addr = (struct sockaddr *)&ss[i];
            ai[i].ai_addrlen = ss[i].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in);
            ai[i].ai_next = i + 1 < n ? &ai[i + 1] : NULL;
        }
        sched__start_runs(j, ai);
        return;
    }
resolve:
    if (sched__cached(j)) {
        sched__refresh(j, &hints);
        j->sched->active++;
        sched__run_cached(j);
        return;
    }
    if (j->literal.ai_addr) {
        j->sched->active++;
        if (hints.ai_family != AF_UNSPEC && hints.ai_family != j->literal.ai_family)
            sched__resolve_failed(j, UV_EAI_ADDRFAMILY);
        else
            sched__start_runs(j, &j->literal);
        return;
    }
    j->gai.data = j;
    j->resolving = 1;
    j->sched->resolving++;
    j->sched->active++;
    int rc = uv_getaddrinfo(j->sched->loop, &j->gai, sched__on_resolved, j->host, NULL, &hints);
    if (rc < 0) {
        j->resolving = 0;
        j->sched->resolving--;
        sched__resolve_failed(j, rc);
    }
}

static void sched__on_timer(uv_timer_t *t)
{
    struct sched_job *j = t->data;
    sched__run(j);
    /* libuv's clock is cached per loop iteration, so the timer may fire a
     * hair before the slot's wall-clock time: step at least one slot. */
    int64_t now = time_now_us();
    j->next_us += j->interval_us;
    while (j->next_us <= now)
        j->next_us += j->interval_us;
    uv_timer_start(&j->timer, sched__on_timer, (uint64_t)(j->next_us - now + 999) / 1000, 0);
}

void sched_start(struct sched *s)
{
    for (size_t i = 0; i < s->njobs; i++) {
        struct sched_job *j = &s->jobs[i];
        int64_t now = time_now_us();
        j->next_us = now - now % j->interval_us + j->offset_us;
        while (j->next_us <= now)
            j->next_us += j->interval_us;
        uv_timer_start(&j->timer, sched__on_timer, (uint64_t)(j->next_us - now + 999) / 1000, 0);
    }
}

int sched_run_once(struct sched *s)
{
    for (size_t i = 0; i < s->njobs; i++)
        sched__run(&s->jobs[i]);
    return 0;
}

void sched_stop(struct sched *s)
{
    s->stopped = 1;
    while (s->traces) {
        struct sched_trace *t = s->traces;
        s->traces = t->next;
        t->check.ops->cancel(&t->run);
        free(t);
        s->active--;
    }
    for (size_t i = 0; i < s->njobs; i++) {
        struct sched_job *j = &s->jobs[i];
        uv_timer_stop(&j->timer);
        if (j->resolving || j->refreshing)
            uv_cancel((uv_req_t *)&j->gai);
        for (size_t r = 0; r < j->nruns; r++)
            if (j->runs[r].priv)
                j->runs[r].check->ops->cancel(&j->runs[r]);
        if (j->nruns) {
            free(j->runs);
            j->runs = NULL;
            j->nruns = j->pending = 0;
            s->active--;
        }
    }
}

static void sched__on_close(uv_handle_t *h)
{
    struct sched_job *j = h->data;
    struct sched *s = j->sched;
    s->closing--;
    sched__maybe_free(s);
}

void sched_free(struct sched **ps)
{
    if (!ps || !*ps)
        return;
    struct sched *s = *ps;
    *ps = NULL;
    if (!s->stopped)
        sched_stop(s);
    s->destroyed = 1;
    /* Memory goes in the last callback: run the loop after this. */
    s->closing = s->njobs;
    if (s->njobs == 0) {
        sched__maybe_free(s);
        return;
    }
    for (size_t i = 0; i < s->njobs; i++)
        uv_close((uv_handle_t *)&s->jobs[i].timer, sched__on_close);
}
