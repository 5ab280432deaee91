/* The DNS answer parser: what dig would print, and no crash on anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dns_answer.h"

/* web.lab.test A? -> CNAME www, A 10.77.100.2, MX, TXT, with compression. */
static const uint8_t answer[] = {
    0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
    /* question: web.lab.test A IN (offset 12) */
    3, 'w', 'e', 'b', 3, 'l', 'a', 'b', 4, 't', 'e', 's', 't', 0, 0x00, 0x01, 0x00, 0x01,
    /* CNAME: name -> offset 12, rdata "www" + pointer to lab.test (offset 16) */
    0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0, 0, 1, 44, 0x00, 0x06, 3, 'w', 'w', 'w', 0xc0, 0x10,
    /* A 10.77.100.2 */
    0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0, 0, 1, 44, 0x00, 0x04, 10, 77, 100, 2,
    /* MX 10 web.lab.test */
    0xc0, 0x0c, 0x00, 0x0f, 0x00, 0x01, 0, 0, 1, 44, 0x00, 0x04, 0x00, 0x0a, 0xc0, 0x0c,
    /* TXT "say \"hi\"" */
    0xc0, 0x0c, 0x00, 0x10, 0x00, 0x01, 0, 0, 1, 44, 0x00, 0x09, 8, 's', 'a', 'y', ' ', '"',
    'h', 'i', '"',
};

static void parses_like_dig(void **state)
{
    static struct dns_answer a;
    char why[128];
    assert_int_equal(dns_answer_parse(answer, sizeof answer, &a, why, sizeof why), 0);
    assert_int_equal(a.id, 0x1234);
    assert_int_equal(a.rcode, 0);
    assert_true(a.authoritative);
    assert_int_equal(a.nanswers, 4);
    assert_string_equal(a.answers[0], "www.lab.test.");
    assert_string_equal(a.answers[1], "10.77.100.2");
    assert_string_equal(a.answers[2], "10 web.lab.test.");
    assert_string_equal(a.answers[3], "\"say \\\"hi\\\"\"");
    assert_int_equal(a.types[1], 1);
}

static void every_truncation_is_refused_cleanly(void **state)
{
    static struct dns_answer a;
    for (size_t cut = 0; cut < sizeof answer; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
        memcpy(copy, answer, cut);
        assert_int_equal(dns_answer_parse(copy, cut, &a, NULL, 0), -1);
        free(copy);
    }
}

static void compression_loop_is_refused(void **state)
{
    uint8_t loop[] = {0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1};
    static struct dns_answer a;
    char why[128];
    assert_int_equal(dns_answer_parse(loop, sizeof loop, &a, why, sizeof why), -1);
    assert_non_null(strstr(why, "question"));
}

static void rcode_and_names(void **state)
{
    uint8_t nx[12] = {0, 1, 0x81, 0x83, 0, 0, 0, 0, 0, 0, 0, 0};
    static struct dns_answer a;
    assert_int_equal(dns_answer_parse(nx, sizeof nx, &a, NULL, 0), 0);
    assert_int_equal(a.rcode, 3);
    assert_string_equal(dns_rcode_name(3), "NXDOMAIN");
    assert_string_equal(dns_rcode_name(2), "SERVFAIL");
    assert_string_equal(dns_rcode_name(15), "RCODE15");
    assert_int_equal(dns_type_parse("aaaa"), 28);
    assert_int_equal(dns_type_parse("BOGUS"), 0);
    assert_string_equal(dns_type_name(16), "TXT");
}

static void random_bytes_never_crash(void **state)
{
    static struct dns_answer a;
    srand(7);
    uint8_t buf[600];
    for (int i = 0; i < 50000; i++) {
        size_t len = (size_t)rand() % sizeof buf;
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rand();
        if (len > 12 && i % 2) /* plausible headers reach the record code */
            buf[4] = 0, buf[5] = 0, buf[6] = 0, buf[7] = (uint8_t)(rand() % 8);
        dns_answer_parse(buf, len, &a, NULL, 0);
        assert_true(a.nanswers <= DNS_MAX_ANSWERS);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_like_dig),
        cmocka_unit_test(every_truncation_is_refused_cleanly),
        cmocka_unit_test(compression_loop_is_refused),
        cmocka_unit_test(rcode_and_names),
        cmocka_unit_test(random_bytes_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
