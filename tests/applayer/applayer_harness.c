/* See applayer_harness.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "applayer_harness.h"

static bool harness_emit(void *ctx, const struct event *ev)
{
    struct harness *h = ctx;
    if (ev->type == EVENT_ALERT && h->n < HARNESS_MAX_ALERTS)
        h->sids[h->n++] = ev->u.alert.sid;
    return true;
}

unsigned harness_count(const struct harness *h, uint32_t sid)
{
    unsigned c = 0;
    for (unsigned i = 0; i < h->n; i++)
        c += h->sids[i] == sid;
    return c;
}

void harness_on_tx(void *ctx, struct flow *f, const struct applayer_tx *tx, enum flow_dir dir)
{
    struct harness *h = ctx;
    assert_true(applayer_pending_add(h->pending, f, tx, dir));
}

void harness_flush_pending(struct harness *h)
{
    for (unsigned i = 0; i < applayer_pending_count(h->pending); i++) {
        struct flow *f;
        enum flow_dir dir;
        uint64_t id;
        const struct applayer_buf_ref *bufs;
        unsigned n;
        applayer_pending_get(h->pending, i, &f, &dir, &id, &bufs, &n);
        struct pkt_meta m;
        memset(&m, 0, sizeof(m));
        m.ip_version = 4;
        m.proto = f->key.proto;
        m.flags = PKT_IPV4 | PKT_HAS_L4 | (f->key.proto == 6 ? PKT_TCP : PKT_UDP);
        int s = dir == FLOW_TO_SERVER ? 0 : 1;
        memcpy(m.src, f->key.addr[s], 16);
        memcpy(m.dst, f->key.addr[!s], 16);
        m.sport = f->key.port[s];
        m.dport = f->key.port[!s];
        /* struct applayer_buf_ref has struct detect_buffer's layout (applayer.h) */
        detect_buffers(h->dt, &m, f, dir, (const struct detect_buffer *)bufs, n, id, harness_emit, h);
    }
    applayer_pending_clear(h->pending);
}

void harness_flow_init(struct flow *f, uint8_t proto, uint16_t sport)
{
    memset(f, 0, sizeof(*f));
    f->key.proto = proto;
    f->key.ip_version = 4;
    f->key.addr[0][0] = 10;
    f->key.addr[0][3] = 1;
    f->key.addr[1][0] = 10;
    f->key.addr[1][3] = 2;
    f->key.port[0] = 40000;
    f->key.port[1] = sport;
    f->client_side = 0;
    f->state = FLOW_STATE_ESTABLISHED;
    f->tcp_state = TCP_ESTABLISHED;
}

void harness_tcp(struct harness *h, struct flow *f, enum flow_dir dir, const void *d, size_t n)
{
    applayer_tcp_data(h->al, f, dir, d, (uint32_t)n, 1);
    harness_flush_pending(h);
}

void harness_udp(struct harness *h, struct flow *f, enum flow_dir dir, const void *d, size_t n)
{
    applayer_udp_data(h->al, f, dir, d, (uint32_t)n, 2);
    harness_flush_pending(h);
}

void harness_open(struct harness *h, const char *rules, const char *name)
{
    memset(h, 0, sizeof(*h));
    struct rules_load_config lc;
    rules_load_config_default(&lc);
    applayer_rules_hooks(&lc.applayer);
    h->rep = rules_report_new();
    assert_non_null(h->rep);
    char err[256];
    h->rs = ruleset_load_string(&lc, rules, name, h->rep, err, sizeof(err));
    if (!h->rs)
        fprintf(stderr, "%s: %s\n", name, err);
    assert_non_null(h->rs);
    for (unsigned i = 0; i < rules_report_n_failures(h->rep); i++)
        fprintf(stderr, "%s\n", rules_report_failure(h->rep, i));
    assert_int_equal(rules_report_failed(h->rep), 0);
    h->de = detect_engine_new(h->rs, err, sizeof(err));
    assert_non_null(h->de);
    h->al = applayer_ctx_new(NULL);
    h->pending = applayer_pending_new(1 << 20, 64);
    h->dt = detect_thread_new(h->de);
    assert_non_null(h->al);
    assert_non_null(h->pending);
    assert_non_null(h->dt);
    applayer_ctx_set_callbacks(h->al, harness_on_tx, h, NULL, NULL);
}

void harness_close(struct harness *h, struct flow *const *flows, unsigned n_flows)
{
    for (unsigned i = 0; i < n_flows; i++)
        if (flows[i])
            applayer_flow_end(h->al, flows[i]);
    harness_flush_pending(h);
    detect_thread_free(h->dt);
    applayer_pending_free(h->pending);
    applayer_ctx_free(h->al);
    detect_engine_free(h->de);
    ruleset_free(h->rs);
    rules_report_free(h->rep);
    memset(h, 0, sizeof(*h));
}
