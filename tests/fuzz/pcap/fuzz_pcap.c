/* libFuzzer harness for the capture reader: any bytes as a pcap/pcapng file in memory, read to
 * the end; every packet view must lie inside what libpcap reports (caplen <= wirelen holds). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pcap_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[600];
    struct dp_pcap *src = dp_pcap_open_memory(data, size, err, sizeof(err));
    if (!src)
        return 0;
    struct dp_packet p;
    uint64_t sum = 0;
    unsigned n = 0;
    while (n++ < 100000 && dp_pcap_next(src, &p) == 1) {
        if (p.caplen > p.wirelen || !dp_linktype_supported(p.linktype))
            abort();
        if (p.caplen)
            sum += p.data[0] + p.data[p.caplen - 1]; /* the whole view must be readable */
    }
    (void)dp_pcap_error(src);
    (void)dp_pcap_offset(src);
    dp_pcap_close(src);
    return sum == 0xdeadbeefcafeull; /* keep the reads */
}
