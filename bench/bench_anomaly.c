/* bench_anomaly: cost of the anomaly detectors, detectors off and on, in one run.
 *
 *   bench_anomaly [-r ROUNDS] [-e] [-s] PCAP...
 *
 * 1. Stage alone: loads the captures into memory, then replays them ROUNDS times (default 5)
 *    through decode -> flow table (detectors off) and decode -> flow table -> anomaly_packet +
 *    ticks every 100 ms of packet time (detectors on), alternating, fresh state each round.
 *    (-s: skip this part)
 * 2. With -e, the whole sensor (sensor/engine: reader, decode, flow, stages, EVE output to a
 *    temporary directory), runmode single (one thread), anomaly.enabled no / yes, alternating.
 * Prints the best packets/s of each and the overhead 1 - on/off (goal: at most 10% of the
 * sensor's throughput).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "anomaly.h"
#include "config.h"
#include "decode.h"
#include "engine.h"
#include "flow.h"
#include "pcap_source.h"

/* CPU time, not wall time: the shared machine runs at load 10-30, and a preempted round would
 * otherwise count other processes' time. The stage alone runs in this thread (thread CPU time);
 * the whole sensor runs several threads (process CPU time: what the detectors cost it). */
static double cpu_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool count_emit(void *ctx, const struct event *ev)
{
    (void)ev;
    (*(uint64_t *)ctx)++;
    return true;
}

/* perf record -D -1 --control=fifo:CTL,ACK: with BENCH_PERF_CTL=CTL and BENCH_PERF_ACK=ACK set,
 * the profile covers only the detectors-on packet loops (setup and teardown left out). */
static void perf_ctl(const char *cmd)
{
    const char *ctl = getenv("BENCH_PERF_CTL"), *ack = getenv("BENCH_PERF_ACK");
    if (ctl == NULL || ack == NULL)
        return;
    int fd = open(ctl, O_WRONLY), fa = open(ack, O_RDONLY);
    char buf[16];
    if (fd >= 0 && write(fd, cmd, strlen(cmd)) < 0)
        perror("bench_anomaly: perf control");
    if (fa >= 0 && read(fa, buf, sizeof(buf)) < 0)
        perror("bench_anomaly: perf ack");
    if (fd >= 0)
        close(fd);
    if (fa >= 0)
        close(fa);
}

struct capture {
    struct dp_packet *pk;
    size_t n, cap;
};

/* CPU time of the last anomaly_shared_new() and anomaly_worker_new() (ms) */
static double setup_ms[2];

static double run(const struct capture *c, bool detectors, uint64_t *events)
{
    struct decoder_config dc;
    decoder_config_default(&dc);
    struct flow_config fc;
    flow_config_default(&fc);
    fc.max_flows = 262144;
    struct decoder *d = decoder_new(&dc);
    struct flow_table *ft = flow_table_new(&fc, NULL, NULL);
    struct anomaly_config ac;
    anomaly_config_default(&ac);
    ac.max_workers = 1;
    double s0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
    struct anomaly_shared *sh = detectors ? anomaly_shared_new(&ac) : NULL;
    double s1 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
    struct anomaly_worker *w = sh ? anomaly_worker_new(sh, 0) : NULL;
    if (sh != NULL) {
        setup_ms[0] = (s1 - s0) * 1e3;
        setup_ms[1] = (cpu_s(CLOCK_THREAD_CPUTIME_ID) - s1) * 1e3;
    }
    if (d == NULL || ft == NULL || (detectors && w == NULL)) {
        fprintf(stderr, "bench_anomaly: setup failed\n");
        exit(1);
    }
    uint64_t last_tick = 0;
    struct pkt_meta m;
    if (detectors)
        perf_ctl("enable\n");
    double t0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
    for (size_t i = 0; i < c->n; i++) {
        const struct dp_packet *p = &c->pk[i];
        enum decode_result r = decode_packet(d, p, &m);
        if (p->ts_ns >= last_tick + 100000000ull) {
            last_tick = p->ts_ns;
            flow_table_expire(ft, p->ts_ns, 4096);
            if (w)
                anomaly_tick(w, p->ts_ns, count_emit, events);
        }
        if (r == DECODE_INVALID) {
            if (w)
                anomaly_decode_invalid(w, &m);
            continue;
        }
        if (r != DECODE_OK || m.ip_version == 0)
            continue;
        enum flow_dir dir;
        struct flow *f = flow_table_update(ft, &m, &dir);
        if (w)
            anomaly_packet(w, &m, f, dir);
    }
    double t = cpu_s(CLOCK_THREAD_CPUTIME_ID) - t0;
    if (detectors)
        perf_ctl("disable\n");
    if (sh)
        anomaly_shared_flush(sh, count_emit, events);
    anomaly_shared_free(sh);
    flow_table_free(ft);
    decoder_free(d);
    return (double)c->n / t;
}

/* One run of the whole sensor over the files, one thread; returns packets/s (0 on error). */
static double run_engine(char *const *files, unsigned n, bool detectors)
{
    char dir[] = "/tmp/bench_anomaly.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 0;
    struct tl_config cfg;
    char err[512], kv[600];
    double pps = 0;
    static const atomic_int stop = 0;
    if (config_init(&cfg) != 0)
        return 0;
    snprintf(kv, sizeof(kv), "default-log-dir=%s", dir);
    if (config_set(&cfg, kv, err, sizeof(err)) < 0 ||
        config_set(&cfg, "threading.runmode=single", err, sizeof(err)) < 0 ||
        config_set(&cfg, detectors ? "anomaly.enabled=yes" : "anomaly.enabled=no", err, sizeof(err)) < 0 ||
        config_finalize(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_anomaly: config: %s\n", err);
        goto out;
    }
    struct sensor *s = sensor_new(&cfg, &stop, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "bench_anomaly: sensor: %s\n", err);
        goto out;
    }
    if (detectors)
        perf_ctl("enable\n");
    double t0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    int rc = sensor_run_files(s, files, n);
    double t = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
    if (detectors)
        perf_ctl("disable\n");
    struct sensor_totals tot;
    sensor_get_totals(s, &tot);
    sensor_free(s);
    if (rc == 0)
        pps = (double)tot.packets / t;
out:
    config_release(&cfg);
    char path[600];
    snprintf(path, sizeof(path), "%s/eve.json", dir);
    unlink(path);
    rmdir(dir);
    return pps;
}

int main(int argc, char **argv)
{
    int rounds = 5, opt;
    bool engine = false;
    bool stage = true;
    while ((opt = getopt(argc, argv, "r:es")) != -1) {
        if (opt == 'r')
            rounds = atoi(optarg);
        else if (opt == 'e')
            engine = true;
        else if (opt == 's')
            stage = false;
        else {
            fprintf(stderr, "usage: bench_anomaly [-r ROUNDS] [-e] [-s] PCAP...\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: bench_anomaly [-r ROUNDS] [-e] [-s] PCAP...\n");
        return 2;
    }
    struct capture c = {0};
    uint64_t bytes = 0, shift = 0;
    for (int a = optind; a < argc; a++) {
        char err[256];
        struct dp_pcap *src = dp_pcap_open_file(argv[a], err, sizeof(err));
        if (src == NULL) {
            fprintf(stderr, "bench_anomaly: %s\n", err);
            return 1;
        }
        struct dp_packet p;
        uint64_t first = 0, last = 0;
        while (dp_pcap_next(src, &p) == 1) {
            if (c.n == c.cap) {
                c.cap = c.cap ? c.cap * 2 : 65536;
                c.pk = realloc(c.pk, c.cap * sizeof(*c.pk));
            }
            uint8_t *copy = malloc(p.caplen ? p.caplen : 1);
            memcpy(copy, p.data, p.caplen);
            if (first == 0)
                first = p.ts_ns;
            last = p.ts_ns;
            p.data = copy;
            p.ts_ns += shift; /* several files play one after the other */
            c.pk[c.n++] = p;
            bytes += p.wirelen;
        }
        shift += last - first + 1000000000ull;
        dp_pcap_close(src);
    }
    double best_off = 0, best_on = 0;
    uint64_t events = 0;
    for (int r = 0; r < rounds && stage; r++) {
        double off = run(&c, false, &events);
        double on = run(&c, true, &events);
        if (off > best_off)
            best_off = off;
        if (on > best_on)
            best_on = on;
    }
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    printf("bench_anomaly: %zu packets (%.1f MB on the wire), %d rounds, one worker, load %.1f %.1f %.1f\n",
           c.n, bytes / 1e6, rounds, load[0], load[1], load[2]);
    if (stage) {
        printf("  decode+flow            %10.0f pkt/s  (best round, thread CPU time)\n", best_off);
        printf("  decode+flow+anomaly    %10.0f pkt/s\n", best_on);
        printf("  stage overhead         %9.1f %%  of decode+flow alone, %.0f ns/packet, %" PRIu64
               " detection events\n",
               100.0 * (1.0 - best_on / best_off), 1e9 / best_on - 1e9 / best_off, events / (uint64_t)rounds);
        printf("  setup (not timed above) anomaly_shared_new %.1f ms, anomaly_worker_new %.1f ms\n", setup_ms[0],
               setup_ms[1]);
    }
    if (engine) {
        double eoff = 0, eon = 0;
        for (int r = 0; r < rounds; r++) {
            double off = run_engine(argv + optind, (unsigned)(argc - optind), false);
            double on = run_engine(argv + optind, (unsigned)(argc - optind), true);
            if (off > eoff)
                eoff = off;
            if (on > eon)
                eon = on;
        }
        printf("  sensor, detectors off  %10.0f pkt/s  (runmode single: reader, stages, EVE output;"
               " process CPU time)\n", eoff);
        printf("  sensor, detectors on   %10.0f pkt/s\n", eon);
        printf("  detector overhead      %9.1f %%  of the sensor (goal <= 10 %%), %.0f ns/packet\n",
               eoff > 0 ? 100.0 * (1.0 - eon / eoff) : 0.0,
               eon > 0 && eoff > 0 ? 1e9 / eon - 1e9 / eoff : 0.0);
        getloadavg(load, 3);
        printf("  load after             %.1f %.1f %.1f\n", load[0], load[1], load[2]);
    }
    for (size_t i = 0; i < c.n; i++)
        free((void *)c.pk[i].data);
    free(c.pk);
    return 0;
}
