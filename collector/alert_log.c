/* alert_log: one log line per event, delivered at once. */
#include "alert_sink.h"
#include "faultcode.h"
#include "log.h"

static void log__event(struct alerter *a, struct alert_sink *s, enum incident_event ev,
                       const struct incident *in, int64_t now_us)
{
    (void)s;
    (void)now_us;
    char fault[128];
    fault_format(in->fault, fault, sizeof fault);
    log_warn("alert %s: incident %lld %s %s: %s (%s)", incident_event_name(ev), (long long)in->id,
             in->verdict, in->component, in->explanation ? in->explanation : "", fault);
    alert_delivered_now(a);
}

const struct alert_sink_ops alert_log_ops = {
    .kind = {.name = "log"},
    .event = log__event,
};
