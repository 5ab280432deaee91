/* api: the collector's HTTP interface (libmicrohttpd, run from the
 * collector's own poll loop: no thread of its own).
 *
 *   GET /api/v1/incidents     ?since ?until ?verdict ?component ?open ?limit
 *   GET /api/v1/incidents/ID
 *   GET /api/v1/summary       ?since ?until        counts, durations, MTTR
 *   GET /api/v1/results       ?agent ?target ?probe ?status ?since ?until ?limit
 *   GET /api/v1/agents
 *   GET /metrics              Prometheus text format
 *   GET /healthz
 *   GET /                     a page showing open and recent incidents
 *
 * Times are as the CLI takes them (10m, 2026-11-22T10:00:00Z, @UNIX);
 * an unknown parameter or a bad value is a 400 with {"error": "..."}. */
#ifndef FL_API_H
#define FL_API_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "correlate.h"
#include "ingest.h"
#include "store.h"

struct api;
struct sockaddr_storage;

/* Parse a listen address: "HOST:PORT" (IPv4), "[V6]:PORT", ":PORT" or
 * "*:PORT" (every address, both families).  0, or -1 with a reason in ERR. */
int api_parse_addr(const char *addr, struct sockaddr_storage *ss, char *err, size_t errlen);

/* What the API reads: the store (between the collector's transactions)
 * and the live counters. */
struct auth;

struct api_sources {
    struct store *st;
    const struct ingest_counters *ingest;
    const struct alert_counters *alerts;
    const struct correlate *corr; /* may be NULL */
    const struct auth *auth;      /* NULL: --insecure */
};

/* Listen on ADDR ("127.0.0.1:9105", "[::]:9105", ":9105").  NULL with a
 * reason in ERR. */
struct api *api_new(const char *addr, const struct api_sources *src, char *err, size_t errlen);
void api_free(struct api **api);
/* The port it listens on (the one the kernel chose for port 0); -1 unknown. */
int api_port(const struct api *api);

/* Poll integration: an fd to watch for input, how long the caller may
 * sleep (-1: no deadline), and the work to do when either comes. */
int api_fd(const struct api *api);
long api_timeout_ms(const struct api *api);
void api_run(struct api *api);

/* ---- parameter parsing (pure, fuzzed) ---------------------------------------- */

enum api_query_kind { API_QUERY_INCIDENTS = 1, API_QUERY_RESULTS, API_QUERY_SUMMARY };

struct api_query {
    struct store_incident_filter incidents;
    struct store_filter results;
    int64_t since_us, until_us; /* summary */
    unsigned given;             /* the parameters seen so far (one bit each) */
};

/* Apply one parameter KEY=VALUE of a KIND request to Q (defaults first with
 * api_query_init).  0, or -1 with a reason in ERR: an unknown parameter, one
 * given twice, a value out of its range (an enum value unknown).  KEY and VALUE must stay
 * valid while Q is used. */
void api_query_init(struct api_query *q, enum api_query_kind kind);
int api_query_param(struct api_query *q, enum api_query_kind kind, const char *key,
                    const char *value, int64_t now_us, char *err, size_t errlen);

#endif
