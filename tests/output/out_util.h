/* Helpers shared by the outputs tests (header-only, static): temporary directories, synthetic
 * events, a Unix stream collector thread, child processes for real collectors. */
#ifndef TRIPLINE_TEST_OUT_UTIL_H
#define TRIPLINE_TEST_OUT_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "event.h"
#include "output.h"

static inline char *tu_tmpdir(const char *tag)
{
    char tmpl[256];
    snprintf(tmpl, sizeof(tmpl), "/tmp/tripline-%s-XXXXXX", tag);
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline void tu_rmrf(const char *dir)
{
    char cmd[600];
    if (dir && strncmp(dir, "/tmp/tripline-", 14) == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
}

static inline void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A TCP flow event numbered i: addresses and ports vary with i so every event is distinct. */
static inline struct event tu_flow_event(unsigned i)
{
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_FLOW;
    ev.ts_ns = 1700000000000000000ull + (uint64_t)i * 1000000ull;
    ev.ref.flow_id = 0x1000000ull + i;
    ev.ref.ip_version = 4;
    ev.ref.proto = 6;
    ev.ref.has_flow = 1;
    uint8_t s[4] = {10, 0, (uint8_t)(i >> 8), (uint8_t)i}, d[4] = {192, 0, 2, (uint8_t)(i % 7)};
    memcpy(ev.ref.src, s, 4);
    memcpy(ev.ref.dst, d, 4);
    ev.ref.sport = (uint16_t)(1024 + i % 60000);
    ev.ref.dport = 443;
    ev.u.flow.pkts_toserver = i;
    ev.u.flow.bytes_toserver = 60ull * i;
    ev.u.flow.start_ns = ev.ts_ns - 1000000000ull;
    ev.u.flow.end_ns = ev.ts_ns;
    return ev;
}

/* An alert event (no rule_meta: the formatter writes empty texts) with a severity. */
static inline struct event tu_alert_event(unsigned i, uint8_t severity)
{
    struct event ev = tu_flow_event(i);
    ev.type = EVENT_ALERT;
    memset(&ev.u, 0, sizeof(ev.u));
    ev.u.alert.sid = 2000000 + i;
    ev.u.alert.gid = 1;
    ev.u.alert.rev = 1;
    ev.u.alert.severity = severity;
    return ev;
}

/* Lines of a file (caller frees each and the array). */
static inline char **tu_read_lines(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char **v = NULL, *line = NULL;
    size_t cap = 0, vc = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (*n == vc) {
            vc = vc ? vc * 2 : 256;
            v = realloc(v, vc * sizeof(*v));
        }
        v[(*n)++] = strdup(line);
    }
    free(line);
    fclose(f);
    return v;
}

static inline void tu_free_lines(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* tripline_seq of a JSON line, or -1 when it does not parse or has none. */
static inline long long tu_seq_of(const char *line, size_t len)
{
    json_t *j = json_loadb(line, len, 0, NULL);
    if (!j)
        return -1;
    json_t *s = json_object_get(j, "tripline_seq");
    long long v = json_is_integer(s) ? (long long)json_integer_value(s) : -1;
    json_decref(j);
    return v;
}

/* Distinct sequence numbers seen (bitmap up to max); returns -1 if a line is not whole JSON. */
static inline long tu_count_distinct(char **lines, size_t n, long long max, long long *seen_max)
{
    unsigned char *seen = calloc((size_t)max + 2, 1);
    long distinct = 0;
    *seen_max = 0;
    for (size_t i = 0; i < n; i++) {
        long long s = tu_seq_of(lines[i], strlen(lines[i]));
        if (s < 0) {
            /* A collector killed with SIGKILL can leave the head of a line it had half written
             * (rsyslog's omfile flushes a full I/O buffer mid-line); after its restart the next
             * record follows on the same line. That head is the collector's loss, which the
             * sender's resend covers: count the whole record behind it, and nothing else. */
            const char *tail = strstr(lines[i] + 1, "{\"timestamp\"");
            if (tail)
                s = tu_seq_of(tail, strlen(tail));
            if (s < 0) {
                fprintf(stderr, "not whole JSON with tripline_seq: %.200s\n", lines[i]);
                free(seen);
                return -1;
            }
            fprintf(stderr, "note: a record cut by the collector's kill precedes seq %lld\n", s);
        }
        if (s > *seen_max)
            *seen_max = s;
        if (s <= max && !seen[s]) {
            seen[s] = 1;
            distinct++;
        }
    }
    free(seen);
    return distinct;
}

/* A free loopback TCP port (bound then released: good enough for a test). */
static inline int tu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static inline bool tu_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* Finds an executable in the usual places; NULL if missing. */
static inline const char *tu_find_bin(const char *name)
{
    static char path[256];
    const char *dirs[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
        if (access(path, X_OK) == 0)
            return path;
    }
    return NULL;
}

static inline pid_t tu_spawn(char *const argv[], const char *log_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (log_path) {
            FILE *f = freopen(log_path, "a", stdout);
            (void)f;
            dup2(1, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static inline void tu_kill_wait(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    kill(pid, sig);
    int st;
    waitpid(pid, &st, 0);
}

/* ---- a Unix stream collector: accepts connections one after another, keeps every line ---- */
struct tu_collector {
    char path[108];
    int lfd;
    pthread_t thr;
    pthread_mutex_t mu;
    char **lines;
    size_t n, cap;
    atomic_int stop;
    int conns;
};

static void *tu_collector_thread(void *arg)
{
    struct tu_collector *c = arg;
    char buf[65536], *acc = NULL;
    size_t accn = 0;
    while (!c->stop) {
        int fd = accept(c->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        pthread_mutex_lock(&c->mu);
        c->conns++;
        pthread_mutex_unlock(&c->mu);
        for (;;) {
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (c->stop)
                    break;
                continue;
            }
            if (r <= 0)
                break;
            acc = realloc(acc, accn + (size_t)r);
            memcpy(acc + accn, buf, (size_t)r);
            accn += (size_t)r;
            size_t start = 0;
            for (size_t i = 0; i < accn; i++) {
                if (acc[i] != '\n')
                    continue;
                pthread_mutex_lock(&c->mu);
                if (c->n == c->cap) {
                    c->cap = c->cap ? c->cap * 2 : 1024;
                    c->lines = realloc(c->lines, c->cap * sizeof(*c->lines));
                }
                c->lines[c->n++] = strndup(acc + start, i - start);
                pthread_mutex_unlock(&c->mu);
                start = i + 1;
            }
            memmove(acc, acc + start, accn - start);
            accn -= start;
        }
        accn = 0; /* a partial line from a dead connection is not a record */
        close(fd);
    }
    free(acc);
    return NULL;
}

static inline int tu_collector_start(struct tu_collector *c, const char *path)
{
    memset(c, 0, sizeof(*c));
    if (strlen(path) >= sizeof(c->path))
        return -ENAMETOOLONG;
    memcpy(c->path, path, strlen(path) + 1);
    pthread_mutex_init(&c->mu, NULL);
    c->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
    unlink(path);
    if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(c->lfd, 8) < 0)
        return -errno;
    struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
    setsockopt(c->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return pthread_create(&c->thr, NULL, tu_collector_thread, c) == 0 ? 0 : -1;
}

static inline size_t tu_collector_count(struct tu_collector *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static inline void tu_collector_stop(struct tu_collector *c)
{
    c->stop = 1;
    pthread_join(c->thr, NULL);
    close(c->lfd);
    unlink(c->path);
}

static inline void tu_collector_free(struct tu_collector *c)
{
    tu_free_lines(c->lines, c->n);
    c->lines = NULL;
    c->n = c->cap = 0;
    pthread_mutex_destroy(&c->mu);
}

#endif
