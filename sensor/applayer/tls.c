/* TLS handshake parser (RFC 5246, RFC 8446): records split anywhere across TCP chunks, handshake
 * messages split across records; ClientHello (SNI, versions, JA3), ServerHello (selected
 * version, cipher, JA3S) and, for TLS 1.2 and earlier, the server certificate (subject, issuer,
 * serial, SHA-1 fingerprint, validity) decoded with OpenSSL. Parsing of a direction stops at its
 * ChangeCipherSpec (or after a TLS 1.3 ServerHello): the rest is encrypted.
 *
 * d2i_X509 allocates; it runs once per TLS session (the server's first certificate), not per
 * packet, and everything it allocates is freed before returning.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "applayer_priv.h"

#define TLS_MAX_RECORD (16384 + 2048) /* RFC 5246 6.2.3: ciphertext limit */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* RFC 8701 GREASE values: 0x?A?A with both bytes equal. */
static bool is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static struct tls_info_blk *info_of(struct tls_state *s)
{
    return s->info ? (struct tls_info_blk *)s->info->data : NULL;
}

static struct tls_info_blk *info_get(struct applayer_ctx *ctx, struct tls_state *s)
{
    if (s->info)
        return info_of(s);
    s->info = al_buf_get(ctx);
    if (!s->info)
        return NULL;
    struct tls_info_blk *ib = info_of(s);
    memset(ib, 0, sizeof(*ib));
    for (int i = 0; i < TF_MAX; i++)
        ib->f[i].len = AL_ABSENT;
    s->info->len = (uint32_t)((sizeof(*ib) + 7) & ~(size_t)7);
    return ib;
}

/* Appends text to the info buffer; the field's span grows (it must be the last one written). */
static void field_append(struct tls_state *s, int field, const void *p, uint32_t n)
{
    struct tls_info_blk *ib = info_of(s);
    struct al_span *sp = &ib->f[field];
    if (sp->len == AL_ABSENT) {
        sp->off = s->info->len;
        sp->len = 0;
    }
    if (sp->off + sp->len != s->info->len)
        return; /* not the field being written: never interleave */
    if (al_buf_append(s->info, p, n) != AL_ABSENT)
        sp->len += n;
}

static void field_u16(struct tls_state *s, int field, unsigned v)
{
    char t[8];
    int n = snprintf(t, sizeof(t), "%u", v);
    field_append(s, field, t, (uint32_t)n);
}

static void field_md5(struct tls_state *s, int src, int dst)
{
    struct tls_info_blk *ib = info_of(s);
    if (ib->f[src].len == AL_ABSENT)
        return;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(s->info->data + ib->f[src].off, ib->f[src].len, md, &mdlen, EVP_md5(), NULL))
        return;
    static const char hex[] = "0123456789abcdef";
    char out[2 * EVP_MAX_MD_SIZE];
    for (unsigned i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    field_append(s, dst, out, 2 * mdlen);
}

/* A bounded reader over a handshake message body. */
struct rd {
    const uint8_t *p;
    uint32_t len, off;
    bool bad;
};

static bool need(struct rd *r, uint32_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static unsigned get8(struct rd *r)
{
    if (!need(r, 1))
        return 0;
    return r->p[r->off++];
}

static unsigned get16(struct rd *r)
{
    if (!need(r, 2))
        return 0;
    unsigned v = rd16(r->p + r->off);
    r->off += 2;
    return v;
}

static const uint8_t *take(struct rd *r, uint32_t n)
{
    if (!need(r, n))
        return NULL;
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static void parse_client_hello(struct applayer_ctx *ctx, struct tls_state *s, const uint8_t *p,
                               uint32_t len)
{
    struct tls_info_blk *ib = info_get(ctx, s);
    if (!ib)
        return;
    struct rd r = {p, len, 0, false};
    unsigned version = get16(&r);
    take(&r, 32);                          /* random */
    unsigned sidl = get8(&r);
    const uint8_t *sid = take(&r, sidl);   /* session id */
    if (sid && sidl <= sizeof(ib->client_sid)) {
        memcpy(ib->client_sid, sid, sidl);
        ib->client_sid_len = (uint8_t)sidl;
    }
    unsigned cs_len = get16(&r);
    const uint8_t *cs = take(&r, cs_len);
    take(&r, get8(&r));                    /* compression methods */
    if (r.bad || (cs_len & 1)) {
        al_anomaly(ctx, APPL_TLS_BAD_HANDSHAKE);
        return;
    }
    ib->info.client_version = (uint16_t)version;
    ib->info.has_client_hello = true;
    ib->info.n_client_ciphers = cs_len / 2;

    /* JA3: SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats */
    const uint8_t *groups = NULL, *pf = NULL;
    uint32_t groups_len = 0, pf_len = 0;
    field_u16(s, TF_JA3, version);
    field_append(s, TF_JA3, ",", 1);
    bool first = true;
    for (unsigned i = 0; i + 1 < cs_len; i += 2) {
        uint16_t c = rd16(cs + i);
        if (is_grease(c))
            continue;
        if (!first)
            field_append(s, TF_JA3, "-", 1);
        field_u16(s, TF_JA3, c);
        first = false;
    }
    field_append(s, TF_JA3, ",", 1);
    const uint8_t *sni = NULL;
    uint32_t sni_len = 0;
    if (r.off < r.len) {
        unsigned ext_total = get16(&r);
        const uint8_t *ext = take(&r, ext_total);
        struct rd e = {ext, ext ? ext_total : 0, 0, false};
        first = true;
        while (e.off + 4 <= e.len) {
            unsigned type = get16(&e), elen = get16(&e);
            const uint8_t *ed = take(&e, elen);
            if (!ed)
                break;
            if (!is_grease((uint16_t)type)) {
                if (!first)
                    field_append(s, TF_JA3, "-", 1);
                field_u16(s, TF_JA3, type);
                first = false;
            }
            struct rd x = {ed, elen, 0, false};
            if (type == 0 && !sni) { /* server_name (RFC 6066 3) */
                get16(&x);
                while (x.off + 3 <= x.len) {
                    unsigned nt = get8(&x), nl = get16(&x);
                    const uint8_t *nm = take(&x, nl);
                    if (!nm)
                        break;
                    if (nt == 0) {
                        sni = nm;
                        sni_len = nl;
                        break;
                    }
                }
            } else if (type == 10) { /* supported_groups */
                unsigned gl = get16(&x);
                groups = take(&x, gl);
                groups_len = groups ? gl : 0;
            } else if (type == 11) { /* ec_point_formats */
                unsigned fl = get8(&x);
                pf = take(&x, fl);
                pf_len = pf ? fl : 0;
            }
        }
        if (e.bad)
            al_anomaly(ctx, APPL_TLS_BAD_HANDSHAKE);
    }
    field_append(s, TF_JA3, ",", 1);
    first = true;
    for (uint32_t i = 0; i + 1 < groups_len; i += 2) {
        uint16_t g = rd16(groups + i);
        if (is_grease(g))
            continue;
        if (!first)
            field_append(s, TF_JA3, "-", 1);
        field_u16(s, TF_JA3, g);
        first = false;
    }
    field_append(s, TF_JA3, ",", 1);
    for (uint32_t i = 0; i < pf_len; i++) {
        if (i)
            field_append(s, TF_JA3, "-", 1);
        field_u16(s, TF_JA3, pf[i]);
    }
    field_md5(s, TF_JA3, TF_JA3_HASH);
    if (sni)
        field_append(s, TF_SNI, sni, sni_len);
}

static void parse_server_hello(struct applayer_ctx *ctx, struct tls_state *s, const uint8_t *p,
                               uint32_t len)
{
    struct tls_info_blk *ib = info_get(ctx, s);
    if (!ib)
        return;
    struct rd r = {p, len, 0, false};
    unsigned version = get16(&r);
    take(&r, 32);
    unsigned sidl = get8(&r);
    const uint8_t *sid = take(&r, sidl);
    if (sid && sidl > 0 && sidl == ib->client_sid_len && memcmp(sid, ib->client_sid, sidl) == 0)
        ib->info.session_resumed = true;
    unsigned cipher = get16(&r);
    get8(&r); /* compression */
    if (r.bad) {
        al_anomaly(ctx, APPL_TLS_BAD_HANDSHAKE);
        return;
    }
    ib->info.server_version = (uint16_t)version;
    ib->info.cipher_suite = (uint16_t)cipher;
    ib->info.has_server_hello = true;
    /* JA3S: SSLVersion,Cipher,Extensions */
    field_u16(s, TF_JA3S, version);
    field_append(s, TF_JA3S, ",", 1);
    field_u16(s, TF_JA3S, cipher);
    field_append(s, TF_JA3S, ",", 1);
    if (r.off < r.len) {
        unsigned ext_total = get16(&r);
        const uint8_t *ext = take(&r, ext_total);
        struct rd e = {ext, ext ? ext_total : 0, 0, false};
        bool first = true;
        while (e.off + 4 <= e.len) {
            unsigned type = get16(&e), elen = get16(&e);
            const uint8_t *ed = take(&e, elen);
            if (!ed)
                break;
            if (!first)
                field_append(s, TF_JA3S, "-", 1);
            field_u16(s, TF_JA3S, type);
            first = false;
            if (type == 43 && elen == 2) /* supported_versions (RFC 8446 4.2.1) */
                ib->info.selected_version = rd16(ed);
        }
    }
    field_md5(s, TF_JA3S, TF_JA3S_HASH);
}

/* "C=US, O=Example, CN=host" as Suricata writes names: RDNs in certificate order. */
static void format_name(struct tls_state *s, int field, const X509_NAME *name)
{
    int n = X509_NAME_entry_count(name);
    /* an empty name still yields an empty (present) buffer */
    field_append(s, field, "", 0);
    for (int i = 0; i < n; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
        const ASN1_STRING *d = X509_NAME_ENTRY_get_data(e);
        int nid = OBJ_obj2nid(obj);
        char oidbuf[80];
        const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
        if (!sn) {
            OBJ_obj2txt(oidbuf, sizeof(oidbuf), obj, 1);
            sn = oidbuf;
        }
        if (i)
            field_append(s, field, ", ", 2);
        field_append(s, field, sn, (uint32_t)strlen(sn));
        field_append(s, field, "=", 1);
        int t = ASN1_STRING_type(d);
        if (t == V_ASN1_BMPSTRING || t == V_ASN1_UNIVERSALSTRING) {
            unsigned char *u = NULL;
            int ul = ASN1_STRING_to_UTF8(&u, d);
            if (ul > 0)
                field_append(s, field, u, (uint32_t)ul);
            OPENSSL_free(u);
        } else {
            /* raw bytes, NULs included: rules match what the certificate carries */
            field_append(s, field, ASN1_STRING_get0_data(d), (uint32_t)ASN1_STRING_length(d));
        }
    }
}

static uint64_t asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    time_t v = timegm(&tm);
    return v < 0 ? 0 : (uint64_t)v;
}

static void parse_certificate(struct applayer_ctx *ctx, struct tls_state *s, const uint8_t *p,
                              uint32_t len)
{
    struct tls_info_blk *ib = info_get(ctx, s);
    if (!ib || ib->info.has_cert || len < 6)
        return;
    uint32_t total = rd24(p);
    uint32_t clen = rd24(p + 3);
    if (clen == 0 || clen > len - 6) {
        al_anomaly(ctx, APPL_TLS_BAD_CERT);
        return;
    }
    const unsigned char *der = p + 6;
    X509 *x = d2i_X509(NULL, &der, (long)clen);
    if (!x) {
        al_anomaly(ctx, APPL_TLS_BAD_CERT);
        return;
    }
    ib->info.has_cert = true;
    format_name(s, TF_SUBJECT, X509_get_subject_name(x));
    format_name(s, TF_ISSUER, X509_get_issuer_name(x));
    static const char HEX[] = "0123456789ABCDEF", hex[] = "0123456789abcdef";
    /* the serial's content octets as encoded (a leading 00 sign octet included), as Suricata
     * writes them: re-encode the INTEGER and skip its tag and length */
    const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
    unsigned char sbuf[80];
    int el = serial ? i2d_ASN1_INTEGER(serial, NULL) : -1;
    if (el > 2 && el <= (int)sizeof(sbuf)) {
        unsigned char *sp = sbuf;
        i2d_ASN1_INTEGER(serial, &sp);
        int hdr = (sbuf[1] & 0x80) ? 2 + (sbuf[1] & 0x7f) : 2;
        field_append(s, TF_SERIAL, "", 0);
        for (int i = hdr; i < el; i++) {
            char t[3] = {HEX[sbuf[i] >> 4], HEX[sbuf[i] & 15], ':'};
            field_append(s, TF_SERIAL, t, i + 1 < el ? 3 : 2);
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(p + 6, clen, md, &mdlen, EVP_sha1(), NULL)) {
        for (unsigned i = 0; i < mdlen; i++) {
            char t[3] = {hex[md[i] >> 4], hex[md[i] & 15], ':'};
            field_append(s, TF_FINGERPRINT, t, i + 1 < mdlen ? 3 : 2);
        }
    }
    ib->info.cert_not_before = asn1_time_unix(X509_get0_notBefore(x));
    ib->info.cert_not_after = asn1_time_unix(X509_get0_notAfter(x));
    X509_free(x);
    /* tls.certs: every certificate of the chain that is here whole and fits (RFC 5246 7.4.2) */
    uint32_t end = 3 + (total < len - 3 ? total : len - 3);
    for (uint32_t off = 3; off + 3 <= end && ib->n_certs < TLS_MAX_CERTS;) {
        uint32_t cl = rd24(p + off);
        if (cl == 0 || cl > end - off - 3)
            break;
        uint32_t o = al_buf_append(s->info, p + off + 3, cl);
        if (o == AL_ABSENT)
            break;
        ib->certs[ib->n_certs].off = o;
        ib->certs[ib->n_certs].len = cl;
        ib->n_certs++;
        off += 3 + cl;
    }
}

static void report(struct applayer_ctx *ctx, struct flow *f, struct tls_state *s, enum flow_dir dir)
{
    if (s->reported[dir] || !s->info)
        return;
    s->reported[dir] = 1;
    struct applayer_tx t = {.proto = APP_PROTO_TLS, .id = 0, .ts = ctx->cur_ts, .tls = s,
                            .final = dir == FLOW_TO_CLIENT};
    al_hand_tx(ctx, f, &t, dir);
    if (dir == FLOW_TO_CLIENT && !s->logged) {
        s->logged = 1;
        al_log_tx(ctx, f, &t);
    }
}

static void server_done(struct applayer_ctx *ctx, struct flow *f, struct tls_state *s)
{
    s->server_done = 1;
    report(ctx, f, s, FLOW_TO_CLIENT);
}

static void handle_msg(struct applayer_ctx *ctx, struct flow *f, struct tls_state *s,
                       enum flow_dir dir, unsigned type, const uint8_t *body, uint32_t len)
{
    switch (type) {
    case 1: /* ClientHello */
        if (dir == FLOW_TO_SERVER && (!info_of(s) || !info_of(s)->info.has_client_hello)) {
            parse_client_hello(ctx, s, body, len);
            report(ctx, f, s, FLOW_TO_SERVER);
        }
        break;
    case 2: /* ServerHello */
        if (dir == FLOW_TO_CLIENT && (!info_of(s) || !info_of(s)->info.has_server_hello)) {
            parse_server_hello(ctx, s, body, len);
            struct tls_info_blk *ib = info_of(s);
            if (ib && ib->info.selected_version == 0x0304) {
                /* TLS 1.3: the certificate and everything after are encrypted */
                s->dir[0].encrypted = s->dir[1].encrypted = 1;
                server_done(ctx, f, s);
            }
        }
        break;
    case 11: /* Certificate */
        if (dir == FLOW_TO_CLIENT)
            parse_certificate(ctx, s, body, len);
        break;
    case 14: /* ServerHelloDone */
        if (dir == FLOW_TO_CLIENT)
            server_done(ctx, f, s);
        break;
    default:
        break;
    }
}

/* Feeds handshake-record payload: reassembles messages (RFC 5246 7.4) across records. */
static void hs_feed(struct applayer_ctx *ctx, struct flow *f, struct tls_state *s, enum flow_dir dir,
                    const uint8_t *p, uint32_t n)
{
    struct tls_dir *d = &s->dir[dir];
    while (n > 0) {
        if (d->hs_skip) {
            uint32_t k = n < d->hs_skip ? n : d->hs_skip;
            d->hs_skip -= k;
            p += k;
            n -= k;
            continue;
        }
        if (!d->hs) {
            d->hs = al_buf_get(ctx);
            if (!d->hs) {
                d->stop = 1;
                return;
            }
        }
        struct al_buf *b = d->hs;
        uint32_t room = b->cap - b->len;
        uint32_t k = n < room ? n : room;
        memcpy(b->data + b->len, p, k);
        b->len += k;
        p += k;
        n -= k;
        /* process every complete message at the front */
        uint32_t off = 0;
        while (b->len - off >= 4) {
            unsigned type = b->data[off];
            uint32_t mlen = rd24(b->data + off + 1);
            if (4 + (uint64_t)mlen > b->cap) {
                /* larger than a buffer (long certificate chains): use what fits, skip the rest */
                if (off > 0)
                    break; /* first move it to the front */
                if (b->len < b->cap && n == 0)
                    break; /* wait for the buffer to fill */
                if (b->len < b->cap)
                    break;
                al_anomaly(ctx, APPL_TLS_HANDSHAKE_TOO_LARGE);
                handle_msg(ctx, f, s, dir, type, b->data + 4, b->len - 4);
                d->hs_skip = 4 + mlen - b->len;
                off = b->len;
                break;
            }
            if (b->len - off < 4 + mlen)
                break;
            handle_msg(ctx, f, s, dir, type, b->data + off + 4, mlen);
            off += 4 + mlen;
            if (d->encrypted)
                break;
        }
        if (off) {
            memmove(b->data, b->data + off, b->len - off);
            b->len -= off;
        }
        if (d->encrypted)
            return;
    }
}

void tls_state_init(struct tls_state *s)
{
    memset(s, 0, sizeof(*s));
}

void tls_parse(struct applayer_ctx *ctx, struct flow *f, struct tls_state *s, enum flow_dir dir,
               const uint8_t *data, uint32_t len)
{
    struct tls_dir *d = &s->dir[dir];
    uint32_t i = 0;
    while (i < len && !d->stop && !d->encrypted) {
        if (d->rec_have < 5) {
            if (d->rec_have == 0 && (data[i] & 0x80)) {
                d->stop = 1; /* SSLv2-framed hello: detected, not parsed */
                return;
            }
            d->rec_hdr[d->rec_have++] = data[i++];
            if (d->rec_have < 5)
                continue;
            uint8_t type = d->rec_hdr[0];
            uint32_t rl = rd16(d->rec_hdr + 3);
            if (type < 20 || type > 24 || d->rec_hdr[1] != 3 || d->rec_hdr[2] > 4 ||
                rl > TLS_MAX_RECORD) {
                al_anomaly(ctx, APPL_TLS_BAD_RECORD);
                d->stop = 1;
                return;
            }
            d->rec_type = type;
            d->rec_left = rl;
            if (type == 23) {
                d->encrypted = 1; /* application data: the handshake is over */
                return;
            }
            if (d->rec_left == 0)
                d->rec_have = 0;
            continue;
        }
        uint32_t n = len - i;
        if (n > d->rec_left)
            n = d->rec_left;
        if (d->rec_type == 22) {
            struct tls_info_blk *ib = info_get(ctx, s);
            if (ib && !ib->info.record_version)
                ib->info.record_version = rd16(d->rec_hdr + 1);
            hs_feed(ctx, f, s, dir, data + i, n);
        }
        i += n;
        d->rec_left -= n;
        if (d->rec_left == 0) {
            d->rec_have = 0;
            if (d->rec_type == 20) {
                /* ChangeCipherSpec: what follows is encrypted (resumed sessions end here too) */
                d->encrypted = 1;
                if (dir == FLOW_TO_CLIENT)
                    server_done(ctx, f, s);
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        /* a direction made encrypted by the other one's message (TLS 1.3) releases here too */
        struct tls_dir *x = &s->dir[k];
        if (x->encrypted || x->stop) {
            al_buf_put(ctx, x->hs);
            x->hs = NULL;
        }
    }
    /* handshake over both ways, inspected and logged: nothing will read the fields again, so
     * a long-lived session does not hold a buffer */
    struct tls_dir *c = &s->dir[0], *sv = &s->dir[1];
    if (s->info && s->reported[1] && s->logged && (c->encrypted || c->stop) &&
        (sv->encrypted || sv->stop)) {
        al_buf_put(ctx, s->info);
        s->info = NULL;
    }
}

void tls_state_end(struct applayer_ctx *ctx, struct flow *f, struct tls_state *s)
{
    /* a handshake cut short still gets inspected with what was seen */
    if (s->info && info_of(s)->info.has_server_hello)
        report(ctx, f, s, FLOW_TO_CLIENT);
    if (s->info && !s->logged && info_of(s)->info.has_client_hello) {
        s->logged = 1;
        struct applayer_tx t = {.proto = APP_PROTO_TLS, .final = true, .ts = ctx->cur_ts, .tls = s};
        al_log_tx(ctx, f, &t);
    }
    for (int d = 0; d < 2; d++) {
        al_buf_put(ctx, s->dir[d].hs);
        s->dir[d].hs = NULL;
    }
    al_buf_put(ctx, s->info);
    s->info = NULL;
}

bool tls_tx_buffer(const struct tls_state *s, enum app_buffer b, uint32_t index, const uint8_t **data,
                   uint32_t *len)
{
    if (!s->info)
        return false;
    const struct tls_info_blk *ib = (const struct tls_info_blk *)s->info->data;
    if (b == APP_BUF_TLS_CERTS) {
        if (index >= ib->n_certs)
            return false;
        *data = s->info->data + ib->certs[index].off;
        *len = ib->certs[index].len;
        return true;
    }
    if (index != 0)
        return false;
    int f;
    switch (b) {
    case APP_BUF_TLS_SNI: f = TF_SNI; break;
    case APP_BUF_TLS_CERT_SUBJECT: f = TF_SUBJECT; break;
    case APP_BUF_TLS_CERT_ISSUER: f = TF_ISSUER; break;
    case APP_BUF_TLS_CERT_SERIAL: f = TF_SERIAL; break;
    case APP_BUF_TLS_CERT_FINGERPRINT: f = TF_FINGERPRINT; break;
    case APP_BUF_JA3_HASH: f = TF_JA3_HASH; break;
    case APP_BUF_JA3_STRING: f = TF_JA3; break;
    case APP_BUF_JA3S_HASH: f = TF_JA3S_HASH; break;
    case APP_BUF_JA3S_STRING: f = TF_JA3S; break;
    default: return false;
    }
    if (ib->f[f].len == AL_ABSENT)
        return false;
    *data = s->info->data + ib->f[f].off;
    *len = ib->f[f].len;
    return true;
}
