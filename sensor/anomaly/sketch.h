/* Mergeable summaries used by the anomaly detectors: HyperLogLog (distinct counts),
 * Count-Min (frequency estimates), space-saving heavy hitters, and an entropy helper.
 *
 * All functions work on caller-owned memory so that sketches can be embedded in fixed-size
 * table entries; none allocates except sketch_cms_init(). Merges are associative and
 * commutative for HLL and Count-Min (exact: merging shards equals one pass), and for
 * space-saving they keep the usual bound (count error at most total/k) when applied in a
 * fixed order. Not thread-safe: one owner per sketch.
 */
#ifndef TRIPLINE_SKETCH_H
#define TRIPLINE_SKETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* 64-bit hash of a byte string (xxh3), used for every sketch key. Inline: the per-packet path
 * hashes short fixed-size keys, which xxh3 then reduces to a few multiplies. */
static inline uint64_t sketch_hash(const void *data, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, len, seed);
}

/* --- HyperLogLog: 2^p one-byte registers (4 <= p <= 16); relative error ~1.04/sqrt(2^p) --- */
static inline void sketch_hll_add(uint8_t *reg, unsigned p, uint64_t h)
{
    uint32_t idx = (uint32_t)(h >> (64 - p));
    uint64_t rest = (h << p) | (1ull << (p - 1)); /* guard bit bounds the rank */
    uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
    if (rank > reg[idx])
        reg[idx] = rank;
}
/* dst = register-wise max(dst, src). */
void sketch_hll_merge(uint8_t *dst, const uint8_t *src, unsigned p);
/* Estimated number of distinct keys (with the small-range correction). */
double sketch_hll_count(const uint8_t *reg, unsigned p);

/* Touches every page of zeroed memory (calloc) so that it is mapped now, not on first use on
 * the packet path. */
void sketch_prefault(void *p, size_t n);

/* --- Count-Min: depth rows of width counters (width a power of two) --- */
struct sketch_cms {
    uint32_t depth, width;
    uint32_t *cells; /* depth * width */
};
/* Allocates the counters. Returns 0 or -ENOMEM / -EINVAL. */
int sketch_cms_init(struct sketch_cms *c, uint32_t depth, uint32_t width);
void sketch_cms_release(struct sketch_cms *c);
void sketch_cms_clear(struct sketch_cms *c);
void sketch_cms_add(struct sketch_cms *c, uint64_t h, uint32_t n);
/* Takes back an earlier sketch_cms_add(c, h, n) (clamped at 0): cheap emptying of a sketch
 * that saw few adds. */
void sketch_cms_sub(struct sketch_cms *c, uint64_t h, uint32_t n);
/* Never below the true count; above it by at most e*N/width with probability 1-e^-depth. */
uint32_t sketch_cms_estimate(const struct sketch_cms *c, uint64_t h);
/* dst += src (same dimensions). Returns 0 or -EINVAL. */
int sketch_cms_merge(struct sketch_cms *dst, const struct sketch_cms *src);

/* --- Space-saving heavy hitters on 16-byte keys (addresses) --- */
struct sketch_topk_item {
    uint8_t key[16];
    uint32_t count; /* over-estimate of the key's weight */
    uint32_t err;   /* at most this much of count may belong to other keys */
};
/* Adds weight n to key in items[0..*len) holding at most k items. Inline (per packet). */
static inline void sketch_topk_add(struct sketch_topk_item *items, uint8_t *len, unsigned k,
                                   const uint8_t *key, uint32_t n)
{
    uint64_t k0, k1;
    memcpy(&k0, key, 8);
    memcpy(&k1, key + 8, 8);
    unsigned l = *len, min_i = 0;
    for (unsigned i = 0; i < l; i++) {
        uint64_t a0, a1;
        memcpy(&a0, items[i].key, 8);
        memcpy(&a1, items[i].key + 8, 8);
        if (((a0 ^ k0) | (a1 ^ k1)) == 0) {
            uint32_t v = items[i].count + n;
            items[i].count = v < n ? UINT32_MAX : v; /* saturate */
            return;
        }
        if (items[i].count < items[min_i].count)
            min_i = i;
    }
    if (l < k) {
        memcpy(items[l].key, key, 16);
        items[l].count = n;
        items[l].err = 0;
        *len = (uint8_t)(l + 1);
        return;
    }
    /* replace the lightest: the newcomer inherits its count as possible error */
    struct sketch_topk_item *it = &items[min_i];
    memcpy(it->key, key, 16);
    it->err = it->count;
    uint32_t v = it->count + n;
    it->count = v < n ? UINT32_MAX : v;
}
/* Merges src (slen items) into dst (*dlen, capacity k): weights of equal keys add, the k
 * heaviest stay. */
void sketch_topk_merge(struct sketch_topk_item *dst, uint8_t *dlen, unsigned k,
                       const struct sketch_topk_item *src, unsigned slen);
/* Sorts items by count, heaviest first (ties by key, so the order is deterministic). */
void sketch_topk_sort(struct sketch_topk_item *items, unsigned len);

/* Shannon entropy in bits of a histogram of n bins. */
double sketch_entropy(const uint32_t *hist, unsigned n);
/* Shannon entropy in bits per byte of a string. */
double sketch_entropy_bytes(const uint8_t *s, size_t len);

#endif
