/* faultline agents, faultline gaps: who reports, and what they lost. */
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
        printf("%-14s %-8s %-24s %7.1fs %8llu %10llu %8llu  %s\n", row->name, row->version, seen,
               (time_now_us() - row->last_seen_us) / 1e6, (unsigned long long)row->spool_depth,
               (unsigned long long)row->results, (unsigned long long)row->gaps_missing,
               row->labels_json);
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

int cmd_agents(struct cli *c, int argc, char **argv)
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
    return cli_finish(c, "agents", &st, err, 1, NULL);
}

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

int cmd_gaps(struct cli *c, int argc, char **argv)
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
    int exit_rc;
    struct store *st = cli_begin(c, "gaps", argc, argv, &exit_rc);
    if (!st)
        return exit_rc;
    struct results_ctx rc = {.json = c->json};
    int err = store_query_gaps(st, agent, gaps_row, &rc);
    return cli_finish(c, "gaps", &st, err, rc.rows, "no results were reported lost");
}
