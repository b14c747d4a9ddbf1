/* The app layer's buffers through the real rules parser and matcher: for every sticky-buffer
 * keyword, a rule whose content is in that buffer must alert and a rule whose content is not
 * there (or is in another buffer) must not. Traffic is fed to the parsers directly (no stream);
 * transactions go to detect_buffers() through the pending store, as a worker does. */
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

#include "applayer_harness.h"

/* Rules: sid < 1000 must alert once (sid 5 twice: both requests are HTTP/1.1), sid >= 1000
 * must not. */
static const char RULES[] =
    "alert http any any -> any any (msg:\"uri\"; http.uri; content:\"/a/cA/d?x='y\"; sid:1;)\n"
    "alert http any any -> any any (msg:\"uri legacy\"; content:\"/a/cA/\"; http_uri; sid:2;)\n"
    "alert http any any -> any any (msg:\"uri raw\"; http.uri.raw; content:\"c%41/./d\"; sid:3;)\n"
    "alert http any any -> any any (msg:\"method\"; http.method; content:\"GET\"; startswith; sid:4;)\n"
    "alert http any any -> any any (msg:\"protocol\"; flow:to_server; http.protocol; content:\"HTTP/1.1\"; sid:5;)\n"
    "alert http any any -> any any (msg:\"request line\"; http.request_line; content:\"GET /a/b/../c\"; sid:6;)\n"
    "alert http any any -> any any (msg:\"host\"; http.host; content:\"www.example.com\"; endswith; sid:7;)\n"
    "alert http any any -> any any (msg:\"host raw\"; http.host.raw; content:\"WWW.Example.COM:8080\"; sid:8;)\n"
    "alert http any any -> any any (msg:\"ua\"; http.user_agent; content:\"Mozilla/5.0 test\"; sid:9;)\n"
    "alert http any any -> any any (msg:\"header\"; flow:to_server; http.header; content:\"X-Rep: one, two|0d 0a|\"; sid:10;)\n"
    "alert http any any -> any any (msg:\"header names\"; flow:to_server; http.header_names; content:\"|0d 0a|Cookie|0d 0a|X-Rep|0d 0a|\"; sid:11;)\n"
    "alert http any any -> any any (msg:\"cookie\"; flow:to_server; http.cookie; content:\"sess=1\"; sid:12;)\n"
    "alert http any any -> any any (msg:\"request body\"; http.request_body; content:\"posted-data\"; sid:13;)\n"
    "alert http any any -> any any (msg:\"client body legacy\"; content:\"posted\"; http_client_body; sid:14;)\n"
    "alert http any any -> any any (msg:\"response body\"; http.response_body; content:\"hello world\"; sid:15;)\n"
    "alert http any any -> any any (msg:\"file data\"; flow:to_client; file.data; content:\"hello\"; startswith; sid:16;)\n"
    "alert http any any -> any any (msg:\"stat code\"; http.stat_code; content:\"200\"; sid:17;)\n"
    "alert http any any -> any any (msg:\"stat msg\"; http.stat_msg; content:\"OK\"; sid:18;)\n"
    "alert http any any -> any any (msg:\"content type\"; flow:to_client; http.content_type; content:\"text/html\"; sid:19;)\n"
    "alert http any any -> any any (msg:\"response line\"; http.response_line; content:\"HTTP/1.1 200 OK\"; sid:20;)\n"
    "alert http any any -> any any (msg:\"start\"; flow:to_server; http.start; content:\"HTTP/1.1|0d 0a|Host: WWW\"; sid:21;)\n"
    "alert http any any -> any any (msg:\"header raw\"; flow:to_server; http.header.raw; content:\"Folded: first|0d 0a|  second\"; sid:22;)\n"
    "alert http any any -> any any (msg:\"referer\"; http.referer; content:\"http://ref.example/\"; sid:23;)\n"
    "alert http any any -> any any (msg:\"location\"; http.location; content:\"/moved\"; sid:24;)\n"
    "alert http any any -> any any (msg:\"server\"; http.server; content:\"TestSrv\"; sid:25;)\n"
    "alert http any any -> any any (msg:\"content len\"; flow:to_client; http.content_len; content:\"11\"; sid:26;)\n"
    "alert dns any any -> any any (msg:\"dns query\"; dns.query; content:\"www.example.com\"; sid:30;)\n"
    "alert dns any any -> any any (msg:\"dns query legacy\"; dns_query; content:\"example\"; sid:31;)\n"
    "alert tls any any -> any any (msg:\"sni\"; tls.sni; content:\"secure.example.org\"; sid:40;)\n"
    "alert tls any any -> any any (msg:\"ja3 string\"; ja3.string; content:\"771,4865-49199-156,\"; sid:41;)\n"
    "alert tls any any -> any any (msg:\"subject\"; tls.cert_subject; content:\"O=Stamus Networks, CN=www.example.com\"; sid:43;)\n"
    "alert tls any any -> any any (msg:\"issuer\"; tls.cert_issuer; content:\"C=FR, CN=Test CA\"; sid:44;)\n"
    "alert tls any any -> any any (msg:\"serial\"; tls.cert_serial; content:\"12:34:AB\"; sid:45;)\n"
    "alert tls any any -> any any (msg:\"certs\"; tls.certs; content:\"Stamus Networks\"; sid:46;)\n"
    "alert tls any any -> any any (msg:\"ja3s\"; ja3s.string; content:\"771,49199,65281\"; sid:47;)\n"
    "alert tls any any -> any any (msg:\"legacy subject\"; tls_cert_subject; content:\"CN=www.example.com\"; sid:48;)\n"
    "alert tls any any -> any any (msg:\"n subject\"; tls.cert_subject; content:\"Test CA\"; sid:1042;)\n"
    "alert tls any any -> any any (msg:\"ja3 hash\"; ja3.hash; content:\"JA3HASH_PLACEHOLDER_32_CHARS_XXX\"; sid:42;)\n"
    /* must not alert: absent content, or content that is in another buffer */
    "alert http any any -> any any (msg:\"n uri\"; http.uri; content:\"ZZZ\"; sid:1001;)\n"
    "alert http any any -> any any (msg:\"n uri is not raw\"; http.uri; content:\"%41\"; sid:1002;)\n"
    "alert http any any -> any any (msg:\"n ua has no uri\"; http.user_agent; content:\"/a/cA\"; sid:1003;)\n"
    "alert http any any -> any any (msg:\"n header has no cookie\"; http.header; content:\"sess=1\"; sid:1004;)\n"
    "alert http any any -> any any (msg:\"n host is normalised\"; http.host; content:\"WWW\"; sid:1005;)\n"
    "alert http any any -> any any (msg:\"n body not in uri\"; http.uri; content:\"hello world\"; sid:1006;)\n"
    "alert http any any -> any any (msg:\"n stat code\"; http.stat_code; content:\"404\"; sid:1007;)\n"
    "alert dns any any -> any any (msg:\"n dns\"; dns.query; content:\"example.net\"; sid:1030;)\n"
    "alert tls any any -> any any (msg:\"n sni\"; tls.sni; content:\"other.example\"; sid:1040;)\n"
    "alert http any any -> any any (msg:\"n http rule on tls\"; http.uri; content:\"secure\"; sid:1041;)\n";

/* A ClientHello as in test_applayer.c, with SNI secure.example.org. */
static size_t client_hello(uint8_t *out)
{
    static const char sni[] = "secure.example.org";
    uint8_t b[256];
    size_t o = 0;
    b[o++] = 3; b[o++] = 3;
    memset(b + o, 0x11, 32); o += 32;
    b[o++] = 0;
    static const uint16_t cs[] = {0x0a0a, 0x1301, 0xc02f, 0x009c};
    b[o++] = 0; b[o++] = sizeof(cs);
    for (size_t i = 0; i < 4; i++) { b[o++] = (uint8_t)(cs[i] >> 8); b[o++] = (uint8_t)cs[i]; }
    b[o++] = 1; b[o++] = 0;
    size_t el_at = o;
    o += 2;
    size_t sl = sizeof(sni) - 1;
    b[o++] = 0; b[o++] = 0; b[o++] = 0; b[o++] = (uint8_t)(sl + 5);
    b[o++] = 0; b[o++] = (uint8_t)(sl + 3); b[o++] = 0; b[o++] = 0; b[o++] = (uint8_t)sl;
    memcpy(b + o, sni, sl); o += sl;
    size_t el = o - el_at - 2;
    b[el_at] = (uint8_t)(el >> 8);
    b[el_at + 1] = (uint8_t)el;
    out[0] = 22; out[1] = 3; out[2] = 1; out[3] = (uint8_t)((o + 4) >> 8); out[4] = (uint8_t)(o + 4);
    out[5] = 1; out[6] = 0; out[7] = (uint8_t)(o >> 8); out[8] = (uint8_t)o;
    memcpy(out + 9, b, o);
    return o + 9;
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

static void test_buffer_keywords(void **state)
{
    (void)state;
    /* the ja3 hash rule's content: learn it from the parser first (checked against the string
     * in test_applayer) */
    uint8_t ch[512];
    size_t chn = client_hello(ch);
    char ja3[40] = "";
    {
        struct applayer_ctx *al = applayer_ctx_new(NULL);
        assert_non_null(al);
        struct applayer_pending *p = applayer_pending_new(1 << 16, 8);
        struct harness tmp = {.al = al, .pending = p};
        applayer_ctx_set_callbacks(al, harness_on_tx, &tmp, NULL, NULL);
        struct flow f;
        harness_flow_init(&f, 6, 443);
        applayer_tcp_data(al, &f, FLOW_TO_SERVER, ch, (uint32_t)chn, 1);
        struct flow *pf;
        enum flow_dir d;
        uint64_t id;
        const struct applayer_buf_ref *bufs;
        unsigned n;
        assert_int_equal(applayer_pending_count(p), 1);
        applayer_pending_get(p, 0, &pf, &d, &id, &bufs, &n);
        for (unsigned i = 0; i < n; i++)
            if (bufs[i].id == APPLAYER_RULE_BUF_BASE + APP_BUF_JA3_HASH && bufs[i].len == 32)
                memcpy(ja3, bufs[i].data, 32);
        assert_int_equal(strlen(ja3), 32);
        applayer_flow_end(al, &f);
        applayer_pending_free(p);
        applayer_ctx_free(al);
    }
    static char rules[sizeof(RULES)];
    memcpy(rules, RULES, sizeof(RULES));
    char *ph = strstr(rules, "JA3HASH_PLACEHOLDER_32_CHARS_XXX");
    assert_non_null(ph);
    memcpy(ph, ja3, 32); /* same length as the placeholder */

    struct harness h;
    harness_open(&h, rules, "buffers.rules");

    struct flow fh;
    harness_flow_init(&fh, 6, 80);
    static const char req[] =
        "GET /a/b/../c%41/./d?x=%27y HTTP/1.1\r\n"
        "Host: WWW.Example.COM:8080\r\n"
        "User-Agent: Mozilla/5.0 test\r\n"
        "Referer: http://ref.example/\r\n"
        "Cookie: sess=1\r\n"
        "X-Rep: one\r\n"
        "Folded: first\r\n"
        "  second\r\n"
        "X-Rep: two\r\n"
        "\r\n"
        "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nposted-data";
    static const char resp[] =
        "HTTP/1.1 200 OK\r\nServer: TestSrv\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n"
        "hello world"
        "HTTP/1.1 301 Moved\r\nLocation: /moved\r\nContent-Length: 0\r\n\r\n";
    harness_tcp(&h, &fh, FLOW_TO_SERVER, req, sizeof(req) - 1);
    harness_tcp(&h, &fh, FLOW_TO_CLIENT, resp, sizeof(resp) - 1);

    struct flow fd;
    harness_flow_init(&fd, 17, 53);
    static const uint8_t q[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                                3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
                                3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
    harness_udp(&h, &fd, FLOW_TO_SERVER, q, sizeof(q));

    struct flow ft;
    harness_flow_init(&ft, 6, 443);
    harness_tcp(&h, &ft, FLOW_TO_SERVER, ch, chn);
    static uint8_t sf[8192];
    size_t sfn = server_flight(sf, false);
    harness_tcp(&h, &ft, FLOW_TO_CLIENT, sf, sfn);

    unsigned bad = 0;
    for (uint32_t sid = 1; sid < 50; sid++) {
        char pat[16];
        snprintf(pat, sizeof(pat), "sid:%u;", sid);
        if (!strstr(rules, pat))
            continue;
        unsigned want = sid == 5 ? 2 : 1;
        if (harness_count(&h, sid) != want) {
            fprintf(stderr, "sid %u alerted %u times, want %u\n", sid, harness_count(&h, sid), want);
            bad++;
        }
    }
    for (uint32_t sid = 1000; sid < 1100; sid++)
        if (harness_count(&h, sid)) {
            fprintf(stderr, "sid %u alerted and must not\n", sid);
            bad++;
        }

    assert_int_equal(bad, 0);
    struct flow *flows[] = {&fh, &fd, &ft};
    harness_close(&h, flows, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffer_keywords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
