/* auth: who may deliver results.  The collector's ZAP handler (RFC 27)
 * answers every CURVE handshake from an allow-list of agent public keys,
 * and names the agent: its name becomes the connection's User-Id, which
 * ingest uses in place of whatever name the payload claims.
 *
 * The allow-list is a directory of NAME.pub files (as `faultline keygen`
 * writes them; the file name is the agent's name) or one file of
 * "NAME Z85-PUBLIC-KEY" lines ('#' at the start of a word starts a
 * comment: Z85 has '#' too).  auth_reload() reads it again (the collector
 * does on SIGHUP) and cuts the live connections of agents whose key is no
 * longer listed (shutdown(2) of the socket its latest message came on). */
#ifndef FL_AUTH_H
#define FL_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

struct auth;

/* Bind the ZAP handler in ZCTX (before any CURVE server socket binds) and
 * load ALLOW.  NULL with a reason in ERR. */
struct auth *auth_new(void *zctx, const char *allow, char *err, size_t errlen);
void auth_free(struct auth **a);

/* The handler's socket, to poll for ZMQ_POLLIN. */
void *auth_socket(const struct auth *a);

/* Answer every handshake waiting. */
void auth_handle(struct auth *a);

/* Read the allow-list again; on success, shut the connections of agents
 * no longer listed (or listed with another key).  0, or -1 with a reason
 * in ERR (the old list stays). */
int auth_reload(struct auth *a, char *err, size_t errlen);

/* Agent NAME's connection is socket FD (ZMQ_SRCFD of its latest message). */
void auth_seen(struct auth *a, const char *name, int fd);

/* Agents listed now. */
size_t auth_listed(const struct auth *a);

/* Handshakes accepted and refused so far; connections cut on reload. */
uint64_t auth_accepted(const struct auth *a);
uint64_t auth_refused(const struct auth *a);
uint64_t auth_revoked(const struct auth *a);

/* Keys refused lately ("who is knocking"): the AUTH_REFUSALS seen last,
 * a key dropped once the allow-list lets it in. */
#define AUTH_REFUSALS 256
struct auth_refusal {
    char key[FL_KEY_Z85 + 1];
    char address[64];  /* of its latest handshake */
    int64_t first_us, last_us;
    uint64_t count;    /* handshakes refused */
};
size_t auth_refusals(const struct auth *a, const struct auth_refusal **list);
/* Whether the table changed since the last call. */
int auth_refusals_changed(struct auth *a);

/* Parse the allow-list file format from TEXT (for tests and fuzzing):
 * calls FN for each entry; -1 with "line N: reason" in ERR at the first bad line. */
int auth_parse_list(const char *text, int (*fn)(void *arg, const char *name, const char *key),
                    void *arg, char *err, size_t errlen);

#endif
