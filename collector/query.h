/* query: the fault history as JSON, one shape for the CLI (--json) and
 * the HTTP API, and the fault summary (counts, durations, MTTR). */
#ifndef FL_QUERY_H
#define FL_QUERY_H

#include <jansson.h>
#include <stdint.h>

#include "faultline.pb-c.h"
#include "store.h"

/* A JSON array of names as JSON; an empty array when TEXT is NULL or not
 * an array.  New reference. */
json_t *query_names(const char *text);
/* NAMES as a JSON array.  New reference. */
json_t *query_names_of(const struct store_names *names);

/* "2026-11-22T10:00:00.123Z", or null for 0.  New reference. */
json_t *query_time(int64_t us);

/* ROW as a Result: fills *R (its strings point into ROW) and returns the
 * unpacked detail that owns R's detail (free it with
 * faultline__result__free_unpacked after R; NULL when there is none). */
fl_result *query_result(const struct store_result_row *row, fl_result *r);

/* One row as JSON (new references).  NOW_US: for durations of what is
 * still open and "ago" fields. */
json_t *query_incident_json(const struct store_incident *in, int64_t now_us);
json_t *query_agent_json(const struct store_agent_row *row, int64_t now_us);
json_t *query_result_json(const struct store_result_row *row);
/* A key the collector refused: {"refused_key", "address", "first_seen",
 * "last_seen", "last_seen_ago_s", "handshakes"}. */
json_t *query_refusal_json(const struct store_refusal_row *row, int64_t now_us);
json_t *query_gap_json(const struct store_gap_row *row);

/* Evidence for IN: per target, the failing results around its start (up
 * to 5, as {agent, epoch, seq, ...} references with their detail) and the
 * traceroutes and capture windows taken of it while it lasted (up to 5
 * each).  An object {"failures": [...], "traces": [...], "captures": [...]};
 * NULL on a store error. */
json_t *query_evidence(struct store *st, const struct store_incident *in, int64_t now_us);

/* The fault summary of incidents overlapping [SINCE_US, UNTIL_US] (0: no
 * bound): totals, and per verdict, per component and per region (of the
 * agents involved) the count, how many are open, the total and longest
 * duration and the MTTR (mean duration of the closed ones).  NULL with
 * the store's error on failure. */
json_t *query_summary(struct store *st, int64_t since_us, int64_t until_us, int64_t now_us);

#endif
