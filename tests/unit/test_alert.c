/* Alert delivery: exec and webhook sinks against real processes and a real
 * HTTP listener on loopback, retry with back-off, routing by severity,
 * and a dead receiver never holding up the caller's loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alert.h"
#include "faultcode.h"
#include "test_util.h"
#include "timeutil.h"

static const struct incident incident = {
    .id = 7, .verdict = "TARGET", .component = "web.lab.test:80",
    .explanation = "web.lab.test:80 fails from 6 of the 6 agents probing it, in 3 regions",
    .agents_json = "[\"r1a1\",\"r2a1\"]", .targets_json = "[\"web.lab.test:80\"]",
    .fault = FL_FAULT_TCP_REFUSED, .start_us = 1763800000000000LL,
};

/* Run A's loop as the collector does until nothing is pending or LIMIT_MS
 * passed; returns the longest single alert_run() in microseconds. */
static int64_t run_until_idle(struct alerter *a, long limit_ms)
{
    int64_t end = time_now_us() + limit_ms * 1000, longest = 0;
    while (alert_pending(a) && time_now_us() < end) {
        zmq_pollitem_t items[16];
        size_t n = alert_pollitems(a, items, 16);
        long t = alert_timeout_ms(a, time_now_us());
        zmq_poll(items, (int)n, t < 0 || t > 100 ? 100 : t);
        int64_t t0 = time_now_us();
        alert_run(a, items, n, time_now_us());
        if (time_now_us() - t0 > longest)
            longest = time_now_us() - t0;
    }
    return longest;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void exec_sink_gets_each_event_as_json_on_stdin_in_order(void **state)
{
    char *dir = test_tmpdir();
    char out[256], script[1024];
    snprintf(out, sizeof out, "%s/events", dir);
    snprintf(script, sizeof script, "cat >> '%s'; echo \"env $FAULTLINE_EVENT $FAULTLINE_INCIDENT\" >> '%s'",
             out, out);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct alert_sink_config cfg = {.type = ALERT_SINK_EXEC, .argv = argv, .level = 4,
                                    .timeout_us = 5000000, .give_up_us = 60000000};
    struct alerter *a = alert_new(&cfg, 1, NULL);
    alert_event(a, INCIDENT_OPEN, &incident, time_now_us());
    struct incident closed = incident;
    closed.end_us = incident.start_us + 42000000;
    alert_event(a, INCIDENT_RESOLVE, &closed, time_now_us());
    run_until_idle(a, 10000);
    assert_int_equal(alert_pending(a), 0);
    assert_int_equal(alert_counters(a)->delivered, 2);
    char *text = slurp(out);
    assert_non_null(text);
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    *nl = '\0';
    json_error_t jerr;
    json_t *ev = json_loads(text, 0, &jerr);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "open");
    json_t *in = json_object_get(ev, "incident");
    assert_int_equal(json_integer_value(json_object_get(in, "id")), 7);
    assert_string_equal(json_string_value(json_object_get(in, "verdict")), "TARGET");
    assert_string_equal(json_string_value(json_object_get(in, "component")), "web.lab.test:80");
    assert_string_equal(json_string_value(json_object_get(in, "severity")), "L2");
    assert_string_equal(json_string_value(json_object_get(in, "fault_code")), "0x3791");
    assert_int_equal(json_array_size(json_object_get(in, "agents")), 2);
    assert_true(json_is_null(json_object_get(in, "end")));
    json_decref(ev);
    assert_non_null(strstr(nl + 1, "env open 7\n"));
    char *second = strstr(nl + 1, "{\"event\":\"resolve\"");
    assert_non_null(second);
    assert_non_null(strstr(second, "\"end\":\"20"));
    assert_non_null(strstr(second, "env resolve 7"));
    free(text);
    alert_free(&a);
    assert_null(a);
    test_rmdir(dir);
}

static void failing_exec_is_retried_with_backoff_until_it_succeeds(void **state)
{
    char *dir = test_tmpdir();
    char flag[256], script[1024];
    snprintf(flag, sizeof flag, "%s/ok", dir);
    /* Fails until the second attempt has made the flag: then succeeds. */
    snprintf(script, sizeof script,
             "cat >/dev/null; test -e '%s/tried' && { touch '%s'; exit 0; }; touch '%s/tried'; exit 3",
             dir, flag, dir);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct alert_sink_config cfg = {.type = ALERT_SINK_EXEC, .argv = argv, .level = 4,
                                    .timeout_us = 5000000, .give_up_us = 60000000};
    struct alerter *a = alert_new(&cfg, 1, NULL);
    int64_t t0 = time_now_us();
    alert_event(a, INCIDENT_OPEN, &incident, t0);
    run_until_idle(a, 10000);
    int64_t took = time_now_us() - t0;
    assert_int_equal(alert_pending(a), 0);
    assert_int_equal(alert_counters(a)->failed_attempts, 1);
    assert_int_equal(alert_counters(a)->delivered, 1);
    assert_int_equal(access(flag, F_OK), 0);
    /* The retry waited for the first back-off step (1 s), not longer than a few. */
    assert_true(took >= 1000000);
    assert_true(took < 5000000);
    alert_free(&a);
    test_rmdir(dir);
}

static void a_sink_takes_only_incidents_at_its_severity_or_above(void **state)
{
    char *argv[] = {"/bin/true", NULL};
    struct alert_sink_config cfg[2] = {
        {.type = ALERT_SINK_EXEC, .argv = argv, .level = 1, .timeout_us = 5000000,
         .give_up_us = 60000000},
        {.type = ALERT_SINK_EXEC, .argv = argv, .level = 2, .timeout_us = 5000000,
         .give_up_us = 60000000},
    };
    struct alerter *a = alert_new(cfg, 2, NULL);
    alert_event(a, INCIDENT_OPEN, &incident, time_now_us()); /* L2: second sink only */
    assert_int_equal(alert_pending(a), 1);
    struct incident crit = incident;
    crit.fault = FL_FAULT(0x3, 0x7, 13, 0x3); /* L1: both */
    alert_event(a, INCIDENT_OPEN, &crit, time_now_us());
    assert_int_equal(alert_pending(a), 3);
    struct incident warn = incident;
    warn.fault = FL_FAULT_ICMP_LOSS; /* L3: neither */
    alert_event(a, INCIDENT_OPEN, &warn, time_now_us());
    assert_int_equal(alert_pending(a), 3);
    assert_int_equal(fault_level(FL_FAULT_ICMP_LOSS), 3);
    assert_int_equal(fault_level(0x3705), 4);
    run_until_idle(a, 10000);
    assert_int_equal(alert_counters(a)->delivered, 3);
    alert_free(&a);
}

static void a_full_queue_drops_the_oldest_and_counts_it(void **state)
{
    char *argv[] = {"/bin/true", NULL};
    struct alert_sink_config cfg = {.type = ALERT_SINK_EXEC, .argv = argv, .level = 4,
                                    .timeout_us = 5000000, .give_up_us = 60000000};
    struct alerter *a = alert_new(&cfg, 1, NULL);
    for (int i = 0; i < 1005; i++)
        alert_event(a, INCIDENT_UPDATE, &incident, time_now_us());
    assert_int_equal(alert_pending(a), 1000);
    assert_int_equal(alert_counters(a)->dropped, 5);
    alert_free(&a);
}

/* ---- a real HTTP listener on loopback ---------------------------------------- */

struct receiver {
    int fd, port;
    int fail_first;     /* answer 500 to this many requests first */
    int answer;         /* 0: accept and never answer */
    int requests;
    char body[8192];    /* the last request's body */
    char path[256];
    pthread_t thread;
};

static void *receiver_main(void *arg)
{
    struct receiver *r = arg;
    for (;;) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[16384];
        size_t len = 0;
        ssize_t n;
        char *body = NULL;
        long want = -1;
        while ((n = read(c, req + len, sizeof req - 1 - len)) > 0) {
            len += (size_t)n;
            req[len] = '\0';
            body = strstr(req, "\r\n\r\n");
            if (body && want < 0) {
                char *cl = strcasestr(req, "Content-Length:");
                want = cl ? strtol(cl + 15, NULL, 10) : 0;
            }
            if (body && (long)(len - (size_t)(body + 4 - req)) >= want)
                break;
        }
        if (!r->answer) {
            r->requests++;
            continue; /* leak the connection: a receiver that hangs */
        }
        sscanf(req, "POST %255s", r->path);
        snprintf(r->body, sizeof r->body, "%s", body ? body + 4 : "");
        const char *reply = r->requests++ < r->fail_first
                                ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        ssize_t w = send(c, reply, strlen(reply), MSG_NOSIGNAL);
        (void)w;
        close(c);
    }
}

static void receiver_start(struct receiver *r)
{
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(r->fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(r->fd, 16), 0);
    socklen_t sl = sizeof sin;
    getsockname(r->fd, (struct sockaddr *)&sin, &sl);
    r->port = ntohs(sin.sin_port);
    pthread_create(&r->thread, NULL, receiver_main, r);
}

static void receiver_stop(struct receiver *r)
{
    shutdown(r->fd, SHUT_RDWR);
    pthread_join(r->thread, NULL);
    close(r->fd);
}

static void webhook_posts_the_incident_and_retries_a_500(void **state)
{
    struct receiver r = {.fail_first = 1, .answer = 1};
    receiver_start(&r);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", r.port);
    struct alert_sink_config cfg = {.type = ALERT_SINK_WEBHOOK, .url = url, .level = 4,
                                    .timeout_us = 5000000, .give_up_us = 60000000};
    struct alerter *a = alert_new(&cfg, 1, NULL);
    alert_event(a, INCIDENT_UPDATE, &incident, time_now_us());
    run_until_idle(a, 10000);
    assert_int_equal(alert_pending(a), 0);
    assert_int_equal(r.requests, 2);
    assert_int_equal(alert_counters(a)->failed_attempts, 1);
    assert_string_equal(r.path, "/hook");
    json_error_t jerr;
    json_t *ev = json_loads(r.body, 0, &jerr);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "update");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "incident"), "component")),
        "web.lab.test:80");
    json_decref(ev);
    alert_free(&a);
    receiver_stop(&r);
}

static void a_hanging_receiver_never_blocks_the_loop(void **state)
{
    struct receiver r = {.answer = 0};
    receiver_start(&r);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", r.port);
    struct alert_sink_config cfg = {.type = ALERT_SINK_ALERTMANAGER, .url = url, .level = 4,
                                    .timeout_us = 500000, .resend_us = 60000000,
                                    .give_up_us = 1500000};
    struct alerter *a = alert_new(&cfg, 1, NULL);
    alert_event(a, INCIDENT_OPEN, &incident, time_now_us());
    int64_t longest = run_until_idle(a, 10000);
    /* Timed out, retried after 1 s, timed out again, given up. */
    assert_int_equal(alert_pending(a), 0);
    assert_int_equal(alert_counters(a)->dropped, 1);
    assert_true(alert_counters(a)->failed_attempts >= 2);
    assert_true(r.requests >= 2);
    /* No single step of the loop waited on the receiver. */
    assert_true(longest < 50000);
    alert_free(&a);
    receiver_stop(&r);
}

/* Alertmanager: the labels say which incident (they are the alert's
 * identity), generatorURL links to it, a resolve carries endsAt. */
static void alertmanager_alert_names_and_links_its_incident(void **state)
{
    struct receiver r = {.answer = 1};
    receiver_start(&r);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", r.port);
    struct alert_sink_config cfg = {.type = ALERT_SINK_ALERTMANAGER, .url = url, .level = 4,
                                    .timeout_us = 5000000, .resend_us = 60000000,
                                    .give_up_us = 60000000};
    struct alerter *a = alert_new(&cfg, 1, "http://coll.example:9105/");
    alert_event(a, INCIDENT_OPEN, &incident, time_now_us());
    run_until_idle(a, 10000);
    assert_string_equal(r.path, "/api/v2/alerts");
    json_error_t jerr;
    json_t *body = json_loads(r.body, 0, &jerr);
    assert_true(json_is_array(body) && json_array_size(body) == 1);
    json_t *al = json_array_get(body, 0);
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)incident.id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(al, "labels"), "incident")), id);
    char link[128];
    snprintf(link, sizeof link, "http://coll.example:9105/api/v1/incidents/%s", id);
    assert_string_equal(json_string_value(json_object_get(al, "generatorURL")), link);
    assert_null(json_object_get(al, "endsAt"));
    json_decref(body);
    struct incident closed = incident;
    closed.end_us = closed.start_us + 60 * 1000000LL;
    alert_event(a, INCIDENT_RESOLVE, &closed, time_now_us());
    run_until_idle(a, 10000);
    body = json_loads(r.body, 0, &jerr);
    al = json_array_get(body, 0);
    assert_non_null(json_object_get(al, "endsAt"));
    assert_string_equal(json_string_value(json_object_get(al, "generatorURL")), link);
    json_decref(body);
    alert_free(&a);
    receiver_stop(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exec_sink_gets_each_event_as_json_on_stdin_in_order),
        cmocka_unit_test(failing_exec_is_retried_with_backoff_until_it_succeeds),
        cmocka_unit_test(a_sink_takes_only_incidents_at_its_severity_or_above),
        cmocka_unit_test(a_full_queue_drops_the_oldest_and_counts_it),
        cmocka_unit_test(webhook_posts_the_incident_and_retries_a_500),
        cmocka_unit_test(a_hanging_receiver_never_blocks_the_loop),
        cmocka_unit_test(alertmanager_alert_names_and_links_its_incident),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
