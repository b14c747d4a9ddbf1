/* metrics.h: the exposition text of a snapshot, listen-address parsing, and the HTTP endpoint
 * (GET /metrics 200 with the 0.0.4 content type, 404 elsewhere, 405 for POST). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "metrics.h"

static struct metrics_snapshot *sample_snapshot(void)
{
    struct metrics_snapshot *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->valid = true;
    s->workers = 2;
    s->t.packets = 1234;
    s->t.bytes = 567890;
    s->t.processed = 1234;
    s->t.capture_kernel_drops = 7;
    s->t.dispatch_drops = 3;
    s->t.flows_created = 42;
    s->t.flows_active = 5;
    s->t.alerts_severity[1] = 2;
    s->t.alerts_severity[3] = 9;
    s->t.rules_loaded = 17;
    s->n_outputs = 2;
    snprintf(s->out[0].name, sizeof(s->out[0].name), "eve-log");
    s->out[0].st.written = 100;
    snprintf(s->out[1].name, sizeof(s->out[1].name), "we\"ird\\name");
    s->out[1].st.queued = 11;
    s->out[1].st.spool_bytes = 4096;
    return s;
}

/* Every sample's metric name must have had HELP and TYPE lines before it; counters end in
 * _total. */
static void check_structure(const char *text)
{
    char *copy = strdup(text);
    char declared[128][96];
    char types[128][16];
    unsigned nd = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[96], type[16];
        if (sscanf(line, "# TYPE %95s %15s", name, type) == 2) {
            assert_true(nd < 128);
            snprintf(declared[nd], sizeof(declared[0]), "%s", name);
            snprintf(types[nd++], sizeof(types[0]), "%s", type);
            if (!strcmp(type, "counter"))
                assert_non_null(strstr(name, "_total"));
            continue;
        }
        if (line[0] == '#')
            continue;
        size_t len = strcspn(line, "{ ");
        int found = 0;
        for (unsigned i = 0; i < nd; i++)
            if (strlen(declared[i]) == len && !strncmp(declared[i], line, len))
                found = 1;
        if (!found)
            fail_msg("sample without TYPE: %s", line);
    }
    free(copy);
}

static void test_format(void **state)
{
    (void)state;
    struct metrics_snapshot *s = sample_snapshot();
    char buf[65536];
    size_t len = metrics_format(s, buf, sizeof(buf));
    assert_true(len > 0 && len < sizeof(buf));
    assert_int_equal(strlen(buf), len);
    check_structure(buf);
    assert_non_null(strstr(buf, "# TYPE tripline_packets_total counter\ntripline_packets_total 1234\n"));
    assert_non_null(strstr(buf, "tripline_bytes_total 567890\n"));
    assert_non_null(strstr(buf, "tripline_drops_total{reason=\"capture_kernel\"} 7\n"));
    assert_non_null(strstr(buf, "tripline_drops_total{reason=\"dispatch\"} 3\n"));
    assert_non_null(strstr(buf, "tripline_flows_active 5\n"));
    assert_non_null(strstr(buf, "# TYPE tripline_flows_active gauge\n"));
    assert_non_null(strstr(buf, "tripline_alerts_total{severity=\"1\"} 2\n"));
    assert_non_null(strstr(buf, "tripline_alerts_total{severity=\"2\"} 0\n"));
    assert_non_null(strstr(buf, "tripline_alerts_total{severity=\"3\"} 9\n"));
    assert_non_null(strstr(buf, "tripline_rules_loaded 17\n"));
    assert_non_null(strstr(buf, "tripline_workers 2\n"));
    assert_non_null(strstr(buf, "tripline_output_records_total{output=\"eve-log\"} 100\n"));
    /* label values escaped as the text format wants */
    assert_non_null(strstr(buf, "tripline_output_queue_depth{output=\"we\\\"ird\\\\name\"} 11\n"));
    assert_non_null(strstr(buf, "tripline_output_spool_bytes{output=\"we\\\"ird\\\\name\"} 4096\n"));
    assert_non_null(strstr(buf, "tripline_build_info{version=\""));
    assert_int_equal(buf[len - 1], '\n');

    /* too small: the needed length comes back, the buffer stays terminated */
    char small[64];
    size_t need = metrics_format(s, small, sizeof(small));
    assert_int_equal(need, len);
    assert_int_equal(strlen(small), sizeof(small) - 1);

    /* before the first update: build info only */
    s->valid = false;
    len = metrics_format(s, buf, sizeof(buf));
    assert_non_null(strstr(buf, "tripline_build_info"));
    assert_null(strstr(buf, "tripline_packets_total"));
    free(s);
}

static void test_parse_listen(void **state)
{
    (void)state;
    struct sockaddr_storage sa;
    socklen_t len;
    assert_int_equal(metrics_parse_listen("127.0.0.1:9187", &sa, &len), 0);
    assert_int_equal(sa.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 9187);
    assert_int_equal(metrics_parse_listen("[::1]:0", &sa, &len), 0);
    assert_int_equal(sa.ss_family, AF_INET6);
    assert_int_equal(metrics_parse_listen("0.0.0.0:65535", &sa, &len), 0);
    assert_true(metrics_parse_listen("127.0.0.1", &sa, &len) < 0);
    assert_true(metrics_parse_listen("127.0.0.1:65536", &sa, &len) < 0);
    assert_true(metrics_parse_listen("localhost:9187", &sa, &len) < 0);
    assert_true(metrics_parse_listen("[::1:9187", &sa, &len) < 0);
    assert_true(metrics_parse_listen(":9187", &sa, &len) < 0);
    assert_true(metrics_parse_listen("1.2.3.4:", &sa, &len) < 0);
}

/* One HTTP/1.0 exchange with the server; returns the whole response (malloc'd). */
static char *http(uint16_t port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    ssize_t n;
    while ((n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = 0;
    close(fd);
    return buf;
}

static void test_server(void **state)
{
    (void)state;
    struct tl_config cfg;
    char err[256];
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(config_set(&cfg, "metrics.listen=127.0.0.1:0", err, sizeof(err)), 0);
    assert_int_equal(config_finalize(&cfg, err, sizeof(err)), 0);
    struct metrics_server *m = metrics_server_new(&cfg, NULL, err, sizeof(err));
    assert_non_null(m);
    uint16_t port = metrics_server_port(m);
    assert_true(port > 0);

    char *r = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(r, " 200 "));
    assert_non_null(strstr(r, "text/plain; version=0.0.4"));
    assert_non_null(strstr(r, "tripline_build_info{"));
    free(r);
    r = http(port, "GET /other HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(r, " 404 "));
    assert_null(strstr(r, "tripline_build_info"));
    free(r);
    r = http(port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    assert_non_null(strstr(r, " 405 "));
    free(r);

    /* a second server on the same port fails with a message */
    char listen[64];
    snprintf(listen, sizeof(listen), "metrics.listen=127.0.0.1:%u", port);
    assert_int_equal(config_set(&cfg, listen, err, sizeof(err)), 0);
    assert_int_equal(config_finalize(&cfg, err, sizeof(err)), 0);
    assert_null(metrics_server_new(&cfg, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot listen"));
    metrics_server_free(m);
    metrics_server_free(NULL);
    config_release(&cfg);
}

/* The config keys: a bad listen address names the key. */
static void test_config_keys(void **state)
{
    (void)state;
    struct tl_config cfg;
    char err[256];
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(config_set(&cfg, "metrics.listen=nowhere", err, sizeof(err)), 0);
    assert_true(config_finalize(&cfg, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "metrics.listen"));
    config_release(&cfg);
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(config_set(&cfg, "logging.level=loud", err, sizeof(err)), 0);
    assert_true(config_finalize(&cfg, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "logging.level"));
    config_release(&cfg);
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(config_set(&cfg, "logging.to=file", err, sizeof(err)), 0);
    assert_true(config_finalize(&cfg, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "logging.to"));
    config_release(&cfg);
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(config_set(&cfg, "metrics.enabled=maybe", err, sizeof(err)), 0);
    assert_true(config_finalize(&cfg, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "metrics.enabled"));
    config_release(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_server),
        cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
