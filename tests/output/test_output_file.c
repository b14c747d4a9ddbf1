/* EVE file output: type and severity filters, sensor_id, rotation by size and by time, reopen
 * (SIGHUP), the stats record with the outputs' counters, config parsing errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>

#include <cmocka.h>

#include "out_util.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct outputs *one_file(const char *path, const char *const *kv, char *err, size_t errlen)
{
    struct output_config c;
    output_config_default(&c);
    assert_int_equal(output_config_set(&c, "filename", path, err, errlen), 0);
    for (; kv && kv[0]; kv += 2)
        if (output_config_set(&c, kv[0], kv[1], err, errlen) != 0)
            fail_msg("%s", err);
    struct outputs *o = outputs_new(&c, 1, err, errlen);
    if (!o)
        fail_msg("%s", err);
    return o;
}

static void test_filters_and_sensor_id(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("file");
    char eve[300], err[256];
    snprintf(eve, sizeof(eve), "%s/eve.json", dir);
    const char *kv[] = {"types", "alert,detection", "min-severity", "2", "sensor-id", "dk-cert-\"7\"",
                        "hostname", "probe1", NULL};
    struct outputs *o = one_file(eve, kv, err, sizeof(err));
    struct event e1 = tu_alert_event(1, 1), e2 = tu_alert_event(2, 3), e3 = tu_flow_event(3),
                 e4 = tu_alert_event(4, 2);
    assert_int_equal(outputs_write_event(o, &e1), 0);
    assert_int_equal(outputs_write_event(o, &e2), 0);
    assert_int_equal(outputs_write_event(o, &e3), 0);
    assert_int_equal(outputs_write_event(o, &e4), 0);
    const char stats[] = "{\"timestamp\":\"t\",\"event_type\":\"stats\",\"stats\":{\"uptime\":1}}";
    assert_int_equal(outputs_write_stats(o, stats, strlen(stats)), 0);
    struct output_stats st;
    assert_int_equal(outputs_stats(o, 0, &st), 0);
    assert_int_equal(st.written, 2);
    assert_int_equal(st.filtered, 3);
    outputs_free(o);
    size_t n;
    char **lines = tu_read_lines(eve, &n);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_loads(lines[i], 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "event_type")), "alert");
        assert_string_equal(json_string_value(json_object_get(j, "sensor_id")), "dk-cert-\"7\"");
        assert_string_equal(json_string_value(json_object_get(j, "host")), "probe1");
        /* an eve file without signing carries no sequence fields */
        assert_null(json_object_get(j, "tripline_seq"));
        json_t *sid = json_object_get(json_object_get(j, "alert"), "signature_id");
        assert_true(json_integer_value(sid) == 2000001 || json_integer_value(sid) == 2000004);
        json_decref(j);
    }
    tu_free_lines(lines, n);
    tu_rmrf(dir);
    free(dir);
}

static size_t count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, prefix, strlen(prefix)))
            n++;
    closedir(d);
    return n;
}

static size_t lines_in_dir(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    size_t total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, prefix, strlen(prefix)))
            continue;
        char p[600];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        size_t n;
        char **l = tu_read_lines(p, &n);
        for (size_t i = 0; i < n; i++)
            assert_non_null(strstr(l[i], "\"event_type\":\"flow\""));
        total += n;
        tu_free_lines(l, n);
    }
    closedir(d);
    return total;
}

static void test_rotate_by_size(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("rot");
    char eve[300], err[256];
    snprintf(eve, sizeof(eve), "%s/eve.json", dir);
    const char *kv[] = {"rotate-size", "4k", NULL};
    struct outputs *o = one_file(eve, kv, err, sizeof(err));
    for (unsigned i = 0; i < 100; i++) {
        struct event e = tu_flow_event(i);
        assert_int_equal(outputs_write_event(o, &e), 0);
    }
    struct output_stats st;
    outputs_stats(o, 0, &st);
    outputs_free(o);
    assert_true(st.rotations >= 5);
    assert_true(count_files(dir, "eve.json") >= 6);
    assert_int_equal(lines_in_dir(dir, "eve.json"), 100);
    tu_rmrf(dir);
    free(dir);
}

static void test_rotate_by_time_and_reopen(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("rot2");
    char eve[300], moved[320], err[256];
    snprintf(eve, sizeof(eve), "%s/eve.json", dir);
    snprintf(moved, sizeof(moved), "%s/moved.json", dir);
    const char *kv[] = {"rotate-interval", "1h", NULL};
    struct outputs *o = one_file(eve, kv, err, sizeof(err));
    uint64_t t0 = now_ns();
    struct event e = tu_flow_event(1);
    outputs_tick(o, t0);
    outputs_write_event(o, &e);
    outputs_tick(o, t0 + 1800ull * 1000000000ull); /* half an hour: no rotation */
    assert_int_equal(count_files(dir, "eve.json"), 1);
    outputs_tick(o, t0 + 3601ull * 1000000000ull);
    assert_int_equal(count_files(dir, "eve.json"), 2);
    /* logrotate: move the file away, SIGHUP -> outputs_reopen, the next record opens a new file */
    outputs_write_event(o, &e);
    outputs_tick(o, t0 + 3602ull * 1000000000ull);
    assert_int_equal(rename(eve, moved), 0);
    outputs_reopen(o);
    outputs_write_event(o, &e);
    outputs_free(o);
    size_t n1, n2;
    char **a = tu_read_lines(moved, &n1), **b = tu_read_lines(eve, &n2);
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 1);
    tu_free_lines(a, n1);
    tu_free_lines(b, n2);
    tu_rmrf(dir);
    free(dir);
}

static void test_stats_record(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("stats");
    char eve[300], err[256];
    snprintf(eve, sizeof(eve), "%s/eve.json", dir);
    const char *kv[] = {"name", "main", NULL};
    struct outputs *o = one_file(eve, kv, err, sizeof(err));
    struct event e = tu_flow_event(1);
    outputs_write_event(o, &e);
    const char stats[] = "{\"timestamp\":\"t\",\"event_type\":\"stats\",\"stats\":{\"uptime\":1,\"decoder\":{\"pkts\":5}}}";
    assert_int_equal(outputs_write_stats(o, stats, strlen(stats)), 0);
    outputs_free(o);
    size_t n;
    char **l = tu_read_lines(eve, &n);
    assert_int_equal(n, 2);
    json_t *j = json_loads(l[1], 0, NULL);
    assert_non_null(j);
    json_t *s = json_object_get(j, "stats");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "decoder"), "pkts")), 5);
    json_t *m = json_object_get(json_object_get(s, "outputs"), "main");
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "written")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "spool_dropped")), 0);
    json_decref(j);
    tu_free_lines(l, n);
    tu_rmrf(dir);
    free(dir);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct output_config c;
    char err[256];
    output_config_default(&c);
    assert_int_equal(output_config_set(&c, "type", "carrier-pigeon", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "type"));
    assert_int_equal(output_config_set(&c, "no-such-key", "1", err, sizeof(err)), -ENOENT);
    assert_int_equal(output_config_set(&c, "types", "alert,bogus", err, sizeof(err)), -EINVAL);
    assert_int_equal(output_config_set(&c, "rotate-size", "10q", err, sizeof(err)), -EINVAL);
    assert_int_equal(output_config_set(&c, "rotate-size", "10m", err, sizeof(err)), 0);
    assert_int_equal(c.rotate_bytes, 10ull << 20);
    assert_int_equal(output_config_set(&c, "rotate-interval", "2h", err, sizeof(err)), 0);
    assert_int_equal(c.rotate_interval_s, 7200);
    assert_int_equal(output_config_set(&c, "type", "redis", err, sizeof(err)), 0);
    output_config_set(&c, "address", "127.0.0.1", err, sizeof(err));
    output_config_set(&c, "port", "6379", err, sizeof(err));
    /* a network output without a spool is refused: it could lose events */
    assert_int_equal(output_config_validate(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "spool-dir"));
    output_config_set(&c, "spool-dir", "/tmp/x", err, sizeof(err));
    assert_int_equal(output_config_validate(&c, err, sizeof(err)), 0);
    assert_int_equal(output_config_set(&c, "port", "70000", err, sizeof(err)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters_and_sensor_id),
        cmocka_unit_test(test_rotate_by_size),
        cmocka_unit_test(test_rotate_by_time_and_reopen),
        cmocka_unit_test(test_stats_record),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
