#include "alert_sink.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "faultcode.h"
#include "resultfmt.h"
#include "log.h"
#include "query.h"
#include "timeutil.h"

#define ALERT_QUEUE_MAX 1000          /* per sink; the oldest goes first beyond it */
#define ALERT_BACKOFF_MIN_US 1000000LL
#define ALERT_BACKOFF_MAX_US 60000000LL
#define ALERT_MAX_FDS 16

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

/* The sinks, by type. */
static const struct alert_sink_ops *const alert__ops[ALERT_SINK_NTYPES + 1] = {
    [ALERT_SINK_LOG] = &alert_log_ops,
    [ALERT_SINK_WEBHOOK] = &alert_webhook_ops,
    [ALERT_SINK_ALERTMANAGER] = &alert_am_ops,
    [ALERT_SINK_EXEC] = &alert_exec_ops,
};

const struct alert_sink_kind *alert_sink_kind(enum alert_sink_type t)
{
    return t >= 1 && t <= ALERT_SINK_NTYPES ? &alert__ops[t]->kind : NULL;
}

enum alert_sink_type alert_sink_type_named(const char *name)
{
    for (int t = 1; t <= ALERT_SINK_NTYPES; t++)
        if (!strcmp(alert__ops[t]->kind.name, name))
            return (enum alert_sink_type)t;
    return 0;
}

const char *alert_link_base(const struct alerter *a)
{
    return a->link_base;
}

void alert_delivered_now(struct alerter *a)
{
    a->counters.queued++;
    a->counters.delivered++;
}

/* ---- payloads ------------------------------------------------------------ */

static json_t *alert__incident(const struct incident *in)
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

char *alert_payload_json(enum incident_event ev, const struct incident *in)
{
    json_t *o = json_pack("{ss so}", "event", incident_event_name(ev), "incident",
                          alert__incident(in));
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

void alert_push(struct alerter *a, struct alert_sink *s, char *body, int64_t id,
                enum incident_event ev, int64_t now_us)
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
                      incident_event_name(old->ev), (long long)old->id);
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

struct alerter *alert_new(const struct alert_sink_config *sinks, size_t n,
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
        alert_free(&a);
        return NULL;
    }
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETFUNCTION, alert__socket_cb);
    curl_multi_setopt(a->multi, CURLMOPT_SOCKETDATA, a);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERFUNCTION, alert__timer_cb);
    curl_multi_setopt(a->multi, CURLMOPT_TIMERDATA, a);
    for (size_t i = 0; i < n; i++) {
        if (!alert_sink_kind(sinks[i].type))
            continue; /* configuration refuses those */
        struct alert_sink *s = &a->sinks[a->nsinks++];
        s->ops = alert__ops[sinks[i].type];
        s->cfg = sinks[i]; /* borrowed: the configuration outlives the alerter */
        snprintf(s->name, sizeof s->name, "%s#%zu", s->ops->kind.name, i + 1);
        s->backoff_us = ALERT_BACKOFF_MIN_US;
    }
    return a;
}

void alert_free(struct alerter **pa)
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
        if (s->ops->free)
            s->ops->free(s);
    }
    if (a->multi)
        curl_multi_cleanup(a->multi);
    curl_slist_free_all(a->json_headers);
    free(a->sinks);
    free(a->link_base);
    free(a);
    *pa = NULL;
}

void alert_event(struct alerter *a, enum incident_event ev, const struct incident *in,
                   int64_t now_us)
{
    int level = fault_level(in->fault);
    for (size_t i = 0; i < a->nsinks; i++)
        if (level <= a->sinks[i].cfg.level)
            a->sinks[i].ops->event(a, &a->sinks[i], ev, in, now_us);
}

void alert_adopt(struct alerter *a, const struct incident *in)
{
    for (size_t i = 0; i < a->nsinks; i++) {
        struct alert_sink *s = &a->sinks[i];
        if (s->ops->adopt && fault_level(in->fault) <= s->cfg.level)
            s->ops->adopt(a, s, in);
    }
}

/* ---- delivery -------------------------------------------------------------- */

static size_t alert__discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

int alert_start_post(struct alerter *a, struct alert_sink *s, const char *url)
{
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
                  incident_event_name(j->ev), (long long)j->id);
        alert__pop(s);
        return;
    }
    a->counters.failed_attempts++;
    j->attempts++;
    if (now_us - j->created_us >= s->cfg.give_up_us) {
        log_error("alert sink %s: giving up the %s of incident %lld after %u attempts: %s",
                  s->name, incident_event_name(j->ev), (long long)j->id, j->attempts, why);
        a->counters.dropped++;
        alert__pop(s);
        return;
    }
    log_warn("alert sink %s: %s of incident %lld failed (%s), retry in %lld ms", s->name,
             incident_event_name(j->ev), (long long)j->id, why, (long long)(s->backoff_us / 1000));
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
    int64_t due = s->ops->due_us ? s->ops->due_us(s) : -1;
    if (due >= 0 && now_us >= due)
        s->ops->tick(a, s, now_us);
    if (!s->head || s->easy || s->child || now_us < s->next_try_us || !s->ops->start)
        return;
    s->started_us = now_us;
    if (s->ops->start(a, s) != 0)
        alert__finish(a, s, 0, strerror(errno), now_us);
}

size_t alert_pollitems(struct alerter *a, zmq_pollitem_t *items, size_t max)
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

long alert_timeout_ms(struct alerter *a, int64_t now_us)
{
    int64_t next = a->curl_deadline_us;
    for (size_t i = 0; i < a->nsinks; i++) {
        const struct alert_sink *s = &a->sinks[i];
        int64_t t = -1;
        if (s->child)
            t = now_us + 50000; /* reap soon */
        else if (s->head && !s->easy)
            t = s->next_try_us;
        int64_t due = s->ops->due_us ? s->ops->due_us(s) : -1;
        if (due >= 0 && (t < 0 || due < t))
            t = due;
        if (t >= 0 && (next < 0 || t < next))
            next = t;
    }
    if (next < 0)
        return -1;
    return next <= now_us ? 0 : (long)((next - now_us + 999) / 1000);
}

void alert_run(struct alerter *a, const zmq_pollitem_t *items, size_t n, int64_t now_us)
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

size_t alert_pending(const struct alerter *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nsinks; i++)
        n += a->sinks[i].queued;
    return n;
}

const struct alert_counters *alert_counters(const struct alerter *a)
{
    return &a->counters;
}
