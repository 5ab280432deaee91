/* log: leveled, structured log lines on stderr (logfmt or JSON), one line
 * per event, so journald and log shippers take them as they are. */
#ifndef FL_LOG_H
#define FL_LOG_H

enum fl_log_level { FL_LOG_DEBUG, FL_LOG_INFO, FL_LOG_WARN, FL_LOG_ERROR };
enum fl_log_format { FL_LOG_LOGFMT, FL_LOG_JSON };

/* Set the process-wide threshold and format (defaults: info, logfmt).  The
 * log is the one piece of process state every module shares. */
void log_setup(enum fl_log_level level, enum fl_log_format format);

/* Parse "debug|info|warn|error" / "logfmt|json"; 0 on success, -1 otherwise. */
int log_parse_level(const char *s, enum fl_log_level *out);
int log_parse_format(const char *s, enum fl_log_format *out);

/* The --log.level and --log.format flags every program takes: parse VALUE
 * of FLAG ("log.level" or "log.format") into LEVEL or FORMAT.  On a bad
 * value, prints "PROG: --FLAG: ..." to stderr and returns -1. */
int log_flag(const char *prog, const char *flag, const char *value, enum fl_log_level *level,
             enum fl_log_format *format);

/* Emit one line: msg="<formatted text>" at the given level. */
void log_msg(enum fl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(FL_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(FL_LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(FL_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(FL_LOG_ERROR, __VA_ARGS__)

#endif
