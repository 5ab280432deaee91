#include "faultcode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fault_sub {
    unsigned category, subcategory;
    const char *name;
};

struct fault_err {
    uint16_t code; /* with its default severity */
    const char *name;
    const char *meaning;
};

static const char *const fault_categories[16] = {
    [0x1] = "agent", [0x2] = "dns", [0x3] = "network", [0x4] = "application",
    [0x5] = "collector",
};

static const struct fault_sub fault_subs[] = {
    {0x1, 0x1, "probe"},
    {0x1, 0x2, "delivery"},
    {0x1, 0x3, "host tcp"},
    {0x2, 0x1, "resolution"},
    {0x2, 0x2, "query"},
    {0x3, 0x1, "reachability"},
    {0x3, 0x4, "path mtu"},
    {0x3, 0x5, "routing"},
    {0x3, 0x7, "transport"},
    {0x3, 0x8, "capture"},
    {0x4, 0x1, "http"},
    {0x4, 0x2, "tls"},
};

static const struct fault_err fault_errors[] = {
    {FL_FAULT_PROBE_PERMISSION, "permission denied",
     "the agent may not open the socket the probe needs (CAP_NET_RAW, ping_group_range)"},
    {FL_FAULT_PROBE_RESOURCE, "resource exhausted",
     "out of file descriptors, memory or ports on the agent host"},
    {FL_FAULT_PROBE_INTERNAL, "internal error", "the probe failed for a reason of its own"},
    {FL_FAULT_HOST_RETRANS, "retransmissions", "retransmitted segments above the threshold share of segments sent"},
    {FL_FAULT_HOST_LISTEN_DROPS, "listen drops", "connections dropped at a full or overflowing listen queue"},
    {FL_FAULT_HOST_ESTAB_SHARE, "few established",
     "established below the threshold share of TCP connections (LISTEN, TIME_WAIT and CLOSE not counted)"},
    {FL_FAULT_HOST_SYSCTL_DRIFT, "sysctl drift",
     "a TCP sysctl differs between hosts of one role (agent label role)"},
    {FL_FAULT_OUTBOX_DROPPED, "results dropped",
     "the outbox was full and the oldest results were dropped (a Gap says which)"},
    {FL_FAULT_AGENT_SILENT, "agent silent",
     "no result and no heartbeat from the agent for longer than the silence limit"},
    {FL_FAULT_RESOLVE_NXDOMAIN, "name not found",
     "the target's name does not exist (NXDOMAIN or no such host)"},
    {FL_FAULT_RESOLVE_TEMPFAIL, "resolver failure",
     "the system resolver failed or timed out (SERVFAIL, no server reachable)"},
    {FL_FAULT_RESOLVE_NOFAMILY, "no address of the family",
     "the name exists but has no address of the requested family"},
    {FL_FAULT_DNS_NXDOMAIN, "NXDOMAIN", "the server says the name does not exist"},
    {FL_FAULT_DNS_SERVFAIL, "SERVFAIL", "the server could not answer (its upstream or zone is broken)"},
    {FL_FAULT_DNS_REFUSED, "REFUSED", "the server refuses to answer this query"},
    {FL_FAULT_DNS_TIMEOUT, "no answer", "the server did not answer within the timeout, after every try"},
    {FL_FAULT_DNS_SLOW, "slow answer", "the answer came later than the threshold (default 1000 ms)"},
    {FL_FAULT_DNS_UNEXPECTED, "unexpected answer", "the answers differ from the expected ones"},
    {FL_FAULT_DNS_RCODE, "other error rcode", "FORMERR, NOTIMP or another error rcode"},
    {FL_FAULT_DNS_NODATA, "no data", "NOERROR, but no record of the type asked for"},
    {FL_FAULT_DNS_UNREACHABLE, "server unreachable", "the server's port or host is unreachable (nothing listens)"},
    {FL_FAULT_DNS_MALFORMED, "malformed answer", "the answer could not be parsed"},
    {FL_FAULT_ICMP_NO_REPLY, "no reply", "every echo request went unanswered"},
    {FL_FAULT_ICMP_LOSS, "packet loss", "some echo requests went unanswered"},
    {FL_FAULT_ICMP_UNREACHABLE, "destination unreachable",
     "a router or the target answered with ICMP destination unreachable"},
    {FL_FAULT_ICMP_HIGH_RTT, "high round-trip time", "rtt above the configured threshold"},
    {FL_FAULT_ICMP_JITTER, "high jitter",
     "rtt standard deviation over the collector's window above its threshold"},
    {FL_FAULT_MTU_BLACKHOLE, "MTU black hole",
     "packets above the path MTU vanish and no ICMP \"fragmentation needed\" comes back"},
    {FL_FAULT_MTU_UNREACHABLE, "path unreachable", "not even small probes reach the target"},
    {FL_FAULT_MTU_LOW, "path MTU below expected", "the path MTU is lower than the configured expect_mtu"},
    {FL_FAULT_TRACE_INCOMPLETE, "trace incomplete",
     "the trace stops before the target: the last hop that answers is named"},
    {FL_FAULT_TRACE_UNREACHABLE, "unreachable on the path",
     "a router on the path answered destination unreachable"},
    {FL_FAULT_CAPTURE_ANOMALIES, "anomalies captured",
     "resets, retransmissions, duplicate ACKs, zero windows, failed handshakes or ICMP errors in the window"},
    {FL_FAULT_CAPTURE_DROPS, "capture drops", "the kernel dropped packets of the capture: the counts are low"},
    {FL_FAULT_TCP_REFUSED, "connection refused", "the target answered the SYN with a RST"},
    {FL_FAULT_TCP_TIMEOUT, "connect timeout", "no answer to the SYN within the timeout"},
    {FL_FAULT_TCP_HOST_UNREACH, "host unreachable",
     "ICMP host unreachable or administratively prohibited"},
    {FL_FAULT_TCP_NET_UNREACH, "network unreachable", "no route, or ICMP network unreachable"},
    {FL_FAULT_TCP_RESET, "connection reset", "the connection was reset"},
    {FL_FAULT_TCP_ERROR, "transport error", "another local error on connect"},
    {FL_FAULT_HTTP_STATUS, "unexpected status", "the status code is not the expected one (default: 2xx or 3xx)"},
    {FL_FAULT_HTTP_TIMEOUT, "response timeout", "connected, but the response did not complete within the timeout"},
    {FL_FAULT_HTTP_BODY, "body mismatch", "the body does not contain the expected text"},
    {FL_FAULT_HTTP_PROTOCOL, "protocol error", "an empty, malformed or cut-off HTTP response"},
    {FL_FAULT_HTTP_DRIFT, "server drift",
     "the addresses behind one name answer with different Server headers (versions)"},
    {FL_FAULT_TLS_HANDSHAKE, "handshake failed", "the TLS handshake failed"},
    {FL_FAULT_TLS_NAME, "certificate name mismatch", "the certificate is not valid for the host name"},
    {FL_FAULT_TLS_EXPIRED, "certificate expired", "the certificate has expired (or is not valid yet)"},
    {FL_FAULT_TLS_UNTRUSTED, "certificate untrusted", "the certificate chain does not lead to a trusted CA"},
    {FL_FAULT_TLS_EXPIRING, "certificate expiring", "the certificate expires within the warning period (default 7 days)"},
};

#define FAULT_N(a) (sizeof(a) / sizeof((a)[0]))

/* The severity bands, once: 12-15 critical (L1), 8-11 high (L2), 4-7
 * warning (L3), 0-3 informational. */
static const struct {
    unsigned from;
    int level;
    const char *name, *label;
} fault_bands[] = {
    {12, 1, "critical", "L1"}, {8, 2, "high", "L2"}, {4, 3, "warning", "L3"}, {0, 4, "info", "-"},
};

static size_t fault__band(unsigned sev)
{
    size_t i = 0;
    while (sev < fault_bands[i].from)
        i++;
    return i;
}

int fault_level(uint16_t code)
{
    return fault_bands[fault__band((code >> 4) & 0xf)].level;
}

int fault_decode(uint32_t code, struct fl_fault_info *out)
{
    if (code > 0xffff)
        return -1;
    memset(out, 0, sizeof *out);
    out->category = (code >> 12) & 0xf;
    out->subcategory = (code >> 8) & 0xf;
    out->severity = (code >> 4) & 0xf;
    out->error = code & 0xf;
    out->severity_name = fault_bands[fault__band(out->severity)].name;
    out->level = fault_bands[fault__band(out->severity)].label;
    out->category_name = fault_categories[out->category];
    for (size_t i = 0; i < FAULT_N(fault_subs); i++)
        if (fault_subs[i].category == out->category &&
            fault_subs[i].subcategory == out->subcategory)
            out->subcategory_name = fault_subs[i].name;
    /* The error is named by (category, subcategory, error); the severity
     * in the table is only the default a probe reports. */
    for (size_t i = 0; i < FAULT_N(fault_errors); i++)
        if ((fault_errors[i].code & 0xff0f) == (code & 0xff0f))
            out->error_name = fault_errors[i].name;
    int known = out->category_name && out->subcategory_name && out->error_name;
    if (!out->category_name)
        out->category_name = "unknown";
    if (!out->subcategory_name)
        out->subcategory_name = "unknown";
    if (!out->error_name)
        out->error_name = "unknown";
    return known ? 0 : 1;
}

int fault_parse(const char *s, uint16_t *out)
{
    if (!s || !*s)
        return -1;
    int base = 10; /* a bare number is decimal, leading zeros and all */
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2;
    else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
        base = 2, s += 2;
    if (!s[0] || !((s[0] >= '0' && s[0] <= '9') || (base == 16 && strchr("abcdefABCDEF", s[0]))))
        return -1; /* strtoul would take a sign or blanks */
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, base);
    if (errno || *end || v > 0xffff)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

void fault_format(uint16_t code, char *buf, size_t len)
{
    struct fl_fault_info fi;
    fault_decode(code, &fi);
    snprintf(buf, len, "0x%04x %s/%s %s(%u): %s", code, fi.category_name,
             fi.subcategory_name, fi.severity_name, fi.severity, fi.error_name);
}

void fault_table_markdown(FILE *f)
{
    fputs("# Fault codes\n\n"
          "Every fault faultline reports carries a 16-bit code:\n\n"
          "| bits | field |\n|---|---|\n"
          "| 15-12 | category |\n| 11-8 | subcategory |\n"
          "| 7-4 | severity, 0-15 |\n| 3-0 | specific error |\n\n"
          "Severity bands: 12-15 critical (L1), 8-11 high (L2), 4-7 warning (L3), 0-3 info.\n"
          "The severity in the table is the default a probe reports; the error is named by\n"
          "category, subcategory and error alone.  `faultline decode 0x3795` explains a code;\n"
          "this page is the output of `faultline decode --table`.\n\n"
          "| code | category | subcategory | severity | error | meaning |\n"
          "|---|---|---|---|---|---|\n",
          f);
    for (size_t i = 0; i < FAULT_N(fault_errors); i++) {
        struct fl_fault_info fi;
        fault_decode(fault_errors[i].code, &fi);
        fprintf(f, "| `0x%04x` | 0x%x %s | 0x%x %s | %u %s (%s) | 0x%x %s | %s |\n",
                fault_errors[i].code, fi.category, fi.category_name, fi.subcategory,
                fi.subcategory_name, fi.severity, fi.severity_name, fi.level, fi.error,
                fi.error_name, fault_errors[i].meaning);
    }
}
