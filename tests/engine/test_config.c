/* Configuration: typed values, --set, config_get with lines for pass-through sections, the
 * accessors' error messages (key and line), the CPU list parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

#include <cmocka.h>

#include "config.h"

static char path[64];

static void write_cfg(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/tripline-cfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_typed_and_passthrough(void **state)
{
    (void)state;
    struct tl_config c;
    char err[512] = "";
    write_cfg("threading:\n  workers: 3\n  cpus: 0-1\nmemory:\n  fragment-bytes: 2mb\n"
              "rules:\n  files:\n    - a.rules\n    - b.rules\n"
              "vars:\n  address-groups:\n    HOME_NET: \"[10.0.0.0/8]\"\n"
              "anomaly:\n  syn_flood:\n    pps: 500\n  networks:\n    - prefix: 10.0.0.0/8\n");
    assert_int_equal(config_init(&c), 0);
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
    assert_int_equal(config_set(&c, "flow.timeouts.udp-new=7", err, sizeof(err)), 0);
    assert_int_equal(config_finalize(&c, err, sizeof(err)), 0);
    assert_int_equal(c.workers, 3);
    assert_string_equal(c.cpus, "0-1");
    assert_int_equal(c.max_frag_bytes, 2u << 20);
    assert_int_equal(c.to_udp_new, 7);
    assert_int_equal(c.to_tcp_new, 60); /* default kept */
    assert_int_equal(c.n_rule_files, 2);
    assert_string_equal(c.rule_files[1], "b.rules");
    assert_int_equal(c.n_address_groups, 1);
    assert_string_equal(c.address_groups[0].value, "[10.0.0.0/8]");

    const struct cfg_node *n = config_get(c.root, "anomaly.syn_flood.pps");
    assert_non_null(n);
    assert_int_equal(config_node_line(n), 15);
    uint64_t v;
    assert_int_equal(config_node_u64(&c, n, 1, 1000000, &v, err, sizeof(err)), 0);
    assert_int_equal(v, 500);
    assert_int_equal(config_node_u64(&c, n, 1, 100, &v, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":15: key 'pps'"));
    assert_non_null(strstr(err, "out of range"));
    assert_non_null(config_get(c.root, "anomaly.networks.0.prefix"));
    assert_null(config_get(c.root, "anomaly.networks.1"));
    assert_null(config_get(c.root, "anomaly.nothing"));
    assert_int_equal(config_node_u64(&c, NULL, 0, 1, &v, err, sizeof(err)), -ENOENT);
    config_release(&c);
    unlink(path);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct { const char *text; const char *want; } cases[] = {
        {"workers: 3\n", ":1: key 'workers': unknown key"},
        {"threading:\n  workers: -1\n", ":2: key 'threading.workers'"},
        {"threading:\n  workers: 99999\n", "out of range"},
        {"threading: 5\n", "expected a section"},
        {"rules:\n  files: a.rules\n", "expected a list"},
        {"capture:\n  pcap-speed: fast\n", ":2: key 'capture.pcap-speed': expected a number"},
        {"stats:\n  interval: 1\nstats:\n  interval: 2\n", "appears twice"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tl_config c;
        char err[512] = "";
        write_cfg(cases[i].text);
        config_init(&c);
        int rc = config_load_file(&c, path, err, sizeof(err));
        if (rc == 0)
            rc = config_finalize(&c, err, sizeof(err));
        assert_int_equal(rc, -EINVAL);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
        assert_non_null(strstr(err, path));
        config_release(&c);
        unlink(path);
    }
    struct tl_config c;
    char err[512] = "";
    config_init(&c);
    assert_int_equal(config_set(&c, "novalue", err, sizeof(err)), -EINVAL);
    assert_int_equal(config_set(&c, "memory.flows=12", err, sizeof(err)), 0);
    assert_int_equal(config_finalize(&c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "command line: key 'memory.flows'"));
    config_release(&c);
    config_release(NULL);
}

static void test_cpus(void **state)
{
    (void)state;
    int cpus[16];
    assert_int_equal(config_parse_cpus("0-3,6", cpus, 16), 5);
    assert_int_equal(cpus[4], 6);
    assert_int_equal(config_parse_cpus("2", cpus, 16), 1);
    assert_int_equal(config_parse_cpus("3-1", cpus, 16), -EINVAL);
    assert_int_equal(config_parse_cpus("a", cpus, 16), -EINVAL);
    assert_int_equal(config_parse_cpus("", cpus, 16), -EINVAL);
    assert_int_equal(config_parse_cpus("0-100", cpus, 16), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_and_passthrough),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_cpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
