/* faultline-agent internals: configuration, scheduler, probes, outbox and
 * the sender, all on one libuv loop. */
#ifndef FL_AGENT_H
#define FL_AGENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "transport.h"
#include "wire.h"

struct cfg;
struct fy_node;
struct cfg_field;

/* ---- configuration ------------------------------------------------------ */

enum agent_family { FAMILY_ANY, FAMILY_IPV4, FAMILY_IPV6 };

#define AGENT_MAX_OPTS 128 /* bytes of probe-specific options in a check */

struct check {
    const struct probe_ops *ops;
    char **targets; /* host names or literal addresses */
    size_t ntargets;
    int64_t interval_us, timeout_us;
    int64_t retries;
    enum agent_family family;
    int trace_on_failure; /* trace toward an address that turns from ok to failing */
    int64_t capture_on_failure_us; /* and capture its traffic this long (0: no) */
    _Alignas(max_align_t) unsigned char opts[AGENT_MAX_OPTS];
};

struct agent_config {
    char *name;
    char *user;         /* started as root: run as this user, keeping CAP_NET_RAW only */
    Faultline__Label **labels;
    size_t nlabels;
    char *endpoint;
    char *server_key;   /* the collector's public key: a .pub file or the key itself */
    char *key;          /* this agent's key pair (faultline keygen) */
    struct transport_keys keys; /* loaded from those at start */
    char *outbox_path;
    int64_t outbox_max;
    int64_t heartbeat_us;
    struct check *checks;
    size_t nchecks;
    /* defaults applied to checks that do not say */
    int64_t interval_us, timeout_us, retries;
    int timeout_set, retries_set; /* said in the defaults section */
};

/* Load FILE.  0, or -1 with every error as "file:line:col: message" lines in
 * ERR. */
int agent_config_load(const char *file, struct agent_config *cfg, char *err, size_t errlen);
/* The same from a buffer; NAME stands for the file in messages. */
int agent_config_load_buffer(const char *name, const char *text, size_t len,
                             struct agent_config *cfg, char *err, size_t errlen);

/* Parse one check from an in-memory YAML mapping (the `probe` command line
 * builds one); defaults as in a file. */
int agent_config_check_from_text(const char *text, struct check *out, char *err, size_t errlen);

void agent_config_free(struct agent_config *cfg);
void agent_check_free(struct check *ck);

/* ---- probes -------------------------------------------------------------- */

struct probe_run;

/* A probe type.  One const instance per probe_<name>.c. */
enum probe_evidence { PROBE_EVIDENCE_PATH = 1, PROBE_EVIDENCE_TRAFFIC };

struct probe_ops {
    /* name in configuration and on the command line: "icmp", "tcp" */
    const char *name;
    /* Faultline__ProbeType of its results */
    int type;
    /* probe-specific configuration keys; offsets are into check.opts */
    const struct cfg_field *fields;
    /* set the defaults of the probe-specific options */
    void (*defaults)(void *opts);
    /* release what the options own (strings); NULL when they own nothing */
    void (*free_opts)(void *opts);
    /* cross-field checks after parsing (NULL: none); errors via cfg_error */
    void (*validate)(struct cfg *c, struct fy_node *node, const void *opts);
    /* the target's name as reported: "web" for icmp, "web:80" for tcp */
    void (*target_name)(const void *opts, const char *host, char *buf, size_t len);
    /* default timeout and retries when neither the check nor the defaults
     * section says (0: the agent's) */
    int64_t default_timeout_us;
    int default_retries;
    /* Where to send the probe, when that is not the target's own addresses
     * (a DNS probe asks servers about the target): fill up to MAX and
     * return the count, or -errno; -ENOSYS (or NULL) means: resolve the
     * target.  An entry of family AF_UNSPEC is a run about this host. */
    int (*addresses)(const void *opts, enum agent_family family, struct sockaddr_storage *out,
                     size_t max);
    /* Start one run toward run->addr.  Returns 0 and later reports exactly
     * once through probe_done(), or returns -errno and never reports. */
    int (*start)(struct probe_run *run);
    /* Stop a run that has not reported; its done callback is never called
     * and its resources are released (asynchronously, through the loop). */
    void (*cancel)(struct probe_run *run);
    /* What it gathers as evidence when a check of another probe turns from
     * ok to failing at an address: PROBE_EVIDENCE_PATH (a trace toward
     * it), PROBE_EVIDENCE_TRAFFIC (a capture window, as long as
     * set_window() says); 0: nothing. */
    enum probe_evidence evidence;
    void (*set_window)(void *opts, int64_t window_us);
    /* Its failures get a trace (PROBE_EVIDENCE_PATH): it checks a target,
     * not the path (trace, mtu) or the host (host, capture). */
    int trace_on_failure;
};

/* One execution of a check toward one address.  The caller owns it and
 * fills the inputs; the probe fills `result` and its detail. */
#define PROBE_DETAIL_BYTES 512

/* RUN's detail storage as a T (a Faultline__...Detail); a T larger than
 * the storage does not compile. */
#define PROBE_DETAIL(run, T)                                                                       \
    ((T *)(void *)((run)->detail + 0 * sizeof(char[sizeof(T) <= PROBE_DETAIL_BYTES ? 1 : -1])))

struct probe_run {
    /* inputs */
    uv_loop_t *loop;
    const struct check *check;
    const char *host; /* the target as configured (a name or an address) */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    void (*done)(struct probe_run *run);
    void *owner;
    uint64_t started_ns; /* monotonic, set by probe_start() */
    /* outputs */
    fl_result result;
    /* storage for the result's detail, whichever its probe's: PROBE_DETAIL() */
    _Alignas(max_align_t) unsigned char detail[PROBE_DETAIL_BYTES];
    char *list[64]; /* storage for a repeated string field of the detail */
    char message[160];
    char address[64];
    char text[2048]; /* storage for the detail's strings: probe_text() */
    size_t text_used;
    void *owned; /* one block the detail points into, freed with the run */
    /* probe-private state */
    void *priv;
};

/* Copy S into the run's text storage (truncated to what is left) and
 * return the copy, which lives as long as the run. */
char *probe_text(struct probe_run *run, const char *s);

/* Look up a probe type by name; NULL when unknown. */
const struct probe_ops *probe_find(const char *name);
/* Comma-separated names of all probe types, for messages. */
const char *probe_names(void);

/* One socket polled on the loop (readable, and error-queue entries, which
 * the kernel signals as POLLERR: UV_PRIORITIZED keeps libuv from stopping
 * the handle on it) and one timer: the shape of the icmp, mtu and trace
 * probes.  It lives inside the probe's state (OWNER).  probe_io_end()
 * closes both handles; after the last close the socket is closed, OWNER is
 * freed and, unless the run was cancelled, probe_done(run) reports. */
struct probe_io {
    uv_poll_t poll;
    uv_timer_t timer;
    int fd;
    int open, ending;
    struct probe_run *run; /* NULL once cancelled */
    void *owner;
};

/* Start polling FD for RUN; both handles' data is OWNER.  Sets run->priv. */
void probe_io_start(struct probe_io *io, struct probe_run *run, void *owner, int fd,
                    uv_poll_cb on_poll);
/* Close everything (idempotent); see above for what follows. */
void probe_io_end(struct probe_io *io);
/* The run is cancelled: end without reporting. */
void probe_io_cancel(struct probe_io *io);

/* Stamp the start and start RUN.  On failure (-errno) the run is already
 * complete: it holds an error result naming the cause, and the done
 * callback is not called. */
int probe_start(struct probe_run *run);

/* Called by a probe when its run is over: stamps the duration and calls
 * run->done. */
void probe_done(struct probe_run *run);
/* Set the outcome of a run: status, fault code and a message. */
void probe_set(struct probe_run *run, int status, uint16_t fault, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The probe that gathers evidence E (NULL: none in this agent). */
const struct probe_ops *probe_for_evidence(enum probe_evidence e);

/* ---- scheduler -------------------------------------------------------- */

struct sched;

/* A result is ready: the scheduler hands over the results of one job run
 * (one per address probed) at once so they are stored together. */
typedef void (*sched_results_fn)(void *ctx, fl_result **results, size_t n);

struct sched *sched_new(uv_loop_t *loop, const char *agent, const struct agent_config *cfg,
                        sched_results_fn fn, void *ctx);
/* Run every (check, target) once right now and report through the
 * callback; used by the `probe` command. */
int sched_run_once(struct sched *s);
/* Start the timers.  Each job fires at an offset inside its interval
 * derived from hash(agent, check, target): a fleet never fires in step. */
void sched_start(struct sched *s);
/* Stop timers and cancel runs in flight; resources go with the loop. */
void sched_stop(struct sched *s);
void sched_free(struct sched **s);
/* Jobs still running (for the `probe` command). */
size_t sched_active(const struct sched *s);

/* The deterministic offset of a job inside its interval, in microseconds. */
int64_t sched_offset_us(const char *agent, size_t check, const char *target, int64_t interval_us);

/* ---- outbox --------------------------------------------------------------- */

struct outbox;

/* Open or create the spool at PATH.  A new spool gets a random epoch; seqs
 * continue across restarts.  MAX bounds the rows kept: beyond it the
 * oldest are dropped and recorded as a gap to report. */
struct outbox *outbox_open(const char *path, int64_t max, char *err, size_t errlen);
void outbox_free(struct outbox **ob);

uint64_t outbox_epoch(const struct outbox *ob);
uint64_t outbox_next_seq(const struct outbox *ob);
uint64_t outbox_depth(const struct outbox *ob);
uint64_t outbox_dropped(const struct outbox *ob);
/* Lowest seq still held (next_seq when empty). */
uint64_t outbox_oldest(const struct outbox *ob);

/* Assign seqs to N results and keep them packed in memory until
 * outbox_flush(), which writes everything staged in one transaction (one
 * fsync for many results).  A flush that fails forgets what was staged and
 * hands its seqs out again: nothing staged was ever sent.  0 or -1. */
int outbox_stage(struct outbox *ob, fl_result **results, size_t n);
int outbox_flush(struct outbox *ob);
size_t outbox_staged(const struct outbox *ob);

/* The flush policy: on LOOP, what is staged is written at most FLUSH_MS
 * after the first of it (many results per transaction: one fsync covers
 * them), then FLUSHED(CTX, N, OK) hears of the N results (OK 0: the
 * spool could not take them).  outbox_flush_stop() ends it (before the
 * loop's last run: it closes a handle). */
void outbox_flush_after(struct outbox *ob, uv_loop_t *loop, int flush_ms,
                        void (*flushed)(void *ctx, size_t n, int ok), void *ctx);
void outbox_flush_stop(struct outbox *ob);

/* Stage and flush at once.  0 or -1. */
int outbox_put(struct outbox *ob, fl_result **results, size_t n);

/* One stored result, packed as it was staged. */
struct outbox_row {
    uint64_t seq;
    uint8_t *data;
    size_t len;
};

/* Read up to MAX results with seq >= FROM, in seq order, into OUT (free
 * them with outbox_rows_free).  Returns the count, or -1. */
int outbox_read(struct outbox *ob, uint64_t from, size_t max, struct outbox_row *out);
void outbox_rows_free(struct outbox_row *rows, size_t n);

/* Forget every result with seq <= UPTO (the collector stored them). */
int outbox_ack(struct outbox *ob, uint64_t upto);

/* The oldest gap not yet acknowledged, if any: 1 and FROM/TO/REASON set. */
int outbox_gap(struct outbox *ob, uint64_t *from, uint64_t *to, const char **reason);

/* ---- sender ----------------------------------------------------------- */

struct sender;

struct sender *sender_new(uv_loop_t *loop, void *zctx, const struct agent_config *cfg,
                          struct outbox *ob, char *err, size_t errlen);
/* New results are in the outbox: send if the window allows. */
void sender_kick(struct sender *s);
void sender_stop(struct sender *s);
void sender_free(struct sender **s);

#endif
