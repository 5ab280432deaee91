#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "wire.h"

/* A draft option in zmq.h 4.3, built into Debian's libzmq5 (the unit
 * test of the collector's socket proves it refuses what no handler
 * answered). */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

static int transport__set(void *s, int opt, int value)
{
    return zmq_setsockopt(s, opt, &value, sizeof value);
}

/* Options both ends share: a message size limit enforced by libzmq before
 * anything reaches our decoder (the peer is disconnected), and ZMTP
 * heartbeats so a dead peer is noticed in seconds, not at TCP's pace. */
static int transport__common(void *s)
{
    int64_t maxmsg = FL_WIRE_MAX_MSG;
    if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0)
        return -1;
    if (transport__set(s, ZMQ_HEARTBEAT_IVL, 2000) || transport__set(s, ZMQ_HEARTBEAT_TIMEOUT, 6000) ||
        transport__set(s, ZMQ_HEARTBEAT_TTL, 6000) || transport__set(s, ZMQ_HANDSHAKE_IVL, 5000))
        return -1;
    return 0;
}

static int transport__z85(const char *s, size_t n)
{
    static const char set[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              ".-:+=^!/*?&<>()[]{}@%$#";
    if (n != FL_KEY_Z85)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(set, s[i]))
            return 0;
    return 1;
}

static int transport__write(const char *path, mode_t mode, const char *text, char *err,
                            size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        snprintf(err, errlen, "%s: %s", path, strerror(saved));
        unlink(path);
        return -1;
    }
    return 0;
}

int transport_keygen(const char *prefix, char *err, size_t errlen)
{
    char pub[FL_KEY_Z85 + 1], sec[FL_KEY_Z85 + 1], path[4096], text[512];
    if (zmq_curve_keypair(pub, sec) != 0) {
        snprintf(err, errlen, "zmq_curve_keypair: %s (libzmq without CURVE?)", zmq_strerror(errno));
        return -1;
    }
    snprintf(text, sizeof text,
             "#   faultline CURVE key pair: keep this file secret (the .pub is for the other end)\n"
             "metadata\ncurve\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",
             pub, sec);
    if (snprintf(path, sizeof path, "%s.key", prefix) >= (int)sizeof path) {
        snprintf(err, errlen, "%.100s...: path too long", prefix);
        return -1;
    }
    if (transport__write(path, 0600, text, err, errlen))
        return -1;
    snprintf(text, sizeof text,
             "#   faultline CURVE public key\nmetadata\ncurve\n    public-key = \"%s\"\n", pub);
    snprintf(path, sizeof path, "%s.pub", prefix);
    if (transport__write(path, 0644, text, err, errlen)) {
        snprintf(path, sizeof path, "%s.key", prefix);
        unlink(path);
        return -1;
    }
    memset(sec, 0, sizeof sec);
    return 0;
}

/* The value of `NAME = "..."` in TEXT, into OUT. */
static int transport__field(const char *text, const char *name, char out[FL_KEY_Z85 + 1])
{
    for (const char *p = text; (p = strstr(p, name)); p++) {
        if (p > text && p[-1] != ' ' && p[-1] != '\t' && p[-1] != '\n')
            continue;
        const char *q = p + strlen(name);
        q += strspn(q, " \t");
        if (*q++ != '=')
            continue;
        q += strspn(q, " \t");
        if (*q++ != '"')
            continue;
        size_t n = strcspn(q, "\"\n");
        if (q[n] != '"' || !transport__z85(q, n))
            return -1;
        memcpy(out, q, n);
        out[n] = '\0';
        return 0;
    }
    return -1;
}

int transport_key_load(const char *spec, char pub[FL_KEY_Z85 + 1], char sec[FL_KEY_Z85 + 1],
                       char *err, size_t errlen)
{
    /* An inline key says so: a value is never guessed to be a key from its
     * length and alphabet (a 40-character path is as likely as not to be
     * made of Z85 characters only). */
    if (!strncmp(spec, FL_KEY_INLINE, strlen(FL_KEY_INLINE))) {
        const char *k = spec + strlen(FL_KEY_INLINE);
        uint8_t raw[32];
        if (sec) {
            snprintf(err, errlen, "a secret key is never given inline: name its .key file");
            return -1;
        }
        if (!transport__z85(k, strlen(k)) || !zmq_z85_decode(raw, k)) {
            snprintf(err, errlen, "'%.50s': not a public key (" FL_KEY_INLINE
                                  " and 40 Z85 characters)", spec);
            return -1;
        }
        memcpy(pub, k, FL_KEY_Z85 + 1);
        return 0;
    }
    if (!spec[0]) {
        snprintf(err, errlen, "empty key path");
        return -1;
    }
    char text[4096];
    FILE *f = fopen(spec, "re");
    struct stat st;
    if (!f) {
        snprintf(err, errlen, "%s: %s", spec, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "%s: %s", spec, strerror(errno));
        fclose(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: %s", spec,
                 S_ISDIR(st.st_mode) ? "a directory, not a key file" : "not a regular file");
        fclose(f);
        return -1;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    int bad = ferror(f) || !feof(f);
    fclose(f);
    text[n] = '\0';
    if (bad) {
        snprintf(err, errlen, "%s: not a key file (unreadable or larger than 4 KiB)", spec);
        return -1;
    }
    uint8_t raw[32];
    if (transport__field(text, "public-key", pub) != 0 || !zmq_z85_decode(raw, pub)) {
        snprintf(err, errlen, "%s: no public-key = \"<40 Z85 characters>\" (faultline keygen writes "
                              "key files)", spec);
        return -1;
    }
    if (sec && (transport__field(text, "secret-key", sec) != 0 || !zmq_z85_decode(raw, sec))) {
        snprintf(err, errlen, "%s: no secret-key: this is a public key, the .key file is needed here",
                 spec);
        return -1;
    }
    memset(text, 0, sizeof text);
    return 0;
}

static int transport__setkey(void *s, int opt, const char *key)
{
    return zmq_setsockopt(s, opt, key, FL_KEY_Z85);
}

/* EVENTS of S, to be read on a PAIR socket (*MONITOR). */
static int transport__monitor(void *zctx, void *s, int events, void **monitor, char *err,
                              size_t errlen)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://faultline-monitor-%p", s);
    if (zmq_socket_monitor(s, ep, events) || !(*monitor = zmq_socket(zctx, ZMQ_PAIR)) ||
        zmq_connect(*monitor, ep) != 0) {
        snprintf(err, errlen, "connection monitor: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/* The last steps of opening S: its monitor for EVENTS into *MONITOR (when
 * MONITOR is not NULL), then ATTACH (zmq_connect or zmq_bind, VERB in
 * errors) to ENDPOINT.  S, or NULL with S closed and a reason in ERR. */
static void *transport__attach(void *zctx, void *s, int events, void **monitor,
                               int (*attach)(void *, const char *), const char *verb,
                               const char *endpoint, char *err, size_t errlen)
{
    if (monitor && transport__monitor(zctx, s, events, monitor, err, errlen) != 0)
        goto fail;
    if (attach(s, endpoint) != 0) {
        snprintf(err, errlen, "%s %s: %s", verb, endpoint, zmq_strerror(errno));
        goto fail;
    }
    return s;
fail:
    if (monitor && *monitor) {
        zmq_close(*monitor);
        *monitor = NULL;
    }
    zmq_close(s);
    return NULL;
}

void *transport_agent_open(void *zctx, const char *endpoint, const struct transport_keys *keys,
                           void **monitor, char *err, size_t errlen)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    if (!s) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
        return NULL;
    }
    /* The agent's own heartbeat is quicker than the collector's: a link
     * silent for 1.5 s after a PING (sent every 500 ms) is dropped and
     * dialled again, instead of waiting on TCP's retransmission back-off
     * (1.6 s and more between tries after a second or two of loss) once
     * the network is back.  A reconnection costs a handshake and a resend
     * of what was in flight, which the collector drops as duplicates. */
    if (transport__common(s) || transport__set(s, ZMQ_HEARTBEAT_IVL, 500) ||
        transport__set(s, ZMQ_HEARTBEAT_TIMEOUT, 1500) || transport__set(s, ZMQ_LINGER, 0) ||
        transport__set(s, ZMQ_IMMEDIATE, 1) || transport__set(s, ZMQ_RECONNECT_IVL, 100) ||
        transport__set(s, ZMQ_RECONNECT_IVL_MAX, 250) || transport__set(s, ZMQ_CONNECT_TIMEOUT, 500) ||
        transport__set(s, ZMQ_SNDHWM, 64)) {
        snprintf(err, errlen, "zmq_setsockopt: %s", zmq_strerror(errno));
        goto fail;
    }
    if (!keys->insecure &&
        (transport__setkey(s, ZMQ_CURVE_SERVERKEY, keys->server_key) ||
         transport__setkey(s, ZMQ_CURVE_PUBLICKEY, keys->public_key) ||
         transport__setkey(s, ZMQ_CURVE_SECRETKEY, keys->secret_key))) {
        snprintf(err, errlen, "CURVE keys: %s", zmq_strerror(errno));
        goto fail;
    }
    /* Before the connect, so that the first connection is seen too. */
    return transport__attach(zctx, s,
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                             monitor, zmq_connect, "connect", endpoint, err, errlen);
fail:
    zmq_close(s);
    return NULL;
}

/* A monitor message is two frames: 2 bytes of event, 4 of value; then the
 * endpoint. */
enum transport_event transport_event(void *monitor, uint32_t *value)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return TRANSPORT_NONE;
        }
        uint16_t event = 0;
        uint32_t v = 0;
        int first = zmq_msg_size(&m) >= 6, more = zmq_msg_more(&m);
        if (first) {
            memcpy(&event, zmq_msg_data(&m), sizeof event);
            memcpy(&v, (const char *)zmq_msg_data(&m) + sizeof event, sizeof v);
        }
        zmq_msg_close(&m);
        while (more) { /* the rest of this event */
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, monitor, ZMQ_DONTWAIT) < 0)
                more = 0;
            else
                more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        if (!first)
            continue;
        if (value)
            *value = v;
        switch (event) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return TRANSPORT_UP;
        case ZMQ_EVENT_DISCONNECTED: return TRANSPORT_DOWN;
        case ZMQ_EVENT_ACCEPTED: return TRANSPORT_ACCEPTED;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return TRANSPORT_REFUSED;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return TRANSPORT_FAILED;
        default: break;
        }
    }
}

void *transport_collector_open(void *zctx, const char *endpoint,
                               const struct transport_keys *keys, void **monitor, char *err,
                               size_t errlen)
{
    void *s = zmq_socket(zctx, ZMQ_ROUTER);
    if (!s) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
        return NULL;
    }
    /* Acks are small and only ever describe committed rows; one that is
     * lost is made good by the next one, so a short linger is enough. */
    if (transport__common(s) || transport__set(s, ZMQ_LINGER, 200) ||
        transport__set(s, ZMQ_SNDHWM, 100000) || transport__set(s, ZMQ_RCVHWM, 100000)) {
        snprintf(err, errlen, "zmq_setsockopt: %s", zmq_strerror(errno));
        goto fail;
    }
    /* Fail closed: with ZMQ_ZAP_ENFORCE_DOMAIN a handshake that no ZAP
     * handler answers is refused (without it libzmq lets any key in). */
    if (!keys->insecure &&
        (transport__set(s, ZMQ_CURVE_SERVER, 1) ||
         transport__setkey(s, ZMQ_CURVE_SECRETKEY, keys->secret_key) ||
         zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, FL_ZAP_DOMAIN, strlen(FL_ZAP_DOMAIN)) ||
         transport__set(s, ZMQ_ZAP_ENFORCE_DOMAIN, 1))) {
        snprintf(err, errlen, "CURVE: %s", zmq_strerror(errno));
        goto fail;
    }
    return transport__attach(zctx, s,
                             ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                             monitor, zmq_bind, "bind", endpoint, err, errlen);
fail:
    zmq_close(s);
    return NULL;
}

int transport_redial(void *s, const char *endpoint, char *err, size_t errlen)
{
    (void)zmq_disconnect(s, endpoint); /* ENOENT: the session already ended */
    if (zmq_connect(s, endpoint) != 0) {
        snprintf(err, errlen, "connect %s: %s", endpoint, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

void transport_free(void **sock)
{
    if (sock && *sock) {
        zmq_close(*sock);
        *sock = NULL;
    }
}
