/* The agent's YAML configuration:
 *
 *   agent:     {name: r1a1, labels: {region: r1, role: web}}
 *   collector: {endpoint: "tcp://collector:5555"}
 *   outbox:    {path: /var/lib/faultline/outbox.db, max_results: 1000000}
 *   defaults:  {interval: 10s, timeout: 2s, retries: 1}
 *   heartbeat: 5s
 *   checks:
 *     - {probe: icmp, targets: [web.lab.test], count: 5}
 *     - {probe: tcp, targets: [web.lab.test], port: 80, family: ipv6}
 */
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cfg.h"

#define CONFIG_UNSET (-1)
#define CONFIG_MAX_FIELDS 32

static const struct cfg_range config_interval_range = {100000, 86400 * 1000000LL};
static const struct cfg_range config_timeout_range = {1000, 600 * 1000000LL};
static const struct cfg_range config_retries_range = {0, 10};
static const struct cfg_range config_capture_range = {0, 600 * 1000000LL};

static int config__targets(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                           const void *arg)
{
    struct check *ck = out;
    if (val && fy_node_is_scalar(val)) {
        ck->targets = calloc(1, sizeof *ck->targets);
        if (!ck->targets)
            return -1;
        ck->ntargets = 1;
        return cfg_parse_string(c, key, val, &ck->targets[0], NULL);
    }
    if (!val || !fy_node_is_sequence(val) || fy_node_sequence_item_count(val) <= 0) {
        cfg_error(c, key, "targets: expected a host or a non-empty list of hosts");
        return -1;
    }
    int n = fy_node_sequence_item_count(val);
    if (n > 4096) {
        cfg_error(c, key, "targets: more than 4096 targets in one check");
        return -1;
    }
    ck->targets = calloc((size_t)n, sizeof *ck->targets);
    if (!ck->targets)
        return -1;
    ck->ntargets = (size_t)n;
    void *iter = NULL;
    struct fy_node *item;
    size_t i = 0;
    while ((item = fy_node_sequence_iterate(val, &iter)) != NULL) {
        if (cfg_parse_string(c, key, item, &ck->targets[i], NULL) == 0 &&
            strlen(ck->targets[i]) > 255)
            cfg_error(c, item, "targets: '%.40s...' is longer than 255 characters",
                      ck->targets[i]);
        i++;
    }
    return 0;
}

static int config__family(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                          const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    if (!s)
        return -1;
    enum agent_family *f = out;
    if (strcmp(s, "any") == 0)
        *f = FAMILY_ANY;
    else if (strcmp(s, "ipv4") == 0)
        *f = FAMILY_IPV4;
    else if (strcmp(s, "ipv6") == 0)
        *f = FAMILY_IPV6;
    else {
        cfg_error(c, val, "family: '%.40s' is not any, ipv4 or ipv6", s);
        return -1;
    }
    return 0;
}

/* The `probe` key was handled before the walk; accept it silently. */
static int config__skip(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                        const void *arg)
{
    return 0;
}

static const struct cfg_field config_check_common[] = {
    {"probe", config__skip, 0, NULL},
    {"targets", config__targets, 0, NULL},
    {"interval", cfg_parse_duration, offsetof(struct check, interval_us), &config_interval_range},
    {"timeout", cfg_parse_duration, offsetof(struct check, timeout_us), &config_timeout_range},
    {"retries", cfg_parse_int, offsetof(struct check, retries), &config_retries_range},
    {"family", config__family, offsetof(struct check, family), NULL},
    {"trace_on_failure", cfg_parse_bool, offsetof(struct check, trace_on_failure), NULL},
    {"capture_on_failure", cfg_parse_duration, offsetof(struct check, capture_on_failure_us),
     &config_capture_range},
};

static struct fy_node *config__lookup(struct fy_node *map, const char *name, struct fy_node **key)
{
    void *iter = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(map, &iter)) != NULL) {
        struct fy_node *k = fy_node_pair_key(p);
        const char *s = k && fy_node_is_scalar(k) ? fy_node_get_scalar0(k) : NULL;
        if (s && strcmp(s, name) == 0) {
            *key = k;
            return fy_node_pair_value(p);
        }
    }
    return NULL;
}

static void config__parse_check(struct cfg *c, struct fy_node *node, struct check *ck)
{
    memset(ck, 0, sizeof *ck);
    ck->interval_us = ck->timeout_us = ck->retries = CONFIG_UNSET;
    if (!node || !fy_node_is_mapping(node)) {
        cfg_error(c, node, "checks: each check is a mapping with at least probe and targets");
        return;
    }
    struct fy_node *key = NULL;
    struct fy_node *pval = config__lookup(node, "probe", &key);
    const char *pname = pval ? cfg_scalar(c, key, pval) : NULL;
    if (!pval) {
        cfg_error(c, node, "checks: a check needs 'probe' (one of %s)", probe_names());
        return;
    }
    if (!pname)
        return;
    ck->ops = probe_find(pname);
    if (!ck->ops) {
        cfg_error(c, pval, "probe: unknown probe '%.40s' (one of %s)", pname, probe_names());
        return;
    }
    ck->ops->defaults(ck->opts);
    /* A failing target gets a trace, unless the probe is about the path. */
    ck->trace_on_failure = ck->ops->trace_on_failure;

    /* One table: the keys every check has, then the probe's own, whose
     * offsets are relative to check.opts. */
    struct cfg_field fields[CONFIG_MAX_FIELDS];
    size_t n = 0;
    for (size_t i = 0; i < sizeof config_check_common / sizeof config_check_common[0]; i++)
        fields[n++] = config_check_common[i];
    for (const struct cfg_field *f = ck->ops->fields; f && f->name && n < CONFIG_MAX_FIELDS - 1;
         f++) {
        fields[n] = *f;
        fields[n].offset += offsetof(struct check, opts);
        n++;
    }
    fields[n] = (struct cfg_field){NULL, NULL, 0, NULL};
    char what[64];
    snprintf(what, sizeof what, "%s check", ck->ops->name);
    cfg_map(c, node, what, fields, ck);
    if (!ck->targets)
        cfg_error(c, node, "%s: 'targets' is required", what);
    if (ck->ops->validate)
        ck->ops->validate(c, node, ck->opts);
}

static int config__checks(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                          const void *arg)
{
    struct agent_config *cfg = out;
    if (!val || !fy_node_is_sequence(val)) {
        cfg_error(c, key, "checks: expected a list of checks");
        return -1;
    }
    int n = fy_node_sequence_item_count(val);
    if (n > 10000) {
        cfg_error(c, key, "checks: more than 10000 checks");
        return -1;
    }
    cfg->checks = calloc(n > 0 ? (size_t)n : 1, sizeof *cfg->checks);
    if (!cfg->checks)
        return -1;
    void *iter = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(val, &iter)) != NULL)
        config__parse_check(c, item, &cfg->checks[cfg->nchecks++]);
    return 0;
}

static int config__labels(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                          const void *arg)
{
    struct agent_config *cfg = out;
    if (!val || !fy_node_is_mapping(val)) {
        cfg_error(c, key, "labels: expected a mapping like {region: eu-west}");
        return -1;
    }
    int n = fy_node_mapping_item_count(val);
    if (n > FL_WIRE_MAX_LABELS) {
        cfg_error(c, key, "labels: more than %d labels", FL_WIRE_MAX_LABELS);
        return -1;
    }
    cfg->labels = calloc(n > 0 ? (size_t)n : 1, sizeof *cfg->labels);
    if (!cfg->labels)
        return -1;
    void *iter = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(val, &iter)) != NULL) {
        struct fy_node *k = fy_node_pair_key(p);
        const char *name = k && fy_node_is_scalar(k) ? fy_node_get_scalar0(k) : NULL;
        if (!name || !wire_valid_name(name)) {
            cfg_error(c, k, "labels: '%.40s' is not a valid label name ([A-Za-z0-9._-], 1-64)",
                      name ? name : "?");
            continue;
        }
        char *value = NULL;
        if (cfg_parse_string(c, k, fy_node_pair_value(p), &value, NULL) != 0)
            continue;
        if (strlen(value) > FL_WIRE_MAX_TEXT) {
            cfg_error(c, k, "labels: value of '%s' is longer than %d", name, FL_WIRE_MAX_TEXT);
            free(value);
            continue;
        }
        Faultline__Label *l = malloc(sizeof *l);
        if (!l) {
            free(value);
            return -1;
        }
        faultline__label__init(l);
        l->key = strdup(name);
        l->value = value;
        cfg->labels[cfg->nlabels++] = l;
    }
    return 0;
}

static int config__name(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                        const void *arg)
{
    if (cfg_parse_string(c, key, val, out, NULL) != 0)
        return -1;
    if (!wire_valid_name(*(char **)out)) {
        cfg_error(c, val, "name: '%.40s' is not a valid agent name ([A-Za-z0-9._-], 1-64)",
                  *(char **)out);
        return -1;
    }
    return 0;
}

static const struct cfg_field config_agent_fields[] = {
    {"name", config__name, offsetof(struct agent_config, name), NULL},
    {"labels", config__labels, 0, NULL},
    {"user", cfg_parse_string, offsetof(struct agent_config, user), NULL},
    {NULL, NULL, 0, NULL},
};

static const struct cfg_field config_collector_fields[] = {
    {"endpoint", cfg_parse_string, offsetof(struct agent_config, endpoint), NULL},
    {"server_key", cfg_parse_string, offsetof(struct agent_config, server_key), NULL},
    {"key", cfg_parse_string, offsetof(struct agent_config, key), NULL},
    {NULL, NULL, 0, NULL},
};

static const struct cfg_range config_outbox_range = {100, 100000000};

static const struct cfg_field config_outbox_fields[] = {
    {"path", cfg_parse_string, offsetof(struct agent_config, outbox_path), NULL},
    {"max_results", cfg_parse_int, offsetof(struct agent_config, outbox_max),
     &config_outbox_range},
    {NULL, NULL, 0, NULL},
};

static const struct cfg_field config_defaults_fields[] = {
    {"interval", cfg_parse_duration, offsetof(struct agent_config, interval_us),
     &config_interval_range},
    {"timeout", cfg_parse_duration, offsetof(struct agent_config, timeout_us),
     &config_timeout_range},
    {"retries", cfg_parse_int, offsetof(struct agent_config, retries), &config_retries_range},
    {NULL, NULL, 0, NULL},
};

/* A nested section: its table is the field's argument. */
static int config__section(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                           const void *arg)
{
    return cfg_map(c, val, cfg_key_name(key), arg, out) ? -1 : 0;
}

static const struct cfg_range config_heartbeat_range = {1000000, 300 * 1000000LL};

static const struct cfg_field config_top_fields[] = {
    {"agent", config__section, 0, config_agent_fields},
    {"collector", config__section, 0, config_collector_fields},
    {"outbox", config__section, 0, config_outbox_fields},
    {"defaults", config__section, 0, config_defaults_fields},
    {"heartbeat", cfg_parse_duration, offsetof(struct agent_config, heartbeat_us),
     &config_heartbeat_range},
    {"checks", config__checks, 0, NULL},
    {NULL, NULL, 0, NULL},
};

/* Whether the defaults section set timeout and retries, then their values. */
static void config__settle(struct agent_config *cfg)
{
    cfg->timeout_set = cfg->timeout_us != CONFIG_UNSET;
    cfg->retries_set = cfg->retries != CONFIG_UNSET;
    if (!cfg->timeout_set)
        cfg->timeout_us = 2 * 1000000LL;
    if (!cfg->retries_set)
        cfg->retries = 0;
}

/* A check's own value first, then the probe's default (an HTTP request
 * gets 5 s and 3 retries), then the configuration's defaults. */
static void config__apply_defaults(const struct agent_config *cfg, struct check *ck)
{
    if (ck->interval_us == CONFIG_UNSET)
        ck->interval_us = cfg->interval_us;
    if (ck->timeout_us == CONFIG_UNSET)
        ck->timeout_us = ck->ops && ck->ops->default_timeout_us && !cfg->timeout_set
                             ? ck->ops->default_timeout_us
                             : cfg->timeout_us;
    if (ck->retries == CONFIG_UNSET)
        ck->retries = ck->ops && ck->ops->default_retries && !cfg->retries_set
                          ? ck->ops->default_retries
                          : cfg->retries;
}

static void config__init(struct agent_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->interval_us = 10 * 1000000LL;
    cfg->timeout_us = CONFIG_UNSET; /* 2 s and 0 unless said: see config__settle */
    cfg->retries = CONFIG_UNSET;
    cfg->heartbeat_us = 5 * 1000000LL;
    cfg->outbox_max = 1000000;
}

static int config__load(struct cfg *c, struct agent_config *cfg, char *err, size_t errlen);

int agent_config_load(const char *file, struct agent_config *cfg, char *err, size_t errlen)
{
    config__init(cfg);
    struct cfg *c = cfg_open(file, err, errlen);
    if (!c)
        return -1;
    return config__load(c, cfg, err, errlen);
}

int agent_config_load_buffer(const char *name, const char *text, size_t len,
                             struct agent_config *cfg, char *err, size_t errlen)
{
    config__init(cfg);
    struct cfg *c = cfg_open_buffer(name, text, len, err, errlen);
    if (!c)
        return -1;
    return config__load(c, cfg, err, errlen);
}

static int config__load(struct cfg *c, struct agent_config *cfg, char *err, size_t errlen)
{
    struct fy_node *root = cfg_root(c);
    if (!root)
        cfg_error(c, NULL, "empty configuration");
    else
        cfg_map(c, root, "configuration", config_top_fields, cfg);
    config__settle(cfg);
    if (!cfg_error_count(c)) {
        if (!cfg->endpoint)
            cfg_error(c, root, "collector: 'endpoint' is required");
        if (!cfg->nchecks)
            cfg_error(c, root, "checks: at least one check is required");
        struct fy_node *checks = fy_node_by_path(root, "/checks", FY_NT, FYNWF_DONT_FOLLOW);
        for (size_t i = 0; i < cfg->nchecks; i++) {
            struct check *k = &cfg->checks[i];
            config__apply_defaults(cfg, k);
            if (k->timeout_us <= k->interval_us)
                continue;
            /* At the check itself, whether the timeout is its own or a default. */
            struct fy_node *item = checks ? fy_node_sequence_get_by_index(checks, (int)i) : NULL;
            cfg_error(c, item ? item : root,
                      "checks[%zu]: a timeout of %lld ms is longer than the interval of %lld ms: "
                      "a probe must end before the next one starts (set 'timeout' or 'interval')",
                      i, (long long)(k->timeout_us / 1000), (long long)(k->interval_us / 1000));
        }
    }
    if (!cfg->name) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        cfg->name = strdup(host);
        if (!wire_valid_name(cfg->name))
            cfg_error(c, root, "agent: the host name '%s' is not a valid agent name; set agent.name",
                      host);
    }
    if (!cfg->outbox_path)
        cfg->outbox_path = strdup("/var/lib/faultline/outbox.db");
    int rc = cfg_error_count(c) ? -1 : 0;
    if (rc)
        snprintf(err, errlen, "%s", cfg_errors(c));
    cfg_close(&c);
    if (rc)
        agent_config_free(cfg);
    return rc;
}

int agent_config_check_from_text(const char *text, struct check *out, char *err, size_t errlen)
{
    struct agent_config defaults;
    config__init(&defaults);
    config__settle(&defaults);
    struct cfg *c = cfg_open_buffer("command line", text, strlen(text), err, errlen);
    if (!c)
        return -1;
    config__parse_check(c, cfg_root(c), out);
    config__apply_defaults(&defaults, out);
    int rc = cfg_error_count(c) ? -1 : 0;
    if (rc) {
        snprintf(err, errlen, "%s", cfg_errors(c));
        agent_check_free(out);
    }
    cfg_close(&c);
    return rc;
}

void agent_check_free(struct check *ck)
{
    if (ck->ops && ck->ops->free_opts)
        ck->ops->free_opts(ck->opts);
    for (size_t i = 0; i < ck->ntargets; i++)
        free(ck->targets[i]);
    free(ck->targets);
    ck->targets = NULL;
    ck->ntargets = 0;
}

void agent_config_free(struct agent_config *cfg)
{
    for (size_t i = 0; i < cfg->nlabels; i++) {
        free(cfg->labels[i]->key);
        free(cfg->labels[i]->value);
        free(cfg->labels[i]);
    }
    free(cfg->labels);
    for (size_t i = 0; i < cfg->nchecks; i++)
        agent_check_free(&cfg->checks[i]);
    free(cfg->checks);
    free(cfg->name);
    free(cfg->endpoint);
    free(cfg->server_key);
    free(cfg->user);
    free(cfg->key);
    free(cfg->outbox_path);
    memset(cfg, 0, sizeof *cfg);
}
