/* Unit tests of the control protocol (control.h) and of the rule reload protocol (reload.h)
 * with worker threads that switch between batches. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "applayer.h"
#include "config.h"
#include "control.h"
#include "detect.h"
#include "reload.h"
#include "rules.h"

#define PARSE(s, c) control_parse_request((s), strlen(s), (c), err, sizeof(err))

static void test_parse_plain(void **state)
{
    (void)state;
    char err[256];
    enum control_cmd c;
    assert_int_equal(PARSE("reload-rules", &c), 0);
    assert_int_equal(c, CONTROL_RELOAD_RULES);
    assert_int_equal(PARSE("stats\n", &c), 0);
    assert_int_equal(c, CONTROL_STATS);
    assert_int_equal(PARSE("  shutdown \r\n", &c), 0);
    assert_int_equal(c, CONTROL_SHUTDOWN);
    assert_int_equal(PARSE("version", &c), 0);
    assert_int_equal(c, CONTROL_VERSION);
    /* names are exact: no prefix, no case folding, no arguments */
    assert_int_equal(PARSE("reload", &c), -EINVAL);
    assert_int_equal(c, CONTROL_NONE);
    assert_non_null(strstr(err, "unknown command 'reload'"));
    assert_int_equal(PARSE("STATS", &c), -EINVAL);
    assert_int_equal(PARSE("stats now", &c), -EINVAL);
    assert_int_equal(PARSE("reload-rulesX", &c), -EINVAL);
    assert_int_equal(PARSE("", &c), -EINVAL);
    assert_non_null(strstr(err, "empty"));
    assert_int_equal(PARSE(" \n", &c), -EINVAL);
    /* length is honoured: only the first len bytes count */
    assert_int_equal(control_parse_request("statsXYZ", 5, &c, err, sizeof(err)), 0);
    assert_int_equal(c, CONTROL_STATS);
}

static void test_parse_json(void **state)
{
    (void)state;
    char err[256];
    enum control_cmd c;
    assert_int_equal(PARSE("{\"command\":\"reload-rules\"}", &c), 0);
    assert_int_equal(c, CONTROL_RELOAD_RULES);
    assert_int_equal(PARSE(" { \"command\" : \"stats\", \"extra\": 1 }\n", &c), 0);
    assert_int_equal(c, CONTROL_STATS);
    assert_int_equal(PARSE("{\"command\":\"nope\"}", &c), -EINVAL);
    assert_non_null(strstr(err, "unknown command 'nope'"));
    assert_int_equal(PARSE("{\"command\":7}", &c), -EINVAL);
    assert_non_null(strstr(err, "\"command\""));
    assert_int_equal(PARSE("{\"cmd\":\"stats\"}", &c), -EINVAL);
    assert_int_equal(PARSE("{\"command\":\"stats\"", &c), -EINVAL);
    assert_non_null(strstr(err, "bad JSON"));
    assert_int_equal(PARSE("{\"command\":\"stats\"} trailing", &c), -EINVAL);
    char big[CONTROL_LINE_MAX + 10];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(PARSE(big, &c), -EINVAL);
    assert_non_null(strstr(err, "longer"));
    assert_string_equal(control_cmd_name(CONTROL_SHUTDOWN), "shutdown");
    assert_string_equal(control_cmd_name(CONTROL_NONE), "?");
}

static void test_stats_json(void **state)
{
    (void)state;
    struct sensor_totals t;
    memset(&t, 0, sizeof(t));
    t.packets = 1000;
    t.processed = 999;
    t.alerts = 42;
    t.flows_created = 7;
    t.dispatch_drops = 3;
    struct reload_stats rs;
    memset(&rs, 0, sizeof(rs));
    rs.rules_loaded = 12;
    rs.generation = 3;
    rs.reloads_ok = 2;
    rs.reloads_failed = 1;
    rs.last_reload_ns = 1700000000123456789ull;
    rs.last_ok = false;
    snprintf(rs.last_error, sizeof(rs.last_error), "no rule could be loaded");
    json_t *o = control_stats_json(&t, &rs);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "capture"), "kernel_packets")), 1000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "decoder"), "pkts")), 999);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "detect"), "alert")), 42);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "flow"), "total")), 7);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "pipeline"), "dispatch_drops")), 3);
    json_t *r = json_object_get(o, "rules");
    assert_int_equal(json_integer_value(json_object_get(r, "loaded")), 12);
    assert_int_equal(json_integer_value(json_object_get(r, "generation")), 3);
    assert_int_equal(json_integer_value(json_object_get(r, "reloads_ok")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "reloads_failed")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "last_reload")), "2023-11-14T22:13:20.123456Z");
    assert_true(json_is_false(json_object_get(r, "last_reload_ok")));
    assert_string_equal(json_string_value(json_object_get(r, "last_reload_error")), "no rule could be loaded");
    json_decref(o);
    /* no rules: loaded 0, no reload fields */
    o = control_stats_json(&t, NULL);
    assert_non_null(o);
    r = json_object_get(o, "rules");
    assert_int_equal(json_integer_value(json_object_get(r, "loaded")), 0);
    assert_null(json_object_get(r, "generation"));
    json_decref(o);
}

static void test_socket_path(void **state)
{
    (void)state;
    struct tl_config cfg;
    char p[108];
    assert_int_equal(config_init(&cfg), 0);
    snprintf(cfg.log_dir, sizeof(cfg.log_dir), "/var/log/tripline");
    assert_int_equal(control_socket_path(&cfg, p, sizeof(p)), 0);
    assert_string_equal(p, "/var/log/tripline/tripline.sock");
    snprintf(cfg.control_socket, sizeof(cfg.control_socket), "/run/tripline/tripline.sock");
    assert_int_equal(control_socket_path(&cfg, p, sizeof(p)), 0);
    assert_string_equal(p, "/run/tripline/tripline.sock");
    snprintf(cfg.control_socket, sizeof(cfg.control_socket), "off");
    assert_int_equal(control_socket_path(&cfg, p, sizeof(p)), 1);
    cfg.control_socket[0] = '\0';
    memset(cfg.log_dir, 'd', 200);
    cfg.log_dir[200] = '\0';
    assert_int_equal(control_socket_path(&cfg, p, sizeof(p)), -ENAMETOOLONG);
    config_release(&cfg);
}

static struct ruleset *load(const char *text)
{
    struct rules_load_config lc;
    rules_load_config_default(&lc);
    char err[256];
    struct ruleset *rs = ruleset_load_string(&lc, text, "t.rules", NULL, err, sizeof(err));
    assert_non_null(rs);
    return rs;
}

static void test_flowbit_map(void **state)
{
    (void)state;
    struct ruleset *a = load(
        "alert tcp any any -> any any (flowbits:set,one; sid:1;)\n"
        "alert tcp any any -> any any (flowbits:set,two; sid:2;)\n"
        "alert tcp any any -> any any (flowbits:set,three; sid:3;)\n");
    struct ruleset *b = load(
        "alert tcp any any -> any any (flowbits:set,three; sid:4;)\n"
        "alert tcp any any -> any any (flowbits:isset,one; sid:5;)\n");
    uint16_t *map;
    bool identity;
    int n = reload_flowbit_map(a, b, &map, &identity);
    assert_int_equal(n, 3);
    assert_false(identity);
    uint16_t one = UINT16_MAX, three = UINT16_MAX;
    for (uint16_t i = 0; ruleset_flowbit_name(b, i); i++) {
        if (!strcmp(ruleset_flowbit_name(b, i), "one"))
            one = i;
        if (!strcmp(ruleset_flowbit_name(b, i), "three"))
            three = i;
    }
    for (uint16_t i = 0; i < 3; i++) {
        const char *name = ruleset_flowbit_name(a, i);
        if (!strcmp(name, "one"))
            assert_int_equal(map[i], one);
        else if (!strcmp(name, "three"))
            assert_int_equal(map[i], three);
        else
            assert_int_equal(map[i], UINT16_MAX); /* "two": no rule of b names it */
    }
    free(map);
    n = reload_flowbit_map(a, a, &map, &identity);
    assert_int_equal(n, 3);
    assert_true(identity);
    free(map);
    struct ruleset *none = load("alert udp any any -> any any (sid:9;)\n");
    assert_int_equal(reload_flowbit_map(none, a, &map, &identity), 0);
    assert_null(map);
    ruleset_free(a);
    ruleset_free(b);
    ruleset_free(none);
}

/* ---- the reload protocol with worker threads -------------------------------------------------- */

struct fake_worker {
    struct reload *r;
    unsigned id;
    struct detect_thread *dt;
    uint64_t gen;
    uint64_t batches;
    atomic_bool *stop;
    pthread_t thr;
};

static void *fake_worker_main(void *arg)
{
    struct fake_worker *w = arg;
    while (!atomic_load(w->stop)) {
        /* a "batch boundary" */
        if (reload_generation(w->r) != w->gen)
            reload_worker_switch(w->r, w->id, &w->dt, NULL, &w->gen, w->batches * 1000, 0);
        w->batches++;
        usleep(200);
    }
    reload_worker_exit(w->r, w->id);
    return NULL;
}

static void write_rules(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_reload_workers(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_control_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/r.rules", dir);
    write_rules(path, "alert udp any any -> any any (sid:101;)\n");
    struct tl_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    snprintf(cfg.rule_files[0], sizeof(cfg.rule_files[0]), "%s", path);
    cfg.n_rule_files = 1;
    char err[512], msg[1024];
    enum { NW = 3 };
    struct reload *r = reload_new(&cfg, NW, NULL, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(reload_generation(r), 1);
    atomic_bool stop;
    atomic_init(&stop, false);
    struct fake_worker w[NW];
    for (unsigned i = 0; i < NW; i++) {
        w[i] = (struct fake_worker){.r = r, .id = i, .gen = 1, .stop = &stop};
        w[i].dt = detect_thread_new(reload_engine(r));
        assert_non_null(w[i].dt);
        assert_int_equal(pthread_create(&w[i].thr, NULL, fake_worker_main, &w[i]), 0);
    }
    struct reload_stats st;
    for (unsigned k = 0; k < 3; k++) {
        write_rules(path, k % 2 ? "alert udp any any -> any any (sid:101;)\n"
                                : "alert udp any any -> any any (sid:201;)\n"
                                  "alert tcp any any -> any any (sid:202;)\n");
        assert_int_equal(reload_rules(r, 30000, NULL, msg, sizeof(msg)), 0);
        assert_non_null(strstr(msg, "rules reloaded"));
        reload_get_stats(r, &st);
        assert_int_equal(st.generation, 2 + k);
        assert_int_equal(st.rules_loaded, k % 2 ? 1 : 2);
        assert_int_equal(st.workers_switched, NW);
        assert_int_equal(st.reloads_ok, k + 1);
        assert_true(reload_collect(r)); /* every worker moved: old generation freed */
    }
    /* a broken file keeps generation 4 */
    write_rules(path, "alert udp any any -> (broken\n");
    assert_int_equal(reload_rules(r, 30000, NULL, msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, "running rules kept"));
    reload_get_stats(r, &st);
    assert_int_equal(st.generation, 4);
    assert_int_equal(st.reloads_failed, 1);
    assert_false(st.last_ok);
    assert_non_null(strstr(st.last_error, "no rule could be loaded"));
    /* a missing file too */
    unlink(path);
    assert_int_equal(reload_rules(r, 30000, NULL, msg, sizeof(msg)), -EINVAL);
    reload_get_stats(r, &st);
    assert_int_equal(st.generation, 4);
    assert_int_equal(st.reloads_failed, 2);
    assert_int_equal(reload_generation(r), 4);

    atomic_store(&stop, true);
    for (unsigned i = 0; i < NW; i++) {
        pthread_join(w[i].thr, NULL);
        assert_int_equal(w[i].gen, 4);
    }
    /* after a worker finished, reloads are refused */
    write_rules(path, "alert udp any any -> any any (sid:301;)\n");
    assert_int_equal(reload_rules(r, 1000, NULL, msg, sizeof(msg)), -ESHUTDOWN);
    for (unsigned i = 0; i < NW; i++)
        detect_thread_free(w[i].dt);
    reload_free(r);
    config_release(&cfg);
    unlink(path);
    rmdir(dir);
}

/* A multi-queue source with fewer queues than workers: only the running ones are waited for. */
static void test_reload_fewer_workers(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_control_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/r.rules", dir);
    write_rules(path, "alert udp any any -> any any (sid:101;)\n");
    struct tl_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    snprintf(cfg.rule_files[0], sizeof(cfg.rule_files[0]), "%s", path);
    cfg.n_rule_files = 1;
    char err[512], msg[1024];
    struct reload *r = reload_new(&cfg, 4, NULL, err, sizeof(err));
    assert_non_null(r);
    reload_set_workers(r, 2);
    atomic_bool stop;
    atomic_init(&stop, false);
    struct fake_worker w[2];
    for (unsigned i = 0; i < 2; i++) {
        w[i] = (struct fake_worker){.r = r, .id = i, .gen = 1, .stop = &stop};
        w[i].dt = detect_thread_new(reload_engine(r));
        assert_int_equal(pthread_create(&w[i].thr, NULL, fake_worker_main, &w[i]), 0);
    }
    write_rules(path, "alert udp any any -> any any (sid:201;)\n");
    assert_int_equal(reload_rules(r, 30000, NULL, msg, sizeof(msg)), 0);
    assert_non_null(strstr(msg, "2 of 2 workers switched"));
    struct reload_stats st;
    reload_get_stats(r, &st);
    assert_int_equal(st.workers_switched, 2);
    assert_int_equal(st.workers, 2);
    assert_true(reload_collect(r));
    /* and the next reload is not held back by the idle workers */
    write_rules(path, "alert udp any any -> any any (sid:301;)\n");
    assert_int_equal(reload_rules(r, 30000, NULL, msg, sizeof(msg)), 0);
    atomic_store(&stop, true);
    for (unsigned i = 0; i < 2; i++) {
        pthread_join(w[i].thr, NULL);
        assert_int_equal(w[i].gen, 3);
        detect_thread_free(w[i].dt);
    }
    reload_free(r);
    config_release(&cfg);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_plain),
        cmocka_unit_test(test_parse_json),
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_socket_path),
        cmocka_unit_test(test_flowbit_map),
        cmocka_unit_test(test_reload_workers),
        cmocka_unit_test(test_reload_fewer_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
