/* HTTP/1.x parser (RFC 9112): request and status lines, folded and repeated headers, chunked and
 * content-length bodies, gzip/deflate response bodies, pipelined transactions.
 *
 * Each direction is a byte-at-a-time framing machine so a message may be split anywhere across
 * TCP chunks. A message's header block is kept raw in its transaction buffer (up to the header
 * limit) and turned into sticky buffers once complete; body bytes are kept up to the inspection
 * depth and only framed after it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "applayer_priv.h"

/* ---- inflate streams from a per-worker pool ----
 * zlib allocates its state (about 7 KiB) and window (32 KiB) through zalloc; both come from a
 * fixed slab per stream so nothing reaches malloc while parsing. */

#define INFLATE_SLAB (56 * 1024)

struct al_inflate {
    void *next_free; /* pool link */
    z_stream zs;
    uint32_t used;
    uint8_t produced; /* any output yet */
    uint8_t slab[INFLATE_SLAB];
};

static voidpf slab_alloc(voidpf opaque, uInt items, uInt size)
{
    struct al_inflate *z = opaque;
    size_t n = (size_t)items * size;
    n = (n + 15) & ~(size_t)15;
    if (n > INFLATE_SLAB - z->used)
        return Z_NULL;
    void *p = z->slab + z->used;
    z->used += (uint32_t)n;
    return p;
}

static void slab_free(voidpf opaque, voidpf addr)
{
    (void)opaque;
    (void)addr; /* the whole slab goes back at once */
}

bool al_inflate_pool_init(struct applayer_ctx *ctx)
{
    return al_pool_init(&ctx->inflates, sizeof(struct al_inflate), ctx->cfg.max_inflate) == 0;
}

static struct al_inflate *inflate_get(struct applayer_ctx *ctx, int window_bits)
{
    struct al_inflate *z = al_pool_get(&ctx->inflates);
    if (!z)
        return NULL;
    memset(&z->zs, 0, sizeof(z->zs));
    z->used = 0;
    z->produced = 0;
    z->zs.zalloc = slab_alloc;
    z->zs.zfree = slab_free;
    z->zs.opaque = z;
    if (inflateInit2(&z->zs, window_bits) != Z_OK) {
        al_pool_put(&ctx->inflates, z);
        return NULL;
    }
    return z;
}

static void inflate_put(struct applayer_ctx *ctx, struct al_inflate *z)
{
    if (!z)
        return;
    inflateEnd(&z->zs);
    al_pool_put(&ctx->inflates, z);
}

/* ---- small helpers ---- */

static inline struct http_msg *msg_of(struct al_buf *b)
{
    return (struct http_msg *)b->data;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static void trim(const uint8_t *base, uint32_t *off, uint32_t *len)
{
    while (*len && is_ws(base[*off])) {
        (*off)++;
        (*len)--;
    }
    while (*len && (is_ws(base[*off + *len - 1]) || base[*off + *len - 1] == '\r'))
        (*len)--;
}

static bool span_eq_ci(const uint8_t *p, uint32_t len, const char *s)
{
    size_t n = strlen(s);
    return len == n && strncasecmp((const char *)p, s, n) == 0;
}

static bool span_has_ci(const uint8_t *p, uint32_t len, const char *s)
{
    size_t n = strlen(s);
    for (uint32_t i = 0; i + n <= len; i++)
        if (strncasecmp((const char *)p + i, s, n) == 0)
            return true;
    return false;
}

static void msg_init(struct al_buf *b)
{
    struct http_msg *m = msg_of(b);
    memset(m, 0, sizeof(*m));
    for (int i = 0; i < HF_MAX; i++)
        m->f[i].len = AL_ABSENT;
    m->body.len = AL_ABSENT;
    b->len = (uint32_t)((sizeof(*m) + 7) & ~(size_t)7);
}

/* ---- URI normalisation ---- */

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes (invalid escapes kept as they are); backslashes become slashes in paths as
 * Windows servers read them (libhtp's IDS personality does the same). */
static uint32_t pct_decode(const uint8_t *in, uint32_t len, uint8_t *out, bool path)
{
    uint32_t o = 0;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        if (c == '%' && i + 2 < len) {
            int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
            if (h >= 0 && l >= 0) {
                c = (uint8_t)(h << 4 | l);
                i += 2;
            }
        }
        if (path && c == '\\')
            c = '/';
        out[o++] = c;
    }
    return o;
}

/* RFC 3986 5.2.4 remove_dot_segments, in place on a decoded path. */
static uint32_t remove_dots(uint8_t *p, uint32_t n)
{
    uint32_t i = 0, o = 0;
#define AT(s) (n - i >= sizeof(s) - 1 && memcmp(p + i, s, sizeof(s) - 1) == 0)
    while (i < n) {
        if (AT("../")) {
            i += 3;
        } else if (AT("./")) {
            i += 2;
        } else if (AT("/./")) {
            i += 2;
        } else if (n - i == 2 && AT("/.")) {
            p[o++] = '/';
            break;
        } else if (AT("/../") || (n - i == 3 && AT("/.."))) {
            bool end = n - i == 3;
            i += 3;
            while (o > 0 && p[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the segment's leading slash */
            if (end) {
                p[o++] = '/';
                break;
            }
        } else if ((n - i == 1 && p[i] == '.') || (n - i == 2 && AT(".."))) {
            break;
        } else {
            uint32_t j = i;
            if (p[j] == '/')
                j++;
            while (j < n && p[j] != '/')
                j++;
            /* o <= i always holds, so moving forward in place is safe */
            memmove(p + o, p + i, j - i);
            o += j - i;
            i = j;
        }
    }
#undef AT
    return o;
}

uint32_t http_normalize_uri(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap)
{
    if (cap < len)
        len = cap; /* decoding never grows the string */
    uint32_t o = 0, start = 0;
    /* absolute-form (RFC 9112 3.2.2): keep scheme and authority as sent */
    for (uint32_t i = 0; i + 2 < len && i < 16; i++) {
        if (in[i] == ':' && in[i + 1] == '/' && in[i + 2] == '/') {
            uint32_t j = i + 3;
            while (j < len && in[j] != '/' && in[j] != '?')
                j++;
            memcpy(out, in, j);
            o = start = j;
            break;
        }
        if (in[i] == '/' || in[i] == '?')
            break;
    }
    uint32_t q = start;
    while (q < len && in[q] != '?')
        q++;
    uint32_t pl = pct_decode(in + start, q - start, out + o, true);
    o += remove_dots(out + o, pl);
    o += pct_decode(in + q, len - q, out + o, false);
    return o;
}

/* ---- header block to sticky buffers ---- */

struct hdr_ent {
    uint32_t name_off, name_len;
    uint32_t vskip; /* bytes from the line start to the value (name, spaces, colon) */
    uint32_t line;  /* index of its first line */
    uint32_t ncont; /* continuation lines folded into it */
    uint8_t merged; /* already written as part of an earlier header of the same name */
};

#define MAX_LINES 256

struct hdr_parse {
    uint32_t line_off[MAX_LINES], line_len[MAX_LINES];
    uint32_t nlines;
    struct hdr_ent h[HTTP_MAX_HEADERS];
    uint32_t nh;
};

struct hdr_parse *http_scratch_new(void)
{
    return calloc(1, sizeof(struct hdr_parse));
}

static uint32_t write_value(struct al_buf *b, const struct hdr_parse *hp, const struct hdr_ent *e,
                            const uint8_t *base)
{
    uint32_t written = 0;
    for (uint32_t k = 0; k <= e->ncont; k++) {
        uint32_t lo = hp->line_off[e->line + k], ll = hp->line_len[e->line + k];
        if (k == 0) {
            /* the first line holds "name:" */
            uint32_t skip = e->vskip;
            lo += skip;
            ll = ll > skip ? ll - skip : 0;
        }
        trim(base, &lo, &ll);
        if (k > 0 && written) {
            if (al_buf_append(b, " ", 1) == AL_ABSENT)
                return written;
            written++;
        }
        if (al_buf_append(b, base + lo, ll) == AL_ABSENT)
            return written;
        written += ll;
    }
    return written;
}

static int field_of_name(const uint8_t *n, uint32_t len)
{
    static const struct {
        const char *name;
        int field;
    } known[] = {
        {"host", HF_HOST_RAW},           {"user-agent", HF_USER_AGENT},
        {"referer", HF_REFERER},         {"accept", HF_ACCEPT},
        {"accept-language", HF_ACCEPT_LANG}, {"accept-encoding", HF_ACCEPT_ENC},
        {"content-type", HF_CONTENT_TYPE}, {"content-length", HF_CONTENT_LEN},
        {"connection", HF_CONNECTION},   {"server", HF_SERVER},
        {"location", HF_LOCATION},       {"transfer-encoding", HF_TRANSFER_ENC},
        {"content-encoding", HF_CONTENT_ENC},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (span_eq_ci(n, len, known[i].name))
            return known[i].field;
    return -1;
}

/* Splits the raw header block into lines and headers; folded lines (obs-fold, RFC 9112 5.2) join
 * the header above them. */
static void split_headers(struct applayer_ctx *ctx, const uint8_t *base, uint32_t off, uint32_t len,
                          struct hdr_parse *hp)
{
    hp->nlines = 0;
    hp->nh = 0;
    uint32_t i = off, end = off + len;
    bool warned = false;
    while (i < end) {
        uint32_t s = i;
        while (i < end && base[i] != '\n')
            i++;
        uint32_t l = i - s;
        if (i < end)
            i++; /* LF */
        if (l && base[s + l - 1] == '\r')
            l--;
        if (l == 0) {
            if (hp->nlines > 0)
                break; /* end of headers */
            continue;
        }
        if (hp->nlines == MAX_LINES) {
            if (!warned)
                al_anomaly(ctx, APPL_HTTP_TOO_MANY_HEADERS);
            warned = true;
            break;
        }
        hp->line_off[hp->nlines] = s;
        hp->line_len[hp->nlines] = l;
        uint32_t li = hp->nlines++;
        if (li == 0)
            continue; /* request/status line */
        if (is_ws(base[s])) {
            if (hp->nh > 0 && hp->h[hp->nh - 1].line + hp->h[hp->nh - 1].ncont + 1 == li)
                hp->h[hp->nh - 1].ncont++;
            continue;
        }
        uint32_t c = 0;
        while (c < l && base[s + c] != ':')
            c++;
        if (c == l || c == 0)
            continue; /* not a header: libhtp flags it and moves on */
        uint32_t nl = c;
        while (nl && is_ws(base[s + nl - 1]))
            nl--;
        if (hp->nh == HTTP_MAX_HEADERS) {
            if (!warned)
                al_anomaly(ctx, APPL_HTTP_TOO_MANY_HEADERS);
            warned = true;
            continue;
        }
        struct hdr_ent *e = &hp->h[hp->nh++];
        e->name_off = s;
        e->name_len = nl;
        e->vskip = c + 1; /* the value starts after the colon */
        e->line = li;
        e->ncont = 0;
        e->merged = 0;
    }
}

static void set_span(struct http_msg *m, int f, uint32_t off, uint32_t len)
{
    m->f[f].off = off;
    m->f[f].len = len;
}

/* Builds http.header, http.header_names, cookie and the known-header spans. */
static void build_header_buffers(struct al_buf *b, struct hdr_parse *hp, bool request)
{
    struct http_msg *m = msg_of(b);
    const uint8_t *base = b->data;
    const char *cookie = request ? "cookie" : "set-cookie";

    /* http.header: one "Name: v1, v2\r\n" per distinct name (repeats merged as libhtp does) */
    uint32_t hstart = b->len;
    for (uint32_t j = 0; j < hp->nh; j++) {
        struct hdr_ent *e = &hp->h[j];
        if (e->merged)
            continue;
        const uint8_t *name = base + e->name_off;
        bool is_cookie = span_eq_ci(name, e->name_len, cookie);
        if (is_cookie)
            continue;
        if (al_buf_append(b, name, e->name_len) == AL_ABSENT || al_buf_append(b, ": ", 2) == AL_ABSENT)
            break;
        uint32_t voff = b->len;
        uint32_t vlen = write_value(b, hp, e, base);
        for (uint32_t k = j + 1; k < hp->nh; k++) {
            struct hdr_ent *e2 = &hp->h[k];
            if (e2->name_len == e->name_len &&
                strncasecmp((const char *)base + e2->name_off, (const char *)name, e->name_len) == 0) {
                e2->merged = 1;
                if (al_buf_append(b, ", ", 2) == AL_ABSENT)
                    break;
                vlen += 2 + write_value(b, hp, e2, base);
            }
        }
        int fld = field_of_name(name, e->name_len);
        if (fld >= 0)
            set_span(m, fld, voff, vlen);
        if (al_buf_append(b, "\r\n", 2) == AL_ABSENT)
            break;
    }
    al_buf_append(b, "\r\n", 2);
    set_span(m, HF_HEADER, hstart, b->len - hstart);

    /* cookie value(s) */
    for (uint32_t j = 0; j < hp->nh; j++)
        hp->h[j].merged = 0;
    uint32_t cstart = b->len, clen = 0;
    bool have_cookie = false;
    for (uint32_t j = 0; j < hp->nh; j++) {
        struct hdr_ent *e = &hp->h[j];
        if (!span_eq_ci(base + e->name_off, e->name_len, cookie))
            continue;
        if (have_cookie) {
            if (al_buf_append(b, "; ", 2) == AL_ABSENT)
                break;
            clen += 2;
        }
        clen += write_value(b, hp, e, base);
        have_cookie = true;
    }
    if (have_cookie)
        set_span(m, HF_COOKIE, cstart, clen);

    /* http.header_names: "\r\n" + "Name\r\n" per header + "\r\n" */
    uint32_t nstart = b->len;
    al_buf_append(b, "\r\n", 2);
    for (uint32_t j = 0; j < hp->nh; j++) {
        bool repeat = false; /* repeated names were merged into one header, as libhtp does */
        for (uint32_t k = 0; k < j && !repeat; k++)
            repeat = hp->h[k].name_len == hp->h[j].name_len &&
                     strncasecmp((const char *)base + hp->h[k].name_off,
                                 (const char *)base + hp->h[j].name_off, hp->h[j].name_len) == 0;
        if (repeat)
            continue;
        if (al_buf_append(b, base + hp->h[j].name_off, hp->h[j].name_len) == AL_ABSENT ||
            al_buf_append(b, "\r\n", 2) == AL_ABSENT)
            break;
    }
    al_buf_append(b, "\r\n", 2);
    set_span(m, HF_HEADER_NAMES, nstart, b->len - nstart);

    /* http.host: lower-cased, port removed (libhtp's normalised hostname) */
    if (m->f[HF_HOST_RAW].len != AL_ABSENT) {
        uint32_t ho = m->f[HF_HOST_RAW].off, hl = m->f[HF_HOST_RAW].len;
        const uint8_t *h = base + ho;
        uint32_t n = hl;
        if (n && h[0] == '[') {
            uint32_t k = 0;
            while (k < n && h[k] != ']')
                k++;
            if (k < n)
                n = k + 1;
        } else {
            for (uint32_t k = 0; k < n; k++)
                if (h[k] == ':') {
                    n = k;
                    break;
                }
        }
        uint32_t off = b->len;
        if (n <= b->cap - b->len) {
            for (uint32_t k = 0; k < n; k++) {
                uint8_t c = base[ho + k];
                b->data[b->len++] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
            }
            set_span(m, HF_HOST, off, n);
        }
    }
}

/* Parses a complete header block: first line and headers. */
static void finish_headers(struct applayer_ctx *ctx, struct al_buf *b, bool request,
                           uint32_t hdr_off)
{
    struct http_msg *m = msg_of(b);
    struct hdr_parse *hp = ctx->hp; /* 3 KiB: the worker's scratch, not the stack */
    split_headers(ctx, b->data, hdr_off, m->hdr_len, hp);
    if (hp->nlines == 0)
        return;
    const uint8_t *base = b->data;
    uint32_t lo = hp->line_off[0], ll = hp->line_len[0];
    set_span(m, HF_START, hdr_off, m->hdr_len);
    uint32_t after_first = lo + ll;
    while (after_first < hdr_off + m->hdr_len && base[after_first] != '\n')
        after_first++;
    if (after_first < hdr_off + m->hdr_len)
        after_first++;
    set_span(m, HF_HEADER_RAW, after_first, hdr_off + m->hdr_len - after_first);

    /* split the first line on spaces: three parts (the third may hold spaces: reason phrase) */
    uint32_t p1o = lo, p1l = 0;
    while (p1l < ll && !is_ws(base[lo + p1l]))
        p1l++;
    uint32_t k = p1l;
    while (k < ll && is_ws(base[lo + k]))
        k++;
    uint32_t p2o = lo + k, p2l = 0;
    while (k < ll && !is_ws(base[lo + k])) {
        k++;
        p2l++;
    }
    while (k < ll && is_ws(base[lo + k]))
        k++;
    uint32_t p3o = lo + k, p3l = ll - k;
    trim(base, &p3o, &p3l);

    if (request) {
        set_span(m, HF_REQUEST_LINE, lo, ll);
        set_span(m, HF_METHOD, p1o, p1l);
        if (p1l == 0 || p2l == 0)
            al_anomaly(ctx, APPL_HTTP_BAD_REQUEST_LINE);
        if (p2l) {
            set_span(m, HF_URI_RAW, p2o, p2l);
            uint32_t off = b->len;
            if (p2l <= b->cap - b->len) {
                uint32_t n = http_normalize_uri(base + p2o, p2l, b->data + off, p2l);
                b->len += n;
                set_span(m, HF_URI, off, n);
            }
        }
        if (p3l)
            set_span(m, HF_PROTOCOL, p3o, p3l);
    } else {
        set_span(m, HF_RESPONSE_LINE, lo, ll);
        set_span(m, HF_PROTOCOL, p1o, p1l);
        bool ok = p2l == 3;
        uint16_t code = 0;
        for (uint32_t i = 0; i < p2l && ok; i++) {
            uint8_t c = base[p2o + i];
            ok = c >= '0' && c <= '9';
            code = (uint16_t)(code * 10 + (c - '0'));
        }
        if (!ok || !span_has_ci(base + p1o, p1l, "HTTP/"))
            al_anomaly(ctx, APPL_HTTP_BAD_STATUS_LINE);
        if (p2l)
            set_span(m, HF_STAT_CODE, p2o, p2l);
        if (ok)
            m->stat_code = code;
        set_span(m, HF_STAT_MSG, p3o, p3l);
    }
    build_header_buffers(b, hp, request);
    m->n_headers = hp->nh;
    if (request && p2l > 7) {
        /* absolute-form target (proxies): its authority is the host, before the Host header,
         * as libhtp takes it (RFC 9112 3.2.2) */
        const uint8_t *u = base + p2o;
        uint32_t sc = 0;
        while (sc < p2l && sc < 8 && u[sc] != ':')
            sc++;
        if (sc + 3 <= p2l && u[sc] == ':' && u[sc + 1] == '/' && u[sc + 2] == '/') {
            uint32_t hs = sc + 3, he = hs;
            while (he < p2l && u[he] != '/' && u[he] != '?' && u[he] != '#')
                he++;
            for (uint32_t at = hs; at < he; at++)
                if (u[at] == '@')
                    hs = at + 1; /* userinfo */
            uint32_t hn = he;
            if (hs < he && u[hs] == '[') {
                while (hn > hs && u[hn - 1] != ']')
                    hn--;
            } else {
                for (uint32_t c = hs; c < he; c++)
                    if (u[c] == ':') {
                        hn = c;
                        break;
                    }
            }
            if (hn > hs && hn - hs <= b->cap - b->len) {
                uint32_t off = b->len;
                for (uint32_t c = hs; c < hn; c++) {
                    uint8_t ch = base[p2o + c];
                    b->data[b->len++] = (ch >= 'A' && ch <= 'Z') ? (uint8_t)(ch + 32) : ch;
                }
                set_span(m, HF_HOST, off, hn - hs);
            }
        }
    }
}

/* ---- transactions ---- */

static struct http_tx *tx_at(struct http_state *s, int slot)
{
    return slot >= 0 ? &s->tx[slot] : NULL;
}

static void report(struct applayer_ctx *ctx, struct flow *f, struct http_tx *tx, enum flow_dir dir)
{
    if (tx->reported[dir])
        return;
    tx->reported[dir] = 1;
    tx->ts[dir] = ctx->cur_ts;
    struct applayer_tx t = {
        .proto = APP_PROTO_HTTP, .id = tx->id, .ts = ctx->cur_ts, .http = tx,
        /* both sides handed over, or the flow is ending and nothing more will come */
        .final = (tx->reported[0] && tx->reported[1]) || ctx->ending,
    };
    al_hand_tx(ctx, f, &t, dir);
    if (tx->reported[0] && tx->reported[1] && !tx->logged) {
        tx->logged = 1;
        t.final = true;
        al_log_tx(ctx, f, &t);
    }
}

static void tx_free(struct applayer_ctx *ctx, struct http_tx *tx)
{
    al_buf_put(ctx, tx->req);
    al_buf_put(ctx, tx->resp);
    memset(tx, 0, sizeof(*tx));
}

/* Retires finished transactions from the head of the ring. */
static void retire(struct applayer_ctx *ctx, struct http_state *s)
{
    uint32_t cap = ctx->cfg.http_max_tx;
    while (s->count > 0) {
        struct http_tx *tx = &s->tx[s->head];
        if (!(tx->side_done[0] && tx->side_done[1] && tx->reported[0] && tx->reported[1]))
            break;
        tx_free(ctx, tx);
        s->head = (s->head + 1) % cap;
        s->count--;
        if (s->resp_next > 0)
            s->resp_next--;
    }
}

static int tx_new(struct applayer_ctx *ctx, struct http_state *s)
{
    uint32_t cap = ctx->cfg.http_max_tx;
    if (s->count >= cap) {
        al_anomaly(ctx, APPL_HTTP_TOO_MANY_TX);
        return -1;
    }
    int slot = (int)((s->head + s->count) % cap);
    s->count++;
    struct http_tx *tx = &s->tx[slot];
    memset(tx, 0, sizeof(*tx));
    tx->used = 1;
    tx->id = s->next_id++;
    ctx->stats.tx_opened[APP_PROTO_HTTP]++;
    return slot;
}

/* Starts a message in direction dir; returns its buffer or NULL (direction stops). */
static struct al_buf *msg_start(struct applayer_ctx *ctx, struct http_state *s, enum flow_dir dir)
{
    struct http_dir *d = &s->dir[dir];
    int slot;
    if (dir == FLOW_TO_SERVER) {
        slot = tx_new(ctx, s);
    } else if (s->resp_next < s->count) {
        slot = (int)((s->head + s->resp_next) % ctx->cfg.http_max_tx);
        s->resp_next++;
    } else {
        /* a response with no request seen (capture started mid-flow) */
        slot = tx_new(ctx, s);
        if (slot >= 0) {
            s->tx[slot].side_done[0] = s->tx[slot].reported[0] = 1;
            s->resp_next++;
        }
    }
    if (slot < 0)
        return NULL;
    struct http_tx *tx = &s->tx[slot];
    struct al_buf **bp = dir == FLOW_TO_SERVER ? &tx->req : &tx->resp;
    if (!*bp)
        *bp = al_buf_get(ctx);
    if (!*bp) {
        /* keep the pairing right: the side exists but is not inspected */
        tx->side_seen[dir] = tx->side_done[dir] = tx->reported[dir] = 1;
        return NULL;
    }
    msg_init(*bp);
    tx->side_seen[dir] = 1;
    d->cur = (int16_t)slot;
    d->nl = 1;
    return *bp;
}

static struct al_buf *cur_buf(struct http_state *s, enum flow_dir dir)
{
    struct http_tx *tx = tx_at(s, s->dir[dir].cur);
    if (!tx)
        return NULL;
    return dir == FLOW_TO_SERVER ? tx->req : tx->resp;
}

static void side_complete(struct applayer_ctx *ctx, struct flow *f, struct http_state *s,
                          enum flow_dir dir)
{
    struct http_dir *d = &s->dir[dir];
    struct http_tx *tx = tx_at(s, d->cur);
    inflate_put(ctx, d->inflate);
    d->inflate = NULL;
    d->inflate_failed = 0;
    d->phase = HP_HEADERS;
    d->cur = -1;
    d->nl = 1;
    if (tx) {
        tx->side_done[dir] = 1;
        report(ctx, f, tx, dir);
    }
    retire(ctx, s);
}

/* Keeps body bytes up to the inspection depth, decoding gzip/deflate responses. */
static void body_data(struct applayer_ctx *ctx, struct flow *f, struct http_state *s,
                      enum flow_dir dir, const uint8_t *p, uint32_t n)
{
    struct http_dir *d = &s->dir[dir];
    struct al_buf *b = cur_buf(s, dir);
    struct http_tx *tx = tx_at(s, d->cur);
    if (!b || !tx || n == 0)
        return;
    struct http_msg *m = msg_of(b);
    uint32_t limit = dir == FLOW_TO_SERVER ? ctx->cfg.http_request_body_limit
                                           : ctx->cfg.http_response_body_limit;
    if (m->body.len == AL_ABSENT) {
        m->body.off = b->len;
        m->body.len = 0;
    }
    if (m->body_truncated)
        return;
    uint32_t room = limit - m->body.len;
    if (room > b->cap - b->len)
        room = b->cap - b->len;

    if (d->inflate && !d->inflate_failed) {
        z_stream *zs = &d->inflate->zs;
        zs->next_in = (Bytef *)p;
        zs->avail_in = n;
        while (zs->avail_in > 0 && room > 0) {
            zs->next_out = b->data + b->len;
            zs->avail_out = room;
            int r = inflate(zs, Z_NO_FLUSH);
            uint32_t got = room - zs->avail_out;
            b->len += got;
            m->body.len += got;
            room -= got;
            if (got)
                d->inflate->produced = 1;
            if (r == Z_STREAM_END)
                break;
            if (r != Z_OK && r != Z_BUF_ERROR) {
                if (!d->inflate->produced) {
                    /* declared compressed but is not: keep the bytes as sent */
                    d->inflate_failed = 1;
                    uint32_t k = n < room ? n : room;
                    memcpy(b->data + b->len, p, k);
                    b->len += k;
                    m->body.len += k;
                    room -= k;
                } else {
                    al_anomaly(ctx, APPL_HTTP_DECOMPRESS_ERROR);
                    d->inflate_failed = 1;
                }
                break;
            }
            if (r == Z_BUF_ERROR && zs->avail_out != 0)
                break;
        }
    } else {
        uint32_t k = n < room ? n : room;
        memcpy(b->data + b->len, p, k);
        b->len += k;
        m->body.len += k;
        room -= k;
    }
    if (room == 0) {
        /* inspection depth reached: hand the side over now; the rest is only framed */
        m->body_truncated = 1;
        al_anomaly(ctx, APPL_HTTP_BODY_TRUNCATED);
        inflate_put(ctx, d->inflate);
        d->inflate = NULL;
        report(ctx, f, tx, dir);
    }
}

static uint64_t parse_content_length(struct applayer_ctx *ctx, const uint8_t *p, uint32_t len,
                                     bool *ok)
{
    uint64_t v = 0;
    while (len && (is_ws(p[len - 1]) || p[len - 1] == '\r'))
        len--; /* an empty folded line leaves a trailing space */
    *ok = len > 0;
    for (uint32_t i = 0; i < len && *ok; i++) {
        if (p[i] == ',' ) /* "5, 5": repeated identical values merged by us */
            break;
        if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX / 10 - 10))
            *ok = false;
        else
            v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (!*ok)
        al_anomaly(ctx, APPL_HTTP_BAD_CONTENT_LENGTH);
    return v;
}

/* Headers done: parse them and choose the body framing (RFC 9112 6.3). */
static void headers_done(struct applayer_ctx *ctx, struct flow *f, struct http_state *s,
                         enum flow_dir dir, uint32_t hdr_off)
{
    struct http_dir *d = &s->dir[dir];
    struct al_buf *b = cur_buf(s, dir);
    struct http_tx *tx = tx_at(s, d->cur);
    bool request = dir == FLOW_TO_SERVER;
    finish_headers(ctx, b, request, hdr_off);
    struct http_msg *m = msg_of(b);
    const uint8_t *base = b->data;

    if (request) {
        if (m->f[HF_METHOD].len != AL_ABSENT) {
            const uint8_t *meth = base + m->f[HF_METHOD].off;
            tx->is_head = span_eq_ci(meth, m->f[HF_METHOD].len, "HEAD");
            tx->is_connect = span_eq_ci(meth, m->f[HF_METHOD].len, "CONNECT");
        }
    } else {
        uint16_t code = m->stat_code;
        if (code >= 100 && code < 200 && code != 101) {
            /* interim response (100 Continue): the final one follows for the same request */
            msg_init(b);
            d->nl = 1;
            return;
        }
        if (code == 101 || (tx->is_connect && code >= 200 && code < 300)) {
            /* protocol switch or tunnel: what follows is not HTTP/1 */
            side_complete(ctx, f, s, dir);
            s->dir[0].phase = s->dir[1].phase = HP_STOP;
            return;
        }
        if (tx->is_head || code == 204 || code == 304) {
            side_complete(ctx, f, s, dir);
            return;
        }
    }

    bool chunked = m->f[HF_TRANSFER_ENC].len != AL_ABSENT &&
                   span_has_ci(base + m->f[HF_TRANSFER_ENC].off, m->f[HF_TRANSFER_ENC].len, "chunked");
    if (!request && m->f[HF_CONTENT_ENC].len != AL_ABSENT && !d->inflate) {
        const uint8_t *ce = base + m->f[HF_CONTENT_ENC].off;
        uint32_t cel = m->f[HF_CONTENT_ENC].len;
        int wbits = 0;
        if (span_has_ci(ce, cel, "gzip"))
            wbits = 15 + 32; /* zlib or gzip header, detected */
        else if (span_has_ci(ce, cel, "deflate"))
            wbits = 15 + 32;
        if (wbits) {
            d->inflate = inflate_get(ctx, wbits);
            if (!d->inflate)
                al_anomaly(ctx, APPL_HTTP_NO_INFLATE_STATE);
        }
    }
    if (chunked) {
        d->phase = HP_CHUNK_SIZE;
        d->chunk_size = 0;
        d->chunk_digits = 0;
        return;
    }
    if (m->f[HF_CONTENT_LEN].len != AL_ABSENT) {
        bool ok;
        uint64_t cl = parse_content_length(ctx, base + m->f[HF_CONTENT_LEN].off,
                                           m->f[HF_CONTENT_LEN].len, &ok);
        if (ok && cl > 0) {
            d->phase = HP_BODY_CL;
            d->remaining = cl;
            return;
        }
        if (ok || request) {
            side_complete(ctx, f, s, dir);
            return;
        }
    }
    if (request) {
        side_complete(ctx, f, s, dir);
        return;
    }
    d->phase = HP_BODY_CLOSE; /* RFC 9112 6.3 item 8: body until the connection closes */
}

void http_state_init(struct http_state *s)
{
    memset(s, 0, sizeof(*s));
    s->dir[0].cur = s->dir[1].cur = -1;
    s->dir[0].nl = s->dir[1].nl = 1;
}

void http_parse(struct applayer_ctx *ctx, struct flow *f, struct http_state *s, enum flow_dir dir,
                const uint8_t *data, uint32_t len)
{
    struct http_dir *d = &s->dir[dir];
    uint32_t i = 0;
    while (i < len) {
        switch ((enum http_phase)d->phase) {
        case HP_HEADERS: {
            struct al_buf *b = cur_buf(s, dir);
            if (!b) {
                /* between messages: skip blank lines (RFC 9112 2.2) */
                while (i < len && (data[i] == '\r' || data[i] == '\n'))
                    i++;
                if (i == len)
                    return;
                b = msg_start(ctx, s, dir);
                if (!b) {
                    d->phase = HP_STOP;
                    return;
                }
            }
            struct http_msg *m = msg_of(b);
            uint32_t hdr_off = (uint32_t)((sizeof(*m) + 7) & ~(size_t)7);
            uint32_t limit = ctx->cfg.http_header_limit;
            uint32_t st = i;
            bool end = false;
            for (; i < len; i++) {
                uint8_t c = data[i];
                if (c == '\n') {
                    if (d->nl && (i > st || m->hdr_len > 0 || m->hdr_overflow)) {
                        i++;
                        end = true;
                        break;
                    }
                    d->nl = 1;
                } else if (c != '\r') {
                    d->nl = 0;
                }
            }
            uint32_t n = i - st;
            uint32_t keep = m->hdr_len < limit ? limit - m->hdr_len : 0;
            if (keep > n)
                keep = n;
            if (keep) {
                memcpy(b->data + hdr_off + m->hdr_len, data + st, keep);
                m->hdr_len += keep;
            }
            if (keep < n && !m->hdr_overflow) {
                m->hdr_overflow = 1;
                al_anomaly(ctx, APPL_HTTP_LINE_TOO_LONG);
            }
            b->len = hdr_off + m->hdr_len;
            if (end)
                headers_done(ctx, f, s, dir, hdr_off);
            break;
        }
        case HP_BODY_CL: {
            uint32_t n = len - i;
            if (n > d->remaining)
                n = (uint32_t)d->remaining;
            body_data(ctx, f, s, dir, data + i, n);
            i += n;
            d->remaining -= n;
            if (d->remaining == 0)
                side_complete(ctx, f, s, dir);
            break;
        }
        case HP_CHUNK_SIZE: {
            uint8_t c = data[i];
            int h = hexval(c);
            if (h >= 0) {
                if (d->chunk_digits >= 15) {
                    al_anomaly(ctx, APPL_HTTP_BAD_CHUNK);
                    d->phase = HP_STOP;
                    return;
                }
                d->chunk_size = d->chunk_size << 4 | (uint64_t)h;
                d->chunk_digits++;
                i++;
                break;
            }
            if (d->chunk_digits == 0 && (c == '\r' || c == '\n' || is_ws(c))) {
                i++; /* stray blank line or padding before the size */
                break;
            }
            if (d->chunk_digits == 0) {
                al_anomaly(ctx, APPL_HTTP_BAD_CHUNK);
                d->phase = HP_STOP;
                return;
            }
            d->phase = HP_CHUNK_EXT;
            break;
        }
        case HP_CHUNK_EXT: {
            const uint8_t *nlp = memchr(data + i, '\n', len - i);
            if (!nlp) {
                i = len;
                break;
            }
            i = (uint32_t)(nlp - data) + 1;
            if (d->chunk_size == 0) {
                d->phase = HP_CHUNK_TRAILER;
                d->trailer_nl = 1;
            } else {
                d->phase = HP_CHUNK_DATA;
                d->remaining = d->chunk_size;
            }
            d->chunk_size = 0;
            d->chunk_digits = 0;
            break;
        }
        case HP_CHUNK_DATA: {
            uint32_t n = len - i;
            if (n > d->remaining)
                n = (uint32_t)d->remaining;
            body_data(ctx, f, s, dir, data + i, n);
            i += n;
            d->remaining -= n;
            if (d->remaining == 0)
                d->phase = HP_CHUNK_DATA_END;
            break;
        }
        case HP_CHUNK_DATA_END:
            if (data[i] == '\r') {
                i++;
            } else if (data[i] == '\n') {
                i++;
                d->phase = HP_CHUNK_SIZE;
            } else {
                d->phase = HP_CHUNK_SIZE; /* missing CRLF: be lenient as servers are */
            }
            break;
        case HP_CHUNK_TRAILER: {
            uint8_t c = data[i++];
            if (c == '\n') {
                if (d->trailer_nl) {
                    side_complete(ctx, f, s, dir);
                    break;
                }
                d->trailer_nl = 1;
            } else if (c != '\r') {
                d->trailer_nl = 0;
            }
            break;
        }
        case HP_BODY_CLOSE:
            body_data(ctx, f, s, dir, data + i, len - i);
            i = len;
            break;
        case HP_STOP:
        default:
            return;
        }
    }
}

void http_state_end(struct applayer_ctx *ctx, struct flow *f, struct http_state *s)
{
    uint32_t cap = ctx->cfg.http_max_tx;
    for (int dir = 0; dir < 2; dir++) {
        inflate_put(ctx, s->dir[dir].inflate);
        s->dir[dir].inflate = NULL;
    }
    /* hand over what is still open (a response ended by the close, an unanswered request) */
    for (uint32_t k = 0; k < s->count; k++) {
        struct http_tx *tx = &s->tx[(s->head + k) % cap];
        for (int dir = 0; dir < 2; dir++)
            if (tx->side_seen[dir] && !tx->reported[dir])
                report(ctx, f, tx, (enum flow_dir)dir);
        if ((tx->side_seen[0] || tx->side_seen[1]) && !tx->logged) {
            /* a request never answered is still logged, as Suricata does at flow end */
            tx->logged = 1;
            struct applayer_tx t = {.proto = APP_PROTO_HTTP, .final = true, .id = tx->id,
                                    .ts = ctx->cur_ts, .http = tx};
            al_log_tx(ctx, f, &t);
        }
        tx_free(ctx, tx);
    }
    s->count = 0;
}

/* ---- buffer getters ---- */

static bool get_span(const struct al_buf *b, int field, const uint8_t **data, uint32_t *len)
{
    if (!b)
        return false;
    const struct http_msg *m = (const struct http_msg *)b->data;
    if (m->f[field].len == AL_ABSENT)
        return false;
    *data = b->data + m->f[field].off;
    *len = m->f[field].len;
    return true;
}

static bool get_body(const struct al_buf *b, const uint8_t **data, uint32_t *len)
{
    if (!b)
        return false;
    const struct http_msg *m = (const struct http_msg *)b->data;
    if (m->body.len == AL_ABSENT || m->body.len == 0)
        return false;
    *data = b->data + m->body.off;
    *len = m->body.len;
    return true;
}

bool http_tx_buffer(const struct http_tx *tx, enum app_buffer b, enum flow_dir dir,
                    const uint8_t **data, uint32_t *len)
{
    const struct al_buf *req = tx->req, *resp = tx->resp;
    const struct al_buf *side = dir == FLOW_TO_SERVER ? req : resp;
    switch (b) {
    case APP_BUF_HTTP_URI: return get_span(req, HF_URI, data, len);
    case APP_BUF_HTTP_URI_RAW: return get_span(req, HF_URI_RAW, data, len);
    case APP_BUF_HTTP_METHOD: return get_span(req, HF_METHOD, data, len);
    case APP_BUF_HTTP_PROTOCOL: return get_span(side, HF_PROTOCOL, data, len);
    case APP_BUF_HTTP_REQUEST_LINE: return get_span(req, HF_REQUEST_LINE, data, len);
    case APP_BUF_HTTP_HOST: return get_span(req, HF_HOST, data, len);
    case APP_BUF_HTTP_HOST_RAW: return get_span(req, HF_HOST_RAW, data, len);
    case APP_BUF_HTTP_USER_AGENT: return get_span(req, HF_USER_AGENT, data, len);
    case APP_BUF_HTTP_REQUEST_BODY: return get_body(req, data, len);
    case APP_BUF_HTTP_REFERER: return get_span(req, HF_REFERER, data, len);
    case APP_BUF_HTTP_ACCEPT: return get_span(req, HF_ACCEPT, data, len);
    case APP_BUF_HTTP_ACCEPT_LANG: return get_span(req, HF_ACCEPT_LANG, data, len);
    case APP_BUF_HTTP_ACCEPT_ENC: return get_span(req, HF_ACCEPT_ENC, data, len);
    case APP_BUF_HTTP_START: return get_span(side, HF_START, data, len);
    case APP_BUF_HTTP_HEADER: return get_span(side, HF_HEADER, data, len);
    case APP_BUF_HTTP_HEADER_RAW: return get_span(side, HF_HEADER_RAW, data, len);
    case APP_BUF_HTTP_HEADER_NAMES: return get_span(side, HF_HEADER_NAMES, data, len);
    case APP_BUF_HTTP_COOKIE: return get_span(side, HF_COOKIE, data, len);
    case APP_BUF_HTTP_CONTENT_TYPE: return get_span(side, HF_CONTENT_TYPE, data, len);
    case APP_BUF_HTTP_CONTENT_LEN: return get_span(side, HF_CONTENT_LEN, data, len);
    case APP_BUF_HTTP_CONNECTION: return get_span(side, HF_CONNECTION, data, len);
    case APP_BUF_FILE_DATA: return get_body(side, data, len);
    case APP_BUF_HTTP_STAT_CODE: return get_span(resp, HF_STAT_CODE, data, len);
    case APP_BUF_HTTP_STAT_MSG: return get_span(resp, HF_STAT_MSG, data, len);
    case APP_BUF_HTTP_RESPONSE_LINE: return get_span(resp, HF_RESPONSE_LINE, data, len);
    case APP_BUF_HTTP_RESPONSE_BODY: return get_body(resp, data, len);
    case APP_BUF_HTTP_SERVER: return get_span(resp, HF_SERVER, data, len);
    case APP_BUF_HTTP_LOCATION: return get_span(resp, HF_LOCATION, data, len);
    default: return false;
    }
}

bool http_tx_int(const struct http_tx *tx, enum app_int which, uint64_t *value)
{
    const uint8_t *p;
    uint32_t l;
    switch (which) {
    case APP_INT_URILEN:
        if (!get_span(tx->req, HF_URI, &p, &l))
            return false;
        *value = l;
        return true;
    case APP_INT_URILEN_RAW:
        if (!get_span(tx->req, HF_URI_RAW, &p, &l))
            return false;
        *value = l;
        return true;
    case APP_INT_HTTP_STAT_CODE:
        if (!tx->resp || msg_of((struct al_buf *)tx->resp)->stat_code == 0)
            return false;
        *value = ((const struct http_msg *)tx->resp->data)->stat_code;
        return true;
    default:
        return false;
    }
}
