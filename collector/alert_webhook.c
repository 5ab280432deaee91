/* alert_webhook: POST {"event": "open|update|resolve", "incident": {...}}
 * to a URL; a 2xx answer is a delivery. */
#include "alert_sink.h"

static void webhook__event(struct alerter *a, struct alert_sink *s, enum incident_event ev,
                           const struct incident *in, int64_t now_us)
{
    alert_push(a, s, alert_payload_json(ev, in), in->id, ev, now_us);
}

static int webhook__start(struct alerter *a, struct alert_sink *s)
{
    return alert_start_post(a, s, s->cfg.url);
}

const struct alert_sink_ops alert_webhook_ops = {
    .kind = {.name = "webhook", .takes_url = 1},
    .event = webhook__event,
    .start = webhook__start,
};
