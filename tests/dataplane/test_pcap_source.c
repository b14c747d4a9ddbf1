/* Unit tests for the libpcap capture source: files crafted byte by byte in a temporary
 * directory (classic pcap in both precisions, pcapng, every bad-input case) and memory sources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include <cmocka.h>

#include "pcap_source.h"

static char tmpdir[256];

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* Builds a classic pcap in buf: n records of len bytes each (caplen = min(len, snap)). */
static size_t build_pcap(uint8_t *buf, uint32_t magic, uint32_t linktype, unsigned n,
                         uint32_t len, uint32_t snap)
{
    size_t o = 0;
    put32(buf + o, magic); o += 4;
    put16(buf + o, 2); o += 2;
    put16(buf + o, 4); o += 2;
    put32(buf + o, 0); o += 4;
    put32(buf + o, 0); o += 4;
    put32(buf + o, snap); o += 4;
    put32(buf + o, linktype); o += 4;
    for (unsigned i = 0; i < n; i++) {
        uint32_t cap = len < snap ? len : snap;
        put32(buf + o, 1000 + i); o += 4;     /* seconds */
        put32(buf + o, 123 + i); o += 4;      /* usec or nsec */
        put32(buf + o, cap); o += 4;
        put32(buf + o, len); o += 4;
        memset(buf + o, (int)(0x40 + i), cap); o += cap;
    }
    return o;
}

static char *write_file(const char *name, const void *buf, size_t len)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    return path;
}

static int count_packets(struct dp_pcap *s, int *last_rc)
{
    struct dp_packet p;
    int n = 0, rc;
    while ((rc = dp_pcap_next(s, &p)) == 1)
        n++;
    *last_rc = rc;
    return n;
}

static void test_pcap_usec(void **state)
{
    (void)state;
    uint8_t buf[4096];
    char err[512] = "";
    size_t len = build_pcap(buf, 0xa1b2c3d4, 1, 3, 60, 65535);
    struct dp_pcap *s = dp_pcap_open_file(write_file("usec.pcap", buf, len), err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(dp_pcap_linktype(s), DP_LINK_ETHERNET);
    assert_int_equal(dp_pcap_size(s), len);
    struct dp_packet p;
    assert_int_equal(dp_pcap_next(s, &p), 1);
    assert_int_equal(p.caplen, 60);
    assert_int_equal(p.wirelen, 60);
    assert_int_equal(p.ts_ns, 1000ull * 1000000000ull + 123000ull); /* usec scaled to ns */
    assert_int_equal(p.data[0], 0x40);
    assert_int_equal(p.linktype, DP_LINK_ETHERNET);
    int rc;
    assert_int_equal(count_packets(s, &rc), 2);
    assert_int_equal(rc, 0);
    assert_string_equal(dp_pcap_error(s), "");
    struct dp_source_stats st;
    dp_pcap_stats(s, &st);
    assert_int_equal(st.packets, 3);
    assert_int_equal(st.bytes, 180);
    dp_pcap_close(s);
}

static void test_pcap_nsec_raw(void **state)
{
    (void)state;
    uint8_t buf[4096];
    char err[512] = "";
    size_t len = build_pcap(buf, 0xa1b23c4d, 101, 1, 40, 65535);
    struct dp_pcap *s = dp_pcap_open_file(write_file("nsec.pcap", buf, len), err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(dp_pcap_linktype(s), DP_LINK_RAW);
    struct dp_packet p;
    assert_int_equal(dp_pcap_next(s, &p), 1);
    assert_int_equal(p.ts_ns, 1000ull * 1000000000ull + 123ull);
    assert_int_equal(p.linktype, DP_LINK_RAW);
    dp_pcap_close(s);
}

static void test_linktypes(void **state)
{
    (void)state;
    static const int lts[] = {0, 1, 101, 108, 113, 228, 229, 276};
    for (size_t i = 0; i < sizeof(lts) / sizeof(lts[0]); i++) {
        uint8_t buf[256];
        char err[512] = "";
        size_t len = build_pcap(buf, 0xa1b2c3d4, (uint32_t)lts[i], 1, 40, 65535);
        struct dp_pcap *s = dp_pcap_open_memory(buf, len, err, sizeof(err));
        assert_non_null(s);
        assert_int_equal(dp_pcap_linktype(s), lts[i]);
        assert_true(dp_linktype_supported(lts[i]));
        dp_pcap_close(s);
    }
    uint8_t buf[256];
    char err[512] = "";
    size_t len = build_pcap(buf, 0xa1b2c3d4, 105 /* 802.11 */, 1, 40, 65535);
    assert_null(dp_pcap_open_memory(buf, len, err, sizeof(err)));
    assert_non_null(strstr(err, "unsupported link type"));
    assert_false(dp_linktype_supported(105));
}

static void test_pcapng(void **state)
{
    (void)state;
    uint8_t b[256];
    size_t o = 0;
    /* Section header block */
    put32(b + o, 0x0a0d0d0a); put32(b + o + 4, 28); put32(b + o + 8, 0x1a2b3c4d);
    put16(b + o + 12, 1); put16(b + o + 14, 0);
    memset(b + o + 16, 0xff, 8); put32(b + o + 24, 28); o += 28;
    /* Interface description block: Ethernet, snaplen 0, if_tsresol = 9 (ns) */
    put32(b + o, 1); put32(b + o + 4, 32); put16(b + o + 8, 1); put16(b + o + 10, 0);
    put32(b + o + 12, 0);
    put16(b + o + 16, 9); put16(b + o + 18, 1); b[o + 20] = 9; memset(b + o + 21, 0, 3);
    put16(b + o + 24, 0); put16(b + o + 26, 0); put32(b + o + 28, 32); o += 32;
    /* Enhanced packet block, 20 bytes of data */
    uint64_t ts = 1500000000123456789ull;
    put32(b + o, 6); put32(b + o + 4, 52); put32(b + o + 8, 0);
    put32(b + o + 12, (uint32_t)(ts >> 32)); put32(b + o + 16, (uint32_t)ts);
    put32(b + o + 20, 20); put32(b + o + 24, 20); memset(b + o + 28, 0xab, 20);
    put32(b + o + 48, 52); o += 52;
    char err[512] = "";
    struct dp_pcap *s = dp_pcap_open_file(write_file("ng.pcapng", b, o), err, sizeof(err));
    assert_non_null(s);
    struct dp_packet p;
    assert_int_equal(dp_pcap_next(s, &p), 1);
    assert_int_equal(p.caplen, 20);
    assert_int_equal(p.ts_ns, ts);
    assert_int_equal(dp_pcap_next(s, &p), 0);
    dp_pcap_close(s);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    char err[512];
    char path[512];

    snprintf(path, sizeof(path), "%s/missing.pcap", tmpdir);
    err[0] = 0;
    assert_null(dp_pcap_open_file(path, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));

    err[0] = 0;
    assert_null(dp_pcap_open_file(tmpdir, err, sizeof(err)));
    assert_non_null(strstr(err, tmpdir));
    assert_non_null(strstr(err, "directory"));

    err[0] = 0;
    char *p = write_file("empty.pcap", "", 0);
    assert_null(dp_pcap_open_file(p, err, sizeof(err)));
    assert_non_null(strstr(err, "empty.pcap"));
    assert_non_null(strstr(err, "empty"));

    err[0] = 0;
    p = write_file("magic.pcap", "GET / HTTP/1.0\r\n\r\nabcdefghijklmnop", 34);
    assert_null(dp_pcap_open_file(p, err, sizeof(err)));
    assert_non_null(strstr(err, "magic.pcap"));
    assert_non_null(strstr(err, "magic"));

    err[0] = 0;
    p = write_file("short.pcap", "\xd4\xc3", 2);
    assert_null(dp_pcap_open_file(p, err, sizeof(err)));
    assert_non_null(strstr(err, "too short"));

    /* right magic, header cut short */
    uint8_t buf[4096];
    build_pcap(buf, 0xa1b2c3d4, 1, 0, 0, 65535);
    err[0] = 0;
    p = write_file("hdr.pcap", buf, 10);
    assert_null(dp_pcap_open_file(p, err, sizeof(err)));
    assert_non_null(strstr(err, "hdr.pcap"));
}

static void test_truncated_record(void **state)
{
    (void)state;
    uint8_t buf[4096];
    char err[512] = "";
    size_t len = build_pcap(buf, 0xa1b2c3d4, 1, 3, 100, 65535);
    struct dp_pcap *s = dp_pcap_open_file(write_file("trunc.pcap", buf, len - 30), err, sizeof(err));
    assert_non_null(s);
    int rc;
    assert_int_equal(count_packets(s, &rc), 2);
    assert_int_equal(rc, -EIO);
    assert_non_null(strstr(dp_pcap_error(s), "trunc.pcap"));
    assert_non_null(strstr(dp_pcap_error(s), "truncated record after 2 packets"));
    dp_pcap_close(s);

    /* a record header cut in the middle */
    s = dp_pcap_open_file(write_file("trunc2.pcap", buf, 24 + 116 + 7), err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(count_packets(s, &rc), 1);
    assert_int_equal(rc, -EIO);
    assert_non_null(strstr(dp_pcap_error(s), "truncated record after 1 packets"));
    dp_pcap_close(s);
}

static void test_snaplen_cut(void **state)
{
    (void)state;
    uint8_t buf[4096];
    char err[512] = "";
    size_t len = build_pcap(buf, 0xa1b2c3d4, 1, 4, 200, 64);
    struct dp_pcap *s = dp_pcap_open_memory(buf, len, err, sizeof(err));
    assert_non_null(s);
    struct dp_packet p;
    assert_int_equal(dp_pcap_next(s, &p), 1);
    assert_int_equal(p.caplen, 64);
    assert_int_equal(p.wirelen, 200);
    int rc;
    assert_int_equal(count_packets(s, &rc), 3);
    assert_int_equal(rc, 0);
    assert_int_equal(dp_pcap_snaplen_cut(s), 4);
    struct dp_source_stats st;
    dp_pcap_stats(s, &st);
    assert_int_equal(st.bytes, 800);
    dp_pcap_close(s);
}

static void test_memory_garbage(void **state)
{
    (void)state;
    char err[512] = "";
    assert_null(dp_pcap_open_memory("ab", 2, err, sizeof(err)));
    uint8_t junk[64];
    memset(junk, 0x5a, sizeof(junk));
    assert_null(dp_pcap_open_memory(junk, sizeof(junk), err, sizeof(err)));
    dp_pcap_close(NULL);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tripline-dp-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcap_usec),
        cmocka_unit_test(test_pcap_nsec_raw),
        cmocka_unit_test(test_linktypes),
        cmocka_unit_test(test_pcapng),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_truncated_record),
        cmocka_unit_test(test_snaplen_cut),
        cmocka_unit_test(test_memory_garbage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
