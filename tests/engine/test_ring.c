/* SPSC ring: full/empty edges, wrap-around, and a two-thread stress run whose consumer checks
 * order and a checksum of every item. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sched.h>

#include <cmocka.h>

#include "ring.h"

static void test_edges(void **state)
{
    (void)state;
    assert_null(spsc_ring_new(0, 8));
    struct spsc_ring *r = spsc_ring_new(5, sizeof(uint64_t));
    assert_non_null(r);
    assert_int_equal(spsc_ring_capacity(r), 8);
    uint64_t in[16], out[16];
    for (int i = 0; i < 16; i++)
        in[i] = 100 + (uint64_t)i;
    /* empty */
    assert_true(spsc_ring_empty(r));
    assert_int_equal(spsc_ring_dequeue_burst(r, out, 4), 0);
    /* fill exactly; a 9th does not fit */
    assert_int_equal(spsc_ring_enqueue_burst(r, in, 5), 5);
    assert_int_equal(spsc_ring_enqueue_burst(r, in + 5, 5), 3); /* partial: only 3 free */
    assert_int_equal(spsc_ring_count(r), 8);
    assert_int_equal(spsc_ring_enqueue_burst(r, in + 8, 1), 0);
    /* drain in two bursts, order kept */
    assert_int_equal(spsc_ring_dequeue_burst(r, out, 3), 3);
    assert_int_equal(out[0], 100);
    assert_int_equal(out[2], 102);
    assert_int_equal(spsc_ring_dequeue_burst(r, out, 16), 5);
    assert_int_equal(out[4], 107);
    assert_int_equal(spsc_ring_dequeue_burst(r, out, 16), 0);
    assert_true(spsc_ring_empty(r));
    /* wrap-around many times with odd burst sizes */
    uint64_t next_in = 0, next_out = 0;
    for (int round = 0; round < 1000; round++) {
        unsigned k = (unsigned)(round % 7) + 1;
        uint64_t buf[8];
        for (unsigned i = 0; i < k; i++)
            buf[i] = next_in + i;
        unsigned n = spsc_ring_enqueue_burst(r, buf, k);
        next_in += n;
        unsigned m = spsc_ring_dequeue_burst(r, out, (unsigned)(round % 5) + 1);
        for (unsigned i = 0; i < m; i++)
            assert_int_equal(out[i], next_out + i);
        next_out += m;
    }
    spsc_ring_free(r);
    spsc_ring_free(NULL);
}

/* 32-bit counters wrap: start the indices near UINT32_MAX. */
static void test_index_wrap(void **state)
{
    (void)state;
    struct spsc_ring *r = spsc_ring_new(4, sizeof(uint32_t));
    atomic_store(&r->head, UINT32_MAX - 2);
    atomic_store(&r->tail, UINT32_MAX - 2);
    r->tail_cache = r->head_cache = UINT32_MAX - 2;
    uint32_t v[4] = {1, 2, 3, 4}, o[4];
    assert_int_equal(spsc_ring_enqueue_burst(r, v, 4), 4);
    assert_int_equal(spsc_ring_enqueue_burst(r, v, 1), 0);
    assert_int_equal(spsc_ring_dequeue_burst(r, o, 4), 4);
    assert_int_equal(o[3], 4);
    assert_true(spsc_ring_empty(r));
    spsc_ring_free(r);
}

struct item {
    uint64_t seq;
    uint64_t val;
    uint8_t pad[48];
};

#define STRESS_ITEMS 2000000ull

struct stress {
    struct spsc_ring *r;
    uint64_t sum_in, sum_out, bad_order;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static void *producer(void *arg)
{
    struct stress *s = arg;
    struct item buf[32];
    uint64_t seq = 0;
    while (seq < STRESS_ITEMS) {
        unsigned k = (unsigned)(mix(seq) % 32) + 1;
        if (seq + k > STRESS_ITEMS)
            k = (unsigned)(STRESS_ITEMS - seq);
        for (unsigned i = 0; i < k; i++) {
            buf[i].seq = seq + i;
            buf[i].val = mix(seq + i);
            memset(buf[i].pad, (int)(seq + i), sizeof(buf[i].pad));
        }
        unsigned done = 0;
        while (done < k) {
            unsigned n = spsc_ring_enqueue_burst(s->r, buf + done, k - done);
            if (n == 0)
                sched_yield();
            done += n;
        }
        for (unsigned i = 0; i < k; i++)
            s->sum_in += buf[i].val;
        seq += k;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct stress *s = arg;
    struct item buf[32];
    uint64_t expect = 0;
    while (expect < STRESS_ITEMS) {
        unsigned n = spsc_ring_dequeue_burst(s->r, buf, (unsigned)(expect % 31) + 1);
        if (n == 0) {
            sched_yield();
            continue;
        }
        for (unsigned i = 0; i < n; i++) {
            if (buf[i].seq != expect || buf[i].pad[47] != (uint8_t)expect)
                s->bad_order++;
            s->sum_out += buf[i].val;
            expect++;
        }
    }
    return NULL;
}

static void test_stress(void **state)
{
    (void)state;
    struct stress s = {.r = spsc_ring_new(64, sizeof(struct item))};
    assert_non_null(s.r);
    pthread_t tp, tc;
    assert_int_equal(pthread_create(&tc, NULL, consumer, &s), 0);
    assert_int_equal(pthread_create(&tp, NULL, producer, &s), 0);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    assert_int_equal(s.bad_order, 0);
    assert_true(s.sum_in != 0);
    assert_int_equal(s.sum_in, s.sum_out);
    assert_true(spsc_ring_empty(s.r));
    spsc_ring_free(s.r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_index_wrap),
        cmocka_unit_test(test_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
