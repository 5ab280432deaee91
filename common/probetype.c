#include "probetype.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each probe type: its detail as text and as JSON, and what correlation
 * reads of it; the table at the end. */

static const char *const probetype_tcp_outcomes[] = {
    "?", "connected", "refused", "timeout", "unreachable", "reset", "error"};

static const char *resultfmt__tcp_outcome(int o)
{
    return o >= 0 && o < 7 ? probetype_tcp_outcomes[o] : "?";
}

/* ---- icmp ---- */

static void icmp__text(const fl_result *r, char *buf, size_t len)
{
    const Faultline__IcmpDetail *d = r->icmp;
    double loss = d->sent ? 100.0 * (d->sent - d->received) / d->sent : 0;
    int n = snprintf(buf, len, "sent=%u received=%u loss=%.0f%%", d->sent, d->received, loss);
    if (d->received && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " rtt=%.3f/%.3f/%.3f/%.3fms", d->rtt_min_us / 1000.0,
                 d->rtt_avg_us / 1000.0, d->rtt_max_us / 1000.0, d->rtt_stddev_us / 1000.0);
}

static json_t *icmp__json(const fl_result *r)
{
    const Faultline__IcmpDetail *d = r->icmp;
    json_t *o = json_pack("{s:I, s:I, s:f, s:b, s:I}", "sent", (json_int_t)d->sent, "received",
                          (json_int_t)d->received, "loss",
                          d->sent ? (double)(d->sent - d->received) / d->sent : 0.0, "raw_socket",
                          (int)d->raw_socket, "unreachable", (json_int_t)d->unreachable);
    if (d->received)
        json_object_update_new(
            o, json_pack("{s:f, s:f, s:f, s:f}", "rtt_min_ms", d->rtt_min_us / 1000.0, "rtt_avg_ms",
                         d->rtt_avg_us / 1000.0, "rtt_max_ms", d->rtt_max_us / 1000.0,
                         "rtt_stddev_ms", d->rtt_stddev_us / 1000.0));
    return o;
}

static void icmp__signals(const fl_result *r, struct probe_signals *out)
{
    out->rtt_avg_us = r->icmp->rtt_avg_us;
    out->rtt_stddev_us = r->icmp->rtt_stddev_us;
}

/* ---- tcp ---- */

static void tcp__text(const fl_result *r, char *buf, size_t len)
{
    const Faultline__TcpDetail *d = r->tcp;
    snprintf(buf, len, "port=%u %s in %.3fms attempts=%u", d->port,
             resultfmt__tcp_outcome(d->outcome), d->connect_us / 1000.0, d->attempts);
}

static json_t *tcp__json(const fl_result *r)
{
    const Faultline__TcpDetail *d = r->tcp;
    return json_pack("{s:I, s:s, s:f, s:I, s:I}", "port", (json_int_t)d->port, "outcome",
                     resultfmt__tcp_outcome(d->outcome), "connect_ms", d->connect_us / 1000.0,
                     "errno", (json_int_t)d->error, "attempts", (json_int_t)d->attempts);
}

/* ---- http ---- */

static void http__text(const fl_result *r, char *buf, size_t len)
{
    const Faultline__HttpDetail *d = r->http;
    int n = snprintf(buf, len,
                     "status=%u server=\"%s\" http=%s%s%s connect=%.3fms first_byte=%.3fms "
                     "total=%.3fms attempts=%u",
                     d->status_code, d->server, d->http_version, d->tls_version[0] ? " tls=" : "",
                     d->tls_version, d->connect_us / 1000.0, d->first_byte_us / 1000.0,
                     d->total_us / 1000.0, d->attempts);
    if (d->cert_not_after && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " cert_days_left=%d", d->cert_days_left);
}

static json_t *http__json(const fl_result *r)
{
    const Faultline__HttpDetail *d = r->http;
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:I, s:I}",
                  "status_code", (json_int_t)d->status_code, "server", d->server, "server_product",
                  d->server_product, "server_version", d->server_version, "http_version",
                  d->http_version, "tls_version", d->tls_version, "dns_ms", d->dns_us / 1000.0,
                  "connect_ms", d->connect_us / 1000.0, "tls_ms", d->tls_us / 1000.0,
                  "first_byte_ms", d->first_byte_us / 1000.0, "total_ms", d->total_us / 1000.0,
                  "attempts", (json_int_t)d->attempts, "body_bytes", (json_int_t)d->body_bytes);
    if (d->cert_not_after) {
        json_object_set_new(o, "cert_not_after", json_integer(d->cert_not_after));
        json_object_set_new(o, "cert_days_left", json_integer(d->cert_days_left));
    }
    if (d->error[0])
        json_object_set_new(o, "error", json_string(d->error));
    return o;
}

static void http__signals(const fl_result *r, struct probe_signals *out)
{
    out->server = r->http->server;
}

/* ---- dns ---- */

static void dns__text(const fl_result *r, char *buf, size_t len)
{
    const Faultline__DnsDetail *d = r->dns;
    int n =
        snprintf(buf, len, "%s %s @%s %s in %.3fms%s%s answers=[", d->name, d->type, d->server,
                 d->rcode_name[0] ? d->rcode_name : "no answer", d->response_us / 1000.0,
                 d->tcp ? " tcp" : "", d->truncated_retry ? " (truncated, retried over tcp)" : "");
    for (size_t i = 0; i < d->n_answers && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, "%s%s", i ? ", " : "", d->answers[i]);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "]");
}

static json_t *dns__json(const fl_result *r)
{
    const Faultline__DnsDetail *d = r->dns;
    json_t *answers = json_array();
    for (size_t i = 0; i < d->n_answers; i++)
        json_array_append_new(answers, json_string(d->answers[i]));
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:f, s:o, s:b, s:b, s:b}", "server", d->server,
                          "name", d->name, "type", d->type, "rcode", (json_int_t)d->rcode,
                          "rcode_name", d->rcode_name, "response_ms", d->response_us / 1000.0,
                          "answers", answers, "tcp", (int)d->tcp, "truncated_retry",
                          (int)d->truncated_retry, "authoritative", (int)d->authoritative);
    if (d->error[0])
        json_object_set_new(o, "error", json_string(d->error));
    return o;
}

/* ---- mtu ---- */

static void mtu__text(const fl_result *r, char *buf, size_t len)
{
    const Faultline__MtuDetail *d = r->mtu;
    snprintf(buf, len,
             "path_mtu=%u%s via %s (mtu %u, route mtu %u) icmp_mtu=%u probes=%u method=%s",
             d->path_mtu, d->black_hole ? " BLACK HOLE" : "", d->interface, d->interface_mtu,
             d->route_mtu, d->icmp_mtu, d->probes, d->method);
}

static json_t *mtu__json(const fl_result *r)
{
    const Faultline__MtuDetail *d = r->mtu;
    return json_pack("{s:I, s:s, s:I, s:I, s:I, s:b, s:I, s:s}", "path_mtu",
                     (json_int_t)d->path_mtu, "interface", d->interface, "interface_mtu",
                     (json_int_t)d->interface_mtu, "route_mtu", (json_int_t)d->route_mtu,
                     "icmp_mtu", (json_int_t)d->icmp_mtu, "black_hole", (int)d->black_hole,
                     "probes", (json_int_t)d->probes, "method", d->method);
}

static void mtu__signals(const fl_result *r, struct probe_signals *out)
{
    out->black_hole = r->mtu->black_hole;
}

/* ---- trace ---- */

static void trace__text(const fl_result *r, char *buf, size_t len)
{
    const Faultline__TraceDetail *d = r->trace;
    int n = snprintf(buf, len, "%s hops:", d->reached ? "reached" : "NOT reached");
    for (size_t i = 0; i < d->n_hops && n > 0 && (size_t)n < len; i++) {
        const Faultline__TraceHop *h = d->hops[i];
        if (h->received)
            n += snprintf(buf + n, len - (size_t)n, " %u %s %.3fms", h->ttl, h->address,
                          h->rtt_avg_us / 1000.0);
        else
            n += snprintf(buf + n, len - (size_t)n, " %u *", h->ttl);
    }
}

static json_t *trace__json(const fl_result *r)
{
    const Faultline__TraceDetail *d = r->trace;
    json_t *hops = json_array();
    for (size_t i = 0; i < d->n_hops; i++) {
        const Faultline__TraceHop *h = d->hops[i];
        json_t *o =
            json_pack("{s:I, s:s, s:I, s:I}", "ttl", (json_int_t)h->ttl, "address", h->address,
                      "sent", (json_int_t)h->sent, "received", (json_int_t)h->received);
        if (h->received)
            json_object_update_new(
                o, json_pack("{s:f, s:f, s:f}", "rtt_min_ms", h->rtt_min_us / 1000.0, "rtt_avg_ms",
                             h->rtt_avg_us / 1000.0, "rtt_max_ms", h->rtt_max_us / 1000.0));
        json_array_append_new(hops, o);
    }
    return json_pack("{s:b, s:s, s:I, s:o}", "reached", (int)d->reached, "last_address",
                     d->last_address, "triggered_by", (json_int_t)d->triggered_by, "hops", hops);
}

static void trace__signals(const fl_result *r, struct probe_signals *out)
{
    for (size_t k = 0; k < r->trace->n_hops && out->nhops < PROBE_SIGNALS_MAX; k++)
        out->hops[out->nhops++] = r->trace->hops[k]->address;
    out->reached = r->trace->reached;
}

/* ---- capture ---- */

static void capture__text(const fl_result *r, char *buf, size_t len)
{
    const Faultline__CaptureDetail *d = r->capture;
    snprintf(buf, len,
             "%s [%s] packets=%llu tcp=%llu syn=%llu synack=%llu rst=%llu handshakes=%llu/%llu "
             "retrans=%llu fast_retrans=%llu dupack=%llu zero_window=%llu unreachable=%llu "
             "frag_needed=%llu too_big=%llu malformed=%llu dropped=%llu%s%s",
             d->interface, d->filter, (unsigned long long)d->packets, (unsigned long long)d->tcp,
             (unsigned long long)d->syn, (unsigned long long)d->synack, (unsigned long long)d->rst,
             (unsigned long long)d->handshakes_completed,
             (unsigned long long)d->handshakes_attempted, (unsigned long long)d->retransmissions,
             (unsigned long long)d->fast_retransmissions, (unsigned long long)d->duplicate_acks,
             (unsigned long long)d->zero_windows, (unsigned long long)d->unreachable,
             (unsigned long long)d->frag_needed, (unsigned long long)d->packet_too_big,
             (unsigned long long)d->malformed,
             (unsigned long long)(d->kernel_dropped + d->interface_dropped),
             d->saved_file[0] ? " saved=" : "", d->saved_file);
}

static json_t *capture__json(const fl_result *r)
{
    const Faultline__CaptureDetail *d = r->capture;
    json_t *codes = json_object();
    for (size_t i = 0; i < d->n_unreachable_by_code; i++)
        json_object_set_new(codes, d->unreachable_by_code[i]->name,
                            json_integer((json_int_t)d->unreachable_by_code[i]->value));
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "interface", d->interface, "filter", d->filter, "window_ms", (json_int_t)d->window_ms,
        "packets", (json_int_t)d->packets, "bytes", (json_int_t)d->bytes, "malformed",
        (json_int_t)d->malformed, "truncated", (json_int_t)d->truncated, "tcp", (json_int_t)d->tcp,
        "syn", (json_int_t)d->syn, "synack", (json_int_t)d->synack, "rst", (json_int_t)d->rst,
        "handshakes_attempted", (json_int_t)d->handshakes_attempted, "handshakes_completed",
        (json_int_t)d->handshakes_completed, "retransmissions", (json_int_t)d->retransmissions,
        "fast_retransmissions", (json_int_t)d->fast_retransmissions, "duplicate_acks",
        (json_int_t)d->duplicate_acks);
    json_object_update_new(
        o,
        json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:s, s:I}", "zero_windows",
                  (json_int_t)d->zero_windows, "unreachable", (json_int_t)d->unreachable,
                  "unreachable_by_code", codes, "frag_needed", (json_int_t)d->frag_needed,
                  "packet_too_big", (json_int_t)d->packet_too_big, "kernel_received",
                  (json_int_t)d->kernel_received, "kernel_dropped", (json_int_t)d->kernel_dropped,
                  "interface_dropped", (json_int_t)d->interface_dropped, "saved_file",
                  d->saved_file, "triggered_by", (json_int_t)d->triggered_by));
    return o;
}

/* ---- host ---- */

static void host__text(const fl_result *r, char *buf, size_t len)
{
    const Faultline__HostDetail *d = r->host;
    int n = snprintf(buf, len, "window=%ums estab_share=%.0f%%", d->window_ms,
                     d->established_share * 100);
    for (size_t i = 0; i < d->n_counters && n > 0 && (size_t)n < len; i++)
        if (d->counters[i]->delta)
            n += snprintf(buf + n, len - (size_t)n, " %s=+%lld", d->counters[i]->name,
                          (long long)d->counters[i]->delta);
    for (size_t i = 0; i < d->n_states && n > 0 && (size_t)n < len; i++)
        if (d->states[i]->value)
            n += snprintf(buf + n, len - (size_t)n, " %s=%llu", d->states[i]->name,
                          (unsigned long long)d->states[i]->value);
    if (n > 0 && (size_t)n < len && d->default_route_v4[0])
        snprintf(buf + n, len - (size_t)n, " default %s", d->default_route_v4);
}

static json_t *host__json(const fl_result *r)
{
    const Faultline__HostDetail *d = r->host;
    json_t *counters = json_object(), *states = json_object(), *sysctls = json_object(),
           *mtus = json_object();
    for (size_t i = 0; i < d->n_counters; i++)
        json_object_set_new(counters, d->counters[i]->name,
                            json_pack("{s:I, s:I}", "value", (json_int_t)d->counters[i]->value,
                                      "delta", (json_int_t)d->counters[i]->delta));
    for (size_t i = 0; i < d->n_states; i++)
        json_object_set_new(states, d->states[i]->name,
                            json_integer((json_int_t)d->states[i]->value));
    for (size_t i = 0; i < d->n_sysctls; i++)
        json_object_set_new(sysctls, d->sysctls[i]->key, json_string(d->sysctls[i]->value));
    for (size_t i = 0; i < d->n_interface_mtus; i++)
        json_object_set_new(mtus, d->interface_mtus[i]->key,
                            json_integer(atoi(d->interface_mtus[i]->value)));
    return json_pack("{s:I, s:f, s:o, s:o, s:o, s:o, s:s, s:s}", "window_ms",
                     (json_int_t)d->window_ms, "established_share", d->established_share,
                     "counters", counters, "states", states, "sysctls", sysctls, "interface_mtus",
                     mtus, "default_route_v4", d->default_route_v4, "default_route_v6",
                     d->default_route_v6);
}

static void host__signals(const fl_result *r, struct probe_signals *out)
{
    for (size_t k = 0; k < r->host->n_sysctls && out->nsysctls < PROBE_SIGNALS_MAX; k++) {
        out->sysctl_names[out->nsysctls] = r->host->sysctls[k]->key;
        out->sysctl_values[out->nsysctls++] = r->host->sysctls[k]->value;
    }
}

/* ---- the table ---- */

#define PROBETYPE(T, N, D, S, E)                                                                   \
    {                                                                                              \
        .type = FL_PROBE_##T, .name = #N, .detail_case = FAULTLINE__RESULT__DETAIL_##D,            \
        .text = N##__text, .json = N##__json, .signals = S, .evidence_only = E                     \
    }

static const struct probetype probetypes[] = {
    PROBETYPE(ICMP, icmp, ICMP, icmp__signals, 0),
    PROBETYPE(TCP, tcp, TCP, NULL, 0),
    PROBETYPE(HTTP, http, HTTP, http__signals, 0),
    PROBETYPE(DNS, dns, DNS, NULL, 0),
    PROBETYPE(MTU, mtu, MTU, mtu__signals, 0),
    PROBETYPE(TRACE, trace, TRACE, trace__signals, 0),
    PROBETYPE(CAPTURE, capture, CAPTURE, NULL, 1),
    PROBETYPE(HOST, host, HOST, host__signals, 0),
};

#define PROBETYPE_N (sizeof probetypes / sizeof probetypes[0])

const struct probetype *probetype_of(int type)
{
    for (size_t i = 0; i < PROBETYPE_N; i++)
        if ((int)probetypes[i].type == type)
            return &probetypes[i];
    return NULL;
}

const struct probetype *probetype_named(const char *name)
{
    for (size_t i = 0; i < PROBETYPE_N; i++)
        if (!strcmp(probetypes[i].name, name))
            return &probetypes[i];
    return NULL;
}

const struct probetype *probetype_all(size_t *n)
{
    *n = PROBETYPE_N;
    return probetypes;
}

const struct probetype *probetype_detail(const fl_result *r)
{
    const struct probetype *pt = probetype_of(r->probe);
    return pt && (int)r->detail_case == pt->detail_case ? pt : NULL;
}
