/* Packet-path cost of network outputs: the engine pipeline (sensor_new + sensor_run_files, as
 * `tripline -r` runs it) replays the same capture, first with only the EVE file output, then with
 * network outputs on as well:
 *   live:    syslog-tcp to a stalled collector (listens, never accepts or reads) + redis RPUSH to
 *            a running redis-server;
 *   stalled: the same syslog-tcp + redis to a redis-server stopped with SIGSTOP.
 * in three scenarios: a rule on TCP SYNs (alerts per connection, plus flow records: a realistic
 * event rate), one rule alerting on every packet (an event per packet: the output thread becomes
 * the bottleneck, and a worker whose event ring and overflow are full waits for it), and the
 * same with an overflow large enough for every event (the worker never waits for the output
 * thread: only its own cost and the CPU the output threads take from it remain).
 * Workers never wait on the network (sender threads, queue, spool), so the packet rate measured
 * until the last worker finished should not change: the ratio to the EVE-only run is printed,
 * with the time until the outputs were done and the engine's event-ring counters.
 *   bench_output_path [CAPTURE [ROUNDS]]   (default: TRIPLINE_SHARED_DATA/pcaps/throughput_mix.pcap, 3) */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "tripline_config.h"

struct scenario {
    const char *name, *rule, *pipeline;
};
static const struct scenario scenarios[] = {
    {"SYN rule (an alert per TCP connection) + flow records",
     "alert tcp any any -> any any (msg:\"bench: syn\"; flags:S; sid:9100002; rev:1;)\n", ""},
    {"every packet alerts (one event per packet), default event ring and overflow",
     "alert ip any any -> any any (msg:\"bench: every packet\"; sid:9100001; rev:1;)\n", ""},
    {"every packet alerts, overflow holding every event (workers never wait for the output thread)",
     "alert ip any any -> any any (msg:\"bench: every packet\"; sid:9100001; rev:1;)\n",
     "pipeline:\n  event-overflow: 1048576\n"},
};

enum { CFG_EVE, CFG_LIVE, CFG_STALLED, CFG_N };
static const char *cfg_names[CFG_N] = {
    "EVE file only",
    "+ syslog-tcp (stalled) + redis (running)",
    "+ syslog-tcp (stalled) + redis (SIGSTOPped)",
};

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A TCP listener on loopback that never accepts: connections complete in the kernel's backlog,
 * then the receive buffers fill and the sender's writes stall. */
static int stalled_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        return -1;
    *port = ntohs(sa.sin_port);
    return fd;
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static pid_t redis_start(const char *dir, int *port)
{
    const char *bin = access("/usr/bin/redis-server", X_OK) == 0 ? "/usr/bin/redis-server" : NULL;
    if (!bin)
        return -1;
    int lfd = stalled_listener(port); /* a free port: bound, read back, released */
    close(lfd);
    char p[16];
    snprintf(p, sizeof(p), "%d", *port);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execl(bin, bin, "--port", p, "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && !port_open(*port); i++)
        sleep_ms(10);
    return port_open(*port) ? pid : -1;
}

struct result {
    double mpps, workers_s, total_s, cpu_ns_pkt;
    uint64_t events, ring_full, waits, processed;
};

static int run_one(const char *capture, const char *dir, const struct scenario *sc, int which,
                   int syslog_port, int redis_port, struct result *res)
{
    char path[600], rules[600], log_dir[600], err[600], cmd[1300];
    snprintf(rules, sizeof(rules), "%s/bench.rules", dir);
    snprintf(log_dir, sizeof(log_dir), "%s/run", dir);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", log_dir, log_dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/bench.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    FILE *rf = fopen(rules, "w");
    if (!rf) {
        fclose(f);
        return -1;
    }
    fputs(sc->rule, rf);
    fclose(rf);
    fprintf(f,
            "threading:\n  runmode: single\n  workers: 1\nstats:\n  interval: 0\nanomaly:\n  enabled: no\n%s"
            "rules:\n  files: [%s]\ndefault-log-dir: %s\noutputs:\n"
            "  eve-log:\n    filename: %s/eve.json\n",
            sc->pipeline, rules, log_dir, log_dir);
    if (which != CFG_EVE) {
        fprintf(f,
                "  syslog:\n    type: syslog-tcp\n    address: 127.0.0.1\n    port: %d\n"
                "    spool-dir: %s/spool-syslog\n    spool-max: 2g\n    flush-timeout-ms: 500\n",
                syslog_port, log_dir);
        if (redis_port > 0)
            fprintf(f,
                    "  redis:\n    type: redis\n    address: 127.0.0.1\n    port: %d\n    redis-mode: rpush\n"
                    "    key: bench\n    spool-dir: %s/spool-redis\n    spool-max: 2g\n    flush-timeout-ms: %s\n",
                    redis_port, log_dir, which == CFG_LIVE ? "30000" : "500");
    }
    fclose(f);
    struct tl_config cfg;
    config_init(&cfg);
    int rc = -1;
    if (config_load_file(&cfg, path, err, sizeof(err)) < 0 || config_finalize(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_output_path: %s\n", err);
        goto out;
    }
    atomic_int stop = 0;
    struct sensor *s = sensor_new(&cfg, &stop, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "bench_output_path: %s\n", err);
        goto out;
    }
    char *files[] = {(char *)capture};
    /* runmode single: this thread reads, decodes, inspects and emits (the packet path); the
     * output thread and the senders run beside it. Its CPU time is the packet path's own cost,
     * whatever the other threads (and the shared machine's load) take from the wall clock. */
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    rc = sensor_run_files(s, files, 1);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    struct sensor_totals t;
    sensor_get_totals(s, &t);
    sensor_free(s); /* outputs flushed (or spooled after their flush timeout) */
    res->workers_s = t.processing_s > 0 ? t.processing_s : t.elapsed_s;
    res->total_s = t.elapsed_s;
    res->processed = t.processed;
    res->cpu_ns_pkt = t.processed ? ((double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec)) /
                                        (double)t.processed
                                  : 0;
    res->mpps = res->workers_s > 0 ? (double)t.processed / res->workers_s / 1e6 : 0;
    res->events = t.events_written;
    res->ring_full = t.event_ring_full;
    res->waits = t.event_waits;
out:
    config_release(&cfg);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    char def[600];
    const char *shared = getenv("TRIPLINE_SHARED_DATA");
    snprintf(def, sizeof(def), "%s/pcaps/throughput_mix.pcap", shared ? shared : TRIPLINE_SHARED_DATA);
    const char *capture = argc > 1 ? argv[1] : def;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (rounds < 1)
        rounds = 1;
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/bench-output-path-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    int syslog_port = 0, redis_port = 0;
    int lfd = stalled_listener(&syslog_port);
    pid_t rpid = redis_start(dir, &redis_port);
    if (lfd < 0) {
        fprintf(stderr, "bench_output_path: no loopback listener\n");
        return 1;
    }
    if (rpid < 0) {
        fprintf(stderr, "bench_output_path: redis-server not installed or did not start: redis left out\n");
        redis_port = 0;
    }
    if (rounds > 16)
        rounds = 16;
    printf("bench_output_path: %s, runmode single (one packet thread, an output thread, one sender thread per network output), median of %d rounds\n",
           capture, rounds);
    for (size_t k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++) {
        const struct scenario *sc = &scenarios[k];
        /* rounds interleaved so that load drifts on the shared machine hit every configuration */
        double mpps[CFG_N][16], cpu[CFG_N][16];
        struct result last[CFG_N];
        memset(last, 0, sizeof(last));
        for (int r = 0; r < rounds; r++) {
            for (int c = 0; c < CFG_N; c++) {
                if (c == CFG_STALLED && rpid > 0)
                    kill(rpid, SIGSTOP);
                struct result res = {0};
                int rc = run_one(capture, dir, sc, c, syslog_port, redis_port, &res);
                if (c == CFG_STALLED && rpid > 0)
                    kill(rpid, SIGCONT);
                if (rc != 0)
                    fprintf(stderr, "bench_output_path: run %d/%s returned %d\n", r, cfg_names[c], rc);
                mpps[c][r] = res.mpps;
                cpu[c][r] = res.cpu_ns_pkt;
                last[c] = res;
            }
        }
        printf("\n### %s: %" PRIu64 " packets\n\n", sc->name, last[0].processed);
        printf("| outputs | packet thread CPU ns/packet | ratio to EVE only | Mpps (wall, until the packet "
               "thread finished) | ratio | outputs done s | events | event ring full | worker waits |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        double base = 0, base_cpu = 0;
        for (int c = 0; c < CFG_N; c++) {
            qsort(mpps[c], (size_t)rounds, sizeof(double), cmp_double);
            qsort(cpu[c], (size_t)rounds, sizeof(double), cmp_double);
            double med = mpps[c][rounds / 2], mc = cpu[c][rounds / 2];
            if (c == 0) {
                base = med;
                base_cpu = mc;
            }
            printf("| %s | %.0f | %.3f | %.3f | %.3f | %.2f | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " |\n",
                   cfg_names[c], mc, base_cpu > 0 ? mc / base_cpu : 0, med, base > 0 ? med / base : 0,
                   last[c].total_s, last[c].events, last[c].ring_full, last[c].waits);
        }
        fflush(stdout);
    }
    if (rpid > 0) {
        kill(rpid, SIGTERM);
        waitpid(rpid, NULL, 0);
    }
    close(lfd);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_output_path: could not remove %s\n", dir);
    return 0;
}
