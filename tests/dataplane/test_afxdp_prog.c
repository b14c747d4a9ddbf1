/* The XDP program itself, run on crafted frames through BPF_PROG_TEST_RUN (no interface):
 * protocol counters, VLAN and IPv6 extension headers, fragments, truncated and malformed
 * headers counted as parse failures (never a drop), the bypass map matched in both directions
 * with per-flow counters, and random bytes. Needs root (loading BPF): exits 77 otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <cmocka.h>

#include "tripline_xdp.h"
#include "tripline_xdp.skel.h"

static struct tripline_xdp_bpf *g_skel;
static int g_ncpu;

static int run(const uint8_t *frame, size_t len)
{
    uint8_t out[2048];
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (uint32_t)len,
                .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
    int rc = bpf_prog_test_run_opts(bpf_program__fd(g_skel->progs.tripline_xdp), &o);
    assert_int_equal(rc, 0);
    return (int)o.retval;
}

static struct tl_xdp_counters counters(void)
{
    struct tl_xdp_counters sum, *v = calloc((size_t)g_ncpu, sizeof(*v));
    uint32_t key = 0;
    memset(&sum, 0, sizeof(sum));
    assert_non_null(v);
    assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(g_skel->maps.tl_counters), &key, v), 0);
    for (int c = 0; c < g_ncpu; c++) {
        const uint64_t *a = (const uint64_t *)&v[c];
        uint64_t *s = (uint64_t *)&sum;
        for (size_t k = 0; k < sizeof(sum) / 8; k++)
            s[k] += a[k];
    }
    free(v);
    return sum;
}

static void reset(void)
{
    struct tl_xdp_counters *v = calloc((size_t)g_ncpu, sizeof(*v));
    uint32_t key = 0;
    assert_int_equal(bpf_map_update_elem(bpf_map__fd(g_skel->maps.tl_counters), &key, v, 0), 0);
    free(v);
}

/* Builds Ethernet [+ VLAN tags] + IPv4 + TCP/UDP; returns the length. */
static size_t ipv4_frame(uint8_t *f, int vlans, uint8_t proto, const char *src, const char *dst,
                         uint16_t sport, uint16_t dport, uint16_t frag)
{
    size_t o = 12;
    memset(f, 0, 128);
    for (int i = 0; i < vlans; i++) {
        f[o] = i == 0 && vlans == 2 ? 0x88 : 0x81;
        f[o + 1] = i == 0 && vlans == 2 ? 0xa8 : 0x00;
        f[o + 3] = 10; /* VID */
        o += 4;
    }
    f[o] = 0x08;
    f[o + 1] = 0x00;
    o += 2;
    uint8_t *ip = f + o;
    ip[0] = 0x45;
    ip[3] = 40;
    ip[6] = (uint8_t)(frag >> 8);
    ip[7] = (uint8_t)frag;
    ip[8] = 64;
    ip[9] = proto;
    inet_pton(AF_INET, src, ip + 12);
    inet_pton(AF_INET, dst, ip + 16);
    uint8_t *l4 = ip + 20;
    l4[0] = (uint8_t)(sport >> 8);
    l4[1] = (uint8_t)sport;
    l4[2] = (uint8_t)(dport >> 8);
    l4[3] = (uint8_t)dport;
    if (proto == 6)
        l4[12] = 0x50;
    return o + 20 + (proto == 6 ? 20 : 8);
}

static size_t ipv6_frame(uint8_t *f, bool hopopts, uint8_t proto, const char *src, const char *dst,
                         uint16_t sport, uint16_t dport)
{
    memset(f, 0, 160);
    f[12] = 0x86;
    f[13] = 0xdd;
    uint8_t *ip = f + 14;
    ip[0] = 0x60;
    ip[6] = hopopts ? 0 : proto;
    ip[7] = 64;
    inet_pton(AF_INET6, src, ip + 8);
    inet_pton(AF_INET6, dst, ip + 24);
    uint8_t *l4 = ip + 40;
    if (hopopts) {
        l4[0] = proto; /* next header */
        l4[1] = 0;     /* 8 bytes */
        l4 += 8;
    }
    l4[0] = (uint8_t)(sport >> 8);
    l4[1] = (uint8_t)sport;
    l4[2] = (uint8_t)(dport >> 8);
    l4[3] = (uint8_t)dport;
    return (size_t)(l4 - f) + 20;
}

static void bypass_add(uint8_t ver, uint8_t proto, const char *src, uint16_t sport,
                       const char *dst, uint16_t dport)
{
    uint32_t s[4] = {0}, d[4] = {0};
    struct tl_flow_key key;
    struct tl_flow_counters *v = calloc((size_t)g_ncpu, sizeof(*v));
    inet_pton(ver == 4 ? AF_INET : AF_INET6, src, s);
    inet_pton(ver == 4 ? AF_INET : AF_INET6, dst, d);
    tl_flow_key_set(&key, ver, proto, s, htons(sport), d, htons(dport));
    assert_int_equal(bpf_map_update_elem(bpf_map__fd(g_skel->maps.tl_bypass), &key, v, 0), 0);
    free(v);
}

static uint64_t bypass_packets(uint8_t ver, uint8_t proto, const char *src, uint16_t sport,
                               const char *dst, uint16_t dport, uint64_t *bytes)
{
    uint32_t s[4] = {0}, d[4] = {0};
    struct tl_flow_key key;
    struct tl_flow_counters *v = calloc((size_t)g_ncpu, sizeof(*v));
    uint64_t n = 0;
    inet_pton(ver == 4 ? AF_INET : AF_INET6, src, s);
    inet_pton(ver == 4 ? AF_INET : AF_INET6, dst, d);
    tl_flow_key_set(&key, ver, proto, s, htons(sport), d, htons(dport));
    *bytes = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(g_skel->maps.tl_bypass), &key, v) == 0) {
        for (int c = 0; c < g_ncpu; c++) {
            n += v[c].packets;
            *bytes += v[c].bytes;
        }
    }
    free(v);
    return n;
}

static void test_protocols(void **state)
{
    (void)state;
    uint8_t f[256];
    reset();
    assert_int_equal(run(f, ipv4_frame(f, 0, 6, "10.0.0.1", "10.0.0.2", 1234, 80, 0)), XDP_PASS);
    run(f, ipv4_frame(f, 1, 17, "10.0.0.1", "10.0.0.2", 53, 53, 0));
    run(f, ipv4_frame(f, 2, 17, "10.0.0.1", "10.0.0.2", 53, 53, 0));
    run(f, ipv4_frame(f, 0, 1, "10.0.0.1", "10.0.0.2", 0, 0, 0));
    run(f, ipv4_frame(f, 0, 47, "10.0.0.1", "10.0.0.2", 0, 0, 0)); /* GRE */
    run(f, ipv6_frame(f, false, 6, "2001:db8::1", "2001:db8::2", 4000, 443));
    run(f, ipv6_frame(f, true, 17, "2001:db8::1", "2001:db8::2", 4000, 443));
    memset(f, 0, 64);
    f[12] = 0x08;
    f[13] = 0x06; /* ARP */
    run(f, 60);
    struct tl_xdp_counters c = counters();
    assert_int_equal(c.packets, 8);
    assert_int_equal(c.ipv4, 5);
    assert_int_equal(c.ipv6, 2);
    assert_int_equal(c.tcp, 2);
    assert_int_equal(c.udp, 3);
    assert_int_equal(c.icmp, 1);
    assert_int_equal(c.other_l4, 1);
    assert_int_equal(c.non_ip, 1);
    assert_int_equal(c.vlan, 2);
    assert_int_equal(c.parse_failed, 0);
    assert_int_equal(c.no_socket, 8); /* no AF_XDP socket in a test run: passed, counted */
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t f[256];
    reset();
    size_t n = ipv4_frame(f, 0, 6, "10.0.0.1", "10.0.0.2", 1234, 80, 0);
    assert_int_equal(run(f, 14 + 10), XDP_PASS); /* IPv4 header cut */
    run(f, 14 + 20 + 10);                        /* TCP header cut */
    f[14] = 0x44;                                /* IHL 4 < 5 */
    run(f, n);
    f[14] = 0x4f; /* IHL 15: 60 bytes, past the end of a 54-byte frame */
    run(f, 14 + 20 + 8);
    f[14] = 0x65; /* version 6 in an IPv4 ethertype */
    run(f, n);
    n = ipv6_frame(f, true, 6, "2001:db8::1", "2001:db8::2", 1, 2);
    run(f, 14 + 40 + 1); /* extension header cut */
    f[14 + 40 + 1] = 200; /* extension header claims 1608 bytes */
    run(f, n);
    ipv4_frame(f, 2, 6, "10.0.0.1", "10.0.0.2", 1234, 80, 0);
    run(f, 14 + 2); /* VLAN tag cut */
    struct tl_xdp_counters c = counters();
    assert_int_equal(c.packets, 8);
    assert_int_equal(c.parse_failed, 8);
    assert_int_equal(c.no_socket, 8); /* never dropped */
}

static void test_fragments_not_bypassed(void **state)
{
    (void)state;
    uint8_t f[256];
    reset();
    bypass_add(4, 17, "10.1.1.1", 5000, "10.1.1.2", 6000);
    run(f, ipv4_frame(f, 0, 17, "10.1.1.1", "10.1.1.2", 5000, 6000, 0x2000)); /* MF */
    run(f, ipv4_frame(f, 0, 17, "10.1.1.1", "10.1.1.2", 5000, 6000, 0x0010)); /* offset */
    struct tl_xdp_counters c = counters();
    assert_int_equal(c.fragments, 2);
    assert_int_equal(c.bypassed_packets, 0);
    assert_int_equal(c.udp, 0);
}

static void test_bypass_both_directions(void **state)
{
    (void)state;
    uint8_t f[256];
    uint64_t bytes;
    reset();
    /* entry made from the server's side; packets come both ways */
    bypass_add(4, 6, "192.0.2.80", 443, "198.51.100.7", 40000);
    size_t a = ipv4_frame(f, 0, 6, "198.51.100.7", "192.0.2.80", 40000, 443, 0);
    assert_int_equal(run(f, a), XDP_PASS);
    size_t b = ipv4_frame(f, 1, 6, "192.0.2.80", "198.51.100.7", 443, 40000, 0);
    run(f, b);
    run(f, ipv4_frame(f, 0, 6, "192.0.2.80", "198.51.100.7", 443, 40001, 0)); /* other flow */
    bypass_add(6, 17, "2001:db8::9", 53, "2001:db8::1", 3333);
    size_t c6 = ipv6_frame(f, true, 17, "2001:db8::1", "2001:db8::9", 3333, 53);
    run(f, c6);
    /* SCTP is keyed on its ports, as the flow table keys it */
    bypass_add(4, 132, "10.9.9.1", 2905, "10.9.9.2", 2906);
    size_t sc = ipv4_frame(f, 0, 132, "10.9.9.2", "10.9.9.1", 2906, 2905, 0);
    run(f, sc);
    run(f, ipv4_frame(f, 0, 132, "10.9.9.2", "10.9.9.1", 2907, 2905, 0)); /* other association */
    struct tl_xdp_counters c = counters();
    assert_int_equal(c.bypassed_packets, 4);
    assert_int_equal(c.bypassed_bytes, a + b + c6 + sc);
    assert_int_equal(c.no_socket, 2);
    assert_int_equal(bypass_packets(4, 6, "198.51.100.7", 40000, "192.0.2.80", 443, &bytes), 2);
    assert_int_equal(bytes, a + b);
    assert_int_equal(bypass_packets(6, 17, "2001:db8::1", 3333, "2001:db8::9", 53, &bytes), 1);
    assert_int_equal(bytes, c6);
}

/* Per-direction counts of a bypassed flow: packets_lo/bytes_lo are those the key's lower
 * endpoint sent, so user space can give the EVE flow record its to-server/to-client split. */
static void test_bypass_direction(void **state)
{
    (void)state;
    uint8_t f[256];
    reset();
    bypass_add(4, 6, "192.0.2.80", 443, "198.51.100.7", 40000);
    size_t up = ipv4_frame(f, 0, 6, "198.51.100.7", "192.0.2.80", 40000, 443, 0);
    run(f, up);
    run(f, up);
    run(f, up);
    size_t down = ipv4_frame(f, 0, 6, "192.0.2.80", "198.51.100.7", 443, 40000, 0);
    run(f, down);
    uint32_t cl[4] = {0}, sv[4] = {0};
    inet_pton(AF_INET, "198.51.100.7", cl);
    inet_pton(AF_INET, "192.0.2.80", sv);
    struct tl_flow_key key;
    int client_hi = tl_flow_key_set(&key, 4, 6, cl, htons(40000), sv, htons(443));
    struct tl_flow_key key2;
    assert_int_equal(tl_flow_key_set(&key2, 4, 6, sv, htons(443), cl, htons(40000)), !client_hi);
    assert_memory_equal(&key, &key2, sizeof(key));
    struct tl_flow_counters *v = calloc((size_t)g_ncpu, sizeof(*v));
    assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(g_skel->maps.tl_bypass), &key, v), 0);
    uint64_t pk = 0, by = 0, pk_lo = 0, by_lo = 0;
    for (int c = 0; c < g_ncpu; c++) {
        pk += v[c].packets;
        by += v[c].bytes;
        pk_lo += v[c].packets_lo;
        by_lo += v[c].bytes_lo;
    }
    free(v);
    assert_int_equal(pk, 4);
    assert_int_equal(by, 3 * up + down);
    assert_int_equal(pk_lo, client_hi ? 1 : 3);
    assert_int_equal(by_lo, client_hi ? down : 3 * up);
}

static void test_random_bytes(void **state)
{
    (void)state;
    uint8_t f[512];
    uint32_t seed = 7;
    reset();
    for (int i = 0; i < 3000; i++) {
        size_t len = 14 + (size_t)(seed % 300);
        for (size_t k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            f[k] = (uint8_t)(seed >> 16);
        }
        if (i % 3 == 0) { /* steer a third into the IPv4/IPv6 parsers */
            f[12] = i % 2 ? 0x86 : 0x08;
            f[13] = i % 2 ? 0xdd : 0x00;
            f[14] = (uint8_t)(i % 2 ? 0x60 : 0x40 | (f[14] & 15));
        }
        int act = run(f, len);
        assert_true(act == XDP_PASS || act == XDP_REDIRECT);
    }
    struct tl_xdp_counters c = counters();
    assert_int_equal(c.packets, 3000);
    assert_int_equal(c.redirected + c.no_socket + c.bypassed_packets, 3000);
    assert_true(c.parse_failed > 0);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("SKIP: loading BPF needs root\n");
        return 77;
    }
    libbpf_set_print(NULL);
    g_skel = tripline_xdp_bpf__open_and_load();
    if (!g_skel) {
        printf("SKIP: the kernel refuses to load the XDP program here: %s\n", strerror(errno));
        return 77;
    }
    g_ncpu = libbpf_num_possible_cpus();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocols),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_fragments_not_bypassed),
        cmocka_unit_test(test_bypass_both_directions),
        cmocka_unit_test(test_bypass_direction),
        cmocka_unit_test(test_random_bytes),
    };
    int rc = cmocka_run_group_tests_name("afxdp_prog", tests, NULL, NULL);
    tripline_xdp_bpf__destroy(g_skel);
    return rc;
}
