/* The collector's YAML configuration. */
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "api.h"
#include "cfg.h"
#include "collector.h"

void collector_config_defaults(struct collector_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen = strdup("tcp://*:5555");
    cfg->database = strdup("/var/lib/faultline/faultline.db");
    cfg->http_listen = strdup("127.0.0.1:9105");
    cfg->stats_interval_us = 60 * 1000000LL;
    cfg->evaluate_interval_us = 1000000;
    correlate_config_defaults(&cfg->corr);
}

void collector_config_free(struct collector_config *cfg)
{
    free(cfg->listen);
    free(cfg->database);
    free(cfg->http_listen);
    free(cfg->external_url);
    free(cfg->key);
    free(cfg->allow);
    for (size_t i = 0; i < cfg->nsinks; i++) {
        free(cfg->sinks[i].url);
        for (char **a = cfg->sinks[i].argv; a && *a; a++)
            free(*a);
        free(cfg->sinks[i].argv);
    }
    free(cfg->sinks);
    memset(cfg, 0, sizeof *cfg);
}

static int config__sync(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                        const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    if (!s)
        return -1;
    if (strcmp(s, "full") == 0)
        *(int *)out = 0;
    else if (strcmp(s, "normal") == 0)
        *(int *)out = 1;
    else {
        cfg_error(c, val, "synchronous: '%.40s' is not full or normal", s);
        return -1;
    }
    return 0;
}

/* Where the HTTP API listens; "" turns it off.  Checked here, so
 * --config.check catches what would stop the collector at start. */
static int config__http(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                        const void *arg)
{
    const char *text = cfg_scalar(c, key, val);
    if (!text)
        return -1;
    if (!text[0]) { /* off: the one string allowed empty */
        char *off = strdup("");
        if (!off)
            return -1;
        free(*(char **)out);
        *(char **)out = off;
        return 0;
    }
    if (cfg_parse_string(c, key, val, out, NULL) != 0)
        return -1;
    const char *s = *(char **)out;
    struct sockaddr_storage ss;
    char err[160];
    if (api_parse_addr(s, &ss, err, sizeof err) != 0) {
        cfg_error(c, val, "http_listen: %s", err);
        return -1;
    }
    return 0;
}

/* A share: "80%" or 0.8; with a non-NULL ARG, 0 too (the rule is off). */
static int config__share(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                         const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    if (!s)
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end != s && *end == '%' && end[1] == '\0')
        v /= 100.0;
    else if (end == s || *end)
        v = -1;
    if (!((v > 0.0 || (arg && v == 0.0)) && v <= 1.0)) {
        cfg_error(c, val, "%s: '%.40s' is not a share (like 80%% or 0.8, %s 0, at most 1)",
                  cfg_key_name(key), s, arg ? "at least" : "above");
        return -1;
    }
    *(double *)out = v;
    return 0;
}

static const struct cfg_range config_count_range = {1, 1000};
static const struct cfg_range config_silent_range = {1000000, 86400 * 1000000LL};
static const struct cfg_range config_confirm_range = {0, 3600 * 1000000LL};
static const struct cfg_range config_window_range = {1000000, 86400 * 1000000LL};
static const struct cfg_range config_jitter_range = {0, 60 * 1000000LL};
static const struct cfg_range config_samples_range = {1, 64}; /* the engine keeps 64 */
static const int config_share_or_off = 1;

static const struct cfg_field config_corr_fields[] = {
    {"open_after", cfg_parse_int, offsetof(struct correlate_config, open_after),
     &config_count_range},
    {"close_after", cfg_parse_int, offsetof(struct correlate_config, close_after),
     &config_count_range},
    {"silent_after", cfg_parse_duration, offsetof(struct correlate_config, silent_after_us),
     &config_silent_range},
    {"agent_share", config__share, offsetof(struct correlate_config, agent_share), NULL},
    {"agent_min_targets", cfg_parse_int, offsetof(struct correlate_config, agent_min_targets),
     &config_count_range},
    {"target_share", config__share, offsetof(struct correlate_config, target_share), NULL},
    {"target_min_regions", cfg_parse_int,
     offsetof(struct correlate_config, target_min_regions), &config_count_range},
    {"resolver_min_names", cfg_parse_int,
     offsetof(struct correlate_config, resolver_min_names), &config_count_range},
    {"lagging_after", cfg_parse_duration, offsetof(struct correlate_config, lagging_after_us),
     &config_silent_range},
    {"confirm_after", cfg_parse_duration, offsetof(struct correlate_config, confirm_after_us),
     &config_confirm_range},
    {"window", cfg_parse_duration, offsetof(struct correlate_config, window_us),
     &config_window_range},
    {"window_min_samples", cfg_parse_int, offsetof(struct correlate_config, window_min_samples),
     &config_samples_range},
    {"min_success", config__share, offsetof(struct correlate_config, min_success),
     &config_share_or_off},
    {"max_reset_share", config__share, offsetof(struct correlate_config, max_reset_share),
     &config_share_or_off},
    {"max_jitter", cfg_parse_duration, offsetof(struct correlate_config, max_jitter_us),
     &config_jitter_range},
    {"hop_min_hosts", cfg_parse_int, offsetof(struct correlate_config, hop_min_hosts),
     &config_count_range},
    {NULL, NULL, 0, NULL},
};

static int config__corr(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                        const void *arg)
{
    struct collector_config *cfg = out;
    return cfg_map(c, val, cfg_key_name(key), config_corr_fields, &cfg->corr) ? -1 : 0;
}

/* ---- alerts ---------------------------------------------------------------- */

/* The sink types' names, "log, webhook, alertmanager or exec", or those
 * taking a url ("webhook and alertmanager") when URL_ONLY. */
static void config__sink_names(char *out, size_t len, int url_only, const char *last)
{
    const char *names[ALERT_SINK_NTYPES];
    size_t n = 0;
    for (int t = 1; t <= ALERT_SINK_NTYPES; t++)
        if (!url_only || alert_sink_kind((enum alert_sink_type)t)->takes_url)
            names[n++] = alert_sink_kind((enum alert_sink_type)t)->name;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", i == 0 ? "" : i + 1 == n ? last : ", ",
                 names[i]);
    }
}

static int config__sink_type(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                             const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    if (!s)
        return -1;
    enum alert_sink_type t = alert_sink_type_named(s);
    if (t) {
        *(enum alert_sink_type *)out = t;
        return 0;
    }
    char names[128];
    config__sink_names(names, sizeof names, 0, " or ");
    cfg_error(c, val, "type: '%.40s' is not %s", s, names);
    return -1;
}

static int config__sink_level(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                              const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    if (!s)
        return -1;
    if (!strcmp(s, "L1") || !strcmp(s, "L2") || !strcmp(s, "L3"))
        *(int *)out = s[1] - '0';
    else if (!strcmp(s, "all"))
        *(int *)out = 4;
    else {
        cfg_error(c, val, "severity: '%.40s' is not L1, L2, L3 or all", s);
        return -1;
    }
    return 0;
}

static int config__argv(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                        const void *arg)
{
    int n = val && fy_node_is_sequence(val) ? fy_node_sequence_item_count(val) : 0;
    if (n <= 0 || n > 64) {
        cfg_error(c, val ? val : key, "command: expected a list like [/usr/bin/page, --to, ops] "
                  "(1 to 64 items)");
        return -1;
    }
    char **argv = calloc((size_t)n + 1, sizeof *argv);
    if (!argv)
        return -1;
    *(char ***)out = argv;
    void *iter = NULL;
    struct fy_node *item;
    int i = 0;
    while ((item = fy_node_sequence_iterate(val, &iter)) != NULL)
        if (cfg_parse_string(c, key, item, &argv[i], NULL) == 0)
            i++;
    return 0;
}

static const struct cfg_range config_sink_timeout_range = {100000, 600 * 1000000LL};
static const struct cfg_range config_resend_range = {1000000, 86400 * 1000000LL};

static const struct cfg_field config_sink_fields[] = {
    {"type", config__sink_type, offsetof(struct alert_sink_config, type), NULL},
    {"url", cfg_parse_string, offsetof(struct alert_sink_config, url), NULL},
    {"command", config__argv, offsetof(struct alert_sink_config, argv), NULL},
    {"severity", config__sink_level, offsetof(struct alert_sink_config, level), NULL},
    {"timeout", cfg_parse_duration, offsetof(struct alert_sink_config, timeout_us),
     &config_sink_timeout_range},
    {"resend_interval", cfg_parse_duration, offsetof(struct alert_sink_config, resend_us),
     &config_resend_range},
    {"give_up_after", cfg_parse_duration, offsetof(struct alert_sink_config, give_up_us),
     &config_resend_range},
    {NULL, NULL, 0, NULL},
};

static void config__sink(struct cfg *c, struct fy_node *node, struct alert_sink_config *s)
{
    *s = (struct alert_sink_config){.level = 4, .timeout_us = 10 * 1000000LL,
                                    .resend_us = 60 * 1000000LL,
                                    .give_up_us = 3600 * 1000000LL};
    if (cfg_map(c, node, "alert sink", config_sink_fields, s))
        return;
    char names[128];
    if (!s->type) {
        config__sink_names(names, sizeof names, 0, ", ");
        cfg_error(c, node, "alert sink: 'type' is required (%s)", names);
        return;
    }
    const struct alert_sink_kind *k = alert_sink_kind(s->type);
    if (k->takes_url &&
        (!s->url || (strncmp(s->url, "http://", 7) && strncmp(s->url, "https://", 8))))
        cfg_error(c, node, "alert sink: 'url' is required, an http:// or https:// URL");
    config__sink_names(names, sizeof names, 1, " and ");
    if (!k->takes_url && s->url)
        cfg_error(c, node, "alert sink: 'url' is only for %s", names);
    if (k->takes_command && !s->argv)
        cfg_error(c, node, "alert sink: 'command' is required for %s", k->name);
    if (!k->takes_command && s->argv)
        cfg_error(c, node, "alert sink: 'command' is only for exec");
}

static int config__alerts(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                          const void *arg)
{
    struct collector_config *cfg = out;
    int n = val && fy_node_is_sequence(val) ? fy_node_sequence_item_count(val) : -1;
    if (n < 0 || n > 64) {
        cfg_error(c, val ? val : key, "alerts: expected a list of at most 64 sinks");
        return -1;
    }
    cfg->sinks = calloc(n ? (size_t)n : 1, sizeof *cfg->sinks);
    if (!cfg->sinks)
        return -1;
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(val, &iter)) != NULL)
        config__sink(c, item, &cfg->sinks[cfg->nsinks++]);
    return 0;
}

/* The collector's URL as people reach it: http:// or https://, no query. */
static int config__url(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                       const void *arg)
{
    if (cfg_parse_string(c, key, val, out, NULL) != 0)
        return -1;
    const char *s = *(char **)out;
    if ((strncmp(s, "http://", 7) && strncmp(s, "https://", 8)) || strpbrk(s, "?# \t")) {
        cfg_error(c, val, "external_url: '%.80s' is not an http:// or https:// URL", s);
        return -1;
    }
    return 0;
}

static const struct cfg_range config_stats_range = {1000000, 86400 * 1000000LL};
static const struct cfg_range config_eval_range = {100000, 3600 * 1000000LL};

static const struct cfg_field config_fields[] = {
    {"listen", cfg_parse_string, offsetof(struct collector_config, listen), NULL},
    {"database", cfg_parse_string, offsetof(struct collector_config, database), NULL},
    {"http_listen", config__http, offsetof(struct collector_config, http_listen), NULL},
    {"external_url", config__url, offsetof(struct collector_config, external_url), NULL},
    {"key", cfg_parse_string, offsetof(struct collector_config, key), NULL},
    {"allow", cfg_parse_string, offsetof(struct collector_config, allow), NULL},
    {"synchronous", config__sync, offsetof(struct collector_config, sync_normal), NULL},
    {"stats_interval", cfg_parse_duration, offsetof(struct collector_config, stats_interval_us),
     &config_stats_range},
    {"evaluate_interval", cfg_parse_duration,
     offsetof(struct collector_config, evaluate_interval_us), &config_eval_range},
    {"correlation", config__corr, 0, NULL},
    {"alerts", config__alerts, 0, NULL},
    {NULL, NULL, 0, NULL},
};

int collector_config_load(const char *file, struct collector_config *cfg, char *err,
                          size_t errlen)
{
    struct cfg *c = cfg_open(file, err, errlen);
    if (!c)
        return -1;
    struct fy_node *root = cfg_root(c);
    if (root)
        cfg_map(c, root, "collector", config_fields, cfg);
    int rc = cfg_error_count(c) ? -1 : 0;
    if (rc)
        snprintf(err, errlen, "%s", cfg_errors(c));
    cfg_close(&c);
    return rc;
}
