/* fast.log output (Suricata's alert-fastlog.c line format): exact lines for IPv4, IPv6 (eight
 * groups of four hex digits, no brackets), ICMP (type/code in the port places), a protocol
 * without a name, a rule without classtype ("(null)"), drop rules ([wDrop] / [Drop] inline),
 * pseudonymised addresses, refusals; and the output kind: only alerts reach fast.log, one line
 * each, beside an EVE file that gets everything; enabled: no writes nothing; append: no
 * empties the file; the output name "fast" selects the kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "event.h"
#include "eve_format.h"
#include "fastlog.h"
#include "out_util.h"
#include "output.h"
#include "rules.h"

/* 2026-11-23 19:03:44.123456 UTC */
#define TS (1795460624ull * 1000000000ull + 123456789ull)

static struct rule_meta rm_admin = {
    .msg = "GPL ATTACK_RESPONSE id check returned root",
    .classtype = "bad-unknown",
    .category = "Potentially Bad Traffic",
    .priority = 2,
    .action = RULE_ACTION_ALERT,
    .sid = 2100498, .gid = 1, .rev = 7,
};

static struct event alert4(const struct rule_meta *rm)
{
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_ALERT;
    ev.ts_ns = TS;
    ev.ref.ip_version = 4;
    ev.ref.proto = 6;
    ev.ref.has_flow = 1;
    const uint8_t s[4] = {1, 2, 3, 4}, d[4] = {5, 6, 7, 8};
    memcpy(ev.ref.src, s, 4);
    memcpy(ev.ref.dst, d, 4);
    ev.ref.sport = 80;
    ev.ref.dport = 1234;
    ev.u.alert.rule = rm;
    ev.u.alert.sid = rm->sid;
    ev.u.alert.gid = rm->gid;
    ev.u.alert.rev = rm->rev;
    ev.u.alert.severity = rm->priority;
    return ev;
}

static void expect_line(const struct eve_format_opts *o, const struct event *ev, const char *want)
{
    char buf[1024];
    size_t len = 0;
    assert_int_equal(fastlog_format(o, ev, buf, sizeof(buf), &len), 0);
    assert_string_equal(buf, want);
    assert_int_equal(len, strlen(want));
}

static void test_ipv4(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    struct event ev = alert4(&rm_admin);
    expect_line(&o, &ev,
                "11/23/2026-19:03:44.123456  [**] [1:2100498:7] GPL ATTACK_RESPONSE id check returned "
                "root [**] [Classification: Potentially Bad Traffic] [Priority: 2] {TCP} "
                "1.2.3.4:80 -> 5.6.7.8:1234\n");
}

static void test_ipv6_icmp_proto(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    struct event ev = alert4(&rm_admin);
    ev.ref.ip_version = 6;
    ev.ref.proto = 58;
    static const uint8_t s6[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x1d, 0x0d, 0x92, 0x37, 0xb1, 0x7c, 0xaa, 0xfd};
    static const uint8_t d6[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    memcpy(ev.ref.src, s6, 16);
    memcpy(ev.ref.dst, d6, 16);
    ev.ref.sport = 133; /* ICMPv6 router solicitation: type 133, code 0 */
    ev.ref.dport = 0;
    expect_line(&o, &ev,
                "11/23/2026-19:03:44.123456  [**] [1:2100498:7] GPL ATTACK_RESPONSE id check returned "
                "root [**] [Classification: Potentially Bad Traffic] [Priority: 2] {IPv6-ICMP} "
                "fe80:0000:0000:0000:1d0d:9237:b17c:aafd:133 -> ff02:0000:0000:0000:0000:0000:0000:0002:0\n");
    ev = alert4(&rm_admin);
    ev.ref.proto = 200;
    ev.ref.sport = ev.ref.dport = 0;
    expect_line(&o, &ev,
                "11/23/2026-19:03:44.123456  [**] [1:2100498:7] GPL ATTACK_RESPONSE id check returned "
                "root [**] [Classification: Potentially Bad Traffic] [Priority: 2] {PROTO:200} "
                "1.2.3.4:0 -> 5.6.7.8:0\n");
}

static void test_no_classtype_and_drop(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    struct rule_meta rm = {.msg = "GET on wire", .priority = 3, .action = RULE_ACTION_ALERT,
                           .sid = 12345, .gid = 1, .rev = 3};
    struct event ev = alert4(&rm);
    expect_line(&o, &ev,
                "11/23/2026-19:03:44.123456  [**] [1:12345:3] GET on wire [**] [Classification: (null)] "
                "[Priority: 3] {TCP} 1.2.3.4:80 -> 5.6.7.8:1234\n");
    rm.action = RULE_ACTION_DROP;
    expect_line(&o, &ev,
                "11/23/2026-19:03:44.123456  [wDrop] [**] [1:12345:3] GET on wire [**] [Classification: "
                "(null)] [Priority: 3] {TCP} 1.2.3.4:80 -> 5.6.7.8:1234\n");
    o.inline_mode = true;
    rm.action = RULE_ACTION_REJECT;
    expect_line(&o, &ev,
                "11/23/2026-19:03:44.123456  [Drop] [**] [1:12345:3] GET on wire [**] [Classification: "
                "(null)] [Priority: 3] {TCP} 1.2.3.4:80 -> 5.6.7.8:1234\n");
}

static bool flip(void *ctx, uint8_t ipv, const uint8_t *in, uint8_t *out)
{
    (void)ctx;
    for (int i = 0; i < (ipv == 4 ? 4 : 16); i++)
        out[i] = (uint8_t)(in[i] ^ 0xff);
    return true;
}

static void test_pseudonymised_and_refusals(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    o.pseudonymise = flip;
    struct event ev = alert4(&rm_admin);
    char buf[512];
    size_t len;
    assert_int_equal(fastlog_format(&o, &ev, buf, sizeof(buf), &len), 0);
    assert_non_null(strstr(buf, "{TCP} 254.253.252.251:80 -> 250.249.248.247:1234\n"));
    assert_int_equal(fastlog_format(&o, &ev, buf, 40, &len), -ENOSPC);
    assert_int_equal(fastlog_format(&o, &ev, buf, len, &len), -ENOSPC); /* no room for the NUL */
    struct event fl = tu_flow_event(1);
    assert_int_equal(fastlog_format(&o, &fl, buf, sizeof(buf), &len), -EINVAL);
}

static unsigned count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void set(struct output_config *c, const char *k, const char *v)
{
    char err[256];
    assert_int_equal(output_config_set(c, k, v, err, sizeof(err)), 0);
}

/* The output: alerts only, one line each, formatted in outputs_write_event (output thread). */
static void test_output_kind(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("fastlog");
    assert_non_null(dir);
    char fast[300], eve[300], off[300];
    snprintf(fast, sizeof(fast), "%s/fast.log", dir);
    snprintf(eve, sizeof(eve), "%s/eve.json", dir);
    snprintf(off, sizeof(off), "%s/off.log", dir);
    /* a line left from an earlier run: append (the default) keeps it */
    FILE *f = fopen(fast, "w");
    assert_non_null(f);
    fputs("old\n", f);
    fclose(f);

    struct output_config c[3];
    output_config_default(&c[0]);
    set(&c[0], "name", "fast"); /* Suricata's name selects the kind */
    assert_int_equal(c[0].kind, OUTPUT_FAST_LOG);
    assert_string_equal(c[0].path, "fast.log");
    set(&c[0], "filename", fast);
    set(&c[0], "enabled", "yes");
    set(&c[0], "append", "yes");
    output_config_default(&c[1]);
    set(&c[1], "name", "eve-log");
    set(&c[1], "filename", eve);
    output_config_default(&c[2]);
    set(&c[2], "name", "off");
    set(&c[2], "type", "fast");
    set(&c[2], "filename", off);
    set(&c[2], "enabled", "no");
    char err[256];
    struct outputs *outs = outputs_new(c, 3, err, sizeof(err));
    assert_non_null(outs);
    struct event a = alert4(&rm_admin), fl = tu_flow_event(2);
    assert_int_equal(outputs_write_event(outs, &a), 0);
    assert_int_equal(outputs_write_event(outs, &fl), 0);
    assert_int_equal(outputs_write_event(outs, &a), 0);
    struct output_record_meta m = {.cls = OUTPUT_CLASS_STATS};
    assert_int_equal(outputs_write_json(outs, &m, "{\"x\":1}", 7), 0);
    outputs_reopen(outs); /* SIGHUP: reopens the files, not the disabled output's */
    assert_int_equal(outputs_write_event(outs, &fl), 0);
    struct output_stats st;
    assert_int_equal(outputs_stats(outs, 0, &st), 0);
    assert_int_equal(st.written, 2);
    assert_int_equal(st.filtered, 3);
    assert_int_equal(outputs_stats(outs, 2, &st), 0);
    assert_int_equal(st.written, 0);
    outputs_free(outs);
    assert_int_equal(count_lines(fast), 3); /* "old" + 2 alerts */
    assert_int_equal(count_lines(eve), 5);  /* EVE still gets everything */
    assert_null(fopen(off, "r"));           /* enabled: no - never opened */

    /* append: no empties the file at start */
    set(&c[0], "append", "no");
    outs = outputs_new(c, 1, err, sizeof(err));
    assert_non_null(outs);
    assert_int_equal(outputs_write_event(outs, &a), 0);
    outputs_free(outs);
    assert_int_equal(count_lines(fast), 1);
    f = fopen(fast, "r");
    assert_non_null(f);
    char line[512];
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_non_null(strstr(line, "[1:2100498:7] GPL ATTACK_RESPONSE"));

    /* fast.log cannot be chained (its lines are not JSON records) */
    set(&c[0], "chain", "yes");
    assert_int_not_equal(output_config_validate(&c[0], err, sizeof(err)), 0);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6_icmp_proto),
        cmocka_unit_test(test_no_classtype_and_drop),
        cmocka_unit_test(test_pseudonymised_and_refusals),
        cmocka_unit_test(test_output_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
