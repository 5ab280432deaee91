/* incident: diagnoses over time.  Each evaluation's root causes are matched
 * to the open incidents by (verdict, component): a new one opens an
 * incident, a known one refreshes it when what it explains changed, and an
 * open incident whose cause is gone is closed.  The health states'
 * hysteresis is what keeps a flapping check from opening and closing
 * incidents at every result. */
#ifndef FL_INCIDENT_H
#define FL_INCIDENT_H

#include <stddef.h>
#include <stdint.h>

#include "correlate.h"
#include "store.h"

/* What happens to an incident, in order: it opens, is updated when what
 * it blames grows, and is resolved when its cause is gone. */
enum incident_event { INCIDENT_OPEN = 1, INCIDENT_UPDATE, INCIDENT_RESOLVE };

const char *incident_event_name(enum incident_event e);

/* One incident as the rest of the collector sees it (alerts, the API):
 * its strings belong to whoever passes it. */
struct incident {
    int64_t id;
    const char *verdict, *component, *explanation;
    const char *agents_json, *targets_json; /* JSON arrays */
    uint16_t fault;
    int64_t start_us, end_us; /* end_us 0 while open */
};

struct incidents;

/* Incidents of diagnoses held for CONFIRM_US: while the pairs of a fault
 * turn failing one after the other, the picture passes through partial
 * diagnoses (a PATH before the whole REGION shows) that must not page
 * anyone.  NULL when out of memory. */
struct incidents *incidents_new(int64_t confirm_us);
void incidents_free(struct incidents **inc);

/* Take on the incidents still open in ST (a restarted collector carries
 * on).  0 or -1 (store error). */
int incidents_load(struct incidents *inc, struct store *st);

/* Apply one evaluation at NOW_US, written to ST inside the caller's
 * transaction; ST NULL keeps it all in memory (new incidents are numbered
 * here, and one ends when it is seen gone), which is the logic alone.
 * Counts of what changed go to OPENED/CLOSED (may be NULL).  0 or -1
 * (store error). */
int incidents_apply(struct incidents *inc, struct store *st, const struct corr_diagnosis *d,
                    size_t n, int64_t now_us, size_t *opened, size_t *closed);

/* What incidents_apply() changed, in order: call once the transaction
 * is committed (the events are then forgotten).  FN may be NULL to drop
 * them. */
typedef void (*incidents_event_fn)(void *ctx, enum incident_event ev,
                                   const struct incident *in);
void incidents_flush_events(struct incidents *inc, incidents_event_fn fn, void *ctx);

/* Every incident open now. */
void incidents_foreach_open(struct incidents *inc, incidents_event_fn fn, void *ctx);

#endif
