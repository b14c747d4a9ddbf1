/* The control socket and thread; see control.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "tripline_config.h"

#define POLL_MS 100              /* SIGUSR2 and stop are noticed within this */
#define CLIENT_TIMEOUT_MS 5000   /* a client silent this long is dropped */
#define RELOAD_WAIT_MS 10000     /* a reload waits this long for every worker to switch */

struct control {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd;
    dev_t dev;
    ino_t ino;
    struct sensor *s;
    atomic_int *stop;
    const atomic_int *reload_sig;
    int reload_seen;
    atomic_bool quit;
    pthread_t thr;
    bool started;
};

/* ---- protocol ---------------------------------------------------------------------------- */

static const struct {
    enum control_cmd cmd;
    const char *name;
} cmds[] = {
    {CONTROL_RELOAD_RULES, "reload-rules"},
    {CONTROL_STATS, "stats"},
    {CONTROL_SHUTDOWN, "shutdown"},
    {CONTROL_VERSION, "version"},
};

const char *control_cmd_name(enum control_cmd cmd)
{
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (cmds[i].cmd == cmd)
            return cmds[i].name;
    return "?";
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int control_parse_request(const char *line, size_t len, enum control_cmd *cmd, char *err,
                          size_t errlen)
{
    *cmd = CONTROL_NONE;
    while (len && is_space(*line)) {
        line++;
        len--;
    }
    while (len && is_space(line[len - 1]))
        len--;
    if (len == 0) {
        snprintf(err, errlen, "empty request");
        return -EINVAL;
    }
    if (len > CONTROL_LINE_MAX) {
        snprintf(err, errlen, "request longer than %d bytes", CONTROL_LINE_MAX);
        return -EINVAL;
    }
    char word[64];
    if (line[0] == '{') {
        json_error_t jerr;
        json_t *o = json_loadb(line, len, 0, &jerr);
        if (!o) {
            snprintf(err, errlen, "bad JSON request: %s", jerr.text);
            return -EINVAL;
        }
        json_t *c = json_object_get(o, "command");
        if (!json_is_string(c)) {
            json_decref(o);
            snprintf(err, errlen, "JSON request without a string \"command\"");
            return -EINVAL;
        }
        snprintf(word, sizeof(word), "%s", json_string_value(c));
        bool fits = strlen(json_string_value(c)) < sizeof(word);
        json_decref(o);
        if (!fits) {
            snprintf(err, errlen, "unknown command");
            return -EINVAL;
        }
    } else {
        if (len >= sizeof(word)) {
            snprintf(err, errlen, "unknown command");
            return -EINVAL;
        }
        memcpy(word, line, len);
        word[len] = '\0';
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(word, cmds[i].name) == 0) {
            *cmd = cmds[i].cmd;
            return 0;
        }
    snprintf(err, errlen, "unknown command '%.64s' (known: reload-rules, stats, shutdown, version)",
             word);
    return -EINVAL;
}

static void iso_time(uint64_t ns, char *out, size_t cap)
{
    time_t sec = (time_t)(ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%06uZ", (unsigned)(ns % 1000000000ull / 1000));
}

static int set_u64(json_t *o, const char *k, uint64_t v)
{
    return json_object_set_new(o, k, json_integer((json_int_t)v));
}

json_t *control_stats_json(const struct sensor_totals *t, const struct reload_stats *rs)
{
    json_t *o = json_object(), *cap = json_object(), *dec = json_object(), *flow = json_object(),
           *det = json_object(), *an = json_object(), *pipe = json_object(), *rules = json_object();
    if (!o || !cap || !dec || !flow || !det || !an || !pipe || !rules)
        goto oom;
    /* names of the EVE stats event (engine.c out_stats) */
    set_u64(cap, "kernel_packets", t->packets);
    set_u64(cap, "bytes", t->bytes);
    set_u64(cap, "kernel_drops", t->capture_kernel_drops);
    set_u64(cap, "kernel_ifdrops", t->capture_iface_drops);
    set_u64(dec, "pkts", t->processed);
    set_u64(dec, "invalid", t->decode_invalid);
    set_u64(dec, "snaplen_cut", t->snaplen_cut);
    set_u64(flow, "total", t->flows_created);
    set_u64(flow, "active", t->flows_active);
    set_u64(flow, "tcp", t->tcp_flows);
    set_u64(flow, "udp", t->udp_flows);
    set_u64(flow, "ended", t->flows_ended);
    set_u64(flow, "evicted", t->flows_evicted);
    set_u64(det, "alert", t->alerts);
    set_u64(an, "decode_events", t->anomaly_events);
    set_u64(pipe, "dispatch_drops", t->dispatch_drops);
    set_u64(pipe, "dispatch_waits", t->dispatch_waits);
    set_u64(pipe, "event_ring_full", t->event_ring_full);
    set_u64(pipe, "event_waits", t->event_waits);
    set_u64(pipe, "events_written", t->events_written);
    set_u64(pipe, "read_errors", t->read_errors);
    set_u64(pipe, "output_errors", t->output_errors);
    if (rs) {
        char ts[64];
        set_u64(rules, "loaded", rs->rules_loaded);
        set_u64(rules, "failed", rs->rules_failed);
        set_u64(rules, "generation", rs->generation);
        set_u64(rules, "generations_alive", rs->generations_alive);
        set_u64(rules, "reloads_ok", rs->reloads_ok);
        set_u64(rules, "reloads_failed", rs->reloads_failed);
        if (rs->last_reload_ns) {
            iso_time(rs->last_reload_ns, ts, sizeof(ts));
            json_object_set_new(rules, "last_reload", json_string(ts));
            json_object_set_new(rules, "last_reload_ok", json_boolean(rs->last_ok));
            if (!rs->last_ok)
                json_object_set_new(rules, "last_reload_error", json_string(rs->last_error));
        } else {
            json_object_set_new(rules, "last_reload", json_null());
        }
        set_u64(rules, "switch_ts_min", rs->switch_ts_min);
        set_u64(rules, "switch_ts_max", rs->switch_ts_max);
        set_u64(rules, "workers_switched", rs->workers_switched);
    } else {
        set_u64(rules, "loaded", 0);
    }
    json_object_set_new(o, "capture", cap);
    json_object_set_new(o, "decoder", dec);
    json_object_set_new(o, "flow", flow);
    json_object_set_new(o, "detect", det);
    json_object_set_new(o, "anomaly", an);
    json_object_set_new(o, "pipeline", pipe);
    json_object_set_new(o, "rules", rules);
    json_object_set_new(o, "elapsed_s", json_real(t->elapsed_s));
    return o;
oom:
    json_decref(o);
    json_decref(cap);
    json_decref(dec);
    json_decref(flow);
    json_decref(det);
    json_decref(an);
    json_decref(pipe);
    json_decref(rules);
    return NULL;
}

int control_socket_path(const struct tl_config *cfg, char *out, size_t cap)
{
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    if (cap < max)
        max = cap;
    int n;
    if (strcmp(cfg->control_socket, "off") == 0) {
        out[0] = '\0';
        return 1;
    }
    if (cfg->control_socket[0])
        n = snprintf(out, max, "%s", cfg->control_socket);
    else
        n = snprintf(out, max, "%s/tripline.sock", cfg->log_dir);
    if (n < 0 || (size_t)n >= max)
        return -ENAMETOOLONG;
    return 0;
}

/* ---- requests ---------------------------------------------------------------------------- */

/* The control thread's messages (reload results) to the diagnostics stream. */
static void logmsg(const char *msg)
{
    fprintf(stderr, "tripline: %s\n", msg);
    fflush(stderr);
}

/* Runs a reload and logs its result (why, when it failed). */
static json_t *do_reload(struct control *c, const char *origin)
{
    char msg[1536];
    struct reload *rl = sensor_reload(c->s);
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "command", json_string("reload-rules"));
    if (!rl) {
        snprintf(msg, sizeof(msg), "rules not reloaded: tripline runs without rules");
        json_object_set_new(o, "ok", json_false());
        json_object_set_new(o, "error", json_string(msg));
        logmsg(msg);
        return o;
    }
    fprintf(stderr, "tripline: reloading rules (%s)\n", origin);
    int rc = reload_rules(rl, RELOAD_WAIT_MS, stderr, msg, sizeof(msg));
    logmsg(msg);
    struct reload_stats st;
    reload_get_stats(rl, &st);
    json_object_set_new(o, "ok", json_boolean(rc == 0));
    json_object_set_new(o, rc == 0 ? "message" : "error", json_string(msg));
    set_u64(o, "generation", st.generation);
    set_u64(o, "rules_loaded", st.rules_loaded);
    set_u64(o, "rules_failed", st.rules_failed);
    set_u64(o, "reloads_ok", st.reloads_ok);
    set_u64(o, "reloads_failed", st.reloads_failed);
    if (rc == 0) {
        set_u64(o, "switch_ts_min", st.switch_ts_min);
        set_u64(o, "switch_ts_max", st.switch_ts_max);
        set_u64(o, "workers_switched", st.workers_switched);
        set_u64(o, "workers", st.workers);
    }
    return o;
}

static json_t *handle(struct control *c, const char *line, size_t len, bool *close_after)
{
    char err[256];
    enum control_cmd cmd;
    json_t *o;
    if (control_parse_request(line, len, &cmd, err, sizeof(err)) < 0) {
        o = json_object();
        if (o) {
            json_object_set_new(o, "ok", json_false());
            json_object_set_new(o, "error", json_string(err));
        }
        return o;
    }
    switch (cmd) {
    case CONTROL_RELOAD_RULES:
        return do_reload(c, "control socket");
    case CONTROL_STATS: {
        struct sensor_totals t;
        struct reload_stats st;
        struct reload *rl = sensor_reload(c->s);
        sensor_get_totals(c->s, &t);
        if (rl)
            reload_get_stats(rl, &st);
        json_t *stats = control_stats_json(&t, rl ? &st : NULL);
        o = json_object();
        if (!o || !stats) {
            json_decref(o);
            json_decref(stats);
            return NULL;
        }
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "command", json_string("stats"));
        json_object_set_new(o, "stats", stats);
        return o;
    }
    case CONTROL_SHUTDOWN:
        logmsg("shutdown requested on the control socket");
        atomic_store(c->stop, 1);
        *close_after = true;
        o = json_object();
        if (o) {
            json_object_set_new(o, "ok", json_true());
            json_object_set_new(o, "command", json_string("shutdown"));
            json_object_set_new(o, "message", json_string("stopping: capture ends, the pipeline drains"));
        }
        return o;
    case CONTROL_VERSION:
        o = json_object();
        if (o) {
            json_object_set_new(o, "ok", json_true());
            json_object_set_new(o, "command", json_string("version"));
            json_object_set_new(o, "version", json_string(TRIPLINE_VERSION));
        }
        return o;
    default:
        return NULL;
    }
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int reply(int fd, json_t *o)
{
    if (!o)
        return write_all(fd, "{\"ok\":false,\"error\":\"out of memory\"}\n", 37);
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!txt)
        return write_all(fd, "{\"ok\":false,\"error\":\"out of memory\"}\n", 37);
    size_t n = strlen(txt);
    int rc = write_all(fd, txt, n);
    if (rc == 0)
        rc = write_all(fd, "\n", 1);
    free(txt);
    return rc;
}

/* Serves one connection: requests line by line until EOF, an idle timeout, or shutdown. */
static void serve_client(struct control *c, int fd)
{
    char buf[CONTROL_LINE_MAX + 2];
    size_t have = 0;
    bool eof = false, close_after = false;
    while (!close_after) {
        char *nl = memchr(buf, '\n', have);
        if (!nl && (eof || have == sizeof(buf))) {
            if (have == 0)
                return;
            if (have == sizeof(buf)) {
                /* no newline within the limit: answer once and drop the connection */
                json_t *o = json_object();
                if (o) {
                    json_object_set_new(o, "ok", json_false());
                    json_object_set_new(o, "error", json_string("request line too long"));
                }
                reply(fd, o);
                return;
            }
            nl = buf + have; /* last request without its newline */
        }
        if (nl) {
            size_t len = (size_t)(nl - buf);
            if (reply(fd, handle(c, buf, len, &close_after)) < 0)
                return;
            size_t used = len < have ? len + 1 : have;
            memmove(buf, buf + used, have - used);
            have -= used;
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, CLIENT_TIMEOUT_MS);
        if (r <= 0)
            return; /* idle (or error): drop it, the control thread has other work */
        ssize_t n = recv(fd, buf + have, sizeof(buf) - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            eof = true;
        else
            have += (size_t)n;
    }
}

static void *control_main(void *arg)
{
    struct control *c = arg;
    while (!atomic_load_explicit(&c->quit, memory_order_relaxed)) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN}; /* fd -1 (no socket): ignored */
        int r = poll(&p, 1, POLL_MS);
        if (c->reload_sig) {
            int v = atomic_load_explicit(c->reload_sig, memory_order_relaxed);
            if (v != c->reload_seen) {
                c->reload_seen = v;
                json_decref(do_reload(c, "SIGUSR2"));
            }
        }
        struct reload *rl = sensor_reload(c->s);
        if (rl)
            reload_collect(rl); /* frees a generation once idle workers switched */
        if (r > 0 && (p.revents & POLLIN)) {
            int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                serve_client(c, fd);
                close(fd);
            }
        }
    }
    return NULL;
}

/* ---- socket --------------------------------------------------------------------------------- */

/* A socket file at path: another process listening on it (-EADDRINUSE), stale (removed, 0), or
 * not a socket (-EEXIST). */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    close(fd);
    if (r == 0)
        return -EADDRINUSE;
    if (unlink(path) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

struct control *control_start(const char *path, struct sensor *s, atomic_int *stop,
                              const atomic_int *reload_sig, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (path && strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "control socket %s: path longer than %zu bytes", path,
                 sizeof(sa.sun_path) - 1);
        return NULL;
    }
    struct control *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = -1;
    snprintf(c->path, sizeof(c->path), "%s", path ? path : "");
    c->s = s;
    c->stop = stop;
    c->reload_sig = reload_sig;
    c->reload_seen = reload_sig ? atomic_load(reload_sig) : 0;
    atomic_init(&c->quit, false);
    if (!path)
        goto start; /* no socket: the thread still serves SIGUSR2 */
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int r = clear_stale(path, &sa);
    if (r < 0) {
        snprintf(err, errlen, "control socket %s: %s", path,
                 r == -EADDRINUSE ? "another tripline answers on it"
                 : r == -EEXIST   ? "exists and is not a socket"
                                  : strerror(-r));
        goto fail;
    }
    if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        goto fail_errno;
    /* Bound and listening under a temporary name, then renamed into place: a client never
     * finds the socket before it accepts connections. 0660 from the start (umask): no window in
     * which others may connect. */
    struct sockaddr_un tsa = sa;
    int tn = snprintf(tsa.sun_path, sizeof(tsa.sun_path), "%s.%d", path, (int)getpid());
    if (tn < 0 || (size_t)tn >= sizeof(tsa.sun_path))
        tsa = sa; /* no room for a temporary name: bind in place */
    else
        unlink(tsa.sun_path); /* left by a killed run with our pid */
    mode_t old = umask(0117);
    r = bind(c->fd, (struct sockaddr *)&tsa, sizeof(tsa));
    umask(old);
    if (r != 0)
        goto fail_errno;
    struct stat st;
    if (listen(c->fd, 8) != 0 || chmod(tsa.sun_path, 0660) != 0)
        goto fail_unlink_tmp;
    if (strcmp(tsa.sun_path, path) != 0 && rename(tsa.sun_path, path) != 0)
        goto fail_unlink_tmp;
    if (stat(path, &st) != 0)
        goto fail_unlink;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
start:
    if (pthread_create(&c->thr, NULL, control_main, c) != 0) {
        errno = EAGAIN;
        if (!path)
            goto fail_errno;
        goto fail_unlink;
    }
    c->started = true;
    return c;
fail_unlink_tmp:
    snprintf(err, errlen, "control socket %s: %s", tsa.sun_path, strerror(errno));
    unlink(tsa.sun_path);
    goto fail;
fail_unlink:
    snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
    unlink(path);
    goto fail;
fail_errno:
    snprintf(err, errlen, "control socket %s: %s", path ? path : "(none)", strerror(errno));
fail:
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    return NULL;
}

void control_stop(struct control *c)
{
    if (!c)
        return;
    atomic_store(&c->quit, true);
    if (c->started)
        pthread_join(c->thr, NULL);
    if (c->fd < 0) {
        free(c);
        return;
    }
    close(c->fd);
    /* remove the socket only if it is still ours (not replaced by another instance) */
    struct stat st;
    if (stat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
        unlink(c->path);
    free(c);
}
