/* faultline summary: the fault report per verdict, component and region. */
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

static void summary_group(json_t *group, const char *title)
{
    const char *key;
    json_t *b;
    if (!json_object_size(group))
        return;
    printf("\n%-40s %9s %5s %10s %10s %10s\n", title, "INCIDENTS", "OPEN", "TOTAL_S", "LONGEST_S",
           "MTTR_S");
    json_object_foreach(group, key, b)
    {
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

int cmd_summary(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_OPT_SINCE,
        CLI_OPT_UNTIL,
        CLI_OPT_JSON,
        {NULL, 0, NULL, 0},
    };
    int64_t now = time_now_us(), since = 0, until = 0;
    const struct cli_query q = {.now_us = now, .since_us = &since, .until_us = &until};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        default:
            if (cli_query_opt(c, "summary", opt, optarg, &q))
                return 2;
        }
    }
    int exit_rc;
    struct store *st = cli_begin(c, "summary", argc, argv, &exit_rc);
    if (!st)
        return exit_rc;
    json_t *sum = query_summary(st, since, until, now);
    if (cli_finish(c, "summary", &st, !sum, 1, NULL) != 0)
        return 1;
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
