/* wire: pack and unpack the Envelope (proto/faultline.proto) with limits.
 *
 * Every message from the network goes through wire_decode(), which checks
 * the size before unpacking, unpacks through an allocator with a hard heap
 * budget, and validates what protobuf cannot express (version, a body,
 * agent name syntax, string lengths, seq order, enum and code ranges). */
#ifndef FL_WIRE_H
#define FL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "faultline.pb-c.h"

#define FL_WIRE_VERSION 1
#define FL_WIRE_MAX_MSG (1024 * 1024)  /* bytes of one packed Envelope */
#define FL_WIRE_MAX_RESULTS 4096       /* results in one Batch */
#define FL_WIRE_MAX_NAME 64            /* agent names, label keys */
#define FL_WIRE_MAX_TEXT 512           /* targets, label values, messages */
#define FL_WIRE_MAX_LABELS 32

typedef Faultline__Envelope fl_envelope;
typedef Faultline__Result fl_result;

enum wire_status {
    WIRE_OK = 0,
    WIRE_EMPTY,     /* zero-length message */
    WIRE_OVERSIZE,  /* larger than FL_WIRE_MAX_MSG */
    WIRE_MALFORMED, /* protobuf could not unpack it (or it hit the heap budget) */
    WIRE_VERSION,   /* a protocol version this build does not speak */
    WIRE_NO_BODY,   /* an Envelope with no (or an unknown) body */
    WIRE_INVALID,   /* well-formed but a field is out of range */
    WIRE_NSTATUS
};

/* Short stable name of a status, for logs and the rejection counters. */
const char *wire_status_name(enum wire_status st);

/* A decoded message: ENV is what callers read; the allocator state that
 * owns its memory travels with it. */
struct wire_msg {
    fl_envelope *env;
    size_t budget_left;               /* private */
    ProtobufCAllocator allocator;     /* private */
};

/* Decode and validate one message.  On WIRE_OK *out holds the message, to
 * be released with wire_msg_free(); otherwise *out is NULL and, when WHY
 * is not NULL, it gets a human reason. */
enum wire_status wire_decode(const void *buf, size_t len, struct wire_msg **out, char *why,
                             size_t why_len);

/* Release a decoded message and clear the caller's pointer; NULL-safe. */
void wire_msg_free(struct wire_msg **msg);

/* Pack ENV (version is set here) into a malloc'd buffer stored in *OUT.
 * Returns the length, or 0 on allocation failure. */
size_t wire_encode(fl_envelope *env, uint8_t **out);

/* A Batch envelope of AGENT for EPOCH from N results already packed
 * (RESULTS[i], LENS[i] bytes each, as faultline__result__pack made them):
 * the same bytes wire_encode() makes of the unpacked results, without
 * unpacking them.  Its length, 0 on allocation failure. */
size_t wire_encode_batch(const char *agent, uint64_t epoch, const uint8_t *const *results,
                         const size_t *lens, size_t n, uint8_t **out);

/* 1 when NAME is a valid agent name: 1-64 of [A-Za-z0-9._-]. */
int wire_valid_name(const char *name);

#endif
