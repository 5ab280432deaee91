/* faultcode: the one table of 16-bit fault codes.
 *
 *   bits 15-12 category, 11-8 subcategory, 7-4 severity (0-15), 3-0 error
 *
 * 0x3795 = network / transport / severity 9 (high) / connection reset.
 * docs/fault-codes.md is generated from this table (`faultline decode
 * --table`), and a unit test keeps the two equal. */
#ifndef FL_FAULTCODE_H
#define FL_FAULTCODE_H

#include <stdint.h>
#include <stdio.h>

#define FL_FAULT(cat, sub, sev, err) \
    ((uint16_t)(((cat) << 12) | ((sub) << 8) | ((sev) << 4) | (err)))

enum fl_fault {
    FL_FAULT_NONE = 0,
    /* agent: the probe could not run on this host */
    FL_FAULT_PROBE_PERMISSION = FL_FAULT(0x1, 0x1, 7, 0x1),
    FL_FAULT_PROBE_RESOURCE = FL_FAULT(0x1, 0x1, 7, 0x2),
    FL_FAULT_PROBE_INTERNAL = FL_FAULT(0x1, 0x1, 7, 0x3),
    /* agent: the host's own TCP health */
    FL_FAULT_HOST_RETRANS = FL_FAULT(0x1, 0x3, 6, 0x1),
    FL_FAULT_HOST_LISTEN_DROPS = FL_FAULT(0x1, 0x3, 7, 0x2),
    FL_FAULT_HOST_ESTAB_SHARE = FL_FAULT(0x1, 0x3, 6, 0x3),
    FL_FAULT_HOST_SYSCTL_DRIFT = FL_FAULT(0x1, 0x3, 4, 0x4),
    /* agent: delivery to the collector */
    FL_FAULT_OUTBOX_DROPPED = FL_FAULT(0x1, 0x2, 8, 0x1),
    FL_FAULT_AGENT_SILENT = FL_FAULT(0x1, 0x2, 10, 0x2),
    /* dns: resolving the target's name through the system resolver */
    FL_FAULT_RESOLVE_NXDOMAIN = FL_FAULT(0x2, 0x1, 9, 0x1),
    FL_FAULT_RESOLVE_TEMPFAIL = FL_FAULT(0x2, 0x1, 9, 0x2),
    FL_FAULT_RESOLVE_NOFAMILY = FL_FAULT(0x2, 0x1, 6, 0x3),
    /* dns: a query to a chosen server */
    FL_FAULT_DNS_NXDOMAIN = FL_FAULT(0x2, 0x2, 9, 0x1),
    FL_FAULT_DNS_SERVFAIL = FL_FAULT(0x2, 0x2, 10, 0x2),
    FL_FAULT_DNS_REFUSED = FL_FAULT(0x2, 0x2, 9, 0x3),
    FL_FAULT_DNS_TIMEOUT = FL_FAULT(0x2, 0x2, 10, 0x4),
    FL_FAULT_DNS_SLOW = FL_FAULT(0x2, 0x2, 5, 0x5),
    FL_FAULT_DNS_UNEXPECTED = FL_FAULT(0x2, 0x2, 7, 0x6),
    FL_FAULT_DNS_RCODE = FL_FAULT(0x2, 0x2, 8, 0x7),
    FL_FAULT_DNS_NODATA = FL_FAULT(0x2, 0x2, 6, 0x8),
    FL_FAULT_DNS_UNREACHABLE = FL_FAULT(0x2, 0x2, 10, 0x9),
    FL_FAULT_DNS_MALFORMED = FL_FAULT(0x2, 0x2, 8, 0xa),
    /* network: reachability (ICMP echo) */
    FL_FAULT_ICMP_NO_REPLY = FL_FAULT(0x3, 0x1, 10, 0x1),
    FL_FAULT_ICMP_LOSS = FL_FAULT(0x3, 0x1, 6, 0x2),
    FL_FAULT_ICMP_UNREACHABLE = FL_FAULT(0x3, 0x1, 10, 0x3),
    FL_FAULT_ICMP_HIGH_RTT = FL_FAULT(0x3, 0x1, 5, 0x4),
    FL_FAULT_ICMP_JITTER = FL_FAULT(0x3, 0x1, 5, 0x5),
    /* network: path MTU */
    FL_FAULT_MTU_BLACKHOLE = FL_FAULT(0x3, 0x4, 10, 0x1),
    FL_FAULT_MTU_UNREACHABLE = FL_FAULT(0x3, 0x4, 10, 0x2),
    FL_FAULT_MTU_LOW = FL_FAULT(0x3, 0x4, 6, 0x3),
    /* network: routing (traceroute) */
    FL_FAULT_TRACE_INCOMPLETE = FL_FAULT(0x3, 0x5, 9, 0x1),
    FL_FAULT_TRACE_UNREACHABLE = FL_FAULT(0x3, 0x5, 10, 0x2),
    /* network: what a capture window shows */
    FL_FAULT_CAPTURE_ANOMALIES = FL_FAULT(0x3, 0x8, 6, 0x1),
    FL_FAULT_CAPTURE_DROPS = FL_FAULT(0x3, 0x8, 5, 0x2),
    /* network: transport (TCP connect) */
    FL_FAULT_TCP_REFUSED = FL_FAULT(0x3, 0x7, 9, 0x1),
    FL_FAULT_TCP_TIMEOUT = FL_FAULT(0x3, 0x7, 9, 0x2),
    FL_FAULT_TCP_HOST_UNREACH = FL_FAULT(0x3, 0x7, 10, 0x3),
    FL_FAULT_TCP_NET_UNREACH = FL_FAULT(0x3, 0x7, 10, 0x4),
    FL_FAULT_TCP_RESET = FL_FAULT(0x3, 0x7, 9, 0x5),
    FL_FAULT_TCP_ERROR = FL_FAULT(0x3, 0x7, 8, 0x6),
    /* application: HTTP */
    FL_FAULT_HTTP_STATUS = FL_FAULT(0x4, 0x1, 8, 0x1),
    FL_FAULT_HTTP_TIMEOUT = FL_FAULT(0x4, 0x1, 9, 0x2),
    FL_FAULT_HTTP_BODY = FL_FAULT(0x4, 0x1, 7, 0x3),
    FL_FAULT_HTTP_PROTOCOL = FL_FAULT(0x4, 0x1, 8, 0x4),
    FL_FAULT_HTTP_DRIFT = FL_FAULT(0x4, 0x1, 4, 0x5),
    /* application: TLS */
    FL_FAULT_TLS_HANDSHAKE = FL_FAULT(0x4, 0x2, 10, 0x1),
    FL_FAULT_TLS_NAME = FL_FAULT(0x4, 0x2, 10, 0x2),
    FL_FAULT_TLS_EXPIRED = FL_FAULT(0x4, 0x2, 10, 0x3),
    FL_FAULT_TLS_UNTRUSTED = FL_FAULT(0x4, 0x2, 10, 0x4),
    FL_FAULT_TLS_EXPIRING = FL_FAULT(0x4, 0x2, 5, 0x5),
};

struct fl_fault_info {
    unsigned category, subcategory, severity, error;
    const char *category_name;    /* "unknown" when not in the table */
    const char *subcategory_name; /* "unknown" when not in the table */
    const char *error_name;       /* "unknown" when not in the table */
    const char *severity_name;    /* info, warning, high, critical */
    const char *level;            /* L1 (critical), L2 (high), L3 (warning), "-" */
};

/* Split CODE into its fields and name each one.  Returns 0 when every part
 * is in the table, 1 when some part is unknown (fields still filled), -1
 * when CODE does not fit in 16 bits. */
int fault_decode(uint32_t code, struct fl_fault_info *out);

/* The level of CODE's severity: 1 (L1 critical, 12-15), 2 (L2 high, 8-11),
 * 3 (L3 warning, 4-7), 4 (informational, 0-3). */
int fault_level(uint16_t code);

/* Parse a code written as hex with 0x ("0x3795"), binary with 0b
 * ("0b0011011110010101") or decimal ("14229"; leading zeros do not make it
 * octal).  0 or -1. */
int fault_parse(const char *s, uint16_t *out);

/* One line: "0x3795 network/transport high(9): connection reset". */
void fault_format(uint16_t code, char *buf, size_t len);

/* Write the whole table as the Markdown of docs/fault-codes.md. */
void fault_table_markdown(FILE *f);

#endif
