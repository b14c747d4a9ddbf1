/* Sticky-buffer transforms: the byte operations and the per-worker expansion (rules_xform.h). */
#include <stdlib.h>
#include <string.h>

#include "rules_core.h"
#include "rules_xform.h"

static const char *const xform_names[XF_MAX] = {
    [XF_DOTPREFIX] = "dotprefix",
    [XF_TO_LOWERCASE] = "to_lowercase",
    [XF_TO_UPPERCASE] = "to_uppercase",
    [XF_STRIP_WHITESPACE] = "strip_whitespace",
    [XF_COMPRESS_WHITESPACE] = "compress_whitespace",
    [XF_URL_DECODE] = "url_decode",
};

enum rule_xform_op rules_xform_from_name(const char *name)
{
    for (int i = 1; i < XF_MAX; i++)
        if (strcmp(name, xform_names[i]) == 0)
            return (enum rule_xform_op)i;
    return 0;
}

const char *rules_xform_name(enum rule_xform_op op)
{
    return op > 0 && op < XF_MAX ? xform_names[op] : "unknown";
}

/* isspace() of the C locale, without the locale lookup */
static inline bool ws(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One op in place on b[0..len); b has room for len + 1. Returns the new length. */
static uint32_t op_apply(uint8_t op, uint8_t *b, uint32_t len)
{
    uint32_t w = 0;
    switch (op) {
    case XF_DOTPREFIX:
        memmove(b + 1, b, len);
        b[0] = '.';
        return len + 1;
    case XF_TO_LOWERCASE:
        for (uint32_t i = 0; i < len; i++)
            if (b[i] >= 'A' && b[i] <= 'Z')
                b[i] = (uint8_t)(b[i] + 32);
        return len;
    case XF_TO_UPPERCASE:
        for (uint32_t i = 0; i < len; i++)
            if (b[i] >= 'a' && b[i] <= 'z')
                b[i] = (uint8_t)(b[i] - 32);
        return len;
    case XF_STRIP_WHITESPACE:
        for (uint32_t i = 0; i < len; i++)
            if (!ws(b[i]))
                b[w++] = b[i];
        return w;
    case XF_COMPRESS_WHITESPACE:
        for (uint32_t i = 0; i < len; i++)
            if (!ws(b[i]) || i == 0 || !ws(b[i - 1]))
                b[w++] = b[i];
        return w;
    case XF_URL_DECODE:
        for (uint32_t i = 0; i < len; i++) {
            int h, l;
            if (b[i] == '%' && i + 2 < len && (h = hexval(b[i + 1])) >= 0 && (l = hexval(b[i + 2])) >= 0) {
                b[w++] = (uint8_t)(h << 4 | l);
                i += 2;
            } else {
                b[w++] = b[i] == '+' ? ' ' : b[i];
            }
        }
        return w;
    }
    return len;
}

uint32_t rules_xform_apply(const struct rule_xform *x, const uint8_t *in, uint32_t len,
                           uint8_t *out)
{
    if (len)
        memcpy(out, in, len);
    for (unsigned i = 0; i < x->n_ops; i++)
        len = op_apply(x->ops[i], out, len);
    return len;
}

struct rules_xform_scratch {
    struct rule_xform *x;
    unsigned n_x;
    uint8_t *data;
    uint32_t cap;
    struct rule_buf *bufs;
    unsigned max_bufs;
    uint64_t dropped;
};

struct rules_xform_scratch *rules_xform_scratch_new(const struct ruleset *rs, uint32_t bytes,
                                                    unsigned max_bufs)
{
    struct rules_xform_scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    unsigned n;
    const struct rule_xform *x = ruleset_xforms(rs, &n);
    if (n) {
        s->x = malloc(n * sizeof(*x));
        s->data = malloc(bytes ? bytes : 1);
        s->bufs = malloc((max_bufs ? max_bufs : 1) * sizeof(*s->bufs));
        if (!s->x || !s->data || !s->bufs) {
            rules_xform_scratch_free(s);
            return NULL;
        }
        memcpy(s->x, x, n * sizeof(*x));
        s->n_x = n;
        s->cap = bytes;
        s->max_bufs = max_bufs;
    }
    return s;
}

void rules_xform_scratch_free(struct rules_xform_scratch *s)
{
    if (!s)
        return;
    free(s->x);
    free(s->data);
    free(s->bufs);
    free(s);
}

uint64_t rules_xform_dropped(const struct rules_xform_scratch *s)
{
    return s ? s->dropped : 0;
}

const struct rule_buf *rules_xform_expand(struct rules_xform_scratch *s, const struct rule_buf *in,
                                          unsigned n, unsigned *n_out)
{
    *n_out = n;
    if (!s || !s->n_x || n == 0)
        return in;
    if (n >= s->max_bufs) {
        s->dropped++; /* no room for a derived buffer: the inputs are inspected as they are */
        return in;
    }
    unsigned k = n;
    memcpy(s->bufs, in, n * sizeof(*in));
    uint32_t used = 0;
    for (unsigned i = 0; i < n; i++) {
        for (unsigned j = 0; j < s->n_x; j++) {
            const struct rule_xform *x = &s->x[j];
            if (x->base != in[i].id)
                continue;
            uint32_t need = rules_xform_out_max(x, in[i].len);
            if (k == s->max_bufs || need > s->cap - used) {
                s->dropped++;
                continue;
            }
            uint8_t *o = s->data + used;
            uint32_t l = rules_xform_apply(x, in[i].data, in[i].len, o);
            used += need;
            s->bufs[k++] = (struct rule_buf){x->id, o, l};
        }
    }
    if (k == n)
        return in; /* nothing derived: keep the caller's array */
    *n_out = k;
    return s->bufs;
}
