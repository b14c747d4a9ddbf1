/* bench_anomaly: cost of the anomaly detectors, detectors off and on, in one run.
 *
 *   bench_anomaly [-r ROUNDS] [-e] [-s] [-x TIMES] [-t EVE_TYPES|all] [-q EVENT_RING] PCAP...
 *
 * 1. Stage alone: loads the captures into memory, then replays them ROUNDS times (default 5)
 *    through decode -> flow table (detectors off) and decode -> flow table -> anomaly stage +
 *    ticks every 100 ms of packet time (detectors on), in bursts of up to ENGINE_BATCH packets
 *    as the engine's worker runs them (flow_table_update_burst, anomaly_burst), alternating,
 *    fresh state each round;
 *    thread CPU time. (-s: skip this part)
 * 2. With -e, the whole sensor (sensor/engine: pcap reader, decode, flow, stream, stages, EVE
 *    output to a temporary directory), runmode single, anomaly.enabled no / yes, in ROUNDS
 *    alternated pairs (ABBA order) after one warm-up run. -x TIMES replays the capture TIMES
 *    times as one longer capture (packet time shifted, written to a temporary pcap file).
 *
 * What the sensor figure is, and why (issue #5's goal: detectors cost at most 10% of the
 * sensor's throughput). In runmode single one thread reads the file and runs every stage; an
 * output thread formats and writes EVE. The reading/stage thread bounds the packet rate, so the
 * figure is that thread's CPU time per packet (pthread_getcpuclockid, sampled every 1 ms from a
 * helper thread against the reader's published packet count), not process CPU time: process
 * CPU time also counts the output thread, which polls its rings with yields and 10 us sleeps
 * while it waits (its CPU time depends on how often it is scheduled, not on the work), and
 * first-touch page faults of the flow and detector tables (their cost swings with the kernel's
 * transparent-huge-page luck). Measured on a 2-core VM shared with other jobs, that is what
 * made the old figure swing by 35% between identical runs. So:
 *  - steady state only: from the end of the capture's first copy (start-up) to 1/16 of the
 *    remaining packets before the end (teardown) - hence -x 3 or more;
 *  - that range is cut into 32 slices of equal packet counts: the same packets fall in the same
 *    slice in every run; for each slice the best (least disturbed) run of each side is kept and
 *    the sums compared: overhead = 1 - off/on CPU per packet = the throughput an operator loses;
 *  - also printed: per-run steady-state, whole-run and process CPU medians with best..worst and
 *    the per-pair overhead range, so the spread is visible.
 * -q EVENT_RING sets pipeline.event-ring: under load the output thread may not be scheduled for
 * a while; once the ring is full the packet thread copies events into its overflow buffer, CPU
 * time that depends on the scheduler (the ring-full count is printed).
 * The EVE output gets `alert,detection` by default (-t all: every type, the sensor's default).
 * With every type, the tripgen captures make ~0.56 EVE records per packet (flow records and the
 * decoder's per-packet snaplen-cut anomaly: tripgen cuts bulk packets at 192 bytes), the one
 * output thread cannot keep up and the packet thread waits on the full ring (counted and
 * printed): the rate is then the output's, and the detectors' cost is hidden behind it.
 * perf: BENCH_PERF_CTL / BENCH_PERF_ACK (perf record -D -1 --control=fifo:CTL,ACK) limit the
 * profile to the detectors-on runs (BENCH_PERF_SIDE=off: the detectors-off runs).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* -q: events the packet thread may queue towards the output thread (pipeline.event-ring; 0:
 * the sensor's default). A larger ring lets the output thread fall behind for longer before the
 * packet thread spills events into its overflow buffer (copies counted in its CPU time). */
static unsigned event_ring;

/* the side profiled: detectors on, or off with BENCH_PERF_SIDE=off */
static bool perf_side(void)
{
    const char *side = getenv("BENCH_PERF_SIDE");
    return side == NULL || strcmp(side, "off") != 0;
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
    /* bursts as the engine's worker runs them (engine_burst.c): up to ENGINE_BATCH packets
     * decoded, the flow table updated for the burst, then the anomaly stage for the burst */
    struct pkt_meta meta[ENGINE_BATCH];
    const struct pkt_meta *mp[ENGINE_BATCH];
    struct flow *flows[ENGINE_BATCH];
    enum flow_dir dirs[ENGINE_BATCH];
    uint8_t res[ENGINE_BATCH];
    if (detectors == perf_side())
        perf_ctl("enable\n");
    double t0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
    for (size_t i = 0; i < c->n;) {
        const struct dp_packet *p = &c->pk[i];
        if (p->ts_ns >= last_tick + 100000000ull) {
            last_tick = p->ts_ns;
            flow_table_expire(ft, p->ts_ns, 4096);
            if (w)
                anomaly_tick(w, p->ts_ns, count_emit, events);
        }
        unsigned k = 0, ok = 0;
        while (i + k < c->n && k < ENGINE_BATCH) {
            const struct dp_packet *pk = &c->pk[i + k];
            if (k > 0 && pk->ts_ns >= last_tick + 100000000ull)
                break;
            struct pkt_meta *m = &meta[k];
            enum decode_result r = decode_packet(d, pk, m);
            res[k++] = (uint8_t)r;
            if (r == DECODE_OK)
                mp[ok++] = m;
            if (r == DECODE_OK && (m->flags & PKT_REASSEMBLED))
                break; /* its meta points into the decoder's buffer until the next decode */
        }
        if (ok)
            flow_table_update_burst(ft, mp, ok, flows, dirs);
        if (w)
            anomaly_burst(w, meta, res, k, flows, dirs);
        i += k;
    }
    double t = cpu_s(CLOCK_THREAD_CPUTIME_ID) - t0;
    if (detectors == perf_side())
        perf_ctl("disable\n");
    if (sh)
        anomaly_shared_flush(sh, count_emit, events);
    anomaly_shared_free(sh);
    flow_table_free(ft);
    decoder_free(d);
    return (double)c->n / t;
}

/* One run of the whole sensor. Figures: CPU time of the thread that runs the packet path (the
 * caller: runmode single reads, decodes and runs every stage inline) in steady state, i.e.
 * between the end of the capture's first copy (start-up: the tables' first-touch page faults,
 * which swing with the kernel's huge-page luck) and the last packet read (teardown: the final
 * flow flush); sampled every 2 ms from a second thread (pthread_getcpuclockid of the caller,
 * against the reader's published packet count). Also the whole run's CPU time of the caller
 * and of every other thread (process CPU time minus the caller's: the output thread, which
 * polls its rings with back-off while it waits). */
#define SLICES 32       /* steady state cut into this many slices of equal packet counts */
#define MAX_SAMPLES 65536

struct erun {
    uint64_t packets, events, ring_full, waits;
    double steady_ns;          /* packet-path thread CPU ns/packet in steady state (0: none) */
    uint64_t steady_pkts;
    double slice_s[SLICES];    /* its CPU seconds per slice */
    double worker_s, other_s;  /* whole run */
};

struct sampler {
    struct sensor *s;
    clockid_t clk;
    uint64_t from, to; /* steady state: packets read in [from, to) */
    _Atomic bool done;
    uint32_t n;
    uint64_t *pk;
    double *cpu;
};

static void *sampler_main(void *arg)
{
    struct sampler *sp = arg;
    struct timespec nap = {0, 1000000};
    while (!atomic_load(&sp->done) && sp->n < MAX_SAMPLES) {
        nanosleep(&nap, NULL);
        struct sensor_totals t;
        /* the clock first, then the count: the count is at least as far as the work timed */
        double cpu = cpu_s(sp->clk);
        sensor_get_totals(sp->s, &t);
        if (sp->n == 0 || t.packets > sp->pk[sp->n - 1]) {
            sp->pk[sp->n] = t.packets;
            sp->cpu[sp->n++] = cpu;
        }
    }
    return NULL;
}

/* CPU time at packet count x, interpolated between the samples around it; -1 outside them */
static double cpu_at(const struct sampler *sp, uint64_t x)
{
    for (uint32_t i = 1; i < sp->n; i++) {
        if (sp->pk[i] >= x && sp->pk[i - 1] <= x) {
            double f = (double)(x - sp->pk[i - 1]) / (double)(sp->pk[i] - sp->pk[i - 1]);
            return sp->cpu[i - 1] + f * (sp->cpu[i] - sp->cpu[i - 1]);
        }
    }
    return -1;
}

/* Steady state: from the end of the capture's first copy to the last sample before the final
 * packet (teardown excluded), cut into SLICES slices of equal packet counts; the same packets
 * fall in the same slice in every run, so runs compare slice by slice. */
static void steady_slices(const struct sampler *sp, struct erun *out)
{
    out->steady_ns = 0;
    /* a fixed end, 1/16 of the span before the last packet, so every run cuts the same slices */
    uint64_t span = sp->to - sp->from;
    uint64_t lo = sp->from, hi = sp->from + span - span / 16;
    double prev = cpu_at(sp, lo);
    if (prev < 0)
        return;
    for (int k = 1; k <= SLICES; k++) {
        double c = cpu_at(sp, lo + (hi - lo) * (uint64_t)k / SLICES);
        if (c < 0)
            return;
        out->slice_s[k - 1] = c - prev;
        prev = c;
    }
    double sum = 0;
    for (int k = 0; k < SLICES; k++)
        sum += out->slice_s[k];
    out->steady_ns = sum * 1e9 / (double)(hi - lo);
    out->steady_pkts = hi - lo;
}

static int run_engine(char *const *files, unsigned n, bool detectors, const char *eve_types,
                      uint64_t copy_pkts, uint64_t total, struct erun *out)
{
    char dir[] = "/tmp/bench_anomaly.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return -1;
    struct tl_config cfg;
    char err[512], kv[600];
    int ret = -1;
    static const atomic_int stop = 0;
    if (config_init(&cfg) != 0)
        return -1;
    snprintf(kv, sizeof(kv), "default-log-dir=%s", dir);
    if (config_set(&cfg, kv, err, sizeof(err)) < 0 ||
        config_set(&cfg, "threading.runmode=single", err, sizeof(err)) < 0 ||
        config_set(&cfg, detectors ? "anomaly.enabled=yes" : "anomaly.enabled=no", err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_anomaly: config: %s\n", err);
        goto out;
    }
    if (event_ring > 0) {
        snprintf(kv, sizeof(kv), "pipeline.event-ring=%u", event_ring);
        if (config_set(&cfg, kv, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench_anomaly: config: %s\n", err);
            goto out;
        }
    }
    if (eve_types != NULL) {
        snprintf(kv, sizeof(kv), "outputs.eve-log.types=%s", eve_types);
        if (config_set(&cfg, "outputs.eve-log.type=eve-file", err, sizeof(err)) < 0 ||
            config_set(&cfg, "outputs.eve-log.filename=eve.json", err, sizeof(err)) < 0 ||
            config_set(&cfg, kv, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench_anomaly: config: %s\n", err);
            goto out;
        }
    }
    if (config_finalize(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_anomaly: config: %s\n", err);
        goto out;
    }
    struct sensor *s = sensor_new(&cfg, &stop, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "bench_anomaly: sensor: %s\n", err);
        goto out;
    }
    struct sampler sp = {.s = s, .from = copy_pkts, .to = total, .pk = calloc(MAX_SAMPLES, sizeof(uint64_t)),
                         .cpu = calloc(MAX_SAMPLES, sizeof(double))};
    pthread_t thr;
    bool sampling = sp.pk != NULL && sp.cpu != NULL && total > copy_pkts &&
                    pthread_getcpuclockid(pthread_self(), &sp.clk) == 0 &&
                    pthread_create(&thr, NULL, sampler_main, &sp) == 0;
    if (detectors == perf_side())
        perf_ctl("enable\n");
    double p0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID), t0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
    int rc = sensor_run_files(s, files, n);
    double t = cpu_s(CLOCK_THREAD_CPUTIME_ID) - t0, p = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - p0;
    if (detectors == perf_side())
        perf_ctl("disable\n");
    if (sampling) {
        atomic_store(&sp.done, true);
        pthread_join(thr, NULL);
    }
    struct sensor_totals tot;
    sensor_get_totals(s, &tot);
    sensor_free(s);
    if (rc == 0 && tot.packets > 0) {
        out->packets = tot.packets;
        out->events = tot.events_written;
        out->ring_full = tot.event_ring_full;
        out->waits = tot.event_waits;
        out->worker_s = t;
        out->other_s = p > t ? p - t : 0;
        out->steady_ns = 0;
        if (sampling)
            steady_slices(&sp, out);
        ret = 0;
    }
    free(sp.pk);
    free(sp.cpu);
out:
    config_release(&cfg);
    char path[600];
    snprintf(path, sizeof(path), "%s/eve.json", dir);
    unlink(path);
    rmdir(dir);
    return ret;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median, min and max of v[0..n-1] (sorted in place) */
static void spread(double *v, int n, double *med, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof(*v), dbl_cmp);
    *med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    *lo = v[0];
    *hi = v[n - 1];
}

/* Writes the loaded packets `times` times one after the other (packet time shifted by the
 * capture's span + 1 s each time, so the copies are one longer capture, not separate ones) as a
 * nanosecond pcap file. Returns 0 or -1. */
static int write_repeated(const struct capture *c, int linktype, int times, const char *path)
{
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return -1;
    struct {
        uint32_t magic;
        uint16_t major, minor;
        int32_t zone;
        uint32_t sigfigs, snaplen, linktype;
    } gh = {0xa1b23c4d, 2, 4, 0, 0, 262144, (uint32_t)linktype};
    fwrite(&gh, sizeof(gh), 1, fp);
    uint64_t span = c->n ? c->pk[c->n - 1].ts_ns - c->pk[0].ts_ns + 1000000000ull : 0;
    for (int r = 0; r < times; r++) {
        for (size_t i = 0; i < c->n; i++) {
            const struct dp_packet *p = &c->pk[i];
            uint64_t ts = p->ts_ns + (uint64_t)r * span;
            uint32_t rh[4] = {(uint32_t)(ts / 1000000000ull), (uint32_t)(ts % 1000000000ull), p->caplen,
                              p->wirelen};
            fwrite(rh, sizeof(rh), 1, fp);
            fwrite(p->data, 1, p->caplen, fp);
        }
    }
    return fclose(fp) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int rounds = 5, opt, times = 1;
    const char *eve_types = "alert,detection";
    bool engine = false;
    bool stage = true;
    const char *usage = "usage: bench_anomaly [-r ROUNDS] [-e] [-s] [-x TIMES] [-t EVE_TYPES] [-q EVENT_RING] PCAP...\n";
    while ((opt = getopt(argc, argv, "r:esx:t:q:")) != -1) {
        if (opt == 'r')
            rounds = atoi(optarg);
        else if (opt == 'e')
            engine = true;
        else if (opt == 's')
            stage = false;
        else if (opt == 'x')
            times = atoi(optarg);
        else if (opt == 'q')
            event_ring = (unsigned)atoi(optarg);
        else if (opt == 't')
            eve_types = strcmp(optarg, "all") == 0 ? NULL : optarg;
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind >= argc || rounds < 1 || times < 1) {
        fputs(usage, stderr);
        return 2;
    }
    struct capture c = {0};
    uint64_t bytes = 0, shift = 0;
    int linktype = -1;
    for (int a = optind; a < argc; a++) {
        char err[256];
        struct dp_pcap *src = dp_pcap_open_file(argv[a], err, sizeof(err));
        if (src == NULL) {
            fprintf(stderr, "bench_anomaly: %s\n", err);
            return 1;
        }
        if (linktype >= 0 && dp_pcap_linktype(src) != linktype && times > 1) {
            fprintf(stderr, "bench_anomaly: -x needs captures of one link type\n");
            return 1;
        }
        linktype = dp_pcap_linktype(src);
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
    double *pair = calloc((size_t)rounds, sizeof(double));
    uint64_t events = 0;
    for (int r = 0; r < rounds && stage; r++) {
        double off = run(&c, false, &events);
        double on = run(&c, true, &events);
        pair[r] = 1e9 / on - 1e9 / off;
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
        double med, lo, hi;
        spread(pair, rounds, &med, &lo, &hi);
        printf("  decode+flow            %10.0f pkt/s  (best round, thread CPU time)\n", best_off);
        printf("  decode+flow+anomaly    %10.0f pkt/s\n", best_on);
        printf("  stage overhead         %9.1f %%  of decode+flow alone, %.0f ns/packet (best vs best); per pair"
               " median %.0f, range %.0f .. %.0f ns; %" PRIu64 " detection events\n",
               100.0 * (1.0 - best_on / best_off), 1e9 / best_on - 1e9 / best_off, med, lo, hi,
               events / (uint64_t)rounds);
        printf("  setup (not timed above) anomaly_shared_new %.1f ms, anomaly_worker_new %.1f ms\n", setup_ms[0],
               setup_ms[1]);
    }
    if (engine) {
        char *const *files = argv + optind;
        unsigned nfiles = (unsigned)(argc - optind);
        char tmp[] = "/tmp/bench_anomaly_cap.XXXXXX";
        char *one[1] = {tmp};
        if (times > 1) {
            int fd = mkstemp(tmp);
            if (fd < 0 || write_repeated(&c, linktype, times, tmp) != 0) {
                fprintf(stderr, "bench_anomaly: cannot write %s\n", tmp);
                return 1;
            }
            close(fd);
            files = one;
            nfiles = 1;
        }
        /* per run (ns/packet): steady-state packet-path thread, whole-run packet-path thread,
         * whole-run all threads; overheads per alternated pair; per slice the best run */
        double *v[3][2], *ov[3], best_slice[2][SLICES];
        for (int k = 0; k < 3; k++) {
            ov[k] = calloc((size_t)rounds, sizeof(double));
            for (int q = 0; q < 2; q++)
                v[k][q] = calloc((size_t)rounds, sizeof(double));
        }
        char ring_txt[24] = "default";
        if (event_ring > 0)
            snprintf(ring_txt, sizeof(ring_txt), "%u", event_ring);
        struct erun e;
        uint64_t npk = 0, spk = 0, ev[2] = {0, 0}, full[2] = {0, 0}, waits[2] = {0, 0};
        uint64_t total = (uint64_t)c.n * (uint64_t)times;
        if (run_engine(files, nfiles, false, eve_types, c.n, total, &e) != 0) /* warm-up: page cache */
            return 1;
        bool steady = true;
        for (int r = 0; r < rounds; r++) {
            /* ABBA order: a drift in machine speed during a pair falls on both sides */
            for (int q = 0; q < 2; q++) {
                bool on = (q == 0) == (r % 2 == 1);
                if (run_engine(files, nfiles, on, eve_types, c.n, total, &e) != 0)
                    return 1;
                npk = e.packets;
                ev[on] = e.events;
                full[on] += e.ring_full;
                waits[on] += e.waits;
                v[0][on][r] = e.steady_ns;
                v[1][on][r] = e.worker_s * 1e9 / (double)e.packets;
                v[2][on][r] = (e.worker_s + e.other_s) * 1e9 / (double)e.packets;
                steady = steady && e.steady_ns > 0;
                spk = e.steady_pkts;
                for (int k = 0; k < SLICES; k++)
                    if (r == 0 || e.slice_s[k] < best_slice[on][k])
                        best_slice[on][k] = e.slice_s[k];
            }
            for (int k = 0; k < 3; k++)
                ov[k][r] = 100.0 * (1.0 - v[k][0][r] / v[k][1][r]);
        }
        printf("  sensor: runmode single, no rules, EVE output; %" PRIu64 " packets per run (capture x %d),"
               " %d alternated off/on pairs after a warm-up run; CPU ns/packet\n", npk, times, rounds);
        if (steady) {
            double bs[2] = {0, 0};
            for (int q = 0; q < 2; q++)
                for (int k = 0; k < SLICES; k++)
                    bs[q] += best_slice[q][k];
            for (int q = 0; q < 2; q++)
                bs[q] = bs[q] * 1e9 / (double)spk;
            printf("  packet-path thread, steady state, best run per slice (%d slices of %" PRIu64
                   " packets; the figure)\n    off %.1f = %.0f pkt/s, on %.1f = %.0f pkt/s\n"
                   "    detector overhead %.1f %% of the sensor's throughput, %.1f ns/packet (goal <= 10 %%)\n",
                   SLICES, spk / SLICES, bs[0], 1e9 / bs[0], bs[1], 1e9 / bs[1], 100.0 * (1.0 - bs[0] / bs[1]),
                   bs[1] - bs[0]);
        } else {
            printf("  packet-path thread, steady state: no figure (use -x 2 or more)\n");
        }
        static const char *const what[3] = {"packet-path thread, steady state, per run",
                                            "packet-path thread, whole run (start-up page faults and teardown)",
                                            "all threads, whole run (process CPU time: + output thread's polling)"};
        for (int k = steady ? 0 : 1; k < 3; k++) {
            double m[2], l[2], h[2], vm, vl, vh;
            for (int q = 0; q < 2; q++)
                spread(v[k][q], rounds, &m[q], &l[q], &h[q]);
            spread(ov[k], rounds, &vm, &vl, &vh);
            printf("  %s: median (best .. worst)\n    off %.1f (%.1f .. %.1f), on %.1f (%.1f .. %.1f);"
                   " overhead %.1f %% median of the pairs (range %.1f .. %.1f), best vs best %.1f %%\n",
                   what[k], m[0], l[0], h[0], m[1], l[1], h[1], vm, vl, vh, 100.0 * (1.0 - l[0] / l[1]));
        }
        printf("  events written per run  off %" PRIu64 ", on %" PRIu64 " (EVE types: %s, event ring %s); event ring full"
               " %" PRIu64 " / %" PRIu64 ", worker waited %" PRIu64 " / %" PRIu64 " times (all runs, off / on)\n",
               ev[0], ev[1], eve_types ? eve_types : "all", ring_txt, full[0], full[1], waits[0], waits[1]);
        getloadavg(load, 3);
        printf("  load after             %.1f %.1f %.1f\n", load[0], load[1], load[2]);
        if (times > 1)
            unlink(tmp);
    }
    for (size_t i = 0; i < c.n; i++)
        free((void *)c.pk[i].data);
    free(c.pk);
    return 0;
}
