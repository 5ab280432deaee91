#include "alert.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultcode.h"
#include "resultfmt.h"
#include "log.h"
#include "query.h"
#include "timeutil.h"

#define ALERT_QUEUE_MAX 1000          /* per sink; the oldest goes first beyond it */
#define ALERT_BACKOFF_MIN_US 1000000LL
#define ALERT_BACKOFF_MAX_US 60000000LL
#define ALERT_MAX_FDS 16

struct alert_job {
    char *body;          /* what is sent (JSON) */
    int64_t id;          /* incident */
    enum alert_event ev;
    int64_t created_us;
    unsigned attempts;
    struct alert_job *next;
};

/* An alert Alertmanager must keep hearing about. */
struct alert_active {
    int64_t id;
    char *alert; /* one alert object, JSON */
    struct alert_active *next;
};

struct alert_sink {
    struct alert_sink_config cfg;
    char name[48];
    struct alert_job *head, *tail;
    size_t queued;
    /* in flight: a curl easy handle or a child process */
    CURL *easy;
    pid_t child;
    int64_t started_us;
    int64_t next_try_us, backoff_us;
    struct alert_active *active;
    int64_t next_resend_us;
};

struct alert_fd {
    curl_socket_t fd;
    int what; /* CURL_POLL_IN / OUT / INOUT */
};

struct alerter {
    struct curl_slist *json_headers;
    struct alert_sink *sinks;
    size_t nsinks;
    CURLM *multi;
    struct alert_fd fds[ALERT_MAX_FDS];
    size_t nfds;
    int64_t curl_deadline_us; /* -1: none */
    struct alert_counters counters;
    char *link_base; /* NULL: alerts carry no link */
};

const char *alert_event_name(enum alert_event e)
{
    switch (e) {
    case ALERT_OPEN: return "open";
    case ALERT_UPDATE: return "update";
    case ALERT_RESOLVE: return "resolve";
    }
    return "?";
}

/* ---- payloads ------------------------------------------------------------ */

static json_t *alert__incident(const struct alert_incident *in)
{
    char code[8], fault[128], level[4];
    snprintf(code, sizeof code, "0x%04x", in->fault);
    fault_format(in->fault, fault, sizeof fault);
    int l = fault_level(in->fault);
    snprintf(level, sizeof level, l < 4 ? "L%d" : "-", l);
    return json_pack("{sI ss ss ss ss ss ss so so so so}", "id", (json_int_t)in->id, "verdict",
                     in->verdict, "component", in->component, "severity", level, "fault_code",
                     code, "fault", fault, "explanation", in->explanation ? in->explanation : "",
                     "agents", query_names(in->agents_json), "targets",
                     query_names(in->targets_json), "start", query_time(in->start_us), "end",
                     query_time(in->end_us));
}

char *alert_payload_json(enum alert_event ev, const struct alert_incident *in)
{
    json_t *o = json_pack("{ss so}", "event", alert_event_name(ev), "incident",
                          alert__incident(in));
    char *s = o ? json_dumps(o, FL_JSON_EXACT) : NULL;
    json_decref(o);
    return s;
}

/* One Alertmanager alert.  Its labels are its identity, so they hold only
 * what stays fixed for the incident's life; the rest are annotations. */
static char *alert__am_alert(const struct alerter *a, const struct alert_incident *in,
                             int64_t ends_us)
{
    char id[24], code[8], level[4];
    snprintf(id, sizeof id, "%lld", (long long)in->id);
    snprintf(code, sizeof code, "0x%04x", in->fault);
    int l = fault_level(in->fault);
    snprintf(level, sizeof level, l < 4 ? "L%d" : "info", l);
    json_t *labels = json_pack("{ss ss ss ss ss}", "alertname", "FaultlineIncident", "verdict",
                               in->verdict, "component", in->component, "severity", level,
                               "incident", id);
    json_t *ann = json_pack("{ss ss so so}", "summary", in->explanation ? in->explanation : "",
                            "fault_code", code, "agents", json_string(in->agents_json ? in->agents_json : "[]"),
                            "targets", json_string(in->targets_json ? in->targets_json : "[]"));
    json_t *o = json_pack("{so so so}", "labels", labels, "annotations", ann, "startsAt",
                          query_time(in->start_us));
    if (o && ends_us)
        json_object_set_new(o, "endsAt", query_time(ends_us));
    if (o && a->link_base)
        json_object_set_new(o, "generatorURL", json_sprintf("%s/api/v1/incidents/%lld", a->link_base,
                                                            (long long)in->id));
    char *s = o ? json_dumps(o, FL_JSON_EXACT) : NULL;
    json_decref(o);
    return s;
}

/* ---- queues ---------------------------------------------------------------- */

static void alert__job_free(struct alert_job *j)
{
    if (j) {
        free(j->body);
        free(j);
    }
}

static void alert__push(struct alerter *a, struct alert_sink *s, char *body, int64_t id,
                        enum alert_event ev, int64_t now_us)
{
    if (!body)
        return;
    struct alert_job *j = calloc(1, sizeof *j);
    if (!j) {
        free(body);
        a->counters.dropped++;
        return;
    }
    *j = (struct alert_job){.body = body, .id = id, .ev = ev, .created_us = now_us};
    /* Full: the oldest waiting delivery goes (never the one in flight). */
    if (s->queued >= ALERT_QUEUE_MAX && s->head) {
        struct alert_job **pp = (s->easy || s->child) ? &s->head->next : &s->head;
        struct alert_job *old = *pp;
        if (old) {
            *pp = old->next;
            if (s->tail == old)
                s->tail = pp == &s->head ? NULL : s->head;
            s->queued--;
            log_error("alert sink %s: queue full, dropping the %s of incident %lld", s->name,
                      alert_event_name(old->ev), (long long)old->id);
            alert__job_free(old);
            a->counters.dropped++;
        }
    }
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->queued++;
    a->counters.queued++;
}

static void alert__pop(struct alert_sink *s)
{
    struct alert_job *j = s->head;
    if (!j)
        return;
    s->head = j->next;
    if (!s->head)
        s->tail = NULL;
    s->queued--;
    alert__job_free(j);
}

/* Alertmanager wants a JSON array: wrap one alert, or join the active set. */
static char *alert__am_body(const struct alert_sink *s, const char *one)
{
    size_t len = 3;
    if (one)
        len += strlen(one);
    else
        for (const struct alert_active *x = s->active; x; x = x->next)
            len += strlen(x->alert) + 1;
    char *b = malloc(len);
    if (!b)
        return NULL;
    char *p = b;
    *p++ = '[';
    if (one) {
        p = stpcpy(p, one);
    } else {
        for (const struct alert_active *x = s->active; x; x = x->next) {
            if (x != s->active)
                *p++ = ',';
            p = stpcpy(p, x->alert);
        }
    }
    *p++ = ']';
    *p = '\0';
    return b;
}

static void alert__am_track(struct alert_sink *s, int64_t id, const char *alert)
{
    struct alert_active **pp = &s->active;
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    if (!alert) { /* resolved */
        if (*pp) {
            struct alert_active *x = *pp;
            *pp = x->next;
            free(x->alert);
            free(x);
        }
        return;
    }
    char *copy = strdup(alert);
    if (!copy)
        return;
    if (!*pp) {
        *pp = calloc(1, sizeof **pp);
        if (!*pp) {
            free(copy);
            return;
        }
        (*pp)->id = id;
    }
    free((*pp)->alert);
    (*pp)->alert = copy;
}

/* ---- public ------------------------------------------------------------------ */

static int alert__socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
    (void)e;
    (void)sockp;
    struct alerter *a = userp;
    size_t i = 0;
    while (i < a->nfds && a->fds[i].fd != fd)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < a->nfds)
            a->fds[i] = a->fds[--a->nfds];
        return 0;
    }
    if (i == a->nfds) {
        if (a->nfds == ALERT_MAX_FDS)
            return -1; /* fails that transfer; retried later */
        a->nfds++;
    }
    a->fds[i] = (struct alert_fd){.fd = fd, .what = what};
    return 0;
}

static int alert__timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct alerter *a = userp;
    a->curl_deadline_us = timeout_ms < 0 ? -1 : time_now_us() + timeout_ms * 1000;
    return 0;
}

struct alerter *alerter_new(const struct alert_sink_config *sinks, size_t n,
                            const char *link_base)
{
    struct alerter *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    if (link_base) {
        size_t len = strlen(link_base);
        while (len && link_base[len - 1] == '/')
            len--;
        a->link_base = strndup(link_base, len);
        if (!a->link_base) {
            free(a);
            return NULL;
        }
    }
    a->curl_deadline_us = -1;
    a->sinks = calloc(n ? n : 1, sizeof *a->sinks);
    a->multi = curl_multi_init();
    a->json_headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!a->sinks || !a->multi || !a->json_headers) {
        alerter_destroy(&a);
        return NULL;
    }
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETFUNCTION, alert__socket_cb);
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETDATA, a);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERFUNCTION, alert__timer_cb);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERDATA, a);
    static const char *const types[] = {"?", "log", "webhook", "alertmanager", "exec"};
    for (size_t i = 0; i < n; i++) {
        struct alert_sink *s = &a->sinks[a->nsinks++];
        s->cfg = sinks[i]; /* borrowed: the configuration outlives the alerter */
        snprintf(s->name, sizeof s->name, "%s#%zu", types[sinks[i].type], i + 1);
        s->backoff_us = ALERT_BACKOFF_MIN_US;
    }
    return a;
}

void alerter_destroy(struct alerter **pa)
{
    if (!pa || !*pa)
        return;
    struct alerter *a = *pa;
    for (size_t i = 0; i < a->nsinks; i++) {
        struct alert_sink *s = &a->sinks[i];
        if (s->easy) {
            curl_multi_remove_handle(a->multi, s->easy);
            curl_easy_cleanup(s->easy);
        }
        while (s->head)
            alert__pop(s);
        while (s->active)
            alert__am_track(s, s->active->id, NULL);
    }
    if (a->multi)
        curl_multi_cleanup(a->multi);
    curl_slist_free_all(a->json_headers);
    free(a->sinks);
    free(a->link_base);
    free(a);
    *pa = NULL;
}

void alerter_event(struct alerter *a, enum alert_event ev, const struct alert_incident *in,
                   int64_t now_us)
{
    int level = fault_level(in->fault);
    for (size_t i = 0; i < a->nsinks; i++) {
        struct alert_sink *s = &a->sinks[i];
        if (level > s->cfg.level)
            continue;
        if (s->cfg.type == ALERT_SINK_LOG) {
            char fault[128];
            fault_format(in->fault, fault, sizeof fault);
            log_warn("alert %s: incident %lld %s %s: %s (%s)", alert_event_name(ev),
                     (long long)in->id, in->verdict, in->component,
                     in->explanation ? in->explanation : "", fault);
            a->counters.queued++;
            a->counters.delivered++;
        } else if (s->cfg.type == ALERT_SINK_ALERTMANAGER) {
            char *alert = alert__am_alert(a, in, ev == ALERT_RESOLVE ? in->end_us : 0);
            if (!alert)
                continue;
            alert__am_track(s, in->id, ev == ALERT_RESOLVE ? NULL : alert);
            alert__push(a, s, alert__am_body(s, alert), in->id, ev, now_us);
            free(alert);
            if (!s->next_resend_us)
                s->next_resend_us = now_us + s->cfg.resend_us;
        } else {
            alert__push(a, s, alert_payload_json(ev, in), in->id, ev, now_us);
        }
    }
}

void alerter_adopt(struct alerter *a, const struct alert_incident *in)
{
    for (size_t i = 0; i < a->nsinks; i++) {
        struct alert_sink *s = &a->sinks[i];
        if (s->cfg.type != ALERT_SINK_ALERTMANAGER || fault_level(in->fault) > s->cfg.level)
            continue;
        char *alert = alert__am_alert(a, in, 0);
        if (alert)
            alert__am_track(s, in->id, alert);
        free(alert);
        s->next_resend_us = 1; /* soon: it may have expired while we were down */
    }
}

/* ---- delivery -------------------------------------------------------------- */

static size_t alert__discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static int alert__start_http(struct alerter *a, struct alert_sink *s)
{
    char url[1024];
    if (s->cfg.type == ALERT_SINK_ALERTMANAGER) {
        size_t len = strlen(s->cfg.url);
        while (len && s->cfg.url[len - 1] == '/')
            len--; /* "http://am:9093/" and "http://am:9093" alike */
        snprintf(url, sizeof url, "%.*s/api/v2/alerts", (int)len, s->cfg.url);
    } else {
        snprintf(url, sizeof url, "%s", s->cfg.url);
    }
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->json_headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->head->body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(s->cfg.timeout_us / 1000));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, alert__discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "faultline-collector/" FL_VERSION);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (curl_multi_add_handle(a->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return -1;
    }
    s->easy = e;
    return 0;
}

static int alert__start_exec(struct alert_sink *s)
{
    /* The event goes to the command's stdin through a socket pair, not a
     * pipe: send(MSG_NOSIGNAL) cannot raise SIGPIPE when the command exits
     * without reading, whatever the process does with that signal.  The
     * whole event must fit in the socket's buffer, so the command never
     * waits on us. */
    int p[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) != 0)
        return -1;
    size_t len = strlen(s->head->body);
    int sndbuf = (int)len + 4096;
    if (len + 1 > 65536)
        setsockopt(p[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    /* posix_spawn, not fork: the collector has ZeroMQ's threads, and a
     * forked child may only call async-signal-safe functions before exec. */
    extern char **environ;
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **envp = calloc(nenv + 3, sizeof *envp);
    char evbuf[48], idbuf[48];
    snprintf(evbuf, sizeof evbuf, "FAULTLINE_EVENT=%s", alert_event_name(s->head->ev));
    snprintf(idbuf, sizeof idbuf, "FAULTLINE_INCIDENT=%lld", (long long)s->head->id);
    posix_spawn_file_actions_t fa;
    int rc = envp ? posix_spawn_file_actions_init(&fa) : ENOMEM;
    pid_t pid = -1;
    if (rc == 0) {
        size_t k = 0;
        for (size_t i = 0; i < nenv; i++)
            if (strncmp(environ[i], "FAULTLINE_EVENT=", 16) &&
                strncmp(environ[i], "FAULTLINE_INCIDENT=", 19))
                envp[k++] = environ[i];
        envp[k++] = evbuf;
        envp[k++] = idbuf;
        posix_spawn_file_actions_adddup2(&fa, p[0], 0);
        /* The collector ignores SIGPIPE; the command should not inherit that. */
        posix_spawnattr_t attr;
        sigset_t def;
        sigemptyset(&def);
        sigaddset(&def, SIGPIPE);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setsigdefault(&attr, &def);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
        rc = posix_spawnp(&pid, s->cfg.argv[0], &fa, &attr, s->cfg.argv, envp);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
    }
    free(envp);
    if (rc != 0) {
        close(p[0]);
        close(p[1]);
        errno = rc;
        return -1;
    }
    close(p[0]);
    ssize_t w = send(p[1], s->head->body, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w == (ssize_t)len)
        w = send(p[1], "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(p[1]);
    s->child = pid; /* a short write shows as the child's failure or timeout */
    return 0;
}

/* The delivery at the head of S ended: OK or not. */
static void alert__finish(struct alerter *a, struct alert_sink *s, int ok, const char *why,
                          int64_t now_us)
{
    struct alert_job *j = s->head;
    if (ok) {
        a->counters.delivered++;
        s->backoff_us = ALERT_BACKOFF_MIN_US;
        s->next_try_us = 0;
        log_debug("alert sink %s: %s of incident %lld delivered", s->name,
                  alert_event_name(j->ev), (long long)j->id);
        alert__pop(s);
        return;
    }
    a->counters.failed_attempts++;
    j->attempts++;
    if (now_us - j->created_us >= s->cfg.give_up_us) {
        log_error("alert sink %s: giving up the %s of incident %lld after %u attempts: %s",
                  s->name, alert_event_name(j->ev), (long long)j->id, j->attempts, why);
        a->counters.dropped++;
        alert__pop(s);
        return;
    }
    log_warn("alert sink %s: %s of incident %lld failed (%s), retry in %lld ms", s->name,
             alert_event_name(j->ev), (long long)j->id, why, (long long)(s->backoff_us / 1000));
    s->next_try_us = now_us + s->backoff_us;
    s->backoff_us = s->backoff_us * 2 > ALERT_BACKOFF_MAX_US ? ALERT_BACKOFF_MAX_US
                                                              : s->backoff_us * 2;
}

static void alert__reap(struct alerter *a, struct alert_sink *s, int64_t now_us)
{
    int status;
    pid_t r = waitpid(s->child, &status, WNOHANG);
    if (r == 0) {
        if (now_us - s->started_us < s->cfg.timeout_us)
            return;
        kill(s->child, SIGKILL);
        waitpid(s->child, &status, 0);
        s->child = 0;
        alert__finish(a, s, 0, "timed out", now_us);
        return;
    }
    s->child = 0;
    char why[64];
    if (r < 0)
        snprintf(why, sizeof why, "waitpid: %s", strerror(errno));
    else if (WIFEXITED(status))
        snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
    else
        snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(status));
    alert__finish(a, s, r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, why, now_us);
}

static void alert__collect(struct alerter *a, int64_t now_us)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(a->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct alert_sink *s = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        long code = 0;
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        char why[256];
        if (m->data.result != CURLE_OK)
            snprintf(why, sizeof why, "%s", curl_easy_strerror(m->data.result));
        else
            snprintf(why, sizeof why, "HTTP status %ld", code);
        int ok = m->data.result == CURLE_OK && code >= 200 && code < 300;
        CURL *e = m->easy_handle;
        curl_multi_remove_handle(a->multi, e);
        curl_easy_cleanup(e);
        if (s) {
            s->easy = NULL;
            alert__finish(a, s, ok, why, now_us);
        }
    }
}

static void alert__kick(struct alerter *a, struct alert_sink *s, int64_t now_us)
{
    if (s->cfg.type == ALERT_SINK_ALERTMANAGER && s->active && s->next_resend_us &&
        now_us >= s->next_resend_us) {
        /* Re-send every active alert: Alertmanager resolves an alert it
         * has not heard about for its resolve_timeout. */
        if (!s->head)
            alert__push(a, s, alert__am_body(s, NULL), 0, ALERT_UPDATE, now_us);
        s->next_resend_us = now_us + s->cfg.resend_us;
    }
    if (!s->head || s->easy || s->child || now_us < s->next_try_us)
        return;
    s->started_us = now_us;
    int rc = s->cfg.type == ALERT_SINK_EXEC ? alert__start_exec(s) : alert__start_http(a, s);
    if (rc != 0)
        alert__finish(a, s, 0, strerror(errno), now_us);
}

size_t alerter_pollitems(struct alerter *a, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nfds && n < max; i++) {
        items[n] = (zmq_pollitem_t){.socket = NULL, .fd = a->fds[i].fd, .events = 0};
        if (a->fds[i].what & CURL_POLL_IN)
            items[n].events |= ZMQ_POLLIN;
        if (a->fds[i].what & CURL_POLL_OUT)
            items[n].events |= ZMQ_POLLOUT;
        n++;
    }
    return n;
}

long alerter_timeout_ms(struct alerter *a, int64_t now_us)
{
    int64_t next = a->curl_deadline_us;
    for (size_t i = 0; i < a->nsinks; i++) {
        const struct alert_sink *s = &a->sinks[i];
        int64_t t = -1;
        if (s->child)
            t = now_us + 50000; /* reap soon */
        else if (s->head && !s->easy)
            t = s->next_try_us;
        if (s->cfg.type == ALERT_SINK_ALERTMANAGER && s->active && s->next_resend_us &&
            (t < 0 || s->next_resend_us < t))
            t = s->next_resend_us;
        if (t >= 0 && (next < 0 || t < next))
            next = t;
    }
    if (next < 0)
        return -1;
    return next <= now_us ? 0 : (long)((next - now_us + 999) / 1000);
}

void alerter_run(struct alerter *a, const zmq_pollitem_t *items, size_t n, int64_t now_us)
{
    int running;
    for (size_t i = 0; i < n; i++) {
        int flags = 0;
        if (items[i].revents & ZMQ_POLLIN)
            flags |= CURL_CSELECT_IN;
        if (items[i].revents & ZMQ_POLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (items[i].revents & ZMQ_POLLERR)
            flags |= CURL_CSELECT_ERR;
        if (flags)
            curl_multi_socket_action(a->multi, items[i].fd, flags, &running);
    }
    if (a->curl_deadline_us >= 0 && now_us >= a->curl_deadline_us) {
        a->curl_deadline_us = -1;
        curl_multi_socket_action(a->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    alert__collect(a, now_us);
    for (size_t i = 0; i < a->nsinks; i++) {
        struct alert_sink *s = &a->sinks[i];
        if (s->child)
            alert__reap(a, s, now_us);
        alert__kick(a, s, now_us);
    }
}

size_t alerter_pending(const struct alerter *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nsinks; i++)
        n += a->sinks[i].queued;
    return n;
}

const struct alert_counters *alerter_counters(const struct alerter *a)
{
    return &a->counters;
}
