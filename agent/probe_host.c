/* probe_host: this host's own TCP health over a window: the deltas of the
 * kernel's TCP counters (/proc/net/snmp, /proc/net/netstat, the numbers
 * nstat shows), TCP sockets per state from sock_diag (as ss counts them),
 * the TCP sysctls that shape connection behaviour, interface MTUs and the
 * default routes.  A run reads the counters, waits `window`, reads them
 * again: every result stands on its own, nothing is carried between runs.
 * Reading procfs and one netlink dump are quick enough for the loop. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "agent.h"
#include "cfg.h"
#include "faultcode.h"
#include "log.h"

#define HOST_MAX_COUNTERS 64
#define HOST_STATES 12

struct host_opts {
    int64_t window_us;
    int64_t max_retrans_permille; /* of OutSegs, when at least 100 were sent */
    int64_t min_estab_percent;    /* of connections (not LISTEN, TIME_WAIT, CLOSE), when at least 10 */
};

_Static_assert(sizeof(struct host_opts) <= AGENT_MAX_OPTS, "host options fit in a check");

/* The counters reported, as "Section:Name" of /proc/net/{snmp,netstat}. */
static const char *const host_counters[] = {
    "Tcp:ActiveOpens",   "Tcp:PassiveOpens",     "Tcp:AttemptFails",      "Tcp:EstabResets",
    "Tcp:CurrEstab",     "Tcp:InSegs",           "Tcp:OutSegs",           "Tcp:RetransSegs",
    "Tcp:InErrs",        "Tcp:OutRsts",          "TcpExt:TCPSynRetrans",  "TcpExt:ListenDrops",
    "TcpExt:ListenOverflows", "TcpExt:TCPTimeouts", "TcpExt:TCPLostRetransmit",
    "TcpExt:TCPAbortOnTimeout", "TcpExt:TCPAbortOnData", "TcpExt:TCPFastRetrans",
    "TcpExt:TCPSackRecovery",
};
#define HOST_NCOUNTERS (sizeof host_counters / sizeof host_counters[0])

static const char *const host_sysctls[] = {
    "net/ipv4/tcp_syn_retries",   "net/ipv4/tcp_synack_retries", "net/ipv4/tcp_keepalive_time",
    "net/ipv4/tcp_keepalive_intvl", "net/ipv4/tcp_keepalive_probes", "net/ipv4/tcp_fin_timeout",
    "net/ipv4/tcp_tw_reuse",      "net/core/somaxconn",
};
#define HOST_NSYSCTLS (sizeof host_sysctls / sizeof host_sysctls[0])

static const char *const host_state_names[HOST_STATES] = {
    "UNKNOWN",   "ESTABLISHED", "SYN_SENT", "SYN_RECV",   "FIN_WAIT1", "FIN_WAIT2",
    "TIME_WAIT", "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN",    "CLOSING",
};

struct host_state {
    struct probe_run *run; /* NULL once cancelled */
    uv_timer_t timer;
    uint64_t before[HOST_NCOUNTERS];
    int have[HOST_NCOUNTERS];
};

static void host_defaults(void *opts)
{
    struct host_opts *o = opts;
    o->window_us = 1000000;
    o->max_retrans_permille = 20;
    o->min_estab_percent = 90;
}

static const struct cfg_range host_window_range = {10000, 60 * 1000000LL};
static const struct cfg_range host_permille_range = {0, 1000};
static const struct cfg_range host_percent_range = {0, 100};

static const struct cfg_field host_fields[] = {
    {"window", cfg_parse_duration, offsetof(struct host_opts, window_us), &host_window_range},
    {"max_retrans_permille", cfg_parse_int, offsetof(struct host_opts, max_retrans_permille),
     &host_permille_range},
    {"min_estab_percent", cfg_parse_int, offsetof(struct host_opts, min_estab_percent),
     &host_percent_range},
    {NULL, NULL, 0, NULL},
};

static void host_target_name(const void *opts, const char *host, char *buf, size_t len)
{
    snprintf(buf, len, "%s", host);
}

/* One run, for this host: no address to probe. */
static int host_addresses(const void *opts, enum agent_family family,
                          struct sockaddr_storage *out, size_t max)
{
    memset(out, 0, sizeof *out);
    out->ss_family = AF_UNSPEC;
    return max ? 1 : 0;
}

/* Read the counters named in host_counters from one /proc file whose lines
 * come in pairs: "Tcp: Name1 Name2 ..." then "Tcp: 1 2 ...". */
static void host__read_pairs(const char *path, uint64_t *values, int *have)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    char names[4096], nums[4096];
    while (fgets(names, sizeof names, f) && fgets(nums, sizeof nums, f)) {
        char *sp1, *sp2;
        char *section = strtok_r(names, " \n", &sp1);
        char *num_section = strtok_r(nums, " \n", &sp2);
        if (!section || !num_section || strcmp(section, num_section) != 0)
            continue;
        size_t slen = strlen(section) - 1; /* without ':' */
        char *name, *num;
        while ((name = strtok_r(NULL, " \n", &sp1)) && (num = strtok_r(NULL, " \n", &sp2))) {
            for (size_t i = 0; i < HOST_NCOUNTERS; i++) {
                const char *c = host_counters[i];
                if (strncmp(c, section, slen) == 0 && c[slen] == ':' &&
                    strcmp(c + slen + 1, name) == 0) {
                    values[i] = strtoull(num, NULL, 10);
                    have[i] = 1;
                }
            }
        }
    }
    fclose(f);
}

static void host__read_counters(uint64_t *values, int *have)
{
    memset(have, 0, sizeof(int) * HOST_NCOUNTERS);
    host__read_pairs("/proc/net/snmp", values, have);
    host__read_pairs("/proc/net/netstat", values, have);
}

/* ---- sock_diag: TCP sockets per state ------------------------------------ */

static int host__diag_msg(const struct nlmsghdr *nlh, void *data)
{
    uint64_t *states = data;
    const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
    if (nlh->nlmsg_type == SOCK_DIAG_BY_FAMILY && m->idiag_state < HOST_STATES)
        states[m->idiag_state]++;
    return MNL_CB_OK;
}

static int host__count_states(uint64_t *states)
{
    struct mnl_socket *nl = mnl_socket_open(NETLINK_SOCK_DIAG);
    if (!nl)
        return -errno;
    int rc = 0;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        rc = -errno;
        goto out;
    }
    for (int fam = 0; fam < 2 && rc == 0; fam++) {
        char buf[16384];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = (unsigned)(fam + 1);
        struct inet_diag_req_v2 *req = mnl_nlmsg_put_extra_header(nlh, sizeof *req);
        req->sdiag_family = fam ? AF_INET6 : AF_INET;
        req->sdiag_protocol = IPPROTO_TCP;
        req->idiag_states = ~0u;
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
            rc = -errno;
            break;
        }
        ssize_t n;
        while ((n = mnl_socket_recvfrom(nl, buf, sizeof buf)) > 0) {
            int r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, mnl_socket_get_portid(nl),
                               host__diag_msg, states);
            if (r <= MNL_CB_STOP) {
                if (r < 0)
                    rc = -errno;
                break;
            }
        }
    }
out:
    mnl_socket_close(nl);
    return rc;
}

/* ---- routes and interfaces --------------------------------------------- */

static void host__default_v4(char *out, size_t len)
{
    out[0] = 0;
    FILE *f = fopen("/proc/net/route", "re");
    if (!f)
        return;
    char line[256], ifname[IF_NAMESIZE + 1];
    unsigned dst, gw, flags, mask;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%16s %x %x %x %*d %*d %*d %x", ifname, &dst, &gw, &flags, &mask) == 5 &&
            dst == 0 && mask == 0) {
            unsigned char *g = (unsigned char *)&gw;
            snprintf(out, len, "via %u.%u.%u.%u dev %s", g[0], g[1], g[2], g[3], ifname);
            break;
        }
    }
    fclose(f);
}

static void host__default_v6(char *out, size_t len)
{
    out[0] = 0;
    FILE *f = fopen("/proc/net/ipv6_route", "re");
    if (!f)
        return;
    char dst[33], gw[33], ifname[IF_NAMESIZE + 1];
    unsigned plen;
    while (fscanf(f, "%32s %x %*s %*s %32s %*s %*s %*s %*s %16s", dst, &plen, gw, ifname) == 4) {
        if (plen == 0 && strspn(dst, "0") == 32 && strcmp(ifname, "lo") != 0) {
            char pretty[40];
            size_t o = 0;
            for (int i = 0; i < 32; i += 4)
                o += (size_t)snprintf(pretty + o, sizeof pretty - o, "%s%.4s", i ? ":" : "", gw + i);
            snprintf(out, len, "via %s dev %s", pretty, ifname);
            break;
        }
    }
    fclose(f);
}

/* ---- the run --------------------------------------------------------------- */

struct host_block { /* everything the detail points into, freed with the run */
    Faultline__Counter counters[HOST_NCOUNTERS], states[HOST_STATES];
    Faultline__Counter *counter_ptrs[HOST_NCOUNTERS], *state_ptrs[HOST_STATES];
    Faultline__Label sysctls[HOST_NSYSCTLS], mtus[32];
    Faultline__Label *sysctl_ptrs[HOST_NSYSCTLS], *mtu_ptrs[32];
    char sysctl_values[HOST_NSYSCTLS][24];
    char mtu_names[32][IF_NAMESIZE], mtu_values[32][12];
    char route4[128], route6[128];
};

/* The deltas the host check judges by. */
struct host_deltas {
    int64_t retrans, out_segs, listen_drops;
};

/* The counters that moved since the window began. */
static void host__fill_counters(const struct host_state *st, struct host_block *b,
                                Faultline__HostDetail *d, struct host_deltas *deltas)
{
    uint64_t after[HOST_NCOUNTERS];
    int have[HOST_NCOUNTERS];
    host__read_counters(after, have);
    for (size_t i = 0; i < HOST_NCOUNTERS; i++) {
        if (!have[i] || !st->have[i])
            continue;
        Faultline__Counter *c = &b->counters[d->n_counters];
        faultline__counter__init(c);
        c->name = (char *)(uintptr_t)host_counters[i];
        c->value = after[i];
        c->delta = (int64_t)(after[i] - st->before[i]);
        b->counter_ptrs[d->n_counters++] = c;
        if (strcmp(host_counters[i], "Tcp:RetransSegs") == 0)
            deltas->retrans = c->delta;
        else if (strcmp(host_counters[i], "Tcp:OutSegs") == 0)
            deltas->out_segs = c->delta;
        else if (strcmp(host_counters[i], "TcpExt:ListenDrops") == 0)
            deltas->listen_drops = c->delta;
    }
    d->counters = b->counter_ptrs;
}

/* TCP sockets by state; the sockets that count for the established share. */
static uint64_t host__fill_states(struct host_block *b, Faultline__HostDetail *d)
{
    uint64_t states[HOST_STATES] = {0};
    uint64_t sockets = 0;
    if (host__count_states(states) == 0) {
        for (int s = 1; s < HOST_STATES; s++) {
            Faultline__Counter *c = &b->states[d->n_states];
            faultline__counter__init(c);
            c->name = (char *)(uintptr_t)host_state_names[s];
            c->value = states[s];
            b->state_ptrs[d->n_states++] = c;
            /* TIME_WAIT is the normal end of every short connection (the
             * agent's own probes leave dozens) and CLOSE a socket not yet
             * connected: neither says anything about the host's health. */
            if (s != TCP_LISTEN && s != TCP_TIME_WAIT && s != TCP_CLOSE)
                sockets += states[s];
        }
        d->established_share = sockets ? (double)states[TCP_ESTABLISHED] / (double)sockets : 1.0;
    }
    d->states = b->state_ptrs;
    return sockets;
}

static void host__fill_sysctls(struct host_block *b, Faultline__HostDetail *d)
{
    for (size_t i = 0; i < HOST_NSYSCTLS; i++) {
        char path[128];
        snprintf(path, sizeof path, "/proc/sys/%s", host_sysctls[i]);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        if (fgets(b->sysctl_values[d->n_sysctls], sizeof b->sysctl_values[0], f)) {
            b->sysctl_values[d->n_sysctls][strcspn(b->sysctl_values[d->n_sysctls], "\n")] = 0;
            Faultline__Label *l = &b->sysctls[d->n_sysctls];
            faultline__label__init(l);
            l->key = (char *)(uintptr_t)(strrchr(host_sysctls[i], '/') + 1);
            l->value = b->sysctl_values[d->n_sysctls];
            b->sysctl_ptrs[d->n_sysctls++] = l;
        }
        fclose(f);
    }
    d->sysctls = b->sysctl_ptrs;
}

static void host__fill_mtus(struct host_block *b, Faultline__HostDetail *d)
{
    struct if_nameindex *ifs = if_nameindex();
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    for (struct if_nameindex *i = ifs; i && i->if_name && d->n_interface_mtus < 32; i++) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", i->if_name);
        if (fd < 0 || ioctl(fd, SIOCGIFMTU, &ifr) != 0)
            continue;
        size_t k = d->n_interface_mtus;
        snprintf(b->mtu_names[k], sizeof b->mtu_names[k], "%s", i->if_name);
        snprintf(b->mtu_values[k], sizeof b->mtu_values[k], "%d", ifr.ifr_mtu);
        faultline__label__init(&b->mtus[k]);
        b->mtus[k].key = b->mtu_names[k];
        b->mtus[k].value = b->mtu_values[k];
        b->mtu_ptrs[d->n_interface_mtus++] = &b->mtus[k];
    }
    if (fd >= 0)
        close(fd);
    if (ifs)
        if_freenameindex(ifs);
    d->interface_mtus = b->mtu_ptrs;
}

static void host__collect(struct host_state *st)
{
    struct probe_run *run = st->run;
    const struct host_opts *o = (const void *)run->check->opts;
    struct host_block *b = calloc(1, sizeof *b);
    Faultline__HostDetail *d = PROBE_DETAIL(run, Faultline__HostDetail);
    faultline__host_detail__init(d);
    run->result.detail_case = FAULTLINE__RESULT__DETAIL_HOST;
    run->result.host = d;
    d->window_ms = (uint32_t)(o->window_us / 1000);
    if (!b) {
        probe_set(run, FAULTLINE__STATUS__STATUS_ERROR, FL_FAULT_PROBE_RESOURCE, "out of memory");
        return;
    }
    run->owned = b;
    struct host_deltas deltas = {0};
    host__fill_counters(st, b, d, &deltas);
    uint64_t sockets = host__fill_states(b, d);
    host__fill_sysctls(b, d);
    host__fill_mtus(b, d);
    host__default_v4(b->route4, sizeof b->route4);
    host__default_v6(b->route6, sizeof b->route6);
    d->default_route_v4 = b->route4;
    d->default_route_v6 = b->route6;
    int64_t retrans = deltas.retrans, out_segs = deltas.out_segs,
            listen_drops = deltas.listen_drops;

    const int F = FAULTLINE__STATUS__STATUS_FAIL;
    if (out_segs >= 100 && retrans * 1000 > out_segs * o->max_retrans_permille)
        probe_set(run, F, FL_FAULT_HOST_RETRANS, "%lld of %lld segments retransmitted",
                  (long long)retrans, (long long)out_segs);
    else if (listen_drops > 0)
        probe_set(run, F, FL_FAULT_HOST_LISTEN_DROPS, "%lld connections dropped at listen queues",
                  (long long)listen_drops);
    else if (o->min_estab_percent && sockets >= 10 &&
             d->established_share * 100 < (double)o->min_estab_percent)
        probe_set(run, F, FL_FAULT_HOST_ESTAB_SHARE, "%.0f%% of TCP connections established",
                  d->established_share * 100);
    else
        probe_set(run, FAULTLINE__STATUS__STATUS_OK, FL_FAULT_NONE, NULL);
}

static void host__on_closed(uv_handle_t *h)
{
    struct host_state *st = h->data;
    struct probe_run *run = st->run;
    free(st);
    if (run) {
        run->priv = NULL;
        probe_done(run);
    }
}

static void host__on_timer(uv_timer_t *t)
{
    struct host_state *st = t->data;
    host__collect(st);
    uv_close((uv_handle_t *)&st->timer, host__on_closed);
}

static int host_start(struct probe_run *run)
{
    const struct host_opts *o = (const void *)run->check->opts;
    struct host_state *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->run = run;
    host__read_counters(st->before, st->have);
    log_debug("host: counters read, window of %lld ms begins", (long long)(o->window_us / 1000));
    uv_timer_init(run->loop, &st->timer);
    st->timer.data = st;
    uv_timer_start(&st->timer, host__on_timer, (uint64_t)o->window_us / 1000, 0);
    run->priv = st;
    return 0;
}

static void host_cancel(struct probe_run *run)
{
    struct host_state *st = run->priv;
    if (!st)
        return;
    st->run = NULL;
    run->priv = NULL;
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, host__on_closed);
}

const struct probe_ops probe_host_ops = {
    .name = "host",
    .type = FAULTLINE__PROBE_TYPE__PROBE_HOST,
    .fields = host_fields,
    .defaults = host_defaults,
    .target_name = host_target_name,
    .addresses = host_addresses,
    .start = host_start,
    .cancel = host_cancel,
};
