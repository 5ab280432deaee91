/* faultline results: stored probe results, newest first. */
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

static int results_row(void *ctx, const struct store_result_row *row)
{
    struct results_ctx *rc = ctx;
    if (rc->json) {
        cli_print_json(query_result_json(row));
        rc->rows++;
        return 0;
    }
    fl_result r;
    fl_result *d = query_result(row, &r);
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

int cmd_results(struct cli *c, int argc, char **argv)
{
    enum { O_AGENT = 256, O_TARGET, O_PROBE, O_STATUS };
    static const struct option opts[] = {
        {"agent", required_argument, NULL, O_AGENT},
        {"target", required_argument, NULL, O_TARGET},
        {"probe", required_argument, NULL, O_PROBE},
        {"status", required_argument, NULL, O_STATUS},
        CLI_OPT_SINCE,
        CLI_OPT_UNTIL,
        CLI_OPT_LIMIT,
        CLI_OPT_JSON,
        {NULL, 0, NULL, 0},
    };
    struct store_filter f = {.limit = 50};
    const struct cli_query q = {.now_us = time_now_us(), .since_us = &f.since_us,
                                .until_us = &f.until_us, .limit = &f.limit};
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
                fprintf(stderr,
                        "faultline results: --status: '%s' is not ok, fail, error or notok\n",
                        optarg);
                return 2;
            }
            break;
        default:
            if (cli_query_opt(c, "results", opt, optarg, &q))
                return 2;
        }
    }
    int exit_rc;
    struct store *st = cli_begin(c, "results", argc, argv, &exit_rc);
    if (!st)
        return exit_rc;
    struct results_ctx rc = {.json = c->json};
    int err = store_query_results(st, &f, results_row, &rc);
    return cli_finish(c, "results", &st, err, rc.rows, "no results match");
}
