/* Syslog outputs against a real rsyslogd on random loopback ports: imptcp (RFC 6587 octet
 * counting), imtcp with the gtls driver (RFC 5425; certificate made here with openssl, verified
 * by our client, a wrong CA refused) and imudp. Every event must arrive whole and parse; the
 * collector is killed (SIGKILL) in the middle of a stream and restarted, and the distinct events
 * received must equal the events produced. Skips (77) without rsyslogd, its gtls module or openssl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "out_util.h"

struct rs {
    char *dir;
    char conf[300], log[300], plain[300], tls[300], udp[300], meta[300], cert[300], key[300],
        othercert[300], pidf[300];
    int tcp_port, tls_port, udp_port;
    pid_t pid;
};

static const char *rsyslogd, *openssl;

static void rs_start(struct rs *r)
{
    char *argv[] = {(char *)rsyslogd, "-n", "-f", r->conf, "-i", r->pidf, NULL};
    unlink(r->pidf);
    r->pid = tu_spawn(argv, r->log);
    for (int i = 0; i < 1000 && !(tu_port_open(r->tcp_port) && tu_port_open(r->tls_port)); i++)
        tu_sleep_ms(10);
    if (!tu_port_open(r->tcp_port) || !tu_port_open(r->tls_port))
        fail_msg("rsyslogd did not start (see %s)", r->log);
}

static int make_cert(const char *dir, const char *name, char *cert, char *key, size_t cap)
{
    snprintf(cert, cap, "%s/%s-cert.pem", dir, name);
    snprintf(key, cap, "%s/%s-key.pem", dir, name);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd),
             "'%s' req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 2 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1",
             openssl, key, cert);
    return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    struct rs *r = calloc(1, sizeof(*r));
    r->dir = tu_tmpdir("rsyslog");
    char otherkey[300];
    if (make_cert(r->dir, "server", r->cert, r->key, sizeof(r->cert)) < 0 ||
        make_cert(r->dir, "other", r->othercert, otherkey, sizeof(r->othercert)) < 0)
        fail_msg("openssl could not make the test certificate");
    r->tcp_port = tu_free_port();
    r->tls_port = tu_free_port();
    r->udp_port = tu_free_port();
    snprintf(r->conf, sizeof(r->conf), "%s/rsyslog.conf", r->dir);
    snprintf(r->log, sizeof(r->log), "%s/rsyslogd.log", r->dir);
    snprintf(r->plain, sizeof(r->plain), "%s/plain.log", r->dir);
    snprintf(r->tls, sizeof(r->tls), "%s/tls.log", r->dir);
    snprintf(r->udp, sizeof(r->udp), "%s/udp.log", r->dir);
    snprintf(r->meta, sizeof(r->meta), "%s/meta.log", r->dir);
    snprintf(r->pidf, sizeof(r->pidf), "%s/rsyslogd.pid", r->dir);
    FILE *f = fopen(r->conf, "w");
    fprintf(f,
            "global(workDirectory=\"%s\" maxMessageSize=\"256k\"\n"
            "  DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"%s\"\n"
            "  DefaultNetstreamDriverCertFile=\"%s\" DefaultNetstreamDriverKeyFile=\"%s\")\n"
            "module(load=\"imptcp\")\n"
            "module(load=\"imudp\")\n"
            "module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\")\n"
            "template(name=\"m\" type=\"string\" string=\"%%msg%%\\n\")\n"
            "template(name=\"meta\" type=\"string\" string=\"%%hostname%%|%%app-name%%|%%msgid%%|%%pri%%|%%structured-data%%\\n\")\n"
            "input(type=\"imptcp\" port=\"%d\" address=\"127.0.0.1\" ruleset=\"plain\")\n"
            "input(type=\"imtcp\" port=\"%d\" address=\"127.0.0.1\" ruleset=\"tls\")\n"
            "input(type=\"imudp\" port=\"%d\" address=\"127.0.0.1\" ruleset=\"udp\")\n"
            "ruleset(name=\"plain\") { action(type=\"omfile\" file=\"%s\" template=\"m\")\n"
            "  action(type=\"omfile\" file=\"%s\" template=\"meta\") }\n"
            "ruleset(name=\"tls\") { action(type=\"omfile\" file=\"%s\" template=\"m\") }\n"
            "ruleset(name=\"udp\") { action(type=\"omfile\" file=\"%s\" template=\"m\") }\n",
            r->dir, r->cert, r->cert, r->key, r->tcp_port, r->tls_port, r->udp_port, r->plain, r->meta,
            r->tls, r->udp);
    fclose(f);
    rs_start(r);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct rs *r = *state;
    tu_kill_wait(r->pid, SIGTERM);
    tu_rmrf(r->dir);
    free(r->dir);
    free(r);
    return 0;
}

static struct outputs *syslog_out(struct rs *r, const char *type, int port, const char *ca)
{
    struct output_config c;
    char err[256], p[16], spool[400];
    snprintf(p, sizeof(p), "%d", port);
    snprintf(spool, sizeof(spool), "%s/spool-%s", r->dir, type);
    output_config_default(&c);
    const char *kv[] = {"type", type, "address", "127.0.0.1", "port", p, "spool-dir", spool,
                        "retry-min-ms", "20", "retry-max-ms", "200", "sensor-id", "sensor-A",
                        "hostname", "probe", "flush-timeout-ms", "500", NULL};
    for (const char *const *q = kv; *q; q += 2)
        if (output_config_set(&c, q[0], q[1], err, sizeof(err)) != 0)
            fail_msg("%s", err);
    if (ca)
        output_config_set(&c, "tls-ca", ca, err, sizeof(err));
    struct outputs *o = outputs_new(&c, 1, err, sizeof(err));
    if (!o)
        fail_msg("%s", err);
    return o;
}

/* Waits until the file holds `want` distinct events (rsyslog writes asynchronously). */
static long wait_distinct(const char *path, long want, long long max)
{
    long got = 0;
    for (int i = 0; i < 1500; i++) {
        size_t n;
        char **l = tu_read_lines(path, &n);
        long long mx;
        got = l ? tu_count_distinct(l, n, max, &mx) : 0;
        tu_free_lines(l, n);
        if (got < 0 || got >= want)
            return got;
        tu_sleep_ms(20);
    }
    return got;
}

static void kill_restart(struct rs *r, const char *type, int port, const char *ca, const char *file)
{
    const unsigned first = 500, total = 2500;
    struct outputs *o = syslog_out(r, type, port, ca);
    for (unsigned i = 0; i < first; i++) {
        struct event e = i % 2 ? tu_flow_event(i) : tu_alert_event(i, 1 + i % 4);
        assert_int_equal(outputs_write_event(o, &e), 0);
    }
    assert_true(outputs_drain(o, 30000));
    assert_int_equal(wait_distinct(file, first, total), first);
    for (unsigned i = first; i < total; i++) {
        struct event e = tu_flow_event(i);
        assert_int_equal(outputs_write_event(o, &e), 0);
        if (i == first + 700)
            tu_kill_wait(r->pid, SIGKILL);
    }
    rs_start(r);
    assert_true(outputs_drain(o, 60000));
    struct output_stats st;
    outputs_stats(o, 0, &st);
    assert_true(st.send_errors > 0); /* the kill was seen */
    outputs_free(o);
    long got = wait_distinct(file, total, total);
    /* stop rsyslogd cleanly so that everything it holds is in the file */
    tu_kill_wait(r->pid, SIGTERM);
    size_t n;
    char **l = tu_read_lines(file, &n);
    long long mx;
    got = tu_count_distinct(l, n, total, &mx);
    tu_free_lines(l, n);
    assert_int_equal(got, total);
    assert_int_equal(mx, total);
    rs_start(r);
}

static void test_tcp_octet_counting(void **state)
{
    struct rs *r = *state;
    kill_restart(r, "syslog-tcp", r->tcp_port, NULL, r->plain);
    /* RFC 5424 header and structured data as rsyslog parsed them */
    size_t n;
    char **l = tu_read_lines(r->meta, &n);
    assert_true(n > 0);
    assert_string_equal(l[0], "probe|tripline|alert|130|[tripline@32473 sensor=\"sensor-A\" seq=\"1\"]");
    tu_free_lines(l, n);
}

static void test_tls(void **state)
{
    struct rs *r = *state;
    kill_restart(r, "syslog-tls", r->tls_port, r->cert, r->tls);
}

static void test_tls_wrong_ca_refused(void **state)
{
    struct rs *r = *state;
    struct outputs *o = syslog_out(r, "syslog-tls", r->tls_port, r->othercert);
    struct event e = tu_flow_event(1);
    outputs_write_event(o, &e);
    assert_false(outputs_drain(o, 1500));
    struct output_stats st;
    outputs_stats(o, 0, &st);
    assert_int_equal(st.sent, 0);
    assert_true(st.send_errors > 0);
    outputs_free(o);
    size_t n;
    char **l = tu_read_lines(r->tls, &n);
    assert_int_equal(n, 0);
    tu_free_lines(l, n);
}

static void test_udp(void **state)
{
    struct rs *r = *state;
    struct outputs *o = syslog_out(r, "syslog-udp", r->udp_port, NULL);
    for (unsigned i = 0; i < 20; i++) {
        struct event e = tu_flow_event(i);
        outputs_write_event(o, &e);
        tu_sleep_ms(1); /* UDP has no flow control: pace a little */
    }
    assert_true(outputs_drain(o, 10000));
    outputs_free(o);
    assert_int_equal(wait_distinct(r->udp, 20, 20), 20);
}

int main(void)
{
    static char rsd[256];
    const char *rp = tu_find_bin("rsyslogd");
    if (rp)
        snprintf(rsd, sizeof(rsd), "%s", rp);
    rsyslogd = rp ? rsd : NULL;
    if (!rsyslogd) {
        fprintf(stderr, "SKIP: rsyslogd not installed (Debian packages rsyslog rsyslog-gnutls)\n");
        return 77;
    }
    if (access("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so", R_OK) != 0 &&
        access("/usr/lib/rsyslog/lmnsd_gtls.so", R_OK) != 0) {
        fprintf(stderr, "SKIP: rsyslog's gtls driver missing (Debian package rsyslog-gnutls)\n");
        return 77;
    }
    static char ossl[256];
    const char *p = tu_find_bin("openssl");
    if (!p) {
        fprintf(stderr, "SKIP: openssl not installed (needed to make the test certificate)\n");
        return 77;
    }
    snprintf(ossl, sizeof(ossl), "%s", p);
    openssl = ossl;
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tcp_octet_counting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_wrong_ca_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
