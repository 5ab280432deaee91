#include "daemon.h"

#include <getopt.h>
#include <string.h>

#include "log.h"

#define DAEMON_MAX_OWN 8

enum { OPT_CONFIG = 256, OPT_CHECK, OPT_LEVEL, OPT_FORMAT, OPT_VERSION, OPT_INSECURE, OPT_OWN };

int daemon_flags_parse(const char *prog, int argc, char **argv, const struct daemon_option *own,
                       size_t nown, void (*usage)(FILE *f), struct daemon_flags *flags)
{
    static const struct option shared[] = {
        {"config.file", required_argument, NULL, OPT_CONFIG},
        {"config.check", no_argument, NULL, OPT_CHECK},
        {"log.level", required_argument, NULL, OPT_LEVEL},
        {"log.format", required_argument, NULL, OPT_FORMAT},
        {"version", no_argument, NULL, OPT_VERSION},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"help", no_argument, NULL, 'h'},
    };
    size_t nshared = sizeof shared / sizeof shared[0];
    struct option opts[sizeof shared / sizeof shared[0] + DAEMON_MAX_OWN + 1];
    if (nown > DAEMON_MAX_OWN)
        nown = DAEMON_MAX_OWN;
    memcpy(opts, shared, sizeof shared);
    for (size_t i = 0; i < nown; i++)
        opts[nshared + i] = (struct option){own[i].name, required_argument, NULL, OPT_OWN + (int)i};
    opts[nshared + nown] = (struct option){NULL, 0, NULL, 0};

    enum fl_log_level level = FL_LOG_INFO;
    enum fl_log_format format = FL_LOG_LOGFMT;
    *flags = (struct daemon_flags){0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_CONFIG: flags->config_file = optarg; break;
        case OPT_CHECK: flags->check = 1; break;
        case OPT_LEVEL:
        case OPT_FORMAT:
            if (log_flag(prog, opt == OPT_LEVEL ? "log.level" : "log.format", optarg, &level,
                         &format))
                return 2;
            break;
        case OPT_VERSION: printf("%s %s\n", prog, FL_VERSION); return 0;
        case OPT_INSECURE: flags->insecure = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            if (opt >= OPT_OWN && (size_t)(opt - OPT_OWN) < nown) {
                *own[opt - OPT_OWN].value = optarg;
                break;
            }
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        usage(stderr);
        return 2;
    }
    log_setup(level, format);
    return -1;
}
