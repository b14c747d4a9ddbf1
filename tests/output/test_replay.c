/* A real capture through the real sensor, then through the outputs: `tripline -r CAPTURE` makes
 * the events (EVE lines), which are written to two outputs at once, a Redis list (redis-server
 * on a random loopback port, killed with SIGKILL in the middle and restarted) and a Unix stream
 * collector. Every event must arrive whole (the original line plus our fields) and the distinct
 * events received must equal the events produced, on both.
 *   test_replay TRIPLINE_BINARY CAPTURE          (skips, 77, without redis-server or the capture) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "out_util.h"

static const char *tripline_bin, *capture;
static char redis_bin[256];

static bool redis_up(int port)
{
    struct timeval tv = {.tv_sec = 1};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = c && !c->err;
    if (ok) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

static pid_t redis_start(const char *dir, int port)
{
    char p[16], log[400];
    snprintf(p, sizeof(p), "%d", port);
    snprintf(log, sizeof(log), "%s/redis.log", dir);
    char *argv[] = {redis_bin, "--port", p, "--bind", "127.0.0.1", "--dir", (char *)dir, "--save", "",
                    "--appendonly", "yes", "--appendfsync", "always", NULL};
    pid_t pid = tu_spawn(argv, log);
    for (int i = 0; i < 500 && !redis_up(port); i++)
        tu_sleep_ms(10);
    assert_true(redis_up(port));
    return pid;
}

static enum output_class class_of(const char *line)
{
    if (strstr(line, "\"event_type\":\"alert\""))
        return OUTPUT_CLASS_ALERT;
    if (strstr(line, "\"event_type\":\"anomaly\""))
        return OUTPUT_CLASS_ANOMALY;
    if (strstr(line, "\"event_type\":\"stats\""))
        return OUTPUT_CLASS_STATS;
    return OUTPUT_CLASS_FLOW;
}

/* Each received record must be an original line with our fields appended before its '}'. */
static void check_whole(char **orig, size_t norig, char **got, size_t ngot)
{
    for (size_t i = 0; i < ngot; i++) {
        long long seq = tu_seq_of(got[i], strlen(got[i]));
        assert_true(seq >= 1 && (size_t)seq <= norig);
        const char *o = orig[seq - 1];
        size_t ol = strlen(o) - 1; /* without the closing brace */
        if (strncmp(got[i], o, ol) != 0 || strncmp(got[i] + ol, ",\"tripline_seq\":", 16) != 0)
            fail_msg("record %lld not whole:\n got %.300s\nwant %.300s", seq, got[i], o);
    }
}

static void test_capture_replay(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("replay");
    char cmd[1200], eve[400];
    snprintf(cmd, sizeof(cmd), "'%s' -r '%s' -l '%s' --workers 1 >'%s/tripline.log' 2>&1", tripline_bin,
             capture, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(eve, sizeof(eve), "%s/eve.json", dir);
    size_t n;
    char **lines = tu_read_lines(eve, &n);
    assert_true(n >= 50);

    int port = tu_free_port();
    pid_t rpid = redis_start(dir, port);
    struct tu_collector col;
    char sock[400], sp1[400], sp2[400], ps[16], err[256];
    snprintf(sock, sizeof(sock), "%s/c.sock", dir);
    snprintf(sp1, sizeof(sp1), "%s/spool-redis", dir);
    snprintf(sp2, sizeof(sp2), "%s/spool-unix", dir);
    snprintf(ps, sizeof(ps), "%d", port);
    assert_int_equal(tu_collector_start(&col, sock), 0);
    struct output_config c[2];
    output_config_default(&c[0]);
    output_config_default(&c[1]);
    const char *kv0[] = {"type", "redis", "address", "127.0.0.1", "port", ps, "redis-mode", "rpush", "key",
                         "eve", "spool-dir", sp1, "retry-min-ms", "20", "retry-max-ms", "200", NULL};
    const char *kv1[] = {"type", "unix-stream", "filename", sock, "spool-dir", sp2, NULL};
    for (const char *const *p = kv0; *p; p += 2)
        assert_int_equal(output_config_set(&c[0], p[0], p[1], err, sizeof(err)), 0);
    for (const char *const *p = kv1; *p; p += 2)
        assert_int_equal(output_config_set(&c[1], p[0], p[1], err, sizeof(err)), 0);
    struct outputs *o = outputs_new(c, 2, err, sizeof(err));
    if (!o)
        fail_msg("%s", err);
    for (size_t i = 0; i < n; i++) {
        struct output_record_meta m = {.cls = class_of(lines[i])};
        assert_int_equal(outputs_write_json(o, &m, lines[i], strlen(lines[i])), 0);
        if (i == n / 2)
            tu_kill_wait(rpid, SIGKILL); /* the collector dies mid-replay */
    }
    outputs_tick(o, 1700000000ull * 1000000000ull); /* wakes the senders for the tail */
    struct output_stats st;
    for (int i = 0; i < 500; i++) { /* until the sender has met the dead server */
        outputs_stats(o, 0, &st);
        if (st.send_errors)
            break;
        tu_sleep_ms(10);
    }
    assert_true(st.send_errors > 0);
    rpid = redis_start(dir, port);
    assert_true(outputs_drain(o, 60000));
    outputs_free(o);
    for (int i = 0; i < 500 && tu_collector_count(&col) < n; i++)
        tu_sleep_ms(10);
    tu_collector_stop(&col);

    struct timeval tv = {.tv_sec = 5};
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r = redisCommand(rc, "LRANGE eve 0 -1");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    char **got = calloc(r->elements + 1, sizeof(*got));
    for (size_t i = 0; i < r->elements; i++)
        got[i] = strndup(r->element[i]->str, r->element[i]->len);
    size_t ngot = r->elements;
    freeReplyObject(r);
    redisFree(rc);
    long long mx;
    assert_int_equal(tu_count_distinct(got, ngot, (long long)n, &mx), (long)n);
    check_whole(lines, n, got, ngot);
    assert_int_equal(tu_count_distinct(col.lines, col.n, (long long)n, &mx), (long)n);
    check_whole(lines, n, col.lines, col.n);
    tu_free_lines(got, ngot);
    tu_collector_free(&col);
    tu_kill_wait(rpid, SIGTERM);
    tu_free_lines(lines, n);
    tu_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_replay TRIPLINE CAPTURE\n");
        return 1;
    }
    tripline_bin = argv[1];
    capture = argv[2];
    const char *p = tu_find_bin("redis-server");
    if (!p) {
        fprintf(stderr, "SKIP: redis-server not installed (Debian package redis-server)\n");
        return 77;
    }
    snprintf(redis_bin, sizeof(redis_bin), "%s", p);
    if (access(capture, R_OK) != 0) {
        fprintf(stderr, "SKIP: capture %s not readable\n", capture);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
