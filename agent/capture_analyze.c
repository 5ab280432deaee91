/* The packet analysis behind the capture probe.  The TCP rules are those of
 * Wireshark's sequence analysis (tcp_analyze_sequence_number in
 * packet-tcp.c), so that the counts can be checked against tshark's:
 *   zero window     window 0 on a segment that is not SYN, FIN or RST
 *   not dup ACKs    zero window probes, keep-alives (0-1 byte at nextseq-1),
 *                   window updates, and the ACKs of keep-alives and probes
 *   duplicate ACK   no data, same non-zero window, seq at nextseq, same ACK
 *   fast retrans.   data before nextseq, at the seq the peer asked for with
 *                   2+ duplicate ACKs, within 20 ms of the last (counted as a
 *                   retransmission too, as tshark does)
 *   out of order    data before nextseq within the first RTT (SYN to the
 *                   handshake's ACK; 3 ms without one) of nextseq's last move,
 *                   not ending at nextseq: not a retransmission
 *   spurious        data the peer had already acknowledged: not counted
 *   retransmission  any other data (or SYN/FIN) before nextseq
 * Sequence and ACK numbers are compared in sequence space. */
#include "capture.h"

#include <stdlib.h>
#include <string.h>

#define CAPTURE_MAX_FLOWS 65536
#define CAPTURE_BUCKETS 16384

/* DLT values (pcap/dlt.h), kept here so the analyser needs no libpcap. */
#define CAP_DLT_NULL 0
#define CAP_DLT_EN10MB 1
#define CAP_DLT_RAW 12
#define CAP_DLT_LOOP 108
#define CAP_DLT_LINUX_SLL 113
#define CAP_DLT_IPV4 228
#define CAP_DLT_IPV6 229
#define CAP_DLT_LINUX_SLL2 276

struct capture_dir {
    uint32_t nextseq, lastack, window;
    int nextseq_set;
    uint32_t dupacks;
    double lastack_time, nextseq_time;
    unsigned lastflags; /* CAP_KEEPALIVE, CAP_ZWP of the last segment */
};

#define CAP_KEEPALIVE 1u
#define CAP_ZWP 2u

struct capture_flow {
    uint8_t addr[2][16];
    uint16_t port[2];
    uint8_t v6;
    uint8_t state; /* bit 0 SYN seen, bit 1 SYN/ACK seen, bit 2 completed */
    double mru_syn, first_rtt;
    struct capture_dir dir[2];
    struct capture_flow *next;
};

struct capture {
    int linktype;
    struct capture_counts k;
    struct capture_flow *buckets[CAPTURE_BUCKETS];
    size_t nflows;
};

struct capture *capture_new(int linktype)
{
    struct capture *c = calloc(1, sizeof *c);
    if (c)
        c->linktype = linktype;
    return c;
}

void capture_free(struct capture **pc)
{
    if (!pc || !*pc)
        return;
    struct capture *c = *pc;
    for (size_t i = 0; i < CAPTURE_BUCKETS; i++)
        for (struct capture_flow *f = c->buckets[i], *n; f; f = n) {
            n = f->next;
            free(f);
        }
    free(c);
    *pc = NULL;
}

const struct capture_counts *capture_counts(const struct capture *c)
{
    return &c->k;
}

int capture_anomalous(const struct capture_counts *k)
{
    uint64_t unreach = k->frag_needed + k->packet_too_big;
    for (int i = 0; i < 16; i++)
        unreach += k->unreachable[i];
    for (int i = 0; i < 8; i++)
        unreach += k->unreachable6[i];
    return k->rst || k->retransmissions || k->duplicate_acks || k->zero_windows || unreach ||
           k->handshakes_attempted > k->handshakes_completed;
}

static uint16_t cap__u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t cap__u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Sequence-space comparison, as TCP does it. */
static int cap__lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static unsigned cap__hash(const uint8_t *a, const uint8_t *b, uint16_t pa, uint16_t pb, int n)
{
    /* Symmetric: both directions land in the same bucket. */
    unsigned h = (unsigned)(pa ^ pb) * 2654435761u;
    for (int i = 0; i < n; i++)
        h += (unsigned)(a[i] ^ b[i]) * 16777619u + (unsigned)(a[i] + b[i]);
    return h % CAPTURE_BUCKETS;
}

/* The flow of this segment and which direction it goes (0: as first seen). */
static struct capture_flow *cap__flow(struct capture *c, int v6, const uint8_t *src,
                                      const uint8_t *dst, uint16_t sp, uint16_t dp, int *dir)
{
    int n = v6 ? 16 : 4;
    unsigned h = cap__hash(src, dst, sp, dp, n);
    for (struct capture_flow *f = c->buckets[h]; f; f = f->next) {
        if (f->v6 != v6)
            continue;
        if (!memcmp(f->addr[0], src, (size_t)n) && !memcmp(f->addr[1], dst, (size_t)n) &&
            f->port[0] == sp && f->port[1] == dp) {
            *dir = 0;
            return f;
        }
        if (!memcmp(f->addr[0], dst, (size_t)n) && !memcmp(f->addr[1], src, (size_t)n) &&
            f->port[0] == dp && f->port[1] == sp) {
            *dir = 1;
            return f;
        }
    }
    if (c->nflows >= CAPTURE_MAX_FLOWS)
        return NULL;
    struct capture_flow *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    memcpy(f->addr[0], src, (size_t)n);
    memcpy(f->addr[1], dst, (size_t)n);
    f->port[0] = sp;
    f->port[1] = dp;
    f->v6 = (uint8_t)v6;
    f->next = c->buckets[h];
    c->buckets[h] = f;
    c->nflows++;
    c->k.flows++;
    *dir = 0;
    return f;
}

/* P holds CAPLEN captured bytes of a segment that was WIRELEN bytes long
 * (by the IP header): headers are read from what was captured, the
 * payload length comes from the IP length, as with a short snapshot. */
/* One TCP segment, as the analysis reads it. */
struct cap_seg {
    double t;
    uint32_t seq, ack, window, seglen;
    int syn, fin, rst, has_ack;
    int other; /* SYN, FIN or RST */
};

/* Handshakes: SYN, SYN/ACK, then the ACK of the SYN/ACK. */
static void cap__handshake(struct capture *c, struct capture_flow *f, const struct cap_seg *g)
{
    if (g->syn && !g->has_ack) {
        if (!(f->state & 1))
            c->k.handshakes_attempted++;
        f->state |= 1;
        f->mru_syn = g->t;
    } else if (g->syn && g->has_ack) {
        f->state |= 2;
    } else if (g->has_ack && !g->rst) {
        if ((f->state & 3) == 3 && !(f->state & 4)) {
            f->state |= 4;
            c->k.handshakes_completed++;
        }
        /* The first RTT, from the latest SYN to the handshake's ACK: the
         * out-of-order threshold, as Wireshark takes it. */
        if (f->first_rtt == 0 && f->mru_syn > 0)
            f->first_rtt = g->t - f->mru_syn;
    }
}

/* Segments that are what they look like (a zero window probe, a
 * keep-alive, a window update, the ACK of a probe), and so not duplicate
 * ACKs; the rest of the empty ones that repeat the last ACK are.  Returns
 * the segment's CAP_ flags. */
static unsigned cap__classify(struct capture *c, struct capture_dir *me,
                              const struct capture_dir *peer, const struct cap_seg *g)
{
    int same_ack = g->seq == me->nextseq && g->ack == me->lastack;
    if (g->seglen == 1 && me->nextseq_set && g->seq == me->nextseq && peer->window == 0)
        return CAP_ZWP;
    if (g->seglen <= 1 && !g->other && me->nextseq_set && g->seq == me->nextseq - 1)
        return CAP_KEEPALIVE;
    if (g->seglen == 0 && !g->other && g->window && g->window != me->window && same_ack)
        return 0; /* window update */
    if (g->seglen == 0 && !g->other && g->window == me->window && same_ack &&
        (peer->lastflags & (CAP_KEEPALIVE | CAP_ZWP)))
        return 0; /* the ACK of a keep-alive or zero window probe */
    if (g->seglen == 0 && !g->other && g->window && g->window == me->window &&
        me->nextseq_set && same_ack) {
        me->dupacks++;
        c->k.duplicate_acks++;
    }
    return 0;
}

/* Data (or SYN, FIN) that does not advance the sequence: a fast
 * retransmission after two duplicate ACKs, out of order within the first
 * RTT, spurious when already acknowledged, else a retransmission. */
static void cap__retrans(struct capture *c, const struct capture_flow *f,
                         const struct capture_dir *me, const struct capture_dir *peer,
                         const struct cap_seg *g)
{
    int not_advanced = me->nextseq_set && cap__lt(g->seq, me->nextseq);
    if (g->seglen > 1 && me->nextseq - 1 == g->seq)
        not_advanced = 0; /* new data after a possible zero window probe */
    double ooo = f->first_rtt > 0 ? f->first_rtt : 0.003;
    if (not_advanced && peer->dupacks >= 2 && peer->lastack == g->seq &&
        g->t - peer->lastack_time < 0.020) {
        c->k.fast_retransmissions++;
        c->k.retransmissions++;
    } else if (not_advanced && g->t - me->nextseq_time < ooo &&
               me->nextseq != g->seq + g->seglen) {
        /* out of order */
    } else if (g->seglen > 0 && peer->lastack && !cap__lt(peer->lastack, g->seq + g->seglen)) {
        /* spurious: data the peer had already acknowledged */
    } else if (not_advanced) {
        c->k.retransmissions++;
    }
}

static void cap__tcp(struct capture *c, double t, int v6, const uint8_t *src, const uint8_t *dst,
                     const uint8_t *p, size_t caplen, size_t wirelen)
{
    if (caplen < 20 || (size_t)(p[12] >> 4) * 4 < 20 || (size_t)(p[12] >> 4) * 4 > caplen ||
        (size_t)(p[12] >> 4) * 4 > wirelen) {
        c->k.malformed++;
        return;
    }
    c->k.tcp++;
    size_t hl = (size_t)(p[12] >> 4) * 4;
    uint8_t fl = p[13];
    struct cap_seg g = {
        .t = t, .seq = cap__u32(p + 4), .ack = cap__u32(p + 8), .window = cap__u16(p + 14),
        .seglen = (uint32_t)(wirelen - hl), .syn = fl & 0x02, .fin = fl & 0x01,
        .rst = fl & 0x04, .has_ack = fl & 0x10,
    };
    g.other = g.syn || g.fin || g.rst;
    c->k.syn += g.syn && !g.has_ack;
    c->k.synack += g.syn && g.has_ack;
    c->k.rst += g.rst != 0;
    c->k.fin += g.fin != 0;

    int d;
    struct capture_flow *f = cap__flow(c, v6, src, dst, cap__u16(p), cap__u16(p + 2), &d);
    if (!f)
        return;
    struct capture_dir *me = &f->dir[d], *peer = &f->dir[!d];
    cap__handshake(c, f, &g);
    if (g.window == 0 && !g.other)
        c->k.zero_windows++;
    unsigned ta = cap__classify(c, me, peer, &g);
    if (g.ack != me->lastack)
        me->dupacks = 0;
    if ((g.seglen > 0 || g.syn || g.fin) && !(ta & CAP_KEEPALIVE))
        cap__retrans(c, f, me, peer, &g);

    uint32_t nextseq = g.seq + g.seglen + ((g.syn || g.fin) ? 1u : 0u);
    if ((!me->nextseq_set || cap__lt(me->nextseq, nextseq)) && !(ta & CAP_ZWP)) {
        me->nextseq = nextseq;
        me->nextseq_set = 1;
        me->nextseq_time = t;
    }
    me->window = g.window;
    me->lastack = g.ack;
    me->lastack_time = t;
    me->lastflags = ta;
}

static void cap__icmp(struct capture *c, const uint8_t *p, size_t len, int v6)
{
    if (len < 8) {
        c->k.malformed++;
        return;
    }
    c->k.icmp++;
    if (!v6) {
        if (p[0] == 3) {
            c->k.unreachable[p[1] & 15]++;
            if (p[1] == 4)
                c->k.frag_needed++;
        } else if (p[0] == 11) {
            c->k.time_exceeded++;
        }
    } else {
        if (p[0] == 1)
            c->k.unreachable6[p[1] & 7]++;
        else if (p[0] == 2)
            c->k.packet_too_big++;
        else if (p[0] == 3)
            c->k.time_exceeded++;
    }
}

static void cap__ip(struct capture *c, double t, const uint8_t *p, size_t len)
{
    if (len < 1) {
        c->k.malformed++;
        return;
    }
    int version = p[0] >> 4;
    if (version == 4) {
        size_t hl = (size_t)(p[0] & 15) * 4;
        if (len < 20 || hl < 20 || hl > len) {
            c->k.malformed++;
            return;
        }
        size_t total = cap__u16(p + 2);
        if (total < hl) { /* a length shorter than its own header */
            c->k.malformed++;
            return;
        }
        size_t have = total < len ? total : len; /* captured part of it */
        c->k.ipv4++;
        if ((cap__u16(p + 6) & 0x1fff) != 0)
            return; /* a later fragment: no transport header */
        if (p[9] == 6)
            cap__tcp(c, t, 0, p + 12, p + 16, p + hl, have - hl, total - hl);
        else if (p[9] == 17)
            c->k.udp++;
        else if (p[9] == 1)
            cap__icmp(c, p + hl, have - hl, 0);
        return;
    }
    if (version == 6) {
        if (len < 40) {
            c->k.malformed++;
            return;
        }
        size_t total = 40 + (size_t)cap__u16(p + 4);
        size_t have = total < len ? total : len; /* captured part of it */
        c->k.ipv6++;
        uint8_t next = p[6];
        size_t off = 40;
        /* Skip the usual extension headers (hop-by-hop, routing, destination). */
        for (int i = 0; i < 8 && (next == 0 || next == 43 || next == 60); i++) {
            if (off + 8 > have) {
                c->k.malformed++;
                return;
            }
            uint8_t nn = p[off];
            off += ((size_t)p[off + 1] + 1) * 8;
            next = nn;
        }
        if (off > have) {
            c->k.malformed++;
            return;
        }
        if (next == 6)
            cap__tcp(c, t, 1, p + 8, p + 24, p + off, have - off, total - off);
        else if (next == 17)
            c->k.udp++;
        else if (next == 58)
            cap__icmp(c, p + off, have - off, 1);
        return;
    }
    c->k.malformed++;
}

void capture_feed(struct capture *c, const struct timeval *ts, const uint8_t *data, size_t caplen,
                  size_t len)
{
    c->k.packets++;
    c->k.bytes += len;
    if (caplen > len) { /* a record that lies: trust neither number */
        c->k.malformed++;
        return;
    }
    if (caplen < len)
        c->k.truncated++;
    double t = (double)ts->tv_sec + (double)ts->tv_usec / 1e6;
    const uint8_t *p = data;
    size_t n = caplen;
    uint16_t ethertype;
    switch (c->linktype) {
    case CAP_DLT_EN10MB:
        if (n < 14) {
            c->k.malformed++;
            return;
        }
        ethertype = cap__u16(p + 12);
        p += 14, n -= 14;
        while ((ethertype == 0x8100 || ethertype == 0x88a8) && n >= 4) { /* VLAN tags */
            ethertype = cap__u16(p + 2);
            p += 4, n -= 4;
        }
        break;
    case CAP_DLT_LINUX_SLL:
        if (n < 16) {
            c->k.malformed++;
            return;
        }
        ethertype = cap__u16(p + 14);
        p += 16, n -= 16;
        break;
    case CAP_DLT_LINUX_SLL2:
        if (n < 20) {
            c->k.malformed++;
            return;
        }
        ethertype = cap__u16(p);
        p += 20, n -= 20;
        break;
    case CAP_DLT_NULL:
    case CAP_DLT_LOOP: {
        if (n < 4) {
            c->k.malformed++;
            return;
        }
        uint32_t af = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        if (c->linktype == CAP_DLT_LOOP || af > 0xffff)
            af = cap__u32(p);
        ethertype = af == 2 ? 0x0800 : (af == 10 || af == 24 || af == 28 || af == 30) ? 0x86dd : 0;
        p += 4, n -= 4;
        break;
    }
    case CAP_DLT_RAW:
    case CAP_DLT_IPV4:
    case CAP_DLT_IPV6:
        ethertype = n && (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
        break;
    default:
        c->k.unsupported++;
        return;
    }
    if (ethertype == 0x0800 || ethertype == 0x86dd)
        cap__ip(c, t, p, n);
    else
        c->k.unsupported++;
}
