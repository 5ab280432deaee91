/* Configuration errors name the file, line, column and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "agent.h"
#include "collector.h"
#include "test_util.h"

static const char good_config[] =
    "agent:\n"
    "  name: r1a1\n"
    "  labels: {region: r1, role: edge}\n"
    "collector:\n"
    "  endpoint: tcp://127.0.0.1:5555\n"
    "defaults: {interval: 5s, timeout: 1s, retries: 2}\n"
    "checks:\n"
    "  - probe: icmp\n"
    "    targets: [web.lab.test, 10.77.100.2]\n"
    "    count: 3\n"
    "  - probe: tcp\n"
    "    targets: web.lab.test\n"
    "    port: 80\n"
    "    interval: 10s\n"
    "    family: ipv6\n";

/* Load TEXT as an agent configuration; returns the error text ("" if ok). */
static char *load(const char *text, struct agent_config *cfg)
{
    static char err[4096];
    char *dir = test_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/agent.yaml", dir);
    test_write(path, text);
    err[0] = 0;
    int rc = agent_config_load(path, cfg, err, sizeof err);
    /* Report the message relative to a fixed name, so tests can match it. */
    static char rel[4096];
    char *p = strstr(err, "agent.yaml");
    snprintf(rel, sizeof rel, "%s", rc == 0 ? "" : p ? p : err);
    test_rmdir(dir);
    return rel;
}

static void good_config_loads(void **state)
{
    struct agent_config cfg;
    char *err = load(good_config, &cfg);
    assert_string_equal(err, "");
    assert_string_equal(cfg.name, "r1a1");
    assert_int_equal(cfg.nlabels, 2);
    assert_string_equal(cfg.labels[0]->key, "region");
    assert_int_equal(cfg.nchecks, 2);
    assert_int_equal(cfg.checks[0].ntargets, 2);
    assert_int_equal(cfg.checks[0].interval_us, 5000000); /* from defaults */
    assert_int_equal(cfg.checks[0].retries, 2);
    assert_int_equal(cfg.checks[1].interval_us, 10000000); /* its own */
    assert_int_equal(cfg.checks[1].family, FAMILY_IPV6);
    assert_ptr_equal(cfg.checks[1].ops, probe_find("tcp"));
    agent_config_free(&cfg);
}

static void expect_error(const char *text, const char *expected)
{
    struct agent_config cfg;
    char *err = load(text, &cfg);
    if (!strstr(err, expected))
        fail_msg("expected \"%s\" in:\n%s", expected, err);
}

static void unknown_key_is_named_with_position(void **state)
{
    expect_error("collector: {endpoint: tcp://x:1}\n"
                 "checks:\n"
                 "  - probe: icmp\n"
                 "    targets: [a]\n"
                 "    cuont: 3\n",
                 "agent.yaml:5:5: icmp check: unknown key 'cuont'");
    expect_error("collectr: {endpoint: tcp://x:1}\n", "agent.yaml:1:1: configuration: unknown key 'collectr'");
}

static void wrong_type_and_range(void **state)
{
    const char *head = "collector: {endpoint: tcp://x:1}\nchecks:\n  - probe: tcp\n    targets: [a]\n";
    char text[512];
    snprintf(text, sizeof text, "%s    port: eighty\n", head);
    expect_error(text, "agent.yaml:5:11: port: 'eighty' is not an integer");
    snprintf(text, sizeof text, "%s    port: 70000\n", head);
    expect_error(text, "agent.yaml:5:11: port: 70000 is out of range (1 to 65535)");
    snprintf(text, sizeof text, "%s    port: 80\n    interval: soon\n", head);
    expect_error(text, "agent.yaml:6:15: interval: 'soon' is not a duration");
    snprintf(text, sizeof text, "%s    port: [80, 81]\n", head);
    expect_error(text, "port: expected a single value");
    snprintf(text, sizeof text, "%s", head);
    expect_error(text, "tcp check: 'port' is required");
    snprintf(text, sizeof text, "%s    port: 80\n    family: ipv5\n", head);
    expect_error(text, "agent.yaml:6:13: family: 'ipv5' is not any, ipv4 or ipv6");
}

static void duplicate_key_is_a_syntax_error(void **state)
{
    expect_error("collector: {endpoint: tcp://x:1}\ncollector: {endpoint: tcp://y:1}\n", "agent.yaml:2:1:");
}

static void unknown_probe_lists_the_known_ones(void **state)
{
    expect_error("collector: {endpoint: tcp://x:1}\nchecks:\n  - {probe: smtp, targets: [a]}\n",
                 "probe: unknown probe 'smtp' (one of icmp, tcp, http, dns, mtu, trace, host, capture");
}

/* A DNS check may expect another rcode than NOERROR (a name that must not
 * exist); answers are only NOERROR's to expect. */
static void dns_expected_rcode(void **state)
{
    struct check ck;
    char err[512];
    assert_int_equal(agent_config_check_from_text(
                         "{probe: dns, targets: [gone.example], expect_rcode: NXDOMAIN}", &ck, err,
                         sizeof err),
                     0);
    agent_check_free(&ck);
    expect_error("collector: {endpoint: tcp://x:1}\nchecks:\n"
                 "  - {probe: dns, targets: [a], expect_rcode: GONE}\n",
                 "agent.yaml:3:46: expect_rcode: 'GONE' is not an rcode like NOERROR or NXDOMAIN");
    expect_error("collector: {endpoint: tcp://x:1}\nchecks:\n"
                 "  - {probe: dns, targets: [a], expect_rcode: NXDOMAIN, expect: [192.0.2.1]}\n",
                 "'expect' lists answers, which only NOERROR has (expect_rcode NXDOMAIN)");
}

static void required_sections(void **state)
{
    expect_error("checks:\n  - {probe: icmp, targets: [a]}\n", "collector: 'endpoint' is required");
    expect_error("collector: {endpoint: tcp://x:1}\n", "checks: at least one check is required");
    expect_error("", "empty configuration");
    expect_error("collector: {endpoint: tcp://x:1}\nchecks:\n  - {probe: icmp, targets: [a], timeout: 20s, interval: 10s}\n",
                 "agent.yaml:3:6: checks[0]: a timeout of 20000 ms is longer than the interval");
    /* A default timeout (http's 5 s) that does not fit: the error is at the check. */
    expect_error("collector: {endpoint: tcp://x:1}\ndefaults: {interval: 2s}\nchecks:\n"
                 "  - {probe: icmp, targets: [a]}\n  - {probe: http, targets: [http://a/]}\n",
                 "agent.yaml:5:6: checks[1]: a timeout of 5000 ms is longer than the interval of 2000 ms");
}

static void bad_yaml_reports_position(void **state)
{
    expect_error("collector: {endpoint: tcp://x:1\nchecks: [\n", "agent.yaml:");
    expect_error("agent:\n  name: \"bad name\"\n", "agent.yaml:2:10: name: 'bad name' is not a valid agent name");
}

static void invalid_utf8_is_refused_not_hung_on(void **state)
{
    /* libfyaml 0.7 loops forever on this directive; it must never see it. */
    expect_error("%\xffz", "agent.yaml:1:2: not valid UTF-8 text");
    expect_error("agent: {name: \"a\x80\"}\n", "agent.yaml:1:17: not valid UTF-8 text");
}

/* Found by fuzz_config: libfyaml 0.7.12 dies on this.  The agent must not. */
static void parser_crash_is_a_clear_error(void **state)
{
    expect_error("# x\n#t]\n?   o:  -ra\n?    poJs : reet]\n?  agent:\n  name /r:\t\t\t \t\t\t\t\t\t\t: "
                 "edfe`b\ndeves :X=re",
                 "the YAML parser crashed on this file");
}

static void huge_value_is_refused(void **state)
{
    size_t n = 1024 * 1024;
    char *text = malloc(n + 64);
    strcpy(text, "agent: {name: ");
    memset(text + strlen(text), 'a', n - 20);
    text[n - 6] = 0;
    strcat(text, "}\n");
    expect_error(text, "agent.yaml:1:15: name:");
    free(text);
}

static void file_problems_are_named(void **state)
{
    struct agent_config cfg;
    char err[512];
    assert_int_equal(agent_config_load("/nonexistent/agent.yaml", &cfg, err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent/agent.yaml: cannot open: No such file or directory");
    assert_int_equal(agent_config_load("/tmp", &cfg, err, sizeof err), -1);
    assert_string_equal(err, "/tmp: not a regular file");
    char *dir = test_tmpdir();
    char path[256];
    snprintf(path, sizeof path, "%s/big.yaml", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 70000; i++)
        fputs("# padding padding\n", f);
    fclose(f);
    assert_int_equal(agent_config_load(path, &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "larger than 1048576 bytes"));
    test_rmdir(dir);
}

static void collector_config(void **state)
{
    char *dir = test_tmpdir();
    char path[256], err[1024];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    struct collector_config cfg;
    test_write(path, "listen: tcp://*:6000\ndatabase: /tmp/x.db\nsynchronous: normal\n");
    collector_config_defaults(&cfg);
    assert_int_equal(collector_config_load(path, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.listen, "tcp://*:6000");
    assert_int_equal(cfg.sync_normal, 1);
    collector_config_free(&cfg);
    test_write(path, "listen: tcp://*:6000\nsynchronous: sometimes\nport: 5\n");
    collector_config_defaults(&cfg);
    assert_int_equal(collector_config_load(path, &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "c.yaml:2:14: synchronous: 'sometimes' is not full or normal"));
    assert_non_null(strstr(err, "c.yaml:3:1: collector: unknown key 'port'"));
    collector_config_free(&cfg);
    test_rmdir(dir);
}

/* Write TEXT to PATH and load it over the defaults into CFG. */
static int collector_load(const char *path, const char *text, struct collector_config *cfg,
                          char *err, size_t errlen)
{
    test_write(path, text);
    collector_config_defaults(cfg);
    return collector_config_load(path, cfg, err, errlen);
}

static void collector_alerts_and_thresholds(void **state)
{
    char *dir = test_tmpdir();
    char path[256], err[2048];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    struct collector_config cfg;
    assert_int_equal(collector_load(path, "correlation:\n  open_after: 4\n  target_share: 60%\n  agent_share: 0.9\n"
                     "  confirm_after: 0s\n  lagging_after: 10s\n"
                     "alerts:\n  - type: alertmanager\n    url: http://127.0.0.1:9093\n"
                     "    severity: L2\n    resend_interval: 30s\n"
                     "  - type: exec\n    command: [/usr/bin/logger, -t, faultline]\n"
                     "  - type: log\n", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.corr.open_after, 4);
    assert_int_equal(cfg.corr.close_after, 2);
    assert_int_equal(cfg.corr.confirm_after_us, 0);
    assert_int_equal(cfg.corr.lagging_after_us, 10000000);
    assert_string_equal(cfg.http_listen, "127.0.0.1:9105");
    assert_true(cfg.corr.target_share > 0.59 && cfg.corr.target_share < 0.61);
    assert_true(cfg.corr.agent_share > 0.89 && cfg.corr.agent_share < 0.91);
    assert_int_equal(cfg.nsinks, 3);
    assert_int_equal(cfg.sinks[0].type, ALERT_SINK_ALERTMANAGER);
    assert_int_equal(cfg.sinks[0].level, 2);
    assert_int_equal(cfg.sinks[0].resend_us, 30000000);
    assert_string_equal(cfg.sinks[1].argv[2], "faultline");
    assert_null(cfg.sinks[1].argv[3]);
    assert_int_equal(cfg.sinks[2].level, 4);
    collector_config_free(&cfg);
    assert_int_equal(collector_load(path, "correlation:\n  target_share: 150%\n  open_after: 0\n"
                     "alerts:\n  - type: pager\n  - type: webhook\n  - type: exec\n"
                     "  - type: log\n    severity: L9\n    url: http://x\n"
                     "  - type: webhook\n    url: ftp://x\n", &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "c.yaml:2:17: target_share: '150%' is not a share"));
    assert_non_null(strstr(err, "c.yaml:3:15: open_after: 0 is out of range (1 to 1000)"));
    assert_non_null(strstr(err, "c.yaml:5:11: type: 'pager' is not log, webhook"));
    assert_non_null(strstr(err, "c.yaml:6:5: alert sink: 'url' is required"));
    assert_non_null(strstr(err, "c.yaml:7:5: alert sink: 'command' is required for exec"));
    assert_non_null(strstr(err, "c.yaml:9:15: severity: 'L9' is not L1, L2, L3 or all"));
    assert_non_null(strstr(err, "c.yaml:11:5: alert sink: 'url' is required, an http://"));
    collector_config_free(&cfg);
    test_rmdir(dir);
}

static void collector_window_rules_and_addresses(void **state)
{
    char *dir = test_tmpdir();
    char path[256], err[2048];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    struct collector_config cfg;
    /* The window rules: 0 turns a rule off; a share above 100 % or more
     * samples than the engine keeps are errors. */
    assert_int_equal(collector_load(path, "correlation:\n  window: 10m\n  min_success: 0\n  max_jitter: 0s\n"
                     "  max_reset_share: 25%\n  window_min_samples: 64\n  hop_min_hosts: 3\n", &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.corr.window_us, 600000000);
    assert_true(cfg.corr.min_success == 0.0);
    assert_int_equal(cfg.corr.max_jitter_us, 0);
    assert_true(cfg.corr.max_reset_share > 0.24 && cfg.corr.max_reset_share < 0.26);
    assert_int_equal(cfg.corr.window_min_samples, 64);
    assert_int_equal(cfg.corr.hop_min_hosts, 3);
    collector_config_free(&cfg);
    assert_int_equal(collector_load(path, "correlation:\n  min_success: 101%\n  window_min_samples: 65\n"
                     "  window: 0s\n  agent_share: 0\n", &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "c.yaml:2:16: min_success: '101%' is not a share (like 80% or "
                                "0.8, at least 0, at most 1)"));
    assert_non_null(strstr(err, "c.yaml:3:23: window_min_samples: 65 is out of range (1 to 64)"));
    assert_non_null(strstr(err, "c.yaml:4:11: window: 0s is out of range"));
    assert_non_null(strstr(err, "c.yaml:5:16: agent_share: '0' is not a share (like 80% or 0.8, "
                                "above 0"));
    collector_config_free(&cfg);
    assert_int_equal(collector_load(path, "http_listen: \"\"\n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.http_listen, ""); /* off */
    collector_config_free(&cfg);
    assert_int_equal(collector_load(path, "external_url: https://faultline.example.net/\n", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg.external_url, "https://faultline.example.net/");
    collector_config_free(&cfg);
    assert_int_equal(collector_load(path, "external_url: faultline.example.net\n", &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "c.yaml:1:15: external_url: 'faultline.example.net' is not an "
                                "http:// or https:// URL"));
    collector_config_free(&cfg);
    assert_int_equal(collector_load(path, "http_listen: localhost:http\n", &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "c.yaml:1:14: http_listen: 'localhost:http': bad port"));
    collector_config_free(&cfg);
    assert_int_equal(collector_load(path, "correlation: [1, 2]\nalerts: {type: log}\nhttp_listen: [x]\n", &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "c.yaml:1:15: correlation: expected a mapping"));
    assert_non_null(strstr(err, "c.yaml:2:10: alerts: expected a list of at most 64 sinks"));
    assert_non_null(strstr(err, "c.yaml:3:15: http_listen: expected a single value"));
    collector_config_free(&cfg);
    test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_config_loads),
        cmocka_unit_test(unknown_key_is_named_with_position),
        cmocka_unit_test(wrong_type_and_range),
        cmocka_unit_test(duplicate_key_is_a_syntax_error),
        cmocka_unit_test(unknown_probe_lists_the_known_ones),
        cmocka_unit_test(required_sections),
        cmocka_unit_test(dns_expected_rcode),
        cmocka_unit_test(bad_yaml_reports_position),
        cmocka_unit_test(invalid_utf8_is_refused_not_hung_on),
        cmocka_unit_test(parser_crash_is_a_clear_error),
        cmocka_unit_test(huge_value_is_refused),
        cmocka_unit_test(file_problems_are_named),
        cmocka_unit_test(collector_config),
        cmocka_unit_test(collector_alerts_and_thresholds),
        cmocka_unit_test(collector_window_rules_and_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
