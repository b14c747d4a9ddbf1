/* Unit tests: EVE http/dns/tls records and alert objects carried from the worker to the output
 * thread as EVENT_APPLAYER chunks (applayer_eve_log / applayer_eve_alerts_emit ->
 * applayer_eve_asm_add -> eve_format_event), with hostile bytes (escaping) and oversized
 * fields (truncation). Every line is parsed back with jansson. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "applayer.h"
#include "applayer_eve.h"
#include "eve_format.h"
#include "json_writer.h"

#define MAX_EV 256

/* What the worker would have queued, in order. */
struct capture {
    struct event ev[MAX_EV];
    unsigned n;
    unsigned refuse_from; /* emit fails from this event on (0 = never) */
};

static bool cap_emit(void *ctx, const struct event *ev)
{
    struct capture *c = ctx;
    if (c->refuse_from && c->n + 1 >= c->refuse_from)
        return false;
    assert_true(c->n < MAX_EV);
    c->ev[c->n++] = *ev;
    return true;
}

struct logger {
    struct capture *cap;
    uint16_t worker;
};

static void on_log(void *ctx, struct flow *f, const struct applayer_tx *tx)
{
    struct logger *lg = ctx;
    assert_true(applayer_eve_log(f, tx, lg->worker, cap_emit, lg->cap) > 0);
}

static void flow_init(struct flow *f, uint8_t proto, uint16_t cport, uint16_t sport)
{
    memset(f, 0, sizeof(*f));
    f->key.proto = proto;
    f->key.ip_version = 4;
    uint8_t c[4] = {10, 0, 0, 1}, s[4] = {192, 168, 1, 2};
    memcpy(f->key.addr[0], c, 4);
    memcpy(f->key.addr[1], s, 4);
    f->key.port[0] = cport;
    f->key.port[1] = sport;
    f->client_side = 0;
    f->flow_id = 4242;
    f->first_ns = f->last_ns = 1700000000ull * 1000000000ull;
}

/* The output thread: joins chunks and formats each completed record (and every alert) as the
 * engine does; returns the parsed JSON objects. */
struct out {
    json_t *rec[MAX_EV];
    char line[MAX_EV][16384];
    unsigned n;
};

static void output_run(const struct capture *c, unsigned workers, struct out *o)
{
    struct applayer_eve_asm *a = applayer_eve_asm_new(workers);
    assert_non_null(a);
    struct eve_format_opts opts;
    eve_format_opts_default(&opts);
    opts.app_proto_name = applayer_eve_app_proto_name;
    opts.applayer = applayer_eve_asm_write;
    opts.applayer_ctx = a;
    o->n = 0;
    for (unsigned i = 0; i < c->n; i++) {
        const struct event *ev = &c->ev[i];
        if (ev->type == EVENT_APPLAYER && !applayer_eve_asm_add(a, ev))
            continue;
        size_t len = 0;
        assert_int_equal(eve_format_event(&opts, ev, o->line[o->n], sizeof(o->line[0]), &len), 0);
        assert_int_equal(strlen(o->line[o->n]), len);
        json_error_t err;
        json_t *j = json_loadb(o->line[o->n], len, 0, &err);
        if (!j)
            fail_msg("not JSON (%s): %s", err.text, o->line[o->n]);
        o->rec[o->n++] = j;
    }
    assert_int_equal(applayer_eve_asm_errors(a), 0);
    applayer_eve_asm_free(a);
}

static void out_free(struct out *o)
{
    for (unsigned i = 0; i < o->n; i++)
        json_decref(o->rec[i]);
    o->n = 0;
}

static const char *str_at(json_t *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = j;
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, t);
    return cur && json_is_string(cur) ? json_string_value(cur) : NULL;
}

static json_int_t int_at(json_t *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = j;
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, t);
    return cur && json_is_integer(cur) ? json_integer_value(cur) : -1;
}

/* bytes -> the UTF-8 that a JSON reader gives back for them: valid UTF-8 as is, any other byte
 * as the code point of the same value (json_writer's \u00XX) */
static size_t expect_decoded(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] < 0x80) {
            out[o++] = (char)in[i];
        } else {
            out[o++] = (char)(0xc0 | (in[i] >> 6));
            out[o++] = (char)(0x80 | (in[i] & 0x3f));
        }
    }
    out[o] = 0;
    return o;
}

/* ---- HTTP ---- */

static struct applayer_ctx *http_run(struct capture *cap, struct flow *f, const void *req, size_t reql,
                                     const char *resp)
{
    struct applayer_ctx *ctx = applayer_ctx_new(NULL);
    assert_non_null(ctx);
    static struct logger lg;
    lg.cap = cap;
    lg.worker = 0;
    applayer_ctx_set_log_callback(ctx, on_log, &lg);
    flow_init(f, 6, 40000, 80);
    applayer_tcp_data(ctx, f, FLOW_TO_SERVER, req, (uint32_t)reql, f->first_ns + 1000);
    if (resp)
        applayer_tcp_data(ctx, f, FLOW_TO_CLIENT, (const uint8_t *)resp, (uint32_t)strlen(resp),
                          f->first_ns + 2000);
    applayer_flow_end(ctx, f);
    return ctx;
}

static void test_http_record(void **state)
{
    (void)state;
    static struct capture cap;
    memset(&cap, 0, sizeof(cap));
    struct flow f;
    const char *req = "GET /index.html?a=1 HTTP/1.1\r\nHost: www.Example.com:8080\r\n"
                      "User-Agent: curl/8.0\r\nReferer: http://ref.example/\r\n\r\n";
    const char *resp = "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
                       "Content-Length: 5\r\n\r\nhello";
    struct applayer_ctx *ctx = http_run(&cap, &f, req, strlen(req), resp);
    static struct out o;
    output_run(&cap, 1, &o);
    assert_int_equal(o.n, 1);
    json_t *r = o.rec[0];
    assert_string_equal(str_at(r, "event_type"), "http");
    assert_int_equal(int_at(r, "flow_id"), 4242);
    assert_string_equal(str_at(r, "src_ip"), "10.0.0.1");
    assert_int_equal(int_at(r, "src_port"), 40000);
    assert_string_equal(str_at(r, "dest_ip"), "192.168.1.2");
    assert_int_equal(int_at(r, "dest_port"), 80);
    assert_string_equal(str_at(r, "proto"), "TCP");
    assert_non_null(str_at(r, "community_id"));
    assert_int_equal(int_at(r, "tx_id"), 0);
    assert_string_equal(str_at(r, "http.hostname"), "www.example.com");
    assert_int_equal(int_at(r, "http.http_port"), 8080);
    assert_string_equal(str_at(r, "http.url"), "/index.html?a=1");
    assert_string_equal(str_at(r, "http.http_user_agent"), "curl/8.0");
    assert_string_equal(str_at(r, "http.http_refer"), "http://ref.example/");
    assert_string_equal(str_at(r, "http.http_method"), "GET");
    assert_string_equal(str_at(r, "http.protocol"), "HTTP/1.1");
    assert_string_equal(str_at(r, "http.http_content_type"), "text/html");
    assert_int_equal(int_at(r, "http.status"), 404);
    assert_int_equal(int_at(r, "http.length"), 5);
    out_free(&o);
    applayer_ctx_free(ctx);
}

/* Quotes, backslashes, control bytes, DEL and bytes that are not UTF-8 in every field a client
 * controls: each line stays one JSON object and gives the bytes back. */
static void test_http_hostile_escaping(void **state)
{
    (void)state;
    static struct capture cap;
    memset(&cap, 0, sizeof(cap));
    struct flow f;
    static const uint8_t uri[] = "/a\"b\\c\x01\x1f\x7f\xff\xfe\xc3\xa9</script>";
    static const uint8_t ua[] = "Mozilla \"\\\"\t\x02\x80\xc0\xaf\xed\xa0\x80 end";
    uint8_t req[1024];
    size_t n = 0;
    n += (size_t)snprintf((char *)req + n, sizeof(req) - n, "GET ");
    memcpy(req + n, uri, sizeof(uri) - 1);
    n += sizeof(uri) - 1;
    n += (size_t)snprintf((char *)req + n, sizeof(req) - n, " HTTP/1.1\r\nHost: h\"q\r\nUser-Agent: ");
    memcpy(req + n, ua, sizeof(ua) - 1);
    n += sizeof(ua) - 1;
    n += (size_t)snprintf((char *)req + n, sizeof(req) - n, "\r\n\r\n");
    struct applayer_ctx *ctx = http_run(&cap, &f, req, n, NULL);
    static struct out o;
    output_run(&cap, 1, &o);
    assert_int_equal(o.n, 1);
    json_t *r = o.rec[0];
    /* no raw control byte in the line (and jansson refused none: it is valid UTF-8) */
    for (const unsigned char *p = (const unsigned char *)o.line[0]; *p; p++)
        assert_true(*p >= 0x20);
    char want[512];
    /* the URI: valid UTF-8 (é) copied, everything else as its code point */
    size_t k = 0;
    static const uint8_t uri_ascii[] = "/a\"b\\c\x01\x1f\x7f\xff\xfe";
    k = expect_decoded(uri_ascii, sizeof(uri_ascii) - 1, want);
    k += (size_t)snprintf(want + k, sizeof(want) - k, "\xc3\xa9</script>");
    assert_string_equal(str_at(r, "http.url"), want);
    static const uint8_t ua_w[] = "Mozilla \"\\\"\t\x02\x80\xc0\xaf\xed\xa0\x80 end"; /* none valid UTF-8 */
    expect_decoded(ua_w, sizeof(ua_w) - 1, want);
    assert_string_equal(str_at(r, "http.http_user_agent"), want);
    assert_string_equal(str_at(r, "http.hostname"), "h\"q");
    out_free(&o);
    applayer_ctx_free(ctx);
}

/* Fields past the bound are cut (1024 bytes each), the record stays within one snapshot and
 * travels as several chunks. */
static void test_http_truncation(void **state)
{
    (void)state;
    static struct capture cap;
    memset(&cap, 0, sizeof(cap));
    struct flow f;
    static char req[8192];
    static char longuri[3001], longua[2001];
    memset(longuri, 'u', sizeof(longuri) - 1);
    longuri[0] = '/';
    longuri[sizeof(longuri) - 1] = 0;
    memset(longua, 'a', sizeof(longua) - 1);
    longua[sizeof(longua) - 1] = 0;
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: example.org\r\nUser-Agent: %s\r\n\r\n",
                     longuri, longua);
    struct applayer_config cfg;
    applayer_config_default(&cfg);
    struct applayer_ctx *ctx = applayer_ctx_new(&cfg);
    assert_non_null(ctx);
    static struct logger lg;
    lg.cap = &cap;
    applayer_ctx_set_log_callback(ctx, on_log, &lg);
    flow_init(&f, 6, 40001, 80);
    applayer_tcp_data(ctx, &f, FLOW_TO_SERVER, (const uint8_t *)req, (uint32_t)n, f.first_ns);
    applayer_flow_end(ctx, &f);
    assert_true(cap.n >= 2); /* more than one chunk */
    for (unsigned i = 0; i < cap.n; i++) {
        assert_int_equal(cap.ev[i].type, EVENT_APPLAYER);
        assert_true(cap.ev[i].u.applayer.total <= APPLAYER_EVE_SNAPSHOT_MAX);
        assert_true(cap.ev[i].u.applayer.len <= EVENT_APPLAYER_CHUNK);
    }
    static struct out o;
    output_run(&cap, 1, &o);
    assert_int_equal(o.n, 1);
    const char *url = str_at(o.rec[0], "http.url");
    assert_non_null(url);
    assert_int_equal(strlen(url), 1024);
    assert_memory_equal(url, longuri, 1024);
    const char *ua = str_at(o.rec[0], "http.http_user_agent");
    assert_non_null(ua);
    assert_int_equal(strlen(ua), 1024);
    assert_string_equal(str_at(o.rec[0], "http.hostname"), "example.org");
    out_free(&o);
    applayer_ctx_free(ctx);
}

/* ---- DNS ---- */

static size_t dns_name(uint8_t *p, const char *const *labels, const size_t *lens, unsigned n)
{
    size_t o = 0;
    for (unsigned i = 0; i < n; i++) {
        p[o++] = (uint8_t)lens[i];
        memcpy(p + o, labels[i], lens[i]);
        o += lens[i];
    }
    p[o++] = 0;
    return o;
}

static size_t put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

static size_t put_rr(uint8_t *p, uint16_t type, uint32_t ttl, const uint8_t *rd, uint16_t rdlen)
{
    size_t o = 0;
    o += put16(p + o, 0xc00c); /* the question's name */
    o += put16(p + o, type);
    o += put16(p + o, 1);
    o += put16(p + o, (uint16_t)(ttl >> 16));
    o += put16(p + o, (uint16_t)ttl);
    o += put16(p + o, rdlen);
    memcpy(p + o, rd, rdlen);
    return o + rdlen;
}

static void test_dns_records_and_alerts(void **state)
{
    (void)state;
    static struct capture cap;
    memset(&cap, 0, sizeof(cap));
    /* a question name with a quote, a backslash, a control byte and a non-UTF-8 byte */
    const char *labels[] = {"we\"ird", "x\\y\x01\xff", "com"};
    const size_t lens[] = {6, 5, 3};
    uint8_t q[512], a[512];
    size_t qn = 0, an = 0;
    qn += put16(q + qn, 0x1234);
    qn += put16(q + qn, 0x0100);
    qn += put16(q + qn, 1);
    qn += put16(q + qn, 0);
    qn += put16(q + qn, 0);
    qn += put16(q + qn, 0);
    qn += dns_name(q + qn, labels, lens, 3);
    qn += put16(q + qn, 1);
    qn += put16(q + qn, 1);
    memcpy(a, q, qn);
    an = qn;
    put16(a + 2, 0x8180);
    put16(a + 6, 3);
    static const uint8_t ip1[4] = {1, 2, 3, 4}, ip2[4] = {5, 6, 7, 8};
    uint8_t cname[32];
    const char *cl[] = {"alias", "example", "net"};
    const size_t cll[] = {5, 7, 3};
    size_t cn = dns_name(cname, cl, cll, 3);
    an += put_rr(a + an, 5, 300, cname, (uint16_t)cn);
    an += put_rr(a + an, 1, 60, ip1, 4);
    an += put_rr(a + an, 1, 60, ip2, 4);

    struct applayer_ctx *ctx = applayer_ctx_new(NULL);
    assert_non_null(ctx);
    static struct logger lg;
    lg.cap = &cap;
    lg.worker = 1;
    applayer_ctx_set_log_callback(ctx, on_log, &lg);
    struct flow f;
    flow_init(&f, 17, 5353, 53);
    applayer_udp_data(ctx, &f, FLOW_TO_SERVER, q, (uint32_t)qn, f.first_ns);
    applayer_udp_data(ctx, &f, FLOW_TO_CLIENT, a, (uint32_t)an, f.first_ns + 1000);
    applayer_flow_end(ctx, &f);

    /* alerts on the answer: the object goes once, before the first alert */
    static uint8_t snap[APPLAYER_EVE_SNAPSHOT_MAX];
    size_t sl = 0;
    {
        /* the answer's snapshot from the last record's chunks */
        unsigned first = cap.n;
        for (unsigned i = 0; i < cap.n; i++)
            if (cap.ev[i].u.applayer.off == 0)
                first = i;
        for (unsigned i = first; i < cap.n; i++) {
            memcpy(snap + cap.ev[i].u.applayer.off, cap.ev[i].u.applayer.data, cap.ev[i].u.applayer.len);
            sl = cap.ev[i].u.applayer.total;
        }
    }
    struct event al;
    memset(&al, 0, sizeof(al));
    al.type = EVENT_ALERT;
    al.worker = 1;
    al.ts_ns = f.first_ns + 1000;
    al.ref.flow_id = f.flow_id;
    al.ref.has_flow = 1;
    al.ref.ip_version = 4;
    al.ref.proto = 17;
    memcpy(al.ref.src, f.key.addr[1], 16);
    memcpy(al.ref.dst, f.key.addr[0], 16);
    al.u.alert.sid = 7;
    al.u.alert.rev = 1;
    al.u.alert.severity = 2;
    al.u.alert.direction = FLOW_TO_CLIENT;
    al.u.alert.tx_id = cap.ev[cap.n - 1].u.applayer.tx_id;
    unsigned before = cap.n;
    struct applayer_eve_alerts ea = {.emit = cap_emit, .emit_ctx = &cap, .snap = snap, .len = sl};
    assert_true(applayer_eve_alerts_emit(&ea, &al));
    assert_true(applayer_eve_alerts_emit(&ea, &al));
    unsigned chunks = 0, alerts = 0;
    for (unsigned i = before; i < cap.n; i++) {
        if (cap.ev[i].type == EVENT_APPLAYER) {
            assert_int_equal(alerts, 0); /* the object precedes the alerts */
            assert_int_equal(cap.ev[i].u.applayer.flags, EVENT_APPLAYER_ATTACH);
            chunks++;
        } else {
            assert_int_equal(cap.ev[i].type, EVENT_ALERT);
            assert_int_equal(cap.ev[i].u.alert.app_obj, 1);
            alerts++;
        }
    }
    assert_true(chunks >= 1);
    assert_int_equal(alerts, 2);
    /* an alert of another transaction finds no object: written without */
    struct event other = cap.ev[cap.n - 1];
    other.u.alert.tx_id += 5;
    cap_emit(&cap, &other);

    static struct out o;
    output_run(&cap, 2, &o);
    assert_int_equal(o.n, 5); /* query, answer, three alerts */
    char want[64];
    expect_decoded((const uint8_t *)"we\"ird.x\\y\x01\xff.com", 17, want);
    json_t *qr = o.rec[0], *ar = o.rec[1];
    assert_string_equal(str_at(qr, "event_type"), "dns");
    assert_string_equal(str_at(qr, "dns.type"), "query");
    assert_int_equal(int_at(qr, "dns.id"), 0x1234);
    assert_string_equal(str_at(qr, "dns.rrname"), want);
    assert_string_equal(str_at(qr, "dns.rrtype"), "A");
    assert_string_equal(str_at(qr, "src_ip"), "10.0.0.1");
    assert_string_equal(str_at(ar, "dns.type"), "answer");
    assert_int_equal(int_at(ar, "dns.version"), 2);
    assert_string_equal(str_at(ar, "dns.rcode"), "NOERROR");
    assert_string_equal(str_at(ar, "dns.flags"), "8180");
    assert_string_equal(str_at(ar, "src_ip"), "192.168.1.2"); /* the answer's way */
    assert_int_equal(int_at(ar, "src_port"), 53);
    json_t *answers = json_object_get(json_object_get(ar, "dns"), "answers");
    assert_true(json_is_array(answers));
    assert_int_equal(json_array_size(answers), 3);
    assert_string_equal(str_at(json_array_get(answers, 0), "rrtype"), "CNAME");
    assert_string_equal(str_at(json_array_get(answers, 0), "rdata"), "alias.example.net");
    assert_int_equal(int_at(json_array_get(answers, 0), "ttl"), 300);
    assert_string_equal(str_at(json_array_get(answers, 2), "rdata"), "5.6.7.8");
    json_t *grouped = json_object_get(json_object_get(ar, "dns"), "grouped");
    assert_true(json_is_object(grouped));
    json_t *ga = json_object_get(grouped, "A");
    assert_int_equal(json_array_size(ga), 2);
    assert_string_equal(json_string_value(json_array_get(ga, 0)), "1.2.3.4");
    assert_int_equal(json_array_size(json_object_get(grouped, "CNAME")), 1);
    for (int i = 2; i <= 3; i++) {
        json_t *r = o.rec[i];
        assert_string_equal(str_at(r, "event_type"), "alert");
        assert_int_equal(int_at(r, "alert.signature_id"), 7);
        assert_string_equal(str_at(r, "dns.answer.type"), "answer");
        assert_string_equal(str_at(r, "dns.answer.rrname"), want);
        assert_int_equal(int_at(r, "tx_id"), (json_int_t)al.u.alert.tx_id);
    }
    assert_null(json_object_get(o.rec[4], "dns"));
    out_free(&o);
    applayer_ctx_free(ctx);
}

/* A query alert carries "dns":{"query":[{...}]} (Suricata's alert shape); chunks of two workers
 * interleave in the output thread without mixing. */
static void test_interleaved_workers_and_query_alert(void **state)
{
    (void)state;
    static struct capture c0, c1, mix;
    memset(&c0, 0, sizeof(c0));
    memset(&c1, 0, sizeof(c1));
    memset(&mix, 0, sizeof(mix));
    struct flow f;
    static char req0[4096], req1[4096];
    char u0[1500], u1[1500];
    memset(u0, 'x', sizeof(u0) - 1);
    u0[0] = '/';
    u0[sizeof(u0) - 1] = 0;
    memset(u1, 'y', sizeof(u1) - 1);
    u1[0] = '/';
    u1[sizeof(u1) - 1] = 0;
    int n0 = snprintf(req0, sizeof(req0), "GET %s HTTP/1.0\r\nHost: w0\r\n\r\n", u0);
    int n1 = snprintf(req1, sizeof(req1), "POST %s HTTP/1.0\r\nHost: w1\r\n\r\n", u1);
    struct applayer_ctx *x0 = http_run(&c0, &f, req0, (size_t)n0, "HTTP/1.0 200 OK\r\n\r\n");
    applayer_ctx_free(x0);
    struct applayer_ctx *x1 = http_run(&c1, &f, req1, (size_t)n1, "HTTP/1.0 301 Moved\r\nLocation: /z\r\n\r\n");
    applayer_ctx_free(x1);
    for (unsigned i = 0; i < c1.n; i++)
        c1.ev[i].worker = 1;
    assert_true(c0.n >= 2 && c1.n >= 2);
    unsigned i0 = 0, i1 = 0;
    while (i0 < c0.n || i1 < c1.n) {
        if (i0 < c0.n)
            cap_emit(&mix, &c0.ev[i0++]);
        if (i1 < c1.n)
            cap_emit(&mix, &c1.ev[i1++]);
    }
    static struct out o;
    output_run(&mix, 2, &o);
    assert_int_equal(o.n, 2);
    for (unsigned i = 0; i < 2; i++) {
        const char *host = str_at(o.rec[i], "http.hostname");
        const char *url = str_at(o.rec[i], "http.url");
        assert_non_null(host);
        assert_non_null(url);
        /* URLs are cut at 1024 bytes */
        assert_int_equal(strlen(url), 1024);
        if (!strcmp(host, "w0")) {
            assert_memory_equal(url, u0, 1024);
            assert_string_equal(str_at(o.rec[i], "http.http_method"), "GET");
            assert_int_equal(int_at(o.rec[i], "http.status"), 200);
        } else {
            assert_string_equal(host, "w1");
            assert_memory_equal(url, u1, 1024);
            assert_string_equal(str_at(o.rec[i], "http.http_method"), "POST");
            assert_int_equal(int_at(o.rec[i], "http.status"), 301);
            assert_string_equal(str_at(o.rec[i], "http.redirect"), "/z");
        }
    }
    out_free(&o);

    /* the query alert shape straight from a snapshot */
    uint8_t q[128];
    size_t qn = 0;
    qn += put16(q + qn, 0xbeef);
    qn += put16(q + qn, 0x0100);
    qn += put16(q + qn, 1);
    qn += put16(q + qn, 0);
    qn += put16(q + qn, 0);
    qn += put16(q + qn, 0);
    const char *labels[] = {"example", "org"};
    const size_t lens[] = {7, 3};
    qn += dns_name(q + qn, labels, lens, 2);
    qn += put16(q + qn, 16);
    qn += put16(q + qn, 1);
    struct applayer_ctx *ctx = applayer_ctx_new(NULL);
    static struct capture cq;
    memset(&cq, 0, sizeof(cq));
    static struct logger lg;
    lg.cap = &cq;
    applayer_ctx_set_log_callback(ctx, on_log, &lg);
    flow_init(&f, 17, 1111, 53);
    applayer_udp_data(ctx, &f, FLOW_TO_SERVER, q, (uint32_t)qn, f.first_ns);
    applayer_flow_end(ctx, &f);
    assert_int_equal(cq.n, 1);
    char line[2048];
    struct json_writer w;
    json_writer_init(&w, line, sizeof(line));
    jw_open_object(&w);
    assert_int_equal(applayer_eve_write_alert(&w, cq.ev[0].u.applayer.data, cq.ev[0].u.applayer.total), 0);
    jw_close_object(&w);
    assert_int_equal(json_writer_finish(&w), 0);
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    json_t *ql = json_object_get(json_object_get(j, "dns"), "query");
    assert_true(json_is_array(ql));
    assert_string_equal(str_at(json_array_get(ql, 0), "rrname"), "example.org");
    assert_string_equal(str_at(json_array_get(ql, 0), "rrtype"), "TXT");
    assert_int_equal(int_at(json_array_get(ql, 0), "id"), 0xbeef);
    json_decref(j);
    applayer_ctx_free(ctx);
}

/* Alerts as the rule engine gives them say worker 0 whoever raised them: the wrapper stamps the
 * worker, so two workers' alert objects interleaved chunk by chunk at the output thread stay
 * apart. */
static void test_alert_objects_of_two_workers(void **state)
{
    (void)state;
    static struct capture c[2], mix;
    memset(c, 0, sizeof(c));
    memset(&mix, 0, sizeof(mix));
    static char req[2][4096];
    char u[2][1200];
    struct flow f[2];
    for (int k = 0; k < 2; k++) {
        memset(u[k], k ? 'q' : 'p', sizeof(u[k]) - 1);
        u[k][0] = '/';
        u[k][sizeof(u[k]) - 1] = 0;
        int n = snprintf(req[k], sizeof(req[k]), "GET %s HTTP/1.1\r\nHost: host%d\r\n\r\n", u[k], k);
        struct applayer_ctx *x = http_run(&c[k], &f[k], req[k], (size_t)n, "HTTP/1.1 200 OK\r\n\r\n");
        applayer_ctx_free(x);
        assert_true(c[k].n >= 2);
    }
    /* rebuild each transaction's snapshot from its record chunks, then raise two alerts on it
     * through the wrapper of worker k with alert events that say worker 0 */
    static struct capture alerts[2];
    memset(alerts, 0, sizeof(alerts));
    static uint8_t snap[2][APPLAYER_EVE_SNAPSHOT_MAX];
    for (int k = 0; k < 2; k++) {
        size_t len = 0;
        for (unsigned i = 0; i < c[k].n; i++) {
            const struct event_applayer *ch = &c[k].ev[i].u.applayer;
            memcpy(snap[k] + ch->off, ch->data, ch->len);
            len = ch->total;
        }
        struct event al;
        memset(&al, 0, sizeof(al));
        al.type = EVENT_ALERT;
        al.ref = c[k].ev[0].ref;
        al.ts_ns = c[k].ev[0].ts_ns;
        al.u.alert.sid = 100 + (uint32_t)k;
        al.u.alert.tx_id = c[k].ev[0].u.applayer.tx_id;
        struct applayer_eve_alerts ea = {.emit = cap_emit, .emit_ctx = &alerts[k], .worker = (uint16_t)k,
                                         .snap = snap[k], .len = len};
        assert_true(applayer_eve_alerts_emit(&ea, &al));
        assert_true(applayer_eve_alerts_emit(&ea, &al));
        for (unsigned i = 0; i < alerts[k].n; i++)
            assert_int_equal(alerts[k].ev[i].worker, k);
    }
    unsigned i0 = 0, i1 = 0;
    while (i0 < alerts[0].n || i1 < alerts[1].n) {
        if (i0 < alerts[0].n)
            cap_emit(&mix, &alerts[0].ev[i0++]);
        if (i1 < alerts[1].n)
            cap_emit(&mix, &alerts[1].ev[i1++]);
    }
    static struct out o;
    output_run(&mix, 2, &o);
    assert_int_equal(o.n, 4);
    for (unsigned i = 0; i < o.n; i++) {
        json_int_t sid = int_at(o.rec[i], "alert.signature_id");
        int k = sid == 101;
        assert_string_equal(str_at(o.rec[i], "http.hostname"), k ? "host1" : "host0");
        const char *url = str_at(o.rec[i], "http.url");
        assert_non_null(url);
        assert_memory_equal(url, u[k], 1024);
    }
    out_free(&o);
}

/* Chunks out of sequence (a lost or foreign chunk) are refused and counted, never joined into a
 * wrong record; bad snapshots are not sent. */
static void test_bad_chunks(void **state)
{
    (void)state;
    struct applayer_eve_asm *a = applayer_eve_asm_new(1);
    assert_non_null(a);
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_APPLAYER;
    ev.u.applayer.proto = APP_PROTO_HTTP;
    ev.u.applayer.flags = EVENT_APPLAYER_LOG;
    ev.u.applayer.total = 600;
    ev.u.applayer.len = EVENT_APPLAYER_CHUNK;
    ev.u.applayer.off = EVENT_APPLAYER_CHUNK; /* no first chunk */
    assert_false(applayer_eve_asm_add(a, &ev));
    assert_int_equal(applayer_eve_asm_errors(a), 1);
    ev.u.applayer.off = 500; /* past total */
    assert_false(applayer_eve_asm_add(a, &ev));
    ev.worker = 3; /* no such worker */
    ev.u.applayer.off = 0;
    assert_false(applayer_eve_asm_add(a, &ev));
    assert_int_equal(applayer_eve_asm_errors(a), 3);
    /* the formatter gets nothing for an incomplete record */
    ev.worker = 0;
    assert_false(applayer_eve_asm_add(a, &ev)); /* first of 600 bytes */
    char line[1024];
    struct json_writer w;
    json_writer_init(&w, line, sizeof(line));
    assert_int_equal(applayer_eve_asm_write(a, &w, &ev), -ENOENT);
    struct eve_format_opts opts;
    eve_format_opts_default(&opts);
    opts.app_proto_name = applayer_eve_app_proto_name;
    opts.applayer = applayer_eve_asm_write;
    opts.applayer_ctx = a;
    size_t len;
    assert_int_equal(eve_format_event(&opts, &ev, line, sizeof(line), &len), -EINVAL);
    applayer_eve_asm_free(a);
    applayer_eve_asm_free(NULL);

    struct capture c;
    memset(&c, 0, sizeof(c));
    uint8_t junk[8] = {99, 1, 2, 3};
    assert_int_equal(applayer_eve_emit(junk, sizeof(junk), &ev, 0, EVENT_APPLAYER_LOG, cap_emit, &c), 0);
    assert_int_equal(c.n, 0);

    struct applayer_eve_store *st = applayer_eve_store_new(APPLAYER_EVE_SNAPSHOT_MAX, 4);
    assert_non_null(st);
    const uint8_t *p;
    size_t l;
    assert_false(applayer_eve_store_get(st, 0, &p, &l));
    assert_int_equal(l, 0);
    applayer_eve_store_free(st);
    applayer_eve_store_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_record),
        cmocka_unit_test(test_http_hostile_escaping),
        cmocka_unit_test(test_http_truncation),
        cmocka_unit_test(test_dns_records_and_alerts),
        cmocka_unit_test(test_interleaved_workers_and_query_alert),
        cmocka_unit_test(test_alert_objects_of_two_workers),
        cmocka_unit_test(test_bad_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
