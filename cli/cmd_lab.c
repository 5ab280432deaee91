/* faultline lab: the network-namespace lab and its scorecard (deploy/lab). */
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

/* lab: hand over to the lab's scripts (deploy/lab in the source tree, or
 * where they are installed), telling the scorecard where our binaries are. */
int cmd_lab(struct cli *c, int argc, char **argv)
{
    (void)c;
    if (argc < 2)
        return 2;
    static const char *const dirs[] = {FL_LAB_SOURCE_DIR, FL_LAB_INSTALL_DIR};
    const char *script = strcmp(argv[1], "score") == 0 ? "score.sh" : "lab.sh";
    char path[PATH_MAX] = "";
    for (size_t i = 0; i < 2 && !path[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], script);
        if (access(path, R_OK) != 0)
            path[0] = '\0';
    }
    if (!path[0]) {
        fprintf(stderr, "faultline: lab: %s is not in %s or %s\n", script, dirs[0], dirs[1]);
        return 1;
    }
    /* Our build tree, when this binary runs from one. */
    char exe[PATH_MAX], build[PATH_MAX], probe[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    build[0] = '\0';
    if (n > 0) {
        exe[n] = '\0';
        snprintf(build, sizeof build, "%s", dirname(dirname(exe)));
        snprintf(probe, sizeof probe, "%s/collector/faultline-collector", build);
        if (access(probe, X_OK) != 0)
            build[0] = '\0';
    }
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (!args)
        return 1;
    size_t k = 0;
    args[k++] = "bash";
    args[k++] = path;
    if (strcmp(argv[1], "score") == 0) {
        if (build[0]) {
            args[k++] = "--build";
            args[k++] = build;
        }
        for (int i = 2; i < argc; i++)
            args[k++] = argv[i];
    } else {
        for (int i = 1; i < argc; i++)
            args[k++] = argv[i];
    }
    args[k] = NULL;
    execvp("bash", args);
    fprintf(stderr, "faultline: lab: cannot run bash: %s\n", strerror(errno));
    free(args);
    return 1;
}
