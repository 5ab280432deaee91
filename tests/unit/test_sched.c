/* The scheduler's spread: deterministic, inside the interval, and spread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "agent.h"

static void offset_is_deterministic_and_in_range(void **state)
{
    int64_t iv = 10000000;
    int64_t a = sched_offset_us("r1a1", 0, "web.lab.test", iv);
    assert_int_equal(a, sched_offset_us("r1a1", 0, "web.lab.test", iv));
    assert_true(a >= 0 && a < iv);
    assert_true(a != sched_offset_us("r1a2", 0, "web.lab.test", iv) ||
                a != sched_offset_us("r2a1", 0, "web.lab.test", iv));
}

/* 1000 agents probing one target land in all ten 1-second buckets of a
 * 10-second interval, none with more than twice its share. */
static void fleet_is_spread_over_the_interval(void **state)
{
    int64_t iv = 10000000;
    int buckets[10] = {0};
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "agent-%d", i);
        buckets[sched_offset_us(name, 0, "web.lab.test:80", iv) / 1000000]++;
    }
    for (int b = 0; b < 10; b++)
        assert_true(buckets[b] > 50 && buckets[b] < 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(offset_is_deterministic_and_in_range),
        cmocka_unit_test(fleet_is_spread_over_the_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
