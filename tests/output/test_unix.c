/* Unix socket outputs: datagrams (one whole JSON object each) and a stream whose collector dies
 * in the middle and comes back (the resend window makes up for what was lost in its socket
 * buffer: distinct received == produced). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "out_util.h"

static struct outputs *out(const char *type, const char *sock, const char *spool)
{
    struct output_config c;
    char err[256];
    output_config_default(&c);
    const char *kv[] = {"type", type, "filename", sock, "spool-dir", spool, "retry-min-ms", "10",
                        "retry-max-ms", "100", NULL};
    for (const char *const *p = kv; *p; p += 2)
        if (output_config_set(&c, p[0], p[1], err, sizeof(err)) != 0)
            fail_msg("%s", err);
    struct outputs *o = outputs_new(&c, 1, err, sizeof(err));
    if (!o)
        fail_msg("%s", err);
    return o;
}

struct dgram_reader {
    int fd;
    unsigned want, got;
    long long seq[256];
    bool whole;
};

static void *dgram_thread(void *arg)
{
    struct dgram_reader *r = arg;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    r->whole = true;
    while (r->got < r->want) {
        char buf[65536];
        ssize_t n = recv(r->fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        r->whole &= buf[0] == '{' && buf[n - 1] == '}';
        r->seq[r->got++] = tu_seq_of(buf, (size_t)n);
    }
    return NULL;
}

static void test_dgram(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("dgram");
    char sock[300], spool[300];
    snprintf(sock, sizeof(sock), "%s/d.sock", dir);
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    const unsigned n = 100;
    struct dgram_reader rd = {.fd = fd, .want = n};
    pthread_t thr;
    pthread_create(&thr, NULL, dgram_thread, &rd);
    struct outputs *o = out("unix-dgram", sock, spool);
    for (unsigned i = 0; i < n; i++) {
        struct event e = tu_flow_event(i);
        assert_int_equal(outputs_write_event(o, &e), 0);
    }
    assert_true(outputs_drain(o, 20000));
    outputs_free(o);
    pthread_join(thr, NULL);
    assert_int_equal(rd.got, n);
    assert_true(rd.whole);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(rd.seq[i], (long long)i + 1);
    close(fd);
    tu_rmrf(dir);
    free(dir);
}

static void test_stream_collector_dies(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("ustream");
    char sock[300], spool[300];
    snprintf(sock, sizeof(sock), "%s/s.sock", dir);
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    struct tu_collector a, b;
    assert_int_equal(tu_collector_start(&a, sock), 0);
    struct outputs *o = out("unix-stream", sock, spool);
    const unsigned n = 3000;
    for (unsigned i = 0; i < n / 2; i++) {
        struct event e = tu_flow_event(i);
        assert_int_equal(outputs_write_event(o, &e), 0);
    }
    outputs_tick(o, 1700000000ull * 1000000000ull);
    for (int i = 0; i < 500 && tu_collector_count(&a) < 100; i++)
        tu_sleep_ms(10);
    tu_collector_stop(&a); /* dies mid-stream: what sat in its socket is lost */
    for (unsigned i = n / 2; i < n; i++) {
        struct event e = tu_flow_event(i);
        assert_int_equal(outputs_write_event(o, &e), 0);
    }
    outputs_tick(o, 1700000001ull * 1000000000ull);
    struct output_stats st;
    for (int i = 0; i < 500; i++) {
        outputs_stats(o, 0, &st);
        if (st.send_errors)
            break;
        tu_sleep_ms(10);
    }
    assert_true(st.send_errors > 0);
    assert_int_equal(tu_collector_start(&b, sock), 0);
    assert_true(outputs_drain(o, 30000));
    outputs_stats(o, 0, &st);
    outputs_free(o);
    for (int i = 0; i < 500 && tu_collector_count(&b) + a.n < n; i++)
        tu_sleep_ms(10);
    tu_collector_stop(&b);
    /* both lives of the collector together */
    size_t total = a.n + b.n;
    char **all = calloc(total, sizeof(*all));
    memcpy(all, a.lines, a.n * sizeof(*all));
    memcpy(all + a.n, b.lines, b.n * sizeof(*all));
    long long mx;
    assert_int_equal(tu_count_distinct(all, total, n, &mx), n);
    assert_true(st.resent > 0);
    free(all);
    tu_collector_free(&a);
    tu_collector_free(&b);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dgram),
        cmocka_unit_test(test_stream_collector_dies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
