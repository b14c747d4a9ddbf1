/* Small packet builder for decoder tests: headers are appended in wire order, lengths and
 * checksums fixed up afterwards. Checksums are computed here independently of the decoder. */
#ifndef TRIPLINE_TEST_PKTBUILD_H
#define TRIPLINE_TEST_PKTBUILD_H

#include <stdint.h>
#include <string.h>

struct pb {
    uint8_t b[70000];
    uint32_t n;
};

static inline void pb_u8(struct pb *p, uint8_t v) { p->b[p->n++] = v; }
static inline void pb_u16(struct pb *p, uint16_t v)
{
    pb_u8(p, (uint8_t)(v >> 8));
    pb_u8(p, (uint8_t)v);
}
static inline void pb_u32(struct pb *p, uint32_t v)
{
    pb_u16(p, (uint16_t)(v >> 16));
    pb_u16(p, (uint16_t)v);
}
static inline void pb_bytes(struct pb *p, const void *d, uint32_t n)
{
    memcpy(p->b + p->n, d, n);
    p->n += n;
}
static inline void pb_fill(struct pb *p, uint8_t v, uint32_t n)
{
    memset(p->b + p->n, v, n);
    p->n += n;
}
static inline void pb_set16(struct pb *p, uint32_t at, uint16_t v)
{
    p->b[at] = (uint8_t)(v >> 8);
    p->b[at + 1] = (uint8_t)v;
}

static inline uint32_t pb_eth(struct pb *p, uint16_t et)
{
    static const uint8_t macs[12] = {0, 1, 2, 3, 4, 5, 0, 6, 7, 8, 9, 10};
    uint32_t at = p->n;
    pb_bytes(p, macs, 12);
    pb_u16(p, et);
    return at;
}

static inline void pb_vlan(struct pb *p, uint16_t tci, uint16_t et)
{
    pb_u16(p, tci);
    pb_u16(p, et);
}

/* IPv4 header with `optlen` option bytes (multiple of 4); total length fixed by pb_ip4_fix. */
static inline uint32_t pb_ip4(struct pb *p, uint8_t proto, uint32_t src, uint32_t dst,
                              const uint8_t *opts, uint32_t optlen)
{
    uint32_t at = p->n;
    pb_u8(p, (uint8_t)(0x40 | (5 + optlen / 4)));
    pb_u8(p, 0);
    pb_u16(p, 0);      /* total length */
    pb_u16(p, 0x1234); /* id */
    pb_u16(p, 0x4000); /* DF */
    pb_u8(p, 64);
    pb_u8(p, proto);
    pb_u16(p, 0);
    pb_u32(p, src);
    pb_u32(p, dst);
    if (optlen)
        pb_bytes(p, opts, optlen);
    return at;
}

static inline uint16_t pb_csum(const uint8_t *d, uint32_t n, uint32_t sum)
{
    for (uint32_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)d[i] << 8 | d[i + 1];
    if (n & 1)
        sum += (uint32_t)d[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Sets total length (to the end of the buffer unless tot != 0) and the header checksum. */
static inline void pb_ip4_fix(struct pb *p, uint32_t at, uint32_t tot)
{
    uint32_t hl = (p->b[at] & 0xf) * 4;
    pb_set16(p, at + 2, (uint16_t)(tot ? tot : p->n - at));
    pb_set16(p, at + 10, 0);
    pb_set16(p, at + 10, pb_csum(p->b + at, hl, 0));
}

static inline uint32_t pb_ip6(struct pb *p, uint8_t nh, uint8_t last_src, uint8_t last_dst)
{
    uint32_t at = p->n;
    pb_u32(p, 0x60000000);
    pb_u16(p, 0); /* payload length */
    pb_u8(p, nh);
    pb_u8(p, 55);
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
    a[15] = last_src;
    pb_bytes(p, a, 16);
    a[15] = last_dst;
    pb_bytes(p, a, 16);
    return at;
}

static inline void pb_ip6_fix(struct pb *p, uint32_t at)
{
    pb_set16(p, at + 4, (uint16_t)(p->n - at - 40));
}

/* Generic IPv6 extension header of 8 * (1 + hlen) bytes. */
static inline uint32_t pb_ext6(struct pb *p, uint8_t nh, uint8_t hlen)
{
    uint32_t at = p->n;
    pb_u8(p, nh);
    pb_u8(p, hlen);
    pb_u8(p, 1); /* PadN covering the rest */
    pb_u8(p, (uint8_t)(8 * (1 + hlen) - 4));
    pb_fill(p, 0, 8 * (1 + hlen) - 4);
    return at;
}

static inline uint32_t pb_tcp(struct pb *p, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                              uint8_t flags, const uint8_t *opts, uint32_t optlen)
{
    uint32_t at = p->n;
    pb_u16(p, sport);
    pb_u16(p, dport);
    pb_u32(p, seq);
    pb_u32(p, ack);
    pb_u8(p, (uint8_t)((5 + optlen / 4) << 4));
    pb_u8(p, flags);
    pb_u16(p, 29200);
    pb_u16(p, 0);
    pb_u16(p, 0);
    if (optlen)
        pb_bytes(p, opts, optlen);
    return at;
}

static inline uint32_t pb_udp(struct pb *p, uint16_t sport, uint16_t dport)
{
    uint32_t at = p->n;
    pb_u16(p, sport);
    pb_u16(p, dport);
    pb_u16(p, 0);
    pb_u16(p, 0);
    return at;
}

static inline void pb_udp_fix(struct pb *p, uint32_t at)
{
    pb_set16(p, at + 4, (uint16_t)(p->n - at));
}

/* L4 checksum at l4 + csum_off over the pseudo-header of the IP header at ip. */
static inline void pb_l4_csum(struct pb *p, uint32_t ip, uint32_t l4, uint32_t csum_off, uint8_t proto)
{
    uint32_t len = p->n - l4, sum = 0;
    const uint8_t *h = p->b + ip;
    if ((h[0] >> 4) == 4) {
        for (int i = 12; i < 20; i += 2)
            sum += (uint32_t)h[i] << 8 | h[i + 1];
    } else {
        for (int i = 8; i < 40; i += 2)
            sum += (uint32_t)h[i] << 8 | h[i + 1];
    }
    sum += proto + (len >> 16) + (len & 0xffff);
    pb_set16(p, l4 + csum_off, 0);
    pb_set16(p, l4 + csum_off, pb_csum(p->b + l4, len, sum));
}

#endif
