/* Unit tests for the rule parser (rules/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rules.h"
#include "rules_core.h"

static struct ruleset *load(const char *text, struct rules_report *rep)
{
    char err[256];
    struct ruleset *rs = ruleset_load_string(NULL, text, "t.rules", rep, err, sizeof(err));
    assert_non_null(rs);
    return rs;
}

/* Loads one rule; asserts it loaded (want_ok) or failed with a reason containing want. */
static void expect(const char *text, bool want_ok, const char *want)
{
    struct rules_report *rep = rules_report_new();
    struct ruleset *rs = load(text, rep);
    if (want_ok) {
        if (ruleset_count(rs) != 1)
            fail_msg("rule did not load: %s -> %s", text, rules_report_failure(rep, 0));
    } else {
        if (ruleset_count(rs) != 0)
            fail_msg("rule loaded but should fail: %s", text);
        const char *line = rules_report_failure(rep, 0);
        assert_non_null(line);
        if (!strstr(line, want))
            fail_msg("reason '%s' lacks '%s' (rule %s)", line, want, text);
    }
    ruleset_free(rs);
    rules_report_free(rep);
}

#define HDR "alert tcp any any -> any any "

static void test_every_keyword_loads(void **state)
{
    (void)state;
    static const char *const ok[] = {
        HDR "(msg:\"m\"; sid:1; rev:2; gid:3; priority:2;)",
        HDR "(classtype:trojan-activity; sid:1;)",
        HDR "(reference:url,example.com/x; reference:cve,2020-1; sid:1;)",
        HDR "(metadata:created_at 2010_07_30, tag a, tag b; sid:1;)",
        HDR "(content:\"abc\"; sid:1;)",
        HDR "(content:!\"abc\"; sid:1;)",
        HDR "(content:\"|41 42|c|0d0a|\"; sid:1;)",
        HDR "(content:\"a\\\"b\\;c\\\\d\"; sid:1;)",
        HDR "(content:\"abc\"; nocase; offset:1; depth:5; sid:1;)",
        HDR "(content:\"a\"; content:\"b\"; distance:1; within:3; sid:1;)",
        HDR "(content:\"a\"; distance:-1; sid:1;)",
        HDR "(content:\"ab\"; startswith; sid:1;)",
        HDR "(content:\"ab\"; endswith; sid:1;)",
        HDR "(content:\"ab\"; startswith; endswith; sid:1;)",
        HDR "(content:\"a\"; content:\"bcd\"; fast_pattern; sid:1;)",
        HDR "(content:\"abcd\"; fast_pattern:only; sid:1;)",
        HDR "(content:\"abcd\"; fast_pattern:1,2; sid:1;)",
        HDR "(content:\"a\"; rawbytes; sid:1;)",
        HDR "(content:\"a\"; isdataat:1,relative; isdataat:!5; sid:1;)",
        HDR "(pcre:\"/a.b/smixAEGR\"; sid:1;)",
        HDR "(pcre:!\"/x/i\"; sid:1;)",
        HDR "(flow:to_server,established; sid:1;)",
        HDR "(flow:from_server,not_established,no_stream; sid:1;)",
        HDR "(flow:to_client,stateless,only_stream; sid:1;)",
        HDR "(flowbits:set,a; flowbits:unset,b; flowbits:toggle,c; sid:1;)",
        HDR "(flowbits:isset,a|b; flowbits:isnotset,c&d; flowbits:noalert; sid:1;)",
        HDR "(dsize:>10; sid:1;)",
        HDR "(dsize:1<>10; sid:1;)",
        HDR "(dsize:!0; sid:1;)",
        HDR "(dsize:<=10; sid:1;)",
        HDR "(flags:SA; sid:1;)",
        HDR "(flags:+S,CE; sid:1;)",
        HDR "(flags:!R; sid:1;)",
        HDR "(flags:*FPU12; sid:1;)",
        HDR "(flags:0; sid:1;)",
        HDR "(ttl:<5; sid:1;)",
        HDR "(ip_proto:tcp; sid:1;)",
        HDR "(ip_proto:!17; sid:1;)",
        "alert icmp any any -> any any (itype:8; icode:0; icmp_id:5; icmp_seq:>1; sid:1;)",
        "alert icmp any any -> any any (itype:7<>20; sid:1;)",
        HDR "(byte_test:2,>,10,0; sid:1;)",
        HDR "(content:\"a\"; byte_test:4,!&,0x10,2,relative,little; sid:1;)",
        HDR "(byte_test:3,=,123,0,string,dec; sid:1;)",
        HDR "(byte_test:2,<=,0xff,0,string,hex,bitmask 0x0ff0; sid:1;)",
        HDR "(byte_jump:2,0,relative,multiplier 2,post_offset -1,align; sid:1;)",
        HDR "(byte_jump:4,0,from_beginning,little; sid:1;)",
        HDR "(byte_jump:2,0,string,dec,from_end; sid:1;)",
        HDR "(byte_extract:1,0,len,relative; content:\"x\"; distance:len; within:len; sid:1;)",
        HDR "(byte_extract:2,0,off,multiplier 2,align 4; byte_test:1,=,off,off; sid:1;)",
        HDR "(byte_extract:2,0,n,string,hex; isdataat:n; sid:1;)",
        HDR "(threshold:type limit, track by_src, count 1, seconds 60; sid:1;)",
        HDR "(threshold:type threshold, track by_dst, count 5, seconds 10; sid:1;)",
        HDR "(threshold:type both, track by_rule, count 5, seconds 10; sid:1;)",
        HDR "(threshold:type both, track by_both, count 5, seconds 10; sid:1;)",
        HDR "(threshold:type backoff, track by_flow, count 1, multiplier 10; sid:1;)",
        HDR "(detection_filter:track by_src, count 5, seconds 60; sid:1;)",
        HDR "(stream_size:server,>,100; sid:1;)",
        HDR "(stream_size:either,!=,5; sid:1;)",
        HDR "(target:dest_ip; tag:session,10,packets; noalert; sid:1;)",
        HDR "(content:\"a\"; pkt_data; content:\"b\"; sid:1;)",
        "pass tcp any any -> any any (sid:1;)",
        "drop tcp any any -> any any (sid:1;)",
        "reject tcp any any -> any any (sid:1;)",
        "alert ip any any -> any any (sid:1;)",
        "alert udp any any -> any 53 (sid:1;)",
        "alert icmp any any -> any any (sid:1;)",
        "alert tcp-pkt any any -> any any (content:\"x\"; sid:1;)",
        "alert tcp-stream any any -> any any (content:\"x\"; sid:1;)",
        "alert tcp 1.2.3.4 any <> 5.6.7.0/24 80 (sid:1;)",
        "alert tcp [1.2.3.4,10.0.0.0/8,!10.1.0.0/16] [80,443,8000:8080] -> !$HOME_NET !22 (sid:1;)",
        "alert tcp $HOME_NET :1023 -> $EXTERNAL_NET 1024: (sid:1;)",
        "alert tcp [$HOME_NET,![10.0.0.1]] $HTTP_PORTS -> any [$HTTP_PORTS,!81] (sid:1;)",
        "alert ip 2001:db8::/32 any -> [::1,fe80::/10] any (sid:1;)",
        "alert tcp 10.0.0.0/255.0.0.0 any -> any any (sid:1;)",
        "alert ip any any -> any $SHELLCODE_PORTS (sid:1;)",
        "alert tcp any any -> any [5060, 5061] (sid:1;)",
        HDR "(msg:\"semi\\; colon\"; sid:1;)",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        expect(ok[i], true, NULL);
}

static void test_error_paths(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"alert tcp any any -> any any (msg:\"x\";)", "missing sid"},
        {"alert tcp any any -> any any (sid:0;)", "bad sid"},
        {"alert tcp any any -> any any (sid:99999999999999999999;)", "bad sid"},
        {"alert tcp any any -> any any (sid:-1;)", "bad sid"},
        {"alert tcp any any -> any any (sid:1; rev:x;)", "bad rev"},
        {"alert tcp any any -> any any (sid:1; priority:0;)", "bad priority"},
        {"alert tcp any any -> any any (msg:\"unbalanced; sid:1;)", "unbalanced quotes"},
        {"alert tcp any any -> any any (content:\"abc; sid:1;)", "unbalanced quotes"},
        {"alert tcp any any -> any any (content:abc; sid:1;)", "content not in quotes"},
        {"alert tcp any any -> any any (content:\"|4G|\"; sid:1;)", "bad hex"},
        {"alert tcp any any -> any any (content:\"|414|\"; sid:1;)", "bad hex"},
        {"alert tcp any any -> any any (content:\"|41\"; sid:1;)", "unterminated hex"},
        {"alert tcp any any -> any any (content:\"\"; sid:1;)", "empty content"},
        {"alert tcp any any -> any any (content:\"a\\x\"; sid:1;)", "bad escape"},
        {"alert tcp any any -> any any (nocase; sid:1;)", "nocase without content"},
        {"alert tcp any any -> any any (depth:4; sid:1;)", "depth without content"},
        {"alert tcp any any -> any any (content:\"abcd\"; depth:2; sid:1;)", "depth smaller"},
        {"alert tcp any any -> any any (content:\"a\"; depth:99999999999999999999; sid:1;)", "bad number"},
        {"alert tcp any any -> any any (content:\"a\"; offset:-1; sid:1;)", "bad number"},
        {"alert tcp any any -> any any (content:\"a\"; content:\"bc\"; within:1; sid:1;)", "within smaller"},
        {"alert tcp any any -> any any (content:\"a\"; offset:1; distance:1; sid:1;)", "distance with offset"},
        {"alert tcp any any -> any any (content:\"a\"; startswith; offset:2; sid:1;)", "startswith"},
        {"alert tcp any any -> any any (content:!\"a\"; fast_pattern; sid:1;)", "fast_pattern on negated"},
        {"alert tcp any any -> any any (content:\"ab\"; fast_pattern:1,5; sid:1;)", "bad fast_pattern"},
        {"alert tcp any any -> any any (pcre:\"/(/\"; sid:1;)", "pcre does not compile"},
        {"alert tcp any any -> any any (pcre:\"abc\"; sid:1;)", "bad pcre"},
        {"alert tcp any any -> any any (pcre:\"/a/q\"; sid:1;)", "bad pcre modifier"},
        {"alert tcp any any -> any any (pcre:\"/a/U\"; sid:1;)", "unsupported keyword pcre /U"},
        {"alert tcp any any -> any any (http.uri; content:\"a\"; sid:1;)", "unsupported keyword http.uri"},
        {"alert tcp any any -> any any (content:\"a\"; http_uri; sid:1;)", "unsupported keyword http_uri"},
        {"alert tcp any any -> any any (dns.query; sid:1;)", "unsupported keyword dns.query"},
        {"alert tcp any any -> any any (lua:x.lua; sid:1;)", "unsupported keyword lua"},
        {"alert http any any -> any any (sid:1;)", "unsupported protocol http"},
        {"alert foo any any -> any any (sid:1;)", "unsupported protocol foo"},
        {"shout tcp any any -> any any (sid:1;)", "bad action"},
        {"alert tcp any any > any any (sid:1;)", "bad direction"},
        {"alert tcp any any -> any (sid:1;)", "bad rule header"},
        {"alert tcp any any -> any any sid:1;", "no options"},
        {"alert tcp any any -> any any (sid:1;", "does not end"},
        {"alert tcp any any -> any any (sid:1)", "without ';'"},
        {"alert tcp 1.2.3.256 any -> any any (sid:1;)", "bad address"},
        {"alert tcp 1.2.3.4/33 any -> any any (sid:1;)", "bad address"},
        {"alert tcp [1.2.3.4 any -> any any (sid:1;)", "bad rule header"},
        {"alert tcp $NOPE any -> any any (sid:1;)", "unknown variable"},
        {"alert tcp ![any] any -> any any (sid:1;)", "matches nothing"},
        {"alert tcp any 70000 -> any any (sid:1;)", "bad port"},
        {"alert tcp any 90:80 -> any any (sid:1;)", "bad port"},
        {"alert tcp any !any -> any any (sid:1;)", "matches nothing"},
        {"alert tcp any any -> any any (classtype:nope; sid:1;)", "unknown classtype"},
        {"alert tcp any any -> any any (flow:sideways; sid:1;)", "bad flow option"},
        {"alert tcp any any -> any any (flow:to_server,to_client; sid:1;)", "contradicting"},
        {"alert tcp any any -> any any (flowbits:set; sid:1;)", "bad flowbits"},
        {"alert tcp any any -> any any (flowbits:frob,a; sid:1;)", "bad flowbits command"},
        {"alert tcp any any -> any any (flowbits:set,a|b; sid:1;)", "bad flowbits"},
        {"alert tcp any any -> any any (dsize:abc; sid:1;)", "bad dsize"},
        {"alert tcp any any -> any any (dsize:10<>5; sid:1;)", "bad dsize"},
        {"alert tcp any any -> any any (dsize:70000; sid:1;)", "bad dsize"},
        {"alert tcp any any -> any any (ttl:300; sid:1;)", "bad ttl"},
        {"alert tcp any any -> any any (flags:SX; sid:1;)", "bad flags"},
        {"alert tcp any any -> any any (byte_test:9,=,1,0; sid:1;)", "bad byte count"},
        {"alert tcp any any -> any any (byte_test:0,=,1,0; sid:1;)", "bad byte count"},
        {"alert tcp any any -> any any (byte_test:2,~,1,0; sid:1;)", "bad byte_test operator"},
        {"alert tcp any any -> any any (byte_test:2,=,1; sid:1;)", "bad byte_test"},
        {"alert tcp any any -> any any (byte_test:2,=,x,0; sid:1;)", "bad byte_test value"},
        {"alert tcp any any -> any any (byte_test:2,=,1,0,hex; sid:1;)", "number base without string"},
        {"alert tcp any any -> any any (byte_jump:0,0,string,from_end; sid:1;)", "bad byte count"},
        {"alert tcp any any -> any any (byte_jump:2,0,from_beginning,from_end; sid:1;)", "bad byte_jump"},
        {"alert tcp any any -> any any (byte_jump:2,0,sideways; sid:1;)", "bad byte option"},
        {"alert tcp any any -> any any (byte_extract:2,0,1x; sid:1;)", "bad byte_extract name"},
        {"alert tcp any any -> any any (byte_extract:2,0,a; byte_extract:2,0,a; sid:1;)", "duplicate byte_extract"},
        {"alert tcp any any -> any any (byte_extract:2,0,a,align 3; sid:1;)", "bad align"},
        {"alert tcp any any -> any any (isdataat:x; sid:1;)", "bad number"},
        {"alert tcp any any -> any any (threshold:type limit, count 1, seconds 60; sid:1;)", "incomplete threshold"},
        {"alert tcp any any -> any any (threshold:type often, track by_src, count 1, seconds 6; sid:1;)", "bad threshold type"},
        {"alert tcp any any -> any any (threshold:type limit, track by_src, count 0, seconds 6; sid:1;)", "bad threshold count"},
        {"alert tcp any any -> any any (threshold:type backoff, track by_src, count 1, multiplier 2; sid:1;)", "bad backoff"},
        {"alert tcp any any -> any any (detection_filter:track by_flow, count 1, seconds 6; sid:1;)", "bad detection_filter track"},
        {"alert tcp any any -> any any (stream_size:server,~,1; sid:1;)", "bad stream_size"},
        {"alert tcp any any -> any any (ip_proto:999; sid:1;)", "bad ip_proto"},
        {"alert tcp any any -> any any (reference:nocomma; sid:1;)", "bad reference"},
        {"alert tcp any any -> any any (sid:1; b@d:1;)", "bad option name"},
        {"alert tcp any any -> any any ( ; sid:1;)", "empty option"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect(bad[i][0], false, bad[i][1]);
}

static void test_hostile_input(void **state)
{
    (void)state;
    /* long lines, deep nesting, NUL-free garbage: must fail cleanly */
    size_t n = 200000;
    char *big = malloc(n + 64);
    assert_non_null(big);
    strcpy(big, "alert tcp any any -> any any (content:\"");
    size_t o = strlen(big);
    memset(big + o, 'A', n - o - 20);
    strcpy(big + n - 20, "\"; sid:1;)");
    expect(big, false, "content too long");
    /* nested brackets beyond the limit */
    char deep[512] = "alert tcp ";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    strcat(deep, "1.2.3.4");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, " any -> any any (sid:1;)");
    expect(deep, false, "nested too deep");
    /* a variable that refers to itself */
    struct rules_vars *v = rules_vars_new();
    assert_non_null(v);
    assert_int_equal(rules_vars_set_address(v, "LOOP", "[$LOOP,1.2.3.4]"), 0);
    assert_int_not_equal(rules_vars_set_address(v, "BAD NAME", "1.2.3.4"), 0);
    struct rules_load_config cfg;
    rules_load_config_default(&cfg);
    cfg.vars = v;
    struct rules_report *rep = rules_report_new();
    char err[128];
    struct ruleset *rs = ruleset_load_string(&cfg, "alert tcp $LOOP any -> any any (sid:1;)", "x",
                                             rep, err, sizeof(err));
    assert_non_null(rs);
    assert_int_equal(ruleset_count(rs), 0);
    assert_non_null(strstr(rules_report_failure(rep, 0), "nested too deep"));
    ruleset_free(rs);
    rules_report_free(rep);
    rules_vars_free(v);
    free(big);
    /* random bytes */
    srand(7);
    char junk[300];
    for (int k = 0; k < 200; k++) {
        for (size_t i = 0; i < sizeof(junk) - 1; i++)
            junk[i] = (char)(1 + rand() % 255);
        junk[sizeof(junk) - 1] = 0;
        rep = rules_report_new();
        rs = ruleset_load_string(NULL, junk, "junk", rep, err, sizeof(err));
        assert_non_null(rs);
        ruleset_free(rs);
        rules_report_free(rep);
    }
}

static void test_meta_and_report(void **state)
{
    (void)state;
    struct rule_meta_store *st = rule_meta_store_new();
    struct rules_load_config cfg;
    rules_load_config_default(&cfg);
    cfg.meta_store = st;
    struct rules_report *rep = rules_report_new();
    char err[128];
    const char *text =
        "# comment\n"
        "\n"
        "alert tcp any any -> any any (msg:\"a \\\"quoted\\\" msg\"; classtype:attempted-recon; \\\n"
        "  metadata:created_at 2010_07_30, tag a, tag b; reference:url,x.y/z; sid:10; rev:3;)\n"
        "drop tcp any any -> any any (msg:\"p\"; classtype:attempted-recon; priority:1; sid:11;)\n"
        "alert tcp any any -> any any (sid:10;)\n"
        "alert tcp any any -> any any (http.uri; sid:12;)\n"
        "alert tcp any any -> any any (dns.query; sid:13;)\n"
        "alert tcp any any -> any any (dns.query; sid:14;)\n";
    struct ruleset *rs = ruleset_load_string(&cfg, text, "f.rules", rep, err, sizeof(err));
    assert_non_null(rs);
    assert_int_equal(ruleset_count(rs), 2);
    assert_int_equal(rules_report_loaded(rep), 2);
    assert_int_equal(rules_report_failed(rep), 4);
    const struct rule_meta *m = ruleset_meta(rs, 0);
    assert_string_equal(m->msg, "a \"quoted\" msg");
    assert_string_equal(m->classtype, "attempted-recon");
    assert_string_equal(m->category, "Attempted Information Leak");
    assert_int_equal(m->priority, 2);
    assert_int_equal(m->sid, 10);
    assert_int_equal(m->gid, 1);
    assert_int_equal(m->rev, 3);
    assert_int_equal(m->line, 3);
    assert_int_equal(m->action, RULE_ACTION_ALERT);
    assert_int_equal(m->n_metadata, 2);
    assert_string_equal(m->metadata[1].key, "tag");
    assert_int_equal(m->metadata[1].n_values, 2);
    assert_string_equal(m->metadata[1].values[1], "b");
    assert_string_equal(m->metadata_json, "{\"created_at\":[\"2010_07_30\"],\"tag\":[\"a\",\"b\"]}");
    assert_int_equal(m->n_references, 1);
    assert_string_equal(m->references[0].system, "url");
    assert_string_equal(m->references[0].id, "x.y/z");
    const struct rule_meta *m2 = ruleset_meta(rs, 1);
    assert_int_equal(m2->priority, 1);
    assert_int_equal(m2->action, RULE_ACTION_DROP);
    assert_null(ruleset_meta(rs, 2));
    assert_string_equal(rules_report_failure(rep, 0), "f.rules:6 sid 10: duplicate sid");
    assert_string_equal(rules_report_failure(rep, 1),
                        "f.rules:7 sid 12: unsupported keyword http.uri");
    unsigned c;
    assert_string_equal(rules_report_reason(rep, 0, &c), "unsupported keyword dns.query");
    assert_int_equal(c, 2);
    assert_int_equal(rules_report_n_reasons(rep), 3);
    uint64_t h1 = ruleset_hash(rs);
    /* the metadata outlives the ruleset (store owned by the caller) */
    ruleset_free(rs);
    assert_string_equal(m->msg, "a \"quoted\" msg");
    rules_report_free(rep);
    /* the hash changes with the variables */
    struct rules_vars *v = rules_vars_new();
    rules_vars_set_address(v, "HOME_NET", "10.0.0.0/8");
    cfg.vars = v;
    rs = ruleset_load_string(&cfg, text, "f.rules", NULL, err, sizeof(err));
    assert_true(ruleset_hash(rs) != h1);
    ruleset_free(rs);
    rules_vars_free(v);
    rule_meta_store_free(st);
}

static bool addr_in(const struct rule_addrs *a, const char *ip)
{
    uint8_t b[16] = {0};
    unsigned x[4];
    if (sscanf(ip, "%u.%u.%u.%u", &x[0], &x[1], &x[2], &x[3]) == 4) {
        for (int i = 0; i < 4; i++)
            b[i] = (uint8_t)x[i];
        return rule_addrs_match(a, b, false);
    }
    fail();
    return false;
}

static void test_addresses_and_ports(void **state)
{
    (void)state;
    struct ruleset *rs = load(
        "alert tcp [10.0.0.0/8,!10.1.0.0/16,![10.2.0.0/16,!10.2.3.4]] [80,8000:8080,!8001] -> "
        "$EXTERNAL_NET [:1023,!22] (sid:1;)\n"
        "alert tcp $HOME_NET any <> any any (sid:2;)\n",
        NULL);
    unsigned n;
    const struct rule *r = ruleset_rules(rs, &n);
    assert_int_equal(n, 2);
    assert_true(addr_in(&r[0].src, "10.0.0.1"));
    assert_false(addr_in(&r[0].src, "10.1.2.3"));
    assert_false(addr_in(&r[0].src, "10.2.2.2"));
    assert_true(addr_in(&r[0].src, "10.2.3.4"));
    assert_false(addr_in(&r[0].src, "11.0.0.1"));
    assert_true(rule_ports_match(&r[0].sp, 80));
    assert_true(rule_ports_match(&r[0].sp, 8000));
    assert_false(rule_ports_match(&r[0].sp, 8001));
    assert_true(rule_ports_match(&r[0].sp, 8080));
    assert_false(rule_ports_match(&r[0].sp, 8081));
    assert_false(rule_ports_match(&r[0].sp, 81));
    assert_true(rule_ports_match(&r[0].dp, 0));
    assert_false(rule_ports_match(&r[0].dp, 22));
    assert_true(rule_ports_match(&r[0].dp, 1023));
    assert_false(rule_ports_match(&r[0].dp, 1024));
    /* EXTERNAL_NET = !HOME_NET */
    assert_true(addr_in(&r[0].dst, "8.8.8.8"));
    assert_false(addr_in(&r[0].dst, "192.168.1.1"));
    assert_false(addr_in(&r[0].dst, "172.16.0.1"));
    assert_true(addr_in(&r[1].src, "172.31.255.255"));
    assert_false(addr_in(&r[1].src, "172.32.0.0"));
    assert_true(r[1].flags & RF_BIDIR);
    assert_true(r[1].dst.any);
    assert_true(r[1].dp.any);
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
    assert_false(rule_addrs_match(&r[1].src, v6, true));
    ruleset_free(rs);
}

static void test_parsed_items(void **state)
{
    (void)state;
    struct ruleset *rs = load(
        "alert tcp any any -> any any (content:\"ab\"; content:\"longest\"; distance:2; within:9; "
        "content:!\"neg\"; nocase; pcre:\"/x/R\"; byte_extract:1,0,v,relative; "
        "byte_test:1,>,v,0; sid:1;)\n"
        "alert tcp any any -> any any (content:\"longest\"; content:\"ab\"; fast_pattern; sid:2;)\n"
        "alert ip 1.2.3.4 any -> any any (sid:3;)\n"
        "alert tcp 1.2.3.4 any -> any 80 (sid:4;)\n"
        "alert tcp any any -> any any (flowbits:set,x; flowbits:noalert; sid:5;)\n"
        "alert tcp any any -> any any (flowbits:isset,x; sid:6;)\n",
        NULL);
    unsigned n;
    const struct rule *r = ruleset_rules(rs, &n);
    assert_int_equal(n, 6);
    assert_int_equal(r[0].n_lists, 1);
    const struct rule_list *l = &r[0].lists[0];
    assert_int_equal(l->buffer, RULE_BUF_PAYLOAD);
    assert_int_equal(l->n, 6);
    assert_int_equal(l->items[0].type, RI_CONTENT);
    assert_false(l->items[0].relative);
    assert_true(l->items[1].relative);
    assert_int_equal(l->items[1].u.c.distance, 2);
    assert_int_equal(l->items[1].u.c.within, 9);
    assert_true(l->items[2].u.c.flags & CF_NEGATED);
    assert_true(l->items[2].u.c.flags & CF_NOCASE);
    assert_int_equal(l->items[3].type, RI_PCRE);
    assert_true(l->items[3].relative);
    assert_int_equal(l->items[4].type, RI_BYTE_EXTRACT);
    assert_int_equal(l->items[5].u.b.value_var, 0);
    /* fast pattern: the longest, unless given */
    assert_int_equal(r[0].fp_item, 1);
    assert_int_equal(r[1].fp_item, 1);
    assert_true(r[2].flags & RF_IPONLY);
    assert_false(r[3].flags & RF_IPONLY);
    assert_true(r[4].flags & RF_NOALERT);
    assert_int_equal(r[5].flowbits[0].ids[0], r[4].flowbits[0].ids[0]);
    assert_string_equal(ruleset_flowbit_name(rs, r[4].flowbits[0].ids[0]), "x");
    ruleset_free(rs);
}

static void test_files_and_threshold_config(void **state)
{
    (void)state;
    char dir[] = "/tmp/tl-rules-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char rpath[256], tpath[256], cpath[256];
    snprintf(rpath, sizeof(rpath), "%s/a.rules", dir);
    snprintf(tpath, sizeof(tpath), "%s/threshold.config", dir);
    snprintf(cpath, sizeof(cpath), "%s/classification.config", dir);
    FILE *f = fopen(rpath, "w");
    fputs("alert tcp any any -> any any (classtype:mine; sid:1;)\n"
          "alert tcp any any -> any any (threshold:type limit, track by_src, count 9, seconds 9; "
          "sid:2;)\n"
          "alert tcp any any -> any any (sid:3;)\n",
          f);
    fclose(f);
    f = fopen(tpath, "w");
    fputs("# comment\n"
          "threshold gen_id 1, sig_id 2, type both, track by_flow, count 5, seconds 60\n"
          "suppress gen_id 1, sig_id 3, track by_src, ip 10.0.0.0/8\n"
          "suppress gen_id 1, sig_id 1\n"
          "rate_filter gen_id 1, sig_id 1, track by_rule, count 1, seconds 1\n"
          "threshold gen_id 1, sig_id 2, type nope, track by_flow, count 5, seconds 60\n",
          f);
    fclose(f);
    f = fopen(cpath, "w");
    fputs("config classification: mine,My Category,4\nconfig classification: broken\n", f);
    fclose(f);
    struct rules_load_config cfg;
    rules_load_config_default(&cfg);
    cfg.threshold_path = tpath;
    cfg.classification_path = cpath;
    struct rules_report *rep = rules_report_new();
    char err[256];
    const char *files[] = {rpath, "/nonexistent/x.rules"};
    struct ruleset *rs = ruleset_load_files(&cfg, files, 2, rep, err, sizeof(err));
    assert_non_null(rs);
    unsigned n;
    const struct rule *r = ruleset_rules(rs, &n);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].meta->category, "My Category");
    assert_int_equal(r[0].meta->priority, 4);
    assert_int_equal(r[0].n_suppress, 1);
    assert_int_equal(r[0].suppress[0].track, 0);
    assert_int_equal(r[1].threshold.type, TH_BOTH); /* threshold.config replaces the rule's */
    assert_int_equal(r[1].threshold.track, TRACK_FLOW);
    assert_int_equal(r[1].threshold.count, 5);
    assert_int_equal(r[2].n_suppress, 1);
    assert_int_equal(r[2].suppress[0].track, TRACK_SRC);
    /* config problems are report lines, not rule failures */
    assert_int_equal(rules_report_failed(rep), 0);
    bool saw_rate = false, saw_class = false, saw_missing = false, saw_bad_type = false;
    for (unsigned i = 0; i < rules_report_n_failures(rep); i++) {
        const char *l = rules_report_failure(rep, i);
        saw_rate |= strstr(l, "threshold.config:5 sid 0: rate_filter not supported") != NULL;
        saw_class |= strstr(l, "classification.config:2 sid 0: bad classification line") != NULL;
        saw_missing |= strstr(l, "/nonexistent/x.rules:0 sid 0: cannot read rule file") != NULL;
        saw_bad_type |= strstr(l, "threshold.config:6 sid 2: bad threshold type") != NULL;
    }
    assert_true(saw_rate && saw_class && saw_missing && saw_bad_type);
    ruleset_free(rs);
    rules_report_free(rep);
    /* a missing config file is an error */
    cfg.threshold_path = "/nonexistent/threshold.config";
    assert_null(ruleset_load_files(&cfg, files, 1, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "threshold"));
    unlink(rpath);
    unlink(tpath);
    unlink(cpath);
    rmdir(dir);
}

static void test_sample_rules_load(void **state)
{
    (void)state;
    const char *root = getenv("TRIPLINE_SOURCE_ROOT");
    if (!root)
        skip();
    char path[1024];
    snprintf(path, sizeof(path), "%s/rules/sample.rules", root);
    struct rules_report *rep = rules_report_new();
    char err[256];
    const char *files[] = {path};
    struct ruleset *rs = ruleset_load_files(NULL, files, 1, rep, err, sizeof(err));
    assert_non_null(rs);
    assert_int_equal(rules_report_failed(rep), 0);
    assert_int_equal(ruleset_count(rs), 5);
    for (unsigned i = 0; i < ruleset_count(rs); i++)
        assert_true(ruleset_meta(rs, i)->sid >= 9000000);
    ruleset_free(rs);
    rules_report_free(rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_keyword_loads),
        cmocka_unit_test(test_error_paths),
        cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_meta_and_report),
        cmocka_unit_test(test_addresses_and_ports),
        cmocka_unit_test(test_parsed_items),
        cmocka_unit_test(test_files_and_threshold_config),
        cmocka_unit_test(test_sample_rules_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
