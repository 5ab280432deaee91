#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "wire.h"

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

void *transport_agent_open(void *zctx, const char *endpoint, char *err, size_t errlen)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    if (!s) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
        return NULL;
    }
    if (transport__common(s) || transport__set(s, ZMQ_LINGER, 0) ||
        transport__set(s, ZMQ_IMMEDIATE, 1) || transport__set(s, ZMQ_RECONNECT_IVL, 100) ||
        transport__set(s, ZMQ_RECONNECT_IVL_MAX, 2000) || transport__set(s, ZMQ_SNDHWM, 64)) {
        snprintf(err, errlen, "zmq_setsockopt: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_connect(s, endpoint) != 0) {
        snprintf(err, errlen, "connect %s: %s", endpoint, zmq_strerror(errno));
        goto fail;
    }
    return s;
fail:
    zmq_close(s);
    return NULL;
}

void *transport_collector_open(void *zctx, const char *endpoint, char *err, size_t errlen)
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
    if (zmq_bind(s, endpoint) != 0) {
        snprintf(err, errlen, "bind %s: %s", endpoint, zmq_strerror(errno));
        goto fail;
    }
    return s;
fail:
    zmq_close(s);
    return NULL;
}

void transport_close(void **sock)
{
    if (sock && *sock) {
        zmq_close(*sock);
        *sock = NULL;
    }
}
