/* timeutil: clocks, durations ("15s", "250ms") and points in time for the
 * CLI ("10m" ago, "2026-11-22T10:00:00Z", unix seconds). */
#ifndef FL_TIMEUTIL_H
#define FL_TIMEUTIL_H

#include <stdint.h>
#include <stddef.h>

/* Wall clock, UTC microseconds since the epoch. */
int64_t time_now_us(void);

/* Monotonic clock in nanoseconds. */
uint64_t time_mono_ns(void);

/* Parse a duration: an integer followed by one of us, ms, s, m, h, d
 * ("1m30s" is also accepted).  Stores microseconds.  0 or -1. */
int time_parse_duration(const char *s, int64_t *out_us);

/* Parse a point in time: RFC 3339 UTC ("2026-11-22T10:00:00Z", also with a
 * space and without seconds), unix seconds ("@1763800000"), or a duration
 * meaning that long before NOW_US ("10m").  Stores UTC microseconds. */
int time_parse_point(const char *s, int64_t now_us, int64_t *out_us);

/* "2026-11-22T10:00:00.123Z" */
void time_format_us(int64_t us, char *buf, size_t len);

#endif
