/* Flow table unit tests: direction, timeouts per state in packet time, bounded expiry,
 * eviction, flush, TCP state machine, VLAN and IPv6 keys, deterministic flow ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "decode_flowkey.h"
#include "event.h"
#include "flow.h"

#define S(x) ((uint64_t)(x) * 1000000000ull)
#define T0 S(1500000000)

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define ACK 0x10

struct ended {
    unsigned n;
    struct flow last[64];
    uint8_t reasons[64];
};

static void on_end(void *ctx, struct flow *f)
{
    struct ended *e = ctx;
    if (e->n < 64) {
        e->last[e->n] = *f;
        e->reasons[e->n] = f->end_reason;
    }
    e->n++;
}

static struct pkt_meta pkt4(uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t proto,
                            uint8_t flags, uint64_t ts)
{
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.ts_ns = ts;
    m.ip_version = 4;
    m.proto = proto;
    m.flags = PKT_IPV4 | PKT_HAS_L4 | (proto == 6 ? PKT_TCP : proto == 17 ? PKT_UDP : 0);
    m.src[0] = src >> 24, m.src[1] = src >> 16, m.src[2] = src >> 8, m.src[3] = src;
    m.dst[0] = dst >> 24, m.dst[1] = dst >> 16, m.dst[2] = dst >> 8, m.dst[3] = dst;
    m.sport = sp;
    m.dport = dp;
    m.tcp_flags = flags;
    m.wirelen = 60;
    return m;
}

#define A 0x0a000001u /* 10.0.0.1 */
#define B 0x0a000002u /* 10.0.0.2 */

static struct flow_table *mk(struct ended *e, uint32_t max_flows)
{
    struct flow_config cfg;
    flow_config_default(&cfg);
    cfg.max_flows = max_flows;
    memset(e, 0, sizeof(*e));
    struct flow_table *ft = flow_table_new(&cfg, on_end, e);
    assert_non_null(ft);
    return ft;
}

static void test_both_directions_one_flow(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    enum flow_dir d;
    struct pkt_meta m1 = pkt4(B, A, 40000, 80, 17, 0, T0);
    struct pkt_meta m2 = pkt4(A, B, 80, 40000, 17, 0, T0 + 1000);
    struct flow *f1 = flow_table_update(ft, &m1, &d);
    assert_non_null(f1);
    assert_int_equal(d, FLOW_TO_SERVER);
    assert_int_equal(f1->state, FLOW_STATE_NEW);
    struct flow *f2 = flow_table_update(ft, &m2, &d);
    assert_ptr_equal(f1, f2);
    assert_int_equal(d, FLOW_TO_CLIENT);
    assert_int_equal(f1->state, FLOW_STATE_ESTABLISHED);
    assert_int_equal(f1->pkts[0], 1);
    assert_int_equal(f1->pkts[1], 1);
    /* client = the sender of the first packet (B), even though B > A in key order */
    assert_memory_equal(flow_client_addr(f1), m1.src, 16);
    assert_int_equal(flow_client_port(f1), 40000);
    assert_int_equal(flow_server_port(f1), 80);
    assert_int_equal(flow_table_get_stats(ft)->active, 1);
    assert_int_equal(flow_table_get_stats(ft)->udp, 1);
    /* a different port is a different flow */
    struct pkt_meta m3 = pkt4(B, A, 40001, 80, 17, 0, T0);
    assert_ptr_not_equal(flow_table_update(ft, &m3, &d), f1);
    assert_int_equal(flow_table_get_stats(ft)->active, 2);
    /* no IP layer: no flow */
    struct pkt_meta m4 = m3;
    m4.ip_version = 0;
    assert_null(flow_table_update(ft, &m4, &d));
    flow_table_free(ft);
}

static void test_symmetric_key_hash(void **state)
{
    (void)state;
    struct pkt_meta m1 = pkt4(A, B, 1234, 80, 6, 0, T0);
    struct pkt_meta m2 = pkt4(B, A, 80, 1234, 6, 0, T0);
    struct flow_key k1, k2;
    uint32_t h1 = flow_key_from_meta(&m1, &k1), h2 = flow_key_from_meta(&m2, &k2);
    assert_int_equal(h1, h2);
    assert_memory_equal(&k1, &k2, sizeof(k1));
    m2.sport = 81;
    flow_key_from_meta(&m2, &k2);
    assert_memory_not_equal(&k1, &k2, sizeof(k1));
}

static void test_synack_first_is_server(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    enum flow_dir d;
    struct pkt_meta m = pkt4(A, B, 80, 40000, 6, SYN | ACK, T0);
    struct flow *f = flow_table_update(ft, &m, &d);
    assert_int_equal(d, FLOW_TO_CLIENT);
    assert_memory_equal(flow_client_addr(f), m.dst, 16); /* B is the client */
    assert_int_equal(flow_client_port(f), 40000);
    assert_int_equal(f->tcp_state, TCP_SYN_RECV);
    struct pkt_meta m2 = pkt4(B, A, 40000, 80, 6, ACK, T0 + 10);
    flow_table_update(ft, &m2, &d);
    assert_int_equal(d, FLOW_TO_SERVER);
    assert_int_equal(f->tcp_state, TCP_ESTABLISHED);
    assert_int_equal(f->state, FLOW_STATE_ESTABLISHED);
    flow_table_free(ft);
}

static struct flow *tcp(struct flow_table *ft, bool from_client, uint8_t flags, uint32_t seq,
                        uint32_t ack, uint32_t plen, uint64_t ts)
{
    enum flow_dir d;
    struct pkt_meta m = from_client ? pkt4(A, B, 40000, 80, 6, flags, ts) : pkt4(B, A, 80, 40000, 6, flags, ts);
    m.tcp_seq = seq;
    m.tcp_ack = ack;
    m.payload_len = plen;
    struct flow *f = flow_table_update(ft, &m, &d);
    assert_int_equal(d, from_client ? FLOW_TO_SERVER : FLOW_TO_CLIENT);
    return f;
}

static void test_tcp_handshake_fin_fin_ack(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    struct flow *f = tcp(ft, true, SYN, 100, 0, 0, T0);
    assert_int_equal(f->tcp_state, TCP_SYN_SENT);
    assert_int_equal(f->state, FLOW_STATE_NEW);
    assert_int_equal(f->timeout_s, 60);
    tcp(ft, false, SYN | ACK, 500, 101, 0, T0 + 1);
    assert_int_equal(f->tcp_state, TCP_SYN_RECV);
    tcp(ft, true, ACK, 101, 501, 0, T0 + 2);
    assert_int_equal(f->tcp_state, TCP_ESTABLISHED);
    assert_int_equal(f->timeout_s, 600);
    tcp(ft, true, ACK, 101, 501, 10, T0 + 3);
    /* client closes after 10 bytes: FIN at seq 111 */
    tcp(ft, true, FIN | ACK, 111, 501, 0, T0 + 4);
    assert_int_equal(f->tcp_state, TCP_FIN_WAIT);
    assert_int_equal(f->state, FLOW_STATE_CLOSING);
    /* server acks the FIN and sends its own */
    tcp(ft, false, FIN | ACK, 501, 112, 0, T0 + 5);
    assert_int_equal(f->tcp_state, TCP_CLOSING);
    /* a stale ACK that does not cover the server's FIN leaves it closing */
    tcp(ft, true, ACK, 112, 501, 0, T0 + 6);
    assert_int_equal(f->tcp_state, TCP_CLOSING);
    /* final ACK */
    tcp(ft, true, ACK, 112, 502, 0, T0 + 7);
    assert_int_equal(f->tcp_state, TCP_CLOSED);
    assert_int_equal(f->state, FLOW_STATE_CLOSED);
    assert_int_equal(f->timeout_s, 60);
    assert_int_equal(f->tcp_flags_ts, SYN | ACK | FIN);
    assert_int_equal(f->tcp_flags_tc, SYN | ACK | FIN);
    /* closed timeout: 60 s after the last packet */
    assert_int_equal(flow_table_expire(ft, T0 + 7 + S(60), 100), 0);
    assert_int_equal(flow_table_expire(ft, T0 + S(61), 100), 1);
    assert_int_equal(e.reasons[0], FLOW_END_TIMEOUT);
    assert_int_equal(e.last[0].pkts[0], 6);
    assert_int_equal(e.last[0].pkts[1], 2);
    flow_table_free(ft);
}

static void test_tcp_rst_and_reuse(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    struct flow *f = tcp(ft, true, SYN, 100, 0, 0, T0);
    tcp(ft, false, RST | ACK, 0, 101, 0, T0 + 1);
    assert_int_equal(f->tcp_state, TCP_CLOSED);
    assert_int_equal(f->state, FLOW_STATE_CLOSED);
    uint64_t id1 = f->flow_id;
    /* a new SYN on the closed tuple ends the old flow and starts a new one */
    struct flow *g = tcp(ft, true, SYN, 9000, 0, 0, T0 + 2);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.last[0].flow_id, id1);
    assert_int_equal(g->tcp_state, TCP_SYN_SENT);
    assert_int_equal(g->pkts[0], 1);
    assert_int_not_equal(g->flow_id, id1);
    assert_int_equal(flow_table_get_stats(ft)->created, 2);
    flow_table_free(ft);
}

static void test_tcp_midstream(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    struct flow *f = tcp(ft, true, ACK, 100, 200, 50, T0);
    assert_int_equal(f->tcp_state, TCP_ESTABLISHED);
    assert_int_equal(f->state, FLOW_STATE_ESTABLISHED);
    assert_int_equal(f->timeout_s, 600);
    /* SYN seen, SYN/ACK missed: established once both directions talk */
    struct ended e2;
    struct flow_table *ft2 = mk(&e2, 16);
    f = tcp(ft2, true, SYN, 100, 0, 0, T0);
    tcp(ft2, true, ACK, 101, 501, 0, T0 + 1);
    assert_int_equal(f->tcp_state, TCP_SYN_SENT);
    tcp(ft2, false, ACK, 501, 101, 0, T0 + 2);
    assert_int_equal(f->tcp_state, TCP_ESTABLISHED);
    flow_table_free(ft);
    flow_table_free(ft2);
}

/* flow_tcp_state_step() run on a copy of the state (as sensor/detect does, packet by packet)
 * follows the table's own TCP state machine through handshakes, a missed SYN/ACK, FINs that
 * are and are not acknowledged, and a RST. */
static void test_tcp_state_step_copy(void **state)
{
    (void)state;
    static const struct {
        bool from_client;
        uint8_t flags;
        uint32_t seq, ack, plen;
    } seqs[2][9] = {
        {{true, SYN, 100, 0, 0}, {false, SYN | ACK, 500, 101, 0}, {true, ACK, 101, 501, 0},
         {true, ACK, 101, 501, 10}, {true, FIN | ACK, 111, 501, 0},
         {false, FIN | ACK, 501, 112, 0}, {true, ACK, 112, 501, 0}, {true, ACK, 112, 502, 0},
         {false, ACK, 502, 112, 0}},
        {{true, SYN, 100, 0, 0}, {true, ACK, 101, 501, 0}, {false, ACK, 501, 101, 5},
         {false, FIN | ACK, 506, 101, 0}, {true, ACK, 101, 507, 0}, {true, ACK, 101, 507, 3},
         {false, ACK, 507, 104, 0}, {true, RST, 104, 0, 0}, {false, ACK, 507, 104, 0}},
    };
    for (int k = 0; k < 2; k++) {
        struct ended e;
        struct flow_table *ft = mk(&e, 16);
        enum tcp_state st = TCP_NONE;
        uint8_t fins = 0, acked = 0;
        unsigned seen = 0;
        const char *states = "";
        for (int i = 0; i < 9; i++) {
            struct flow *f = tcp(ft, seqs[k][i].from_client, seqs[k][i].flags, seqs[k][i].seq,
                                 seqs[k][i].ack, seqs[k][i].plen, T0 + (uint64_t)i);
            enum flow_dir d = seqs[k][i].from_client ? FLOW_TO_SERVER : FLOW_TO_CLIENT;
            struct pkt_meta m = seqs[k][i].from_client ? pkt4(A, B, 40000, 80, 6, seqs[k][i].flags, 0)
                                                       : pkt4(B, A, 80, 40000, 6, seqs[k][i].flags, 0);
            m.tcp_seq = seqs[k][i].seq;
            m.tcp_ack = seqs[k][i].ack;
            m.payload_len = seqs[k][i].plen;
            st = flow_tcp_state_step(st, &fins, &acked, f->tcp_fin_seq, (seen & (1u << !d)) != 0,
                                     &m, d, i == 0);
            seen |= 1u << d;
            assert_int_equal(st, f->tcp_state);
            assert_int_equal(fins, f->tcp_fin_sides);
            assert_int_equal(acked, f->tcp_fin_acked);
            assert_int_equal(flow_state_of_tcp_state(st), f->state);
            states = tcp_state_name(st);
        }
        /* the sequences end where they should: both FINs acknowledged, then a RST */
        assert_string_equal(states, "closed");
        flow_table_free(ft);
    }
}

static void test_timeouts_per_state(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 64);
    enum flow_dir d;
    /* UDP one way: new timeout 30 s */
    struct pkt_meta u1 = pkt4(A, B, 1000, 53, 17, 0, T0);
    flow_table_update(ft, &u1, &d);
    /* UDP both ways: established 300 s */
    struct pkt_meta u2 = pkt4(A, B, 1001, 53, 17, 0, T0);
    struct pkt_meta u2r = pkt4(B, A, 53, 1001, 17, 0, T0);
    flow_table_update(ft, &u2, &d);
    flow_table_update(ft, &u2r, &d);
    /* TCP SYN only: tcp new 60 s */
    struct pkt_meta t1 = pkt4(A, B, 2000, 80, 6, SYN, T0);
    flow_table_update(ft, &t1, &d);
    /* ICMP echo one way: 30 s */
    struct pkt_meta i1 = pkt4(A, B, 8, 0, 1, 0, T0);
    i1.icmp_type = 8;
    flow_table_update(ft, &i1, &d);
    /* other protocol (GRE 47): default new 30 s */
    struct pkt_meta g1 = pkt4(A, B, 0, 0, 47, 0, T0);
    g1.flags &= ~PKT_HAS_L4;
    flow_table_update(ft, &g1, &d);
    assert_int_equal(flow_table_get_stats(ft)->active, 5);

    /* never early; at most one second late (one-second wheel slots) */
    assert_int_equal(flow_table_expire(ft, T0 + S(30), 100), 0);
    assert_int_equal(flow_table_expire(ft, T0 + S(31), 100), 3); /* udp new, icmp, gre */
    assert_int_equal(flow_table_expire(ft, T0 + S(60), 100), 0);
    assert_int_equal(flow_table_expire(ft, T0 + S(61), 100), 1); /* tcp new */
    assert_int_equal(e.last[3].key.proto, 6);
    assert_int_equal(flow_table_expire(ft, T0 + S(300), 100), 0);
    assert_int_equal(flow_table_expire(ft, T0 + S(301), 100), 1); /* udp established */
    assert_int_equal(flow_table_get_stats(ft)->active, 0);
    assert_int_equal(flow_table_get_stats(ft)->ended_timeout, 5);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(e.reasons[i], FLOW_END_TIMEOUT);
    flow_table_free(ft);
}

static void test_short_timeout_after_long(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    enum flow_dir d;
    /* the first flow has a long timeout; later flows with short ones still end on time */
    struct pkt_meta t = pkt4(A, B, 2000, 80, 6, ACK, T0);
    flow_table_update(ft, &t, &d);
    struct pkt_meta u = pkt4(A, B, 1000, 53, 17, 0, T0 + S(5));
    flow_table_update(ft, &u, &d);
    assert_int_equal(flow_table_expire(ft, T0 + S(35), 100), 0);
    assert_int_equal(flow_table_expire(ft, T0 + S(36), 100), 1);
    assert_int_equal(e.last[0].key.proto, 17);
    assert_int_equal(flow_table_expire(ft, T0 + S(600), 100), 0);
    assert_int_equal(flow_table_expire(ft, T0 + S(601), 100), 1);
    flow_table_free(ft);
}

static void test_activity_extends_timeout(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    enum flow_dir d;
    struct pkt_meta u = pkt4(A, B, 1000, 53, 17, 0, T0);
    flow_table_update(ft, &u, &d);
    u.ts_ns = T0 + S(20);
    flow_table_update(ft, &u, &d);
    assert_int_equal(flow_table_expire(ft, T0 + S(40), 100), 0);
    assert_int_equal(flow_table_expire(ft, T0 + S(51), 100), 1);
    flow_table_free(ft);
}

static void test_timeout_at_lookup(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    enum flow_dir d;
    struct pkt_meta u = pkt4(A, B, 1000, 53, 17, 0, T0);
    struct flow *f = flow_table_update(ft, &u, &d);
    uint64_t id = f->flow_id;
    /* exactly at the timeout: same flow */
    u.ts_ns = T0 + S(30);
    assert_int_equal(flow_table_update(ft, &u, &d)->flow_id, id);
    /* 30.1 s of silence, no expire call in between: the old flow ends, a new one starts */
    u.ts_ns = T0 + S(60) + 100000000ull;
    f = flow_table_update(ft, &u, &d);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.reasons[0], FLOW_END_TIMEOUT);
    assert_int_equal(e.last[0].pkts[0], 2);
    assert_int_not_equal(f->flow_id, id);
    assert_int_equal(f->pkts[0], 1);
    assert_int_equal(flow_table_get_stats(ft)->active, 1);
    flow_table_free(ft);
}

static void test_long_gaps(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    enum flow_dir d;
    struct pkt_meta u = pkt4(A, B, 1000, 53, 17, 0, T0);
    flow_table_update(ft, &u, &d);
    /* far beyond one turn of the wheel */
    assert_int_equal(flow_table_expire(ft, T0 + S(5000), 100), 1);
    /* a flow that starts after a long silence, with no expire call in between */
    u.ts_ns = T0 + S(10000);
    flow_table_update(ft, &u, &d);
    u.ts_ns = T0 + S(10000) + S(25); /* activity pushes its timeout */
    flow_table_update(ft, &u, &d);
    assert_int_equal(flow_table_expire(ft, T0 + S(10031), 100), 0);
    assert_int_equal(flow_table_expire(ft, T0 + S(10055), 100), 0);
    assert_int_equal(flow_table_expire(ft, T0 + S(10056), 100), 1);
    /* a flow kept alive by a packet every 20 s never expires; the wheel reschedules it */
    u.sport = 7;
    for (unsigned i = 0; i < 100; i++) {
        u.ts_ns = T0 + S(20000 + 20 * i);
        flow_table_update(ft, &u, &d);
        assert_int_equal(flow_table_expire(ft, u.ts_ns, 100), 0);
    }
    assert_int_equal(flow_table_get_stats(ft)->active, 1);
    assert_int_equal(flow_table_get_stats(ft)->ended_timeout, 2);
    /* timestamps beyond 2106 (seen in merged real captures): seconds do not fit 32 bits */
    uint64_t far = S(17217029801ull);
    u.sport = 9;
    u.ts_ns = far;
    flow_table_update(ft, &u, &d);
    assert_int_equal(flow_table_expire(ft, far + S(30), 100), 1); /* the sport 7 flow */
    assert_int_equal(flow_table_expire(ft, far + S(31), 100), 1);
    assert_int_equal(flow_table_get_stats(ft)->active, 0);
    flow_table_free(ft);
}

static void test_expire_bounded_work(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 1000);
    enum flow_dir d;
    for (unsigned i = 0; i < 500; i++) {
        struct pkt_meta u = pkt4(A, B, (uint16_t)(1000 + i), 53, 17, 0, T0 + i);
        flow_table_update(ft, &u, &d);
    }
    assert_int_equal(flow_table_get_stats(ft)->active, 500);
    uint64_t later = T0 + S(1000);
    unsigned total = 0, calls = 0, n;
    while ((n = flow_table_expire(ft, later, 64)) > 0) {
        assert_true(n <= 64);
        total += n;
        calls++;
    }
    assert_int_equal(total, 500);
    assert_int_equal(calls, 8);
    /* oldest first */
    assert_int_equal(flow_client_port(&e.last[0]), 1000);
    assert_int_equal(flow_client_port(&e.last[63]), 1063);
    flow_table_free(ft);
}

static void test_eviction_when_full(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 8);
    enum flow_dir d;
    struct flow *first = NULL;
    for (unsigned i = 0; i < 8; i++) {
        struct pkt_meta u = pkt4(A, B, (uint16_t)(1000 + i), 53, 17, 0, T0 + S(i));
        struct flow *f = flow_table_update(ft, &u, &d);
        if (i == 0)
            first = f;
    }
    /* touch flow 0 so flow 1 becomes the least recently seen */
    struct pkt_meta u0 = pkt4(A, B, 1000, 53, 17, 0, T0 + S(10));
    assert_ptr_equal(flow_table_update(ft, &u0, &d), first);
    assert_int_equal(e.n, 0);
    struct pkt_meta u9 = pkt4(A, B, 2000, 53, 17, 0, T0 + S(11));
    struct flow *nf = flow_table_update(ft, &u9, &d);
    assert_non_null(nf);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.reasons[0], FLOW_END_FORCED);
    assert_int_equal(flow_client_port(&e.last[0]), 1001);
    assert_int_equal(flow_table_get_stats(ft)->ended_forced, 1);
    assert_int_equal(flow_table_get_stats(ft)->active, 8);
    /* the evicted tuple comes back as a new flow */
    struct pkt_meta u1 = pkt4(A, B, 1001, 53, 17, 0, T0 + S(12));
    struct flow *g = flow_table_update(ft, &u1, &d);
    assert_int_equal(g->pkts[0], 1);
    assert_int_equal(flow_table_get_stats(ft)->ended_forced, 2);
    assert_string_equal(flow_end_reason_name(FLOW_END_FORCED), "forced");
    flow_table_free(ft);
}

static void test_flush(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 32);
    enum flow_dir d;
    for (unsigned i = 0; i < 10; i++) {
        struct pkt_meta u = pkt4(A, B, (uint16_t)(1000 + i), 80, (i & 1) ? 6 : 17, (i & 1) ? SYN : 0, T0);
        flow_table_update(ft, &u, &d);
    }
    flow_table_flush(ft);
    assert_int_equal(e.n, 10);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(e.reasons[i], FLOW_END_SHUTDOWN);
    assert_int_equal(flow_table_get_stats(ft)->active, 0);
    assert_int_equal(flow_table_get_stats(ft)->ended_shutdown, 10);
    /* table is usable again and nothing is left to expire */
    assert_int_equal(flow_table_expire(ft, T0 + S(100000), 1000), 0);
    struct pkt_meta u = pkt4(A, B, 1, 2, 17, 0, T0);
    assert_non_null(flow_table_update(ft, &u, &d));
    flow_table_free(ft);
}

static void test_vlan_distinguishes(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    enum flow_dir d;
    struct pkt_meta a = pkt4(A, B, 1000, 53, 17, 0, T0);
    struct pkt_meta b = a;
    b.vlan_count = 1;
    b.vlan[0] = 100;
    struct pkt_meta c = b;
    c.vlan[0] = 200;
    struct flow *fa = flow_table_update(ft, &a, &d);
    struct flow *fb = flow_table_update(ft, &b, &d);
    struct flow *fc = flow_table_update(ft, &c, &d);
    assert_ptr_not_equal(fa, fb);
    assert_ptr_not_equal(fb, fc);
    assert_int_equal(fb->key.vlan[0], 100);
    /* reply on vlan 100 joins fb */
    struct pkt_meta br = pkt4(B, A, 53, 1000, 17, 0, T0 + 1);
    br.vlan_count = 1;
    br.vlan[0] = 100;
    assert_ptr_equal(flow_table_update(ft, &br, &d), fb);
    assert_int_equal(d, FLOW_TO_CLIENT);
    flow_table_free(ft);
}

static void test_ipv6(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    enum flow_dir d;
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.ts_ns = T0;
    m.ip_version = 6;
    m.proto = 6;
    m.flags = PKT_IPV6 | PKT_TCP | PKT_HAS_L4;
    static const uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    static const uint8_t d6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
    memcpy(m.src, s6, 16);
    memcpy(m.dst, d6, 16);
    m.sport = 5555;
    m.dport = 443;
    m.tcp_flags = SYN;
    struct flow *f = flow_table_update(ft, &m, &d);
    struct pkt_meta r = m;
    memcpy(r.src, d6, 16);
    memcpy(r.dst, s6, 16);
    r.sport = 443;
    r.dport = 5555;
    r.tcp_flags = SYN | ACK;
    assert_ptr_equal(flow_table_update(ft, &r, &d), f);
    assert_int_equal(d, FLOW_TO_CLIENT);
    assert_int_equal(f->key.ip_version, 6);
    assert_int_equal(f->tcp_state, TCP_SYN_RECV);
    /* an IPv4 flow with the same first 4 address bytes is another flow */
    struct pkt_meta v4 = m;
    v4.ip_version = 4;
    memset(v4.src + 4, 0, 12);
    memset(v4.dst + 4, 0, 12);
    assert_ptr_not_equal(flow_table_update(ft, &v4, &d), f);
    flow_table_free(ft);
}

static void test_flow_id_deterministic(void **state)
{
    (void)state;
    struct ended e1, e2;
    struct flow_table *a = mk(&e1, 16), *b = mk(&e2, 1024);
    enum flow_dir d;
    struct pkt_meta x = pkt4(A, B, 1000, 53, 17, 0, T0);
    struct pkt_meta y = pkt4(A, B, 1001, 53, 17, 0, T0);
    /* different tables, different insertion order: same ids */
    uint64_t ax = flow_table_update(a, &x, &d)->flow_id;
    uint64_t ay = flow_table_update(a, &y, &d)->flow_id;
    uint64_t by = flow_table_update(b, &y, &d)->flow_id;
    uint64_t bx = flow_table_update(b, &x, &d)->flow_id;
    assert_int_equal(ax, bx);
    assert_int_equal(ay, by);
    assert_int_not_equal(ax, ay);
    assert_true(ax > 0 && ax < (1ull << 51));
    /* the seed changes them */
    struct flow_config cfg;
    flow_config_default(&cfg);
    cfg.id_seed = 42;
    struct ended e3;
    memset(&e3, 0, sizeof(e3));
    struct flow_table *c = flow_table_new(&cfg, on_end, &e3);
    assert_int_not_equal(flow_table_update(c, &x, &d)->flow_id, ax);
    flow_table_free(a);
    flow_table_free(b);
    flow_table_free(c);
}

static void test_burst_matches_single(void **state)
{
    (void)state;
    struct ended e1, e2;
    struct flow_table *a = mk(&e1, 256), *b = mk(&e2, 256);
    struct pkt_meta pk[100];
    const struct pkt_meta *pp[100];
    for (unsigned i = 0; i < 100; i++) {
        pk[i] = (i % 3 == 0) ? pkt4(B, A, 53, (uint16_t)(1000 + i % 17), 17, 0, T0 + i)
                             : pkt4(A, B, (uint16_t)(1000 + i % 17), 53, 17, 0, T0 + i);
        pp[i] = &pk[i];
    }
    pk[50].ip_version = 0;
    struct flow *fl[100];
    enum flow_dir dirs[100];
    assert_int_equal(flow_table_update_burst(a, pp, 100, fl, dirs), 99);
    assert_null(fl[50]);
    for (unsigned i = 0; i < 100; i++) {
        enum flow_dir d;
        struct flow *f = flow_table_update(b, &pk[i], &d);
        if (i == 50)
            continue;
        assert_int_equal(d, dirs[i]);
        assert_int_equal(f->flow_id, fl[i]->flow_id);
    }
    assert_int_equal(flow_table_get_stats(a)->active, flow_table_get_stats(b)->active);
    flow_table_free(a);
    flow_table_free(b);
}

/* A packet sequence exercising every state path: TCP handshake, data both ways, a FIN close, a
 * RST, port reuse after close, a SYN/ACK-first flow, UDP one way then both, ICMP, a timeout
 * at lookup, and packets out of time order. */
static unsigned state_mix(struct pkt_meta *pk, unsigned max)
{
    unsigned n = 0;
#define P(...) do { assert_true(n < max); pk[n++] = pkt4(__VA_ARGS__); } while (0)
    uint64_t t = T0;
    P(A, B, 40000, 80, 6, SYN, t);
    P(B, A, 80, 40000, 6, SYN | ACK, t + 1);
    P(A, B, 40000, 80, 6, ACK, t + 2);
    for (unsigned i = 0; i < 20; i++) {
        P(A, B, 40000, 80, 6, ACK | 0x08, t + 10 + i); /* PSH ACK */
        P(B, A, 80, 40000, 6, ACK, t + 11 + i);
        P(A, B, 5000 + i % 3, 53, 17, 0, t + 12 + i);
        if (i >= 5)
            P(B, A, 53, 5000 + i % 3, 17, 0, t + 13 + i);
        P(B, A, 41000, 443, 6, ACK, t + 14 + i); /* mid-stream pickup */
        P(A, B, 443, 41000, 6, ACK, t + 15 + i);
    }
    P(A, B, 40000, 80, 6, ACK, t + 5); /* older than the flow's last packet */
    P(A, B, 40000, 80, 6, FIN | ACK, t + 100);
    P(B, A, 80, 40000, 6, ACK, t + 101);
    P(B, A, 80, 40000, 6, ACK, t + 102);
    P(B, A, 80, 40000, 6, FIN | ACK, t + 103);
    P(A, B, 40000, 80, 6, ACK, t + 104);
    P(A, B, 40000, 80, 6, SYN, t + 200); /* port reuse after close: a new flow */
    P(B, A, 443, 41000, 6, RST, t + 201);
    P(A, B, 443, 41000, 6, ACK, t + 202);
    P(B, A, 7000, 8000, 6, SYN | ACK, t + 300);
    P(A, B, 8000, 7000, 6, ACK, t + 301);
    P(A, B, 8, 0, 1, 0, t + 400);
    P(B, A, 0, 0, 1, 0, t + 401);
    P(A, B, 8, 0, 1, 0, t + 402);
    P(A, B, 5000, 53, 17, 0, t + S(400)); /* past the UDP timeout: a new flow at lookup */
    P(B, A, 53, 5000, 17, 0, t + S(400) + 1);
    P(A, B, 41000, 443, 6, ACK, t + S(400) + 2);
#undef P
    return n;
}

static void flows_equal(const struct ended *x, const struct ended *y)
{
    assert_int_equal(x->n, y->n);
    for (unsigned i = 0; i < x->n && i < 64; i++) {
        struct event a, b;
        flow_to_event(&x->last[i], &a);
        flow_to_event(&y->last[i], &b);
        assert_memory_equal(&a, &b, sizeof(a));
        assert_int_equal(x->reasons[i], y->reasons[i]);
    }
}

/* The decoder's key (pkt_meta.flow_key / flow_hash / flow_src_side) is used as given: the table
 * gives the same flows with it as from a meta without it (flow_hash 0: built from the fields),
 * counts the keyed packets, and a meta whose given key differs from its fields goes by the key
 * (so the key is not rebuilt). */
static void test_keyed_meta(void **state)
{
    (void)state;
    static struct pkt_meta pk[256], kk[256];
    unsigned n = state_mix(pk, 256);
    const struct pkt_meta *pp[256], *kp[256];
    for (unsigned i = 0; i < n; i++) {
        kk[i] = pk[i];
        flowkey_set_meta(&kk[i]);
        assert_int_not_equal(kk[i].flow_hash, 0);
        struct flow_key k;
        assert_int_equal(flow_key_from_meta(&pk[i], &k), kk[i].flow_hash);
        assert_memory_equal(&k, &kk[i].flow_key, sizeof(k));
        pp[i] = &pk[i];
        kp[i] = &kk[i];
    }
    struct ended e1, e2, e3;
    struct flow_table *a = mk(&e1, 64), *b = mk(&e2, 64), *c = mk(&e3, 64);
    struct flow *fa[256], *fb[256];
    enum flow_dir da[256], db[256];
    for (unsigned i = 0; i < n; i += 16) {
        unsigned k = n - i < 16 ? n - i : 16;
        flow_table_update_burst(a, pp + i, k, fa + i, da + i);
        flow_table_update_burst(b, kp + i, k, fb + i, db + i);
    }
    for (unsigned i = 0; i < n; i++) {
        enum flow_dir d;
        flow_table_update(c, &kk[i], &d);
        assert_int_equal(da[i], db[i]);
        assert_int_equal(d, db[i]);
    }
    assert_int_equal(flow_table_get_stats(a)->keyed, 0);
    assert_int_equal(flow_table_get_stats(b)->keyed, n);
    assert_int_equal(flow_table_get_stats(c)->keyed, n);
    flow_table_flush(a);
    flow_table_flush(b);
    flow_table_flush(c);
    flows_equal(&e1, &e2);
    flows_equal(&e1, &e3);
    flow_table_free(a);
    flow_table_free(b);
    flow_table_free(c);

    /* the given key wins over the fields: a meta claiming another flow's key joins that flow */
    struct ended e;
    struct flow_table *t = mk(&e, 16);
    enum flow_dir d;
    struct pkt_meta x = pkt4(A, B, 1000, 53, 17, 0, T0), y = pkt4(B, A, 2000, 53, 17, 0, T0 + 1);
    flowkey_set_meta(&x);
    struct flow *fx = flow_table_update(t, &x, &d);
    y.flow_key = x.flow_key;
    y.flow_hash = x.flow_hash;
    y.flow_src_side = (uint8_t)!x.flow_src_side;
    assert_ptr_equal(flow_table_update(t, &y, &d), fx);
    assert_int_equal(d, FLOW_TO_CLIENT);
    assert_int_equal(flow_table_get_stats(t)->active, 1);
    flow_table_free(t);
}

/* Established packets that change no state take the counters-only update, packets that may
 * change it (SYN, FIN, RST, the first packet back, a timed-out flow) do not, and the flows
 * come out the same as through the full update (flow_table_update, which never takes it). */
static void test_counters_only_update(void **state)
{
    (void)state;
    static struct pkt_meta pk[256];
    unsigned n = state_mix(pk, 256);
    const struct pkt_meta *pp[256];
    for (unsigned i = 0; i < n; i++) {
        flowkey_set_meta(&pk[i]);
        pp[i] = &pk[i];
    }
    struct ended e1, e2;
    struct flow_table *a = mk(&e1, 64), *b = mk(&e2, 64);
    struct flow *fa[256];
    enum flow_dir da[256];
    flow_table_update_burst(a, pp, n, fa, da);
    for (unsigned i = 0; i < n; i++) {
        enum flow_dir d;
        assert_non_null(flow_table_update(b, &pk[i], &d));
        assert_int_equal(d, da[i]); /* (fa[i] may be a later flow: flows end within the burst) */
    }
    assert_int_equal(flow_table_get_stats(b)->counters_only, 0);
    /* most of the data packets (counted exactly in the small case below) */
    uint64_t co = flow_table_get_stats(a)->counters_only;
    assert_true(co > 60);
    assert_true(co < n);
    flow_table_flush(a);
    flow_table_flush(b);
    flows_equal(&e1, &e2);
    flow_table_free(a);
    flow_table_free(b);

    /* exactly which packets: one established UDP flow and one TCP session */
    struct ended e;
    struct flow_table *t = mk(&e, 16);
    struct pkt_meta q[8];
    q[0] = pkt4(A, B, 5000, 53, 17, 0, T0);          /* new */
    q[1] = pkt4(B, A, 53, 5000, 17, 0, T0 + 1);      /* establishes */
    q[2] = pkt4(A, B, 5000, 53, 17, 0, T0 + 2);      /* counters only */
    q[3] = pkt4(A, B, 6000, 80, 6, ACK, T0 + 3);     /* mid-stream: established */
    q[4] = pkt4(B, A, 80, 6000, 6, ACK | 0x08, T0 + 4); /* counters only */
    q[5] = pkt4(B, A, 80, 6000, 6, FIN | ACK, T0 + 5);  /* FIN: full update */
    q[6] = pkt4(A, B, 6000, 80, 6, ACK, T0 + 6);     /* a FIN seen: full update */
    q[7] = pkt4(A, B, 5000, 53, 17, 0, T0 + S(301)); /* timed out: a new flow */
    const struct pkt_meta *qp[8];
    for (unsigned i = 0; i < 8; i++) {
        flowkey_set_meta(&q[i]);
        qp[i] = &q[i];
    }
    struct flow *fl[8];
    enum flow_dir dirs[8];
    /* the flows exist before the burst that finds them (a flow made in a burst is not yet in
     * the bucket the burst read ahead, so its later packets there take the full update) */
    const struct pkt_meta *first[3] = {qp[0], qp[1], qp[3]};
    flow_table_update_burst(t, first, 3, fl, dirs);
    assert_int_equal(flow_table_get_stats(t)->counters_only, 0);
    const struct pkt_meta *second[5] = {qp[2], qp[4], qp[5], qp[6], qp[7]};
    flow_table_update_burst(t, second, 5, fl + 3, dirs + 3);
    /* fl[3..7]: q[2], q[4], q[5], q[6], q[7] */
    assert_int_equal(flow_table_get_stats(t)->counters_only, 2);
    assert_int_equal(fl[4]->pkts[FLOW_TO_CLIENT], 2);
    assert_int_equal(fl[4]->tcp_flags_tc, ACK | 0x08 | FIN);
    assert_int_equal(fl[4]->state, FLOW_STATE_CLOSING);
    assert_int_equal(fl[7]->key.proto, 17);
    assert_int_equal(fl[7]->pkts[FLOW_TO_SERVER], 1);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.last[0].pkts[FLOW_TO_SERVER], 2);
    assert_int_equal(e.last[0].bytes[FLOW_TO_SERVER], 120);
    assert_int_equal(e.last[0].last_ns, T0 + 2);
    flow_table_free(t);
}

static void test_burst_spares_its_flows(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 8);
    enum flow_dir d;
    /* a full table of established TCP flows (600 s) */
    for (unsigned i = 0; i < 8; i++) {
        struct pkt_meta t = pkt4(A, B, (uint16_t)(2000 + i), 80, 6, ACK, T0);
        flow_table_update(ft, &t, &d);
    }
    /* a burst of new UDP flows (30 s): each is the next to expire, yet none may be evicted
     * by a later packet of the same burst */
    struct pkt_meta pk[4];
    const struct pkt_meta *pp[4];
    for (unsigned i = 0; i < 4; i++) {
        pk[i] = pkt4(A, B, (uint16_t)(3000 + i), 53, 17, 0, T0 + S(1));
        pp[i] = &pk[i];
    }
    struct flow *fl[4];
    enum flow_dir dirs[4];
    assert_int_equal(flow_table_update_burst(ft, pp, 4, fl, dirs), 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(fl[i]->key.proto, 17);
        assert_int_equal(flow_client_port(fl[i]), 3000 + i);
        assert_int_equal(fl[i]->pkts[0], 1);
    }
    assert_int_equal(e.n, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(e.reasons[i], FLOW_END_FORCED);
        assert_int_equal(e.last[i].key.proto, 6);
    }
    /* next call: the UDP flows are fair game again (they expire first) */
    struct pkt_meta u = pkt4(A, B, 4000, 53, 17, 0, T0 + S(2));
    flow_table_update(ft, &u, &d);
    assert_int_equal(e.last[4].key.proto, 17);
    flow_table_free(ft);
}

static void test_flow_to_event_icmp(void **state)
{
    (void)state;
    struct ended e;
    struct flow_table *ft = mk(&e, 16);
    enum flow_dir d;
    struct pkt_meta q = pkt4(A, B, 8, 0, 1, 0, T0);
    q.icmp_type = 8;
    struct pkt_meta r = pkt4(B, A, 0, 0, 1, 0, T0 + S(1));
    r.icmp_type = 0;
    struct flow *f = flow_table_update(ft, &q, &d);
    assert_ptr_equal(flow_table_update(ft, &r, &d), f);
    assert_int_equal(d, FLOW_TO_CLIENT);
    struct event ev;
    flow_to_event(f, &ev);
    assert_int_equal(ev.type, EVENT_FLOW);
    assert_int_equal(ev.ref.flow_id, f->flow_id);
    assert_memory_equal(ev.ref.src, q.src, 16);
    assert_int_equal(ev.u.flow.icmp_type, 8);
    assert_int_equal(ev.u.flow.icmp_rtype, 0);
    assert_int_equal(ev.u.flow.icmp_seen, 3);
    assert_int_equal(ev.u.flow.pkts_toserver, 1);
    assert_int_equal(ev.u.flow.pkts_toclient, 1);
    assert_int_equal(ev.u.flow.start_ns, T0);
    assert_int_equal(ev.u.flow.end_ns, T0 + S(1));
    assert_int_equal(ev.u.flow.state, FLOW_STATE_ESTABLISHED);
    flow_table_free(ft);
}

static void test_bad_config(void **state)
{
    (void)state;
    struct flow_config cfg;
    flow_config_default(&cfg);
    cfg.max_flows = 0;
    assert_null(flow_table_new(&cfg, NULL, NULL));
    assert_null(flow_table_new(NULL, NULL, NULL));
    flow_table_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_directions_one_flow),
        cmocka_unit_test(test_symmetric_key_hash),
        cmocka_unit_test(test_synack_first_is_server),
        cmocka_unit_test(test_tcp_handshake_fin_fin_ack),
        cmocka_unit_test(test_tcp_rst_and_reuse),
        cmocka_unit_test(test_tcp_midstream),
        cmocka_unit_test(test_tcp_state_step_copy),
        cmocka_unit_test(test_timeouts_per_state),
        cmocka_unit_test(test_short_timeout_after_long),
        cmocka_unit_test(test_activity_extends_timeout),
        cmocka_unit_test(test_timeout_at_lookup),
        cmocka_unit_test(test_long_gaps),
        cmocka_unit_test(test_expire_bounded_work),
        cmocka_unit_test(test_eviction_when_full),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_vlan_distinguishes),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_flow_id_deterministic),
        cmocka_unit_test(test_burst_matches_single),
        cmocka_unit_test(test_burst_spares_its_flows),
        cmocka_unit_test(test_keyed_meta),
        cmocka_unit_test(test_counters_only_update),
        cmocka_unit_test(test_flow_to_event_icmp),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
