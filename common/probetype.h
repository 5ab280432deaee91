/* probetype: what every part of faultline knows of a probe type, in one
 * table (probetype.c): its name, its wire number and detail, how its
 * detail reads as text and as JSON, and what correlation reads of it.  The
 * agent's probe implementations (agent/probe_*.c) are the other half. */
#ifndef FL_PROBETYPE_H
#define FL_PROBETYPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* The wire's numbers (proto/faultline.proto ProbeType), by shorter names. */
enum fl_probe_type {
    FL_PROBE_ICMP = FAULTLINE__PROBE_TYPE__PROBE_ICMP,
    FL_PROBE_TCP = FAULTLINE__PROBE_TYPE__PROBE_TCP,
    FL_PROBE_HTTP = FAULTLINE__PROBE_TYPE__PROBE_HTTP,
    FL_PROBE_DNS = FAULTLINE__PROBE_TYPE__PROBE_DNS,
    FL_PROBE_MTU = FAULTLINE__PROBE_TYPE__PROBE_MTU,
    FL_PROBE_TRACE = FAULTLINE__PROBE_TYPE__PROBE_TRACE,
    FL_PROBE_CAPTURE = FAULTLINE__PROBE_TYPE__PROBE_CAPTURE,
    FL_PROBE_HOST = FAULTLINE__PROBE_TYPE__PROBE_HOST,
};

#define PROBE_SIGNALS_MAX 32

/* What correlation reads of a result's detail, beyond status and fault. */
struct probe_signals {
    uint32_t rtt_avg_us, rtt_stddev_us; /* icmp: over the echoes answered */
    int black_hole;                     /* mtu: the result names one */
    const char *server;                 /* http: the Server header */
    const char *sysctl_names[PROBE_SIGNALS_MAX], *sysctl_values[PROBE_SIGNALS_MAX]; /* host */
    size_t nsysctls;
    const char *hops[PROBE_SIGNALS_MAX]; /* trace: addresses that answered, nearest first */
    size_t nhops;
    int reached; /* trace: the target answered */
};

struct probetype {
    int type;         /* its wire number (Faultline__ProbeType) */
    const char *name; /* "icmp": in configs, the CLI and the API */
    int detail_case;  /* its Result detail (Faultline__Result__DetailCase) */
    /* The detail as one text line ("sent=5 received=5 loss=0% ...") and as
     * a JSON object (new reference). */
    void (*text)(const fl_result *r, char *buf, size_t len);
    json_t *(*json)(const fl_result *r);
    /* What correlation reads of it (NULL: nothing beyond the status). */
    void (*signals)(const fl_result *r, struct probe_signals *out);
    int evidence_only; /* its results are evidence, not health (capture) */
};

/* The type numbered TYPE, or named NAME; NULL when there is none. */
const struct probetype *probetype_of(int type);
const struct probetype *probetype_named(const char *name);
/* Every type, in wire order; *N gets the count. */
const struct probetype *probetype_all(size_t *n);

/* R's detail when it is the one its probe type carries, else NULL. */
const struct probetype *probetype_detail(const fl_result *r);

#endif
