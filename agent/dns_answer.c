#include "dns_answer.h"

#include <arpa/inet.h>
#include <ares.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int type;
} dns_types[] = {{"A", 1},    {"NS", 2},    {"CNAME", 5}, {"SOA", 6},   {"PTR", 12},
                 {"MX", 15},  {"TXT", 16},  {"AAAA", 28}, {"SRV", 33}, {"CAA", 257}};

int dns_type_parse(const char *name)
{
    for (size_t i = 0; i < sizeof dns_types / sizeof dns_types[0]; i++)
        if (strcasecmp(name, dns_types[i].name) == 0)
            return dns_types[i].type;
    return 0;
}

const char *dns_type_name(int type)
{
    for (size_t i = 0; i < sizeof dns_types / sizeof dns_types[0]; i++)
        if (dns_types[i].type == type)
            return dns_types[i].name;
    return "?";
}

const char *dns_rcode_name(unsigned rcode)
{
    static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
    static const char *const numbered[] = {"RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15"};
    if (rcode < sizeof names / sizeof names[0])
        return names[rcode];
    return rcode <= 15 ? numbered[rcode - 11] : "RCODE?";
}

static int dns__fail(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int dns__fail(char *why, size_t len, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A name at P inside the message, through c-ares's decompressor (which
 * bounds pointer loops).  Stores "name." (dig's form) and its length in
 * the record in *USED.  0 or -1. */
static int dns__name(const uint8_t *p, const uint8_t *buf, size_t len, char *out, size_t outlen,
                     long *used)
{
    char *name = NULL;
    if (p < buf || p >= buf + len ||
        ares_expand_name(p, buf, (int)len, &name, used) != ARES_SUCCESS)
        return -1;
    snprintf(out, outlen, "%.250s.", name); /* the root is "." */
    ares_free_string(name);
    return 0;
}

static uint16_t dns__u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t dns__u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RDATA of one record in dig +short's words. */
static int dns__rdata(int type, const uint8_t *rd, size_t rdlen, const uint8_t *buf, size_t len,
                      char *out, size_t outlen)
{
    char a[DNS_MAX_TEXT], b[DNS_MAX_TEXT];
    long used;
    switch (type) {
    case 1:
        if (rdlen != 4 || !inet_ntop(AF_INET, rd, out, (socklen_t)outlen))
            return -1;
        return 0;
    case 28:
        if (rdlen != 16 || !inet_ntop(AF_INET6, rd, out, (socklen_t)outlen))
            return -1;
        return 0;
    case 2:
    case 5:
    case 12:
        return dns__name(rd, buf, len, out, outlen, &used);
    case 15:
        if (rdlen < 3 || dns__name(rd + 2, buf, len, a, sizeof a, &used) != 0)
            return -1;
        snprintf(out, outlen, "%u %.240s", dns__u16(rd), a);
        return 0;
    case 6: {
        long u1, u2;
        if (dns__name(rd, buf, len, a, sizeof a, &u1) != 0 || (size_t)u1 >= rdlen ||
            dns__name(rd + u1, buf, len, b, sizeof b, &u2) != 0 ||
            (size_t)(u1 + u2) + 20 > rdlen)
            return -1;
        const uint8_t *n = rd + u1 + u2;
        snprintf(out, outlen, "%.100s %.100s %u %u %u %u %u", a, b, dns__u32(n), dns__u32(n + 4),
                 dns__u32(n + 8), dns__u32(n + 12), dns__u32(n + 16));
        return 0;
    }
    case 16: { /* "part1" "part2", with " and \ escaped as dig does */
        size_t o = 0, i = 0;
        while (i < rdlen) {
            size_t n = rd[i++];
            if (i + n > rdlen)
                return -1;
            if (o && o < outlen - 1)
                out[o++] = ' ';
            if (o < outlen - 1)
                out[o++] = '"';
            for (size_t k = 0; k < n && o < outlen - 3; k++) {
                uint8_t c = rd[i + k];
                if (c == '"' || c == '\\')
                    out[o++] = '\\';
                if (c >= 0x20 && c < 0x7f) {
                    out[o++] = (char)c;
                } else if (o < outlen - 5) {
                    o += (size_t)snprintf(out + o, outlen - o, "\\%03u", c);
                }
            }
            if (o < outlen - 1)
                out[o++] = '"';
            i += n;
        }
        out[o < outlen ? o : outlen - 1] = 0;
        return 0;
    }
    case 33:
        if (rdlen < 7 || dns__name(rd + 6, buf, len, a, sizeof a, &used) != 0)
            return -1;
        snprintf(out, outlen, "%u %u %u %.220s", dns__u16(rd), dns__u16(rd + 2), dns__u16(rd + 4),
                 a);
        return 0;
    default: { /* RFC 3597's generic form */
        size_t o = (size_t)snprintf(out, outlen, "\\# %zu ", rdlen);
        for (size_t i = 0; i < rdlen && o + 3 < outlen; i++)
            o += (size_t)snprintf(out + o, outlen - o, "%02X", rd[i]);
        return 0;
    }
    }
}

int dns_answer_parse(const uint8_t *buf, size_t len, struct dns_answer *out, char *why,
                     size_t why_len)
{
    memset(out, 0, sizeof *out);
    if (len < 12)
        return dns__fail(why, why_len, "%zu bytes: shorter than a DNS header", len);
    out->id = dns__u16(buf);
    out->truncated = (buf[2] >> 1) & 1;
    out->authoritative = (buf[2] >> 2) & 1;
    out->recursion_available = (buf[3] >> 7) & 1;
    out->rcode = buf[3] & 0xf;
    size_t qd = dns__u16(buf + 4), an = dns__u16(buf + 6);
    out->answers_total = an;
    const uint8_t *p = buf + 12, *end = buf + len;
    char name[DNS_MAX_TEXT];
    long used;
    for (size_t i = 0; i < qd; i++) {
        if (dns__name(p, buf, len, name, sizeof name, &used) != 0 || p + used + 4 > end)
            return dns__fail(why, why_len, "question %zu runs past the end", i + 1);
        p += used + 4;
    }
    for (size_t i = 0; i < an; i++) {
        if (dns__name(p, buf, len, name, sizeof name, &used) != 0 || p + used + 10 > end)
            return dns__fail(why, why_len, "answer %zu: record header runs past the end", i + 1);
        p += used;
        int type = dns__u16(p);
        size_t rdlen = dns__u16(p + 8);
        p += 10;
        if (p + rdlen > end)
            return dns__fail(why, why_len, "answer %zu: data runs past the end", i + 1);
        if (out->nanswers < DNS_MAX_ANSWERS) {
            if (dns__rdata(type, p, rdlen, buf, len, out->answers[out->nanswers],
                           DNS_MAX_TEXT) != 0)
                return dns__fail(why, why_len, "answer %zu: malformed %s record", i + 1,
                                 dns_type_name(type));
            out->types[out->nanswers++] = (uint16_t)type;
        }
        p += rdlen;
    }
    return 0;
}
