/* JSON writer: see json_writer.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json_writer.h"

static const char hexd[] = "0123456789abcdef";

/* 1 for bytes that cannot be copied as they are: control characters, '"', '\\', non-ASCII */
static const uint8_t special[256] = {
    [0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1,
};

void json_writer_init(struct json_writer *w, char *buf, size_t cap)
{
    json_writer_init_at(w, buf, cap, 0);
}

void json_writer_init_at(struct json_writer *w, char *buf, size_t cap, size_t len)
{
    w->buf = buf;
    w->cap = cap;
    w->len = len;
    w->truncated = cap == 0 || len >= cap;
    w->need_comma = false;
    if (!w->truncated)
        buf[len] = '\0';
}

int json_writer_finish(const struct json_writer *w)
{
    return w->truncated ? -ENOSPC : 0;
}

/* Room for n more bytes plus the NUL? Marks the writer truncated when not. */
static inline bool room(struct json_writer *w, size_t n)
{
    if (w->truncated)
        return false;
    if (n >= w->cap - w->len) {
        w->truncated = true;
        return false;
    }
    return true;
}

static inline void put(struct json_writer *w, const char *s, size_t n)
{
    if (!room(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static inline void putc1(struct json_writer *w, char c)
{
    if (!room(w, 1))
        return;
    w->buf[w->len++] = c;
    w->buf[w->len] = '\0';
}

void jw_append_raw(struct json_writer *w, const char *s, size_t len)
{
    put(w, s, len);
}

static inline void sep(struct json_writer *w)
{
    if (w->need_comma)
        putc1(w, ',');
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one
 * (RFC 3629 section 4). s[0] >= 0x80. */
static size_t utf8_seq_len(const uint8_t *s, size_t avail)
{
    uint8_t c = s[0];
    if (c >= 0xc2 && c <= 0xdf) {
        if (avail >= 2 && (s[1] & 0xc0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (avail < 3 || (s[2] & 0xc0) != 0x80)
            return 0;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        else if (c == 0xed)
            hi = 0x9f; /* no UTF-16 surrogates */
        return (s[1] >= lo && s[1] <= hi) ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (avail < 4 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
        return (s[1] >= lo && s[1] <= hi) ? 4 : 0;
    }
    return 0; /* 0x80..0xc1 (continuation or overlong lead), 0xf5..0xff */
}

/* Escapes len bytes of s to out, which has room for 6 * len bytes; returns bytes written. */
static size_t escape_into(char *out, const uint8_t *s, size_t len)
{
    char *o = out;
    size_t i = 0;
    while (i < len) {
        /* copy the run of bytes that need nothing */
        size_t j = i;
        while (j < len && !special[s[j]])
            j++;
        if (j > i) {
            memcpy(o, s + i, j - i);
            o += j - i;
            i = j;
            if (i == len)
                break;
        }
        uint8_t c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_seq_len(s + i, len - i);
            if (n > 0) {
                memcpy(o, s + i, n);
                o += n;
                i += n;
                continue;
            }
            /* not UTF-8: the byte as a code point, as Suricata writes it */
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
            continue;
        } else {
            char e = 0;
            switch (c) {
            case '\b': e = 'b'; break;
            case '\f': e = 'f'; break;
            case '\n': e = 'n'; break;
            case '\r': e = 'r'; break;
            case '\t': e = 't'; break;
            default: break;
            }
            if (e) {
                *o++ = '\\';
                *o++ = e;
                i++;
                continue;
            }
        }
        *o++ = '\\';
        *o++ = 'u';
        *o++ = '0';
        *o++ = '0';
        *o++ = hexd[c >> 4];
        *o++ = hexd[c & 0xf];
        i++;
    }
    return (size_t)(o - out);
}

size_t jw_escape(char *out, size_t cap, const void *s, size_t len)
{
    /* small bounded pieces so no worst-case scratch is needed */
    const uint8_t *p = s;
    size_t total = 0;
    char tmp[6 * 64];
    while (len > 0) {
        size_t n = len < 64 ? len : 64;
        /* do not split a UTF-8 sequence across pieces */
        if (n < len) {
            size_t back = 0;
            while (back < 3 && n - back > 0 && (p[n - back] & 0xc0) == 0x80)
                back++;
            if (back < n && (p[n - back] & 0xc0) == 0xc0)
                n -= back;
        }
        size_t m = escape_into(tmp, p, n);
        if (total + m < cap)
            memcpy(out + total, tmp, m);
        else if (total < cap)
            memcpy(out + total, tmp, cap - total - 1);
        total += m;
        p += n;
        len -= n;
    }
    if (cap > 0)
        out[total < cap ? total : cap - 1] = '\0';
    return total;
}

static void put_escaped(struct json_writer *w, const uint8_t *s, size_t len)
{
    if (w->truncated)
        return;
    if (len <= (w->cap - w->len - 1) / 6) {
        /* worst case fits: escape straight into the buffer */
        w->len += escape_into(w->buf + w->len, s, len);
        w->buf[w->len] = '\0';
        return;
    }
    /* near the end: go through json_escape's pieces, which reports the full length */
    size_t avail = w->cap - w->len;
    size_t need = jw_escape(w->buf + w->len, avail, s, len);
    if (need >= avail) {
        w->truncated = true;
        w->buf[w->len] = '\0';
        return;
    }
    w->len += need;
}

static void str_value(struct json_writer *w, const void *s, size_t len)
{
    putc1(w, '"');
    put_escaped(w, s, len);
    putc1(w, '"');
}

void jw_open_object(struct json_writer *w)
{
    sep(w);
    putc1(w, '{');
    w->need_comma = false;
}

void jw_close_object(struct json_writer *w)
{
    putc1(w, '}');
    w->need_comma = true;
}

void jw_open_array(struct json_writer *w)
{
    sep(w);
    putc1(w, '[');
    w->need_comma = false;
}

void jw_close_array(struct json_writer *w)
{
    putc1(w, ']');
    w->need_comma = true;
}

void jw_key_n(struct json_writer *w, const char *key, size_t len)
{
    /* keys are nearly always plain ASCII: one copy of "key": when they are */
    size_t i = 0;
    while (i < len && !special[(uint8_t)key[i]])
        i++;
    if (i == len && !w->truncated && len + 4 < w->cap - w->len) {
        char *o = w->buf + w->len;
        if (w->need_comma)
            *o++ = ',';
        *o++ = '"';
        memcpy(o, key, len);
        o += len;
        *o++ = '"';
        *o++ = ':';
        *o = '\0';
        w->len = (size_t)(o - w->buf);
        w->need_comma = false;
        return;
    }
    sep(w);
    str_value(w, key, len);
    putc1(w, ':');
    w->need_comma = false;
}

void jw_key(struct json_writer *w, const char *key)
{
    jw_key_n(w, key, strlen(key));
}

void jw_str_n(struct json_writer *w, const void *s, size_t len)
{
    sep(w);
    str_value(w, s, len);
    w->need_comma = true;
}

void jw_str(struct json_writer *w, const char *s)
{
    if (s == NULL) {
        jw_null(w);
        return;
    }
    jw_str_n(w, s, strlen(s));
}

static size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

void jw_u64(struct json_writer *w, uint64_t v)
{
    char tmp[20];
    sep(w);
    put(w, tmp, fmt_u64(tmp, v));
    w->need_comma = true;
}

void jw_i64(struct json_writer *w, int64_t v)
{
    char tmp[21];
    size_t n = 0;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        tmp[n++] = '-';
        u = 0 - u;
    }
    n += fmt_u64(tmp + n, u);
    sep(w);
    put(w, tmp, n);
    w->need_comma = true;
}

void jw_double(struct json_writer *w, double v)
{
    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%.15g", v);
    /* a process locale with a decimal comma (LC_NUMERIC) must not break the JSON */
    for (int i = 0; i < n; i++)
        if (tmp[i] == ',')
            tmp[i] = '.';
    sep(w);
    put(w, tmp, (size_t)n);
    w->need_comma = true;
}

void jw_bool(struct json_writer *w, bool v)
{
    sep(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
    w->need_comma = true;
}

void jw_null(struct json_writer *w)
{
    sep(w);
    put(w, "null", 4);
    w->need_comma = true;
}

void jw_raw(struct json_writer *w, const char *json, size_t len)
{
    sep(w);
    put(w, json, len);
    w->need_comma = true;
}

void jw_kv_str(struct json_writer *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_str(w, s);
}

void jw_kv_str_n(struct json_writer *w, const char *key, const void *s, size_t len)
{
    jw_key(w, key);
    jw_str_n(w, s, len);
}

void jw_kv_u64(struct json_writer *w, const char *key, uint64_t v)
{
    jw_key(w, key);
    jw_u64(w, v);
}

void jw_kv_i64(struct json_writer *w, const char *key, int64_t v)
{
    jw_key(w, key);
    jw_i64(w, v);
}

void jw_kv_double(struct json_writer *w, const char *key, double v)
{
    jw_key(w, key);
    jw_double(w, v);
}

void jw_kv_bool(struct json_writer *w, const char *key, bool v)
{
    jw_key(w, key);
    jw_bool(w, v);
}
