#include "cfg.h"

#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timeutil.h"

struct cfg {
    char *name;
    char *text; /* the document refers into it: kept for its lifetime */
    struct fy_document *doc;
    char *errors; /* "file:line:col: msg\n" ... */
    size_t errors_len;
    int nerrors;
};

static void cfg__append(struct cfg *c, const char *line)
{
    size_t n = strlen(line);
    char *p = realloc(c->errors, c->errors_len + n + 2);
    if (!p)
        return;
    memcpy(p + c->errors_len, line, n);
    p[c->errors_len + n] = '\n';
    p[c->errors_len + n + 1] = 0;
    c->errors = p;
    c->errors_len += n + 1;
    c->nerrors++;
}

static void cfg__first_error(const struct cfg *c, char *err, size_t errlen)
{
    if (!c->errors) {
        snprintf(err, errlen, "%s: not a valid YAML document", c->name);
        return;
    }
    snprintf(err, errlen, "%.*s", (int)strcspn(c->errors, "\n"), c->errors);
}

/* The position of the first byte that is not valid UTF-8 (or a NUL), as
 * 1-based line and column, or 0 when the text is clean.  YAML is Unicode,
 * and libfyaml 0.7 can loop forever on some invalid bytes, so they are
 * refused before it sees them. */
static int cfg__bad_utf8(const unsigned char *s, size_t len, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < len;) {
        unsigned char b = s[i];
        size_t n = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3
                                : (b & 0xf8) == 0xf0 ? 4 : 0;
        if (b == 0 || n == 0 || i + n > len || (n == 2 && b < 0xc2) || (n == 4 && b > 0xf4))
            return 1;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 1;
        if (b == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
        i += n;
    }
    return 0;
}

/* Debian's libfyaml 0.7.12 can crash (SEGV in fy_parse_cleanup) or spin
 * on some inputs.  A configuration file must never take a daemon down, so
 * the text is parsed once in a child first: when that child dies or runs
 * out of time, the file is refused with a clear error instead.  Returns 0
 * when the parser survives the text. */
static int cfg__parser_survives(const char *name, const char *text, size_t len, char *err,
                                size_t errlen)
{
    pid_t pid = fork();
    if (pid < 0)
        return 0; /* cannot tell: parse in-process as before */
    if (pid == 0) {
        /* Die the plain way (test harnesses and sanitizers install
         * handlers), and quietly: the parent reports. */
        int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGALRM};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO);
        alarm(5);
        struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET};
        struct fy_document *doc = fy_document_build_from_string(&pcfg, text, len);
        if (doc)
            fy_document_destroy(doc);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        snprintf(err, errlen,
                 "%s: the YAML parser %s on this file (signal %d); it is not a valid "
                 "configuration",
                 name, WTERMSIG(status) == SIGALRM ? "did not finish" : "crashed",
                 WTERMSIG(status));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { /* a sanitizer's report */
        snprintf(err, errlen, "%s: the YAML parser crashed on this file; it is not a valid "
                 "configuration", name);
        return -1;
    }
    return 0;
}

struct cfg *cfg_open_buffer(const char *name, const char *text, size_t len, char *err,
                            size_t errlen)
{
    int line, col;
    if (cfg__bad_utf8((const unsigned char *)text, len, &line, &col)) {
        snprintf(err, errlen, "%s:%d:%d: not valid UTF-8 text", name, line, col);
        return NULL;
    }
    if (cfg__parser_survives(name, text, len, err, errlen) != 0)
        return NULL;
    struct cfg *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(name)) || !(c->text = malloc(len + 1))) {
        snprintf(err, errlen, "%s: out of memory", name);
        cfg_close(&c);
        return NULL;
    }
    memcpy(c->text, text, len);
    c->text[len] = 0;
    /* Collect the parser's diagnostics instead of letting it print them,
     * so they come out in our one format. */
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (diag)
        fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG, .diag = diag};
    c->doc = fy_document_build_from_string(&pcfg, c->text, len);
    void *probe = NULL;
    if (!c->doc && diag && !fy_diag_errors_iterate(diag, &probe))
        c->doc = fy_document_create(&pcfg); /* no document at all: an empty one */
    if (!c->doc) {
        void *iter = NULL;
        struct fy_diag_error *e;
        while (diag && (e = fy_diag_errors_iterate(diag, &iter)) != NULL) {
            char text_line[600];
            snprintf(text_line, sizeof text_line, "%s:%d:%d: %s", c->name, e->line, e->column,
                     e->msg);
            cfg__append(c, text_line);
        }
        cfg__first_error(c, err, errlen);
        if (diag)
            fy_diag_destroy(diag);
        cfg_close(&c);
        return NULL;
    }
    if (diag)
        fy_diag_destroy(diag);
    return c;
}

struct cfg *cfg_open(const char *path, char *err, size_t errlen)
{
    struct cfg *c = NULL;
    char *text = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if (st.st_size > FL_CFG_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %d bytes", path, FL_CFG_MAX_FILE);
        goto out;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text)
        goto out;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
        if (n <= 0) {
            snprintf(err, errlen, "%s: read: %s", path, n ? strerror(errno) : "short read");
            goto out;
        }
        got += (size_t)n;
    }
    text[got] = 0;
    c = cfg_open_buffer(path, text, got, err, errlen);
out:
    free(text);
    close(fd);
    return c;
}

void cfg_close(struct cfg **pc)
{
    if (!pc || !*pc)
        return;
    struct cfg *c = *pc;
    if (c->doc)
        fy_document_destroy(c->doc);
    free(c->errors);
    free(c->text);
    free(c->name);
    free(c);
    *pc = NULL;
}

struct fy_node *cfg_root(struct cfg *c)
{
    return fy_document_root(c->doc);
}

int cfg_error_count(const struct cfg *c)
{
    return c->nerrors;
}

const char *cfg_errors(const struct cfg *c)
{
    return c->errors ? c->errors : "";
}

/* libfyaml keeps positions on tokens; a scalar has one, a collection is
 * reported at its first scalar, which is close enough to point at it. */
static const struct fy_mark *cfg__mark(struct fy_node *node)
{
    while (node) {
        if (fy_node_is_scalar(node)) {
            struct fy_token *t = fy_node_get_scalar_token(node);
            return t ? fy_token_start_mark(t) : NULL;
        }
        void *iter = NULL;
        if (fy_node_is_mapping(node)) {
            struct fy_node_pair *p = fy_node_mapping_iterate(node, &iter);
            node = p ? fy_node_pair_key(p) : NULL;
        } else {
            node = fy_node_sequence_iterate(node, &iter);
        }
    }
    return NULL;
}

void cfg_error(struct cfg *c, struct fy_node *node, const char *fmt, ...)
{
    char msg[400], line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const struct fy_mark *m = cfg__mark(node);
    snprintf(line, sizeof line, "%s:%d:%d: %s", c->name, m ? m->line + 1 : 1,
             m ? m->column + 1 : 1, msg);
    cfg__append(c, line);
}

const char *cfg_key_name(struct fy_node *key)
{
    const char *s = key ? fy_node_get_scalar0(key) : NULL;
    return s ? s : "?";
}

const char *cfg_scalar(struct cfg *c, struct fy_node *key, struct fy_node *val)
{
    if (!val || !fy_node_is_scalar(val)) {
        cfg_error(c, val ? val : key, "%s: expected a single value", cfg_key_name(key));
        return NULL;
    }
    const char *s = fy_node_get_scalar0(val);
    if (!s)
        cfg_error(c, key, "%s: out of memory", cfg_key_name(key));
    return s;
}

int cfg_map(struct cfg *c, struct fy_node *node, const char *what,
            const struct cfg_field *fields, void *obj)
{
    int before = c->nerrors;
    if (!node || !fy_node_is_mapping(node)) {
        cfg_error(c, node, "%s: expected a mapping of keys to values", what);
        return c->nerrors - before;
    }
    void *iter = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(node, &iter)) != NULL) {
        struct fy_node *key = fy_node_pair_key(p);
        struct fy_node *val = fy_node_pair_value(p);
        const char *name = key && fy_node_is_scalar(key) ? fy_node_get_scalar0(key) : NULL;
        if (!name) {
            cfg_error(c, key, "%s: keys must be plain names", what);
            continue;
        }
        const struct cfg_field *f = fields;
        while (f->name && strcmp(f->name, name) != 0)
            f++;
        if (!f->name) {
            cfg_error(c, key, "%s: unknown key '%s'", what, name);
            continue;
        }
        f->parse(c, key, val, (char *)obj + f->offset, f->arg);
    }
    return c->nerrors - before;
}

int cfg_parse_string(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                     const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    if (!s)
        return -1;
    if (!*s) {
        cfg_error(c, val, "%s: must not be empty", cfg_key_name(key));
        return -1;
    }
    if (strlen(s) > 4096) {
        cfg_error(c, val, "%s: longer than 4096 characters", cfg_key_name(key));
        return -1;
    }
    char **dst = out;
    free(*dst);
    *dst = strdup(s);
    return *dst ? 0 : -1;
}

int cfg_parse_duration(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                       const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    int64_t us;
    if (!s)
        return -1;
    if (time_parse_duration(s, &us) != 0) {
        cfg_error(c, val, "%s: '%.40s' is not a duration (like 500ms, 15s, 2m)",
                  cfg_key_name(key), s);
        return -1;
    }
    const struct cfg_range *r = arg;
    if (r && (us < r->min || us > r->max)) {
        cfg_error(c, val, "%s: %s is out of range (%lldms to %lldms)", cfg_key_name(key), s,
                  (long long)(r->min / 1000), (long long)(r->max / 1000));
        return -1;
    }
    *(int64_t *)out = us;
    return 0;
}

int cfg_parse_int(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                  const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    if (!s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) {
        cfg_error(c, val, "%s: '%.40s' is not an integer", cfg_key_name(key), s);
        return -1;
    }
    const struct cfg_range *r = arg;
    if (r && (v < r->min || v > r->max)) {
        cfg_error(c, val, "%s: %lld is out of range (%lld to %lld)", cfg_key_name(key), v,
                  (long long)r->min, (long long)r->max);
        return -1;
    }
    *(int64_t *)out = v;
    return 0;
}

int cfg_parse_bool(struct cfg *c, struct fy_node *key, struct fy_node *val, void *out,
                   const void *arg)
{
    const char *s = cfg_scalar(c, key, val);
    if (!s)
        return -1;
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)
        *(int *)out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)
        *(int *)out = 0;
    else {
        cfg_error(c, val, "%s: '%.40s' is not true or false", cfg_key_name(key), s);
        return -1;
    }
    return 0;
}
