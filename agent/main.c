/* faultline-agent: runs scheduled probes and delivers their results to the
 * collector; `faultline-agent probe TYPE ...` runs one check by hand. */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "agent.h"
#include "daemon.h"
#include "privdrop.h"
#include "faultcode.h"
#include "log.h"
#include "resultfmt.h"
#include "timeutil.h"

struct agent {
    uv_loop_t *loop;
    struct agent_config cfg;
    struct outbox *ob;
    struct sender *sender;
    struct sched *sched;
    uv_signal_t sigint, sigterm;
    uint64_t stored, store_failures;
};

/* Results are written to the outbox at most this long after they are made,
 * many per transaction: one fsync covers every result of the period. */
#define AGENT_FLUSH_MS 100

static void usage(FILE *f)
{
    fprintf(f,
            "usage: faultline-agent --config.file FILE [--config.check]\n"
            "                       [--log.level LEVEL] [--log.format logfmt|json] [--insecure]\n"
            "       faultline-agent probe TYPE [--KEY VALUE ...] [--json] [--verbose] TARGET...\n"
            "       faultline-agent --version | --help\n"
            "\n"
            "  --config.file FILE  YAML configuration (see docs/configuration.md)\n"
            "  --config.check      validate the configuration, print \"configuration OK\"\n"
            "  --insecure          no CURVE: plain text to a collector run with --insecure\n"
            "                      (development only)\n"
            "\n"
            "probe runs one check once and prints its results; KEY is any key of a\n"
            "check in the configuration, e.g.\n"
            "  faultline-agent probe icmp --count 3 web.lab.test\n"
            "  faultline-agent probe tcp --port 443 --timeout 1s --family ipv6 web.lab.test\n"
            "probe types: %s\n",
            probe_names());
}

/* The outbox wrote N results (or, not OK, could not): the sender sends
 * them. */
static void agent__flushed(void *ctx, size_t n, int ok)
{
    struct agent *a = ctx;
    if (!ok) {
        /* The spool cannot take them (disk full?): their seqs are handed
         * out again, so the sequence has no hole either. */
        a->store_failures += n;
        log_error("outbox: cannot store %zu results; they are lost", n);
        return;
    }
    a->stored += n;
    sender_kick(a->sender);
}

static void agent__on_results(void *ctx, fl_result **results, size_t n)
{
    struct agent *a = ctx;
    if (outbox_stage(a->ob, results, n) != 0) {
        a->store_failures += n;
        log_error("outbox: out of memory staging %zu results; they are lost", n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (results[i]->status != FAULTLINE__STATUS__STATUS_OK)
            log_debug("%s %s %s: %s", resultfmt_probe_name(results[i]->probe),
                      results[i]->target, results[i]->address, results[i]->message);
}

static void agent__on_signal(uv_signal_t *h, int sig)
{
    struct agent *a = h->data;
    log_info("signal %d: stopping", sig);
    sched_free(&a->sched);
    size_t staged = outbox_staged(a->ob);
    agent__flushed(a, staged, outbox_flush(a->ob) == 0); /* kept for the next start */
    outbox_flush_stop(a->ob);
    sender_free(&a->sender);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
}

/* Load and check the configuration and the keys.  -1 to go on, else the
 * exit status (0 after --config.check). */
static int agent__configure(struct agent *a, const char *config_file, int check_only,
                            int insecure)
{
    char err[8192];
    if (agent_config_load(config_file, &a->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s%s", err, err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
        return 1;
    }
    a->cfg.keys.insecure = insecure;
    int rc = -1;
    if (!insecure && (!a->cfg.server_key || !a->cfg.key)) {
        fprintf(stderr, "faultline-agent: %s: collector: 'server_key' and 'key' are required "
                        "(CURVE: make keys with 'faultline keygen'), or --insecure for development\n",
                config_file);
        rc = 1;
    } else if (check_only) {
        printf("configuration OK\n");
        rc = 0;
    } else if (insecure) {
        log_warn("--insecure: no CURVE, the results travel in plain text to any collector at %s; "
                 "for development only", a->cfg.endpoint);
    } else if (transport_key_load(a->cfg.key, a->cfg.keys.public_key, a->cfg.keys.secret_key, err,
                                  sizeof err) != 0 ||
               transport_key_load(a->cfg.server_key, a->cfg.keys.server_key, NULL, err,
                                  sizeof err) != 0) {
        log_error("%s", err);
        rc = 1;
    }
    if (rc >= 0)
        agent_config_free(&a->cfg);
    return rc;
}

/* The outbox, then (privileges dropped) the sender and the scheduler, and
 * the signals that stop them.  0 or -1 after saying why. */
static int agent__open(struct agent *a, void *zctx)
{
    char err[8192];
    a->ob = outbox_open(a->cfg.outbox_path, a->cfg.outbox_max, err, sizeof err);
    if (!a->ob) {
        log_error("cannot open the outbox: %s", err);
        return -1;
    }
    /* Before any thread exists (ZeroMQ's start with the first socket,
     * libuv's with the first name lookup), so every one is unprivileged. */
    if (a->cfg.user && geteuid() == 0) {
        if (privdrop_to(a->cfg.user, err, sizeof err) != 0) {
            log_error("cannot drop privileges: %s", err);
            return -1;
        }
        log_info("running as %s with CAP_NET_RAW only, no_new_privs set", a->cfg.user);
    } else if (a->cfg.user) {
        log_info("agent.user %s: not started as root, nothing to drop", a->cfg.user);
    }
    a->sender = sender_new(a->loop, zctx, &a->cfg, a->ob, err, sizeof err);
    if (!a->sender) {
        log_error("cannot set up the connection to the collector: %s", err);
        return -1;
    }
    a->sched = sched_new(a->loop, a->cfg.name, &a->cfg, agent__on_results, a);
    if (!a->sched)
        return -1;
    uv_signal_init(a->loop, &a->sigint);
    uv_signal_init(a->loop, &a->sigterm);
    a->sigint.data = a->sigterm.data = a;
    uv_signal_start(&a->sigint, agent__on_signal, SIGINT);
    uv_signal_start(&a->sigterm, agent__on_signal, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    outbox_flush_after(a->ob, a->loop, AGENT_FLUSH_MS, agent__flushed, a);
    return 0;
}

static int agent_run(const char *config_file, int check_only, int insecure)
{
    struct agent a = {0};
    int rc = agent__configure(&a, config_file, check_only, insecure);
    if (rc >= 0)
        return rc;
    rc = 1;
    void *zctx = zmq_ctx_new();
    a.loop = uv_default_loop();
    if (agent__open(&a, zctx) == 0) {
        size_t jobs = 0;
        for (size_t i = 0; i < a.cfg.nchecks; i++)
            jobs += a.cfg.checks[i].ntargets;
        log_info("faultline-agent %s: agent %s, %zu checks, %zu jobs, collector %s, key %s, "
                 "outbox %s (epoch %016llx, next seq %llu, %llu waiting)",
                 FL_VERSION, a.cfg.name, a.cfg.nchecks, jobs, a.cfg.endpoint,
                 insecure ? "none (--insecure)" : a.cfg.keys.public_key, a.cfg.outbox_path,
                 (unsigned long long)outbox_epoch(a.ob), (unsigned long long)outbox_next_seq(a.ob),
                 (unsigned long long)outbox_depth(a.ob));
        sched_start(a.sched);
        uv_run(a.loop, UV_RUN_DEFAULT);
        rc = 0;
    }
    sched_free(&a.sched);
    outbox_flush_stop(a.ob);
    sender_free(&a.sender);
    uv_run(a.loop, UV_RUN_DEFAULT); /* let close callbacks free what they own */
    uv_loop_close(a.loop);
    outbox_free(&a.ob);
    zmq_ctx_term(zctx);
    agent_config_free(&a.cfg);
    return rc;
}

/* ---- faultline-agent probe ------------------------------------------------ */

struct probe_cmd {
    int json;
    int failures;
};

static void probe_cmd_on_results(void *ctx, fl_result **results, size_t n)
{
    struct probe_cmd *pc = ctx;
    for (size_t i = 0; i < n; i++) {
        const fl_result *r = results[i];
        if (r->status != FAULTLINE__STATUS__STATUS_OK)
            pc->failures++;
        if (pc->json) {
            json_t *o = resultfmt_json(r);
            json_dumpf(o, stdout, FL_JSON_FLAGS);
            fputc('\n', stdout);
            json_decref(o);
            continue;
        }
        char detail[256], fault[128] = "";
        resultfmt_detail_text(r, detail, sizeof detail);
        if (r->fault_code)
            fault_format((uint16_t)r->fault_code, fault, sizeof fault);
        printf("%s %s %s %s %.3fms %s%s%s%s%s\n", resultfmt_probe_name(r->probe), r->target,
               r->address[0] ? r->address : "-", resultfmt_status_name(r->status),
               r->duration_us / 1000.0, detail, fault[0] ? " fault=" : "", fault,
               r->message && r->message[0] ? " msg=" : "", r->message ? r->message : "");
    }
    fflush(stdout);
}

/* Build a check from the command line as YAML text, so the same parser and
 * the same validation apply as in a configuration file. */
static void probe_usage(FILE *f)
{
    fprintf(f,
            "usage: faultline-agent probe TYPE [--KEY VALUE ...] [--json] [--verbose] TARGET...\n"
            "  run one check once and print its results; KEY is any key of a check of TYPE\n"
            "  in the configuration (docs/configuration.md), e.g.\n"
            "    faultline-agent probe tcp --port 443 --timeout 1s web.lab.test\n"
            "  probe types: %s\n",
            probe_names());
}

static int probe_cmd_run(int argc, char **argv);

/* The check's own keys are its options (--port, --count ...), so this
 * parser takes any --KEY VALUE and lets the configuration check them. */
static int probe_cmd(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            probe_usage(stdout);
            return 0;
        }
    int rc = argc < 2 ? 2 : probe_cmd_run(argc, argv);
    if (rc == 2)
        probe_usage(stderr);
    return rc;
}

/* The check ARGV describes ("TYPE [--KEY VALUE ...] [--json] [--verbose]
 * TARGET..."), as the JSON text of one check (which YAML reads), or NULL
 * after saying why. */
static char *probe_cmd_check(int argc, char **argv, struct probe_cmd *pc)
{
    json_t *check = json_pack("{s:s}", "probe", argv[1]), *targets = json_array();
    char *text = NULL;
    for (int i = 2; check && targets && i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--json")) {
            pc->json = 1;
        } else if (!strcmp(arg, "--verbose")) {
            log_setup(FL_LOG_DEBUG, FL_LOG_LOGFMT);
        } else if (!strncmp(arg, "--", 2)) {
            if (i + 1 >= argc) {
                fprintf(stderr, "faultline-agent probe: %s needs a value\n", arg);
                goto out;
            }
            json_object_set_new(check, arg + 2, json_string(argv[++i]));
        } else {
            json_array_append_new(targets, json_string(arg));
        }
    }
    if (!check || !targets)
        goto out;
    if (!json_array_size(targets)) {
        if (!json_object_get(check, "read")) {
            fprintf(stderr, "faultline-agent probe: no target given\n");
            goto out;
        }
        json_array_append_new(targets, json_string("file")); /* a file needs no target */
    }
    json_object_set(check, "targets", targets);
    text = json_dumps(check, JSON_COMPACT);
out:
    json_decref(check);
    json_decref(targets);
    return text;
}

static int probe_cmd_run(int argc, char **argv)
{
    struct probe_cmd pc = {0};
    char *text = probe_cmd_check(argc, argv, &pc);
    if (!text)
        return 2;
    struct agent_config cfg = {0};
    char err[4096];
    int rc = 1;
    cfg.checks = calloc(1, sizeof *cfg.checks);
    if (!cfg.checks)
        goto out;
    if (agent_config_check_from_text(text, &cfg.checks[0], err, sizeof err) != 0) {
        fprintf(stderr, "%s", err);
        free(cfg.checks);
        rc = 2;
        goto out;
    }
    cfg.nchecks = 1;
    cfg.name = strdup("local");
    uv_loop_t *loop = uv_default_loop();
    struct sched *s = sched_new(loop, cfg.name, &cfg, probe_cmd_on_results, &pc);
    if (s) {
        sched_run_once(s);
        uv_run(loop, UV_RUN_DEFAULT);
        sched_free(&s);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
        rc = pc.failures ? 1 : 0;
    }
    agent_config_free(&cfg);
out:
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "probe") == 0)
        return probe_cmd(argc - 1, argv + 1);
    struct daemon_flags flags;
    int rc = daemon_flags_parse("faultline-agent", argc, argv, NULL, 0, usage, &flags);
    if (rc >= 0)
        return rc;
    if (!flags.config_file) {
        fprintf(stderr, "faultline-agent: --config.file is required\n");
        usage(stderr);
        return 2;
    }
    return agent_run(flags.config_file, flags.check, flags.insecure);
}
