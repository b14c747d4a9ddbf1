/* Symmetric flow hashes: the same value for both directions of a flow.
 *
 * Symmetry comes from ordering the two endpoints before mixing (never from a commutative
 * combination such as XOR, which maps every flow between equal addresses to one value).
 * IPv4 uses a multiply-xorshift mixer over 64-bit words; IPv6 folds each address to 64 bits
 * with XXH3 first.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "decode_priv.h"

#define MIX_K1 0x9e3779b97f4a7c15ull
#define MIX_K2 0xd6e8feb86659fd93ull
#define MIX_K3 0xc2b2ae3d27d4eb4full
#define MIX_K4 0x165667b19e3779f9ull

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= MIX_K2;
    x ^= x >> 32;
    x *= MIX_K2;
    x ^= x >> 32;
    return x;
}

static inline uint32_t fold32(uint64_t h)
{
    uint32_t v = (uint32_t)(h ^ (h >> 32));
    return v ? v : 1; /* 0 is reserved for "not IP" */
}

static inline uint64_t addr6_fold(const uint8_t *a)
{
    return XXH3_64bits(a, 16);
}

uint32_t pkt_meta_flow_hash(const struct pkt_meta *m)
{
    uint16_t sp = m->sport, dp = m->dport;
    uint64_t lo, hi;
    /* ICMP type/code differ between request and reply: they must not split the flow. */
    if (m->flags & PKT_ICMP)
        sp = dp = 0;
    if (m->ip_version == 4) {
        uint32_t s, d;
        memcpy(&s, m->src, 4);
        memcpy(&d, m->dst, 4);
        uint64_t a = (uint64_t)__builtin_bswap32(s) << 16 | sp;
        uint64_t b = (uint64_t)__builtin_bswap32(d) << 16 | dp;
        lo = a < b ? a : b;
        hi = a < b ? b : a;
    } else {
        uint64_t a = addr6_fold(m->src), b = addr6_fold(m->dst);
        /* Equal folds with different addresses are astronomically rare; ports still order. */
        if (a < b || (a == b && sp <= dp)) {
            lo = a ^ sp;
            hi = b ^ ((uint64_t)dp << 48);
        } else {
            lo = b ^ dp;
            hi = a ^ ((uint64_t)sp << 48);
        }
    }
    uint64_t extra = (uint64_t)m->proto | (uint64_t)m->ip_version << 8 | (uint64_t)m->vlan[0] << 16 |
                     (uint64_t)m->vlan[1] << 32;
    /* Three independent multiplies (they run in parallel), then one full mix. */
    uint64_t a = (lo ^ MIX_K1) * MIX_K2;
    uint64_t b = (hi ^ MIX_K3) * MIX_K4;
    uint64_t c = (extra ^ MIX_K2) * MIX_K1;
    uint64_t h = mix64(a ^ rotl64(b, 23) ^ rotl64(c, 47));
    return fold32(h);
}

static uint32_t hash_v4_pair(const uint8_t *s, const uint8_t *d)
{
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, d, 4);
    uint64_t k = a < b ? ((uint64_t)a << 32 | b) : ((uint64_t)b << 32 | a);
    return fold32(mix64(k ^ MIX_K1));
}

static uint32_t hash_v6_pair(const uint8_t *s, const uint8_t *d)
{
    uint64_t a = addr6_fold(s), b = addr6_fold(d);
    uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
    return fold32(mix64(mix64(lo ^ MIX_K1) ^ hi));
}

static uint32_t dispatch_ip(const uint8_t *p, uint32_t len)
{
    if (len >= 20 && (p[0] >> 4) == 4)
        return hash_v4_pair(p + 12, p + 16);
    if (len >= 40 && (p[0] >> 4) == 6)
        return hash_v6_pair(p + 8, p + 24);
    return 0;
}

static uint32_t dispatch_ethertype(uint16_t et, const uint8_t *p, uint32_t len)
{
    for (unsigned tags = 0; (et == 0x8100 || et == 0x88a8 || et == 0x9100) && tags < 4; tags++) {
        if (len < 4)
            return 0;
        et = rd16(p + 2);
        p += 4;
        len -= 4;
    }
    if (et == 0x8847 || et == 0x8848) {
        for (unsigned n = 0;; n++) {
            if (len < 4 || n >= DECODE_MAX_MPLS_LABELS)
                return 0;
            bool bottom = p[2] & 1;
            p += 4;
            len -= 4;
            if (bottom)
                break;
        }
        return dispatch_ip(p, len);
    }
    if (et == 0x0800 || et == 0x86dd)
        return dispatch_ip(p, len);
    if (et == 0x8864 && len >= 8) { /* PPPoE session, uncompressed PPP protocol */
        uint16_t pp = rd16(p + 6);
        if (pp == 0x0021 || pp == 0x0057)
            return dispatch_ip(p + 8, len - 8);
    }
    return 0;
}

uint32_t decode_dispatch_hash(const struct dp_packet *pkt)
{
    const uint8_t *p = pkt->data;
    uint32_t len = pkt->caplen;
    switch (pkt->linktype) {
    case DP_LINK_ETHERNET:
        return len < 14 ? 0 : dispatch_ethertype(rd16(p + 12), p + 14, len - 14);
    case DP_LINK_RAW:
    case DP_LINK_IPV4:
    case DP_LINK_IPV6:
        return dispatch_ip(p, len);
    case DP_LINK_LINUX_SLL:
        return len < 16 ? 0 : dispatch_ethertype(rd16(p + 14), p + 16, len - 16);
    case DP_LINK_LINUX_SLL2:
        return len < 20 ? 0 : dispatch_ethertype(rd16(p), p + 20, len - 20);
    case DP_LINK_NULL:
    case DP_LINK_LOOP:
        return len < 4 ? 0 : dispatch_ip(p + 4, len - 4);
    default:
        return 0;
    }
}
