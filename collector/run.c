/* run: the collector's wiring and its loop.  Each part of the collector
 * (the ZAP handler, ingest, evaluation, the HTTP API, the alert sinks, the
 * stats line) says what it waits for, for how long at most, and what it
 * does when woken; the loop polls them all at once and runs them in
 * order. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "alert.h"
#include "api.h"
#include "auth.h"
#include "collector.h"
#include "correlate.h"
#include "incident.h"
#include "ingest.h"
#include "log.h"
#include "timeutil.h"
#include "transport.h"

#define COLLECTOR_MAX_DIAGNOSES 64
#define COLLECTOR_MAX_ITEMS 32
#define COLLECTOR_MAX_PARTS 8

/* One part of the loop. */
struct collector_part {
    /* Put what it waits for into ITEMS (room for MAX); returns how many. */
    size_t (*items)(void *ctx, zmq_pollitem_t *items, size_t max);
    /* How long it lets the loop wait, in ms; -1: as long as the others. */
    long (*timeout_ms)(void *ctx);
    /* After each wait: its N items with what happened to them (nothing,
     * when the wait ran out). */
    void (*run)(void *ctx, const zmq_pollitem_t *items, size_t n);
    void *ctx;
};

struct collector {
    const struct collector_config *cfg;
    void *zctx, *sock, *mon;
    struct store *st;
    struct auth *auth;
    struct correlate *corr;
    struct incidents *inc;
    struct ingest *in;
    struct alerter *alerts;
    struct api *api;
    struct corr_diagnosis *diag; /* COLLECTOR_MAX_DIAGNOSES of them */
    int backoff_ms;              /* after a store failure: wait before taking more */
    uint64_t backoff_until_ns, next_eval_ns, next_stats_ns;
};

static volatile sig_atomic_t collector_stop, collector_reload;

static void collector_on_signal(int sig)
{
    if (sig == SIGHUP)
        collector_reload = 1;
    else
        collector_stop = sig;
}

/* Milliseconds until DUE_NS on the monotonic clock (rounded up), 0 when past. */
static long collector__until(uint64_t due_ns)
{
    uint64_t now = time_mono_ns();
    return due_ns > now ? (long)((due_ns - now) / 1000000) + 1 : 0;
}

static void collector__log_stats(const struct ingest_counters *c, const struct alert_counters *a)
{
    uint64_t rejected = 0;
    for (int i = 1; i < WIRE_NSTATUS; i++)
        rejected += c->rejected[i];
    log_info("stats: messages=%llu stored=%llu duplicate=%llu batches=%llu gaps=%llu "
             "rejected=%llu handshakes_failed=%llu commit_failures=%llu alerts_delivered=%llu "
             "alerts_failed=%llu alerts_dropped=%llu",
             (unsigned long long)c->messages, (unsigned long long)c->results_stored,
             (unsigned long long)c->results_duplicate, (unsigned long long)c->batches,
             (unsigned long long)c->gaps, (unsigned long long)rejected,
             (unsigned long long)c->handshakes_failed, (unsigned long long)c->commit_failures,
             (unsigned long long)a->delivered, (unsigned long long)a->failed_attempts,
             (unsigned long long)a->dropped);
}

/* Incident events to the alert sinks; open incidents at start-up to the
 * sinks that re-send (Alertmanager). */
static void collector__alert(void *ctx, enum incident_event ev, const struct incident *in)
{
    alert_event(ctx, ev, in, time_now_us());
}

static void collector__adopt(void *ctx, enum incident_event ev, const struct incident *in)
{
    (void)ev;
    alert_adopt(ctx, in);
}

/* The collector's URL for links in alerts: external_url, or the HTTP
 * API's address (this host's name when it listens on every address);
 * NULL when the API is off and nothing says where it is. */
static const char *collector__link_base(const struct collector_config *cfg, char *buf, size_t len)
{
    if (cfg->external_url)
        return cfg->external_url;
    if (!cfg->http_listen[0])
        return NULL;
    const char *colon = strrchr(cfg->http_listen, ':');
    if (!colon)
        return NULL;
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(colon - cfg->http_listen), cfg->http_listen);
    if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "*") || !strcmp(host, "[::]")) {
        if (gethostname(host, sizeof host) != 0)
            return NULL;
        host[sizeof host - 1] = '\0';
    }
    snprintf(buf, len, "http://%s%s", host, colon);
    return buf;
}

/* The keys refused lately, for `faultline agents`: stored when they change
 * (at most once per evaluation), the whole table in one small transaction. */
static void collector__note_refusals(struct collector *c, int force)
{
    if (!force && (!c->auth || !auth_refusals_changed(c->auth)))
        return;
    const struct auth_refusal *r = NULL;
    size_t n = c->auth ? auth_refusals(c->auth, &r) : 0;
    struct store_refusal_row rows[AUTH_REFUSALS];
    for (size_t i = 0; i < n; i++)
        rows[i] = (struct store_refusal_row){.key = r[i].key,
                                             .address = r[i].address,
                                             .first_us = r[i].first_us,
                                             .last_us = r[i].last_us,
                                             .count = r[i].count};
    if (store_begin(c->st) != 0)
        return;
    if (store_put_refusals(c->st, rows, n) != 0 || store_commit(c->st) != 0) {
        store_rollback(c->st);
        log_warn("cannot record the refused keys: %s", store_errmsg(c->st));
    }
}

/* ---- the parts ------------------------------------------------------------ */

/* The ZAP handler: answered even while the store backs off. */
static size_t collector__auth_items(void *ctx, zmq_pollitem_t *items, size_t max)
{
    struct collector *c = ctx;
    if (!c->auth || !max)
        return 0;
    items[0] = (zmq_pollitem_t){.socket = auth_socket(c->auth), .events = ZMQ_POLLIN};
    return 1;
}

static void collector__auth_run(void *ctx, const zmq_pollitem_t *items, size_t n)
{
    struct collector *c = ctx;
    (void)items;
    (void)n;
    if (c->auth)
        auth_handle(c->auth);
}

/* The socket's monitor, and the agents' socket unless a store failure
 * (disk full, lock) has it wait: what came now would fail the same way,
 * and the agents keep it. */
static size_t collector__ingest_items(void *ctx, zmq_pollitem_t *items, size_t max)
{
    struct collector *c = ctx;
    if (max < 2)
        return 0;
    items[0] = (zmq_pollitem_t){.socket = c->mon, .events = ZMQ_POLLIN};
    if (c->backoff_ms && time_mono_ns() < c->backoff_until_ns)
        return 1;
    items[1] = (zmq_pollitem_t){.socket = c->sock, .events = ZMQ_POLLIN};
    return 2;
}

static long collector__ingest_timeout(void *ctx)
{
    struct collector *c = ctx;
    return c->backoff_ms ? collector__until(c->backoff_until_ns) : -1;
}

static void collector__ingest_run(void *ctx, const zmq_pollitem_t *items, size_t n)
{
    struct collector *c = ctx;
    ingest_monitor(c->in, c->mon);
    if (n < 2 || !(items[1].revents & ZMQ_POLLIN))
        return;
    if (ingest_drain(c->in, 512) < 0) {
        c->backoff_ms = c->backoff_ms ? (c->backoff_ms * 2 > 1000 ? 1000 : c->backoff_ms * 2) : 50;
        c->backoff_until_ns = time_mono_ns() + (uint64_t)c->backoff_ms * 1000000;
    } else {
        c->backoff_ms = 0;
    }
}

/* The incidents, as the store has them open.  NULL on error. */
static struct incidents *collector__incidents(struct collector *c)
{
    struct incidents *inc = incidents_new(c->cfg->corr.confirm_after_us);
    if (inc && incidents_load(inc, c->st) != 0)
        incidents_free(&inc);
    return inc;
}

static long collector__evaluate_timeout(void *ctx)
{
    return collector__until(((struct collector *)ctx)->next_eval_ns);
}

/* Correlate what is failing and bring the incidents up to date, in one
 * transaction.  A store failure leaves the incidents as the database has
 * them (they are reloaded). */
static void collector__evaluate_run(void *ctx, const zmq_pollitem_t *items, size_t n)
{
    struct collector *c = ctx;
    (void)items;
    (void)n;
    if (time_mono_ns() < c->next_eval_ns || !c->inc)
        return;
    size_t nd = correlate_evaluate(c->corr, time_now_us(), c->diag, COLLECTOR_MAX_DIAGNOSES);
    if (store_begin(c->st) == 0) {
        if (incidents_apply(c->inc, c->st, c->diag, nd, time_now_us(), NULL, NULL) != 0 ||
            store_commit(c->st) != 0) {
            store_rollback(c->st);
            log_error("cannot record incidents: %s", store_errmsg(c->st));
            incidents_free(&c->inc);
            c->inc = collector__incidents(c);
        } else { /* committed: now the world may hear of it */
            incidents_flush_events(c->inc, collector__alert, c->alerts);
        }
    }
    collector__note_refusals(c, 0);
    c->next_eval_ns = time_mono_ns() + (uint64_t)c->cfg->evaluate_interval_us * 1000;
}

static size_t collector__api_items(void *ctx, zmq_pollitem_t *items, size_t max)
{
    struct collector *c = ctx;
    if (!c->api || !max)
        return 0;
    items[0] = (zmq_pollitem_t){.fd = api_fd(c->api), .events = ZMQ_POLLIN};
    return 1;
}

static long collector__api_timeout(void *ctx)
{
    struct collector *c = ctx;
    return c->api ? api_timeout_ms(c->api) : -1;
}

/* Between transactions: the API reads a consistent store. */
static void collector__api_run(void *ctx, const zmq_pollitem_t *items, size_t n)
{
    struct collector *c = ctx;
    (void)items;
    (void)n;
    if (c->api)
        api_run(c->api);
}

static size_t collector__alert_items(void *ctx, zmq_pollitem_t *items, size_t max)
{
    return alert_pollitems(((struct collector *)ctx)->alerts, items, max);
}

static long collector__alert_timeout(void *ctx)
{
    return alert_timeout_ms(((struct collector *)ctx)->alerts, time_now_us());
}

static void collector__alert_run(void *ctx, const zmq_pollitem_t *items, size_t n)
{
    alert_run(((struct collector *)ctx)->alerts, items, n, time_now_us());
}

static long collector__stats_timeout(void *ctx)
{
    return collector__until(((struct collector *)ctx)->next_stats_ns);
}

static void collector__stats_run(void *ctx, const zmq_pollitem_t *items, size_t n)
{
    struct collector *c = ctx;
    (void)items;
    (void)n;
    if (time_mono_ns() < c->next_stats_ns)
        return;
    collector__log_stats(ingest_counters(c->in), alert_counters(c->alerts));
    c->next_stats_ns = time_mono_ns() + (uint64_t)c->cfg->stats_interval_us * 1000;
}

/* ---- wiring and the loop --------------------------------------------------- */

/* The CURVE key pair and the allow-list's handler (it binds first: the
 * socket's handshakes need it), then the agents' socket. */
static int collector__listen(struct collector *c, int insecure, char *err, size_t errlen)
{
    struct transport_keys keys = {.insecure = insecure};
    if (insecure) {
        log_warn("--insecure: no CURVE, anyone can connect, send results under any name and read "
                 "the traffic; for development only");
    } else {
        if (transport_key_load(c->cfg->key, keys.public_key, keys.secret_key, err, errlen) != 0) {
            log_error("key: %s", err);
            return -1;
        }
        c->auth = auth_new(c->zctx, c->cfg->allow, err, errlen);
        if (!c->auth) {
            log_error("allow: %s", err);
            return -1;
        }
        log_info("CURVE: public key %s, %zu agents allowed (%s)", keys.public_key,
                 auth_listed(c->auth), c->cfg->allow);
    }
    c->sock = transport_collector_open(c->zctx, c->cfg->listen, &keys, &c->mon, err, errlen);
    memset(keys.secret_key, 0, sizeof keys.secret_key);
    if (!c->sock)
        log_error("cannot listen: %s", err);
    return c->sock ? 0 : -1;
}

/* Correlation carried on from what the store knows, the open incidents,
 * ingest, the alert sinks and the HTTP API. */
static int collector__open_parts(struct collector *c, char *err, size_t errlen)
{
    const struct collector_config *cfg = c->cfg;
    uint64_t replayed = 0;
    c->corr = correlate_new(&cfg->corr);
    c->diag = calloc(COLLECTOR_MAX_DIAGNOSES, sizeof *c->diag);
    if (!c->corr || !c->diag)
        return -1;
    if (collector_restore(c->st, c->corr, cfg->corr.window_us, time_now_us(), &replayed) != 0) {
        log_error("cannot read what the store knows: %s", store_errmsg(c->st));
        return -1;
    }
    if (replayed)
        log_info("carried on from the store: %llu results of the last %lld s, %zu checks failing",
                 (unsigned long long)replayed, (long long)(cfg->corr.window_us / 1000000),
                 correlate_failing(c->corr));
    collector__note_refusals(c, 1); /* a new run: nobody has knocked yet */
    c->inc = collector__incidents(c);
    if (!c->inc) {
        log_error("cannot load open incidents: %s", store_errmsg(c->st));
        return -1;
    }
    char link[320];
    c->in = ingest_new(c->sock, c->st, c->corr);
    c->alerts = alert_new(cfg->sinks, cfg->nsinks, collector__link_base(cfg, link, sizeof link));
    if (!c->in || !c->alerts)
        return -1;
    ingest_set_auth(c->in, c->auth);
    incidents_foreach_open(c->inc, collector__adopt, c->alerts);
    if (!cfg->http_listen[0])
        return 0;
    struct api_sources src = {.st = c->st,
                              .ingest = ingest_counters(c->in),
                              .alerts = alert_counters(c->alerts),
                              .corr = c->corr,
                              .auth = c->auth};
    c->api = api_new(cfg->http_listen, &src, err, errlen);
    if (!c->api)
        log_error("HTTP API: %s", err);
    return c->api ? 0 : -1;
}

static int collector__open(struct collector *c, int insecure)
{
    char err[4096];
    struct store_opts so = {.url = c->cfg->database, .sync_normal = c->cfg->sync_normal};
    c->zctx = zmq_ctx_new();
    c->st = store_open(&so, err, sizeof err);
    if (!c->st) {
        log_error("cannot open the database: %s", err);
        return -1;
    }
    if (collector__listen(c, insecure, err, sizeof err) != 0)
        return -1;
    return collector__open_parts(c, err, sizeof err);
}

static void collector__close(struct collector *c)
{
    api_free(&c->api);
    alert_free(&c->alerts);
    ingest_free(&c->in);
    incidents_free(&c->inc);
    correlate_free(&c->corr);
    free(c->diag);
    transport_free(&c->sock);
    transport_free(&c->mon);
    auth_free(&c->auth);
    store_free(&c->st);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
}

/* Wait for what any part waits for, as long as the most impatient allows,
 * then run every part.  -1 when the wait itself failed. */
static int collector__turn(const struct collector_part *parts, size_t nparts)
{
    zmq_pollitem_t items[COLLECTOR_MAX_ITEMS];
    size_t first[COLLECTOR_MAX_PARTS], count[COLLECTOR_MAX_PARTS], total = 0;
    long wait_ms = -1;
    for (size_t p = 0; p < nparts; p++) {
        first[p] = total;
        count[p] = parts[p].items
                       ? parts[p].items(parts[p].ctx, items + total, COLLECTOR_MAX_ITEMS - total)
                       : 0;
        total += count[p];
        long t = parts[p].timeout_ms ? parts[p].timeout_ms(parts[p].ctx) : -1;
        if (t >= 0 && (wait_ms < 0 || t < wait_ms))
            wait_ms = t;
    }
    for (size_t i = 0; i < total; i++)
        items[i].revents = 0;
    int n = zmq_poll(items, (int)total, wait_ms);
    if (n < 0 && errno != EINTR) {
        log_error("zmq_poll: %s", zmq_strerror(errno));
        return -1;
    }
    for (size_t p = 0; p < nparts; p++)
        parts[p].run(parts[p].ctx, items + first[p], n > 0 ? count[p] : 0);
    return 0;
}

int collector_run(const struct collector_config *cfg, int insecure)
{
    struct collector c = {.cfg = cfg};
    int rc = 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (collector__open(&c, insecure) != 0)
        goto out;
    const struct collector_part parts[] = {
        {collector__auth_items, NULL, collector__auth_run, &c},
        {collector__ingest_items, collector__ingest_timeout, collector__ingest_run, &c},
        {NULL, collector__evaluate_timeout, collector__evaluate_run, &c},
        {collector__api_items, collector__api_timeout, collector__api_run, &c},
        {collector__alert_items, collector__alert_timeout, collector__alert_run, &c},
        {NULL, collector__stats_timeout, collector__stats_run, &c},
    };
    _Static_assert(sizeof parts / sizeof parts[0] <= COLLECTOR_MAX_PARTS, "collector__turn's room");
    struct sigaction sa = {.sa_handler = collector_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_info("faultline-collector %s listening on %s, database %s (synchronous=%s), HTTP %s, "
             "%zu alert sink%s",
             FL_VERSION, cfg->listen, cfg->database, cfg->sync_normal ? "normal" : "full",
             c.api ? cfg->http_listen : "off", cfg->nsinks, cfg->nsinks == 1 ? "" : "s");
    c.next_stats_ns = time_mono_ns() + (uint64_t)cfg->stats_interval_us * 1000;
    c.next_eval_ns = time_mono_ns() + (uint64_t)cfg->evaluate_interval_us * 1000;
    while (!collector_stop) {
        char err[4096];
        if (collector_reload) {
            collector_reload = 0;
            if (c.auth && auth_reload(c.auth, err, sizeof err) != 0)
                log_error("allow-list not reloaded, the old one stays: %s", err);
        }
        if (collector__turn(parts, sizeof parts / sizeof parts[0]) != 0)
            break;
    }
    collector__log_stats(ingest_counters(c.in), alert_counters(c.alerts));
    log_info("faultline-collector stopping (signal %d)", (int)collector_stop);
    rc = 0;
out:
    collector__close(&c);
    curl_global_cleanup();
    return rc;
}
