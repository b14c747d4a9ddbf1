/* Helpers for the tests that run the real `tripline` binary on a real capture with network outputs
 * from its config file: the rules file, the child process, its EVE file (what it produced) and
 * the stats records in it (what its outputs saw), and the check that a received record is an
 * EVE line whole. Header-only, static; needs out_util.h first. */
#ifndef TRIPLINE_TEST_REPLAY_UTIL_H
#define TRIPLINE_TEST_REPLAY_UTIL_H

#include "out_util.h"

/* One rule that fires on every IP packet: a capture of N packets gives N alerts, spread over the
 * whole replay, next to the flow and stats records. */
#define RU_RULE "alert ip any any -> any any (msg:\"tripline output test: every packet\"; sid:9000001; rev:1;)\n"
#define RU_SENSOR_ID "dk-probe-7"
#define RU_HOST "probe-7.example"

struct ru_run {
    char dir[320];
    char cfg[360], rules[360], eve[360], log[360];
    pid_t pid;
    int status; /* wait status once exited */
    bool exited;
};

static inline void ru_init(struct ru_run *r, const char *dir)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "%s", dir);
    snprintf(r->cfg, sizeof(r->cfg), "%s/tripline.yaml", dir);
    snprintf(r->rules, sizeof(r->rules), "%s/every-packet.rules", dir);
    snprintf(r->eve, sizeof(r->eve), "%s/eve.json", dir);
    snprintf(r->log, sizeof(r->log), "%s/tripline.log", dir);
    FILE *f = fopen(r->rules, "w");
    if (f) {
        fputs(RU_RULE, f);
        fclose(f);
    }
}

/* Starts the config file: stats once a second and an EVE file of every record with the same
 * sensor-id and host name as the network outputs (so its lines are what those must carry). The
 * caller appends its outputs (two-space indented names) and closes the file. */
static inline FILE *ru_config_begin(struct ru_run *r)
{
    FILE *f = fopen(r->cfg, "w");
    if (!f)
        return NULL;
    fprintf(f,
            "stats:\n  interval: 1\n"
            "outputs:\n"
            "  eve-log:\n    filename: %s\n    sensor-id: %s\n    hostname: %s\n",
            r->eve, RU_SENSOR_ID, RU_HOST);
    return f;
}

/* The settings every network output of these tests shares: spool, fast retry, a long flush
 * timeout at exit (the collector is back by then: everything must be delivered, not spooled),
 * sensor-id and host name. */
static inline void ru_config_net_common(FILE *f, const char *dir, const char *name)
{
    fprintf(f,
            "    spool-dir: %s/spool-%s\n    retry-min-ms: 20\n    retry-max-ms: 200\n"
            "    flush-timeout-ms: 20000\n    sensor-id: %s\n    hostname: %s\n",
            dir, name, RU_SENSOR_ID, RU_HOST);
}

/* Runs `tripline -c CFG -r CAPTURE -S RULES --workers 1 --pcap-speed SPEED` in the background. */
static inline pid_t ru_start(struct ru_run *r, const char *tripline, const char *capture, const char *speed)
{
    char *argv[] = {(char *)tripline, "-c", r->cfg, "-r", (char *)capture, "-S", r->rules, "-l", r->dir,
                    "--workers", "1", "--pcap-speed", (char *)speed, NULL};
    r->exited = false;
    r->pid = tu_spawn(argv, r->log);
    return r->pid;
}

static inline bool ru_alive(struct ru_run *r)
{
    if (r->exited)
        return false;
    if (waitpid(r->pid, &r->status, WNOHANG) == r->pid)
        r->exited = true;
    return !r->exited;
}

static inline void ru_dump_log(const struct ru_run *r)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "tail -25 '%s' >&2", r->log);
    if (system(cmd) != 0)
        fprintf(stderr, "(no tripline log)\n");
}

/* Waits for tripline to exit (up to timeout_ms, then SIGKILL); returns its exit code or -1. */
static inline int ru_wait(struct ru_run *r, unsigned timeout_ms)
{
    for (unsigned t = 0; ru_alive(r) && t < timeout_ms; t += 20)
        tu_sleep_ms(20);
    if (!r->exited) {
        fprintf(stderr, "tripline still running after %u ms: killed\n", timeout_ms);
        tu_kill_wait(r->pid, SIGKILL);
        r->exited = true;
        return -1;
    }
    return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* Counter `field` of output `name` in the last complete stats record of the EVE file (the file is
 * flushed once a second; a partly written last line is skipped); -1 when there is none yet. */
static inline long long ru_last_output_stat(const char *eve, const char *name, const char *field)
{
    size_t n;
    char **l = tu_read_lines(eve, &n);
    long long v = -1;
    for (size_t i = n; i-- > 0 && v < 0;) {
        if (!strstr(l[i], "\"event_type\":\"stats\""))
            continue;
        json_t *j = json_loads(l[i], 0, NULL);
        if (!j)
            continue;
        json_t *o = json_object_get(json_object_get(json_object_get(json_object_get(j, "stats"), "outputs"),
                                                    name), field);
        if (json_is_integer(o))
            v = (long long)json_integer_value(o);
        json_decref(j);
    }
    tu_free_lines(l, n);
    return v;
}

/* The records tripline produced: its EVE file, every line one JSON object. */
struct ru_produced {
    char **lines;
    size_t n, alerts, flows, stats;
    long long base; /* tripline_seq of line i is base + i + 1 (a later run continues the numbers) */
};

static inline void ru_read_produced(const struct ru_run *r, struct ru_produced *p)
{
    memset(p, 0, sizeof(*p));
    p->lines = tu_read_lines(r->eve, &p->n);
    for (size_t i = 0; i < p->n; i++) {
        json_t *j = json_loads(p->lines[i], 0, NULL);
        if (!j)
            fail_msg("%s:%zu is not JSON: %.200s", r->eve, i + 1, p->lines[i]);
        const char *t = json_string_value(json_object_get(j, "event_type"));
        if (t && !strcmp(t, "alert"))
            p->alerts++;
        else if (t && !strcmp(t, "flow"))
            p->flows++;
        else if (t && !strcmp(t, "stats"))
            p->stats++;
        json_decref(j);
    }
}

/* Checks tripline's exit summary ("events written N ...") against the EVE file: N events plus
 * the stats records. */
static inline void ru_check_summary(const struct ru_run *r, const struct ru_produced *p)
{
    size_t n;
    char **l = tu_read_lines(r->log, &n);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        const char *s = strstr(l[i], "events written ");
        unsigned long long w;
        if (s && sscanf(s, "events written %llu", &w) == 1) {
            found = true;
            if (w + p->stats != p->n)
                fail_msg("tripline says it wrote %llu events, the EVE file holds %zu records (%zu stats)", w,
                         p->n, p->stats);
        }
    }
    tu_free_lines(l, n);
    if (!found)
        fail_msg("no 'events written' line in tripline's summary (%s)", r->log);
}

/* Checks one received record against what tripline produced: whole JSON, carrying the sensor id
 * (and the host name on events), and equal to EVE line `seq` with ,"tripline_seq":seq added.
 * Returns its tripline_seq. */
static inline long long ru_check_record(const struct ru_produced *p, const char *label, const char *rec,
                                        size_t len)
{
    json_t *j = json_loadb(rec, len, 0, NULL);
    if (!j)
        fail_msg("%s: record is not whole JSON: %.300s", label, rec);
    json_t *s = json_object_get(j, "tripline_seq");
    if (!json_is_integer(s))
        fail_msg("%s: record without tripline_seq: %.300s", label, rec);
    long long seq = (long long)json_integer_value(s);
    const char *sid = json_string_value(json_object_get(j, "sensor_id"));
    const char *type = json_string_value(json_object_get(j, "event_type"));
    const char *host = json_string_value(json_object_get(j, "host"));
    if (!sid || strcmp(sid, RU_SENSOR_ID) != 0)
        fail_msg("%s: record %lld without sensor_id %s", label, seq, RU_SENSOR_ID);
    if (type && strcmp(type, "stats") != 0 && (!host || strcmp(host, RU_HOST) != 0))
        fail_msg("%s: %s record %lld without host %s", label, type, seq, RU_HOST);
    json_decref(j);
    if (seq <= p->base || seq > p->base + (long long)p->n)
        fail_msg("%s: tripline_seq %lld outside %lld..%lld (records produced)", label, seq, p->base + 1,
                 p->base + (long long)p->n);
    const char *o = p->lines[seq - p->base - 1];
    size_t ol = strlen(o) - 1; /* without its closing brace */
    char tail[48];
    int tl = snprintf(tail, sizeof(tail), ",\"tripline_seq\":%lld}", seq);
    if (len != ol + (size_t)tl || memcmp(rec, o, ol) != 0 || memcmp(rec + ol, tail, (size_t)tl) != 0)
        fail_msg("%s: record %lld is not EVE line %lld whole:\n got %.400s\nwant %.400s", label, seq,
                 seq - p->base, rec, o);
    return seq;
}

/* Distinct sequence numbers among checked records (duplicates from at-least-once resends are
 * dropped, as a collector does). */
static inline size_t ru_distinct(const struct ru_produced *p, const char *label, char **recs, size_t n)
{
    unsigned char *seen = calloc(p->n + 1, 1);
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rec = recs[i];
        json_t *whole = json_loads(rec, 0, NULL);
        if (whole)
            json_decref(whole);
        else if (strstr(rec + 1, "{\"timestamp\"")) {
            /* rsyslog killed with SIGKILL can leave the head of a line it had half written (its
             * omfile flushes a full I/O buffer mid-line); after the restart the next record follows
             * on that line. The head is the collector's loss, covered by the sender's resend:
             * check the whole record behind it. */
            rec = strstr(rec + 1, "{\"timestamp\"");
            fprintf(stderr, "%s: note: a record cut by the collector's kill precedes another\n", label);
        }
        long long s = ru_check_record(p, label, rec, strlen(rec)) - p->base;
        if (!seen[s]) {
            seen[s] = 1;
            d++;
        }
    }
    if (d != p->n) {
        for (size_t s = 1; s <= p->n; s++)
            if (!seen[s]) {
                fprintf(stderr, "%s: first missing record: seq %lld: %.300s\n", label, (long long)s + p->base,
                        p->lines[s - 1]);
                break;
            }
    }
    free(seen);
    print_message("%s: %zu records received, %zu distinct, %zu produced\n", label, n, d, p->n);
    return d;
}

#endif
