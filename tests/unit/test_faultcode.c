/* The fault-code table: decoding, parsing, and the doc generated from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultcode.h"

static void reset_decodes_as_documented(void **state)
{
    struct fl_fault_info fi;
    assert_int_equal(fault_decode(0x3795, &fi), 0);
    assert_int_equal(fi.category, 0x3);
    assert_string_equal(fi.category_name, "network");
    assert_int_equal(fi.subcategory, 0x7);
    assert_string_equal(fi.subcategory_name, "transport");
    assert_int_equal(fi.severity, 9);
    assert_string_equal(fi.severity_name, "high");
    assert_string_equal(fi.level, "L2");
    assert_int_equal(fi.error, 0x5);
    assert_string_equal(fi.error_name, "connection reset");
    assert_int_equal(FL_FAULT_TCP_RESET, 0x3795);
}

static void fields_round_trip_for_every_code(void **state)
{
    for (uint32_t code = 0; code <= 0xffff; code++) {
        struct fl_fault_info fi;
        assert_true(fault_decode(code, &fi) >= 0);
        assert_int_equal(FL_FAULT(fi.category, fi.subcategory, fi.severity, fi.error), code);
    }
    struct fl_fault_info fi;
    assert_int_equal(fault_decode(0x10000, &fi), -1);
}

static void severity_is_not_part_of_the_name(void **state)
{
    struct fl_fault_info fi;
    assert_int_equal(fault_decode(FL_FAULT(3, 7, 14, 5), &fi), 0);
    assert_string_equal(fi.error_name, "connection reset");
    assert_string_equal(fi.severity_name, "critical");
    assert_string_equal(fi.level, "L1");
    assert_int_equal(fault_decode(0x3f9f, &fi), 1); /* unknown parts */
    assert_string_equal(fi.subcategory_name, "unknown");
}

static void parse_accepts_hex_and_decimal_only_in_range(void **state)
{
    uint16_t c;
    assert_int_equal(fault_parse("0x3795", &c), 0);
    assert_int_equal(c, 0x3795);
    assert_int_equal(fault_parse("14229", &c), 0);
    assert_int_equal(c, 0x3795);
    assert_int_equal(fault_parse("0x10000", &c), -1);
    assert_int_equal(fault_parse("-1", &c), -1);
    assert_int_equal(fault_parse("", &c), -1);
    assert_int_equal(fault_parse("0x37zz", &c), -1);
    assert_int_equal(fault_parse(NULL, &c), -1);
    assert_int_equal(fault_parse("0b0011011110010101", &c), 0);
    assert_int_equal(c, 0x3795);
    assert_int_equal(fault_parse("0B11", &c), 0);
    assert_int_equal(c, 3);
    assert_int_equal(fault_parse("0b102", &c), -1);
    assert_int_equal(fault_parse("0b", &c), -1);
    assert_int_equal(fault_parse("0x", &c), -1);
    assert_int_equal(fault_parse("0x-1", &c), -1);
    assert_int_equal(fault_parse("0b 1", &c), -1);
    assert_int_equal(fault_parse("010", &c), 0); /* decimal, not octal */
    assert_int_equal(c, 10);
    assert_int_equal(fault_parse("0b10000000000000000", &c), -1);
}

/* docs/fault-codes.md is the table's own output: they never drift apart. */
static void doc_matches_table(void **state)
{
    char *generated = NULL, *doc = NULL;
    size_t glen = 0;
    FILE *g = open_memstream(&generated, &glen);
    fault_table_markdown(g);
    fclose(g);
    FILE *f = fopen(FL_SOURCE_DIR "/docs/fault-codes.md", "r");
    assert_non_null(f);
    doc = calloc(1, glen + 2);
    size_t dlen = fread(doc, 1, glen + 1, f);
    fclose(f);
    if (dlen != glen || memcmp(doc, generated, glen) != 0)
        fail_msg("docs/fault-codes.md is stale: regenerate with "
                 "`faultline decode --table > docs/fault-codes.md`");
    free(doc);
    free(generated);
}

/* The severity bands, at each edge: what alert routing and decode agree on. */
static void levels_follow_the_severity_bands(void **state)
{
    (void)state;
    static const struct { uint16_t code; int level; } cases[] = {
        {0x30f0, 1}, {0x30c0, 1}, {0x30b0, 2}, {0x3080, 2}, {0x3070, 3}, {0x3040, 3},
        {0x3030, 4}, {0x3000, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(fault_level(cases[i].code), cases[i].level);
        struct fl_fault_info fi;
        assert_true(fault_decode(cases[i].code, &fi) >= 0); /* 1: an error not in the table */
        char want[4];
        snprintf(want, sizeof want, cases[i].level < 4 ? "L%d" : "-", cases[i].level);
        assert_string_equal(fi.level, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(levels_follow_the_severity_bands),
        cmocka_unit_test(reset_decodes_as_documented),
        cmocka_unit_test(fields_round_trip_for_every_code),
        cmocka_unit_test(severity_is_not_part_of_the_name),
        cmocka_unit_test(parse_accepts_hex_and_decimal_only_in_range),
        cmocka_unit_test(doc_matches_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
