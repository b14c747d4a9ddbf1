/* capture_opts (sensor/engine): the command-line options of the multi-queue sources, their
 * config sections, and capture_prepare()'s refusals, without opening a device. */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "capture_opts.h"
#include "config.h"

static void test_options(void **state)
{
    (void)state;
    struct option opts[8];
    struct capture_opts o;
    char err[256];
    unsigned n = capture_opts_getopt(opts, 3000);
    assert_int_equal(n, 5);
    capture_opts_init(&o);
    int cap = -1, q = -1, da = -1, pt = -1, xd = -1;
    for (unsigned i = 0; i < n; i++) {
        if (!strcmp(opts[i].name, "capture"))
            cap = opts[i].val;
        else if (!strcmp(opts[i].name, "queues"))
            q = opts[i].val;
        else if (!strcmp(opts[i].name, "dpdk-args"))
            da = opts[i].val;
        else if (!strcmp(opts[i].name, "ports"))
            pt = opts[i].val;
        else if (!strcmp(opts[i].name, "xdp-detach"))
            xd = opts[i].val;
    }
    assert_true(cap >= 3000 && q >= 3000 && da >= 3000 && pt >= 3000 && xd >= 3000);
    assert_int_equal(capture_opts_handle(&o, cap, 3000, "dpdk", err, sizeof(err)), 1);
    assert_int_equal(o.kind, CAPTURE_DPDK);
    assert_int_equal(capture_opts_handle(&o, cap, 3000, "netmap", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--capture takes pcap, afxdp or dpdk"));
    assert_int_equal(capture_opts_handle(&o, q, 3000, "4", err, sizeof(err)), 1);
    assert_int_equal(o.queues, 4);
    assert_int_equal(capture_opts_handle(&o, q, 3000, "4x", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--queues"));
    assert_int_equal(capture_opts_handle(&o, da, 3000, "--no-huge", err, sizeof(err)), 1);
    assert_string_equal(o.dpdk_args, "--no-huge");
    assert_int_equal(capture_opts_handle(&o, pt, 3000, "0,1", err, sizeof(err)), 1);
    assert_string_equal(o.ports, "0,1");
    assert_int_equal(capture_opts_handle(&o, xd, 3000, NULL, err, sizeof(err)), 1);
    assert_true(o.xdp_detach);
    assert_int_equal(capture_opts_handle(&o, 'r', 3000, "x", err, sizeof(err)), 0);
    assert_non_null(strstr(capture_opts_usage(), "--capture afxdp|dpdk"));
}

static void test_prepare_refusals(void **state)
{
    (void)state;
    struct tl_config cfg;
    struct capture_opts o;
    struct capture *cap = (struct capture *)&cfg; /* must be reset to NULL */
    char err[256];
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(config_finalize(&cfg, err, sizeof(err)), 0);

    capture_opts_init(&o); /* plain libpcap: go on, no capture */
    assert_int_equal(capture_prepare(&o, &cfg, NULL, 1, &cap), -1);
    assert_null(cap);

    capture_opts_init(&o); /* -r with a multi-queue source: usage error */
    o.kind = CAPTURE_DPDK;
    assert_int_equal(capture_prepare(&o, &cfg, NULL, 1, &cap), 2);
    assert_null(cap);

    capture_opts_init(&o); /* afxdp needs -i */
    o.kind = CAPTURE_AFXDP;
    assert_int_equal(capture_prepare(&o, &cfg, NULL, 0, &cap), 2);
    capture_opts_init(&o); /* an interface that does not exist: runtime error */
    o.kind = CAPTURE_AFXDP;
    assert_int_equal(capture_prepare(&o, &cfg, "tl_nosuch9", 0, &cap), 1);
    assert_null(cap);

    capture_opts_init(&o); /* --xdp-detach on a missing interface */
    o.xdp_detach = true;
    assert_int_equal(capture_prepare(&o, &cfg, "tl_nosuch9", 0, &cap), 1);
    config_release(&cfg);
}

static void test_stats_json(void **state)
{
    (void)state;
    struct capture_stats st;
    char buf[512];
    memset(&st, 0, sizeof(st));
    st.kind = CAPTURE_DPDK;
    st.ipackets = 10;
    st.imissed = 2;
    st.rx_nombuf = 3;
    capture_stats_json(&st, buf, sizeof(buf));
    assert_string_equal(buf, "{\"dpdk\":{\"ipackets\":10,\"ibytes\":0,\"imissed\":2,\"ierrors\":0,"
                             "\"rx_nombuf\":3}}");
    st.kind = CAPTURE_AFXDP;
    st.xdp_packets = 7;
    st.xdp_bypassed_packets = 5;
    capture_stats_json(&st, buf, sizeof(buf));
    assert_non_null(strstr(buf, "\"kernel_packets\":7"));
    assert_non_null(strstr(buf, "\"bypassed_packets\":5"));
}

static void test_flow_key(void **state)
{
    (void)state;
    struct flow_key k;
    struct dp_flow_tuple t;
    memset(&k, 0, sizeof(k));
    k.ip_version = 4;
    k.proto = 6;
    k.addr[0][0] = 10;
    k.addr[1][0] = 11;
    k.port[0] = 80;
    k.port[1] = 5555;
    capture_flow_from_key(&k, &t);
    assert_int_equal(t.ip_version, 4);
    assert_int_equal(t.proto, 6);
    assert_int_equal(t.src[0], 10);
    assert_int_equal(t.dst[0], 11);
    assert_int_equal(t.sport, 80);
    assert_int_equal(t.dport, 5555);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_prepare_refusals),
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_flow_key),
    };
    return cmocka_run_group_tests_name("capture_opts", tests, NULL, NULL);
}
