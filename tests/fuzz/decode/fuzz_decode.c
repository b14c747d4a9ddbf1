/* libFuzzer harness for the packet decoder.
 *
 * The first input byte picks the mode:
 *   bit 7 clear: one packet. Bits 0-2 pick the link type (Ethernet, raw, IPv4, IPv6, SLL, SLL2,
 *                NULL, LOOP); bit 3 makes the wire length longer than the capture (a snaplen
 *                cut, by 1 + 800 * bits 4-5 bytes); bit 6 turns checksum checks on.
 *   bit 7 set:   a sequence of packets through one decoder (fragments to reassemble): records of
 *                [linktype byte][time step byte][length hi][length lo][bytes...]. Bit 6: checksums.
 * Every decoded meta is checked for the decoder's promises: pointers and lengths inside the
 * packet (or inside a reassembled datagram), a reason on every invalid packet, and a flow hash
 * equal in both directions. A broken promise aborts (a finding).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t linktypes[8] = {
    DP_LINK_ETHERNET, DP_LINK_RAW,        DP_LINK_IPV4, DP_LINK_IPV6,
    DP_LINK_LINUX_SLL, DP_LINK_LINUX_SLL2, DP_LINK_NULL, DP_LINK_LOOP,
};

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static volatile uint32_t sink;

static void touch(const uint8_t *p, uint32_t n)
{
    uint32_t s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += p[i];
    sink += s;
}

static bool inside(const uint8_t *p, uint32_t n, const uint8_t *base, uint32_t len)
{
    return p >= base && p <= base + len && n <= (uint32_t)(base + len - p);
}

static void check_meta(const struct dp_packet *pkt, enum decode_result r, const struct pkt_meta *m)
{
    CHECK(r == DECODE_OK || r == DECODE_HELD || r == DECODE_INVALID);
    CHECK((unsigned)m->reason < DEC_REASON_MAX);
    CHECK(decode_reason_name(m->reason) != NULL);
    if (r == DECODE_INVALID)
        CHECK(m->reason != DEC_NONE);
    if (r == DECODE_HELD)
        CHECK(m->flags & PKT_FRAGMENT);
    CHECK(m->ts_ns == pkt->ts_ns);
    if (m->flags & (PKT_IPV4 | PKT_IPV6))
        CHECK(m->ip_version == 4 || m->ip_version == 6);
    if (m->flags & PKT_HAS_L4)
        CHECK(m->ip_version != 0 && m->l4 != NULL);
    CHECK(m->vlan_count <= 2);
    if (m->l3) {
        touch(m->l3, m->l3_len);
        if (!(m->flags & PKT_REASSEMBLED))
            CHECK(inside(m->l3, m->l3_len, pkt->data, pkt->caplen));
    }
    if (m->l4) {
        touch(m->l4, m->l4_len);
        CHECK(m->l3 != NULL && inside(m->l4, m->l4_len, m->l3, m->l3_len));
    }
    if (m->payload) {
        touch(m->payload, m->payload_len);
        CHECK(m->l4 != NULL && inside(m->payload, m->payload_len, m->l4, m->l4_len));
    }
    if (m->ip_version) {
        struct pkt_meta s = *m;
        memcpy(s.src, m->dst, 16);
        memcpy(s.dst, m->src, 16);
        s.sport = m->dport;
        s.dport = m->sport;
        CHECK(pkt_meta_flow_hash(&s) == pkt_meta_flow_hash(m));
    }
}

static void one(struct decoder *d, const uint8_t *p, uint32_t caplen, uint32_t wirelen, uint16_t lt,
                uint64_t ts)
{
    struct dp_packet pkt = {.data = p, .caplen = caplen, .wirelen = wirelen, .ts_ns = ts, .linktype = lt};
    struct pkt_meta m;
    enum decode_result r = decode_packet(d, &pkt, &m);
    check_meta(&pkt, r, &m);
    sink += decode_dispatch_hash(&pkt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 70000)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;

    struct decoder_config cfg;
    decoder_config_default(&cfg);
    cfg.frag_max_datagrams = 8;
    cfg.frag_max_bytes = 16 * 1024;
    cfg.frag_timeout_ns = 1000;
    cfg.check_checksums = (mode & 0x40) != 0;
    struct decoder *d = decoder_new(&cfg);
    if (!d)
        return 0;

    if (!(mode & 0x80)) {
        /* An exact-size copy, so any read past the capture is caught. */
        uint8_t *p = malloc(size ? size : 1);
        if (p) {
            memcpy(p, data, size);
            uint32_t extra = (mode & 0x08) ? 1u + 8u * ((mode >> 4) & 3) * 100u : 0;
            one(d, p, (uint32_t)size, (uint32_t)size + extra, linktypes[mode & 7], 1);
            free(p);
        }
    } else {
        uint64_t ts = 1;
        while (size >= 4) {
            uint16_t lt = linktypes[data[0] & 7];
            ts += data[1];
            uint32_t n = (uint32_t)data[2] << 8 | data[3];
            data += 4;
            size -= 4;
            if (n > size)
                n = (uint32_t)size;
            uint8_t *p = malloc(n ? n : 1);
            if (!p)
                break;
            memcpy(p, data, n);
            one(d, p, n, n, lt, ts);
            free(p);
            data += n;
            size -= n;
            if (ts % 7 == 0)
                decoder_expire(d, ts);
        }
        decoder_expire(d, UINT64_MAX);
    }
    const struct decoder_stats *st = decoder_get_stats(d);
    CHECK(st->invalid <= st->packets);
    decoder_free(d);
    return 0;
}
