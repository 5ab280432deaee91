/* probe_dns: ask one DNS server about one name, through c-ares.
 *
 * The target is the name; the probe is sent to each configured server (or
 * each of the system's, from resolv.conf), one result per server, so one
 * resolver failing for many names can be told from one name failing
 * through every resolver.  The query is built with ares_create_query and
 * sent with ares_send, and ARES_FLAG_NOCHECKRESP is set: otherwise c-ares
 * 1.18 turns SERVFAIL and REFUSED into "could not contact servers" and
 * tries the next server.  The rcode is read from the raw answer.  A
 * truncated UDP answer is retried over TCP by c-ares itself; we notice
 * the TCP socket it opens and say so. */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libfyaml.h>
#include <sys/socket.h>

#include "agent.h"
#include "cfg.h"
#include "dns_answer.h"
#include "faultcode.h"
#include "timeutil.h"

#define DNS_MAX_SERVERS 8

struct dns_opts {
    char *servers; /* newline-separated addresses; NULL: the system's */
    char *expect;  /* newline-separated expected answers; NULL: any */
    int64_t type;
    int64_t rcode; /* the rcode that is success: NOERROR (0) unless expect_rcode says */
    int64_t port;
    int64_t slow_us;
    int tcp;
    int recurse;
};

_Static_assert(sizeof(struct dns_opts) <= AGENT_MAX_OPTS, "dns options fit in a check");

struct dns_sock {
    uv_poll_t poll;
    ares_socket_t fd;
    struct dns_state *st;
    struct dns_sock *next;
};

struct dns_state {
    struct probe_run *run; /* NULL once cancelled */
    uv_loop_t *loop;
    ares_channel ch;
    int channel_open;
    uv_timer_t timer;
    struct dns_sock *socks;
    int handles_open, ending, answered, used_tcp;
    uint64_t sent_ns;
};

static void dns_defaults(void *opts)
{
    struct dns_opts *o = opts;
    memset(o, 0, sizeof *o);
    o->type = 1;
    o->port = 53;
    o->slow_us = 1000000;
    o->recurse = 1;
}

static void dns_free_opts(void *opts)
{
    struct dns_opts *o = opts;
    free(o->servers);
    free(o->expect);
    o->servers = o->expect = NULL;
}

/* A list of strings (or one) kept as one newline-separated string. */
static int dns__parse_list(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                           const void *arg)
{
    char **dst = out;
    size_t len = 0;
    char *joined = NULL;
    int n = val && fy_node_is_sequence(val) ? fy_node_sequence_item_count(val) : 1;
    if (n < 1 || n > 64) {
        cfg_error(c, key, "%s: expected 1 to 64 values", cfg_key_name(key));
        return -1;
    }
    void *iter = NULL;
    for (int i = 0; i < n; i++) {
        struct fy_node *item = fy_node_is_sequence(val) ? fy_node_sequence_iterate(val, &iter) : val;
        const char *s = cfg_scalar(c, key, item);
        if (!s) {
            free(joined);
            return -1;
        }
        if (!*s || strchr(s, '\n') || strlen(s) > DNS_MAX_TEXT - 1) {
            cfg_error(c, item, "%s: empty or too long value", cfg_key_name(key));
            free(joined);
            return -1;
        }
        char *nj = realloc(joined, len + strlen(s) + 2);
        if (!nj) {
            free(joined);
            return -1;
        }
        joined = nj;
        len += (size_t)sprintf(joined + len, "%s%s", len ? "\n" : "", s);
    }
    free(*dst);
    *dst = joined;
    return 0;
}

static int dns__parse_type(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                           const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    int t = s ? dns_type_parse(s) : 0;
    if (!t) {
        if (s)
            cfg_error(c, val, "type: '%.20s' is not one of A, AAAA, NS, MX, TXT, SOA, CNAME, PTR, SRV, CAA", s);
        return -1;
    }
    *(int64_t *)out = t;
    return 0;
}

/* NOERROR, NXDOMAIN, SERVFAIL, REFUSED ... (as dig prints them). */
static int dns__parse_rcode(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                            const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    for (unsigned r = 0; s && r <= 15; r++)
        if (!strcmp(s, dns_rcode_name(r))) {
            *(int64_t *)out = r;
            return 0;
        }
    if (s)
        cfg_error(c, val, "expect_rcode: '%.20s' is not an rcode like NOERROR or NXDOMAIN", s);
    return -1;
}

static int dns__parse_transport(struct cfg *c, struct fy_node *key, struct fy_node *val,
                                void *out, const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    if (s && (strcmp(s, "udp") == 0 || strcmp(s, "tcp") == 0)) {
        *(int *)out = strcmp(s, "tcp") == 0;
        return 0;
    }
    if (s)
        cfg_error(c, val, "transport: '%.20s' is not udp or tcp", s);
    return -1;
}

static const struct cfg_range dns_port_range = {1, 65535};
static const struct cfg_range dns_slow_range = {1000, 60 * 1000000LL};

static const struct cfg_field dns_fields[] = {
    {"type", dns__parse_type, offsetof(struct dns_opts, type), NULL},
    {"servers", dns__parse_list, offsetof(struct dns_opts, servers), NULL},
    {"port", cfg_parse_int, offsetof(struct dns_opts, port), &dns_port_range},
    {"transport", dns__parse_transport, offsetof(struct dns_opts, tcp), NULL},
    {"slow", cfg_parse_duration, offsetof(struct dns_opts, slow_us), &dns_slow_range},
    {"expect", dns__parse_list, offsetof(struct dns_opts, expect), NULL},
    {"expect_rcode", dns__parse_rcode, offsetof(struct dns_opts, rcode), NULL},
    {"recurse", cfg_parse_bool, offsetof(struct dns_opts, recurse), NULL},
    {NULL, NULL, 0, NULL},
};

static void dns_validate(struct cfg *c, struct fy_node *node, const void *opts)
{
    const struct dns_opts *o = opts;
    if (o->expect && o->rcode)
        cfg_error(c, node, "dns check: 'expect' lists answers, which only NOERROR has "
                           "(expect_rcode %s)", dns_rcode_name((unsigned)o->rcode));
    if (!o->servers)
        return;
    char copy[64 * DNS_MAX_TEXT];
    snprintf(copy, sizeof copy, "%s", o->servers);
    for (char *save, *s = strtok_r(copy, "\n", &save); s; s = strtok_r(NULL, "\n", &save)) {
        uint8_t a[16];
        if (inet_pton(AF_INET, s, a) != 1 && inet_pton(AF_INET6, s, a) != 1)
            cfg_error(c, node, "dns check: server '%.60s' is not an IPv4 or IPv6 address", s);
    }
}

static void dns_target_name(const void *opts, const char *host, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", host, dns_type_name((int)((const struct dns_opts *)opts)->type));
}

static int dns__family_ok(enum agent_family f, int af)
{
    return f == FAMILY_ANY || (f == FAMILY_IPV4 && af == AF_INET) ||
           (f == FAMILY_IPV6 && af == AF_INET6);
}

static size_t dns__add(struct sockaddr_storage *out, size_t n, size_t max, int af, const void *a,
                       int port)
{
    if (n >= max)
        return n;
    memset(&out[n], 0, sizeof out[n]);
    if (af == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&out[n];
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        memcpy(&in->sin_addr, a, 4);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out[n];
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        memcpy(&in6->sin6_addr, a, 16);
    }
    return n + 1;
}

/* The servers to ask: the configured ones, or resolv.conf's. */
static int dns_addresses(const void *opts, enum agent_family family, struct sockaddr_storage *out,
                         size_t max)
{
    const struct dns_opts *o = opts;
    size_t n = 0;
    if (o->servers) {
        char copy[64 * DNS_MAX_TEXT];
        snprintf(copy, sizeof copy, "%s", o->servers);
        for (char *save, *s = strtok_r(copy, "\n", &save); s; s = strtok_r(NULL, "\n", &save)) {
            uint8_t a[16];
            if (inet_pton(AF_INET, s, a) == 1 && dns__family_ok(family, AF_INET))
                n = dns__add(out, n, max, AF_INET, a, (int)o->port);
            else if (inet_pton(AF_INET6, s, a) == 1 && dns__family_ok(family, AF_INET6))
                n = dns__add(out, n, max, AF_INET6, a, (int)o->port);
        }
        return (int)n;
    }
    ares_channel ch;
    struct ares_addr_port_node *list = NULL;
    if (ares_init(&ch) != ARES_SUCCESS)
        return -ENOMEM;
    if (ares_get_servers_ports(ch, &list) == ARES_SUCCESS) {
        for (struct ares_addr_port_node *s = list; s; s = s->next)
            if (dns__family_ok(family, s->family))
                n = dns__add(out, n, max, s->family, &s->addr, s->udp_port ? s->udp_port : 53);
    }
    ares_free_data(list);
    ares_destroy(ch);
    return (int)n;
}

/* ---- c-ares on the loop ------------------------------------------------ */

static void dns__end(struct dns_state *st);
static void dns__on_timer(uv_timer_t *t);

static void dns__on_closed(uv_handle_t *h)
{
    struct dns_state *st = h->data;
    if (h != (uv_handle_t *)&st->timer)
        free(h); /* a dns_sock: the poll is its first member */
    if (--st->handles_open > 0 || !st->ending)
        return;
    struct probe_run *run = st->run;
    free(st);
    ares_library_cleanup();
    if (run) {
        run->priv = NULL;
        probe_done(run);
    }
}

static void dns__rearm(struct dns_state *st)
{
    if (st->ending)
        return;
    if (st->answered) {
        dns__end(st);
        return;
    }
    struct timeval tv, *tvp = ares_timeout(st->ch, NULL, &tv);
    if (tvp)
        uv_timer_start(&st->timer, dns__on_timer,
                       (uint64_t)tvp->tv_sec * 1000 + (uint64_t)(tvp->tv_usec + 999) / 1000, 0);
    else
        uv_timer_stop(&st->timer);
}

static void dns__on_timer(uv_timer_t *t)
{
    struct dns_state *st = t->data;
    ares_process_fd(st->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    dns__rearm(st);
}

static void dns__on_poll(uv_poll_t *h, int status, int events)
{
    struct dns_sock *sk = (struct dns_sock *)h;
    struct dns_state *st = sk->st;
    int rd = status < 0 || (events & UV_READABLE);
    int wr = status < 0 || (events & UV_WRITABLE);
    ares_process_fd(st->ch, rd ? sk->fd : ARES_SOCKET_BAD, wr ? sk->fd : ARES_SOCKET_BAD);
    dns__rearm(st);
}

static void dns__on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns_state *st = data;
    struct dns_sock **pp = &st->socks, *sk;
    while ((sk = *pp) && sk->fd != fd)
        pp = &sk->next;
    if (!readable && !writable) {
        if (sk) {
            *pp = sk->next;
            uv_poll_stop(&sk->poll);
            uv_close((uv_handle_t *)&sk->poll, dns__on_closed);
        }
        return;
    }
    if (!sk) {
        sk = calloc(1, sizeof *sk);
        if (!sk)
            return;
        sk->fd = fd;
        sk->st = st;
        uv_poll_init_socket(st->loop, &sk->poll, fd);
        sk->poll.data = st;
        st->handles_open++;
        sk->next = st->socks;
        st->socks = sk;
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM)
            st->used_tcp = 1;
    }
    uv_poll_start(&sk->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
                  dns__on_poll);
}

/* ---- the answer ---------------------------------------------------------- */

static int dns__expected(const struct dns_opts *o, const struct dns_answer *a)
{
    /* Every expected answer is there, and nothing else. */
    char copy[64 * DNS_MAX_TEXT];
    size_t n = 0;
    snprintf(copy, sizeof copy, "%s", o->expect);
    for (char *save, *s = strtok_r(copy, "\n", &save); s; s = strtok_r(NULL, "\n", &save)) {
        size_t i = 0;
        while (i < a->nanswers && strcmp(a->answers[i], s) != 0)
            i++;
        if (i == a->nanswers)
            return 0;
        n++;
    }
    return n == a->nanswers;
}

static void dns__on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_state *st = arg;
    struct probe_run *run = st->run;
    if (st->ending || !run || status == ARES_EDESTRUCTION)
        return;
    st->answered = 1;
    const struct dns_opts *o = (const void *)run->check->opts;
    Faultline__DnsDetail *d = PROBE_DETAIL(run, Faultline__DnsDetail);
    faultline__dns_detail__init(d);
    d->server = run->address;
    d->name = probe_text(run, run->host);
    d->type = probe_text(run, dns_type_name((int)o->type));
    d->response_us = (uint32_t)((time_mono_ns() - st->sent_ns) / 1000);
    d->tcp = st->used_tcp;
    d->truncated_retry = st->used_tcp && !o->tcp;
    run->result.detail_case = FAULTLINE__RESULT__DETAIL_DNS;
    run->result.dns = d;
    const int F = FAULTLINE__STATUS__STATUS_FAIL;
    if (status != ARES_SUCCESS) {
        d->error = probe_text(run, ares_strerror(status));
        if (status == ARES_ECONNREFUSED)
            probe_set(run, F, FL_FAULT_DNS_UNREACHABLE, "server %s unreachable", run->address);
        else if (status == ARES_ETIMEOUT)
            probe_set(run, F, FL_FAULT_DNS_TIMEOUT, "no answer from %s after %d tries",
                      run->address, timeouts);
        else if (status == ARES_EBADRESP)
            probe_set(run, F, FL_FAULT_DNS_MALFORMED, "malformed answer from %s", run->address);
        else
            probe_set(run, F, FL_FAULT_DNS_RCODE, "%s", ares_strerror(status));
        return;
    }
    static struct dns_answer a; /* large; one answer is parsed at a time */
    char why[128];
    if (dns_answer_parse(abuf, (size_t)alen, &a, why, sizeof why) != 0) {
        d->error = probe_text(run, why);
        probe_set(run, F, FL_FAULT_DNS_MALFORMED, "malformed answer: %s", why);
        return;
    }
    d->rcode = a.rcode;
    d->rcode_name = probe_text(run, dns_rcode_name(a.rcode));
    d->authoritative = a.authoritative;
    size_t kept = 0;
    for (size_t i = 0; i < a.nanswers && kept < sizeof run->list / sizeof run->list[0]; i++)
        run->list[kept++] = probe_text(run, a.answers[i]);
    d->answers = run->list;
    d->n_answers = kept;
    if (o->rcode) { /* another rcode than NOERROR is the answer wanted */
        if (a.rcode == o->rcode)
            probe_set(run, FAULTLINE__STATUS__STATUS_OK, FL_FAULT_NONE, NULL);
        else
            probe_set(run, F, FL_FAULT_DNS_UNEXPECTED, "%s from %s, %s expected",
                      dns_rcode_name(a.rcode), run->address, dns_rcode_name((unsigned)o->rcode));
        return;
    }
    switch (a.rcode) {
    case 0: break;
    case 2: probe_set(run, F, FL_FAULT_DNS_SERVFAIL, "SERVFAIL from %s", run->address); return;
    case 3: probe_set(run, F, FL_FAULT_DNS_NXDOMAIN, "NXDOMAIN from %s", run->address); return;
    case 5: probe_set(run, F, FL_FAULT_DNS_REFUSED, "REFUSED by %s", run->address); return;
    default:
        probe_set(run, F, FL_FAULT_DNS_RCODE, "%s from %s", dns_rcode_name(a.rcode), run->address);
        return;
    }
    int has_type = 0;
    for (size_t i = 0; i < a.nanswers; i++)
        has_type |= a.types[i] == o->type;
    if (o->expect && !dns__expected(o, &a))
        probe_set(run, F, FL_FAULT_DNS_UNEXPECTED, "answers differ from the expected ones");
    else if (!has_type)
        probe_set(run, F, FL_FAULT_DNS_NODATA, "no %s record", dns_type_name((int)o->type));
    else if (d->response_us > o->slow_us)
        probe_set(run, F, FL_FAULT_DNS_SLOW, "answer after %.1f ms", d->response_us / 1000.0);
    else
        probe_set(run, FAULTLINE__STATUS__STATUS_OK, FL_FAULT_NONE, NULL);
}

static void dns__end(struct dns_state *st)
{
    if (st->ending)
        return;
    st->ending = 1;
    if (st->channel_open)
        ares_destroy(st->ch); /* closes its sockets through dns__on_sock_state */
    st->channel_open = 0;
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, dns__on_closed);
}

static int dns_start(struct probe_run *run)
{
    const struct dns_opts *o = (const void *)run->check->opts;
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
        return -ENOMEM;
    struct dns_state *st = calloc(1, sizeof *st);
    if (!st) {
        ares_library_cleanup();
        return -ENOMEM;
    }
    st->run = run;
    st->loop = run->loop;
    struct ares_options opt = {0};
    opt.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES |
                (o->tcp ? ARES_FLAG_USEVC : 0) | (o->recurse ? 0 : ARES_FLAG_NORECURSE);
    opt.timeout = (int)(run->check->timeout_us / 1000);
    opt.tries = (int)run->check->retries + 1;
    opt.sock_state_cb = dns__on_sock_state;
    opt.sock_state_cb_data = st;
    int rc = ares_init_options(&st->ch, &opt,
                               ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                                   ARES_OPT_SOCK_STATE_CB);
    if (rc != ARES_SUCCESS) {
        free(st);
        ares_library_cleanup();
        return -ENOMEM;
    }
    st->channel_open = 1;
    struct ares_addr_port_node server = {0};
    server.family = run->addr.ss_family;
    if (server.family == AF_INET) {
        const struct sockaddr_in *in = (const void *)&run->addr;
        memcpy(&server.addr.addr4, &in->sin_addr, 4);
        server.udp_port = server.tcp_port = ntohs(in->sin_port);
    } else {
        const struct sockaddr_in6 *in6 = (const void *)&run->addr;
        memcpy(&server.addr.addr6, &in6->sin6_addr, 16);
        server.udp_port = server.tcp_port = ntohs(in6->sin6_port);
    }
    unsigned char *q = NULL;
    int qlen = 0;
    unsigned short id = (unsigned short)(time_mono_ns() >> 10);
    if (ares_set_servers_ports(st->ch, &server) != ARES_SUCCESS ||
        ares_create_query(run->host, 1 /* C_IN */, (int)o->type, id, o->recurse, &q, &qlen, 0) !=
            ARES_SUCCESS) {
        ares_destroy(st->ch);
        free(st);
        ares_library_cleanup();
        return -EINVAL;
    }
    uv_timer_init(run->loop, &st->timer);
    st->timer.data = st;
    st->handles_open = 1;
    run->priv = st;
    st->sent_ns = time_mono_ns();
    ares_send(st->ch, q, qlen, dns__on_answer, st);
    ares_free_string(q);
    dns__rearm(st);
    return 0;
}

static void dns_cancel(struct probe_run *run)
{
    struct dns_state *st = run->priv;
    if (!st)
        return;
    st->run = NULL;
    run->priv = NULL;
    dns__end(st);
}

const struct probe_ops probe_dns_ops = {
    .name = "dns",
    .type = FAULTLINE__PROBE_TYPE__PROBE_DNS,
    .fields = dns_fields,
    .defaults = dns_defaults,
    .free_opts = dns_free_opts,
    .validate = dns_validate,
    .target_name = dns_target_name,
    .addresses = dns_addresses,
    .start = dns_start,
    .cancel = dns_cancel,
    .trace_on_failure = 1,
};
