/* The collector's YAML configuration. */
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "collector.h"

void collector_config_defaults(struct collector_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen = strdup("tcp://*:5555");
    cfg->database = strdup("/var/lib/faultline/faultline.db");
    cfg->stats_interval_us = 60 * 1000000LL;
    cfg->evaluate_interval_us = 1000000;
}

void collector_config_free(struct collector_config *cfg)
{
    free(cfg->listen);
    free(cfg->database);
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

static const struct cfg_range config_stats_range = {1000000, 86400 * 1000000LL};
static const struct cfg_range config_eval_range = {100000, 3600 * 1000000LL};

static const struct cfg_field config_fields[] = {
    {"listen", cfg_parse_string, offsetof(struct collector_config, listen), NULL},
    {"database", cfg_parse_string, offsetof(struct collector_config, database), NULL},
    {"synchronous", config__sync, offsetof(struct collector_config, sync_normal), NULL},
    {"stats_interval", cfg_parse_duration, offsetof(struct collector_config, stats_interval_us),
     &config_stats_range},
    {"evaluate_interval", cfg_parse_duration,
     offsetof(struct collector_config, evaluate_interval_us), &config_eval_range},
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
