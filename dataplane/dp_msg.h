/* Messages of the packet sources (AF_XDP, DPDK): start-up lines through the caller's log
 * callback and error text into the caller's buffer, the same way for every source.
 * Header only: the DPDK source is compiled in a library of its own (its compile flags).
 */
#ifndef TRIPLINE_DP_MSG_H
#define TRIPLINE_DP_MSG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* A source's log callback (struct dp_afxdp_config / dp_dpdk_config .log): may be NULL. */
typedef void (*dp_log_fn)(void *ctx, const char *msg);

/* Formats one start-up message (at most 511 characters) and hands it to log; nothing when log
 * is NULL. */
static inline void dp_msg_log(dp_log_fn log, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void dp_msg_log(dp_log_fn log, void *ctx, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (!log)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log(ctx, buf);
}

/* Writes the message into err (when err and errlen) and returns rc, so a failing path reads
 * `return dp_msg_fail(err, errlen, -EINVAL, "...")`. */
static inline int dp_msg_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline int dp_msg_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

#endif
