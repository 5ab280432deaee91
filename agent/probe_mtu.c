/* probe_mtu: the path MTU toward one address, and whether the path is an
 * MTU black hole.
 *
 * UDP probes to an unused port with the DF bit set (IP_PMTUDISC_PROBE: DF
 * regardless of what the kernel has cached, so any size can be tried), and
 * IP_RECVERR so the ICMP answers come back on the socket's error queue:
 * "fragmentation needed" / "packet too big" as EMSGSIZE with the next-hop
 * MTU in ee_info, the target's "port unreachable" as ECONNREFUSED, which
 * means the probe got there.  As tracepath does, but with a fallback:
 * when a size gets no answer at all, it is not taken on trust that the
 * path said nothing; the largest size that still gets through is found by
 * a binary search of sizes (packetization-layer PMTUD, RFC 4821 / 8899).
 * The path is named a black hole only when a confirmation agrees: the lost
 * size, sent MTU_CONFIRM_ROUNDS more times, never arrives, and then the
 * size found still does.  On a lossy path a big probe lost twice is no
 * evidence.  The confirmation asks the target for one answer only: hosts
 * rate-limit their ICMP errors (Linux: a burst of 6, then 1 a second).
 * Each probe goes to its own port on a re-connected socket, so a late
 * answer to an earlier probe cannot be taken for this one (the kernel
 * matches ICMP errors to the 4-tuple). */
#include <errno.h>
#include <time.h> /* before linux/errqueue.h, which needs struct timespec */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cfg.h"
#include "faultcode.h"
#include "route.h"

#define MTU_MAX 9216
#define MTU_CONFIRM_ROUNDS 3

struct mtu_opts {
    int64_t port;       /* first destination port */
    int64_t wait_us;    /* for the answer to one probe */
    int64_t tries;      /* probes of one size before it counts as lost */
    int64_t expect_mtu; /* 0: no expectation */
};

_Static_assert(sizeof(struct mtu_opts) <= AGENT_MAX_OPTS, "mtu options fit in a check");

enum mtu_phase { MTU_FOLLOW, MTU_FLOOR, MTU_SEARCH, MTU_CONFIRM };
enum mtu_answer { MTU_NONE, MTU_REACHED, MTU_TOO_BIG, MTU_UNREACHABLE };

struct mtu_state {
    struct probe_io io; /* io.run: NULL once cancelled */
    int v6;
    struct route_info route;
    enum mtu_phase phase;
    unsigned size, tries_left, probes, port;
    unsigned lo, hi;        /* search: lo gets through, hi does not */
    unsigned icmp_mtu;      /* last next-hop MTU reported */
    unsigned lost_big;      /* the size that first vanished */
    int icmp_for_lost;      /* an ICMP too-big came for a size that otherwise vanished */
    unsigned confirmed;     /* confirmation: times the lost size was lost again */
    int black_hole;         /* confirmed */
    enum mtu_answer answer;
    int unreach_errno;
};

static void mtu_defaults(void *opts)
{
    struct mtu_opts *o = opts;
    o->port = 33434;
    o->wait_us = 400000;
    o->tries = 2;
    o->expect_mtu = 0;
}

static const struct cfg_range mtu_port_range = {1, 65000};
static const struct cfg_range mtu_wait_range = {10000, 10 * 1000000LL};
static const struct cfg_range mtu_tries_range = {1, 5};
static const struct cfg_range mtu_expect_range = {0, MTU_MAX};

static const struct cfg_field mtu_fields[] = {
    {"port", cfg_parse_int, offsetof(struct mtu_opts, port), &mtu_port_range},
    {"wait", cfg_parse_duration, offsetof(struct mtu_opts, wait_us), &mtu_wait_range},
    {"tries", cfg_parse_int, offsetof(struct mtu_opts, tries), &mtu_tries_range},
    {"expect_mtu", cfg_parse_int, offsetof(struct mtu_opts, expect_mtu), &mtu_expect_range},
    {NULL, NULL, 0, NULL},
};

static void mtu_target_name(const void *opts, const char *host, char *buf, size_t len)
{
    snprintf(buf, len, "%s", host);
}

static const struct mtu_opts *mtu__opts(const struct mtu_state *st)
{
    return (const void *)st->io.run->check->opts;
}

static unsigned mtu__header(const struct mtu_state *st)
{
    return st->v6 ? 40 + 8 : 20 + 8;
}

/* Send one probe of st->size bytes (IP packet) to a port of its own. */
static int mtu__send(struct mtu_state *st)
{
    static const uint8_t zeros[MTU_MAX];
    struct sockaddr_storage dst = st->io.run->addr;
    uint16_t port = htons((uint16_t)(mtu__opts(st)->port + st->probes % 512));
    if (st->v6)
        ((struct sockaddr_in6 *)&dst)->sin6_port = port;
    else
        ((struct sockaddr_in *)&dst)->sin_port = port;
    /* Forget what the previous connection's queue still holds. */
    uint8_t junk[64];
    while (recv(st->io.fd, junk, sizeof junk, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0)
        ;
    if (connect(st->io.fd, (struct sockaddr *)&dst, st->io.run->addrlen) != 0)
        return -errno;
    st->probes++;
    st->answer = MTU_NONE;
    size_t payload = st->size > mtu__header(st) ? st->size - mtu__header(st) : 0;
    if (send(st->io.fd, zeros, payload, 0) < 0 && errno != EMSGSIZE)
        return -errno;
    return 0;
}

static void mtu__end(struct mtu_state *st)
{
    probe_io_end(&st->io);
}

static void mtu__report(struct mtu_state *st, unsigned path_mtu, const char *method)
{
    struct probe_run *run = st->io.run;
    const struct mtu_opts *o = mtu__opts(st);
    Faultline__MtuDetail *d = PROBE_DETAIL(run, Faultline__MtuDetail);
    faultline__mtu_detail__init(d);
    d->path_mtu = path_mtu;
    d->interface = probe_text(run, st->route.ifname);
    d->interface_mtu = st->route.if_mtu;
    d->route_mtu = st->route.route_mtu;
    d->icmp_mtu = st->icmp_mtu;
    d->black_hole = st->black_hole;
    d->probes = st->probes;
    d->method = probe_text(run, method);
    run->result.detail_case = FAULTLINE__RESULT__DETAIL_MTU;
    run->result.mtu = d;
    const int F = FAULTLINE__STATUS__STATUS_FAIL;
    if (!path_mtu)
        probe_set(run, F, FL_FAULT_MTU_UNREACHABLE, "no probe reached %s%s%s", run->address,
                  st->unreach_errno ? ": " : "", st->unreach_errno ? strerror(st->unreach_errno) : "");
    else if (d->black_hole)
        probe_set(run, F, FL_FAULT_MTU_BLACKHOLE,
                  "black hole: packets over %u bytes vanish without ICMP; path MTU %u", path_mtu,
                  path_mtu);
    else if (o->expect_mtu && path_mtu < (unsigned)o->expect_mtu)
        probe_set(run, F, FL_FAULT_MTU_LOW, "path MTU %u, expected %d", path_mtu,
                  (int)o->expect_mtu);
    else
        probe_set(run, FAULTLINE__STATUS__STATUS_OK, FL_FAULT_NONE, NULL);
    mtu__end(st);
}

static void mtu__next(struct mtu_state *st);

/* Decide what the last probe's answer (or silence) means. */
/* Following the ICMP answers down from the first size.
 * 1 when it reported, 0 to send the next probe. */
static int mtu__follow(struct mtu_state *st)
{
    unsigned floor_size = st->v6 ? 1280 : 576;
    if (st->answer == MTU_REACHED) {
        mtu__report(st, st->size, "icmp");
        return 1;
    }
    if (st->answer == MTU_TOO_BIG && st->icmp_mtu >= floor_size && st->icmp_mtu < st->size) {
        st->size = st->icmp_mtu;
        st->tries_left = (unsigned)mtu__opts(st)->tries;
        return 0;
    }
    if (st->answer == MTU_UNREACHABLE) {
        mtu__report(st, 0, "icmp");
        return 1;
    }
    if (st->answer == MTU_NONE && --st->tries_left > 0)
        return 0;
    /* This size vanished: is the path down, or only for big packets? */
    st->lost_big = st->hi = st->size;
    st->phase = MTU_FLOOR;
    st->size = floor_size < st->hi ? floor_size : st->hi - 1;
    st->tries_left = (unsigned)mtu__opts(st)->tries;
    return 0;
}

/* The smallest size the family allows: is the path up at all?
 * 1 when it reported, 0 to send the next probe. */
static int mtu__floor(struct mtu_state *st)
{
    if (st->answer == MTU_REACHED) {
        st->lo = st->size;
        st->phase = MTU_SEARCH;
        st->size = (st->lo + st->hi) / 2;
        st->tries_left = (unsigned)mtu__opts(st)->tries;
        return 0;
    }
    if (st->answer == MTU_NONE && --st->tries_left > 0)
        return 0;
    mtu__report(st, 0, "search");
    return 1;
}

/* Bisecting between the largest size that arrived and the smallest lost.
 * 1 when it reported, 0 to send the next probe. */
static int mtu__search(struct mtu_state *st)
{
    if (st->answer == MTU_REACHED) {
        st->lo = st->size;
    } else if (st->answer == MTU_NONE && --st->tries_left > 0) {
        return 0;
    } else {
        if (st->answer == MTU_TOO_BIG)
            st->icmp_for_lost = 1;
        st->hi = st->size;
    }
    if (st->hi - st->lo <= 1) {
        if (st->icmp_for_lost) { /* the path spoke: no black hole */
            mtu__report(st, st->lo, "search");
            return 1;
        }
        st->phase = MTU_CONFIRM;
        st->size = st->lost_big;
        return 0;
    }
    st->size = (st->lo + st->hi) / 2;
    st->tries_left = (unsigned)mtu__opts(st)->tries;
    return 0;
}

/* The lost size once more, then the size found: a black hole, or loss?
 * 1 when it reported, 0 to send the next probe. */
static int mtu__confirm(struct mtu_state *st)
{
    if (st->size == st->lost_big) {
        if (st->answer == MTU_REACHED) { /* it was loss, not size */
            mtu__report(st, st->lost_big, "search");
            return 1;
        }
        if (st->answer == MTU_TOO_BIG) {
            st->icmp_for_lost = 1;
            mtu__report(st, st->lo, "search");
            return 1;
        }
        if (++st->confirmed >= MTU_CONFIRM_ROUNDS) {
            st->size = st->lo;
            st->tries_left = (unsigned)mtu__opts(st)->tries;
        }
        return 0;
    }
    if (st->answer == MTU_NONE && --st->tries_left > 0)
        return 0;
    /* The size found arrives still: a black hole.  Lost as well: the
     * path is lossy, and no black hole is shown. */
    st->black_hole = st->answer == MTU_REACHED;
    mtu__report(st, st->lo, "search");
    return 1;
}

static void mtu__step(struct mtu_state *st)
{
    static int (*const phases[])(struct mtu_state *) = {
        [MTU_FOLLOW] = mtu__follow, [MTU_FLOOR] = mtu__floor,
        [MTU_SEARCH] = mtu__search, [MTU_CONFIRM] = mtu__confirm,
    };
    if (!phases[st->phase](st))
        mtu__next(st);
}

static void mtu__on_timeout(uv_timer_t *t)
{
    struct mtu_state *st = t->data;
    st->answer = MTU_NONE;
    mtu__step(st);
}

static void mtu__next(struct mtu_state *st)
{
    int rc = mtu__send(st);
    if (rc < 0) {
        st->unreach_errno = -rc;
        mtu__report(st, 0, "icmp");
        return;
    }
    uv_timer_start(&st->io.timer, mtu__on_timeout, (uint64_t)mtu__opts(st)->wait_us / 1000, 0);
}

static void mtu__on_poll(uv_poll_t *h, int status, int events)
{
    struct mtu_state *st = h->data;
    if (st->io.ending || !st->io.run)
        return;
    uint8_t buf[256], ctrl[512];
    for (;;) {
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl,
                            .msg_controllen = sizeof ctrl};
        ssize_t n = recvmsg(st->io.fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (n < 0) {
            /* Not an error-queue entry: an answer from the target itself. */
            if (recv(st->io.fd, buf, sizeof buf, MSG_DONTWAIT) >= 0)
                st->answer = MTU_REACHED;
            break;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (!((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                  (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)))
                continue;
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(c), sizeof ee);
            if (ee.ee_errno == EMSGSIZE) {
                /* From a router (ICMP), or from our own stack: either way
                 * ee_info is the MTU of the next link. */
                st->answer = MTU_TOO_BIG;
                st->icmp_mtu = ee.ee_info;
            } else if (ee.ee_errno == ECONNREFUSED) {
                st->answer = MTU_REACHED;
            } else if (ee.ee_errno == EHOSTUNREACH || ee.ee_errno == ENETUNREACH ||
                       ee.ee_errno == EACCES) {
                st->answer = MTU_UNREACHABLE;
                st->unreach_errno = (int)ee.ee_errno;
            }
        }
    }
    if (st->answer != MTU_NONE) {
        uv_timer_stop(&st->io.timer);
        mtu__step(st);
    }
}

static int mtu_start(struct probe_run *run)
{
    struct mtu_state *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->io.run = run;
    st->v6 = run->addr.ss_family == AF_INET6;
    int rc = route_lookup(&run->addr, &st->route);
    if (rc < 0) {
        free(st);
        return rc;
    }
    int fd = socket(run->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        free(st);
        return rc;
    }
    int on = 1, probe = st->v6 ? IPV6_PMTUDISC_PROBE : IP_PMTUDISC_PROBE;
    if (st->v6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &probe, sizeof probe);
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
    } else {
        setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe);
        setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
    }
    st->size = st->route.if_mtu > MTU_MAX ? MTU_MAX : st->route.if_mtu;
    st->tries_left = (unsigned)((const struct mtu_opts *)(const void *)run->check->opts)->tries;
    st->phase = MTU_FOLLOW;
    probe_io_start(&st->io, run, st, fd, mtu__on_poll);
    mtu__next(st);
    return 0;
}

static void mtu_cancel(struct probe_run *run)
{
    struct mtu_state *st = run->priv;
    if (st)
        probe_io_cancel(&st->io);
}

const struct probe_ops probe_mtu_ops = {
    .name = "mtu",
    .type = FAULTLINE__PROBE_TYPE__PROBE_MTU,
    .fields = mtu_fields,
    .defaults = mtu_defaults,
    .target_name = mtu_target_name,
    .start = mtu_start,
    .cancel = mtu_cancel,
};
