/* fever (the Debian package, a real EVE consumer) reads Tripline's output: from the Unix socket
 * it listens on (our unix-stream output) and from a Redis list (key "suricata", our redis output
 * in lpush mode); it forwards what it parsed to a socket this test serves (multi-forward with a
 * buffer: its plain -o forwarder drops events). Every event must come out of fever whole.
 * Skips (77) without fever (or, for the Redis part, without redis-server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "out_util.h"

static char fever_bin[256], redis_bin[256];

struct fv {
    char *dir;
    char conf[300], in_sock[300], fwd_sock[300], mgmt[300], log[300];
    pid_t pid, redis_pid;
    int redis_port;
    struct tu_collector col;
};

static void write_conf(struct fv *f, bool redis)
{
    FILE *c = fopen(f->conf, "w");
    fprintf(c, "input:\n");
    if (redis)
        fprintf(c, "  redis:\n    server: 127.0.0.1:%d\n", f->redis_port);
    else
        fprintf(c, "  socket: %s\n  buffer: 100000\n  buffer-drop: false\n", f->in_sock);
    fprintf(c, "multi-forward:\n  all:\n    socket: %s\n    all: true\n    buffer-length: 100000\n    types: []\n"
               "mgmt:\n  socket: %s\nlogging:\n  file: %s\n",
            f->fwd_sock, f->mgmt, f->log);
    fclose(c);
}

static void fever_start(struct fv *f)
{
    char *argv[] = {fever_bin, "run", "--config", f->conf, "--mgmt-socket", f->mgmt, "-o", "", NULL};
    f->pid = tu_spawn(argv, f->log);
}

static struct outputs *out_for(struct fv *f, bool redis)
{
    struct output_config c;
    char err[256], spool[400], port[16];
    snprintf(spool, sizeof(spool), "%s/spool", f->dir);
    snprintf(port, sizeof(port), "%d", f->redis_port);
    output_config_default(&c);
    const char *kv_sock[] = {"type", "unix-stream", "filename", f->in_sock, NULL};
    const char *kv_redis[] = {"type", "redis", "address", "127.0.0.1", "port", port, "redis-mode", "lpush",
                              "key", "suricata", NULL};
    for (const char *const *p = redis ? kv_redis : kv_sock; *p; p += 2)
        if (output_config_set(&c, p[0], p[1], err, sizeof(err)) != 0)
            fail_msg("%s", err);
    output_config_set(&c, "spool-dir", spool, err, sizeof(err));
    output_config_set(&c, "retry-min-ms", "20", err, sizeof(err));
    output_config_set(&c, "retry-max-ms", "200", err, sizeof(err));
    struct outputs *o = outputs_new(&c, 1, err, sizeof(err));
    if (!o)
        fail_msg("%s", err);
    return o;
}

static void run(struct fv *f, bool redis)
{
    f->dir = tu_tmpdir("fever");
    snprintf(f->conf, sizeof(f->conf), "%s/fever.yaml", f->dir);
    snprintf(f->in_sock, sizeof(f->in_sock), "%s/in.sock", f->dir);
    snprintf(f->fwd_sock, sizeof(f->fwd_sock), "%s/fwd.sock", f->dir);
    snprintf(f->mgmt, sizeof(f->mgmt), "%s/mgmt.sock", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/fever.log", f->dir);
    if (redis) {
        char rlog[320], port[16];
        snprintf(rlog, sizeof(rlog), "%s/redis.log", f->dir);
        f->redis_port = tu_free_port();
        snprintf(port, sizeof(port), "%d", f->redis_port);
        char *argv[] = {redis_bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--dir", f->dir, NULL};
        f->redis_pid = tu_spawn(argv, rlog);
        for (int i = 0; i < 500 && !tu_port_open(f->redis_port); i++)
            tu_sleep_ms(10);
    }
    assert_int_equal(tu_collector_start(&f->col, f->fwd_sock), 0);
    write_conf(f, redis);
    fever_start(f);
    const unsigned n = 300;
    struct outputs *o = out_for(f, redis);
    for (unsigned i = 0; i < n; i++) {
        struct event e = i % 3 ? tu_flow_event(i) : tu_alert_event(i, 1);
        assert_int_equal(outputs_write_event(o, &e), 0);
    }
    assert_true(outputs_drain(o, 30000));
    outputs_free(o);
    for (int i = 0; i < 1500 && tu_collector_count(&f->col) < n; i++)
        tu_sleep_ms(20);
    tu_kill_wait(f->pid, SIGTERM);
    tu_collector_stop(&f->col);
    if (f->col.n != n) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "tail -20 '%s' >&2", f->log);
        if (system(cmd) != 0)
            fprintf(stderr, "no fever log\n");
    }
    assert_int_equal(f->col.n, n);
    long long mx;
    assert_int_equal(tu_count_distinct(f->col.lines, f->col.n, n, &mx), n);
    tu_collector_free(&f->col);
    if (redis)
        tu_kill_wait(f->redis_pid, SIGTERM);
    tu_rmrf(f->dir);
    free(f->dir);
}

static void test_fever_unix_socket(void **state)
{
    (void)state;
    struct fv f = {0};
    run(&f, false);
}

static void test_fever_redis(void **state)
{
    (void)state;
    if (!redis_bin[0])
        skip();
    struct fv f = {0};
    run(&f, true);
}

int main(void)
{
    const char *p = tu_find_bin("fever");
    if (!p) {
        fprintf(stderr, "SKIP: fever not installed (Debian package fever)\n");
        return 77;
    }
    snprintf(fever_bin, sizeof(fever_bin), "%s", p);
    p = tu_find_bin("redis-server");
    if (p)
        snprintf(redis_bin, sizeof(redis_bin), "%s", p);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fever_unix_socket),
        cmocka_unit_test(test_fever_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
