/* Unit tests for detect's per-packet shortcuts: a stream chunk inspected with only the window's
 * last bytes scanned (the rest copied when a rule is verified), and fast-pattern-only rules
 * whose Hyperscan hit proves their content (not searched again). Each shortcut must give the
 * alerts the full path gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "detect.h"
#include "rules.h"

#define MAX_EV 256

struct sink {
    struct event ev[MAX_EV];
    unsigned n;
};

static bool sink_emit(void *ctx, const struct event *ev)
{
    struct sink *s = ctx;
    if (s->n < MAX_EV)
        s->ev[s->n++] = *ev;
    return true;
}

static unsigned alerts_for(const struct sink *s, uint32_t sid)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->n; i++)
        if (s->ev[i].type == EVENT_ALERT && s->ev[i].u.alert.sid == sid)
            n++;
    return n;
}

struct env {
    struct ruleset *rs;
    struct detect_engine *de;
    struct detect_thread *dt;
    struct sink sink;
};

static void env_open(struct env *e, const char *rules)
{
    memset(e, 0, sizeof(*e));
    struct rules_report *rep = rules_report_new();
    char err[256];
    e->rs = ruleset_load_string(NULL, rules, "t.rules", rep, err, sizeof(err));
    assert_non_null(e->rs);
    if (rules_report_failed(rep))
        fail_msg("rule failed: %s", rules_report_failure(rep, 0));
    rules_report_free(rep);
    struct detect_config dc;
    detect_config_default(&dc);
    dc.stream.max_dirs = 64;
    dc.stream.ooo_slots = 64;
    dc.threshold_entries = 1024;
    e->de = detect_engine_new_cfg(e->rs, &dc, err, sizeof(err));
    if (!e->de)
        fail_msg("engine: %s", err);
    e->dt = detect_thread_new(e->de);
    assert_non_null(e->dt);
}

static void env_close(struct env *e)
{
    detect_thread_free(e->dt);
    detect_engine_free(e->de);
    ruleset_free(e->rs);
}

static struct detect_stats stats(const struct env *e)
{
    struct detect_stats st;
    detect_thread_stats(e->dt, &st);
    return st;
}

static void set_v4(uint8_t *a, uint8_t x, uint8_t y, uint8_t z, uint8_t w)
{
    memset(a, 0, 16);
    a[0] = x;
    a[1] = y;
    a[2] = z;
    a[3] = w;
}

/* ---- packets (UDP): fast-pattern-only rules ---- */

static struct pkt_meta udp_pkt(const char *payload, uint16_t dport)
{
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.flags = PKT_IPV4 | PKT_UDP | PKT_HAS_L4;
    m.ip_version = 4;
    m.proto = 17;
    m.ttl = 64;
    set_v4(m.src, 10, 0, 0, 1);
    set_v4(m.dst, 10, 0, 0, 2);
    m.sport = 1234;
    m.dport = dport;
    m.payload = (const uint8_t *)payload;
    m.payload_len = (uint32_t)strlen(payload);
    m.ts_ns = 1000000000ull;
    return m;
}

/* Alerts of sid 1 from one UDP packet against one rule; *proven gets the rules the prefilter
 * hit proved. */
static unsigned udp_hits(const char *rule, const char *payload, uint64_t *proven)
{
    struct env e;
    env_open(&e, rule);
    struct pkt_meta m = udp_pkt(payload, 53);
    detect_packet(e.dt, &m, NULL, FLOW_TO_SERVER, sink_emit, &e.sink);
    unsigned n = alerts_for(&e.sink, 1);
    if (proven)
        *proven = stats(&e).mpm_proven;
    env_close(&e);
    return n;
}

#define U "alert udp any any -> any any "

static void test_fp_only_rules(void **state)
{
    (void)state;
    uint64_t pv = 0;
    /* the shortcut is taken: plain and nocase content, the hit proves it */
    assert_int_equal(udp_hits(U "(content:\"abcde\"; sid:1;)", "xxabcdexx", &pv), 1);
    assert_int_equal(pv, 1);
    assert_int_equal(udp_hits(U "(content:\"AbCdE\"; nocase; sid:1;)", "xxaBcDexx", &pv), 1);
    assert_int_equal(pv, 1);
    assert_int_equal(udp_hits(U "(content:\"abcde\"; sid:1;)", "xxABCDExx", &pv), 0);
    /* header conditions still apply to a proven rule */
    assert_int_equal(udp_hits(U "(content:\"abcde\"; dsize:>100; sid:1;)", "xxabcdexx", &pv), 0);
    assert_int_equal(
        udp_hits("alert udp any any -> any 54 (content:\"abcde\"; sid:1;)", "abcde", &pv), 0);
    /* positional keywords are not proven by a hit anywhere: verified as before */
    assert_int_equal(udp_hits(U "(content:\"abcde\"; offset:3; sid:1;)", "abcdexxxxx", &pv), 0);
    assert_int_equal(pv, 0);
    assert_int_equal(udp_hits(U "(content:\"abcde\"; offset:3; sid:1;)", "xxxabcde", &pv), 1);
    assert_int_equal(pv, 0);
    assert_int_equal(udp_hits(U "(content:\"AbCdE\"; nocase; offset:3; sid:1;)", "ABCDExxxxx",
                              &pv), 0);
    assert_int_equal(udp_hits(U "(content:\"abcde\"; depth:5; sid:1;)", "xabcde", &pv), 0);
    assert_int_equal(udp_hits(U "(content:\"abcde\"; startswith; sid:1;)", "xabcde", &pv), 0);
    assert_int_equal(udp_hits(U "(content:\"abcde\"; endswith; sid:1;)", "abcdex", &pv), 0);
    assert_int_equal(
        udp_hits(U "(content:\"abcde\"; isdataat:!1,relative; sid:1;)", "abcdex", &pv), 0);
    assert_int_equal(udp_hits(U "(content:\"abcde\"; content:!\"zz\"; sid:1;)", "abcdezz", &pv),
                     0);
    assert_int_equal(pv, 0);
    /* a chopped fast pattern (fast_pattern:offset,length) hits on part of the content only */
    assert_int_equal(
        udp_hits(U "(content:\"abcdefgh\"; fast_pattern:2,4; sid:1;)", "xxcdefxx", &pv), 0);
    assert_int_equal(pv, 0);
    assert_int_equal(
        udp_hits(U "(content:\"abcdefgh\"; fast_pattern:2,4; sid:1;)", "xabcdefghx", &pv), 1);
    assert_int_equal(pv, 0);
}

/* ---- TCP stream ---- */

struct tcpconv {
    struct flow f;
    uint32_t seq;
    uint8_t host;
};

static void tcp_send(struct env *e, struct tcpconv *c, uint8_t flags, const char *data)
{
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.flags = PKT_IPV4 | PKT_TCP | PKT_HAS_L4;
    m.ip_version = 4;
    m.proto = 6;
    m.ttl = 64;
    set_v4(m.src, 10, 0, 0, c->host);
    set_v4(m.dst, 10, 0, 0, 200);
    m.sport = (uint16_t)(40000 + c->host);
    m.dport = 80;
    m.tcp_flags = flags;
    m.tcp_seq = c->seq;
    m.payload = (const uint8_t *)data;
    m.payload_len = data ? (uint32_t)strlen(data) : 0;
    m.ts_ns = 2000000000ull;
    c->f.pkts[FLOW_TO_SERVER]++;
    detect_packet(e->dt, &m, &c->f, FLOW_TO_SERVER, sink_emit, &e->sink);
    c->seq += m.payload_len + ((flags & 0x02) ? 1 : 0);
}

static void tcp_open(struct env *e, struct tcpconv *c, uint8_t host)
{
    memset(c, 0, sizeof(*c));
    c->f.flow_id = host;
    c->f.key.proto = 6;
    c->f.key.ip_version = 4;
    c->seq = 1000u * host;
    c->host = host;
    tcp_send(e, c, 0x02, NULL);
    c->f.state = FLOW_STATE_ESTABLISHED;
}

/* A rule's first content far back in the window (beyond the bytes scanned with the new data),
 * its fast pattern in the new data: the window must be copied before verification. Another
 * flow's packet in between leaves other bytes where the window goes in detect's buffer. */
static void test_stream_window_copied_for_verification(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "alert tcp any any -> any any (content:\"ALPHA\"; content:\"OMEGAMARKER\"; "
                 "distance:0; sid:1;)\n");
    struct tcpconv a, b;
    tcp_open(&e, &a, 1);
    tcp_open(&e, &b, 2);
    tcp_send(&e, &a, 0x18, "ALPHA and then sixty bytes of filler text, nothing to see here.");
    tcp_send(&e, &b, 0x18, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_int_equal(alerts_for(&e.sink, 1), 0);
    assert_int_equal(stats(&e).window_copies, 0); /* no candidate: the window was not copied */
    tcp_send(&e, &a, 0x18, "yy OMEGAMARKER");
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    assert_int_equal(stats(&e).window_copies, 1);
    /* the other flow: its fast pattern without the first content before it */
    tcp_send(&e, &b, 0x18, "OMEGAMARKER");
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    assert_int_equal(stats(&e).window_copies, 2);
    env_close(&e);
}

/* A fast-pattern-only content straddling the packet's start is a stream match (proven by the
 * hit, which ends in the new bytes); one lying wholly in the scanned window tail is old and
 * must not alert again; when the old one is the hit singlematch reports, a new one after it is
 * still found by verification. */
static void test_stream_fp_only_boundaries(void **state)
{
    (void)state;
    struct env e;
    /* sid 9's 30-byte content makes the scanned window tail 29 bytes long */
    env_open(&e, "alert tcp any any -> any any (content:\"STRADDLE-ME\"; sid:1;)\n"
                 "alert tcp any any -> any any (content:\"a-thirty-byte-long-content-xyz\"; "
                 "sid:9;)\n");
    struct tcpconv a;
    tcp_open(&e, &a, 1);
    tcp_send(&e, &a, 0x18, "some text before STRAD");
    assert_int_equal(alerts_for(&e.sink, 1), 0);
    tcp_send(&e, &a, 0x18, "DLE-ME and after");
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    assert_int_equal(e.sink.ev[e.sink.n - 1].u.alert.in_stream, 1);
    assert_int_equal(stats(&e).mpm_proven, 1);
    /* whole in the window's scanned tail: the hit ends in old bytes, not a new match */
    tcp_send(&e, &a, 0x18, "abc STRADDLE-ME");
    assert_int_equal(alerts_for(&e.sink, 1), 2);
    tcp_send(&e, &a, 0x18, "zz");
    assert_int_equal(alerts_for(&e.sink, 1), 2);
    /* the old occurrence is the reported hit (singlematch), a new one follows in new bytes */
    tcp_send(&e, &a, 0x18, " STRADDLE-ME");
    assert_int_equal(alerts_for(&e.sink, 1), 3);
    tcp_send(&e, &a, 0x18, "nothing");
    assert_int_equal(alerts_for(&e.sink, 1), 3);
    detect_flow_end(e.dt, &a.f, sink_emit, &e.sink);
    env_close(&e);
}

/* stream_size on a stream match sees the stream with this packet's bytes counted, as when the
 * stream was inspected after stream_packet() returned: the one-chunk path inspects during the
 * delivery, before the stream counts the chunk. */
static void test_stream_size_counts_the_chunk(void **state)
{
    (void)state;
    struct env e;
    /* client stream size = bytes + 1 (the SYN): 8 after "hello X" */
    env_open(&e, "alert tcp any any -> any any (content:\"hello X\"; stream_size:client,>,7; "
                 "sid:1;)\n"
                 "alert tcp any any -> any any (content:\"hello X\"; stream_size:client,<,9; "
                 "sid:2;)\n"
                 "alert tcp any any -> any any (content:\"hello X\"; stream_size:client,>,8; "
                 "sid:3;)\n");
    struct tcpconv a;
    tcp_open(&e, &a, 1);
    tcp_send(&e, &a, 0x18, "hello X");
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    assert_int_equal(alerts_for(&e.sink, 2), 1);
    assert_int_equal(alerts_for(&e.sink, 3), 0);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp_only_rules),
        cmocka_unit_test(test_stream_window_copied_for_verification),
        cmocka_unit_test(test_stream_fp_only_boundaries),
        cmocka_unit_test(test_stream_size_counts_the_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
