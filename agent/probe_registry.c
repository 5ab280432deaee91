/* The probe types this agent knows, and what every probe shares. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "faultcode.h"
#include "timeutil.h"

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
    return "icmp, tcp, http, dns, mtu, trace, host, capture";
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

void probe_done(struct probe_run *run)
{
    probe__stamp(run);
    run->done(run);
}
