/* faultline: query the fault history and explain fault codes.
 *
 *   faultline [--database FILE] results [filters] [--json]
 *   faultline [--database FILE] agents [--json]
 *   faultline decode CODE [--json] | decode --table
 *
 * Commands are looked up in a table; each parses its own options. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultcode.h"
#include "transport.h"
#include "query.h"
#include "resultfmt.h"
#include "store.h"
#include "timeutil.h"

#define CLI_DEFAULT_DB "/var/lib/faultline/faultline.db"

struct cli {
    const char *database;
    int json;
};

static void cli_usage(FILE *f)
{
    fprintf(f,
            "usage: faultline [--database FILE] COMMAND [OPTIONS]\n"
            "\n"
            "commands:\n"
            "  results   stored probe results, newest first\n"
            "            --agent NAME --target NAME --probe TYPE --status ok|fail|error|notok\n"
            "            --since WHEN --until WHEN --limit N (default 50, 0 = all) --json\n"
            "            WHEN: 10m (ago), 2026-11-22T10:00:00Z, @UNIXSECONDS\n"
            "  agents    agents seen: last seen, version, labels, outbox depth; and keys\n"
            "            the collector refused lately, with their address --json\n"
            "  gaps      results agents reported lost (outbox full), as the seq ranges\n"
            "            missing from the store  --agent NAME --json\n"
            "  incidents root causes found across agents, newest first\n"
            "            --since WHEN --until WHEN --verdict V --component C --agent A --target T\n"
            "            --region R --code 0x3791 --open --limit N --json\n"
            "  incident ID  one incident in full [--json]\n"
            "  summary   the fault report: incidents, open, durations and MTTR per verdict,\n"
            "            component and region  --since WHEN --until WHEN --json\n"
            "  decode    explain a fault code: decode 0x3795 [--json]; decode --table\n"
            "  keygen PREFIX  a new CURVE key pair: PREFIX.key (secret, 0600) and PREFIX.pub;\n"
            "            an agent's .pub goes in the collector's allow directory as NAME.pub\n"
            "  lab       the network-namespace lab (root): lab up|down|status|fault ...;\n"
            "            lab score [--json] [--interval 2s] [--healthy SECONDS] [--only A,B]:\n"
            "            inject every fault and score the incidents and alerts\n"
            "\n"
            "--database defaults to $FAULTLINE_DB, then %s\n",
            CLI_DEFAULT_DB);
}

/* One JSON object per line; takes the reference. */
static void cli_print_json(json_t *o)
{
    if (o)
        json_dumpf(o, stdout, FL_JSON_FLAGS);
    fputc('\n', stdout);
    json_decref(o);
}

static struct store *cli_open(const struct cli *c)
{
    char err[512];
    struct store_opts so = {.path = c->database, .readonly = 1};
    struct store *st = store_open(&so, err, sizeof err);
    if (!st)
        fprintf(stderr, "faultline: cannot open the database: %s\n", err);
    return st;
}

/* ---- option values shared by the commands ---------------------------------- */

/* --since/--until VALUE of command CMD; 0, or 2 (usage) after saying why. */
static int cli_time_arg(const char *cmd, int since, const char *value, int64_t now,
                        int64_t *out)
{
    if (time_parse_point(value, now, out) == 0)
        return 0;
    fprintf(stderr, "faultline %s: --%s: '%s' is not a time (10m, 2026-11-22T10:00:00Z, @1763800000)\n",
            cmd, since ? "since" : "until", value);
    return 2;
}

static int cli_count_arg(const char *cmd, const char *value, int64_t *out)
{
    char *end;
    *out = strtoll(value, &end, 10);
    if (*end || end == value || *out < 0) {
        fprintf(stderr, "faultline %s: --limit: '%s' is not a count\n", cmd, value);
        return 2;
    }
    return 0;
}

static int cli_no_more_args(const char *cmd, int argc, char **argv)
{
    if (optind >= argc)
        return 0;
    fprintf(stderr, "faultline %s: unexpected argument '%s'\n", cmd, argv[optind]);
    return 2;
}

/* After a command's options: nothing may follow, then the store opens.
 * NULL with the exit status in *RC (2 usage, 1 no database). */
static struct store *cli_begin(const struct cli *c, const char *cmd, int argc, char **argv,
                               int *rc)
{
    *rc = 2;
    if (cli_no_more_args(cmd, argc, argv))
        return NULL;
    *rc = 1;
    return cli_open(c);
}

/* ---- results ---------------------------------------------------------------- */

struct results_ctx {
    int json;
    int detail; /* one item, every field on its own line */
    size_t rows;
    struct store *st; /* for an incident's evidence */
};

static int results_row(void *ctx, const struct store_result_row *row)
{
    struct results_ctx *rc = ctx;
    if (rc->json) {
        cli_print_json(query_result_json(row));
        rc->rows++;
        return 0;
    }
    Faultline__Result r;
    Faultline__Result *d = query_result(row, &r);
    char when[40], detail[200], fault[12] = "-";
    time_format_us(row->ts_us, when, sizeof when);
    resultfmt_detail_text(&r, detail, sizeof detail);
    if (rc->rows == 0)
        printf("%-24s %-12s %-5s %-26s %-22s %-6s %6s  %-6s %s\n", "TIME", "AGENT", "PROBE",
               "TARGET", "ADDRESS", "STATUS", "MS", "FAULT", "DETAIL");
    if (row->fault_code)
        snprintf(fault, sizeof fault, "0x%04x", row->fault_code);
    printf("%-24s %-12s %-5s %-26s %-22s %-6s %6.1f  %-6s %s%s%s\n", when, row->agent,
           resultfmt_probe_name(row->probe), row->target, row->address[0] ? row->address : "-",
           resultfmt_status_name(row->status), row->duration_us / 1000.0, fault, detail,
           row->message && row->message[0] ? (detail[0] ? " | " : "") : "",
           row->message ? row->message : "");
    rc->rows++;
    if (d)
        faultline__result__free_unpacked(d, NULL);
    return 0;
}

static int cmd_results(struct cli *c, int argc, char **argv)
{
    enum { O_AGENT = 256, O_TARGET, O_PROBE, O_STATUS, O_SINCE, O_UNTIL, O_LIMIT, O_JSON };
    static const struct option opts[] = {
        {"agent", required_argument, NULL, O_AGENT},   {"target", required_argument, NULL, O_TARGET},
        {"probe", required_argument, NULL, O_PROBE},   {"status", required_argument, NULL, O_STATUS},
        {"since", required_argument, NULL, O_SINCE},   {"until", required_argument, NULL, O_UNTIL},
        {"limit", required_argument, NULL, O_LIMIT},   {"json", no_argument, NULL, O_JSON},
        {NULL, 0, NULL, 0},
    };
    struct store_filter f = {.limit = 50};
    int64_t now = time_now_us();
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_AGENT: f.agent = optarg; break;
        case O_TARGET: f.target = optarg; break;
        case O_PROBE:
            if (!(f.probe = resultfmt_probe_parse(optarg))) {
                fprintf(stderr, "faultline results: --probe: unknown probe '%s'\n", optarg);
                return 2;
            }
            break;
        case O_STATUS:
            if (strcmp(optarg, "notok") == 0)
                f.status = -1;
            else if (!(f.status = resultfmt_status_parse(optarg))) {
                fprintf(stderr, "faultline results: --status: '%s' is not ok, fail, error or notok\n", optarg);
                return 2;
            }
            break;
        case O_SINCE:
        case O_UNTIL:
            if (cli_time_arg("results", opt == O_SINCE, optarg, now,
                             opt == O_SINCE ? &f.since_us : &f.until_us))
                return 2;
            break;
        case O_LIMIT:
            if (cli_count_arg("results", optarg, &f.limit))
                return 2;
            break;
        case O_JSON: c->json = 1; break;
        default: return 2;
        }
    }
    int exit_rc;
    struct store *st = cli_begin(c, "results", argc, argv, &exit_rc);
    if (!st)
        return exit_rc;
    struct results_ctx rc = {.json = c->json};
    int err = store_query_results(st, &f, results_row, &rc);
    if (err)
        fprintf(stderr, "faultline results: query failed: %s\n", store_errmsg(st));
    else if (!c->json && rc.rows == 0)
        printf("no results match\n");
    store_close(&st);
    return err ? 1 : 0;
}

/* ---- agents ----------------------------------------------------------------- */

static int agents_row(void *ctx, const struct store_agent_row *row)
{
    struct results_ctx *rc = ctx;
    char seen[40];
    time_format_us(row->last_seen_us, seen, sizeof seen);
    if (rc->json) {
        cli_print_json(query_agent_json(row, time_now_us()));
    } else {
        if (rc->rows == 0)
            printf("%-14s %-8s %-24s %8s %8s %10s %8s  %s\n", "AGENT", "VERSION", "LAST SEEN",
                   "AGO", "OUTBOX", "RESULTS", "MISSING", "LABELS");
        printf("%-14s %-8s %-24s %7.1fs %8llu %10llu %8llu  %s\n", row->name, row->version,
               seen, (time_now_us() - row->last_seen_us) / 1e6,
               (unsigned long long)row->spool_depth, (unsigned long long)row->results,
               (unsigned long long)row->gaps_missing, row->labels_json);
    }
    rc->rows++;
    return 0;
}

static int refusals_row(void *ctx, const struct store_refusal_row *row)
{
    struct results_ctx *rc = ctx;
    if (rc->json) {
        cli_print_json(query_refusal_json(row, time_now_us()));
    } else {
        char seen[40];
        time_format_us(row->last_us, seen, sizeof seen);
        if (rc->rows == 0)
            printf("\nrefused: keys not in the collector's allow-list that tried to connect\n"
                   "%-40s  %-24s %-24s %8s %10s\n",
                   "KEY", "ADDRESS", "LAST SEEN", "AGO", "HANDSHAKES");
        printf("%-40s  %-24s %-24s %7.1fs %10llu\n", row->key, row->address, seen,
               (time_now_us() - row->last_us) / 1e6, (unsigned long long)row->count);
    }
    rc->rows++;
    return 0;
}

/* Options --json alone, and no arguments: 0, or 2 after saying why. */
/* Options of a command whose only option is --json: the index of the first
 * operand, or -1 after an unknown option (getopt has said which). */
static int cli_json_opts(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'j')
            return -1;
        c->json = 1;
    }
    return optind;
}

/* ... and no operands. */
static int cli_json_only(struct cli *c, int argc, char **argv)
{
    int first = cli_json_opts(c, argc, argv);
    if (first < 0)
        return 2;
    if (first < argc) {
        fprintf(stderr, "faultline %s: unexpected argument '%s'\n", argv[0], argv[first]);
        return 2;
    }
    return 0;
}

static int cmd_agents(struct cli *c, int argc, char **argv)
{
    if (cli_json_only(c, argc, argv))
        return 2;
    struct store *st = cli_open(c);
    if (!st)
        return 1;
    struct results_ctx rc = {.json = c->json};
    int err = store_query_agents(st, agents_row, &rc);
    if (!err && !c->json && rc.rows == 0)
        printf("no agents have reported yet\n");
    struct results_ctx refused = {.json = c->json};
    if (!err)
        err = store_query_refusals(st, refusals_row, &refused);
    if (err)
        fprintf(stderr, "faultline agents: query failed: %s\n", store_errmsg(st));
    store_close(&st);
    return err ? 1 : 0;
}

/* ---- gaps -------------------------------------------------------------------- */

static int gaps_row(void *ctx, const struct store_gap_row *row)
{
    struct results_ctx *rc = ctx;
    if (rc->json) {
        cli_print_json(query_gap_json(row));
    } else {
        char when[40];
        time_format_us(row->received_us, when, sizeof when);
        if (rc->rows == 0)
            printf("%-14s %-20s %12s %12s %10s  %-24s %s\n", "AGENT", "EPOCH", "FROM", "TO",
                   "MISSING", "REPORTED", "REASON");
        printf("%-14s %-20llu %12llu %12llu %10llu  %-24s %s\n", row->agent,
               (unsigned long long)row->epoch, (unsigned long long)row->from_seq,
               (unsigned long long)row->to_seq,
               (unsigned long long)(row->to_seq - row->from_seq + 1), when, row->reason);
    }
    rc->rows++;
    return 0;
}

static int cmd_gaps(struct cli *c, int argc, char **argv)
{
    const char *agent = NULL;
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"agent", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'j')
            c->json = 1;
        else if (opt == 'a')
            agent = optarg;
        else
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "faultline gaps: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct store *st = cli_open(c);
    if (!st)
        return 1;
    struct results_ctx rc = {.json = c->json};
    int err = store_query_gaps(st, agent, gaps_row, &rc);
    if (err)
        fprintf(stderr, "faultline gaps: query failed: %s\n", store_errmsg(st));
    else if (!c->json && rc.rows == 0)
        printf("no results were reported lost\n");
    store_close(&st);
    return err ? 1 : 0;
}

/* ---- incidents -------------------------------------------------------------- */

static int incidents_row(void *ctx, const struct store_incident *in)
{
    struct results_ctx *rc = ctx;
    char start[40], end[40] = "", fault[12];
    time_format_us(in->start_us, start, sizeof start);
    if (in->end_us)
        time_format_us(in->end_us, end, sizeof end);
    snprintf(fault, sizeof fault, "0x%04x", in->fault_code);
    double dur = ((in->end_us ? in->end_us : time_now_us()) - in->start_us) / 1e6;
    if (rc->json) {
        json_t *o = query_incident_json(in, time_now_us());
        if (rc->detail && rc->st)
            json_object_set_new(o, "evidence", query_evidence(rc->st, in, time_now_us()));
        cli_print_json(o);
    } else if (rc->detail) {
        printf("incident %lld: %s %s\n", (long long)in->id, in->verdict, in->component);
        printf("  %s\n", in->explanation);
        char f[128];
        fault_format((uint16_t)in->fault_code, f, sizeof f);
        printf("  fault   %s\n  start   %s\n  end     %s\n  lasted  %.0f s%s\n", f, start,
               in->end_us ? end : "(open)", dur, in->end_us ? "" : " so far");
        printf("  agents  %s\n  targets %s\n  pairs   %lld\n", in->agents_json,
               in->targets_json, (long long)in->npairs);
        json_t *ev = rc->st ? query_evidence(rc->st, in, time_now_us()) : NULL;
        static const char *const groups[] = {"failures", "traces", "captures"};
        for (size_t g = 0; ev && g < 3; g++) {
            json_t *list = json_object_get(ev, groups[g]), *r;
            size_t k;
            printf("  %-9s%zu%s\n", groups[g], json_array_size(list),
                   g == 0 ? " (around the start)" : "");
            json_array_foreach(list, k, r) {
                const char *msg = json_string_value(json_object_get(r, "message"));
                printf("    %s %s seq %lld %s %s %s %s\n",
                       json_string_value(json_object_get(r, "time")),
                       json_string_value(json_object_get(r, "agent")),
                       (long long)json_integer_value(json_object_get(r, "seq")),
                       json_string_value(json_object_get(r, "target")),
                       json_string_value(json_object_get(r, "address")),
                       json_string_value(json_object_get(r, "fault_code")), msg ? msg : "");
            }
        }
        json_decref(ev);
    } else {
        if (rc->rows == 0)
            printf("%-5s %-13s %-22s %-6s %-24s %8s  %-6s %s\n", "ID", "VERDICT", "COMPONENT",
                   "FAULT", "START", "DURATION", "STATE", "EXPLANATION");
        printf("%-5lld %-13s %-22s %-6s %-24s %7.0fs  %-6s %s\n", (long long)in->id, in->verdict,
               in->component, fault, start, dur, in->end_us ? "closed" : "OPEN", in->explanation);
    }
    rc->rows++;
    return 0;
}

static int cmd_incidents(struct cli *c, int argc, char **argv)
{
    enum { O_SINCE = 256, O_UNTIL, O_VERDICT, O_COMPONENT, O_OPEN, O_LIMIT, O_JSON, O_AGENT,
           O_TARGET, O_REGION, O_CODE };
    static const struct option opts[] = {
        {"since", required_argument, NULL, O_SINCE},     {"until", required_argument, NULL, O_UNTIL},
        {"verdict", required_argument, NULL, O_VERDICT}, {"component", required_argument, NULL, O_COMPONENT},
        {"agent", required_argument, NULL, O_AGENT},     {"target", required_argument, NULL, O_TARGET},
        {"region", required_argument, NULL, O_REGION},   {"code", required_argument, NULL, O_CODE},
        {"open", no_argument, NULL, O_OPEN},             {"limit", required_argument, NULL, O_LIMIT},
        {"json", no_argument, NULL, O_JSON},             {NULL, 0, NULL, 0},
    };
    struct store_incident_filter f = {.limit = 50};
    int64_t now = time_now_us();
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_SINCE:
        case O_UNTIL:
            if (cli_time_arg("incidents", opt == O_SINCE, optarg, now,
                             opt == O_SINCE ? &f.since_us : &f.until_us))
                return 2;
            break;
        case O_VERDICT: f.verdict = optarg; break;
        case O_COMPONENT: f.component = optarg; break;
        case O_AGENT: f.agent = optarg; break;
        case O_TARGET: f.target = optarg; break;
        case O_REGION: f.region = optarg; break;
        case O_CODE: {
            uint16_t code;
            if (fault_parse(optarg, &code) != 0 || !code) {
                fprintf(stderr, "faultline incidents: --code: '%s' is not a fault code like 0x3795\n", optarg);
                return 2;
            }
            f.fault_code = code;
            break;
        }
        case O_OPEN: f.open_only = 1; break;
        case O_LIMIT:
            if (cli_count_arg("incidents", optarg, &f.limit))
                return 2;
            break;
        case O_JSON: c->json = 1; break;
        default: return 2;
        }
    }
    int exit_rc;
    struct store *st = cli_begin(c, "incidents", argc, argv, &exit_rc);
    if (!st)
        return exit_rc;
    struct results_ctx rc = {.json = c->json};
    int err = store_query_incidents(st, &f, incidents_row, &rc);
    if (err)
        fprintf(stderr, "faultline incidents: query failed: %s\n", store_errmsg(st));
    else if (!c->json && rc.rows == 0)
        printf("no incidents\n");
    store_close(&st);
    return err ? 1 : 0;
}

static int cmd_incident(struct cli *c, int argc, char **argv)
{
    int first = cli_json_opts(c, argc, argv);
    if (first < 0)
        return 2;
    char *end = NULL;
    long long id = first + 1 == argc ? strtoll(argv[first], &end, 10) : 0;
    if (id <= 0 || !end || *end) {
        fprintf(stderr, "faultline incident: one incident ID (a positive number)\n");
        return 2;
    }
    struct store *st = cli_open(c);
    if (!st)
        return 1;
    struct store_incident_filter f = {.id = id};
    struct results_ctx rc = {.json = c->json, .detail = 1, .st = st};
    int err = store_query_incidents(st, &f, incidents_row, &rc);
    store_close(&st);
    if (err || rc.rows == 0) {
        fprintf(stderr, "faultline incident: no incident %lld\n", id);
        return 1;
    }
    return 0;
}

/* ---- summary ----------------------------------------------------------------- */

static void summary_group(json_t *group, const char *title)
{
    const char *key;
    json_t *b;
    if (!json_object_size(group))
        return;
    printf("\n%-40s %9s %5s %10s %10s %10s\n", title, "INCIDENTS", "OPEN", "TOTAL_S",
           "LONGEST_S", "MTTR_S");
    json_object_foreach(group, key, b) {
        json_t *mttr = json_object_get(b, "mttr_s");
        char m[32] = "-";
        if (json_is_number(mttr))
            snprintf(m, sizeof m, "%.1f", json_number_value(mttr));
        printf("%-40s %9lld %5lld %10.1f %10.1f %10s\n", key,
               (long long)json_integer_value(json_object_get(b, "incidents")),
               (long long)json_integer_value(json_object_get(b, "open")),
               json_number_value(json_object_get(b, "total_duration_s")),
               json_number_value(json_object_get(b, "longest_s")), m);
    }
}

static int cmd_summary(struct cli *c, int argc, char **argv)
{
    enum { O_SINCE = 256, O_UNTIL, O_JSON };
    static const struct option opts[] = {
        {"since", required_argument, NULL, O_SINCE},
        {"until", required_argument, NULL, O_UNTIL},
        {"json", no_argument, NULL, O_JSON},
        {NULL, 0, NULL, 0},
    };
    int64_t now = time_now_us(), since = 0, until = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_SINCE:
        case O_UNTIL:
            if (cli_time_arg("summary", opt == O_SINCE, optarg, now,
                             opt == O_SINCE ? &since : &until))
                return 2;
            break;
        case O_JSON: c->json = 1; break;
        default: return 2;
        }
    }
    int exit_rc;
    struct store *st = cli_begin(c, "summary", argc, argv, &exit_rc);
    if (!st)
        return exit_rc;
    json_t *sum = query_summary(st, since, until, now);
    if (!sum) {
        fprintf(stderr, "faultline summary: query failed: %s\n", store_errmsg(st));
        store_close(&st);
        return 1;
    }
    store_close(&st);
    if (c->json) {
        cli_print_json(sum);
        return 0;
    }
    json_t *total = json_object_get(sum, "total");
    json_t *mttr = json_object_get(total, "mttr_s");
    const char *from = json_string_value(json_object_get(sum, "since"));
    printf("incidents %s to %s: %lld (%lld open), MTTR %s%.1f s\n", from ? from : "(start)",
           json_string_value(json_object_get(sum, "until")),
           (long long)json_integer_value(json_object_get(total, "incidents")),
           (long long)json_integer_value(json_object_get(total, "open")),
           json_is_number(mttr) ? "" : "- ", json_is_number(mttr) ? json_number_value(mttr) : 0.0);
    summary_group(json_object_get(sum, "by_verdict"), "VERDICT");
    summary_group(json_object_get(sum, "by_component"), "COMPONENT");
    summary_group(json_object_get(sum, "by_region"), "REGION (of the agents involved)");
    json_decref(sum);
    return 0;
}

/* ---- decode ----------------------------------------------------------------- */

static int cmd_decode(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"table", no_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    int opt, table = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'j')
            c->json = 1;
        else if (opt == 't')
            table = 1;
        else
            return 2;
    }
    if (table) {
        fault_table_markdown(stdout);
        return 0;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "faultline decode: %s\n", optind == argc ? "which code?" : "one code at a time");
        return 2;
    }
    const char *code_s = argv[optind];
    uint16_t code;
    if (fault_parse(code_s, &code) != 0) {
        fprintf(stderr, "faultline decode: '%s' is not a 16-bit code (0x3795, 14229 or "
                        "0b0011011110010101)\n",
                code_s);
        return 2;
    }
    struct fl_fault_info fi;
    int known = fault_decode(code, &fi) == 0;
    if (c->json) {
        char hex[8], bin[20];
        snprintf(hex, sizeof hex, "0x%04x", code);
        for (int b = 0; b < 16; b++)
            bin[b] = (char)('0' + ((code >> (15 - b)) & 1));
        bin[16] = '\0';
        json_t *o = json_pack("{s:s, s:i, s:s, s:i, s:s, s:i, s:s, s:i, s:s, s:s, s:i, s:s, s:b}",
                              "code", hex, "decimal", (int)code, "binary", bin, "category",
                              (int)fi.category, "category_name", fi.category_name, "subcategory", (int)fi.subcategory,
                              "subcategory_name", fi.subcategory_name, "severity",
                              (int)fi.severity, "severity_name", fi.severity_name, "level",
                              fi.level, "error", (int)fi.error, "error_name", fi.error_name,
                              "known", known);
        json_dumpf(o, stdout, FL_JSON_FLAGS);
        fputc('\n', stdout);
        json_decref(o);
    } else {
        printf("0x%04x = %u = 0b", code, code);
        for (int b = 15; b >= 0; b--)
            putchar('0' + ((code >> b) & 1));
        putchar('\n');
        printf("  category    0x%x %s\n", fi.category, fi.category_name);
        printf("  subcategory 0x%x %s\n", fi.subcategory, fi.subcategory_name);
        printf("  severity    %u %s (%s)\n", fi.severity, fi.severity_name, fi.level);
        printf("  error       0x%x %s\n", fi.error, fi.error_name);
    }
    return known ? 0 : 1;
}

static int cmd_keygen(struct cli *c, int argc, char **argv)
{
    (void)c;
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "faultline keygen: %s\n",
                argc < 2 ? "which PREFIX?" : argv[1][0] == '-' ? "no options" : "one PREFIX");
        return 2;
    }
    char err[512], pub[FL_KEY_Z85 + 1];
    if (transport_keygen(argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "faultline keygen: %s\n", err);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.pub", argv[1]);
    if (transport_key_load(path, pub, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "faultline keygen: %s\n", err);
        return 1;
    }
    printf("%s.key %s.pub %s\n", argv[1], argv[1], pub);
    return 0;
}

/* lab: hand over to the lab's scripts (deploy/lab in the source tree, or
 * where they are installed), telling the scorecard where our binaries are. */
static int cmd_lab(struct cli *c, int argc, char **argv)
{
    (void)c;
    if (argc < 2)
        return 2;
    static const char *const dirs[] = {FL_LAB_SOURCE_DIR, FL_LAB_INSTALL_DIR};
    const char *script = strcmp(argv[1], "score") == 0 ? "score.sh" : "lab.sh";
    char path[PATH_MAX] = "";
    for (size_t i = 0; i < 2 && !path[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], script);
        if (access(path, R_OK) != 0)
            path[0] = '\0';
    }
    if (!path[0]) {
        fprintf(stderr, "faultline: lab: %s is not in %s or %s\n", script, dirs[0], dirs[1]);
        return 1;
    }
    /* Our build tree, when this binary runs from one. */
    char exe[PATH_MAX], build[PATH_MAX], probe[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    build[0] = '\0';
    if (n > 0) {
        exe[n] = '\0';
        snprintf(build, sizeof build, "%s", dirname(dirname(exe)));
        snprintf(probe, sizeof probe, "%s/collector/faultline-collector", build);
        if (access(probe, X_OK) != 0)
            build[0] = '\0';
    }
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (!args)
        return 1;
    size_t k = 0;
    args[k++] = "bash";
    args[k++] = path;
    if (strcmp(argv[1], "score") == 0) {
        if (build[0]) {
            args[k++] = "--build";
            args[k++] = build;
        }
        for (int i = 2; i < argc; i++)
            args[k++] = argv[i];
    } else {
        for (int i = 1; i < argc; i++)
            args[k++] = argv[i];
    }
    args[k] = NULL;
    execvp("bash", args);
    fprintf(stderr, "faultline: lab: cannot run bash: %s\n", strerror(errno));
    free(args);
    return 1;
}

/* Each command: its name, what runs it, and its usage (after the name). */
static const struct {
    const char *name;
    int (*run)(struct cli *c, int argc, char **argv);
    const char *usage;
} cli_commands[] = {
    {"results", cmd_results,
     "[--agent NAME] [--target NAME] [--probe TYPE] [--status ok|fail|error|notok]\n"
     "        [--since WHEN] [--until WHEN] [--limit N] [--json]\n"
     "  stored probe results, newest first; --limit defaults to 50 (0: all);\n"
     "  WHEN: 10m (ago), 2026-11-22T10:00:00Z, @UNIXSECONDS"},
    {"agents", cmd_agents,
     "[--json]\n  agents seen (last seen, version, labels, outbox depth) and the keys the\n"
     "  collector refused lately, with the address they came from"},
    {"gaps", cmd_gaps, "[--agent NAME] [--json]\n  results agents reported lost, as seq ranges"},
    {"incidents", cmd_incidents,
     "[--since WHEN] [--until WHEN] [--verdict V] [--component C] [--agent A]\n"
     "        [--target T] [--region R] [--code CODE] [--open] [--limit N] [--json]\n"
     "  root causes found across agents, newest first"},
    {"incident", cmd_incident, "ID [--json]\n  one incident in full, with its evidence"},
    {"summary", cmd_summary,
     "[--since WHEN] [--until WHEN] [--json]\n"
     "  the fault report: incidents, open, durations and MTTR per verdict, component, region"},
    {"decode", cmd_decode,
     "CODE [--json] | --table\n"
     "  explain a 16-bit fault code, written 0x3795 (hex), 0b0011011110010101 (binary) or\n"
     "  14229 (a bare number is decimal); --table prints every code known"},
    {"keygen", cmd_keygen,
     "PREFIX\n  a new CURVE key pair: PREFIX.key (secret, 0600) and PREFIX.pub; an agent's\n"
     "  .pub goes in the collector's allow directory as NAME.pub"},
    {"lab", cmd_lab,
     "up|down|status|hosts|fault NAME on|off [ARGS] | score [OPTIONS]\n"
     "  the network-namespace lab (root); score [--json] [--interval 2s] [--healthy SECONDS]\n"
     "  [--only A,B] injects every fault and scores the incidents and alerts"},
};

static void cli_command_usage(FILE *f, size_t k)
{
    fprintf(f, "usage: faultline [--database FILE] %s %s\n", cli_commands[k].name,
            cli_commands[k].usage);
}

/* --help or -h among a command's arguments (before a "--"). */
static int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct cli c = {.database = getenv("FAULTLINE_DB")};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--database") == 0 && i + 1 < argc)
            c.database = argv[++i];
        else if (strncmp(argv[i], "--database=", 11) == 0)
            c.database = argv[i] + 11;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("faultline %s\n", FL_VERSION);
            return 0;
        } else {
            fprintf(stderr, "faultline: unknown option '%s'\n", argv[i]);
            cli_usage(stderr);
            return 2;
        }
    }
    if (!c.database || !c.database[0])
        c.database = CLI_DEFAULT_DB;
    if (i >= argc) {
        cli_usage(stderr);
        return 2;
    }
    for (size_t k = 0; k < sizeof cli_commands / sizeof cli_commands[0]; k++) {
        if (strcmp(argv[i], cli_commands[k].name))
            continue;
        if (cli_wants_help(argc - i, argv + i)) {
            cli_command_usage(stdout, k);
            return 0;
        }
        int rc = cli_commands[k].run(&c, argc - i, argv + i);
        if (rc == 2) /* the command said what was wrong; how it is used */
            cli_command_usage(stderr, k);
        return rc;
    }
    fprintf(stderr, "faultline: unknown command '%s'\n", argv[i]);
    cli_usage(stderr);
    return 2;
}
