/* Redis output against a real redis-server on a random loopback port (AOF with fsync always, so
 * what Redis acknowledged survives SIGKILL): every event arrives whole and parses; then the
 * server is killed in the middle of a stream and restarted, and the distinct events in the list
 * must equal the events produced. Also XADD and PUBLISH shapes. Skips (77) without redis-server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "out_util.h"

struct srv {
    char *dir;
    int port;
    pid_t pid;
    char log[300];
};

static const char *redis_bin;

static bool redis_up(int port)
{
    struct timeval tv = {.tv_sec = 1};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return false;
    }
    redisReply *r = redisCommand(c, "PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

static void srv_start(struct srv *s)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    char *argv[] = {(char *)redis_bin, "--port", port, "--bind", "127.0.0.1", "--dir", s->dir,
                    "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                    "--daemonize", "no", NULL};
    s->pid = tu_spawn(argv, s->log);
    for (int i = 0; i < 500 && !redis_up(s->port); i++)
        tu_sleep_ms(10);
    if (!redis_up(s->port))
        fail_msg("redis-server did not start (see %s)", s->log);
}

static redisReply *cmd(int port, const char *fmt, const char *arg)
{
    struct timeval tv = {.tv_sec = 5};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, fmt, arg);
    redisFree(c);
    return r;
}

static struct outputs *redis_out(struct srv *s, const char *mode, const char *key)
{
    struct output_config c;
    char err[256], port[16], spool[400];
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(spool, sizeof(spool), "%s/spool-%s", s->dir, mode);
    output_config_default(&c);
    const char *kv[] = {"type", "redis", "address", "127.0.0.1", "port", port, "redis-mode", mode,
                        "key", key, "spool-dir", spool, "retry-min-ms", "20", "retry-max-ms", "200",
                        "sensor-id", "sensor-A", NULL};
    for (const char *const *p = kv; *p; p += 2)
        if (output_config_set(&c, p[0], p[1], err, sizeof(err)) != 0)
            fail_msg("%s", err);
    struct outputs *o = outputs_new(&c, 1, err, sizeof(err));
    if (!o)
        fail_msg("%s", err);
    return o;
}

static int setup(void **state)
{
    struct srv *s = calloc(1, sizeof(*s));
    s->dir = tu_tmpdir("redis");
    s->port = tu_free_port();
    snprintf(s->log, sizeof(s->log), "%s/redis.log", s->dir);
    srv_start(s);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct srv *s = *state;
    tu_kill_wait(s->pid, SIGTERM);
    tu_rmrf(s->dir);
    free(s->dir);
    free(s);
    return 0;
}

/* Elements of a list as lines. */
static char **list_all(int port, const char *key, size_t *n)
{
    redisReply *r = cmd(port, "LRANGE %s 0 -1", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    char **v = calloc(r->elements + 1, sizeof(*v));
    for (size_t i = 0; i < r->elements; i++)
        v[i] = strndup(r->element[i]->str, r->element[i]->len);
    *n = r->elements;
    freeReplyObject(r);
    return v;
}

static void test_list_kill_restart(void **state)
{
    struct srv *s = *state;
    const unsigned first = 1000, total = 3000;
    struct outputs *o = redis_out(s, "rpush", "tripline");
    for (unsigned i = 0; i < first; i++) {
        struct event e = tu_flow_event(i);
        assert_int_equal(outputs_write_event(o, &e), 0);
    }
    assert_true(outputs_drain(o, 30000));
    size_t n;
    char **l = list_all(s->port, "tripline", &n);
    assert_int_equal(n, first);
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_loads(l[i], 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "tripline_seq")), i + 1);
        assert_string_equal(json_string_value(json_object_get(j, "sensor_id")), "sensor-A");
        assert_string_equal(json_string_value(json_object_get(j, "event_type")), "flow");
        json_decref(j);
    }
    tu_free_lines(l, n);

    /* kill the collector while events stream */
    for (unsigned i = first; i < total; i++) {
        struct event e = tu_flow_event(i);
        assert_int_equal(outputs_write_event(o, &e), 0);
        if (i == first + 500)
            tu_kill_wait(s->pid, SIGKILL);
    }
    struct output_stats st;
    outputs_stats(o, 0, &st);
    srv_start(s); /* same port and AOF: what was acknowledged is back */
    assert_true(outputs_drain(o, 60000));
    outputs_stats(o, 0, &st);
    assert_true(st.send_errors > 0); /* the kill was seen */
    outputs_free(o);
    l = list_all(s->port, "tripline", &n);
    long long maxseq;
    long distinct = tu_count_distinct(l, n, total, &maxseq);
    assert_int_equal(distinct, total);
    assert_int_equal(maxseq, total);
    tu_free_lines(l, n);
}

static void test_stream_and_channel(void **state)
{
    struct srv *s = *state;
    struct outputs *o = redis_out(s, "stream", "eve-stream");
    for (unsigned i = 0; i < 20; i++) {
        struct event e = tu_alert_event(i, 1);
        outputs_write_event(o, &e);
    }
    assert_true(outputs_drain(o, 30000));
    outputs_free(o);
    redisReply *r = cmd(s->port, "XRANGE %s - +", "eve-stream");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 20);
    redisReply *fields = r->element[0]->element[1];
    assert_string_equal(fields->element[0]->str, "eve");
    json_t *j = json_loads(fields->element[1]->str, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "event_type")), "alert");
    json_decref(j);
    freeReplyObject(r);
    /* PUBLISH: nobody listens, so Redis answers 0 receivers; delivered all the same */
    o = redis_out(s, "channel", "eve-channel");
    struct event e = tu_flow_event(1);
    outputs_write_event(o, &e);
    assert_true(outputs_drain(o, 30000));
    struct output_stats st;
    outputs_stats(o, 0, &st);
    assert_int_equal(st.sent, 1);
    outputs_free(o);
}

int main(void)
{
    redis_bin = tu_find_bin("redis-server");
    if (!redis_bin) {
        fprintf(stderr, "SKIP: redis-server not installed (Debian package redis-server)\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_kill_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_and_channel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
