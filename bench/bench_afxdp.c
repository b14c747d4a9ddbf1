/* AF_XDP versus libpcap live capture on one interface: receives for a fixed time and prints
 * packets per second. bench_afxdp.sh runs both on the same veth, with the same sender, in one
 * run, and prints the ratio.
 *
 *   bench_afxdp afxdp IFACE SECONDS [QUEUES]   (one thread per queue; pps per queue printed)
 *   bench_afxdp pcap IFACE SECONDS
 * Output: key=value lines (mode, received, drops, seconds, pps, pps_q<N>).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "afxdp_source.h"
#include "pcap_source.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct qrun {
    struct dp_afxdp *src;
    unsigned q;
    double seconds;
    uint64_t received;
};

static void *afxdp_worker(void *arg)
{
    struct qrun *r = arg;
    struct dp_packet pkts[64];
    void *h = dp_afxdp_queue_handle(r->src, r->q);
    double end = mono_s() + r->seconds;
    uint64_t sum = 0;

    while (mono_s() < end) {
        for (int k = 0; k < 64; k++) { /* check the clock once per 64 bursts */
            int n = dp_afxdp_handle_rx(h, pkts, 64);
            for (int i = 0; i < n; i++)
                sum += pkts[i].data[pkts[i].caplen - 1]; /* touch the packet, as a decoder would */
            r->received += (uint64_t)n;
            dp_afxdp_handle_release(h, pkts, (unsigned)n);
        }
    }
    return (void *)(uintptr_t)sum;
}

static int run_afxdp(const char *iface, double seconds, unsigned queues)
{
    struct dp_afxdp_config cfg;
    char err[512];
    int e = 0;

    dp_afxdp_config_default(&cfg);
    cfg.iface = iface;
    cfg.queues = queues;
    cfg.bypass = false;
    if (getenv("BENCH_AFXDP_FRAMES"))
        cfg.frames = (unsigned)atoi(getenv("BENCH_AFXDP_FRAMES"));
    struct dp_afxdp *src = dp_afxdp_open(&cfg, &e, err, sizeof(err));
    if (!src) {
        fprintf(stderr, "%s\n", err);
        return e == -EPERM ? 77 : 1;
    }
    unsigned nq = dp_afxdp_queue_count(src);
    struct qrun runs[64];
    pthread_t th[64];
    double t0 = mono_s();
    for (unsigned q = 0; q < nq && q < 64; q++) {
        runs[q] = (struct qrun){.src = src, .q = q, .seconds = seconds};
        pthread_create(&th[q], NULL, afxdp_worker, &runs[q]);
    }
    uint64_t total = 0;
    for (unsigned q = 0; q < nq && q < 64; q++) {
        pthread_join(th[q], NULL);
        total += runs[q].received;
    }
    double dt = mono_s() - t0;
    struct dp_source_stats st;
    struct dp_xdp_counters kc;
    dp_afxdp_stats(src, &st);
    dp_afxdp_kernel_counters(src, &kc);
    printf("mode=afxdp\nxdp_mode=%s\nqueues=%u\nreceived=%llu\ndrops=%llu\nxdp_packets=%llu\n"
           "seconds=%.3f\npps=%.0f\n",
           dp_afxdp_native(src) ? "native" : "skb", nq, (unsigned long long)total,
           (unsigned long long)st.kernel_drops, (unsigned long long)kc.packets, dt,
           (double)total / dt);
    for (unsigned q = 0; q < nq && q < 64; q++) {
        struct dp_afxdp_queue_stats qs;
        dp_afxdp_queue_stats(src, q, &qs);
        printf("pps_q%u=%.0f\nring_full_q%u=%llu\nfill_empty_q%u=%llu\nzerocopy_q%u=%d\n", q,
               (double)runs[q].received / dt, q, (unsigned long long)qs.rx_ring_full, q,
               (unsigned long long)qs.fill_ring_empty, q, qs.zerocopy);
    }
    dp_afxdp_close(src);
    return 0;
}

static int run_pcap(const char *iface, double seconds)
{
    char err[512];
    struct dp_pcap *pc = dp_pcap_open_live(iface, NULL, err, sizeof(err));
    struct dp_packet p;
    uint64_t n = 0, sum = 0;

    if (!pc) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t0 = mono_s(), end = t0 + seconds;
    while (mono_s() < end) {
        for (int k = 0; k < 256; k++) {
            int rc = dp_pcap_next(pc, &p);
            if (rc < 0)
                goto out;
            if (rc == 1) {
                sum += p.data[p.caplen - 1];
                n++;
            }
        }
    }
out:;
    double dt = mono_s() - t0;
    struct dp_source_stats st;
    dp_pcap_stats(pc, &st);
    printf("mode=pcap\nreceived=%llu\ndrops=%llu\nseconds=%.3f\npps=%.0f\nsum=%llu\n",
           (unsigned long long)n, (unsigned long long)(st.kernel_drops + st.iface_drops), dt,
           (double)n / dt, (unsigned long long)(sum & 1));
    dp_pcap_close(pc);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_afxdp afxdp|pcap IFACE SECONDS [QUEUES]\n");
        return 2;
    }
    double secs = atof(argv[3]);
    if (!strcmp(argv[1], "afxdp"))
        return run_afxdp(argv[2], secs, argc > 4 ? (unsigned)atoi(argv[4]) : 0);
    if (!strcmp(argv[1], "pcap"))
        return run_pcap(argv[2], secs);
    return 2;
}
