/* The app-layer rule keywords matched end to end: bsize, urilen, the sticky-buffer transforms
 * (dotprefix, to_lowercase, ...), app-layer-protocol and byte_test with 0 bytes, each at its
 * boundaries. Traffic goes through the real parsers, the rules parser with the app layer's hooks
 * and detect_buffers() (through the pending store, as a worker does). Rules with sid < 1000 must
 * alert exactly once, sid >= 1000 never. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "applayer_harness.h"

#define DNS "alert dns any any -> any any "
#define HTTP "alert http any any -> any any "
#define TLS "alert tls any any -> any any "

/* The traffic: DNS query www.example.com (15 bytes); TLS SNI secure.example.org; an HTTP
 * request GET /abc/../d%20e+f (normalised /d e+f, 6 bytes; raw 15 bytes) with an empty
 * User-Agent and a second request POST /up with User-Agent "Mo  Zilla\t/5", answered with
 * Content-Length 11 and 0. */
static const char RULES[] =
    /* bsize on dns.query, 15 bytes */
    DNS "(dns.query; bsize:15; sid:1;)\n"
    DNS "(dns.query; bsize:14; sid:1001;)\n"
    DNS "(dns.query; bsize:16; sid:1002;)\n"
    DNS "(dns.query; bsize:<16; sid:2;)\n"
    DNS "(dns.query; bsize:<15; sid:1003;)\n"
    DNS "(dns.query; bsize:>14; sid:3;)\n"
    DNS "(dns.query; bsize:>15; sid:1004;)\n"
    DNS "(dns.query; bsize:14<>16; sid:4;)\n"
    DNS "(dns.query; bsize:15<>17; sid:1005;)\n"
    DNS "(dns.query; bsize:13<>15; sid:1006;)\n"
    DNS "(dns.query; bsize:<=15; sid:5;)\n"
    DNS "(dns.query; bsize:>=15; sid:6;)\n"
    DNS "(dns.query; bsize:>=16; sid:1007;)\n"
    DNS "(dns.query; content:\"example\"; bsize:15; sid:7;)\n"
    DNS "(dns.query; content:\"example\"; bsize:14; sid:1008;)\n"
    /* bsize is the inspected buffer's: another buffer's length does not count */
    HTTP "(http.method; content:\"GET\"; bsize:3; sid:8;)\n"
    HTTP "(http.method; content:\"GET\"; bsize:6; sid:1009;)\n"
    /* an empty header is a buffer of size 0 (suricata-verify detect-bsize-0) */
    HTTP "(http.user_agent; bsize:0; sid:9;)\n"
    HTTP "(http.user_agent; bsize:>0; content:\"Zilla\"; sid:10;)\n"
    /* dotprefix */
    DNS "(dns.query; dotprefix; content:\".example.com\"; endswith; sid:20;)\n"
    DNS "(dns.query; dotprefix; content:\".www.example.com\"; startswith; sid:21;)\n"
    DNS "(dns.query; content:\".www.example.com\"; sid:1020;)\n"
    DNS "(dns.query; dotprefix; content:\".ww.example.com\"; endswith; sid:1021;)\n"
    DNS "(dns.query; dotprefix; content:\".www\"; bsize:16; sid:22;)\n"
    DNS "(dns.query; dotprefix; content:\".www\"; bsize:15; sid:1022;)\n"
    TLS "(tls.sni; dotprefix; content:\".example.org\"; endswith; sid:23;)\n"
    TLS "(tls.sni; dotprefix; content:\".cure.example.org\"; endswith; sid:1023;)\n"
    /* other transforms */
    HTTP "(http.user_agent; to_lowercase; content:\"mo  zilla\"; sid:30;)\n"
    HTTP "(http.user_agent; content:\"mo  zilla\"; sid:1030;)\n"
    HTTP "(http.user_agent; to_uppercase; content:\"MO  ZILLA\"; sid:31;)\n"
    HTTP "(http.user_agent; strip_whitespace; content:\"MoZilla/5\"; bsize:9; sid:32;)\n"
    HTTP "(http.user_agent; compress_whitespace; content:\"Mo Zilla\"; sid:33;)\n"
    HTTP "(http.user_agent; content:\"Mo Zilla\"; sid:1031;)\n"
    HTTP "(http.uri.raw; url_decode; content:\"/abc/../d e f\"; sid:34;)\n"
    HTTP "(http.uri.raw; url_decode; to_uppercase; content:\"/ABC/../D E F\"; sid:35;)\n"
    HTTP "(http.uri.raw; content:\"/abc/../d e\"; sid:1032;)\n"
    /* urilen: normalised (6) and raw (15) */
    HTTP "(urilen:6; sid:40;)\n"
    HTTP "(urilen:15,raw; sid:41;)\n"
    HTTP "(urilen:15; sid:1040;)\n"
    HTTP "(urilen:>5; http.method; content:\"GET\"; sid:42;)\n"
    HTTP "(urilen:<6; http.method; content:\"GET\"; sid:1041;)\n"
    HTTP "(urilen:5<>7,norm; sid:43;)\n"
    HTTP "(urilen:6<>8; sid:1042;)\n"
    HTTP "(urilen:6; http.uri; content:\"/d e\"; sid:44;)\n"
    HTTP "(urilen:3; http.uri; content:\"/up\"; sid:45;)\n"
    /* app-layer-protocol */
    HTTP "(http.method; content:\"GET\"; app-layer-protocol:http; sid:50;)\n"
    HTTP "(http.method; content:\"GET\"; app-layer-protocol:!http; sid:1050;)\n"
    HTTP "(http.method; content:\"GET\"; app-layer-protocol:!tls; app-layer-protocol:!dns; sid:51;)\n"
    HTTP "(http.method; content:\"GET\"; app-layer-protocol:tls; sid:1051;)\n"
    TLS "(tls.sni; content:\"secure\"; app-layer-protocol:tls; sid:52;)\n"
    /* byte_test with 0 bytes: the whole decimal number */
    HTTP "(flow:to_client; http.content_len; byte_test:0,>,10,0,string,dec; sid:60;)\n"
    HTTP "(flow:to_client; http.content_len; byte_test:0,=,11,0,string,dec; sid:61;)\n"
    HTTP "(flow:to_client; http.content_len; byte_test:0,>,11,0,string,dec; sid:1060;)\n"
    HTTP "(flow:to_client; http.content_len; byte_test:0,<,1,0,string,dec; sid:62;)\n"
    /* byte count from a byte_extract variable: "11" gives 1 (one byte), "0" gives 0 (no count) */
    HTTP "(flow:to_client; http.content_len; byte_extract:1,0,n,string,dec; "
         "byte_test:n,=,1,0,string,dec; sid:63;)\n"
    HTTP "(flow:to_client; http.content_len; byte_extract:1,0,n,string,dec; "
         "byte_test:n,=,11,0,string,dec; sid:1061;)\n";

/* A TLS ClientHello with SNI secure.example.org. */
static size_t client_hello(uint8_t *out)
{
    static const char sni[] = "secure.example.org";
    uint8_t b[256];
    size_t o = 0;
    b[o++] = 3; b[o++] = 3;
    memset(b + o, 0x11, 32); o += 32;
    b[o++] = 0;
    b[o++] = 0; b[o++] = 2; b[o++] = 0xc0; b[o++] = 0x2f;
    b[o++] = 1; b[o++] = 0;
    size_t sl = sizeof(sni) - 1;
    size_t el = sl + 9;
    b[o++] = (uint8_t)(el >> 8); b[o++] = (uint8_t)el;
    b[o++] = 0; b[o++] = 0; b[o++] = 0; b[o++] = (uint8_t)(sl + 5);
    b[o++] = 0; b[o++] = (uint8_t)(sl + 3); b[o++] = 0; b[o++] = 0; b[o++] = (uint8_t)sl;
    memcpy(b + o, sni, sl); o += sl;
    out[0] = 22; out[1] = 3; out[2] = 1; out[3] = (uint8_t)((o + 4) >> 8); out[4] = (uint8_t)(o + 4);
    out[5] = 1; out[6] = 0; out[7] = (uint8_t)(o >> 8); out[8] = (uint8_t)o;
    memcpy(out + 9, b, o);
    return o + 9;
}

static void test_keywords(void **state)
{
    (void)state;
    struct harness h;
    harness_open(&h, RULES, "kw.rules");

    struct flow fd;
    harness_flow_init(&fd, 17, 53);
    static const uint8_t q[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                                3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
                                3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
    harness_udp(&h, &fd, FLOW_TO_SERVER, q, sizeof(q));

    struct flow ft;
    harness_flow_init(&ft, 6, 443);
    uint8_t ch[512];
    size_t chn = client_hello(ch);
    harness_tcp(&h, &ft, FLOW_TO_SERVER, ch, chn);

    struct flow fh;
    harness_flow_init(&fh, 6, 80);
    static const char req[] =
        "GET /abc/../d%20e+f HTTP/1.1\r\nHost: h\r\nUser-Agent:\r\n\r\n"
        "POST /up HTTP/1.1\r\nHost: h\r\nUser-Agent: Mo  Zilla\t/5\r\nContent-Length: 1\r\n\r\nx";
    static const char resp[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    harness_tcp(&h, &fh, FLOW_TO_SERVER, req, sizeof(req) - 1);
    harness_tcp(&h, &fh, FLOW_TO_CLIENT, resp, sizeof(resp) - 1);

    unsigned bad = 0, checked = 0;
    for (uint32_t sid = 1; sid < 1100; sid++) {
        char pat[16];
        snprintf(pat, sizeof(pat), "sid:%u;", sid);
        if (!strstr(RULES, pat))
            continue;
        checked++;
        unsigned want = sid < 1000 ? 1 : 0;
        if (harness_count(&h, sid) != want) {
            fprintf(stderr, "sid %u alerted %u times, want %u\n", sid, harness_count(&h, sid), want);
            bad++;
        }
    }
    assert_int_equal(checked, 56);
    assert_int_equal(bad, 0);
    struct flow *flows[] = {&fh, &fd, &ft};
    harness_close(&h, flows, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keywords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
