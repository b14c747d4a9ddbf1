/* Application layer internals shared by the parsers (not a public interface). */
#ifndef TRIPLINE_APPLAYER_PRIV_H
#define TRIPLINE_APPLAYER_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "applayer.h"

/* struct flow.applayer_flags */
#define APPL_FLOW_DONE_TS 0x01  /* to-server direction gave its detection verdict */
#define APPL_FLOW_DONE_TC 0x02
#define APPL_FLOW_NO_STATE 0x04 /* state pool was empty when this flow needed one */

#define HTTP_MAX_TX_CAP 16   /* compile-time cap of applayer_config.http_max_tx */
#define HTTP_MAX_HEADERS 64  /* headers kept per message; more are counted */

/* A buffer from the per-worker pool: a bump arena of `cap` bytes. */
struct al_buf {
    struct al_buf *next_free;
    uint32_t cap;
    uint32_t len;
    uint8_t data[];
};

/* Fixed-size object pool with a free list; all memory reserved up front. */
struct al_pool {
    uint8_t *mem;
    size_t obj_size;
    uint32_t count, used;
    void *free_list;
};

int al_pool_init(struct al_pool *p, size_t obj_size, uint32_t count);
void al_pool_fini(struct al_pool *p);
void *al_pool_get(struct al_pool *p);
void al_pool_put(struct al_pool *p, void *obj);

/* A span inside a buffer; len UINT32_MAX means absent. */
struct al_span {
    uint32_t off, len;
};
#define AL_ABSENT UINT32_MAX

/* ---- HTTP ---- */

enum http_field {
    HF_METHOD = 0, HF_URI_RAW, HF_URI, HF_PROTOCOL, HF_REQUEST_LINE,
    HF_STAT_CODE, HF_STAT_MSG, HF_RESPONSE_LINE,
    HF_HOST, HF_HOST_RAW, HF_USER_AGENT, HF_REFERER, HF_ACCEPT, HF_ACCEPT_LANG, HF_ACCEPT_ENC,
    HF_COOKIE, HF_CONTENT_TYPE, HF_CONTENT_LEN, HF_CONNECTION, HF_SERVER, HF_LOCATION,
    HF_TRANSFER_ENC, HF_CONTENT_ENC,
    HF_START, HF_HEADER, HF_HEADER_RAW, HF_HEADER_NAMES,
    HF_MAX
};

/* One HTTP message (request or response) laid out at the start of its buffer's arena. */
struct http_msg {
    struct al_span f[HF_MAX];
    struct al_span body; /* grows as body bytes arrive (contiguous, at the arena's end) */
    uint32_t hdr_len;    /* raw header block bytes stored */
    uint32_t n_headers;
    uint16_t stat_code;
    uint8_t hdr_overflow;
    uint8_t body_truncated;
    uint8_t has_body_store; /* body span started */
};

struct al_inflate; /* zlib stream with its pooled memory */

struct http_tx {
    uint64_t id;
    struct al_buf *req, *resp; /* NULL if the side was not stored */
    uint64_t ts[2];
    uint8_t used;
    uint8_t side_seen[2];  /* started */
    uint8_t side_done[2];  /* complete (or at its inspection depth) */
    uint8_t reported[2];   /* handed to on_tx */
    uint8_t is_head, is_connect;
    uint8_t logged;        /* handed to on_log */
};

enum http_phase {
    HP_HEADERS = 0,
    HP_BODY_CL,
    HP_CHUNK_SIZE,
    HP_CHUNK_EXT,      /* rest of the chunk-size line */
    HP_CHUNK_DATA,
    HP_CHUNK_DATA_END, /* CRLF after the data */
    HP_CHUNK_TRAILER,
    HP_BODY_CLOSE,     /* response body until the connection closes */
    HP_STOP,           /* unparseable or tunnelled: ignore the rest */
};

struct http_dir {
    uint8_t phase;      /* enum http_phase */
    uint8_t nl;         /* header end detection: 1 after a LF of an empty-so-far line */
    uint8_t chunk_digits;
    uint8_t trailer_nl;
    int16_t cur;        /* tx slot being filled, -1 for none */
    uint8_t discard;    /* current message has no tx slot: frame only */
    uint8_t line_start; /* at the start of a header line */
    uint64_t remaining; /* body bytes left (content-length or chunk) */
    uint64_t chunk_size;
    struct al_inflate *inflate;
    uint8_t inflate_failed;
    uint32_t inflate_in; /* compressed bytes fed */
};

struct http_state {
    struct http_tx tx[HTTP_MAX_TX_CAP];
    struct http_dir dir[2];
    uint64_t next_id;
    uint32_t head, count; /* ring of in-flight transactions */
    uint32_t resp_next;   /* ring offset (from head) of the tx awaiting a response */
};

/* ---- DNS ---- */

#define DNS_MAX_RR_CAP 256

struct dns_rr_rec {
    struct al_span name;
    struct al_span rdata;
    uint16_t rrtype, rrclass;
    uint32_t ttl;
    uint8_t rdata_is_name;
    uint8_t section; /* 0 question, 1 answer, 2 authority, 3 additional */
};

struct dns_msg {
    uint16_t id, flags;
    uint16_t qdcount, ancount, nscount, arcount;
    uint32_t n_rr;
    uint32_t n_q, n_an, n_ns, n_ar;
    struct dns_rr_rec rr[DNS_MAX_RR_CAP];
    const uint8_t *arena; /* names and rdata spans point here */
};

struct dns_tcp_dir {
    struct al_buf *buf;
    uint32_t need;       /* message length from the 2-byte prefix, 0 while reading it */
    uint8_t lenbuf[2];
    uint8_t lenhave;
    uint8_t skip;        /* message too large: skip `need` bytes */
    uint32_t skipped;
};

struct dns_state {
    struct dns_tcp_dir dir[2];
    uint64_t next_id;
};

/* ---- TLS ---- */

enum tls_field {
    TF_SNI = 0, TF_SUBJECT, TF_ISSUER, TF_SERIAL, TF_FINGERPRINT,
    TF_JA3, TF_JA3_HASH, TF_JA3S, TF_JA3S_HASH,
    TF_MAX
};

#define TLS_MAX_CERTS 8

struct tls_info_blk {
    uint8_t client_sid[32]; /* ClientHello session id, to see a resumption */
    uint8_t client_sid_len;
    struct al_span f[TF_MAX];
    struct al_span certs[TLS_MAX_CERTS]; /* DER of the chain's certificates, as sent */
    uint32_t n_certs;
    struct applayer_tls_info info;
};

struct tls_dir {
    struct al_buf *hs;     /* handshake message reassembly */
    uint8_t rec_hdr[5];
    uint8_t rec_have;
    uint8_t rec_type;
    uint8_t encrypted;     /* after ChangeCipherSpec / TLS 1.3 ServerHello: stop */
    uint8_t stop;
    uint32_t rec_left;     /* bytes left in the current record */
    uint32_t hs_skip;      /* bytes of an oversized handshake message still to skip */
};

struct tls_state {
    struct tls_dir dir[2];
    struct al_buf *info;   /* struct tls_info_blk + strings */
    uint8_t reported[2];
    uint8_t server_done;
    uint8_t logged;
};

/* ---- per-flow state ---- */

struct applayer_state {
    uint16_t proto;
    uint8_t detect_done[2]; /* direction gave its verdict (or gave up) */
    uint8_t gap[2];
    uint8_t pre_len[2];
    uint8_t pre[2][32];     /* first bytes kept until detection can decide */
    uint32_t seen[2];
    union {
        struct http_state http;
        struct dns_state dns;
        struct tls_state tls;
    } u;
};

/* Transaction handed to callbacks. */
struct applayer_tx {
    uint16_t proto;
    bool final; /* last hand-over of this transaction */
    uint64_t id;
    uint64_t ts;
    const struct http_tx *http;
    const struct dns_msg *dns;
    const struct tls_state *tls;
};

struct applayer_ctx {
    struct applayer_config cfg;
    struct al_pool states;
    struct al_pool bufs;
    struct al_pool inflates;
    struct al_buf *scratch;     /* framing-only HTTP parsing and DNS arenas */
    struct al_buf *scratch2;
    struct dns_msg dns_scratch;
    struct hdr_parse *hp;       /* header-block scratch of the HTTP parser */
    applayer_tx_fn on_tx;
    void *tx_ctx;
    event_emit_fn emit;
    void *emit_ctx;
    applayer_log_fn on_log;
    void *log_ctx;
    struct applayer_stats stats;
    /* the flow and packet time being processed, for anomaly events */
    struct flow *cur_flow;
    enum flow_dir cur_dir;
    uint64_t cur_ts;
    bool ending; /* inside applayer_flow_end() */
};

/* Counts an anomaly and raises it as an event on the current flow. */
void al_anomaly(struct applayer_ctx *ctx, enum applayer_anomaly a);

struct al_buf *al_buf_get(struct applayer_ctx *ctx);
void al_buf_put(struct applayer_ctx *ctx, struct al_buf *b);
/* Appends to a buffer's arena; returns the offset or AL_ABSENT (no room: nothing copied). */
uint32_t al_buf_append(struct al_buf *b, const void *data, uint32_t len);

static inline const uint8_t *al_span_ptr(const struct al_buf *b, struct al_span s)
{
    return b->data + s.off;
}

void al_hand_tx(struct applayer_ctx *ctx, struct flow *f, struct applayer_tx *tx, enum flow_dir dir);
/* Hands a complete transaction to on_log (once; the caller keeps the once). */
void al_log_tx(struct applayer_ctx *ctx, struct flow *f, struct applayer_tx *tx);

/* HTTP */
void http_state_init(struct http_state *s);
void http_parse(struct applayer_ctx *ctx, struct flow *f, struct http_state *s, enum flow_dir dir,
                const uint8_t *data, uint32_t len);
void http_state_end(struct applayer_ctx *ctx, struct flow *f, struct http_state *s);
bool http_tx_buffer(const struct http_tx *tx, enum app_buffer b, enum flow_dir dir,
                    const uint8_t **data, uint32_t *len);
bool http_tx_int(const struct http_tx *tx, enum app_int which, uint64_t *value);
/* URI normalisation (exposed for tests): writes at most cap bytes, returns the length. */
uint32_t http_normalize_uri(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap);
bool al_inflate_pool_init(struct applayer_ctx *ctx);
struct hdr_parse;
struct hdr_parse *http_scratch_new(void);

/* DNS */
void dns_state_init(struct dns_state *s);
/* Parses one DNS message into m (names into arena). Returns 0 or -EINVAL (malformed). */
int dns_parse_message(struct applayer_ctx *ctx, const uint8_t *msg, uint32_t len, struct dns_msg *m,
                      struct al_buf *arena);
bool dns_probe(const uint8_t *msg, uint32_t len, bool strict);
void dns_udp(struct applayer_ctx *ctx, struct flow *f, enum flow_dir dir, const uint8_t *data,
             uint32_t len);
void dns_tcp(struct applayer_ctx *ctx, struct flow *f, struct dns_state *s, enum flow_dir dir,
             const uint8_t *data, uint32_t len);
void dns_state_end(struct applayer_ctx *ctx, struct dns_state *s);
bool dns_tx_buffer(const struct dns_msg *m, enum app_buffer b, uint32_t index, const uint8_t **data,
                   uint32_t *len);

/* TLS */
void tls_state_init(struct tls_state *s);
void tls_parse(struct applayer_ctx *ctx, struct flow *f, struct tls_state *s, enum flow_dir dir,
               const uint8_t *data, uint32_t len);
void tls_state_end(struct applayer_ctx *ctx, struct flow *f, struct tls_state *s);
bool tls_tx_buffer(const struct tls_state *s, enum app_buffer b, uint32_t index, const uint8_t **data,
                   uint32_t *len);

#endif
