/* See pcap_bursts.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "pcap_bursts.h"
#include "pcap_source.h"

struct pcap_bursts {
    struct dp_pcap *src;
    uint64_t read;
    bool have_next, eof;
    struct dp_packet next; /* read but not yet in a burst (its arena did not have room) */
    struct dp_packet pkts[ENGINE_BATCH];
    uint64_t cnt[ENGINE_BATCH];
    uint8_t arena[ENGINE_BATCH_ARENA];
};

struct pcap_bursts *pcap_bursts_open(const char *path, char *err, size_t errlen)
{
    struct pcap_bursts *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!(b->src = dp_pcap_open_file(path, err, errlen))) {
        free(b);
        return NULL;
    }
    return b;
}

unsigned pcap_bursts_next(struct pcap_bursts *b, const struct dp_packet **pkts,
                          const uint64_t **pcap_cnt)
{
    unsigned n = 0;
    uint32_t used = 0;
    while (n < ENGINE_BATCH && !b->eof) {
        struct dp_packet p;
        if (b->have_next) {
            p = b->next;
            b->have_next = false;
        } else if (dp_pcap_next(b->src, &p) != 1) {
            b->eof = true;
            break;
        }
        uint32_t cap = p.caplen > ENGINE_BATCH_ARENA ? ENGINE_BATCH_ARENA : p.caplen;
        if (used + cap > ENGINE_BATCH_ARENA) {
            /* the view stays valid: libpcap is not called again before it is copied */
            b->next = p;
            b->have_next = true;
            break;
        }
        memcpy(b->arena + used, p.data, cap);
        b->pkts[n] = p;
        b->pkts[n].data = b->arena + used;
        b->pkts[n].caplen = cap;
        b->cnt[n] = ++b->read;
        used += cap;
        n++;
    }
    *pkts = b->pkts;
    *pcap_cnt = b->cnt;
    return n;
}

uint64_t pcap_bursts_count(const struct pcap_bursts *b)
{
    return b->read;
}

void pcap_bursts_close(struct pcap_bursts *b)
{
    if (!b)
        return;
    dp_pcap_close(b->src);
    free(b);
}
