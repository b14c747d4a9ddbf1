/* Levels, stderr or syslog, per-site rate limiting. See log.h. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

#define LOG_SITES 128  /* distinct call sites tracked for rate limiting (open addressing) */
#define LOG_LINE_MAX 2048

struct log_site {
    const char *file; /* NULL: free slot */
    int line;
    uint64_t window_start;
    unsigned in_window;  /* messages written in the current window */
    uint64_t suppressed; /* messages dropped since the last report */
    char sample[96];     /* start of the first suppressed message, for the report */
};

struct tl_log {
    struct log_config cfg;
    atomic_int level; /* cfg.level, changeable while other threads log (relaxed: orders nothing) */
    pthread_mutex_t mu;
    uint64_t written, suppressed;
    struct log_site sites[LOG_SITES];
};

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};

static uint64_t mono_clock(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void log_config_default(struct log_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->level = TL_LOG_NOTICE;
    cfg->target = TL_LOG_STDERR;
    cfg->rate_burst = 10;
    cfg->rate_window_ns = 1000000000ull;
    cfg->ident = "tripline";
    cfg->stream = NULL; /* stderr, looked up when writing */
    cfg->clock = mono_clock;
}

struct tl_log *log_new(const struct log_config *cfg)
{
    struct tl_log *lg = calloc(1, sizeof(*lg));
    if (!lg)
        return NULL;
    lg->cfg = *cfg;
    atomic_init(&lg->level, cfg->level > TL_LOG_DEBUG ? TL_LOG_DEBUG : (int)cfg->level);
    if (!lg->cfg.ident)
        lg->cfg.ident = "tripline";
    if (!lg->cfg.clock)
        lg->cfg.clock = mono_clock;
    if (lg->cfg.rate_window_ns == 0)
        lg->cfg.rate_window_ns = 1000000000ull;
    if (pthread_mutex_init(&lg->mu, NULL) != 0) {
        free(lg);
        return NULL;
    }
    if (lg->cfg.target == TL_LOG_SYSLOG)
        openlog(lg->cfg.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    return lg;
}

/* Writes one formatted line to the target. Called with the mutex held (or with a NULL log). */
static void emit(const struct log_config *cfg, enum log_level level, const char *msg)
{
    if (cfg && cfg->target == TL_LOG_SYSLOG) {
        syslog(syslog_prio[level], "%s", msg);
        return;
    }
    FILE *out = cfg && cfg->stream ? cfg->stream : stderr;
    const char *ident = cfg ? cfg->ident : "tripline";
    /* errors keep the historical "tripline: MESSAGE" form (scripts and tests grep for it) */
    if (level == TL_LOG_ERROR)
        fprintf(out, "%s: %s\n", ident, msg);
    else
        fprintf(out, "%s: %s: %s\n", ident, level_names[level], msg);
    fflush(out);
}

static void report_suppressed(struct tl_log *lg, struct log_site *st, enum log_level level)
{
    if (st->suppressed == 0)
        return;
    char msg[256];
    snprintf(msg, sizeof(msg), "suppressed %llu message%s like: %s",
             (unsigned long long)st->suppressed, st->suppressed == 1 ? "" : "s", st->sample);
    emit(&lg->cfg, level, msg);
    lg->written++;
    st->suppressed = 0;
}

static struct log_site *site_find(struct tl_log *lg, const char *file, int line)
{
    uintptr_t h = ((uintptr_t)file >> 3) * 31u + (uintptr_t)line;
    for (unsigned i = 0; i < LOG_SITES; i++) {
        struct log_site *st = &lg->sites[(h + i) % LOG_SITES];
        if (st->file == file && st->line == line)
            return st;
        if (!st->file) {
            st->file = file;
            st->line = line;
            return st;
        }
    }
    return NULL; /* table full: that site is not limited */
}

void log_write(struct tl_log *lg, enum log_level level, const char *file, int line, const char *fmt,
               ...)
{
    if ((unsigned)level > TL_LOG_DEBUG)
        level = TL_LOG_DEBUG;
    if (!log_enabled(lg, level))
        return;
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!lg) {
        emit(NULL, level, msg);
        return;
    }
    pthread_mutex_lock(&lg->mu);
    struct log_site *st = lg->cfg.rate_burst ? site_find(lg, file, line) : NULL;
    if (st) {
        uint64_t now = lg->cfg.clock(lg->cfg.clock_ctx);
        if (now - st->window_start >= lg->cfg.rate_window_ns || st->window_start == 0) {
            report_suppressed(lg, st, level);
            st->window_start = now ? now : 1;
            st->in_window = 0;
        }
        if (st->in_window >= lg->cfg.rate_burst) {
            if (st->suppressed == 0)
                snprintf(st->sample, sizeof(st->sample), "%.*s", (int)sizeof(st->sample) - 1, msg);
            st->suppressed++;
            lg->suppressed++;
            pthread_mutex_unlock(&lg->mu);
            return;
        }
        st->in_window++;
    }
    emit(&lg->cfg, level, msg);
    lg->written++;
    pthread_mutex_unlock(&lg->mu);
}

void log_flush(struct tl_log *lg)
{
    if (!lg)
        return;
    pthread_mutex_lock(&lg->mu);
    for (unsigned i = 0; i < LOG_SITES; i++)
        if (lg->sites[i].file)
            report_suppressed(lg, &lg->sites[i], TL_LOG_WARNING);
    pthread_mutex_unlock(&lg->mu);
}

void log_free(struct tl_log *lg)
{
    if (!lg)
        return;
    log_flush(lg);
    if (lg->cfg.target == TL_LOG_SYSLOG)
        closelog();
    pthread_mutex_destroy(&lg->mu);
    free(lg);
}

void log_set_level(struct tl_log *lg, enum log_level level)
{
    if (!lg)
        return;
    atomic_store_explicit(&lg->level, level > TL_LOG_DEBUG ? TL_LOG_DEBUG : (int)level,
                          memory_order_relaxed);
}

bool log_enabled(const struct tl_log *lg, enum log_level level)
{
    int cur = lg ? atomic_load_explicit(&lg->level, memory_order_relaxed) : TL_LOG_NOTICE;
    return (int)level <= cur;
}

void log_counts(const struct tl_log *lg, uint64_t *written, uint64_t *suppressed)
{
    struct tl_log *m = (struct tl_log *)lg; /* the mutex is not part of the log's value */
    pthread_mutex_lock(&m->mu);
    *written = lg->written;
    *suppressed = lg->suppressed;
    pthread_mutex_unlock(&m->mu);
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (unsigned i = 0; i <= TL_LOG_DEBUG; i++)
        if (!strcasecmp(name, level_names[i])) {
            *out = (enum log_level)i;
            return 0;
        }
    if (!strcasecmp(name, "warn")) {
        *out = TL_LOG_WARNING;
        return 0;
    }
    return -EINVAL;
}

int log_target_parse(const char *name, enum log_target *out)
{
    if (!strcmp(name, "stderr"))
        *out = TL_LOG_STDERR;
    else if (!strcmp(name, "syslog"))
        *out = TL_LOG_SYSLOG;
    else
        return -EINVAL;
    return 0;
}

const char *log_level_name(enum log_level level)
{
    return (unsigned)level <= TL_LOG_DEBUG ? level_names[level] : "debug";
}
