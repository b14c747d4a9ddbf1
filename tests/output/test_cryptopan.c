/* Crypto-PAn against the reference implementation's published sample (sample_trace_raw.dat ->
 * sample_trace_sanitized.dat with the distribution's key), IPv6, prefix preservation, key
 * files, and the whole output path: pseudonymised addresses with the Community ID recomputed
 * from them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "community_id.h"
#include "cryptopan.h"
#include "out_util.h"

/* The key of the reference distribution (sample.cpp). */
static const uint8_t ref_key[32] = {21,  34,  23,  141, 51,  164, 207, 128, 19,  10, 91,
                                    22,  73,  144, 125, 16,  216, 152, 143, 131, 121, 121,
                                    101, 39,  98,  87,  76,  45,  42,  132, 34,  2};

/* Address pairs from the reference distribution's sample_trace_raw.dat and
 * sample_trace_sanitized.dat (as collected in Yawning Angel's cryptopan_test.go). */
static const char *const v4[][2] = {
    {"128.11.68.132", "135.242.180.132"}, {"129.118.74.4", "134.136.186.123"},
    {"130.132.252.244", "133.68.164.234"}, {"141.223.7.43", "141.167.8.160"},
    {"141.233.145.108", "141.129.237.235"}, {"152.163.225.39", "151.140.114.167"},
    {"156.29.3.236", "147.225.12.42"},     {"165.247.96.84", "162.9.99.234"},
    {"166.107.77.190", "160.132.178.185"}, {"192.102.249.13", "252.138.62.131"},
    {"192.215.32.125", "252.43.47.189"},   {"192.233.80.103", "252.25.108.8"},
    {"192.41.57.43", "252.222.221.184"},   {"193.150.244.223", "253.169.52.216"},
    {"195.205.63.100", "255.186.223.5"},   {"198.200.171.101", "249.199.68.213"},
    {"198.26.132.101", "249.36.123.202"},  {"198.36.213.5", "249.7.21.132"},
    {"198.51.77.238", "249.18.186.254"},   {"199.217.79.101", "248.38.184.213"},
    {"202.49.198.20", "245.206.7.234"},    {"203.12.160.252", "244.248.163.4"},
    {"204.184.162.189", "243.192.77.90"},  {"204.202.136.230", "243.178.4.198"},
    {"204.29.20.4", "243.33.20.123"},      {"205.178.38.67", "242.108.198.51"},
    {"205.188.147.153", "242.96.16.101"},  {"205.188.248.25", "242.96.88.27"},
    {"205.245.121.43", "242.21.121.163"},  {"207.105.49.5", "241.118.205.138"},
    {"207.135.65.238", "241.202.129.222"}, {"207.155.9.214", "241.220.250.22"},
    {"207.188.7.45", "241.255.249.220"},   {"207.25.71.27", "241.33.119.156"},
    {"207.33.151.131", "241.1.233.131"},   {"208.147.89.59", "227.237.98.191"},
    {"208.234.120.210", "227.154.67.17"},  {"208.28.185.184", "227.39.94.90"},
    {"208.52.56.122", "227.8.63.165"},     {"209.12.231.7", "226.243.167.8"},
    {"209.238.72.3", "226.6.119.243"},     {"209.246.74.109", "226.22.124.76"},
    {"209.68.60.238", "226.184.220.233"},  {"209.85.249.6", "226.170.70.6"},
    {"212.120.124.31", "228.135.163.231"}, {"212.146.8.236", "228.19.4.234"},
    {"212.186.227.154", "228.59.98.98"},   {"212.204.172.118", "228.71.195.169"},
    {"212.206.130.201", "228.69.242.193"}, {"216.148.237.145", "235.84.194.111"},
    {"216.157.30.252", "235.89.31.26"},    {"216.184.159.48", "235.96.225.78"},
    {"216.227.10.221", "235.28.253.36"},   {"216.254.18.172", "235.7.16.162"},
    {"216.32.132.250", "235.192.139.38"},  {"216.35.217.178", "235.195.157.81"},
    {"24.0.250.221", "100.15.198.226"},    {"24.13.62.231", "100.2.192.247"},
    {"24.14.213.138", "100.1.42.141"},     {"24.5.0.80", "100.9.15.210"},
    {"24.7.198.88", "100.10.6.25"},        {"24.94.26.44", "100.88.228.35"},
    {"38.15.67.68", "64.3.66.187"},        {"4.3.88.225", "124.60.155.63"},
    {"63.14.55.111", "95.9.215.7"},        {"63.195.241.44", "95.179.238.44"},
    {"63.97.7.140", "95.97.9.123"},        {"64.14.118.196", "0.255.183.58"},
    {"64.34.154.117", "0.221.154.117"},    {"64.39.15.238", "0.219.7.41"},
};

/* IPv6 with the same key (Yawning Angel's Go implementation, which extends the reference
 * construction to 128 bits as yacryptopan does). */
static const char *const v6[][2] = {
    {"::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"},
    {"::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"},
    {"::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"},
    {"2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"},
    {"2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"},
};

static void test_reference_ipv4(void **state)
{
    (void)state;
    struct cryptopan *cp = cryptopan_new(ref_key);
    assert_non_null(cp);
    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
        uint8_t in[4], want[4], out[4];
        assert_int_equal(inet_pton(AF_INET, v4[i][0], in), 1);
        assert_int_equal(inet_pton(AF_INET, v4[i][1], want), 1);
        cryptopan_anon_ipv4(cp, in, out);
        char got[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, out, got, sizeof(got));
        if (memcmp(out, want, 4) != 0)
            fail_msg("%s -> %s, reference %s", v4[i][0], got, v4[i][1]);
    }
    cryptopan_free(cp);
}

static void test_ipv6(void **state)
{
    (void)state;
    struct cryptopan *cp = cryptopan_new(ref_key);
    for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
        uint8_t in[16], want[16], out[16];
        assert_int_equal(inet_pton(AF_INET6, v6[i][0], in), 1);
        assert_int_equal(inet_pton(AF_INET6, v6[i][1], want), 1);
        cryptopan_anon_ipv6(cp, in, out);
        char got[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, out, got, sizeof(got));
        if (memcmp(out, want, 16) != 0)
            fail_msg("%s -> %s, expected %s", v6[i][0], got, v6[i][1]);
    }
    cryptopan_free(cp);
}

static unsigned common_prefix(const uint8_t *a, const uint8_t *b, unsigned bytes)
{
    unsigned n = 0;
    for (unsigned i = 0; i < bytes * 8; i++) {
        unsigned bit = 7 - i % 8;
        if (((a[i / 8] >> bit) & 1) != ((b[i / 8] >> bit) & 1))
            break;
        n++;
    }
    return n;
}

/* Prefix preservation is exact: pseudonyms share exactly as many leading bits as the originals. */
static void test_prefix_preserving(void **state)
{
    (void)state;
    uint8_t key[32];
    for (unsigned i = 0; i < 32; i++)
        key[i] = (uint8_t)(i * 37 + 11);
    struct cryptopan *cp = cryptopan_new(key);
    uint32_t x = 12345;
    for (unsigned k = 0; k < 300; k++) {
        uint8_t a[16], b[16], pa[16], pb[16];
        for (unsigned i = 0; i < 16; i++) {
            x = x * 1103515245u + 12345u;
            a[i] = (uint8_t)(x >> 16);
        }
        memcpy(b, a, 16);
        unsigned flip = k % 128; /* b differs from a first at bit `flip` */
        b[flip / 8] ^= (uint8_t)(1u << (7 - flip % 8));
        for (unsigned i = flip + 1; i < 128; i++)
            if ((x >> (i % 31)) & 1)
                b[i / 8] ^= (uint8_t)(1u << (7 - i % 8));
        cryptopan_anon_ipv6(cp, a, pa);
        cryptopan_anon_ipv6(cp, b, pb);
        assert_int_equal(common_prefix(pa, pb, 16), common_prefix(a, b, 16));
        if (flip < 32) {
            cryptopan_anon_ipv4(cp, a, pa);
            cryptopan_anon_ipv4(cp, b, pb);
            assert_int_equal(common_prefix(pa, pb, 4), common_prefix(a, b, 4));
        }
    }
    cryptopan_free(cp);
}

static void test_key_files(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("cpan");
    char raw[300], hex[300], bad[300], err[256];
    snprintf(raw, sizeof(raw), "%s/raw.key", dir);
    snprintf(hex, sizeof(hex), "%s/hex.key", dir);
    snprintf(bad, sizeof(bad), "%s/bad.key", dir);
    FILE *f = fopen(raw, "wb");
    fwrite(ref_key, 1, 32, f);
    fclose(f);
    f = fopen(hex, "w");
    for (int i = 0; i < 32; i++)
        fprintf(f, "%02x", ref_key[i]);
    fprintf(f, "\n");
    fclose(f);
    f = fopen(bad, "w");
    fprintf(f, "too short\n");
    fclose(f);
    uint8_t in[4] = {128, 11, 68, 132}, o1[4], o2[4], want[4] = {135, 242, 180, 132};
    struct cryptopan *a = cryptopan_new_from_file(raw, err, sizeof(err));
    struct cryptopan *b = cryptopan_new_from_file(hex, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    cryptopan_anon_ipv4(a, in, o1);
    cryptopan_anon_ipv4(b, in, o2);
    assert_memory_equal(o1, want, 4);
    assert_memory_equal(o2, want, 4);
    assert_null(cryptopan_new_from_file(bad, err, sizeof(err)));
    assert_non_null(strstr(err, "bad.key"));
    cryptopan_free(a);
    cryptopan_free(b);
    tu_rmrf(dir);
    free(dir);
}

/* Through an eve-file output with pseudonymise-key: addresses are the reference pseudonyms and
 * community_id is the one of the pseudonymised tuple, not of the original. */
static void test_output_pseudonymised_community_id(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("cpan-out");
    char keyp[300], eve[300], err[256];
    snprintf(keyp, sizeof(keyp), "%s/pan.key", dir);
    snprintf(eve, sizeof(eve), "%s/eve.json", dir);
    FILE *f = fopen(keyp, "wb");
    fwrite(ref_key, 1, 32, f);
    fclose(f);
    struct output_config c[2];
    output_config_default(&c[0]);
    assert_int_equal(output_config_set(&c[0], "filename", eve, err, sizeof(err)), 0);
    assert_int_equal(output_config_set(&c[0], "pseudonymise-key", keyp, err, sizeof(err)), 0);
    assert_int_equal(output_config_set(&c[0], "name", "shared", err, sizeof(err)), 0);
    /* a second, plain output: the same event must keep its real addresses there */
    char plain[300];
    snprintf(plain, sizeof(plain), "%s/plain.json", dir);
    output_config_default(&c[1]);
    output_config_set(&c[1], "filename", plain, err, sizeof(err));
    struct outputs *outs = outputs_new(c, 2, err, sizeof(err));
    assert_non_null(outs);
    struct event ev = tu_alert_event(1, 1);
    uint8_t s[4] = {128, 11, 68, 132}, d[4] = {129, 118, 74, 4};
    uint8_t ps[4] = {135, 242, 180, 132}, pd[4] = {134, 136, 186, 123};
    memset(ev.ref.src, 0, 16);
    memset(ev.ref.dst, 0, 16);
    memcpy(ev.ref.src, s, 4);
    memcpy(ev.ref.dst, d, 4);
    ev.ref.sport = 34567;
    ev.ref.dport = 80;
    assert_int_equal(outputs_write_event(outs, &ev), 0);
    /* IPv6 through the same hook */
    struct event ev6 = tu_flow_event(2);
    ev6.ref.ip_version = 6;
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", ev6.ref.src), 1);
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::2", ev6.ref.dst), 1);
    assert_int_equal(outputs_write_event(outs, &ev6), 0);
    outputs_free(outs);

    char want_cid[COMMUNITY_ID_LEN], orig_cid[COMMUNITY_ID_LEN];
    assert_int_equal(community_id_v1(0, 4, ps, pd, 6, 34567, 80, want_cid, sizeof(want_cid)), 0);
    assert_int_equal(community_id_v1(0, 4, s, d, 6, 34567, 80, orig_cid, sizeof(orig_cid)), 0);
    assert_string_not_equal(want_cid, orig_cid);

    size_t n;
    char **lines = tu_read_lines(eve, &n);
    assert_int_equal(n, 2);
    json_t *j6 = json_loads(lines[1], 0, NULL);
    assert_non_null(j6);
    uint8_t a6[16], want6[16];
    assert_int_equal(inet_pton(AF_INET6, json_string_value(json_object_get(j6, "src_ip")), a6), 1);
    assert_int_equal(inet_pton(AF_INET6, "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e", want6), 1);
    assert_memory_equal(a6, want6, 16);
    assert_int_equal(inet_pton(AF_INET6, json_string_value(json_object_get(j6, "dest_ip")), a6), 1);
    assert_int_equal(inet_pton(AF_INET6, "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c", want6), 1);
    assert_memory_equal(a6, want6, 16);
    json_decref(j6);
    json_t *j = json_loads(lines[0], 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "src_ip")), "135.242.180.132");
    assert_string_equal(json_string_value(json_object_get(j, "dest_ip")), "134.136.186.123");
    assert_string_equal(json_string_value(json_object_get(j, "community_id")), want_cid);
    assert_null(strstr(lines[0], "128.11.68.132"));
    json_decref(j);
    tu_free_lines(lines, n);

    lines = tu_read_lines(plain, &n);
    assert_int_equal(n, 2);
    j = json_loads(lines[0], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "src_ip")), "128.11.68.132");
    assert_string_equal(json_string_value(json_object_get(j, "community_id")), orig_cid);
    json_decref(j);
    tu_free_lines(lines, n);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_prefix_preserving),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_output_pseudonymised_community_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
