#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum fl_log_level log_threshold = FL_LOG_INFO;
static enum fl_log_format log_format = FL_LOG_LOGFMT;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum fl_log_level level, enum fl_log_format format)
{
    log_threshold = level;
    log_format = format;
}

int log_parse_level(const char *s, enum fl_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, log_names[i]) == 0) {
            *out = (enum fl_log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_parse_format(const char *s, enum fl_log_format *out)
{
    if (strcmp(s, "logfmt") == 0)
        *out = FL_LOG_LOGFMT;
    else if (strcmp(s, "json") == 0)
        *out = FL_LOG_JSON;
    else
        return -1;
    return 0;
}

int log_flag(const char *prog, const char *flag, const char *value, enum fl_log_level *level,
             enum fl_log_format *format)
{
    if (strcmp(flag, "log.level") == 0) {
        if (log_parse_level(value, level) == 0)
            return 0;
        fprintf(stderr, "%s: --log.level: '%s' is not debug, info, warn or error\n", prog, value);
    } else {
        if (log_parse_format(value, format) == 0)
            return 0;
        fprintf(stderr, "%s: --log.format: '%s' is not logfmt or json\n", prog, value);
    }
    return -1;
}

/* Quote for both formats: backslash, double quote and control characters
 * are escaped, so one event is always one line. */
static void log__quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void log_msg(enum fl_log_level level, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);

    flockfile(stderr);
    if (log_format == FL_LOG_JSON) {
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", when, log_names[level]);
        log__quoted(stderr, text);
        fputs("}\n", stderr);
    } else {
        fprintf(stderr, "ts=%s level=%s msg=", when, log_names[level]);
        log__quoted(stderr, text);
        fputc('\n', stderr);
    }
    funlockfile(stderr);
}
