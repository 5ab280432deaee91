/* faultline-collector: receives results from agents over ZeroMQ, stores
 * them (SQLite), and acknowledges what is committed. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
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
#include "log.h"
#include "timeutil.h"
#include "transport.h"

static volatile sig_atomic_t collector_stop, collector_reload;

static void collector_on_signal(int sig)
{
    if (sig == SIGHUP)
        collector_reload = 1;
    else
        collector_stop = sig;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: faultline-collector [--config.file FILE] [--config.check]\n"
            "                           [--listen ENDPOINT] [--database FILE]\n"
            "                           [--log.level LEVEL] [--log.format logfmt|json]\n"
            "                           [--insecure]\n"
            "                           [--version] [--help]\n"
            "\n"
            "  --config.file FILE   YAML configuration (docs/configuration.md)\n"
            "  --config.check       validate the configuration, print \"configuration OK\"\n"
            "  --listen ENDPOINT    where agents connect (default tcp://*:5555)\n"
            "  --database FILE      SQLite file (default /var/lib/faultline/faultline.db)\n"
            "  --insecure           no CURVE: plain text, any agent let in (development only)\n"
            "  --http.listen ADDR   HTTP API, /metrics and the page (default 127.0.0.1:9105,\n"
            "                       \"\" turns it off)\n");
}

static void collector_log_stats(const struct ingest_counters *c, const struct alert_counters *a)
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
             (unsigned long long)c->handshakes_failed,
             (unsigned long long)c->commit_failures, (unsigned long long)a->delivered,
             (unsigned long long)a->failed_attempts, (unsigned long long)a->dropped);
}

/* Incident events to the alert sinks; open incidents at start-up to the
 * sinks that re-send (Alertmanager). */
static void collector_alert(void *ctx, enum alert_event ev, const struct alert_incident *in)
{
    alerter_event(ctx, ev, in, time_now_us());
}

static void collector_adopt(void *ctx, enum alert_event ev, const struct alert_incident *in)
{
    (void)ev;
    alerter_adopt(ctx, in);
}

/* The collector's URL for links in alerts: external_url, or the HTTP
 * API's address (this host's name when it listens on every address);
 * NULL when the API is off and nothing says where it is. */
static const char *collector_link_base(const struct collector_config *cfg, char *buf, size_t len)
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

/* Correlate what is failing and bring the incidents up to date, in one
 * transaction.  A store failure leaves the incidents as the database has
 * them (they are reloaded). */
static void collector_evaluate(struct store *st, struct correlate *corr,
                               struct incidents **inc, struct alerter *alerts, int64_t confirm_us)
{
    static struct corr_diagnosis diag[64];
    size_t n = correlate_evaluate(corr, time_now_us(), diag, 64);
    if (store_begin(st) != 0)
        return;
    if (incidents_apply(*inc, diag, n, time_now_us(), NULL, NULL) != 0 || store_commit(st) != 0) {
        store_rollback(st);
        log_error("cannot record incidents: %s", store_errmsg(st));
        incidents_free(inc);
        *inc = incidents_new(st, confirm_us);
        return;
    }
    /* Committed: now the world may hear of it. */
    incidents_flush_events(*inc, collector_alert, alerts);
}

/* The keys refused lately, for `faultline agents`: stored when they change
 * (at most once per evaluation), the whole table in one small transaction. */
static void collector_note_refusals(struct store *st, struct auth *auth, int force)
{
    if (!force && (!auth || !auth_refusals_changed(auth)))
        return;
    const struct auth_refusal *r = NULL;
    size_t n = auth ? auth_refusals(auth, &r) : 0;
    struct store_refusal_row rows[AUTH_REFUSALS];
    for (size_t i = 0; i < n; i++)
        rows[i] = (struct store_refusal_row){.key = r[i].key, .address = r[i].address,
                                             .first_us = r[i].first_us, .last_us = r[i].last_us,
                                             .count = r[i].count};
    if (store_begin(st) != 0)
        return;
    if (store_put_refusals(st, rows, n) != 0 || store_commit(st) != 0) {
        store_rollback(st);
        log_warn("cannot record the refused keys: %s", store_errmsg(st));
    }
}

int main(int argc, char **argv)
{
    enum { OPT_CONFIG = 256, OPT_CHECK, OPT_LISTEN, OPT_DB, OPT_HTTP, OPT_LEVEL, OPT_FORMAT,
           OPT_VERSION, OPT_INSECURE };
    static const struct option opts[] = {
        {"config.file", required_argument, NULL, OPT_CONFIG},
        {"config.check", no_argument, NULL, OPT_CHECK},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"database", required_argument, NULL, OPT_DB},
        {"http.listen", required_argument, NULL, OPT_HTTP},
        {"log.level", required_argument, NULL, OPT_LEVEL},
        {"log.format", required_argument, NULL, OPT_FORMAT},
        {"version", no_argument, NULL, OPT_VERSION},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_file = NULL, *listen = NULL, *database = NULL, *http = NULL;
    int check = 0, insecure = 0, opt;
    enum fl_log_level level = FL_LOG_INFO;
    enum fl_log_format format = FL_LOG_LOGFMT;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_CONFIG: config_file = optarg; break;
        case OPT_CHECK: check = 1; break;
        case OPT_LISTEN: listen = optarg; break;
        case OPT_DB: database = optarg; break;
        case OPT_HTTP: http = optarg; break;
        case OPT_LEVEL:
        case OPT_FORMAT:
            if (log_flag("faultline-collector", opt == OPT_LEVEL ? "log.level" : "log.format", optarg, &level,
                         &format))
                return 2;
            break;
        case OPT_VERSION: printf("faultline-collector %s\n", FL_VERSION); return 0;
        case OPT_INSECURE: insecure = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "faultline-collector: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    log_setup(level, format);

    struct collector_config cfg;
    collector_config_defaults(&cfg);
    char err[4096];
    if (config_file && collector_config_load(config_file, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s", err);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        collector_config_free(&cfg);
        return 1;
    }
    if (listen) {
        free(cfg.listen);
        cfg.listen = strdup(listen);
    }
    if (database) {
        free(cfg.database);
        cfg.database = strdup(database);
    }
    if (http) {
        free(cfg.http_listen);
        cfg.http_listen = strdup(http);
    }
    if (!insecure && (!cfg.key || !cfg.allow)) {
        fprintf(stderr, "faultline-collector: %s: 'key' and 'allow' are required (CURVE: make keys "
                        "with 'faultline keygen'), or --insecure for development\n",
                config_file ? config_file : "no configuration");
        collector_config_free(&cfg);
        return 1;
    }
    if (check) {
        printf("configuration OK\n");
        collector_config_free(&cfg);
        return 0;
    }

    int rc = 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    void *zctx = zmq_ctx_new();
    void *sock = NULL, *mon = NULL;
    struct ingest *in = NULL;
    struct correlate *corr = NULL;
    struct incidents *inc = NULL;
    struct alerter *alerts = NULL;
    struct api *api = NULL;
    struct auth *auth = NULL;
    struct transport_keys keys = {.insecure = insecure};
    struct store_opts so = {.path = cfg.database, .sync_normal = cfg.sync_normal};
    struct store *st = store_open(&so, err, sizeof err);
    if (!st) {
        log_error("cannot open the database: %s", err);
        goto out;
    }
    if (insecure) {
        log_warn("--insecure: no CURVE, anyone can connect, send results under any name and read "
                 "the traffic; for development only");
    } else {
        if (transport_key_load(cfg.key, keys.public_key, keys.secret_key, err, sizeof err) != 0) {
            log_error("key: %s", err);
            goto out;
        }
        /* The handler binds first: the socket's handshakes need it. */
        auth = auth_new(zctx, cfg.allow, err, sizeof err);
        if (!auth) {
            log_error("allow: %s", err);
            goto out;
        }
        log_info("CURVE: public key %s, %zu agents allowed (%s)", keys.public_key,
                 auth_listed(auth), cfg.allow);
    }
    sock = transport_collector_open(zctx, cfg.listen, &keys, &mon, err, sizeof err);
    memset(keys.secret_key, 0, sizeof keys.secret_key);
    if (!sock) {
        log_error("cannot listen: %s", err);
        goto out;
    }
    corr = correlate_new(&cfg.corr);
    if (!corr)
        goto out;
    uint64_t replayed = 0;
    if (collector_restore(st, corr, cfg.corr.window_us, time_now_us(), &replayed) != 0) {
        log_error("cannot read what the store knows: %s", store_errmsg(st));
        goto out;
    }
    if (replayed)
        log_info("carried on from the store: %llu results of the last %lld s, %zu checks failing",
                 (unsigned long long)replayed, (long long)(cfg.corr.window_us / 1000000),
                 correlate_failing(corr));
    collector_note_refusals(st, auth, 1); /* a new run: nobody has knocked yet */
    inc = incidents_new(st, cfg.corr.confirm_after_us);
    if (!inc) {
        log_error("cannot load open incidents: %s", store_errmsg(st));
        goto out;
    }
    in = ingest_new(sock, st, corr);
    char link[320];
    alerts = alerter_new(cfg.sinks, cfg.nsinks, collector_link_base(&cfg, link, sizeof link));
    if (!in || !alerts)
        goto out;
    ingest_set_auth(in, auth);
    incidents_foreach_open(inc, collector_adopt, alerts);
    if (cfg.http_listen[0]) {
        struct api_sources src = {.st = st, .ingest = ingest_counters(in),
                                  .alerts = alerter_counters(alerts), .corr = corr, .auth = auth};
        api = api_new(cfg.http_listen, &src, err, sizeof err);
        if (!api) {
            log_error("HTTP API: %s", err);
            goto out;
        }
    }

    struct sigaction sa = {.sa_handler = collector_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_info("faultline-collector %s listening on %s, database %s (synchronous=%s), HTTP %s, "
             "%zu alert sink%s",
             FL_VERSION, cfg.listen, cfg.database, cfg.sync_normal ? "normal" : "full",
             api ? cfg.http_listen : "off", cfg.nsinks, cfg.nsinks == 1 ? "" : "s");

    uint64_t next_stats = time_mono_ns() + (uint64_t)cfg.stats_interval_us * 1000;
    uint64_t next_eval = time_mono_ns() + (uint64_t)cfg.evaluate_interval_us * 1000;
    int backoff_ms = 0;
    while (!collector_stop) {
        if (collector_reload) {
            collector_reload = 0;
            if (auth && auth_reload(auth, err, sizeof err) != 0)
                log_error("allow-list not reloaded, the old one stays: %s", err);
        }
        /* The agents' socket, its monitor, the ZAP handler (answered even while the
         * store backs off), the HTTP API's epoll fd when it is on, then the
         * alert sinks' sockets. */
        zmq_pollitem_t items[4 + 16] = {{.socket = sock, .events = ZMQ_POLLIN},
                                        {.socket = mon, .events = ZMQ_POLLIN}};
        size_t nfixed = 2;
        size_t zap = auth ? nfixed++ : 0;
        if (auth)
            items[zap] = (zmq_pollitem_t){.socket = auth_socket(auth), .events = ZMQ_POLLIN};
        if (api)
            items[nfixed++] = (zmq_pollitem_t){.fd = api_fd(api), .events = ZMQ_POLLIN};
        size_t nalert = alerter_pollitems(alerts, items + nfixed, 16);
        /* After a store failure (disk full, lock) wait before taking more
         * messages: they would fail the same way.  Agents keep them. */
        if (backoff_ms)
            zmq_poll(items + 1, (int)(nfixed - 1 + nalert), backoff_ms);
        uint64_t now_ns = time_mono_ns();
        long wait_ms = next_eval > now_ns ? (long)((next_eval - now_ns) / 1000000) + 1 : 0;
        long t = alerter_timeout_ms(alerts, time_now_us());
        if (t >= 0 && t < wait_ms)
            wait_ms = t;
        t = api ? api_timeout_ms(api) : -1;
        if (t >= 0 && t < wait_ms)
            wait_ms = t;
        int n = zmq_poll(items, (int)(nfixed + nalert), wait_ms);
        if (n < 0 && errno != EINTR) {
            log_error("zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        if (auth)
            auth_handle(auth); /* also after the backoff wait above */
        ingest_monitor(in, mon);
        if (n > 0 && (items[0].revents & ZMQ_POLLIN)) {
            if (ingest_drain(in, 512) < 0)
                backoff_ms = backoff_ms ? (backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2) : 50;
            else
                backoff_ms = 0;
        }
        if (time_mono_ns() >= next_eval && inc) {
            collector_evaluate(st, corr, &inc, alerts, cfg.corr.confirm_after_us);
            collector_note_refusals(st, auth, 0);
            next_eval = time_mono_ns() + (uint64_t)cfg.evaluate_interval_us * 1000;
        }
        /* Between transactions: the API reads a consistent store. */
        if (api)
            api_run(api);
        alerter_run(alerts, items + nfixed, n > 0 ? nalert : 0, time_now_us());
        if (time_mono_ns() >= next_stats) {
            collector_log_stats(ingest_counters(in), alerter_counters(alerts));
            next_stats = time_mono_ns() + (uint64_t)cfg.stats_interval_us * 1000;
        }
    }
    collector_log_stats(ingest_counters(in), alerter_counters(alerts));
    log_info("faultline-collector stopping (signal %d)", (int)collector_stop);
    rc = 0;
out:
    api_destroy(&api);
    alerter_destroy(&alerts);
    ingest_destroy(&in);
    incidents_free(&inc);
    correlate_free(&corr);
    transport_close(&sock);
    transport_close(&mon);
    auth_free(&auth);
    store_close(&st);
    zmq_ctx_term(zctx);
    collector_config_free(&cfg);
    curl_global_cleanup();
    return rc;
}
