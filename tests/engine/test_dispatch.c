/* The dispatcher's symmetric hash: both directions of a flow, every fragment of a datagram and
 * packets behind VLAN tags go to the same worker for any worker count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_v4),
        cmocka_unit_test(test_swap_v6_vlan_frag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
