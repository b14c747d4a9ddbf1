/* JSON writer: structure, numbers, escaping of hostile bytes, truncation. Every document is
 * parsed back with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "json_writer.h"

static json_t *parse_ok(const char *s)
{
    json_error_t err;
    json_t *j = json_loads(s, JSON_ALLOW_NUL, &err);
    if (j == NULL)
        print_error("parse failed: %s: %s\n", err.text, s);
    assert_non_null(j);
    return j;
}

static void test_structure_and_numbers(void **state)
{
    (void)state;
    char buf[512];
    struct json_writer w;
    json_writer_init(&w, buf, sizeof(buf));
    jw_open_object(&w);
    jw_kv_u64(&w, "u", (uint64_t)INT64_MAX);
    jw_kv_i64(&w, "i", INT64_MIN);
    jw_kv_i64(&w, "z", 0);
    jw_kv_bool(&w, "t", true);
    jw_kv_bool(&w, "f", false);
    jw_kv_double(&w, "d", 0.25);
    jw_kv_double(&w, "nan", 0.0 / 0.0);
    jw_key(&w, "a");
    jw_open_array(&w);
    jw_u64(&w, 1);
    jw_str(&w, "x");
    jw_open_object(&w);
    jw_close_object(&w);
    jw_open_array(&w);
    jw_close_array(&w);
    jw_null(&w);
    jw_close_array(&w);
    jw_key(&w, "raw");
    jw_raw(&w, "{\"k\":[\"v\"]}", 11);
    jw_kv_str(&w, "null", NULL);
    jw_close_object(&w);
    assert_int_equal(json_writer_finish(&w), 0);
    assert_int_equal(strlen(buf), w.len);
    assert_string_equal(buf, "{\"u\":9223372036854775807,\"i\":-9223372036854775808,\"z\":0,\"t\":true,"
                             "\"f\":false,\"d\":0.25,\"nan\":null,\"a\":[1,\"x\",{},[],null],"
                             "\"raw\":{\"k\":[\"v\"]},\"null\":null}");
    json_t *j = parse_ok(buf);
    assert_int_equal(json_integer_value(json_object_get(j, "i")), INT64_MIN);
    assert_int_equal(json_array_size(json_object_get(j, "a")), 5);
    json_decref(j);
    /* the full unsigned range (beyond what jansson parses) */
    json_writer_init(&w, buf, sizeof(buf));
    jw_open_array(&w);
    jw_u64(&w, UINT64_MAX);
    jw_u64(&w, 0);
    jw_i64(&w, -1);
    jw_close_array(&w);
    assert_int_equal(json_writer_finish(&w), 0);
    assert_string_equal(buf, "[18446744073709551615,0,-1]");
}

/* Writes {"s":<bytes>} and returns the parsed string value's bytes through out. */
static void roundtrip(const void *in, size_t len, char *buf, size_t cap, json_t **root)
{
    struct json_writer w;
    json_writer_init(&w, buf, cap);
    jw_open_object(&w);
    jw_kv_str_n(&w, "s", in, len);
    jw_close_object(&w);
    assert_int_equal(json_writer_finish(&w), 0);
    *root = parse_ok(buf);
}

static void test_escape_control_quotes(void **state)
{
    (void)state;
    char buf[512];
    json_t *j;
    const char in[] = "a\"b\\c\n\r\t\b\f\x01\x1f/\x7f";
    roundtrip(in, sizeof(in) - 1, buf, sizeof(buf), &j);
    assert_string_equal(buf, "{\"s\":\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f/\x7f\"}");
    const char *v = json_string_value(json_object_get(j, "s"));
    assert_memory_equal(v, in, sizeof(in) - 1);
    json_decref(j);
}

static void test_escape_embedded_nul(void **state)
{
    (void)state;
    char buf[128];
    json_t *j;
    const char in[] = {'a', 0, 'b'};
    roundtrip(in, 3, buf, sizeof(buf), &j);
    assert_string_equal(buf, "{\"s\":\"a\\u0000b\"}");
    json_t *s = json_object_get(j, "s");
    assert_int_equal(json_string_length(s), 3);
    assert_memory_equal(json_string_value(s), in, 3);
    json_decref(j);
}

static void test_escape_invalid_utf8(void **state)
{
    (void)state;
    char buf[512];
    json_t *j;
    /* valid: é (2 bytes), € (3), 😀 (4); invalid: lone continuation, 0xff, overlong '/',
     * surrogate U+D800, above U+10FFFF, truncated 3-byte sequence at the end */
    const char in[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x80|\xff|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82";
    roundtrip(in, sizeof(in) - 1, buf, sizeof(buf), &j);
    assert_string_equal(buf, "{\"s\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\\u0080|\\u00ff|\\u00c0\\u00af|"
                             "\\u00ed\\u00a0\\u0080|\\u00f4\\u0090\\u0080\\u0080|\\u00e2\\u0082\"}");
    json_decref(j);
}

static void test_escape_long_hostile(void **state)
{
    (void)state;
    /* every byte value, many times, through both the fast and the near-the-end paths */
    static uint8_t in[4096];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 7 + (i >> 8));
    static char buf[6 * 4096 + 64];
    json_t *j;
    roundtrip(in, sizeof(in), buf, sizeof(buf), &j);
    json_decref(j);
    /* json_escape reports the full length like snprintf */
    char small[8];
    size_t need = jw_escape(small, sizeof(small), "\x01\x02\x03", 3);
    assert_int_equal(need, 18);
    assert_int_equal(strlen(small), 7);
}

/* Expected decoded string: valid UTF-8 sequences as they are, each other byte as U+00XX.
 * The oracle is the C library's UTF-8 decoder (mbrtowc in C.UTF-8), not our own, capped at
 * U+10FFFF. */
static size_t oracle(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    while (i < len) {
        mbstate_t st;
        memset(&st, 0, sizeof(st));
        wchar_t wc;
        size_t n = in[i] == 0 ? 1 : mbrtowc(&wc, (const char *)in + i, len - i, &st);
        if (in[i] != 0 && in[i] < 0x80)
            n = 1;
        /* glibc decodes code points above U+10FFFF too; RFC 3629 ends there */
        if (in[i] >= 0x80 && n != (size_t)-1 && n != (size_t)-2 && n > 1 && (uint32_t)wc <= 0x10ffff) {
            memcpy(out + o, in + i, n);
            o += n;
            i += n;
            continue;
        }
        uint8_t c = in[i++];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else {
            out[o++] = (char)(0xc0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    return o;
}

static void test_escape_random_against_libc(void **state)
{
    (void)state;
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
        skip();
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (unsigned iter = 0; iter < 20000; iter++) {
        uint8_t in[48];
        size_t len = iter % 48;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* favour the interesting ranges: ASCII controls, UTF-8 lead and continuation bytes */
            static const uint8_t pick[] = {0x00, 0x1f, '"', '\\', 'a', 0x7f, 0x80, 0xbf, 0xc2, 0xdf, 0xe0,
                                           0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f};
            in[i] = (x >> 40) & 1 ? pick[(x >> 8) % sizeof(pick)] : (uint8_t)x;
        }
        char buf[512], want[128];
        json_t *j;
        roundtrip(in, len, buf, sizeof(buf), &j);
        size_t wl = oracle(in, len, want);
        json_t *sv = json_object_get(j, "s");
        if (json_string_length(sv) != wl || memcmp(json_string_value(sv), want, wl) != 0) {
            print_error("iteration %u: %s\n", iter, buf);
            fail();
        }
        json_decref(j);
    }
    setlocale(LC_CTYPE, "C");
}

static void test_truncation(void **state)
{
    (void)state;
    for (size_t cap = 0; cap < 40; cap++) {
        char buf[64];
        memset(buf, 'Z', sizeof(buf));
        struct json_writer w;
        json_writer_init(&w, buf, cap);
        jw_open_object(&w);
        jw_kv_str(&w, "key", "value with \x01 control");
        jw_kv_u64(&w, "n", 12345);
        jw_close_object(&w);
        int rc = json_writer_finish(&w);
        /* never writes past cap, always NUL-terminated inside it */
        for (size_t i = cap; i < sizeof(buf); i++)
            assert_int_equal(buf[i], 'Z');
        if (cap > 0)
            assert_true(memchr(buf, 0, cap) != NULL);
        if (rc == 0) {
            json_t *j = parse_ok(buf);
            json_decref(j);
        } else {
            assert_int_equal(rc, -ENOSPC);
            assert_true(w.truncated);
        }
        /* the whole document is 44 bytes + NUL */
        assert_int_equal(rc == 0, cap >= 45);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure_and_numbers),
        cmocka_unit_test(test_escape_control_quotes),
        cmocka_unit_test(test_escape_embedded_nul),
        cmocka_unit_test(test_escape_invalid_utf8),
        cmocka_unit_test(test_escape_long_hostile),
        cmocka_unit_test(test_escape_random_against_libc),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
