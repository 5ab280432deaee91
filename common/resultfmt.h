/* resultfmt: how a result reads, as one text line or as JSON; shared by
 * the agent's `probe` command and the CLI. */
#ifndef FL_RESULTFMT_H
#define FL_RESULTFMT_H

#include <jansson.h>
#include <stddef.h>

#include "wire.h"

const char *resultfmt_probe_name(int probe);
const char *resultfmt_status_name(int status);
/* Parse "icmp", "tcp", ... / "ok", "fail", "error"; 0 when unknown. */
int resultfmt_probe_parse(const char *s);
int resultfmt_status_parse(const char *s);

/* The probe-specific part: "sent=5 received=5 loss=0% rtt=0.041/0.052/0.070/0.010ms". */
void resultfmt_detail_text(const fl_result *r, char *buf, size_t len);

/* The detail as a JSON object (new reference), or NULL when there is none. */
json_t *resultfmt_detail_json(const fl_result *r);

/* Every field of R as a JSON object (new reference). */
json_t *resultfmt_json(const fl_result *r);

/* Flags for json_dump*: compact, reals to 6 significant digits. */
#define FL_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(6))
/* The API's and the alerts': every digit a double holds, none of the noise
 * of its binary form (155.288628, not 155.28862800000002). */
#define FL_JSON_EXACT (JSON_COMPACT | JSON_REAL_PRECISION(15))

#endif
