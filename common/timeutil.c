#include "timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int time_parse_duration(const char *s, int64_t *out_us)
{
    static const struct {
        const char *unit;
        int64_t us;
    } units[] = {{"us", 1},           {"ms", 1000},          {"s", 1000000},
                 {"m", 60 * 1000000LL}, {"h", 3600 * 1000000LL}, {"d", 86400 * 1000000LL}};
    if (!s || !*s)
        return -1;
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            n = n * 10 + (*p++ - '0');
            if (n > 1000000000LL)
                return -1; /* far beyond any sensible duration */
        }
        size_t ulen = 0;
        while (isalpha((unsigned char)p[ulen]))
            ulen++;
        int found = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (strlen(units[i].unit) == ulen && strncmp(p, units[i].unit, ulen) == 0) {
                total += n * units[i].us;
                found = 1;
                break;
            }
        }
        if (!found)
            return -1;
        p += ulen;
    }
    *out_us = total;
    return 0;
}

int time_parse_point(const char *s, int64_t now_us, int64_t *out_us)
{
    if (!s || !*s)
        return -1;
    if (s[0] == '@') {
        long long sec;
        char tail;
        if (sscanf(s + 1, "%lld%c", &sec, &tail) != 1 || sec < 0)
            return -1;
        *out_us = (int64_t)sec * 1000000;
        return 0;
    }
    int64_t ago;
    if (time_parse_duration(s, &ago) == 0) {
        *out_us = now_us - ago;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *formats[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                             "%Y-%m-%d %H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, formats[i], &tm);
        if (end && (*end == 0 || strcmp(end, "Z") == 0)) {
            time_t t = timegm(&tm);
            if (t == (time_t)-1)
                return -1;
            *out_us = (int64_t)t * 1000000;
            return 0;
        }
    }
    return -1;
}

void time_format_us(int64_t us, char *buf, size_t len)
{
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)((us % 1000000) / 1000));
}
