/* cli: option values, the store and the end every command shares. */
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

void cli_print_json(json_t *o)
{
    if (o)
        json_dumpf(o, stdout, FL_JSON_FLAGS);
    fputc('\n', stdout);
    json_decref(o);
}

struct store *cli_open(const struct cli *c)
{
    char err[512];
    struct store_opts so = {.url = c->database, .readonly = 1};
    struct store *st = store_open(&so, err, sizeof err);
    if (!st)
        fprintf(stderr, "faultline: cannot open the database: %s\n", err);
    return st;
}

/* --since/--until VALUE of command CMD; 0, or 2 (usage) after saying why. */
int cli_time_arg(const char *cmd, int since, const char *value, int64_t now, int64_t *out)
{
    if (time_parse_point(value, now, out) == 0)
        return 0;
    fprintf(stderr,
            "faultline %s: --%s: '%s' is not a time (10m, 2026-11-22T10:00:00Z, @1763800000)\n",
            cmd, since ? "since" : "until", value);
    return 2;
}

int cli_count_arg(const char *cmd, const char *value, int64_t *out)
{
    char *end;
    *out = strtoll(value, &end, 10);
    if (*end || end == value || *out < 0) {
        fprintf(stderr, "faultline %s: --limit: '%s' is not a count\n", cmd, value);
        return 2;
    }
    return 0;
}

int cli_no_more_args(const char *cmd, int argc, char **argv)
{
    if (optind >= argc)
        return 0;
    fprintf(stderr, "faultline %s: unexpected argument '%s'\n", cmd, argv[optind]);
    return 2;
}

/* After a command's options: nothing may follow, then the store opens.
 * NULL with the exit status in *RC (2 usage, 1 no database). */
struct store *cli_begin(const struct cli *c, const char *cmd, int argc, char **argv, int *rc)
{
    *rc = 2;
    if (cli_no_more_args(cmd, argc, argv))
        return NULL;
    *rc = 1;
    return cli_open(c);
}

/* Options of a command whose only option is --json: the index of the first
 * operand, or -1 after an unknown option (getopt has said which). */
int cli_json_opts(struct cli *c, int argc, char **argv)
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
int cli_json_only(struct cli *c, int argc, char **argv)
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

int cli_finish(const struct cli *c, const char *cmd, struct store **st, int err, size_t rows,
               const char *none)
{
    if (err)
        fprintf(stderr, "faultline %s: query failed: %s\n", cmd, store_errmsg(*st));
    else if (!c->json && rows == 0 && none)
        printf("%s\n", none);
    store_free(st);
    return err ? 1 : 0;
}

void cli_join_names(const struct store_names *names, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0, used = 0; i < names->n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", names->v[i]);
}

int cli_query_opt(struct cli *c, const char *cmd, int opt, const char *arg,
                  const struct cli_query *q)
{
    switch (opt) {
    case CLI_O_SINCE:
    case CLI_O_UNTIL: {
        int since = opt == CLI_O_SINCE;
        int64_t *out = since ? q->since_us : q->until_us;
        return out ? cli_time_arg(cmd, since, arg, q->now_us, out) : 2;
    }
    case CLI_O_LIMIT: return q->limit ? cli_count_arg(cmd, arg, q->limit) : 2;
    case CLI_O_JSON: c->json = 1; return 0;
    default: return 2; /* getopt has said which */
    }
}
