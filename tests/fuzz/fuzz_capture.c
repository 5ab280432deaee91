/* libFuzzer: a whole capture file (pcap or pcapng, as libpcap reads it)
 * through the analyser.  The lab captures and tcpdump's corpus are seeds. */
#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "capture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)(uintptr_t)data, size, "rb");
    if (!f)
        return 0;
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_fopen_offline(f, err); /* takes the FILE */
    if (!p) {
        fclose(f);
        return 0;
    }
    struct capture *c = capture_new(pcap_datalink(p));
    struct pcap_pkthdr *h;
    const u_char *pkt;
    while (c && pcap_next_ex(p, &h, &pkt) == 1)
        capture_feed(c, &h->ts, pkt, h->caplen, h->len);
    capture_free(&c);
    pcap_close(p);
    return 0;
}
