/* Unit tests for the parser's app-layer keywords (rules/): bsize, urilen, the sticky-buffer
 * transforms (dotprefix, to_lowercase, ...), app-layer-protocol and byte_test/byte_jump with 0
 * bytes, each at its boundaries, plus the transform byte operations. The app layer's hooks are
 * stood in for by a small table (rules/ must not depend on sensor/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules.h"
#include "rules_core.h"
#include "rules_xform.h"

/* buffer ids as the app layer would give them (any distinct positive numbers do) */
enum { B_URI = 1, B_URI_RAW = 2, B_UA = 8, B_DNS_QUERY = 29, B_SNI = 30 };
enum { P_HTTP = 1, P_DNS = 2, P_TLS = 3, P_FAILED = 22 };

static int fake_proto(void *ctx, const char *name)
{
    (void)ctx;
    if (!strcmp(name, "http") || !strcmp(name, "http1"))
        return P_HTTP;
    if (!strcmp(name, "dns"))
        return P_DNS;
    if (!strcmp(name, "tls"))
        return P_TLS;
    if (!strcmp(name, "failed"))
        return P_FAILED;
    return 0;
}

static int fake_buffer(void *ctx, const char *kw)
{
    (void)ctx;
    static const struct { const char *n; int id; } t[] = {
        {"http.uri", B_URI}, {"http_uri", B_URI}, {"http.uri.raw", B_URI_RAW},
        {"http.user_agent", B_UA}, {"dns.query", B_DNS_QUERY}, {"tls.sni", B_SNI},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (!strcmp(kw, t[i].n))
            return t[i].id;
    return 0;
}

static struct ruleset *load_h(const char *text, struct rules_report *rep, bool hooks)
{
    struct rules_load_config lc;
    rules_load_config_default(&lc);
    if (hooks)
        lc.applayer = (struct rules_applayer_hooks){fake_proto, fake_buffer, NULL};
    char err[256];
    struct ruleset *rs = ruleset_load_string(&lc, text, "t.rules", rep, err, sizeof(err));
    assert_non_null(rs);
    return rs;
}

/* Loads one rule with the hooks; returns the ruleset when it loaded (want_ok), else checks the
 * reason contains want and returns NULL. */
static struct ruleset *expect(const char *text, bool want_ok, const char *want)
{
    struct rules_report *rep = rules_report_new();
    struct ruleset *rs = load_h(text, rep, true);
    if (want_ok) {
        if (ruleset_count(rs) != 1)
            fail_msg("rule did not load: %s -> %s", text, rules_report_failure(rep, 0));
        rules_report_free(rep);
        return rs;
    }
    if (ruleset_count(rs) != 0)
        fail_msg("rule loaded but should fail: %s", text);
    const char *line = rules_report_failure(rep, 0);
    assert_non_null(line);
    if (!strstr(line, want))
        fail_msg("reason '%s' lacks '%s' (rule %s)", line, want, text);
    ruleset_free(rs);
    rules_report_free(rep);
    return NULL;
}

static const struct rule *only_rule(const struct ruleset *rs)
{
    unsigned n;
    const struct rule *r = ruleset_rules(rs, &n);
    assert_int_equal(n, 1);
    return r;
}

static const struct rule_list *list_of(const struct rule *r, uint16_t buffer)
{
    for (unsigned i = 0; i < r->n_lists; i++)
        if (r->lists[i].buffer == buffer)
            return &r->lists[i];
    fail_msg("no list for buffer %u", buffer);
    return NULL;
}

#define DNS "alert dns any any -> any any "
#define HTTP "alert http any any -> any any "

static void check_bsize(const char *opt, uint8_t op, uint64_t a, uint64_t b)
{
    char text[256];
    snprintf(text, sizeof(text), DNS "(dns.query; content:\"ab\"; %s sid:1;)", opt);
    struct ruleset *rs = expect(text, true, NULL);
    const struct rule_list *l = list_of(only_rule(rs), RULE_BUF_APP_BASE + B_DNS_QUERY);
    assert_int_equal(l->bsize.op, op);
    assert_int_equal(l->bsize.a, a);
    if (op == NUM_RANGE)
        assert_int_equal(l->bsize.b, b);
    ruleset_free(rs);
}

static void test_bsize_parse(void **state)
{
    (void)state;
    check_bsize("bsize:5;", NUM_EQ, 5, 0);
    check_bsize("bsize:=5;", NUM_EQ, 5, 0);
    check_bsize("bsize:<10;", NUM_LT, 10, 0);
    check_bsize("bsize:>1;", NUM_GT, 1, 0);
    check_bsize("bsize:<=5;", NUM_LE, 5, 0);
    check_bsize("bsize:>=2;", NUM_GE, 2, 0);
    check_bsize("bsize:1<>10;", NUM_RANGE, 1, 10);
    check_bsize("bsize: 4 ;", NUM_EQ, 4, 0);
    /* a buffer with only a bsize (Suricata's bsize:0 for an empty header) */
    struct ruleset *rs = expect(HTTP "(http.user_agent; bsize:0; sid:1;)", true, NULL);
    const struct rule_list *l = list_of(only_rule(rs), RULE_BUF_APP_BASE + B_UA);
    assert_int_equal(l->n, 0);
    assert_int_equal(l->bsize.op, NUM_EQ);
    assert_int_equal(l->bsize.a, 0);
    assert_true(only_rule(rs)->flags & RF_HAS_APPBUF);
    ruleset_free(rs);
    /* bsize belongs to the buffer it follows, not the first one */
    rs = expect(HTTP "(http.uri; content:\"a\"; http.user_agent; content:\"b\"; bsize:3; sid:1;)",
                true, NULL);
    assert_int_equal(list_of(only_rule(rs), RULE_BUF_APP_BASE + B_URI)->bsize.op, NUM_NONE);
    assert_int_equal(list_of(only_rule(rs), RULE_BUF_APP_BASE + B_UA)->bsize.op, NUM_EQ);
    ruleset_free(rs);

    expect("alert tcp any any -> any any (content:\"a\"; bsize:3; sid:1;)", false,
           "bsize without a sticky buffer");
    expect(DNS "(bsize:3; sid:1;)", false, "bsize without a sticky buffer");
    expect(DNS "(dns.query; content:\"a\"; pkt_data; bsize:3; sid:1;)", false,
           "bsize without a sticky buffer");
    expect(DNS "(dns.query; bsize:x; sid:1;)", false, "bad bsize");
    expect(DNS "(dns.query; bsize:; sid:1;)", false, "bad bsize");
    expect(DNS "(dns.query; bsize; sid:1;)", false, "bad bsize");
    expect(DNS "(dns.query; bsize:10<>5; sid:1;)", false, "bad bsize");
    expect(DNS "(dns.query; bsize:-1; sid:1;)", false, "bad bsize");
    expect(DNS "(dns.query; bsize:3; bsize:4; sid:1;)", false, "duplicate bsize");
    expect(DNS "(dns.query; bsize:3; bsize:<3; sid:1;)", false, "duplicate bsize");
    ruleset_free(expect(DNS "(dns.query; bsize:3; bsize:3; sid:1;)", true, NULL));
    ruleset_free(expect(HTTP "(urilen:8; http.uri; bsize:8; content:\"/a\"; sid:1;)", true, NULL));
    expect(HTTP "(urilen:8; http.uri; bsize:9; content:\"/a\"; sid:1;)", false, "duplicate bsize");
    /* content that cannot fit the size: the rule is rejected as Suricata does */
    expect(DNS "(dns.query; content:\"abcdef\"; bsize:5; sid:1;)", false,
           "content longer than bsize");
    ruleset_free(expect(DNS "(dns.query; content:\"abcdef\"; bsize:6; sid:1;)", true, NULL));
    expect(DNS "(dns.query; content:\"abcdef\"; bsize:<6; sid:1;)", false,
           "content longer than bsize");
    ruleset_free(expect(DNS "(dns.query; content:\"abcdef\"; bsize:<7; sid:1;)", true, NULL));
    ruleset_free(expect(DNS "(dns.query; content:\"abcdef\"; bsize:<=6; sid:1;)", true, NULL));
    expect(DNS "(dns.query; content:\"abcdef\"; bsize:<=5; sid:1;)", false,
           "content longer than bsize");
    ruleset_free(expect(DNS "(dns.query; content:\"abcdef\"; bsize:3<>7; sid:1;)", true, NULL));
    expect(DNS "(dns.query; content:\"abcdef\"; bsize:3<>6; sid:1;)", false,
           "content longer than bsize");
    ruleset_free(expect(DNS "(dns.query; content:!\"abcdef\"; bsize:3; sid:1;)", true, NULL));
    ruleset_free(expect(DNS "(dns.query; content:\"abcdef\"; bsize:>3; sid:1;)", true, NULL));
}

static void test_urilen_parse(void **state)
{
    (void)state;
    struct ruleset *rs = expect(HTTP "(urilen:5; sid:1;)", true, NULL);
    const struct rule_list *l = list_of(only_rule(rs), RULE_BUF_APP_BASE + B_URI);
    assert_int_equal(l->n, 0);
    assert_int_equal(l->bsize.op, NUM_EQ);
    assert_int_equal(l->bsize.a, 5);
    ruleset_free(rs);
    rs = expect(HTTP "(urilen: >5,raw; sid:1;)", true, NULL);
    l = list_of(only_rule(rs), RULE_BUF_APP_BASE + B_URI_RAW);
    assert_int_equal(l->bsize.op, NUM_GT);
    ruleset_free(rs);
    rs = expect(HTTP "(urilen:2<>10,norm; http.uri; content:\"/a\"; sid:1;)", true, NULL);
    /* one list: urilen and the uri's contents share it */
    assert_int_equal(only_rule(rs)->n_lists, 1);
    l = list_of(only_rule(rs), RULE_BUF_APP_BASE + B_URI);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->bsize.op, NUM_RANGE);
    assert_int_equal(l->bsize.b, 10);
    ruleset_free(rs);
    /* urilen does not change the current buffer: the next content stays in the payload */
    rs = expect(HTTP "(http.user_agent; content:\"x\"; urilen:<9; content:\"y\"; sid:1;)", true,
                NULL);
    assert_int_equal(list_of(only_rule(rs), RULE_BUF_APP_BASE + B_UA)->n, 2);
    ruleset_free(rs);
    expect(HTTP "(urilen:5,foo; sid:1;)", false, "bad urilen");
    expect(HTTP "(urilen:x; sid:1;)", false, "bad urilen");
    expect(HTTP "(urilen:70000; sid:1;)", false, "bad urilen");
    expect(HTTP "(urilen:1; urilen:2; sid:1;)", false, "duplicate urilen");
    /* without the app layer there is no uri buffer */
    struct rules_report *rep = rules_report_new();
    rs = load_h("alert tcp any any -> any any (urilen:5; sid:1;)", rep, false);
    assert_int_equal(ruleset_count(rs), 0);
    assert_non_null(strstr(rules_report_failure(rep, 0), "unsupported keyword urilen"));
    ruleset_free(rs);
    rules_report_free(rep);
}

static void test_transform_parse(void **state)
{
    (void)state;
    struct rules_report *rep = rules_report_new();
    struct ruleset *rs = load_h(
        DNS "(dns.query; dotprefix; content:\".a.com\"; endswith; sid:1;)\n"
        DNS "(dns.query; dotprefix; content:\".b.com\"; endswith; bsize:6; sid:2;)\n"
        "alert tls any any -> any any (tls.sni; dotprefix; content:\".a.org\"; sid:3;)\n"
        HTTP "(http.uri; url_decode; to_lowercase; content:\"/a b\"; sid:4;)\n"
        HTTP "(http.uri; content:\"/x\"; http.user_agent; to_uppercase; content:\"Y\"; sid:5;)\n"
        HTTP "(http.user_agent; strip_whitespace; compress_whitespace; content:\"a\"; sid:6;)\n",
        rep, true);
    for (unsigned i = 0; i < rules_report_n_failures(rep); i++)
        fprintf(stderr, "%s\n", rules_report_failure(rep, i));
    assert_int_equal(ruleset_count(rs), 6);
    unsigned nx;
    const struct rule_xform *x = ruleset_xforms(rs, &nx);
    /* rules 1 and 2 share (dns.query, dotprefix) */
    assert_int_equal(nx, 5);
    unsigned n;
    const struct rule *r = ruleset_rules(rs, &n);
    assert_int_equal(r[0].lists[0].buffer, RULE_BUF_XFORM_BASE);
    assert_int_equal(r[1].lists[0].buffer, RULE_BUF_XFORM_BASE);
    assert_int_equal(r[1].lists[0].bsize.a, 6);
    assert_int_equal(x[0].id, RULE_BUF_XFORM_BASE);
    assert_int_equal(x[0].base, RULE_BUF_APP_BASE + B_DNS_QUERY);
    assert_int_equal(x[0].n_ops, 1);
    assert_int_equal(x[0].ops[0], XF_DOTPREFIX);
    assert_int_equal(r[2].lists[0].buffer, RULE_BUF_XFORM_BASE + 1);
    assert_int_equal(x[1].base, RULE_BUF_APP_BASE + B_SNI);
    /* a chain, in rule order */
    const struct rule_xform *c = &x[r[3].lists[0].buffer - RULE_BUF_XFORM_BASE];
    assert_int_equal(c->base, RULE_BUF_APP_BASE + B_URI);
    assert_int_equal(c->n_ops, 2);
    assert_int_equal(c->ops[0], XF_URL_DECODE);
    assert_int_equal(c->ops[1], XF_TO_LOWERCASE);
    /* the transform applies to the buffer it follows only */
    assert_int_equal(r[4].n_lists, 2);
    assert_int_equal(r[4].lists[0].buffer, RULE_BUF_APP_BASE + B_URI);
    assert_int_equal(x[r[4].lists[1].buffer - RULE_BUF_XFORM_BASE].base, RULE_BUF_APP_BASE + B_UA);
    ruleset_free(rs);
    rules_report_free(rep);

    expect(DNS "(dotprefix; content:\"a\"; sid:1;)", false, "transform dotprefix without a sticky buffer");
    expect("alert tcp any any -> any any (content:\"a\"; to_lowercase; sid:1;)", false,
           "transform to_lowercase without a sticky buffer");
    expect(DNS "(dns.query; content:\"a\"; dotprefix; sid:1;)", false, "after content");
    expect(DNS "(dns.query; bsize:3; dotprefix; sid:1;)", false, "after content");
    /* the buffer named again after its contents: still after content */
    expect(HTTP "(http.uri; content:\"/x\"; http.uri; to_uppercase; content:\"/Y\"; sid:1;)",
           false, "after content");
    expect(DNS "(dns.query; dotprefix:1; content:\"a\"; sid:1;)", false, "takes no value");
    expect(DNS "(dns.query; dotprefix; dotprefix; dotprefix; dotprefix; dotprefix; content:\"a\"; sid:1;)",
           false, "too many transforms");
    expect(DNS "(dns.query; dotprefix; content:\"a\"; dns.query; dotprefix; content:\"b\"; sid:1;)",
           false, "transformed buffer given twice");
    expect(DNS "(dns.query; dotprefix; sid:1;)", false, "empty sticky buffer");
}

static void xf(uint8_t op1, uint8_t op2, const char *in, const char *want)
{
    struct rule_xform x = {.id = RULE_BUF_XFORM_BASE, .base = 17, .n_ops = op2 ? 2 : 1,
                           .ops = {op1, op2}};
    uint8_t out[128];
    memset(out, 0xee, sizeof(out));
    uint32_t len = (uint32_t)strlen(in);
    assert_true(rules_xform_out_max(&x, len) <= sizeof(out));
    uint32_t l = rules_xform_apply(&x, (const uint8_t *)in, len, out);
    if (l != strlen(want) || memcmp(out, want, l) != 0)
        fail_msg("%s(%s): got '%.*s', want '%s'", rules_xform_name(op1), in, (int)l, out, want);
}

static void test_transform_ops(void **state)
{
    (void)state;
    assert_int_equal(rules_xform_from_name("dotprefix"), XF_DOTPREFIX);
    assert_int_equal(rules_xform_from_name("url_decode"), XF_URL_DECODE);
    assert_int_equal(rules_xform_from_name("dotprefixx"), 0);
    xf(XF_DOTPREFIX, 0, "a.com", ".a.com");
    xf(XF_DOTPREFIX, 0, "", ".");
    xf(XF_TO_LOWERCASE, 0, "AbC-Z@[", "abc-z@[");
    xf(XF_TO_UPPERCASE, 0, "aBc-z`{", "ABC-Z`{");
    xf(XF_STRIP_WHITESPACE, 0, " a \t\r\nb\v\fc ", "abc");
    xf(XF_COMPRESS_WHITESPACE, 0, "a  \t b\tc", "a b\tc");
    xf(XF_COMPRESS_WHITESPACE, 0, "  a ", " a ");
    xf(XF_URL_DECODE, 0, "%41%62+c", "Ab c");
    xf(XF_URL_DECODE, 0, "%4g%%4", "%4g%%4");
    xf(XF_URL_DECODE, 0, "a%2", "a%2");
    xf(XF_URL_DECODE, 0, "%2e%2E", "..");
    xf(XF_URL_DECODE, XF_TO_UPPERCASE, "/a%20b", "/A B");
    xf(XF_TO_LOWERCASE, XF_DOTPREFIX, "WWW.X", ".www.x");
}

static void test_transform_expand(void **state)
{
    (void)state;
    struct rules_report *rep = rules_report_new();
    struct ruleset *rs = load_h(DNS "(dns.query; dotprefix; content:\".a.com\"; sid:1;)\n", rep, true);
    assert_int_equal(ruleset_count(rs), 1);
    /* room for 2 buffers and 8 bytes: the second query does not fit */
    struct rules_xform_scratch *s = rules_xform_scratch_new(rs, 8, 4);
    assert_non_null(s);
    struct rule_buf in[3] = {
        {RULE_BUF_APP_BASE + B_DNS_QUERY, (const uint8_t *)"a.com", 5},
        {RULE_BUF_APP_BASE + B_URI, (const uint8_t *)"/x", 2},
        {RULE_BUF_APP_BASE + B_DNS_QUERY, (const uint8_t *)"b.com", 5},
    };
    unsigned n;
    const struct rule_buf *out = rules_xform_expand(s, in, 3, &n);
    assert_int_equal(n, 4);
    for (unsigned i = 0; i < 3; i++)
        assert_ptr_equal(out[i].data, in[i].data);
    assert_int_equal(out[3].id, RULE_BUF_XFORM_BASE);
    assert_int_equal(out[3].len, 6);
    assert_memory_equal(out[3].data, ".a.com", 6);
    assert_int_equal(rules_xform_dropped(s), 1);
    /* nothing to derive: the caller's array back */
    assert_ptr_equal(rules_xform_expand(s, &in[1], 1, &n), &in[1]);
    assert_int_equal(n, 1);
    rules_xform_scratch_free(s);
    /* enough room: one per value */
    s = rules_xform_scratch_new(rs, 64, 8);
    out = rules_xform_expand(s, in, 3, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(out[4].data, ".b.com", 6);
    assert_int_equal(rules_xform_dropped(s), 0);
    rules_xform_scratch_free(s);
    rules_xform_scratch_free(NULL);
    ruleset_free(rs);
    rules_report_free(rep);
}

static void test_alproto(void **state)
{
    (void)state;
    struct ruleset *rs = expect(
        "alert tcp any any -> any any (app-layer-protocol:!http1; app-layer-protocol: ! tls; sid:1;)",
        true, NULL);
    const struct rule *r = only_rule(rs);
    assert_int_equal(r->n_alproto, 2);
    assert_int_equal(r->alproto[0].proto, P_HTTP);
    assert_true(r->alproto[0].negated);
    assert_int_equal(r->alproto[1].proto, P_TLS);
    assert_true(r->alproto[1].negated);
    /* negated: not while undetected (0), not http, not tls; yes for dns */
    assert_false(rule_alproto_match(r->alproto, r->n_alproto, 0));
    assert_false(rule_alproto_match(r->alproto, r->n_alproto, P_HTTP));
    assert_false(rule_alproto_match(r->alproto, r->n_alproto, P_TLS));
    assert_true(rule_alproto_match(r->alproto, r->n_alproto, P_DNS));
    ruleset_free(rs);
    rs = expect("alert ip any any -> any any (app-layer-protocol:http; sid:1;)", true, NULL);
    r = only_rule(rs);
    assert_false(r->alproto[0].negated);
    /* not an IP-only rule: it needs the flow */
    assert_false(r->flags & RF_IPONLY);
    assert_true(rule_alproto_match(r->alproto, 1, P_HTTP));
    assert_false(rule_alproto_match(r->alproto, 1, 0));
    assert_false(rule_alproto_match(r->alproto, 1, P_DNS));
    ruleset_free(rs);
    rs = expect("alert tcp any any -> any any (app-layer-protocol:failed; sid:1;)", true, NULL);
    assert_true(rule_alproto_match(only_rule(rs)->alproto, 1, P_FAILED));
    ruleset_free(rs);
    expect("alert tcp any any -> any any (app-layer-protocol:foo; sid:1;)", false,
           "unknown app-layer-protocol foo");
    expect("alert tcp any any -> any any (app-layer-protocol:http,final; sid:1;)", false,
           "unsupported app-layer-protocol mode");
    expect("alert tcp any any -> any any (app-layer-protocol; sid:1;)", false,
           "bad app-layer-protocol");
    expect("alert tcp any any -> any any (app-layer-protocol:http; app-layer-protocol:http; "
           "app-layer-protocol:http; app-layer-protocol:http; app-layer-protocol:http; sid:1;)",
           false, "too many app-layer-protocol");
}

/* A quote inside a quoted value that does not end the option (ET sid 2029732). */
static void test_inner_quote(void **state)
{
    (void)state;
    struct ruleset *rs = expect("alert tcp any any -> any any (msg:\"a \"b\" c\"; content:\"m=\"; "
                                "pcre:\"/^[\"']?post/Ri\"; sid:1;)", true, NULL);
    const struct rule *r = only_rule(rs);
    assert_string_equal(r->meta->msg, "a \"b\" c");
    assert_int_equal(r->lists[0].n, 2);
    assert_string_equal(r->lists[0].items[1].u.p.src, "^[\"']?post");
    ruleset_free(rs);
    expect("alert tcp any any -> any any (content:\"a; sid:1;)", false, "unbalanced quotes");
    expect("alert tcp any any -> any any (content:\"a\"b; sid:1;)", false, "unbalanced quotes");
}

static void test_zero_byte_count(void **state)
{
    (void)state;
    struct ruleset *rs =
        expect(HTTP "(http.uri; content:\"=\"; byte_test:0,>,5,0,relative,string,dec; sid:1;)",
               true, NULL);
    const struct rule_list *l = list_of(only_rule(rs), RULE_BUF_APP_BASE + B_URI);
    assert_int_equal(l->items[1].type, RI_BYTE_TEST);
    assert_int_equal(l->items[1].u.b.nbytes, 0);
    ruleset_free(rs);
    ruleset_free(expect("alert tcp any any -> any any (content:\"a\"; byte_jump:0,0,relative,"
                        "post_offset -3; sid:1;)", true, NULL));
    expect("alert tcp any any -> any any (byte_test:0,>,5,0; sid:1;)", false, "bad byte count");
    expect("alert tcp any any -> any any (byte_jump:0,0,string,dec; sid:1;)", false,
           "bad byte count");
    expect("alert tcp any any -> any any (byte_extract:0,0,v; sid:1;)", false, "bad byte count");
    expect("alert tcp any any -> any any (byte_test:24,>,5,0,string,dec; sid:1;)", false,
           "bad byte count");
    /* the count from a byte_extract variable (Suricata 7) */
    rs = expect("alert tcp any any -> any any (byte_extract:1,0,a; byte_extract:1,1,n; "
                "byte_test:n,=,1,5; byte_jump:n,0,relative; sid:1;)", true, NULL);
    const struct rule_list *pl = &only_rule(rs)->lists[0];
    assert_int_equal(pl->items[2].u.b.nbytes_var, 1);
    assert_int_equal(pl->items[3].u.b.nbytes_var, 1);
    assert_int_equal(pl->items[0].u.b.nbytes_var, RULE_VAR_NONE);
    uint64_t vars[RULE_MAX_VARS] = {0, 4};
    struct rule_byte tmp;
    const struct rule_byte *rb = rules_byte_resolve(&pl->items[2].u.b, vars, &tmp);
    assert_non_null(rb);
    assert_int_equal(rb->nbytes, 4);
    vars[1] = 9; /* over 8 without string */
    assert_null(rules_byte_resolve(&pl->items[2].u.b, vars, &tmp));
    vars[1] = 0;
    assert_null(rules_byte_resolve(&pl->items[2].u.b, vars, &tmp));
    ruleset_free(rs);
    expect("alert tcp any any -> any any (byte_test:nosuch,=,1,5; sid:1;)", false, "bad byte count");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bsize_parse),
        cmocka_unit_test(test_urilen_parse),
        cmocka_unit_test(test_transform_parse),
        cmocka_unit_test(test_transform_ops),
        cmocka_unit_test(test_transform_expand),
        cmocka_unit_test(test_alproto),
        cmocka_unit_test(test_zero_byte_count),
        cmocka_unit_test(test_inner_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
