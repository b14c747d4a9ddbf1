/* Decoder over real captures from the shared data (TRIPLINE_SHARED_DATA): benign traffic decodes
 * without a single invalid packet, tunnels and fragments are taken apart, and deliberately broken
 * captures produce their reasons instead of crashes. Skips (77) when the data is absent. */
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

struct tally {
    uint64_t pkts, ok, held, invalid, l4, tunneled, reassembled, reassembled_any, ipv6;
    struct decoder_stats st;
};

static const char *data_dir;

static int decode_file(const char *rel, struct tally *t)
{
    char path[4096], err[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof(path), "%s/pcaps/%s", data_dir, rel);
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    if (!p) {
        print_error("%s: %s\n", path, err);
        return -1;
    }
    struct decoder_config cfg;
    decoder_config_default(&cfg);
    struct decoder *d = decoder_new(&cfg);
    memset(t, 0, sizeof(*t));
    struct pcap_pkthdr *h;
    const u_char *data;
    int lt = pcap_datalink(p);
    while (pcap_next_ex(p, &h, &data) == 1) {
        struct dp_packet pkt = {
            .data = data, .caplen = h->caplen, .wirelen = h->len, .linktype = (uint16_t)lt,
            .ts_ns = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec,
        };
        struct pkt_meta m;
        enum decode_result r = decode_packet(d, &pkt, &m);
        t->pkts++;
        t->reassembled_any += (m.flags & PKT_REASSEMBLED) != 0;
        if (r == DECODE_OK) {
            t->ok++;
            t->l4 += (m.flags & PKT_HAS_L4) != 0;
            t->tunneled += (m.flags & PKT_TUNNELED) != 0;
            t->reassembled += (m.flags & PKT_REASSEMBLED) != 0;
            t->ipv6 += m.ip_version == 6;
        } else if (r == DECODE_HELD) {
            t->held++;
        } else {
            t->invalid++;
        }
    }
    decoder_expire(d, UINT64_MAX);
    t->st = *decoder_get_stats(d);
    decoder_free(d);
    pcap_close(p);
    return 0;
}

static void test_benign(void **state)
{
    (void)state;
    static const char *files[] = {
        "ndpi/1kxun.pcap", "ndpi/http_ipv6.pcap", "ndpi/quic.pcap", "ndpi/netflix.pcap",
        "ndpi/log4j-webapp-exploit.pcap", /* Linux SLL */
        "ndpi/malware.pcap",              /* pcapng */
        "suricata-verify/smb2-async-read__input.pcap",
    };
    for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct tally t;
        assert_int_equal(decode_file(files[i], &t), 0);
        assert_true(t.pkts > 0);
        if (t.invalid != 0)
            print_error("%s: %llu invalid\n", files[i], (unsigned long long)t.invalid);
        assert_int_equal(t.invalid, 0);
        assert_int_equal(t.ok, t.pkts);
        assert_int_equal(t.st.packets, t.pkts);
    }
}

static void test_6in4(void **state)
{
    (void)state;
    struct tally t;
    assert_int_equal(decode_file("ndpi/6in4tunnel.pcap", &t), 0);
    assert_int_equal(t.invalid, 0);
    /* every packet is IPv6 inside IPv4: the meta describes the inner packet */
    assert_int_equal(t.tunneled, t.pkts);
    assert_int_equal(t.ipv6, t.pkts);
    assert_int_equal(t.st.ipip, t.pkts);
    assert_int_equal(t.l4, t.pkts);
}

static void test_defrag_spray(void **state)
{
    (void)state;
    struct tally t;
    assert_int_equal(decode_file("suricata-verify/security-8510__defrag-af-confusion-spray-h8.pcap", &t), 0);
    /* IPv4 and IPv6 fragments sharing ids never mix: every held fragment is accounted for by a
     * completed datagram or a datagram still open at the end (then expired). */
    assert_int_equal(t.st.fragments, t.pkts);
    assert_true(t.reassembled > 0);
    assert_int_equal(t.st.reassembled, t.reassembled_any);
    /* half the datagrams rebuild to UDP headers whose length exceeds the datagram (as tshark
     * also reports): invalid after reassembly, never mixed across address families */
    assert_int_equal(t.st.reason[DEC_UDP_BAD_LEN], t.reassembled_any - t.reassembled);
    assert_int_equal(t.held + t.ok + t.invalid, t.pkts);
    assert_int_equal(t.st.reason[DEC_FRAG_OVERLAP], 0);
}

static void test_ipv6_ext_dos(void **state)
{
    (void)state;
    struct tally t;
    assert_int_equal(decode_file("suricata-verify/ipv6-evasion__ipv6-dos-with-ext-headers-6__denial6-6.pcap", &t), 0);
    /* tiny first fragments (M set, 14 bytes): RFC 8200 4.5 says discard; counted, never held */
    assert_true(t.st.reason[DEC_FRAG_BAD_LEN] > 0);
    assert_int_equal(t.st.reason[DEC_FRAG_BAD_LEN] + t.ok, t.pkts);
    assert_int_equal(t.held, 0);
}

static void test_fuzz_capture(void **state)
{
    (void)state;
    struct tally t;
    assert_int_equal(decode_file("ndpi/fuzz-2006-06-26-2594.pcap", &t), 0);
    assert_true(t.invalid > 0);
    assert_int_equal(t.st.invalid, t.invalid);
    uint64_t sum = 0;
    for (int r = 1; r < DEC_REASON_MAX; r++)
        if (r != DEC_FRAG_TIMEOUT && r != DEC_FRAG_OVERLAP && r != DEC_FRAG_TABLE_FULL &&
            r != DEC_PKT_TRUNCATED_SNAPLEN && r != DEC_TCP_BAD_FLAGS)
            sum += t.st.reason[r];
    assert_int_equal(sum, t.invalid); /* one reason per invalid packet */
}

int main(void)
{
    data_dir = getenv("TRIPLINE_SHARED_DATA");
    char probe[4096];
    snprintf(probe, sizeof(probe), "%s/pcaps/ndpi/6in4tunnel.pcap", data_dir ? data_dir : "");
    FILE *f = data_dir ? fopen(probe, "rb") : NULL;
    if (!f) {
        fprintf(stderr, "skip: shared captures not found (TRIPLINE_SHARED_DATA=%s)\n", data_dir ? data_dir : "");
        return 77;
    }
    fclose(f);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_benign),       cmocka_unit_test(test_6in4),
        cmocka_unit_test(test_defrag_spray), cmocka_unit_test(test_ipv6_ext_dos),
        cmocka_unit_test(test_fuzz_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
