/* Unit tests for sensor/anomaly: sketches (and their merges), DNS name extraction, config,
 * severity, and each detector on synthetic packets through the real flow table, including
 * the alert lifecycle and equality of results for 1 and 3 workers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly.h"
#include "anomaly_priv.h"
#include "decode.h"
#include "flow.h"
#include "sketch.h"

#define SEC 1000000000ull
#define T0 (1700000000ull * SEC)

/* ---------------------------------------------------------------- sketches */

static void test_hll_accuracy_and_merge(void **st)
{
    (void)st;
    enum { P = 10 };
    uint8_t a[1 << P] = {0}, b[1 << P] = {0}, all[1 << P] = {0};
    for (uint32_t i = 0; i < 20000; i++) {
        uint64_t h = sketch_hash(&i, sizeof(i), 0);
        sketch_hll_add(all, P, h);
        sketch_hll_add(i & 1 ? a : b, P, h);
    }
    double est = sketch_hll_count(all, P);
    assert_true(fabs(est - 20000) < 20000 * 3 * 1.04 / 32); /* 3 sigma */
    sketch_hll_merge(a, b, P);
    assert_memory_equal(a, all, sizeof(all)); /* merge == single pass, exactly */
    /* small counts are exact enough through linear counting */
    uint8_t s[64] = {0};
    for (uint32_t i = 0; i < 10; i++)
        sketch_hll_add(s, 6, sketch_hash(&i, sizeof(i), 0));
    assert_true(fabs(sketch_hll_count(s, 6) - 10) < 2);
}

static void test_cms_bounds_and_merge(void **st)
{
    (void)st;
    struct sketch_cms all, x, y;
    assert_int_equal(sketch_cms_init(&all, 4, 256), 0);
    assert_int_equal(sketch_cms_init(&x, 4, 256), 0);
    assert_int_equal(sketch_cms_init(&y, 4, 256), 0);
    struct sketch_cms bad;
    assert_int_equal(sketch_cms_init(&bad, 4, 100), -EINVAL); /* not a power of two */
    sketch_cms_release(&bad);
    uint32_t truth[500];
    uint64_t n = 0;
    for (uint32_t k = 0; k < 500; k++) {
        truth[k] = k < 5 ? 1000 : 1 + k % 7;
        uint64_t h = sketch_hash(&k, sizeof(k), 1);
        sketch_cms_add(&all, h, truth[k]);
        sketch_cms_add(k % 3 ? &x : &y, h, truth[k]);
        n += truth[k];
    }
    for (uint32_t k = 0; k < 500; k++) {
        uint32_t e = sketch_cms_estimate(&all, sketch_hash(&k, sizeof(k), 1));
        assert_true(e >= truth[k]);
        assert_true(e <= truth[k] + 2.72 * n / 256 + 1);
    }
    assert_int_equal(sketch_cms_merge(&x, &y), 0);
    assert_memory_equal(x.cells, all.cells, 4 * 256 * sizeof(uint32_t));
    sketch_cms_release(&all);
    sketch_cms_release(&x);
    sketch_cms_release(&y);
}

static void test_topk_heavy_hitters_and_merge(void **st)
{
    (void)st;
    enum { K = 8 };
    struct sketch_topk_item one[K], p1[K], p2[K];
    uint8_t n1 = 0, na = 0, nb = 0;
    uint32_t total = 0;
    uint8_t key[16];
    for (uint32_t i = 0; i < 20000; i++) {
        memset(key, 0, 16);
        /* keys 1..3 are heavy (~20% each), the rest a long tail */
        uint32_t k = (i % 5 < 3) ? 1 + i % 5 : 100 + (i * 7919) % 3000;
        memcpy(key, &k, 4);
        sketch_topk_add(one, &n1, K, key, 1);
        if (i % 2)
            sketch_topk_add(p1, &na, K, key, 1);
        else
            sketch_topk_add(p2, &nb, K, key, 1);
        total++;
    }
    sketch_topk_merge(p1, &na, K, p2, nb);
    for (uint32_t h = 1; h <= 3; h++) {
        memset(key, 0, 16);
        memcpy(key, &h, 4);
        bool in_one = false, in_merged = false;
        for (unsigned i = 0; i < n1; i++)
            if (!memcmp(one[i].key, key, 16)) {
                in_one = true;
                assert_true(one[i].count >= 4000 && one[i].count <= 4000 + total / K);
            }
        for (unsigned i = 0; i < na; i++)
            if (!memcmp(p1[i].key, key, 16)) {
                in_merged = true;
                assert_true(p1[i].count >= 4000 && p1[i].count <= 4000 + 2 * total / K);
            }
        assert_true(in_one);
        assert_true(in_merged);
    }
}

static void test_entropy(void **st)
{
    (void)st;
    uint32_t h[16];
    for (int i = 0; i < 16; i++)
        h[i] = 5;
    assert_true(fabs(sketch_entropy(h, 16) - 4.0) < 1e-9);
    memset(h, 0, sizeof(h));
    h[3] = 100;
    assert_true(sketch_entropy(h, 16) == 0.0);
    assert_true(fabs(sketch_entropy_bytes((const uint8_t *)"abab", 4) - 1.0) < 1e-9);
}

/* ---------------------------------------------------------------- DNS, config, severity */

static size_t mk_query(uint8_t *b, const char *name, uint16_t qtype)
{
    memset(b, 0, 12);
    b[0] = 0x12, b[1] = 0x34, b[2] = 0x01, b[5] = 1;
    size_t o = 12;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        b[o++] = (uint8_t)l;
        memcpy(b + o, p, l);
        o += l;
        p += l;
        if (*p == '.')
            p++;
    }
    b[o++] = 0;
    b[o++] = (uint8_t)(qtype >> 8), b[o++] = (uint8_t)qtype, b[o++] = 0, b[o++] = 1;
    return o;
}

static void test_dns_parse(void **st)
{
    (void)st;
    uint8_t b[512];
    struct anomaly_dns_q q;
    size_t n = mk_query(b, "ABC.Www.Example.com", 16);
    assert_int_equal(anomaly_dns_parse_query(b, n, &q), 0);
    assert_string_equal(q.name, "abc.www.example.com");
    assert_string_equal(q.name + q.domain_off, "example.com");
    assert_int_equal(q.sub_len, 7);
    assert_int_equal(q.qtype, 16);
    n = mk_query(b, "x.example.co.uk", 1);
    assert_int_equal(anomaly_dns_parse_query(b, n, &q), 0);
    assert_string_equal(q.name + q.domain_off, "example.co.uk");
    /* every truncation is rejected, never read past the end */
    n = mk_query(b, "a.b.example.com", 1);
    for (size_t cut = 0; cut < n; cut++)
        assert_int_not_equal(anomaly_dns_parse_query(b, cut, &q), 0);
    /* a response, a compression pointer, an oversized label */
    n = mk_query(b, "a.example.com", 1);
    b[2] |= 0x80;
    assert_int_equal(anomaly_dns_parse_query(b, n, &q), -EINVAL);
    b[2] &= 0x7f;
    b[12] = 0xc0;
    assert_int_equal(anomaly_dns_parse_query(b, n, &q), -EINVAL);
    b[12] = 64;
    assert_int_equal(anomaly_dns_parse_query(b, n, &q), -EINVAL);
    b[5] = 0;
    assert_int_equal(anomaly_dns_parse_query(b, n, &q), -ENODATA);
}

static void test_config_and_severity(void **st)
{
    (void)st;
    struct anomaly_config c;
    anomaly_config_default(&c);
    char err[128];
    assert_int_equal(anomaly_config_validate(&c, err, sizeof(err)), 0);
    assert_int_equal(anomaly_config_set(&c, "syn_pps", "2500"), 0);
    assert_int_equal(c.syn_pps, 2500);
    assert_int_equal(anomaly_config_set(&c, "syn_pps", "abc"), -EINVAL);
    assert_int_equal(anomaly_config_set(&c, "window_ms", "5"), -EINVAL);
    assert_int_equal(anomaly_config_set(&c, "no_such_key", "1"), -ENOENT);
    assert_int_equal(anomaly_config_set(&c, "bf_ports", "22, 2222"), 0);
    assert_int_equal(c.n_bf_ports, 2);
    assert_int_equal(c.bf_ports[1], 2222);
    assert_int_equal(anomaly_config_set(&c, "enabled", "no"), 0);
    assert_false(c.enabled);
    assert_int_equal(anomaly_config_add_network(&c, "10.0.0.0/8", "corp", 3), 0);
    assert_int_equal(anomaly_config_add_network(&c, "10.1.2.0/24", "scada", 1), 0);
    assert_int_equal(anomaly_config_add_network(&c, "2001:db8::/32", "v6", 2), 0);
    assert_int_equal(anomaly_config_add_network(&c, "10.0.0.0/33", "bad", 1), -EINVAL);
    assert_int_equal(anomaly_config_add_network(&c, "10.0.0.0/8", "bad", 5), -EINVAL);
    uint8_t a[16] = {10, 1, 2, 3}, b[16] = {10, 9, 9, 9}, o[16] = {8, 8, 8, 8};
    assert_int_equal(anomaly_net_match(&c, a, false), 1); /* longest prefix */
    assert_int_equal(anomaly_net_match(&c, b, false), 0);
    assert_int_equal(anomaly_net_match(&c, o, false), -1);
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
    assert_int_equal(anomaly_net_match(&c, v6, true), 2);
    /* escalation table: magnitude raises, criticality raises */
    assert_int_equal(anomaly_severity(1.0, 4), 4);
    assert_int_equal(anomaly_severity(1.0, 1), 2);
    assert_int_equal(anomaly_severity(5.0, 2), 2);
    assert_int_equal(anomaly_severity(20.0, 1), 1);
    assert_int_equal(anomaly_severity(20.0, 3), 2);
    assert_int_equal(anomaly_severity(20.0, 4), 3);
}

/* ---------------------------------------------------------------- detector harness */

#define MAXEV 4096
struct harness {
    struct anomaly_shared *sh;
    struct anomaly_worker *w[4];
    struct flow_table *ft[4];
    unsigned n;
    struct event *ev;
    unsigned nev;
    uint64_t last_tick, now;
};

static bool cap_emit(void *ctx, const struct event *ev)
{
    struct harness *h = ctx;
    if (h->nev < MAXEV)
        h->ev[h->nev++] = *ev;
    return true;
}

static void h_init(struct harness *h, unsigned n, const struct anomaly_config *cfg_in)
{
    memset(h, 0, sizeof(*h));
    struct anomaly_config cfg;
    if (cfg_in) {
        cfg = *cfg_in;
    } else {
        /* smaller tables than the defaults: the tests create many sensors (and ASan is slow
         * to map memory); sizes still hold every key of these scenarios */
        anomaly_config_default(&cfg);
        cfg.shard_dsts = 1024;
        cfg.shard_pairs = 1024;
        cfg.shard_hosts = 512;
        cfg.shard_dns = 256;
        cfg.track_entries = 4096;
    }
    cfg.max_workers = n;
    h->sh = anomaly_shared_new(&cfg);
    assert_non_null(h->sh);
    h->n = n;
    h->ev = calloc(MAXEV, sizeof(*h->ev));
    struct flow_config fc;
    flow_config_default(&fc);
    fc.max_flows = 65536;
    for (unsigned i = 0; i < n; i++) {
        h->w[i] = anomaly_worker_new(h->sh, i);
        h->ft[i] = flow_table_new(&fc, NULL, NULL);
        assert_non_null(h->w[i]);
        assert_non_null(h->ft[i]);
    }
}

static void h_tick(struct harness *h)
{
    for (unsigned i = 0; i < h->n; i++)
        anomaly_tick(h->w[i], h->now, cap_emit, h);
}

/* Burst mode: the engine updates the flow table for a whole burst, then runs the stages, so
 * a flow's counters may already include later packets of the burst. */
#define BURST 16
static bool burst_mode;
static struct pkt_meta burst_m[4][BURST];
static uint8_t burst_res[4][BURST];
static unsigned burst_n[4];
/* with burst_mode: hand each burst to anomaly_burst() (the engine's call) instead of
 * anomaly_packet() / anomaly_decode_invalid() one by one */
static bool burst_api;

/* Scramble mode: every flow's entry hints (f->anomaly_slot) are overwritten with arbitrary
 * values before each packet, small ones (live indices holding other keys) and large ones. */
static bool scramble_hints;
static uint32_t scramble_state = 12345;

static void scramble(struct flow *f)
{
    if (!scramble_hints || f == NULL)
        return;
    for (unsigned k = 0; k < 3; k++) {
        scramble_state = scramble_state * 1103515245u + 12345u;
        uint32_t r = scramble_state >> 8;
        f->anomaly_slot[k] = r & 1 ? r % 8 : r;
    }
}

static void h_flush(struct harness *h, unsigned i)
{
    const struct pkt_meta *mp[BURST] = {NULL};
    struct flow *fl[BURST];
    enum flow_dir dirs[BURST];
    unsigned ok = 0;
    for (unsigned k = 0; k < burst_n[i]; k++)
        if (burst_res[i][k] == DECODE_OK)
            mp[ok++] = &burst_m[i][k];
    flow_table_update_burst(h->ft[i], mp, ok, fl, dirs);
    for (unsigned k = 0; k < ok; k++)
        scramble(fl[k]);
    if (burst_api) {
        anomaly_burst(h->w[i], burst_m[i], burst_res[i], burst_n[i], fl, dirs);
    } else {
        for (unsigned k = 0, j = 0; k < burst_n[i]; k++) {
            if (burst_res[i][k] == DECODE_OK) {
                anomaly_packet(h->w[i], &burst_m[i][k], fl[j], dirs[j]);
                j++;
            } else {
                anomaly_decode_invalid(h->w[i], &burst_m[i][k]);
            }
        }
    }
    burst_n[i] = 0;
}

/* One packet in packet order; res: DECODE_OK or DECODE_INVALID (a decoder anomaly). */
static void h_pkt_res(struct harness *h, struct pkt_meta *m, uint8_t res)
{
    if (m->ts_ns > h->now)
        h->now = m->ts_ns;
    if (h->now >= h->last_tick + SEC / 10) {
        for (unsigned i = 0; burst_mode && i < h->n; i++)
            h_flush(h, i);
        h->last_tick = h->now;
        h_tick(h);
    }
    unsigned i = h->n > 1 ? pkt_meta_flow_hash(m) % h->n : 0;
    if (burst_mode) {
        burst_res[i][burst_n[i]] = res;
        burst_m[i][burst_n[i]++] = *m;
        if (burst_n[i] == BURST)
            h_flush(h, i);
        return;
    }
    if (res != DECODE_OK) {
        anomaly_decode_invalid(h->w[i], m);
        return;
    }
    enum flow_dir dir;
    struct flow *f = flow_table_update(h->ft[i], m, &dir);
    scramble(f);
    anomaly_packet(h->w[i], m, f, dir);
}

static void h_pkt(struct harness *h, struct pkt_meta *m)
{
    h_pkt_res(h, m, DECODE_OK);
}

static void h_finish(struct harness *h)
{
    for (unsigned i = 0; burst_mode && i < h->n; i++)
        h_flush(h, i);
    h->now += SEC;
    h_tick(h);
    anomaly_shared_flush(h->sh, cap_emit, h);
}

static void h_free(struct harness *h)
{
    for (unsigned i = 0; i < h->n; i++)
        flow_table_free(h->ft[i]);
    anomaly_shared_free(h->sh); /* frees the workers */
    free(h->ev);
}

static uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) { return a << 24 | b << 16 | c << 8 | d; }

static void meta_ip(struct pkt_meta *m, uint64_t ts, uint32_t s, uint32_t d, uint8_t proto, uint32_t len)
{
    memset(m, 0, sizeof(*m));
    m->ts_ns = ts;
    m->flags = PKT_IPV4 | PKT_HAS_L4;
    m->ip_version = 4;
    m->proto = proto;
    m->ttl = 60;
    m->wirelen = len;
    for (int i = 0; i < 4; i++) {
        m->src[i] = (uint8_t)(s >> (24 - 8 * i));
        m->dst[i] = (uint8_t)(d >> (24 - 8 * i));
    }
}

static void tcp_pkt(struct harness *h, uint64_t ts, uint32_t s, uint16_t sp, uint32_t d, uint16_t dp,
                    uint8_t flags)
{
    struct pkt_meta m;
    meta_ip(&m, ts, s, d, 6, 60);
    m.flags |= PKT_TCP;
    m.sport = sp;
    m.dport = dp;
    m.tcp_flags = flags;
    h_pkt(h, &m);
}

static void udp_pkt(struct harness *h, uint64_t ts, uint32_t s, uint16_t sp, uint32_t d, uint16_t dp,
                    uint32_t len, const uint8_t *pay, uint32_t plen)
{
    struct pkt_meta m;
    meta_ip(&m, ts, s, d, 17, len);
    m.flags |= PKT_UDP;
    m.sport = sp;
    m.dport = dp;
    m.payload = pay;
    m.payload_len = plen;
    h_pkt(h, &m);
}

static void icmp_pkt(struct harness *h, uint64_t ts, uint32_t s, uint32_t d, uint8_t type)
{
    struct pkt_meta m;
    meta_ip(&m, ts, s, d, 1, 98);
    m.flags |= PKT_ICMP;
    m.icmp_type = type;
    m.sport = type;
    h_pkt(h, &m);
}

/* A full TCP session with `data` client segments after the handshake. */
static void session(struct harness *h, uint64_t ts, uint32_t c, uint16_t cp, uint32_t s, uint16_t sp,
                    unsigned data)
{
    tcp_pkt(h, ts, c, cp, s, sp, 0x02);
    tcp_pkt(h, ts + 1000000, s, sp, c, cp, 0x12);
    tcp_pkt(h, ts + 2000000, c, cp, s, sp, 0x10);
    for (unsigned i = 0; i < data; i++) {
        tcp_pkt(h, ts + 3000000 + i * 1000000, c, cp, s, sp, 0x18);
        tcp_pkt(h, ts + 3500000 + i * 1000000, s, sp, c, cp, 0x18);
    }
    uint64_t e = ts + 4000000 + data * 1000000;
    tcp_pkt(h, e, c, cp, s, sp, 0x11);
    tcp_pkt(h, e + 1000000, s, sp, c, cp, 0x11);
    tcp_pkt(h, e + 2000000, c, cp, s, sp, 0x10);
}

static unsigned count_class(const struct harness *h, const char *cls, uint8_t phase)
{
    unsigned n = 0;
    for (unsigned i = 0; i < h->nev; i++)
        if (h->ev[i].type == EVENT_DETECTION && h->ev[i].u.detection.phase == phase &&
            strcmp(h->ev[i].u.detection.class_name, cls) == 0)
            n++;
    return n;
}

static const struct event *first_start(const struct harness *h, const char *cls)
{
    for (unsigned i = 0; i < h->nev; i++)
        if (h->ev[i].u.detection.phase == DETECTION_START && !strcmp(h->ev[i].u.detection.class_name, cls))
            return &h->ev[i];
    return NULL;
}

static unsigned total_starts(const struct harness *h)
{
    unsigned n = 0;
    for (unsigned i = 0; i < h->nev; i++)
        n += h->ev[i].u.detection.phase == DETECTION_START;
    return n;
}

/* light background: a few completed sessions per second to a web server */
static void background(struct harness *h, uint64_t from, uint64_t to)
{
    unsigned k = 0;
    for (uint64_t t = from; t < to; t += SEC / 5, k++)
        session(h, t, ip(198, 18, 0, 1 + k % 50), (uint16_t)(10000 + k), ip(10, 0, 0, 10), 80, 2);
}

static void test_syn_flood_and_lifecycle(void **st)
{
    (void)st;
    struct harness h;
    h_init(&h, 1, NULL);
    background(&h, T0, T0 + 10 * SEC);
    uint64_t a = T0 + 10 * SEC + SEC / 2;
    unsigned k = 0;
    for (uint64_t t = a; t < a + 20 * SEC; t += SEC / 3000, k++) /* 3000 SYN/s, spoofed */
        tcp_pkt(&h, t, ip(100, 64 + k % 50, (k >> 3) & 255, k & 255), (uint16_t)(1024 + k % 60000),
                ip(10, 0, 0, 10), 80, 0x02);
    background(&h, a + 20 * SEC, a + 40 * SEC);
    h_finish(&h);
    const struct event *e = first_start(&h, "syn-flood");
    assert_non_null(e);
    assert_true(e->ts_ns - a <= 2 * SEC); /* within 2 s of packet time */
    assert_int_equal(e->u.detection.victim[0][0], 10);
    assert_int_equal(e->u.detection.victim[0][3], 10);
    /* distributed: many sources reported */
    bool distributed = false;
    for (unsigned i = 0; i < e->u.detection.n_metrics; i++)
        if (!strcmp(e->u.detection.metric[i].name, "distributed"))
            distributed = e->u.detection.metric[i].value == 1;
    assert_true(distributed);
    assert_int_equal(count_class(&h, "syn-flood", DETECTION_START), 1);
    /* 20 s long, updates every 10 s: at least one, not one per window */
    unsigned upd = count_class(&h, "syn-flood", DETECTION_UPDATE);
    assert_true(upd >= 1 && upd <= 2);
    assert_int_equal(count_class(&h, "syn-flood", DETECTION_END), 1);
    assert_int_equal(total_starts(&h), 1);
    h_free(&h);
}

static void test_busy_server_is_not_a_flood(void **st)
{
    (void)st;
    struct harness h;
    h_init(&h, 1, NULL);
    /* 2000 complete handshakes per second for 5 s */
    unsigned k = 0;
    for (uint64_t t = T0; t < T0 + 5 * SEC; t += SEC / 2000, k++)
        session(&h, t, ip(198, 18, (k >> 8) & 255, k & 255), (uint16_t)(1024 + k % 60000),
                ip(10, 0, 0, 10), 443, 0);
    h_finish(&h);
    assert_int_equal(total_starts(&h), 0);
    h_free(&h);
}

static void test_udp_icmp_floods(void **st)
{
    (void)st;
    struct harness h;
    h_init(&h, 1, NULL);
    /* a busy request/response UDP service: no alert */
    unsigned k = 0;
    for (uint64_t t = T0; t < T0 + 5 * SEC; t += SEC / 3000, k++) {
        uint32_t c = ip(198, 18, (k >> 8) & 3, k & 255);
        udp_pkt(&h, t, c, 5000, ip(10, 0, 0, 80), 27015, 100, NULL, 0);
        udp_pkt(&h, t + 1000, ip(10, 0, 0, 80), 27015, c, 5000, 200, NULL, 0);
    }
    /* a one-way flood */
    for (uint64_t t = T0 + 6 * SEC; t < T0 + 10 * SEC; t += SEC / 5000, k++)
        udp_pkt(&h, t, ip(198, 51, 100, 23), 4444, ip(10, 0, 0, 81), (uint16_t)(1 + k % 65000), 512, NULL, 0);
    for (uint64_t t = T0 + 12 * SEC; t < T0 + 16 * SEC; t += SEC / 3000)
        icmp_pkt(&h, t, ip(203, 0, 113, 5), ip(10, 0, 0, 82), 8);
    h_finish(&h);
    const struct event *u = first_start(&h, "udp-flood");
    assert_non_null(u);
    assert_int_equal(u->u.detection.victim[0][3], 81);
    assert_int_equal(u->u.detection.attacker[0][3], 23);
    assert_int_equal(count_class(&h, "udp-flood", DETECTION_START), 1);
    const struct event *i = first_start(&h, "icmp-flood");
    assert_non_null(i);
    assert_int_equal(i->u.detection.victim[0][3], 82);
    /* the flooder's random ports are not reported as a vertical scan */
    assert_int_equal(count_class(&h, "scan-vertical", DETECTION_START), 0);
    assert_int_equal(total_starts(&h), 2);
    h_free(&h);
}

static void test_reflection(void **st)
{
    (void)st;
    struct harness h;
    h_init(&h, 1, NULL);
    /* solicited DNS answers: the client asked first */
    unsigned k = 0;
    for (uint64_t t = T0; t < T0 + 3 * SEC; t += SEC / 500, k++) {
        uint16_t p = (uint16_t)(20000 + k);
        udp_pkt(&h, t, ip(10, 0, 0, 53), p, ip(8, 8, 8, 8), 53, 80, NULL, 0);
        udp_pkt(&h, t + 1000000, ip(8, 8, 8, 8), 53, ip(10, 0, 0, 53), p, 1400, NULL, 0);
    }
    /* unsolicited answers from 30 reflectors */
    for (uint64_t t = T0 + 4 * SEC; t < T0 + 8 * SEC; t += SEC / 1000, k++)
        udp_pkt(&h, t, ip(60, 1, 1, 1 + k % 30), 53, ip(10, 0, 0, 10), (uint16_t)(1024 + k % 60000), 3000, NULL, 0);
    h_finish(&h);
    const struct event *e = first_start(&h, "reflection");
    assert_non_null(e);
    assert_int_equal(e->u.detection.victim[0][3], 10);
    assert_int_equal(count_class(&h, "reflection", DETECTION_START), 1);
    assert_int_equal(count_class(&h, "udp-flood", DETECTION_START), 0);
    h_free(&h);
}

static void test_scans_and_sweep(void **st)
{
    (void)st;
    struct harness h;
    h_init(&h, 1, NULL);
    uint64_t t = T0;
    /* horizontal: port 445 over 100 hosts, mostly unanswered */
    for (unsigned d = 1; d <= 100; d++, t += SEC / 20)
        tcp_pkt(&h, t, ip(203, 0, 113, 66), 40000, ip(10, 0, 2, d), 445, 0x02);
    /* vertical: 200 ports on one host, answered by RST */
    for (unsigned p = 1; p <= 200; p++, t += SEC / 50) {
        tcp_pkt(&h, t, ip(203, 0, 113, 77), 40001, ip(10, 0, 0, 22), (uint16_t)p, 0x02);
        tcp_pkt(&h, t + 100000, ip(10, 0, 0, 22), (uint16_t)p, ip(203, 0, 113, 77), 40001, 0x14);
    }
    /* sweep: ping 100 hosts, 5 answer */
    for (unsigned d = 1; d <= 100; d++, t += SEC / 50) {
        icmp_pkt(&h, t, ip(198, 51, 100, 99), ip(10, 0, 3, d), 8);
        if (d % 20 == 0)
            icmp_pkt(&h, t + 100000, ip(10, 0, 3, d), ip(198, 51, 100, 99), 0);
    }
    /* a monitoring poller pinging 40 live hosts: not a sweep */
    for (unsigned d = 1; d <= 40; d++, t += SEC / 100) {
        icmp_pkt(&h, t, ip(10, 0, 0, 5), ip(10, 0, 1, d), 8);
        icmp_pkt(&h, t + 100000, ip(10, 0, 1, d), ip(10, 0, 0, 5), 0);
    }
    h_finish(&h);
    const struct event *e = first_start(&h, "scan-horizontal");
    assert_non_null(e);
    assert_int_equal(e->u.detection.attacker[0][3], 66);
    e = first_start(&h, "scan-vertical");
    assert_non_null(e);
    assert_int_equal(e->u.detection.attacker[0][3], 77);
    assert_int_equal(e->u.detection.victim[0][3], 22);
    e = first_start(&h, "host-sweep");
    assert_non_null(e);
    assert_int_equal(e->u.detection.attacker[0][3], 99);
    assert_int_equal(total_starts(&h), 3);
    h_free(&h);
}

static void test_brute_force_and_spray(void **st)
{
    (void)st;
    struct harness h;
    h_init(&h, 1, NULL);
    uint64_t t = T0;
    for (unsigned i = 0; i < 30; i++, t += 2 * SEC)
        session(&h, t, ip(185, 220, 101, 5), (uint16_t)(30000 + i), ip(10, 0, 0, 22), 22, 4);
    for (unsigned i = 0; i < 24; i++, t += SEC / 2)
        session(&h, t, ip(185, 220, 101, 9), (uint16_t)(31000 + i), ip(10, 0, 1, 1 + i), 3389, 3);
    /* a poller checking SSH twice a minute: not brute force */
    for (unsigned i = 0; i < 8; i++)
        session(&h, T0 + i * 30 * SEC, ip(10, 0, 0, 5), (uint16_t)(32000 + i), ip(10, 0, 0, 22), 22, 4);
    h_finish(&h);
    unsigned n = count_class(&h, "brute-force", DETECTION_START);
    assert_int_equal(n, 2);
    bool a5 = false, a9 = false;
    for (unsigned i = 0; i < h.nev; i++) {
        const struct event_detection *d = &h.ev[i].u.detection;
        if (d->phase != DETECTION_START)
            continue;
        a5 |= d->attacker[0][3] == 5 && d->attacker[0][0] == 185;
        a9 |= d->attacker[0][3] == 9 && d->victim_port == 3389;
    }
    assert_true(a5);
    assert_true(a9);
    assert_int_equal(total_starts(&h), 2);
    h_free(&h);
}

static void test_beaconing(void **st)
{
    (void)st;
    struct harness h;
    h_init(&h, 1, NULL);
    uint64_t t = T0;
    uint32_t x = 12345;
    for (unsigned i = 0; i < 15; i++) {
        session(&h, t, ip(10, 0, 1, 33), (uint16_t)(40000 + i), ip(91, 215, 85, 20), 443, 1);
        x = x * 1103515245 + 12345;
        t += 30 * SEC + (uint64_t)((x >> 16) % 6000) * 1000000ull - 3 * SEC; /* 30 s +-10% */
    }
    /* Poisson-like browsing to one site: irregular */
    t = T0;
    for (unsigned i = 0; i < 15; i++) {
        session(&h, t, ip(10, 0, 1, 34), (uint16_t)(41000 + i), ip(93, 184, 216, 34), 443, 1);
        x = x * 1103515245 + 12345;
        t += (uint64_t)(1 + (x >> 16) % 60) * SEC;
    }
    h_finish(&h);
    const struct event *e = first_start(&h, "beaconing");
    assert_non_null(e);
    assert_int_equal(e->u.detection.attacker[0][3], 33);
    assert_int_equal(e->u.detection.victim[0][0], 91);
    assert_int_equal(total_starts(&h), 1);
    h_free(&h);
}

static void test_dns_tunnel(void **st)
{
    (void)st;
    struct harness h;
    h_init(&h, 1, NULL);
    uint8_t b[512];
    uint32_t x = 99;
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    uint64_t t = T0;
    for (unsigned i = 0; i < 120; i++, t += SEC / 4) {
        char name[128];
        unsigned o = 0;
        for (unsigned j = 0; j < 48; j++) {
            x = x * 1103515245 + 12345;
            name[o++] = b32[(x >> 16) & 31];
        }
        strcpy(name + o, ".t.tunnel-example.com");
        size_t n = mk_query(b, name, 10);
        udp_pkt(&h, t, ip(10, 0, 1, 44), (uint16_t)(5000 + i), ip(10, 0, 0, 53), 53, (uint32_t)(n + 42), b, (uint32_t)n);
        /* a normal client: ordinary names */
        char nn[64];
        snprintf(nn, sizeof(nn), "img%u.cdn-example.net", i % 60);
        n = mk_query(b, nn, 1);
        udp_pkt(&h, t + 1000, ip(10, 0, 1, 45), (uint16_t)(6000 + i), ip(10, 0, 0, 53), 53, (uint32_t)(n + 42), b, (uint32_t)n);
    }
    h_finish(&h);
    const struct event *e = first_start(&h, "dns-tunnel");
    assert_non_null(e);
    assert_int_equal(e->u.detection.attacker[0][3], 44);
    assert_int_equal(total_starts(&h), 1);
    h_free(&h);
}

static void test_exfiltration(void **st)
{
    (void)st;
    struct anomaly_config c;
    anomaly_config_default(&c);
    struct harness h;
    h_init(&h, 1, &c);
    /* 2 minutes of light two-way traffic, then a 60 s upload at 8 Mbit/s */
    uint64_t t = T0;
    for (; t < T0 + 120 * SEC; t += SEC / 10) {
        udp_pkt(&h, t, ip(10, 0, 1, 23), 5555, ip(52, 1, 2, 3), 443, 200, NULL, 0);
        udp_pkt(&h, t + 1000, ip(52, 1, 2, 3), 443, ip(10, 0, 1, 23), 5555, 1200, NULL, 0);
    }
    for (; t < T0 + 180 * SEC; t += SEC / 1000)
        udp_pkt(&h, t, ip(10, 0, 1, 23), 6666, ip(45, 137, 21, 9), 443, 1000, NULL, 0);
    h_finish(&h);
    const struct event *e = first_start(&h, "exfiltration");
    assert_non_null(e);
    assert_int_equal(e->u.detection.attacker[0][3], 23);
    assert_int_equal(e->u.detection.victim[0][0], 45);
    assert_true(e->ts_ns < T0 + 150 * SEC);
    assert_int_equal(total_starts(&h), 1);
    h_free(&h);
}

static void test_protocol_anomaly(void **st)
{
    (void)st;
    struct harness h;
    h_init(&h, 1, NULL);
    background(&h, T0, T0 + 3 * SEC);
    for (uint64_t t = T0 + 3 * SEC; t < T0 + 6 * SEC; t += SEC / 100)
        tcp_pkt(&h, t, ip(198, 51, 100, 200), 40000, ip(10, 0, 0, 10), 80, 0x03); /* SYN+FIN */
    h_finish(&h);
    const struct event *e = first_start(&h, "protocol-anomaly");
    assert_non_null(e);
    assert_int_equal(e->u.detection.attacker[0][3], 200);
    assert_int_equal(total_starts(&h), 1);
    /* the decoder's own verdicts count too */
    struct harness h2;
    h_init(&h2, 1, NULL);
    struct pkt_meta m;
    for (uint64_t t = T0; t < T0 + 3 * SEC; t += SEC / 50) {
        meta_ip(&m, t, ip(198, 51, 100, 7), ip(10, 0, 0, 9), 6, 60);
        m.reason = DEC_FRAG_OVERLAP;
        anomaly_decode_invalid(h2.w[0], &m);
        h2.now = t;
        h_tick(&h2);
    }
    h_finish(&h2);
    assert_non_null(first_start(&h2, "protocol-anomaly"));
    h_free(&h2);
    h_free(&h);
}

/* The same traffic through 1 and 3 workers gives the same detections. */
static void run_mix(struct harness *h)
{
    background(h, T0, T0 + 12 * SEC);
    unsigned k = 0;
    for (uint64_t t = T0 + 12 * SEC; t < T0 + 16 * SEC; t += SEC / 3000, k++)
        tcp_pkt(h, t, ip(100, 64 + k % 50, (k >> 3) & 255, k & 255), (uint16_t)(1024 + k % 60000),
                ip(10, 0, 0, 10), 80, 0x02);
    uint64_t t = T0 + 18 * SEC;
    for (unsigned d = 1; d <= 60; d++, t += SEC / 20)
        tcp_pkt(h, t, ip(203, 0, 113, 66), (uint16_t)(40000 + d), ip(10, 0, 2, d), 445, 0x02);
    for (unsigned i = 0; i < 25; i++, t += SEC)
        session(h, t, ip(185, 220, 101, 5), (uint16_t)(30000 + i), ip(10, 0, 0, 22), 22, 4);
    h_finish(h);
}

static void test_merge_equals_single_pass(void **st)
{
    (void)st;
    struct harness a, b;
    h_init(&a, 1, NULL);
    h_init(&b, 3, NULL);
    run_mix(&a);
    run_mix(&b);
    assert_true(a.nev > 0);
    assert_int_equal(a.nev, b.nev);
    for (unsigned i = 0; i < a.nev; i++) {
        const struct event_detection *x = &a.ev[i].u.detection, *y = &b.ev[i].u.detection;
        assert_string_equal(x->class_name, y->class_name);
        assert_int_equal(x->phase, y->phase);
        assert_int_equal(a.ev[i].ts_ns, b.ev[i].ts_ns);
        assert_memory_equal(x->victim[0], y->victim[0], 16);
        assert_int_equal(x->n_metrics, y->n_metrics);
        for (unsigned j = 0; j < x->n_metrics; j++)
            assert_true(fabs(x->metric[j].value - y->metric[j].value) < 1e-6 * (1 + fabs(x->metric[j].value)));
    }
    h_free(&a);
    h_free(&b);
}

/* Several victims in the same windows, each flow with a few packets each way: a wrong entry
 * would move counts between them. */
static void run_interleaved(struct harness *h)
{
    unsigned k = 0;
    for (uint64_t t = T0; t < T0 + 4 * SEC; t += SEC / 3000, k++) {
        uint32_t c = ip(198, 18, (k >> 4) & 255, k & 15);
        uint16_t cp = (uint16_t)(1024 + (k >> 3) % 60000);
        tcp_pkt(h, t, ip(100, 64 + k % 50, (k >> 3) & 255, k & 255), (uint16_t)(1024 + k % 60000),
                ip(10, 0, 0, 10), 80, 0x02);
        udp_pkt(h, t + 100, c, cp, ip(10, 0, 0, 80), 27015, 100 + k % 7, NULL, 0);
        udp_pkt(h, t + 200, ip(10, 0, 0, 80), 27015, c, cp, 200, NULL, 0);
        icmp_pkt(h, t + 300, ip(203, 0, 113, 5 + k % 3), ip(10, 0, 0, 82), 8);
        udp_pkt(h, t + 400, ip(198, 51, 100, 23), 4444, ip(10, 0, 0, 81), (uint16_t)(1 + k % 65000), 512,
                NULL, 0);
    }
    h_finish(h);
}

/* The per-flow entry hints are only hints: wrong ones (stale, out of range, pointing at another
 * key's entry) give exactly the events of a run whose hints are right. */
static void test_stale_flow_hints(void **st)
{
    (void)st;
    struct harness a, b;
    h_init(&a, 1, NULL);
    h_init(&b, 1, NULL);
    run_interleaved(&a);
    scramble_hints = true;
    run_interleaved(&b);
    scramble_hints = false;
    assert_non_null(first_start(&a, "syn-flood"));
    assert_non_null(first_start(&a, "udp-flood"));
    assert_non_null(first_start(&a, "icmp-flood"));
    assert_true(a.nev > 0);
    assert_int_equal(a.nev, b.nev);
    for (unsigned i = 0; i < a.nev; i++) {
        const struct event_detection *x = &a.ev[i].u.detection, *y = &b.ev[i].u.detection;
        assert_string_equal(x->class_name, y->class_name);
        assert_int_equal(x->phase, y->phase);
        assert_int_equal(a.ev[i].ts_ns, b.ev[i].ts_ns);
        assert_memory_equal(x->victim[0], y->victim[0], 16);
        assert_int_equal(x->n_metrics, y->n_metrics);
        for (unsigned j = 0; j < x->n_metrics; j++)
            assert_true(x->metric[j].value == y->metric[j].value);
    }
    h_free(&a);
    h_free(&b);
}

static void test_bounded_tables_count_overflow(void **st)
{
    (void)st;
    struct anomaly_config c;
    anomaly_config_default(&c);
    anomaly_config_set(&c, "shard_dsts", "64");
    anomaly_config_set(&c, "track_entries", "128");
    struct harness h;
    h_init(&h, 1, &c);
    unsigned k = 0;
    for (uint64_t t = T0; t < T0 + 2 * SEC; t += SEC / 5000, k++)
        udp_pkt(&h, t, ip(198, 51, 100, 1), 1, ip(10, 1, (k >> 8) & 255, k & 255), 9, 100, NULL, 0);
    h_finish(&h);
    struct anomaly_stats s;
    anomaly_get_stats(h.sh, &s);
    assert_true(s.shard_overflow > 0);
    assert_int_equal(s.packets, k);
    h_free(&h);
}

/* The detectors that follow a flow's packet order (attempts, answers, handshakes, sessions,
 * first packets) give the same results when the flow table is updated a burst at a time. */
static void test_burst_flow_updates(void **st)
{
    burst_mode = true;
    test_syn_flood_and_lifecycle(st);
    test_reflection(st);
    test_scans_and_sweep(st);
    test_brute_force_and_spray(st);
    test_beaconing(st);
    test_exfiltration(st);
    test_merge_equals_single_pass(st);
    burst_mode = false;
}

static void assert_same_events(const struct harness *a, const struct harness *b)
{
    assert_true(a->nev > 0);
    assert_int_equal(a->nev, b->nev);
    for (unsigned i = 0; i < a->nev; i++) {
        const struct event_detection *x = &a->ev[i].u.detection, *y = &b->ev[i].u.detection;
        assert_string_equal(x->class_name, y->class_name);
        assert_int_equal(x->phase, y->phase);
        assert_int_equal(a->ev[i].ts_ns, b->ev[i].ts_ns);
        assert_int_equal(x->n_attackers, y->n_attackers);
        assert_memory_equal(x->attacker, y->attacker, sizeof(x->attacker));
        assert_memory_equal(x->victim, y->victim, sizeof(x->victim));
        assert_int_equal(x->n_metrics, y->n_metrics);
        for (unsigned j = 0; j < x->n_metrics; j++)
            assert_true(x->metric[j].value == y->metric[j].value);
    }
}

/* The interleaved victims with illegal-flag packets the decoder rejected (DECODE_INVALID) in
 * the same bursts: anomaly_burst() must account them in packet order too. */
static void run_interleaved_invalid(struct harness *h)
{
    unsigned k = 0;
    for (uint64_t t = T0; t < T0 + 3 * SEC; t += SEC / 2000, k++) {
        uint32_t c = ip(198, 18, (k >> 4) & 255, k & 15);
        uint16_t cp = (uint16_t)(1024 + (k >> 3) % 60000);
        tcp_pkt(h, t, ip(100, 64 + k % 50, (k >> 3) & 255, k & 255), (uint16_t)(1024 + k % 60000),
                ip(10, 0, 0, 10), 80, 0x02);
        udp_pkt(h, t + 100, c, cp, ip(10, 0, 0, 80), 27015, 100 + k % 7, NULL, 0);
        udp_pkt(h, t + 200, ip(10, 0, 0, 80), 27015, c, cp, 200, NULL, 0);
        /* an inside host sending out (exfiltration's host entries, prefetched per burst) */
        udp_pkt(h, t + 250, ip(10, 0, 5, 1 + k % 4), 5000, ip(192, 0, 2, 9), 443, 1200, NULL, 0);
        icmp_pkt(h, t + 300, ip(203, 0, 113, 5 + k % 3), ip(10, 0, 0, 82), 8);
        if (k % 16 == 0) { /* 125/s: 31 per 250 ms window, threshold 20 */
            struct pkt_meta m;
            meta_ip(&m, t + 400, ip(203, 0, 113, 77), ip(10, 0, 0, 90), 6, 60);
            m.flags |= PKT_TCP;
            m.tcp_flags = 0x03; /* SYN+FIN */
            m.reason = DEC_TCP_BAD_FLAGS;
            h_pkt_res(h, &m, DECODE_INVALID);
        }
    }
    h_finish(h);
}

/* anomaly_burst() (the engine's call: prefetch pass, then the packets in order) gives exactly
 * the events of anomaly_packet() / anomaly_decode_invalid() one by one: with right hints and
 * scrambled ones, with 1 s windows and with 250 ms windows (bursts then cross window ends:
 * the prefetch pass looks at the old window's tables), for floods, the mix of every class
 * (run_mix) and decoder-rejected packets inside bursts. */
static void test_burst_api_equals_per_packet(void **st)
{
    (void)st;
    void (*runs[3])(struct harness *) = {run_interleaved_invalid, run_mix, run_interleaved};
    for (unsigned win = 0; win < 2; win++) {
        for (unsigned r = 0; r < 3; r++) {
            for (unsigned scr = 0; scr < 2; scr++) {
                struct anomaly_config c;
                anomaly_config_default(&c);
                c.shard_dsts = 1024;
                c.shard_pairs = 1024;
                c.shard_hosts = 512;
                c.shard_dns = 256;
                c.track_entries = 4096;
                c.window_ms = win ? 250 : 1000;
                struct harness a, b;
                h_init(&a, 1, &c);
                h_init(&b, 1, &c);
                burst_mode = true;
                runs[r](&a);
                burst_api = true;
                scramble_hints = scr;
                runs[r](&b);
                burst_api = false;
                scramble_hints = false;
                burst_mode = false;
                assert_same_events(&a, &b);
                if (r == 0) {
                    assert_non_null(first_start(&a, "protocol-anomaly"));
                    assert_non_null(first_start(&a, "syn-flood"));
                }
                h_free(&a);
                h_free(&b);
            }
        }
    }
}

static void test_api_edges(void **st)
{
    (void)st;
    anomaly_shared_free(NULL);
    anomaly_worker_free(NULL);
    struct anomaly_config c;
    anomaly_config_default(&c);
    c.window_ms = 1;
    assert_null(anomaly_shared_new(&c));
    anomaly_config_default(&c);
    c.max_workers = 2;
    struct anomaly_shared *s = anomaly_shared_new(&c);
    assert_non_null(s);
    assert_non_null(anomaly_worker_new(s, 0));
    assert_null(anomaly_worker_new(s, 0)); /* each id once */
    assert_null(anomaly_worker_new(s, 2)); /* out of range */
    anomaly_shared_free(s);
    assert_string_equal(anomaly_class_name(ANOM_SYN_FLOOD), "syn-flood");
    assert_null(anomaly_class_name(ANOM_CLASS_MAX));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hll_accuracy_and_merge),
        cmocka_unit_test(test_cms_bounds_and_merge),
        cmocka_unit_test(test_topk_heavy_hitters_and_merge),
        cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_dns_parse),
        cmocka_unit_test(test_config_and_severity),
        cmocka_unit_test(test_syn_flood_and_lifecycle),
        cmocka_unit_test(test_busy_server_is_not_a_flood),
        cmocka_unit_test(test_udp_icmp_floods),
        cmocka_unit_test(test_reflection),
        cmocka_unit_test(test_scans_and_sweep),
        cmocka_unit_test(test_brute_force_and_spray),
        cmocka_unit_test(test_beaconing),
        cmocka_unit_test(test_dns_tunnel),
        cmocka_unit_test(test_exfiltration),
        cmocka_unit_test(test_protocol_anomaly),
        cmocka_unit_test(test_merge_equals_single_pass),
        cmocka_unit_test(test_bounded_tables_count_overflow),
        cmocka_unit_test(test_burst_flow_updates),
        cmocka_unit_test(test_stale_flow_hints),
        cmocka_unit_test(test_burst_api_equals_per_packet),
        cmocka_unit_test(test_api_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
