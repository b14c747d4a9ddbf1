/* Application layer core: protocol names, pools, protocol detection and dispatch to parsers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "applayer_priv.h"

/* ---- names ---- */

static const char *const proto_names[APP_PROTO_MAX] = {
    [APP_PROTO_UNKNOWN] = "unknown", [APP_PROTO_HTTP] = "http", [APP_PROTO_DNS] = "dns",
    [APP_PROTO_TLS] = "tls",         [APP_PROTO_SSH] = "ssh",   [APP_PROTO_SMTP] = "smtp",
    [APP_PROTO_FTP] = "ftp",         [APP_PROTO_SMB] = "smb",   [APP_PROTO_DCERPC] = "dcerpc",
    [APP_PROTO_IMAP] = "imap",       [APP_PROTO_POP3] = "pop3", [APP_PROTO_HTTP2] = "http2",
    [APP_PROTO_RDP] = "rdp",         [APP_PROTO_RFB] = "rfb",   [APP_PROTO_SIP] = "sip",
    [APP_PROTO_MQTT] = "mqtt",       [APP_PROTO_NTP] = "ntp",   [APP_PROTO_DHCP] = "dhcp",
    [APP_PROTO_TELNET] = "telnet",   [APP_PROTO_KRB5] = "krb5", [APP_PROTO_IRC] = "irc",
    [APP_PROTO_FTP_DATA] = "ftp-data", [APP_PROTO_FAILED] = "failed",
};

const char *app_proto_name(enum app_proto p)
{
    if ((unsigned)p >= APP_PROTO_MAX || !proto_names[p])
        return "unknown";
    return proto_names[p];
}

enum app_proto app_proto_from_name(const char *name)
{
    if (!name)
        return APP_PROTO_UNKNOWN;
    /* Suricata 7 calls HTTP/1 "http1"; "ssl" is an old alias of tls. */
    if (strcasecmp(name, "http1") == 0)
        return APP_PROTO_HTTP;
    if (strcasecmp(name, "ssl") == 0)
        return APP_PROTO_TLS;
    for (unsigned i = 1; i < APP_PROTO_MAX; i++)
        if (proto_names[i] && strcasecmp(name, proto_names[i]) == 0)
            return (enum app_proto)i;
    return APP_PROTO_UNKNOWN;
}

struct buf_name {
    const char *name;
    enum app_buffer buf;
};

/* Every spelling rules use, dotted (Suricata 5+) and legacy. First entry per buffer is canonical. */
static const struct buf_name buf_names[] = {
    {"http.uri", APP_BUF_HTTP_URI},
    {"http_uri", APP_BUF_HTTP_URI},
    {"http.uri.raw", APP_BUF_HTTP_URI_RAW},
    {"http_raw_uri", APP_BUF_HTTP_URI_RAW},
    {"http.method", APP_BUF_HTTP_METHOD},
    {"http_method", APP_BUF_HTTP_METHOD},
    {"http.protocol", APP_BUF_HTTP_PROTOCOL},
    {"http_protocol", APP_BUF_HTTP_PROTOCOL},
    {"http.request_line", APP_BUF_HTTP_REQUEST_LINE},
    {"http_request_line", APP_BUF_HTTP_REQUEST_LINE},
    {"http.host", APP_BUF_HTTP_HOST},
    {"http_host", APP_BUF_HTTP_HOST},
    {"http.host.raw", APP_BUF_HTTP_HOST_RAW},
    {"http_raw_host", APP_BUF_HTTP_HOST_RAW},
    {"http.user_agent", APP_BUF_HTTP_USER_AGENT},
    {"http_user_agent", APP_BUF_HTTP_USER_AGENT},
    {"http.request_body", APP_BUF_HTTP_REQUEST_BODY},
    {"http_client_body", APP_BUF_HTTP_REQUEST_BODY},
    {"http.referer", APP_BUF_HTTP_REFERER},
    {"http_referer", APP_BUF_HTTP_REFERER},
    {"http.accept", APP_BUF_HTTP_ACCEPT},
    {"http_accept", APP_BUF_HTTP_ACCEPT},
    {"http.accept_lang", APP_BUF_HTTP_ACCEPT_LANG},
    {"http_accept_lang", APP_BUF_HTTP_ACCEPT_LANG},
    {"http.accept_enc", APP_BUF_HTTP_ACCEPT_ENC},
    {"http_accept_enc", APP_BUF_HTTP_ACCEPT_ENC},
    {"http.start", APP_BUF_HTTP_START},
    {"http_start", APP_BUF_HTTP_START},
    {"http.header", APP_BUF_HTTP_HEADER},
    {"http_header", APP_BUF_HTTP_HEADER},
    {"http.header.raw", APP_BUF_HTTP_HEADER_RAW},
    {"http_raw_header", APP_BUF_HTTP_HEADER_RAW},
    {"http.header_names", APP_BUF_HTTP_HEADER_NAMES},
    {"http_header_names", APP_BUF_HTTP_HEADER_NAMES},
    {"http.cookie", APP_BUF_HTTP_COOKIE},
    {"http_cookie", APP_BUF_HTTP_COOKIE},
    {"http.content_type", APP_BUF_HTTP_CONTENT_TYPE},
    {"http_content_type", APP_BUF_HTTP_CONTENT_TYPE},
    {"http.content_len", APP_BUF_HTTP_CONTENT_LEN},
    {"http_content_len", APP_BUF_HTTP_CONTENT_LEN},
    {"http.connection", APP_BUF_HTTP_CONNECTION},
    {"http_connection", APP_BUF_HTTP_CONNECTION},
    {"file.data", APP_BUF_FILE_DATA},
    {"file_data", APP_BUF_FILE_DATA},
    {"http.stat_code", APP_BUF_HTTP_STAT_CODE},
    {"http_stat_code", APP_BUF_HTTP_STAT_CODE},
    {"http.stat_msg", APP_BUF_HTTP_STAT_MSG},
    {"http_stat_msg", APP_BUF_HTTP_STAT_MSG},
    {"http.response_line", APP_BUF_HTTP_RESPONSE_LINE},
    {"http_response_line", APP_BUF_HTTP_RESPONSE_LINE},
    {"http.response_body", APP_BUF_HTTP_RESPONSE_BODY},
    {"http_server_body", APP_BUF_HTTP_RESPONSE_BODY},
    {"http.server", APP_BUF_HTTP_SERVER},
    {"http.location", APP_BUF_HTTP_LOCATION},
    {"dns.query", APP_BUF_DNS_QUERY},
    {"dns_query", APP_BUF_DNS_QUERY},
    {"tls.sni", APP_BUF_TLS_SNI},
    {"tls_sni", APP_BUF_TLS_SNI},
    {"tls.cert_subject", APP_BUF_TLS_CERT_SUBJECT},
    {"tls_cert_subject", APP_BUF_TLS_CERT_SUBJECT},
    {"tls.cert_issuer", APP_BUF_TLS_CERT_ISSUER},
    {"tls_cert_issuer", APP_BUF_TLS_CERT_ISSUER},
    {"tls.cert_serial", APP_BUF_TLS_CERT_SERIAL},
    {"tls_cert_serial", APP_BUF_TLS_CERT_SERIAL},
    {"tls.cert_fingerprint", APP_BUF_TLS_CERT_FINGERPRINT},
    {"tls_cert_fingerprint", APP_BUF_TLS_CERT_FINGERPRINT},
    {"ja3.hash", APP_BUF_JA3_HASH},
    {"ja3_hash", APP_BUF_JA3_HASH},
    {"ja3.string", APP_BUF_JA3_STRING},
    {"ja3_string", APP_BUF_JA3_STRING},
    {"ja3s.hash", APP_BUF_JA3S_HASH},
    {"ja3s.string", APP_BUF_JA3S_STRING},
    {"tls.certs", APP_BUF_TLS_CERTS},
};

enum app_buffer app_buffer_from_name(const char *name)
{
    if (!name)
        return APP_BUF_NONE;
    for (size_t i = 0; i < sizeof(buf_names) / sizeof(buf_names[0]); i++)
        if (strcmp(name, buf_names[i].name) == 0)
            return buf_names[i].buf;
    return APP_BUF_NONE;
}

const char *app_buffer_name(enum app_buffer b)
{
    for (size_t i = 0; i < sizeof(buf_names) / sizeof(buf_names[0]); i++)
        if (buf_names[i].buf == b)
            return buf_names[i].name;
    return "pkt_data";
}

enum app_proto app_buffer_proto(enum app_buffer b)
{
    if (b == APP_BUF_NONE || b >= APP_BUF_MAX)
        return APP_PROTO_UNKNOWN;
    if (b < APP_BUF_DNS_QUERY)
        return APP_PROTO_HTTP;
    if (b == APP_BUF_DNS_QUERY)
        return APP_PROTO_DNS;
    return APP_PROTO_TLS;
}

static const char *const anomaly_names[APPL_ANOMALY_MAX] = {
    [APPL_NONE] = "none",
    [APPL_NO_STATE] = "no_state",
    [APPL_NO_TX_BUFFER] = "no_tx_buffer",
    [APPL_HTTP_LINE_TOO_LONG] = "http.header_too_long",
    [APPL_HTTP_TOO_MANY_HEADERS] = "http.too_many_headers",
    [APPL_HTTP_BAD_REQUEST_LINE] = "http.bad_request_line",
    [APPL_HTTP_BAD_STATUS_LINE] = "http.bad_status_line",
    [APPL_HTTP_BAD_CONTENT_LENGTH] = "http.bad_content_length",
    [APPL_HTTP_BAD_CHUNK] = "http.bad_chunk",
    [APPL_HTTP_TOO_MANY_TX] = "http.too_many_transactions",
    [APPL_HTTP_BODY_TRUNCATED] = "http.body_truncated",
    [APPL_HTTP_DECOMPRESS_ERROR] = "http.decompress_error",
    [APPL_HTTP_DECOMPRESS_BOMB] = "http.decompress_bomb",
    [APPL_HTTP_NO_INFLATE_STATE] = "http.no_inflate_state",
    [APPL_DNS_MALFORMED] = "dns.malformed",
    [APPL_DNS_NAME_LOOP] = "dns.name_loop",
    [APPL_DNS_NAME_TOO_LONG] = "dns.name_too_long",
    [APPL_DNS_TOO_MANY_RECORDS] = "dns.too_many_records",
    [APPL_DNS_TCP_TOO_LARGE] = "dns.tcp_message_too_large",
    [APPL_TLS_BAD_RECORD] = "tls.bad_record",
    [APPL_TLS_BAD_HANDSHAKE] = "tls.bad_handshake",
    [APPL_TLS_HANDSHAKE_TOO_LARGE] = "tls.handshake_too_large",
    [APPL_TLS_BAD_CERT] = "tls.bad_certificate",
};

const char *applayer_anomaly_name(enum applayer_anomaly a)
{
    if ((unsigned)a >= APPL_ANOMALY_MAX || !anomaly_names[a])
        return "unknown";
    return anomaly_names[a];
}

/* ---- pools ---- */

int al_pool_init(struct al_pool *p, size_t obj_size, uint32_t count)
{
    memset(p, 0, sizeof(*p));
    obj_size = (obj_size + 63) & ~(size_t)63; /* cache-line aligned objects */
    p->obj_size = obj_size;
    p->count = count;
    if (count == 0)
        return 0;
    p->mem = aligned_alloc(64, obj_size * count);
    if (!p->mem)
        return -ENOMEM;
    /* Link the free list back to front so objects are handed out in address order. */
    for (uint32_t i = count; i-- > 0;) {
        void **slot = (void **)(p->mem + (size_t)i * obj_size);
        *slot = p->free_list;
        p->free_list = slot;
    }
    return 0;
}

void al_pool_fini(struct al_pool *p)
{
    free(p->mem);
    memset(p, 0, sizeof(*p));
}

void *al_pool_get(struct al_pool *p)
{
    void **slot = p->free_list;
    if (!slot)
        return NULL;
    p->free_list = *slot;
    p->used++;
    return slot;
}

void al_pool_put(struct al_pool *p, void *obj)
{
    if (!obj)
        return;
    *(void **)obj = p->free_list;
    p->free_list = obj;
    p->used--;
}

struct al_buf *al_buf_get(struct applayer_ctx *ctx)
{
    struct al_buf *b = al_pool_get(&ctx->bufs);
    if (!b) {
        ctx->stats.no_buffer++;
        al_anomaly(ctx, APPL_NO_TX_BUFFER);
        return NULL;
    }
    b->next_free = NULL;
    b->cap = ctx->cfg.buffer_size;
    b->len = 0;
    ctx->stats.buffers_in_use = ctx->bufs.used;
    return b;
}

void al_buf_put(struct applayer_ctx *ctx, struct al_buf *b)
{
    if (!b)
        return;
    al_pool_put(&ctx->bufs, b);
    ctx->stats.buffers_in_use = ctx->bufs.used;
}

uint32_t al_buf_append(struct al_buf *b, const void *data, uint32_t len)
{
    if (len > b->cap - b->len)
        return AL_ABSENT;
    uint32_t off = b->len;
    if (len)
        memcpy(b->data + off, data, len);
    b->len += len;
    return off;
}

/* ---- context ---- */

void applayer_config_default(struct applayer_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_states = 4096;
    cfg->max_buffers = 1024;
    cfg->buffer_size = 32768;
    cfg->max_inflate = 64;
    cfg->http_header_limit = 8192;
    cfg->http_request_body_limit = 4096;
    cfg->http_response_body_limit = 8192;
    cfg->http_max_tx = 8;
    cfg->detect_bytes = 1024;
    cfg->dns_max_records = 64;
}

struct applayer_ctx *applayer_ctx_new(const struct applayer_config *cfg)
{
    struct applayer_config def;
    if (!cfg) {
        applayer_config_default(&def);
        cfg = &def;
    }
    /* A message's headers, its derived buffers (about as large as the headers) and its body must
     * fit one buffer, with room for the span table; every append is checked anyway. */
    if (cfg->buffer_size < 1024 || cfg->http_max_tx == 0 || cfg->http_max_tx > HTTP_MAX_TX_CAP ||
        cfg->dns_max_records == 0 || cfg->dns_max_records > DNS_MAX_RR_CAP || cfg->max_buffers < 1)
        return NULL;
    uint64_t need_req = sizeof(struct http_msg) + 2ull * cfg->http_header_limit +
                        cfg->http_request_body_limit + 64;
    uint64_t need_resp = sizeof(struct http_msg) + 2ull * cfg->http_header_limit +
                         cfg->http_response_body_limit + 64;
    if (need_req > cfg->buffer_size || need_resp > cfg->buffer_size)
        return NULL;

    struct applayer_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->cfg = *cfg;
    if (al_pool_init(&ctx->states, sizeof(struct applayer_state), cfg->max_states) < 0)
        goto out_free_ctx;
    if (al_pool_init(&ctx->bufs, sizeof(struct al_buf) + cfg->buffer_size, cfg->max_buffers + 2) < 0)
        goto out_free_states;
    if (!al_inflate_pool_init(ctx))
        goto out_free_bufs;
    ctx->hp = http_scratch_new();
    if (!ctx->hp)
        goto out_free_inflates;
    /* Two buffers set aside for framing-only parsing and DNS names, never lent to flows. */
    ctx->scratch = al_pool_get(&ctx->bufs);
    ctx->scratch2 = al_pool_get(&ctx->bufs);
    ctx->scratch->cap = ctx->scratch2->cap = cfg->buffer_size;
    ctx->scratch->len = ctx->scratch2->len = 0;
    ctx->bufs.used = 0;
    return ctx;

out_free_inflates:
    al_pool_fini(&ctx->inflates);
out_free_bufs:
    al_pool_fini(&ctx->bufs);
out_free_states:
    al_pool_fini(&ctx->states);
out_free_ctx:
    free(ctx);
    return NULL;
}

void applayer_ctx_free(struct applayer_ctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->hp);
    al_pool_fini(&ctx->inflates);
    al_pool_fini(&ctx->bufs);
    al_pool_fini(&ctx->states);
    free(ctx);
}

void applayer_ctx_set_callbacks(struct applayer_ctx *ctx, applayer_tx_fn on_tx, void *tx_ctx,
                                event_emit_fn emit, void *emit_ctx)
{
    ctx->on_tx = on_tx;
    ctx->tx_ctx = tx_ctx;
    ctx->emit = emit;
    ctx->emit_ctx = emit_ctx;
}

const struct applayer_stats *applayer_get_stats(const struct applayer_ctx *ctx)
{
    return &ctx->stats;
}

void al_anomaly(struct applayer_ctx *ctx, enum applayer_anomaly a)
{
    ctx->stats.anomaly[a]++;
    /* Truncation at the inspection depth is configured behaviour, not an anomaly of the input. */
    if (a == APPL_HTTP_BODY_TRUNCATED || !ctx->emit)
        return;
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_ANOMALY;
    ev.ts_ns = ctx->cur_ts;
    ev.u.anomaly.code = (uint16_t)a;
    ev.u.anomaly.layer = 2;
    struct flow *f = ctx->cur_flow;
    if (f) {
        int c = f->client_side, s = !f->client_side;
        int from = ctx->cur_dir == FLOW_TO_SERVER ? c : s;
        ev.ref.flow_id = f->flow_id;
        memcpy(ev.ref.src, f->key.addr[from], 16);
        memcpy(ev.ref.dst, f->key.addr[!from], 16);
        ev.ref.sport = f->key.port[from];
        ev.ref.dport = f->key.port[!from];
        ev.ref.vlan[0] = f->key.vlan[0];
        ev.ref.vlan[1] = f->key.vlan[1];
        ev.ref.vlan_count = (f->key.vlan[0] != 0) + (f->key.vlan[1] != 0);
        ev.ref.proto = f->key.proto;
        ev.ref.ip_version = f->key.ip_version;
        ev.ref.has_flow = 1;
        ev.ref.app_proto = f->app_proto;
    }
    ctx->emit(ctx->emit_ctx, &ev);
}

void applayer_ctx_set_log_callback(struct applayer_ctx *ctx, applayer_log_fn on_log, void *log_ctx)
{
    ctx->on_log = on_log;
    ctx->log_ctx = log_ctx;
}

void al_log_tx(struct applayer_ctx *ctx, struct flow *f, struct applayer_tx *tx)
{
    if (ctx->on_log)
        ctx->on_log(ctx->log_ctx, f, tx);
}

void al_hand_tx(struct applayer_ctx *ctx, struct flow *f, struct applayer_tx *tx, enum flow_dir dir)
{
    switch (tx->proto) {
    case APP_PROTO_HTTP: ctx->stats.http_tx++; break;
    case APP_PROTO_DNS: ctx->stats.dns_tx++; break;
    case APP_PROTO_TLS: ctx->stats.tls_tx++; break;
    default: break;
    }
    if (ctx->on_tx)
        ctx->on_tx(ctx->tx_ctx, f, tx, dir);
}

/* ---- protocol detection ---- */

enum { DET_NEED_MORE = -1, DET_NO = -2 };

static bool has_prefix(const uint8_t *d, uint32_t len, const char *p)
{
    size_t n = strlen(p);
    return len >= n && memcmp(d, p, n) == 0;
}

static bool has_prefix_ci(const uint8_t *d, uint32_t len, const char *p)
{
    size_t n = strlen(p);
    return len >= n && strncasecmp((const char *)d, p, n) == 0;
}

/* Could d (len bytes so far) still become p? */
static bool may_become(const uint8_t *d, uint32_t len, const char *p)
{
    size_t n = strlen(p);
    return len < n && memcmp(d, p, len) == 0;
}

static const char *const http_methods[] = {
    "GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "TRACE ", "PATCH ",
    "PROPFIND ", "PROPPATCH ", "MKCOL ", "COPY ", "MOVE ", "LOCK ", "UNLOCK ", "SEARCH ",
    "REPORT ", "CHECKOUT ", "MERGE ", "NOTIFY ", "SUBSCRIBE ", "UNSUBSCRIBE ", "M-SEARCH ",
};

static bool line_contains(const uint8_t *d, uint32_t len, const char *word)
{
    size_t n = strlen(word);
    for (uint32_t i = 0; i + n <= len && d[i] != '\n'; i++)
        if (strncasecmp((const char *)d + i, word, n) == 0)
            return true;
    return false;
}

/* Protocol of the first bytes of a TCP direction (RFC/spec prefixes, ports only to break ties). */
static int detect_tcp(const uint8_t *d, uint32_t len, enum flow_dir dir, uint16_t cport,
                      uint16_t sport)
{
    bool maybe = false;
    if (len == 0)
        return DET_NEED_MORE;
    for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++) {
        if (has_prefix(d, len, http_methods[i]))
            return APP_PROTO_HTTP;
        maybe |= may_become(d, len, http_methods[i]);
    }
    if (has_prefix(d, len, "PRI * HTTP/2.0"))
        return APP_PROTO_HTTP2;
    maybe |= may_become(d, len, "PRI * HTTP/2.0");
    if (has_prefix(d, len, "HTTP/1.") || has_prefix(d, len, "HTTP/0.9"))
        return APP_PROTO_HTTP;
    maybe |= may_become(d, len, "HTTP/1.");
    /* TLS record: handshake (22), SSL 3.0 .. TLS 1.3 record versions (RFC 8446 5.1) */
    if (len >= 3 && d[0] == 0x16 && d[1] == 3 && d[2] <= 4)
        return APP_PROTO_TLS;
    if (len < 3 && d[0] == 0x16)
        maybe = true;
    /* SSLv2-framed ClientHello (2-byte header with the high bit, msg type 1, version 2/3) */
    if (len >= 5 && (d[0] & 0x80) && d[2] == 1 && (d[3] == 3 || d[3] == 0 || d[3] == 2))
        return APP_PROTO_TLS;
    if (has_prefix(d, len, "SSH-"))
        return APP_PROTO_SSH;
    maybe |= may_become(d, len, "SSH-");
    if (has_prefix(d, len, "RFB 0"))
        return APP_PROTO_RFB;
    /* NetBIOS session message carrying SMB1/2/3 */
    if (len >= 8 && d[0] == 0 && d[5] == 'S' && d[6] == 'M' && d[7] == 'B' &&
        (d[4] == 0xff || d[4] == 0xfe || d[4] == 0xfd))
        return APP_PROTO_SMB;
    if (len < 8 && d[0] == 0)
        maybe = true;
    /* DCE/RPC connection-oriented header: version 5.0, sane packet type, frag length */
    if (len >= 10 && d[0] == 5 && d[1] == 0 && d[2] <= 20) {
        uint16_t fl = (d[4] & 0x10) ? (uint16_t)(d[8] | d[9] << 8) : (uint16_t)(d[8] << 8 | d[9]);
        if (fl >= 16)
            return APP_PROTO_DCERPC;
    }
    /* TPKT + X.224 connection request (RDP) */
    if (len >= 6 && d[0] == 3 && d[1] == 0 && (d[5] & 0xf0) == 0xe0)
        return APP_PROTO_RDP;
    if (len >= 12 && d[0] == 0x10 && d[1] > 0) {
        for (uint32_t i = 2; i < 6 && i + 6 <= len; i++)
            if (d[i] == 0 && d[i + 1] == 4 && memcmp(d + i + 2, "MQTT", 4) == 0)
                return APP_PROTO_MQTT;
    }
    if (len >= 2 && d[0] == 0xff && d[1] >= 0xfb && d[1] <= 0xfe)
        return APP_PROTO_TELNET;
    if (has_prefix(d, len, "SIP/2.0") || line_contains(d, len, " sip:"))
        return APP_PROTO_SIP;
    if (dir == FLOW_TO_CLIENT) {
        if (has_prefix(d, len, "220")) {
            if (line_contains(d, len, "SMTP"))
                return APP_PROTO_SMTP;
            if (line_contains(d, len, "FTP"))
                return APP_PROTO_FTP;
            if (sport == 21 || sport == 2121)
                return APP_PROTO_FTP;
            if (sport == 25 || sport == 587 || sport == 2525)
                return APP_PROTO_SMTP;
        }
        if (has_prefix(d, len, "* OK"))
            return APP_PROTO_IMAP;
        if (has_prefix(d, len, "+OK"))
            return APP_PROTO_POP3;
    } else {
        if (has_prefix_ci(d, len, "EHLO ") || has_prefix_ci(d, len, "HELO "))
            return APP_PROTO_SMTP;
        if (has_prefix_ci(d, len, "USER ") && (sport == 21 || sport == 2121))
            return APP_PROTO_FTP;
        if ((has_prefix_ci(d, len, "NICK ") || has_prefix_ci(d, len, "USER ")) &&
            (sport == 6667 || sport == 6697))
            return APP_PROTO_IRC;
    }
    /* DNS over TCP (RFC 1035 4.2.2): port 53 and a length prefix in front of a sane header */
    if ((sport == 53 || cport == 53) && len >= 14) {
        uint32_t ml = (uint32_t)d[0] << 8 | d[1];
        /* only the header is checked: the first chunk may hold part of the message */
        if (ml >= 12 && dns_probe(d + 2, 12, false))
            return APP_PROTO_DNS;
    }
    if ((sport == 53 || cport == 53) && len < 14)
        maybe = true;
    return maybe && len < 16 ? DET_NEED_MORE : DET_NO;
}

static int detect_udp(const uint8_t *d, uint32_t len, uint16_t cport, uint16_t sport)
{
    bool dns_port = sport == 53 || cport == 53 || sport == 5353 || sport == 5355;
    if (dns_port && dns_probe(d, len, false))
        return APP_PROTO_DNS;
    if ((sport == 67 || sport == 68 || cport == 68) && len >= 240 && d[236] == 0x63 &&
        d[237] == 0x82 && d[238] == 0x53 && d[239] == 0x63)
        return APP_PROTO_DHCP;
    if (sport == 123 && len >= 48 && ((d[0] >> 3) & 7) >= 1 && ((d[0] >> 3) & 7) <= 4)
        return APP_PROTO_NTP;
    if (has_prefix(d, len, "SIP/2.0") || line_contains(d, len, " sip:"))
        return APP_PROTO_SIP;
    /* DNS on an unusual port only when the whole message parses as a plain query */
    if (!dns_port && dns_probe(d, len, true))
        return APP_PROTO_DNS;
    return DET_NO;
}

static bool proto_parsed(uint16_t p)
{
    return p == APP_PROTO_HTTP || p == APP_PROTO_DNS || p == APP_PROTO_TLS;
}

static struct applayer_state *state_new(struct applayer_ctx *ctx, struct flow *f)
{
    struct applayer_state *s = al_pool_get(&ctx->states);
    if (!s) {
        ctx->stats.no_state++;
        al_anomaly(ctx, APPL_NO_STATE);
        f->applayer_flags |= APPL_FLOW_NO_STATE;
        return NULL;
    }
    memset(s, 0, sizeof(*s));
    ctx->stats.states_in_use = ctx->states.used;
    f->applayer = s;
    return s;
}

static void state_init_proto(struct applayer_state *s, uint16_t proto)
{
    s->proto = proto;
    switch (proto) {
    case APP_PROTO_HTTP: http_state_init(&s->u.http); break;
    case APP_PROTO_DNS: dns_state_init(&s->u.dns); break;
    case APP_PROTO_TLS: tls_state_init(&s->u.tls); break;
    default: break;
    }
}

static void set_proto(struct applayer_ctx *ctx, struct flow *f, uint16_t proto)
{
    f->app_proto = proto;
    ctx->stats.flows_detected[proto]++;
    if (proto == APP_PROTO_DNS)
        ctx->stats.dns_tcp_flows += f->key.proto == 6;
}

static void parse(struct applayer_ctx *ctx, struct flow *f, struct applayer_state *s,
                  enum flow_dir dir, const uint8_t *data, uint32_t len)
{
    if (s->gap[dir] || len == 0)
        return;
    switch (s->proto) {
    case APP_PROTO_HTTP: http_parse(ctx, f, &s->u.http, dir, data, len); break;
    case APP_PROTO_DNS: dns_tcp(ctx, f, &s->u.dns, dir, data, len); break;
    case APP_PROTO_TLS: tls_parse(ctx, f, &s->u.tls, dir, data, len); break;
    default: break;
    }
}

void applayer_tcp_data(struct applayer_ctx *ctx, struct flow *f, enum flow_dir dir,
                       const uint8_t *data, uint32_t len, uint64_t ts_ns)
{
    if (!f || (!data && len))
        return;
    ctx->cur_flow = f;
    ctx->cur_dir = dir;
    ctx->cur_ts = ts_ns;
    struct applayer_state *s = f->applayer;
    uint8_t done_bit = (uint8_t)(dir == FLOW_TO_SERVER ? APPL_FLOW_DONE_TS : APPL_FLOW_DONE_TC);

    if (f->app_proto == APP_PROTO_UNKNOWN && !(f->applayer_flags & done_bit) && len) {
        uint16_t cport = flow_client_port(f), sport = flow_server_port(f);
        uint8_t tmp[64];
        const uint8_t *d = data;
        uint32_t dl = len;
        if (s && s->pre_len[dir]) {
            uint32_t take = len < sizeof(tmp) - s->pre_len[dir] ? len : (uint32_t)sizeof(tmp) - s->pre_len[dir];
            memcpy(tmp, s->pre[dir], s->pre_len[dir]);
            memcpy(tmp + s->pre_len[dir], data, take);
            d = tmp;
            dl = s->pre_len[dir] + take;
        }
        int r = detect_tcp(d, dl, dir, cport, sport);
        if (r == DET_NEED_MORE) {
            if (!s && !(f->applayer_flags & APPL_FLOW_NO_STATE))
                s = state_new(ctx, f);
            if (s && s->pre_len[dir] + len <= sizeof(s->pre[dir])) {
                memcpy(s->pre[dir] + s->pre_len[dir], data, len);
                s->pre_len[dir] = (uint8_t)(s->pre_len[dir] + len);
                return;
            }
            r = DET_NO;
        }
        if (r == DET_NO) {
            f->applayer_flags |= done_bit;
            if ((f->applayer_flags & (APPL_FLOW_DONE_TS | APPL_FLOW_DONE_TC)) ==
                (APPL_FLOW_DONE_TS | APPL_FLOW_DONE_TC))
                set_proto(ctx, f, APP_PROTO_FAILED);
            if (s && s->pre_len[dir])
                s->pre_len[dir] = 0;
            return;
        }
        set_proto(ctx, f, (uint16_t)r);
        f->applayer_flags |= done_bit;
    }

    if (!proto_parsed(f->app_proto))
        return;
    if (!s) {
        if (f->applayer_flags & APPL_FLOW_NO_STATE)
            return;
        s = state_new(ctx, f);
        if (!s)
            return;
    }
    if (s->proto == APP_PROTO_UNKNOWN)
        state_init_proto(s, f->app_proto);
    /* Bytes held back while detection waited belong in front of this chunk. */
    for (int d = 0; d < 2; d++) {
        if (s->pre_len[d] && d == (int)dir) {
            uint8_t pre[sizeof(s->pre[0])];
            uint32_t pl = s->pre_len[d];
            memcpy(pre, s->pre[d], pl);
            s->pre_len[d] = 0;
            parse(ctx, f, s, dir, pre, pl);
        }
    }
    parse(ctx, f, s, dir, data, len);
}

void applayer_tcp_gap(struct applayer_ctx *ctx, struct flow *f, enum flow_dir dir)
{
    (void)ctx;
    struct applayer_state *s = f ? f->applayer : NULL;
    if (s)
        s->gap[dir] = 1;
}

void applayer_udp_data(struct applayer_ctx *ctx, struct flow *f, enum flow_dir dir,
                       const uint8_t *data, uint32_t len, uint64_t ts_ns)
{
    if (!f || !data || len == 0)
        return;
    ctx->cur_flow = f;
    ctx->cur_dir = dir;
    ctx->cur_ts = ts_ns;
    uint8_t done_bit = (uint8_t)(dir == FLOW_TO_SERVER ? APPL_FLOW_DONE_TS : APPL_FLOW_DONE_TC);
    if (f->app_proto == APP_PROTO_UNKNOWN && !(f->applayer_flags & done_bit)) {
        int r = detect_udp(data, len, flow_client_port(f), flow_server_port(f));
        f->applayer_flags |= done_bit;
        if (r >= 0)
            set_proto(ctx, f, (uint16_t)r);
        else if ((f->applayer_flags & (APPL_FLOW_DONE_TS | APPL_FLOW_DONE_TC)) ==
                 (APPL_FLOW_DONE_TS | APPL_FLOW_DONE_TC))
            set_proto(ctx, f, APP_PROTO_FAILED);
    }
    if (f->app_proto == APP_PROTO_DNS)
        dns_udp(ctx, f, dir, data, len);
}

void applayer_flow_end(struct applayer_ctx *ctx, struct flow *f)
{
    if (!f)
        return;
    struct applayer_state *s = f->applayer;
    if (!s)
        return;
    ctx->cur_flow = f;
    ctx->cur_dir = FLOW_TO_SERVER;
    ctx->cur_ts = f->last_ns;
    ctx->ending = true;
    switch (s->proto) {
    case APP_PROTO_HTTP: http_state_end(ctx, f, &s->u.http); break;
    case APP_PROTO_DNS: dns_state_end(ctx, &s->u.dns); break;
    case APP_PROTO_TLS: tls_state_end(ctx, f, &s->u.tls); break;
    default: break;
    }
    ctx->ending = false;
    al_pool_put(&ctx->states, s);
    ctx->stats.states_in_use = ctx->states.used;
    f->applayer = NULL;
}

/* ---- transactions ---- */

enum app_proto applayer_tx_proto(const struct applayer_tx *tx)
{
    return (enum app_proto)tx->proto;
}

uint64_t applayer_tx_id(const struct applayer_tx *tx)
{
    return tx->id;
}

uint64_t applayer_tx_ts(const struct applayer_tx *tx)
{
    return tx->ts;
}

bool applayer_tx_is_final(const struct applayer_tx *tx)
{
    return tx && tx->final;
}

bool applayer_tx_buffer(const struct applayer_tx *tx, enum app_buffer b, enum flow_dir dir,
                        uint32_t index, const uint8_t **data, uint32_t *len)
{
    if (!tx || !data || !len)
        return false;
    switch (tx->proto) {
    case APP_PROTO_HTTP:
        return index == 0 && tx->http && http_tx_buffer(tx->http, b, dir, data, len);
    case APP_PROTO_DNS:
        /* dns.query inspects queries, not the question echoed in responses (Suricata 8) */
        return tx->dns && !(tx->dns->flags & 0x8000) && dns_tx_buffer(tx->dns, b, index, data, len);
    case APP_PROTO_TLS:
        return tx->tls && tls_tx_buffer(tx->tls, b, index, data, len);
    default:
        return false;
    }
}

bool applayer_tx_int(const struct applayer_tx *tx, enum app_int which, uint64_t *value)
{
    if (!tx || !value)
        return false;
    switch (tx->proto) {
    case APP_PROTO_HTTP:
        return tx->http && http_tx_int(tx->http, which, value);
    case APP_PROTO_DNS: {
        const struct dns_msg *m = tx->dns;
        if (!m)
            return false;
        if (which == APP_INT_DNS_OPCODE) {
            *value = (m->flags >> 11) & 0xf;
            return true;
        }
        if (which == APP_INT_DNS_RCODE) {
            *value = m->flags & 0xf;
            return true;
        }
        if (which == APP_INT_DNS_RRTYPE && m->n_q > 0) {
            *value = m->rr[0].rrtype;
            return true;
        }
        return false;
    }
    case APP_PROTO_TLS: {
        if (which != APP_INT_TLS_VERSION || !tx->tls || !tx->tls->info)
            return false;
        const struct tls_info_blk *ib = (const struct tls_info_blk *)tx->tls->info->data;
        uint16_t v = ib->info.selected_version ? ib->info.selected_version
                   : ib->info.server_version   ? ib->info.server_version
                                               : ib->info.client_version;
        if (!v)
            return false;
        *value = v;
        return true;
    }
    default:
        return false;
    }
}

bool applayer_tx_has_side(const struct applayer_tx *tx, enum flow_dir dir)
{
    if (!tx)
        return false;
    if (tx->proto == APP_PROTO_HTTP)
        return tx->http && tx->http->side_seen[dir];
    if (tx->proto == APP_PROTO_DNS)
        return tx->dns && (((tx->dns->flags >> 15) & 1) == (dir == FLOW_TO_CLIENT));
    if (tx->proto == APP_PROTO_TLS && tx->tls && tx->tls->info) {
        const struct tls_info_blk *ib = (const struct tls_info_blk *)tx->tls->info->data;
        return dir == FLOW_TO_SERVER ? ib->info.has_client_hello : ib->info.has_server_hello;
    }
    return false;
}

bool applayer_tx_dns_info(const struct applayer_tx *tx, struct applayer_dns_info *info)
{
    if (!tx || tx->proto != APP_PROTO_DNS || !tx->dns || !info)
        return false;
    const struct dns_msg *m = tx->dns;
    info->id = m->id;
    info->flags = m->flags;
    info->opcode = (m->flags >> 11) & 0xf;
    info->rcode = m->flags & 0xf;
    info->response = (m->flags >> 15) & 1;
    info->n_queries = m->n_q;
    info->n_answers = m->n_an;
    info->n_authorities = m->n_ns;
    info->n_additionals = m->n_ar;
    return true;
}

bool applayer_tx_dns_rr(const struct applayer_tx *tx, unsigned section, uint32_t i,
                        struct applayer_dns_rr *rr)
{
    if (!tx || tx->proto != APP_PROTO_DNS || !tx->dns || !rr)
        return false;
    const struct dns_msg *m = tx->dns;
    uint32_t seen = 0;
    for (uint32_t k = 0; k < m->n_rr; k++) {
        const struct dns_rr_rec *r = &m->rr[k];
        if (r->section != section)
            continue;
        if (seen++ != i)
            continue;
        rr->name = m->arena + r->name.off;
        rr->name_len = r->name.len;
        rr->rrtype = r->rrtype;
        rr->rrclass = r->rrclass;
        rr->ttl = r->ttl;
        rr->rdata = r->rdata.len ? m->arena + r->rdata.off : NULL;
        rr->rdata_len = r->rdata.len;
        rr->rdata_is_name = r->rdata_is_name;
        return true;
    }
    return false;
}

bool applayer_tx_tls_info(const struct applayer_tx *tx, struct applayer_tls_info *info)
{
    if (!tx || tx->proto != APP_PROTO_TLS || !tx->tls || !tx->tls->info || !info)
        return false;
    *info = ((const struct tls_info_blk *)tx->tls->info->data)->info;
    return true;
}

/* ---- glue for the rule engine and the stream ---- */

enum app_buffer_side app_buffer_side(enum app_buffer b)
{
    switch (b) {
    case APP_BUF_HTTP_PROTOCOL:
    case APP_BUF_HTTP_START:
    case APP_BUF_HTTP_HEADER:
    case APP_BUF_HTTP_HEADER_RAW:
    case APP_BUF_HTTP_HEADER_NAMES:
    case APP_BUF_HTTP_COOKIE:
    case APP_BUF_HTTP_CONTENT_TYPE:
    case APP_BUF_HTTP_CONTENT_LEN:
    case APP_BUF_HTTP_CONNECTION:
    case APP_BUF_FILE_DATA:
        return APP_SIDE_EITHER;
    case APP_BUF_HTTP_STAT_CODE:
    case APP_BUF_HTTP_STAT_MSG:
    case APP_BUF_HTTP_RESPONSE_LINE:
    case APP_BUF_HTTP_RESPONSE_BODY:
    case APP_BUF_HTTP_SERVER:
    case APP_BUF_HTTP_LOCATION:
    case APP_BUF_TLS_CERT_SUBJECT:
    case APP_BUF_TLS_CERT_ISSUER:
    case APP_BUF_TLS_CERT_SERIAL:
    case APP_BUF_TLS_CERT_FINGERPRINT:
    case APP_BUF_JA3S_HASH:
    case APP_BUF_JA3S_STRING:
    case APP_BUF_TLS_CERTS:
        return APP_SIDE_RESPONSE;
    default:
        return APP_SIDE_REQUEST;
    }
}

unsigned applayer_tx_collect(const struct applayer_tx *tx, enum flow_dir dir,
                             struct applayer_buf_ref *out, unsigned max)
{
    unsigned n = 0;
    if (!tx || !out)
        return 0;
    for (int b = 1; b < APP_BUF_MAX && n < max; b++) {
        enum app_buffer_side side = app_buffer_side((enum app_buffer)b);
        /* each side's buffers once: a request-only buffer offered again with the response would
         * make a rule without flow direction alert twice for one transaction */
        if ((dir == FLOW_TO_SERVER && side == APP_SIDE_RESPONSE) ||
            (dir == FLOW_TO_CLIENT && side == APP_SIDE_REQUEST))
            continue;
        for (uint32_t idx = 0; n < max; idx++) {
            const uint8_t *p;
            uint32_t l;
            if (!applayer_tx_buffer(tx, (enum app_buffer)b, dir, idx, &p, &l))
                break;
            out[n].id = (uint16_t)(APPLAYER_RULE_BUF_BASE + b);
            out[n].data = p;
            out[n].len = l;
            n++;
        }
    }
    return n;
}

static int hook_app_proto(void *ctx, const char *name)
{
    (void)ctx;
    return (int)app_proto_from_name(name);
}

static int hook_sticky_buffer(void *ctx, const char *keyword)
{
    (void)ctx;
    return (int)app_buffer_from_name(keyword);
}

void applayer_rules_hooks(struct rules_applayer_hooks *h)
{
    h->app_proto = hook_app_proto;
    h->sticky_buffer = hook_sticky_buffer;
    h->ctx = NULL;
}

void applayer_stream_deliver(void *ctx, struct flow *f, enum flow_dir dir,
                             const struct stream_chunk *chunk)
{
    struct applayer_ctx *al = ctx;
    if (!al || !f || !chunk)
        return;
    if (chunk->gap_before && chunk->offset > 0)
        applayer_tcp_gap(al, f, dir);
    applayer_tcp_data(al, f, dir, chunk->data, chunk->len, f->last_ns);
}
