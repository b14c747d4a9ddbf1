/* Private to sensor/output: the network output's sender machinery and its sinks. */
#ifndef TRIPLINE_OUTPUT_PRIV_H
#define TRIPLINE_OUTPUT_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output.h"
#include "spool.h"

#define NETOUT_BATCH 256
#define NETOUT_WAKE 64 /* queued records that wake an idle sender before the next tick */

struct netout;

/* One transport. All calls come from the output's sender thread, except open/close. */
struct sink_ops {
    /* once, before the sender starts (TLS context, Kafka handle); may be NULL */
    int (*open)(struct netout *no, char *err, size_t errlen);
    int (*connect)(struct netout *no); /* 0 or -errno */
    void (*disconnect)(struct netout *no);
    /* sends recs[0..n); returns 0 or -errno, *acked = leading records delivered (for transports
     * that acknowledge) or written */
    int (*send)(struct netout *no, struct spool_record **recs, unsigned n, unsigned *acked);
    void (*close)(struct netout *no); /* may be NULL */
    bool resend_after_reconnect; /* no application-level acks: resend a window after a failure */
};

struct netout {
    const struct output_config *cfg;
    const struct sink_ops *ops;
    void *sink; /* the transport's state */
    char hostname[128];
    int pid;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t work;     /* queue or spool gained records, or stop */
    pthread_cond_t progress; /* something was delivered (drain waits on it) */

    /* under mu */
    struct spool_record **q; /* ring of records owned by the queue */
    unsigned qcap, qhead, qlen;
    struct spool *sp;
    bool stop;
    bool idle; /* the sender waits for work */
    bool connected;
    struct output_stats *st;
    uint64_t fail_streak;
    uint64_t drops_logged;
    /* the sender's batch (sender thread; read by netout_free after the join) */
    struct spool_record *batch[NETOUT_BATCH];
    unsigned nbatch;
    bool batch_from_spool;
    /* records recently written on a transport without acks (sender thread) */
    struct spool_record **win;
    unsigned wincap, winhead, winlen;
    bool need_resend;
};

/* Starts a network output: opens its spool and transport and its sender thread. st is the
 * output's counters, updated under the netout's mutex. NULL with err. */
struct netout *netout_new(const struct output_config *cfg, struct output_stats *st, char *err,
                          size_t errlen);
/* The highest record found in the spool at start, or NULL. */
const struct spool_record *netout_spool_last(const struct netout *no);
/* Hands a record to the sender (ownership passes). Never waits on the network. Returns 0,
 * -ENOSPC (spool full: dropped, counted, logged) or -errno (spool I/O: dropped, counted). */
int netout_push(struct netout *no, struct spool_record *r);
/* Wakes the sender (records below the wake threshold are waiting). */
void netout_kick(struct netout *no);
/* Copies counters under the lock. */
void netout_stats(struct netout *no, struct output_stats *out);
/* Waits until nothing is pending or timeout_ms passed. true when nothing is pending. */
bool netout_drain(struct netout *no, uint32_t timeout_ms);
void netout_flush_spool(struct netout *no);
/* Drains up to flush_timeout_ms, stops the sender, spools what is left. NULL is a no-op. */
void netout_free(struct netout *no);

/* Transports. */
extern const struct sink_ops sink_unix_stream_ops, sink_unix_dgram_ops, sink_syslog_udp_ops,
    sink_syslog_tcp_ops, sink_syslog_tls_ops, sink_redis_ops, sink_kafka_ops;

/* Logs one line to stderr: "tripline: output <name>: <msg>". */
void output_log(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats an RFC 5424 syslog message for one record into buf; returns its length, or 0 when it
 * does not fit. octet_counting prefixes "LEN " (RFC 6587 3.4.1). */
size_t syslog_format(const struct netout *no, const struct spool_record *r, bool octet_counting,
                     char *buf, size_t cap);

#endif
