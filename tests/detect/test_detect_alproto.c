/* Unit tests: when packet rules see a flow's application protocol (detect_alproto_priv.h),
 * replayed on the TCP Fast Open capture's two sessions of suricata-verify's
 * detect-engine-proto, on a plain session with the protocol detected in the server's data,
 * and on UDP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "detect_alproto_priv.h"
#include "detect_state_priv.h"

#define SYN 0x02
#define ACK 0x10
#define FIN 0x01
#define PSH 0x08

struct step {
    enum flow_dir dir;
    uint8_t flags;
    uint32_t seq, ack;
    uint16_t detect; /* app_proto the app layer detects in this packet's data (0: none) */
    bool visible;    /* expected after the packet */
};

/* Feeds the steps as detect_packet() does; returns the packets (1-based) on which an app-layer
 * rule for to_server packets would match, as a bit mask. */
static unsigned replay(uint8_t proto, const struct step *s, unsigned n)
{
    struct flow f;
    memset(&f, 0, sizeof(f));
    f.key.proto = proto;
    unsigned hits = 0;
    for (unsigned i = 0; i < n; i++) {
        struct pkt_meta m;
        memset(&m, 0, sizeof(m));
        m.proto = proto;
        m.tcp_flags = s[i].flags;
        m.tcp_seq = s[i].seq;
        m.tcp_ack = s[i].ack;
        uint16_t before = f.app_proto;
        detect_state_update(&f, &m, s[i].dir);
        if (s[i].detect)
            f.app_proto = s[i].detect;
        detect_alproto_update(&f, &m, s[i].dir, before);
        bool vis = f.app_proto && detect_alproto_visible(&f);
        assert_int_equal(vis, s[i].visible);
        if (vis && s[i].dir == FLOW_TO_SERVER)
            hits |= 1u << (i + 1);
    }
    return hits;
}

static void test_request_acked(void **state)
{
    (void)state;
    /* SYN, SYN/ACK, ACK+GET (detected here: not yet visible), server ACK (visible), response,
     * server FIN, client FIN/ACK: closing still sees it */
    const struct step s[] = {
        {FLOW_TO_SERVER, SYN, 100, 0, 0, false},
        {FLOW_TO_CLIENT, SYN | ACK, 500, 101, 0, false},
        {FLOW_TO_SERVER, ACK | PSH, 101, 501, 1, false},
        {FLOW_TO_CLIENT, ACK, 501, 166, 0, true},
        {FLOW_TO_CLIENT, ACK | PSH, 501, 166, 0, true},
        {FLOW_TO_CLIENT, FIN | ACK, 701, 166, 0, true},
        {FLOW_TO_SERVER, FIN | ACK, 166, 702, 0, true},
    };
    assert_int_equal(replay(6, s, 7), 1u << 7);
}

static void test_fast_open(void **state)
{
    (void)state;
    /* data on the SYN: the SYN/ACK acknowledges it but the session is not established yet;
     * the first server packet after the handshake makes it visible */
    const struct step s[] = {
        {FLOW_TO_SERVER, SYN, 100, 0, 1, false},
        {FLOW_TO_CLIENT, SYN | ACK, 500, 187, 0, false},
        {FLOW_TO_SERVER, ACK, 187, 501, 0, false},
        {FLOW_TO_CLIENT, ACK | PSH, 501, 187, 0, true},
        {FLOW_TO_SERVER, ACK, 187, 1808, 0, true},
        {FLOW_TO_CLIENT, FIN | ACK, 1808, 187, 0, true},
        {FLOW_TO_SERVER, FIN | ACK, 187, 1809, 0, true},
    };
    assert_int_equal(replay(6, s, 7), 1u << 5 | 1u << 7);
}

static void test_server_first(void **state)
{
    (void)state;
    /* detected in the server's data: the client's acknowledgement makes it visible, a later
     * server packet alone does not */
    const struct step s[] = {
        {FLOW_TO_SERVER, SYN, 100, 0, 0, false},
        {FLOW_TO_CLIENT, SYN | ACK, 500, 101, 0, false},
        {FLOW_TO_SERVER, ACK, 101, 501, 0, false},
        {FLOW_TO_CLIENT, ACK | PSH, 501, 101, 4, false},
        {FLOW_TO_CLIENT, ACK | PSH, 530, 101, 0, false},
        {FLOW_TO_SERVER, ACK, 101, 560, 0, true},
    };
    assert_int_equal(replay(6, s, 6), 1u << 6);
}

static void test_udp(void **state)
{
    (void)state;
    const struct step s[] = {
        {FLOW_TO_SERVER, 0, 0, 0, 2, true},
        {FLOW_TO_CLIENT, 0, 0, 0, 0, true},
    };
    assert_int_equal(replay(17, s, 2), 1u << 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_acked),
        cmocka_unit_test(test_fast_open),
        cmocka_unit_test(test_server_first),
        cmocka_unit_test(test_udp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
