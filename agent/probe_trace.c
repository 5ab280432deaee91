/* probe_trace: the routers on the path to one address, hop by hop.
 *
 * UDP probes on one connected socket with IP_RECVERR, the TTL raised one
 * hop at a time (the destination port stays fixed: an error for another
 * port would not match the connected socket).  Every ICMP error comes back
 * on the error queue with our own payload, which carries the TTL, the
 * query number and the send time, so each answer is matched to its probe
 * even when it is late; SO_EE_OFFENDER is the router that answered.
 * "Time exceeded" is a hop, "port unreachable" is the target itself, any
 * other "unreachable" from a router ends the trace there.  After
 * max_silent hops in a row without any answer the trace stops: it ends at
 * the last reachable hop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h> /* before linux/errqueue.h, which needs struct timespec */
#include <linux/errqueue.h>
#include <unistd.h>

#include "agent.h"
#include "cfg.h"
#include "faultcode.h"
#include "timeutil.h"

#define TRACE_MAX_HOPS 32
#define TRACE_MAGIC 0x666c7472u /* "fltr" */

struct trace_opts {
    int64_t max_hops;
    int64_t queries;
    int64_t wait_us;
    int64_t max_silent;
    int64_t port;
};

_Static_assert(sizeof(struct trace_opts) <= AGENT_MAX_OPTS, "trace options fit in a check");

struct trace_payload {
    uint32_t magic;
    uint16_t ttl, query;
    uint64_t sent_ns;
};

struct trace_hop {
    char address[64];
    uint32_t sent, received;
    uint64_t rtt_sum, rtt_min, rtt_max; /* ns */
    int reached, unreachable;
};

struct trace_state {
    struct probe_io io; /* io.run: NULL once cancelled */
    int v6;
    unsigned ttl, silent;
    int reached, unreachable;
    struct trace_hop hops[TRACE_MAX_HOPS + 1]; /* by ttl */
};

static void trace_defaults(void *opts)
{
    struct trace_opts *o = opts;
    o->max_hops = 16;
    o->queries = 3;
    o->wait_us = 500000;
    o->max_silent = 3;
    o->port = 33434;
}

static const struct cfg_range trace_hops_range = {1, TRACE_MAX_HOPS};
static const struct cfg_range trace_queries_range = {1, 10};
static const struct cfg_range trace_wait_range = {10000, 10 * 1000000LL};
static const struct cfg_range trace_port_range = {1, 65535};

static const struct cfg_field trace_fields[] = {
    {"max_hops", cfg_parse_int, offsetof(struct trace_opts, max_hops), &trace_hops_range},
    {"queries", cfg_parse_int, offsetof(struct trace_opts, queries), &trace_queries_range},
    {"wait", cfg_parse_duration, offsetof(struct trace_opts, wait_us), &trace_wait_range},
    {"max_silent", cfg_parse_int, offsetof(struct trace_opts, max_silent), &trace_hops_range},
    {"port", cfg_parse_int, offsetof(struct trace_opts, port), &trace_port_range},
    {NULL, NULL, 0, NULL},
};

static void trace_target_name(const void *opts, const char *host, char *buf, size_t len)
{
    snprintf(buf, len, "%s", host);
}

static const struct trace_opts *trace__opts(const struct trace_state *st)
{
    return (const void *)st->io.run->check->opts;
}

static void trace__end(struct trace_state *st)
{
    probe_io_end(&st->io);
}

static void trace__report(struct trace_state *st)
{
    struct probe_run *run = st->io.run;
    Faultline__TraceDetail *d = PROBE_DETAIL(run, Faultline__TraceDetail);
    faultline__trace_detail__init(d);
    /* Hops live in the run's text storage: the detail must outlive us. */
    static Faultline__TraceHop *no_hops[1];
    size_t n = st->ttl < TRACE_MAX_HOPS ? st->ttl : TRACE_MAX_HOPS;
    size_t need = n * (sizeof(Faultline__TraceHop) + sizeof(Faultline__TraceHop *));
    d->hops = no_hops;
    if (n && need + 64 * n <= sizeof run->text - run->text_used - 16) {
        size_t off = (run->text_used + 15) & ~(size_t)15;
        Faultline__TraceHop **ptrs = (Faultline__TraceHop **)(void *)(run->text + off);
        Faultline__TraceHop *hops = (Faultline__TraceHop *)(void *)(ptrs + n);
        run->text_used = off + need;
        for (size_t i = 0; i < n; i++) {
            const struct trace_hop *h = &st->hops[i + 1];
            faultline__trace_hop__init(&hops[i]);
            hops[i].ttl = (uint32_t)(i + 1);
            hops[i].address = probe_text(run, h->address);
            hops[i].sent = h->sent;
            hops[i].received = h->received;
            if (h->received) {
                hops[i].rtt_min_us = (uint32_t)(h->rtt_min / 1000);
                hops[i].rtt_avg_us = (uint32_t)(h->rtt_sum / h->received / 1000);
                hops[i].rtt_max_us = (uint32_t)(h->rtt_max / 1000);
                d->last_address = hops[i].address;
            }
            ptrs[i] = &hops[i];
        }
        d->hops = ptrs;
        d->n_hops = n;
    }
    if (!d->last_address)
        d->last_address = probe_text(run, "");
    d->reached = st->reached;
    run->result.detail_case = FAULTLINE__RESULT__DETAIL_TRACE;
    run->result.trace = d;
    const int F = FAULTLINE__STATUS__STATUS_FAIL;
    if (st->reached)
        probe_set(run, FAULTLINE__STATUS__STATUS_OK, FL_FAULT_NONE, NULL);
    else if (st->unreachable)
        probe_set(run, F, FL_FAULT_TRACE_UNREACHABLE, "%s answers unreachable at hop %u",
                  d->last_address, st->ttl);
    else if (d->last_address[0])
        probe_set(run, F, FL_FAULT_TRACE_INCOMPLETE, "trace stops after %s", d->last_address);
    else
        probe_set(run, F, FL_FAULT_TRACE_INCOMPLETE, "no hop answered (up to hop %u)", st->ttl);
    trace__end(st);
}

static void trace__hop(struct trace_state *st);

static void trace__hop_done(struct trace_state *st)
{
    uv_timer_stop(&st->io.timer);
    const struct trace_opts *o = trace__opts(st);
    struct trace_hop *h = &st->hops[st->ttl];
    st->silent = h->received ? 0 : st->silent + 1;
    if (st->reached || st->unreachable || st->ttl >= (unsigned)o->max_hops ||
        st->silent >= (unsigned)o->max_silent) {
        trace__report(st);
        return;
    }
    trace__hop(st);
}

static void trace__on_timeout(uv_timer_t *t)
{
    trace__hop_done(t->data);
}

/* Send this hop's queries with the next TTL. */
static void trace__hop(struct trace_state *st)
{
    const struct trace_opts *o = trace__opts(st);
    st->ttl++;
    int ttl = (int)st->ttl;
    if (st->v6)
        setsockopt(st->io.fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl);
    else
        setsockopt(st->io.fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    struct trace_hop *h = &st->hops[st->ttl];
    for (int q = 0; q < o->queries; q++) {
        struct trace_payload p = {TRACE_MAGIC, (uint16_t)st->ttl, (uint16_t)q, time_mono_ns()};
        if (send(st->io.fd, &p, sizeof p, 0) >= 0)
            h->sent++;
    }
    uv_timer_start(&st->io.timer, trace__on_timeout, (uint64_t)o->wait_us / 1000, 0);
}

static void trace__answer(struct trace_state *st, const struct trace_payload *p,
                          const struct sock_extended_err *ee, uint64_t now)
{
    if (p->magic != TRACE_MAGIC || p->ttl == 0 || p->ttl > TRACE_MAX_HOPS || p->ttl > st->ttl)
        return;
    struct trace_hop *h = &st->hops[p->ttl];
    /* SO_EE_OFFENDER(ee), without casting away const: the offender's
     * address follows the extended error. */
    const struct sockaddr *off = (const struct sockaddr *)(const void *)(ee + 1);
    if (off->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)off)->sin_addr,
                  h->address, sizeof h->address);
    else if (off->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)off)->sin6_addr,
                  h->address, sizeof h->address);
    uint64_t rtt = now - p->sent_ns;
    h->received++;
    h->rtt_sum += rtt;
    if (h->received == 1 || rtt < h->rtt_min)
        h->rtt_min = rtt;
    if (rtt > h->rtt_max)
        h->rtt_max = rtt;
    if (ee->ee_errno == ECONNREFUSED && p->ttl == st->ttl) {
        st->reached = 1;
    } else if (ee->ee_errno != EHOSTUNREACH || (ee->ee_origin == SO_EE_ORIGIN_ICMP &&
                                                ee->ee_type != 11) ||
               (ee->ee_origin == SO_EE_ORIGIN_ICMP6 && ee->ee_type != 3)) {
        /* Not "time exceeded": a router says the target is unreachable. */
        if (ee->ee_errno != ECONNREFUSED && p->ttl == st->ttl)
            st->unreachable = 1;
    }
}

static void trace__on_poll(uv_poll_t *handle, int status, int events)
{
    struct trace_state *st = handle->data;
    if (st->io.ending || !st->io.run)
        return;
    for (;;) {
        struct trace_payload p;
        uint8_t ctrl[512];
        struct iovec iov = {&p, sizeof p};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl,
                            .msg_controllen = sizeof ctrl};
        memset(&p, 0, sizeof p);
        ssize_t n = recvmsg(st->io.fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (n < 0)
            break;
        uint64_t now = time_mono_ns();
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
                if ((size_t)n >= sizeof p)
                    trace__answer(st, &p, (const struct sock_extended_err *)(void *)CMSG_DATA(c),
                                  now);
            }
        }
    }
    /* A plain datagram back from the target would also mean "reached". */
    uint8_t junk[64];
    if (recv(st->io.fd, junk, sizeof junk, MSG_DONTWAIT) >= 0)
        st->reached = 1;
    const struct trace_hop *h = &st->hops[st->ttl];
    if (st->reached || st->unreachable || h->received >= h->sent)
        trace__hop_done(st);
}

static int trace_start(struct probe_run *run)
{
    struct trace_state *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->io.run = run;
    st->v6 = run->addr.ss_family == AF_INET6;
    int fd = socket(run->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int rc = -errno;
        free(st);
        return rc;
    }
    int on = 1;
    if (st->v6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
    else
        setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
    struct sockaddr_storage dst = run->addr;
    uint16_t port = htons((uint16_t)((const struct trace_opts *)(const void *)run->check->opts)->port);
    if (st->v6)
        ((struct sockaddr_in6 *)&dst)->sin6_port = port;
    else
        ((struct sockaddr_in *)&dst)->sin_port = port;
    if (connect(fd, (struct sockaddr *)&dst, run->addrlen) != 0) {
        int rc = -errno;
        close(fd);
        free(st);
        return rc;
    }
    probe_io_start(&st->io, run, st, fd, trace__on_poll);
    trace__hop(st);
    return 0;
}

static void trace_cancel(struct probe_run *run)
{
    struct trace_state *st = run->priv;
    if (st)
        probe_io_cancel(&st->io);
}

const struct probe_ops probe_trace_ops = {
    .name = "trace",
    .type = FAULTLINE__PROBE_TYPE__PROBE_TRACE,
    .fields = trace_fields,
    .defaults = trace_defaults,
    .target_name = trace_target_name,
    .start = trace_start,
    .cancel = trace_cancel,
    .evidence = PROBE_EVIDENCE_PATH,
};
