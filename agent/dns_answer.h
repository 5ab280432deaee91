/* dns_answer: read a DNS response (RFC 1035 wire format) into the rcode,
 * the header flags and the answer records as `dig +short` prints them.
 * Pure and bounded: it is fed untrusted bytes from the network, and it is
 * one of the fuzz targets. */
#ifndef FL_DNS_ANSWER_H
#define FL_DNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#define DNS_MAX_ANSWERS 64
#define DNS_MAX_TEXT 256

struct dns_answer {
    unsigned id, rcode;
    int truncated, authoritative, recursion_available;
    size_t nanswers;          /* records kept (at most DNS_MAX_ANSWERS) */
    size_t answers_total;     /* ANCOUNT as sent */
    char answers[DNS_MAX_ANSWERS][DNS_MAX_TEXT];
    uint16_t types[DNS_MAX_ANSWERS];
};

/* Parse LEN bytes at BUF.  0 on success; -1 when the message is malformed
 * (short header, a name or record running past the end, a compression
 * loop), with a reason in WHY. */
int dns_answer_parse(const uint8_t *buf, size_t len, struct dns_answer *out, char *why,
                     size_t why_len);

/* "NOERROR", "NXDOMAIN", ... ("RCODE15" for the unnamed). */
const char *dns_rcode_name(unsigned rcode);

/* Query types by name ("A", "AAAA", "NS", "MX", "TXT", "SOA", "CNAME", "PTR",
 * "SRV", "CAA"): the number, or 0 when unknown; and back. */
int dns_type_parse(const char *name);
const char *dns_type_name(int type);

#endif
