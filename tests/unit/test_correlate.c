/* The correlation engine on synthetic result streams: each verdict, the
 * explain-away order, hysteresis against flapping, agents with few targets. */
#include "test_correlate.h"

static void healthy_fleet_has_no_diagnosis(void **state)
{
    assert_int_equal(rounds(10, none), 0);
    assert_int_equal(correlate_failing(c), 0);
}

static void target_down_is_one_target_diagnosis(void **state)
{
    assert_int_equal(rounds(2, web_down), 0); /* hysteresis: not yet */
    assert_int_equal(rounds(1, web_down), 1);
    assert_int_equal(diag[0].verdict, CORR_TARGET);
    assert_string_equal(diag[0].component, "web:80"); /* the machine answers at :53 */
    assert_int_equal(diag[0].nagents, 6);
    assert_non_null(strstr(diag[0].explanation, "6 of the 6 agents"));
    assert_int_equal(rounds(1, none), 1); /* one success does not close it */
    assert_int_equal(rounds(1, none), 0); /* two do */
}

static void failing_agent_is_blamed_not_its_targets(void **state)
{
    assert_int_equal(rounds(3, r1a2_isolated), 1);
    assert_int_equal(diag[0].verdict, CORR_AGENT);
    assert_string_equal(diag[0].component, "r1a2");
    assert_int_equal(diag[0].npairs, 4); /* every failing pair is explained by it */
}

static void silent_agent_is_blamed(void **state)
{
    rounds(3, none);
    /* r3a2 stops reporting; the others go on. */
    for (int i = 0; i < 8; i++) {
        for (int a = 0; a < 5; a++)
            feed(agents[a], "web:80", "", "10.0.0.1", TCP, 1);
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_AGENT);
    assert_string_equal(diag[0].component, "r3a2");
    assert_non_null(strstr(diag[0].explanation, "silent"));
}

/* r3a1's host is isolated: it cannot report, and nobody reaches it.  One
 * verdict, AGENT r3a1, explains the others' failures toward it too. */
static int is_r3a1(const char *a) { return !strcmp(a, "r3a1"); }
static int toward_r3a1(const char *a, const char *t) { return is_r3a1(t); }

static void isolated_agent_host_is_one_agent_diagnosis(void **state)
{
    hosts_are_agents();
    rounds(3, none);
    for (int i = 0; i < 6; i++) {
        round_silent(toward_r3a1, is_r3a1);
        size_t n = correlate_evaluate(c, now, diag, 16);
        /* Never the target r3a1: either nothing yet, or the agent. */
        for (size_t k = 0; k < n; k++)
            assert_int_equal(diag[k].verdict, CORR_AGENT);
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_string_equal(diag[0].component, "r3a1");
    assert_true(diag[0].npairs >= 4); /* its own pairs and the others' toward it */
}

static void cut_between_regions_is_a_path(void **state)
{
    assert_int_equal(rounds(3, cut_r1_r2), 1);
    assert_int_equal(diag[0].verdict, CORR_PATH);
    assert_string_equal(diag[0].component, "r1<->r2");
    assert_int_equal(diag[0].nagents, 4);
    assert_int_equal(diag[0].npairs, 4);
}

static int two_faults(const char *a, const char *t)
{
    return r1a2_isolated(a, t) || web_down(a, t);
}

static void two_faults_at_once_are_two_diagnoses(void **state)
{
    assert_int_equal(rounds(3, two_faults), 2);
    assert_int_equal(diag[0].verdict, CORR_AGENT);
    assert_string_equal(diag[0].component, "r1a2");
    assert_int_equal(diag[1].verdict, CORR_TARGET);
    assert_string_equal(diag[1].component, "web:80");
    assert_int_equal(diag[1].nagents, 5); /* r1a2's failure is explained already */
}

static int flap_state;
static int flapping(const char *a, const char *t)
{
    return !strcmp(t, "web:80") && flap_state % 3 != 2; /* fail, fail, ok, ... */
}

/* Start over with the TCP/HTTP window rules at these thresholds (0: off). */
static void window_rules(double min_success, double max_reset_share)
{
    struct correlate_config cfg;
    correlate_config_defaults(&cfg);
    cfg.min_success = min_success;
    cfg.max_reset_share = max_reset_share;
    correlate_free(&c);
    c = correlate_new(&cfg);
}

static void flapping_target_never_opens_on_consecutive_failures(void **state)
{
    window_rules(0, 0); /* off */
    for (flap_state = 0; flap_state < 30; flap_state++) {
        round_of(flapping);
        assert_int_equal(correlate_evaluate(c, now, diag, 16), 0);
    }
}

/* Two of three failing never makes three in a row, but the success rate
 * says what it is: once the window has enough results, the target is
 * failing, steadily (no open and close at every result), and it heals
 * only when the failures have left the window. */
static void flapping_target_opens_by_success_rate_and_holds(void **state)
{
    for (flap_state = 0; flap_state < 9; flap_state++) {
        round_of(flapping);
        assert_int_equal(correlate_evaluate(c, now, diag, 16), 0);
    }
    for (; flap_state < 40; flap_state++) {
        round_of(flapping);
        assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
        assert_int_equal(diag[0].verdict, CORR_TARGET);
        assert_string_equal(diag[0].component, "web:80");
    }
    /* Healed: the window (5 min, 60 rounds) still holds failures. */
    for (int i = 0; i < 50; i++) {
        round_of(none);
        assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    }
    assert_int_equal(rounds(12, none), 0);
}

/* An outage that is over does not hold the pair by its window: the
 * failures of the outage are forgotten on recovery. */
static void recovery_starts_a_new_window(void **state)
{
    rounds(10, none);
    assert_int_equal(rounds(3, web_down), 1);
    assert_int_equal(rounds(2, none), 0);
    assert_int_equal(rounds(1, web_down), 0); /* one failure after recovery opens nothing */
    assert_int_equal(rounds(12, none), 0);
}

/* A service restarted twice (slow, then back): its connect check fails
 * once at each restart, never three in a row, while its HTTP check is
 * down in between.  When HTTP recovers, so does the connect check: the
 * restarts belonged to that outage. */
static void an_outage_takes_its_blips_with_it(void **state)
{
    rounds(12, none);
    for (int i = 0; i < 6; i++) {
        for (int a = 0; a < 6; a++) {
            feed(agents[a], "web:80", "", "10.0.0.1", TCP, i != 0 && i != 5);
            feed(agents[a], "http://web/", "", "10.0.0.1", 3, 0);
        }
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].ntargets, 2); /* both checks, by hysteresis and by window */
    for (int i = 0; i < 2; i++) {
        for (int a = 0; a < 6; a++) {
            feed(agents[a], "web:80", "", "10.0.0.1", TCP, 1);
            feed(agents[a], "http://web/", "", "10.0.0.1", 3, 1);
        }
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 0);
    assert_int_equal(correlate_failing(c), 0);
}

static void feed_icmp(const char *agent, const char *target, uint32_t avg_us, uint32_t sd_us)
{
    struct corr_input in = {.agent = agent, .region = region_of(agent), .target = target,
                            .target_region = "", .address = "10.0.0.1", .probe = ICMP,
                            .ok = 1, .ts_us = now, .rtt_avg_us = avg_us, .rtt_stddev_us = sd_us};
    correlate_result(c, &in);
}

/* Jitter: the echoes of the window pooled.  Answers between 5 ms and
 * 605 ms are jitter; a path that became 150 ms slower is not (that is
 * max_rtt's to judge). */
static void jitter_over_the_window(void **state)
{
    for (int i = 0; i < 20; i++) {
        for (int a = 0; a < 6; a++)
            feed_icmp(agents[a], "steady", i < 10 ? 1000 : 151000, 500);
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 0);
    for (int i = 0; i < 10; i++) {
        for (int a = 0; a < 6; a++)
            feed_icmp(agents[a], "jumpy", i % 2 ? 5000 : 605000, 1000);
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_TARGET);
    assert_string_equal(diag[0].component, "jumpy");
    assert_int_equal(diag[0].fault, 0x3155);
}

/* Resets or timeouts in more than a tenth of the attempts. */
static void resets_over_the_window(void **state)
{
    window_rules(0, 0.1); /* this rule alone */
    for (int i = 0; i < 20; i++) {
        for (int a = 0; a < 6; a++) {
            struct corr_input in = {.agent = agents[a], .region = region_of(agents[a]),
                                    .target = "web:80", .target_region = "",
                                    .address = "10.0.0.1", .probe = TCP, .ok = i % 5 != 0,
                                    .fault = i % 5 ? 0 : 0x3795, .ts_us = now};
            correlate_result(c, &in);
        }
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_TARGET);
    assert_int_equal(diag[0].fault, 0x3795);
}

static void feed_trace(const char *agent, const char *target, const char *address,
                       const char *const *hops, size_t nhops, int reached)
{
    struct corr_input in = {.agent = agent, .region = region_of(agent), .target = target,
                            .target_region = "", .address = address, .probe = 6,
                            .ok = reached, .ts_us = now, .hops = hops, .nhops = nhops,
                            .reached = reached};
    correlate_result(c, &in);
}

/* Every agent's traces: web reached through its region's router and the
 * core; far and back, behind router 10.0.3.2, reached or not (DOWN). */
static void traces(int down)
{
    for (int a = 0; a < 6; a++) {
        char router[16];
        snprintf(router, sizeof router, "10.0.%c.1", agents[a][1]);
        const char *to_web[] = {router, "10.0.9.1", "10.0.0.1"};
        const char *to_far[] = {router, "10.0.9.1", "10.0.3.2", "10.0.4.2"};
        const char *to_back[] = {router, "10.0.9.1", "10.0.3.2", "10.0.5.2"};
        feed_trace(agents[a], "web", "10.0.0.1", to_web, 3, 1);
        feed_trace(agents[a], "far", "10.0.4.2", to_far, down ? 3 : 4, !down);
        feed_trace(agents[a], "back", "10.0.5.2", to_back, down ? 3 : 4, !down);
    }
}

static void behind_the_router(int web_ok, int far_back_ok)
{
    for (int a = 0; a < 6; a++) {
        feed(agents[a], "web:80", "", "10.0.0.1", TCP, web_ok);
        feed(agents[a], "far:80", "", "10.0.4.2", TCP, far_back_ok);
        feed(agents[a], "back:80", "", "10.0.5.2", TCP, far_back_ok);
        feed(agents[a], "far", "", "10.0.4.2", ICMP, far_back_ok);
        feed(agents[a], "back", "", "10.0.5.2", ICMP, far_back_ok);
        feed(agents[a], "far:80", "", "fd00::4:2", TCP, far_back_ok);
        feed(agents[a], "back:80", "", "fd00::5:2", TCP, far_back_ok);
    }
    now += 5 * S;
}

/* A router that stops forwarding: two hosts behind it fail from
 * everywhere.  One HOP, not two TARGETs; the IPv6 addresses go by their
 * IPv4 traces, so the router is one HOP, not one per family. */
static void router_down_is_one_hop(void **state)
{
    traces(0);
    for (int i = 0; i < 3; i++)
        behind_the_router(1, 1);
    traces(1);
    /* One trace stopped short: the routers' ICMP errors are rate-limited. */
    const char *short_trace[] = {"10.0.2.1"};
    feed_trace("r2a1", "back", "10.0.5.2", short_trace, 1, 0);
    /* Two agents trace IPv6 too, and then an IPv4 trace that no hop
     * answered at all: it says nothing of the path, which stays known. */
    for (int a = 1; a <= 2; a++) {
        const char *v6_far[] = {"fd00::1:1", "fd00::9:1", "fd00::3:2"};
        feed_trace(agents[a], "far", "fd00::4:2", v6_far, 3, 0);
        feed_trace(agents[a], "back", "fd00::5:2", v6_far, 3, 0);
        feed_trace(agents[a], "far:80", "10.0.4.2", NULL, 0, 0);
        feed_trace(agents[a], "back:80", "10.0.5.2", NULL, 0, 0);
    }
    for (int i = 0; i < 3; i++)
        behind_the_router(1, 0);
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_HOP);
    assert_string_equal(diag[0].component, "10.0.3.2");
    assert_int_equal(diag[0].npairs, 36);
    assert_int_equal(diag[0].nagents, 6);
    assert_non_null(strstr(diag[0].explanation, "router 10.0.3.2"));
    /* Healed, it closes like anything else. */
    traces(0);
    for (int i = 0; i < 2; i++)
        behind_the_router(1, 1);
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 0);
}

/* One host down behind the router is that host: a HOP needs failing paths
 * toward two hosts, and a host reached (it answers the trace) is no hop. */
static void one_host_behind_a_router_is_a_target(void **state)
{
    traces(0);
    for (int i = 0; i < 3; i++) {
        for (int a = 0; a < 6; a++) {
            feed(agents[a], "web:80", "", "10.0.0.1", TCP, 0);
            feed(agents[a], "far:80", "", "10.0.4.2", TCP, 1);
        }
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_TARGET);
    assert_string_equal(diag[0].component, "web");
}

/* One agent whose traces toward two hosts die at one router, while every
 * other agent reaches those hosts by other ways: seen from one agent alone,
 * the router is that agent's way out, not a HOP. */
static void hop_seen_from_one_agent_is_not_blamed(void **state)
{
    const char *out[] = {"10.0.9.9"};
    for (int i = 0; i < 3; i++) {
        round_of(none);
        feed_trace("r9a1", "far", "10.0.4.2", out, 1, 0);
        feed_trace("r9a1", "back", "10.0.5.2", out, 1, 0);
        feed("r9a1", "far:80", "", "10.0.4.2", TCP, 0);
        feed("r9a1", "back:80", "", "10.0.5.2", TCP, 0);
    }
    size_t n = correlate_evaluate(c, now, diag, 16);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(diag[i].verdict, CORR_HOP);
}

static void agent_with_few_targets_is_not_blamed(void **state)
{
    /* r9a1 probes only web:80, and fails; everyone else reaches it. */
    for (int i = 0; i < 3; i++) {
        round_of(none);
        feed("r9a1", "web:80", "", "10.0.0.1", TCP, 0);
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 0);
    assert_int_equal(correlate_failing(c), 1); /* failing, but no root cause to name */
}

static void dns_resolver_and_zone(void **state)
{
    /* Server A fails for every name; name broken.test fails through both. */
    for (int i = 0; i < 3; i++) {
        for (int a = 0; a < 4; a++) {
            feed(agents[a], "web.lab/A", "", "10.0.0.53", DNS, 0);
            feed(agents[a], "far.lab/A", "", "10.0.0.53", DNS, 0);
            feed(agents[a], "web.lab/A", "", "10.0.1.53", DNS, 1);
            feed(agents[a], "far.lab/A", "", "10.0.1.53", DNS, 1);
            feed(agents[a], "broken.test/A", "", "10.0.1.53", DNS, 0);
        }
        now += 5 * S;
    }
    size_t n = correlate_evaluate(c, now, diag, 16);
    assert_int_equal(n, 2);
    assert_int_equal(diag[0].verdict, CORR_DNS_RESOLVER);
    assert_string_equal(diag[0].component, "10.0.0.53");
    assert_int_equal(diag[1].verdict, CORR_DNS_ZONE);
    assert_string_equal(diag[1].component, "broken.test");
}

static void mtu_black_hole(void **state)
{
    for (int i = 0; i < 3; i++) {
        for (int a = 0; a < 6; a++) {
            struct corr_input in = {.agent = agents[a], .region = region_of(agents[a]),
                                    .target = "far", .target_region = "", .address = "10.0.4.2",
                                    .probe = MTU, .ok = 0, .fault = 0x34a1, .black_hole = 1,
                                    .ts_us = now};
            correlate_result(c, &in);
        }
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_MTU_BLACKHOLE);
    assert_string_equal(diag[0].component, "far");
    assert_int_equal(diag[0].fault, 0x34a1);
}

/* Does (agent A, target T) cross region R's uplink? */
static int crosses_uplink(const char *r, const char *a, const char *t)
{
    return !strncmp(a, r, 2) != !strncmp(t, r, 2);
}
static int r1_uplink(const char *a, const char *t) { return crosses_uplink("r1", a, t); }

static void lossy_uplink_is_one_region_diagnosis(void **state)
{
    assert_int_equal(rounds(3, r1_uplink), 1);
    assert_int_equal(diag[0].verdict, CORR_REGION);
    assert_string_equal(diag[0].component, "r1");
    /* r1's 2 agents x (web, dns, r2a1, r3a1) and the 4 others toward r1a1 */
    assert_int_equal(diag[0].npairs, 12);
    assert_int_equal(diag[0].nagents, 6);
}

/* r2's uplink is down: its agents fall silent, nobody reaches r2. */
static int in_r2(const char *a) { return !strncmp(a, "r2", 2); }
static int toward_r2(const char *a, const char *t) { return in_r2(t); }

static void region_cut_off_entirely_is_one_region_not_two_agents(void **state)
{
    hosts_are_agents();
    rounds(3, none);
    for (int i = 0; i < 5; i++)
        round_silent(toward_r2, in_r2);
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_REGION);
    assert_string_equal(diag[0].component, "r2");
    assert_non_null(strstr(diag[0].explanation, "2 silent"));
}

/* A lossy uplink stalls one agent's link to the collector: r2a1 has sent
 * nothing for 10 s (not yet silent), r2a2 fails toward everything outside
 * r2, everyone else fails toward r2.  Its region, not r2a1's host. */
static int r2_uplink(const char *a, const char *t) { return crosses_uplink("r2", a, t); }
static int r2a1_only(const char *a) { return !strcmp(a, "r2a1"); }

static void an_agent_gone_quiet_counts_against_its_region(void **state)
{
    hosts_are_agents();
    rounds(3, none);
    now -= 5 * S;
    for (int i = 0; i < 5; i++) {
        now -= 3 * S; /* rounds 2 s apart */
        round_silent(r2_uplink, r2a1_only);
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_REGION);
    assert_string_equal(diag[0].component, "r2");
    assert_non_null(strstr(diag[0].explanation, "1 silent or late"));
}

/* A lossy uplink: r2's reports arrive 8 s late and still say little is
 * wrong, while everyone else fails toward r2a1.  Its region, not r2a1. */
static void late_reports_count_against_their_region(void **state)
{
    hosts_are_agents();
    rounds(3, none);
    for (int i = 0; i < 4; i++) {
        for (int a = 0; a < 6; a++) {
            int r2 = !strncmp(agents[a], "r2", 2);
            struct corr_input in = {.agent = agents[a], .region = region_of(agents[a]),
                                    .target = "web:80", .target_region = "",
                                    .address = "10.0.0.1", .probe = TCP, .ok = 1,
                                    .ts_us = r2 ? now - 8 * S : now, .received_us = now};
            correlate_result(c, &in);
            if (!r2)
                feed(agents[a], "r2a1", "r2", "10.0.0.2", ICMP, 0);
        }
        now += 2 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_REGION);
    assert_string_equal(diag[0].component, "r2");
    assert_non_null(strstr(diag[0].explanation, "2 silent or late"));
}

static void http_round(const char *second_server)
{
    for (int a = 0; a < 6; a++) {
        struct corr_input in = {.agent = agents[a], .region = region_of(agents[a]),
                                .target = "http://app.lab/", .target_region = "",
                                .address = "10.0.0.1", .probe = 3, .ok = 1,
                                .server = "nginx/1.22.1", .ts_us = now};
        correlate_result(c, &in);
        in.address = "10.0.0.2";
        in.server = second_server;
        correlate_result(c, &in);
    }
    now += 5 * S;
}

/* One backend behind a name answers with another version: DRIFT, from
 * healthy answers; when it is upgraded too, nothing. */
static void server_versions_drifting_behind_one_name(void **state)
{
    http_round("nginx/1.22.1");
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 0);
    http_round("nginx/1.18.0");
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_DRIFT);
    assert_string_equal(diag[0].component, "app.lab");
    assert_int_equal(diag[0].fault, 0x4145);
    assert_non_null(strstr(diag[0].explanation, "nginx/1.18.0 at 10.0.0.2"));
    assert_int_equal(correlate_failing(c), 0);
    http_round("nginx/1.22.1");
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 0);
}

/* web is down; app is a name with two backends, web and far.  One
 * incident, web, which takes app's failures at web's address along. */
static void a_backend_down_is_its_host_not_every_name_it_serves(void **state)
{
    for (int i = 0; i < 3; i++) {
        for (int a = 0; a < 6; a++) {
            feed(agents[a], "web.lab:80", "", "10.0.0.1", TCP, 0);
            feed(agents[a], "http://app.lab/", "", "10.0.0.1", 3, 0);
            feed(agents[a], "http://app.lab/", "", "10.0.0.4", 3, 1);
        }
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_TARGET);
    assert_string_equal(diag[0].component, "web.lab");
    assert_int_equal(diag[0].npairs, 12);
}

static void host_round(const char *odd_value)
{
    const char *names[] = {"net/ipv4/tcp_syn_retries", "net/core/somaxconn"};
    for (int a = 0; a < 6; a++) {
        const char *values[] = {a == 3 ? odd_value : "6", "4096"};
        struct corr_input in = {.agent = agents[a], .region = region_of(agents[a]),
                                .target = "self", .target_region = "", .address = "",
                                .probe = 8, .ok = 1, .ts_us = now, .sysctl_names = names,
                                .sysctl_values = values, .nsysctls = 2};
        correlate_result(c, &in);
    }
    now += 5 * S;
}

/* Hosts of one role hold one TCP configuration: r2a2 with another
 * tcp_syn_retries is DRIFT of that sysctl within the role, naming it. */
static void sysctl_drifting_within_a_role(void **state)
{
    for (int a = 0; a < 6; a++)
        correlate_role(c, agents[a], a == 0 ? "" : "lab"); /* r1a1 has no role */
    host_round("6");
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 0);
    host_round("3");
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_DRIFT);
    assert_string_equal(diag[0].component, "lab/net.ipv4.tcp_syn_retries");
    assert_int_equal(diag[0].nagents, 1);
    assert_string_equal(diag[0].agents[0], "r2a2");
    assert_non_null(strstr(diag[0].explanation, "r2a2 has 3; the 4 others have 6"));
    host_round("6");
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 0);
}


/* One server for everything: SERVFAIL for two names of one zone is the
 * zone; failing for every name is the server. */
static void one_server_zone_then_resolver(void **state)
{
    const char *names[] = {"web.lab/A", "far.lab/A", "api.svc.lab/A", "db.svc.lab/A"};
    for (int i = 0; i < 3; i++) {
        for (int a = 0; a < 6; a++)
            for (int k = 0; k < 4; k++)
                feed(agents[a], names[k], "", "10.0.0.53", DNS, k < 2);
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_DNS_ZONE);
    assert_string_equal(diag[0].component, "svc.lab");
    assert_int_equal(diag[0].npairs, 12);
    for (int i = 0; i < 3; i++) {
        for (int a = 0; a < 6; a++)
            for (int k = 0; k < 4; k++)
                feed(agents[a], names[k], "", "10.0.0.53", DNS, 0);
        /* the server's host is up, its port 53 is not */
        for (int a = 0; a < 6; a++)
            feed(agents[a], "dns.lab:53", "", "10.0.0.53", TCP, 0);
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_DNS_RESOLVER);
    assert_string_equal(diag[0].component, "10.0.0.53");
    assert_int_equal(diag[0].npairs, 30);
}

/* A single region's agents failing toward one server is not the server. */
static void one_region_failing_dns_is_not_the_resolver(void **state)
{
    for (int i = 0; i < 3; i++) {
        for (int a = 0; a < 6; a++) {
            feed(agents[a], "web.lab/A", "", "10.0.0.53", DNS, a >= 2);
            feed(agents[a], "far.lab/A", "", "10.0.0.53", DNS, a >= 2);
        }
        now += 5 * S;
    }
    size_t n = correlate_evaluate(c, now, diag, 16);
    for (size_t k = 0; k < n; k++)
        assert_int_not_equal(diag[k].verdict, CORR_DNS_RESOLVER);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(healthy_fleet_has_no_diagnosis, setup, teardown),
        cmocka_unit_test_setup_teardown(target_down_is_one_target_diagnosis, setup, teardown),
        cmocka_unit_test_setup_teardown(failing_agent_is_blamed_not_its_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(silent_agent_is_blamed, setup, teardown),
        cmocka_unit_test_setup_teardown(cut_between_regions_is_a_path, setup, teardown),
        cmocka_unit_test_setup_teardown(isolated_agent_host_is_one_agent_diagnosis, setup, teardown),
        cmocka_unit_test_setup_teardown(two_faults_at_once_are_two_diagnoses, setup, teardown),
        cmocka_unit_test_setup_teardown(flapping_target_never_opens_on_consecutive_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(flapping_target_opens_by_success_rate_and_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(recovery_starts_a_new_window, setup, teardown),
        cmocka_unit_test_setup_teardown(an_outage_takes_its_blips_with_it, setup, teardown),
        cmocka_unit_test_setup_teardown(jitter_over_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(resets_over_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(router_down_is_one_hop, setup, teardown),
        cmocka_unit_test_setup_teardown(one_host_behind_a_router_is_a_target, setup, teardown),
        cmocka_unit_test_setup_teardown(hop_seen_from_one_agent_is_not_blamed, setup, teardown),
        cmocka_unit_test_setup_teardown(an_agent_gone_quiet_counts_against_its_region, setup, teardown),
        cmocka_unit_test_setup_teardown(agent_with_few_targets_is_not_blamed, setup, teardown),
        cmocka_unit_test_setup_teardown(dns_resolver_and_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(mtu_black_hole, setup, teardown),
        cmocka_unit_test_setup_teardown(lossy_uplink_is_one_region_diagnosis, setup, teardown),
        cmocka_unit_test_setup_teardown(sysctl_drifting_within_a_role, setup, teardown),
        cmocka_unit_test_setup_teardown(a_backend_down_is_its_host_not_every_name_it_serves, setup, teardown),
        cmocka_unit_test_setup_teardown(server_versions_drifting_behind_one_name, setup, teardown),
        cmocka_unit_test_setup_teardown(late_reports_count_against_their_region, setup, teardown),
        cmocka_unit_test_setup_teardown(region_cut_off_entirely_is_one_region_not_two_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(one_server_zone_then_resolver, setup, teardown),
        cmocka_unit_test_setup_teardown(one_region_failing_dns_is_not_the_resolver, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
