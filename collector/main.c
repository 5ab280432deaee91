/* faultline-collector: receives results from agents over ZeroMQ, stores
 * them, correlates failures into incidents, answers queries and raises
 * alerts (collector_run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "daemon.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: faultline-collector [--config.file FILE] [--config.check]\n"
            "                           [--listen ENDPOINT] [--database FILE]\n"
            "                           [--log.level LEVEL] [--log.format logfmt|json]\n"
            "                           [--insecure]\n"
            "                           [--version] [--help]\n"
            "\n"
            "  --config.file FILE   YAML configuration (docs/configuration.md)\n"
            "  --config.check       validate the configuration, print \"configuration OK\"\n"
            "  --listen ENDPOINT    where agents connect (default tcp://*:5555)\n"
            "  --database FILE      SQLite file (default /var/lib/faultline/faultline.db)\n"
            "  --insecure           no CURVE: plain text, any agent let in (development only)\n"
            "  --http.listen ADDR   HTTP API, /metrics and the page (default 127.0.0.1:9105,\n"
            "                       \"\" turns it off)\n");
}

/* A flag given on the command line wins over the file. */
static void override(char **field, const char *flag)
{
    if (flag) {
        free(*field);
        *field = strdup(flag);
    }
}

int main(int argc, char **argv)
{
    const char *listen = NULL, *database = NULL, *http = NULL;
    const struct daemon_option own[] = {
        {"listen", &listen}, {"database", &database}, {"http.listen", &http}};
    struct daemon_flags flags;
    int rc = daemon_flags_parse("faultline-collector", argc, argv, own, 3, usage, &flags);
    if (rc >= 0)
        return rc;

    struct collector_config cfg;
    collector_config_defaults(&cfg);
    char err[4096];
    if (flags.config_file && collector_config_load(flags.config_file, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s", err);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        collector_config_free(&cfg);
        return 1;
    }
    override(&cfg.listen, listen);
    override(&cfg.database, database);
    override(&cfg.http_listen, http);
    if (!flags.insecure && (!cfg.key || !cfg.allow)) {
        fprintf(stderr, "faultline-collector: %s: 'key' and 'allow' are required (CURVE: make keys "
                        "with 'faultline keygen'), or --insecure for development\n",
                flags.config_file ? flags.config_file : "no configuration");
        rc = 1;
    } else if (flags.check) {
        printf("configuration OK\n");
        rc = 0;
    } else {
        rc = collector_run(&cfg, flags.insecure);
    }
    collector_config_free(&cfg);
    return rc;
}
