/* DPDK receiver used by tests/netns/dpdk_af_packet_veth.sh: opens the DPDK source with the
 * given EAL arguments, receives until SIGTERM, then (with --expect-file) drains until the
 * number of frames written to that file has been received or counted as dropped (5 s at most),
 * and prints key=value counters, including a digest of the frames received.
 *   test_dpdk_rx "EAL ARGS" [--queues N] [--ready FILE] [--expect-file FILE]
 *   test_dpdk_rx --digest-pcap FILE MAX_FRAME   the same counters for the frames of FILE that
 *                                               fit on the wire (length <= MAX_FRAME)
 *   test_dpdk_rx --split-pcap IN OUT_A OUT_B    writes IN's packets into two files by a
 *                                               symmetric hash of their addresses and ports (both
 *                                               directions of a flow in one file; non-IP in A)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcap.h>

#include "dpdk_source.h"
#include "pcap_source.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void log_stderr(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "%s\n", msg);
}

static uint64_t frame_digest(const struct dp_packet *p)
{
    uint64_t d = 1469598103934665603ull;
    for (uint32_t k = 0; k < p->caplen; k++)
        d = (d ^ p->data[k]) * 1099511628211ull;
    return d;
}

static int digest_pcap(const char *path, uint32_t max_frame)
{
    char err[256];
    struct dp_pcap *pc = dp_pcap_open_file(path, err, sizeof(err));
    struct dp_packet p;
    uint64_t n = 0, bytes = 0, digest = 0;

    if (!pc) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    while (dp_pcap_next(pc, &p) == 1) {
        if (p.caplen > max_frame)
            continue;
        n++;
        bytes += p.wirelen;
        digest += frame_digest(&p);
    }
    dp_pcap_close(pc);
    printf("received=%llu\nbytes=%llu\ndigest=%llu\n", (unsigned long long)n,
           (unsigned long long)bytes, (unsigned long long)digest);
    return 0;
}

/* Symmetric hash of a frame's IPv4/IPv6 addresses and TCP/UDP ports (first fragment or
 * unfragmented; VLAN tags skipped); 0 for anything else. */
static uint64_t flow_hash(const uint8_t *p, uint32_t len)
{
    uint32_t off = 14, alen;
    uint16_t et;
    uint8_t proto;
    const uint8_t *a, *b;

    if (len < 14)
        return 0;
    et = (uint16_t)(p[12] << 8 | p[13]);
    while ((et == 0x8100 || et == 0x88a8) && len >= off + 4) {
        et = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
        off += 4;
    }
    if (et == 0x0800 && len >= off + 20) {
        alen = 4;
        proto = p[off + 9];
        a = p + off + 12;
        b = p + off + 16;
        off += (uint32_t)(p[off] & 15) * 4;
    } else if (et == 0x86dd && len >= off + 40) {
        alen = 16;
        proto = p[off + 6];
        a = p + off + 8;
        b = p + off + 24;
        off += 40;
    } else {
        return 0;
    }
    uint64_t ha = 1469598103934665603ull, hb = ha;
    for (uint32_t i = 0; i < alen; i++) {
        ha = (ha ^ a[i]) * 1099511628211ull;
        hb = (hb ^ b[i]) * 1099511628211ull;
    }
    if ((proto == 6 || proto == 17) && len >= off + 4) {
        ha = (ha ^ (uint64_t)(p[off] << 8 | p[off + 1])) * 1099511628211ull;
        hb = (hb ^ (uint64_t)(p[off + 2] << 8 | p[off + 3])) * 1099511628211ull;
    }
    return (ha + hb) ^ proto;
}

static int split_pcap(const char *in, const char *out_a, const char *out_b)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline_with_tstamp_precision(in, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    struct pcap_pkthdr *h;
    const u_char *d;
    unsigned long long na = 0, nb = 0;

    if (!p) {
        fprintf(stderr, "%s\n", errbuf);
        return 1;
    }
    pcap_dumper_t *da = pcap_dump_open(p, out_a), *db = pcap_dump_open(p, out_b);
    if (!da || !db) {
        fprintf(stderr, "%s\n", pcap_geterr(p));
        return 1;
    }
    while (pcap_next_ex(p, &h, &d) == 1) {
        if (flow_hash(d, h->caplen) & 1) {
            pcap_dump((u_char *)db, h, d);
            nb++;
        } else {
            pcap_dump((u_char *)da, h, d);
            na++;
        }
    }
    pcap_dump_close(da);
    pcap_dump_close(db);
    pcap_close(p);
    printf("a=%llu\nb=%llu\n", na, nb);
    return 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    struct dp_dpdk_config cfg;
    const char *ready = NULL, *expect_file = NULL;
    char err[600];
    int e = 0;

    if (argc == 5 && !strcmp(argv[1], "--split-pcap"))
        return split_pcap(argv[2], argv[3], argv[4]);
    if (argc == 4 && !strcmp(argv[1], "--digest-pcap"))
        return digest_pcap(argv[2], (uint32_t)atoi(argv[3]));
    if (argc < 2)
        return 2;
    dp_dpdk_config_default(&cfg);
    cfg.eal_args = argv[1];
    cfg.log = log_stderr;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--queues"))
            cfg.queues = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ready"))
            ready = argv[i + 1];
        else if (!strcmp(argv[i], "--expect-file"))
            expect_file = argv[i + 1];
        else
            return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct dp_dpdk *src = dp_dpdk_open(&cfg, &e, err, sizeof(err));
    if (!src) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (ready) {
        FILE *f = fopen(ready, "w");
        if (f)
            fclose(f);
    }
    unsigned nq = dp_dpdk_queue_count(src);
    struct dp_packet pkts[64];
    uint64_t received = 0, bytes = 0, digest = 0, expected = 0, stop_at = 0;
    bool draining = false;
    for (;;) {
        for (unsigned q = 0; q < nq; q++) {
            void *h = dp_dpdk_queue_handle(src, q);
            int n = dp_dpdk_handle_rx(h, pkts, 64);
            for (int i = 0; i < n; i++) {
                digest += frame_digest(&pkts[i]);
                bytes += pkts[i].wirelen;
            }
            if (n > 0) {
                received += (uint64_t)n;
                dp_dpdk_handle_release(h, pkts, (unsigned)n);
            }
        }
        if (g_stop && !draining) {
            draining = true;
            stop_at = mono_ms();
            FILE *f = expect_file ? fopen(expect_file, "r") : NULL;
            unsigned long long v = 0;
            if (!f || fscanf(f, "%llu", &v) != 1) {
                if (f)
                    fclose(f);
                break;
            }
            fclose(f);
            expected = v;
        }
        if (draining) {
            struct dp_source_stats st;
            dp_dpdk_stats(src, &st);
            if (received + st.kernel_drops + st.iface_drops + st.errors >= expected)
                break;
            if (mono_ms() - stop_at > 5000) {
                fprintf(stderr, "drain timed out\n");
                break;
            }
        }
    }
    struct dp_source_stats st;
    dp_dpdk_stats(src, &st);
    printf("received=%llu\nbytes=%llu\ndigest=%llu\nimissed=%llu\nrx_nombuf=%llu\nierrors=%llu\n",
           (unsigned long long)received, (unsigned long long)bytes, (unsigned long long)digest,
           (unsigned long long)st.kernel_drops, (unsigned long long)st.iface_drops,
           (unsigned long long)st.errors);
    dp_dpdk_close(src);
    return 0;
}
