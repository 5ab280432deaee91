/* flood: hostile input for the collector, for the reliability loops.
 *
 *   fl_flood messages ENDPOINT SERVER_KEY AGENT_KEY COUNT [SEED]
 *       As an authenticated agent, send COUNT messages: valid envelopes
 *       (Batch, Hello, Heartbeat, Gap) mutated at random (bits flipped,
 *       bytes overwritten, cut short, random bytes appended), or random
 *       bytes outright.  Each message is also decoded here, so the tool
 *       prints how many the collector must reject:
 *       {"sent":N,"invalid":N,"valid":N}
 *   fl_flood garbage HOST PORT CONNECTIONS [SEED]
 *       Open CONNECTIONS TCP connections at once, send each 0-4096 random
 *       bytes (a few start like a ZeroMQ greeting), keep them open, and
 *       wait up to 30 s for the collector to close them:
 *       {"connections":N,"closed_by_peer":N}
 *
 * Deterministic for a SEED. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "timeutil.h"
#include "transport.h"
#include "wire.h"

static uint64_t flood_state = 88172645463325252ull;

static uint64_t flood_rand(void)
{
    flood_state ^= flood_state << 13;
    flood_state ^= flood_state >> 7;
    flood_state ^= flood_state << 17;
    return flood_state;
}

static uint32_t flood_below(uint32_t n) { return n ? (uint32_t)(flood_rand() % n) : 0; }

/* A valid envelope of a random kind; its packed bytes in *OUT. */
static size_t flood_valid(uint8_t **out)
{
    static char agent[] = "flood", target[] = "flood.target", addr[] = "127.0.1.1",
                msg[] = "connection refused", reason[] = "outbox full", version[] = "0.1.0";
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.agent = agent;
    fl_result res[8], *rp[8];
    Faultline__TcpDetail tcp[8];
    Faultline__Batch b = FAULTLINE__BATCH__INIT;
    Faultline__Hello h = FAULTLINE__HELLO__INIT;
    Faultline__Heartbeat hb = FAULTLINE__HEARTBEAT__INIT;
    Faultline__Gap g = FAULTLINE__GAP__INIT;
    uint64_t epoch = 1 + flood_below(4);
    switch (flood_below(8)) {
    case 0:
        h.epoch = epoch;
        h.next_seq = 1 + flood_below(1000000);
        h.version = version;
        env.body_case = FAULTLINE__ENVELOPE__BODY_HELLO;
        env.hello = &h;
        break;
    case 1:
        hb.epoch = epoch;
        hb.version = version;
        hb.spool_depth = flood_below(1000);
        hb.sent_us = (int64_t)time_now_us();
        env.body_case = FAULTLINE__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &hb;
        break;
    case 2:
        g.epoch = epoch;
        g.from_seq = 1 + flood_below(1000000);
        g.to_seq = g.from_seq + flood_below(1000);
        g.reason = reason;
        env.body_case = FAULTLINE__ENVELOPE__BODY_GAP;
        env.gap = &g;
        break;
    default:
        b.epoch = epoch;
        b.n_results = 1 + flood_below(8);
        for (size_t i = 0; i < b.n_results; i++) {
            faultline__result__init(&res[i]);
            faultline__tcp_detail__init(&tcp[i]);
            tcp[i].port = 9;
            tcp[i].outcome = FAULTLINE__TCP_OUTCOME__TCP_REFUSED;
            res[i].seq = 1 + flood_below(1000000);
            res[i].probe = FAULTLINE__PROBE_TYPE__PROBE_TCP;
            res[i].target = target;
            res[i].address = addr;
            res[i].start_us = (int64_t)time_now_us();
            res[i].status = FAULTLINE__STATUS__STATUS_FAIL;
            res[i].fault_code = 0x3792;
            res[i].message = msg;
            res[i].detail_case = FAULTLINE__RESULT__DETAIL_TCP;
            res[i].tcp = &tcp[i];
            rp[i] = &res[i];
        }
        b.results = rp;
        env.body_case = FAULTLINE__ENVELOPE__BODY_BATCH;
        env.batch = &b;
    }
    return wire_encode(&env, out);
}

/* One hostile message in BUF (room for CAP bytes); its length. */
static size_t flood_message(uint8_t *buf, size_t cap)
{
    uint8_t *v;
    size_t len = flood_valid(&v);
    if (len > cap)
        len = cap;
    memcpy(buf, v, len);
    free(v);
    uint32_t how = flood_below(10);
    if (how == 0)
        return len; /* as it is: the collector must take it */
    if (how == 1) { /* random bytes */
        len = flood_below(2048);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)flood_rand();
        return len;
    }
    for (uint32_t k = 1 + flood_below(4); k-- && len;) {
        switch (flood_below(4)) {
        case 0: /* flip a bit */
            buf[flood_below((uint32_t)len)] ^= (uint8_t)(1u << flood_below(8));
            break;
        case 1: /* overwrite a byte */
            buf[flood_below((uint32_t)len)] = (uint8_t)flood_rand();
            break;
        case 2: /* cut short */
            len = flood_below((uint32_t)len);
            break;
        default: /* append */
            for (uint32_t n = 1 + flood_below(64); n-- && len < cap;)
                buf[len++] = (uint8_t)flood_rand();
        }
    }
    return len;
}

static int flood_messages(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: fl_flood messages ENDPOINT SERVER_KEY AGENT_KEY COUNT [SEED]\n");
        return 2;
    }
    struct transport_keys keys = {0};
    char err[256];
    if (transport_key_load(argv[3], keys.server_key, NULL, err, sizeof err) != 0 ||
        transport_key_load(argv[4], keys.public_key, keys.secret_key, err, sizeof err) != 0) {
        fprintf(stderr, "fl_flood: %s\n", err);
        return 1;
    }
    long count = atol(argv[5]);
    void *zctx = zmq_ctx_new();
    void *s = transport_agent_open(zctx, argv[2], &keys, NULL, err, sizeof err);
    if (!s) {
        fprintf(stderr, "fl_flood: %s\n", err);
        return 1;
    }
    /* Blocking sends (ZMQ_IMMEDIATE holds them until the link is up), and
     * every one sent before the socket closes. */
    int timeout = 10000;
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &timeout, sizeof timeout);
    static uint8_t buf[8192];
    long sent = 0, invalid = 0;
    for (long i = 0; i < count; i++) {
        size_t len = flood_message(buf, sizeof buf);
        struct wire_msg *m = NULL;
        if (wire_decode(buf, len, &m, NULL, 0) != WIRE_OK)
            invalid++;
        wire_msg_free(&m);
        if (zmq_send(s, buf, len, 0) < 0) {
            fprintf(stderr, "fl_flood: send: %s after %ld\n", zmq_strerror(errno), sent);
            break;
        }
        sent++;
        while (zmq_recv(s, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
            ; /* the collector's answers: not needed */
    }
    printf("{\"sent\":%ld,\"invalid\":%ld,\"valid\":%ld}\n", sent, invalid, sent - invalid);
    zmq_close(s);
    zmq_ctx_term(zctx);
    return sent == count ? 0 : 1;
}

static int flood_garbage(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: fl_flood garbage HOST PORT CONNECTIONS [SEED]\n");
        return 2;
    }
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &sin.sin_addr) != 1) {
        fprintf(stderr, "fl_flood: %s: not an IPv4 address\n", argv[2]);
        return 2;
    }
    int n = atoi(argv[4]);
    struct pollfd *fds = calloc((size_t)n, sizeof *fds);
    if (!fds)
        return 1;
    static const uint8_t greeting[10] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f};
    int open_ = 0;
    for (int i = 0; i < n; i++) {
        fds[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        fds[i].events = POLLIN;
        if (fds[i].fd < 0 || connect(fds[i].fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
            fprintf(stderr, "fl_flood: connect %d: %s\n", i, strerror(errno));
            if (fds[i].fd >= 0)
                close(fds[i].fd);
            fds[i].fd = -1;
            continue;
        }
        uint8_t buf[4096];
        size_t len = flood_below(sizeof buf + 1);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)flood_rand();
        if (i % 5 == 0 && len >= sizeof greeting) /* gets past the first check */
            memcpy(buf, greeting, sizeof greeting);
        if (len && send(fds[i].fd, buf, len, MSG_NOSIGNAL) < 0)
            fprintf(stderr, "fl_flood: send %d: %s\n", i, strerror(errno));
        open_++;
    }
    /* The collector must close every one: at the first bad byte, or when
     * the handshake times out. */
    int closed = 0;
    uint64_t end = time_mono_ns() + 30ull * 1000 * 1000 * 1000;
    while (closed < open_ && time_mono_ns() < end) {
        if (poll(fds, (nfds_t)n, 1000) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            char junk[4096];
            ssize_t r = recv(fds[i].fd, junk, sizeof junk, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                close(fds[i].fd);
                fds[i].fd = -1;
                closed++;
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    free(fds);
    printf("{\"connections\":%d,\"closed_by_peer\":%d}\n", open_, closed);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2) {
        int seedarg = strcmp(argv[1], "messages") == 0 ? 6 : 5;
        if (argc > seedarg && atoll(argv[seedarg]))
            flood_state = (uint64_t)atoll(argv[seedarg]);
        if (strcmp(argv[1], "messages") == 0)
            return flood_messages(argc, argv);
        if (strcmp(argv[1], "garbage") == 0)
            return flood_garbage(argc, argv);
    }
    fprintf(stderr, "usage: fl_flood messages|garbage ...\n");
    return 2;
}
