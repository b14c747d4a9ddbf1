/* Mergeable summaries: see sketch.h. */
#include "sketch.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


void sketch_hll_merge(uint8_t *dst, const uint8_t *src, unsigned p)
{
    size_t m = (size_t)1 << p;
    for (size_t i = 0; i < m; i++)
        if (src[i] > dst[i])
            dst[i] = src[i];
}

double sketch_hll_count(const uint8_t *reg, unsigned p)
{
    size_t m = (size_t)1 << p;
    double sum = 0;
    unsigned zeros = 0;
    for (size_t i = 0; i < m; i++) {
        /* 2^-reg exactly, from the exponent bits (ldexp, a libm call, per register was most of
         * the merge's time); registers hold at most 65 - p */
        uint64_t bits = (uint64_t)(1023 - reg[i]) << 52;
        double x;
        memcpy(&x, &bits, sizeof(x));
        sum += x;
        if (reg[i] == 0)
            zeros++;
    }
    double alpha = m == 16 ? 0.673 : m == 32 ? 0.697 : m == 64 ? 0.709 : 0.7213 / (1 + 1.079 / (double)m);
    double est = alpha * (double)m * (double)m / sum;
    /* small range: linear counting is far more accurate while registers are still empty */
    if (est <= 2.5 * (double)m && zeros > 0)
        est = (double)m * log((double)m / zeros);
    return est;
}

void sketch_prefault(void *p, size_t n)
{
    /* volatile stores: a compiler may not drop them (a memset of calloc'd memory it may) */
    volatile uint8_t *b = p;
    for (size_t i = 0; i < n; i += 4096)
        b[i] = 0;
    if (n > 0)
        b[n - 1] = 0;
}

int sketch_cms_init(struct sketch_cms *c, uint32_t depth, uint32_t width)
{
    memset(c, 0, sizeof(*c));
    if (depth == 0 || depth > 16 || width == 0 || (width & (width - 1)) != 0)
        return -EINVAL;
    c->cells = calloc((size_t)depth * width, sizeof(uint32_t));
    if (c->cells == NULL)
        return -ENOMEM;
    sketch_prefault(c->cells, (size_t)depth * width * sizeof(uint32_t));
    c->depth = depth;
    c->width = width;
    return 0;
}

void sketch_cms_release(struct sketch_cms *c)
{
    if (c == NULL)
        return;
    free(c->cells);
    c->cells = NULL;
}

void sketch_cms_clear(struct sketch_cms *c)
{
    if (c->cells != NULL)
        memset(c->cells, 0, (size_t)c->depth * c->width * sizeof(uint32_t));
}

/* Row i uses the i-th of depth pairwise-independent-enough hashes h1 + i*h2 (Kirsch-Mitzenmacher). */
static inline uint32_t cms_col(const struct sketch_cms *c, uint64_t h, uint32_t i)
{
    uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1u;
    return (h1 + i * h2) & (c->width - 1);
}

void sketch_cms_add(struct sketch_cms *c, uint64_t h, uint32_t n)
{
    for (uint32_t i = 0; i < c->depth; i++) {
        uint32_t *cell = &c->cells[(size_t)i * c->width + cms_col(c, h, i)];
        uint32_t v = *cell + n;
        *cell = v < *cell ? UINT32_MAX : v; /* saturate */
    }
}

void sketch_cms_sub(struct sketch_cms *c, uint64_t h, uint32_t n)
{
    for (uint32_t i = 0; i < c->depth; i++) {
        uint32_t *cell = &c->cells[(size_t)i * c->width + cms_col(c, h, i)];
        *cell = *cell >= n ? *cell - n : 0;
    }
}

uint32_t sketch_cms_estimate(const struct sketch_cms *c, uint64_t h)
{
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < c->depth; i++) {
        uint32_t v = c->cells[(size_t)i * c->width + cms_col(c, h, i)];
        if (v < best)
            best = v;
    }
    return c->depth ? best : 0;
}

int sketch_cms_merge(struct sketch_cms *dst, const struct sketch_cms *src)
{
    if (dst->depth != src->depth || dst->width != src->width)
        return -EINVAL;
    size_t n = (size_t)dst->depth * dst->width;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = dst->cells[i] + src->cells[i];
        dst->cells[i] = v < dst->cells[i] ? UINT32_MAX : v;
    }
    return 0;
}

static inline uint32_t sat_add(uint32_t a, uint32_t b)
{
    uint32_t v = a + b;
    return v < a ? UINT32_MAX : v;
}


static int topk_cmp(const void *a, const void *b)
{
    const struct sketch_topk_item *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return memcmp(x->key, y->key, 16);
}

void sketch_topk_sort(struct sketch_topk_item *items, unsigned len)
{
    qsort(items, len, sizeof(*items), topk_cmp);
}

void sketch_topk_merge(struct sketch_topk_item *dst, uint8_t *dlen, unsigned k,
                       const struct sketch_topk_item *src, unsigned slen)
{
    /* union with summed weights, then keep the k heaviest (Agarwal et al., mergeable summaries) */
    struct sketch_topk_item tmp[2 * 255];
    unsigned n = *dlen;
    memcpy(tmp, dst, n * sizeof(*tmp));
    for (unsigned j = 0; j < slen; j++) {
        unsigned i;
        for (i = 0; i < n; i++)
            if (memcmp(tmp[i].key, src[j].key, 16) == 0)
                break;
        if (i < n) {
            tmp[i].count = sat_add(tmp[i].count, src[j].count);
            tmp[i].err = sat_add(tmp[i].err, src[j].err);
        } else {
            tmp[n++] = src[j];
        }
    }
    sketch_topk_sort(tmp, n);
    if (n > k)
        n = k;
    memcpy(dst, tmp, n * sizeof(*tmp));
    *dlen = (uint8_t)n;
}

double sketch_entropy(const uint32_t *hist, unsigned n)
{
    double total = 0, h = 0;
    for (unsigned i = 0; i < n; i++)
        total += hist[i];
    if (total <= 0)
        return 0;
    for (unsigned i = 0; i < n; i++) {
        if (hist[i] == 0)
            continue;
        double p = hist[i] / total;
        h -= p * log2(p);
    }
    return h;
}

double sketch_entropy_bytes(const uint8_t *s, size_t len)
{
    uint32_t hist[256] = {0};
    for (size_t i = 0; i < len; i++)
        hist[s[i]]++;
    return sketch_entropy(hist, 256);
}
