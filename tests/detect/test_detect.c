/* Unit tests for matching (sensor/detect) on hand-built packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "detect.h"
#include "rules.h"
#include "rules_core.h"

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

static void env_open_cfg(struct env *e, const char *rules, const struct detect_config *dc)
{
    memset(e, 0, sizeof(*e));
    struct rules_report *rep = rules_report_new();
    char err[256];
    e->rs = ruleset_load_string(NULL, rules, "t.rules", rep, err, sizeof(err));
    assert_non_null(e->rs);
    if (rules_report_failed(rep))
        fail_msg("rule failed: %s", rules_report_failure(rep, 0));
    rules_report_free(rep);
    e->de = dc ? detect_engine_new_cfg(e->rs, dc, err, sizeof(err))
               : detect_engine_new(e->rs, err, sizeof(err));
    if (!e->de)
        fail_msg("engine: %s", err);
    e->dt = detect_thread_new(e->de);
    assert_non_null(e->dt);
}

/* Small pools: tests build many engines (meson's MALLOC_PERTURB_ touches all of it). */
static void small_config(struct detect_config *dc)
{
    detect_config_default(dc);
    dc->stream.max_dirs = 64;
    dc->stream.ooo_slots = 64;
    dc->threshold_entries = 1024;
}

static void env_open(struct env *e, const char *rules)
{
    struct detect_config dc;
    small_config(&dc);
    env_open_cfg(e, rules, &dc);
}

static void env_close(struct env *e)
{
    detect_thread_free(e->dt);
    detect_engine_free(e->de);
    ruleset_free(e->rs);
}

static void set_v4(uint8_t *a, uint8_t x, uint8_t y, uint8_t z, uint8_t w)
{
    memset(a, 0, 16);
    a[0] = x;
    a[1] = y;
    a[2] = z;
    a[3] = w;
}

/* A UDP packet 10.0.0.1:1234 -> 10.0.0.2:dport. */
static struct pkt_meta udp_pkt(const void *payload, uint32_t len, uint16_t dport)
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
    m.payload = payload;
    m.payload_len = len;
    m.ts_ns = 1000000000ull;
    return m;
}

/* Alerts of sid 1 from one UDP packet carrying payload, against one rule. */
static unsigned udp_hits(const char *rule, const char *payload)
{
    struct env e;
    env_open(&e, rule);
    struct pkt_meta m = udp_pkt(payload, (uint32_t)strlen(payload), 53);
    detect_packet(e.dt, &m, NULL, FLOW_TO_SERVER, sink_emit, &e.sink);
    unsigned n = alerts_for(&e.sink, 1);
    env_close(&e);
    return n;
}

#define U "alert udp any any -> any any "

static void test_content_positions(void **state)
{
    (void)state;
    /* offset / depth: depth counts from offset */
    assert_int_equal(udp_hits(U "(content:\"abc\"; offset:2; sid:1;)", "xxabc"), 1);
    assert_int_equal(udp_hits(U "(content:\"abc\"; offset:3; sid:1;)", "xxabc"), 0);
    assert_int_equal(udp_hits(U "(content:\"abc\"; depth:5; sid:1;)", "xxabc"), 1);
    assert_int_equal(udp_hits(U "(content:\"abc\"; depth:4; sid:1;)", "xxabc"), 0);
    assert_int_equal(udp_hits(U "(content:\"abc\"; offset:1; depth:4; sid:1;)", "xxabc"), 1);
    assert_int_equal(udp_hits(U "(content:\"abc\"; offset:1; depth:3; sid:1;)", "xxabc"), 0);
    /* distance / within, relative to the previous match's end */
    assert_int_equal(udp_hits(U "(content:\"ab\"; content:\"cd\"; distance:2; sid:1;)", "ab..cd"), 1);
    assert_int_equal(udp_hits(U "(content:\"ab\"; content:\"cd\"; distance:3; sid:1;)", "ab..cd"), 0);
    assert_int_equal(udp_hits(U "(content:\"ab\"; content:\"cd\"; within:4; sid:1;)", "ab..cd"), 1);
    assert_int_equal(udp_hits(U "(content:\"ab\"; content:\"cd\"; within:3; sid:1;)", "ab..cd"), 0);
    /* within counts from the previous end plus distance, as Suricata */
    assert_int_equal(udp_hits(U "(content:\"ab\"; content:\"cd\"; distance:1; within:2; sid:1;)",
                              "ab..cd"), 0);
    assert_int_equal(udp_hits(U "(content:\"ab\"; content:\"cd\"; distance:1; within:3; sid:1;)",
                              "ab..cd"), 1);
    /* negative distance reaches back */
    assert_int_equal(udp_hits(U "(content:\"cd\"; content:\"bc\"; distance:-3; within:2; sid:1;)",
                              "abcd"), 1);
    /* backtracking: the first "ab" does not satisfy within, the second does */
    assert_int_equal(udp_hits(U "(content:\"ab\"; content:\"X\"; within:1; sid:1;)", "ab.abX"), 1);
    /* startswith / endswith */
    assert_int_equal(udp_hits(U "(content:\"ab\"; startswith; sid:1;)", "abc"), 1);
    assert_int_equal(udp_hits(U "(content:\"bc\"; startswith; sid:1;)", "abc"), 0);
    assert_int_equal(udp_hits(U "(content:\"bc\"; endswith; sid:1;)", "abc"), 1);
    assert_int_equal(udp_hits(U "(content:\"ab\"; endswith; sid:1;)", "abcab."), 0);
    assert_int_equal(udp_hits(U "(content:\"abc\"; startswith; endswith; sid:1;)", "abc"), 1);
    /* isdataat, absolute and relative (payload of 4 bytes) */
    assert_int_equal(udp_hits(U "(isdataat:3; sid:1;)", "abcd"), 1);
    assert_int_equal(udp_hits(U "(isdataat:4; sid:1;)", "abcd"), 0);
    assert_int_equal(udp_hits(U "(isdataat:!4; sid:1;)", "abcd"), 1);
    assert_int_equal(udp_hits(U "(content:\"a\"; isdataat:3,relative; sid:1;)", "abcd"), 1);
    assert_int_equal(udp_hits(U "(content:\"a\"; isdataat:4,relative; sid:1;)", "abcd"), 0);
    /* fast_pattern chop still verifies the whole content */
    assert_int_equal(udp_hits(U "(content:\"abXd\"; fast_pattern:0,2; sid:1;)", "abcd"), 0);
    assert_int_equal(udp_hits(U "(content:\"abcd\"; fast_pattern:0,2; sid:1;)", "abcd"), 1);
}

static void test_nocase_negation_ports(void **state)
{
    (void)state;
    assert_int_equal(udp_hits(U "(content:\"HeLLo\"; nocase; sid:1;)", "say hello"), 1);
    assert_int_equal(udp_hits(U "(content:\"HeLLo\"; sid:1;)", "say hello"), 0);
    assert_int_equal(udp_hits(U "(content:\"say\"; content:!\"bye\"; sid:1;)", "say hello"), 1);
    assert_int_equal(udp_hits(U "(content:\"say\"; content:!\"hello\"; sid:1;)", "say hello"), 0);
    assert_int_equal(udp_hits(U "(content:\"say\"; content:!\"hello\"; distance:10; sid:1;)",
                              "say hello"), 1);
    assert_int_equal(udp_hits(U "(content:!\"zzz\"; sid:1;)", "say hello"), 1);
    /* the packet goes to port 53: a rule that excludes it gets nothing */
    assert_int_equal(udp_hits("alert udp any any -> any !53 (content:\"say\"; sid:1;)", "say"), 0);
    assert_int_equal(udp_hits("alert udp any any -> any [1:52,54:] (content:\"say\"; sid:1;)", "say"), 0);
    assert_int_equal(udp_hits("alert udp any any -> any [50:60] (content:\"say\"; sid:1;)", "say"), 1);
    assert_int_equal(udp_hits("alert udp any 1234 -> any 53 (content:\"say\"; sid:1;)", "say"), 1);
    assert_int_equal(udp_hits("alert udp any 53 -> any 1234 (content:\"say\"; sid:1;)", "say"), 0);
    assert_int_equal(udp_hits("alert udp any 53 <> any 1234 (content:\"say\"; sid:1;)", "say"), 1);
    assert_int_equal(udp_hits("alert udp 10.0.0.0/24 any -> !10.0.0.2 any (content:\"say\"; sid:1;)", "say"), 0);
    assert_int_equal(udp_hits("alert tcp any any -> any any (content:\"say\"; sid:1;)", "say"), 0);
    assert_int_equal(udp_hits("alert ip any any -> any any (content:\"say\"; sid:1;)", "say"), 1);
}

static void test_pcre_and_bytes(void **state)
{
    (void)state;
    assert_int_equal(udp_hits(U "(pcre:\"/h[aeiou]llo/\"; sid:1;)", "say hello"), 1);
    assert_int_equal(udp_hits(U "(pcre:\"/^hello/\"; sid:1;)", "say hello"), 0);
    assert_int_equal(udp_hits(U "(pcre:\"/SAY/i\"; sid:1;)", "say hello"), 1);
    assert_int_equal(udp_hits(U "(content:\"say\"; pcre:\"/^ hel/R\"; sid:1;)", "say hello"), 1);
    assert_int_equal(udp_hits(U "(content:\"say\"; pcre:\"/^hel/R\"; sid:1;)", "say hello"), 0);
    assert_int_equal(udp_hits(U "(pcre:!\"/bye/\"; sid:1;)", "say hello"), 1);
    /* byte_test on binary and string numbers */
    assert_int_equal(udp_hits(U "(byte_test:2,=,0x4142,0; sid:1;)", "AB"), 1);
    assert_int_equal(udp_hits(U "(byte_test:2,=,0x4241,0,little; sid:1;)", "AB"), 1);
    assert_int_equal(udp_hits(U "(byte_test:2,>,0x4142,0; sid:1;)", "AB"), 0);
    assert_int_equal(udp_hits(U "(byte_test:2,!=,7,0; sid:1;)", "AB"), 1);
    assert_int_equal(udp_hits(U "(byte_test:3,=,123,1,string,dec; sid:1;)", "x123"), 1);
    assert_int_equal(udp_hits(U "(byte_test:2,=,255,0,string,hex; sid:1;)", "ff"), 1);
    assert_int_equal(udp_hits(U "(byte_test:1,&,0x02,0; sid:1;)", "\x03"), 1);
    assert_int_equal(udp_hits(U "(byte_test:1,=,1,0,bitmask 0x0f; sid:1;)", "\x31"), 1);
    assert_int_equal(udp_hits(U "(byte_test:4,=,1,0; sid:1;)", "AB"), 0); /* past the end */
    /* byte_jump: "02" jumps two bytes past the number */
    assert_int_equal(udp_hits(U "(byte_jump:2,0,string,dec; content:\"Z\"; distance:0; within:1; sid:1;)",
                              "02abZ"), 1);
    assert_int_equal(udp_hits(U "(byte_jump:2,0,string,dec; content:\"a\"; distance:0; within:1; sid:1;)",
                              "02abZ"), 0);
    assert_int_equal(udp_hits(U "(content:\"Q\"; byte_jump:2,0,relative,string,from_end,post_offset -16; "
                                "content:\"end\"; distance:0; within:3; sid:1;)", "Q13 the end"), 1);
    /* byte_extract drives a later keyword */
    /* byte_extract leaves the cursor after the extracted byte */
    assert_int_equal(udp_hits(U "(byte_extract:1,0,n,string; content:\"X\"; distance:n; within:1; sid:1;)",
                              "3abcX"), 1);
    assert_int_equal(udp_hits(U "(byte_extract:1,0,n,string; content:\"X\"; distance:n; within:1; sid:1;)",
                              "3abX"), 0);
    assert_int_equal(udp_hits(U "(byte_extract:1,0,n,string; content:\"X\"; offset:n; depth:1; sid:1;)",
                              "3abX"), 1);
}

static void test_header_keywords(void **state)
{
    (void)state;
    assert_int_equal(udp_hits(U "(dsize:5; sid:1;)", "12345"), 1);
    assert_int_equal(udp_hits(U "(dsize:>5; sid:1;)", "12345"), 0);
    assert_int_equal(udp_hits(U "(dsize:4<>6; sid:1;)", "12345"), 1);
    assert_int_equal(udp_hits(U "(ttl:64; sid:1;)", "x"), 1);
    assert_int_equal(udp_hits(U "(ttl:<64; sid:1;)", "x"), 0);
    assert_int_equal(udp_hits(U "(ip_proto:17; sid:1;)", "x"), 1);
    assert_int_equal(udp_hits(U "(ip_proto:tcp; sid:1;)", "x"), 0);

    struct env e;
    env_open(&e, "alert icmp any any -> any any (itype:8; icode:0; icmp_id:7; icmp_seq:>1; sid:1;)\n"
                 "alert icmp any any -> any any (itype:>8; sid:2;)\n"
                 "alert tcp any any -> any any (flags:S; sid:3;)\n"
                 "alert tcp any any -> any any (flags:+S; sid:4;)\n"
                 "alert tcp any any -> any any (flags:!R; sid:5;)\n");
    struct pkt_meta m = udp_pkt("", 0, 0);
    m.flags = PKT_IPV4 | PKT_ICMP | PKT_HAS_L4;
    m.proto = 1;
    m.icmp_type = 8;
    m.icmp_id = 7;
    m.icmp_seq = 2;
    detect_packet(e.dt, &m, NULL, FLOW_TO_SERVER, sink_emit, &e.sink);
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    assert_int_equal(alerts_for(&e.sink, 2), 0);
    m.icmp_seq = 1;
    detect_packet(e.dt, &m, NULL, FLOW_TO_SERVER, sink_emit, &e.sink);
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    struct pkt_meta t = udp_pkt("", 0, 80);
    t.flags = PKT_IPV4 | PKT_TCP | PKT_HAS_L4;
    t.proto = 6;
    t.tcp_flags = 0x12; /* SYN+ACK */
    detect_packet(e.dt, &t, NULL, FLOW_TO_SERVER, sink_emit, &e.sink);
    assert_int_equal(alerts_for(&e.sink, 3), 0);
    assert_int_equal(alerts_for(&e.sink, 4), 1);
    assert_int_equal(alerts_for(&e.sink, 5), 1);
    t.tcp_flags = 0x02;
    detect_packet(e.dt, &t, NULL, FLOW_TO_SERVER, sink_emit, &e.sink);
    assert_int_equal(alerts_for(&e.sink, 3), 1);
    env_close(&e);
}

/* ---- TCP ---- */

struct tcpconv {
    struct flow f;
    uint32_t cseq, sseq;
};

static struct pkt_meta tcp_pkt(struct tcpconv *c, enum flow_dir dir, uint8_t flags, uint32_t seq,
                               const char *payload, uint32_t len)
{
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.flags = PKT_IPV4 | PKT_TCP | PKT_HAS_L4;
    m.ip_version = 4;
    m.proto = 6;
    m.ttl = 64;
    if (dir == FLOW_TO_SERVER) {
        set_v4(m.src, 10, 0, 0, 1);
        set_v4(m.dst, 10, 0, 0, 2);
        m.sport = 40000;
        m.dport = 80;
    } else {
        set_v4(m.src, 10, 0, 0, 2);
        set_v4(m.dst, 10, 0, 0, 1);
        m.sport = 80;
        m.dport = 40000;
    }
    m.tcp_flags = flags;
    m.tcp_seq = seq;
    m.payload = (const uint8_t *)payload;
    m.payload_len = len;
    m.ts_ns = 2000000000ull;
    c->f.pkts[dir]++;
    return m;
}

static void handshake(struct env *e, struct tcpconv *c)
{
    memset(c, 0, sizeof(*c));
    c->f.flow_id = 42;
    c->f.key.proto = 6;
    c->f.key.ip_version = 4;
    c->cseq = 1000;
    c->sseq = 5000;
    struct pkt_meta m = tcp_pkt(c, FLOW_TO_SERVER, 0x02, c->cseq, NULL, 0);
    detect_packet(e->dt, &m, &c->f, FLOW_TO_SERVER, sink_emit, &e->sink);
    m = tcp_pkt(c, FLOW_TO_CLIENT, 0x12, c->sseq, NULL, 0);
    detect_packet(e->dt, &m, &c->f, FLOW_TO_CLIENT, sink_emit, &e->sink);
    c->f.state = FLOW_STATE_ESTABLISHED;
    c->cseq++;
    c->sseq++;
}

static void send_data(struct env *e, struct tcpconv *c, uint32_t seq_off, const char *data)
{
    struct pkt_meta m = tcp_pkt(c, FLOW_TO_SERVER, 0x18, c->cseq + seq_off, data,
                                (uint32_t)strlen(data));
    detect_packet(e->dt, &m, &c->f, FLOW_TO_SERVER, sink_emit, &e->sink);
}

#define FILLER "the quick brown fox jumps over the lazy dog, the quick brown fox jumps over it"

static void test_tcp_split_content(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "alert tcp any any -> any 80 (msg:\"evil\"; flow:established,to_server; "
                 "content:\"EVILSTRING\"; sid:1;)\n"
                 "alert tcp-pkt any any -> any 80 (content:\"EVILSTRING\"; sid:2;)\n");
    struct tcpconv c;
    handshake(&e, &c);
    send_data(&e, &c, 0, "GET /EVIL");
    assert_int_equal(alerts_for(&e.sink, 1), 0);
    send_data(&e, &c, 9, "STRING HTTP/1.0\r\n");
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    assert_int_equal(alerts_for(&e.sink, 2), 0); /* packets alone never hold it */
    const struct event *ev = &e.sink.ev[e.sink.n - 1];
    assert_int_equal(ev->u.alert.in_stream, 1);
    assert_int_equal(ev->ref.flow_id, 42);
    assert_int_equal(ev->ref.sport, 40000);
    assert_string_equal(ev->u.alert.rule->msg, "evil");
    /* more data without the content: no new alert; the old match is not raised again */
    send_data(&e, &c, 26, "Host: x\r\n");
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    detect_flow_end(e.dt, &c.f, sink_emit, &e.sink);
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    env_close(&e);
}

static void test_tcp_out_of_order(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "alert tcp any any -> any any (content:\"ABCDEF\"; sid:1;)\n");
    struct tcpconv c;
    handshake(&e, &c);
    send_data(&e, &c, 3, "DEF");  /* arrives first */
    assert_int_equal(alerts_for(&e.sink, 1), 0);
    send_data(&e, &c, 0, "ABC");  /* fills the hole */
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    /* a retransmission with the same bytes is not an anomaly and no new alert */
    send_data(&e, &c, 0, "ABC");
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    for (unsigned i = 0; i < e.sink.n; i++)
        assert_int_not_equal(e.sink.ev[i].type, EVENT_ANOMALY);
    /* overlapping data that differs: anomaly, first copy kept */
    send_data(&e, &c, 0, "XBC");
    unsigned anomalies = 0;
    for (unsigned i = 0; i < e.sink.n; i++)
        if (e.sink.ev[i].type == EVENT_ANOMALY) {
            anomalies++;
            assert_int_equal(e.sink.ev[i].u.anomaly.layer, 1);
            assert_int_equal(e.sink.ev[i].u.anomaly.code, STREAM_ANOM_OVERLAP);
        }
    assert_int_equal(anomalies, 1);
    struct detect_stats st;
    detect_thread_stats(e.dt, &st);
    assert_int_equal(st.stream.overlaps_different, 1);
    assert_int_equal(st.stream.ooo_queued, 1);
    detect_flow_end(e.dt, &c.f, sink_emit, &e.sink);
    env_close(&e);
}

/* Stream chunks delivered in place (window and new bytes one run in the stream's buffer) and
 * copied (room 0: never in place) must give the same alerts: contents split over many small
 * segments while the buffer is compacted again and again, and a hole filled so that one
 * packet delivers two in-place chunks and then one too large for the room. */
static void inplace_case(uint32_t room, unsigned *a1, unsigned *a10, unsigned *a11)
{
    struct detect_config dc;
    small_config(&dc);
    dc.stream.window = 16;
    dc.stream.room = room;
    struct env e;
    env_open_cfg(&e, "alert tcp any any -> any any (content:\"SECRET-TOKEN\"; sid:1;)\n"
                     "alert tcp any any -> any any (content:\"MASTER-KEY-PASSWORD\"; sid:10;)\n"
                     "alert tcp any any -> any any (content:\"bbbbzzzz\"; sid:11;)\n", &dc);
    struct tcpconv c;
    handshake(&e, &c);
    char text[400];
    snprintf(text, sizeof(text), "%.37s%s%.50s%s%.23s%s%.41s", FILLER, "SECRET-TOKEN", FILLER,
             "SECRET-TOKEN", FILLER, "SECRET-TOKEN", FILLER);
    uint32_t n = (uint32_t)strlen(text), off = 0;
    while (off < n) {
        char seg[6];
        snprintf(seg, sizeof(seg), "%.5s", text + off);
        send_data(&e, &c, off, seg);
        off += (uint32_t)strlen(seg);
    }
    *a1 = alerts_for(&e.sink, 1);
    /* out of order: the two later segments wait, then the first fills the hole */
    char big[31];
    snprintf(big, sizeof(big), "-PASSWORD%.21s", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    send_data(&e, &c, off + 8, "ER-KEY");
    send_data(&e, &c, off + 14, big);
    send_data(&e, &c, off, "aaaaMAST");
    send_data(&e, &c, off + 44, "zzzz");
    *a10 = alerts_for(&e.sink, 10);
    *a11 = alerts_for(&e.sink, 11);
    detect_flow_end(e.dt, &c.f, sink_emit, &e.sink);
    env_close(&e);
}

static void test_tcp_inplace_chunks(void **state)
{
    (void)state;
    unsigned a1, a10, a11, b1, b10, b11;
    inplace_case(24, &a1, &a10, &a11);
    inplace_case(0, &b1, &b10, &b11);
    assert_int_equal(a1, 3);
    assert_int_equal(a10, 1);
    assert_int_equal(a11, 1);
    assert_int_equal(b1, a1);
    assert_int_equal(b10, a10);
    assert_int_equal(b11, a11);
}

static void test_tcp_midstream(void **state)
{
    (void)state;
    const char *rules = "alert tcp any any -> any any (content:\"uid=0(root)\"; sid:1;)\n"
                        "alert tcp any any -> any any (flow:established; content:\"uid\"; sid:2;)\n";
    for (int mid = 0; mid < 2; mid++) {
        struct detect_config dc;
        small_config(&dc);
        dc.stream.midstream = mid;
        struct env e;
        env_open_cfg(&e, rules, &dc);
        struct tcpconv c;
        memset(&c, 0, sizeof(c));
        c.f.flow_id = 7;
        c.f.key.proto = 6;
        c.f.state = FLOW_STATE_ESTABLISHED;
        /* no handshake seen: the content is split over two packets */
        struct pkt_meta m = tcp_pkt(&c, FLOW_TO_CLIENT, 0x18, 100, "x uid=0(", 8);
        detect_packet(e.dt, &m, &c.f, FLOW_TO_CLIENT, sink_emit, &e.sink);
        m = tcp_pkt(&c, FLOW_TO_CLIENT, 0x18, 108, "root) y", 7);
        detect_packet(e.dt, &m, &c.f, FLOW_TO_CLIENT, sink_emit, &e.sink);
        struct detect_stats st;
        detect_thread_stats(e.dt, &st);
        if (mid) {
            /* picked up: reassembled, the split content matches; established */
            assert_int_equal(alerts_for(&e.sink, 1), 1);
            assert_int_equal(alerts_for(&e.sink, 2), 1);
            assert_int_equal(st.stream.midstream_skipped, 0);
            assert_false(c.f.detect_flags & DETECT_FLOW_MIDSTREAM);
        } else {
            /* Suricata's default: no session, packets inspected one by one, not established */
            assert_int_equal(alerts_for(&e.sink, 1), 0);
            assert_int_equal(alerts_for(&e.sink, 2), 0);
            assert_int_equal(st.stream.midstream_skipped, 1);
            /* the flow record says so (exception policy stream_midstream / ignore) */
            assert_true(c.f.detect_flags & DETECT_FLOW_MIDSTREAM);
            m = tcp_pkt(&c, FLOW_TO_CLIENT, 0x18, 115, "uid=0(root)", 11);
            detect_packet(e.dt, &m, &c.f, FLOW_TO_CLIENT, sink_emit, &e.sink);
            assert_int_equal(alerts_for(&e.sink, 1), 1);
            assert_int_equal(e.sink.ev[e.sink.n - 1].u.alert.in_stream, 0);
        }
        detect_flow_end(e.dt, &c.f, sink_emit, &e.sink);
        env_close(&e);
    }
}

/* flow:established follows the packets, not f->state: the engine's flow stage updates a whole
 * burst before detect sees its first packet, so f->state may already hold a later RST. */
static void test_state_per_packet(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "alert tcp any any -> any any (flow:established; content:\"abc\"; sid:1;)\n"
                 "alert tcp any any -> any any (flow:not_established; content:\"xyz\"; sid:2;)\n");
    struct tcpconv c;
    handshake(&e, &c);
    c.f.state = FLOW_STATE_CLOSED; /* the flow stage is ahead: a RST later in the burst */
    send_data(&e, &c, 0, "abc");
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    /* the RST itself, then data: no longer established */
    struct pkt_meta m = tcp_pkt(&c, FLOW_TO_CLIENT, 0x14, c.sseq, NULL, 0);
    detect_packet(e.dt, &m, &c.f, FLOW_TO_CLIENT, sink_emit, &e.sink);
    c.f.state = FLOW_STATE_ESTABLISHED; /* whatever the flow stage says */
    send_data(&e, &c, 3, "abc xyz");
    assert_int_equal(alerts_for(&e.sink, 1), 1);
    assert_int_equal(alerts_for(&e.sink, 2), 1);
    detect_flow_end(e.dt, &c.f, sink_emit, &e.sink);
    env_close(&e);
}

/* Flow end: bytes the other side never acknowledged are inspected again by the rules the stream
 * prefilter finds (Suricata's raw stream flush at flow end); acknowledged bytes are not. */
static void test_flow_end_unacked(void **state)
{
    (void)state;
    const char *rules = "alert tcp any any -> any any (content:\"GET \"; depth:4; "
                        "content:\"HTTP/1.\"; sid:1;)\n"
                        "alert tcp any any -> any any (pcre:\"/HTTP\\/1\\./\"; sid:2;)\n";
    const char *req = "GET / HTTP/1.0\r\n";
    for (int acked = 0; acked < 2; acked++) {
        struct env e;
        env_open(&e, rules);
        struct tcpconv c;
        handshake(&e, &c);
        send_data(&e, &c, 0, req);
        assert_int_equal(alerts_for(&e.sink, 1), 1);
        assert_int_equal(alerts_for(&e.sink, 2), 1);
        if (acked) {
            struct pkt_meta m = tcp_pkt(&c, FLOW_TO_CLIENT, 0x10, c.sseq, NULL, 0);
            m.tcp_ack = c.cseq + (uint32_t)strlen(req);
            detect_packet(e.dt, &m, &c.f, FLOW_TO_CLIENT, sink_emit, &e.sink);
        }
        detect_flow_end(e.dt, &c.f, sink_emit, &e.sink);
        assert_int_equal(alerts_for(&e.sink, 1), acked ? 1 : 2);
        assert_int_equal(alerts_for(&e.sink, 2), 1); /* no fast pattern: not on the flush */
        env_close(&e);
    }
}

static void test_flowbits_threshold_pass_order(void **state)
{
    (void)state;
    struct env e;
    env_open(&e,
             "alert udp any any -> any any (content:\"login\"; flowbits:set,seen; flowbits:noalert; sid:1;)\n"
             "alert udp any any -> any any (content:\"secret\"; flowbits:isset,seen; priority:3; sid:2;)\n"
             "alert udp any any -> any any (content:\"secret\"; flowbits:isnotset,seen; sid:3;)\n"
             "alert udp any any -> any any (content:\"secret\"; priority:1; sid:4;)\n"
             "alert udp any any -> any any (content:\"lim\"; threshold:type limit, track by_src, count 2, seconds 60; sid:5;)\n"
             "alert udp any any -> any any (content:\"thr\"; threshold:type threshold, track by_dst, count 3, seconds 60; sid:6;)\n"
             "alert udp any any -> any any (content:\"df\"; detection_filter:track by_src, count 2, seconds 60; sid:7;)\n"
             "pass udp any any -> any 99 (content:\"secret\"; sid:8;)\n");
    struct flow f;
    memset(&f, 0, sizeof(f));
    f.flow_id = 9;
    struct pkt_meta m = udp_pkt("secret", 6, 53);
    detect_packet(e.dt, &m, &f, FLOW_TO_SERVER, sink_emit, &e.sink);
    assert_int_equal(alerts_for(&e.sink, 2), 0);
    assert_int_equal(alerts_for(&e.sink, 3), 1);
    m = udp_pkt("login", 5, 53);
    detect_packet(e.dt, &m, &f, FLOW_TO_SERVER, sink_emit, &e.sink);
    assert_int_equal(alerts_for(&e.sink, 1), 0); /* noalert */
    e.sink.n = 0;
    m = udp_pkt("secret", 6, 53);
    detect_packet(e.dt, &m, &f, FLOW_TO_SERVER, sink_emit, &e.sink);
    assert_int_equal(e.sink.n, 2);
    /* ordered by priority: sid 4 (1) before sid 2 (3) */
    assert_int_equal(e.sink.ev[0].u.alert.sid, 4);
    assert_int_equal(e.sink.ev[1].u.alert.sid, 2);
    /* the pass rule matches on port 99: nothing is raised */
    e.sink.n = 0;
    m = udp_pkt("secret", 6, 99);
    detect_packet(e.dt, &m, &f, FLOW_TO_SERVER, sink_emit, &e.sink);
    assert_int_equal(e.sink.n, 0);
    e.sink.n = 0;
    for (int i = 0; i < 7; i++) {
        m = udp_pkt("lim thr df", 10, 53);
        m.ts_ns += (uint64_t)i * 1000000000ull;
        detect_packet(e.dt, &m, NULL, FLOW_TO_SERVER, sink_emit, &e.sink);
    }
    assert_int_equal(alerts_for(&e.sink, 5), 2); /* limit 2 */
    assert_int_equal(alerts_for(&e.sink, 6), 2); /* every 3rd: 3, 6 */
    assert_int_equal(alerts_for(&e.sink, 7), 5); /* after 2: 3..7 */
    /* a new window (packet time) starts the limit again */
    m = udp_pkt("lim", 3, 53);
    m.ts_ns += 120ull * 1000000000ull;
    detect_packet(e.dt, &m, NULL, FLOW_TO_SERVER, sink_emit, &e.sink);
    assert_int_equal(alerts_for(&e.sink, 5), 3);
    env_close(&e);
}

static void test_iponly_and_cache(void **state)
{
    (void)state;
    char dir[] = "/tmp/tl-hscache-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *rules = "alert ip [10.0.0.1,192.0.2.0/24] any -> any any (sid:1;)\n"
                        "alert ip any any -> [10.0.0.3,10.0.0.2] any (sid:2;)\n"
                        "alert ip 10.0.0.9 any -> any any (sid:3;)\n"
                        "alert ip ![10.0.0.0/8] any -> any any (sid:4;)\n"
                        "alert udp any any -> any any (content:\"zz\"; sid:5;)\n";
    for (int round = 0; round < 2; round++) {
        struct detect_config dc;
        small_config(&dc);
        dc.cache_dir = dir;
        struct env e;
        env_open_cfg(&e, rules, &dc);
        struct detect_engine_info info;
        detect_engine_get_info(e.de, &info);
        assert_int_equal(info.from_cache, round == 1);
        assert_int_equal(info.iponly_rules, 4);
        struct pkt_meta m = udp_pkt("zz", 2, 53);
        detect_packet(e.dt, &m, NULL, FLOW_TO_SERVER, sink_emit, &e.sink);
        assert_int_equal(alerts_for(&e.sink, 1), 1);
        assert_int_equal(alerts_for(&e.sink, 2), 1);
        assert_int_equal(alerts_for(&e.sink, 3), 0);
        assert_int_equal(alerts_for(&e.sink, 4), 0);
        assert_int_equal(alerts_for(&e.sink, 5), 1);
        env_close(&e);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static int hook_buffer(void *ctx, const char *kw)
{
    (void)ctx;
    if (!strcmp(kw, "http.uri") || !strcmp(kw, "http_uri"))
        return 1;
    if (!strcmp(kw, "http.host"))
        return 2;
    return 0;
}

static int hook_proto(void *ctx, const char *name)
{
    (void)ctx;
    return !strcmp(name, "http") ? 1 : 0;
}

static void test_sticky_buffers(void **state)
{
    (void)state;
    struct rules_load_config lc;
    rules_load_config_default(&lc);
    lc.applayer.sticky_buffer = hook_buffer;
    lc.applayer.app_proto = hook_proto;
    char err[256];
    struct rules_report *rep = rules_report_new();
    struct ruleset *rs = ruleset_load_string(
        &lc,
        "alert http any any -> any any (http.uri; content:\"/admin\"; startswith; http.host; "
        "content:\"example\"; sid:1;)\n"
        "alert tcp any any -> any any (content:\"/admin\"; http_uri; pcre:\"/login/U\"; sid:2;)\n"
        "alert http any any -> any any (http.uri; content:\"/other\"; sid:3;)\n",
        "t", rep, err, sizeof(err));
    assert_non_null(rs);
    assert_int_equal(rules_report_failed(rep), 0);
    rules_report_free(rep);
    struct detect_config dc;
    small_config(&dc);
    struct detect_engine *de = detect_engine_new_cfg(rs, &dc, err, sizeof(err));
    assert_non_null(de);
    struct detect_thread *dt = detect_thread_new(de);
    struct sink sink = {.n = 0};
    struct flow f;
    memset(&f, 0, sizeof(f));
    f.app_proto = 1;
    f.flow_id = 5;
    struct pkt_meta m = udp_pkt("", 0, 80);
    m.flags = PKT_IPV4 | PKT_TCP | PKT_HAS_L4;
    m.proto = 6;
    const char *uri = "/admin/login.php", *host = "www.example.com";
    struct detect_buffer bufs[2] = {
        {RULE_BUF_APP_BASE + 1, (const uint8_t *)uri, (uint32_t)strlen(uri)},
        {RULE_BUF_APP_BASE + 2, (const uint8_t *)host, (uint32_t)strlen(host)},
    };
    assert_int_equal(detect_buffers(dt, &m, &f, FLOW_TO_SERVER, bufs, 2, 3, sink_emit, &sink), 2);
    assert_int_equal(alerts_for(&sink, 1), 1);
    assert_int_equal(alerts_for(&sink, 2), 1);
    assert_int_equal(alerts_for(&sink, 3), 0);
    assert_int_equal(sink.ev[0].u.alert.tx_id, 3);
    /* without the host buffer sid 1 cannot match */
    sink.n = 0;
    assert_int_equal(detect_buffers(dt, &m, &f, FLOW_TO_SERVER, bufs, 1, 4, sink_emit, &sink), 1);
    assert_int_equal(alerts_for(&sink, 2), 1);
    /* the packet payload path does not see sticky-buffer rules */
    sink.n = 0;
    struct pkt_meta p = udp_pkt(uri, (uint32_t)strlen(uri), 80);
    detect_packet(dt, &p, NULL, FLOW_TO_SERVER, sink_emit, &sink);
    assert_int_equal(sink.n, 0);
    detect_thread_free(dt);
    detect_engine_free(de);
    ruleset_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_positions),
        cmocka_unit_test(test_nocase_negation_ports),
        cmocka_unit_test(test_pcre_and_bytes),
        cmocka_unit_test(test_header_keywords),
        cmocka_unit_test(test_tcp_split_content),
        cmocka_unit_test(test_tcp_out_of_order),
        cmocka_unit_test(test_tcp_midstream),
        cmocka_unit_test(test_tcp_inplace_chunks),
        cmocka_unit_test(test_state_per_packet),
        cmocka_unit_test(test_flow_end_unacked),
        cmocka_unit_test(test_flowbits_threshold_pass_order),
        cmocka_unit_test(test_iponly_and_cache),
        cmocka_unit_test(test_sticky_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
