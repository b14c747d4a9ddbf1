/* Events per second per output: the output thread's cost per event (format + filter + chain +
 * hand-off) and the end-to-end rate until everything is delivered, for the eve-file output
 * (plain, and pseudonymised + signed), Unix stream/datagram and syslog-tcp to local readers,
 * Redis (a redis-server started here, if installed) and Kafka (librdkafka's mock cluster).
 *   bench_output [EVENTS]      (default 200000) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "output.h"
#include "tripline_config.h"
#if HAVE_KAFKA
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct event mk_event(unsigned i)
{
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = i % 4 ? EVENT_FLOW : EVENT_ALERT;
    ev.ts_ns = 1700000000000000000ull + (uint64_t)i * 1000ull;
    ev.ref.flow_id = 0x100000ull + i;
    ev.ref.ip_version = 4;
    ev.ref.proto = 6;
    ev.ref.has_flow = 1;
    uint8_t s[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i}, d[4] = {192, 0, 2, (uint8_t)(i % 13)};
    memcpy(ev.ref.src, s, 4);
    memcpy(ev.ref.dst, d, 4);
    ev.ref.sport = (uint16_t)(1024 + i % 60000);
    ev.ref.dport = 443;
    if (ev.type == EVENT_FLOW) {
        ev.u.flow.pkts_toserver = i % 100;
        ev.u.flow.bytes_toserver = 1500ull * (i % 100);
        ev.u.flow.start_ns = ev.ts_ns - 1000000000ull;
        ev.u.flow.end_ns = ev.ts_ns;
    } else {
        ev.u.alert.sid = 2000000 + i % 50;
        ev.u.alert.gid = 1;
        ev.u.alert.severity = (uint8_t)(1 + i % 3);
    }
    return ev;
}

/* ---- local readers that discard what they get ---- */
struct reader {
    int lfd;
    int dgram;
    pthread_t thr;
    atomic_int stop;
};

static void *reader_thread(void *arg)
{
    struct reader *r = arg;
    static char buf[1 << 16];
    while (!atomic_load(&r->stop)) {
        if (r->dgram) {
            if (read(r->lfd, buf, sizeof(buf)) < 0 && errno != EAGAIN && errno != EINTR)
                break;
            continue;
        }
        int fd = accept(r->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_usec = 200000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        for (;;) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n < 0 && (errno == EAGAIN || errno == EINTR) && !atomic_load(&r->stop))
                continue;
            if (n <= 0)
                break;
        }
        close(fd);
    }
    return NULL;
}

static int reader_start(struct reader *r, int family, int type, const char *path, int *port)
{
    memset(r, 0, sizeof(*r));
    r->dgram = type == SOCK_DGRAM;
    r->lfd = socket(family, type, 0);
    struct timeval tv = {.tv_usec = 100000};
    setsockopt(r->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int big = 8 << 20;
    setsockopt(r->lfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    if (family == AF_UNIX) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        unlink(path);
        if (bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            return -1;
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof(sa);
        if (bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockname(r->lfd, (struct sockaddr *)&sa, &sl) < 0)
            return -1;
        *port = ntohs(sa.sin_port);
    }
    if (!r->dgram && listen(r->lfd, 4) < 0)
        return -1;
    return pthread_create(&r->thr, NULL, reader_thread, r);
}

static void reader_stop(struct reader *r)
{
    atomic_store(&r->stop, 1);
    pthread_join(r->thr, NULL);
    close(r->lfd);
}

static void run_case(const char *label, struct output_config *c, unsigned n)
{
    char err[256];
    struct outputs *o = outputs_new(c, 1, err, sizeof(err));
    if (!o) {
        printf("%-34s skipped: %s\n", label, err);
        return;
    }
    double t0 = now_s();
    for (unsigned i = 0; i < n; i++) {
        struct event ev = mk_event(i);
        outputs_write_event(o, &ev);
    }
    double t1 = now_s();
    bool done = outputs_drain(o, 120000);
    double t2 = now_s();
    struct output_stats st;
    outputs_stats(o, 0, &st);
    outputs_free(o);
    printf("%-34s output thread %9.0f ev/s (%.2f us/ev)  delivered %9.0f ev/s  sent %llu spooled %llu dropped %llu%s\n",
           label, n / (t1 - t0), (t1 - t0) * 1e6 / n, n / (t2 - t0), (unsigned long long)st.sent,
           (unsigned long long)st.spooled, (unsigned long long)st.spool_dropped, done ? "" : " (not drained)");
}

static void base(struct output_config *c, const char *type, const char *dir)
{
    char err[256], spool[512];
    output_config_default(c);
    output_config_set(c, "type", type, err, sizeof(err));
    snprintf(spool, sizeof(spool), "%s/spool-%s", dir, type);
    output_config_set(c, "spool-dir", spool, err, sizeof(err));
    output_config_set(c, "spool-max", "1g", err, sizeof(err));
    output_config_set(c, "queue", "65536", err, sizeof(err));
    output_config_set(c, "sensor-id", "bench", err, sizeof(err));
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000;
    signal(SIGPIPE, SIG_IGN);
    setenv("TZ", "UTC", 1);
    char tmpl[] = "/tmp/tripline-bench-out-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir)
        return 1;
    char path[512], err[256], port[16];
    struct output_config c;
    printf("bench_output: %u events (3/4 flow, 1/4 alert) per output\n", n);

    output_config_default(&c);
    snprintf(path, sizeof(path), "%s/eve.json", dir);
    output_config_set(&c, "filename", path, err, sizeof(err));
    run_case("eve-file", &c, n);

    char key[512], seed[512];
    snprintf(key, sizeof(key), "%s/pan.key", dir);
    snprintf(seed, sizeof(seed), "%s/sign.key", dir);
    FILE *f = fopen(key, "w");
    fprintf(f, "%s\n", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    fclose(f);
    f = fopen(seed, "w");
    fprintf(f, "%s\n", "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
    fclose(f);
    snprintf(path, sizeof(path), "%s/eve-signed.json", dir);
    output_config_default(&c);
    output_config_set(&c, "filename", path, err, sizeof(err));
    output_config_set(&c, "pseudonymise-key", key, err, sizeof(err));
    output_config_set(&c, "sign-key", seed, err, sizeof(err));
    run_case("eve-file pseudonymised+signed", &c, n);

    struct reader r;
    snprintf(path, sizeof(path), "%s/stream.sock", dir);
    if (reader_start(&r, AF_UNIX, SOCK_STREAM, path, NULL) == 0) {
        base(&c, "unix-stream", dir);
        output_config_set(&c, "filename", path, err, sizeof(err));
        run_case("unix-stream", &c, n);
        reader_stop(&r);
    }
    snprintf(path, sizeof(path), "%s/dgram.sock", dir);
    if (reader_start(&r, AF_UNIX, SOCK_DGRAM, path, NULL) == 0) {
        base(&c, "unix-dgram", dir);
        output_config_set(&c, "filename", path, err, sizeof(err));
        run_case("unix-dgram", &c, n);
        reader_stop(&r);
    }
    int p = 0;
    if (reader_start(&r, AF_INET, SOCK_STREAM, NULL, &p) == 0) {
        base(&c, "syslog-tcp", dir);
        output_config_set(&c, "address", "127.0.0.1", err, sizeof(err));
        snprintf(port, sizeof(port), "%d", p);
        output_config_set(&c, "port", port, err, sizeof(err));
        run_case("syslog-tcp", &c, n);
        reader_stop(&r);
    }
#if HAVE_REDIS
    if (access("/usr/bin/redis-server", X_OK) == 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof(sa);
        bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        getsockname(fd, (struct sockaddr *)&sa, &sl);
        close(fd);
        snprintf(port, sizeof(port), "%d", ntohs(sa.sin_port));
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (!freopen("/dev/null", "w", stdout))
                _exit(127);
            execl("/usr/bin/redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", dir, (char *)NULL);
            _exit(127);
        }
        usleep(300000);
        base(&c, "redis", dir);
        output_config_set(&c, "address", "127.0.0.1", err, sizeof(err));
        output_config_set(&c, "port", port, err, sizeof(err));
        output_config_set(&c, "redis-mode", "rpush", err, sizeof(err));
        run_case("redis rpush (no persistence)", &c, n);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
#endif
#if HAVE_KAFKA
    {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_conf_set(kc, "log_level", "0", err, sizeof(err));
        rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
        rd_kafka_mock_cluster_t *mc = mrk ? rd_kafka_mock_cluster_new(mrk, 1) : NULL;
        if (mc) {
            rd_kafka_mock_topic_create(mc, "eve", 1, 1);
            base(&c, "kafka", dir);
            output_config_set(&c, "brokers", rd_kafka_mock_cluster_bootstraps(mc), err, sizeof(err));
            output_config_set(&c, "topic", "eve", err, sizeof(err));
            run_case("kafka (librdkafka mock cluster)", &c, n);
            rd_kafka_mock_cluster_destroy(mc);
        }
        if (mrk)
            rd_kafka_destroy(mrk);
    }
#endif
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
