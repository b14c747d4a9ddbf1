/* Spool: order and restart, a corrupt segment (clear error naming file and offset, the rest still
 * sent), a full spool (counted, reported in stats, bounded on disk), spool sent first after a
 * restart of the outputs. The collector is a Unix stream socket served by a test thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>

#include <cmocka.h>

#include "out_util.h"
#include "spool.h"

static char logbuf[4096];
static void log_cb(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(logbuf + strlen(logbuf), sizeof(logbuf) - strlen(logbuf), "%s\n", msg);
}

static void fill(struct spool *sp, uint64_t from, uint64_t to)
{
    for (uint64_t s = from; s <= to; s++) {
        char data[64];
        int n = snprintf(data, sizeof(data), "{\"tripline_seq\":%llu}", (unsigned long long)s);
        struct spool_record *r = spool_record_new(s, s, 0, 0, 0, data, (uint32_t)n);
        assert_int_equal(spool_append(sp, r), 0);
        spool_record_free(r);
    }
}

/* Reads everything left; returns the count and checks ascending order. */
static unsigned drain_all(struct spool *sp, uint64_t *seqs, unsigned max)
{
    unsigned total = 0;
    struct spool_record *b[7];
    unsigned n;
    while ((n = spool_peek(sp, b, 7)) > 0) {
        for (unsigned i = 0; i < n; i++) {
            assert_true(total < max);
            seqs[total++] = b[i]->seq;
            assert_int_equal(tu_seq_of(b[i]->data, b[i]->len), (long long)b[i]->seq);
            spool_record_free(b[i]);
        }
        spool_consume(sp, n);
    }
    for (unsigned i = 1; i < total; i++)
        assert_true(seqs[i] > seqs[i - 1]);
    return total;
}

static void test_spool_restart(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("spool");
    char err[256];
    struct spool *sp = spool_open(dir, 1 << 20, log_cb, NULL, err, sizeof(err));
    assert_non_null(sp);
    fill(sp, 1, 100);
    struct spool_record *b[10];
    assert_int_equal(spool_peek(sp, b, 10), 10);
    for (int i = 0; i < 10; i++)
        spool_record_free(b[i]);
    spool_consume(sp, 10);
    /* peeked but not consumed: comes back after a restart (at least once) */
    assert_int_equal(spool_peek(sp, b, 5), 5);
    for (int i = 0; i < 5; i++)
        spool_record_free(b[i]);
    spool_close(sp);
    sp = spool_open(dir, 1 << 20, log_cb, NULL, err, sizeof(err));
    assert_non_null(sp);
    assert_int_equal(spool_last_at_open(sp)->seq, 100);
    /* the consumed ten are gone only once their segment is: at least once, never fewer */
    uint64_t seqs[200];
    unsigned n = drain_all(sp, seqs, 200);
    assert_true(n >= 90);
    assert_int_equal(seqs[n - 1], 100);
    assert_true(spool_empty(sp));
    spool_close(sp);
    tu_rmrf(dir);
    free(dir);
}

/* Flips one byte inside the payload of record `seq`, in whichever segment holds it. */
static void corrupt_byte_of_record(const char *dir, unsigned long long seq)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool done = false;
    char pat[64];
    snprintf(pat, sizeof(pat), "\"tripline_seq\":%llu", seq);
    while (!done && (de = readdir(d))) {
        if (strncmp(de->d_name, "seg-", 4))
            continue;
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r+b");
        assert_non_null(f);
        static char buf[1 << 20];
        size_t len = fread(buf, 1, sizeof(buf), f);
        char *p = memmem(buf, len, pat, strlen(pat));
        if (p) {
            fseek(f, p - buf + 2, SEEK_SET);
            fputc('X', f);
            done = true;
        }
        fclose(f);
    }
    closedir(d);
    assert_true(done);
}

static void test_spool_corrupt_segment(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("spoolc");
    char err[256];
    struct spool *sp = spool_open(dir, 1 << 20, log_cb, NULL, err, sizeof(err));
    fill(sp, 1, 50);
    spool_close(sp);
    corrupt_byte_of_record(dir, 20);
    logbuf[0] = '\0';
    sp = spool_open(dir, 1 << 20, log_cb, NULL, err, sizeof(err));
    assert_non_null(sp);
    assert_int_equal(spool_corrupt(sp), 1);
    assert_non_null(strstr(logbuf, "corrupt"));
    assert_non_null(strstr(logbuf, "seg-00000000000000000001.spl"));
    assert_non_null(strstr(logbuf, "offset"));
    uint64_t seqs[64];
    unsigned n = drain_all(sp, seqs, 64);
    assert_int_equal(n, 49);
    for (unsigned i = 0; i < n; i++)
        assert_true(seqs[i] != 20);
    assert_int_equal(seqs[48], 50);
    spool_close(sp);
    tu_rmrf(dir);
    free(dir);
}

static struct outputs *unix_out(const char *sock, const char *spool, const char *max, const char *queue,
                                const char *extra_file)
{
    struct output_config c[2];
    char err[256];
    output_config_default(&c[0]);
    const char *kv[] = {"type", "unix-stream", "filename", sock, "spool-dir", spool, "spool-max", max,
                        "queue", queue, "retry-min-ms", "10", "retry-max-ms", "50", "flush-timeout-ms",
                        "200", "name", "collector", NULL};
    for (const char *const *p = kv; *p; p += 2)
        if (output_config_set(&c[0], p[0], p[1], err, sizeof(err)) != 0)
            fail_msg("%s", err);
    unsigned n = 1;
    if (extra_file) {
        output_config_default(&c[1]);
        output_config_set(&c[1], "filename", extra_file, err, sizeof(err));
        output_config_set(&c[1], "types", "stats", err, sizeof(err));
        n = 2;
    }
    struct outputs *o = outputs_new(c, n, err, sizeof(err));
    if (!o)
        fail_msg("%s", err);
    return o;
}

/* Collector down: 50 records go to the spool at exit; the next run sends them first, then its own. */
static void test_spool_sent_first_after_restart(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("spoolr");
    char sock[300], spool[300];
    snprintf(sock, sizeof(sock), "%s/c.sock", dir);
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    struct outputs *o = unix_out(sock, spool, "1m", "64", NULL);
    for (unsigned i = 0; i < 50; i++) {
        struct event e = tu_flow_event(i);
        assert_int_equal(outputs_write_event(o, &e), 0);
    }
    assert_false(outputs_drain(o, 100));
    outputs_free(o);

    struct tu_collector col;
    assert_int_equal(tu_collector_start(&col, sock), 0);
    o = unix_out(sock, spool, "1m", "64", NULL);
    for (unsigned i = 50; i < 100; i++) {
        struct event e = tu_flow_event(i);
        assert_int_equal(outputs_write_event(o, &e), 0);
    }
    assert_true(outputs_drain(o, 20000));
    struct output_stats st;
    outputs_stats(o, 0, &st);
    assert_int_equal(st.spool_records, 0);
    outputs_free(o);
    tu_collector_stop(&col);
    assert_int_equal(col.n, 100);
    for (size_t i = 0; i < col.n; i++) {
        assert_int_equal(tu_seq_of(col.lines[i], strlen(col.lines[i])), (long long)i + 1);
        json_t *j = json_loads(col.lines[i], 0, NULL);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "flow"), "pkts_toserver")), i);
        json_decref(j);
    }
    tu_collector_free(&col);
    tu_rmrf(dir);
    free(dir);
}

/* A corrupt record in the spool: reported, skipped, every other record still delivered. */
static void test_corrupt_spool_rest_sent(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("spoolx");
    char sock[300], spool[300];
    snprintf(sock, sizeof(sock), "%s/c.sock", dir);
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    struct outputs *o = unix_out(sock, spool, "1m", "4", NULL);
    for (unsigned i = 0; i < 30; i++) {
        struct event e = tu_flow_event(i);
        outputs_write_event(o, &e);
    }
    outputs_free(o);
    corrupt_byte_of_record(spool, 7);
    struct tu_collector col;
    assert_int_equal(tu_collector_start(&col, sock), 0);
    o = unix_out(sock, spool, "1m", "4", NULL);
    assert_true(outputs_drain(o, 20000));
    struct output_stats st;
    outputs_stats(o, 0, &st);
    assert_int_equal(st.spool_corrupt, 1);
    outputs_free(o);
    tu_collector_stop(&col);
    assert_int_equal(col.n, 29);
    for (size_t i = 0; i < col.n; i++)
        assert_true(tu_seq_of(col.lines[i], strlen(col.lines[i])) != 7);
    tu_collector_free(&col);
    tu_rmrf(dir);
    free(dir);
}

/* Collector down, a 64 KiB spool: what does not fit is dropped, counted and reported in stats. */
static void test_spool_full(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("spoolf");
    char sock[300], spool[300], eve[300];
    snprintf(sock, sizeof(sock), "%s/c.sock", dir);
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    snprintf(eve, sizeof(eve), "%s/stats.json", dir);
    struct outputs *o = unix_out(sock, spool, "64k", "16", eve);
    unsigned n = 1000, errors = 0;
    for (unsigned i = 0; i < n; i++) {
        struct event e = tu_flow_event(i);
        if (outputs_write_event(o, &e) != 0)
            errors++;
    }
    struct output_stats st;
    outputs_stats(o, 0, &st);
    assert_true(st.spool_dropped > 0);
    assert_int_equal(errors, st.spool_dropped);
    assert_true(st.spool_bytes <= 65536);
    assert_int_equal(st.written, n);
    /* every record is somewhere: queue, sender batch, spool, or counted as dropped */
    assert_true(st.queued + st.spool_records + st.spool_dropped + 256 >= n);
    const char stats[] = "{\"timestamp\":\"t\",\"event_type\":\"stats\",\"stats\":{\"uptime\":1}}";
    outputs_write_stats(o, stats, strlen(stats));
    outputs_free(o);
    size_t nl;
    char **l = tu_read_lines(eve, &nl);
    assert_int_equal(nl, 1);
    json_t *j = json_loads(l[0], 0, NULL);
    json_t *c = json_object_get(json_object_get(json_object_get(j, "stats"), "outputs"), "collector");
    assert_true(json_integer_value(json_object_get(c, "spool_dropped")) > 0);
    assert_true(json_is_true(json_object_get(c, "spool_full")));
    json_decref(j);
    tu_free_lines(l, nl);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_restart),
        cmocka_unit_test(test_spool_corrupt_segment),
        cmocka_unit_test(test_spool_sent_first_after_restart),
        cmocka_unit_test(test_corrupt_spool_rest_sent),
        cmocka_unit_test(test_spool_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
