/* EVE http/dns/tls objects: snapshots taken on the worker, JSON written on the output thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "applayer_eve.h"

/* Snapshot: byte 0 the protocol, then records of tag (1 byte), length (2 bytes LE), value. */
enum snap_tag {
    S_END = 0,
    S_TXID,       /* u64 */
    /* http */
    S_HOST, S_URL, S_UA, S_CTYPE, S_REFER, S_METHOD, S_PROTO, S_REDIRECT,
    S_STATUS,     /* u64 */
    S_LENGTH,     /* u64: response body bytes seen */
    /* dns */
    S_DNS_ID, S_DNS_FLAGS,         /* u64 */
    S_DNS_QNAME, S_DNS_QTYPE,      /* first question */
    S_DNS_ANAME, S_DNS_ATYPE, S_DNS_ATTL, S_DNS_ADATA, S_DNS_ADATA_NAME, /* one answer */
    /* tls */
    S_SUBJECT, S_ISSUER, S_SERIAL, S_FPRINT, S_SNI,
    S_VERSION, S_NOTBEFORE, S_NOTAFTER, /* u64 */
    S_JA3, S_JA3_HASH, S_JA3S, S_JA3S_HASH,
    S_HTTP_PORT, /* u64 */
    S_RESUMED,   /* u64 */
};

struct snap_w {
    uint8_t *p;
    size_t cap, len;
};

static void put(struct snap_w *s, uint8_t tag, const void *v, size_t n)
{
    if (n > 1024)
        n = 1024; /* EVE shows a bounded prefix of a hostile field */
    if (s->cap - s->len < 3 + n)
        return;
    s->p[s->len++] = tag;
    s->p[s->len++] = (uint8_t)n;
    s->p[s->len++] = (uint8_t)(n >> 8);
    memcpy(s->p + s->len, v, n);
    s->len += n;
}

static void put_u64(struct snap_w *s, uint8_t tag, uint64_t v)
{
    put(s, tag, &v, sizeof(v));
}

static void put_buf(struct snap_w *s, uint8_t tag, const struct applayer_tx *tx, enum app_buffer b,
                    enum flow_dir dir)
{
    const uint8_t *p;
    uint32_t l;
    if (applayer_tx_buffer(tx, b, dir, 0, &p, &l))
        put(s, tag, p, l);
}

size_t applayer_eve_snapshot(const struct applayer_tx *tx, enum flow_dir dir, void *buf, size_t cap)
{
    if (!tx || !buf || cap < 16)
        return 0;
    struct snap_w s = {buf, cap, 0};
    s.p[s.len++] = (uint8_t)applayer_tx_proto(tx);
    put_u64(&s, S_TXID, applayer_tx_id(tx));
    switch (applayer_tx_proto(tx)) {
    case APP_PROTO_HTTP: {
        put_buf(&s, S_HOST, tx, APP_BUF_HTTP_HOST, FLOW_TO_SERVER);
        const uint8_t *hr;
        uint32_t hl;
        if (applayer_tx_buffer(tx, APP_BUF_HTTP_HOST_RAW, FLOW_TO_SERVER, 0, &hr, &hl)) {
            /* Suricata adds http_port when the Host header names one */
            uint32_t k = hl;
            while (k > 0 && hr[k - 1] >= '0' && hr[k - 1] <= '9')
                k--;
            if (k > 0 && k < hl && hr[k - 1] == ':' && hl - k <= 5) {
                uint64_t port = 0;
                for (uint32_t i = k; i < hl; i++)
                    port = port * 10 + (uint64_t)(hr[i] - '0');
                if (port > 0 && port <= 65535)
                    put_u64(&s, S_HTTP_PORT, port);
            }
        }
        put_buf(&s, S_URL, tx, APP_BUF_HTTP_URI_RAW, FLOW_TO_SERVER);
        put_buf(&s, S_UA, tx, APP_BUF_HTTP_USER_AGENT, FLOW_TO_SERVER);
        put_buf(&s, S_CTYPE, tx, APP_BUF_HTTP_CONTENT_TYPE, FLOW_TO_CLIENT);
        put_buf(&s, S_REFER, tx, APP_BUF_HTTP_REFERER, FLOW_TO_SERVER);
        put_buf(&s, S_METHOD, tx, APP_BUF_HTTP_METHOD, FLOW_TO_SERVER);
        put_buf(&s, S_PROTO, tx, APP_BUF_HTTP_PROTOCOL,
                applayer_tx_has_side(tx, FLOW_TO_SERVER) ? FLOW_TO_SERVER : FLOW_TO_CLIENT);
        uint64_t v;
        if (applayer_tx_int(tx, APP_INT_HTTP_STAT_CODE, &v))
            put_u64(&s, S_STATUS, v);
        put_buf(&s, S_REDIRECT, tx, APP_BUF_HTTP_LOCATION, FLOW_TO_CLIENT);
        const uint8_t *p;
        uint32_t l;
        if (applayer_tx_buffer(tx, APP_BUF_HTTP_RESPONSE_BODY, FLOW_TO_CLIENT, 0, &p, &l))
            put_u64(&s, S_LENGTH, l);
        else if (applayer_tx_has_side(tx, FLOW_TO_CLIENT))
            put_u64(&s, S_LENGTH, 0);
        break;
    }
    case APP_PROTO_DNS: {
        struct applayer_dns_info di;
        if (!applayer_tx_dns_info(tx, &di))
            break;
        put_u64(&s, S_DNS_ID, di.id);
        put_u64(&s, S_DNS_FLAGS, di.flags);
        struct applayer_dns_rr rr;
        if (applayer_tx_dns_rr(tx, 0, 0, &rr)) {
            put(&s, S_DNS_QNAME, rr.name, rr.name_len);
            put_u64(&s, S_DNS_QTYPE, rr.rrtype);
        }
        for (uint32_t i = 0; di.response && applayer_tx_dns_rr(tx, 1, i, &rr); i++) {
            if (s.cap - s.len < 64)
                break;
            put(&s, S_DNS_ANAME, rr.name, rr.name_len);
            put_u64(&s, S_DNS_ATYPE, rr.rrtype);
            put_u64(&s, S_DNS_ATTL, rr.ttl);
            put(&s, rr.rdata_is_name ? S_DNS_ADATA_NAME : S_DNS_ADATA, rr.rdata ? rr.rdata : (const uint8_t *)"",
                rr.rdata_len);
        }
        break;
    }
    case APP_PROTO_TLS: {
        (void)dir;
        put_buf(&s, S_SUBJECT, tx, APP_BUF_TLS_CERT_SUBJECT, FLOW_TO_CLIENT);
        put_buf(&s, S_ISSUER, tx, APP_BUF_TLS_CERT_ISSUER, FLOW_TO_CLIENT);
        put_buf(&s, S_SERIAL, tx, APP_BUF_TLS_CERT_SERIAL, FLOW_TO_CLIENT);
        put_buf(&s, S_FPRINT, tx, APP_BUF_TLS_CERT_FINGERPRINT, FLOW_TO_CLIENT);
        put_buf(&s, S_SNI, tx, APP_BUF_TLS_SNI, FLOW_TO_SERVER);
        uint64_t v;
        if (applayer_tx_int(tx, APP_INT_TLS_VERSION, &v))
            put_u64(&s, S_VERSION, v);
        struct applayer_tls_info ti;
        bool have_ti = applayer_tx_tls_info(tx, &ti);
        if (have_ti && ti.session_resumed)
            put_u64(&s, S_RESUMED, 1);
        if (have_ti && ti.has_cert) {
            put_u64(&s, S_NOTBEFORE, ti.cert_not_before);
            put_u64(&s, S_NOTAFTER, ti.cert_not_after);
        }
        put_buf(&s, S_JA3, tx, APP_BUF_JA3_STRING, FLOW_TO_SERVER);
        put_buf(&s, S_JA3_HASH, tx, APP_BUF_JA3_HASH, FLOW_TO_SERVER);
        put_buf(&s, S_JA3S, tx, APP_BUF_JA3S_STRING, FLOW_TO_CLIENT);
        put_buf(&s, S_JA3S_HASH, tx, APP_BUF_JA3S_HASH, FLOW_TO_CLIENT);
        break;
    }
    default:
        break;
    }
    return s.len;
}

enum app_proto applayer_eve_snapshot_proto(const void *snap, size_t len)
{
    if (!snap || len < 1)
        return APP_PROTO_UNKNOWN;
    uint8_t p = *(const uint8_t *)snap;
    return (p == APP_PROTO_HTTP || p == APP_PROTO_DNS || p == APP_PROTO_TLS) ? (enum app_proto)p
                                                                           : APP_PROTO_UNKNOWN;
}

/* ---- names ---- */

const char *applayer_dns_rrtype_name(uint16_t t)
{
    switch (t) {
    case 1: return "A";
    case 2: return "NS";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 12: return "PTR";
    case 13: return "HINFO";
    case 15: return "MX";
    case 16: return "TXT";
    case 28: return "AAAA";
    case 33: return "SRV";
    case 35: return "NAPTR";
    case 41: return "OPT";
    case 43: return "DS";
    case 46: return "RRSIG";
    case 47: return "NSEC";
    case 48: return "DNSKEY";
    case 50: return "NSEC3";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 99: return "SPF";
    case 251: return "IXFR";
    case 252: return "AXFR";
    case 255: return "ANY";
    case 257: return "CAA";
    case 10: return "NULL";
    default: return NULL;
    }
}

const char *applayer_dns_rcode_name(uint16_t r)
{
    static const char *const n[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
                                    "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
                                    "NOTZONE"};
    return r < sizeof(n) / sizeof(n[0]) ? n[r] : NULL;
}

const char *applayer_tls_version_name(uint16_t v)
{
    switch (v) {
    case 0x0200: return "SSLv2";
    case 0x0300: return "SSLv3";
    case 0x0301: return "TLSv1";
    case 0x0302: return "TLS 1.1";
    case 0x0303: return "TLS 1.2";
    case 0x0304: return "TLS 1.3";
    default: return NULL;
    }
}

/* ---- writing ---- */

struct snap_r {
    const uint8_t *p;
    size_t len, off;
};

static bool next(struct snap_r *r, uint8_t *tag, const uint8_t **v, size_t *n)
{
    if (r->len - r->off < 3)
        return false;
    *tag = r->p[r->off];
    *n = (size_t)r->p[r->off + 1] | (size_t)r->p[r->off + 2] << 8;
    if (r->len - r->off - 3 < *n)
        return false;
    *v = r->p + r->off + 3;
    r->off += 3 + *n;
    return true;
}

static uint64_t as_u64(const uint8_t *v, size_t n)
{
    uint64_t x = 0;
    if (n == sizeof(x))
        memcpy(&x, v, sizeof(x));
    return x;
}

static void kv_time(struct json_writer *w, const char *key, uint64_t secs)
{
    /* Suricata writes certificate validity in UTC without a zone: 2016-03-30T23:59:59 */
    time_t t = (time_t)secs;
    struct tm tm;
    char b[32];
    if (!gmtime_r(&t, &tm) || strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return;
    jw_kv_str(w, key, b);
}

static void rdata_value(struct json_writer *w, uint16_t type, const uint8_t *v, size_t n, bool name)
{
    char b[64];
    if (!name && type == 1 && n == 4) {
        snprintf(b, sizeof(b), "%u.%u.%u.%u", v[0], v[1], v[2], v[3]);
        jw_str(w, b);
    } else if (!name && type == 28 && n == 16) {
        /* Suricata writes AAAA data uncompressed: 2001:0db8:0000:... */
        size_t o = 0;
        for (int i = 0; i < 16; i += 2)
            o += (size_t)snprintf(b + o, sizeof(b) - o, "%s%02x%02x", i ? ":" : "", v[i], v[i + 1]);
        jw_str(w, b);
    } else if (!name && type == 16 && n > 0) {
        /* TXT: the character-strings' text */
        size_t l = v[0] < n - 1 ? v[0] : n - 1;
        jw_str_n(w, v + 1, l);
    } else {
        jw_str_n(w, v, n);
    }
}

static void write_http(struct json_writer *w, struct snap_r *r)
{
    static const char *const keys[] = {
        [S_HOST] = "hostname", [S_URL] = "url", [S_UA] = "http_user_agent",
        [S_CTYPE] = "http_content_type", [S_REFER] = "http_refer", [S_METHOD] = "http_method",
        [S_PROTO] = "protocol", [S_REDIRECT] = "redirect",
    };
    uint8_t tag;
    const uint8_t *v;
    size_t n;
    jw_key(w, "http");
    jw_open_object(w);
    while (next(r, &tag, &v, &n)) {
        if (tag >= S_HOST && tag <= S_REDIRECT)
            jw_kv_str_n(w, keys[tag], v, n);
        else if (tag == S_HTTP_PORT)
            jw_kv_u64(w, "http_port", as_u64(v, n));
        else if (tag == S_STATUS)
            jw_kv_u64(w, "status", as_u64(v, n));
        else if (tag == S_LENGTH)
            jw_kv_u64(w, "length", as_u64(v, n));
    }
    jw_close_object(w);
}

static void rrtype_str(uint64_t t, char *tb, size_t n, const char **out)
{
    const char *tn = applayer_dns_rrtype_name((uint16_t)t);
    if (!tn) {
        snprintf(tb, n, "TYPE%u", (unsigned)(uint16_t)t);
        tn = tb;
    }
    *out = tn;
}

/* Answers as Suricata's v2 "answers" (detailed) and "grouped" (data by type, types in order of
 * first appearance). */
static void dns_answers(struct json_writer *w, struct snap_r r0)
{
    uint8_t tag;
    const uint8_t *v;
    size_t n;
    char tb[16];
    const char *tn;
    bool open = false, any = false;
    uint64_t atype = 0;
    uint16_t types[32];
    unsigned ntypes = 0;
    struct snap_r r = r0;
    while (next(&r, &tag, &v, &n)) {
        if (tag == S_DNS_ANAME) {
            if (!any) {
                jw_key(w, "answers");
                jw_open_array(w);
                any = true;
            }
            if (open)
                jw_close_object(w);
            jw_open_object(w);
            open = true;
            jw_kv_str_n(w, "rrname", v, n);
        } else if (tag == S_DNS_ATYPE && open) {
            atype = as_u64(v, n);
            rrtype_str(atype, tb, sizeof(tb), &tn);
            jw_kv_str(w, "rrtype", tn);
            unsigned k;
            for (k = 0; k < ntypes && types[k] != (uint16_t)atype; k++)
                ;
            if (k == ntypes && ntypes < sizeof(types) / sizeof(types[0]))
                types[ntypes++] = (uint16_t)atype;
        } else if (tag == S_DNS_ATTL && open) {
            jw_kv_u64(w, "ttl", as_u64(v, n));
        } else if ((tag == S_DNS_ADATA || tag == S_DNS_ADATA_NAME) && open) {
            jw_key(w, "rdata");
            rdata_value(w, (uint16_t)atype, v, n, tag == S_DNS_ADATA_NAME);
        }
    }
    if (open)
        jw_close_object(w);
    if (!any)
        return;
    jw_close_array(w);
    jw_key(w, "grouped");
    jw_open_object(w);
    for (unsigned k = 0; k < ntypes; k++) {
        rrtype_str(types[k], tb, sizeof(tb), &tn);
        jw_key(w, tn);
        jw_open_array(w);
        r = r0;
        atype = UINT64_MAX;
        while (next(&r, &tag, &v, &n)) {
            if (tag == S_DNS_ATYPE)
                atype = as_u64(v, n);
            else if ((tag == S_DNS_ADATA || tag == S_DNS_ADATA_NAME) && atype == types[k])
                rdata_value(w, types[k], v, n, tag == S_DNS_ADATA_NAME);
        }
        jw_close_array(w);
    }
    jw_close_object(w);
}

/* The members of a DNS v2 query or answer object, into an open object. */
static bool dns_members(struct json_writer *w, struct snap_r *r)
{
    uint8_t tag;
    const uint8_t *v;
    size_t n;
    uint64_t id = 0, flags = 0, txid = 0;
    const uint8_t *qname = NULL;
    size_t qlen = 0;
    uint64_t qtype = 0;
    bool have_q = false;
    struct snap_r r0 = *r;
    while (next(r, &tag, &v, &n)) {
        if (tag == S_DNS_ID) id = as_u64(v, n);
        else if (tag == S_DNS_FLAGS) flags = as_u64(v, n);
        else if (tag == S_TXID) txid = as_u64(v, n);
        else if (tag == S_DNS_QNAME) { qname = v; qlen = n; have_q = true; }
        else if (tag == S_DNS_QTYPE) qtype = as_u64(v, n);
    }
    bool response = flags & 0x8000;
    char tb[16];
    const char *tn;
    rrtype_str(qtype, tb, sizeof(tb), &tn);
    if (!response) {
        jw_kv_str(w, "type", "query");
        jw_kv_u64(w, "id", id);
        if (have_q) {
            jw_kv_str_n(w, "rrname", qname, qlen);
            jw_kv_str(w, "rrtype", tn);
        }
        jw_kv_u64(w, "tx_id", txid);
        jw_kv_u64(w, "opcode", (flags >> 11) & 0xf);
        return false;
    }
    char fb[8];
    snprintf(fb, sizeof(fb), "%04x", (unsigned)flags);
    jw_kv_u64(w, "version", 2);
    jw_kv_str(w, "type", "answer");
    jw_kv_u64(w, "id", id);
    jw_kv_str(w, "flags", fb);
    jw_kv_bool(w, "qr", true);
    if (flags & 0x0400) jw_kv_bool(w, "aa", true);
    if (flags & 0x0200) jw_kv_bool(w, "tc", true);
    if (flags & 0x0100) jw_kv_bool(w, "rd", true);
    if (flags & 0x0080) jw_kv_bool(w, "ra", true);
    jw_kv_u64(w, "opcode", (flags >> 11) & 0xf);
    if (have_q) {
        jw_kv_str_n(w, "rrname", qname, qlen);
        jw_kv_str(w, "rrtype", tn);
    }
    const char *rc = applayer_dns_rcode_name(flags & 0xf);
    char rb[16];
    if (!rc) {
        snprintf(rb, sizeof(rb), "%u", (unsigned)(flags & 0xf));
        rc = rb;
    }
    jw_kv_str(w, "rcode", rc);
    dns_answers(w, r0);
    return true;
}

static void write_dns(struct json_writer *w, struct snap_r *r, bool alert)
{
    jw_key(w, "dns");
    jw_open_object(w);
    if (!alert) {
        dns_members(w, r);
        jw_close_object(w);
        return;
    }
    /* alerts: a query as a one-element "query" list, an answer as the "answer" object */
    struct snap_r r1 = *r;
    uint8_t tag;
    const uint8_t *v;
    size_t n;
    bool response = false;
    while (next(&r1, &tag, &v, &n))
        if (tag == S_DNS_FLAGS)
            response = as_u64(v, n) & 0x8000;
    jw_key(w, response ? "answer" : "query");
    if (!response)
        jw_open_array(w);
    jw_open_object(w);
    dns_members(w, r);
    jw_close_object(w);
    if (!response)
        jw_close_array(w);
    jw_close_object(w);
}

static void write_tls(struct json_writer *w, struct snap_r *r)
{
    static const char *const keys[] = {
        [S_SUBJECT] = "subject", [S_ISSUER] = "issuerdn", [S_SERIAL] = "serial",
        [S_FPRINT] = "fingerprint", [S_SNI] = "sni",
    };
    uint8_t tag;
    const uint8_t *v;
    size_t n;
    const uint8_t *ja3 = NULL, *ja3h = NULL, *ja3s = NULL, *ja3sh = NULL;
    size_t ja3l = 0, ja3hl = 0, ja3sl = 0, ja3shl = 0;
    jw_key(w, "tls");
    jw_open_object(w);
    while (next(r, &tag, &v, &n)) {
        if (tag >= S_SUBJECT && tag <= S_SNI) {
            jw_kv_str_n(w, keys[tag], v, n);
        } else if (tag == S_VERSION) {
            const char *vn = applayer_tls_version_name((uint16_t)as_u64(v, n));
            jw_kv_str(w, "version", vn ? vn : "UNDETERMINED");
        } else if (tag == S_RESUMED) {
            jw_kv_bool(w, "session_resumed", true);
        } else if (tag == S_NOTBEFORE) {
            kv_time(w, "notbefore", as_u64(v, n));
        } else if (tag == S_NOTAFTER) {
            kv_time(w, "notafter", as_u64(v, n));
        } else if (tag == S_JA3) { ja3 = v; ja3l = n; }
        else if (tag == S_JA3_HASH) { ja3h = v; ja3hl = n; }
        else if (tag == S_JA3S) { ja3s = v; ja3sl = n; }
        else if (tag == S_JA3S_HASH) { ja3sh = v; ja3shl = n; }
    }
    if (ja3h) {
        jw_key(w, "ja3");
        jw_open_object(w);
        jw_kv_str_n(w, "hash", ja3h, ja3hl);
        jw_kv_str_n(w, "string", ja3, ja3l);
        jw_close_object(w);
    }
    if (ja3sh) {
        jw_key(w, "ja3s");
        jw_open_object(w);
        jw_kv_str_n(w, "hash", ja3sh, ja3shl);
        jw_kv_str_n(w, "string", ja3s, ja3sl);
        jw_close_object(w);
    }
    jw_close_object(w);
}

static int write_snap(struct json_writer *w, const void *snap, size_t len, bool alert)
{
    enum app_proto p = applayer_eve_snapshot_proto(snap, len);
    if (p == APP_PROTO_UNKNOWN)
        return -EINVAL;
    struct snap_r r = {(const uint8_t *)snap + 1, len - 1, 0};
    uint8_t tag;
    const uint8_t *v;
    size_t n;
    struct snap_r r0 = r;
    if ((p == APP_PROTO_HTTP || alert) && next(&r0, &tag, &v, &n) && tag == S_TXID)
        jw_kv_u64(w, "tx_id", as_u64(v, n));
    switch (p) {
    case APP_PROTO_HTTP: write_http(w, &r); break;
    case APP_PROTO_DNS: write_dns(w, &r, alert); break;
    case APP_PROTO_TLS: write_tls(w, &r); break;
    default: return -EINVAL;
    }
    return 0;
}

int applayer_eve_write(struct json_writer *w, const void *snap, size_t len)
{
    return write_snap(w, snap, len, false);
}

int applayer_eve_write_alert(struct json_writer *w, const void *snap, size_t len)
{
    return write_snap(w, snap, len, true);
}

int applayer_eve_tx(struct json_writer *w, const struct applayer_tx *tx, enum flow_dir dir)
{
    uint8_t snap[APPLAYER_EVE_SNAPSHOT_MAX];
    size_t n = applayer_eve_snapshot(tx, dir, snap, sizeof(snap));
    if (n == 0)
        return -EINVAL;
    return applayer_eve_write(w, snap, n);
}

const char *applayer_eve_app_proto_name(uint16_t app_proto)
{
    if (app_proto == APP_PROTO_UNKNOWN || app_proto >= APP_PROTO_MAX)
        return NULL;
    return app_proto_name((enum app_proto)app_proto);
}

bool applayer_eve_anomaly_name(void *ctx, const struct event_anomaly *a, const char **event,
                               const char **layer)
{
    (void)ctx;
    /* "applayer." + name, built once: names are static, so are these strings */
    static const char *const full[APPL_ANOMALY_MAX] = {
#define N(e, s) [e] = "applayer." s
        N(APPL_NONE, "none"),
        N(APPL_NO_STATE, "no_state"),
        N(APPL_NO_TX_BUFFER, "no_tx_buffer"),
        N(APPL_HTTP_LINE_TOO_LONG, "http.header_too_long"),
        N(APPL_HTTP_TOO_MANY_HEADERS, "http.too_many_headers"),
        N(APPL_HTTP_BAD_REQUEST_LINE, "http.bad_request_line"),
        N(APPL_HTTP_BAD_STATUS_LINE, "http.bad_status_line"),
        N(APPL_HTTP_BAD_CONTENT_LENGTH, "http.bad_content_length"),
        N(APPL_HTTP_BAD_CHUNK, "http.bad_chunk"),
        N(APPL_HTTP_TOO_MANY_TX, "http.too_many_transactions"),
        N(APPL_HTTP_BODY_TRUNCATED, "http.body_truncated"),
        N(APPL_HTTP_DECOMPRESS_ERROR, "http.decompress_error"),
        N(APPL_HTTP_DECOMPRESS_BOMB, "http.decompress_bomb"),
        N(APPL_HTTP_NO_INFLATE_STATE, "http.no_inflate_state"),
        N(APPL_DNS_MALFORMED, "dns.malformed"),
        N(APPL_DNS_NAME_LOOP, "dns.name_loop"),
        N(APPL_DNS_NAME_TOO_LONG, "dns.name_too_long"),
        N(APPL_DNS_TOO_MANY_RECORDS, "dns.too_many_records"),
        N(APPL_DNS_TCP_TOO_LARGE, "dns.tcp_message_too_large"),
        N(APPL_TLS_BAD_RECORD, "tls.bad_record"),
        N(APPL_TLS_BAD_HANDSHAKE, "tls.bad_handshake"),
        N(APPL_TLS_HANDSHAKE_TOO_LARGE, "tls.handshake_too_large"),
        N(APPL_TLS_BAD_CERT, "tls.bad_certificate"),
#undef N
    };
    if (!a || a->layer != 2 || a->code >= APPL_ANOMALY_MAX || !full[a->code])
        return false;
    *event = full[a->code];
    if (layer)
        *layer = "proto_parser";
    return true;
}

/* ---- carrying snapshots through the event ring ---- */

unsigned applayer_eve_emit(const void *snap, size_t len, const struct event *head, uint64_t tx_id,
                           uint8_t flags, event_emit_fn emit, void *emit_ctx)
{
    enum app_proto p = applayer_eve_snapshot_proto(snap, len);
    if (p == APP_PROTO_UNKNOWN || len > APPLAYER_EVE_SNAPSHOT_MAX || !head || !emit)
        return 0;
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_APPLAYER;
    ev.worker = head->worker;
    ev.ts_ns = head->ts_ns;
    ev.ref = head->ref;
    struct event_applayer *c = &ev.u.applayer;
    c->tx_id = tx_id;
    c->total = (uint16_t)len;
    c->flags = flags;
    c->proto = (uint8_t)p;
    unsigned sent = 0;
    for (size_t off = 0; off < len; off += EVENT_APPLAYER_CHUNK) {
        size_t n = len - off < EVENT_APPLAYER_CHUNK ? len - off : EVENT_APPLAYER_CHUNK;
        c->off = (uint16_t)off;
        c->len = (uint16_t)n;
        memcpy(c->data, (const uint8_t *)snap + off, n);
        if (n < EVENT_APPLAYER_CHUNK)
            memset(c->data + n, 0, EVENT_APPLAYER_CHUNK - n);
        if (emit(emit_ctx, &ev))
            sent++;
    }
    return sent;
}

unsigned applayer_eve_log(const struct flow *f, const struct applayer_tx *tx, uint16_t worker,
                          event_emit_fn emit, void *emit_ctx)
{
    if (!f || !tx)
        return 0;
    enum flow_dir dir = applayer_tx_has_side(tx, FLOW_TO_CLIENT) ? FLOW_TO_CLIENT : FLOW_TO_SERVER;
    uint8_t snap[APPLAYER_EVE_SNAPSHOT_MAX];
    size_t len = applayer_eve_snapshot(tx, dir, snap, sizeof(snap));
    if (len == 0)
        return 0;
    struct event head;
    flow_to_event(f, &head); /* client -> server tuple, flow id, vlan, app_proto */
    memset(&head.u, 0, sizeof(head.u));
    head.type = EVENT_APPLAYER;
    head.worker = worker;
    uint64_t ts = applayer_tx_ts(tx);
    head.ts_ns = ts ? ts : f->last_ns;
    struct applayer_dns_info di;
    if (applayer_tx_proto(tx) == APP_PROTO_DNS && applayer_tx_dns_info(tx, &di) && di.response) {
        /* Suricata writes a DNS answer the way it went: server -> client */
        uint8_t a[16];
        memcpy(a, head.ref.src, 16);
        memcpy(head.ref.src, head.ref.dst, 16);
        memcpy(head.ref.dst, a, 16);
        uint16_t pt = head.ref.sport;
        head.ref.sport = head.ref.dport;
        head.ref.dport = pt;
    }
    return applayer_eve_emit(snap, len, &head, applayer_tx_id(tx), EVENT_APPLAYER_LOG, emit, emit_ctx);
}

struct applayer_eve_store {
    uint8_t *arena;
    size_t cap, used;
    unsigned max;
    uint32_t *off, *len; /* by index; len 0 = absent */
    unsigned hi;         /* entries [0, hi) may be set */
    uint64_t dropped;
};

struct applayer_eve_store *applayer_eve_store_new(size_t bytes, unsigned max_tx)
{
    if (bytes == 0 || max_tx == 0 || bytes > UINT32_MAX)
        return NULL;
    struct applayer_eve_store *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->arena = malloc(bytes);
    st->off = calloc(max_tx, sizeof(*st->off));
    st->len = calloc(max_tx, sizeof(*st->len));
    if (!st->arena || !st->off || !st->len) {
        applayer_eve_store_free(st);
        return NULL;
    }
    st->cap = bytes;
    st->max = max_tx;
    return st;
}

void applayer_eve_store_free(struct applayer_eve_store *st)
{
    if (!st)
        return;
    free(st->arena);
    free(st->off);
    free(st->len);
    free(st);
}

bool applayer_eve_store_put(struct applayer_eve_store *st, unsigned idx, const struct applayer_tx *tx,
                            enum flow_dir dir)
{
    if (!st || !tx)
        return false;
    /* only where a snapshot of the largest size fits: one cut by the arena could miss fields,
     * and an alert had better go without object than with a wrong one */
    if (idx >= st->max || st->cap - st->used < APPLAYER_EVE_SNAPSHOT_MAX) {
        st->dropped++;
        return false;
    }
    size_t n = applayer_eve_snapshot(tx, dir, st->arena + st->used, APPLAYER_EVE_SNAPSHOT_MAX);
    if (n == 0)
        return false;
    st->off[idx] = (uint32_t)st->used;
    st->len[idx] = (uint32_t)n;
    st->used += n;
    if (idx >= st->hi)
        st->hi = idx + 1;
    return true;
}

bool applayer_eve_store_get(const struct applayer_eve_store *st, unsigned idx, const uint8_t **snap,
                            size_t *len)
{
    *len = 0;
    *snap = NULL;
    if (!st || idx >= st->hi || st->len[idx] == 0)
        return false;
    *snap = st->arena + st->off[idx];
    *len = st->len[idx];
    return true;
}

void applayer_eve_store_clear(struct applayer_eve_store *st)
{
    if (!st)
        return;
    memset(st->len, 0, st->hi * sizeof(*st->len));
    st->hi = 0;
    st->used = 0;
}

uint64_t applayer_eve_store_dropped(const struct applayer_eve_store *st)
{
    return st ? st->dropped : 0;
}

bool applayer_eve_alerts_emit(void *ctx, const struct event *ev)
{
    struct applayer_eve_alerts *a = ctx;
    if (ev->type != EVENT_ALERT || a->len == 0)
        return a->emit(a->emit_ctx, ev);
    struct event al = *ev;
    al.worker = a->worker;
    if (!a->sent) {
        /* once per transaction, right before its first alert: the worker's event order brings
         * it to the output thread ahead of the alerts that point to it */
        a->sent = applayer_eve_emit(a->snap, a->len, &al, al.u.alert.tx_id, EVENT_APPLAYER_ATTACH,
                                    a->emit, a->emit_ctx) > 0;
        if (!a->sent)
            return a->emit(a->emit_ctx, &al);
    }
    al.u.alert.app_obj = 1;
    return a->emit(a->emit_ctx, &al);
}

/* One snapshot being joined. */
struct asm_slot {
    uint64_t flow_id, tx_id;
    uint16_t total, have;
    uint8_t proto;
    bool done;
    uint8_t buf[APPLAYER_EVE_SNAPSHOT_MAX];
};

struct applayer_eve_asm {
    unsigned n;
    uint64_t errors;
    struct asm_slot *slot; /* 2 per worker: [0] records, [1] alert objects */
};

struct applayer_eve_asm *applayer_eve_asm_new(unsigned workers)
{
    if (workers == 0 || workers > 65536)
        return NULL;
    struct applayer_eve_asm *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->n = workers;
    if (!(a->slot = calloc((size_t)workers * 2, sizeof(*a->slot)))) {
        free(a);
        return NULL;
    }
    return a;
}

void applayer_eve_asm_free(struct applayer_eve_asm *a)
{
    if (!a)
        return;
    free(a->slot);
    free(a);
}

static struct asm_slot *asm_slot_of(struct applayer_eve_asm *a, uint16_t worker, bool attach)
{
    return worker < a->n ? &a->slot[(size_t)worker * 2 + (attach ? 1 : 0)] : NULL;
}

bool applayer_eve_asm_add(struct applayer_eve_asm *a, const struct event *ev)
{
    if (!a || !ev || ev->type != EVENT_APPLAYER)
        return false;
    const struct event_applayer *c = &ev->u.applayer;
    struct asm_slot *s = asm_slot_of(a, ev->worker, (c->flags & EVENT_APPLAYER_ATTACH) != 0);
    if (!s || c->len > EVENT_APPLAYER_CHUNK || c->total > APPLAYER_EVE_SNAPSHOT_MAX ||
        (size_t)c->off + c->len > c->total) {
        a->errors++;
        return false;
    }
    if (c->off == 0) {
        s->flow_id = ev->ref.flow_id;
        s->tx_id = c->tx_id;
        s->total = c->total;
        s->proto = c->proto;
        s->have = 0;
        s->done = false;
    } else if (s->done || c->off != s->have || c->total != s->total || c->tx_id != s->tx_id ||
               ev->ref.flow_id != s->flow_id) {
        a->errors++;
        s->done = false;
        s->have = 0;
        s->total = 0;
        return false;
    }
    memcpy(s->buf + c->off, c->data, c->len);
    s->have = (uint16_t)(c->off + c->len);
    if (s->have < s->total)
        return false;
    s->done = true;
    return (c->flags & EVENT_APPLAYER_LOG) != 0;
}

int applayer_eve_asm_write(void *ctx, struct json_writer *w, const struct event *ev)
{
    struct applayer_eve_asm *a = ctx;
    if (!a || !w || !ev)
        return -EINVAL;
    if (ev->type == EVENT_APPLAYER) {
        struct asm_slot *s = asm_slot_of(a, ev->worker, false);
        if (!s || !s->done || s->tx_id != ev->u.applayer.tx_id || s->flow_id != ev->ref.flow_id)
            return -ENOENT;
        return applayer_eve_write(w, s->buf, s->total);
    }
    if (ev->type == EVENT_ALERT && ev->u.alert.app_obj) {
        struct asm_slot *s = asm_slot_of(a, ev->worker, true);
        if (!s || !s->done || s->tx_id != ev->u.alert.tx_id || s->flow_id != ev->ref.flow_id)
            return -ENOENT;
        return applayer_eve_write_alert(w, s->buf, s->total);
    }
    return -ENOENT;
}

uint64_t applayer_eve_asm_errors(const struct applayer_eve_asm *a)
{
    return a ? a->errors : 0;
}
