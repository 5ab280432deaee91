/* CURVE and the collector's ZAP handler, over real ZeroMQ on 127.0.0.1:
 * a listed key gets in under its agent's name, an unlisted one stores
 * nothing, a collector socket whose ZAP handler does not answer lets no
 * one in, a key removed from the list loses its live connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "transport.h"

static char dir[64];
static void *zctx;

struct keys {
    char pub[FL_KEY_Z85 + 1], sec[FL_KEY_Z85 + 1];
};

static void keypair(const char *name, struct keys *k)
{
    char prefix[512], err[256], path[600];
    snprintf(prefix, sizeof prefix, "%s/%s", dir, name);
    assert_int_equal(transport_keygen(prefix, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s.key", prefix);
    assert_int_equal(transport_key_load(path, k->pub, k->sec, err, sizeof err), 0);
}

static void write_list(const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/allow", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/fl-test-auth.XXXXXX");
    assert_non_null(mkdtemp(dir));
    zctx = zmq_ctx_new();
    return 0;
}

static int teardown(void **state)
{
    zmq_ctx_term(zctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A collector socket on an ephemeral port; its endpoint into EP. */
static void *server(const struct keys *k, char *ep, size_t len)
{
    struct transport_keys tk = {0};
    memcpy(tk.secret_key, k->sec, sizeof tk.secret_key);
    memcpy(tk.public_key, k->pub, sizeof tk.public_key);
    char err[256];
    void *s = transport_collector_open(zctx, "tcp://127.0.0.1:*", &tk, NULL, err, sizeof err);
    assert_non_null(s);
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len);
    return s;
}

static void *client(const char *ep, const struct keys *server_k, const struct keys *k)
{
    struct transport_keys tk = {0};
    memcpy(tk.server_key, server_k->pub, sizeof tk.server_key);
    memcpy(tk.public_key, k->pub, sizeof tk.public_key);
    memcpy(tk.secret_key, k->sec, sizeof tk.secret_key);
    char err[256];
    void *s = transport_agent_open(zctx, ep, &tk, NULL, err, sizeof err);
    assert_non_null(s);
    return s;
}

/* Send TEXT from C whenever it can go (ZMQ_IMMEDIATE: only once a
 * connection is up), and receive at S, answering ZAP on the way, for at
 * most MS.  The User-Id of what arrived into UID ("" when nothing did). */
static int exchange(void *s, void *c, struct auth *a, const char *text, int ms, char *uid,
                    size_t uidlen)
{
    uid[0] = '\0';
    int sent = 0;
    for (int waited = 0; waited < ms; waited += 10) {
        if (!sent)
            sent = zmq_send(c, text, strlen(text), ZMQ_DONTWAIT) >= 0;
        zmq_pollitem_t items[2] = {{.socket = s, .events = ZMQ_POLLIN},
                                   {.socket = a ? auth_socket(a) : NULL, .events = ZMQ_POLLIN}};
        zmq_poll(items, a ? 2 : 1, 10);
        if (a)
            auth_handle(a);
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&id, s, ZMQ_DONTWAIT) >= 0 && zmq_msg_recv(&body, s, 0) >= 0) {
            const char *u = zmq_msg_gets(&body, "User-Id");
            snprintf(uid, uidlen, "%s", u ? u : "");
            if (a && u)
                auth_seen(a, u, zmq_msg_get(&body, ZMQ_SRCFD));
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            return 1;
        }
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
    return 0;
}

/* A ZAP handler whose allow-list holds r1a1 with key K. */
static struct auth *allowing_r1a1(const struct keys *k)
{
    char list[256], err[256];
    snprintf(list, sizeof list, "# agents\nr1a1 %s\n", k->pub);
    write_list(list);
    snprintf(list, sizeof list, "%s/allow", dir);
    struct auth *a = auth_new(zctx, list, err, sizeof err);
    if (!a)
        fail_msg("%s", err);
    return a;
}

static void listed_key_gets_in_under_its_name(void **state)
{
    struct keys coll, r1a1, stranger;
    keypair("coll", &coll);
    keypair("r1a1", &r1a1);
    keypair("stranger", &stranger);
    char err[256], ep[128], uid[64];
    struct auth *a = allowing_r1a1(&r1a1);
    void *s = server(&coll, ep, sizeof ep);
    void *c = client(ep, &coll, &r1a1);
    assert_true(exchange(s, c, a, "hello", 5000, uid, sizeof uid));
    assert_string_equal(uid, "r1a1");
    assert_int_equal(auth_accepted(a), 1);

    /* Unlisted: refused, counted, nothing arrives. */
    void *x = client(ep, &coll, &stranger);
    assert_false(exchange(s, x, a, "let me in", 1500, uid, sizeof uid));
    assert_true(auth_refused(a) >= 1);

    /* Revoked: the live connection is cut and the next handshake refused. */
    write_list("# nobody\n");
    assert_int_equal(auth_reload(a, err, sizeof err), 0);
    assert_int_equal(auth_revoked(a), 1);
    assert_false(exchange(s, c, a, "still here?", 1500, uid, sizeof uid));
    zmq_close(x);
    zmq_close(c);
    zmq_close(s);
    auth_free(&a);
}

/* No handler answering: libzmq alone would let any key in; the
 * collector's socket enforces the domain, so no one gets in. */
static void no_handler_no_entry(void **state)
{
    struct keys coll, r1a1;
    keypair("coll", &coll);
    keypair("r1a1", &r1a1);
    char ep[128], uid[64];
    void *s = server(&coll, ep, sizeof ep);
    void *c = client(ep, &coll, &r1a1);
    assert_false(exchange(s, c, NULL, "hello", 1500, uid, sizeof uid));
    zmq_close(c);
    zmq_close(s);
}

/* The wrong server key never completes a handshake. */
static void wrong_server_key_never_connects(void **state)
{
    struct keys coll, other, r1a1;
    keypair("coll", &coll);
    keypair("other", &other);
    keypair("r1a1", &r1a1);
    char ep[128], uid[64];
    struct auth *a = allowing_r1a1(&r1a1);
    void *s = server(&coll, ep, sizeof ep);
    void *c = client(ep, &other, &r1a1);
    assert_false(exchange(s, c, a, "hello", 1500, uid, sizeof uid));
    assert_int_equal(zmq_send(c, "x", 1, ZMQ_DONTWAIT), -1); /* never connected: kept */
    zmq_close(c);
    zmq_close(s);
    auth_free(&a);
}

static int collect(void *arg, const char *name, const char *key)
{
    (*(int *)arg)++;
    return 0;
}

static void allow_list_errors_name_the_line(void **state)
{
    char err[256];
    int n = 0;
    assert_int_equal(auth_parse_list("# c\n\nr1a1 rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n"
                                     "  r2a1 lDk#ymvQi}ihM9+QddoA<DkKA4<Y8h0W6V<8qiz. # keys have #\n",
                                     collect, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(auth_parse_list("r1a1\n", collect, &n, err, sizeof err), -1);
    assert_string_equal(err, "line 1: expected \"NAME PUBLIC-KEY\"");
    assert_int_equal(auth_parse_list("\nr1 a1 b\n", collect, &n, err, sizeof err), -1);
    assert_string_equal(err, "line 2: expected \"NAME PUBLIC-KEY\"");
    assert_int_equal(auth_parse_list("r1a1 short\n", collect, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1: 'short' is not a public key"));
    assert_int_equal(auth_parse_list("r/1 rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n", collect, &n,
                                     err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1: 'r/1' is not an agent name"));
    char err2[256];
    struct auth *a = auth_new(zctx, "/nonexistent/allow", err2, sizeof err2);
    assert_null(a);
    assert_string_equal(err2, "/nonexistent/allow: No such file or directory");
}

/* A key is read from the file a path names, whatever the path looks
 * like: DIR/NAME.pub of exactly 40 characters, all of them Z85 (the
 * demo's allow-list files were once taken for keys themselves). */
static void key_paths_are_never_keys(void **state)
{
    char sub[128], prefix[256], path[300], pub[FL_KEY_Z85 + 1], err[512];
    struct keys k;
    assert_int_equal(strlen(dir), 24); /* /tmp/fl-test-auth.XXXXXX */
    snprintf(sub, sizeof sub, "%s/agents", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(prefix, sizeof prefix, "%s/agents/r1a1", dir); /* DIR/agents/r1a1.pub: 40 */
    assert_int_equal(transport_keygen(prefix, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s.pub", prefix);
    assert_int_equal(strlen(path), FL_KEY_Z85);
    assert_int_equal(transport_key_load(path, pub, NULL, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s.key", prefix);
    assert_int_equal(transport_key_load(path, k.pub, k.sec, err, sizeof err), 0);
    assert_string_equal(pub, k.pub); /* the file's key, not the path decoded */

    /* The same directory as an allow-list: r1a1 gets in under its name. */
    struct keys coll;
    keypair("coll", &coll);
    char ep[128], uid[64];
    struct auth *a = auth_new(zctx, sub, err, sizeof err);
    if (!a)
        fail_msg("%s", err);
    void *s = server(&coll, ep, sizeof ep);
    void *c = client(ep, &coll, &k);
    assert_true(exchange(s, c, a, "hello", 5000, uid, sizeof uid));
    assert_string_equal(uid, "r1a1");
    zmq_close(c);
    zmq_close(s);
    auth_free(&a);

    /* A missing 40-character path of Z85 characters is a missing file. */
    snprintf(path, sizeof path, "%s/agents/nos1.pub", dir);
    assert_int_equal(strlen(path), FL_KEY_Z85);
    assert_int_equal(transport_key_load(path, pub, NULL, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    assert_string_equal(err, want);
    /* So is a bare key: inline keys say z85:. */
    assert_int_equal(transport_key_load(k.pub, pub, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file or directory"));
    /* A directory names itself. */
    assert_int_equal(transport_key_load(sub, pub, NULL, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: a directory, not a key file", sub);
    assert_string_equal(err, want);
    assert_int_equal(transport_key_load("", pub, NULL, err, sizeof err), -1);
}

static void inline_keys_say_so(void **state)
{
    struct keys k;
    keypair("r1a1", &k);
    char spec[64], pub[FL_KEY_Z85 + 1], sec[FL_KEY_Z85 + 1], err[256];
    snprintf(spec, sizeof spec, "z85:%s", k.pub);
    assert_int_equal(transport_key_load(spec, pub, NULL, err, sizeof err), 0);
    assert_string_equal(pub, k.pub);
    /* Never a secret key. */
    assert_int_equal(transport_key_load(spec, pub, sec, err, sizeof err), -1);
    assert_non_null(strstr(err, "never given inline"));
    /* Wrong length, a character outside Z85. */
    assert_int_equal(transport_key_load("z85:abc", pub, NULL, err, sizeof err), -1);
    assert_string_equal(err, "'z85:abc': not a public key (z85: and 40 Z85 characters)");
    snprintf(spec, sizeof spec, "z85:%.39s~", k.pub);
    assert_int_equal(transport_key_load(spec, pub, NULL, err, sizeof err), -1);
}

/* Two names with one key: the agent's identity would depend on the order. */
static void one_key_one_name(void **state)
{
    struct keys k;
    keypair("r1a1", &k);
    char list[256], path[256], err[512];
    snprintf(list, sizeof list, "r1a1 %s\nr1a2 %s\n", k.pub, k.pub);
    write_list(list);
    snprintf(path, sizeof path, "%s/allow", dir);
    assert_null(auth_new(zctx, path, err, sizeof err));
    assert_non_null(strstr(err, "agents r1a1 and r1a2 have the same key"));
    snprintf(list, sizeof list, "r1a1 %s\nr1a1 %s\n", k.pub, k.pub);
    write_list(list);
    assert_null(auth_new(zctx, path, err, sizeof err));
    assert_non_null(strstr(err, "agent r1a1 is listed twice"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(listed_key_gets_in_under_its_name, setup, teardown),
        cmocka_unit_test_setup_teardown(no_handler_no_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_server_key_never_connects, setup, teardown),
        cmocka_unit_test_setup_teardown(allow_list_errors_name_the_line, setup, teardown),
        cmocka_unit_test_setup_teardown(key_paths_are_never_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(inline_keys_say_so, setup, teardown),
        cmocka_unit_test_setup_teardown(one_key_one_name, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
