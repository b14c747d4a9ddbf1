/* Single-producer / single-consumer lock-free ring of fixed-size elements.
 *
 * One thread enqueues, one thread dequeues; no locks, no read-modify-write atomics. The
 * capacity is a power of two so indices wrap with a mask; head and tail run freely as 32-bit
 * counters (their difference is the fill level even across wrap-around). The producer's and
 * the consumer's indices live on separate cache lines, each next to a cached copy of the
 * other side's index, so a side only touches the other's line when its cached view says the
 * ring is full (producer) or empty (consumer). Hot-path inline: this is a *_core-style header.
 */
#ifndef TRIPLINE_RING_H
#define TRIPLINE_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RING_CACHE_LINE 64

struct spsc_ring {
    /* producer's line */
    alignas(RING_CACHE_LINE) _Atomic uint32_t head; /* next slot to write */
    uint32_t tail_cache;                            /* producer's last view of tail */
    /* consumer's line */
    alignas(RING_CACHE_LINE) _Atomic uint32_t tail; /* next slot to read */
    uint32_t head_cache;                            /* consumer's last view of head */
    /* read-only after creation */
    alignas(RING_CACHE_LINE) uint32_t mask;
    uint32_t esize;
    uint8_t *slots;
};

/* Creates a ring of at least `count` elements (rounded up to a power of two) of esize bytes.
 * NULL on allocation failure or count == 0 / > 2^30. Free with spsc_ring_free(). */
static inline struct spsc_ring *spsc_ring_new(uint32_t count, uint32_t esize)
{
    if (count == 0 || count > (1u << 30) || esize == 0)
        return NULL;
    uint32_t cap = 1;
    while (cap < count)
        cap <<= 1;
    struct spsc_ring *r = aligned_alloc(RING_CACHE_LINE, sizeof(*r));
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->slots = aligned_alloc(RING_CACHE_LINE,
                             ((size_t)cap * esize + RING_CACHE_LINE - 1) & ~(size_t)(RING_CACHE_LINE - 1));
    if (!r->slots) {
        free(r);
        return NULL;
    }
    r->mask = cap - 1;
    r->esize = esize;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return r;
}

static inline void spsc_ring_free(struct spsc_ring *r)
{
    if (!r)
        return;
    free(r->slots);
    free(r);
}

static inline uint32_t spsc_ring_capacity(const struct spsc_ring *r)
{
    return r->mask + 1;
}

/* Producer only. Copies up to n elements from objs; returns how many were enqueued (0 when
 * full). */
static inline unsigned spsc_ring_enqueue_burst(struct spsc_ring *r, const void *objs, unsigned n)
{
    /* relaxed: only this thread writes head */
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t cap = r->mask + 1;
    uint32_t free_slots = cap - (head - r->tail_cache);
    if (free_slots < n) {
        /* acquire: pairs with the consumer's release store of tail, so its reads of the
         * slots we are about to overwrite have completed */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        free_slots = cap - (head - r->tail_cache);
        if (free_slots == 0)
            return 0;
        if (n > free_slots)
            n = free_slots;
    }
    const uint8_t *src = objs;
    for (unsigned i = 0; i < n; i++)
        memcpy(r->slots + (size_t)((head + i) & r->mask) * r->esize, src + (size_t)i * r->esize,
               r->esize);
    /* release: pairs with the consumer's acquire load of head; publishes the slot contents */
    atomic_store_explicit(&r->head, head + n, memory_order_release);
    return n;
}

/* Consumer only. Copies up to max elements into objs; returns how many (0 when empty). */
static inline unsigned spsc_ring_dequeue_burst(struct spsc_ring *r, void *objs, unsigned max)
{
    /* relaxed: only this thread writes tail */
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t avail = r->head_cache - tail;
    if (avail < max) {
        /* acquire: pairs with the producer's release store of head; makes the slots visible */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        avail = r->head_cache - tail;
        if (avail == 0)
            return 0;
    }
    unsigned n = avail < max ? avail : max;
    uint8_t *dst = objs;
    for (unsigned i = 0; i < n; i++)
        memcpy(dst + (size_t)i * r->esize, r->slots + (size_t)((tail + i) & r->mask) * r->esize,
               r->esize);
    /* release: pairs with the producer's acquire load of tail; our slot reads are done */
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return n;
}

/* Approximate fill level, for stats only (any thread). */
static inline uint32_t spsc_ring_count(const struct spsc_ring *r)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    return h - t;
}

/* Consumer only: true when nothing is queued. */
static inline bool spsc_ring_empty(struct spsc_ring *r)
{
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    /* acquire: same pairing as in dequeue */
    return atomic_load_explicit(&r->head, memory_order_acquire) == tail;
}

#endif
