/* privdrop: an agent started as root keeps only what its probes need.
 *
 * privdrop_to(USER) switches to USER's uid and gid (no supplementary
 * groups) keeping CAP_NET_RAW alone, in the permitted and effective sets
 * (raw ICMP when no ping socket is allowed, packet capture), and sets
 * no_new_privs.  Everything the agent opened as root (its outbox, the
 * collector's socket) stays open.  Ping sockets need no capability at
 * all when net.ipv4.ping_group_range holds USER's group. */
#ifndef FL_PRIVDROP_H
#define FL_PRIVDROP_H

#include <stddef.h>

/* 0, or -1 with a reason in ERR (then nothing may be assumed about the
 * process's credentials: the caller must exit). */
int privdrop_to(const char *user, char *err, size_t errlen);

#endif
