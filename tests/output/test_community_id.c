/* Community ID v1 against the spec's published baseline (corelight/community-id-spec,
 * baseline/README.md tables and baseline/baseline_deflt.json). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "community_id.h"

static uint8_t parse(const char *s, uint8_t out[16])
{
    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, out) == 1)
        return 4;
    assert_int_equal(inet_pton(AF_INET6, s, out), 1);
    return 6;
}

struct vec {
    uint8_t proto;
    const char *saddr, *daddr;
    int sport, dport; /* -1: no ports */
    const char *id;
};

/* baseline/README.md, "Default settings" (ICMP rows give type/code) and "seed=1" */
static const struct vec table_deflt[] = {
    {6, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
    {6, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
    {17, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
    {17, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
    {132, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
    {132, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
    {1, "1.2.3.4", "5.6.7.8", 8, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
    {1, "5.6.7.8", "1.2.3.4", 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
    {1, "1.2.3.4", "5.6.7.8", 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="},
    {58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 128, 0,
     "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
    {58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 129, 0,
     "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
    {58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 146, 0,
     "1:fYC8+pz24E+EhANP1EZhpX0Dw10="},
    {46, "1.2.3.4", "5.6.7.8", -1, -1, "1:ikv3kmf89luf73WPz1jOs49S768="},
    {46, "5.6.7.8", "1.2.3.4", -1, -1, "1:ikv3kmf89luf73WPz1jOs49S768="},
    {46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", -1, -1,
     "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},
    {46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", -1, -1,
     "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},
};

static const struct vec table_seed1[] = {
    {6, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
    {6, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
    {17, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
    {132, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
    {1, "1.2.3.4", "5.6.7.8", 8, 0, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
    {1, "5.6.7.8", "1.2.3.4", 0, 0, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
    {1, "1.2.3.4", "5.6.7.8", 11, 0, "1:1DD7cWGC/Yg91YGsQeni8du3pIA="},
    {58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 128, 0,
     "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
    {58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 146, 0,
     "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="},
    {46, "1.2.3.4", "5.6.7.8", -1, -1, "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
    {46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", -1, -1,
     "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
};

/* baseline/baseline_deflt.json: tuples from real packets; ICMP ports there are already mapped */
static const struct vec json_deflt[] = {
    {58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
    {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
    {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck="},
    {58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="},
    {58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, "1:hLZd0XGWojozrvxqE0dWB1iM6R0="},
    {58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
    {58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="},
    {58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00="},
    {1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
    {1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
    {1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="},
    {6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {46, "10.1.12.1", "10.1.12.2", -1, -1, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
    {46, "10.1.12.2", "10.1.12.1", -1, -1, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
};

static void check_table(const struct vec *v, size_t n, uint16_t seed)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t s[16], d[16];
        uint8_t ver = parse(v[i].saddr, s);
        assert_int_equal(parse(v[i].daddr, d), ver);
        char out[COMMUNITY_ID_LEN];
        int sp = v[i].sport < 0 ? 0 : v[i].sport, dp = v[i].dport < 0 ? 0 : v[i].dport;
        assert_int_equal(community_id_v1(seed, ver, s, d, v[i].proto, (uint16_t)sp, (uint16_t)dp, out, sizeof(out)), 0);
        if (strcmp(out, v[i].id) != 0)
            print_error("row %zu: got %s want %s\n", i, out, v[i].id);
        assert_string_equal(out, v[i].id);
    }
}

static void test_spec_table_default(void **state)
{
    (void)state;
    check_table(table_deflt, sizeof(table_deflt) / sizeof(table_deflt[0]), 0);
}

static void test_spec_table_seed1(void **state)
{
    (void)state;
    check_table(table_seed1, sizeof(table_seed1) / sizeof(table_seed1[0]), 1);
}

static void test_spec_json_baseline(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(json_deflt) / sizeof(json_deflt[0]); i++) {
        const struct vec *v = &json_deflt[i];
        uint8_t s[16], d[16];
        uint8_t ver = parse(v->saddr, s);
        parse(v->daddr, d);
        char out[COMMUNITY_ID_LEN];
        bool ports = v->sport >= 0;
        /* these ICMP ports are already mapped; one-way ICMP rows are given in hash order */
        assert_int_equal(community_id_v1_ports(0, ver, s, d, v->proto, ports ? (uint16_t)v->sport : 0,
                                               ports ? (uint16_t)v->dport : 0, ports, false, out, sizeof(out)),
                         0);
        if (strcmp(out, v->id) != 0)
            print_error("row %zu: got %s want %s\n", i, out, v->id);
        assert_string_equal(out, v->id);
    }
}

static void test_icmp_one_way_not_reordered(void **state)
{
    (void)state;
    uint8_t a[16], b[16];
    parse("5.6.7.8", a);
    parse("1.2.3.4", b);
    char x[COMMUNITY_ID_LEN], y[COMMUNITY_ID_LEN];
    /* time exceeded from the higher address: no reordering, so the two directions differ */
    assert_int_equal(community_id_v1(0, 4, a, b, 1, 11, 0, x, sizeof(x)), 0);
    assert_int_equal(community_id_v1(0, 4, b, a, 1, 11, 0, y, sizeof(y)), 0);
    assert_string_not_equal(x, y);
    assert_string_equal(y, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=");
}

static void test_bad_args(void **state)
{
    (void)state;
    uint8_t a[16] = {1}, b[16] = {2};
    char out[COMMUNITY_ID_LEN];
    assert_int_not_equal(community_id_v1(0, 5, a, b, 6, 1, 2, out, sizeof(out)), 0);
    assert_int_not_equal(community_id_v1(0, 4, a, b, 6, 1, 2, out, 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_table_default),
        cmocka_unit_test(test_spec_table_seed1),
        cmocka_unit_test(test_spec_json_baseline),
        cmocka_unit_test(test_icmp_one_way_not_reordered),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
