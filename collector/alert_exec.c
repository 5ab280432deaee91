/* alert_exec: runs a command with the event as JSON on stdin, and
 * FAULTLINE_EVENT and FAULTLINE_INCIDENT in its environment; exit status 0
 * is a delivery.  The dispatcher reaps it without waiting. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alert_sink.h"

static void exec__event(struct alerter *a, struct alert_sink *s, enum incident_event ev,
                        const struct incident *in, int64_t now_us)
{
    alert_push(a, s, alert_payload_json(ev, in), in->id, ev, now_us);
}

static int exec__start(struct alerter *a, struct alert_sink *s)
{
    (void)a;
    /* The event goes to the command's stdin through a socket pair, not a
     * pipe: send(MSG_NOSIGNAL) cannot raise SIGPIPE when the command exits
     * without reading, whatever the process does with that signal.  The
     * whole event must fit in the socket's buffer, so the command never
     * waits on us. */
    int p[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) != 0)
        return -1;
    size_t len = strlen(s->head->body);
    int sndbuf = (int)len + 4096;
    if (len + 1 > 65536)
        setsockopt(p[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    /* posix_spawn, not fork: the collector has ZeroMQ's threads, and a
     * forked child may only call async-signal-safe functions before exec. */
    extern char **environ;
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **envp = calloc(nenv + 3, sizeof *envp);
    char evbuf[48], idbuf[48];
    snprintf(evbuf, sizeof evbuf, "FAULTLINE_EVENT=%s", incident_event_name(s->head->ev));
    snprintf(idbuf, sizeof idbuf, "FAULTLINE_INCIDENT=%lld", (long long)s->head->id);
    posix_spawn_file_actions_t fa;
    int rc = envp ? posix_spawn_file_actions_init(&fa) : ENOMEM;
    pid_t pid = -1;
    if (rc == 0) {
        size_t k = 0;
        for (size_t i = 0; i < nenv; i++)
            if (strncmp(environ[i], "FAULTLINE_EVENT=", 16) &&
                strncmp(environ[i], "FAULTLINE_INCIDENT=", 19))
                envp[k++] = environ[i];
        envp[k++] = evbuf;
        envp[k++] = idbuf;
        posix_spawn_file_actions_adddup2(&fa, p[0], 0);
        /* The collector ignores SIGPIPE; the command should not inherit that. */
        posix_spawnattr_t attr;
        sigset_t def;
        sigemptyset(&def);
        sigaddset(&def, SIGPIPE);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setsigdefault(&attr, &def);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
        rc = posix_spawnp(&pid, s->cfg.argv[0], &fa, &attr, s->cfg.argv, envp);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
    }
    free(envp);
    if (rc != 0) {
        close(p[0]);
        close(p[1]);
        errno = rc;
        return -1;
    }
    close(p[0]);
    ssize_t w = send(p[1], s->head->body, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w == (ssize_t)len)
        w = send(p[1], "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(p[1]);
    s->child = pid; /* a short write shows as the child's failure or timeout */
    return 0;
}

const struct alert_sink_ops alert_exec_ops = {
    .kind = {.name = "exec", .takes_command = 1},
    .event = exec__event,
    .start = exec__start,
};
