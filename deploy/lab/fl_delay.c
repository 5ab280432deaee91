/* fl-delay: added latency for the lab, where the kernel has no netem.
 *
 * Packets sent to NFQUEUE QUEUE (iptables ... -j NFQUEUE --queue-num QUEUE
 * --queue-bypass) are held here for DELAY ms (plus up to JITTER ms, never
 * reordered) and then accepted.  Only the verdict waits: the packet itself
 * stays in the kernel, so nothing is copied to user space.
 *
 *   fl-delay --queue N --delay-ms MS [--jitter-ms MS] [--pidfile F] [--state DIR]
 */
#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DELAY_RING 65536

struct delay_entry {
    uint32_t id;
    uint64_t due_ns;
};

struct delay {
    struct nfq_q_handle *qh;
    struct delay_entry ring[DELAY_RING];
    size_t head, count;
    uint64_t delay_ns, jitter_ns, last_due_ns;
    unsigned seed;
};

static volatile sig_atomic_t delay_stop;

static void delay_on_signal(int sig)
{
    delay_stop = sig;
}

static uint64_t delay_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int delay_on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                           void *data)
{
    struct delay *d = data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    uint32_t id = ntohl(ph->packet_id);
    if (d->count == DELAY_RING) /* full: let it through rather than stall the link */
        return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
    uint64_t due = delay_now_ns() + d->delay_ns;
    if (d->jitter_ns)
        due += (uint64_t)rand_r(&d->seed) % d->jitter_ns;
    if (due < d->last_due_ns) /* jitter never reorders */
        due = d->last_due_ns;
    d->last_due_ns = due;
    d->ring[(d->head + d->count) % DELAY_RING] = (struct delay_entry){id, due};
    d->count++;
    return 0;
}

static void delay_release(struct delay *d, int all)
{
    uint64_t now = delay_now_ns();
    while (d->count && (all || d->ring[d->head].due_ns <= now)) {
        nfq_set_verdict(d->qh, d->ring[d->head].id, NF_ACCEPT, 0, NULL);
        d->head = (d->head + 1) % DELAY_RING;
        d->count--;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"queue", required_argument, NULL, 'q'},   {"delay-ms", required_argument, NULL, 'd'},
        {"jitter-ms", required_argument, NULL, 'j'}, {"pidfile", required_argument, NULL, 'p'},
        {"state", required_argument, NULL, 's'},   {NULL, 0, NULL, 0},
    };
    static struct delay d;
    long queue = -1, delay_ms = -1, jitter_ms = 0;
    const char *pidfile = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'q': queue = strtol(optarg, NULL, 10); break;
        case 'd': delay_ms = strtol(optarg, NULL, 10); break;
        case 'j': jitter_ms = strtol(optarg, NULL, 10); break;
        case 'p': pidfile = optarg; break;
        case 's': break; /* names the lab in the process list */
        default: return 2;
        }
    }
    if (queue < 0 || queue > 65535 || delay_ms < 0 || delay_ms > 60000 || jitter_ms < 0 ||
        jitter_ms > 60000) {
        fprintf(stderr, "usage: fl-delay --queue 0-65535 --delay-ms MS [--jitter-ms MS]\n");
        return 2;
    }
    d.delay_ns = (uint64_t)delay_ms * 1000000u;
    d.jitter_ns = (uint64_t)jitter_ms * 1000000u;
    d.seed = (unsigned)getpid();
    struct nfq_handle *h = nfq_open();
    if (!h) {
        perror("fl-delay: nfq_open");
        return 1;
    }
    d.qh = nfq_create_queue(h, (uint16_t)queue, delay_on_packet, &d);
    if (!d.qh) {
        fprintf(stderr, "fl-delay: cannot bind queue %ld: %s\n", queue, strerror(errno));
        return 1;
    }
    nfq_set_mode(d.qh, NFQNL_COPY_META, 0);
    nfq_set_queue_maxlen(d.qh, DELAY_RING);
    struct sigaction sa = {.sa_handler = delay_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (pidfile) {
        FILE *f = fopen(pidfile, "w");
        if (f) {
            fprintf(f, "%d\n", (int)getpid());
            fclose(f);
        }
    }
    int fd = nfq_fd(h);
    char buf[4096] __attribute__((aligned));
    while (!delay_stop) {
        int timeout = -1;
        if (d.count) {
            uint64_t now = delay_now_ns(), due = d.ring[d.head].due_ns;
            timeout = due > now ? (int)((due - now + 999999) / 1000000) : 0;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll(&pfd, 1, timeout);
        if (n > 0) {
            ssize_t len;
            while ((len = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
                nfq_handle_packet(h, buf, (int)len);
        }
        delay_release(&d, 0);
    }
    delay_release(&d, 1);
    nfq_destroy_queue(d.qh);
    nfq_close(h);
    if (pidfile)
        unlink(pidfile);
    return 0;
}
