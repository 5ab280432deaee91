/* Durations and points in time as users write them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "timeutil.h"

static void durations(void **state)
{
    int64_t us;
    assert_int_equal(time_parse_duration("15s", &us), 0);
    assert_int_equal(us, 15000000);
    assert_int_equal(time_parse_duration("250ms", &us), 0);
    assert_int_equal(us, 250000);
    assert_int_equal(time_parse_duration("1m30s", &us), 0);
    assert_int_equal(us, 90000000);
    assert_int_equal(time_parse_duration("2h", &us), 0);
    assert_int_equal(us, 7200000000LL);
    assert_int_equal(time_parse_duration("15", &us), -1);
    assert_int_equal(time_parse_duration("s", &us), -1);
    assert_int_equal(time_parse_duration("-5s", &us), -1);
    assert_int_equal(time_parse_duration("5 s", &us), -1);
    assert_int_equal(time_parse_duration("5y", &us), -1);
    assert_int_equal(time_parse_duration("99999999999999999999s", &us), -1);
    assert_int_equal(time_parse_duration("", &us), -1);
}

static void points(void **state)
{
    int64_t us, now = 1795300000000000;
    assert_int_equal(time_parse_point("10m", now, &us), 0);
    assert_int_equal(us, now - 600000000);
    assert_int_equal(time_parse_point("@1795300000", now, &us), 0);
    assert_int_equal(us, 1795300000000000);
    assert_int_equal(time_parse_point("2026-11-22T10:00:00Z", now, &us), 0);
    assert_int_equal(us, 1795341600000000);
    assert_int_equal(time_parse_point("2026-11-22 10:00", now, &us), 0);
    assert_int_equal(us, 1795341600000000);
    assert_int_equal(time_parse_point("yesterday", now, &us), -1);
    assert_int_equal(time_parse_point("2026-13-45T99:00:00Z", now, &us), -1);
    assert_int_equal(time_parse_point("@-5", now, &us), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations),
        cmocka_unit_test(points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
