/* faultline incidents, faultline incident ID: root causes found across agents. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "faultcode.h"
#include "query.h"
#include "resultfmt.h"
#include "store.h"
#include "timeutil.h"
#include "transport.h"

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
        char agents[1024], targets[1024];
        cli_join_names(&in->agents, agents, sizeof agents);
        cli_join_names(&in->targets, targets, sizeof targets);
        printf("  agents  %s\n  targets %s\n  pairs   %lld\n", agents, targets,
               (long long)in->npairs);
        json_t *ev = rc->st ? query_evidence(rc->st, in, time_now_us()) : NULL;
        static const char *const groups[] = {"failures", "traces", "captures"};
        for (size_t g = 0; ev && g < 3; g++) {
            json_t *list = json_object_get(ev, groups[g]), *r;
            size_t k;
            printf("  %-9s%zu%s\n", groups[g], json_array_size(list),
                   g == 0 ? " (around the start)" : "");
            json_array_foreach(list, k, r)
            {
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

int cmd_incidents(struct cli *c, int argc, char **argv)
{
    enum {
        O_VERDICT = 256,
        O_COMPONENT,
        O_OPEN,
        O_AGENT,
        O_TARGET,
        O_REGION,
        O_CODE
    };
    static const struct option opts[] = {
        CLI_OPT_SINCE,
        CLI_OPT_UNTIL,
        {"verdict", required_argument, NULL, O_VERDICT},
        {"component", required_argument, NULL, O_COMPONENT},
        {"agent", required_argument, NULL, O_AGENT},
        {"target", required_argument, NULL, O_TARGET},
        {"region", required_argument, NULL, O_REGION},
        {"code", required_argument, NULL, O_CODE},
        {"open", no_argument, NULL, O_OPEN},
        CLI_OPT_LIMIT,
        CLI_OPT_JSON,
        {NULL, 0, NULL, 0},
    };
    struct store_incident_filter f = {.limit = 50};
    const struct cli_query q = {.now_us = time_now_us(), .since_us = &f.since_us,
                                .until_us = &f.until_us, .limit = &f.limit};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_VERDICT: f.verdict = optarg; break;
        case O_COMPONENT: f.component = optarg; break;
        case O_AGENT: f.agent = optarg; break;
        case O_TARGET: f.target = optarg; break;
        case O_REGION: f.region = optarg; break;
        case O_CODE: {
            uint16_t code;
            if (fault_parse(optarg, &code) != 0 || !code) {
                fprintf(stderr,
                        "faultline incidents: --code: '%s' is not a fault code like 0x3795\n",
                        optarg);
                return 2;
            }
            f.fault_code = code;
            break;
        }
        case O_OPEN: f.open_only = 1; break;
        default:
            if (cli_query_opt(c, "incidents", opt, optarg, &q))
                return 2;
        }
    }
    int exit_rc;
    struct store *st = cli_begin(c, "incidents", argc, argv, &exit_rc);
    if (!st)
        return exit_rc;
    struct results_ctx rc = {.json = c->json};
    int err = store_query_incidents(st, &f, incidents_row, &rc);
    return cli_finish(c, "incidents", &st, err, rc.rows, "no incidents");
}

int cmd_incident(struct cli *c, int argc, char **argv)
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
    store_free(&st);
    if (err || rc.rows == 0) {
        fprintf(stderr, "faultline incident: no incident %lld\n", id);
        return 1;
    }
    return 0;
}
