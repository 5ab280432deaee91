/* capture: what a window of captured packets says about the network.
 *
 * capture_feed() takes one packet as libpcap delivers it (link type,
 * header, bytes) and counts: SYNs, SYN/ACKs, RSTs, handshakes attempted and
 * completed, TCP retransmissions, fast retransmissions, duplicate ACKs and
 * zero windows (the rules of Wireshark's TCP sequence analysis, so the
 * counts can be checked against tshark's), ICMP and ICMPv6 destination
 * unreachable by code, "fragmentation needed" and "packet too big".
 * Packets it cannot read (truncated, lying lengths, unknown link types)
 * are counted, never trusted.  Pure and bounded: a fuzz target. */
#ifndef FL_CAPTURE_H
#define FL_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

struct capture_counts {
    uint64_t packets, bytes;
    uint64_t malformed;        /* headers that do not parse or lie about their length */
    uint64_t truncated;        /* captured short of the packet's length (caplen < len) */
    uint64_t unsupported;      /* link or network types not analysed */
    uint64_t ipv4, ipv6, tcp, udp, icmp;
    uint64_t syn, synack, rst, fin;
    uint64_t handshakes_attempted, handshakes_completed;
    uint64_t retransmissions, fast_retransmissions, duplicate_acks, zero_windows;
    uint64_t unreachable[16];   /* ICMP destination unreachable by code (0-15) */
    uint64_t unreachable6[8];   /* ICMPv6 destination unreachable by code */
    uint64_t frag_needed;       /* ICMP type 3 code 4 */
    uint64_t packet_too_big;    /* ICMPv6 type 2 */
    uint64_t time_exceeded;
    uint64_t flows;             /* TCP connections tracked */
};

struct capture;

/* A new analyser for packets of LINKTYPE (a DLT_ value).  NULL on
 * allocation failure.  Memory stays bounded: at most 65536 flows. */
struct capture *capture_new(int linktype);
void capture_free(struct capture **c);

/* Count one packet: CAPLEN bytes at DATA of a packet LEN bytes long. */
void capture_feed(struct capture *c, const struct timeval *ts, const uint8_t *data, size_t caplen,
                  size_t len);

const struct capture_counts *capture_counts(const struct capture *c);

/* 1 when the window holds something worth keeping (resets, retransmissions,
 * failed handshakes, ICMP errors, ...). */
int capture_anomalous(const struct capture_counts *k);

#endif
