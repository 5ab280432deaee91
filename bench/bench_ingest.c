/* bench_ingest: the collector's ingest rate end to end (ZeroMQ receive,
 * decode, validate, store, commit, ack) next to a raw SQLite batched
 * insert of the same rows, in one run, as a ratio.
 *
 *   bench_ingest --collector PATH [--results N] [--agents K] [--batch B]
 *                [--window W] [--sync full|normal] [--dir DIR]
 *
 * The collector is the real faultline-collector binary on 127.0.0.1; the
 * agents are K DEALER sockets in this process, each keeping W batches in
 * flight and counting only acknowledged results.  The baseline inserts the
 * same rows with one prepared statement into a table with no index, in
 * transactions of B rows, with the same journal and synchronous settings. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "timeutil.h"
#include "wire.h"

struct agent_stream {
    void *sock;
    char name[32];
    uint64_t epoch;
    uint8_t **msgs; /* packed Batch envelopes */
    size_t *lens;
    size_t nmsgs, next, acked_msgs;
    uint64_t *last_seq; /* of each message */
    uint64_t committed;
};

static const char *const bench_targets[] = {"web", "dns", "far", "db", "cache", "api", "auth",
                                            "queue", "search", "mail"};

static void make_result(fl_result *r, Faultline__IcmpDetail *icmp,
                        Faultline__TcpDetail *tcp, char *target, char *address, uint64_t seq,
                        int64_t ts)
{
    faultline__result__init(r);
    r->seq = seq;
    r->start_us = ts;
    r->target = target;
    r->address = address;
    r->message = (char *)"";
    int fail = seq % 10 == 0;
    r->status = fail ? FAULTLINE__STATUS__STATUS_FAIL : FAULTLINE__STATUS__STATUS_OK;
    if (seq % 2) {
        faultline__icmp_detail__init(icmp);
        icmp->sent = 5;
        icmp->received = fail ? 0 : 5;
        icmp->rtt_min_us = 40;
        icmp->rtt_avg_us = 52;
        icmp->rtt_max_us = 70;
        icmp->rtt_stddev_us = 9;
        r->probe = FAULTLINE__PROBE_TYPE__PROBE_ICMP;
        r->duration_us = 800000;
        r->fault_code = fail ? 0x31a1 : 0;
        r->detail_case = FAULTLINE__RESULT__DETAIL_ICMP;
        r->icmp = icmp;
    } else {
        faultline__tcp_detail__init(tcp);
        tcp->port = 443;
        tcp->outcome = fail ? FAULTLINE__TCP_OUTCOME__TCP_RESET : FAULTLINE__TCP_OUTCOME__TCP_CONNECTED;
        tcp->connect_us = 120;
        tcp->attempts = 1;
        r->probe = FAULTLINE__PROBE_TYPE__PROBE_TCP;
        r->duration_us = 130;
        r->fault_code = fail ? 0x3795 : 0;
        r->detail_case = FAULTLINE__RESULT__DETAIL_TCP;
        r->tcp = tcp;
    }
}

/* Build every agent's batches up front, so the timed part only sends. */
static void build_streams(struct agent_stream *as, int agents, size_t per_agent, size_t batch,
                          int64_t t0)
{
    fl_result *rs = calloc(batch, sizeof *rs);
    fl_result **ptrs = calloc(batch, sizeof *ptrs);
    Faultline__IcmpDetail *icmp = calloc(batch, sizeof *icmp);
    Faultline__TcpDetail *tcp = calloc(batch, sizeof *tcp);
    char (*targets)[64] = calloc(batch, 64);
    char (*addrs)[64] = calloc(batch, 64);
    for (int a = 0; a < agents; a++) {
        struct agent_stream *s = &as[a];
        snprintf(s->name, sizeof s->name, "bench-%02d", a);
        s->epoch = 1000 + (uint64_t)a;
        s->nmsgs = (per_agent + batch - 1) / batch;
        s->msgs = calloc(s->nmsgs, sizeof *s->msgs);
        s->lens = calloc(s->nmsgs, sizeof *s->lens);
        s->last_seq = calloc(s->nmsgs, sizeof *s->last_seq);
        uint64_t seq = 1;
        for (size_t m = 0; m < s->nmsgs; m++) {
            size_t n = per_agent - (seq - 1) < batch ? per_agent - (seq - 1) : batch;
            for (size_t i = 0; i < n; i++, seq++) {
                unsigned t = (unsigned)(seq * 7 + (uint64_t)a) % 100;
                snprintf(targets[i], 64, "%s-%02u.example.net%s", bench_targets[t % 10], t,
                         seq % 2 ? "" : ":443");
                snprintf(addrs[i], 64, "10.%d.%u.%u", a, t, (unsigned)(seq % 2) + 1);
                make_result(&rs[i], &icmp[i], &tcp[i], targets[i], addrs[i], seq,
                            t0 + (int64_t)seq * 1000);
                rs[i].agent = s->name;
                ptrs[i] = &rs[i];
            }
            Faultline__Batch b = FAULTLINE__BATCH__INIT;
            b.epoch = s->epoch;
            b.results = ptrs;
            b.n_results = n;
            fl_envelope env = FAULTLINE__ENVELOPE__INIT;
            env.agent = s->name;
            env.body_case = FAULTLINE__ENVELOPE__BODY_BATCH;
            env.batch = &b;
            s->lens[m] = wire_encode(&env, &s->msgs[m]);
            s->last_seq[m] = seq - 1;
        }
    }
    free(rs);
    free(ptrs);
    free(icmp);
    free(tcp);
    free(targets);
    free(addrs);
}

/* The same rows, straight into SQLite. */
static double baseline(const char *dir, struct agent_stream *as, int agents, size_t batch,
                       int sync_full, size_t *rows)
{
    char path[512];
    snprintf(path, sizeof path, "%s/raw.db", dir);
    unlink(path);
    sqlite3 *db;
    sqlite3_open(path, &db);
    char pragmas[128];
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
             sync_full ? "FULL" : "NORMAL");
    sqlite3_exec(db, pragmas, NULL, NULL, NULL);
    sqlite3_exec(db,
                 "CREATE TABLE raw(agent TEXT, epoch INTEGER, seq INTEGER, ts_us INTEGER,"
                 " probe INTEGER, target TEXT, address TEXT, duration_us INTEGER,"
                 " status INTEGER, fault_code INTEGER, message TEXT, detail BLOB)",
                 NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT INTO raw VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL);
    /* Decode outside the clock: the baseline is SQLite alone. */
    size_t total = 0;
    for (int a = 0; a < agents; a++)
        total += as[a].nmsgs;
    struct wire_msg **decoded = calloc(total, sizeof *decoded);
    size_t k = 0;
    for (int a = 0; a < agents; a++)
        for (size_t m = 0; m < as[a].nmsgs; m++)
            wire_decode(as[a].msgs[m], as[a].lens[m], &decoded[k++], NULL, 0);
    uint64_t t0 = time_mono_ns();
    *rows = 0;
    for (size_t i = 0; i < k; i++) {
        const Faultline__Batch *b = decoded[i]->env->batch;
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (size_t j = 0; j < b->n_results; j++) {
            const fl_result *r = b->results[j];
            uint8_t det[256];
            fl_result only = FAULTLINE__RESULT__INIT;
            only.detail_case = r->detail_case;
            only.icmp = r->icmp;
            size_t dlen = faultline__result__pack(&only, det);
            sqlite3_bind_text(st, 1, r->agent, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, (int64_t)b->epoch);
            sqlite3_bind_int64(st, 3, (int64_t)r->seq);
            sqlite3_bind_int64(st, 4, r->start_us);
            sqlite3_bind_int(st, 5, r->probe);
            sqlite3_bind_text(st, 6, r->target, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 7, r->address, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 8, r->duration_us);
            sqlite3_bind_int(st, 9, r->status);
            sqlite3_bind_int(st, 10, (int)r->fault_code);
            sqlite3_bind_null(st, 11);
            sqlite3_bind_blob(st, 12, det, (int)dlen, SQLITE_STATIC);
            sqlite3_step(st);
            sqlite3_reset(st);
            (*rows)++;
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    sqlite3_finalize(st);
    sqlite3_close(db);
    for (size_t i = 0; i < k; i++)
        wire_msg_free(&decoded[i]);
    free(decoded);
    (void)batch;
    return secs;
}

static pid_t start_collector(const char *bin, const char *dir, const char *endpoint, int sync_full)
{
    char db[512], conf[512];
    snprintf(db, sizeof db, "%s/faultline.db", dir);
    snprintf(conf, sizeof conf, "%s/collector.yaml", dir);
    unlink(db);
    FILE *f = fopen(conf, "w");
    fprintf(f, "listen: %s\ndatabase: %s\nsynchronous: %s\n", endpoint, db,
            sync_full ? "full" : "normal");
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        char logp[512];
        snprintf(logp, sizeof logp, "%s/collector.log", dir);
        if (!freopen(logp, "w", stderr))
            _exit(127);
        /* Plain text: this measures ingest itself (CURVE costs are its own). */
        execl(bin, bin, "--config.file", conf, "--insecure", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Wait for the Welcome of every agent: the collector is up and ready. */
static int greet(struct agent_stream *as, int agents)
{
    for (int a = 0; a < agents; a++) {
        Faultline__Hello h = FAULTLINE__HELLO__INIT;
        h.epoch = as[a].epoch;
        h.next_seq = 1;
        h.version = (char *)"bench";
        fl_envelope env = FAULTLINE__ENVELOPE__INIT;
        env.agent = as[a].name;
        env.body_case = FAULTLINE__ENVELOPE__BODY_HELLO;
        env.hello = &h;
        uint8_t *buf;
        size_t len = wire_encode(&env, &buf);
        int got = 0;
        for (int tries = 0; tries < 100 && !got; tries++) {
            zmq_send(as[a].sock, buf, len, ZMQ_DONTWAIT);
            zmq_pollitem_t it = {.socket = as[a].sock, .events = ZMQ_POLLIN};
            if (zmq_poll(&it, 1, 100) > 0) {
                zmq_msg_t m;
                zmq_msg_init(&m);
                zmq_msg_recv(&m, as[a].sock, 0);
                zmq_msg_close(&m);
                got = 1;
            }
        }
        free(buf);
        if (!got)
            return -1;
    }
    return 0;
}

/* Send every stream with at most WINDOW messages unacknowledged per agent
 * until all are acknowledged (or nothing is for 5 s).  Seconds taken. */
static double drive(struct agent_stream *as, long agents, long window)
{
    zmq_pollitem_t *items = calloc((size_t)agents, sizeof *items);
    for (int a = 0; a < agents; a++)
        items[a] = (zmq_pollitem_t){.socket = as[a].sock, .events = ZMQ_POLLIN};
    uint64_t t0 = time_mono_ns();
    size_t done_agents = 0;
    while (done_agents < (size_t)agents) {
        for (int a = 0; a < agents; a++) {
            struct agent_stream *s = &as[a];
            while (s->next < s->nmsgs && s->next - s->acked_msgs < (size_t)window) {
                zmq_send(s->sock, s->msgs[s->next], s->lens[s->next], 0);
                s->next++;
            }
        }
        if (zmq_poll(items, (int)agents, 5000) <= 0) {
            fprintf(stderr, "bench_ingest: no acknowledgement for 5 s\n");
            break;
        }
        for (int a = 0; a < agents; a++) {
            struct agent_stream *s = &as[a];
            zmq_msg_t m;
            zmq_msg_init(&m);
            while (zmq_msg_recv(&m, s->sock, ZMQ_DONTWAIT) >= 0) {
                struct wire_msg *w = NULL;
                if (wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), &w, NULL, 0) == WIRE_OK &&
                    w->env->body_case == FAULTLINE__ENVELOPE__BODY_ACK) {
                    s->committed = w->env->ack->committed_upto;
                    while (s->acked_msgs < s->nmsgs && s->last_seq[s->acked_msgs] <= s->committed)
                        s->acked_msgs++;
                    if (s->acked_msgs == s->nmsgs)
                        done_agents++;
                }
                wire_msg_free(&w);
            }
            zmq_msg_close(&m);
        }
    }
    free(items);
    return (double)(time_mono_ns() - t0) / 1e9;
}

/* Results in the collector's database in DIR. */
static long stored_results(const char *dir)
{
    char db[512];
    snprintf(db, sizeof db, "%s/faultline.db", dir);
    sqlite3 *h;
    sqlite3_open(db, &h);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(h, "SELECT count(*) FROM result", -1, &st, NULL);
    sqlite3_step(st);
    long stored = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);

    return stored;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"collector", required_argument, NULL, 'c'}, {"results", required_argument, NULL, 'n'},
        {"agents", required_argument, NULL, 'a'},    {"batch", required_argument, NULL, 'b'},
        {"window", required_argument, NULL, 'w'},    {"sync", required_argument, NULL, 's'},
        {"dir", required_argument, NULL, 'd'},       {NULL, 0, NULL, 0},
    };
    const char *collector = NULL, *dir = "/tmp/faultline-bench";
    long results = 200000, agents = 10, batch = 256, window = 8;
    int sync_full = 1, opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': collector = optarg; break;
        case 'n': results = atol(optarg); break;
        case 'a': agents = atol(optarg); break;
        case 'b': batch = atol(optarg); break;
        case 'w': window = atol(optarg); break;
        case 's': sync_full = strcmp(optarg, "normal") != 0; break;
        case 'd': dir = optarg; break;
        default: return 2;
        }
    }
    if (!collector || results <= 0 || agents <= 0 || agents > 100 || batch <= 0 ||
        batch > FL_WIRE_MAX_RESULTS || window <= 0) {
        fprintf(stderr, "usage: bench_ingest --collector PATH [--results N] [--agents 1-100] "
                        "[--batch 1-4096] [--window W] [--sync full|normal] [--dir DIR]\n");
        return 2;
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    struct agent_stream *as = calloc((size_t)agents, sizeof *as);
    build_streams(as, (int)agents, (size_t)results / (size_t)agents, (size_t)batch,
                  time_now_us());
    size_t per_agent = (size_t)results / (size_t)agents;
    size_t total = per_agent * (size_t)agents;

    size_t raw_rows;
    double raw_s = baseline(dir, as, (int)agents, (size_t)batch, sync_full, &raw_rows);

    const char *endpoint = "tcp://127.0.0.1:15999";
    pid_t pid = start_collector(collector, dir, endpoint, sync_full);
    void *ctx = zmq_ctx_new();
    for (int a = 0; a < agents; a++) {
        as[a].sock = zmq_socket(ctx, ZMQ_DEALER);
        int linger = 0;
        zmq_setsockopt(as[a].sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_connect(as[a].sock, endpoint);
    }
    if (greet(as, (int)agents) != 0) {
        fprintf(stderr, "bench_ingest: the collector did not answer (see %s/collector.log)\n", dir);
        kill(pid, SIGKILL);
        return 1;
    }
    double fl_s = drive(as, agents, window);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    long stored = stored_results(dir);
    double fl_rate = (double)total / fl_s, raw_rate = (double)raw_rows / raw_s;
    printf("{\"bench\":\"ingest\",\"results\":%zu,\"agents\":%ld,\"batch\":%ld,\"window\":%ld,"
           "\"synchronous\":\"%s\",\"faultline_s\":%.3f,\"faultline_results_per_s\":%.0f,"
           "\"raw_sqlite_s\":%.3f,\"raw_sqlite_rows_per_s\":%.0f,\"ratio\":%.3f,"
           "\"stored\":%ld}\n",
           total, agents, batch, window, sync_full ? "full" : "normal", fl_s, fl_rate, raw_s,
           raw_rate, fl_rate / raw_rate, stored);
    for (int a = 0; a < agents; a++)
        zmq_close(as[a].sock);
    zmq_ctx_term(ctx);
    return stored == (long)total ? 0 : 1;
}
