/* tripline-ctl: sends one command to a running tripline over its control socket and prints the
 * JSON reply (see man/tripline-ctl.1 and sensor/engine/control.h for the protocol). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tripline_config.h"

enum {
    CTL_OK = 0,
    CTL_FAILED = 1,   /* tripline answered: the command failed (reply "ok": false) */
    CTL_USAGE = 2,
    CTL_CONNECT = 3,  /* no socket, connection refused, permission denied */
    CTL_PROTOCOL = 4, /* no reply in time, connection closed, reply not JSON */
};

#define DEFAULT_RUN_SOCKET "/run/tripline/tripline.sock"
#define REPLY_MAX (1u << 20)

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: tripline-ctl [-s SOCKET | -l DIR] [-t SECONDS] [--compact] COMMAND\n"
            "\n"
            "Commands:\n"
            "  reload-rules   re-read and compile the rule files, swap them in without stopping\n"
            "                 capture (a rule file that fails keeps the running rules)\n"
            "  stats          counters (packets, drops, flows, alerts, rules, reloads) as JSON\n"
            "  shutdown       stop capture, drain the pipeline and exit (as SIGTERM)\n"
            "  version        the running tripline's version\n"
            "\n"
            "Options:\n"
            "  -s, --socket PATH  control socket (default: $TRIPLINE_CONTROL_SOCKET, else\n"
            "                     " DEFAULT_RUN_SOCKET " if it exists, else ./tripline.sock)\n"
            "  -l, --log-dir DIR  the socket of a tripline run with -l DIR (DIR/tripline.sock)\n"
            "  -t, --timeout S    seconds to wait for the reply (default 120)\n"
            "      --compact      print the reply on one line\n"
            "  -h, --help, -V, --version\n"
            "\n"
            "Exit status: 0 done; 1 tripline answered that the command failed (the reason is\n"
            "printed); 2 usage; 3 cannot connect (no socket, refused, permission); 4 no or bad\n"
            "reply.\n");
}

static const char *default_socket(void)
{
    const char *env = getenv("TRIPLINE_CONTROL_SOCKET");
    if (env && env[0])
        return env;
    struct stat st;
    if (stat(DEFAULT_RUN_SOCKET, &st) == 0)
        return DEFAULT_RUN_SOCKET;
    return "./tripline.sock";
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int connect_socket(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "tripline-ctl: %s: socket path too long (at most %zu bytes)\n", path,
                sizeof(sa.sun_path) - 1);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "tripline-ctl: socket: %s\n", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return fd;
    int e = errno;
    close(fd);
    if (e == ENOENT)
        fprintf(stderr, "tripline-ctl: %s: no such socket: is tripline running (with this log "
                        "directory or control-socket)?\n", path);
    else if (e == ECONNREFUSED)
        fprintf(stderr, "tripline-ctl: %s: connection refused: no tripline is listening (a stale "
                        "socket of a stopped run?)\n", path);
    else if (e == EACCES || e == EPERM)
        fprintf(stderr, "tripline-ctl: %s: permission denied (the socket is mode 0660: run as "
                        "its owner or group)\n", path);
    else if (e == ENOTSOCK)
        fprintf(stderr, "tripline-ctl: %s: not a socket\n", path);
    else
        fprintf(stderr, "tripline-ctl: %s: %s\n", path, strerror(e));
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"log-dir", required_argument, NULL, 'l'},
        {"timeout", required_argument, NULL, 't'},
        {"compact", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    char pathbuf[4096];
    double timeout_s = 120;
    bool compact = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:l:t:hV", opts, NULL)) != -1) {
        switch (c) {
        case 's': path = optarg; break;
        case 'l':
            snprintf(pathbuf, sizeof(pathbuf), "%s/tripline.sock", optarg);
            path = pathbuf;
            break;
        case 't': {
            char *end;
            timeout_s = strtod(optarg, &end);
            if (*end || !(timeout_s > 0) || timeout_s > 86400) {
                fprintf(stderr, "tripline-ctl: -t takes seconds (0 < S <= 86400), not '%s'\n", optarg);
                return CTL_USAGE;
            }
            break;
        }
        case 'C': compact = true; break;
        case 'h': usage(stdout); return CTL_OK;
        case 'V': printf("tripline-ctl %s\n", TRIPLINE_VERSION); return CTL_OK;
        default: usage(stderr); return CTL_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "tripline-ctl: %s\n", optind >= argc ? "give one COMMAND" : "give only one COMMAND");
        usage(stderr);
        return CTL_USAGE;
    }
    const char *cmd = argv[optind];
    static const char *known[] = {"reload-rules", "stats", "shutdown", "version"};
    bool ok_cmd = false;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok_cmd |= strcmp(cmd, known[i]) == 0;
    if (!ok_cmd) {
        fprintf(stderr, "tripline-ctl: unknown command '%s' (reload-rules, stats, shutdown, version)\n", cmd);
        return CTL_USAGE;
    }
    if (!path)
        path = default_socket();

    int fd = connect_socket(path);
    if (fd < 0)
        return CTL_CONNECT;
    int rc = CTL_PROTOCOL;
    char *buf = malloc(REPLY_MAX);
    if (!buf) {
        fprintf(stderr, "tripline-ctl: out of memory\n");
        close(fd);
        return CTL_PROTOCOL;
    }
    char line[128];
    int n = snprintf(line, sizeof(line), "%s\n", cmd);
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        fprintf(stderr, "tripline-ctl: %s: cannot send: %s\n", path, strerror(errno));
        goto out;
    }
    shutdown(fd, SHUT_WR); /* one request: the server answers and closes at EOF */
    size_t have = 0;
    uint64_t deadline = mono_ms() + (uint64_t)(timeout_s * 1000);
    char *nl = NULL;
    while (!(nl = memchr(buf, '\n', have))) {
        uint64_t now = mono_ms();
        if (now >= deadline) {
            fprintf(stderr, "tripline-ctl: %s: no reply within %g s\n", path, timeout_s);
            goto out;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)(deadline - now));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t r = recv(fd, buf + have, REPLY_MAX - 1 - have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || have + (size_t)r >= REPLY_MAX - 1) {
            fprintf(stderr, "tripline-ctl: %s: %s\n", path,
                    r <= 0 ? "connection closed without a reply" : "reply too long");
            goto out;
        }
        have += (size_t)r;
    }
    json_error_t jerr;
    json_t *o = json_loadb(buf, (size_t)(nl - buf), 0, &jerr);
    if (!o || !json_is_object(o)) {
        fprintf(stderr, "tripline-ctl: %s: reply is not a JSON object: %s\n", path,
                o ? "(other JSON value)" : jerr.text);
        json_decref(o);
        goto out;
    }
    char *txt = json_dumps(o, compact ? JSON_COMPACT : JSON_INDENT(2));
    if (txt) {
        puts(txt);
        free(txt);
    }
    json_t *ok = json_object_get(o, "ok");
    if (json_is_true(ok)) {
        rc = CTL_OK;
    } else {
        const char *why = json_string_value(json_object_get(o, "error"));
        fprintf(stderr, "tripline-ctl: %s failed: %s\n", cmd, why ? why : "(no reason given)");
        rc = CTL_FAILED;
    }
    json_decref(o);
out:
    free(buf);
    close(fd);
    return rc;
}
