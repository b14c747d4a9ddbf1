/* Decoder unit tests: a crafted packet per protocol and a malformed variant of each. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "pktbuild.h"

#define A4 0xc0a80001u /* 192.168.0.1 */
#define B4 0x0a000002u /* 10.0.0.2 */

static struct pb P; /* big: keep it off the stack */

static enum decode_result run_at(struct decoder *d, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                                 uint16_t lt, uint64_t ts, struct pkt_meta *m)
{
    struct dp_packet pkt = {
        .data = data, .caplen = caplen, .wirelen = wirelen, .ts_ns = ts, .linktype = lt,
    };
    return decode_packet(d, &pkt, m);
}

static enum decode_result run(struct decoder *d, const struct pb *p, uint16_t lt, struct pkt_meta *m)
{
    return run_at(d, p->b, p->n, p->n, lt, 1000, m);
}

static int setup(void **state)
{
    struct decoder_config cfg;
    decoder_config_default(&cfg);
    *state = decoder_new(&cfg);
    memset(&P, 0, sizeof(P));
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    decoder_free(*state);
    return 0;
}

static void assert_v4(const struct pkt_meta *m, uint32_t src, uint32_t dst)
{
    uint8_t s[16] = {0}, d[16] = {0};
    s[0] = (uint8_t)(src >> 24), s[1] = (uint8_t)(src >> 16), s[2] = (uint8_t)(src >> 8), s[3] = (uint8_t)src;
    d[0] = (uint8_t)(dst >> 24), d[1] = (uint8_t)(dst >> 16), d[2] = (uint8_t)(dst >> 8), d[3] = (uint8_t)dst;
    assert_int_equal(m->ip_version, 4);
    assert_memory_equal(m->src, s, 16);
    assert_memory_equal(m->dst, d, 16);
}

/* Ethernet / IPv4 / TCP with every option we parse; trailing Ethernet padding. */
static uint32_t build_tcp4(struct pb *p, uint8_t flags, const char *payload)
{
    static const uint8_t opts[] = {
        2, 4, 0x05, 0xb4,                         /* MSS 1460 */
        1, 3, 3, 7,                               /* NOP, wscale 7 */
        4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2,      /* SACK ok, TS 1 / 2 */
    };
    p->n = 0;
    pb_eth(p, 0x0800);
    uint32_t ip = pb_ip4(p, 6, A4, B4, NULL, 0);
    uint32_t tcp = pb_tcp(p, 40000, 80, 1000, 2000, flags, opts, sizeof(opts));
    pb_bytes(p, payload, (uint32_t)strlen(payload));
    pb_ip4_fix(p, ip, 0);
    pb_l4_csum(p, ip, tcp, 16, 6);
    return ip;
}

static void test_eth_ipv4_tcp(void **state)
{
    struct pkt_meta m;
    build_tcp4(&P, 0x18, "hello");
    uint32_t len = P.n;
    pb_fill(&P, 0xee, 6); /* padding past the IP total length */
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.reason, DEC_NONE);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_TCP | PKT_HAS_L4);
    assert_v4(&m, A4, B4);
    assert_int_equal(m.proto, 6);
    assert_int_equal(m.ttl, 64);
    assert_int_equal(m.ip_id, 0x1234);
    assert_int_equal(m.sport, 40000);
    assert_int_equal(m.dport, 80);
    assert_int_equal(m.tcp_seq, 1000);
    assert_int_equal(m.tcp_ack, 2000);
    assert_int_equal(m.tcp_flags, 0x18);
    assert_int_equal(m.tcp_win, 29200);
    assert_int_equal(m.tcp_mss, 1460);
    assert_int_equal(m.tcp_wscale, 7);
    assert_true(m.tcp_sack_ok);
    assert_true(m.tcp_has_ts);
    assert_int_equal(m.tcp_tsval, 1);
    assert_int_equal(m.tcp_tsecr, 2);
    assert_ptr_equal(m.l3, P.b + 14);
    assert_int_equal(m.l3_len, len - 14);
    assert_ptr_equal(m.l4, P.b + 34);
    assert_int_equal(m.l4_len, len - 34);
    assert_int_equal(m.payload_len, 5);
    assert_memory_equal(m.payload, "hello", 5);
    assert_int_equal(m.vlan_count, 0);
    assert_int_equal(m.tunnel_depth, 0);
    assert_int_equal(m.wirelen, P.n);
    assert_int_equal(m.ts_ns, 1000);

    const struct decoder_stats *st = decoder_get_stats(*state);
    assert_int_equal(st->packets, 1);
    assert_int_equal(st->ipv4, 1);
    assert_int_equal(st->tcp, 1);
    assert_int_equal(st->invalid, 0);
}

static void test_tcp_no_options(void **state)
{
    struct pkt_meta m;
    P.n = 0;
    pb_eth(&P, 0x0800);
    uint32_t ip = pb_ip4(&P, 6, A4, B4, NULL, 0);
    pb_tcp(&P, 1, 2, 3, 4, 0x02, NULL, 0);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.tcp_wscale, 0xff);
    assert_int_equal(m.tcp_mss, 0);
    assert_false(m.tcp_sack_ok);
    assert_false(m.tcp_has_ts);
    assert_int_equal(m.payload_len, 0);
}

static void test_tcp_malformed(void **state)
{
    struct pkt_meta m;
    /* truncated header: IP says 10 bytes of TCP */
    P.n = 0;
    pb_eth(&P, 0x0800);
    uint32_t ip = pb_ip4(&P, 6, A4, B4, NULL, 0);
    pb_fill(&P, 0, 10);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_TCP_TRUNCATED);
    assert_int_equal(m.flags, PKT_IPV4); /* the IP layer stays valid */
    assert_v4(&m, A4, B4);

    /* data offset 4 */
    build_tcp4(&P, 0x10, "x");
    P.b[34 + 12] = 0x40;
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_TCP_BAD_OFFSET);
    /* data offset 15 (60 bytes) past the segment */
    build_tcp4(&P, 0x10, "x");
    P.b[34 + 12] = 0xf0;
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_TCP_BAD_OFFSET);

    /* MSS with length 3; option running past the header; zero option length */
    static const uint8_t bad1[] = {2, 3, 5, 1}, bad2[] = {1, 1, 8, 10}, bad3[] = {30, 0, 1, 1};
    const uint8_t *bads[] = {bad1, bad2, bad3};
    for (int i = 0; i < 3; i++) {
        P.n = 0;
        pb_eth(&P, 0x0800);
        ip = pb_ip4(&P, 6, A4, B4, NULL, 0);
        pb_tcp(&P, 1, 2, 3, 4, 0x02, bads[i], 4);
        pb_ip4_fix(&P, ip, 0);
        assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
        assert_int_equal(m.reason, DEC_TCP_BAD_OPTIONS);
        assert_int_equal(m.sport, 1); /* header fields were decoded */
    }

    /* SYN+FIN: a note, the packet stays valid */
    build_tcp4(&P, 0x03, "");
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.reason, DEC_TCP_BAD_FLAGS);
    assert_true(m.flags & PKT_HAS_L4);
    const struct decoder_stats *st = decoder_get_stats(*state);
    assert_int_equal(st->invalid, 6);
    assert_int_equal(st->reason[DEC_TCP_BAD_OPTIONS], 3);
    assert_int_equal(st->reason[DEC_TCP_BAD_FLAGS], 1);
}

static void test_checksums(void **state)
{
    struct decoder_config cfg;
    decoder_config_default(&cfg);
    cfg.check_checksums = true;
    struct decoder *d = decoder_new(&cfg);
    struct pkt_meta m;
    assert_non_null(d);

    build_tcp4(&P, 0x18, "abcdefg"); /* odd length payload */
    assert_int_equal(run(d, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    P.b[P.n - 1] ^= 1;
    assert_int_equal(run(d, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_TCP_BAD_CHECKSUM);
    /* default decoder does not check */
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);

    build_tcp4(&P, 0x18, "abcdefg");
    P.b[14 + 8] = 1; /* TTL changed, header checksum stale */
    assert_int_equal(run(d, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_BAD_CHECKSUM);

    /* UDP over IPv4 and IPv6 */
    P.n = 0;
    pb_eth(&P, 0x0800);
    uint32_t ip = pb_ip4(&P, 17, A4, B4, NULL, 0);
    uint32_t u = pb_udp(&P, 53, 5353);
    pb_bytes(&P, "query", 5);
    pb_udp_fix(&P, u);
    pb_ip4_fix(&P, ip, 0);
    pb_l4_csum(&P, ip, u, 6, 17);
    assert_int_equal(run(d, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    P.b[u + 8] ^= 0x20;
    assert_int_equal(run(d, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_UDP_BAD_CHECKSUM);
    pb_set16(&P, u + 6, 0); /* no checksum */
    assert_int_equal(run(d, &P, DP_LINK_ETHERNET, &m), DECODE_OK);

    P.n = 0;
    pb_eth(&P, 0x86dd);
    ip = pb_ip6(&P, 17, 1, 2);
    u = pb_udp(&P, 53, 5353);
    pb_bytes(&P, "query6", 6);
    pb_udp_fix(&P, u);
    pb_ip6_fix(&P, ip);
    pb_l4_csum(&P, ip, u, 6, 17);
    assert_int_equal(run(d, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    P.b[P.n - 1] ^= 0x20;
    assert_int_equal(run(d, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_UDP_BAD_CHECKSUM);
    decoder_free(d);
}

static uint32_t build_udp4_body(struct pb *p);

static void test_vlan(void **state)
{
    struct pkt_meta m;
    static const uint16_t tpids[] = {0x8100, 0x88a8, 0x9100};
    for (int i = 0; i < 3; i++) {
        P.n = 0;
        pb_eth(&P, tpids[i]);
        pb_vlan(&P, 0x2000 | 100, 0x8100); /* PCP bits are masked off */
        pb_vlan(&P, 200, 0x0800);
        uint32_t ip = pb_ip4(&P, 17, A4, B4, NULL, 0);
        uint32_t u = pb_udp(&P, 1, 2);
        pb_udp_fix(&P, u);
        pb_ip4_fix(&P, ip, 0);
        assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
        assert_int_equal(m.vlan_count, 2);
        assert_int_equal(m.vlan[0], 100);
        assert_int_equal(m.vlan[1], 200);
        assert_int_equal(m.flags, PKT_IPV4 | PKT_UDP | PKT_HAS_L4);
        assert_int_equal(m.sport, 1);
        assert_ptr_equal(m.l3, P.b + 22);
    }
    /* single tag */
    P.n = 0;
    pb_eth(&P, 0x8100);
    pb_vlan(&P, 4095, 0x0806); /* ARP: valid, not IP */
    pb_fill(&P, 0, 28);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.vlan_count, 1);
    assert_int_equal(m.vlan[0], 4095);
    assert_int_equal(m.ip_version, 0);
    assert_int_equal(m.flags, 0);

    /* three tags: decoded, the outer two kept */
    P.n = 0;
    pb_eth(&P, 0x88a8);
    pb_vlan(&P, 1, 0x8100);
    pb_vlan(&P, 2, 0x8100);
    pb_vlan(&P, 3, 0x0800);
    build_udp4_body(&P);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.vlan_count, 2);
    assert_int_equal(m.vlan[0], 1);
    assert_int_equal(m.vlan[1], 2);
    assert_int_equal(m.dport, 2222);
    /* four tags */
    P.n = 0;
    pb_eth(&P, 0x88a8);
    pb_vlan(&P, 1, 0x8100);
    pb_vlan(&P, 2, 0x8100);
    pb_vlan(&P, 3, 0x8100);
    pb_vlan(&P, 4, 0x0800);
    pb_fill(&P, 0, 40);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_VLAN_TOO_MANY);
    /* truncated tag */
    P.n = 0;
    pb_eth(&P, 0x8100);
    pb_u16(&P, 5);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_VLAN_TRUNCATED);
    /* truncated Ethernet */
    assert_int_equal(run_at(*state, P.b, 13, 13, DP_LINK_ETHERNET, 0, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_ETH_TRUNCATED);
    assert_int_equal(decoder_get_stats(*state)->vlan, 3 * 2 + 1 + 3 + 3 + 0);
}

static void test_mpls(void **state)
{
    struct pkt_meta m;
    /* three labels, then IPv6 */
    P.n = 0;
    pb_eth(&P, 0x8847);
    pb_u32(&P, (100u << 12) | 64);
    pb_u32(&P, (200u << 12) | 64);
    pb_u32(&P, (300u << 12) | 0x100 | 64);
    uint32_t ip = pb_ip6(&P, 17, 1, 2);
    uint32_t u = pb_udp(&P, 500, 4500);
    pb_udp_fix(&P, u);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.ip_version, 6);
    assert_int_equal(m.flags, PKT_IPV6 | PKT_UDP | PKT_HAS_L4);
    assert_int_equal(m.dport, 4500);
    assert_ptr_equal(m.l3, P.b + 26);

    /* multicast ethertype, one label, IPv4 */
    P.n = 0;
    pb_eth(&P, 0x8848);
    pb_u32(&P, (16u << 12) | 0x100 | 1);
    ip = pb_ip4(&P, 1, A4, B4, NULL, 0);
    pb_u8(&P, 8), pb_u8(&P, 0), pb_u16(&P, 0), pb_u16(&P, 77), pb_u16(&P, 3);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_v4(&m, A4, B4);
    assert_int_equal(m.icmp_id, 77);

    /* pseudowire control word, then Ethernet, IPv4 */
    P.n = 0;
    pb_eth(&P, 0x8847);
    pb_u32(&P, (16u << 12) | 0x100 | 1);
    pb_u32(&P, 0); /* control word */
    pb_eth(&P, 0x0800);
    ip = pb_ip4(&P, 17, B4, A4, NULL, 0);
    u = pb_udp(&P, 7, 8);
    pb_udp_fix(&P, u);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_UDP | PKT_HAS_L4 | PKT_TUNNELED);
    assert_int_equal(m.tunnel_depth, 1);
    assert_v4(&m, B4, A4);

    /* no bottom of stack within the limit */
    P.n = 0;
    pb_eth(&P, 0x8847);
    for (int i = 0; i < 9; i++)
        pb_u32(&P, (16u << 12) | 1);
    pb_fill(&P, 0x45, 20);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_MPLS_TOO_MANY);
    /* truncated label */
    P.n = 0;
    pb_eth(&P, 0x8847);
    pb_u16(&P, 1);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_MPLS_TRUNCATED);
    /* bottom of stack and nothing after it */
    P.n = 0;
    pb_eth(&P, 0x8847);
    pb_u32(&P, 0x100);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_MPLS_TRUNCATED);
}

static uint32_t build_udp4_body(struct pb *p)
{
    uint32_t ip = pb_ip4(p, 17, A4, B4, NULL, 0);
    uint32_t u = pb_udp(p, 1111, 2222);
    pb_bytes(p, "data", 4);
    pb_udp_fix(p, u);
    pb_ip4_fix(p, ip, 0);
    return ip;
}

static void test_pppoe(void **state)
{
    struct pkt_meta m;
    P.n = 0;
    pb_eth(&P, 0x8864);
    pb_u8(&P, 0x11), pb_u8(&P, 0), pb_u16(&P, 0x1234), pb_u16(&P, 0), pb_u16(&P, 0x0021);
    uint32_t ip = build_udp4_body(&P);
    pb_set16(&P, 14 + 4, (uint16_t)(P.n - 14 - 6));
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_UDP | PKT_HAS_L4);
    assert_ptr_equal(m.l3, P.b + ip);
    assert_int_equal(m.dport, 2222);
    struct dp_packet pkt = {.data = P.b, .caplen = P.n, .wirelen = P.n, .linktype = DP_LINK_ETHERNET};
    uint32_t h = decode_dispatch_hash(&pkt);
    pkt.data = P.b + ip;
    pkt.caplen = pkt.wirelen = P.n - ip;
    pkt.linktype = DP_LINK_RAW;
    assert_int_equal(decode_dispatch_hash(&pkt), h);

    /* compressed protocol field, IPv6 */
    P.n = 0;
    pb_eth(&P, 0x8864);
    pb_u8(&P, 0x11), pb_u8(&P, 0), pb_u16(&P, 1), pb_u16(&P, 0), pb_u8(&P, 0x57);
    ip = pb_ip6(&P, 59, 1, 2);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.ip_version, 6);
    assert_ptr_equal(m.l3, P.b + ip);

    /* LCP: valid, not IP */
    P.n = 0;
    pb_eth(&P, 0x8864);
    pb_u8(&P, 0x11), pb_u8(&P, 0), pb_u16(&P, 1), pb_u16(&P, 6), pb_u16(&P, 0xc021), pb_u32(&P, 0x01010004);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.ip_version, 0);

    /* truncated */
    assert_int_equal(run_at(*state, P.b, 14 + 7, 14 + 7, DP_LINK_ETHERNET, 0, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_PPPOE_TRUNCATED);
    assert_int_equal(run_at(*state, P.b, 14 + 5, 14 + 5, DP_LINK_ETHERNET, 0, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_PPPOE_TRUNCATED);
}

static void test_linktypes(void **state)
{
    struct pkt_meta m;
    /* Linux SLL: 16 bytes, protocol at 14 */
    P.n = 0;
    pb_u16(&P, 0), pb_u16(&P, 1), pb_u16(&P, 6), pb_fill(&P, 0xaa, 8), pb_u16(&P, 0x0800);
    build_udp4_body(&P);
    assert_int_equal(run(*state, &P, DP_LINK_LINUX_SLL, &m), DECODE_OK);
    assert_int_equal(m.dport, 2222);
    assert_ptr_equal(m.l3, P.b + 16);
    assert_int_equal(run_at(*state, P.b, 15, 15, DP_LINK_LINUX_SLL, 0, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_SLL_TRUNCATED);

    /* SLL2: protocol first, 20 bytes */
    P.n = 0;
    pb_u16(&P, 0x86dd), pb_u16(&P, 0), pb_u32(&P, 3), pb_u16(&P, 1), pb_u8(&P, 0), pb_u8(&P, 6);
    pb_fill(&P, 0xbb, 8);
    uint32_t ip = pb_ip6(&P, 58, 1, 2);
    pb_u8(&P, 128), pb_u8(&P, 0), pb_u16(&P, 0), pb_u16(&P, 9), pb_u16(&P, 10);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_LINUX_SLL2, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV6 | PKT_ICMP | PKT_HAS_L4);
    assert_int_equal(m.icmp_type, 128);
    assert_int_equal(m.icmp_id, 9);
    assert_int_equal(m.icmp_seq, 10);
    assert_int_equal(run_at(*state, P.b, 19, 19, DP_LINK_LINUX_SLL2, 0, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_SLL_TRUNCATED);

    /* raw, IPv4 and IPv6 linktypes */
    P.n = 0;
    build_udp4_body(&P);
    assert_int_equal(run(*state, &P, DP_LINK_RAW, &m), DECODE_OK);
    assert_int_equal(m.sport, 1111);
    assert_int_equal(run(*state, &P, DP_LINK_IPV4, &m), DECODE_OK);
    assert_int_equal(m.ip_version, 4);
    assert_int_equal(run(*state, &P, DP_LINK_IPV6, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV6_TRUNCATED); /* 32 bytes < 40 */
    P.n = 0;
    ip = pb_ip6(&P, 59, 1, 2); /* no next header */
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_RAW, &m), DECODE_OK);
    assert_int_equal(m.ip_version, 6);
    assert_int_equal(m.proto, 59);
    assert_int_equal(run(*state, &P, DP_LINK_IPV6, &m), DECODE_OK);
    assert_int_equal(run(*state, &P, DP_LINK_IPV4, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_BAD_VERSION);

    /* BSD NULL: host order of the capturing machine (either); LOOP: network order */
    static const uint8_t fam_le4[4] = {2, 0, 0, 0}, fam_be4[4] = {0, 0, 0, 2}, fam_le6[4] = {30, 0, 0, 0},
                         fam_be6[4] = {0, 0, 0, 24};
    const uint8_t *fams[] = {fam_le4, fam_be4};
    for (int i = 0; i < 2; i++) {
        P.n = 0;
        pb_bytes(&P, fams[i], 4);
        build_udp4_body(&P);
        assert_int_equal(run(*state, &P, DP_LINK_NULL, &m), DECODE_OK);
        assert_int_equal(m.ip_version, 4);
        assert_int_equal(m.dport, 2222);
    }
    P.n = 0;
    pb_bytes(&P, fam_le6, 4);
    ip = pb_ip6(&P, 59, 1, 2);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_NULL, &m), DECODE_OK);
    assert_int_equal(m.ip_version, 6);
    memcpy(P.b, fam_be6, 4);
    assert_int_equal(run(*state, &P, DP_LINK_LOOP, &m), DECODE_OK);
    assert_int_equal(m.ip_version, 6);
    assert_int_equal(run_at(*state, P.b, 3, 3, DP_LINK_NULL, 0, &m), DECODE_INVALID);

    assert_int_equal(run(*state, &P, 147, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_LINK_UNSUPPORTED);
}

static void test_ipv4_options(void **state)
{
    struct pkt_meta m;
    /* NOP, router alert, record route with room for one address, EOL */
    static const uint8_t good[] = {1, 148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0};
    P.n = 0;
    pb_eth(&P, 0x0800);
    uint32_t ip = pb_ip4(&P, 17, A4, B4, good, sizeof(good));
    uint32_t u = pb_udp(&P, 1, 2);
    pb_udp_fix(&P, u);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_ptr_equal(m.l4, P.b + 14 + 32);
    assert_int_equal(m.sport, 1);

    static const uint8_t bad[][8] = {
        {1, 7, 9, 4, 0, 0, 0, 0},   /* option longer than the header */
        {1, 1, 1, 130, 1, 0, 0, 0}, /* length 1 */
        {7, 7, 3, 0, 0, 0, 0, 0},   /* record route pointer 3 */
        {148, 5, 0, 0, 0, 0, 0, 0}, /* router alert length 5 */
        {1, 1, 1, 1, 1, 1, 1, 68},  /* kind with no room for its length */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        P.n = 0;
        pb_eth(&P, 0x0800);
        ip = pb_ip4(&P, 17, A4, B4, bad[i], 8);
        u = pb_udp(&P, 1, 2);
        pb_udp_fix(&P, u);
        pb_ip4_fix(&P, ip, 0);
        assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
        assert_int_equal(m.reason, DEC_IPV4_BAD_OPTIONS);
        assert_true(m.flags & PKT_IPV4);
    }
}

static void test_ipv4_malformed(void **state)
{
    struct pkt_meta m;
    build_tcp4(&P, 0x10, "payload");
    uint32_t n = P.n;

    P.b[14] = 0x44; /* IHL 4 */
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_BAD_IHL);
    assert_int_equal(m.ip_version, 0);

    P.b[14] = 0x55; /* version 5 */
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_BAD_VERSION);

    P.b[14] = 0x4f; /* IHL 15: 60 bytes > total length */
    pb_set16(&P, 14 + 2, 56);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_BAD_TOTAL_LEN);

    build_tcp4(&P, 0x10, "payload");
    pb_set16(&P, 14 + 2, 19); /* total length below the header */
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_BAD_TOTAL_LEN);
    pb_set16(&P, 14 + 2, (uint16_t)(n - 14 + 1)); /* one byte more than the packet */
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_BAD_TOTAL_LEN);

    /* truncated header */
    assert_int_equal(run_at(*state, P.b, 14 + 19, 14 + 19, DP_LINK_ETHERNET, 0, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_TRUNCATED);
    assert_int_equal(m.ip_version, 0);
}

static void test_snaplen(void **state)
{
    struct pkt_meta m;
    char payload[101];
    memset(payload, 'p', 100);
    payload[100] = 0;
    build_tcp4(&P, 0x10, payload);
    uint32_t wire = P.n;
    uint32_t hdrs = 14 + 20 + 40;

    /* payload cut: everything decoded, the payload is what was captured */
    assert_int_equal(run_at(*state, P.b, hdrs + 5, wire, DP_LINK_ETHERNET, 0, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_TCP | PKT_HAS_L4 | PKT_SNAPLEN_CUT);
    assert_int_equal(m.reason, DEC_PKT_TRUNCATED_SNAPLEN);
    assert_int_equal(m.payload_len, 5);
    assert_int_equal(m.l3_len, 20 + 40 + 5);
    assert_int_equal(m.tcp_mss, 1460);
    assert_int_equal(m.wirelen, wire);

    /* TCP options cut */
    assert_int_equal(run_at(*state, P.b, 14 + 20 + 30, wire, DP_LINK_ETHERNET, 0, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_TCP | PKT_HAS_L4 | PKT_SNAPLEN_CUT);
    assert_int_equal(m.sport, 40000);
    assert_int_equal(m.payload_len, 0);
    assert_null(m.payload);

    /* TCP header cut */
    assert_int_equal(run_at(*state, P.b, 14 + 20 + 10, wire, DP_LINK_ETHERNET, 0, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_SNAPLEN_CUT);
    assert_int_equal(m.reason, DEC_PKT_TRUNCATED_SNAPLEN);

    /* Ethernet header cut */
    assert_int_equal(run_at(*state, P.b, 10, wire, DP_LINK_ETHERNET, 0, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_SNAPLEN_CUT);

    /* the same bytes without the wire length behind them are malformed */
    assert_int_equal(run_at(*state, P.b, hdrs + 5, hdrs + 5, DP_LINK_ETHERNET, 0, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_BAD_TOTAL_LEN);
    /* a wire length shorter than the IP total length is malformed even when cut */
    assert_int_equal(run_at(*state, P.b, hdrs + 5, wire - 1, DP_LINK_ETHERNET, 0, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_BAD_TOTAL_LEN);
    assert_true(m.flags & PKT_SNAPLEN_CUT);
    assert_int_equal(decoder_get_stats(*state)->reason[DEC_PKT_TRUNCATED_SNAPLEN], 4);
}

static uint32_t build_ip6_chain(struct pb *p, const uint8_t *chain, unsigned n, uint8_t last)
{
    p->n = 0;
    pb_eth(p, 0x86dd);
    uint32_t ip = pb_ip6(p, n ? chain[0] : last, 1, 2);
    for (unsigned i = 0; i < n; i++) {
        uint8_t nh = i + 1 < n ? chain[i + 1] : last;
        if (chain[i] == 51) { /* AH: 12 bytes of fields + 4 ICV -> length field 2 */
            pb_u8(p, nh), pb_u8(p, 2), pb_u16(p, 0), pb_u32(p, 0x100), pb_u32(p, 1), pb_u32(p, 0xabcd);
        } else if (chain[i] == 44) { /* atomic fragment */
            pb_u8(p, nh), pb_u8(p, 0), pb_u16(p, 0), pb_u32(p, 99);
        } else {
            pb_ext6(p, nh, chain[i] == 43 ? 1 : 0);
        }
    }
    return ip;
}

static void test_ipv6_exthdrs(void **state)
{
    struct pkt_meta m;
    static const uint8_t legal[] = {0, 60, 43, 44, 51, 60};
    uint32_t ip = build_ip6_chain(&P, legal, sizeof(legal), 6);
    uint32_t tcp = pb_tcp(&P, 443, 50000, 7, 8, 0x12, NULL, 0);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.reason, DEC_NONE);
    assert_int_equal(m.flags, PKT_IPV6 | PKT_TCP | PKT_HAS_L4);
    assert_int_equal(m.proto, 6);
    assert_int_equal(m.ttl, 55);
    assert_ptr_equal(m.l4, P.b + tcp);
    assert_int_equal(m.sport, 443);
    uint8_t s[16] = {0x20, 0x01, 0x0d, 0xb8};
    s[15] = 1;
    assert_memory_equal(m.src, s, 16);

    /* looping chain: hop-by-hop naming itself, then destination options three times */
    static const uint8_t loop1[] = {0, 0, 0, 0};
    static const uint8_t loop2[] = {60, 60, 60};
    static const uint8_t loop3[] = {43, 60, 43};
    static const uint8_t *loops[] = {loop1, loop2, loop3};
    static const unsigned loopn[] = {4, 3, 3};
    for (int i = 0; i < 3; i++) {
        ip = build_ip6_chain(&P, loops[i], loopn[i], 17);
        pb_udp(&P, 1, 2);
        pb_ip6_fix(&P, ip);
        assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
        assert_int_equal(m.reason, DEC_IPV6_EXTHDR_DUPLICATE);
        assert_int_equal(m.ip_version, 6);
    }
    /* a long chain of repeatable experimental headers */
    static const uint8_t many[] = {253, 254, 253, 254, 253, 254, 253, 254, 253};
    ip = build_ip6_chain(&P, many, 8, 17);
    uint32_t u = pb_udp(&P, 1, 2);
    pb_udp_fix(&P, u);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    ip = build_ip6_chain(&P, many, 9, 17);
    pb_udp(&P, 1, 2);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV6_EXTHDR_TOO_MANY);

    /* extension header longer than the payload */
    static const uint8_t one[] = {43};
    ip = build_ip6_chain(&P, one, 1, 17);
    P.n -= 8; /* routing header claims 16 bytes, 8 present */
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV6_EXTHDR_TRUNCATED);
    /* extension header shorter than its minimum */
    static const uint8_t hbh[] = {0};
    ip = build_ip6_chain(&P, hbh, 1, 17);
    P.n -= 4;
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV6_EXTHDR_TRUNCATED);
}

static void test_ipv6_malformed(void **state)
{
    struct pkt_meta m;
    P.n = 0;
    pb_eth(&P, 0x86dd);
    uint32_t ip = pb_ip6(&P, 17, 1, 2);
    uint32_t u = pb_udp(&P, 1, 2);
    pb_udp_fix(&P, u);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.l3_len, 48);

    pb_set16(&P, ip + 4, 9);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV6_BAD_PAYLOAD_LEN);
    pb_set16(&P, ip + 4, 8);
    P.b[ip] = 0x40;
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV6_BAD_VERSION);
    P.b[ip] = 0x60;
    assert_int_equal(run_at(*state, P.b, 14 + 39, 14 + 39, DP_LINK_ETHERNET, 0, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV6_TRUNCATED);
}

static void test_udp(void **state)
{
    struct pkt_meta m;
    P.n = 0;
    pb_eth(&P, 0x0800);
    uint32_t ip = pb_ip4(&P, 17, A4, B4, NULL, 0);
    uint32_t u = pb_udp(&P, 53, 33333);
    pb_bytes(&P, "dnsdata", 7);
    pb_udp_fix(&P, u);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_UDP | PKT_HAS_L4);
    assert_int_equal(m.sport, 53);
    assert_int_equal(m.dport, 33333);
    assert_int_equal(m.l4_len, 15);
    assert_int_equal(m.payload_len, 7);
    assert_memory_equal(m.payload, "dnsdata", 7);

    pb_set16(&P, u + 4, 10); /* shorter UDP length trims the payload */
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.payload_len, 2);
    pb_set16(&P, u + 4, 7);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_UDP_BAD_LEN);
    pb_set16(&P, u + 4, 16);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_UDP_BAD_LEN);

    P.n = 0;
    pb_eth(&P, 0x0800);
    ip = pb_ip4(&P, 17, A4, B4, NULL, 0);
    pb_u32(&P, 0x00350035);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_UDP_TRUNCATED);
}

static void test_icmp(void **state)
{
    struct pkt_meta m;
    P.n = 0;
    pb_eth(&P, 0x0800);
    uint32_t ip = pb_ip4(&P, 1, A4, B4, NULL, 0);
    pb_u8(&P, 0), pb_u8(&P, 0), pb_u16(&P, 0), pb_u16(&P, 0x4242), pb_u16(&P, 17);
    pb_bytes(&P, "ping", 4);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_ICMP | PKT_HAS_L4);
    assert_int_equal(m.icmp_type, 0);
    assert_int_equal(m.icmp_id, 0x4242);
    assert_int_equal(m.icmp_seq, 17);
    assert_int_equal(m.payload_len, 4);

    P.b[34] = 3, P.b[35] = 1; /* unreachable: no id/seq */
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.sport, 3);
    assert_int_equal(m.dport, 1);
    assert_int_equal(m.icmp_code, 1);
    assert_int_equal(m.icmp_id, 0);

    pb_ip4_fix(&P, ip, 20 + 7);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_ICMP_TRUNCATED);

    P.n = 0;
    pb_eth(&P, 0x86dd);
    ip = pb_ip6(&P, 58, 1, 2);
    pb_u8(&P, 129), pb_u8(&P, 0), pb_u16(&P, 0), pb_u16(&P, 5), pb_u16(&P, 6);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV6 | PKT_ICMP | PKT_HAS_L4);
    assert_int_equal(m.icmp_type, 129);
    assert_int_equal(m.icmp_id, 5);
    assert_int_equal(m.icmp_seq, 6);
    P.n -= 2;
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_ICMPV6_TRUNCATED);
}

/* inner IPv4/TCP 10.9.9.9 -> 10.8.8.8 */
static void inner_tcp4(struct pb *p)
{
    uint32_t ip = pb_ip4(p, 6, 0x0a090909, 0x0a080808, NULL, 0);
    pb_tcp(p, 1234, 22, 1, 0, 0x02, NULL, 0);
    pb_bytes(p, "in", 2);
    pb_ip4_fix(p, ip, 0);
}

static void test_gre(void **state)
{
    struct pkt_meta m;
    /* v0 with checksum, key and sequence, inner IPv4 */
    P.n = 0;
    pb_eth(&P, 0x0800);
    uint32_t ip = pb_ip4(&P, 47, A4, B4, NULL, 0);
    pb_u16(&P, 0xb000), pb_u16(&P, 0x0800), pb_u32(&P, 0), pb_u32(&P, 42), pb_u32(&P, 1);
    uint32_t inner = P.n;
    inner_tcp4(&P);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_TCP | PKT_HAS_L4 | PKT_TUNNELED);
    assert_int_equal(m.tunnel_depth, 1);
    assert_v4(&m, 0x0a090909, 0x0a080808);
    assert_int_equal(m.proto, 6);
    assert_int_equal(m.dport, 22);
    assert_ptr_equal(m.l3, P.b + inner);
    assert_int_equal(m.payload_len, 2);
    assert_int_equal(decoder_get_stats(*state)->gre, 1);

    /* transparent Ethernet bridging, inner IPv6 over GRE */
    P.n = 0;
    pb_eth(&P, 0x0800);
    ip = pb_ip4(&P, 47, A4, B4, NULL, 0);
    pb_u16(&P, 0x2000), pb_u16(&P, 0x6558), pb_u32(&P, 7);
    pb_eth(&P, 0x86dd);
    uint32_t ip6 = pb_ip6(&P, 17, 3, 4);
    uint32_t u = pb_udp(&P, 9, 10);
    pb_udp_fix(&P, u);
    pb_ip6_fix(&P, ip6);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV6 | PKT_UDP | PKT_HAS_L4 | PKT_TUNNELED);
    assert_int_equal(m.ip_version, 6);
    assert_int_equal(m.src[15], 3);
    assert_int_equal(m.sport, 9);

    /* RFC 1701 routing: one SRE of 4 bytes, then the NULL SRE */
    P.n = 0;
    pb_eth(&P, 0x0800);
    ip = pb_ip4(&P, 47, A4, B4, NULL, 0);
    pb_u16(&P, 0x4000), pb_u16(&P, 0x0800), pb_u32(&P, 0);
    pb_u16(&P, 0x0800), pb_u8(&P, 0), pb_u8(&P, 4), pb_u32(&P, 0x01020304);
    pb_u32(&P, 0);
    inner_tcp4(&P);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.dport, 22);

    /* key flag but no room for the key */
    P.n = 0;
    pb_eth(&P, 0x0800);
    ip = pb_ip4(&P, 47, A4, B4, NULL, 0);
    pb_u16(&P, 0x2000), pb_u16(&P, 0x0800), pb_u16(&P, 0);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_GRE_TRUNCATED);
    /* version 2 */
    P.n = 0;
    pb_eth(&P, 0x0800);
    ip = pb_ip4(&P, 47, A4, B4, NULL, 0);
    pb_u16(&P, 0x0002), pb_u16(&P, 0x0800);
    inner_tcp4(&P);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_GRE_BAD_VERSION);
    /* inner packet malformed: reported as such */
    P.n = 0;
    pb_eth(&P, 0x0800);
    ip = pb_ip4(&P, 47, A4, B4, NULL, 0);
    pb_u16(&P, 0), pb_u16(&P, 0x0800);
    pb_u8(&P, 0x43);
    pb_fill(&P, 0, 19);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV4_BAD_IHL);
}

static uint32_t build_vxlan(struct pb *p, uint16_t port, uint8_t flags)
{
    p->n = 0;
    pb_eth(p, 0x0800);
    uint32_t ip = pb_ip4(p, 17, A4, B4, NULL, 0);
    uint32_t u = pb_udp(p, 55555, port);
    pb_u8(p, flags), pb_u8(p, 0), pb_u16(p, 0), pb_u32(p, 0x00abcd00);
    pb_eth(p, 0x0800);
    uint32_t inner = p->n;
    inner_tcp4(p);
    pb_udp_fix(p, u);
    pb_ip4_fix(p, ip, 0);
    return inner;
}

static void test_vxlan(void **state)
{
    struct pkt_meta m;
    uint32_t inner = build_vxlan(&P, 4789, 0x08);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_TCP | PKT_HAS_L4 | PKT_TUNNELED);
    assert_int_equal(m.tunnel_depth, 1);
    assert_v4(&m, 0x0a090909, 0x0a080808);
    assert_int_equal(m.sport, 1234);
    assert_ptr_equal(m.l3, P.b + inner);
    assert_int_equal(decoder_get_stats(*state)->vxlan, 1);

    /* I flag clear: plain UDP */
    build_vxlan(&P, 4789, 0x00);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_UDP | PKT_HAS_L4);
    assert_int_equal(m.dport, 4789);

    /* another port only when configured */
    build_vxlan(&P, 8472, 0x08);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_UDP | PKT_HAS_L4);
    struct decoder_config cfg;
    decoder_config_default(&cfg);
    cfg.vxlan_port = 8472;
    struct decoder *d = decoder_new(&cfg);
    assert_int_equal(run(d, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_TCP | PKT_HAS_L4 | PKT_TUNNELED);
    decoder_free(d);

    /* truncated VXLAN header */
    P.n = 0;
    pb_eth(&P, 0x0800);
    uint32_t ip = pb_ip4(&P, 17, A4, B4, NULL, 0);
    uint32_t u = pb_udp(&P, 1, 4789);
    pb_u32(&P, 0x08000000);
    pb_udp_fix(&P, u);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_VXLAN_TRUNCATED);
    /* inner Ethernet truncated */
    build_vxlan(&P, 4789, 0x08);
    pb_set16(&P, 14 + 20 + 4, 8 + 8 + 10);
    pb_ip4_fix(&P, 14, 20 + 8 + 8 + 10);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_ETH_TRUNCATED);
}

static void test_ipip(void **state)
{
    struct pkt_meta m;
    /* IPv4 in IPv4 */
    P.n = 0;
    pb_eth(&P, 0x0800);
    uint32_t ip = pb_ip4(&P, 4, A4, B4, NULL, 0);
    inner_tcp4(&P);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_TCP | PKT_HAS_L4 | PKT_TUNNELED);
    assert_v4(&m, 0x0a090909, 0x0a080808);
    assert_int_equal(m.ip_id, 0x1234);

    /* 6in4 */
    P.n = 0;
    pb_eth(&P, 0x0800);
    ip = pb_ip4(&P, 41, A4, B4, NULL, 0);
    uint32_t ip6 = pb_ip6(&P, 6, 7, 8);
    pb_tcp(&P, 80, 1000, 1, 1, 0x10, NULL, 0);
    pb_ip6_fix(&P, ip6);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV6 | PKT_TCP | PKT_HAS_L4 | PKT_TUNNELED);
    assert_int_equal(m.dst[15], 8);
    assert_int_equal(m.dst[4], 0);
    assert_int_equal(m.ttl, 55);
    assert_int_equal(decoder_get_stats(*state)->ipip, 2);

    /* 4in6 */
    P.n = 0;
    pb_eth(&P, 0x86dd);
    ip6 = pb_ip6(&P, 4, 7, 8);
    inner_tcp4(&P);
    pb_ip6_fix(&P, ip6);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_v4(&m, 0x0a090909, 0x0a080808); /* IPv6 address bytes cleared */

    /* 6in4 with a v4 header inside */
    P.n = 0;
    pb_eth(&P, 0x0800);
    ip = pb_ip4(&P, 41, A4, B4, NULL, 0);
    inner_tcp4(&P);
    pb_fill(&P, 0, 20);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV6_BAD_VERSION);

    /* nested deeper than the limit: 5 IP-in-IP levels */
    P.n = 0;
    pb_eth(&P, 0x0800);
    uint32_t ips[6];
    for (int i = 0; i < 5; i++)
        ips[i] = pb_ip4(&P, 4, A4 + i, B4, NULL, 0);
    inner_tcp4(&P);
    for (int i = 4; i >= 0; i--)
        pb_ip4_fix(&P, ips[i], 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_TUNNEL_TOO_DEEP);
    /* 4 levels are fine */
    P.n = 0;
    pb_eth(&P, 0x0800);
    for (int i = 0; i < 4; i++)
        ips[i] = pb_ip4(&P, 4, A4 + i, B4, NULL, 0);
    inner_tcp4(&P);
    for (int i = 3; i >= 0; i--)
        pb_ip4_fix(&P, ips[i], 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.tunnel_depth, 4);
}

/* ---- fragments ---- */

static uint8_t dgram[4000]; /* the datagram's fragmentable part: TCP header + payload */
static uint32_t dgram_len;

static void make_dgram(uint32_t payload)
{
    struct pb *t = malloc(sizeof(*t));
    t->n = 0;
    pb_ip4(t, 6, A4, B4, NULL, 0);
    pb_tcp(t, 5555, 80, 10, 20, 0x18, NULL, 0);
    for (uint32_t i = 0; i < payload; i++)
        pb_u8(t, (uint8_t)(i * 7 + 3));
    pb_ip4_fix(t, 0, 0);
    pb_l4_csum(t, 0, 20, 16, 6);
    dgram_len = t->n - 20;
    memcpy(dgram, t->b + 20, dgram_len);
    free(t);
}

/* One IPv4 fragment of dgram, [off, off+len), id `id`. */
static void frag4(struct pb *p, uint16_t id, uint32_t off, uint32_t len, bool more)
{
    p->n = 0;
    pb_eth(p, 0x0800);
    uint32_t ip = pb_ip4(p, 6, A4, B4, NULL, 0);
    pb_set16(p, ip + 4, id);
    pb_set16(p, ip + 6, (uint16_t)((more ? 0x2000 : 0) | off / 8));
    pb_bytes(p, dgram + off, len);
    pb_ip4_fix(p, ip, 0);
}

static enum decode_result feed4(struct decoder *d, uint16_t id, uint32_t off, uint32_t len, bool more,
                                uint64_t ts, struct pkt_meta *m)
{
    frag4(&P, id, off, len, more);
    return run_at(d, P.b, P.n, P.n, DP_LINK_ETHERNET, ts, m);
}

static void check_reassembled4(const struct pkt_meta *m, uint32_t payload)
{
    assert_int_equal(m->flags, PKT_IPV4 | PKT_TCP | PKT_HAS_L4 | PKT_REASSEMBLED);
    assert_int_equal(m->sport, 5555);
    assert_int_equal(m->dport, 80);
    assert_int_equal(m->l3_len, 20 + dgram_len);
    assert_int_equal(m->payload_len, payload);
    assert_memory_equal(m->l4, dgram, dgram_len);
    /* the rebuilt header is a valid unfragmented header */
    assert_int_equal(m->l3[6] & 0x3f, 0);
    assert_int_equal(m->l3[7], 0);
    assert_int_equal(pb_csum(m->l3, 20, 0), 0);
}

static void test_frag4_in_order(void **state)
{
    struct pkt_meta m;
    make_dgram(2980); /* 3000 bytes of TCP */
    assert_int_equal(feed4(*state, 7, 0, 1480, true, 1, &m), DECODE_HELD);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_FRAGMENT);
    assert_int_equal(m.frag_off, PKT_FRAG_MF);
    assert_int_equal(m.ip_id, 7);
    assert_int_equal(feed4(*state, 7, 1480, 1480, true, 2, &m), DECODE_HELD);
    assert_int_equal(m.frag_off, 1480 | PKT_FRAG_MF);
    assert_int_equal(feed4(*state, 7, 2960, 40, false, 3, &m), DECODE_OK);
    assert_int_equal(m.reason, DEC_NONE);
    check_reassembled4(&m, 2980);
    assert_true(m.l3 < P.b || m.l3 >= P.b + sizeof(P.b)); /* in the decoder's buffer */
    /* the rebuilt header verifies under checksum checking too */
    const struct decoder_stats *st = decoder_get_stats(*state);
    assert_int_equal(st->fragments, 3);
    assert_int_equal(st->reassembled, 1);
    assert_int_equal(st->tcp, 1);

    /* the same with checksums checked */
    struct decoder_config cfg;
    decoder_config_default(&cfg);
    cfg.check_checksums = true;
    struct decoder *d = decoder_new(&cfg);
    assert_int_equal(feed4(d, 8, 0, 1480, true, 1, &m), DECODE_HELD);
    assert_int_equal(feed4(d, 8, 1480, 1520, false, 1, &m), DECODE_OK);
    check_reassembled4(&m, 2980);
    decoder_free(d);
}

static void test_frag4_out_of_order(void **state)
{
    struct pkt_meta m;
    make_dgram(1000);
    /* last first, then middle pieces reversed, then the first */
    assert_int_equal(feed4(*state, 9, 800, dgram_len - 800, false, 10, &m), DECODE_HELD);
    assert_int_equal(feed4(*state, 9, 400, 400, true, 11, &m), DECODE_HELD);
    assert_int_equal(feed4(*state, 9, 8, 392, true, 12, &m), DECODE_HELD);
    /* an unrelated datagram interleaved */
    assert_int_equal(feed4(*state, 10, 8, 8, true, 12, &m), DECODE_HELD);
    assert_int_equal(feed4(*state, 9, 0, 8, true, 13, &m), DECODE_OK);
    check_reassembled4(&m, 1000);
    assert_int_equal(m.ts_ns, 13);
    /* a duplicate after completion starts a new datagram */
    assert_int_equal(feed4(*state, 9, 0, 8, true, 14, &m), DECODE_HELD);
}

static void test_frag4_overlap(void **state)
{
    struct pkt_meta m;
    make_dgram(500);
    /* identical overlap: silent */
    assert_int_equal(feed4(*state, 1, 0, 256, true, 1, &m), DECODE_HELD);
    assert_int_equal(feed4(*state, 1, 128, 256, true, 1, &m), DECODE_HELD);
    assert_int_equal(m.reason, DEC_NONE);
    assert_int_equal(feed4(*state, 1, 384, dgram_len - 384, false, 1, &m), DECODE_OK);
    assert_int_equal(m.reason, DEC_NONE);
    check_reassembled4(&m, 500);

    /* different data in an overlap: reported, first arrival wins */
    assert_int_equal(feed4(*state, 2, 0, 256, true, 1, &m), DECODE_HELD);
    frag4(&P, 2, 128, 256, true);
    P.b[14 + 20 + 10] ^= 0xff; /* byte 138 of the datagram differs */
    assert_int_equal(run_at(*state, P.b, P.n, P.n, DP_LINK_ETHERNET, 1, &m), DECODE_HELD);
    assert_int_equal(m.reason, DEC_FRAG_OVERLAP);
    assert_int_equal(feed4(*state, 2, 384, dgram_len - 384, false, 1, &m), DECODE_OK);
    check_reassembled4(&m, 500); /* original bytes kept */

    /* an overlapping fragment that completes the datagram carries the note */
    assert_int_equal(feed4(*state, 3, 256, dgram_len - 256, false, 1, &m), DECODE_HELD);
    frag4(&P, 3, 0, 264, true);
    P.b[P.n - 1] ^= 1;
    assert_int_equal(run_at(*state, P.b, P.n, P.n, DP_LINK_ETHERNET, 1, &m), DECODE_OK);
    assert_int_equal(m.reason, DEC_FRAG_OVERLAP);
    check_reassembled4(&m, 500);
    assert_int_equal(decoder_get_stats(*state)->reason[DEC_FRAG_OVERLAP], 2);
}

static void test_frag4_malformed(void **state)
{
    struct pkt_meta m;
    make_dgram(500);
    /* non-last fragment not a multiple of 8 */
    assert_int_equal(feed4(*state, 4, 0, 100, true, 1, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_FRAG_BAD_LEN);
    /* two different ends */
    assert_int_equal(feed4(*state, 5, 8, 100, false, 1, &m), DECODE_HELD);
    assert_int_equal(feed4(*state, 5, 8, 96, false, 1, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_FRAG_BAD_LEN);
    /* data past the end */
    assert_int_equal(feed4(*state, 5, 104, 16, true, 1, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_FRAG_BAD_LEN);
    /* past 65535 */
    frag4(&P, 6, 0, 200, false);
    pb_set16(&P, 14 + 6, 65512 / 8);
    pb_ip4_fix(&P, 14, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_FRAG_TOO_LARGE);
    /* a cut fragment is passed on, not held */
    frag4(&P, 11, 0, 400, true);
    assert_int_equal(run_at(*state, P.b, 100, P.n, DP_LINK_ETHERNET, 1, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_FRAGMENT | PKT_SNAPLEN_CUT);
}

static void test_frag_timeout(void **state)
{
    struct pkt_meta m;
    const uint64_t s = 1000000000ull;
    make_dgram(500);
    const struct decoder_stats *st = decoder_get_stats(*state);
    assert_int_equal(feed4(*state, 1, 0, 256, true, 100 * s, &m), DECODE_HELD);
    decoder_expire(*state, 159 * s);
    assert_int_equal(st->reason[DEC_FRAG_TIMEOUT], 0);
    decoder_expire(*state, 160 * s);
    assert_int_equal(st->reason[DEC_FRAG_TIMEOUT], 1);
    /* the rest cannot complete it */
    assert_int_equal(feed4(*state, 1, 256, dgram_len - 256, false, 161 * s, &m), DECODE_HELD);

    /* a late fragment ends an expired datagram by itself */
    assert_int_equal(feed4(*state, 2, 0, 256, true, 200 * s, &m), DECODE_HELD);
    assert_int_equal(feed4(*state, 2, 256, dgram_len - 256, false, 261 * s, &m), DECODE_HELD);
    assert_int_equal(st->reason[DEC_FRAG_TIMEOUT], 3); /* id 1's leftover and id 2 */
    /* within the timeout it completes */
    assert_int_equal(feed4(*state, 3, 0, 256, true, 300 * s, &m), DECODE_HELD);
    assert_int_equal(feed4(*state, 3, 256, dgram_len - 256, false, 359 * s, &m), DECODE_OK);
    check_reassembled4(&m, 500);
}

static void test_frag_table_full(void **state)
{
    (void)state;
    struct pkt_meta m;
    struct decoder_config cfg;
    decoder_config_default(&cfg);
    cfg.frag_max_datagrams = 2;
    struct decoder *d = decoder_new(&cfg);
    make_dgram(500);
    assert_int_equal(feed4(d, 1, 0, 256, true, 1, &m), DECODE_HELD);
    assert_int_equal(feed4(d, 2, 0, 256, true, 1, &m), DECODE_HELD);
    assert_int_equal(feed4(d, 3, 0, 256, true, 1, &m), DECODE_OK);
    assert_int_equal(m.reason, DEC_FRAG_TABLE_FULL);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_FRAGMENT);
    /* existing datagrams still complete, which frees a slot */
    assert_int_equal(feed4(d, 1, 256, dgram_len - 256, false, 1, &m), DECODE_OK);
    check_reassembled4(&m, 500);
    assert_int_equal(feed4(d, 3, 0, 256, true, 1, &m), DECODE_HELD);
    /* expiry frees slots when needed */
    assert_int_equal(feed4(d, 4, 0, 256, true, cfg.frag_timeout_ns + 1, &m), DECODE_HELD);
    assert_int_equal(decoder_get_stats(d)->reason[DEC_FRAG_TIMEOUT], 2);
    decoder_free(d);

    /* data memory: 2 blocks of 1 KiB */
    decoder_config_default(&cfg);
    cfg.frag_max_bytes = 2048;
    d = decoder_new(&cfg);
    make_dgram(3000);
    assert_int_equal(feed4(d, 1, 0, 1480, true, 1, &m), DECODE_HELD);
    assert_int_equal(feed4(d, 1, 1480, 1480, true, 1, &m), DECODE_OK); /* needs a 3rd block */
    assert_int_equal(m.reason, DEC_FRAG_TABLE_FULL);
    assert_int_equal(m.flags, PKT_IPV4 | PKT_FRAGMENT);
    /* the datagram was dropped whole: its memory is back, a small one fits */
    make_dgram(500);
    assert_int_equal(feed4(d, 2, 0, 256, true, 1, &m), DECODE_HELD);
    assert_int_equal(feed4(d, 2, 256, dgram_len - 256, false, 1, &m), DECODE_OK);
    check_reassembled4(&m, 500);
    decoder_free(d);

    /* reassembly off entirely */
    decoder_config_default(&cfg);
    cfg.frag_max_datagrams = 0;
    d = decoder_new(&cfg);
    assert_non_null(d);
    assert_int_equal(feed4(d, 1, 0, 256, true, 1, &m), DECODE_OK);
    assert_int_equal(m.reason, DEC_FRAG_TABLE_FULL);
    decoder_free(d);
}

/* IPv6 fragment of dgram with a hop-by-hop header before the fragment header. */
static void frag6(struct pb *p, uint32_t id, uint32_t off, uint32_t len, bool more, bool vlan)
{
    p->n = 0;
    pb_eth(p, vlan ? 0x8100 : 0x86dd);
    if (vlan)
        pb_vlan(p, 33, 0x86dd);
    uint32_t ip = pb_ip6(p, 0, 1, 2);
    pb_ext6(p, 44, 0);
    pb_u8(p, 6), pb_u8(p, 0), pb_u16(p, (uint16_t)(off | (more ? 1 : 0))), pb_u32(p, id);
    pb_bytes(p, dgram + off, len);
    pb_ip6_fix(p, ip);
}

static void test_frag6(void **state)
{
    struct pkt_meta m;
    make_dgram(1500);
    /* dgram holds a TCP segment whose checksum is over IPv4: run without checksum checks */
    frag6(&P, 0xdeadbeef, 1024, dgram_len - 1024, false, false);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_HELD);
    assert_int_equal(m.flags, PKT_IPV6 | PKT_FRAGMENT);
    assert_int_equal(m.frag_off, 1024);
    assert_int_equal(m.ip_id, 0xbeef);
    /* same id with a VLAN is another datagram */
    frag6(&P, 0xdeadbeef, 0, 1024, true, true);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_HELD);
    frag6(&P, 0xdeadbeef, 0, 1024, true, false);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV6 | PKT_TCP | PKT_HAS_L4 | PKT_REASSEMBLED);
    assert_int_equal(m.proto, 6);
    assert_int_equal(m.sport, 5555);
    assert_int_equal(m.l3_len, 40 + 8 + dgram_len);
    assert_int_equal((m.l3[4] << 8 | m.l3[5]), 8 + dgram_len); /* payload length rebuilt */
    assert_int_equal(m.l3[40], 6);                                /* hop-by-hop now names TCP */
    assert_memory_equal(m.l4, dgram, dgram_len);
    assert_int_equal(m.payload_len, 1500);

    /* overlap with different data */
    frag6(&P, 5, 0, 512, true, false);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_HELD);
    frag6(&P, 5, 256, 512, true, false);
    P.b[P.n - 512 + 10] ^= 0x55; /* datagram byte 266, held already */
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_HELD);
    assert_int_equal(m.reason, DEC_FRAG_OVERLAP);
    /* M set with a length not a multiple of 8 */
    frag6(&P, 6, 0, 100, true, false);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_FRAG_BAD_LEN);
    /* two fragment headers */
    P.n = 0;
    pb_eth(&P, 0x86dd);
    uint32_t ip = pb_ip6(&P, 44, 1, 2);
    pb_u8(&P, 44), pb_u8(&P, 0), pb_u16(&P, 0), pb_u32(&P, 1);
    pb_u8(&P, 17), pb_u8(&P, 0), pb_u16(&P, 0), pb_u32(&P, 1);
    pb_fill(&P, 0, 8);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_INVALID);
    assert_int_equal(m.reason, DEC_IPV6_EXTHDR_DUPLICATE);
}

static void test_frag_in_tunnel(void **state)
{
    struct pkt_meta m;
    make_dgram(600);
    /* inner IPv4 fragments inside GRE: reassembled, decoded with the tunnel depth kept */
    for (int i = 0; i < 2; i++) {
        P.n = 0;
        pb_eth(&P, 0x0800);
        uint32_t ip = pb_ip4(&P, 47, A4, B4, NULL, 0);
        pb_u16(&P, 0), pb_u16(&P, 0x0800);
        uint32_t in = pb_ip4(&P, 6, A4, B4, NULL, 0);
        uint32_t off = i == 0 ? 0 : 320, len = i == 0 ? 320 : dgram_len - 320;
        pb_set16(&P, in + 6, (uint16_t)((i == 0 ? 0x2000 : 0) | off / 8));
        pb_bytes(&P, dgram + off, len);
        pb_ip4_fix(&P, in, 0);
        pb_ip4_fix(&P, ip, 0);
        enum decode_result r = run(*state, &P, DP_LINK_ETHERNET, &m);
        assert_int_equal(r, i == 0 ? DECODE_HELD : DECODE_OK);
    }
    assert_int_equal(m.flags, PKT_IPV4 | PKT_TCP | PKT_HAS_L4 | PKT_REASSEMBLED | PKT_TUNNELED);
    assert_int_equal(m.tunnel_depth, 1);
    assert_int_equal(m.payload_len, 600);
    /* the same fragments outside the tunnel do not mix with it */
    assert_int_equal(feed4(*state, 0x1234, 0, 320, true, 1, &m), DECODE_HELD);
}

static void test_atomic_fragment(void **state)
{
    struct pkt_meta m;
    static const uint8_t chain[] = {44};
    uint32_t ip = build_ip6_chain(&P, chain, 1, 17);
    uint32_t u = pb_udp(&P, 1, 2);
    pb_udp_fix(&P, u);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    assert_int_equal(m.flags, PKT_IPV6 | PKT_UDP | PKT_HAS_L4);
    assert_int_equal(decoder_get_stats(*state)->fragments, 0);
}

/* ---- hashes and names ---- */

static void swap_meta(struct pkt_meta *m)
{
    uint8_t t[16];
    memcpy(t, m->src, 16);
    memcpy(m->src, m->dst, 16);
    memcpy(m->dst, t, 16);
    uint16_t p = m->sport;
    m->sport = m->dport;
    m->dport = p;
}

static void test_flow_hash(void **state)
{
    struct pkt_meta m, r;
    build_tcp4(&P, 0x02, "");
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    uint32_t h = pkt_meta_flow_hash(&m);
    r = m;
    swap_meta(&r);
    assert_int_equal(pkt_meta_flow_hash(&r), h);
    r.sport++;
    assert_int_not_equal(pkt_meta_flow_hash(&r), h);
    r = m;
    r.vlan[0] = 5;
    r.vlan_count = 1;
    assert_int_not_equal(pkt_meta_flow_hash(&r), h);
    /* same address both ways, ports decide the order */
    r = m;
    memcpy(r.dst, r.src, 16);
    uint32_t h2 = pkt_meta_flow_hash(&r);
    swap_meta(&r);
    assert_int_equal(pkt_meta_flow_hash(&r), h2);

    /* IPv6 */
    static const uint8_t chain[] = {0};
    uint32_t ip = build_ip6_chain(&P, chain, 1, 6);
    pb_tcp(&P, 443, 50000, 7, 8, 0x12, NULL, 0);
    pb_ip6_fix(&P, ip);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    h = pkt_meta_flow_hash(&m);
    r = m;
    swap_meta(&r);
    assert_int_equal(pkt_meta_flow_hash(&r), h);
    r.src[3] ^= 1;
    assert_int_not_equal(pkt_meta_flow_hash(&r), h);
    assert_int_not_equal(h, 0);

    /* ICMP echo request and reply: one flow */
    P.n = 0;
    pb_eth(&P, 0x0800);
    ip = pb_ip4(&P, 1, A4, B4, NULL, 0);
    pb_u8(&P, 8), pb_u8(&P, 0), pb_u16(&P, 0), pb_u16(&P, 1), pb_u16(&P, 1);
    pb_ip4_fix(&P, ip, 0);
    assert_int_equal(run(*state, &P, DP_LINK_ETHERNET, &m), DECODE_OK);
    r = m;
    swap_meta(&r);
    r.icmp_type = 0;
    r.sport = 0;
    assert_int_equal(pkt_meta_flow_hash(&r), pkt_meta_flow_hash(&m));

    /* many random flows: both directions agree, few collisions */
    unsigned same = 0;
    uint32_t prev = 0;
    for (uint32_t i = 0; i < 10000; i++) {
        memset(&m, 0, sizeof(m));
        m.ip_version = (i & 1) ? 6 : 4;
        m.proto = 17;
        m.flags = PKT_UDP;
        for (int k = 0; k < 16; k++) {
            m.src[k] = (uint8_t)(i * 2654435761u >> (k % 4 * 8));
            m.dst[k] = (uint8_t)(i * 40503u >> (k % 3 * 8));
        }
        m.sport = (uint16_t)(i * 31);
        m.dport = (uint16_t)(i * 17 + 1);
        h = pkt_meta_flow_hash(&m);
        r = m;
        swap_meta(&r);
        assert_int_equal(pkt_meta_flow_hash(&r), h);
        same += h == prev;
        prev = h;
    }
    assert_true(same < 3);
}

static void test_dispatch_hash(void **state)
{
    (void)state;
    struct dp_packet pkt = {.linktype = DP_LINK_ETHERNET};
    make_dgram(600);
    frag4(&P, 1, 0, 320, true);
    pkt.data = P.b;
    pkt.caplen = pkt.wirelen = P.n;
    uint32_t h = decode_dispatch_hash(&pkt);
    assert_int_not_equal(h, 0);
    frag4(&P, 1, 320, dgram_len - 320, false); /* no L4 header: same worker */
    assert_int_equal(decode_dispatch_hash(&pkt), h);
    /* reverse direction */
    memcpy(P.b + 14 + 12, "\x0a\x00\x00\x02\xc0\xa8\x00\x01", 8);
    pkt.caplen = pkt.wirelen = P.n;
    assert_int_equal(decode_dispatch_hash(&pkt), h);
    /* behind VLAN and MPLS */
    struct pb *q = malloc(sizeof(*q));
    q->n = 0;
    pb_eth(q, 0x8100);
    pb_vlan(q, 9, 0x8847);
    pb_u32(q, 0x100);
    pb_bytes(q, P.b + 14, P.n - 14);
    pkt.data = q->b;
    pkt.caplen = pkt.wirelen = q->n;
    assert_int_equal(decode_dispatch_hash(&pkt), h);
    /* raw and SLL2 */
    pkt.data = P.b + 14;
    pkt.caplen = P.n - 14;
    pkt.linktype = DP_LINK_RAW;
    assert_int_equal(decode_dispatch_hash(&pkt), h);
    /* not IP */
    q->n = 0;
    pb_eth(q, 0x0806);
    pb_fill(q, 0, 28);
    pkt.data = q->b;
    pkt.caplen = q->n;
    pkt.linktype = DP_LINK_ETHERNET;
    assert_int_equal(decode_dispatch_hash(&pkt), 0);
    pkt.caplen = 3;
    assert_int_equal(decode_dispatch_hash(&pkt), 0);
    free(q);
}

static void test_reason_names(void **state)
{
    (void)state;
    for (int i = 0; i < DEC_REASON_MAX; i++) {
        const char *n = decode_reason_name((enum decode_reason)i);
        assert_non_null(n);
        assert_string_not_equal(n, "unknown");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(n, decode_reason_name((enum decode_reason)j));
    }
    assert_string_equal(decode_reason_name(DEC_IPV4_BAD_IHL), "ipv4.bad_ihl");
    assert_string_equal(decode_reason_name(DEC_REASON_MAX), "unknown");
    assert_string_equal(decode_reason_name((enum decode_reason)-1), "unknown");
    decoder_free(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_eth_ipv4_tcp),     T(test_tcp_no_options),  T(test_tcp_malformed),
        T(test_checksums),        T(test_vlan),            T(test_mpls),
        T(test_linktypes),        T(test_pppoe),        T(test_ipv4_options),    T(test_ipv4_malformed),
        T(test_snaplen),          T(test_ipv6_exthdrs),    T(test_ipv6_malformed),
        T(test_udp),              T(test_icmp),            T(test_gre),
        T(test_vxlan),            T(test_ipip),            T(test_frag4_in_order),
        T(test_frag4_out_of_order), T(test_frag4_overlap), T(test_frag4_malformed),
        T(test_frag_timeout),     T(test_frag_table_full), T(test_frag6),
        T(test_frag_in_tunnel),   T(test_atomic_fragment), T(test_flow_hash),
        T(test_dispatch_hash),    T(test_reason_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
