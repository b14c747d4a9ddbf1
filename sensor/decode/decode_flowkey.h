/* The canonical flow key of a packet and its hash, shared by the decoder (which builds them for
 * every decoded IP packet, pkt_meta.flow_key) and the flow table (for metas built by hand).
 * Internal to sensor/decode and sensor/flow; not a stage interface. */
#ifndef TRIPLINE_DECODE_FLOWKEY_H
#define TRIPLINE_DECODE_FLOWKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "decode.h"

_Static_assert(sizeof(struct flow_key) == 44, "the key is compared and hashed as 44 bytes");

static inline uint64_t flowkey_ld64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t flowkey_be64(const uint8_t *p)
{
    return __builtin_bswap64(flowkey_ld64(p));
}

/* ICMP flows are keyed on the address pair only, as Suricata does, so echo request and reply
 * (and other types between the same hosts) share a flow. */
static inline bool flowkey_proto_has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 132 /* SCTP */;
}

/* 64x64 -> 128 multiply folded to 64 bits (the mixing step of wyhash). */
static inline uint64_t flowkey_mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* The hash of a canonical IPv6 key (any key but IPv4's, see flowkey_hash_v4) from its words: a0/a1 and b0/b1 the big-endian 64-bit halves of
 * addr[0] and addr[1] (IPv4: the address in the high half of a0/b0, a1 = b1 = 0), w4 the ports
 * and VLANs (port[0] | port[1] << 16 | vlan[0] << 32 | vlan[1] << 48), w5 proto | version << 8.
 * Three independent 128-bit multiplies (a general-purpose hash of the 44 bytes cost 2/3 of the
 * flow update). Never 0 (0 marks an empty flow bucket way). */
static inline uint32_t flowkey_hash_words(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1, uint64_t w4,
                                          uint64_t w5)
{
    uint64_t h = flowkey_mum(a0 ^ 0xa0761d6478bd642full, a1 ^ 0xe7037ed1a0b428dbull) ^
                 flowkey_mum(b0 ^ 0x8ebc6af09c88c6e3ull, b1 ^ 0x589965cc75374cc3ull) ^
                 flowkey_mum(w4 ^ 0x1d8e4e27c47d124full, w5 ^ 0xa0761d6478bd642full);
    h = flowkey_mum(h, 0xe7037ed1a0b428dbull ^ (h >> 29));
    uint32_t r = (uint32_t)(h ^ (h >> 32));
    return r != 0 ? r : 1;
}

/* The hash of an IPv4 key (both addresses fit one word, the other address words are 0): one
 * 128-bit multiply of the address pair and the ports/VLANs word, proto and version folded into
 * the latter's top bits (a hash of the key like any other: bucket spread, collisions resolved by
 * the key compare). Never 0. */
static inline uint32_t flowkey_hash_v4(uint32_t a, uint32_t b, uint64_t w4, uint64_t w5)
{
    uint64_t h = flowkey_mum(((uint64_t)a << 32 | b) ^ 0xa0761d6478bd642full,
                             w4 ^ (w5 << 48) ^ 0xe7037ed1a0b428dbull);
    uint32_t r = (uint32_t)(h ^ (h >> 32));
    return r != 0 ? r : 1;
}

/* Whether the source endpoint is the higher one (key endpoint 1): address words compared as
 * big-endian (memcmp order), then ports; computed without branches (the packet direction is
 * random, a branch on it is mispredicted half the time). */
static inline unsigned flowkey_swap(uint64_t s0, uint64_t s1, uint64_t d0, uint64_t d1, uint16_t sp,
                                    uint16_t dp)
{
    unsigned lo = (unsigned)(s1 > d1) | ((unsigned)(s1 == d1) & (unsigned)(sp > dp));
    return (unsigned)(s0 > d0) | ((unsigned)(s0 == d0) & lo);
}

/* Builds the canonical key of a decoded meta; *src_side = which key endpoint (0/1) sent the
 * packet. Returns the hash. Endpoints are ordered by big-endian word compares (the order of
 * memcmp over address, then port). The decoder's fast paths build the same key and hash from
 * the header words directly (tests/decode test_decode_fastpath holds them to this). */
static inline uint32_t flowkey_build(const struct pkt_meta *m, struct flow_key *key, uint8_t *src_side)
{
    uint16_t sp = 0, dp = 0;
    if (flowkey_proto_has_ports(m->proto) && (m->flags & PKT_HAS_L4)) {
        sp = m->sport;
        dp = m->dport;
    }
    uint64_t s0 = flowkey_be64(m->src), s1 = flowkey_be64(m->src + 8), d0 = flowkey_be64(m->dst),
             d1 = flowkey_be64(m->dst + 8);
    unsigned swap = flowkey_swap(s0, s1, d0, d1, sp, dp);
    uint64_t mask = 0 - (uint64_t)swap, x0 = (s0 ^ d0) & mask, x1 = (s1 ^ d1) & mask;
    uint64_t a0 = s0 ^ x0, a1 = s1 ^ x1, b0 = d0 ^ x0, b1 = d1 ^ x1;
    uint32_t xp = (uint32_t)(sp ^ dp) & (0 - (uint32_t)swap);
    uint16_t pa = (uint16_t)(sp ^ xp), pb = (uint16_t)(dp ^ xp);
    /* the meta's src and dst are adjacent: [src | dst] or, swapped, [dst | src] */
    _Static_assert(offsetof(struct pkt_meta, dst) == offsetof(struct pkt_meta, src) + 16, "src, dst");
    memcpy(key->addr[0], m->src + 16 * swap, 16);
    memcpy(key->addr[1], m->src + 16 - 16 * swap, 16);
    key->port[0] = pa;
    key->port[1] = pb;
    key->vlan[0] = m->vlan_count > 0 ? m->vlan[0] : 0;
    key->vlan[1] = m->vlan_count > 1 ? m->vlan[1] : 0;
    key->proto = m->proto;
    key->ip_version = m->ip_version;
    key->pad[0] = key->pad[1] = 0;
    *src_side = (uint8_t)swap;
    uint64_t w4 = (uint64_t)pa | (uint64_t)pb << 16 | (uint64_t)key->vlan[0] << 32 |
                  (uint64_t)key->vlan[1] << 48;
    uint64_t w5 = (uint64_t)m->proto | (uint64_t)m->ip_version << 8;
    if (m->ip_version == 4)
        return flowkey_hash_v4((uint32_t)(a0 >> 32), (uint32_t)(b0 >> 32), w4, w5);
    return flowkey_hash_words(a0, a1, b0, b1, w4, w5);
}

/* Sets the meta's flow key, hash (never 0) and side from its decoded fields. */
static inline void flowkey_set_meta(struct pkt_meta *m)
{
    m->flow_hash = flowkey_build(m, &m->flow_key, &m->flow_src_side);
}

#endif
