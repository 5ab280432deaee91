/* The probe types this agent knows, and what every probe shares. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "faultcode.h"
#include "timeutil.h"

extern const struct probe_ops probe_icmp_ops, probe_tcp_ops, probe_http_ops, probe_dns_ops,
    probe_mtu_ops, probe_trace_ops, probe_host_ops, probe_capture_ops;

static const struct probe_ops *const probe_registry[] = {
    &probe_icmp_ops,
    &probe_tcp_ops,
    &probe_http_ops,
    &probe_dns_ops,
    &probe_mtu_ops,
    &probe_trace_ops,
    &probe_host_ops,
    &probe_capture_ops,
};

#define PROBE_N (sizeof probe_registry / sizeof probe_registry[0])

const struct probe_ops *probe_find(const char *name)
{
    for (size_t i = 0; i < PROBE_N; i++)
        if (strcmp(probe_registry[i]->name, name) == 0)
            return probe_registry[i];
    return NULL;
}

const char *probe_names(void)
{
    static char names[256];
    if (!names[0])
        for (size_t i = 0; i < PROBE_N; i++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                     probe_registry[i]->name);
        }
    return names;
}

const struct probe_ops *probe_for_evidence(enum probe_evidence e)
{
    for (size_t i = 0; i < PROBE_N; i++)
        if (probe_registry[i]->evidence == e)
            return probe_registry[i];
    return NULL;
}

char *probe_text(struct probe_run *run, const char *s)
{
    size_t left = sizeof run->text - run->text_used;
    char *dst = run->text + run->text_used;
    if (left == 0)
        return (char *)"";
    size_t n = strnlen(s, left - 1);
    memcpy(dst, s, n);
    dst[n] = 0;
    run->text_used += n + 1;
    return dst;
}

void probe_set(struct probe_run *run, int status, uint16_t fault, const char *fmt, ...)
{
    run->result.status = (Faultline__Status)status;
    run->result.fault_code = fault;
    run->message[0] = 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(run->message, sizeof run->message, fmt, ap);
        va_end(ap);
    }
    run->result.message = run->message;
}

static void probe__stamp(struct probe_run *run)
{
    uint64_t elapsed = (time_mono_ns() - run->started_ns) / 1000;
    run->result.duration_us = elapsed > UINT32_MAX ? UINT32_MAX : (uint32_t)elapsed;
}

int probe_start(struct probe_run *run)
{
    run->started_ns = time_mono_ns();
    run->result.start_us = time_now_us();
    run->result.probe = (Faultline__ProbeType)run->check->ops->type;
    run->result.message = run->message;
    int rc = run->check->ops->start(run);
    if (rc < 0) {
        uint16_t fault = FL_FAULT_PROBE_INTERNAL;
        if (rc == -EPERM || rc == -EACCES)
            fault = FL_FAULT_PROBE_PERMISSION;
        else if (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM || rc == -ENOBUFS)
            fault = FL_FAULT_PROBE_RESOURCE;
        probe_set(run, FAULTLINE__STATUS__STATUS_ERROR, fault, "%s probe cannot start: %s",
                  run->check->ops->name, strerror(-rc));
        probe__stamp(run);
    }
    return rc;
}

static void probe__io_closed(struct probe_io *io)
{
    if (--io->open > 0)
        return;
    if (io->fd >= 0)
        close(io->fd);
    struct probe_run *run = io->run;
    free(io->owner); /* io lives inside it */
    if (run) {
        run->priv = NULL;
        probe_done(run);
    }
}

static void probe__io_poll_closed(uv_handle_t *h)
{
    probe__io_closed((struct probe_io *)(void *)((char *)h - offsetof(struct probe_io, poll)));
}

static void probe__io_timer_closed(uv_handle_t *h)
{
    probe__io_closed((struct probe_io *)(void *)((char *)h - offsetof(struct probe_io, timer)));
}

void probe_io_start(struct probe_io *io, struct probe_run *run, void *owner, int fd,
                    uv_poll_cb on_poll)
{
    io->fd = fd;
    io->run = run;
    io->owner = owner;
    io->open = 2;
    uv_poll_init_socket(run->loop, &io->poll, fd);
    uv_timer_init(run->loop, &io->timer);
    io->poll.data = io->timer.data = owner;
    uv_poll_start(&io->poll, UV_READABLE | UV_PRIORITIZED, on_poll);
    run->priv = owner;
}

void probe_io_end(struct probe_io *io)
{
    if (io->ending)
        return;
    io->ending = 1;
    uv_timer_stop(&io->timer);
    uv_poll_stop(&io->poll);
    uv_close((uv_handle_t *)&io->poll, probe__io_poll_closed);
    uv_close((uv_handle_t *)&io->timer, probe__io_timer_closed);
}

void probe_io_cancel(struct probe_io *io)
{
    if (io->run)
        io->run->priv = NULL;
    io->run = NULL;
    probe_io_end(io);
}

void probe_done(struct probe_run *run)
{
    probe__stamp(run);
    run->done(run);
}
