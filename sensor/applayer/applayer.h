/* Application layer: protocol detection and the HTTP/1.x, DNS and TLS parsers.
 *
 * One applayer_ctx per worker, owned by that worker's thread. It is fed in-order byte chunks of
 * each TCP direction (by sensor/stream, through the detect stage) and whole UDP payloads. All
 * memory is reserved at applayer_ctx_new(): per-flow parser state and transaction buffers come
 * from bounded per-worker pools sized by the config, and nothing is allocated per packet. When a
 * pool is empty the flow (or transaction) goes without state and that is counted.
 *
 * The detection engine sees parsed data through transactions (struct applayer_tx): the parser
 * calls the caller's applayer_tx_fn once per transaction and direction when that side is
 * complete (HTTP: request or response with its body up to the inspection depth; DNS: each
 * message; TLS: the ClientHello, then the server's hello/certificate), and the callback reads
 * sticky buffers with applayer_tx_buffer() / applayer_tx_int(). A transaction and its buffers
 * stay valid only during the callback.
 *
 * Hostile input (bad lengths, compression loops, endless headers) never crashes a parser: state
 * is bounded, the flow's parser gives up where it must, and each case is counted by reason
 * (enum applayer_anomaly) and, when an emit callback is given, raised as an EVENT_ANOMALY with
 * layer 2 (applayer).
 *
 * Wiring in a worker (engine), with sensor/detect and sensor/stream:
 *   - rules: applayer_rules_hooks(&load_cfg.applayer) before ruleset_load_files(), so `http`,
 *     `dns`, `tls`... headers and every sticky-buffer keyword load (ids = enum app_buffer).
 *   - TCP: detect_thread_set_stream_hook(dt, applayer_stream_deliver, al): every in-order chunk
 *     reaches the parser before the stream is matched.
 *   - UDP: applayer_udp_data(al, f, dir, m->payload, m->payload_len, m->ts_ns) before
 *     detect_packet(), so `alert dns` rules see flow->app_proto already set.
 *   - transactions: applayer_ctx_set_callbacks(al, on_tx, worker, emit, emit_ctx); on_tx runs
 *     inside detect_packet() (through the stream hook), so it only copies:
 *     applayer_pending_add(pending, f, tx, dir) (+ applayer_eve_snapshot() for the alert's
 *     http/dns/tls object); after detect_packet() returns, for each pending transaction,
 *     detect_buffers(dt, meta of that direction, f, dir, (const struct detect_buffer *)bufs,
 *     n, tx_id, emit, emit_ctx) (struct applayer_buf_ref has struct detect_buffer's layout),
 *     then applayer_pending_clear().
 *   - EVE records: applayer_ctx_set_log_callback(al, on_log, worker): once per complete
 *     transaction, take applayer_eve_snapshot() and carry it to the output thread, which
 *     writes it with applayer_eve_write() under event_type app_proto_name().
 *   - flow end: from the flow table's end callback, detect_flow_end() (may still deliver
 *     queued stream data), then applayer_flow_end(al, f), then the pending transactions with a
 *     pseudo packet of the flow, before the flow is freed.
 *   sensor/engine/engine_burst.c does all of this (the engine's workers, the replay drivers
 *   and bench_et run it) and is the reference.
 * Detection semantics the matcher should keep (as Suricata): a rule inspects a transaction
 * once per direction; with only request-side buffers it matches on FLOW_TO_SERVER, with any
 * response-side buffer (app_buffer_side()) on FLOW_TO_CLIENT; `app-layer-protocol:!x` does not
 * match while the flow's app_proto is still APP_PROTO_UNKNOWN; `urilen` is the length of the
 * APP_BUF_HTTP_URI buffer (APP_BUF_HTTP_URI_RAW with `raw`), i.e. bsize on that buffer.
 */
#ifndef TRIPLINE_APPLAYER_H
#define TRIPLINE_APPLAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "flow.h"
#include "rules.h"
#include "stream.h"

/* Application protocols, named as Suricata names them (app_proto_name()). HTTP, DNS and TLS are
 * parsed; the others are only detected. Values are stable: they go into struct flow's app_proto
 * and into events. */
enum app_proto {
    APP_PROTO_UNKNOWN = 0,
    APP_PROTO_HTTP,   /* HTTP/1.x: "http" (Suricata 7 also answers to "http1") */
    APP_PROTO_DNS,
    APP_PROTO_TLS,
    APP_PROTO_SSH,
    APP_PROTO_SMTP,
    APP_PROTO_FTP,
    APP_PROTO_SMB,
    APP_PROTO_DCERPC,
    APP_PROTO_IMAP,
    APP_PROTO_POP3,
    APP_PROTO_HTTP2,
    APP_PROTO_RDP,
    APP_PROTO_RFB,
    APP_PROTO_SIP,
    APP_PROTO_MQTT,
    APP_PROTO_NTP,
    APP_PROTO_DHCP,
    APP_PROTO_TELNET,
    APP_PROTO_KRB5,
    APP_PROTO_IRC,
    APP_PROTO_FTP_DATA, /* named for rule headers; not detected (needs FTP PASV tracking) */
    APP_PROTO_FAILED, /* detection gave up: "failed" */
    APP_PROTO_MAX
};

/* Suricata's name of a protocol ("http", "tls", ...); "unknown" for APP_PROTO_UNKNOWN. */
const char *app_proto_name(enum app_proto p);
/* Protocol of a Suricata name as rules write it ("http", "http1", "tls", "ssl", "dns", ...);
 * APP_PROTO_UNKNOWN if not known. */
enum app_proto app_proto_from_name(const char *name);

/* Sticky buffers a rule's content can belong to. Direction-dependent ones (http.header,
 * file.data, ...) take the flow direction given to applayer_tx_buffer(). */
enum app_buffer {
    APP_BUF_NONE = 0,           /* the packet / stream payload, not an app-layer buffer */
    /* HTTP request side */
    APP_BUF_HTTP_URI,           /* http.uri / http_uri: normalised (percent-decoded, dot segments removed) */
    APP_BUF_HTTP_URI_RAW,       /* http.uri.raw / http_raw_uri */
    APP_BUF_HTTP_METHOD,        /* http.method */
    APP_BUF_HTTP_PROTOCOL,      /* http.protocol: "HTTP/1.1" (request side; response side by dir) */
    APP_BUF_HTTP_REQUEST_LINE,  /* http.request_line */
    APP_BUF_HTTP_HOST,          /* http.host: lower-cased, port removed */
    APP_BUF_HTTP_HOST_RAW,      /* http.host.raw */
    APP_BUF_HTTP_USER_AGENT,    /* http.user_agent */
    APP_BUF_HTTP_REQUEST_BODY,  /* http.request_body / http_client_body (de-chunked, bounded) */
    APP_BUF_HTTP_REFERER,       /* http.referer */
    APP_BUF_HTTP_ACCEPT,        /* http.accept */
    APP_BUF_HTTP_ACCEPT_LANG,   /* http.accept_lang */
    APP_BUF_HTTP_ACCEPT_ENC,    /* http.accept_enc */
    APP_BUF_HTTP_START,         /* http.start: request line + CRLF + headers */
    /* HTTP, side chosen by direction */
    APP_BUF_HTTP_HEADER,        /* http.header: "Name: value\r\n"... + "\r\n", cookies excluded */
    APP_BUF_HTTP_HEADER_RAW,    /* http.header.raw: headers as received */
    APP_BUF_HTTP_HEADER_NAMES,  /* http.header_names: "\r\nName\r\n...\r\n\r\n" */
    APP_BUF_HTTP_COOKIE,        /* http.cookie: Cookie (request) / Set-Cookie (response) */
    APP_BUF_HTTP_CONTENT_TYPE,  /* http.content_type */
    APP_BUF_HTTP_CONTENT_LEN,   /* http.content_len */
    APP_BUF_HTTP_CONNECTION,    /* http.connection */
    APP_BUF_FILE_DATA,          /* file.data: request body to server, decoded response body to client */
    /* HTTP response side */
    APP_BUF_HTTP_STAT_CODE,     /* http.stat_code */
    APP_BUF_HTTP_STAT_MSG,      /* http.stat_msg */
    APP_BUF_HTTP_RESPONSE_LINE, /* http.response_line */
    APP_BUF_HTTP_RESPONSE_BODY, /* http.response_body / http_server_body (decoded, bounded) */
    APP_BUF_HTTP_SERVER,        /* http.server */
    APP_BUF_HTTP_LOCATION,      /* http.location */
    /* DNS */
    APP_BUF_DNS_QUERY,          /* dns.query / dns_query: one buffer per question name (index) */
    /* TLS */
    APP_BUF_TLS_SNI,            /* tls.sni */
    APP_BUF_TLS_CERT_SUBJECT,   /* tls.cert_subject: "C=US, O=..., CN=..." */
    APP_BUF_TLS_CERT_ISSUER,    /* tls.cert_issuer */
    APP_BUF_TLS_CERT_SERIAL,    /* tls.cert_serial: "0A:1B:..." */
    APP_BUF_TLS_CERT_FINGERPRINT, /* tls.cert_fingerprint: SHA-1 "aa:bb:..." */
    APP_BUF_JA3_HASH,           /* ja3.hash: MD5 hex of the JA3 string */
    APP_BUF_JA3_STRING,         /* ja3.string */
    APP_BUF_JA3S_HASH,          /* ja3s.hash */
    APP_BUF_JA3S_STRING,        /* ja3s.string */
    APP_BUF_TLS_CERTS,          /* tls.certs: each certificate of the server's chain, DER (index) */
    APP_BUF_MAX
};

/* Integer values for keywords that compare numbers. */
enum app_int {
    APP_INT_URILEN = 0,     /* urilen: length of the normalised URI */
    APP_INT_URILEN_RAW,     /* urilen ... raw */
    APP_INT_HTTP_STAT_CODE, /* numeric status code */
    APP_INT_DNS_OPCODE,     /* dns.opcode */
    APP_INT_DNS_RCODE,
    APP_INT_DNS_RRTYPE,     /* first question's type */
    APP_INT_TLS_VERSION,    /* tls.version: negotiated (or offered) version, e.g. 0x0303 */
    APP_INT_MAX
};

/* Buffer of a keyword name as rules write it ("http.uri", "http_uri", "dns_query",
 * "file_data", ...); APP_BUF_NONE if the name is not an app-layer buffer. */
enum app_buffer app_buffer_from_name(const char *name);
/* Canonical dotted name of a buffer ("http.uri"). */
const char *app_buffer_name(enum app_buffer b);
/* Protocol whose transactions carry a buffer (HTTP for APP_BUF_FILE_DATA). */
enum app_proto app_buffer_proto(enum app_buffer b);

/* Why a parser complained. Counted per worker; names as "applayer.<name>". */
enum applayer_anomaly {
    APPL_NONE = 0,
    APPL_NO_STATE,             /* state pool empty: flow not parsed */
    APPL_NO_TX_BUFFER,         /* buffer pool empty: transaction kept without its buffers */
    APPL_HTTP_LINE_TOO_LONG,   /* request/status line or a header beyond the header limit */
    APPL_HTTP_TOO_MANY_HEADERS,
    APPL_HTTP_BAD_REQUEST_LINE,
    APPL_HTTP_BAD_STATUS_LINE,
    APPL_HTTP_BAD_CONTENT_LENGTH,
    APPL_HTTP_BAD_CHUNK,
    APPL_HTTP_TOO_MANY_TX,     /* pipelined requests beyond the per-flow limit */
    APPL_HTTP_BODY_TRUNCATED,  /* body beyond the inspection depth (note, not an attack) */
    APPL_HTTP_DECOMPRESS_ERROR,
    APPL_HTTP_DECOMPRESS_BOMB, /* decoded body grew past the ratio limit */
    APPL_HTTP_NO_INFLATE_STATE,
    APPL_DNS_MALFORMED,
    APPL_DNS_NAME_LOOP,        /* compression pointers looped or went forward */
    APPL_DNS_NAME_TOO_LONG,
    APPL_DNS_TOO_MANY_RECORDS,
    APPL_DNS_TCP_TOO_LARGE,    /* TCP message larger than the buffer */
    APPL_TLS_BAD_RECORD,
    APPL_TLS_BAD_HANDSHAKE,
    APPL_TLS_HANDSHAKE_TOO_LARGE,
    APPL_TLS_BAD_CERT,
    APPL_ANOMALY_MAX
};

const char *applayer_anomaly_name(enum applayer_anomaly a);

struct applayer_config {
    uint32_t max_states;      /* per-flow parser states per worker */
    uint32_t max_buffers;     /* transaction / reassembly buffers per worker */
    uint32_t buffer_size;     /* bytes per buffer: bounds one HTTP message's headers+body kept */
    uint32_t max_inflate;     /* concurrent gzip/deflate streams per worker */
    uint32_t http_header_limit;       /* bytes of request/status line + headers kept */
    uint32_t http_request_body_limit; /* inspection depth of request bodies */
    uint32_t http_response_body_limit;/* inspection depth of decoded response bodies */
    uint32_t http_max_tx;     /* transactions in flight per flow (pipelining) */
    uint32_t detect_bytes;    /* bytes each way after which detection gives up */
    uint32_t dns_max_records; /* resource records parsed per message */
};

/* Defaults: 4096 states, 1024 buffers of 32 KiB, 64 inflate streams, 8 KiB headers, 4 KiB request
 * body, 8 KiB response body, 8 transactions in flight, 1 KiB for detection, 64 records.
 * buffer_size must hold the span table, twice the header limit and the larger body limit. */
void applayer_config_default(struct applayer_config *cfg);

struct applayer_stats {
    uint64_t flows_detected[APP_PROTO_MAX];
    uint64_t http_tx, dns_tx, tls_tx;       /* transactions handed to the callback */
    uint64_t states_in_use, buffers_in_use; /* current */
    uint64_t no_state, no_buffer;           /* pool exhaustion */
    uint64_t anomaly[APPL_ANOMALY_MAX];
    /* Suricata's app_layer.tx.<proto>: transactions a parser opened (an HTTP request or a
     * response without one, a DNS message). A TLS session's one transaction is its flow state,
     * opened with it, as in Suricata (whose counter grows only when a parse call adds
     * transactions): TLS counts none. */
    uint64_t tx_opened[APP_PROTO_MAX];
    uint64_t dns_tcp_flows, dns_tcp_tx; /* of the DNS flows / tx above, over TCP (dns_tcp) */
};

struct applayer_ctx;
struct applayer_tx; /* opaque: read through the getters below */

/* Called once per transaction and direction when that side is ready for inspection. dir is the
 * side that completed (FLOW_TO_SERVER: request / query / ClientHello). The tx is only valid
 * during the call. */
typedef void (*applayer_tx_fn)(void *ctx, struct flow *f, const struct applayer_tx *tx,
                               enum flow_dir dir);

/* Called once per transaction when it is complete, for its EVE record (Suricata logs a
 * transaction once): HTTP when both sides are done, or at the flow's end with what was seen
 * (a request never answered); DNS for every message; TLS when the server's handshake is done,
 * or at the flow's end after a ClientHello. The tx is valid only during the call. */
typedef void (*applayer_log_fn)(void *ctx, struct flow *f, const struct applayer_tx *tx);

/* Creates a worker's context with all its pools. NULL on allocation failure or bad config. */
struct applayer_ctx *applayer_ctx_new(const struct applayer_config *cfg);
void applayer_ctx_free(struct applayer_ctx *ctx);

/* Where a context raises its anomaly events and hands finished transactions. Either may be
 * NULL. Set by the worker before feeding data; may be changed between calls. */
void applayer_ctx_set_callbacks(struct applayer_ctx *ctx, applayer_tx_fn on_tx, void *tx_ctx,
                                event_emit_fn emit, void *emit_ctx);

/* Where complete transactions go for logging (NULL: none). */
void applayer_ctx_set_log_callback(struct applayer_ctx *ctx, applayer_log_fn on_log, void *log_ctx);

/* Feeds an in-order chunk of one TCP direction (from the stream reassembler). ts_ns is the
 * packet time of the segment that completed it. Detects the protocol first if not yet known,
 * then parses; finished transactions go to on_tx before this returns. Caller: owning worker. */
void applayer_tcp_data(struct applayer_ctx *ctx, struct flow *f, enum flow_dir dir,
                       const uint8_t *data, uint32_t len, uint64_t ts_ns);

/* Tells the parser a TCP direction was cut (gap, reassembly limit): it stops parsing that flow
 * in a way that could mis-frame messages. */
void applayer_tcp_gap(struct applayer_ctx *ctx, struct flow *f, enum flow_dir dir);

/* Feeds one UDP datagram's payload (DNS is parsed; others only detected). */
void applayer_udp_data(struct applayer_ctx *ctx, struct flow *f, enum flow_dir dir,
                       const uint8_t *data, uint32_t len, uint64_t ts_ns);

/* The flow ends: transactions still open are handed to on_tx as they stand (a response cut by
 * the close, a body shorter than announced), then the flow's state goes back to the pools. */
void applayer_flow_end(struct applayer_ctx *ctx, struct flow *f);

const struct applayer_stats *applayer_get_stats(const struct applayer_ctx *ctx);

/* ---- transactions ---- */

/* Protocol of a transaction. */
enum app_proto applayer_tx_proto(const struct applayer_tx *tx);
/* Per-flow sequence number of the transaction (alerts' tx_id). */
uint64_t applayer_tx_id(const struct applayer_tx *tx);
/* Packet time at which the side being handed over completed. */
uint64_t applayer_tx_ts(const struct applayer_tx *tx);
/* True on the last hand-over of a transaction (HTTP: both sides done, or the flow ends; DNS:
 * every message; TLS: the server side): the time to write its EVE record, as Suricata logs a
 * transaction once it is complete. */
bool applayer_tx_is_final(const struct applayer_tx *tx);

/* Gets a sticky buffer as seen from direction dir (which side's headers, file.data). Multi-value
 * buffers (dns.query) are read by index 0, 1, ...; single ones have only index 0. Returns false
 * when the transaction has no such buffer (absent header, other protocol, index past the end).
 * A present but empty value returns true with *len 0. */
bool applayer_tx_buffer(const struct applayer_tx *tx, enum app_buffer b, enum flow_dir dir,
                        uint32_t index, const uint8_t **data, uint32_t *len);

/* Gets a numeric value; false when absent. */
bool applayer_tx_int(const struct applayer_tx *tx, enum app_int which, uint64_t *value);

/* True when the direction's side of an HTTP transaction has been seen (request or response). */
bool applayer_tx_has_side(const struct applayer_tx *tx, enum flow_dir dir);

/* Which side of a transaction a buffer belongs to: request-only buffers (http.uri, dns.query,
 * tls.sni...), response-only ones (http.stat_code, file.data to client, tls.cert_subject...), or
 * either (http.header: the side of the inspected direction). A rule whose buffers are all
 * request-side is inspected with the request; one with any response-side buffer with the
 * response (Suricata's rule direction for app-layer rules). */
enum app_buffer_side { APP_SIDE_REQUEST = 0, APP_SIDE_RESPONSE = 1, APP_SIDE_EITHER = 2 };
enum app_buffer_side app_buffer_side(enum app_buffer b);

/* Id the rule engine gives a sticky buffer: rules_core.h's RULE_BUF_APP_BASE + enum app_buffer
 * (the rules parser stores what applayer_rules_hooks' sticky_buffer returns, plus that base). */
#define APPLAYER_RULE_BUF_BASE 16

/* One buffer of a transaction, laid out as sensor/detect's struct detect_buffer. */
struct applayer_buf_ref {
    uint16_t id;          /* APPLAYER_RULE_BUF_BASE + enum app_buffer */
    const uint8_t *data;
    uint32_t len;
};

/* Lists every buffer the transaction has for inspection in direction dir: TO_SERVER gives the
 * request-side and either-side buffers of the request, TO_CLIENT the response-side and
 * either-side buffers of the response, so each buffer is offered once per transaction (no ET
 * Open rule combines request-only with response-only buffers; applayer_tx_buffer() still
 * reads the request from a TO_CLIENT hand-over). Multi-value buffers (dns.query) appear once
 * per value. Returns how many were written (at most max). */
unsigned applayer_tx_collect(const struct applayer_tx *tx, enum flow_dir dir,
                             struct applayer_buf_ref *out, unsigned max);

/* Transactions waiting for inspection. The stream hands chunks to the parser from inside
 * detect_packet(), so a transaction completes while the matcher is mid-packet; inspecting it
 * there would re-enter detect. The worker instead copies the transaction's buffers here in its
 * applayer_tx_fn and runs detect_buffers() on them after detect_packet() returns (and, at flow
 * end, before the flow is freed). Bounded: a transaction that does not fit is counted and
 * skipped. One per worker. */
struct applayer_pending;

/* A store of `bytes` bytes for up to `max_tx` transactions. NULL on allocation failure. */
struct applayer_pending *applayer_pending_new(size_t bytes, unsigned max_tx);
void applayer_pending_free(struct applayer_pending *p);
/* Copies tx's buffers for direction dir (applayer_tx_collect()). False when full (counted). */
bool applayer_pending_add(struct applayer_pending *p, struct flow *f, const struct applayer_tx *tx,
                          enum flow_dir dir);
/* Number of transactions held. */
unsigned applayer_pending_count(const struct applayer_pending *p);
/* The i-th held transaction; bufs point into the store until applayer_pending_clear(). */
void applayer_pending_get(const struct applayer_pending *p, unsigned i, struct flow **f,
                          enum flow_dir *dir, uint64_t *tx_id,
                          const struct applayer_buf_ref **bufs, unsigned *n);
/* Empties the store. */
void applayer_pending_clear(struct applayer_pending *p);
/* Transactions dropped because the store was full. */
uint64_t applayer_pending_dropped(const struct applayer_pending *p);

/* Fills the rules parser's hooks: protocol names (app_proto_from_name) and sticky-buffer
 * keywords (app_buffer_from_name). The hooks need no context. */
void applayer_rules_hooks(struct rules_applayer_hooks *h);

/* A stream_deliver_fn (sensor/stream) feeding applayer_tcp_data(): ctx is the worker's
 * struct applayer_ctx. A chunk after a gap stops that direction's parser (framing is lost).
 * Use with detect_thread_set_stream_hook(). */
void applayer_stream_deliver(void *ctx, struct flow *f, enum flow_dir dir,
                             const struct stream_chunk *chunk);

/* ---- parsed records for EVE and the anomaly detectors ---- */

/* DNS: a question or an answer record, valid during the callback. */
struct applayer_dns_rr {
    const uint8_t *name; /* dotted name, not NUL-terminated */
    uint32_t name_len;
    uint16_t rrtype, rrclass;
    uint32_t ttl;
    const uint8_t *rdata; /* answer data as received (or decoded name for CNAME/NS/PTR/MX) */
    uint32_t rdata_len;
    uint8_t rdata_is_name;
};

struct applayer_dns_info {
    uint16_t id, flags, opcode, rcode;
    bool response;
    uint32_t n_queries, n_answers, n_authorities, n_additionals; /* as parsed (bounded) */
};

/* DNS header of a transaction; false if not DNS. */
bool applayer_tx_dns_info(const struct applayer_tx *tx, struct applayer_dns_info *info);
/* i-th question (section 0) or answer (section 1); false past the end. */
bool applayer_tx_dns_rr(const struct applayer_tx *tx, unsigned section, uint32_t i,
                        struct applayer_dns_rr *rr);

/* Stateless DNS read for the anomaly detectors (no context, no allocation, any thread): the
 * header of one message and its first question's name (dotted, NUL-terminated, without the
 * root dot; names decoded as the parser does: backward pointers only, at most 32 jumps, 255
 * bytes). Returns 0, -EINVAL (malformed), -ENODATA (no question) or -ENOSPC (qname cap too
 * small; the name is cut). */
int applayer_dns_first_question(const uint8_t *msg, uint32_t len, struct applayer_dns_info *info,
                                char *qname, size_t cap, uint16_t *qtype);

/* TLS: versions and cipher lists as seen (host order). */
struct applayer_tls_info {
    uint16_t record_version, client_version, server_version, selected_version;
    uint16_t cipher_suite; /* selected by the server, 0 if not seen */
    uint32_t n_client_ciphers;
    bool has_client_hello, has_server_hello, has_cert;
    bool session_resumed; /* the server echoed the client's session id (RFC 5246 7.4.1.3) */
    uint64_t cert_not_before, cert_not_after; /* Unix seconds, 0 if absent */
};

bool applayer_tx_tls_info(const struct applayer_tx *tx, struct applayer_tls_info *info);

#endif
