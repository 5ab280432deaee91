/* probe_capture: a capture window toward one target (libpcap), analysed by
 * capture_analyze.c; or, with `read`, the same analysis of a pcap file.
 *
 * Live: pcap_create on the interface the route to the target uses (or the
 * configured one) -> immediate mode -> activate -> BPF filter ("host
 * ADDRESS" unless configured) -> non-blocking; the selectable fd is polled
 * on the loop and drained with pcap_dispatch; a timer ends the window and
 * pcap_stats says what the kernel dropped.  With ring_dir set, the window
 * is written to a file as it goes and kept only when it shows anomalies,
 * at most ring_files of them, the oldest removed first. */
#include <dirent.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "capture.h"
#include "capture_file.h"
#include "cfg.h"
#include "faultcode.h"
#include "log.h"
#include "route.h"
#include "timeutil.h"

struct capture_opts {
    char *interface;
    char *filter;
    char *ring_dir;
    char *read;
    int64_t window_us;
    int64_t snaplen;
    int64_t ring_files;
};

_Static_assert(sizeof(struct capture_opts) <= AGENT_MAX_OPTS, "capture options fit in a check");

struct capture_state {
    struct probe_run *run; /* NULL once cancelled */
    pcap_t *pcap;
    pcap_dumper_t *dump;
    struct capture *an;
    uv_poll_t poll;
    uv_timer_t timer;
    int handles_open, poll_open, ending;
    char ifname[64], filter[512], tmpfile[512];
    uint64_t bad_records;
};

static void capture_defaults(void *opts)
{
    struct capture_opts *o = opts;
    memset(o, 0, sizeof *o);
    o->window_us = 10 * 1000000LL;
    o->snaplen = 256;
    o->ring_files = 20;
}

static void capture_free_opts(void *opts)
{
    struct capture_opts *o = opts;
    free(o->interface);
    free(o->filter);
    free(o->ring_dir);
    free(o->read);
    memset(o, 0, sizeof *o);
}

static const struct cfg_range capture_window_range = {10000, 3600 * 1000000LL};
static const struct cfg_range capture_snap_range = {64, 65535};
static const struct cfg_range capture_ring_range = {1, 100000};

static const struct cfg_field capture_fields[] = {
    {"interface", cfg_parse_string, offsetof(struct capture_opts, interface), NULL},
    {"filter", cfg_parse_string, offsetof(struct capture_opts, filter), NULL},
    {"window", cfg_parse_duration, offsetof(struct capture_opts, window_us), &capture_window_range},
    {"snaplen", cfg_parse_int, offsetof(struct capture_opts, snaplen), &capture_snap_range},
    {"ring_dir", cfg_parse_string, offsetof(struct capture_opts, ring_dir), NULL},
    {"ring_files", cfg_parse_int, offsetof(struct capture_opts, ring_files), &capture_ring_range},
    {"read", cfg_parse_string, offsetof(struct capture_opts, read), NULL},
    {NULL, NULL, 0, NULL},
};

static void capture_validate(struct cfg *c, struct fy_node *node, const void *opts)
{
    const struct capture_opts *o = opts;
    if (o->filter) {
        /* Compile it now, so a bad filter is a configuration error. */
        struct bpf_program prog;
        pcap_t *dead = pcap_open_dead(DLT_EN10MB, 256);
        if (dead && pcap_compile(dead, &prog, o->filter, 1, PCAP_NETMASK_UNKNOWN) != 0)
            cfg_error(c, node, "capture check: filter: %s", pcap_geterr(dead));
        else if (dead)
            pcap_freecode(&prog);
        if (dead)
            pcap_close(dead);
    }
}

static void capture_target_name(const void *opts, const char *host, char *buf, size_t len)
{
    snprintf(buf, len, "%s", host);
}

/* A file to read is about no address; a live window is about the target. */
static int capture_addresses(const void *opts, enum agent_family family,
                             struct sockaddr_storage *out, size_t max)
{
    const struct capture_opts *o = opts;
    if (!o->read)
        return -ENOSYS;
    memset(out, 0, sizeof *out);
    out->ss_family = AF_UNSPEC;
    return max ? 1 : 0;
}

/* Unreachable by code, in storage owned by the run. */
static void capture__unreachable(struct probe_run *run, const struct capture_counts *k,
                                 Faultline__CaptureDetail *d)
{
    struct capture_block {
        Faultline__Counter codes[24];
        Faultline__Counter *ptrs[24];
    } *blk = calloc(1, sizeof *blk);
    if (blk) {
        run->owned = blk;
        d->unreachable_by_code = blk->ptrs;
        for (int v = 0; v < 2; v++)
            for (int code = 0; code < (v ? 8 : 16); code++) {
                uint64_t n = v ? k->unreachable6[code] : k->unreachable[code];
                if (!n)
                    continue;
                Faultline__Counter *ct = &blk->codes[d->n_unreachable_by_code];
                faultline__counter__init(ct);
                char name[16];
                snprintf(name, sizeof name, "%s %d", v ? "icmp6" : "icmp", code);
                ct->name = probe_text(run, name);
                ct->value = n;
                blk->ptrs[d->n_unreachable_by_code++] = ct;
                d->unreachable += n;
            }
    }
}

/* The window's file: kept (renamed .pcap) when it saw anomalies, else
 * removed. */
static void capture__keep_file(struct capture_state *st, Faultline__CaptureDetail *d,
                               int anomalous)
{
    struct probe_run *run = st->run;
    if (st->dump) {
        pcap_dump_close(st->dump);
        st->dump = NULL;
        if (anomalous) {
            char final[600];
            snprintf(final, sizeof final, "%.*s.pcap", (int)(strlen(st->tmpfile) - 5),
                     st->tmpfile);
            if (rename(st->tmpfile, final) == 0)
                d->saved_file = probe_text(run, final);
        } else {
            unlink(st->tmpfile);
        }
    }
}

static void capture__report(struct capture_state *st)
{
    struct probe_run *run = st->run;
    const struct capture_opts *o = (const void *)run->check->opts;
    const struct capture_counts *k = capture_counts(st->an);
    Faultline__CaptureDetail *d = PROBE_DETAIL(run, Faultline__CaptureDetail);
    faultline__capture_detail__init(d);
    d->interface = probe_text(run, st->ifname);
    d->filter = probe_text(run, st->filter);
    d->window_ms = o->read ? 0 : (uint32_t)(o->window_us / 1000);
    d->packets = k->packets;
    d->bytes = k->bytes;
    d->malformed = k->malformed + st->bad_records;
    d->truncated = k->truncated;
    d->tcp = k->tcp;
    d->syn = k->syn;
    d->synack = k->synack;
    d->rst = k->rst;
    d->handshakes_attempted = k->handshakes_attempted;
    d->handshakes_completed = k->handshakes_completed;
    d->retransmissions = k->retransmissions;
    d->fast_retransmissions = k->fast_retransmissions;
    d->duplicate_acks = k->duplicate_acks;
    d->zero_windows = k->zero_windows;
    d->frag_needed = k->frag_needed;
    d->packet_too_big = k->packet_too_big;
    capture__unreachable(run, k, d);
    struct pcap_stat ps;
    if (st->pcap && !o->read && pcap_stats(st->pcap, &ps) == 0) {
        d->kernel_received = ps.ps_recv;
        d->kernel_dropped = ps.ps_drop;
        d->interface_dropped = ps.ps_ifdrop;
    }
    run->result.detail_case = FAULTLINE__RESULT__DETAIL_CAPTURE;
    run->result.capture = d;
    int anomalous = capture_anomalous(k);
    capture__keep_file(st, d, anomalous);
    const int F = FAULTLINE__STATUS__STATUS_FAIL;
    if (anomalous)
        probe_set(run, F, FL_FAULT_CAPTURE_ANOMALIES,
                  "rst=%llu retrans=%llu dupack=%llu zerowin=%llu unreachable=%llu handshakes %llu/%llu",
                  (unsigned long long)k->rst, (unsigned long long)k->retransmissions,
                  (unsigned long long)k->duplicate_acks, (unsigned long long)k->zero_windows,
                  (unsigned long long)(d->unreachable + k->frag_needed + k->packet_too_big),
                  (unsigned long long)k->handshakes_completed,
                  (unsigned long long)k->handshakes_attempted);
    else if (d->kernel_dropped || d->interface_dropped)
        probe_set(run, F, FL_FAULT_CAPTURE_DROPS, "the kernel dropped %llu packets",
                  (unsigned long long)(d->kernel_dropped + d->interface_dropped));
    else
        probe_set(run, FAULTLINE__STATUS__STATUS_OK, FL_FAULT_NONE, NULL);
}

/* Keep the newest RING files of the ring directory. */
static void capture__trim_ring(const char *dir, int64_t ring)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0)
        return;
    int64_t kept = 0;
    for (int i = n - 1; i >= 0; i--) {
        size_t len = strlen(list[i]->d_name);
        if (len > 5 && strcmp(list[i]->d_name + len - 5, ".pcap") == 0 &&
            strncmp(list[i]->d_name, "fl-", 3) == 0 && ++kept > ring) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
            unlink(path);
        }
        free(list[i]);
    }
    free(list);
}

static void capture__on_closed(uv_handle_t *h)
{
    struct capture_state *st = h->data;
    if (--st->handles_open > 0)
        return;
    if (st->dump)
        pcap_dump_close(st->dump);
    if (st->pcap)
        pcap_close(st->pcap);
    capture_free(&st->an);
    struct probe_run *run = st->run;
    free(st);
    if (run) {
        run->priv = NULL;
        probe_done(run);
    }
}

static void capture__end(struct capture_state *st)
{
    if (st->ending)
        return;
    st->ending = 1;
    uv_timer_stop(&st->timer);
    if (st->poll_open) {
        uv_poll_stop(&st->poll);
        uv_close((uv_handle_t *)&st->poll, capture__on_closed);
    }
    uv_close((uv_handle_t *)&st->timer, capture__on_closed);
}

static void capture__packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct capture_state *st = (struct capture_state *)(void *)user;
    capture_feed(st->an, &h->ts, bytes, h->caplen, h->len);
    if (st->dump)
        pcap_dump((u_char *)st->dump, h, bytes);
}

static void capture__on_poll(uv_poll_t *h, int status, int events)
{
    struct capture_state *st = h->data;
    if (!st->ending)
        pcap_dispatch(st->pcap, -1, capture__packet, (u_char *)st);
}

static void capture__on_window_end(uv_timer_t *t)
{
    struct capture_state *st = t->data;
    pcap_dispatch(st->pcap, -1, capture__packet, (u_char *)st); /* what is left */
    const struct capture_opts *o = (const void *)st->run->check->opts;
    capture__report(st);
    if (o->ring_dir)
        capture__trim_ring(o->ring_dir, o->ring_files);
    capture__end(st);
}

/* Reading a file runs from the loop, never inside start(). */
static void capture__on_read(uv_timer_t *t)
{
    struct capture_state *st = t->data;
    const struct capture_opts *o = (const void *)st->run->check->opts;
    char err[512];
    st->an = capture_read_file(o->read, &st->bad_records, err, sizeof err);
    snprintf(st->ifname, sizeof st->ifname, "file");
    snprintf(st->filter, sizeof st->filter, "%s", o->read);
    if (!st->an) {
        probe_set(st->run, FAULTLINE__STATUS__STATUS_ERROR, FL_FAULT_PROBE_INTERNAL, "%s", err);
        capture__end(st);
        return;
    }
    capture__report(st);
    if (st->bad_records)
        snprintf(st->run->message, sizeof st->run->message, "%.150s", err);
    capture__end(st);
}

static int capture__open_live(struct capture_state *st, char *err, size_t errlen)
{
    struct probe_run *run = st->run;
    const struct capture_opts *o = (const void *)run->check->opts;
    char perr[PCAP_ERRBUF_SIZE];
    if (o->interface) {
        snprintf(st->ifname, sizeof st->ifname, "%s", o->interface);
    } else {
        struct route_info ri;
        int rc = route_lookup(&run->addr, &ri);
        if (rc < 0)
            return rc;
        snprintf(st->ifname, sizeof st->ifname, "%s", ri.ifname);
    }
    if (o->filter)
        snprintf(st->filter, sizeof st->filter, "%s", o->filter);
    else
        snprintf(st->filter, sizeof st->filter, "host %s", run->address);
    st->pcap = pcap_create(st->ifname, perr);
    if (!st->pcap) {
        snprintf(err, errlen, "%s", perr);
        return -ENODEV;
    }
    pcap_set_snaplen(st->pcap, (int)o->snaplen);
    pcap_set_immediate_mode(st->pcap, 1);
    pcap_set_buffer_size(st->pcap, 4 << 20);
    int rc = pcap_activate(st->pcap);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", st->ifname, pcap_geterr(st->pcap));
        return rc == PCAP_ERROR_PERM_DENIED ? -EPERM : -ENODEV;
    }
    struct bpf_program prog;
    if (pcap_compile(st->pcap, &prog, st->filter, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
        pcap_setfilter(st->pcap, &prog) != 0) {
        snprintf(err, errlen, "filter '%s': %s", st->filter, pcap_geterr(st->pcap));
        return -EINVAL;
    }
    pcap_freecode(&prog);
    if (pcap_setnonblock(st->pcap, 1, perr) != 0 || pcap_get_selectable_fd(st->pcap) < 0) {
        snprintf(err, errlen, "%s", perr);
        return -EIO;
    }
    st->an = capture_new(pcap_datalink(st->pcap));
    if (!st->an)
        return -ENOMEM;
    if (o->ring_dir) {
        mkdir(o->ring_dir, 0750);
        char when[40];
        time_format_us(time_now_us(), when, sizeof when);
        snprintf(st->tmpfile, sizeof st->tmpfile, "%s/fl-%s-%s.part", o->ring_dir, when,
                 run->address);
        st->dump = pcap_dump_open(st->pcap, st->tmpfile);
    }
    return 0;
}

static int capture_start(struct probe_run *run)
{
    const struct capture_opts *o = (const void *)run->check->opts;
    struct capture_state *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->run = run;
    uv_timer_init(run->loop, &st->timer);
    st->timer.data = st;
    st->handles_open = 1;
    run->priv = st;
    if (o->read) {
        uv_timer_start(&st->timer, capture__on_read, 0, 0);
        return 0;
    }
    char err[600] = "";
    int rc = capture__open_live(st, err, sizeof err);
    if (rc < 0) {
        /* The run reports the reason itself, from the loop. */
        probe_set(run, FAULTLINE__STATUS__STATUS_ERROR,
                  rc == -EPERM ? FL_FAULT_PROBE_PERMISSION : FL_FAULT_PROBE_INTERNAL,
                  "capture on %s: %s", st->ifname[0] ? st->ifname : "?",
                  err[0] ? err : strerror(-rc));
        capture__end(st);
        return 0;
    }
    uv_poll_init(run->loop, &st->poll, pcap_get_selectable_fd(st->pcap));
    st->poll.data = st;
    st->poll_open = 1;
    st->handles_open++;
    uv_poll_start(&st->poll, UV_READABLE, capture__on_poll);
    uv_timer_start(&st->timer, capture__on_window_end, (uint64_t)o->window_us / 1000, 0);
    log_debug("capture on %s [%s] for %lld ms", st->ifname, st->filter,
              (long long)(o->window_us / 1000));
    return 0;
}

static void capture_cancel(struct probe_run *run)
{
    struct capture_state *st = run->priv;
    if (!st)
        return;
    st->run = NULL;
    run->priv = NULL;
    if (st->dump) {
        pcap_dump_close(st->dump);
        st->dump = NULL;
        unlink(st->tmpfile);
    }
    capture__end(st);
}

static void capture_set_window(void *opts, int64_t window_us)
{
    ((struct capture_opts *)opts)->window_us = window_us;
}

const struct probe_ops probe_capture_ops = {
    .name = "capture",
    .type = FAULTLINE__PROBE_TYPE__PROBE_CAPTURE,
    .fields = capture_fields,
    .defaults = capture_defaults,
    .free_opts = capture_free_opts,
    .validate = capture_validate,
    .target_name = capture_target_name,
    .addresses = capture_addresses,
    .start = capture_start,
    .cancel = capture_cancel,
    .evidence = PROBE_EVIDENCE_TRAFFIC,
    .set_window = capture_set_window,
};
