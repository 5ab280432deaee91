/* collector: the collector's configuration, its start (restore) and its
 * run loop. */
#ifndef FL_COLLECTOR_H
#define FL_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "correlate.h"
#include "store.h"

struct collector_config {
    char *listen;    /* ZeroMQ endpoint agents connect to */
    char *database;  /* SQLite file */
    char *http_listen; /* HTTP API address; "" when off */
    char *external_url; /* how people reach it, for links in alerts; NULL: from http_listen */
    char *key;       /* the collector's CURVE key pair (faultline keygen) */
    char *allow;     /* the agents' public keys: a directory of NAME.pub or a file */
    int sync_normal; /* synchronous=NORMAL: faster, not power-loss safe */
    int64_t stats_interval_us;
    int64_t evaluate_interval_us; /* how often failures are correlated into incidents */
    struct correlate_config corr; /* thresholds (section "correlation") */
    struct alert_sink_config *sinks; /* section "alerts" */
    size_t nsinks;
};

/* Load FILE into CFG (defaults first).  0, or -1 with every error, one
 * "file:line:col: message" per line, in ERR. */
int collector_config_load(const char *file, struct collector_config *cfg, char *err,
                          size_t errlen);
void collector_config_defaults(struct collector_config *cfg);
void collector_config_free(struct collector_config *cfg);

/* Before the first message: give CORR what ST knows (its agents, their
 * labels, and the results of the last WINDOW_US, oldest first), and start
 * its watch at NOW_US.  *REPLAYED gets the count of results.  0 or -1. */
int collector_restore(struct store *st, struct correlate *corr, int64_t window_us, int64_t now_us,
                      uint64_t *replayed);

/* Run the collector with CFG (--insecure when INSECURE) until SIGINT or
 * SIGTERM; SIGHUP re-reads the allow-list.  Returns the exit status: 0
 * after a signal, 1 when it could not start. */
int collector_run(const struct collector_config *cfg, int insecure);

#endif
