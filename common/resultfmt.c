#include "resultfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultcode.h"
#include "probetype.h"
#include "timeutil.h"

static const char *const resultfmt_statuses[] = {"?", "ok", "fail", "error"};

const char *resultfmt_probe_name(int probe)
{
    const struct probetype *pt = probetype_of(probe);
    return pt ? pt->name : "?";
}

const char *resultfmt_status_name(int status)
{
    return status >= 0 && status < 4 ? resultfmt_statuses[status] : "?";
}

int resultfmt_probe_parse(const char *s)
{
    const struct probetype *pt = probetype_named(s);
    return pt ? (int)pt->type : 0;
}

int resultfmt_status_parse(const char *s)
{
    for (int i = 1; i < 4; i++)
        if (strcmp(s, resultfmt_statuses[i]) == 0)
            return i;
    return 0;
}

void resultfmt_detail_text(const fl_result *r, char *buf, size_t len)
{
    const struct probetype *pt = probetype_detail(r);
    buf[0] = 0;
    if (pt)
        pt->text(r, buf, len);
}

json_t *resultfmt_detail_json(const fl_result *r)
{
    const struct probetype *pt = probetype_detail(r);
    return pt ? pt->json(r) : NULL;
}

json_t *resultfmt_json(const fl_result *r)
{
    char when[40], fault[16];
    time_format_us(r->start_us, when, sizeof when);
    snprintf(fault, sizeof fault, "0x%04x", r->fault_code);
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:f, s:s}", "agent",
                          r->agent ? r->agent : "", "seq", (json_int_t)r->seq, "probe",
                          resultfmt_probe_name(r->probe), "target", r->target ? r->target : "",
                          "address", r->address ? r->address : "", "time", when, "start_us",
                          (json_int_t)r->start_us, "duration_ms", r->duration_us / 1000.0,
                          "status", resultfmt_status_name(r->status));
    json_object_set_new(o, "fault_code", json_string(fault));
    if (r->fault_code) {
        struct fl_fault_info fi;
        fault_decode(r->fault_code, &fi);
        json_object_set_new(o, "fault", json_string(fi.error_name));
        json_object_set_new(o, "severity", json_integer(fi.severity));
    }
    if (r->message && r->message[0])
        json_object_set_new(o, "message", json_string(r->message));
    json_t *d = resultfmt_detail_json(r);
    if (d)
        json_object_set_new(o, resultfmt_probe_name(r->probe), d);
    return o;
}
