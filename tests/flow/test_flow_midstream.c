/* Flows picked up mid-stream (flow_config.midstream, stream.midstream): a first packet carrying
 * a server's HTTP response makes the other side the client, as Suricata's protocol detection
 * reverses such a flow; a client-first flow, a flow without that data and a table without
 * midstream keep the first packet's sender as the client. Single and burst updates agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "flow.h"

#define T0 (1500000000ull * 1000000000ull)
#define SYN 0x02
#define PSH 0x08
#define ACK 0x10

#define SRV 0x52a5b19au /* 82.165.177.154 */
#define CLI 0x0a10010bu /* 10.16.1.11 */

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
static const char REQUEST[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

static void on_end(void *ctx, struct flow *f)
{
    (void)f;
    (*(unsigned *)ctx)++;
}

static struct pkt_meta pkt(uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t proto,
                           uint8_t flags, const char *data, uint64_t ts)
{
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.ts_ns = ts;
    m.ip_version = 4;
    m.proto = proto;
    m.flags = PKT_IPV4 | PKT_HAS_L4 | (proto == 6 ? PKT_TCP : PKT_UDP);
    m.src[0] = src >> 24, m.src[1] = src >> 16, m.src[2] = src >> 8, m.src[3] = src;
    m.dst[0] = dst >> 24, m.dst[1] = dst >> 16, m.dst[2] = dst >> 8, m.dst[3] = dst;
    m.sport = sp;
    m.dport = dp;
    m.tcp_flags = flags;
    m.payload = (const uint8_t *)data;
    m.payload_len = data ? (uint32_t)strlen(data) : 0;
    m.wirelen = 60 + m.payload_len;
    return m;
}

static struct flow_table *mk(unsigned *ended, bool midstream)
{
    struct flow_config cfg;
    flow_config_default(&cfg);
    cfg.max_flows = 64;
    cfg.midstream = midstream;
    *ended = 0;
    struct flow_table *ft = flow_table_new(&cfg, on_end, ended);
    assert_non_null(ft);
    return ft;
}

/* The capture of suricata-verify's alert-testmyids-midstream: the server's response first. */
static void test_response_first_reversed(void **state)
{
    (void)state;
    unsigned ended;
    struct flow_table *ft = mk(&ended, true);
    enum flow_dir d;
    struct pkt_meta m = pkt(SRV, CLI, 80, 54186, 6, PSH | ACK, RESPONSE, T0);
    struct flow *f = flow_table_update(ft, &m, &d);
    assert_non_null(f);
    assert_int_equal(d, FLOW_TO_CLIENT);
    assert_int_equal(flow_client_port(f), 54186);
    assert_int_equal(flow_server_port(f), 80);
    assert_memory_equal(flow_client_addr(f), m.dst, 16);
    assert_memory_equal(flow_server_addr(f), m.src, 16);
    assert_int_equal(f->pkts[FLOW_TO_CLIENT], 1);
    assert_int_equal(f->pkts[FLOW_TO_SERVER], 0);
    assert_int_equal(f->tcp_flags_tc, PSH | ACK);
    /* the client's ACK goes to the server */
    struct pkt_meta m2 = pkt(CLI, SRV, 54186, 80, 6, ACK, NULL, T0 + 1000);
    assert_ptr_equal(flow_table_update(ft, &m2, &d), f);
    assert_int_equal(d, FLOW_TO_SERVER);
    assert_int_equal(f->tcp_flags_ts, ACK);
    /* and the flow record names port 80 as the destination */
    struct event ev;
    flow_to_event(f, &ev);
    assert_int_equal(ev.ref.sport, 54186);
    assert_int_equal(ev.ref.dport, 80);
    assert_int_equal(ev.u.flow.pkts_toserver, 1);
    assert_int_equal(ev.u.flow.pkts_toclient, 1);
    flow_table_free(ft);
}

/* A normal client-first session picked up mid-stream is unchanged. */
static void test_request_first_unchanged(void **state)
{
    (void)state;
    unsigned ended;
    struct flow_table *ft = mk(&ended, true);
    enum flow_dir d;
    struct pkt_meta m = pkt(CLI, SRV, 54186, 80, 6, PSH | ACK, REQUEST, T0);
    struct flow *f = flow_table_update(ft, &m, &d);
    assert_int_equal(d, FLOW_TO_SERVER);
    assert_int_equal(flow_client_port(f), 54186);
    struct pkt_meta m2 = pkt(SRV, CLI, 80, 54186, 6, PSH | ACK, RESPONSE, T0 + 1000);
    flow_table_update(ft, &m2, &d);
    assert_int_equal(d, FLOW_TO_CLIENT);
    assert_int_equal(flow_client_port(f), 54186);
    /* a full handshake too */
    struct pkt_meta s = pkt(CLI, SRV, 40000, 80, 6, SYN, NULL, T0);
    f = flow_table_update(ft, &s, &d);
    assert_int_equal(d, FLOW_TO_SERVER);
    assert_int_equal(flow_client_port(f), 40000);
    flow_table_free(ft);
}

/* Without stream.midstream, or without a response in the first packet, the first packet's
 * sender stays the client (Suricata reverses only sessions it picked up mid-stream, and only
 * on what its protocol detection recognises). */
static void test_not_reversed(void **state)
{
    (void)state;
    unsigned ended;
    enum flow_dir d;
    struct flow_table *off = mk(&ended, false);
    struct pkt_meta m = pkt(SRV, CLI, 80, 54186, 6, PSH | ACK, RESPONSE, T0);
    struct flow *f = flow_table_update(off, &m, &d);
    assert_int_equal(d, FLOW_TO_SERVER);
    assert_int_equal(flow_client_port(f), 80);
    flow_table_free(off);

    struct flow_table *ft = mk(&ended, true);
    const struct {
        uint8_t proto, flags;
        const char *data;
    } cases[] = {
        {6, ACK, NULL},                         /* no data: nothing to detect */
        {6, PSH | ACK, "http/1.1 200 OK\r\n"},  /* Suricata's patterns are case-sensitive */
        {6, PSH | ACK, "HTTP/1."},              /* shorter than the pattern */
        {6, PSH | ACK, "HTTP/2.0 200 OK\r\n"},  /* not one of the three versions */
        {6, PSH | ACK, "xHTTP/1.1 200 OK\r\n"}, /* not at the start */
        {6, SYN, RESPONSE},                     /* a SYN starts a session: not mid-stream */
        {17, 0, RESPONSE},                      /* UDP */
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pkt_meta c = pkt(SRV, CLI, 80, (uint16_t)(1000 + i), cases[i].proto, cases[i].flags,
                                cases[i].data, T0);
        f = flow_table_update(ft, &c, &d);
        assert_non_null(f);
        assert_int_equal(d, FLOW_TO_SERVER);
        assert_int_equal(flow_client_port(f), 80);
        assert_false(flow_midstream_reversed(&c));
    }
    flow_table_free(ft);
}

/* The burst update gives the same directions as packet-by-packet updates. */
static void test_burst_same(void **state)
{
    (void)state;
    unsigned ended;
    struct pkt_meta p[4] = {
        pkt(SRV, CLI, 80, 54186, 6, PSH | ACK, RESPONSE, T0),
        pkt(CLI, SRV, 54186, 80, 6, ACK, NULL, T0 + 1),
        pkt(CLI, SRV, 50000, 80, 6, PSH | ACK, REQUEST, T0 + 2),
        pkt(SRV, CLI, 80, 50000, 6, PSH | ACK, RESPONSE, T0 + 3),
    };
    const struct pkt_meta *pp[4] = {&p[0], &p[1], &p[2], &p[3]};
    struct flow_table *ft = mk(&ended, true);
    struct flow *flows[4];
    enum flow_dir dirs[4];
    assert_int_equal(flow_table_update_burst(ft, pp, 4, flows, dirs), 4);
    const enum flow_dir want[4] = {FLOW_TO_CLIENT, FLOW_TO_SERVER, FLOW_TO_SERVER, FLOW_TO_CLIENT};
    for (int i = 0; i < 4; i++)
        assert_int_equal(dirs[i], want[i]);
    assert_int_equal(flow_client_port(flows[0]), 54186);
    assert_int_equal(flow_client_port(flows[2]), 50000);
    flow_table_free(ft);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_first_reversed),
        cmocka_unit_test(test_request_first_unchanged),
        cmocka_unit_test(test_not_reversed),
        cmocka_unit_test(test_burst_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
