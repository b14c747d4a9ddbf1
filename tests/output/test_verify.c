/* Tamper evidence: a signed eve-file output verified intact, then the verifier must catch a
 * deleted, a swapped and an edited record, an edit with the chain recomputed (signature fails),
 * a wrong key; duplicates from at-least-once delivery are accepted. Also runs tripline-verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>

#include "chain.h"
#include "keyfile.h"
#include "out_util.h"
#include "verify_chain.h"

struct fixture {
    char *dir;
    char eve[300], seed[300];
    uint8_t pk[CHAIN_PK_LEN];
    char **lines;
    size_t n;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = tu_tmpdir("verify");
    snprintf(f->eve, sizeof(f->eve), "%s/eve.json", f->dir);
    snprintf(f->seed, sizeof(f->seed), "%s/sign.key", f->dir);
    uint8_t seed[CHAIN_SEED_LEN], sk[CHAIN_SK_LEN];
    for (unsigned i = 0; i < sizeof(seed); i++)
        seed[i] = (uint8_t)(0xa5 ^ i);
    FILE *fp = fopen(f->seed, "wb");
    fwrite(seed, 1, sizeof(seed), fp);
    fclose(fp);
    chain_keypair_from_seed(seed, f->pk, sk);

    struct output_config c;
    char err[256];
    output_config_default(&c);
    output_config_set(&c, "filename", f->eve, err, sizeof(err));
    output_config_set(&c, "sign-key", f->seed, err, sizeof(err));
    output_config_set(&c, "checkpoint-records", "10", err, sizeof(err));
    struct outputs *o = outputs_new(&c, 1, err, sizeof(err));
    if (!o)
        fail_msg("%s", err);
    for (unsigned i = 0; i < 35; i++) {
        struct event e = i % 3 ? tu_flow_event(i) : tu_alert_event(i, 2);
        assert_int_equal(outputs_write_event(o, &e), 0);
    }
    outputs_free(o);
    f->lines = tu_read_lines(f->eve, &f->n);
    /* 35 records + checkpoints after 10, 20, 30 records and a final one */
    assert_int_equal(f->n, 39);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tu_free_lines(f->lines, f->n);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void quiet(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

static int verify(const struct fixture *f, char **lines, size_t n, const uint8_t *pk, struct verify_result *r)
{
    struct verify_chain *v = verify_chain_new(pk);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(verify_chain_add(v, lines[i], strlen(lines[i])), 0);
    (void)f;
    int rc = verify_chain_finish(v, r, quiet, NULL);
    verify_chain_free(v);
    return rc;
}

static char **copy_lines(const struct fixture *f)
{
    char **c = calloc(f->n + 2, sizeof(*c));
    for (size_t i = 0; i < f->n; i++)
        c[i] = strdup(f->lines[i]);
    return c;
}

static void test_intact(void **state)
{
    struct fixture *f = *state;
    struct verify_result r;
    assert_int_equal(verify(f, f->lines, f->n, f->pk, &r), 0);
    assert_int_equal(r.records, 39);
    assert_int_equal(r.checkpoints, 4);
    assert_int_equal(r.deleted + r.reordered + r.altered + r.bad_signatures, 0);
    assert_int_equal(r.unsigned_tail, 0);
    assert_int_equal(r.first_seq, 1);
    assert_int_equal(r.last_seq, 39);
}

static void test_deleted(void **state)
{
    struct fixture *f = *state;
    char **c = copy_lines(f);
    free(c[4]);
    memmove(c + 4, c + 5, (f->n - 5) * sizeof(*c));
    struct verify_result r;
    assert_int_equal(verify(f, c, f->n - 1, f->pk, &r), 1);
    assert_int_equal(r.deleted, 1);
    assert_int_equal(r.reordered, 0);
    assert_int_equal(r.altered, 0);
    tu_free_lines(c, f->n - 1);
}

static void test_swapped(void **state)
{
    struct fixture *f = *state;
    char **c = copy_lines(f);
    char *t = c[5];
    c[5] = c[6];
    c[6] = t;
    struct verify_result r;
    assert_int_equal(verify(f, c, f->n, f->pk, &r), 1);
    assert_int_equal(r.reordered, 1);
    assert_int_equal(r.deleted, 0);
    assert_int_equal(r.altered, 0);
    tu_free_lines(c, f->n);
}

static void test_edited(void **state)
{
    struct fixture *f = *state;
    char **c = copy_lines(f);
    /* change the destination port of record 7: still valid JSON */
    char *p = strstr(c[6], "\"dest_port\":443");
    assert_non_null(p);
    p[13] = '4';
    p[14] = '4';
    struct verify_result r;
    assert_int_equal(verify(f, c, f->n, f->pk, &r), 1);
    assert_int_equal(r.altered, 1);
    assert_int_equal(r.deleted + r.reordered, 0);
    tu_free_lines(c, f->n);
}

static void set_prev(char **line, const uint8_t h[CHAIN_HASH_LEN])
{
    char hex[CHAIN_HASH_HEX];
    keyfile_hex(h, CHAIN_HASH_LEN, hex);
    char *p = strstr(*line, "\"prev_hash\":\"");
    assert_non_null(p);
    memcpy(p + 13, hex, 64);
}

/* An attacker without the key rewrites a record and recomputes every later prev_hash: the chain
 * links again, but the next checkpoint's signature no longer matches. */
static void test_edited_chain_recomputed(void **state)
{
    struct fixture *f = *state;
    char **c = copy_lines(f);
    char *p = strstr(c[2], "\"dest_port\":443");
    assert_non_null(p);
    p[14] = '5';
    for (size_t i = 3; i < f->n; i++) {
        uint8_t h[CHAIN_HASH_LEN];
        chain_hash(c[i - 1], strlen(c[i - 1]), h);
        set_prev(&c[i], h);
    }
    struct verify_result r;
    assert_int_equal(verify(f, c, f->n, f->pk, &r), 1);
    assert_int_equal(r.altered, 0);
    assert_int_equal(r.bad_signatures, 4);
    tu_free_lines(c, f->n);
}

static void test_duplicates_and_wrong_key(void **state)
{
    struct fixture *f = *state;
    char **c = copy_lines(f);
    c[f->n] = strdup(f->lines[2]); /* resent after a reconnect */
    struct verify_result r;
    assert_int_equal(verify(f, c, f->n + 1, f->pk, &r), 0);
    assert_int_equal(r.duplicates, 1);
    assert_int_equal(r.reordered, 0);
    uint8_t other[CHAIN_PK_LEN];
    memcpy(other, f->pk, sizeof(other));
    other[0] ^= 1;
    assert_int_equal(verify(f, f->lines, f->n, other, &r), 1);
    assert_int_equal(r.bad_signatures, 4);
    tu_free_lines(c, f->n + 1);
}

static void test_cli(void **state)
{
    struct fixture *f = *state;
    const char *root = getenv("TRIPLINE_BUILD_ROOT");
    if (!root)
        skip();
    char cmd[1400], bad[320];
    snprintf(cmd, sizeof(cmd), "%s/tools/verify/tripline-verify --sign-key %s %s >/dev/null", root,
             f->seed, f->eve);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    snprintf(bad, sizeof(bad), "%s/bad.json", f->dir);
    FILE *fp = fopen(bad, "w");
    for (size_t i = 0; i < f->n; i++)
        if (i != 12)
            fprintf(fp, "%s\n", f->lines[i]);
    fclose(fp);
    snprintf(cmd, sizeof(cmd), "%s/tools/verify/tripline-verify --sign-key %s %s | grep -q 'DELETED seq 13'",
             root, f->seed, bad);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    snprintf(cmd, sizeof(cmd), "%s/tools/verify/tripline-verify --sign-key %s %s >/dev/null", root, f->seed, bad);
    assert_int_equal(WEXITSTATUS(system(cmd)), 1);
}

/* Checkpoints by time: T seconds after the last one (clock given to outputs_tick), only when
 * records were written since. */
static void test_checkpoint_interval(void **state)
{
    struct fixture *f = *state;
    char eve[320], err[256];
    snprintf(eve, sizeof(eve), "%s/timed.json", f->dir);
    struct output_config c;
    output_config_default(&c);
    output_config_set(&c, "filename", eve, err, sizeof(err));
    output_config_set(&c, "sign-key", f->seed, err, sizeof(err));
    output_config_set(&c, "checkpoint-records", "0", err, sizeof(err));
    output_config_set(&c, "checkpoint-interval", "10s", err, sizeof(err));
    struct outputs *o = outputs_new(&c, 1, err, sizeof(err));
    assert_non_null(o);
    const uint64_t s = 1000000000ull, t0 = 1700000000ull * s;
    outputs_tick(o, t0);
    struct event e = tu_flow_event(1);
    outputs_write_event(o, &e);
    outputs_tick(o, t0 + 5 * s);
    struct output_stats st;
    outputs_stats(o, 0, &st);
    assert_int_equal(st.checkpoints, 0);
    outputs_tick(o, t0 + 11 * s);
    outputs_stats(o, 0, &st);
    assert_int_equal(st.checkpoints, 1);
    outputs_tick(o, t0 + 30 * s); /* nothing new: no checkpoint */
    outputs_stats(o, 0, &st);
    assert_int_equal(st.checkpoints, 1);
    outputs_free(o);
    size_t n;
    char **l = tu_read_lines(eve, &n);
    assert_int_equal(n, 2);
    struct verify_result r;
    assert_int_equal(verify(f, l, n, f->pk, &r), 0);
    assert_int_equal(r.checkpoints, 1);
    tu_free_lines(l, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact),
        cmocka_unit_test(test_deleted),
        cmocka_unit_test(test_swapped),
        cmocka_unit_test(test_edited),
        cmocka_unit_test(test_edited_chain_recomputed),
        cmocka_unit_test(test_duplicates_and_wrong_key),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_checkpoint_interval),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
