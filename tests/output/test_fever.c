/* fever (the Debian package, a real EVE consumer) reads what the real sensor sends: `tripline`
 * replays a real capture (one rule alerting on every packet: alerts, flows, stats) with a config
 * whose outputs: section holds an EVE file and either a unix-stream output to the socket fever
 * listens on, or a redis output (LPUSH, key "suricata") to a redis-server fever reads. fever
 * forwards what it parsed to a socket this test serves (multi-forward with a buffer: its plain
 * -o forwarder drops events). Every record must come out of fever parsed and whole, and the
 * distinct records (by tripline_seq) must equal the records tripline produced (its EVE file).
 *   test_fever TRIPLINE CAPTURE   (skips, 77, without fever; the Redis part without redis-server) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "replay_util.h"

static char fever_bin[256], redis_bin[256];
static const char *tripline_bin, *capture;

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
    char *argv[] = {fever_bin, "run", "--config", f->conf, "--mgmt-socket", f->mgmt, "-o", "", NULL};
    f->pid = tu_spawn(argv, f->log);

    struct ru_run r;
    ru_init(&r, f->dir);
    FILE *c = ru_config_begin(&r);
    assert_non_null(c);
    if (redis)
        fprintf(c, "  to-fever:\n    type: redis\n    address: 127.0.0.1\n    port: %d\n    redis-mode: lpush\n"
                   "    key: suricata\n", f->redis_port);
    else
        fprintf(c, "  to-fever:\n    type: unix-stream\n    filename: %s\n", f->in_sock);
    ru_config_net_common(c, f->dir, "fever");
    fclose(c);
    /* unpaced: fever's socket may come up after tripline starts; the spool holds records meanwhile */
    ru_start(&r, tripline_bin, capture, "0");
    int rc = ru_wait(&r, 60000);
    if (rc != 0) {
        ru_dump_log(&r);
        fail_msg("tripline exited with %d", rc);
    }
    struct ru_produced p;
    ru_read_produced(&r, &p);
    ru_check_summary(&r, &p);
    assert_true(p.alerts > 100 && p.flows > 0 && p.stats > 0);
    for (int i = 0; i < 1500 && tu_collector_count(&f->col) < p.n; i++)
        tu_sleep_ms(20);
    tu_kill_wait(f->pid, SIGTERM);
    tu_collector_stop(&f->col);
    if (f->col.n < p.n) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "tail -20 '%s' >&2", f->log);
        if (system(cmd) != 0)
            fprintf(stderr, "no fever log\n");
    }
    assert_int_equal(ru_distinct(&p, redis ? "fever<-redis" : "fever<-unix-stream", f->col.lines, f->col.n), p.n);
    tu_free_lines(p.lines, p.n);
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

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_fever TRIPLINE CAPTURE\n");
        return 1;
    }
    tripline_bin = argv[1];
    capture = argv[2];
    const char *p = tu_find_bin("fever");
    if (!p) {
        fprintf(stderr, "SKIP: fever not installed (Debian package fever)\n");
        return 77;
    }
    snprintf(fever_bin, sizeof(fever_bin), "%s", p);
    if (access(capture, R_OK) != 0) {
        fprintf(stderr, "SKIP: capture %s not readable\n", capture);
        return 77;
    }
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
