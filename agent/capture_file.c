/* Read a capture file (pcap or pcapng, through libpcap) into an analyser. */
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "capture_file.h"

struct capture *capture_read_file(const char *path, uint64_t *bad_records, char *err,
                                  size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    *bad_records = 0;
    pcap_t *p = pcap_open_offline(path, perr);
    if (!p) {
        snprintf(err, errlen, "%s: %s", path, perr);
        return NULL;
    }
    struct capture *c = capture_new(pcap_datalink(p));
    if (!c) {
        pcap_close(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1)
        capture_feed(c, &h->ts, data, h->caplen, h->len);
    /* A record libpcap refuses (truncated file, a record longer than the
     * snapshot length) ends the file: it is counted, and what came before
     * it stands. */
    if (rc == PCAP_ERROR) {
        (*bad_records)++;
        snprintf(err, errlen, "%s: %s", path, pcap_geterr(p));
    } else {
        err[0] = 0;
    }
    pcap_close(p);
    return c;
}
