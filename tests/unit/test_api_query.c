/* The HTTP API: its query parameters (an unknown enum value, a parameter
 * given twice or an unknown one is refused with its reason, never guessed
 * at), and its routes, asked over real HTTP on loopback from libcurl while
 * the test runs the API's poll loop, as the collector does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "api.h"
#include "ingest.h"
#include "test_db.h"
#include "test_util.h"

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

/* A TCP port on loopback that nothing listens on now. */
static int test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

struct body {
    char s[8192];
    size_t n;
};

static size_t on_body(char *p, size_t size, size_t n, void *u)
{
    struct body *b = u;
    size_t len = size * n, room = sizeof b->s - 1 - b->n;
    memcpy(b->s + b->n, p, len < room ? len : room);
    b->n += len < room ? len : room;
    b->s[b->n] = '\0';
    return len;
}

/* GET PATH from API: the status, and the body into B.  The API is run
 * whenever its fd is ready or its timeout comes, until curl is done. */
static long get(struct api *api, const char *path, struct body *b)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", api_port(api), path);
    CURL *e = curl_easy_init();
    CURLM *m = curl_multi_init();
    b->n = 0;
    b->s[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_multi_add_handle(m, e);
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        zmq_pollitem_t it = {.fd = api_fd(api), .events = ZMQ_POLLIN};
        zmq_poll(&it, 1, running ? 10 : 0);
        api_run(api);
    }
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(m, e);
    curl_easy_cleanup(e);
    curl_multi_cleanup(m);
    return status;
}

/* Each route answers; what is not a route, a bad value and a method that
 * is not GET are refused with their status and a reason. */
static void routes_answer_and_refuse(void **state)
{
    (void)state;
    char *dir = test_tmpdir(), db[256], err[256];
    struct store *st = test_store_open(dir, db, sizeof db);
    struct ingest_counters ic = {0};
    struct alert_counters ac = {0};
    struct api_sources src = {.st = st, .ingest = &ic, .alerts = &ac};
    char addr[32];
    int port = test_free_port();
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    struct api *api = api_new(addr, &src, err, sizeof err);
    assert_non_null(api);
    assert_int_equal(api_port(api), port);
    struct body b;
    assert_int_equal(get(api, "/healthz", &b), 200);
    assert_string_equal(b.s, "ok\n");
    assert_int_equal(get(api, "/", &b), 200);
    assert_non_null(strstr(b.s, "<title>faultline</title>"));
    assert_int_equal(get(api, "/metrics", &b), 200);
    assert_non_null(strstr(b.s, "faultline_results_stored_total 0"));
    const char *empty[] = {"/api/v1/agents", "/api/v1/gaps", "/api/v1/incidents",
                           "/api/v1/results?probe=icmp&since=1h"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        assert_int_equal(get(api, empty[i], &b), 200);
        assert_string_equal(b.s, "[]");
    }
    assert_int_equal(get(api, "/api/v1/summary?since=24h", &b), 200);
    assert_non_null(strstr(b.s, "\"total\""));
    assert_int_equal(get(api, "/api/v1/incidents/7", &b), 404);
    assert_non_null(strstr(b.s, "no such incident"));
    assert_int_equal(get(api, "/api/v1/incidents/x7", &b), 400);
    assert_int_equal(get(api, "/api/v1/results?probe=bogus", &b), 400);
    assert_non_null(strstr(b.s, "unknown probe 'bogus'"));
    assert_int_equal(get(api, "/api/v1/nothing", &b), 404);
    assert_int_equal(get(api, "/api/v1/agentsx", &b), 404);
    api_free(&api);
    store_free(&st);
    test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(verdicts_are_the_engines),
        cmocka_unit_test(a_parameter_once),
        cmocka_unit_test(routes_answer_and_refuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
