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

/* ---- dispatch: the innermost IP address pair, by the decoder's tunnel rules ----
 *
 * The flow table keys on the innermost IP header (decode.c), so the dispatcher must too, or a
 * flow seen both bare and inside a tunnel would be split over two workers. This is a light,
 * bounded walk of the same headers the decoder follows into a tunnel: IP-in-IP (4, 41), GRE
 * version 0 (IPv4, IPv6, MPLS, transparent Ethernet), VXLAN on the configured UDP port with the
 * I flag, MPLS (IP or RFC 4385 control word + Ethernet), VLAN tags and PPPoE sessions, at most
 * DECODE_MAX_TUNNEL_DEPTH levels. Where the decoder would not reach an inner IP header (not
 * IP, cut short, too deep) the last IP header's pair is used, as the decoder then keys the flow
 * on it. An IP fragment (other than an IPv6 atomic one) stops the walk at its own header: every
 * fragment of a datagram must reach the worker that reassembles it, and only the first one
 * shows the inner headers. Only addresses are hashed (no ports), for the same reason. */

struct dispatch_ctx {
    uint16_t vxlan_port;
};

static uint32_t dispatch_ip(const struct dispatch_ctx *x, const uint8_t *p, uint32_t len, unsigned depth);
static uint32_t dispatch_ethertype(const struct dispatch_ctx *x, uint16_t et, const uint8_t *p,
                                   uint32_t len, unsigned depth);

static uint32_t dispatch_ether(const struct dispatch_ctx *x, const uint8_t *p, uint32_t len, unsigned depth)
{
    return len < 14 ? 0 : dispatch_ethertype(x, rd16(p + 12), p + 14, len - 14, depth);
}

/* GRE (RFC 2784/2890, RFC 1701 routing) as dec_gre() reads it; 0 if no IP inside. */
static uint32_t dispatch_gre(const struct dispatch_ctx *x, const uint8_t *p, uint32_t len, unsigned depth)
{
    if (len < 4)
        return 0;
    uint16_t fl = rd16(p), proto = rd16(p + 2);
    if ((fl & 7) != 0)
        return 0;
    uint32_t hl = 4;
    if (fl & 0xc000)
        hl += 4;
    if (fl & 0x2000)
        hl += 4;
    if (fl & 0x1000)
        hl += 4;
    if (len < hl)
        return 0;
    if (fl & 0x4000) {
        for (unsigned n = 0;; n++) {
            if (n >= DECODE_MAX_GRE_SRES || len - hl < 4)
                return 0;
            uint16_t af = rd16(p + hl);
            uint8_t sl = p[hl + 3];
            hl += 4;
            if (af == 0 && sl == 0)
                break;
            hl += sl;
            if (len < hl)
                return 0;
        }
    }
    p += hl;
    len -= hl;
    switch (proto) {
    case 0x6558: /* transparent Ethernet bridging */
        return dispatch_ether(x, p, len, depth + 1);
    case 0x0800:
    case 0x86dd:
    case 0x8847:
    case 0x8848:
        return dispatch_ethertype(x, proto, p, len, depth + 1);
    default:
        return 0;
    }
}

/* The L4 header after an IP header: a tunnel's inner pair, or 0 (no tunnel / nothing inside). */
static uint32_t dispatch_l4(const struct dispatch_ctx *x, uint8_t proto, const uint8_t *p, uint32_t len,
                            unsigned depth)
{
    if (depth + 1 > DECODE_MAX_TUNNEL_DEPTH)
        return 0;
    switch (proto) {
    case 4:
    case 41:
        return dispatch_ip(x, p, len, depth + 1);
    case 47:
        return dispatch_gre(x, p, len, depth);
    case 17: {
        if (len < 8 || rd16(p + 2) != x->vxlan_port)
            return 0;
        uint32_t ulen = rd16(p + 4);
        if (ulen < 8)
            return 0;
        if (ulen < len)
            len = ulen;
        /* RFC 7348 5: 8-byte VXLAN header with the I flag, then Ethernet */
        if (len < 16 || !(p[8] & 0x08))
            return 0;
        return dispatch_ether(x, p + 16, len - 16, depth + 1);
    }
    default:
        return 0;
    }
}

static uint32_t dispatch_ip(const struct dispatch_ctx *x, const uint8_t *p, uint32_t len, unsigned depth)
{
    if (len >= 20 && (p[0] >> 4) == 4) {
        uint32_t hl = (uint32_t)(p[0] & 0x0f) * 4, tot = rd16(p + 2);
        uint32_t own = hash_v4_pair(p + 12, p + 16);
        if (hl < 20 || tot < hl)
            return own;
        if (tot < len)
            len = tot;
        if (hl > len || (rd16(p + 6) & 0x3fff)) /* options cut short, or a fragment */
            return own;
        uint32_t in = dispatch_l4(x, p[9], p + hl, len - hl, depth);
        return in ? in : own;
    }
    if (len >= 40 && (p[0] >> 4) == 6) {
        uint32_t own = hash_v6_pair(p + 8, p + 24);
        uint32_t tot = 40 + (uint32_t)rd16(p + 4), off = 40;
        if (tot < len)
            len = tot;
        uint8_t nh = p[6];
        for (unsigned n = 0;; n++) {
            if (nh != 0 && nh != 43 && nh != 44 && nh != 51 && nh != 60 && nh != 139 && nh != 140 &&
                nh != 253 && nh != 254)
                break;
            if (n >= DECODE_MAX_IPV6_EXTHDRS || len - off < 8)
                return own;
            uint32_t hl;
            if (nh == 44) {
                if (rd16(p + off + 2) & 0xfff9) /* offset or M set: a real fragment */
                    return own;
                hl = 8; /* atomic fragment (RFC 6946): decoded in place */
            } else if (nh == 51) {
                hl = ((uint32_t)p[off + 1] + 2) * 4;
            } else {
                hl = ((uint32_t)p[off + 1] + 1) * 8;
            }
            if (len - off < hl)
                return own;
            nh = p[off];
            off += hl;
        }
        uint32_t in = dispatch_l4(x, nh, p + off, len - off, depth);
        return in ? in : own;
    }
    return 0;
}

static uint32_t dispatch_ethertype(const struct dispatch_ctx *x, uint16_t et, const uint8_t *p,
                                   uint32_t len, unsigned depth)
{
    for (unsigned tags = 0; et == 0x8100 || et == 0x88a8 || et == 0x9100; tags++) {
        if (len < 4 || tags >= DECODE_MAX_VLAN_TAGS)
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
        if (len < 1)
            return 0;
        if ((p[0] >> 4) == 0) { /* RFC 4385 control word, then Ethernet: a tunnel level */
            if (len < 4 || depth + 1 > DECODE_MAX_TUNNEL_DEPTH)
                return 0;
            return dispatch_ether(x, p + 4, len - 4, depth + 1);
        }
        return dispatch_ip(x, p, len, depth);
    }
    if (et == 0x0800 || et == 0x86dd)
        return dispatch_ip(x, p, len, depth);
    if (et == 0x8864 && len >= 7) { /* PPPoE session; PPP protocol compressed to one byte or not */
        uint16_t pp = (p[6] & 1) ? p[6] : (len >= 8 ? rd16(p + 6) : 0);
        uint32_t hl = (p[6] & 1) ? 7 : 8;
        if (pp == 0x0021 || pp == 0x0057)
            return dispatch_ip(x, p + hl, len - hl, depth);
    }
    return 0;
}

uint32_t decode_dispatch_hash_port(const struct dp_packet *pkt, uint16_t vxlan_port)
{
    const struct dispatch_ctx x = {.vxlan_port = vxlan_port};
    const uint8_t *p = pkt->data;
    uint32_t len = pkt->caplen;
    switch (pkt->linktype) {
    case DP_LINK_ETHERNET:
        return dispatch_ether(&x, p, len, 0);
    case DP_LINK_RAW:
    case DP_LINK_IPV4:
    case DP_LINK_IPV6:
        return dispatch_ip(&x, p, len, 0);
    case DP_LINK_LINUX_SLL:
        return len < 16 ? 0 : dispatch_ethertype(&x, rd16(p + 14), p + 16, len - 16, 0);
    case DP_LINK_LINUX_SLL2:
        return len < 20 ? 0 : dispatch_ethertype(&x, rd16(p), p + 20, len - 20, 0);
    case DP_LINK_NULL:
    case DP_LINK_LOOP:
        return len < 4 ? 0 : dispatch_ip(&x, p + 4, len - 4, 0);
    default:
        return 0;
    }
}

uint32_t decode_dispatch_hash(const struct dp_packet *pkt)
{
    return decode_dispatch_hash_port(pkt, 4789);
}
