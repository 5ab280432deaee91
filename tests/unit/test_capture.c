/* The capture analyser: on files made in the lab from real traffic every
 * count equals tshark's (recorded next to each file by
 * tests/data/captures/make.sh); on tcpdump's test corpus, many files of it
 * malformed on purpose, it never crashes and counts what it cannot read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "capture_file.h"

#define DATA FL_SOURCE_DIR "/tests/data/captures"
#define CORPUS FL_SOURCE_DIR "/../shared/corpus/tcpdump-tests"

static uint64_t count_of(const struct capture_counts *k, const char *name)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"syn", offsetof(struct capture_counts, syn)},
        {"synack", offsetof(struct capture_counts, synack)},
        {"rst", offsetof(struct capture_counts, rst)},
        {"retransmissions", offsetof(struct capture_counts, retransmissions)},
        {"fast_retransmissions", offsetof(struct capture_counts, fast_retransmissions)},
        {"duplicate_acks", offsetof(struct capture_counts, duplicate_acks)},
        {"zero_windows", offsetof(struct capture_counts, zero_windows)},
        {"frag_needed", offsetof(struct capture_counts, frag_needed)},
        {"packet_too_big", offsetof(struct capture_counts, packet_too_big)},
        {"tcp", offsetof(struct capture_counts, tcp)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(fields[i].name, name) == 0)
            return *(const uint64_t *)(const void *)((const char *)k + fields[i].off);
    fail_msg("no counter %s", name);
    return 0;
}

static void lab_captures_match_tshark(void **state)
{
    const char *names[] = {"loss-transfer", "refused", "dropped-syn", "frag-needed",
                           "zero-window"};
    int mismatches = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char pcap[512], expect[512], err[256], line[128];
        snprintf(pcap, sizeof pcap, "%s/%s.pcap", DATA, names[i]);
        snprintf(expect, sizeof expect, "%s/%s.tshark", DATA, names[i]);
        uint64_t bad;
        struct capture *c = capture_read_file(pcap, &bad, err, sizeof err);
        assert_non_null(c);
        assert_int_equal(bad, 0);
        FILE *f = fopen(expect, "r");
        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
            char key[64];
            unsigned long long want;
            if (sscanf(line, "%63s %llu", key, &want) != 2)
                continue;
            uint64_t got = count_of(capture_counts(c), key);
            printf("%-14s %-21s faultline %4llu  tshark %4llu%s\n", names[i], key,
                   (unsigned long long)got, want, got == want ? "" : "   <-- differs");
            mismatches += got != want;
        }
        fclose(f);
        capture_free(&c);
    }
    assert_int_equal(mismatches, 0);
}

static void corpus_never_crashes(void **state)
{
    DIR *d = opendir(CORPUS);
    if (!d)
        skip(); /* the corpus sits beside the repository, not in it */
    struct dirent *e;
    size_t files = 0, opened = 0;
    uint64_t packets = 0, malformed = 0, bad_records = 0, unsupported = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || (strcmp(e->d_name + n - 5, ".pcap") && strcmp(e->d_name + n - 7, ".pcapng")))
            continue;
        char path[1024], err[512];
        snprintf(path, sizeof path, "%s/%s", CORPUS, e->d_name);
        files++;
        uint64_t bad;
        struct capture *c = capture_read_file(path, &bad, err, sizeof err);
        if (!c)
            continue; /* libpcap refused the file header: nothing to analyse */
        opened++;
        const struct capture_counts *k = capture_counts(c);
        packets += k->packets;
        malformed += k->malformed + k->truncated;
        unsupported += k->unsupported;
        bad_records += bad;
        capture_free(&c);
    }
    closedir(d);
    printf("corpus: %zu files, %zu opened, %llu packets, %llu malformed or truncated, "
           "%llu not analysed (link/network type), %llu unreadable records\n",
           files, opened, (unsigned long long)packets, (unsigned long long)malformed,
           (unsigned long long)unsupported, (unsigned long long)bad_records);
    assert_true(files > 500);
    assert_true(packets > 0);
}

/* Input that lies is counted, not believed. */
static void lying_input_is_counted(void **state)
{
    struct timeval ts = {1, 0};
    uint8_t pkt[64] = {0};
    struct capture *c = capture_new(1 /* Ethernet */);
    capture_feed(c, &ts, pkt, 64, 40);       /* caplen > len */
    capture_feed(c, &ts, pkt, 10, 10);       /* shorter than an Ethernet header */
    pkt[12] = 0x08, pkt[13] = 0x00;          /* IPv4 ... */
    pkt[14] = 0x4f;                          /* ... with a 60-byte header in 50 bytes */
    capture_feed(c, &ts, pkt, 64, 64);
    pkt[14] = 0x45, pkt[16] = 0, pkt[17] = 10; /* total length shorter than the header */
    capture_feed(c, &ts, pkt, 64, 64);
    pkt[12] = 0x12, pkt[13] = 0x34;          /* an ethertype nobody analyses */
    capture_feed(c, &ts, pkt, 64, 64);
    capture_feed(c, &ts, pkt, 30, 1500);     /* truncated by the snapshot length */
    const struct capture_counts *k = capture_counts(c);
    assert_int_equal(k->packets, 6);
    assert_int_equal(k->malformed, 4);
    assert_int_equal(k->truncated, 1);
    assert_int_equal(k->unsupported, 2);
    capture_free(&c);
    c = capture_new(4242); /* a bogus link type */
    capture_feed(c, &ts, pkt, 64, 64);
    assert_int_equal(capture_counts(c)->unsupported, 1);
    capture_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lab_captures_match_tshark),
        cmocka_unit_test(corpus_never_crashes),
        cmocka_unit_test(lying_input_is_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
