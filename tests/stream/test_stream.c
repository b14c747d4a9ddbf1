/* Unit tests for TCP reassembly (sensor/stream). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stream.h"

struct got {
    char data[4096];
    uint32_t len;
    unsigned chunks, gaps;
    uint64_t last_offset;
    uint32_t last_prev_len;
    unsigned anomalies;
    uint16_t last_anomaly;
    unsigned lasts;  /* chunks flagged last */
    bool last_last;  /* the latest chunk's flag */
};

static void deliver(void *ctx, struct flow *f, enum flow_dir dir, const struct stream_chunk *ch)
{
    (void)f;
    (void)dir;
    struct got *g = ctx;
    assert_true(g->len + ch->len <= sizeof(g->data));
    memcpy(g->data + g->len, ch->data, ch->len);
    g->len += ch->len;
    g->chunks++;
    g->gaps += ch->gap_before;
    g->last_offset = ch->offset;
    g->last_prev_len = ch->prev_len;
    g->lasts += ch->last;
    g->last_last = ch->last;
}

static bool emit(void *ctx, const struct event *ev)
{
    struct got *g = ctx;
    g->anomalies++;
    g->last_anomaly = ev->u.anomaly.code;
    return true;
}

static struct pkt_meta seg(uint8_t flags, uint32_t seq, const char *data)
{
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.flags = PKT_IPV4 | PKT_TCP | PKT_HAS_L4;
    m.ip_version = 4;
    m.proto = 6;
    m.tcp_flags = flags;
    m.tcp_seq = seq;
    m.payload = (const uint8_t *)data;
    m.payload_len = data ? (uint32_t)strlen(data) : 0;
    return m;
}

static struct stream_ctx *ctx_new(uint32_t dirs, uint32_t max_ooo, uint32_t slots, uint64_t depth,
                                  bool midstream)
{
    struct stream_config c;
    stream_config_default(&c);
    c.max_dirs = dirs;
    c.max_ooo = max_ooo;
    c.ooo_slots = slots;
    c.ooo_slot_size = 64;
    c.window = 8;
    c.depth = depth;
    c.midstream = midstream;
    struct stream_ctx *sc = stream_ctx_new(&c);
    assert_non_null(sc);
    return sc;
}

static enum stream_result feed(struct stream_ctx *sc, struct flow *f, struct got *g, uint8_t fl,
                               uint32_t seq, const char *data)
{
    struct pkt_meta m = seg(fl, seq, data);
    return stream_packet(sc, f, FLOW_TO_SERVER, &m, deliver, g, emit, g);
}

static void test_in_order_and_window(void **state)
{
    (void)state;
    struct stream_ctx *sc = ctx_new(4, 4, 8, 0, false);
    struct flow f;
    memset(&f, 0, sizeof(f));
    struct got g = {0};
    assert_int_equal(feed(sc, &f, &g, 0x02, 100, NULL), STREAM_ADDED);
    assert_int_equal(feed(sc, &f, &g, 0x18, 101, "hello "), STREAM_ADDED);
    assert_int_equal(feed(sc, &f, &g, 0x18, 107, "world, again"), STREAM_ADDED);
    assert_int_equal(g.len, 18);
    assert_memory_equal(g.data, "hello world, again", 18);
    assert_int_equal(g.last_offset, 6);
    assert_int_equal(g.last_prev_len, 6); /* the window held "hello " */
    uint64_t sz;
    assert_true(stream_dir_size(sc, &f, FLOW_TO_SERVER, &sz));
    assert_int_equal(sz, 19);
    stream_flow_end(sc, &f, deliver, &g);
    assert_null(f.stream[0]);
    assert_int_equal(stream_get_stats(sc)->dirs_in_use, 0);
    stream_ctx_free(sc);
}

static void test_out_of_order_gap_and_overlap(void **state)
{
    (void)state;
    struct stream_ctx *sc = ctx_new(4, 2, 8, 0, false);
    struct flow f;
    memset(&f, 0, sizeof(f));
    struct got g = {0};
    feed(sc, &f, &g, 0x02, 0, NULL);
    feed(sc, &f, &g, 0x18, 7, "ghi");  /* queued */
    feed(sc, &f, &g, 0x18, 4, "def");  /* queued */
    assert_int_equal(g.len, 0);
    feed(sc, &f, &g, 0x18, 1, "abc");  /* fills the hole: all three come out */
    assert_int_equal(g.len, 9);
    assert_memory_equal(g.data, "abcdefghi", 9);
    assert_int_equal(g.anomalies, 0);
    /* overlapping old data with other bytes: anomaly, nothing new delivered */
    feed(sc, &f, &g, 0x18, 5, "XY");
    assert_int_equal(g.anomalies, 1);
    assert_int_equal(g.last_anomaly, STREAM_ANOM_OVERLAP);
    assert_int_equal(g.len, 9);
    /* partly old, partly new: only the new part */
    feed(sc, &f, &g, 0x18, 8, "hijk");
    assert_int_equal(g.len, 11);
    assert_memory_equal(g.data + 9, "jk", 2);
    /* queue full (2): the hole is skipped */
    feed(sc, &f, &g, 0x18, 20, "AA");
    feed(sc, &f, &g, 0x18, 30, "BB");
    feed(sc, &f, &g, 0x18, 40, "CC");
    assert_true(g.gaps >= 1);
    assert_memory_equal(g.data + 11, "AABBCC", 6);
    assert_int_equal(stream_get_stats(sc)->gaps, 3);
    stream_flow_end(sc, &f, deliver, &g);
    stream_ctx_free(sc);
}

/* stream_chunk.last: set only for an in-order segment with nothing queued behind it (the
 * consumer then inspects it at once, without merging it with chunks that follow) */
static void test_last_chunk_flag(void **state)
{
    (void)state;
    struct stream_ctx *sc = ctx_new(4, 4, 8, 0, false);
    struct flow f;
    memset(&f, 0, sizeof(f));
    struct got g = {0};
    feed(sc, &f, &g, 0x02, 0, NULL);
    feed(sc, &f, &g, 0x18, 1, "abc");
    assert_int_equal(g.chunks, 1);
    assert_int_equal(g.lasts, 1);
    feed(sc, &f, &g, 0x18, 7, "ghi"); /* queued */
    feed(sc, &f, &g, 0x18, 4, "def"); /* in order, then the queued one: two chunks */
    assert_int_equal(g.chunks, 3);
    assert_int_equal(g.lasts, 1);
    assert_memory_equal(g.data, "abcdefghi", 9);
    feed(sc, &f, &g, 0x18, 10, "jkl");
    assert_int_equal(g.chunks, 4);
    assert_int_equal(g.lasts, 2);
    assert_true(g.last_last);
    feed(sc, &f, &g, 0x18, 20, "xyz"); /* queued; flushed at the end */
    stream_flow_end(sc, &f, deliver, &g);
    assert_int_equal(g.chunks, 5);
    assert_int_equal(g.lasts, 2);
    assert_false(g.last_last);
    stream_ctx_free(sc);
}

static void test_flow_end_flushes_holes(void **state)
{
    (void)state;
    struct stream_ctx *sc = ctx_new(4, 4, 8, 0, false);
    struct flow f;
    memset(&f, 0, sizeof(f));
    struct got g = {0};
    feed(sc, &f, &g, 0x02, 0, NULL);
    feed(sc, &f, &g, 0x18, 5, "tail");
    assert_int_equal(g.len, 0);
    stream_flow_end(sc, &f, deliver, &g);
    assert_int_equal(g.len, 4);
    assert_int_equal(g.gaps, 1);
    assert_int_equal(g.last_offset, 4);
    stream_ctx_free(sc);
}

static void test_midstream_depth_pool(void **state)
{
    (void)state;
    /* midstream off: a flow seen without its SYN is not reassembled */
    struct stream_ctx *sc = ctx_new(2, 4, 8, 6, false);
    struct flow f;
    memset(&f, 0, sizeof(f));
    struct got g = {0};
    assert_int_equal(feed(sc, &f, &g, 0x18, 50, "data"), STREAM_NOT_TRACKED);
    assert_true(stream_flow_untracked(sc, &f));
    assert_int_equal(feed(sc, &f, &g, 0x18, 54, "more"), STREAM_NOT_TRACKED);
    assert_int_equal(g.len, 0);
    stream_flow_end(sc, &f, deliver, &g);
    /* depth 6: bytes beyond are not delivered and packets go back to packet inspection */
    struct flow f2;
    memset(&f2, 0, sizeof(f2));
    feed(sc, &f2, &g, 0x02, 0, NULL);
    assert_int_equal(feed(sc, &f2, &g, 0x18, 1, "abcd"), STREAM_ADDED);
    assert_int_equal(feed(sc, &f2, &g, 0x18, 5, "efgh"), STREAM_ADDED);
    assert_int_equal(g.len, 6);
    assert_int_equal(feed(sc, &f2, &g, 0x18, 9, "ijkl"), STREAM_NOT_TRACKED);
    /* pool of 2 dirs: a third direction finds none */
    struct flow f3;
    memset(&f3, 0, sizeof(f3));
    feed(sc, &f3, &g, 0x02, 0, NULL);
    struct flow f4;
    memset(&f4, 0, sizeof(f4));
    assert_int_equal(feed(sc, &f4, &g, 0x02, 0, NULL), STREAM_NOT_TRACKED);
    assert_int_equal(stream_get_stats(sc)->no_state, 1);
    stream_flow_end(sc, &f2, NULL, NULL);
    stream_flow_end(sc, &f3, NULL, NULL);
    stream_flow_end(sc, &f4, NULL, NULL);
    stream_ctx_free(sc);
    /* midstream on: picked up at the first packet */
    sc = ctx_new(2, 4, 8, 0, true);
    memset(&f, 0, sizeof(f));
    memset(&g, 0, sizeof(g));
    assert_int_equal(feed(sc, &f, &g, 0x18, 50, "data"), STREAM_ADDED);
    assert_int_equal(feed(sc, &f, &g, 0x18, 54, "more"), STREAM_ADDED);
    assert_int_equal(g.len, 8);
    stream_flow_end(sc, &f, NULL, NULL);
    stream_ctx_free(sc);
}

static void test_seq_wrap_and_bad_config(void **state)
{
    (void)state;
    struct stream_ctx *sc = ctx_new(2, 4, 8, 0, false);
    struct flow f;
    memset(&f, 0, sizeof(f));
    struct got g = {0};
    feed(sc, &f, &g, 0x02, 0xfffffffd, NULL);
    feed(sc, &f, &g, 0x18, 0xfffffffe, "ab");
    feed(sc, &f, &g, 0x18, 0, "cd"); /* wrapped */
    assert_int_equal(g.len, 4);
    assert_memory_equal(g.data, "abcd", 4);
    stream_flow_end(sc, &f, NULL, NULL);
    stream_ctx_free(sc);
    struct stream_config c;
    stream_config_default(&c);
    c.max_dirs = 0;
    assert_null(stream_ctx_new(&c));
    stream_ctx_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_and_window),
        cmocka_unit_test(test_out_of_order_gap_and_overlap),
        cmocka_unit_test(test_last_chunk_flag),
        cmocka_unit_test(test_flow_end_flushes_holes),
        cmocka_unit_test(test_midstream_depth_pool),
        cmocka_unit_test(test_seq_wrap_and_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
