/* Unit tests: protocol detection, HTTP/1.x, DNS and TLS parsers and their sticky buffers, with
 * well-formed and hostile messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "applayer.h"
#include "applayer_priv.h"
#include "applayer_eve.h"

#include <jansson.h>

/* ---- a recording callback ---- */

#define MAX_REC 64

struct rec {
    enum app_proto proto;
    enum flow_dir dir;
    uint64_t id;
    char buf[APP_BUF_MAX][512];
    int has[APP_BUF_MAX];
    uint32_t len[APP_BUF_MAX];
    char q2[256]; /* second dns.query */
    uint64_t ints[APP_INT_MAX];
    int has_int[APP_INT_MAX];
    struct applayer_dns_info dns;
    char answer0[256];
    uint32_t answer0_len;
    uint16_t answer0_type;
    struct applayer_tls_info tls;
    unsigned n_collect;
    uint16_t collect_ids[64];
    bool final;
};

struct recorder {
    char eve[MAX_REC][2048];
    struct rec r[MAX_REC];
    unsigned n;
    unsigned anomalies;
    uint16_t last_anomaly;
};

static void on_tx(void *ctx, struct flow *f, const struct applayer_tx *tx, enum flow_dir dir)
{
    (void)f;
    struct recorder *rc = ctx;
    if (rc->n >= MAX_REC)
        return;
    struct json_writer jw;
    json_writer_init(&jw, rc->eve[rc->n], sizeof(rc->eve[0]));
    jw_open_object(&jw);
    if (applayer_eve_tx(&jw, tx, dir) == 0) {
        jw_close_object(&jw);
        assert_int_equal(json_writer_finish(&jw), 0);
    } else {
        rc->eve[rc->n][0] = 0;
    }
    struct rec *r = &rc->r[rc->n++];
    memset(r, 0, sizeof(*r));
    r->proto = applayer_tx_proto(tx);
    r->dir = dir;
    r->id = applayer_tx_id(tx);
    r->final = applayer_tx_is_final(tx);
    for (int b = 1; b < APP_BUF_MAX; b++) {
        const uint8_t *p;
        uint32_t l;
        if (applayer_tx_buffer(tx, (enum app_buffer)b, dir, 0, &p, &l)) {
            r->has[b] = 1;
            r->len[b] = l;
            uint32_t k = l < sizeof(r->buf[b]) - 1 ? l : (uint32_t)sizeof(r->buf[b]) - 1;
            memcpy(r->buf[b], p, k);
            r->buf[b][k] = 0;
        }
    }
    const uint8_t *p;
    uint32_t l;
    if (applayer_tx_buffer(tx, APP_BUF_DNS_QUERY, dir, 1, &p, &l) && l < sizeof(r->q2)) {
        memcpy(r->q2, p, l);
        r->q2[l] = 0;
    }
    for (int i = 0; i < APP_INT_MAX; i++)
        r->has_int[i] = applayer_tx_int(tx, (enum app_int)i, &r->ints[i]);
    applayer_tx_dns_info(tx, &r->dns);
    struct applayer_dns_rr rr;
    if (applayer_tx_dns_rr(tx, 1, 0, &rr) && rr.rdata_len < sizeof(r->answer0)) {
        memcpy(r->answer0, rr.rdata, rr.rdata_len);
        r->answer0_len = rr.rdata_len;
        r->answer0_type = rr.rrtype;
    }
    applayer_tx_tls_info(tx, &r->tls);
    struct applayer_buf_ref refs[64];
    r->n_collect = applayer_tx_collect(tx, dir, refs, 64);
    for (unsigned i = 0; i < r->n_collect; i++) {
        r->collect_ids[i] = refs[i].id;
        /* the listed buffer is the one the getter gives */
        const uint8_t *gp;
        uint32_t gl;
        assert_true(applayer_tx_buffer(tx, (enum app_buffer)(refs[i].id - APPLAYER_RULE_BUF_BASE),
                                       dir, 0, &gp, &gl));
    }
}

static bool collected(const struct rec *r, enum app_buffer b)
{
    for (unsigned i = 0; i < r->n_collect; i++)
        if (r->collect_ids[i] == APPLAYER_RULE_BUF_BASE + b)
            return true;
    return false;
}

static bool on_event(void *ctx, const struct event *ev)
{
    struct recorder *rc = ctx;
    assert_int_equal(ev->type, EVENT_ANOMALY);
    assert_int_equal(ev->u.anomaly.layer, 2);
    rc->anomalies++;
    rc->last_anomaly = ev->u.anomaly.code;
    return true;
}

struct fixture {
    struct applayer_ctx *ctx;
    struct recorder rc;
    struct flow f;
};

static void flow_init(struct flow *f, uint8_t proto, uint16_t cport, uint16_t sport)
{
    memset(f, 0, sizeof(*f));
    f->key.proto = proto;
    f->key.ip_version = 4;
    f->key.addr[0][0] = 10;
    f->key.addr[1][0] = 192;
    f->key.port[0] = cport;
    f->key.port[1] = sport;
    f->client_side = 0;
    f->flow_id = 42;
}

static struct fixture *fixture_new(const struct applayer_config *cfg, uint8_t proto, uint16_t cport,
                                   uint16_t sport)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->ctx = applayer_ctx_new(cfg);
    assert_non_null(fx->ctx);
    applayer_ctx_set_callbacks(fx->ctx, on_tx, &fx->rc, on_event, &fx->rc);
    flow_init(&fx->f, proto, cport, sport);
    return fx;
}

static void fixture_free(struct fixture *fx)
{
    applayer_flow_end(fx->ctx, &fx->f);
    const struct applayer_stats *st = applayer_get_stats(fx->ctx);
    /* every state and buffer went back to its pool */
    assert_int_equal(st->states_in_use, 0);
    assert_int_equal(st->buffers_in_use, 0);
    applayer_ctx_free(fx->ctx);
    free(fx);
}

static void feed(struct fixture *fx, enum flow_dir dir, const void *data, size_t len, size_t step)
{
    const uint8_t *p = data;
    if (step == 0)
        step = len;
    for (size_t o = 0; o < len; o += step) {
        size_t n = len - o < step ? len - o : step;
        applayer_tcp_data(fx->ctx, &fx->f, dir, p + o, (uint32_t)n, 1000);
    }
}

static void feed_s(struct fixture *fx, enum flow_dir dir, const char *s, size_t step)
{
    feed(fx, dir, s, strlen(s), step);
}

static struct rec *find(struct recorder *rc, enum flow_dir dir, unsigned nth)
{
    for (unsigned i = 0; i < rc->n; i++)
        if (rc->r[i].dir == dir && nth-- == 0)
            return &rc->r[i];
    return NULL;
}

/* ---- detection and names ---- */

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(app_proto_name(APP_PROTO_HTTP), "http");
    assert_string_equal(app_proto_name(APP_PROTO_TLS), "tls");
    assert_string_equal(app_proto_name(APP_PROTO_FAILED), "failed");
    assert_int_equal(app_proto_from_name("http1"), APP_PROTO_HTTP);
    assert_int_equal(app_proto_from_name("SMB"), APP_PROTO_SMB);
    assert_int_equal(app_proto_from_name("nope"), APP_PROTO_UNKNOWN);
    assert_int_equal(app_buffer_from_name("http_uri"), APP_BUF_HTTP_URI);
    assert_int_equal(app_buffer_from_name("http.uri"), APP_BUF_HTTP_URI);
    assert_int_equal(app_buffer_from_name("file_data"), APP_BUF_FILE_DATA);
    assert_int_equal(app_buffer_from_name("dns_query"), APP_BUF_DNS_QUERY);
    assert_int_equal(app_buffer_from_name("content"), APP_BUF_NONE);
    assert_string_equal(app_buffer_name(APP_BUF_HTTP_REQUEST_BODY), "http.request_body");
    assert_int_equal(app_buffer_proto(APP_BUF_TLS_SNI), APP_PROTO_TLS);
    assert_int_equal(app_buffer_proto(APP_BUF_FILE_DATA), APP_PROTO_HTTP);
}

struct det_case {
    uint8_t l4;
    uint16_t cport, sport;
    enum flow_dir dir;
    const char *data;
    size_t len;
    enum app_proto want;
};

static void test_detect(void **state)
{
    (void)state;
    static const struct det_case cases[] = {
        {6, 40000, 8081, FLOW_TO_SERVER, "GET / HTTP/1.1\r\n", 16, APP_PROTO_HTTP},
        {6, 40000, 443, FLOW_TO_SERVER, "POST /x HTTP/1.0\r\n", 18, APP_PROTO_HTTP},
        {6, 40000, 80, FLOW_TO_CLIENT, "HTTP/1.1 200 OK\r\n", 17, APP_PROTO_HTTP},
        {6, 40000, 80, FLOW_TO_SERVER, "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", 10, APP_PROTO_TLS},
        {6, 40000, 2222, FLOW_TO_CLIENT, "SSH-2.0-OpenSSH_9\r\n", 19, APP_PROTO_SSH},
        {6, 40000, 25, FLOW_TO_CLIENT, "220 mx.example.com ESMTP ready\r\n", 32, APP_PROTO_SMTP},
        {6, 40000, 21, FLOW_TO_CLIENT, "220 (vsFTPd 3.0.3)\r\n", 20, APP_PROTO_FTP},
        {6, 40000, 445, FLOW_TO_SERVER, "\x00\x00\x00\x2f\xfeSMB@\x00", 10, APP_PROTO_SMB},
        {6, 40000, 80, FLOW_TO_SERVER, "\x01\x02\x03\x04 binary junk here!", 24, APP_PROTO_UNKNOWN},
        {17, 40000, 53, FLOW_TO_SERVER,
         "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07" "example\x03" "com\x00\x00\x01\x00\x01",
         33, APP_PROTO_DNS},
        /* DNS on a port that is not DNS's: recognised by content */
        {17, 40000, 9999, FLOW_TO_SERVER,
         "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07" "example\x03" "com\x00\x00\x01\x00\x01",
         33, APP_PROTO_DNS},
        {17, 40000, 9999, FLOW_TO_SERVER, "hello world, not dns at all", 27, APP_PROTO_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct det_case *c = &cases[i];
        struct fixture *fx = fixture_new(NULL, c->l4, c->cport, c->sport);
        if (c->l4 == 6)
            applayer_tcp_data(fx->ctx, &fx->f, c->dir, (const uint8_t *)c->data, (uint32_t)c->len, 1);
        else
            applayer_udp_data(fx->ctx, &fx->f, c->dir, (const uint8_t *)c->data, (uint32_t)c->len, 1);
        if (fx->f.app_proto != c->want)
            fail_msg("case %zu: got %s want %s", i, app_proto_name(fx->f.app_proto),
                     app_proto_name(c->want));
        fixture_free(fx);
    }
}

static void test_detect_split_and_failed(void **state)
{
    (void)state;
    /* "GE" then "T / ..." still detects HTTP and the request parses whole */
    struct fixture *fx = fixture_new(NULL, 6, 40000, 8000);
    feed_s(fx, FLOW_TO_SERVER, "GE", 0);
    assert_int_equal(fx->f.app_proto, APP_PROTO_UNKNOWN);
    feed_s(fx, FLOW_TO_SERVER, "T /split HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    assert_int_equal(fx->f.app_proto, APP_PROTO_HTTP);
    struct rec *r = find(&fx->rc, FLOW_TO_SERVER, 0);
    assert_non_null(r);
    assert_string_equal(r->buf[APP_BUF_HTTP_METHOD], "GET");
    assert_string_equal(r->buf[APP_BUF_HTTP_URI], "/split");
    fixture_free(fx);

    /* both directions unrecognisable: "failed", as Suricata names it */
    fx = fixture_new(NULL, 6, 40000, 7000);
    feed_s(fx, FLOW_TO_SERVER, "\x01\x02 some binary protocol data", 0);
    assert_int_equal(fx->f.app_proto, APP_PROTO_UNKNOWN);
    feed_s(fx, FLOW_TO_CLIENT, "\x03\x04 another binary message here", 0);
    assert_int_equal(fx->f.app_proto, APP_PROTO_FAILED);
    fixture_free(fx);
}

/* ---- HTTP ---- */

static const char REQ1[] =
    "GET /a/b/../c%41/./d?x=%27y&z=1 HTTP/1.1\r\n"
    "Host: WWW.Example.COM:8080\r\n"
    "User-Agent: Mozilla/5.0 test\r\n"
    "Cookie: sess=1\r\n"
    "X-Rep: one\r\n"
    "Folded: first\r\n"
    "  second\r\n"
    "X-Rep: two\r\n"
    "\r\n";

static const char RESP1[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/html\r\n"
    "Set-Cookie: id=9\r\n"
    "Content-Length: 11\r\n"
    "\r\n"
    "hello world";

static void check_req1(const struct rec *r)
{
    assert_non_null(r);
    assert_int_equal(r->proto, APP_PROTO_HTTP);
    assert_string_equal(r->buf[APP_BUF_HTTP_METHOD], "GET");
    assert_string_equal(r->buf[APP_BUF_HTTP_URI_RAW], "/a/b/../c%41/./d?x=%27y&z=1");
    assert_string_equal(r->buf[APP_BUF_HTTP_URI], "/a/cA/d?x='y&z=1");
    assert_string_equal(r->buf[APP_BUF_HTTP_PROTOCOL], "HTTP/1.1");
    assert_string_equal(r->buf[APP_BUF_HTTP_REQUEST_LINE], "GET /a/b/../c%41/./d?x=%27y&z=1 HTTP/1.1");
    assert_string_equal(r->buf[APP_BUF_HTTP_HOST], "www.example.com");
    assert_string_equal(r->buf[APP_BUF_HTTP_HOST_RAW], "WWW.Example.COM:8080");
    assert_string_equal(r->buf[APP_BUF_HTTP_USER_AGENT], "Mozilla/5.0 test");
    assert_string_equal(r->buf[APP_BUF_HTTP_COOKIE], "sess=1");
    assert_string_equal(r->buf[APP_BUF_HTTP_HEADER],
                        "Host: WWW.Example.COM:8080\r\n"
                        "User-Agent: Mozilla/5.0 test\r\n"
                        "X-Rep: one, two\r\n"
                        "Folded: first second\r\n"
                        "\r\n");
    assert_string_equal(r->buf[APP_BUF_HTTP_HEADER_NAMES],
                        "\r\nHost\r\nUser-Agent\r\nCookie\r\nX-Rep\r\nFolded\r\n\r\n");
    assert_false(r->has[APP_BUF_HTTP_REQUEST_BODY]);
    assert_false(r->has[APP_BUF_HTTP_STAT_CODE]);
    assert_true(r->has_int[APP_INT_URILEN]);
    assert_int_equal(r->ints[APP_INT_URILEN], strlen("/a/cA/d?x='y&z=1"));
}

static void check_resp1(const struct rec *r)
{
    assert_non_null(r);
    assert_string_equal(r->buf[APP_BUF_HTTP_STAT_CODE], "200");
    assert_string_equal(r->buf[APP_BUF_HTTP_STAT_MSG], "OK");
    assert_string_equal(r->buf[APP_BUF_HTTP_RESPONSE_LINE], "HTTP/1.1 200 OK");
    assert_string_equal(r->buf[APP_BUF_HTTP_CONTENT_TYPE], "text/html");
    assert_string_equal(r->buf[APP_BUF_HTTP_COOKIE], "id=9");
    assert_string_equal(r->buf[APP_BUF_HTTP_RESPONSE_BODY], "hello world");
    assert_string_equal(r->buf[APP_BUF_FILE_DATA], "hello world");
    /* the request's buffers stay readable when the response is inspected */
    assert_string_equal(r->buf[APP_BUF_HTTP_METHOD], "GET");
    assert_int_equal(r->ints[APP_INT_HTTP_STAT_CODE], 200);
}

static void test_http_basic(void **state)
{
    (void)state;
    /* whole, then byte by byte, then in 7-byte pieces: the same buffers */
    static const size_t steps[] = {0, 1, 7};
    for (size_t i = 0; i < 3; i++) {
        struct fixture *fx = fixture_new(NULL, 6, 40000, 80);
        feed_s(fx, FLOW_TO_SERVER, REQ1, steps[i]);
        assert_int_equal(fx->rc.n, 1);
        check_req1(find(&fx->rc, FLOW_TO_SERVER, 0));
        assert_false(find(&fx->rc, FLOW_TO_SERVER, 0)->final);
        feed_s(fx, FLOW_TO_CLIENT, RESP1, steps[i]);
        assert_int_equal(fx->rc.n, 2);
        check_resp1(find(&fx->rc, FLOW_TO_CLIENT, 0));
        assert_true(find(&fx->rc, FLOW_TO_CLIENT, 0)->final);
        assert_int_equal(fx->rc.anomalies, 0);
        fixture_free(fx);
    }
}

static void test_http_pipelined_chunked(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(NULL, 6, 40000, 80);
    feed_s(fx, FLOW_TO_SERVER,
           "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
           "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
           "GET /second HTTP/1.1\r\nHost: h\r\n\r\n"
           "\r\nHEAD /third HTTP/1.1\r\nHost: h\r\n\r\n",
           3);
    assert_int_equal(fx->rc.n, 3);
    struct rec *r0 = find(&fx->rc, FLOW_TO_SERVER, 0);
    struct rec *r1 = find(&fx->rc, FLOW_TO_SERVER, 1);
    struct rec *r2 = find(&fx->rc, FLOW_TO_SERVER, 2);
    assert_string_equal(r0->buf[APP_BUF_HTTP_REQUEST_BODY], "hello world");
    assert_string_equal(r0->buf[APP_BUF_FILE_DATA], "hello world");
    assert_string_equal(r1->buf[APP_BUF_HTTP_URI], "/second");
    assert_string_equal(r2->buf[APP_BUF_HTTP_METHOD], "HEAD");
    assert_int_equal(r0->id, 0);
    assert_int_equal(r1->id, 1);
    assert_int_equal(r2->id, 2);
    /* responses pair in order; the HEAD response has no body despite its Content-Length */
    feed_s(fx, FLOW_TO_CLIENT,
           "HTTP/1.1 100 Continue\r\n\r\n"
           "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
           "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nnot\r\n0\r\n\r\n"
           "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
           0);
    assert_int_equal(fx->rc.n, 6);
    struct rec *s0 = find(&fx->rc, FLOW_TO_CLIENT, 0);
    struct rec *s1 = find(&fx->rc, FLOW_TO_CLIENT, 1);
    struct rec *s2 = find(&fx->rc, FLOW_TO_CLIENT, 2);
    assert_string_equal(s0->buf[APP_BUF_HTTP_STAT_CODE], "201");
    assert_string_equal(s0->buf[APP_BUF_HTTP_URI], "/up");
    assert_string_equal(s0->buf[APP_BUF_FILE_DATA], "ok");
    assert_string_equal(s1->buf[APP_BUF_HTTP_STAT_CODE], "404");
    assert_string_equal(s1->buf[APP_BUF_HTTP_URI], "/second");
    assert_string_equal(s1->buf[APP_BUF_HTTP_RESPONSE_BODY], "not");
    assert_string_equal(s2->buf[APP_BUF_HTTP_URI], "/third");
    assert_false(s2->has[APP_BUF_HTTP_RESPONSE_BODY]);
    assert_int_equal(s2->id, 2);
    /* after the HEAD response a new response parses (its body belongs to no one) */
    assert_int_equal(fx->rc.anomalies, 0);
    /* app_layer.tx.http: one transaction per request; a response joins its request's (the
     * interim 100 opens none) */
    assert_int_equal(applayer_get_stats(fx->ctx)->tx_opened[APP_PROTO_HTTP], 3);
    assert_int_equal(applayer_get_stats(fx->ctx)->flows_detected[APP_PROTO_HTTP], 1);
    fixture_free(fx);
}

static size_t gzip_buf(const char *in, uint8_t *out, size_t cap, int wbits)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)strlen(in);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = cap - zs.avail_out;
    deflateEnd(&zs);
    return n;
}

static void test_http_gzip(void **state)
{
    (void)state;
    static const int wbits[] = {15 + 16, 15}; /* gzip, then zlib-wrapped deflate */
    static const char *enc[] = {"gzip", "deflate"};
    for (int k = 0; k < 2; k++) {
        struct fixture *fx = fixture_new(NULL, 6, 40000, 80);
        feed_s(fx, FLOW_TO_SERVER, "GET /z HTTP/1.1\r\nHost: h\r\n\r\n", 0);
        const char *plain = "<html>the decoded body of a compressed response, repeated repeated "
                            "repeated repeated</html>";
        uint8_t z[512];
        size_t zl = gzip_buf(plain, z, sizeof(z), wbits[k]);
        char hdr[256];
        snprintf(hdr, sizeof(hdr),
                 "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %zu\r\n\r\n", enc[k], zl);
        feed_s(fx, FLOW_TO_CLIENT, hdr, 0);
        feed(fx, FLOW_TO_CLIENT, z, zl, 5);
        struct rec *r = find(&fx->rc, FLOW_TO_CLIENT, 0);
        assert_non_null(r);
        assert_string_equal(r->buf[APP_BUF_HTTP_RESPONSE_BODY], plain);
        fixture_free(fx);
    }
    /* declared gzip but sent plain: inspected as sent */
    struct fixture *fx = fixture_new(NULL, 6, 40000, 80);
    feed_s(fx, FLOW_TO_SERVER, "GET /z HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    feed_s(fx, FLOW_TO_CLIENT,
           "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nplaintext", 0);
    struct rec *r = find(&fx->rc, FLOW_TO_CLIENT, 0);
    assert_non_null(r);
    assert_string_equal(r->buf[APP_BUF_HTTP_RESPONSE_BODY], "plaintext");
    fixture_free(fx);
}

static void test_http_body_depth_and_close(void **state)
{
    (void)state;
    struct applayer_config cfg;
    applayer_config_default(&cfg);
    cfg.http_request_body_limit = 16;
    struct fixture *fx = fixture_new(&cfg, 6, 40000, 80);
    feed_s(fx, FLOW_TO_SERVER, "POST / HTTP/1.1\r\nContent-Length: 40\r\n\r\n0123456789", 0);
    assert_int_equal(fx->rc.n, 0); /* not complete, not at depth yet */
    feed_s(fx, FLOW_TO_SERVER, "abcdefghijklmnopqrstuvwxyz0123", 0);
    assert_int_equal(fx->rc.n, 1); /* handed over at the inspection depth */
    assert_string_equal(fx->rc.r[0].buf[APP_BUF_HTTP_REQUEST_BODY], "0123456789abcdef");
    /* the rest was framed: the next request parses */
    feed_s(fx, FLOW_TO_SERVER, "GET /next HTTP/1.1\r\n\r\n", 0);
    assert_int_equal(fx->rc.n, 2);
    assert_string_equal(fx->rc.r[1].buf[APP_BUF_HTTP_URI], "/next");
    /* a response without length ends with the connection */
    feed_s(fx, FLOW_TO_CLIENT, "HTTP/1.0 200 OK\r\n\r\nuntil close", 0);
    assert_int_equal(fx->rc.n, 2);
    applayer_flow_end(fx->ctx, &fx->f);
    assert_int_equal(fx->rc.n, 3); /* the open response handed over at the end */
    assert_true(fx->rc.r[2].final);
    struct rec *r = find(&fx->rc, FLOW_TO_CLIENT, 0);
    assert_string_equal(r->buf[APP_BUF_HTTP_RESPONSE_BODY], "until close");
    fixture_free(fx);
}

static void test_http_missing_protocol(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(NULL, 6, 40000, 80);
    feed_s(fx, FLOW_TO_SERVER, "GET /gen.php?x=1\r\nHost: 5.8.88.25\r\nConnection:keep-alive\r\n"
                               "User-Agent:Mozilla/5.0\r\n\r\n", 0);
    struct rec *r = find(&fx->rc, FLOW_TO_SERVER, 0);
    assert_non_null(r);
    assert_false(r->has[APP_BUF_HTTP_PROTOCOL]);
    assert_string_equal(r->buf[APP_BUF_HTTP_USER_AGENT], "Mozilla/5.0");
    assert_string_equal(r->buf[APP_BUF_HTTP_HEADER_NAMES], "\r\nHost\r\nConnection\r\nUser-Agent\r\n\r\n");
    fixture_free(fx);
}

static void test_http_proxy_host(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(NULL, 6, 40000, 3128);
    feed_s(fx, FLOW_TO_SERVER, "GET http://user@Proxy.Example.NET:8080/p/../q HTTP/1.1\r\n"
                               "Host: other.example\r\n\r\n", 0);
    struct rec *r = find(&fx->rc, FLOW_TO_SERVER, 0);
    assert_non_null(r);
    assert_string_equal(r->buf[APP_BUF_HTTP_HOST], "proxy.example.net");
    assert_string_equal(r->buf[APP_BUF_HTTP_HOST_RAW], "other.example");
    assert_string_equal(r->buf[APP_BUF_HTTP_URI], "http://user@Proxy.Example.NET:8080/q");
    fixture_free(fx);
}

static void test_uri_normalize(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"/", "/"},
        {"/a/./b/../../c", "/c"},
        {"/../../etc/passwd", "/etc/passwd"},
        {"/%2e%2e/%2E%2e/etc/passwd", "/etc/passwd"},
        {"/a\\..\\b", "/b"},
        {"/x%zz%4", "/x%zz%4"},
        {"/p?q=/../%41", "/p?q=/../A"},
        {"http://Host:81/a/../b?c", "http://Host:81/b?c"},
        {"/a/..", "/"},
        {"/a/.", "/a/"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t out[128];
        uint32_t n = http_normalize_uri((const uint8_t *)cases[i].in, (uint32_t)strlen(cases[i].in),
                                        out, sizeof(out));
        out[n] = 0;
        if (strcmp((char *)out, cases[i].out) != 0)
            fail_msg("%s -> %s, want %s", cases[i].in, out, cases[i].out);
    }
}

static void test_http_hostile(void **state)
{
    (void)state;
    /* endless header: kept to the limit, counted, framing continues */
    struct fixture *fx = fixture_new(NULL, 6, 40000, 80);
    feed_s(fx, FLOW_TO_SERVER, "GET / HTTP/1.1\r\nX: ", 0);
    char junk[4096];
    memset(junk, 'A', sizeof(junk));
    for (int i = 0; i < 64; i++)
        feed(fx, FLOW_TO_SERVER, junk, sizeof(junk), 0);
    feed_s(fx, FLOW_TO_SERVER, "\r\n\r\nGET /after HTTP/1.1\r\n\r\n", 0);
    assert_int_equal(applayer_get_stats(fx->ctx)->anomaly[APPL_HTTP_LINE_TOO_LONG], 1);
    assert_int_equal(fx->rc.n, 2);
    assert_string_equal(fx->rc.r[1].buf[APP_BUF_HTTP_URI], "/after");
    assert_true(fx->rc.anomalies >= 1);
    fixture_free(fx);

    /* bad chunk size: counted, direction stops, no crash */
    fx = fixture_new(NULL, 6, 40000, 80);
    feed_s(fx, FLOW_TO_SERVER, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0);
    feed_s(fx, FLOW_TO_SERVER, "ffffffffffffffffffff\r\n", 0);
    assert_int_equal(applayer_get_stats(fx->ctx)->anomaly[APPL_HTTP_BAD_CHUNK], 1);
    fixture_free(fx);

    /* oversized chunk size */
    fx = fixture_new(NULL, 6, 40000, 80);
    feed_s(fx, FLOW_TO_SERVER, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", 0);
    assert_int_equal(applayer_get_stats(fx->ctx)->anomaly[APPL_HTTP_BAD_CHUNK], 1);
    fixture_free(fx);

    /* bad content-length and many pipelined requests with no answer */
    fx = fixture_new(NULL, 6, 40000, 80);
    feed_s(fx, FLOW_TO_SERVER, "POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 0);
    for (int i = 0; i < 20; i++)
        feed_s(fx, FLOW_TO_SERVER, "GET / HTTP/1.1\r\n\r\n", 0);
    const struct applayer_stats *st = applayer_get_stats(fx->ctx);
    assert_int_equal(st->anomaly[APPL_HTTP_BAD_CONTENT_LENGTH], 1);
    assert_int_equal(st->anomaly[APPL_HTTP_TOO_MANY_TX], 1);
    assert_int_equal(fx->rc.n, 8); /* http_max_tx in flight */
    fixture_free(fx);

    /* a gzip bomb cannot grow past the inspection depth */
    fx = fixture_new(NULL, 6, 40000, 80);
    feed_s(fx, FLOW_TO_SERVER, "GET / HTTP/1.1\r\n\r\n", 0);
    static uint8_t zeros[1 << 18];
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    static uint8_t z[8192];
    zs.next_in = zeros;
    zs.avail_in = sizeof(zeros);
    zs.next_out = z;
    zs.avail_out = sizeof(z);
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t zl = sizeof(z) - zs.avail_out;
    deflateEnd(&zs);
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", zl);
    feed_s(fx, FLOW_TO_CLIENT, hdr, 0);
    feed(fx, FLOW_TO_CLIENT, z, zl, 0);
    struct rec *r = find(&fx->rc, FLOW_TO_CLIENT, 0);
    assert_non_null(r);
    assert_int_equal(r->len[APP_BUF_HTTP_RESPONSE_BODY], 8192); /* default response depth */
    fixture_free(fx);
}

static void test_pool_exhaustion(void **state)
{
    (void)state;
    struct applayer_config cfg;
    applayer_config_default(&cfg);
    cfg.max_states = 1;
    struct applayer_ctx *ctx = applayer_ctx_new(&cfg);
    assert_non_null(ctx);
    static struct recorder rc;
    memset(&rc, 0, sizeof(rc));
    applayer_ctx_set_callbacks(ctx, on_tx, &rc, on_event, &rc);
    struct flow f1, f2;
    flow_init(&f1, 6, 1, 80);
    flow_init(&f2, 6, 2, 80);
    const char *req = "GET / HTTP/1.1\r\n\r\n";
    applayer_tcp_data(ctx, &f1, FLOW_TO_SERVER, (const uint8_t *)req, (uint32_t)strlen(req), 1);
    applayer_tcp_data(ctx, &f2, FLOW_TO_SERVER, (const uint8_t *)req, (uint32_t)strlen(req), 1);
    assert_int_equal(rc.n, 1);
    assert_int_equal(f2.app_proto, APP_PROTO_HTTP); /* still detected */
    assert_int_equal(applayer_get_stats(ctx)->no_state, 1);
    applayer_flow_end(ctx, &f1);
    applayer_flow_end(ctx, &f2);
    assert_int_equal(applayer_get_stats(ctx)->states_in_use, 0);
    applayer_ctx_free(ctx);
    applayer_ctx_free(NULL);
}

/* ---- DNS ---- */

static size_t put_name(uint8_t *p, const char *name)
{
    size_t o = 0;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        p[o++] = (uint8_t)l;
        memcpy(p + o, name, l);
        o += l;
        name += l + (dot ? 1 : 0);
    }
    p[o++] = 0;
    return o;
}

static size_t dns_response(uint8_t *m)
{
    size_t o = 0;
    static const uint8_t hdr[12] = {0xab, 0xcd, 0x81, 0x80, 0, 2, 0, 2, 0, 0, 0, 0};
    memcpy(m, hdr, 12);
    o = 12;
    size_t qname = o;
    o += put_name(m + o, "www.example.com");
    m[o++] = 0; m[o++] = 5; m[o++] = 0; m[o++] = 1;  /* CNAME IN */
    o += put_name(m + o, "second.example.net");
    m[o++] = 0; m[o++] = 1; m[o++] = 0; m[o++] = 1;
    /* answer 1: pointer to the question name, CNAME -> "cdn." + pointer to example.com */
    m[o++] = 0xc0; m[o++] = (uint8_t)qname;
    m[o++] = 0; m[o++] = 5; m[o++] = 0; m[o++] = 1;
    m[o++] = 0; m[o++] = 0; m[o++] = 0x0e; m[o++] = 0x10;
    m[o++] = 0; m[o++] = 6;
    m[o++] = 3; m[o++] = 'c'; m[o++] = 'd'; m[o++] = 'n';
    m[o++] = 0xc0; m[o++] = (uint8_t)(qname + 4);
    /* answer 2: A 192.0.2.1 */
    m[o++] = 0xc0; m[o++] = (uint8_t)qname;
    m[o++] = 0; m[o++] = 1; m[o++] = 0; m[o++] = 1;
    m[o++] = 0; m[o++] = 0; m[o++] = 0; m[o++] = 60;
    m[o++] = 0; m[o++] = 4;
    m[o++] = 192; m[o++] = 0; m[o++] = 2; m[o++] = 1;
    return o;
}

static void test_dns_udp(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(NULL, 17, 40000, 53);
    uint8_t m[512];
    size_t n = dns_response(m);
    m[2] = 0x01; m[3] = 0x00; /* as a query first: standard query, RD */
    m[7] = 0;                 /* no answers */
    size_t qlen = 12;
    qlen += put_name(m + qlen, "www.example.com") + 4;
    qlen += put_name(m + qlen, "second.example.net") + 4;
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_SERVER, m, (uint32_t)qlen, 1);
    assert_int_equal(fx->f.app_proto, APP_PROTO_DNS);
    n = dns_response(m);
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_CLIENT, m, (uint32_t)n, 2);
    assert_int_equal(fx->rc.n, 2);
    struct rec *q = &fx->rc.r[0], *a = &fx->rc.r[1];
    assert_string_equal(q->buf[APP_BUF_DNS_QUERY], "www.example.com");
    assert_string_equal(q->q2, "second.example.net");
    assert_true(q->has_int[APP_INT_DNS_OPCODE]);
    assert_int_equal(q->ints[APP_INT_DNS_OPCODE], 0);
    assert_int_equal(q->ints[APP_INT_DNS_RRTYPE], 5);
    assert_false(q->dns.response);
    assert_true(a->dns.response);
    assert_int_equal(a->dns.n_answers, 2);
    assert_int_equal(a->dns.id, 0xabcd);
    assert_int_equal(a->answer0_type, 5);
    assert_int_equal(a->answer0_len, strlen("cdn.example.com"));
    assert_memory_equal(a->answer0, "cdn.example.com", a->answer0_len);
    assert_int_equal(fx->rc.anomalies, 0);

    /* opcode 2 (status) query */
    m[2] = 0x10; m[3] = 0; m[7] = 0;
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_SERVER, m, (uint32_t)qlen, 3);
    assert_int_equal(fx->rc.r[2].ints[APP_INT_DNS_OPCODE], 2);
    /* app_layer.{flow,tx}.dns_udp: every message is a transaction */
    const struct applayer_stats *st = applayer_get_stats(fx->ctx);
    assert_int_equal(st->tx_opened[APP_PROTO_DNS], 3);
    assert_int_equal(st->flows_detected[APP_PROTO_DNS], 1);
    assert_int_equal(st->dns_tcp_tx, 0);
    assert_int_equal(st->dns_tcp_flows, 0);
    fixture_free(fx);
}

static void test_dns_hostile(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(NULL, 17, 40000, 53);
    uint8_t good[64];
    size_t gl = 12 + put_name(good + 12, "a.b") + 4;
    memset(good, 0, 12);
    good[5] = 1;
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_SERVER, good, (uint32_t)gl, 1);
    assert_int_equal(fx->f.app_proto, APP_PROTO_DNS);
    unsigned before = fx->rc.n;

    /* a pointer to itself */
    uint8_t loop[32] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_SERVER, loop, 18, 2);
    /* two pointers chasing each other: 12 -> 14 is forward, refused */
    uint8_t loop2[32] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0xc0, 12, 0, 1, 0, 1};
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_SERVER, loop2, 20, 3);
    const struct applayer_stats *st = applayer_get_stats(fx->ctx);
    assert_int_equal(st->anomaly[APPL_DNS_NAME_LOOP], 2);

    /* a name over 255 bytes */
    uint8_t lng[600];
    memset(lng, 0, 12);
    lng[5] = 1;
    size_t o = 12;
    for (int i = 0; i < 8; i++) {
        lng[o++] = 63;
        memset(lng + o, 'x', 63);
        o += 63;
    }
    lng[o++] = 0;
    o += 4;
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_SERVER, lng, (uint32_t)o, 4);
    assert_int_equal(st->anomaly[APPL_DNS_NAME_TOO_LONG], 1);

    /* counts beyond the data, truncated header */
    uint8_t lie[20] = {0, 1, 0x81, 0x80, 0, 1, 0xff, 0xff, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1};
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_CLIENT, lie, 19, 5);
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_CLIENT, lie, 7, 6);
    assert_int_equal(st->anomaly[APPL_DNS_MALFORMED], 2);
    assert_int_equal(fx->rc.n, before); /* nothing malformed reached inspection */
    assert_int_equal(fx->rc.anomalies, 5);
    fixture_free(fx);
}

static void test_dns_first_question(void **state)
{
    (void)state;
    uint8_t m[512];
    size_t n = dns_response(m);
    struct applayer_dns_info di;
    char q[64];
    uint16_t qt = 0;
    assert_int_equal(applayer_dns_first_question(m, (uint32_t)n, &di, q, sizeof(q), &qt), 0);
    assert_string_equal(q, "www.example.com");
    assert_int_equal(qt, 5);
    assert_true(di.response);
    assert_int_equal(di.n_answers, 2);
    assert_int_equal(applayer_dns_first_question(m, (uint32_t)n, NULL, q, 4, NULL), -ENOSPC);
    assert_string_equal(q, "www");
    uint8_t loop[18] = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
    assert_int_equal(applayer_dns_first_question(loop, 18, NULL, q, sizeof(q), NULL), -EINVAL);
    assert_int_equal(applayer_dns_first_question(m, 11, NULL, q, sizeof(q), NULL), -EINVAL);
    m[4] = m[5] = 0;
    assert_int_equal(applayer_dns_first_question(m, (uint32_t)n, NULL, q, sizeof(q), NULL), -ENODATA);
}

static void test_dns_tcp(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(NULL, 6, 40000, 53);
    uint8_t m[600];
    size_t n = dns_response(m + 2);
    m[0] = (uint8_t)(n >> 8);
    m[1] = (uint8_t)n;
    uint8_t two[1200];
    memcpy(two, m, n + 2);
    memcpy(two + n + 2, m, n + 2);
    feed(fx, FLOW_TO_CLIENT, two, 2 * (n + 2), 3);
    assert_int_equal(fx->f.app_proto, APP_PROTO_DNS);
    assert_int_equal(fx->rc.n, 2);
    assert_int_equal(applayer_get_stats(fx->ctx)->buffers_in_use, 0); /* idle: none held */
    /* responses carry the question but dns.query inspects queries only */
    assert_false(fx->rc.r[1].has[APP_BUF_DNS_QUERY]);
    assert_int_equal(fx->rc.r[1].dns.n_queries, 2);
    assert_int_equal(fx->rc.r[1].id, 1);
    /* app_layer.{flow,tx}.dns_tcp */
    assert_int_equal(applayer_get_stats(fx->ctx)->tx_opened[APP_PROTO_DNS], 2);
    assert_int_equal(applayer_get_stats(fx->ctx)->dns_tcp_tx, 2);
    assert_int_equal(applayer_get_stats(fx->ctx)->dns_tcp_flows, 1);
    fixture_free(fx);
}

/* ---- TLS ---- */

static size_t client_hello(uint8_t *out, const char *sni)
{
    uint8_t b[512];
    size_t o = 0;
    b[o++] = 3; b[o++] = 3;      /* legacy_version TLS 1.2 */
    memset(b + o, 0x11, 32); o += 32;
    b[o++] = 0;                  /* session id */
    static const uint16_t cs[] = {0x0a0a, 0x1301, 0xc02f, 0x009c};
    b[o++] = 0; b[o++] = sizeof(cs);
    for (size_t i = 0; i < 4; i++) { b[o++] = (uint8_t)(cs[i] >> 8); b[o++] = (uint8_t)cs[i]; }
    b[o++] = 1; b[o++] = 0;      /* compression null */
    size_t ext_len_at = o;
    o += 2;
    /* GREASE extension */
    b[o++] = 0x1a; b[o++] = 0x1a; b[o++] = 0; b[o++] = 0;
    /* SNI */
    size_t sl = strlen(sni);
    b[o++] = 0; b[o++] = 0; b[o++] = 0; b[o++] = (uint8_t)(sl + 5);
    b[o++] = 0; b[o++] = (uint8_t)(sl + 3); b[o++] = 0; b[o++] = 0; b[o++] = (uint8_t)sl;
    memcpy(b + o, sni, sl); o += sl;
    /* supported_groups: GREASE, x25519, secp256r1 */
    b[o++] = 0; b[o++] = 10; b[o++] = 0; b[o++] = 8; b[o++] = 0; b[o++] = 6;
    b[o++] = 0x2a; b[o++] = 0x2a; b[o++] = 0; b[o++] = 29; b[o++] = 0; b[o++] = 23;
    /* ec_point_formats: uncompressed */
    b[o++] = 0; b[o++] = 11; b[o++] = 0; b[o++] = 2; b[o++] = 1; b[o++] = 0;
    /* supported_versions: 1.3, 1.2 */
    b[o++] = 0; b[o++] = 43; b[o++] = 0; b[o++] = 5; b[o++] = 4; b[o++] = 3; b[o++] = 4; b[o++] = 3; b[o++] = 3;
    size_t el = o - ext_len_at - 2;
    b[ext_len_at] = (uint8_t)(el >> 8);
    b[ext_len_at + 1] = (uint8_t)el;
    /* handshake header + record header */
    out[0] = 22; out[1] = 3; out[2] = 1;
    out[3] = (uint8_t)((o + 4) >> 8); out[4] = (uint8_t)(o + 4);
    out[5] = 1; out[6] = 0; out[7] = (uint8_t)(o >> 8); out[8] = (uint8_t)o;
    memcpy(out + 9, b, o);
    return o + 9;
}

static void test_tls_client_hello(void **state)
{
    (void)state;
    uint8_t ch[600];
    size_t n = client_hello(ch, "secure.example.org");
    static const size_t steps[] = {0, 1, 4};
    for (int k = 0; k < 3; k++) {
        struct fixture *fx = fixture_new(NULL, 6, 40000, 443);
        feed(fx, FLOW_TO_SERVER, ch, n, steps[k]);
        assert_int_equal(fx->f.app_proto, APP_PROTO_TLS);
        assert_int_equal(fx->rc.n, 1);
        struct rec *r = &fx->rc.r[0];
        assert_string_equal(r->buf[APP_BUF_TLS_SNI], "secure.example.org");
        /* GREASE dropped from ciphers, extensions and groups (JA3 rules) */
        assert_string_equal(r->buf[APP_BUF_JA3_STRING], "771,4865-49199-156,0-10-11-43,29-23,0");
        /* md5("771,4865-49199-156,0-10-11-43,29-23,0") */
        unsigned char md[16];
        unsigned int ml = 0;
        const char *js = "771,4865-49199-156,0-10-11-43,29-23,0";
        EVP_Digest(js, strlen(js), md, &ml, EVP_md5(), NULL);
        char hex[33];
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        assert_string_equal(r->buf[APP_BUF_JA3_HASH], hex);
        assert_int_equal(r->tls.client_version, 0x0303);
        assert_int_equal(r->tls.n_client_ciphers, 4);
        assert_true(r->has_int[APP_INT_TLS_VERSION]);
        fixture_free(fx);
    }
}

/* Builds a self-signed certificate's DER with the given subject fields. */
static int make_cert(uint8_t *out, int cap)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234ab);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0);
    X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"Stamus Networks", -1, -1, 0);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"www.example.com", -1, -1, 0);
    X509_NAME *is = X509_NAME_new();
    X509_NAME_add_entry_by_txt(is, "C", MBSTRING_ASC, (const unsigned char *)"FR", -1, -1, 0);
    X509_NAME_add_entry_by_txt(is, "CN", MBSTRING_ASC, (const unsigned char *)"Test CA", -1, -1, 0);
    X509_set_issuer_name(x, is);
    X509_NAME_free(is);
    X509_set_pubkey(x, key);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    int l = i2d_X509(x, NULL);
    assert_true(l > 0 && l <= cap);
    unsigned char *p = out;
    i2d_X509(x, &p);
    X509_free(x);
    EVP_PKEY_free(key);
    return l;
}

static size_t server_flight(uint8_t *out, bool tls13)
{
    uint8_t sh[128];
    size_t o = 0;
    sh[o++] = 3; sh[o++] = 3;
    memset(sh + o, 0x22, 32); o += 32;
    sh[o++] = 0;
    sh[o++] = 0xc0; sh[o++] = 0x2f;
    sh[o++] = 0;
    if (tls13) {
        sh[o++] = 0; sh[o++] = 6;
        sh[o++] = 0; sh[o++] = 43; sh[o++] = 0; sh[o++] = 2; sh[o++] = 3; sh[o++] = 4;
    } else {
        sh[o++] = 0; sh[o++] = 4;
        sh[o++] = 0xff; sh[o++] = 0x01; sh[o++] = 0; sh[o++] = 0; /* renegotiation_info, empty */
    }
    uint8_t der[2048];
    int dl = make_cert(der, sizeof(der));
    /* handshake stream: ServerHello, Certificate, ServerHelloDone */
    uint8_t hs[4096];
    size_t h = 0;
    hs[h++] = 2; hs[h++] = 0; hs[h++] = (uint8_t)(o >> 8); hs[h++] = (uint8_t)o;
    memcpy(hs + h, sh, o); h += o;
    size_t certs = (size_t)dl + 3;
    hs[h++] = 11; hs[h++] = 0; hs[h++] = (uint8_t)((certs + 3) >> 8); hs[h++] = (uint8_t)(certs + 3);
    hs[h++] = 0; hs[h++] = (uint8_t)(certs >> 8); hs[h++] = (uint8_t)certs;
    hs[h++] = 0; hs[h++] = (uint8_t)(dl >> 8); hs[h++] = (uint8_t)dl;
    memcpy(hs + h, der, (size_t)dl); h += (size_t)dl;
    hs[h++] = 14; hs[h++] = 0; hs[h++] = 0; hs[h++] = 0;
    /* split the handshake stream over records of 100 bytes (messages cross records) */
    size_t w = 0;
    for (size_t s = 0; s < h; s += 100) {
        size_t k = h - s < 100 ? h - s : 100;
        out[w++] = 22; out[w++] = 3; out[w++] = 3; out[w++] = 0; out[w++] = (uint8_t)k;
        memcpy(out + w, hs + s, k);
        w += k;
    }
    return w;
}

static void test_tls_server(void **state)
{
    (void)state;
    uint8_t ch[600], sf[8192];
    size_t cn = client_hello(ch, "a.b");
    size_t sn = server_flight(sf, false);
    struct fixture *fx = fixture_new(NULL, 6, 40000, 443);
    feed(fx, FLOW_TO_SERVER, ch, cn, 0);
    feed(fx, FLOW_TO_CLIENT, sf, sn, 13);
    assert_int_equal(fx->rc.n, 2);
    struct rec *r = find(&fx->rc, FLOW_TO_CLIENT, 0);
    assert_non_null(r);
    assert_string_equal(r->buf[APP_BUF_TLS_CERT_SUBJECT], "C=US, O=Stamus Networks, CN=www.example.com");
    assert_string_equal(r->buf[APP_BUF_TLS_CERT_ISSUER], "C=FR, CN=Test CA");
    assert_string_equal(r->buf[APP_BUF_TLS_CERT_SERIAL], "12:34:AB");
    assert_int_equal(r->len[APP_BUF_TLS_CERT_FINGERPRINT], 59);
    /* tls.certs: the DER as sent (a SEQUENCE) */
    assert_true(r->has[APP_BUF_TLS_CERTS]);
    assert_int_equal((uint8_t)r->buf[APP_BUF_TLS_CERTS][0], 0x30);
    assert_true(r->len[APP_BUF_TLS_CERTS] > 200);
    assert_string_equal(r->buf[APP_BUF_JA3S_STRING], "771,49199,65281");
    assert_int_equal(r->len[APP_BUF_JA3S_HASH], 32);
    assert_int_equal(r->tls.cipher_suite, 0xc02f);
    assert_true(r->tls.has_cert);
    assert_true(r->tls.cert_not_after > r->tls.cert_not_before);
    assert_int_equal(r->ints[APP_INT_TLS_VERSION], 0x0303);
    assert_int_equal(fx->rc.anomalies, 0);
    /* app_layer.tx.tls: a session's one transaction is its state (Suricata counts none) */
    assert_int_equal(applayer_get_stats(fx->ctx)->flows_detected[APP_PROTO_TLS], 1);
    assert_int_equal(applayer_get_stats(fx->ctx)->tx_opened[APP_PROTO_TLS], 0);
    assert_int_equal(applayer_get_stats(fx->ctx)->tx_opened[APP_PROTO_HTTP], 0);
    fixture_free(fx);

    /* TLS 1.3: handed over at the ServerHello, certificate not visible */
    fx = fixture_new(NULL, 6, 40000, 443);
    sn = server_flight(sf, true);
    feed(fx, FLOW_TO_SERVER, ch, cn, 0);
    feed(fx, FLOW_TO_CLIENT, sf, sn, 0);
    r = find(&fx->rc, FLOW_TO_CLIENT, 0);
    assert_non_null(r);
    assert_int_equal(r->ints[APP_INT_TLS_VERSION], 0x0304);
    assert_false(r->has[APP_BUF_TLS_CERT_SUBJECT]);
    /* handshake over, inspected and logged: the session holds no buffer any more */
    assert_int_equal(applayer_get_stats(fx->ctx)->buffers_in_use, 0);
    fixture_free(fx);
}

static void test_tls_hostile(void **state)
{
    (void)state;
    /* record length beyond the limit */
    struct fixture *fx = fixture_new(NULL, 6, 40000, 443);
    static const uint8_t big[] = {22, 3, 1, 0xff, 0xff, 1, 0, 0, 0};
    feed(fx, FLOW_TO_SERVER, big, sizeof(big), 0);
    assert_int_equal(applayer_get_stats(fx->ctx)->anomaly[APPL_TLS_BAD_RECORD], 1);
    fixture_free(fx);

    /* handshake lengths that lie about their content */
    fx = fixture_new(NULL, 6, 40000, 443);
    uint8_t ch[600];
    size_t n = client_hello(ch, "x.y");
    ch[9 + 2 + 32 + 1 + 1] = 0xff; /* cipher suites length far too large */
    feed(fx, FLOW_TO_SERVER, ch, n, 0);
    assert_int_equal(applayer_get_stats(fx->ctx)->anomaly[APPL_TLS_BAD_HANDSHAKE], 1);
    fixture_free(fx);

    /* a huge certificate message: bounded, counted, the rest skipped */
    fx = fixture_new(NULL, 6, 40000, 443);
    feed(fx, FLOW_TO_SERVER, ch, client_hello(ch, "x.y"), 0);
    static uint8_t rec[5 + 16384];
    rec[0] = 22; rec[1] = 3; rec[2] = 3; rec[3] = 0x40; rec[4] = 0;
    memset(rec + 5, 0x41, 16384);
    rec[5] = 11; rec[6] = 0x01; rec[7] = 0; rec[8] = 0; /* 64 KiB certificate message */
    for (int i = 0; i < 5; i++) {
        feed(fx, FLOW_TO_CLIENT, rec, sizeof(rec), 0);
        rec[5] = 0x41; rec[6] = 0x41;
    }
    assert_int_equal(applayer_get_stats(fx->ctx)->anomaly[APPL_TLS_HANDSHAKE_TOO_LARGE], 1);
    assert_true(applayer_get_stats(fx->ctx)->anomaly[APPL_TLS_BAD_CERT] <= 1);
    fixture_free(fx);
}

static void test_glue(void **state)
{
    (void)state;
    struct rules_applayer_hooks h;
    applayer_rules_hooks(&h);
    assert_int_equal(h.sticky_buffer(h.ctx, "http_uri"), APP_BUF_HTTP_URI);
    assert_int_equal(h.sticky_buffer(h.ctx, "tls.cert_subject"), APP_BUF_TLS_CERT_SUBJECT);
    assert_int_equal(h.sticky_buffer(h.ctx, "nonsense"), 0);
    assert_int_equal(h.app_proto(h.ctx, "dns"), APP_PROTO_DNS);
    assert_int_equal(h.app_proto(h.ctx, "nonsense"), 0);
    assert_int_equal(app_buffer_side(APP_BUF_HTTP_URI), APP_SIDE_REQUEST);
    assert_int_equal(app_buffer_side(APP_BUF_HTTP_STAT_CODE), APP_SIDE_RESPONSE);
    assert_int_equal(app_buffer_side(APP_BUF_FILE_DATA), APP_SIDE_EITHER);

    /* stream chunks reach the parser; a gap stops the direction */
    struct fixture *fx = fixture_new(NULL, 6, 40000, 80);
    const char *req = "GET /via-stream HTTP/1.1\r\nHost: h\r\n\r\n";
    struct stream_chunk c = {.data = (const uint8_t *)req, .len = (uint32_t)strlen(req)};
    applayer_stream_deliver(fx->ctx, &fx->f, FLOW_TO_SERVER, &c);
    assert_int_equal(fx->rc.n, 1);
    struct rec *r = &fx->rc.r[0];
    assert_true(collected(r, APP_BUF_HTTP_URI));
    assert_true(collected(r, APP_BUF_HTTP_HOST));
    assert_false(collected(r, APP_BUF_HTTP_STAT_CODE));
    const char *resp = "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n";
    struct stream_chunk c2 = {.data = (const uint8_t *)resp, .len = (uint32_t)strlen(resp)};
    applayer_stream_deliver(fx->ctx, &fx->f, FLOW_TO_CLIENT, &c2);
    assert_int_equal(fx->rc.n, 2);
    r = &fx->rc.r[1];
    assert_true(collected(r, APP_BUF_HTTP_STAT_CODE));
    assert_true(collected(r, APP_BUF_HTTP_LOCATION));
    assert_false(collected(r, APP_BUF_HTTP_URI)); /* offered once, with the request */
    struct stream_chunk c3 = {.data = (const uint8_t *)req, .len = (uint32_t)strlen(req),
                              .offset = 500, .gap_before = true};
    applayer_stream_deliver(fx->ctx, &fx->f, FLOW_TO_SERVER, &c3);
    assert_int_equal(fx->rc.n, 2);
    fixture_free(fx);
}

/* applayer_pending: copies outlive the transaction, and a full store drops and counts */
static struct applayer_pending *pend_under_test;

static void on_tx_pending(void *ctx, struct flow *f, const struct applayer_tx *tx, enum flow_dir dir)
{
    (void)ctx;
    applayer_pending_add(pend_under_test, f, tx, dir);
}

static void test_pending(void **state)
{
    (void)state;
    pend_under_test = applayer_pending_new(4096, 2);
    assert_non_null(pend_under_test);
    struct fixture *fx = fixture_new(NULL, 6, 40000, 80);
    applayer_ctx_set_callbacks(fx->ctx, on_tx_pending, NULL, NULL, NULL);
    feed_s(fx, FLOW_TO_SERVER, "GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\n\r\n"
                               "GET /three HTTP/1.1\r\n\r\n", 0);
    assert_int_equal(applayer_pending_count(pend_under_test), 2);
    assert_int_equal(applayer_pending_dropped(pend_under_test), 1);
    fixture_free(fx); /* transactions gone: the copies must still read right */
    struct flow *f;
    enum flow_dir dir;
    uint64_t id;
    const struct applayer_buf_ref *bufs;
    unsigned n;
    applayer_pending_get(pend_under_test, 1, &f, &dir, &id, &bufs, &n);
    assert_int_equal(id, 1);
    assert_int_equal(dir, FLOW_TO_SERVER);
    bool found = false;
    for (unsigned i = 0; i < n; i++)
        if (bufs[i].id == APPLAYER_RULE_BUF_BASE + APP_BUF_HTTP_URI) {
            assert_int_equal(bufs[i].len, 4);
            assert_memory_equal(bufs[i].data, "/two", 4);
            found = true;
        }
    assert_true(found);
    applayer_pending_clear(pend_under_test);
    assert_int_equal(applayer_pending_count(pend_under_test), 0);
    applayer_pending_free(pend_under_test);
    applayer_pending_free(NULL);
}

static unsigned logged[APP_PROTO_MAX];
static uint64_t logged_ids[16];
static unsigned n_logged_ids;

static void on_log(void *ctx, struct flow *f, const struct applayer_tx *tx)
{
    (void)ctx;
    (void)f;
    assert_true(applayer_tx_is_final(tx));
    logged[applayer_tx_proto(tx)]++;
    if (applayer_tx_proto(tx) == APP_PROTO_HTTP && n_logged_ids < 16)
        logged_ids[n_logged_ids++] = applayer_tx_id(tx);
}

static void test_log_callback(void **state)
{
    (void)state;
    memset(logged, 0, sizeof(logged));
    n_logged_ids = 0;
    struct fixture *fx = fixture_new(NULL, 6, 40000, 80);
    applayer_ctx_set_log_callback(fx->ctx, on_log, NULL);
    feed_s(fx, FLOW_TO_SERVER, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 0);
    assert_int_equal(logged[APP_PROTO_HTTP], 0); /* not complete yet */
    feed_s(fx, FLOW_TO_CLIENT, "HTTP/1.1 204 No Content\r\n\r\n", 0);
    assert_int_equal(logged[APP_PROTO_HTTP], 1);
    assert_int_equal(logged_ids[0], 0);
    applayer_flow_end(fx->ctx, &fx->f); /* /b never answered: logged at the end, once */
    assert_int_equal(logged[APP_PROTO_HTTP], 2);
    assert_int_equal(logged_ids[1], 1);
    fixture_free(fx);

    fx = fixture_new(NULL, 17, 40000, 53);
    applayer_ctx_set_log_callback(fx->ctx, on_log, NULL);
    uint8_t m[512];
    size_t n = dns_response(m);
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_CLIENT, m, (uint32_t)n, 1);
    assert_int_equal(logged[APP_PROTO_DNS], 1);
    fixture_free(fx);

    /* TLS: a ClientHello alone is logged when the flow ends; a full handshake once */
    uint8_t ch[600], sf[8192];
    size_t cn = client_hello(ch, "log.example");
    fx = fixture_new(NULL, 6, 40000, 443);
    applayer_ctx_set_log_callback(fx->ctx, on_log, NULL);
    feed(fx, FLOW_TO_SERVER, ch, cn, 0);
    assert_int_equal(logged[APP_PROTO_TLS], 0);
    fixture_free(fx);
    assert_int_equal(logged[APP_PROTO_TLS], 1);
    fx = fixture_new(NULL, 6, 40000, 443);
    applayer_ctx_set_log_callback(fx->ctx, on_log, NULL);
    feed(fx, FLOW_TO_SERVER, ch, cn, 0);
    size_t sn = server_flight(sf, false);
    feed(fx, FLOW_TO_CLIENT, sf, sn, 0);
    assert_int_equal(logged[APP_PROTO_TLS], 2);
    fixture_free(fx);
    assert_int_equal(logged[APP_PROTO_TLS], 2);
}

static json_t *eve_of(const struct recorder *rc, unsigned i, const char *obj)
{
    json_error_t err;
    json_t *root = json_loads(rc->eve[i], 0, &err);
    if (!root)
        fail_msg("bad JSON %s: %s", rc->eve[i], err.text);
    json_t *o = json_object_get(root, obj);
    assert_non_null(o);
    json_incref(o);
    json_decref(root);
    return o;
}

static void test_eve(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new(NULL, 6, 40000, 80);
    feed_s(fx, FLOW_TO_SERVER, REQ1, 0);
    feed_s(fx, FLOW_TO_CLIENT, RESP1, 0);
    json_t *h = eve_of(&fx->rc, 1, "http");
    assert_string_equal(json_string_value(json_object_get(h, "hostname")), "www.example.com");
    assert_string_equal(json_string_value(json_object_get(h, "url")), "/a/b/../c%41/./d?x=%27y&z=1");
    assert_string_equal(json_string_value(json_object_get(h, "http_user_agent")), "Mozilla/5.0 test");
    assert_string_equal(json_string_value(json_object_get(h, "http_method")), "GET");
    assert_string_equal(json_string_value(json_object_get(h, "protocol")), "HTTP/1.1");
    assert_string_equal(json_string_value(json_object_get(h, "http_content_type")), "text/html");
    assert_int_equal(json_integer_value(json_object_get(h, "status")), 200);
    assert_int_equal(json_integer_value(json_object_get(h, "length")), 11);
    assert_int_equal(json_integer_value(json_object_get(h, "http_port")), 8080);
    json_decref(h);
    fixture_free(fx);

    fx = fixture_new(NULL, 17, 40000, 53);
    uint8_t m[512];
    size_t n = dns_response(m);
    applayer_udp_data(fx->ctx, &fx->f, FLOW_TO_CLIENT, m, (uint32_t)n, 2);
    json_t *d = eve_of(&fx->rc, 0, "dns");
    assert_string_equal(json_string_value(json_object_get(d, "type")), "answer");
    assert_string_equal(json_string_value(json_object_get(d, "rrname")), "www.example.com");
    assert_string_equal(json_string_value(json_object_get(d, "rrtype")), "CNAME");
    assert_string_equal(json_string_value(json_object_get(d, "rcode")), "NOERROR");
    assert_string_equal(json_string_value(json_object_get(d, "flags")), "8180");
    json_t *ans = json_object_get(d, "answers");
    assert_int_equal(json_array_size(ans), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ans, 0), "rdata")), "cdn.example.com");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ans, 1), "rdata")), "192.0.2.1");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ans, 1), "ttl")), 60);
    json_decref(d);
    fixture_free(fx);

    fx = fixture_new(NULL, 6, 40000, 443);
    uint8_t ch[600], sf[8192];
    size_t cn = client_hello(ch, "eve.example");
    size_t sn = server_flight(sf, false);
    feed(fx, FLOW_TO_SERVER, ch, cn, 0);
    feed(fx, FLOW_TO_CLIENT, sf, sn, 0);
    json_t *t = eve_of(&fx->rc, 1, "tls");
    assert_string_equal(json_string_value(json_object_get(t, "subject")),
                        "C=US, O=Stamus Networks, CN=www.example.com");
    assert_string_equal(json_string_value(json_object_get(t, "issuerdn")), "C=FR, CN=Test CA");
    assert_string_equal(json_string_value(json_object_get(t, "sni")), "eve.example");
    assert_string_equal(json_string_value(json_object_get(t, "version")), "TLS 1.2");
    assert_string_equal(json_string_value(json_object_get(t, "serial")), "12:34:AB");
    assert_non_null(json_object_get(t, "notbefore"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "ja3"), "string")),
                        "771,4865-49199-156,0-10-11-43,29-23,0");
    json_decref(t);
    fixture_free(fx);

    assert_null(applayer_eve_app_proto_name(APP_PROTO_UNKNOWN));
    assert_string_equal(applayer_eve_app_proto_name(APP_PROTO_HTTP), "http");
    struct event_anomaly an = {.code = APPL_HTTP_BAD_CHUNK, .layer = 2};
    const char *ev_name = NULL, *layer = NULL;
    assert_true(applayer_eve_anomaly_name(NULL, &an, &ev_name, &layer));
    assert_string_equal(ev_name, "applayer.http.bad_chunk");
    assert_string_equal(layer, "proto_parser");
    /* every code has a name that matches applayer_anomaly_name() */
    for (uint16_t c = 0; c < APPL_ANOMALY_MAX; c++) {
        an.code = c;
        assert_true(applayer_eve_anomaly_name(NULL, &an, &ev_name, &layer));
        assert_string_equal(ev_name + strlen("applayer."), applayer_anomaly_name(c));
    }
    an.layer = 0;
    assert_false(applayer_eve_anomaly_name(NULL, &an, &ev_name, &layer));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_detect_split_and_failed),
        cmocka_unit_test(test_http_basic),
        cmocka_unit_test(test_http_pipelined_chunked),
        cmocka_unit_test(test_http_gzip),
        cmocka_unit_test(test_http_body_depth_and_close),
        cmocka_unit_test(test_http_missing_protocol),
        cmocka_unit_test(test_uri_normalize),
        cmocka_unit_test(test_http_proxy_host),
        cmocka_unit_test(test_http_hostile),
        cmocka_unit_test(test_pool_exhaustion),
        cmocka_unit_test(test_dns_udp),
        cmocka_unit_test(test_dns_hostile),
        cmocka_unit_test(test_dns_tcp),
        cmocka_unit_test(test_dns_first_question),
        cmocka_unit_test(test_tls_client_hello),
        cmocka_unit_test(test_tls_server),
        cmocka_unit_test(test_tls_hostile),
        cmocka_unit_test(test_glue),
        cmocka_unit_test(test_eve),
        cmocka_unit_test(test_pending),
        cmocka_unit_test(test_log_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
