#include "auth.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <zmq.h>

#include "grow.h"
#include "log.h"
#include "timeutil.h"
#include "transport.h"

#define AUTH_NAME 64

struct auth_entry {
    char name[AUTH_NAME];
    uint8_t key[32];
    int fd; /* seen: the connection's socket; -1 when unknown */
};

struct auth {
    void *sock;
    char *path;
    struct auth_entry *list, *seen;
    size_t nlist, caplist, nseen, capseen;
    uint64_t accepted, refused, revoked;
    struct auth_refusal knocking[AUTH_REFUSALS]; /* keys refused, unordered */
    size_t nknocking;
    int knocking_changed;
};

static int auth__name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= AUTH_NAME)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    return 1;
}

int auth_parse_list(const char *text, int (*fn)(void *arg, const char *name, const char *key),
                    void *arg, char *err, size_t errlen)
{
    int line = 0;
    for (const char *p = text; *p;) {
        line++;
        size_t len = strcspn(p, "\n");
        char buf[256], name[256], key[256], extra[8];
        if (len >= sizeof buf) {
            snprintf(err, errlen, "line %d: longer than %zu characters", line, sizeof buf - 1);
            return -1;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        p += len + (p[len] == '\n');
        /* '#' is a Z85 character too: a comment starts at one that begins
         * a word. */
        for (char *h = buf; (h = strchr(h, '#')); h++)
            if (h == buf || h[-1] == ' ' || h[-1] == '\t') {
                *h = '\0';
                break;
            }
        int n = sscanf(buf, "%255s %255s %7s", name, key, extra);
        if (n <= 0)
            continue;
        if (n != 2) {
            snprintf(err, errlen, "line %d: expected \"NAME PUBLIC-KEY\"", line);
            return -1;
        }
        if (!auth__name_ok(name)) {
            snprintf(err, errlen, "line %d: '%.40s' is not an agent name (letters, digits, '.', '-', "
                                  "'_'; at most %d)", line, name, AUTH_NAME - 1);
            return -1;
        }
        uint8_t raw[32];
        if (strlen(key) != FL_KEY_Z85 || !zmq_z85_decode(raw, key)) {
            snprintf(err, errlen, "line %d: '%.50s' is not a public key (40 Z85 characters)", line,
                     key);
            return -1;
        }
        if (fn(arg, name, key) != 0) {
            snprintf(err, errlen, "line %d: out of memory", line);
            return -1;
        }
    }
    return 0;
}

struct auth__load {
    struct auth_entry *list;
    size_t n, cap;
    char dup[2 * AUTH_NAME + 64]; /* the first entry that repeats another */
};

/* One name, one key: a name listed twice, or one key under two names (the
 * agent's identity would be whichever comes first), is refused. */
static int auth__add(void *arg, const char *name, const char *key)
{
    struct auth__load *l = arg;
    uint8_t raw[32];
    zmq_z85_decode(raw, key);
    for (size_t i = 0; i < l->n && !l->dup[0]; i++) {
        if (!strcmp(l->list[i].name, name))
            snprintf(l->dup, sizeof l->dup, "agent %s is listed twice", name);
        else if (!memcmp(l->list[i].key, raw, sizeof raw))
            snprintf(l->dup, sizeof l->dup, "agents %s and %s have the same key",
                     l->list[i].name, name);
    }
    if (FL_GROW(l->list, l->cap, l->n, 16))
        return -1;
    struct auth_entry *e = &l->list[l->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    memcpy(e->key, raw, sizeof raw);
    e->fd = -1;
    return 0;
}

static int auth__load(const char *path, struct auth__load *l, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
        struct dirent *de;
        int rc = 0;
        while (rc == 0 && (de = readdir(d))) {
            size_t n = strlen(de->d_name);
            if (n < 5 || strcmp(de->d_name + n - 4, ".pub"))
                continue;
            char name[256], file[4096], pub[FL_KEY_Z85 + 1];
            snprintf(name, sizeof name, "%.*s", (int)(n - 4), de->d_name);
            snprintf(file, sizeof file, "%s/%s", path, de->d_name);
            if (!auth__name_ok(name)) {
                snprintf(err, errlen, "%s: '%.40s' is not an agent name", file, name);
                rc = -1;
            } else if (transport_key_load(file, pub, NULL, err, errlen) != 0) {
                rc = -1;
            } else if (auth__add(l, name, pub) != 0) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
            }
        }
        closedir(d);
        if (rc)
            goto fail;
    } else {
        FILE *f = fopen(path, "re");
        if (!f) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
        char *text = malloc(1 << 20);
        size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
        int bad = !text || ferror(f) || !feof(f);
        fclose(f);
        if (bad) {
            snprintf(err, errlen, "%s: unreadable or larger than 1 MiB", path);
            free(text);
            return -1;
        }
        text[n] = '\0';
        char why[200];
        int rc = auth_parse_list(text, auth__add, l, why, sizeof why);
        free(text);
        if (rc) {
            snprintf(err, errlen, "%s: %s", path, why);
            goto fail;
        }
    }
    if (l->dup[0]) {
        snprintf(err, errlen, "%s: %s", path, l->dup);
        goto fail;
    }
    return 0;
fail:
    free(l->list);
    l->list = NULL;
    return -1;
}

struct auth *auth_new(void *zctx, const char *allow, char *err, size_t errlen)
{
    struct auth *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(allow))) {
        snprintf(err, errlen, "out of memory");
        free(a);
        return NULL;
    }
    struct auth__load l;
    if (auth__load(allow, &l, err, errlen) != 0) {
        auth_free(&a);
        return NULL;
    }
    a->list = l.list;
    a->nlist = l.n;
    a->caplist = l.cap;
    a->sock = zmq_socket(zctx, ZMQ_REP);
    int linger = 0;
    if (!a->sock || zmq_setsockopt(a->sock, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(a->sock, "inproc://zeromq.zap.01") != 0) {
        snprintf(err, errlen, "ZAP handler: %s", zmq_strerror(errno));
        auth_free(&a);
        return NULL;
    }
    return a;
}

void auth_free(struct auth **pa)
{
    if (!pa || !*pa)
        return;
    struct auth *a = *pa;
    if (a->sock)
        zmq_close(a->sock);
    free(a->list);
    free(a->seen);
    free(a->path);
    free(a);
    *pa = NULL;
}

void *auth_socket(const struct auth *a)
{
    return a->sock;
}

static const struct auth_entry *auth__lookup(const struct auth *a, const uint8_t *key)
{
    for (size_t i = 0; i < a->nlist; i++)
        if (!memcmp(a->list[i].key, key, 32))
            return &a->list[i];
    return NULL;
}

/* One more handshake refused for KEY from ADDR; the number of times KEY
 * was refused.  The table keeps the AUTH_REFUSALS keys seen last. */
static uint64_t auth__knock(struct auth *a, const char *key, const char *addr)
{
    struct auth_refusal *r = NULL;
    for (size_t i = 0; i < a->nknocking && !r; i++)
        if (!strcmp(a->knocking[i].key, key))
            r = &a->knocking[i];
    int64_t now = time_now_us();
    if (!r) {
        if (a->nknocking < AUTH_REFUSALS) {
            r = &a->knocking[a->nknocking++];
        } else { /* forget the one not seen for longest */
            r = &a->knocking[0];
            for (size_t i = 1; i < a->nknocking; i++)
                if (a->knocking[i].last_us < r->last_us)
                    r = &a->knocking[i];
        }
        *r = (struct auth_refusal){.first_us = now};
        snprintf(r->key, sizeof r->key, "%s", key);
    }
    snprintf(r->address, sizeof r->address, "%s", addr);
    r->last_us = now;
    a->knocking_changed = 1;
    return ++r->count;
}

size_t auth_refusals(const struct auth *a, const struct auth_refusal **list)
{
    *list = a->knocking;
    return a->nknocking;
}

int auth_refusals_changed(struct auth *a)
{
    int c = a->knocking_changed;
    a->knocking_changed = 0;
    return c;
}

static void auth__send(void *sock, const void *data, size_t len, int more)
{
    zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0);
}

void auth_handle(struct auth *a)
{
    for (;;) {
        zmq_msg_t frames[8];
        size_t n = 0;
        int more = 1, got = 0;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, a->sock, got ? 0 : ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            got = 1;
            more = zmq_msg_more(&m);
            if (n < 8)
                frames[n++] = m;
            else
                zmq_msg_close(&m);
        }
        if (!got)
            return;
        /* version, request id, domain, address, routing id, mechanism, key */
        const char *status = "400", *text = "not allowed";
        char name[AUTH_NAME] = "", addr[64] = "?";
        if (n >= 4)
            snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&frames[3]),
                     (const char *)zmq_msg_data(&frames[3]));
        if (n < 7 || zmq_msg_size(&frames[0]) != 3 || memcmp(zmq_msg_data(&frames[0]), "1.0", 3)) {
            status = "500";
            text = "malformed ZAP request";
        } else if (zmq_msg_size(&frames[5]) != 5 || memcmp(zmq_msg_data(&frames[5]), "CURVE", 5)) {
            text = "CURVE only";
        } else if (zmq_msg_size(&frames[6]) == 32) {
            const struct auth_entry *e = auth__lookup(a, zmq_msg_data(&frames[6]));
            if (e) {
                status = "200";
                text = "OK";
                snprintf(name, sizeof name, "%s", e->name);
            }
        }
        if (!strcmp(status, "200")) {
            a->accepted++;
            log_debug("agent %s connects from %s", name, addr);
        } else {
            a->refused++;
            char key[FL_KEY_Z85 + 1] = "?";
            if (n >= 7 && zmq_msg_size(&frames[6]) == 32)
                zmq_z85_encode(key, zmq_msg_data(&frames[6]), 32);
            uint64_t times = auth__knock(a, key, addr);
            /* The 1st, 2nd, 4th, 8th ... time: an agent refused keeps trying. */
            if ((times & (times - 1)) == 0)
                log_warn("refused a connection from %s (key %s): %s (%llu time%s; list the key "
                         "in %s and send SIGHUP to let it in)",
                         addr, key, text, (unsigned long long)times, times == 1 ? "" : "s",
                         a->path);
        }
        auth__send(a->sock, "1.0", 3, 1);
        if (n >= 2)
            auth__send(a->sock, zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), 1);
        else
            auth__send(a->sock, "", 0, 1);
        auth__send(a->sock, status, 3, 1);
        auth__send(a->sock, text, strlen(text), 1);
        auth__send(a->sock, name, strlen(name), 1);
        auth__send(a->sock, "", 0, 0);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
    }
}

void auth_seen(struct auth *a, const char *name, int fd)
{
    for (size_t i = 0; i < a->nseen; i++)
        if (!strcmp(a->seen[i].name, name)) {
            a->seen[i].fd = fd;
            return;
        }
    const struct auth_entry *e = NULL;
    for (size_t i = 0; i < a->nlist && !e; i++)
        if (!strcmp(a->list[i].name, name))
            e = &a->list[i];
    if (!e || FL_GROW(a->seen, a->capseen, a->nseen, 16))
        return;
    a->seen[a->nseen] = *e;
    a->seen[a->nseen++].fd = fd;
}

int auth_reload(struct auth *a, char *err, size_t errlen)
{
    struct auth__load l;
    if (auth__load(a->path, &l, err, errlen) != 0)
        return -1;
    free(a->list);
    a->list = l.list;
    a->nlist = l.n;
    a->caplist = l.cap;
    /* Cut who is no longer let in: libzmq sees the connection end, and the
     * agent's next handshake is refused. */
    size_t kept = 0;
    for (size_t i = 0; i < a->nseen; i++) {
        const struct auth_entry *s = &a->seen[i];
        const struct auth_entry *e = auth__lookup(a, s->key);
        if (e && !strcmp(e->name, s->name)) {
            a->seen[kept++] = *s;
            continue;
        }
        a->revoked++;
        log_warn("agent %s is no longer allowed: its connection is cut", s->name);
        if (s->fd >= 0)
            shutdown(s->fd, SHUT_RDWR);
    }
    a->nseen = kept;
    /* A key listed now is no longer knocking. */
    kept = 0;
    for (size_t i = 0; i < a->nknocking; i++) {
        uint8_t key[32];
        if (zmq_z85_decode(key, a->knocking[i].key) && auth__lookup(a, key))
            continue;
        a->knocking[kept++] = a->knocking[i];
    }
    if (kept != a->nknocking)
        a->knocking_changed = 1;
    a->nknocking = kept;
    log_info("allow-list %s: %zu agents", a->path, a->nlist);
    return 0;
}

size_t auth_listed(const struct auth *a)
{
    return a->nlist;
}

uint64_t auth_accepted(const struct auth *a) { return a->accepted; }
uint64_t auth_refused(const struct auth *a) { return a->refused; }
uint64_t auth_revoked(const struct auth *a) { return a->revoked; }
