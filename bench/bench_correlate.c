/* One correlation evaluation at a given fleet size: AGENTS agents in five
 * regions, each probing TARGETS targets (tcp, port 80, one address each),
 * the first target down for everyone.  Prints one JSON line: the pairs,
 * what was diagnosed, and the median of RUNS evaluations.
 *
 *   bench_correlate [AGENTS] [TARGETS] [RUNS]      (default 1000 10 9) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "correlate.h"
#include "faultcode.h"

static double mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int nagents = argc > 1 ? atoi(argv[1]) : 1000, ntargets = argc > 2 ? atoi(argv[2]) : 10;
    int runs = argc > 3 ? atoi(argv[3]) : 9;
    if (nagents < 1 || ntargets < 1 || runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: bench_correlate [AGENTS] [TARGETS] [RUNS]\n");
        return 2;
    }
    struct correlate *c = correlate_new(NULL);
    static struct corr_diagnosis d[64];
    char agent[32], region[8], target[64], address[32];
    int64_t ts = 1795300000000000LL;
    for (int round = 0; round < 4; round++, ts += 10 * 1000000LL)
        for (int a = 0; a < nagents; a++) {
            snprintf(agent, sizeof agent, "a%d", a);
            snprintf(region, sizeof region, "r%d", a % 5);
            correlate_heartbeat(c, agent, region, ts);
            for (int t = 0; t < ntargets; t++) {
                snprintf(target, sizeof target, "t%d.example:80", t);
                snprintf(address, sizeof address, "10.%d.%d.1", t / 250, t % 250);
                struct corr_input in = {.agent = agent, .region = region, .target = target,
                                        .address = address, .probe = 2, .ok = t != 0,
                                        .fault = t ? 0 : FL_FAULT_TCP_REFUSED, .ts_us = ts};
                correlate_result(c, &in);
            }
        }
    double *ms = calloc((size_t)runs, sizeof *ms);
    size_t n = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = mono_ms();
        n = correlate_evaluate(c, ts, d, 64);
        ms[r] = mono_ms() - t0;
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    printf("{\"bench\":\"correlate_evaluate\",\"agents\":%d,\"targets\":%d,\"pairs\":%d,"
           "\"diagnoses\":%zu,\"first\":\"%s\",\"median_ms\":%.2f,\"runs\":%d}\n",
           nagents, ntargets, nagents * ntargets, n, n ? d[0].component : "", ms[runs / 2], runs);
    free(ms);
    correlate_free(&c);
    return 0;
}
