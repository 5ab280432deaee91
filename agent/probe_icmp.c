/* probe_icmp: N echo requests toward one address; loss and rtt
 * min/avg/max/stddev, as ping(8) reports them.
 *
 * Socket choice, as iputils does: an unprivileged ICMP "ping socket"
 * (SOCK_DGRAM, IPPROTO_ICMP) first.  The kernel returns EACCES for it when
 * the process's group is outside net.ipv4.ping_group_range ("1 0", nobody,
 * by default), and then a raw socket is tried, which needs CAP_NET_RAW.
 * On a ping socket the kernel owns the echo id and delivers only our
 * replies; on a raw socket we see every ICMP packet and match id and
 * source ourselves.  Replies are timed with the kernel's receive
 * timestamp (SO_TIMESTAMPNS), as ping does, not with our wake-up time. */
#include <errno.h>
#include <math.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cfg.h"
#include "faultcode.h"

#define ICMP_MAX_COUNT 100

struct icmp_opts {
    int64_t count;
    int64_t spacing_us;
    int64_t size; /* payload bytes */
    int64_t max_loss;   /* percent of requests that may go unanswered (5) */
    int64_t max_rtt_us; /* average round trip above this fails; 0: no limit */
};

struct icmp_state {
    struct probe_io io; /* io.run: NULL once cancelled */
    int raw, v6;
    uint16_t id, seq_base;
    uint32_t sent, received, unreachable;
    int64_t sent_ns[ICMP_MAX_COUNT]; /* CLOCK_REALTIME, 0 when answered */
    double sum, sumsq, min, max;     /* microseconds */
};

static void icmp_defaults(void *opts)
{
    struct icmp_opts *o = opts;
    o->count = 5;
    o->spacing_us = 200000;
    o->size = 56;
    o->max_loss = 5;
}

static const struct cfg_range icmp_count_range = {1, ICMP_MAX_COUNT};
static const struct cfg_range icmp_spacing_range = {1000, 10 * 1000000LL};
static const struct cfg_range icmp_size_range = {16, 1472};
static const struct cfg_range icmp_loss_range = {0, 99};
static const struct cfg_range icmp_rtt_range = {0, 60 * 1000000LL};

static const struct cfg_field icmp_fields[] = {
    {"count", cfg_parse_int, offsetof(struct icmp_opts, count), &icmp_count_range},
    {"spacing", cfg_parse_duration, offsetof(struct icmp_opts, spacing_us), &icmp_spacing_range},
    {"size", cfg_parse_int, offsetof(struct icmp_opts, size), &icmp_size_range},
    {"max_loss", cfg_parse_int, offsetof(struct icmp_opts, max_loss), &icmp_loss_range},
    {"max_rtt", cfg_parse_duration, offsetof(struct icmp_opts, max_rtt_us), &icmp_rtt_range},
    {NULL, NULL, 0, NULL},
};

static void icmp_target_name(const void *opts, const char *host, char *buf, size_t len)
{
    snprintf(buf, len, "%s", host);
}

static int64_t icmp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint16_t icmp__checksum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

static int icmp__open(struct icmp_state *s, int family)
{
    int proto = family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
    s->io.fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    if (s->io.fd < 0 && (errno == EACCES || errno == EPERM)) {
        s->io.fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
        s->raw = 1;
    }
    if (s->io.fd < 0)
        return -errno;
    int on = 1;
    setsockopt(s->io.fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    if (family == AF_INET6) {
        setsockopt(s->io.fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
        if (s->raw) {
            /* Only echo replies and errors, not every ICMPv6 packet. */
            struct icmp6_filter f;
            ICMP6_FILTER_SETBLOCKALL(&f);
            ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
            ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &f);
            setsockopt(s->io.fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof f);
        }
    } else {
        setsockopt(s->io.fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
    }
    return 0;
}

static void icmp__finish(struct icmp_state *s);

static void icmp__send(struct icmp_state *s)
{
    struct probe_run *run = s->io.run;
    const struct icmp_opts *o = (const void *)run->check->opts;
    uint8_t pkt[8 + 1472];
    size_t len = 8 + (size_t)o->size;
    memset(pkt, 0, len);
    pkt[0] = s->v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
    uint16_t seq = (uint16_t)(s->seq_base + s->sent);
    uint16_t id = htons(s->id), nseq = htons(seq);
    memcpy(pkt + 4, &id, 2);
    memcpy(pkt + 6, &nseq, 2);
    for (size_t i = 8; i < len; i++)
        pkt[i] = (uint8_t)i;
    /* The kernel computes the checksum for ping sockets and ICMPv6. */
    if (!s->v6 && s->raw) {
        uint16_t ck = icmp__checksum(pkt, len);
        memcpy(pkt + 2, &ck, 2);
    }
    s->sent_ns[s->sent] = icmp__now_ns();
    ssize_t n = sendto(s->io.fd, pkt, len, 0, (const struct sockaddr *)&run->addr, run->addrlen);
    if (n < 0)
        s->sent_ns[s->sent] = 0; /* counted as sent and lost, as ping does */
    s->sent++;
}

/* Match a reply to one of our requests; returns its index or -1. */
static int icmp__match(struct icmp_state *s, const uint8_t *icmp, size_t len)
{
    if (len < 8)
        return -1;
    uint16_t id, seq;
    memcpy(&id, icmp + 4, 2);
    memcpy(&seq, icmp + 6, 2);
    /* On a ping socket the kernel already matched the id for us. */
    if (s->raw && ntohs(id) != s->id)
        return -1;
    uint16_t idx = (uint16_t)(ntohs(seq) - s->seq_base);
    return idx < s->sent ? idx : -1;
}

static void icmp__reply(struct icmp_state *s, int idx, int64_t rx_ns)
{
    if (s->sent_ns[idx] == 0)
        return; /* duplicate, or a request that never left */
    double rtt = (double)(rx_ns - s->sent_ns[idx]) / 1000.0;
    if (rtt < 0)
        rtt = 0;
    s->sent_ns[idx] = 0;
    s->received++;
    s->sum += rtt;
    s->sumsq += rtt * rtt;
    if (s->received == 1 || rtt < s->min)
        s->min = rtt;
    if (rtt > s->max)
        s->max = rtt;
}

static void icmp__read_errqueue(struct icmp_state *s)
{
    uint8_t buf[256], ctrl[512];
    for (;;) {
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl,
                            .msg_controllen = sizeof ctrl};
        if (recvmsg(s->io.fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;
        /* The queued packet is our request; an error for it means a
         * router or the target said "unreachable". */
        if (icmp__match(s, buf, 8) >= 0 || !s->raw)
            s->unreachable++;
    }
}

static void icmp__read(struct icmp_state *s)
{
    uint8_t buf[2048], ctrl[512];
    for (;;) {
        struct sockaddr_storage from;
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                            .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof ctrl};
        ssize_t n = recvmsg(s->io.fd, &mh, MSG_DONTWAIT);
        if (n < 0)
            return;
        int64_t rx_ns = icmp__now_ns();
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
                struct timespec ts;
                memcpy(&ts, CMSG_DATA(c), sizeof ts);
                rx_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
            }
        }
        const uint8_t *icmp = buf;
        size_t len = (size_t)n;
        if (!s->v6 && s->raw) { /* raw IPv4 sockets deliver the IP header */
            if (len < sizeof(struct ip))
                continue;
            size_t hl = (size_t)(buf[0] & 0x0f) * 4;
            if (hl < 20 || hl > len)
                continue;
            icmp += hl;
            len -= hl;
        }
        if (len < 8)
            continue;
        /* A raw socket sees every host's replies: the source must be ours. */
        if (s->raw) {
            const struct sockaddr_storage *to = &s->io.run->addr;
            if (s->v6 ? memcmp(&((struct sockaddr_in6 *)&from)->sin6_addr,
                               &((const struct sockaddr_in6 *)to)->sin6_addr, 16) != 0
                      : ((struct sockaddr_in *)&from)->sin_addr.s_addr !=
                            ((const struct sockaddr_in *)to)->sin_addr.s_addr) {
                if (icmp[0] != (s->v6 ? ICMP6_DST_UNREACH : ICMP_DEST_UNREACH))
                    continue;
            }
        }
        uint8_t reply = s->v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY;
        uint8_t unreach = s->v6 ? ICMP6_DST_UNREACH : ICMP_DEST_UNREACH;
        if (icmp[0] == reply) {
            int idx = icmp__match(s, icmp, len);
            if (idx >= 0)
                icmp__reply(s, idx, rx_ns);
        } else if (icmp[0] == unreach && s->raw) {
            /* The error quotes our request: IPv4 header + 8 bytes, or the
             * IPv6 header (40) + 8 bytes. */
            size_t inner = 8;
            if (!s->v6 && len >= 8 + 20)
                inner += (size_t)(icmp[8] & 0x0f) * 4;
            else if (s->v6)
                inner += 40;
            if (len >= inner + 8 && icmp__match(s, icmp + inner, 8) >= 0)
                s->unreachable++;
        }
    }
}

static void icmp__on_poll(uv_poll_t *h, int status, int events)
{
    struct icmp_state *s = h->data;
    if (!s->io.run)
        return;
    icmp__read_errqueue(s);
    icmp__read(s);
    const struct icmp_opts *o = (const void *)s->io.run->check->opts;
    if (s->sent == (uint32_t)o->count && s->received + s->unreachable >= s->sent)
        icmp__finish(s);
}

static void icmp__on_timer(uv_timer_t *t)
{
    struct icmp_state *s = t->data;
    const struct icmp_opts *o = (const void *)s->io.run->check->opts;
    if (s->sent < (uint32_t)o->count) {
        icmp__send(s);
        uint64_t next = s->sent < (uint32_t)o->count ? (uint64_t)o->spacing_us / 1000
                                                      : (uint64_t)s->io.run->check->timeout_us / 1000;
        uv_timer_start(&s->io.timer, icmp__on_timer, next ? next : 1, 0);
        return;
    }
    icmp__finish(s); /* the timeout after the last request */
}

static void icmp__finish(struct icmp_state *s)
{
    struct probe_run *run = s->io.run;
    if (s->io.ending)
        return;
    Faultline__IcmpDetail *d = PROBE_DETAIL(run, Faultline__IcmpDetail);
    faultline__icmp_detail__init(d);
    d->sent = s->sent;
    d->received = s->received;
    d->raw_socket = s->raw;
    d->unreachable = s->unreachable;
    if (s->received) {
        double avg = s->sum / s->received;
        double var = s->sumsq / s->received - avg * avg;
        d->rtt_min_us = (uint32_t)lround(s->min);
        d->rtt_avg_us = (uint32_t)lround(avg);
        d->rtt_max_us = (uint32_t)lround(s->max);
        d->rtt_stddev_us = (uint32_t)lround(var > 0 ? sqrt(var) : 0);
    }
    run->result.detail_case = FAULTLINE__RESULT__DETAIL_ICMP;
    run->result.icmp = d;
    const struct icmp_opts *o = (const void *)run->check->opts;
    unsigned lost = s->sent - s->received;
    if (s->received && lost * 100 <= (unsigned)o->max_loss * s->sent) {
        if (o->max_rtt_us && d->rtt_avg_us > o->max_rtt_us)
            probe_set(run, FAULTLINE__STATUS__STATUS_FAIL, FL_FAULT_ICMP_HIGH_RTT,
                      "average rtt %.3f ms above the limit of %.3f ms", d->rtt_avg_us / 1000.0,
                      (double)o->max_rtt_us / 1000.0);
        else
            probe_set(run, FAULTLINE__STATUS__STATUS_OK, FL_FAULT_NONE, NULL);
    } else if (s->received == 0 && s->unreachable)
        probe_set(run, FAULTLINE__STATUS__STATUS_FAIL, FL_FAULT_ICMP_UNREACHABLE,
                  "destination unreachable (%u of %u)", s->unreachable, s->sent);
    else if (s->received == 0)
        probe_set(run, FAULTLINE__STATUS__STATUS_FAIL, FL_FAULT_ICMP_NO_REPLY,
                  "no reply to %u echo requests", s->sent);
    else
        probe_set(run, FAULTLINE__STATUS__STATUS_FAIL, FL_FAULT_ICMP_LOSS,
                  "%u of %u echo requests lost", lost, s->sent);
    probe_io_end(&s->io);
}

static int icmp_start(struct probe_run *run)
{
    struct icmp_state *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->io.run = run;
    s->io.fd = -1;
    s->v6 = run->addr.ss_family == AF_INET6;
    int rc = icmp__open(s, run->addr.ss_family);
    if (rc < 0) {
        free(s);
        return rc;
    }
    uint16_t rnd[2];
    if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
        rnd[0] = rnd[1] = (uint16_t)getpid();
    s->id = rnd[0];
    s->seq_base = rnd[1];
    probe_io_start(&s->io, run, s, s->io.fd, icmp__on_poll);
    icmp__on_timer(&s->io.timer); /* first request now */
    return 0;
}

static void icmp_cancel(struct probe_run *run)
{
    struct icmp_state *s = run->priv;
    if (s)
        probe_io_cancel(&s->io);
}

const struct probe_ops probe_icmp_ops = {
    .name = "icmp",
    .type = FAULTLINE__PROBE_TYPE__PROBE_ICMP,
    .fields = icmp_fields,
    .defaults = icmp_defaults,
    .validate = NULL,
    .target_name = icmp_target_name,
    .start = icmp_start,
    .cancel = icmp_cancel,
    .trace_on_failure = 1,
};

_Static_assert(sizeof(struct icmp_opts) <= AGENT_MAX_OPTS, "icmp options fit in a check");
