/* Transactions copied for inspection after the packet's own matching (see applayer.h). */
#include <stdlib.h>
#include <string.h>

#include "applayer_priv.h"

#define PENDING_MAX_BUFS 64 /* buffers listed per transaction side (there are fewer kinds) */

struct pending_tx {
    struct flow *f;
    uint64_t tx_id;
    uint8_t dir;
    uint32_t first, n; /* range in refs[] */
};

struct applayer_pending {
    uint8_t *mem;
    size_t cap, used;
    struct pending_tx *tx;
    unsigned max_tx, n_tx;
    struct applayer_buf_ref *refs;
    unsigned max_refs, n_refs;
    uint64_t dropped;
};

struct applayer_pending *applayer_pending_new(size_t bytes, unsigned max_tx)
{
    if (max_tx == 0)
        return NULL;
    struct applayer_pending *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->mem = malloc(bytes ? bytes : 1);
    p->tx = calloc(max_tx, sizeof(*p->tx));
    p->max_refs = max_tx * 16u;
    p->refs = calloc(p->max_refs, sizeof(*p->refs));
    if (!p->mem || !p->tx || !p->refs) {
        applayer_pending_free(p);
        return NULL;
    }
    p->cap = bytes;
    p->max_tx = max_tx;
    return p;
}

void applayer_pending_free(struct applayer_pending *p)
{
    if (!p)
        return;
    free(p->mem);
    free(p->tx);
    free(p->refs);
    free(p);
}

bool applayer_pending_add(struct applayer_pending *p, struct flow *f, const struct applayer_tx *tx,
                          enum flow_dir dir)
{
    struct applayer_buf_ref tmp[PENDING_MAX_BUFS];
    unsigned n = applayer_tx_collect(tx, dir, tmp, PENDING_MAX_BUFS);
    size_t need = 0;
    for (unsigned i = 0; i < n; i++)
        need += tmp[i].len;
    if (p->n_tx == p->max_tx || p->n_refs + n > p->max_refs || need > p->cap - p->used) {
        p->dropped++;
        return false;
    }
    struct pending_tx *t = &p->tx[p->n_tx++];
    t->f = f;
    t->tx_id = applayer_tx_id(tx);
    t->dir = (uint8_t)dir;
    t->first = p->n_refs;
    t->n = n;
    for (unsigned i = 0; i < n; i++) {
        struct applayer_buf_ref *r = &p->refs[p->n_refs++];
        r->id = tmp[i].id;
        r->len = tmp[i].len;
        r->data = p->mem + p->used;
        if (tmp[i].len)
            memcpy(p->mem + p->used, tmp[i].data, tmp[i].len);
        p->used += tmp[i].len;
    }
    return true;
}

unsigned applayer_pending_count(const struct applayer_pending *p)
{
    return p->n_tx;
}

void applayer_pending_get(const struct applayer_pending *p, unsigned i, struct flow **f,
                          enum flow_dir *dir, uint64_t *tx_id,
                          const struct applayer_buf_ref **bufs, unsigned *n)
{
    const struct pending_tx *t = &p->tx[i];
    *f = t->f;
    *dir = (enum flow_dir)t->dir;
    *tx_id = t->tx_id;
    *bufs = p->refs + t->first;
    *n = t->n;
}

void applayer_pending_clear(struct applayer_pending *p)
{
    p->n_tx = 0;
    p->n_refs = 0;
    p->used = 0;
}

uint64_t applayer_pending_dropped(const struct applayer_pending *p)
{
    return p->dropped;
}
