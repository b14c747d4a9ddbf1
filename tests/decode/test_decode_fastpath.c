/* The decoder's fast path (decode_packet_fast: Ethernet [+ one 802.1Q tag] / IPv4 without options,
 * not a fragment, or IPv6 without extension headers / TCP or UDP; with the flow key and hash it
 * builds, pkt_meta.flow_key) against the full decoder (decode_packet_full), packet by packet:
 * whenever the fast path takes a packet, the full decoder must return DECODE_OK with the same
 * pkt_meta bit for bit (each meta is first filled with a different garbage pattern, so a field
 * one of them leaves unwritten shows) and the same counters; when it declines, it must not have
 * touched a counter. Inputs: crafted packets around every condition of the fast path, tens of
 * thousands of deterministic mutations of them (bytes, capture and wire lengths), and the real
 * captures of the shared data (skipped, not failed, where they are absent). decode_packet() is
 * held to the full decoder too (result, flags, reason, addresses, ports, lengths). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "decode.h"
#include "decode_priv.h"
#include "pktbuild.h"

#define A4 0xc0a80001u
#define B4 0x0a000002u

struct cmp {
    struct decoder *fast, *full, *pub; /* fast path (full decoder when it declines), full, public */
    uint64_t taken, declined;
};

static void cmp_init(struct cmp *c, bool checksums)
{
    struct decoder_config cfg;
    decoder_config_default(&cfg);
    cfg.check_checksums = checksums;
    memset(c, 0, sizeof(*c));
    c->fast = decoder_new(&cfg);
    c->full = decoder_new(&cfg);
    c->pub = decoder_new(&cfg);
    assert_non_null(c->fast);
    assert_non_null(c->full);
    assert_non_null(c->pub);
}

static void cmp_fini(struct cmp *c)
{
    decoder_free(c->fast);
    decoder_free(c->full);
    decoder_free(c->pub);
}

/* Decodes one packet three ways and compares; returns whether the fast path took it. */
static bool cmp_packet(struct cmp *c, const struct dp_packet *pkt)
{
    struct pkt_meta a, b, p;
    struct decoder_stats before = *decoder_get_stats(c->fast);
    memset(&a, 0xa5, sizeof(a));
    memset(&b, 0x5a, sizeof(b));
    memset(&p, 0x3c, sizeof(p));
    bool took = decode_packet_fast(c->fast, pkt, &a);
    enum decode_result rb = decode_packet_full(c->full, pkt, &b);
    enum decode_result rp = decode_packet(c->pub, pkt, &p);
    if (took) {
        c->taken++;
        assert_int_equal(rb, DECODE_OK);
        assert_memory_equal(&a, &b, sizeof(a));
    } else {
        c->declined++;
        /* no counter moved: then the full decoder runs, as decode_packet() does */
        assert_memory_equal(decoder_get_stats(c->fast), &before, sizeof(before));
        enum decode_result ra = decode_packet_full(c->fast, pkt, &a);
        assert_int_equal(ra, rb);
    }
    assert_memory_equal(decoder_get_stats(c->fast), decoder_get_stats(c->full), sizeof(before));
    assert_memory_equal(decoder_get_stats(c->pub), decoder_get_stats(c->full), sizeof(before));
    /* the public entry point: pointers may differ only for reassembled datagrams (each decoder
     * has its own buffer) */
    assert_int_equal(rp, rb);
    assert_int_equal(p.flags, b.flags);
    assert_int_equal(p.reason, b.reason);
    assert_int_equal(p.wirelen, b.wirelen);
    assert_memory_equal(p.src, b.src, 16);
    assert_memory_equal(p.dst, b.dst, 16);
    assert_int_equal(p.sport, b.sport);
    assert_int_equal(p.dport, b.dport);
    assert_int_equal(p.proto, b.proto);
    assert_int_equal(p.l3_len, b.l3_len);
    assert_int_equal(p.l4_len, b.l4_len);
    assert_int_equal(p.payload_len, b.payload_len);
    if (!(b.flags & PKT_REASSEMBLED)) {
        assert_ptr_equal(p.l3, b.l3);
        assert_ptr_equal(p.payload, b.payload);
    }
    return took;
}

static bool cmp_buf(struct cmp *c, const uint8_t *data, uint32_t caplen, uint32_t wirelen, uint16_t lt,
                    uint64_t ts)
{
    struct dp_packet pkt = {.data = data, .caplen = caplen, .wirelen = wirelen, .ts_ns = ts, .linktype = lt};
    return cmp_packet(c, &pkt);
}

/* ---- crafted packets ---- */

#define N_BASE 48
static struct pb base[N_BASE];
static unsigned n_base;

static const uint8_t tcp_opts_all[] = {
    2, 4, 0x05, 0xb4,                    /* MSS 1460 */
    1, 3, 3, 7,                          /* NOP, wscale 7 */
    4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, /* SACK ok, TS 1 / 2 */
};
static const uint8_t tcp_opts_sack[] = {1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 9}; /* NOP NOP SACK block */
static const uint8_t tcp_opts_bad[] = {2, 3, 0x05, 0xb4};                      /* MSS of length 3 */
static const uint8_t ip_opts_ra[] = {148, 4, 0, 0};                            /* router alert */

/* Builds one crafted packet: vlan (0 none, 1 one 802.1Q tag, 2 two tags, 3 one 802.1ad tag),
 * proto 6 or 17 (or other), TCP options, IP options, padding after the datagram. */
static struct pb *craft(unsigned vlan, uint8_t proto, uint8_t tcp_flags, const uint8_t *opts, uint32_t optlen,
                        const uint8_t *ipopts, uint32_t ipoptlen, uint16_t dport, uint32_t payload,
                        uint32_t pad)
{
    assert_true(n_base < N_BASE);
    struct pb *p = &base[n_base++];
    p->n = 0;
    if (vlan == 0) {
        pb_eth(p, 0x0800);
    } else if (vlan == 1) {
        pb_eth(p, 0x8100);
        pb_vlan(p, 0x2000 | 42, 0x0800);
    } else if (vlan == 2) {
        pb_eth(p, 0x8100);
        pb_vlan(p, 7, 0x8100);
        pb_vlan(p, 8, 0x0800);
    } else {
        pb_eth(p, 0x88a8);
        pb_vlan(p, 9, 0x0800);
    }
    uint32_t ip = pb_ip4(p, proto, A4, B4, ipopts, ipoptlen);
    uint32_t l4 = p->n;
    if (proto == 6)
        pb_tcp(p, 40000, dport, 1000, 2000, tcp_flags, opts, optlen);
    else if (proto == 17)
        pb_udp(p, 5353, dport);
    else
        pb_fill(p, 0, 8);
    for (uint32_t i = 0; i < payload; i++)
        pb_u8(p, (uint8_t)('a' + i % 26));
    if (proto == 17)
        pb_udp_fix(p, l4);
    pb_ip4_fix(p, ip, 0);
    if (proto == 6)
        pb_l4_csum(p, ip, l4, 16, 6);
    else if (proto == 17)
        pb_l4_csum(p, ip, l4, 6, 17);
    pb_fill(p, 0, pad); /* Ethernet padding: not part of the datagram */
    return p;
}

/* IPv6 (the fast path since session 4): vlan as craft(), ext an 8-byte hop-by-hop header first,
 * the addresses' last bytes (equal: the key orders the endpoints by port). */
static struct pb *craft6(unsigned vlan, uint8_t proto, bool ext, uint8_t tcp_flags, const uint8_t *opts,
                         uint32_t optlen, uint16_t sport, uint16_t dport, uint32_t payload, uint32_t pad,
                         uint8_t last_src, uint8_t last_dst)
{
    assert_true(n_base < N_BASE);
    struct pb *p = &base[n_base++];
    p->n = 0;
    if (vlan == 0) {
        pb_eth(p, 0x86dd);
    } else if (vlan == 1) {
        pb_eth(p, 0x8100);
        pb_vlan(p, 0x2000 | 42, 0x86dd);
    } else {
        pb_eth(p, 0x8100);
        pb_vlan(p, 7, 0x8100);
        pb_vlan(p, 8, 0x86dd);
    }
    uint32_t ip = pb_ip6(p, ext ? 0 : proto, last_src, last_dst);
    if (ext)
        pb_ext6(p, proto, 0);
    uint32_t l4 = p->n;
    if (proto == 6)
        pb_tcp(p, sport, dport, 1000, 2000, tcp_flags, opts, optlen);
    else if (proto == 17)
        pb_udp(p, sport, dport);
    else
        pb_fill(p, 0, 8);
    for (uint32_t i = 0; i < payload; i++)
        pb_u8(p, (uint8_t)('a' + i % 26));
    if (proto == 17)
        pb_udp_fix(p, l4);
    pb_ip6_fix(p, ip);
    if (proto == 6)
        pb_l4_csum(p, ip, l4, 16, 6);
    else if (proto == 17)
        pb_l4_csum(p, ip, l4, 6, 17);
    pb_fill(p, 0, pad);
    return p;
}

/* IPv4 with other addresses than craft()'s (which puts the higher address first). */
static struct pb *craft_addrs(uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
    assert_true(n_base < N_BASE);
    struct pb *p = &base[n_base++];
    p->n = 0;
    pb_eth(p, 0x0800);
    uint32_t ip = pb_ip4(p, proto, src, dst, NULL, 0);
    uint32_t l4 = p->n;
    if (proto == 6)
        pb_tcp(p, sport, dport, 1, 2, 0x10, NULL, 0);
    else
        pb_udp(p, sport, dport);
    pb_fill(p, 'x', 12);
    if (proto == 17)
        pb_udp_fix(p, l4);
    pb_ip4_fix(p, ip, 0);
    pb_l4_csum(p, ip, l4, proto == 6 ? 16 : 6, proto);
    return p;
}

/* Crafted packets the fast path takes whole (see test_crafted's count). */
#define N_NEW_COMMON 12

static void craft_all(void)
{
    n_base = 0;
    craft(0, 17, 0, NULL, 0, NULL, 0, 53, 22, 0);                     /* the bench's packet */
    craft(0, 17, 0, NULL, 0, NULL, 0, 53, 0, 18);                     /* empty UDP, padded */
    craft(1, 17, 0, NULL, 0, NULL, 0, 443, 100, 0);                   /* one 802.1Q tag */
    craft(2, 17, 0, NULL, 0, NULL, 0, 53, 10, 0);                     /* QinQ: full decoder */
    craft(3, 17, 0, NULL, 0, NULL, 0, 53, 10, 0);                     /* 802.1ad: full decoder */
    craft(0, 17, 0, NULL, 0, NULL, 0, 4789, 30, 0);                   /* VXLAN port: full decoder */
    craft(0, 6, 0x02, tcp_opts_all, sizeof(tcp_opts_all), NULL, 0, 80, 0, 0); /* SYN, options */
    craft(0, 6, 0x12, tcp_opts_all, sizeof(tcp_opts_all), NULL, 0, 80, 0, 6);
    craft(0, 6, 0x18, NULL, 0, NULL, 0, 80, 200, 0);                  /* PSH ACK, data */
    craft(1, 6, 0x10, tcp_opts_sack, sizeof(tcp_opts_sack), NULL, 0, 22, 40, 0);
    craft(0, 6, 0x11, NULL, 0, NULL, 0, 80, 0, 0);                    /* FIN ACK */
    craft(0, 6, 0x04, NULL, 0, NULL, 0, 80, 0, 6);                    /* RST */
    craft(0, 6, 0x03, NULL, 0, NULL, 0, 80, 0, 0);                    /* SYN FIN: a note */
    craft(0, 6, 0x06, NULL, 0, NULL, 0, 80, 0, 0);                    /* SYN RST: a note */
    craft(0, 6, 0x02, tcp_opts_bad, sizeof(tcp_opts_bad), NULL, 0, 80, 0, 0); /* bad options */
    craft(0, 17, 0, NULL, 0, ip_opts_ra, sizeof(ip_opts_ra), 53, 8, 0);       /* IP options */
    craft(0, 6, 0x10, NULL, 0, ip_opts_ra, sizeof(ip_opts_ra), 80, 8, 0);
    craft(0, 1, 0, NULL, 0, NULL, 0, 0, 8, 0);                        /* ICMP: full decoder */
    craft(0, 47, 0, NULL, 0, NULL, 0, 0, 0, 0);                       /* GRE (truncated) */
    craft(1, 6, 0x18, tcp_opts_all, sizeof(tcp_opts_all), NULL, 0, 443, 1400, 0);
    /* a fragment (MF) and a later fragment */
    struct pb *f = craft(0, 17, 0, NULL, 0, NULL, 0, 53, 64, 0);
    pb_set16(f, 14 + 6, 0x2000);
    f = craft(0, 17, 0, NULL, 0, NULL, 0, 53, 64, 0);
    pb_set16(f, 14 + 6, 0x0003);
    /* IPv6: taken (9, one of them padded) ... */
    craft6(0, 17, false, 0, NULL, 0, 5353, 53, 22, 0, 1, 2);
    craft6(0, 17, false, 0, NULL, 0, 5353, 53, 0, 6, 1, 2);          /* empty UDP, padded */
    craft6(1, 17, false, 0, NULL, 0, 5353, 443, 100, 0, 9, 2);       /* 802.1Q, src higher */
    craft6(0, 6, false, 0x02, tcp_opts_all, sizeof(tcp_opts_all), 40000, 80, 0, 0, 1, 2);
    craft6(0, 6, false, 0x18, NULL, 0, 40000, 80, 200, 0, 3, 2);
    craft6(1, 6, false, 0x10, tcp_opts_sack, sizeof(tcp_opts_sack), 40000, 22, 40, 0, 2, 3);
    craft6(0, 6, false, 0x10, NULL, 0, 40000, 80, 10, 0, 5, 5);      /* same address: by port */
    craft6(0, 17, false, 0, NULL, 0, 5353, 60000, 10, 0, 5, 5);
    craft6(0, 6, false, 0x11, NULL, 0, 80, 40000, 0, 0, 2, 1);       /* FIN ACK */
    /* ... and declined: extension header, QinQ, SYN+FIN, VXLAN port, ICMPv6, bad options */
    craft6(0, 17, true, 0, NULL, 0, 5353, 53, 10, 0, 1, 2);
    craft6(2, 17, false, 0, NULL, 0, 5353, 53, 10, 0, 1, 2);
    craft6(0, 6, false, 0x03, NULL, 0, 40000, 80, 0, 0, 1, 2);
    craft6(0, 17, false, 0, NULL, 0, 5353, 4789, 30, 0, 1, 2);
    craft6(0, 58, false, 0, NULL, 0, 0, 0, 8, 0, 1, 2);
    craft6(0, 6, false, 0x02, tcp_opts_bad, sizeof(tcp_opts_bad), 40000, 80, 0, 0, 1, 2);
    /* IPv4 endpoint orders: lower address first, same address with either port order */
    craft_addrs(17, B4, A4, 5353, 53);
    craft_addrs(6, A4, A4, 40000, 80);
    craft_addrs(17, A4, A4, 53, 5353);
}

static void test_crafted(void **state)
{
    (void)state;
    craft_all();
    for (int ck = 0; ck < 2; ck++) {
        struct cmp c;
        cmp_init(&c, ck == 1);
        uint64_t ts = 1000;
        for (unsigned i = 0; i < n_base; i++) {
            const struct pb *p = &base[i];
            cmp_buf(&c, p->b, p->n, p->n, DP_LINK_ETHERNET, ts++);
            /* cut by the snaplen, wire shorter than the capture, other link types */
            cmp_buf(&c, p->b, p->n > 40 ? p->n - 7 : p->n, p->n, DP_LINK_ETHERNET, ts++);
            cmp_buf(&c, p->b, p->n, p->n > 60 ? p->n - 20 : p->n, DP_LINK_ETHERNET, ts++);
            cmp_buf(&c, p->b, p->n, p->n + 100, DP_LINK_ETHERNET, ts++);
            cmp_buf(&c, p->b + 14, p->n - 14, p->n - 14, DP_LINK_RAW, ts++);
            for (uint32_t cut = 0; cut < p->n && cut < 80; cut++)
                cmp_buf(&c, p->b, cut, cut, DP_LINK_ETHERNET, ts++);
        }
        if (ck == 0) {
            /* 10 IPv4 crafted packets are of the common case: each whole and with a wire length
             * below the capture (or equal, at 60 bytes or less): 20; the capture cut inside their
             * Ethernet padding: 18 + 6 + 6 more. 9 IPv6 and 3 more IPv4 ones: 24, and 6 cuts in
             * the padded IPv6 one's padding. */
            assert_int_equal(c.taken, 50 + 2 * N_NEW_COMMON + 6);
        } else {
            assert_int_equal(c.taken, 0); /* checksums on: always the full decoder */
        }
        assert_true(c.declined > 1000);
        cmp_fini(&c);
    }
}

/* The flow key the decoder builds (pkt_meta.flow_key / flow_hash / flow_src_side): both
 * directions of a flow give the same key and hash and opposite sides, the key's endpoints are in
 * (address, port) order, VLAN, protocol and version are in it, and the fast path and the full
 * decoder agree (also held bit for bit by cmp_packet). */
static void key_of(struct decoder *d, const struct pb *p, bool fast, struct pkt_meta *m)
{
    struct dp_packet pkt = {.data = p->b, .caplen = p->n, .wirelen = p->n, .ts_ns = 1, .linktype = DP_LINK_ETHERNET};
    if (fast)
        assert_true(decode_packet_fast(d, &pkt, m));
    else
        assert_int_equal(decode_packet_full(d, &pkt, m), DECODE_OK);
    assert_int_not_equal(m->flow_hash, 0);
}

static void test_flow_key(void **state)
{
    (void)state;
    struct decoder_config cfg;
    decoder_config_default(&cfg);
    struct decoder *d = decoder_new(&cfg);
    assert_non_null(d);
    struct {
        unsigned v6, vlan;
        uint8_t proto;
        uint16_t sp, dp;
        uint8_t s, t; /* IPv6 last address bytes; IPv4: 0 A4, 1 B4 */
    } cases[] = {
        {1, 0, 17, 5353, 53, 1, 2}, {1, 1, 6, 40000, 80, 9, 2}, {1, 0, 6, 40000, 80, 5, 5},
        {1, 0, 17, 53, 60000, 5, 5}, {0, 0, 17, 5353, 53, 0, 1}, {0, 0, 6, 40000, 80, 1, 1},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n_base = 0;
        const struct pb *fw, *bw;
        if (cases[i].v6) {
            fw = craft6(cases[i].vlan, cases[i].proto, false, 0x10, NULL, 0, cases[i].sp, cases[i].dp, 4, 0,
                        cases[i].s, cases[i].t);
            bw = craft6(cases[i].vlan, cases[i].proto, false, 0x10, NULL, 0, cases[i].dp, cases[i].sp, 4, 0,
                        cases[i].t, cases[i].s);
        } else {
            uint32_t a = cases[i].s ? B4 : A4, b = cases[i].t ? B4 : A4;
            fw = craft_addrs(cases[i].proto, a, b, cases[i].sp, cases[i].dp);
            bw = craft_addrs(cases[i].proto, b, a, cases[i].dp, cases[i].sp);
        }
        for (int fast = 0; fast < 2; fast++) {
            struct pkt_meta m1, m2;
            key_of(d, fw, fast, &m1);
            key_of(d, bw, fast, &m2);
            assert_memory_equal(&m1.flow_key, &m2.flow_key, sizeof(m1.flow_key));
            assert_int_equal(m1.flow_hash, m2.flow_hash);
            bool same = cases[i].s == cases[i].t && cases[i].sp == cases[i].dp;
            if (!same)
                assert_int_equal(m1.flow_src_side, !m2.flow_src_side);
            const struct flow_key *k = &m1.flow_key;
            int c = memcmp(k->addr[0], k->addr[1], 16);
            assert_true(c < 0 || (c == 0 && k->port[0] <= k->port[1]));
            /* the sender's endpoint is the side it names */
            assert_memory_equal(k->addr[m1.flow_src_side], m1.src, 16);
            assert_int_equal(k->port[m1.flow_src_side], m1.sport);
            assert_int_equal(k->port[!m1.flow_src_side], m1.dport);
            assert_int_equal(k->vlan[0], cases[i].vlan ? 42 : 0);
            assert_int_equal(k->proto, cases[i].proto);
            assert_int_equal(k->ip_version, cases[i].v6 ? 6 : 4);
            /* another VLAN is another flow (another key; its hash too, here) */
            if (cases[i].v6 && cases[i].vlan == 0) {
                n_base = 2;
                const struct pb *tagged = craft6(1, cases[i].proto, false, 0x10, NULL, 0, cases[i].sp,
                                                 cases[i].dp, 4, 0, cases[i].s, cases[i].t);
                struct pkt_meta m3;
                key_of(d, tagged, fast, &m3);
                assert_memory_not_equal(&m1.flow_key, &m3.flow_key, sizeof(m1.flow_key));
                assert_int_not_equal(m1.flow_hash, m3.flow_hash);
            }
        }
    }
    decoder_free(d);
}

/* xorshift64*: deterministic mutations */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static void test_mutated(void **state)
{
    (void)state;
    craft_all();
    static const uint8_t interesting[] = {0x00, 0x01, 0x04, 0x05, 0x06, 0x08, 0x11, 0x12, 0x13, 0x14,
                                          0x20, 0x3f, 0x40, 0x45, 0x46, 0x4f, 0x50, 0x81, 0x88, 0xff};
    struct cmp c;
    cmp_init(&c, false);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    static uint8_t buf[2048];
    for (unsigned iter = 0; iter < 60000; iter++) {
        const struct pb *p = &base[iter % n_base];
        uint32_t n = p->n < sizeof(buf) ? p->n : (uint32_t)sizeof(buf);
        memcpy(buf, p->b, n);
        unsigned edits = 1 + (unsigned)(rng_next(&seed) % 3);
        for (unsigned e = 0; e < edits; e++) {
            uint64_t r = rng_next(&seed);
            uint32_t at = (uint32_t)(r % (n < 72 ? n : 72)); /* the headers */
            switch ((r >> 8) % 4) {
            case 0: buf[at] = (uint8_t)(r >> 16); break;
            case 1: buf[at] = interesting[(r >> 16) % sizeof(interesting)]; break;
            case 2: buf[at] = (uint8_t)(buf[at] + 1); break;
            default: buf[at] = (uint8_t)(buf[at] - 1); break;
            }
        }
        uint64_t r = rng_next(&seed);
        uint32_t caplen = n, wirelen = n;
        if (r % 8 == 0)
            caplen = (uint32_t)((r >> 8) % (n + 1));
        if ((r >> 4) % 8 == 0)
            wirelen = caplen + (uint32_t)((r >> 20) % 64);
        else if ((r >> 4) % 8 == 1)
            wirelen = caplen - (uint32_t)((r >> 20) % (caplen + 1));
        cmp_buf(&c, buf, caplen, wirelen, DP_LINK_ETHERNET, 1000 + iter);
    }
    /* both sides of the fast path's conditions were exercised many times */
    assert_true(c.taken > 5000);
    assert_true(c.declined > 5000);
    cmp_fini(&c);
}

/* ---- real captures ---- */

static void test_captures(void **state)
{
    (void)state;
    const char *dir = getenv("TRIPLINE_SHARED_DATA");
    static const char *files[] = {
        "throughput_mix.pcap",       "ndpi/1kxun.pcap",    "ndpi/quic.pcap",
        "ndpi/netflix.pcap",         "ndpi/6in4tunnel.pcap", "ndpi/synscan.pcap",
        "ndpi/fuzz-2006-06-26-2594.pcap", "ndpi/log4j-webapp-exploit.pcap",
        "suricata-verify/security-8510__defrag-af-confusion-spray-h8.pcap",
    };
    unsigned opened = 0;
    uint64_t taken = 0, declined = 0;
    for (unsigned i = 0; dir && i < sizeof(files) / sizeof(files[0]); i++) {
        char path[4096], err[PCAP_ERRBUF_SIZE];
        snprintf(path, sizeof(path), "%s/pcaps/%s", dir, files[i]);
        pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
        if (!pc)
            continue;
        opened++;
        struct cmp c;
        cmp_init(&c, false);
        struct pcap_pkthdr *h;
        const u_char *data;
        int lt = pcap_datalink(pc);
        while (pcap_next_ex(pc, &h, &data) == 1) {
            uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
            cmp_buf(&c, data, h->caplen, h->len, (uint16_t)lt, ts);
        }
        pcap_close(pc);
        taken += c.taken;
        declined += c.declined;
        cmp_fini(&c);
    }
    if (opened == 0)
        skip(); /* shared captures absent: the crafted and mutated tests still ran */
    print_message("captures: %u files, fast path %llu packets, full decoder %llu\n", opened,
                  (unsigned long long)taken, (unsigned long long)declined);
    assert_true(taken > 0);
    assert_true(declined > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crafted),
        cmocka_unit_test(test_mutated),
        cmocka_unit_test(test_flow_key),
        cmocka_unit_test(test_captures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
