/* cli: what the commands of `faultline` share: the global options, how a
 * command reads its option values, opens the store read-only and ends (one
 * path for every query command), and the commands themselves (cmd_*.c). */
#ifndef FL_CLI_H
#define FL_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define CLI_DEFAULT_DB "/var/lib/faultline/faultline.db"

struct cli {
    const char *database;
    int json;
};

/* What a query command's rows are printed with. */
struct results_ctx {
    int json;
    int detail; /* one item, every field on its own line */
    size_t rows;
    struct store *st; /* for an incident's evidence */
};

/* One JSON object per line; takes the reference. */
void cli_print_json(json_t *o);
/* The store, read-only; NULL after saying why. */
struct store *cli_open(const struct cli *c);

/* --since/--until VALUE of command CMD; 0, or 2 (usage) after saying why. */
int cli_time_arg(const char *cmd, int since, const char *value, int64_t now, int64_t *out);
/* --limit VALUE: 0, or 2 after saying why. */
int cli_count_arg(const char *cmd, const char *value, int64_t *out);
/* Nothing left after the options: 0, or 2 after saying what. */
int cli_no_more_args(const char *cmd, int argc, char **argv);
/* After a command's options: nothing may follow, then the store opens.
 * NULL with the exit status in *RC (2 usage, 1 no database). */
struct store *cli_begin(const struct cli *c, const char *cmd, int argc, char **argv, int *rc);
/* Options of a command whose only option is --json: the index of the first
 * operand, or -1 after an unknown option; cli_json_only: and no operands
 * (0, or 2 after saying why). */
int cli_json_opts(struct cli *c, int argc, char **argv);
int cli_json_only(struct cli *c, int argc, char **argv);
/* The end of a query command: its error (ERR) or, for people, NONE when no
 * row came; the store closed.  The exit status. */
int cli_finish(const struct cli *c, const char *cmd, struct store **st, int err, size_t rows,
               const char *none);

/* The options query commands share: --since, --until, --limit, --json.
 * A command lists the CLI_OPT_* entries it takes in its getopt table and
 * hands every option it does not know to cli_query_opt. */
enum { CLI_O_SINCE = 200, CLI_O_UNTIL, CLI_O_LIMIT, CLI_O_JSON };
#define CLI_OPT_SINCE {"since", required_argument, NULL, CLI_O_SINCE}
#define CLI_OPT_UNTIL {"until", required_argument, NULL, CLI_O_UNTIL}
#define CLI_OPT_LIMIT {"limit", required_argument, NULL, CLI_O_LIMIT}
#define CLI_OPT_JSON {"json", no_argument, NULL, CLI_O_JSON}

/* Where a query command's shared options go (a NULL field: not taken). */
struct cli_query {
    int64_t now_us;
    int64_t *since_us, *until_us, *limit;
};

/* Option OPT (with ARG) of command CMD: 0 when taken, 2 (usage) after
 * saying why it is wrong or unknown. */
int cli_query_opt(struct cli *c, const char *cmd, int opt, const char *arg,
                  const struct cli_query *q);

/* NAMES joined with ", " into OUT (cut to LEN). */
void cli_join_names(const struct store_names *names, char *out, size_t len);

int cmd_results(struct cli *c, int argc, char **argv);   /* cmd_results.c */
int cmd_agents(struct cli *c, int argc, char **argv);    /* cmd_agents.c */
int cmd_gaps(struct cli *c, int argc, char **argv);      /* cmd_agents.c */
int cmd_incidents(struct cli *c, int argc, char **argv); /* cmd_incidents.c */
int cmd_incident(struct cli *c, int argc, char **argv);  /* cmd_incidents.c */
int cmd_summary(struct cli *c, int argc, char **argv);   /* cmd_summary.c */
int cmd_decode(struct cli *c, int argc, char **argv);    /* cmd_decode.c */
int cmd_keygen(struct cli *c, int argc, char **argv);    /* cmd_decode.c */
int cmd_lab(struct cli *c, int argc, char **argv);       /* cmd_lab.c */

#endif
