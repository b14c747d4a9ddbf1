/* Logging for the sensor's diagnostics (not its events: those go to the outputs).
 *
 * Five levels (error, warning, notice, info, debug); messages above the configured level are
 * dropped before formatting. Target: stderr (as "tripline: MESSAGE", "tripline: warning: ..."),
 * or syslog(3) (facility daemon, ident "tripline", the level as the priority).
 *
 * Rate limiting per message site (the call's file and line, not its text, so a message with a
 * varying address still counts as one site): at most `rate_burst` messages per site per
 * `rate_window_ns`; the rest are counted, and the next message of that site after the window
 * (or log_flush()) first reports "suppressed K messages like: ...". The clock is injectable so
 * tests do not depend on the wall clock.
 *
 * No global state: main owns one struct tl_log and hands it to the engine (sensor_set_log). A
 * NULL log writes what the default level (notice) passes to stderr, unlimited (code used
 * without a logger, e.g. in tests).
 * Threading: any thread; the log holds a mutex while it formats and writes. Never call it on
 * the per-packet path (it formats text and makes syscalls).
 */
#ifndef TRIPLINE_LOG_H
#define TRIPLINE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum log_level {
    TL_LOG_ERROR = 0,
    TL_LOG_WARNING,
    TL_LOG_NOTICE,
    TL_LOG_INFO,
    TL_LOG_DEBUG,
};

enum log_target { TL_LOG_STDERR = 0, TL_LOG_SYSLOG };

/* Clock for rate limiting, in nanoseconds (monotonic). */
typedef uint64_t (*log_clock_fn)(void *ctx);

struct log_config {
    enum log_level level;    /* messages at or below this level pass (default notice) */
    enum log_target target;  /* default stderr */
    unsigned rate_burst;     /* messages per site per window; 0 = no limit (default 10) */
    uint64_t rate_window_ns; /* default 1 s */
    const char *ident;       /* prefix / syslog ident (default "tripline"); must outlive the log */
    FILE *stream;            /* stderr target; default stderr (tests give a memstream) */
    log_clock_fn clock;      /* default CLOCK_MONOTONIC */
    void *clock_ctx;
};

struct tl_log;

/* Fills the defaults above. */
void log_config_default(struct log_config *cfg);

/* Creates a log. With the syslog target, calls openlog(3). NULL when out of memory. */
struct tl_log *log_new(const struct log_config *cfg);

/* Reports pending suppression counts, closes syslog. NULL is a no-op. */
void log_free(struct tl_log *lg);

/* Changes the level (e.g. after -v). */
void log_set_level(struct tl_log *lg, enum log_level level);

/* True when a message at level would be written (cheap; lets callers skip building text). */
bool log_enabled(const struct tl_log *lg, enum log_level level);

/* Writes one message from the site (file, line). Prefer the tl_log() macro. */
void log_write(struct tl_log *lg, enum log_level level, const char *file, int line, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));

/* Reports every site's pending "suppressed K messages" now. */
void log_flush(struct tl_log *lg);

/* Messages written and suppressed so far (for tests and stats). */
void log_counts(const struct tl_log *lg, uint64_t *written, uint64_t *suppressed);

/* "error", "warning" (or "warn"), "notice", "info", "debug" -> level. Returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

/* "stderr" or "syslog" -> target. Returns 0 or -EINVAL. */
int log_target_parse(const char *name, enum log_target *out);

const char *log_level_name(enum log_level level);

#define tl_log(lg, level, ...) log_write((lg), (level), __FILE__, __LINE__, __VA_ARGS__)
#define tl_err(lg, ...) tl_log((lg), TL_LOG_ERROR, __VA_ARGS__)
#define tl_warn(lg, ...) tl_log((lg), TL_LOG_WARNING, __VA_ARGS__)
#define tl_notice(lg, ...) tl_log((lg), TL_LOG_NOTICE, __VA_ARGS__)
#define tl_info(lg, ...) tl_log((lg), TL_LOG_INFO, __VA_ARGS__)
#define tl_debug(lg, ...) tl_log((lg), TL_LOG_DEBUG, __VA_ARGS__)

#endif
