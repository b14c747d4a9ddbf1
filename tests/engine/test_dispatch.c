/* The dispatcher's symmetric hash: both directions of a flow, every fragment of a datagram and
 * packets behind VLAN tags go to the same worker for any worker count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"

/* Ethernet (+ optional 802.1Q) + IPv4 + TCP/UDP header into buf; returns the length. */
static size_t build_v4(uint8_t *buf, const uint8_t src[4], const uint8_t dst[4], uint16_t sp,
                       uint16_t dp, uint8_t proto, bool vlan, uint16_t frag)
{
    size_t o = 0;
    memcpy(buf, "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb", 12);
    o = 12;
    if (vlan) {
        buf[o++] = 0x81; buf[o++] = 0x00; buf[o++] = 0x00; buf[o++] = 0x64;
    }
    buf[o++] = 0x08; buf[o++] = 0x00;
    uint8_t *ip = buf + o;
    memset(ip, 0, 20);
    ip[0] = 0x45; ip[3] = 40; ip[6] = (uint8_t)(frag >> 8); ip[7] = (uint8_t)frag;
    ip[8] = 64; ip[9] = proto;
    memcpy(ip + 12, src, 4); memcpy(ip + 16, dst, 4);
    o += 20;
    uint8_t *l4 = buf + o;
    memset(l4, 0, 20);
    l4[0] = (uint8_t)(sp >> 8); l4[1] = (uint8_t)sp; l4[2] = (uint8_t)(dp >> 8); l4[3] = (uint8_t)dp;
    if (proto == 6) l4[12] = 0x50; else l4[5] = 20;
    return o + 20;
}

static size_t build_v6(uint8_t *buf, const uint8_t src[16], const uint8_t dst[16], uint16_t sp, uint16_t dp)
{
    memcpy(buf, "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x86\xdd", 14);
    uint8_t *ip = buf + 14;
    memset(ip, 0, 40);
    ip[0] = 0x60; ip[5] = 8; ip[6] = 17; ip[7] = 64;
    memcpy(ip + 8, src, 16); memcpy(ip + 24, dst, 16);
    uint8_t *u = ip + 40;
    u[0] = (uint8_t)(sp >> 8); u[1] = (uint8_t)sp; u[2] = (uint8_t)(dp >> 8); u[3] = (uint8_t)dp;
    u[4] = 0; u[5] = 8; u[6] = 0; u[7] = 0;
    return 14 + 48;
}

static uint32_t hash_of(const uint8_t *buf, size_t len)
{
    struct dp_packet p = {.data = buf, .caplen = (uint32_t)len, .wirelen = (uint32_t)len,
                          .linktype = DP_LINK_ETHERNET};
    return decode_dispatch_hash(&p);
}

static void test_swap_v4(void **state)
{
    (void)state;
    uint8_t a[64], b[64];
    unsigned distinct = 0;
    uint32_t first = 0;
    for (unsigned i = 0; i < 256; i++) {
        uint8_t s[4] = {10, 0, (uint8_t)(i >> 4), (uint8_t)i}, d[4] = {192, 168, 1, (uint8_t)(i * 7)};
        for (int proto = 6; proto <= 17; proto += 11) {
            size_t la = build_v4(a, s, d, (uint16_t)(1000 + i), 80, (uint8_t)proto, false, 0);
            size_t lb = build_v4(b, d, s, 80, (uint16_t)(1000 + i), (uint8_t)proto, false, 0);
            uint32_t ha = hash_of(a, la), hb = hash_of(b, lb);
            assert_int_equal(ha, hb);
            for (unsigned n = 1; n <= 16; n++)
                assert_int_equal(ha % n, hb % n);
            if (i == 0)
                first = ha;
            else if (ha != first)
                distinct++;
        }
    }
    assert_true(distinct > 200); /* it is a hash, not a constant */
}

static void test_swap_v6_vlan_frag(void **state)
{
    (void)state;
    uint8_t a[128], b[128];
    uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, d6[16] = {0x20, 0x01, 0x0d, 0xb8, [14] = 9, [15] = 2};
    size_t la = build_v6(a, s6, d6, 5353, 53), lb = build_v6(b, d6, s6, 53, 5353);
    assert_int_equal(hash_of(a, la), hash_of(b, lb));
    assert_int_not_equal(hash_of(a, la), 0);

    uint8_t s[4] = {172, 16, 0, 1}, d[4] = {8, 8, 8, 8};
    la = build_v4(a, s, d, 4444, 53, 17, true, 0);
    lb = build_v4(b, d, s, 53, 4444, 17, true, 0);
    assert_int_equal(hash_of(a, la), hash_of(b, lb));
    /* a non-first fragment (no ports) of the same datagram lands on the same worker */
    uint32_t whole = hash_of(a, la);
    la = build_v4(a, s, d, 0, 0, 17, true, 0x0010 /* offset 128 bytes */);
    assert_int_equal(hash_of(a, la), whole);
    la = build_v4(a, s, d, 4444, 53, 17, true, 0x2000 /* MF, offset 0 */);
    assert_int_equal(hash_of(a, la), whole);
    /* not IP: 0 */
    memset(a, 0, 64);
    a[12] = 0x08; a[13] = 0x06; /* ARP */
    assert_int_equal(hash_of(a, 60), 0);
}

/* ---- tunnels: the dispatcher hashes the innermost IP header, as the flow table keys ---- */

struct tpkt {
    uint8_t b[512];
    size_t n;
};

static void put(struct tpkt *t, const void *d, size_t n)
{
    memcpy(t->b + t->n, d, n);
    t->n += n;
}

static void put16(struct tpkt *t, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(t, x, 2);
}

static void eth(struct tpkt *t, uint16_t et)
{
    put(t, "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb", 12);
    put16(t, et);
}

/* Inner packet: IPv4 + TCP from s:sp to d:dp (40 bytes). */
static void inner_v4(struct tpkt *t, const uint8_t s[4], const uint8_t d[4], uint16_t sp, uint16_t dp)
{
    uint8_t ip[20] = {0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6};
    memcpy(ip + 12, s, 4);
    memcpy(ip + 16, d, 4);
    put(t, ip, 20);
    uint8_t tcp[20] = {(uint8_t)(sp >> 8), (uint8_t)sp, (uint8_t)(dp >> 8), (uint8_t)dp};
    tcp[12] = 0x50;
    tcp[13] = 0x10;
    put(t, tcp, 20);
}

/* Inner packet: IPv6 + UDP (48 bytes). */
static void inner_v6(struct tpkt *t, const uint8_t s[16], const uint8_t d[16], uint16_t sp, uint16_t dp)
{
    uint8_t ip[40] = {0x60, 0, 0, 0, 0, 8, 17, 64};
    memcpy(ip + 8, s, 16);
    memcpy(ip + 24, d, 16);
    put(t, ip, 40);
    uint8_t u[8] = {(uint8_t)(sp >> 8), (uint8_t)sp, (uint8_t)(dp >> 8), (uint8_t)dp, 0, 8};
    put(t, u, 8);
}

/* An outer IPv4 header of protocol proto; its total length is patched by close_v4(). */
static size_t outer_v4(struct tpkt *t, uint8_t proto, uint16_t frag)
{
    size_t at = t->n;
    uint8_t ip[20] = {0x45, 0, 0, 0, 0, 7, (uint8_t)(frag >> 8), (uint8_t)frag, 64, proto,
                      0, 0, 198, 51, 100, 1, 198, 51, 100, 2};
    put(t, ip, 20);
    return at;
}

static void close_v4(struct tpkt *t, size_t at)
{
    size_t len = t->n - at;
    t->b[at + 2] = (uint8_t)(len >> 8);
    t->b[at + 3] = (uint8_t)len;
}

/* An outer IPv6 header with a hop-by-hop options header before next header nh. */
static size_t outer_v6(struct tpkt *t, uint8_t nh)
{
    size_t at = t->n;
    uint8_t ip[40] = {0x60, 0, 0, 0, 0, 0, 0 /* hop-by-hop */, 64};
    ip[8] = 0xfd, ip[23] = 1;
    ip[24] = 0xfd, ip[39] = 2;
    put(t, ip, 40);
    uint8_t hbh[8] = {nh, 0, 1, 4, 0, 0, 0, 0}; /* PadN */
    put(t, hbh, 8);
    return at;
}

static void close_v6(struct tpkt *t, size_t at)
{
    size_t len = t->n - at - 40;
    t->b[at + 4] = (uint8_t)(len >> 8);
    t->b[at + 5] = (uint8_t)len;
}

static uint32_t thash(const struct tpkt *t, uint16_t vxlan_port)
{
    struct dp_packet p = {.data = t->b, .caplen = (uint32_t)t->n, .wirelen = (uint32_t)t->n,
                          .linktype = DP_LINK_ETHERNET};
    return decode_dispatch_hash_port(&p, vxlan_port);
}

/* The decoder agrees that the packet's flow is the inner one (so the test builds what it means). */
static void check_decoded(struct decoder *dec, const struct tpkt *t, uint16_t vxlan_port,
                          const uint8_t *src, size_t alen)
{
    (void)vxlan_port;
    struct dp_packet p = {.data = t->b, .caplen = (uint32_t)t->n, .wirelen = (uint32_t)t->n,
                          .linktype = DP_LINK_ETHERNET};
    struct pkt_meta m;
    assert_int_equal(decode_packet(dec, &p, &m), DECODE_OK);
    assert_int_equal(m.reason, DEC_NONE);
    assert_memory_equal(m.src, src, alen);
}

enum wrap { W_BARE, W_IPIP, W_IP6IP, W_GRE, W_GRE_TEB_VLAN, W_VXLAN, W_VXLAN_GRE, W_MPLS_PW, W_MAX };

/* Wraps the inner packet (v4 or v6) in encapsulation w. */
static void wrap(struct tpkt *t, enum wrap w, bool v6, const uint8_t *s, const uint8_t *d, uint16_t sp,
                 uint16_t dp)
{
    size_t o1, o2;
    t->n = 0;
#define INNER() (v6 ? inner_v6(t, s, d, sp, dp) : inner_v4(t, s, d, sp, dp))
    switch (w) {
    case W_BARE:
        eth(t, v6 ? 0x86dd : 0x0800);
        INNER();
        break;
    case W_IPIP: /* IPv4 or IPv6 inside IPv4 (protocols 4 and 41) */
        eth(t, 0x0800);
        o1 = outer_v4(t, v6 ? 41 : 4, 0);
        INNER();
        close_v4(t, o1);
        break;
    case W_IP6IP: /* inside IPv6 after an extension header */
        eth(t, 0x86dd);
        o1 = outer_v6(t, v6 ? 41 : 4);
        INNER();
        close_v6(t, o1);
        break;
    case W_GRE: /* GRE with a checksum and a key */
        eth(t, 0x0800);
        o1 = outer_v4(t, 47, 0);
        put16(t, 0xa000);
        put16(t, v6 ? 0x86dd : 0x0800);
        put(t, "\0\0\0\0\0\0\0\x2a", 8);
        INNER();
        close_v4(t, o1);
        break;
    case W_GRE_TEB_VLAN: /* Ethernet over GRE, with a VLAN tag inside */
        eth(t, 0x0800);
        o1 = outer_v4(t, 47, 0);
        put16(t, 0);
        put16(t, 0x6558);
        eth(t, 0x8100);
        put16(t, 7);
        put16(t, v6 ? 0x86dd : 0x0800);
        INNER();
        close_v4(t, o1);
        break;
    case W_VXLAN: /* VXLAN over IPv6 */
    case W_VXLAN_GRE: /* VXLAN, then GRE inside it */
        eth(t, 0x86dd);
        o1 = outer_v6(t, 17);
        o2 = t->n;
        put16(t, 33333);
        put16(t, 4789);
        put16(t, 0);
        put16(t, 0);
        put(t, "\x08\0\0\0\0\0\x2a\0", 8);
        if (w == W_VXLAN_GRE) {
            eth(t, 0x0800);
            size_t o3 = outer_v4(t, 47, 0);
            put16(t, 0);
            put16(t, v6 ? 0x86dd : 0x0800);
            INNER();
            close_v4(t, o3);
        } else {
            eth(t, v6 ? 0x86dd : 0x0800);
            INNER();
        }
        t->b[o2 + 4] = (uint8_t)((t->n - o2) >> 8);
        t->b[o2 + 5] = (uint8_t)(t->n - o2);
        close_v6(t, o1);
        break;
    case W_MPLS_PW: /* Ethernet pseudowire: MPLS label, RFC 4385 control word, Ethernet */
        eth(t, 0x8847);
        put(t, "\x00\x01\x01\x40", 4);
        put(t, "\0\0\0\0", 4);
        eth(t, v6 ? 0x86dd : 0x0800);
        INNER();
        break;
    case W_MAX:
        break;
    }
#undef INNER
}

static void test_tunnel_inner(void **state)
{
    (void)state;
    struct decoder_config dc;
    decoder_config_default(&dc);
    struct decoder *dec = decoder_new(&dc);
    assert_non_null(dec);
    struct tpkt *t = malloc(sizeof(*t));
    assert_non_null(t);
    unsigned distinct = 0;
    uint32_t first = 0;
    for (unsigned i = 0; i < 64; i++) {
        for (int v6 = 0; v6 <= 1; v6++) {
            uint8_t s[16] = {10, 1, 0, (uint8_t)i}, d[16] = {10, 2, (uint8_t)(i * 3), 2};
            if (v6) {
                memcpy(s, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0", 16);
                memcpy(d, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\x01", 16);
                s[15] = (uint8_t)i;
                d[14] = (uint8_t)(i * 5);
            }
            wrap(t, W_BARE, v6, s, d, (uint16_t)(40000 + i), 80);
            uint32_t bare = thash(t, 4789);
            assert_int_not_equal(bare, 0);
            if (i == 0 && !v6)
                first = bare;
            else if (bare != first)
                distinct++;
            for (enum wrap w = W_BARE; w < W_MAX; w++) {
                /* both directions, tunnelled or not: the bare packet's worker */
                wrap(t, w, v6, s, d, (uint16_t)(40000 + i), 80);
                check_decoded(dec, t, 4789, s, v6 ? 16 : 4);
                assert_int_equal(thash(t, 4789), bare);
                wrap(t, w, v6, d, s, 80, (uint16_t)(40000 + i));
                check_decoded(dec, t, 4789, d, v6 ? 16 : 4);
                assert_int_equal(thash(t, 4789), bare);
                for (unsigned n = 1; n <= 16; n++)
                    assert_int_equal(thash(t, 4789) % n, bare % n);
            }
        }
    }
    assert_true(distinct > 100);
    free(t);
    decoder_free(dec);
}

static void test_tunnel_outer_cases(void **state)
{
    (void)state;
    struct tpkt *t = malloc(sizeof(*t)), *o = malloc(sizeof(*o));
    assert_non_null(t);
    assert_non_null(o);
    const uint8_t s[4] = {10, 9, 9, 1}, d[4] = {10, 9, 9, 2};
    wrap(t, W_BARE, false, s, d, 1234, 80);
    uint32_t inner = thash(t, 4789);

    /* the outer pair alone (a bare packet between the tunnel endpoints) */
    o->n = 0;
    eth(o, 0x0800);
    size_t at = outer_v4(o, 6, 0);
    inner_v4(o, (const uint8_t *)"\1\1\1\1", (const uint8_t *)"\2\2\2\2", 1, 2);
    close_v4(o, at);
    uint32_t outer = thash(o, 4789);
    assert_int_not_equal(outer, inner);

    /* an IP-in-IP packet whose outer header is a fragment stays with the outer pair: its other
     * fragments cannot show the inner header and reassembly needs them all on one worker */
    t->n = 0;
    eth(t, 0x0800);
    at = outer_v4(t, 4, 0x2000 /* MF */);
    inner_v4(t, s, d, 1234, 80);
    close_v4(t, at);
    assert_int_equal(thash(t, 4789), outer);

    /* VXLAN on another port: inner only with that port configured */
    wrap(t, W_VXLAN, false, s, d, 1234, 80);
    size_t udp = 14 + 48;
    t->b[udp + 2] = 0x21, t->b[udp + 3] = 0x18; /* 8472 */
    assert_int_equal(thash(t, 8472), inner);
    assert_int_not_equal(thash(t, 4789), inner);
    /* VXLAN without the I flag: not decoded as a tunnel, the outer pair */
    wrap(t, W_VXLAN, false, s, d, 1234, 80);
    uint32_t vx_outer = thash(t, 1);
    t->b[udp + 8] = 0;
    assert_int_equal(thash(t, 4789), vx_outer);

    /* an inner header cut short: the outer pair, as the decoder keys it then */
    wrap(t, W_IPIP, false, s, d, 1234, 80);
    uint32_t ipip_outer;
    {
        struct dp_packet p = {.data = t->b, .caplen = 14 + 20 + 10, .wirelen = (uint32_t)t->n,
                              .linktype = DP_LINK_ETHERNET};
        ipip_outer = decode_dispatch_hash(&p);
    }
    assert_int_equal(ipip_outer, outer);

    /* nesting deeper than the decoder follows ends the walk without reading further */
    t->n = 0;
    eth(t, 0x0800);
    size_t ats[8];
    for (int k = 0; k < 7; k++)
        ats[k] = outer_v4(t, 4, 0);
    inner_v4(t, s, d, 1234, 80);
    for (int k = 6; k >= 0; k--)
        close_v4(t, ats[k]);
    assert_int_equal(thash(t, 4789), outer);
    free(t);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_v4),
        cmocka_unit_test(test_swap_v6_vlan_frag),
        cmocka_unit_test(test_tunnel_inner),
        cmocka_unit_test(test_tunnel_outer_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
