#include "wire.h"

#include "probetype.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const wire_names[WIRE_NSTATUS] = {
    "ok", "empty", "oversize", "malformed", "version", "no_body", "invalid",
};

const char *wire_status_name(enum wire_status st)
{
    return st < WIRE_NSTATUS ? wire_names[st] : "?";
}

/* ---- a heap budget for protobuf-c -------------------------------------
 * protobuf-c sizes repeated fields from the input, so a small hostile
 * message can ask for a lot of memory.  Every allocation of one unpack is
 * charged against a budget proportional to the message size; past it the
 * allocation fails and protobuf-c reports the message as malformed. */
struct wire_chunk {
    size_t size;
    max_align_t align[];
};

static void *wire__alloc(void *data, size_t size)
{
    struct wire_msg *m = data;
    if (size > m->budget_left)
        return NULL;
    struct wire_chunk *c = malloc(sizeof *c + size);
    if (!c)
        return NULL;
    c->size = size;
    m->budget_left -= size;
    return c->align;
}

static void wire__free(void *data, void *ptr)
{
    if (!ptr)
        return;
    struct wire_msg *m = data;
    struct wire_chunk *c = (struct wire_chunk *)((char *)ptr - offsetof(struct wire_chunk, align));
    m->budget_left += c->size;
    free(c);
}

static int wire__why(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int wire__why(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return 0;
}

int wire_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > FL_WIRE_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int wire__text_ok(const char *s, size_t max)
{
    return s && strnlen(s, max + 1) <= max;
}

static int wire__labels_ok(size_t n, Faultline__Label **labels)
{
    if (n > FL_WIRE_MAX_LABELS)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!wire_valid_name(labels[i]->key) || !wire__text_ok(labels[i]->value, FL_WIRE_MAX_TEXT))
            return 0;
    return 1;
}

static enum wire_status wire__check_result(const fl_result *r, uint64_t expect_seq, char *why,
                                           size_t why_len)
{
    if (r->seq == 0 || (expect_seq && r->seq != expect_seq)) {
        wire__why(why, why_len, "result seq %llu out of order", (unsigned long long)r->seq);
        return WIRE_INVALID;
    }
    if (!probetype_of(r->probe) || r->status <= FAULTLINE__STATUS__STATUS_UNSPECIFIED ||
        r->status > FAULTLINE__STATUS__STATUS_ERROR) {
        wire__why(why, why_len, "result %llu: probe or status out of range",
                  (unsigned long long)r->seq);
        return WIRE_INVALID;
    }
    if (r->fault_code > 0xffff || r->start_us <= 0) {
        wire__why(why, why_len, "result %llu: fault code or start time out of range",
                  (unsigned long long)r->seq);
        return WIRE_INVALID;
    }
    if (!wire__text_ok(r->target, FL_WIRE_MAX_TEXT) || r->target[0] == 0 ||
        !wire__text_ok(r->address, FL_WIRE_MAX_NAME) ||
        !wire__text_ok(r->message, FL_WIRE_MAX_TEXT)) {
        wire__why(why, why_len, "result %llu: text field too long or empty target",
                  (unsigned long long)r->seq);
        return WIRE_INVALID;
    }
    return WIRE_OK;
}

static enum wire_status wire__validate(const fl_envelope *env, char *why, size_t why_len)
{
    if (env->version != FL_WIRE_VERSION) {
        wire__why(why, why_len, "protocol version %u, this build speaks %u", env->version,
                  FL_WIRE_VERSION);
        return WIRE_VERSION;
    }
    if (!wire_valid_name(env->agent)) {
        wire__why(why, why_len, "agent name missing or not [A-Za-z0-9._-]{1,64}");
        return WIRE_INVALID;
    }
    switch (env->body_case) {
    case FAULTLINE__ENVELOPE__BODY_HELLO:
        if (env->hello->epoch == 0 || env->hello->next_seq == 0 ||
            !wire__text_ok(env->hello->version, FL_WIRE_MAX_NAME) ||
            !wire__labels_ok(env->hello->n_labels, env->hello->labels))
            break;
        return WIRE_OK;
    case FAULTLINE__ENVELOPE__BODY_WELCOME:
    case FAULTLINE__ENVELOPE__BODY_ACK:
        return WIRE_OK;
    case FAULTLINE__ENVELOPE__BODY_BATCH: {
        const Faultline__Batch *b = env->batch;
        if (b->epoch == 0 || b->n_results == 0 || b->n_results > FL_WIRE_MAX_RESULTS) {
            wire__why(why, why_len, "batch with epoch 0 or %zu results", b->n_results);
            return WIRE_INVALID;
        }
        for (size_t i = 0; i < b->n_results; i++) {
            enum wire_status st = wire__check_result(
                b->results[i], i ? b->results[0]->seq + i : 0, why, why_len);
            if (st != WIRE_OK)
                return st;
        }
        return WIRE_OK;
    }
    case FAULTLINE__ENVELOPE__BODY_GAP:
        if (env->gap->epoch == 0 || env->gap->from_seq == 0 ||
            env->gap->to_seq < env->gap->from_seq ||
            !wire__text_ok(env->gap->reason, FL_WIRE_MAX_TEXT))
            break;
        return WIRE_OK;
    case FAULTLINE__ENVELOPE__BODY_HEARTBEAT:
        if (env->heartbeat->epoch == 0 ||
            !wire__text_ok(env->heartbeat->version, FL_WIRE_MAX_NAME) ||
            !wire__labels_ok(env->heartbeat->n_labels, env->heartbeat->labels))
            break;
        return WIRE_OK;
    default:
        wire__why(why, why_len, "envelope without a known body");
        return WIRE_NO_BODY;
    }
    wire__why(why, why_len, "field out of range in %s",
              env->body_case == FAULTLINE__ENVELOPE__BODY_HELLO       ? "hello"
              : env->body_case == FAULTLINE__ENVELOPE__BODY_GAP       ? "gap"
                                                                      : "heartbeat");
    return WIRE_INVALID;
}

enum wire_status wire_decode(const void *buf, size_t len, struct wire_msg **out, char *why,
                             size_t why_len)
{
    *out = NULL;
    if (why && why_len)
        why[0] = 0;
    if (len == 0) {
        wire__why(why, why_len, "empty message");
        return WIRE_EMPTY;
    }
    if (len > FL_WIRE_MAX_MSG) {
        wire__why(why, why_len, "message of %zu bytes, limit %d", len, FL_WIRE_MAX_MSG);
        return WIRE_OVERSIZE;
    }
    struct wire_msg *m = calloc(1, sizeof *m);
    if (!m)
        return WIRE_MALFORMED;
    /* Unpacked structs are at most a small multiple of the wire size. */
    m->budget_left = 16 * len + 65536;
    m->allocator.alloc = wire__alloc;
    m->allocator.free = wire__free;
    m->allocator.allocator_data = m;
    m->env = faultline__envelope__unpack(&m->allocator, len, buf);
    if (!m->env) {
        free(m);
        wire__why(why, why_len, "not a valid protobuf Envelope");
        return WIRE_MALFORMED;
    }
    enum wire_status st = wire__validate(m->env, why, why_len);
    if (st != WIRE_OK) {
        wire_msg_free(&m);
        return st;
    }
    *out = m;
    return WIRE_OK;
}

void wire_msg_free(struct wire_msg **msg)
{
    if (!msg || !*msg)
        return;
    struct wire_msg *m = *msg;
    if (m->env)
        faultline__envelope__free_unpacked(m->env, &m->allocator);
    free(m);
    *msg = NULL;
}

/* A protobuf varint into P; its length. */
static size_t wire__varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* The key of the length-delimited field NAME of messages of DESC. */
static uint8_t wire__key(const ProtobufCMessageDescriptor *desc, const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
    return (uint8_t)((f->id << 3) | 2); /* ids below 16: one byte */
}

size_t wire_encode_batch(const char *agent, uint64_t epoch, const uint8_t *const *results,
                         const size_t *lens, size_t n, uint8_t **out)
{
    /* Protobuf writes a message's fields in field order, and a repeated
     * message field is its elements one after another, each keyed and
     * length-prefixed: Envelope{version, agent} + batch(12) + length +
     * Batch{epoch} + for each result, results(2) + length + bytes. */
    uint8_t batch_key = wire__key(&faultline__envelope__descriptor, "batch"),
            result_key = wire__key(&faultline__batch__descriptor, "results");
    fl_envelope env = FAULTLINE__ENVELOPE__INIT;
    env.version = FL_WIRE_VERSION;
    env.agent = (char *)(uintptr_t)agent; /* packed, never written */
    Faultline__Batch b = FAULTLINE__BATCH__INIT;
    b.epoch = epoch;
    size_t head = faultline__envelope__get_packed_size(&env);
    size_t body = faultline__batch__get_packed_size(&b);
    for (size_t i = 0; i < n; i++)
        body += 1 + 10 + lens[i];
    *out = malloc(head + 1 + 10 + body);
    if (!*out)
        return 0;
    uint8_t *p = *out + faultline__envelope__pack(&env, *out);
    uint8_t *q = p + 1 + 10; /* the batch, written first, moved into place after */
    uint8_t *batch = q;
    q += faultline__batch__pack(&b, q);
    for (size_t i = 0; i < n; i++) {
        *q++ = result_key;
        q += wire__varint(q, lens[i]);
        memcpy(q, results[i], lens[i]);
        q += lens[i];
    }
    size_t batch_len = (size_t)(q - batch);
    *p++ = batch_key;
    p += wire__varint(p, batch_len);
    memmove(p, batch, batch_len);
    return (size_t)(p + batch_len - *out);
}

size_t wire_encode(fl_envelope *env, uint8_t **out)
{
    env->version = FL_WIRE_VERSION;
    size_t len = faultline__envelope__get_packed_size(env);
    *out = malloc(len ? len : 1);
    if (!*out)
        return 0;
    return faultline__envelope__pack(env, *out);
}
