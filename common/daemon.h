/* daemon: the command line both daemons share.  --config.file FILE,
 * --config.check, --log.level, --log.format, --insecure, --version and
 * --help mean the same to faultline-agent and faultline-collector; each
 * adds options of its own that take one argument (--listen ENDPOINT). */
#ifndef FL_DAEMON_H
#define FL_DAEMON_H

#include <stddef.h>
#include <stdio.h>

struct daemon_flags {
    const char *config_file; /* NULL: none given */
    int check;               /* --config.check */
    int insecure;            /* --insecure */
};

/* One option of the daemon's own: --NAME VALUE sets *VALUE. */
struct daemon_option {
    const char *name;
    const char **value;
};

/* Parse ARGV for PROG into FLAGS and the daemon's OWN options (NOWN of
 * them), and set up the log.  Returns -1 to go on, else the status to exit
 * with: 0 after --help (USAGE to stdout) or --version, 2 after a bad flag
 * or a stray argument (said on stderr, with USAGE). */
int daemon_flags_parse(const char *prog, int argc, char **argv, const struct daemon_option *own,
                       size_t nown, void (*usage)(FILE *f), struct daemon_flags *flags);

#endif
