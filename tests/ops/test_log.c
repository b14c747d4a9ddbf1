/* log.h: level filtering, the stderr format, per-site rate limiting with an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

struct fake_clock {
    uint64_t now;
};

static uint64_t fake_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->now;
}

struct cap {
    char *buf;
    size_t len;
    FILE *f;
    struct fake_clock clk;
    struct tl_log *lg;
};

static struct cap *cap_new(enum log_level level, unsigned burst)
{
    struct cap *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
    c->clk.now = 5000000000ull;
    struct log_config lc;
    log_config_default(&lc);
    lc.level = level;
    lc.rate_burst = burst;
    lc.stream = c->f;
    lc.clock = fake_now;
    lc.clock_ctx = &c->clk;
    c->lg = log_new(&lc);
    assert_non_null(c->lg);
    return c;
}

/* What was written so far (NUL-terminated). */
static const char *cap_text(struct cap *c)
{
    fflush(c->f);
    return c->buf ? c->buf : "";
}

static unsigned count_lines(const char *s, const char *needle)
{
    unsigned n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void cap_free(struct cap *c)
{
    log_free(c->lg);
    fclose(c->f);
    free(c->buf);
    free(c);
}

static void test_levels(void **state)
{
    (void)state;
    struct cap *c = cap_new(TL_LOG_NOTICE, 0);
    tl_err(c->lg, "disk %s", "full");
    tl_warn(c->lg, "slow collector");
    tl_notice(c->lg, "started");
    tl_info(c->lg, "details");
    tl_debug(c->lg, "more details");
    const char *t = cap_text(c);
    /* errors keep the historical form that scripts grep for */
    assert_non_null(strstr(t, "tripline: disk full\n"));
    assert_non_null(strstr(t, "tripline: warning: slow collector\n"));
    assert_non_null(strstr(t, "tripline: notice: started\n"));
    assert_null(strstr(t, "details"));
    assert_true(log_enabled(c->lg, TL_LOG_NOTICE));
    assert_false(log_enabled(c->lg, TL_LOG_INFO));

    log_set_level(c->lg, TL_LOG_DEBUG);
    tl_debug(c->lg, "now visible");
    assert_non_null(strstr(cap_text(c), "tripline: debug: now visible\n"));
    log_set_level(c->lg, TL_LOG_ERROR);
    tl_warn(c->lg, "hidden warning");
    assert_null(strstr(cap_text(c), "hidden warning"));
    uint64_t w, sup;
    log_counts(c->lg, &w, &sup);
    assert_int_equal(w, 4);
    assert_int_equal(sup, 0);
    cap_free(c);
}

static void test_parse(void **state)
{
    (void)state;
    enum log_level l;
    enum log_target t;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, TL_LOG_DEBUG);
    assert_int_equal(log_level_parse("WARN", &l), 0);
    assert_int_equal(l, TL_LOG_WARNING);
    assert_int_equal(log_level_parse("error", &l), 0);
    assert_int_equal(l, TL_LOG_ERROR);
    assert_true(log_level_parse("verbose", &l) < 0);
    assert_int_equal(log_target_parse("syslog", &t), 0);
    assert_int_equal(t, TL_LOG_SYSLOG);
    assert_int_equal(log_target_parse("stderr", &t), 0);
    assert_int_equal(t, TL_LOG_STDERR);
    assert_true(log_target_parse("file", &t) < 0);
    assert_string_equal(log_level_name(TL_LOG_NOTICE), "notice");
}

/* One message site (the rate limit is per call site, not per text). */
static void collector_down(struct tl_log *lg, int i)
{
    tl_warn(lg, "collector down (try %d)", i);
}

/* The same site many times within one window: burst messages pass, the rest are counted and
 * reported once the window has passed, before that site's next message. */
static void test_rate_limit(void **state)
{
    (void)state;
    struct cap *c = cap_new(TL_LOG_DEBUG, 3);
    for (int i = 0; i < 10; i++) {
        collector_down(c->lg, i);
        c->clk.now += 10000000ull;                    /* 10 ms apart: all in one window */
    }
    const char *t = cap_text(c);
    assert_int_equal(count_lines(t, "collector down"), 3);
    assert_null(strstr(t, "suppressed"));
    uint64_t w, sup;
    log_counts(c->lg, &w, &sup);
    assert_int_equal(w, 3);
    assert_int_equal(sup, 7);

    /* another site is not limited by the first one's count */
    tl_warn(c->lg, "other site");
    assert_non_null(strstr(cap_text(c), "other site"));

    /* next window: report, then the message */
    c->clk.now += 1000000000ull;
    collector_down(c->lg, 10);
    t = cap_text(c);
    const char *rep = strstr(t, "tripline: warning: suppressed 7 messages like: collector down (try 3)\n");
    assert_non_null(rep);
    const char *msg = strstr(t, "collector down (try 10)");
    assert_non_null(msg);
    assert_true(rep < msg);
    cap_free(c);
}

/* Suppressed messages still pending at the end are reported by log_flush/log_free. */
static void test_flush_reports(void **state)
{
    (void)state;
    struct cap *c = cap_new(TL_LOG_NOTICE, 1);
    for (int i = 0; i < 4; i++)
        tl_err(c->lg, "read error %d", i); /* one site */
    assert_int_equal(count_lines(cap_text(c), "read error"), 1);
    log_flush(c->lg);
    assert_non_null(strstr(cap_text(c), "suppressed 3 messages like: read error 1"));
    /* nothing is reported twice */
    log_flush(c->lg);
    assert_int_equal(count_lines(cap_text(c), "suppressed"), 1);
    cap_free(c);
}

/* burst 0: no limit at all. */
static void test_unlimited(void **state)
{
    (void)state;
    struct cap *c = cap_new(TL_LOG_NOTICE, 0);
    for (int i = 0; i < 50; i++)
        tl_notice(c->lg, "tick");
    assert_int_equal(count_lines(cap_text(c), "tick"), 50);
    cap_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_flush_reports),
        cmocka_unit_test(test_unlimited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
