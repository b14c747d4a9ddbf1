/* DPDK receive-only rate: the cost floor of the DPDK path (rx burst, dp_packet views, mbuf
 * release), one thread per queue, for a fixed time. bench_dpdk.sh runs it beside the full
 * pipeline (tripline --capture dpdk) on net_null and on a net_pcap replay, and prints ratios.
 *
 *   bench_dpdk "EAL ARGS" SECONDS [QUEUES]
 * Output: key=value lines (received, seconds, pps, pps_q<N>, imissed, rx_nombuf).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpdk_source.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct qrun {
    void *h;
    double seconds;
    uint64_t received;
};

static void *worker(void *arg)
{
    struct qrun *r = arg;
    struct dp_packet pkts[64];
    double end = mono_s() + r->seconds;
    uint64_t sum = 0;

    while (mono_s() < end) {
        for (int k = 0; k < 64; k++) {
            int n = dp_dpdk_handle_rx(r->h, pkts, 64);
            if (n < 0)
                return (void *)(uintptr_t)sum;
            for (int i = 0; i < n; i++)
                sum += pkts[i].caplen; /* read the view, as the decoder would start */
            r->received += (uint64_t)n;
            dp_dpdk_handle_release(r->h, pkts, (unsigned)n);
        }
    }
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    struct dp_dpdk_config cfg;
    char err[600];
    int e = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: bench_dpdk \"EAL ARGS\" SECONDS [QUEUES]\n");
        return 2;
    }
    dp_dpdk_config_default(&cfg);
    cfg.eal_args = argv[1];
    cfg.queues = argc > 3 ? (unsigned)atoi(argv[3]) : 1;
    cfg.stop_at_eof = false;
    double secs = atof(argv[2]);
    struct dp_dpdk *src = dp_dpdk_open(&cfg, &e, err, sizeof(err));
    if (!src) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    unsigned nq = dp_dpdk_queue_count(src);
    struct qrun runs[64];
    pthread_t th[64];
    double t0 = mono_s();
    for (unsigned q = 0; q < nq && q < 64; q++) {
        runs[q] = (struct qrun){.h = dp_dpdk_queue_handle(src, q), .seconds = secs};
        pthread_create(&th[q], NULL, worker, &runs[q]);
    }
    uint64_t total = 0;
    for (unsigned q = 0; q < nq && q < 64; q++) {
        pthread_join(th[q], NULL);
        total += runs[q].received;
    }
    double dt = mono_s() - t0;
    struct dp_source_stats st;
    dp_dpdk_stats(src, &st);
    printf("queues=%u\nreceived=%llu\nseconds=%.3f\npps=%.0f\nimissed=%llu\nrx_nombuf=%llu\n", nq,
           (unsigned long long)total, dt, (double)total / dt, (unsigned long long)st.kernel_drops,
           (unsigned long long)st.iface_drops);
    for (unsigned q = 0; q < nq && q < 64; q++)
        printf("pps_q%u=%.0f\n", q, (double)runs[q].received / dt);
    dp_dpdk_close(src);
    return 0;
}
