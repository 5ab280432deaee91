/* transport: every ZeroMQ socket faultline opens is set up here, so that
 * security (CURVE), limits and keep-alives are decided in one place and
 * callers only say "agent" or "collector". */
#ifndef FL_TRANSPORT_H
#define FL_TRANSPORT_H

#include <stddef.h>

/* A DEALER connected to the collector at ENDPOINT ("tcp://host:port").
 * Sends fail fast (EAGAIN) while no connection is up (ZMQ_IMMEDIATE), so
 * nothing piles up in ZeroMQ's queues: the outbox is the only queue.
 * Returns the socket or NULL with a reason in ERR. */
void *transport_agent_open(void *zctx, const char *endpoint, char *err, size_t errlen);

/* A ROUTER bound at ENDPOINT for agents.  NULL with a reason in ERR. */
void *transport_collector_open(void *zctx, const char *endpoint, char *err, size_t errlen);

/* Close a socket opened here; NULL-safe, clears the caller's pointer. */
void transport_close(void **sock);

#endif
