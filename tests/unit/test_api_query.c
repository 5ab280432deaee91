/* The HTTP API's query parameters: an unknown enum value, a parameter given
 * twice or an unknown one is refused with its reason, never guessed at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api.h"

static int param(struct api_query *q, enum api_query_kind kind, const char *key,
                 const char *value, char *err)
{
    return api_query_param(q, kind, key, value, 1796000000000000, err, 256);
}

static void verdicts_are_the_engines(void **state)
{
    struct api_query q;
    char err[256];
    api_query_init(&q, API_QUERY_INCIDENTS);
    assert_int_equal(param(&q, API_QUERY_INCIDENTS, "verdict", "TARGET", err), 0);
    assert_string_equal(q.incidents.verdict, "TARGET");
    api_query_init(&q, API_QUERY_INCIDENTS);
    assert_int_equal(param(&q, API_QUERY_INCIDENTS, "verdict", "BOGUS", err), -1);
    assert_non_null(strstr(err, "'BOGUS' is not a verdict"));
    assert_int_equal(param(&q, API_QUERY_INCIDENTS, "verdict", "target", err), -1);
    assert_int_equal(param(&q, API_QUERY_INCIDENTS, "verdict", NULL, err), -1);
}

static void a_parameter_once(void **state)
{
    struct api_query q;
    char err[256];
    api_query_init(&q, API_QUERY_INCIDENTS);
    assert_int_equal(param(&q, API_QUERY_INCIDENTS, "limit", "5", err), 0);
    assert_int_equal(param(&q, API_QUERY_INCIDENTS, "limit", "6", err), -1);
    assert_string_equal(err, "limit: given twice");
    assert_int_equal(q.incidents.limit, 5);
    api_query_init(&q, API_QUERY_RESULTS);
    assert_int_equal(param(&q, API_QUERY_RESULTS, "probe", "icmp", err), 0);
    assert_int_equal(param(&q, API_QUERY_RESULTS, "status", "fail", err), 0);
    assert_int_equal(param(&q, API_QUERY_RESULTS, "probe", "tcp", err), -1);
    assert_int_equal(param(&q, API_QUERY_RESULTS, "nosuch", "1", err), -1);
    assert_non_null(strstr(err, "unknown parameter 'nosuch'"));
    /* A new query starts afresh. */
    api_query_init(&q, API_QUERY_RESULTS);
    assert_int_equal(param(&q, API_QUERY_RESULTS, "probe", "tcp", err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verdicts_are_the_engines),
        cmocka_unit_test(a_parameter_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
