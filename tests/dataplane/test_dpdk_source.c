/* DPDK source: bad configurations give a clear error naming the setting, and net_pcap replays
 * deliver exactly the packets (bytes, timestamps) that libpcap reads from the same files, with
 * one port, two ports, or two queues. EAL initialises once per process, so every case runs in
 * a child process. Runs without hugepages or PCI (--no-huge --no-pci --no-shconf). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_thash.h>

#include "dpdk_source.h"
#include "pcap_source.h"

struct result {
    int rc;          /* 0 or -errno from dp_dpdk_open / the run */
    char err[600];
    uint64_t packets, bytes, digest;
    uint64_t queue_packets[4];
    uint64_t ipackets, ierrors, imissed, rx_nombuf;
};

static const char *data_dir(void)
{
    const char *d = getenv("TRIPLINE_SHARED_DATA");
    return d ? d : TRIPLINE_SHARED_DATA_FALLBACK;
}

static uint64_t pkt_digest(const struct dp_packet *p)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < p->caplen; i++)
        h = (h ^ p->data[i]) * 1099511628211ull;
    h = (h ^ p->wirelen) * 1099511628211ull;
    h = (h ^ p->ts_ns) * 1099511628211ull;
    return h;
}

/* What libpcap reads from the files: the reference. */
static void reference(const char *const *files, unsigned n, struct result *r)
{
    memset(r, 0, sizeof(*r));
    for (unsigned f = 0; f < n; f++) {
        char err[256];
        struct dp_pcap *pc = dp_pcap_open_file(files[f], err, sizeof(err));
        struct dp_packet p;
        assert_non_null(pc);
        while (dp_pcap_next(pc, &p) == 1) {
            r->packets++;
            r->bytes += p.wirelen;
            r->digest += pkt_digest(&p);
        }
        dp_pcap_close(pc);
    }
}

/* Runs dp_dpdk_open (and with drain, receives until every queue ends) in a child process. */
static void run_child(const struct dp_dpdk_config *cfg, bool drain, struct result *out)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct result r;
        memset(&r, 0, sizeof(r));
        close(fds[0]);
        int e = 0;
        struct dp_dpdk *s = dp_dpdk_open(cfg, &e, r.err, sizeof(r.err));
        r.rc = s ? 0 : e;
        if (s && drain) {
            struct dp_packet pkts[64];
            unsigned nq = dp_dpdk_queue_count(s), ended = 0;
            bool gone[4] = {false};
            while (ended < nq) {
                for (unsigned q = 0; q < nq; q++) {
                    if (gone[q])
                        continue;
                    void *h = dp_dpdk_queue_handle(s, q);
                    int n = dp_dpdk_handle_rx(h, pkts, 64);
                    if (n < 0) {
                        gone[q] = true;
                        ended++;
                        continue;
                    }
                    for (int i = 0; i < n; i++) {
                        r.packets++;
                        r.bytes += pkts[i].wirelen;
                        r.digest += pkt_digest(&pkts[i]);
                        if (pkts[i].queue != q)
                            r.rc = -EPROTO;
                    }
                    r.queue_packets[q < 4 ? q : 3] += (uint64_t)n;
                    dp_dpdk_handle_release(h, pkts, (unsigned)n);
                }
            }
            for (unsigned i = 0; i < dp_dpdk_port_count(s); i++) {
                struct dp_dpdk_port_stats ps;
                if (dp_dpdk_port_stats(s, i, &ps) == 0) {
                    r.ipackets += ps.ipackets;
                    r.ierrors += ps.ierrors;
                    r.imissed += ps.imissed;
                    r.rx_nombuf += ps.rx_nombuf;
                }
            }
        }
        dp_dpdk_close(s);
        ssize_t w = write(fds[1], &r, sizeof(r));
        _exit(w == (ssize_t)sizeof(r) ? 0 : 1);
    }
    close(fds[1]);
    memset(out, 0, sizeof(*out));
    size_t got = 0;
    while (got < sizeof(*out)) {
        ssize_t n = read(fds[0], (char *)out + got, sizeof(*out) - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_int_equal(got, sizeof(*out));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static char eal_buf[4096];

static const char *eal(const char *vdevs)
{
    snprintf(eal_buf, sizeof(eal_buf),
             "--no-huge --no-pci -m 512 --no-shconf --no-telemetry --file-prefix tl_test_dpdk_%d "
             "-l 0 --log-level=*:error %s",
             (int)getpid(), vdevs);
    return eal_buf;
}

static void cfg_for(struct dp_dpdk_config *c, const char *vdevs, unsigned queues)
{
    dp_dpdk_config_default(c);
    c->eal_args = eal(vdevs);
    c->queues = queues;
    c->rx_desc = 256;
    c->mbuf_cache = 32;
}

static void test_no_ports(void **state)
{
    (void)state;
    struct dp_dpdk_config c;
    struct result r;
    cfg_for(&c, "", 1);
    run_child(&c, false, &r);
    assert_int_equal(r.rc, -ENODEV);
    assert_non_null(strstr(r.err, "no ports"));
    assert_non_null(strstr(r.err, "--vdev"));
}

static void test_unknown_vdev(void **state)
{
    (void)state;
    struct dp_dpdk_config c;
    struct result r;
    cfg_for(&c, "--vdev=net_nosuchdriver0", 1);
    run_child(&c, false, &r);
    assert_true(r.rc < 0);
    assert_non_null(strstr(r.err, "EAL initialisation failed"));
    assert_non_null(strstr(r.err, "net_nosuchdriver0"));
    assert_non_null(strstr(r.err, "--vdev"));
}

static void test_too_few_mbufs(void **state)
{
    (void)state;
    struct dp_dpdk_config c;
    struct result r;
    cfg_for(&c, "--vdev=net_null0", 1);
    c.mbufs = 64;
    run_child(&c, false, &r);
    assert_int_equal(r.rc, -EINVAL);
    assert_non_null(strstr(r.err, "mbufs 64 is too few"));
}

static void test_queues_above_max(void **state)
{
    (void)state;
    char v[1024];
    struct dp_dpdk_config c;
    struct result r;
    snprintf(v, sizeof(v), "--vdev=net_pcap0,rx_pcap=%s/pcaps/ndpi/ssh.pcap", data_dir());
    cfg_for(&c, v, 2);
    run_child(&c, false, &r);
    assert_int_equal(r.rc, -EINVAL);
    assert_non_null(strstr(r.err, "--queues 2 is above the maximum of port net_pcap0"));
}

static void test_unknown_port(void **state)
{
    (void)state;
    struct dp_dpdk_config c;
    struct result r;
    cfg_for(&c, "--vdev=net_null0", 1);
    c.ports = "net_null7";
    run_child(&c, false, &r);
    assert_int_equal(r.rc, -ENODEV);
    assert_non_null(strstr(r.err, "--ports: no port named 'net_null7'"));
    c.ports = "5";
    run_child(&c, false, &r);
    assert_int_equal(r.rc, -ENODEV);
    assert_non_null(strstr(r.err, "--ports: no port 5"));
}

static void check_replay(const char *vdevs, unsigned queues, const char *const *files, unsigned n)
{
    struct dp_dpdk_config c;
    struct result ref, got;
    reference(files, n, &ref);
    assert_true(ref.packets > 0);
    cfg_for(&c, vdevs, queues);
    run_child(&c, true, &got);
    if (got.rc)
        fprintf(stderr, "dpdk: %s\n", got.err);
    assert_int_equal(got.rc, 0);
    assert_int_equal(got.packets, ref.packets);
    assert_int_equal(got.bytes, ref.bytes);
    assert_int_equal(got.digest, ref.digest); /* same bytes and the capture's timestamps */
    assert_int_equal(got.ipackets, ref.packets);
    assert_int_equal(got.ierrors + got.imissed + got.rx_nombuf, 0);
}

/* 1kxun.pcap holds GRO frames up to 37 KB: they arrive chained over many mbufs. */
static void test_replay_one_port(void **state)
{
    (void)state;
    char f[512], v[1024];
    snprintf(f, sizeof(f), "%s/pcaps/ndpi/1kxun.pcap", data_dir());
    snprintf(v, sizeof(v), "--vdev=net_pcap0,rx_pcap=%s", f);
    const char *files[] = {f};
    check_replay(v, 1, files, 1);
}

static void test_replay_two_ports(void **state)
{
    (void)state;
    char a[512], b[512], v[1200];
    snprintf(a, sizeof(a), "%s/pcaps/ndpi/ssh.pcap", data_dir());
    snprintf(b, sizeof(b), "%s/pcaps/ndpi/http_ipv6.pcap", data_dir());
    snprintf(v, sizeof(v), "--vdev=net_pcap0,rx_pcap=%s --vdev=net_pcap1,rx_pcap=%s", a, b);
    const char *files[] = {a, b};
    check_replay(v, 1, files, 2);
}

static void test_replay_two_queues(void **state)
{
    (void)state;
    char a[512], b[512], v[1200];
    struct dp_dpdk_config c;
    struct result ref_a, ref_b, got;
    snprintf(a, sizeof(a), "%s/pcaps/ndpi/ftp.pcap", data_dir());
    snprintf(b, sizeof(b), "%s/pcaps/ndpi/WebattackSQLinj.pcap", data_dir());
    snprintf(v, sizeof(v), "--vdev=net_pcap0,rx_pcap=%s,rx_pcap=%s", a, b);
    const char *files[] = {a, b};
    check_replay(v, 2, files, 2);
    /* net_pcap feeds queue i from the i-th rx_pcap: each worker got exactly its file. */
    reference(files, 1, &ref_a);
    reference(files + 1, 1, &ref_b);
    cfg_for(&c, v, 2);
    run_child(&c, true, &got);
    assert_int_equal(got.queue_packets[0], ref_a.packets);
    assert_int_equal(got.queue_packets[1], ref_b.packets);
}

/* Both directions of a flow hash alike under the key (IPv4 and IPv6 tuples with ports), so
 * symmetric RSS sends them to one queue; a non-symmetric key (Microsoft's default) does not. */
static void test_rss_key_symmetric(void **state)
{
    (void)state;
    size_t len;
    const uint8_t *key = dp_dpdk_rss_key(&len);
    uint8_t be_key[64];
    uint32_t seed = 12345;
    assert_true(len >= 40 && len <= sizeof(be_key));
    rte_convert_rss_key((const uint32_t *)key, (uint32_t *)be_key, (int)len);
    for (int i = 0; i < 1000; i++) {
        uint32_t t[10], r[10];
        for (int k = 0; k < 10; k++) {
            seed = seed * 1103515245u + 12345u;
            t[k] = seed;
        }
        /* IPv4: src, dst, ports (sport << 16 | dport) */
        r[0] = t[1];
        r[1] = t[0];
        r[2] = (t[2] << 16) | (t[2] >> 16);
        assert_int_equal(rte_softrss_be(t, 3, be_key), rte_softrss_be(r, 3, be_key));
        /* IPv6: 4 words src, 4 words dst, ports */
        for (int k = 0; k < 4; k++) {
            r[k] = t[4 + k];
            r[4 + k] = t[k];
        }
        r[8] = (t[8] << 16) | (t[8] >> 16);
        assert_int_equal(rte_softrss_be(t, 9, be_key), rte_softrss_be(r, 9, be_key));
    }
    static const uint8_t ms_key[40] = {
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
        0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
        0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
    uint32_t t[3] = {0x0a000001, 0x0a000002, (1234u << 16) | 80u};
    uint32_t r[3] = {0x0a000002, 0x0a000001, (80u << 16) | 1234u};
    assert_int_not_equal(rte_softrss(t, 3, ms_key), rte_softrss(r, 3, ms_key));
    assert_int_equal(rte_softrss(t, 3, key), rte_softrss(r, 3, key));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rss_key_symmetric),
        cmocka_unit_test(test_no_ports),
        cmocka_unit_test(test_unknown_vdev),
        cmocka_unit_test(test_too_few_mbufs),
        cmocka_unit_test(test_queues_above_max),
        cmocka_unit_test(test_unknown_port),
        cmocka_unit_test(test_replay_one_port),
        cmocka_unit_test(test_replay_two_ports),
        cmocka_unit_test(test_replay_two_queues),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* EAL leaves its (empty) runtime folder behind even with --no-shconf */
    char dir[128];
    snprintf(dir, sizeof(dir), "/var/run/dpdk/tl_test_dpdk_%d", (int)getpid());
    rmdir(dir);
    return rc;
}
