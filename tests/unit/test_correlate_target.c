/* TARGET: how narrowly a failing machine, service or URL is blamed, and
 * that its name does not depend on how checks write it or which result
 * came first. */
#include "test_correlate.h"

static int toward_r2a1(const char *a, const char *t)
{
    return strncmp(a, "r2", 2) && !strcmp(t, "r2a1");
}
static int toward_r2a1_and_its_own(const char *a, const char *t)
{
    return toward_r2a1(a, t) || (!strcmp(a, "r2a1") && !strcmp(t, "web:80"));
}

/* Nobody reaches r2a1's host.  Its agent fine: the host is the TARGET.
 * Its agent failing too: that is its (or its region's) trouble seen from
 * outside, left for AGENT or REGION rather than named after the host. */
static void unreachable_agent_host_is_a_target_only_while_its_agent_is_fine(void **state)
{
    hosts_are_agents();
    assert_int_equal(rounds(3, toward_r2a1), 1);
    assert_int_equal(diag[0].verdict, CORR_TARGET);
    assert_string_equal(diag[0].component, "r2a1");
    correlate_free(&c);
    c = correlate_new(NULL);
    hosts_are_agents();
    assert_int_equal(rounds(3, toward_r2a1_and_its_own), 0);
}

static void services_of_one_host_are_one_target(void **state)
{
    for (int i = 0; i < 3; i++) {
        round_of(none);
        for (int a = 0; a < 6; a++) {
            feed(agents[a], "web.lab:80", "", "10.0.0.9", TCP, 0);
            feed(agents[a], "http://web.lab/", "", "10.0.0.9", 3, 0);
            feed(agents[a], "web.lab", "", "10.0.0.9", ICMP, 1);
        }
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_int_equal(diag[0].verdict, CORR_TARGET);
    assert_string_equal(diag[0].component, "web.lab:80"); /* it answers ping: the service */
    assert_int_equal(diag[0].ntargets, 2);
    assert_int_equal(diag[0].npairs, 12);
    assert_non_null(strstr(diag[0].explanation, "; web.lab answers"));
}

/* One machine probed by name by some agents and by address by others
 * ("localhost:8080" and "127.0.0.1:8080"): one TARGET, named by the name,
 * whichever of the two was seen first. */
static void feed_machine(int literal_first, int rounds_n)
{
    for (int i = 0; i < rounds_n; i++) {
        for (int k = 0; k < 2; k++) {
            int literal = k == 0 ? literal_first : !literal_first;
            for (int a = 0; a < 6; a++)
                if ((a % 2 == 1) == literal) {
                    feed(agents[a], literal ? "127.0.0.1:8080" : "localhost:8080", "", "127.0.0.1",
                         TCP, 0);
                    feed(agents[a], literal ? "127.0.0.1" : "localhost", "", "127.0.0.1", ICMP, 0);
                }
        }
        now += 5 * S;
    }
}

static void one_machine_by_name_and_by_address_is_one_target(void **state)
{
    for (int literal_first = 0; literal_first < 2; literal_first++) {
        correlate_free(&c);
        c = correlate_new(NULL);
        feed_machine(literal_first, 3);
        assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
        assert_int_equal(diag[0].verdict, CORR_TARGET);
        assert_string_equal(diag[0].component, "localhost");
        assert_int_equal(diag[0].npairs, 12); /* both names, both probes, six agents */
        assert_int_equal(diag[0].ntargets, 4);
        /* And it stays so, evaluation after evaluation. */
        for (int i = 0; i < 5; i++) {
            feed_machine(!literal_first, 1);
            assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
            assert_string_equal(diag[0].component, "localhost");
        }
    }
}

static void feed_fault(const char *agent, const char *target, const char *address, int probe,
                       uint16_t fault)
{
    struct corr_input in = {.agent = agent, .region = region_of(agent), .target = target,
                            .target_region = "", .address = address, .probe = probe,
                            .ok = !fault, .fault = fault, .ts_us = now};
    correlate_result(c, &in);
}

/* A machine that answers ping and port 80, with port 81 closed and its web
 * page answering 404: two faults, each with its own code and target. */
static void a_closed_port_and_a_404_on_a_host_that_answers_are_two_faults(void **state)
{
    for (int i = 0; i < 3; i++) {
        for (int a = 0; a < 6; a++) {
            feed_fault(agents[a], "web.lab", "10.0.0.9", ICMP, 0);
            feed_fault(agents[a], "web.lab:80", "10.0.0.9", TCP, 0);
            feed_fault(agents[a], "web.lab:81", "10.0.0.9", TCP, FL_FAULT_TCP_REFUSED);
            feed_fault(agents[a], "http://web.lab/", "10.0.0.9", 3, FL_FAULT_HTTP_STATUS);
        }
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 2);
    const struct corr_diagnosis *port = !strcmp(diag[0].component, "web.lab:81") ? &diag[0] : &diag[1];
    const struct corr_diagnosis *page = port == &diag[0] ? &diag[1] : &diag[0];
    assert_int_equal(port->verdict, CORR_TARGET);
    assert_string_equal(port->component, "web.lab:81");
    assert_int_equal(port->fault, FL_FAULT_TCP_REFUSED);
    assert_int_equal(port->ntargets, 1);
    assert_non_null(strstr(port->explanation, "; web.lab answers"));
    assert_int_equal(page->verdict, CORR_TARGET);
    assert_string_equal(page->component, "http://web.lab/");
    assert_int_equal(page->fault, FL_FAULT_HTTP_STATUS);
    assert_int_equal(page->ntargets, 1);
    assert_non_null(strstr(page->explanation, "; web.lab answers at port 80"));
}

/* What answers must say so lately: a check that stopped (r1a1's, here,
 * whose last results were good) does not make the service look alive. */
static void a_check_that_stopped_does_not_answer_for_a_service(void **state)
{
    for (int a = 0; a < 6; a++) {
        feed_fault(agents[a], "web.lab", "10.0.0.9", ICMP, 0);
        feed_fault(agents[a], "web.lab:80", "10.0.0.9", TCP, 0);
        feed_fault(agents[a], "http://web.lab/", "10.0.0.9", 3, 0);
    }
    now += 5 * S;
    for (int i = 0; i < 4; i++) {
        for (int a = 0; a < 6; a++) {
            feed_fault(agents[a], "web.lab", "10.0.0.9", ICMP, 0);
            if (a == 0)
                continue; /* r1a1 probes web.lab:80 and its page no more */
            feed_fault(agents[a], "web.lab:80", "10.0.0.9", TCP, FL_FAULT_TCP_REFUSED);
            feed_fault(agents[a], "http://web.lab/", "10.0.0.9", 3, FL_FAULT_TCP_REFUSED);
        }
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_string_equal(diag[0].component, "web.lab:80");
    assert_int_equal(diag[0].ntargets, 2);
}

/* web's port 80 is down; app is a name with two backends, web and far.
 * Whichever pairs the engine met first, the blame is web's service and it
 * takes app's failures at web's address along: one diagnosis. */
static void feed_backends(int app_first)
{
    for (int k = 0; k < 2; k++)
        for (int a = 0; a < 6; a++) {
            if ((k == 0) == app_first) {
                feed_fault(agents[a], "http://app/", "10.0.0.9", 3, FL_FAULT_TCP_REFUSED);
                feed_fault(agents[a], "http://app/", "10.0.0.8", 3, 0);
            } else {
                feed_fault(agents[a], "web", "10.0.0.9", ICMP, 0);
                feed_fault(agents[a], "web:80", "10.0.0.9", TCP, FL_FAULT_TCP_REFUSED);
                feed_fault(agents[a], "http://web/", "10.0.0.9", 3, FL_FAULT_TCP_REFUSED);
            }
        }
    now += 5 * S;
}

static void the_blame_does_not_depend_on_which_result_came_first(void **state)
{
    for (int app_first = 0; app_first < 2; app_first++) {
        correlate_free(&c);
        c = correlate_new(NULL);
        for (int i = 0; i < 3; i++)
            feed_backends(app_first);
        assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
        assert_string_equal(diag[0].component, "web:80");
        assert_int_equal(diag[0].ntargets, 3); /* web:80, http://web/, http://app/ */
        assert_int_equal(diag[0].npairs, 18);
    }
}

/* web's port 80 goes down; its tcp checks have failed twice, not yet
 * three times, when the page's checks open: the port does not answer (its
 * latest answers failed), so the blame is the service from the start, not
 * the page, nor app, a name with web among its backends. */
static void a_service_on_its_way_down_does_not_answer(void **state)
{
    for (int i = 0; i < 3; i++) {
        for (int a = 0; a < 6; a++) {
            feed_fault(agents[a], "http://app/", "10.0.0.9", 3, FL_FAULT_TCP_REFUSED);
            feed_fault(agents[a], "http://app/", "10.0.0.8", 3, 0);
            feed_fault(agents[a], "web", "10.0.0.9", ICMP, 0);
            feed_fault(agents[a], "web:80", "10.0.0.9", TCP, i ? FL_FAULT_TCP_REFUSED : 0);
            feed_fault(agents[a], "http://web/", "10.0.0.9", 3, FL_FAULT_TCP_REFUSED);
        }
        now += 5 * S;
    }
    assert_int_equal(correlate_evaluate(c, now, diag, 16), 1);
    assert_string_equal(diag[0].component, "web:80");
    assert_int_equal(diag[0].ntargets, 2); /* http://web/, http://app/; web:80 is not failing yet */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unreachable_agent_host_is_a_target_only_while_its_agent_is_fine, setup, teardown),
        cmocka_unit_test_setup_teardown(services_of_one_host_are_one_target, setup, teardown),
        cmocka_unit_test_setup_teardown(one_machine_by_name_and_by_address_is_one_target, setup, teardown),
        cmocka_unit_test_setup_teardown(a_closed_port_and_a_404_on_a_host_that_answers_are_two_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(a_check_that_stopped_does_not_answer_for_a_service, setup, teardown),
        cmocka_unit_test_setup_teardown(the_blame_does_not_depend_on_which_result_came_first, setup, teardown),
        cmocka_unit_test_setup_teardown(a_service_on_its_way_down_does_not_answer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
