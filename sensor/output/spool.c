/* Spool segment files; see spool.h for the format. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#define SEG_MAGIC "TLSPOOL1"
#define SEG_MAGIC_LEN 8
#define FRAME_MAGIC 0x50534c54u /* "TLSP" little-endian */
#define FRAME_HDR 40
#define FRAME_MAX_PAYLOAD (16u << 20)
#define SEG_MAX_BYTES (4u << 20)
#define PEEK_MAX 1024

struct seg {
    char name[64];
    uint64_t first_seq;
    uint64_t bytes;   /* file size */
    uint64_t records; /* valid records not yet consumed */
    bool active;      /* being written */
    uint8_t *buf;     /* loaded for reading (sealed segments only) */
    size_t len, pos;  /* pos: first byte not yet consumed */
};

struct spool {
    char dir[256];
    uint64_t max_bytes, seg_max;
    spool_log_fn log;
    void *log_ctx;
    struct seg **segs;
    unsigned nseg, capseg;
    FILE *wf;
    struct seg *wseg;
    /* last peek: the segment and the end offset of each record returned */
    struct seg *pseg;
    unsigned npeek;
    size_t peek_end[PEEK_MAX];
    uint64_t records, bytes, corrupt;
    struct spool_record *last;
};

struct frame_hdr {
    uint32_t magic, len;
    uint64_t seq, key, ts_ns;
    uint8_t severity, cls, pad[2];
    uint32_t crc;
};
_Static_assert(sizeof(struct frame_hdr) == FRAME_HDR, "frame header layout");

static void spool_logf(struct spool *sp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void spool_logf(struct spool *sp, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (sp->log)
        sp->log(sp->log_ctx, msg);
}

static uint32_t frame_crc(const struct frame_hdr *h, const void *payload)
{
    /* everything after the magic up to the crc, then the payload */
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, (const Bytef *)h + 4, FRAME_HDR - 8);
    c = crc32(c, payload, h->len);
    return (uint32_t)c;
}

struct spool_record *spool_record_new(uint64_t seq, uint64_t key, uint64_t ts_ns, uint8_t severity,
                                      uint8_t cls, const char *data, uint32_t len)
{
    struct spool_record *r = malloc(sizeof(*r) + len + 1);
    if (!r)
        return NULL;
    r->seq = seq;
    r->key = key;
    r->ts_ns = ts_ns;
    r->severity = severity;
    r->cls = cls;
    r->len = len;
    memcpy(r->data, data, len);
    r->data[len] = '\0';
    return r;
}

void spool_record_free(struct spool_record *r)
{
    free(r);
}

/* Size of the valid frame at off, or 0 when the bytes there are not one. */
static size_t frame_check(const uint8_t *buf, size_t len, size_t off, struct frame_hdr *h)
{
    if (len - off < FRAME_HDR)
        return 0;
    memcpy(h, buf + off, FRAME_HDR);
    if (h->magic != FRAME_MAGIC || h->len > FRAME_MAX_PAYLOAD || h->len > len - off - FRAME_HDR)
        return 0;
    if (frame_crc(h, buf + off + FRAME_HDR) != h->crc)
        return 0;
    return FRAME_HDR + h->len;
}

/* Next valid frame at or after *off; reports and counts what was skipped. Returns its size, or 0
 * at the end. */
static size_t frame_next(struct spool *sp, const struct seg *s, const uint8_t *buf, size_t len,
                         size_t *off, struct frame_hdr *h, bool report)
{
    size_t start = *off;
    for (size_t o = start; o < len; o++) {
        size_t fs = frame_check(buf, len, o, h);
        if (fs) {
            if (o != start && report) {
                sp->corrupt++;
                spool_logf(sp, "spool %s/%s: corrupt data at offset %zu (bad frame checksum or length), "
                           "%zu bytes skipped; the following records are still sent",
                           sp->dir, s->name, start, o - start);
            }
            *off = o;
            return fs;
        }
    }
    if (start < len && report) {
        sp->corrupt++;
        spool_logf(sp, "spool %s/%s: corrupt or truncated data at offset %zu, last %zu bytes skipped",
                   sp->dir, s->name, start, len - start);
    }
    *off = len;
    return 0;
}

static int seg_load(struct spool *sp, struct seg *s, uint8_t **out, size_t *outlen)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", sp->dir, s->name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    struct stat st;
    if (fstat(fileno(f), &st) < 0) {
        int e = -errno;
        fclose(f);
        return e;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    if (fread(buf, 1, len, f) != len) {
        free(buf);
        fclose(f);
        return -EIO;
    }
    fclose(f);
    *out = buf;
    *outlen = len;
    return 0;
}

static size_t seg_data_start(struct spool *sp, const struct seg *s, const uint8_t *buf, size_t len,
                             bool report)
{
    if (len >= SEG_MAGIC_LEN && memcmp(buf, SEG_MAGIC, SEG_MAGIC_LEN) == 0)
        return SEG_MAGIC_LEN;
    if (report) {
        sp->corrupt++;
        spool_logf(sp, "spool %s/%s: bad segment header, scanning for frames", sp->dir, s->name);
    }
    return 0;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct seg *x = *(struct seg *const *)a, *y = *(struct seg *const *)b;
    if (x->first_seq != y->first_seq)
        return x->first_seq < y->first_seq ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int segs_insert(struct spool *sp, struct seg *s)
{
    if (sp->nseg == sp->capseg) {
        unsigned cap = sp->capseg ? sp->capseg * 2 : 16;
        struct seg **n = realloc(sp->segs, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        sp->segs = n;
        sp->capseg = cap;
    }
    unsigned i = sp->nseg;
    while (i > 0 && seg_cmp(&sp->segs[i - 1], &s) > 0) {
        sp->segs[i] = sp->segs[i - 1];
        i--;
    }
    sp->segs[i] = s;
    sp->nseg++;
    return 0;
}

static void seg_remove_head(struct spool *sp)
{
    struct seg *s = sp->segs[0];
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", sp->dir, s->name);
    if (unlink(path) < 0 && errno != ENOENT)
        spool_logf(sp, "spool %s: cannot remove %s: %s", sp->dir, s->name, strerror(errno));
    sp->bytes -= s->bytes;
    sp->records -= s->records;
    memmove(sp->segs, sp->segs + 1, (sp->nseg - 1) * sizeof(*sp->segs));
    sp->nseg--;
    if (sp->pseg == s) {
        sp->pseg = NULL;
        sp->npeek = 0;
    }
    free(s->buf);
    free(s);
}

static int spool_scan(struct spool *sp, char *err, size_t errlen)
{
    DIR *d = opendir(sp->dir);
    if (!d) {
        snprintf(err, errlen, "spool %s: %s", sp->dir, strerror(errno));
        return -errno;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (strncmp(de->d_name, "seg-", 4) != 0 || nl < 8 || nl >= 64 ||
            strcmp(de->d_name + nl - 4, ".spl") != 0)
            continue;
        struct seg *s = calloc(1, sizeof(*s));
        if (!s)
            goto out_nomem;
        snprintf(s->name, sizeof(s->name), "%s", de->d_name);
        s->first_seq = strtoull(de->d_name + 4, NULL, 10);
        uint8_t *buf;
        size_t len;
        int rc = seg_load(sp, s, &buf, &len);
        if (rc < 0) {
            spool_logf(sp, "spool %s/%s: cannot read: %s; left in place", sp->dir, s->name, strerror(-rc));
            free(s);
            continue;
        }
        s->bytes = len;
        size_t off = seg_data_start(sp, s, buf, len, true);
        struct frame_hdr h;
        size_t fs;
        while ((fs = frame_next(sp, s, buf, len, &off, &h, true))) {
            s->records++;
            if (!sp->last || h.seq > sp->last->seq) {
                spool_record_free(sp->last);
                sp->last = spool_record_new(h.seq, h.key, h.ts_ns, h.severity, h.cls,
                                            (const char *)buf + off + FRAME_HDR, h.len);
            }
            off += fs;
        }
        free(buf);
        if (segs_insert(sp, s) < 0) {
            free(s);
            goto out_nomem;
        }
        sp->records += s->records;
        sp->bytes += s->bytes;
    }
    closedir(d);
    return 0;
out_nomem:
    closedir(d);
    snprintf(err, errlen, "spool %s: out of memory", sp->dir);
    return -ENOMEM;
}

struct spool *spool_open(const char *dir, uint64_t max_bytes, spool_log_fn log, void *log_ctx,
                         char *err, size_t errlen)
{
    struct spool *sp = calloc(1, sizeof(*sp));
    if (!sp) {
        snprintf(err, errlen, "spool: out of memory");
        return NULL;
    }
    if (strlen(dir) >= sizeof(sp->dir)) {
        snprintf(err, errlen, "spool dir too long: %s", dir);
        goto out_free;
    }
    snprintf(sp->dir, sizeof(sp->dir), "%s", dir);
    sp->max_bytes = max_bytes;
    sp->seg_max = max_bytes / 8 < SEG_MAX_BYTES ? max_bytes / 8 : SEG_MAX_BYTES;
    if (sp->seg_max < 4096)
        sp->seg_max = 4096;
    sp->log = log;
    sp->log_ctx = log_ctx;
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "spool %s: cannot create: %s", dir, strerror(errno));
        goto out_free;
    }
    if (spool_scan(sp, err, errlen) < 0)
        goto out_free;
    return sp;
out_free:
    spool_close(sp);
    return NULL;
}

void spool_seal(struct spool *sp)
{
    if (!sp->wf)
        return;
    fclose(sp->wf);
    sp->wf = NULL;
    sp->wseg->active = false;
    sp->wseg = NULL;
}

static int spool_start_segment(struct spool *sp, uint64_t first_seq)
{
    struct seg *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->first_seq = first_seq;
    char path[512];
    FILE *f = NULL;
    for (unsigned k = 0; k < 100 && !f; k++) {
        if (k == 0)
            snprintf(s->name, sizeof(s->name), "seg-%020" PRIu64 ".spl", first_seq);
        else
            snprintf(s->name, sizeof(s->name), "seg-%020" PRIu64 "-%02u.spl", first_seq, k);
        snprintf(path, sizeof(path), "%s/%s", sp->dir, s->name);
        f = fopen(path, "wbx");
        if (!f && errno != EEXIST)
            break;
    }
    if (!f) {
        int e = errno ? -errno : -EEXIST;
        free(s);
        return e;
    }
    if (fwrite(SEG_MAGIC, 1, SEG_MAGIC_LEN, f) != SEG_MAGIC_LEN) {
        fclose(f);
        unlink(path);
        free(s);
        return -EIO;
    }
    int rc = segs_insert(sp, s);
    if (rc < 0) {
        fclose(f);
        unlink(path);
        free(s);
        return rc;
    }
    s->bytes = SEG_MAGIC_LEN;
    s->active = true;
    sp->bytes += SEG_MAGIC_LEN;
    sp->wf = f;
    sp->wseg = s;
    return 0;
}

int spool_append(struct spool *sp, const struct spool_record *r)
{
    if (r->len > FRAME_MAX_PAYLOAD)
        return -EMSGSIZE;
    uint64_t need = FRAME_HDR + (uint64_t)r->len + (sp->wf ? 0 : SEG_MAGIC_LEN);
    if (sp->bytes + need > sp->max_bytes)
        return -ENOSPC;
    if (!sp->wf) {
        int rc = spool_start_segment(sp, r->seq);
        if (rc < 0)
            return rc;
    }
    struct frame_hdr h = {
        .magic = FRAME_MAGIC, .len = r->len, .seq = r->seq, .key = r->key, .ts_ns = r->ts_ns,
        .severity = r->severity, .cls = r->cls,
    };
    h.crc = frame_crc(&h, r->data);
    if (fwrite(&h, 1, FRAME_HDR, sp->wf) != FRAME_HDR || fwrite(r->data, 1, r->len, sp->wf) != r->len) {
        /* the segment now ends in a partial frame: seal it; readers skip the tail */
        int e = errno ? -errno : -EIO;
        spool_seal(sp);
        return e;
    }
    sp->wseg->bytes += FRAME_HDR + r->len;
    sp->wseg->records++;
    sp->bytes += FRAME_HDR + r->len;
    sp->records++;
    if (sp->wseg->bytes >= sp->seg_max)
        spool_seal(sp);
    return 0;
}

unsigned spool_peek(struct spool *sp, struct spool_record **out, unsigned n)
{
    if (n > PEEK_MAX)
        n = PEEK_MAX;
    spool_unpeek(sp);
    while (sp->nseg > 0) {
        struct seg *s = sp->segs[0];
        if (s->active) {
            /* readers only see sealed segments, so the file no longer changes under them */
            fflush(sp->wf);
            spool_seal(sp);
        }
        if (!s->buf) {
            int rc = seg_load(sp, s, &s->buf, &s->len);
            if (rc < 0) {
                spool_logf(sp, "spool %s/%s: cannot read: %s; segment dropped (%" PRIu64 " records)",
                           sp->dir, s->name, strerror(-rc), s->records);
                sp->corrupt++;
                seg_remove_head(sp);
                continue;
            }
            s->pos = seg_data_start(sp, s, s->buf, s->len, false);
        }
        unsigned got = 0;
        size_t off = s->pos;
        struct frame_hdr h;
        size_t fs;
        while (got < n && (fs = frame_next(sp, s, s->buf, s->len, &off, &h, false))) {
            out[got] = spool_record_new(h.seq, h.key, h.ts_ns, h.severity, h.cls,
                                        (const char *)s->buf + off + FRAME_HDR, h.len);
            if (!out[got])
                break;
            off += fs;
            sp->peek_end[got] = off;
            got++;
        }
        if (got) {
            sp->pseg = s;
            sp->npeek = got;
            return got;
        }
        /* nothing left in this segment: it is done */
        seg_remove_head(sp);
    }
    return 0;
}

void spool_consume(struct spool *sp, unsigned n)
{
    struct seg *s = sp->pseg;
    if (!s || n == 0)
        return;
    if (n > sp->npeek)
        n = sp->npeek;
    s->pos = sp->peek_end[n - 1];
    s->records = s->records >= n ? s->records - n : 0;
    sp->records = sp->records >= n ? sp->records - n : 0;
    sp->pseg = NULL;
    sp->npeek = 0;
    struct frame_hdr h;
    size_t off = s->pos;
    if (sp->nseg && sp->segs[0] == s && !frame_next(sp, s, s->buf, s->len, &off, &h, false))
        seg_remove_head(sp);
}

void spool_unpeek(struct spool *sp)
{
    sp->pseg = NULL;
    sp->npeek = 0;
}

uint64_t spool_records(const struct spool *sp) { return sp->records; }
uint64_t spool_bytes(const struct spool *sp) { return sp->bytes; }
uint64_t spool_corrupt(const struct spool *sp) { return sp->corrupt; }
bool spool_empty(const struct spool *sp) { return sp->records == 0; }
const struct spool_record *spool_last_at_open(const struct spool *sp) { return sp->last; }

void spool_flush(struct spool *sp)
{
    if (sp->wf)
        fflush(sp->wf);
}

void spool_close(struct spool *sp)
{
    if (!sp)
        return;
    if (sp->wf) {
        fflush(sp->wf);
        fsync(fileno(sp->wf));
        fclose(sp->wf);
    }
    for (unsigned i = 0; i < sp->nseg; i++) {
        free(sp->segs[i]->buf);
        free(sp->segs[i]);
    }
    free(sp->segs);
    spool_record_free(sp->last);
    free(sp);
}
