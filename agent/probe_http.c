/* probe_http: one HTTP(S) request to one address, through libcurl's multi
 * interface on the agent's loop (as in curl's multi-uv example): curl says
 * which sockets to watch and when to wake it, we say what happened.
 *
 * The request goes to the address being probed with the target's name in
 * the URL (CURLOPT_RESOLVE), so Host, SNI and certificate checks use the
 * name while every address of a dual-stack name is tried on its own.
 * Reported: status, the Server header (and product/version parsed from it),
 * HTTP and TLS versions, the phase times, and the leaf certificate's expiry
 * (CURLOPT_CERTINFO).  Every failure is typed: refused, reset and connect
 * timeouts are transport faults; a response that does not finish in time,
 * a bad status, a body without the expected text, and each TLS problem are
 * application faults. */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "cfg.h"
#include "faultcode.h"

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct http_opts {
    char *scheme; /* "http" or "https" */
    char *path;
    char *expect_body;
    char *ca_file;
    int64_t port; /* 0: the scheme's */
    int64_t expect_status; /* 0: any 2xx or 3xx */
    int64_t cert_warn_days;
    int verify;
};

_Static_assert(sizeof(struct http_opts) <= AGENT_MAX_OPTS, "http options fit in a check");

struct http_sock {
    uv_poll_t poll;
    struct http_state *st;
};

struct http_state {
    struct probe_run *run; /* NULL once cancelled */
    uv_loop_t *loop;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *resolve;
    uv_timer_t timer;
    int handles_open, ending;
    uint32_t attempts;
    char url[600];
    char errbuf[CURL_ERROR_SIZE];
    /* body matching across chunks: the tail of the previous chunk */
    char tail[256];
    size_t tail_len;
    uint64_t body_bytes;
    int body_matched;
    char tls_version[16]; /* read while the connection is up */
};

static void http_defaults(void *opts)
{
    struct http_opts *o = opts;
    memset(o, 0, sizeof *o);
    o->verify = 1;
    o->cert_warn_days = 7;
}

static void http_free_opts(void *opts)
{
    struct http_opts *o = opts;
    free(o->scheme);
    free(o->path);
    free(o->expect_body);
    free(o->ca_file);
    memset(o, 0, sizeof *o);
}

static const struct cfg_range http_port_range = {1, 65535};
static const struct cfg_range http_status_range = {100, 599};
static const struct cfg_range http_days_range = {0, 3650};

static const struct cfg_field http_fields[] = {
    {"scheme", cfg_parse_string, offsetof(struct http_opts, scheme), NULL},
    {"port", cfg_parse_int, offsetof(struct http_opts, port), &http_port_range},
    {"path", cfg_parse_string, offsetof(struct http_opts, path), NULL},
    {"expect_status", cfg_parse_int, offsetof(struct http_opts, expect_status), &http_status_range},
    {"expect_body", cfg_parse_string, offsetof(struct http_opts, expect_body), NULL},
    {"ca_file", cfg_parse_string, offsetof(struct http_opts, ca_file), NULL},
    {"verify", cfg_parse_bool, offsetof(struct http_opts, verify), NULL},
    {"cert_warn_days", cfg_parse_int, offsetof(struct http_opts, cert_warn_days), &http_days_range},
    {NULL, NULL, 0, NULL},
};

static void http_validate(struct cfg *c, struct fy_node *node, const void *opts)
{
    const struct http_opts *o = opts;
    if (o->scheme && strcmp(o->scheme, "http") != 0 && strcmp(o->scheme, "https") != 0)
        cfg_error(c, node, "http check: scheme '%.20s' is not http or https", o->scheme);
    if (o->path && (o->path[0] != '/' || strpbrk(o->path, " \r\n")))
        cfg_error(c, node, "http check: path must start with / and contain no spaces");
    if (o->expect_body && strlen(o->expect_body) >= sizeof(((struct http_state *)0)->tail))
        cfg_error(c, node, "http check: expect_body is longer than 255 characters");
}

static const char *http__scheme(const struct http_opts *o)
{
    return o->scheme ? o->scheme : "http";
}

static int http__port(const struct http_opts *o)
{
    return o->port ? (int)o->port : strcmp(http__scheme(o), "https") == 0 ? 443 : 80;
}

static void http_target_name(const void *opts, const char *host, char *buf, size_t len)
{
    const struct http_opts *o = opts;
    int v6 = strchr(host, ':') != NULL;
    int dflt = !o->port || (int)o->port == (strcmp(http__scheme(o), "https") == 0 ? 443 : 80);
    char port[8] = "";
    if (!dflt)
        snprintf(port, sizeof port, ":%d", (int)o->port);
    snprintf(buf, len, "%s://%s%s%s%s%s", http__scheme(o), v6 ? "[" : "", host, v6 ? "]" : "",
             port, o->path ? o->path : "/");
}

/* ---- libcurl on the loop ------------------------------------------------- */

static void http__check_done(struct http_state *st);
static void http__end(struct http_state *st);

static void http__on_handle_closed(uv_handle_t *h)
{
    struct http_state *st = h->data;
    if (h != (uv_handle_t *)&st->timer)
        free(container_of(h, struct http_sock, poll));
    if (--st->handles_open > 0 || !st->ending)
        return;
    struct probe_run *run = st->run;
    free(st);
    if (run) {
        run->priv = NULL;
        probe_done(run);
    }
}

static void http__on_poll(uv_poll_t *h, int status, int events)
{
    struct http_sock *sk = container_of(h, struct http_sock, poll);
    struct http_state *st = sk->st;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    uv_os_fd_t fd;
    uv_fileno((uv_handle_t *)h, &fd);
    curl_multi_socket_action(st->multi, fd, flags, &running);
    http__check_done(st);
}

static int http__on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct http_state *st = userp;
    struct http_sock *sk = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            uv_poll_stop(&sk->poll);
            uv_close((uv_handle_t *)&sk->poll, http__on_handle_closed);
            curl_multi_assign(st->multi, s, NULL);
        }
        return 0;
    }
    if (!sk) {
        sk = calloc(1, sizeof *sk);
        if (!sk)
            return -1;
        sk->st = st;
        uv_poll_init_socket(st->loop, &sk->poll, s);
        sk->poll.data = st;
        st->handles_open++;
        curl_multi_assign(st->multi, s, sk);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&sk->poll, events, http__on_poll);
    return 0;
}

static void http__on_timer(uv_timer_t *t)
{
    struct http_state *st = t->data;
    int running;
    curl_multi_socket_action(st->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    http__check_done(st);
}

/* curl asks to be woken after TIMEOUT_MS; a 0 means "soon", which must not
 * be done from inside this callback, so it goes through the loop too. */
static int http__on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct http_state *st = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&st->timer);
    else
        uv_timer_start(&st->timer, http__on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t http__on_body(char *data, size_t size, size_t n, void *userp)
{
    struct http_state *st = userp;
    size_t len = size * n;
    st->body_bytes += len;
    const struct http_opts *o = (const void *)st->run->check->opts;
    if (!o->expect_body || st->body_matched || len == 0)
        return len;
    /* Look in the previous chunk's tail joined with this chunk's head, then
     * in this chunk, so a match split across chunks is found. */
    size_t want = strlen(o->expect_body);
    char joined[2 * sizeof st->tail];
    size_t head = len < sizeof st->tail ? len : sizeof st->tail - 1;
    memcpy(joined, st->tail, st->tail_len);
    memcpy(joined + st->tail_len, data, head);
    if (memmem(joined, st->tail_len + head, o->expect_body, want) ||
        memmem(data, len, o->expect_body, want))
        st->body_matched = 1;
    size_t keep = want > 1 ? want - 1 : 0;
    if (len >= keep) {
        memcpy(st->tail, data + len - keep, keep);
        st->tail_len = keep;
    } else {
        size_t total = st->tail_len + len;
        size_t drop = total > keep ? total - keep : 0;
        memmove(st->tail, st->tail + drop, st->tail_len - drop);
        memcpy(st->tail + st->tail_len - drop, data, len);
        st->tail_len = total - drop;
    }
    return len;
}

/* The first response header: the TLS session is up, and with
 * CURLOPT_FORBID_REUSE it is gone by the time the transfer is reported. */
static size_t http__on_header(char *data, size_t size, size_t n, void *userp)
{
    struct http_state *st = userp;
    struct curl_tlssessioninfo *ti = NULL;
    if (!st->tls_version[0] &&
        curl_easy_getinfo(st->easy, CURLINFO_TLS_SSL_PTR, &ti) == CURLE_OK && ti &&
        ti->backend == CURLSSLBACKEND_OPENSSL && ti->internals)
        snprintf(st->tls_version, sizeof st->tls_version, "%s", SSL_get_version(ti->internals));
    return size * n;
}

static int http__attempt(struct http_state *st)
{
    struct probe_run *run = st->run;
    const struct http_opts *o = (const void *)run->check->opts;
    st->attempts++;
    st->errbuf[0] = 0;
    st->body_bytes = 0;
    st->body_matched = 0;
    st->tail_len = 0;
    st->tls_version[0] = 0;
    st->easy = curl_easy_init();
    if (!st->easy)
        return -ENOMEM;
    CURL *e = st->easy;
    long timeout_ms = (long)(run->check->timeout_us / 1000);
    curl_easy_setopt(e, CURLOPT_URL, st->url);
    curl_easy_setopt(e, CURLOPT_RESOLVE, st->resolve);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "faultline/" FL_VERSION);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, st->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http__on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http__on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, st);
    curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
    if (o->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(e, CURLOPT_PRIVATE, st);
    return curl_multi_add_handle(st->multi, e) == CURLM_OK ? 0 : -ENOMEM;
}

/* ---- what happened ---------------------------------------------------------- */

static uint32_t http__us(CURL *e, CURLINFO what)
{
    curl_off_t v = 0;
    curl_easy_getinfo(e, what, &v);
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* "nginx/1.22.1" -> product "nginx", version "1.22.1"; "Apache/2.4.57
 * (Debian)" -> "Apache", "2.4.57"; "cloudflare" -> "cloudflare", "". */
static void http__server(struct probe_run *run, Faultline__HttpDetail *d, const char *server)
{
    char product[128], version[64] = "";
    size_t plen = strcspn(server, "/ (");
    if (plen >= sizeof product)
        plen = sizeof product - 1;
    memcpy(product, server, plen);
    product[plen] = 0;
    if (server[plen] == '/') {
        const char *v = server + plen + 1;
        size_t vlen = strcspn(v, " (");
        if (vlen >= sizeof version)
            vlen = sizeof version - 1;
        memcpy(version, v, vlen);
        version[vlen] = 0;
    }
    d->server = probe_text(run, server);
    d->server_product = probe_text(run, product);
    d->server_version = probe_text(run, version);
}

static void http__cert(struct http_state *st, Faultline__HttpDetail *d)
{
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(st->easy, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci ||
        ci->num_of_certs < 1)
        return;
    for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next) {
        if (strncmp(l->data, "Expire date:", 12) == 0) {
            time_t t = curl_getdate(l->data + 12, NULL);
            if (t > 0) {
                d->cert_not_after = t;
                double left = difftime(t, time(NULL)) / 86400.0;
                d->cert_days_left = (int32_t)(left < 0 ? left - 1 : left);
            }
        }
    }
}

static void http__collect(struct http_state *st, CURLcode res)
{
    struct probe_run *run = st->run;
    CURL *e = st->easy;
    Faultline__HttpDetail *d = PROBE_DETAIL(run, Faultline__HttpDetail);
    run->text_used = 0;
    faultline__http_detail__init(d);
    long code = 0, ver = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &ver);
    d->status_code = (uint32_t)code;
    d->http_version = probe_text(run, ver == CURL_HTTP_VERSION_1_0   ? "1.0"
                                      : ver == CURL_HTTP_VERSION_1_1 ? "1.1"
                                      : ver == CURL_HTTP_VERSION_2_0 ? "2"
                                      : ver == CURL_HTTP_VERSION_3   ? "3"
                                                                     : "");
    struct curl_header *h;
    if (curl_easy_header(e, "Server", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
        http__server(run, d, h->value);
    d->dns_us = http__us(e, CURLINFO_NAMELOOKUP_TIME_T);
    d->connect_us = http__us(e, CURLINFO_CONNECT_TIME_T);
    d->tls_us = http__us(e, CURLINFO_APPCONNECT_TIME_T);
    d->first_byte_us = http__us(e, CURLINFO_STARTTRANSFER_TIME_T);
    d->total_us = http__us(e, CURLINFO_TOTAL_TIME_T);
    d->attempts = st->attempts;
    d->body_bytes = st->body_bytes;
    d->body_matched = st->body_matched;
    if (res != CURLE_OK)
        d->error = probe_text(run, st->errbuf[0] ? st->errbuf : curl_easy_strerror(res));
    d->tls_version = probe_text(run, st->tls_version);
    http__cert(st, d);
    run->result.detail_case = FAULTLINE__RESULT__DETAIL_HTTP;
    run->result.http = d;
}

/* Type the outcome; 1 when the run succeeded. */
static int http__classify(struct http_state *st, CURLcode res)
{
    struct probe_run *run = st->run;
    const struct http_opts *o = (const void *)run->check->opts;
    const Faultline__HttpDetail *d = PROBE_DETAIL(run, Faultline__HttpDetail);
    long oserr = 0;
    curl_easy_getinfo(st->easy, CURLINFO_OS_ERRNO, &oserr);
    const int F = FAULTLINE__STATUS__STATUS_FAIL;
    switch (res) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_CONNECT:
        if (oserr == ECONNREFUSED)
            probe_set(run, F, FL_FAULT_TCP_REFUSED, "connection refused");
        else if (oserr == ENETUNREACH)
            probe_set(run, F, FL_FAULT_TCP_NET_UNREACH, "network unreachable");
        else if (oserr == EHOSTUNREACH)
            probe_set(run, F, FL_FAULT_TCP_HOST_UNREACH, "host unreachable");
        else
            probe_set(run, F, FL_FAULT_TCP_ERROR, "cannot connect: %s", d->error);
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        if (d->connect_us == 0)
            probe_set(run, F, FL_FAULT_TCP_TIMEOUT, "connect timeout after %u attempt%s",
                      st->attempts, st->attempts == 1 ? "" : "s");
        else
            probe_set(run, F, FL_FAULT_HTTP_TIMEOUT, "response timeout after %u attempt%s",
                      st->attempts, st->attempts == 1 ? "" : "s");
        return 0;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        if (oserr == ECONNRESET || strstr(st->errbuf, "reset by peer")) {
            probe_set(run, F, FL_FAULT_TCP_RESET, "connection reset");
            return 0;
        }
        probe_set(run, F, FL_FAULT_HTTP_PROTOCOL, "%s", d->error);
        return 0;
    case CURLE_PEER_FAILED_VERIFICATION:
        if (strstr(st->errbuf, "subject name") || strstr(st->errbuf, "does not match"))
            probe_set(run, F, FL_FAULT_TLS_NAME, "%s", d->error);
        else if (strstr(st->errbuf, "expired") || strstr(st->errbuf, "not yet valid"))
            probe_set(run, F, FL_FAULT_TLS_EXPIRED, "%s", d->error);
        else
            probe_set(run, F, FL_FAULT_TLS_UNTRUSTED, "%s", d->error);
        return 0;
    case CURLE_SSL_CONNECT_ERROR:
        if (oserr == ECONNRESET || strstr(st->errbuf, "reset by peer"))
            probe_set(run, F, FL_FAULT_TCP_RESET, "connection reset during the TLS handshake");
        else
            probe_set(run, F, FL_FAULT_TLS_HANDSHAKE, "%s", d->error);
        return 0;
    default:
        probe_set(run, F, FL_FAULT_HTTP_PROTOCOL, "%s", d->error);
        return 0;
    }
    if (o->expect_status ? d->status_code != (uint32_t)o->expect_status
                         : d->status_code < 200 || d->status_code > 399) {
        probe_set(run, F, FL_FAULT_HTTP_STATUS, "status %u", d->status_code);
        return 0;
    }
    if (o->expect_body && !st->body_matched) {
        probe_set(run, F, FL_FAULT_HTTP_BODY, "body does not contain the expected text");
        return 0;
    }
    if (d->cert_not_after && d->cert_days_left < o->cert_warn_days) {
        probe_set(run, F, FL_FAULT_TLS_EXPIRING, "certificate expires in %d days",
                  d->cert_days_left);
        return 1; /* a warning: the request itself worked, no retry */
    }
    probe_set(run, FAULTLINE__STATUS__STATUS_OK, FL_FAULT_NONE, NULL);
    return 1;
}

static void http__drop_easy(struct http_state *st)
{
    if (!st->easy)
        return;
    curl_multi_remove_handle(st->multi, st->easy);
    curl_easy_cleanup(st->easy);
    st->easy = NULL;
}

static void http__check_done(struct http_state *st)
{
    CURLMsg *msg;
    int left;
    while (!st->ending && (msg = curl_multi_info_read(st->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE || msg->easy_handle != st->easy)
            continue;
        CURLcode res = msg->data.result;
        http__collect(st, res);
        int ok = http__classify(st, res);
        http__drop_easy(st);
        if (!ok && st->attempts <= (uint32_t)st->run->check->retries) {
            if (http__attempt(st) == 0)
                return;
        }
        http__end(st);
        return;
    }
}

/* Everything curl owns goes now; the loop's handles close asynchronously
 * and the last close reports (or, after cancel, just frees). */
static void http__end(struct http_state *st)
{
    if (st->ending)
        return;
    st->ending = 1;
    http__drop_easy(st); /* closes its sockets: CURL_POLL_REMOVE */
    curl_multi_cleanup(st->multi);
    st->multi = NULL;
    curl_slist_free_all(st->resolve);
    st->resolve = NULL;
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, http__on_handle_closed);
}

static int http_start(struct probe_run *run)
{
    const struct http_opts *o = (const void *)run->check->opts;
    struct http_state *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->run = run;
    st->loop = run->loop;
    /* The URL names the host; RESOLVE pins it to the address probed. */
    char pin[400];
    int v6 = run->addr.ss_family == AF_INET6;
    snprintf(pin, sizeof pin, "%s:%d:%s%s%s", run->host, http__port(o), v6 ? "[" : "",
             run->address, v6 ? "]" : "");
    st->resolve = curl_slist_append(NULL, pin);
    int hv6 = strchr(run->host, ':') != NULL;
    snprintf(st->url, sizeof st->url, "%s://%s%s%s:%d%s", http__scheme(o), hv6 ? "[" : "",
             run->host, hv6 ? "]" : "", http__port(o), o->path ? o->path : "/");
    st->multi = curl_multi_init();
    if (!st->resolve || !st->multi) {
        curl_slist_free_all(st->resolve);
        if (st->multi)
            curl_multi_cleanup(st->multi);
        free(st);
        return -ENOMEM;
    }
    curl_multi_setopt(st->multi, CURLMOPT_SOCKETFUNCTION, http__on_socket);
    curl_multi_setopt(st->multi, CURLMOPT_SOCKETDATA, st);
    curl_multi_setopt(st->multi, CURLMOPT_TIMERFUNCTION, http__on_curl_timer);
    curl_multi_setopt(st->multi, CURLMOPT_TIMERDATA, st);
    uv_timer_init(run->loop, &st->timer);
    st->timer.data = st;
    st->handles_open = 1;
    int rc = http__attempt(st);
    if (rc < 0) {
        st->run = NULL;
        http__end(st);
        return rc;
    }
    run->priv = st;
    return 0;
}

static void http_cancel(struct probe_run *run)
{
    struct http_state *st = run->priv;
    if (!st)
        return;
    st->run = NULL;
    run->priv = NULL;
    http__end(st);
}

const struct probe_ops probe_http_ops = {
    .name = "http",
    .type = FAULTLINE__PROBE_TYPE__PROBE_HTTP,
    .fields = http_fields,
    .defaults = http_defaults,
    .free_opts = http_free_opts,
    .validate = http_validate,
    .default_timeout_us = 5 * 1000000LL,
    .default_retries = 3,
    .target_name = http_target_name,
    .start = http_start,
    .cancel = http_cancel,
    .trace_on_failure = 1,
};
