/* Fast patterns grouped by port and by protocol (sensor/detect/detect.c group_split_ports):
 * rules that need a few specific ports or name an application protocol are prefiltered in
 * databases of their own, scanned only on packets of such a port / flows of that protocol. The
 * alerts must be those of one database for all: each rule alerts on exactly the packets its
 * header admits, for destination- and source-port rules, port sets shared or not, bidirectional
 * rules, and through the compiled-database cache (the per-port databases are cached too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "applayer.h"
#include "detect.h"
#include "flow.h"
#include "rules.h"

#define MAX_SID 16

struct sink {
    unsigned by_sid[MAX_SID];
};

static bool sink_emit(void *ctx, const struct event *ev)
{
    struct sink *s = ctx;
    if (ev->type == EVENT_ALERT && ev->u.alert.sid < MAX_SID)
        s->by_sid[ev->u.alert.sid]++;
    return true;
}

static const char *rules_text =
    /* destination-port rules: 5000 alone, and 5000 with 5001 (two port sets) */
    "alert udp any any -> any 5000 (msg:\"dp\"; content:\"|05|\"; sid:1;)\n"
    "alert udp any any -> any [5000,5001] (msg:\"dp2\"; content:\"|05|\"; sid:2;)\n"
    /* source-port rule */
    "alert udp any 6000 -> any any (msg:\"sp\"; content:\"ab\"; sid:3;)\n"
    /* no port: the group's own database */
    "alert udp any any -> any any (msg:\"any\"; content:\"|05|\"; sid:4;)\n"
    /* bidirectional: stays in the group's database, matches either way */
    "alert udp any any <> any 5000 (msg:\"bidir\"; content:\"|05|\"; sid:5;)\n"
    /* a wide port range is not split */
    "alert udp any any -> any 1024: (msg:\"high\"; content:\"|05|\"; sid:6;)\n"
    /* a protocol's payload rule: only on that protocol's flows */
    "alert dns any any -> any any (msg:\"dns\"; content:\"zz\"; sid:7;)\n"
    /* a TCP port rule in the stream and packet groups */
    "alert tcp any any -> any 7000 (msg:\"tcp\"; content:\"|05|\"; sid:8;)\n";

struct env {
    struct ruleset *rs;
    struct detect_engine *de;
    struct detect_thread *dt;
};

static void env_open(struct env *e, const char *cache_dir, bool want_cached)
{
    memset(e, 0, sizeof(*e));
    struct rules_load_config lc;
    rules_load_config_default(&lc);
    applayer_rules_hooks(&lc.applayer);
    struct rules_report *rep = rules_report_new();
    char err[256];
    e->rs = ruleset_load_string(&lc, rules_text, "t.rules", rep, err, sizeof(err));
    assert_non_null(e->rs);
    if (rules_report_failed(rep))
        fail_msg("rule failed: %s", rules_report_failure(rep, 0));
    rules_report_free(rep);
    struct detect_config dc;
    detect_config_default(&dc);
    dc.stream.max_dirs = 64;
    dc.stream.ooo_slots = 64;
    dc.threshold_entries = 1024;
    dc.cache_dir = cache_dir;
    e->de = detect_engine_new_cfg(e->rs, &dc, err, sizeof(err));
    if (!e->de)
        fail_msg("engine: %s", err);
    struct detect_engine_info info;
    detect_engine_get_info(e->de, &info);
    assert_int_equal(info.from_cache, want_cached);
    /* the UDP group's database, per-port ones (5000, 5001, source 6000), the protocol's, TCP
     * packet and stream per-port ones: one database for all would be 3 */
    assert_true(info.databases >= 7);
    e->dt = detect_thread_new(e->de);
    assert_non_null(e->dt);
}

static void env_close(struct env *e)
{
    detect_thread_free(e->dt);
    detect_engine_free(e->de);
    ruleset_free(e->rs);
}

static struct pkt_meta pkt(uint8_t proto, const char *payload, uint16_t sport, uint16_t dport)
{
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.flags = PKT_IPV4 | PKT_HAS_L4 | (proto == 6 ? PKT_TCP : PKT_UDP);
    m.ip_version = 4;
    m.proto = proto;
    m.ttl = 64;
    m.src[0] = 10, m.src[3] = 1;
    m.dst[0] = 10, m.dst[3] = 2;
    m.sport = sport;
    m.dport = dport;
    m.payload = (const uint8_t *)payload;
    m.payload_len = (uint32_t)strlen(payload);
    m.tcp_flags = proto == 6 ? 0x18 : 0;
    m.ts_ns = 1000000000ull;
    return m;
}

/* Alerts by sid of one packet (no flow unless f). */
static void one(struct env *e, const struct pkt_meta *m, struct flow *f, struct sink *s)
{
    memset(s, 0, sizeof(*s));
    detect_packet(e->dt, m, f, FLOW_TO_SERVER, sink_emit, s);
}

static void expect(const struct sink *s, unsigned mask)
{
    for (unsigned sid = 1; sid < MAX_SID; sid++)
        if (s->by_sid[sid] != ((mask >> sid) & 1u))
            fail_msg("sid %u: %u alerts, expected %u", sid, s->by_sid[sid], (mask >> sid) & 1u);
}

#define S(x) (1u << (x))

static void check_all(struct env *e)
{
    struct sink s;
    struct pkt_meta m = pkt(17, "\x05", 1234, 5000);
    one(e, &m, NULL, &s);
    expect(&s, S(1) | S(2) | S(4) | S(5) | S(6));
    m = pkt(17, "\x05", 1234, 5001);
    one(e, &m, NULL, &s);
    expect(&s, S(2) | S(4) | S(6));
    m = pkt(17, "\x05", 5000, 1234); /* the reverse way: only the bidirectional rule */
    one(e, &m, NULL, &s);
    expect(&s, S(4) | S(5) | S(6));
    m = pkt(17, "\x05", 5000, 80);
    one(e, &m, NULL, &s);
    expect(&s, S(4) | S(5));
    m = pkt(17, "ab\x05", 6000, 5000);
    one(e, &m, NULL, &s);
    expect(&s, S(1) | S(2) | S(3) | S(4) | S(5) | S(6));
    m = pkt(17, "ab", 6001, 5000); /* source port not in the set */
    one(e, &m, NULL, &s);
    expect(&s, 0);
    m = pkt(17, "x", 1234, 5000); /* port without its content */
    one(e, &m, NULL, &s);
    expect(&s, 0);
    /* the protocol's rule: a DNS flow, not an HTTP flow, not without flow */
    struct flow f;
    memset(&f, 0, sizeof(f));
    f.key.ip_version = 4;
    f.key.proto = 17;
    f.app_proto = APP_PROTO_DNS;
    m = pkt(17, "zz", 1234, 53);
    one(e, &m, &f, &s);
    expect(&s, S(7));
    f.app_proto = APP_PROTO_HTTP;
    one(e, &m, &f, &s);
    expect(&s, 0);
    one(e, &m, NULL, &s);
    expect(&s, 0);
    /* TCP without a flow: packet inspection with the TCP group's per-port database */
    m = pkt(6, "\x05", 1234, 7000);
    one(e, &m, NULL, &s);
    expect(&s, S(8));
    m = pkt(6, "\x05", 1234, 7001);
    one(e, &m, NULL, &s);
    expect(&s, 0);
}

static void test_port_groups(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL, false);
    check_all(&e);
    env_close(&e);
}

static void test_port_groups_cached(void **state)
{
    (void)state;
    char dir[] = "/tmp/tl-portgroups-XXXXXX";
    assert_non_null(mkdtemp(dir));
    for (int round = 0; round < 2; round++) {
        struct env e;
        env_open(&e, dir, round == 1);
        check_all(&e);
        env_close(&e);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_groups),
        cmocka_unit_test(test_port_groups_cached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
