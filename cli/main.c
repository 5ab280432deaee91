/* faultline: query the fault history and explain fault codes.
 *
 *   faultline [--database FILE] COMMAND [OPTIONS]
 *
 * Commands (results, agents, gaps, incidents, incident, summary, decode,
 * keygen, lab) are looked up in a table; each lives in its cmd_*.c and
 * parses its own options (cli.h). */

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
#include "cli.h"
#include "store.h"
#include "timeutil.h"

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
