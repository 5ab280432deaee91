/* probe_tcp: TCP connect to one address and port.
 *
 * The outcome is what the kernel tells connect(): ECONNREFUSED when the
 * SYN was answered with a RST (a closed port, or a firewall's "reject with
 * tcp reset"), EHOSTUNREACH / ENETUNREACH from ICMP errors (which are hard
 * errors for a socket in SYN-SENT), and nothing at all for a dropped SYN,
 * which our timer turns into a timeout long before the kernel's own SYN
 * retries (about two minutes) would. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cfg.h"
#include "faultcode.h"
#include "timeutil.h"

struct tcp_opts {
    int64_t port;
};

_Static_assert(sizeof(struct tcp_opts) <= AGENT_MAX_OPTS, "tcp options fit in a check");

struct tcp_state {
    struct probe_run *run; /* NULL once cancelled */
    int fd;
    uv_poll_t poll; /* valid while poll_init */
    uv_timer_t timer;
    int poll_init, handles_open, ending, retrying;
    uint32_t attempts;
    uint64_t attempt_ns, connect_ns;
    int error;
    Faultline__TcpOutcome outcome;
};

static void tcp_defaults(void *opts)
{
    ((struct tcp_opts *)opts)->port = 0;
}

static const struct cfg_range tcp_port_range = {1, 65535};

static const struct cfg_field tcp_fields[] = {
    {"port", cfg_parse_int, offsetof(struct tcp_opts, port), &tcp_port_range},
    {NULL, NULL, 0, NULL},
};

static void tcp_validate(struct cfg *c, struct fy_node *node, const void *opts)
{
    if (((const struct tcp_opts *)opts)->port == 0)
        cfg_error(c, node, "tcp check: 'port' is required");
}

static void tcp_target_name(const void *opts, const char *host, char *buf, size_t len)
{
    const struct tcp_opts *o = opts;
    if (strchr(host, ':')) /* an IPv6 literal */
        snprintf(buf, len, "[%s]:%d", host, (int)o->port);
    else
        snprintf(buf, len, "%s:%d", host, (int)o->port);
}

static Faultline__TcpOutcome tcp__classify(int err)
{
    switch (err) {
    case 0: return FAULTLINE__TCP_OUTCOME__TCP_CONNECTED;
    case ECONNREFUSED: return FAULTLINE__TCP_OUTCOME__TCP_REFUSED;
    case ETIMEDOUT: return FAULTLINE__TCP_OUTCOME__TCP_TIMEOUT;
    case EHOSTUNREACH:
    case ENETUNREACH: return FAULTLINE__TCP_OUTCOME__TCP_UNREACHABLE;
    case ECONNRESET: return FAULTLINE__TCP_OUTCOME__TCP_RESET;
    default: return FAULTLINE__TCP_OUTCOME__TCP_ERROR;
    }
}

static void tcp__report(struct tcp_state *s, struct probe_run *run)
{
    Faultline__TcpDetail *d = PROBE_DETAIL(run, Faultline__TcpDetail);
    faultline__tcp_detail__init(d);
    d->port = ntohs(run->addr.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&run->addr)->sin6_port
                        : ((struct sockaddr_in *)&run->addr)->sin_port);
    d->outcome = s->outcome;
    d->connect_us = (uint32_t)(s->connect_ns / 1000);
    d->error = s->error;
    d->attempts = s->attempts;
    run->result.detail_case = FAULTLINE__RESULT__DETAIL_TCP;
    run->result.tcp = d;
    static const uint16_t faults[] = {
        [FAULTLINE__TCP_OUTCOME__TCP_REFUSED] = FL_FAULT_TCP_REFUSED,
        [FAULTLINE__TCP_OUTCOME__TCP_TIMEOUT] = FL_FAULT_TCP_TIMEOUT,
        [FAULTLINE__TCP_OUTCOME__TCP_UNREACHABLE] = FL_FAULT_TCP_HOST_UNREACH,
        [FAULTLINE__TCP_OUTCOME__TCP_RESET] = FL_FAULT_TCP_RESET,
        [FAULTLINE__TCP_OUTCOME__TCP_ERROR] = FL_FAULT_TCP_ERROR,
    };
    if (s->outcome == FAULTLINE__TCP_OUTCOME__TCP_CONNECTED) {
        probe_set(run, FAULTLINE__STATUS__STATUS_OK, FL_FAULT_NONE, NULL);
        return;
    }
    uint16_t fault = faults[s->outcome];
    if (s->error == ENETUNREACH)
        fault = FL_FAULT_TCP_NET_UNREACH;
    probe_set(run, FAULTLINE__STATUS__STATUS_FAIL, fault, "%s after %u attempt%s",
              s->outcome == FAULTLINE__TCP_OUTCOME__TCP_TIMEOUT ? "timeout" : strerror(s->error),
              s->attempts, s->attempts == 1 ? "" : "s");
}

static void tcp__on_close(uv_handle_t *h)
{
    struct tcp_state *s = h->data;
    if (--s->handles_open > 0)
        return;
    if (s->fd >= 0)
        close(s->fd);
    struct probe_run *run = s->run;
    if (run)
        tcp__report(s, run);
    free(s);
    if (run) {
        run->priv = NULL;
        probe_done(run);
    }
}

static void tcp__end(struct tcp_state *s)
{
    if (s->ending)
        return;
    s->ending = 1;
    uv_timer_stop(&s->timer);
    s->handles_open = 1;
    if (s->poll_init) {
        uv_poll_stop(&s->poll);
        s->handles_open++;
        uv_close((uv_handle_t *)&s->poll, tcp__on_close);
    }
    uv_close((uv_handle_t *)&s->timer, tcp__on_close);
}

static int tcp__attempt(struct tcp_state *s);

/* The poll handle of the last attempt is closed: start the next one. */
static void tcp__on_retry_closed(uv_handle_t *h)
{
    struct tcp_state *s = h->data;
    s->poll_init = 0;
    s->retrying = 0;
    close(s->fd);
    s->fd = -1;
    if (!s->run) {
        tcp__end(s);
        return;
    }
    int rc = tcp__attempt(s);
    if (rc < 0) {
        s->error = -rc;
        s->outcome = FAULTLINE__TCP_OUTCOME__TCP_ERROR;
        tcp__end(s);
    }
}

/* One attempt is over with ERR (0 = connected).  Retry or end. */
static void tcp__attempt_over(struct tcp_state *s, int err)
{
    uv_timer_stop(&s->timer);
    uv_poll_stop(&s->poll);
    s->error = err;
    s->outcome = tcp__classify(err);
    s->connect_ns = time_mono_ns() - s->attempt_ns;
    if (err == 0 || s->attempts > (uint32_t)s->run->check->retries) {
        tcp__end(s);
        return;
    }
    s->retrying = 1;
    uv_close((uv_handle_t *)&s->poll, tcp__on_retry_closed);
}

static void tcp__on_poll(uv_poll_t *h, int status, int events)
{
    struct tcp_state *s = h->data;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0 && status < 0)
        err = EIO;
    tcp__attempt_over(s, err);
}

static void tcp__on_timeout(uv_timer_t *t)
{
    tcp__attempt_over(t->data, ETIMEDOUT);
}

/* connect() decided at once (a local error): report it from the loop,
 * never from inside start(). */
static void tcp__on_immediate(uv_timer_t *t)
{
    struct tcp_state *s = t->data;
    tcp__attempt_over(s, s->error);
}

static int tcp__attempt(struct tcp_state *s)
{
    struct probe_run *run = s->run;
    s->attempts++;
    s->attempt_ns = time_mono_ns();
    s->fd = socket(run->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -errno;
    int rc = connect(s->fd, (const struct sockaddr *)&run->addr, run->addrlen);
    int err = rc == 0 ? 0 : errno;
    uv_poll_init_socket(run->loop, &s->poll, s->fd);
    s->poll.data = s;
    s->poll_init = 1;
    if (rc != 0 && err == EINPROGRESS) {
        uv_poll_start(&s->poll, UV_WRITABLE, tcp__on_poll);
        uv_timer_start(&s->timer, tcp__on_timeout, (uint64_t)run->check->timeout_us / 1000, 0);
    } else {
        s->error = err;
        uv_timer_start(&s->timer, tcp__on_immediate, 0, 0);
    }
    return 0;
}

static int tcp_start(struct probe_run *run)
{
    struct tcp_state *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->run = run;
    s->fd = -1;
    uint16_t port = htons((uint16_t)((const struct tcp_opts *)(const void *)run->check->opts)->port);
    if (run->addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&run->addr)->sin6_port = port;
    else
        ((struct sockaddr_in *)&run->addr)->sin_port = port;
    uv_timer_init(run->loop, &s->timer);
    s->timer.data = s;
    int rc = tcp__attempt(s);
    if (rc < 0) {
        s->run = NULL;
        tcp__end(s);
        return rc;
    }
    run->priv = s;
    return 0;
}

static void tcp_cancel(struct probe_run *run)
{
    struct tcp_state *s = run->priv;
    if (!s)
        return;
    s->run = NULL;
    run->priv = NULL;
    if (!s->retrying) /* else the retry's close callback ends it */
        tcp__end(s);
}

const struct probe_ops probe_tcp_ops = {
    .name = "tcp",
    .type = FAULTLINE__PROBE_TYPE__PROBE_TCP,
    .fields = tcp_fields,
    .defaults = tcp_defaults,
    .validate = tcp_validate,
    .target_name = tcp_target_name,
    .start = tcp_start,
    .cancel = tcp_cancel,
    .trace_on_failure = 1,
};
