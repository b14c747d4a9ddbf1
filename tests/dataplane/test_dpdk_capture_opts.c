/* capture_opts (sensor/engine): the command-line options of the multi-queue sources, their
 * config sections, and capture_prepare()'s refusals, without opening a device. */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture_opts.h"
#include "config.h"
#include "eve_format.h"

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


/* Writes text to a temporary YAML file; returns its path (static buffer). */
static const char *write_yaml(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/tl_capcfg_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text as the config file and reads the capture keys into o (o may hold command-line
 * values). Returns capture_opts_from_config's result; err gets the message. */
static int load_capture(const char *text, struct capture_opts *o, char *err, size_t errlen,
                        bool dump_roundtrip)
{
    struct tl_config cfg;
    const char *path = write_yaml(text);
    assert_int_equal(config_init(&cfg), 0);
    assert_int_equal(config_load_file(&cfg, path, err, errlen), 0);
    int rc = config_finalize(&cfg, err, errlen);
    if (rc == 0 && dump_roundtrip) {
        /* --dump-config writes the capture keys back in a form that reads the same */
        char dumped[96];
        snprintf(dumped, sizeof(dumped), "%s.dump", path);
        FILE *f = fopen(dumped, "w");
        assert_non_null(f);
        config_dump(&cfg, f);
        fclose(f);
        config_release(&cfg);
        assert_int_equal(config_init(&cfg), 0);
        assert_int_equal(config_load_file(&cfg, dumped, err, errlen), 0);
        rc = config_finalize(&cfg, err, errlen);
        unlink(dumped);
    }
    if (rc == 0)
        rc = capture_opts_from_config(o, &cfg, err, errlen);
    config_release(&cfg);
    unlink(path);
    return rc;
}

static void test_config_file(void **state)
{
    (void)state;
    struct capture_opts o;
    char err[512];
    const char *yaml = "capture:\n"
                       "  interface: veth9\n"
                       "  method: dpdk\n"
                       "  queues: 2\n"
                       "  bypass: yes\n"
                       "  bypass-after: 1mb\n"
                       "  afxdp:\n"
                       "    frames: 4096\n"
                       "    frame-size: 2048\n"
                       "    xdp-mode: skb\n"
                       "    bypass-entries: 1000\n"
                       "  dpdk:\n"
                       "    eal-args: --no-huge --no-pci -m 512\n"
                       "    ports: net_pcap0,net_pcap1\n"
                       "    mbufs: 8191\n"
                       "    rx-descriptors: 512\n";
    for (int rt = 0; rt < 2; rt++) { /* as written, and after --dump-config */
        capture_opts_init(&o);
        assert_int_equal(load_capture(yaml, &o, err, sizeof(err), rt == 1), 0);
        assert_int_equal(o.kind, CAPTURE_DPDK);
        assert_int_equal(o.queues, 2);
        assert_false(o.bypass_off);
        assert_int_equal(o.afxdp_bypass_after, 1u << 20);
        assert_int_equal(o.afxdp_frames, 4096);
        assert_int_equal(o.afxdp_frame_size, 2048);
        assert_int_equal(o.xdp_mode, CAPTURE_XDP_SKB);
        assert_int_equal(o.afxdp_bypass_entries, 1000);
        assert_string_equal(o.dpdk_args, "--no-huge --no-pci -m 512");
        assert_string_equal(o.ports, "net_pcap0,net_pcap1");
        assert_int_equal(o.dpdk_mbufs, 8191);
        assert_int_equal(o.dpdk_rx_desc, 512);
    }

    /* the command line wins over the file: --capture pcap, --queues 3, --dpdk-args, --ports */
    struct option opts[8];
    unsigned n = capture_opts_getopt(opts, 3000);
    capture_opts_init(&o);
    for (unsigned i = 0; i < n; i++) {
        const char *arg = !strcmp(opts[i].name, "capture")     ? "afxdp"
                          : !strcmp(opts[i].name, "queues")    ? "3"
                          : !strcmp(opts[i].name, "dpdk-args") ? "--cli"
                          : !strcmp(opts[i].name, "ports")     ? "7"
                                                               : NULL;
        if (arg)
            assert_int_equal(capture_opts_handle(&o, opts[i].val, 3000, arg, err, sizeof(err)), 1);
    }
    assert_int_equal(load_capture(yaml, &o, err, sizeof(err), false), 0);
    assert_int_equal(o.kind, CAPTURE_AFXDP);
    assert_int_equal(o.queues, 3);
    assert_string_equal(o.dpdk_args, "--cli");
    assert_string_equal(o.ports, "7");
    assert_int_equal(o.afxdp_frames, 4096); /* not on the command line: from the file */
    capture_opts_init(&o); /* --capture pcap overrides method: dpdk too */
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(opts[i].name, "capture"))
            assert_int_equal(capture_opts_handle(&o, opts[i].val, 3000, "pcap", err, sizeof(err)), 1);
    assert_int_equal(load_capture(yaml, &o, err, sizeof(err), false), 0);
    assert_int_equal(o.kind, CAPTURE_PCAP);

    /* capture.bypass: no */
    capture_opts_init(&o);
    assert_int_equal(load_capture("capture:\n  method: afxdp\n  bypass: no\n", &o, err,
                                  sizeof(err), false), 0);
    assert_true(o.bypass_off);
    assert_int_equal(o.kind, CAPTURE_AFXDP);

    /* errors name the key and its line */
    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"capture:\n  method: netmap\n", ":2: key 'capture.method'"},
        {"capture:\n  snaplen: 1500\n  queues: many\n", ":3: key 'capture.queues'"},
        {"capture:\n  afxdp:\n    frames: 4096\n    frams: 8\n", ":4: key 'capture.afxdp.frams': unknown key"},
        {"capture:\n  afxdp:\n    xdp-mode: turbo\n", ":3: key 'capture.afxdp.xdp-mode'"},
        {"capture:\n  dpdk:\n    mbuf-size: 10\n", ":3: key 'capture.dpdk.mbuf-size'"},
        {"capture:\n  dpdk: 5\n", ":2: key 'capture.dpdk': expected a section"},
        {"capture:\n  bypass: maybe\n", ":2: key 'capture.bypass'"},
        {"capture:\n  bypass-after: lots\n", ":2: key 'capture.bypass-after'"},
        {"capture:\n  methd: dpdk\n", ":2: key 'capture.methd': unknown key"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        capture_opts_init(&o);
        err[0] = 0;
        assert_int_not_equal(load_capture(bad[i].yaml, &o, err, sizeof(err), false), 0);
        if (!strstr(err, bad[i].want))
            fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].want);
    }
}

/* A source's bypass operations, recorded. */
struct fake_q {
    unsigned adds, takes;
    int add_rc;
    struct dp_flow_tuple last;
    struct dp_bypass_counters give;
};

static int fake_add(void *q, const struct dp_flow_tuple *t)
{
    struct fake_q *f = q;
    f->adds++;
    f->last = *t;
    return f->add_rc;
}

static int fake_take(void *q, const struct dp_flow_tuple *t, struct dp_bypass_counters *out)
{
    struct fake_q *f = q;
    f->takes++;
    if (memcmp(t, &f->last, sizeof(*t)))
        return -ENOENT;
    *out = f->give;
    return 0;
}

static void test_engine_bypass(void **state)
{
    (void)state;
    struct fake_q fq;
    memset(&fq, 0, sizeof(fq));
    void *queues[1] = {&fq};
    struct pkt_source_ops ops;
    memset(&ops, 0, sizeof(ops));
    ops.bypass_add = fake_add;
    ops.bypass_take = fake_take;
    struct pkt_source src = {.ops = &ops, .queues = queues, .n_queues = 1, .name = "fake",
                             .bypass_after = 0};
    struct engine_bypass b;
    engine_bypass_init(&b, &src, 0);

    struct flow f;
    memset(&f, 0, sizeof(f));
    f.key.ip_version = 4;
    f.key.proto = 6;
    f.key.addr[0][0] = 10;
    f.key.addr[1][0] = 192;
    f.key.port[0] = 80;    /* endpoint 0: the server */
    f.key.port[1] = 40000; /* endpoint 1: the client */
    f.client_side = 1;
    f.bytes[0] = 1u << 30;

    /* with rules loaded (a detect thread; bypass-after off, so it is never dereferenced) */
    static int dummy_dt;
    const struct detect_thread *dt = (const struct detect_thread *)(const void *)&dummy_dt;
    engine_bypass_check(&b, dt, &f); /* no rule asked, bypass-after off */
    assert_int_equal(fq.adds, 0);
    assert_int_equal(f.bypass, FLOW_BYPASS_NONE);
    f.detect_flags |= DETECT_FLOW_BYPASS; /* a `bypass` rule matched */
    engine_bypass_check(&b, NULL, &f); /* no rules: the mark cannot come from detect */
    assert_int_equal(fq.adds, 0);
    engine_bypass_check(&b, dt, &f);
    engine_bypass_flow(&b, &f); /* once per flow, never again */
    assert_int_equal(fq.adds, 1);
    assert_int_equal(f.bypass, FLOW_BYPASS_CAPTURE);
    assert_int_equal(fq.last.sport, 80);
    assert_int_equal(fq.last.dport, 40000);
    assert_int_equal(b.c[BYP_FLOWS], 1);
    assert_int_equal(b.c[BYP_CAPTURE], 1);

    /* flow end: the tuple's src (endpoint 0) is the server, so fwd counts go to the client */
    fq.give = (struct dp_bypass_counters){.packets = 10, .bytes = 5000, .packets_fwd = 7,
                                          .bytes_fwd = 4200};
    struct event ev;
    flow_to_event(&f, &ev);
    engine_bypass_flow_end(&b, &f, &ev);
    assert_int_equal(fq.takes, 1);
    assert_int_equal(ev.u.flow.bypass, FLOW_BYPASS_CAPTURE);
    assert_int_equal(ev.u.flow.bypassed_pkts_tc, 7);
    assert_int_equal(ev.u.flow.bypassed_bytes_tc, 4200);
    assert_int_equal(ev.u.flow.bypassed_pkts_ts, 3);
    assert_int_equal(ev.u.flow.bypassed_bytes_ts, 800);
    assert_int_equal(ev.u.flow.kernel_bypassed_pkts, 10);
    assert_int_equal(b.c[BYP_CAPTURE_PKTS], 10);

    /* gone from the map (LRU eviction): counted as lost, the record has no counters */
    memset(&fq.last, 0, sizeof(fq.last));
    flow_to_event(&f, &ev);
    engine_bypass_flow_end(&b, &f, &ev);
    assert_int_equal(b.c[BYP_LOST], 1);
    assert_int_equal(ev.u.flow.bypassed_pkts_ts + ev.u.flow.bypassed_pkts_tc, 0);

    /* the source refuses (map full): bypassed locally, counted */
    struct flow g = f;
    g.bypass = FLOW_BYPASS_NONE;
    fq.add_rc = -ENOSPC;
    engine_bypass_flow(&b, &g);
    assert_int_equal(g.bypass, FLOW_BYPASS_LOCAL);
    assert_int_equal(b.c[BYP_FAILED], 1);

    /* bypass-after without rules (nothing to inspect): at the threshold, not before */
    src.bypass_after = 1000;
    fq.add_rc = 0;
    engine_bypass_init(&b, &src, 0);
    struct flow h;
    memset(&h, 0, sizeof(h));
    h.key.ip_version = 4;
    h.key.proto = 17;
    h.bytes[0] = 600;
    h.bytes[1] = 399;
    engine_bypass_check(&b, NULL, &h);
    assert_int_equal(h.bypass, FLOW_BYPASS_NONE);
    h.bytes[1] = 400;
    engine_bypass_check(&b, NULL, &h);
    assert_int_equal(h.bypass, FLOW_BYPASS_CAPTURE);

    /* dispatch mode (no source): local bypass only */
    engine_bypass_init(&b, NULL, 0);
    struct flow l;
    memset(&l, 0, sizeof(l));
    l.detect_flags = DETECT_FLOW_BYPASS;
    engine_bypass_check(&b, dt, &l);
    assert_int_equal(l.bypass, FLOW_BYPASS_LOCAL);
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.wirelen = 60;
    engine_bypass_packet(&b, &m);
    assert_int_equal(b.c[BYP_LOCAL_PKTS], 1);
    assert_int_equal(b.c[BYP_LOCAL_BYTES], 60);
}

/* Source counters reach the stats event's list after the bypass counters. */
static unsigned fake_counters(void *ctx, struct pkt_source_counter *out, unsigned max)
{
    (void)ctx;
    assert_true(max >= 2);
    out[0] = (struct pkt_source_counter){"capture.fake.a", 1};
    out[1] = (struct pkt_source_counter){"capture.fake.b", 2};
    return 2;
}

static void test_extra_stats(void **state)
{
    (void)state;
    struct pkt_source_ops ops;
    memset(&ops, 0, sizeof(ops));
    ops.counters = fake_counters;
    struct pkt_source src = {.ops = &ops};
    uint64_t byp[BYP_N] = {0};
    byp[BYP_CAPTURE_PKTS] = 42;
    struct eve_stat st[ENGINE_EXTRA_STATS];
    unsigned n = engine_extra_stats(byp, &src, st, ENGINE_EXTRA_STATS);
    assert_int_equal(n, BYP_N + 2);
    bool found = false;
    for (unsigned i = 0; i < BYP_N; i++)
        if (!strcmp(st[i].name, "flow_bypassed.pkts"))
            found = st[i].value == 42;
    assert_true(found);
    assert_string_equal(st[BYP_N + 1].name, "capture.fake.b");
    assert_int_equal(st[BYP_N + 1].value, 2);
    assert_int_equal(engine_extra_stats(byp, NULL, st, 3), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_prepare_refusals),
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_flow_key),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_engine_bypass),
        cmocka_unit_test(test_extra_stats),
    };
    return cmocka_run_group_tests_name("capture_opts", tests, NULL, NULL);
}
