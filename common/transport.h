/* transport: every ZeroMQ socket faultline opens is set up here, so that
 * security (CURVE), limits and keep-alives are decided in one place and
 * callers only say "agent" or "collector". */
#ifndef FL_TRANSPORT_H
#define FL_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#define FL_KEY_Z85 40 /* a 32-byte CURVE key in Z85 */
#define FL_KEY_INLINE "z85:" /* a public key given inline, not as a file */
#define FL_ZAP_DOMAIN "faultline"

/* Who this end is and whom it trusts.  INSECURE: plain text, no
 * authentication (development only; both ends must agree). */
struct transport_keys {
    int insecure;
    char public_key[FL_KEY_Z85 + 1], secret_key[FL_KEY_Z85 + 1]; /* this end's */
    char server_key[FL_KEY_Z85 + 1]; /* agent: the collector's public key */
};

/* Write a new key pair: PREFIX.key (both keys, mode 0600) and PREFIX.pub
 * (the public key), in ZeroMQ's certificate format.  Refuses to overwrite.
 * 0, or -1 with a reason in ERR. */
int transport_keygen(const char *prefix, char *err, size_t errlen);

/* Read a key file: its public key into PUB and, when SEC is not NULL, its
 * secret key into SEC (an error when the file has none).  SPEC is always a
 * path, except that a public key (SEC NULL) may be given inline as
 * "z85:" and its 40 Z85 characters; nothing else is ever taken for a key.
 * 0, or -1 with a reason naming the file in ERR. */
int transport_key_load(const char *spec, char pub[FL_KEY_Z85 + 1], char sec[FL_KEY_Z85 + 1],
                       char *err, size_t errlen);

/* A DEALER connected to the collector at ENDPOINT ("tcp://host:port").
 * Sends fail fast (EAGAIN) while no connection is up (ZMQ_IMMEDIATE), so
 * nothing piles up in ZeroMQ's queues: the outbox is the only queue.  A
 * CURVE client of KEYS->server_key unless KEYS->insecure.  A connection
 * attempt gives up after 500 ms and the next follows within 250 ms, so the
 * link is back within 0.75 s of the network healing.  With
 * MONITOR non-NULL, *MONITOR is a socket that tells when the connection
 * comes up and goes down (read it with transport_event; poll its ZMQ_FD).
 * Returns the socket or NULL with a reason in ERR. */
void *transport_agent_open(void *zctx, const char *endpoint, const struct transport_keys *keys,
                           void **monitor, char *err, size_t errlen);

enum transport_event {
    TRANSPORT_NONE, /* nothing (more) to read */
    TRANSPORT_UP,   /* a connection finished its handshake */
    TRANSPORT_DOWN, /* the connection was lost */
    TRANSPORT_FAILED, /* the handshake failed: garbage, too slow, a wrong
                       * server key (value: an errno or ZMTP error code) */
    TRANSPORT_ACCEPTED, /* a connection came in */
    TRANSPORT_REFUSED,  /* the server's authentication refused our key
                         * (value: its ZAP status code, e.g. 400) */
};

/* The next event waiting on a monitor socket, without blocking; *VALUE
 * (when VALUE is not NULL) gets the event's value.
 * After TRANSPORT_REFUSED (and a ZMTP protocol error) libzmq 4.3.4 never
 * dials again by itself: a handshake error ends the connection's session,
 * whatever ZMQ_RECONNECT_IVL says (ZMQ_RECONNECT_STOP, which would make
 * that a choice, is a 4.3.5 draft).  The owner of the socket re-dials with
 * transport_redial, at the pace it chooses. */
enum transport_event transport_event(void *monitor, uint32_t *value);

/* Drop S's connection to ENDPOINT, whatever state it is in, and dial it
 * again.  Returns 0 or -1 with a reason in ERR. */
int transport_redial(void *s, const char *endpoint, char *err, size_t errlen);

/* A ROUTER bound at ENDPOINT for agents: a CURVE server whose every
 * handshake goes to the ZAP handler of domain FL_ZAP_DOMAIN, and fails
 * when none answers (ZMQ_ZAP_ENFORCE_DOMAIN), unless KEYS->insecure.
 * With MONITOR non-NULL, *MONITOR tells of every connection accepted and
 * closed, and of handshakes that failed before authentication with a reason
 * libzmq reports (TRANSPORT_FAILED: a ZeroMQ greeting gone wrong, a peer
 * too slow); a peer that does not speak ZeroMQ at all is only accepted and
 * closed.  NULL with a reason in ERR. */
void *transport_collector_open(void *zctx, const char *endpoint,
                               const struct transport_keys *keys, void **monitor, char *err,
                               size_t errlen);

/* Close a socket opened here; NULL-safe, clears the caller's pointer. */
void transport_free(void **sock);

#endif
