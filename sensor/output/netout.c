/* Network output machinery: bounded memory queue -> sender thread -> transport, with the spool
 * taking over when the queue is full or the collector is down. Order is kept by one rule: while
 * the spool holds records, new records go to the spool too (the queue only ever holds records
 * older than the spool's), and the sender empties the queue before reading the spool. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output_priv.h"

void output_log(const char *name, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "tripline: output %s: %s\n", name, msg);
}

static void spool_log(void *ctx, const char *msg)
{
    const struct netout *no = ctx;
    output_log(no->cfg->name, "%s", msg);
}

static void deadline_after(struct timespec *ts, uint32_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void stats_sync_locked(struct netout *no)
{
    no->st->queued = no->qlen;
    no->st->spool_records = spool_records(no->sp);
    no->st->spool_bytes = spool_bytes(no->sp);
    no->st->spool_corrupt = spool_corrupt(no->sp);
    no->st->connected = no->connected;
}

static void window_add(struct netout *no, struct spool_record *r)
{
    if (!no->wincap) {
        spool_record_free(r);
        return;
    }
    unsigned tail = (no->winhead + no->winlen) % no->wincap;
    if (no->winlen == no->wincap) {
        spool_record_free(no->win[no->winhead]);
        no->win[no->winhead] = r;
        no->winhead = (no->winhead + 1) % no->wincap;
    } else {
        no->win[tail] = r;
        no->winlen++;
    }
}

/* Resends the window after a reconnect (transports without acks). 0 or -errno. */
static int window_resend(struct netout *no)
{
    unsigned done = 0;
    while (done < no->winlen) {
        struct spool_record *tmp[NETOUT_BATCH];
        unsigned n = 0;
        while (n < NETOUT_BATCH && done + n < no->winlen) {
            tmp[n] = no->win[(no->winhead + done + n) % no->wincap];
            n++;
        }
        unsigned acked = 0;
        int rc = no->ops->send(no, tmp, n, &acked);
        done += acked;
        if (rc < 0)
            return rc;
    }
    pthread_mutex_lock(&no->mu);
    no->st->resent += done;
    pthread_mutex_unlock(&no->mu);
    return 0;
}

/* Removes the first `acked` batch records once delivered. Called with mu held. */
static void batch_acked_locked(struct netout *no, unsigned acked)
{
    if (!acked)
        return;
    if (no->batch_from_spool)
        spool_consume(no->sp, acked);
    for (unsigned i = 0; i < acked; i++) {
        if (no->ops->resend_after_reconnect)
            window_add(no, no->batch[i]);
        else
            spool_record_free(no->batch[i]);
    }
    no->nbatch -= acked;
    memmove(no->batch, no->batch + acked, no->nbatch * sizeof(no->batch[0]));
    no->st->sent += acked;
    if (no->batch_from_spool && no->nbatch) {
        /* the spool's peek state covered the whole batch: peek the rest again */
        for (unsigned i = 0; i < no->nbatch; i++)
            spool_record_free(no->batch[i]);
        no->nbatch = 0;
        spool_unpeek(no->sp);
    }
    pthread_cond_broadcast(&no->progress);
}

static void *netout_thread(void *arg)
{
    struct netout *no = arg;
    const struct output_config *cfg = no->cfg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE); /* a dead peer is an error return, never a signal */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    uint32_t backoff = cfg->retry_min_ms;

    pthread_mutex_lock(&no->mu);
    for (;;) {
        if (no->stop)
            break;
        if (no->nbatch == 0) {
            if (no->qlen) {
                unsigned n = no->qlen < NETOUT_BATCH ? no->qlen : NETOUT_BATCH;
                for (unsigned i = 0; i < n; i++)
                    no->batch[i] = no->q[(no->qhead + i) % no->qcap];
                no->qhead = (no->qhead + n) % no->qcap;
                no->qlen -= n;
                no->nbatch = n;
                no->batch_from_spool = false;
            } else if (!spool_empty(no->sp)) {
                no->nbatch = spool_peek(no->sp, no->batch, NETOUT_BATCH);
                no->batch_from_spool = true;
                stats_sync_locked(no);
                if (!no->nbatch)
                    continue;
            } else {
                stats_sync_locked(no);
                pthread_cond_broadcast(&no->progress);
                no->idle = true;
                pthread_cond_wait(&no->work, &no->mu);
                no->idle = false;
                continue;
            }
        }
        bool was_connected = no->connected;
        pthread_mutex_unlock(&no->mu);

        int rc = 0;
        unsigned acked = 0;
        if (!was_connected) {
            rc = no->ops->connect(no);
            if (rc == 0 && no->need_resend)
                rc = window_resend(no);
            if (rc == 0) {
                pthread_mutex_lock(&no->mu);
                no->connected = true;
                if (no->fail_streak)
                    output_log(cfg->name, "connected again after %" PRIu64 " failed attempts",
                               no->fail_streak);
                no->fail_streak = 0;
                pthread_mutex_unlock(&no->mu);
                no->need_resend = false;
            }
        }
        if (rc == 0)
            rc = no->ops->send(no, no->batch, no->nbatch, &acked);

        pthread_mutex_lock(&no->mu);
        batch_acked_locked(no, acked);
        if (rc < 0) {
            no->st->send_errors++;
            if (no->fail_streak++ == 0)
                output_log(cfg->name, "send failed (%s); records kept in queue/spool, retrying with backoff",
                           strerror(-rc));
            pthread_mutex_unlock(&no->mu);
            no->ops->disconnect(no);
            pthread_mutex_lock(&no->mu);
            no->connected = false;
            no->need_resend = no->ops->resend_after_reconnect;
            stats_sync_locked(no);
            if (!no->stop) {
                struct timespec ts;
                deadline_after(&ts, backoff);
                /* woken early only by stop: new records must not shorten the backoff */
                while (!no->stop && pthread_cond_timedwait(&no->work, &no->mu, &ts) != ETIMEDOUT)
                    ;
            }
            backoff = backoff * 2 > cfg->retry_max_ms ? cfg->retry_max_ms : backoff * 2;
        } else {
            backoff = cfg->retry_min_ms;
        }
    }
    pthread_mutex_unlock(&no->mu);
    return NULL;
}

static const struct sink_ops *ops_for(enum output_kind k)
{
    switch (k) {
    case OUTPUT_UNIX_STREAM: return &sink_unix_stream_ops;
    case OUTPUT_UNIX_DGRAM: return &sink_unix_dgram_ops;
    case OUTPUT_SYSLOG_UDP: return &sink_syslog_udp_ops;
    case OUTPUT_SYSLOG_TCP: return &sink_syslog_tcp_ops;
    case OUTPUT_SYSLOG_TLS: return &sink_syslog_tls_ops;
    case OUTPUT_REDIS: return &sink_redis_ops;
    case OUTPUT_KAFKA: return &sink_kafka_ops;
    default: return NULL;
    }
}

struct netout *netout_new(const struct output_config *cfg, struct output_stats *st, char *err,
                          size_t errlen)
{
    const struct sink_ops *ops = ops_for(cfg->kind);
    if (!ops) {
        snprintf(err, errlen, "output %s: not a network output", cfg->name);
        return NULL;
    }
    struct netout *no = calloc(1, sizeof(*no));
    if (!no) {
        snprintf(err, errlen, "output %s: out of memory", cfg->name);
        return NULL;
    }
    no->cfg = cfg;
    no->ops = ops;
    no->st = st;
    no->pid = (int)getpid();
    if (cfg->host[0])
        snprintf(no->hostname, sizeof(no->hostname), "%s", cfg->host);
    else if (gethostname(no->hostname, sizeof(no->hostname) - 1) < 0 || !no->hostname[0])
        snprintf(no->hostname, sizeof(no->hostname), "-");
    pthread_mutex_init(&no->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&no->work, &ca);
    pthread_cond_init(&no->progress, &ca);
    pthread_condattr_destroy(&ca);
    no->qcap = cfg->queue_records ? cfg->queue_records : 1;
    no->q = calloc(no->qcap, sizeof(*no->q));
    no->wincap = ops->resend_after_reconnect ? cfg->resend_window : 0;
    if (no->wincap)
        no->win = calloc(no->wincap, sizeof(*no->win));
    if (!no->q || (no->wincap && !no->win)) {
        snprintf(err, errlen, "output %s: out of memory", cfg->name);
        goto out_free;
    }
    char serr[256];
    no->sp = spool_open(cfg->spool_dir, cfg->spool_max_bytes, spool_log, no, serr, sizeof(serr));
    if (!no->sp) {
        snprintf(err, errlen, "output %s: %s", cfg->name, serr);
        goto out_free;
    }
    if (spool_records(no->sp))
        output_log(cfg->name, "%" PRIu64 " records in spool %s from an earlier run: sent first",
                   spool_records(no->sp), cfg->spool_dir);
    stats_sync_locked(no);
    if (ops->open && ops->open(no, err, errlen) < 0)
        goto out_free;
    if (pthread_create(&no->thread, NULL, netout_thread, no) != 0) {
        snprintf(err, errlen, "output %s: cannot start sender thread", cfg->name);
        goto out_free;
    }
    no->thread_started = true;
    return no;
out_free:
    netout_free(no);
    return NULL;
}

const struct spool_record *netout_spool_last(const struct netout *no)
{
    return spool_last_at_open(no->sp);
}

static int spool_put_locked(struct netout *no, struct spool_record *r)
{
    int rc = spool_append(no->sp, r);
    if (rc == 0) {
        no->st->spooled++;
    } else {
        no->st->spool_dropped++;
        /* log the first drop of a streak and then every 1000th: never silent, never a flood */
        if (no->drops_logged++ % 1000 == 0)
            output_log(no->cfg->name, "%s: record seq %" PRIu64 " dropped (%" PRIu64 " dropped so far; "
                       "spool %" PRIu64 " of %" PRIu64 " bytes)",
                       rc == -ENOSPC ? "spool full" : strerror(-rc), r->seq, no->st->spool_dropped,
                       spool_bytes(no->sp), no->cfg->spool_max_bytes);
    }
    spool_record_free(r);
    return rc;
}

int netout_push(struct netout *no, struct spool_record *r)
{
    int rc = 0;
    pthread_mutex_lock(&no->mu);
    if (!spool_empty(no->sp) || no->qlen == no->qcap) {
        rc = spool_put_locked(no, r);
    } else {
        no->q[(no->qhead + no->qlen) % no->qcap] = r;
        no->qlen++;
        if (no->drops_logged) {
            output_log(no->cfg->name, "spool accepting records again");
            no->drops_logged = 0;
        }
    }
    stats_sync_locked(no);
    /* wake an idle sender once a batch is worth it; outputs_tick() and drain wake it for the
     * rest, so a lone record waits at most one tick */
    if (no->idle && (no->qlen >= (no->qcap < NETOUT_WAKE ? no->qcap : NETOUT_WAKE) || !spool_empty(no->sp)))
        pthread_cond_signal(&no->work);
    pthread_mutex_unlock(&no->mu);
    return rc;
}

void netout_kick(struct netout *no)
{
    pthread_mutex_lock(&no->mu);
    pthread_cond_signal(&no->work);
    pthread_mutex_unlock(&no->mu);
}

void netout_stats(struct netout *no, struct output_stats *out)
{
    pthread_mutex_lock(&no->mu);
    stats_sync_locked(no);
    *out = *no->st;
    pthread_mutex_unlock(&no->mu);
}

void netout_flush_spool(struct netout *no)
{
    pthread_mutex_lock(&no->mu);
    spool_flush(no->sp);
    pthread_mutex_unlock(&no->mu);
}

static bool pending_locked(struct netout *no)
{
    return no->qlen || no->nbatch || !spool_empty(no->sp);
}

bool netout_drain(struct netout *no, uint32_t timeout_ms)
{
    struct timespec ts;
    deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&no->mu);
    pthread_cond_signal(&no->work);
    while (pending_locked(no) && pthread_cond_timedwait(&no->progress, &no->mu, &ts) != ETIMEDOUT)
        ;
    bool done = !pending_locked(no);
    pthread_mutex_unlock(&no->mu);
    return done;
}

void netout_free(struct netout *no)
{
    if (!no)
        return;
    if (no->thread_started) {
        netout_drain(no, no->cfg->flush_timeout_ms);
        pthread_mutex_lock(&no->mu);
        no->stop = true;
        pthread_cond_broadcast(&no->work);
        pthread_mutex_unlock(&no->mu);
        pthread_join(no->thread, NULL);
    }
    if (no->sp) {
        /* what is still in memory is older than the spool: a new segment named by its first
         * sequence number sorts before the spool's and is sent first at the next start */
        uint64_t left = no->qlen + (no->batch_from_spool ? 0 : no->nbatch);
        if (left) {
            spool_seal(no->sp);
            output_log(no->cfg->name, "%" PRIu64 " undelivered records written to spool %s", left,
                       no->cfg->spool_dir);
        }
        if (!no->batch_from_spool)
            for (unsigned i = 0; i < no->nbatch; i++)
                spool_put_locked(no, no->batch[i]);
        else
            for (unsigned i = 0; i < no->nbatch; i++)
                spool_record_free(no->batch[i]);
        no->nbatch = 0;
        for (; no->qlen; no->qlen--) {
            spool_put_locked(no, no->q[no->qhead]);
            no->qhead = (no->qhead + 1) % no->qcap;
        }
        stats_sync_locked(no);
    }
    if (no->ops->disconnect && no->connected)
        no->ops->disconnect(no);
    if (no->ops->close)
        no->ops->close(no);
    spool_close(no->sp);
    for (unsigned i = 0; i < no->winlen; i++)
        spool_record_free(no->win[(no->winhead + i) % no->wincap]);
    free(no->win);
    if (no->q)
        for (unsigned i = 0; i < no->qlen; i++)
            spool_record_free(no->q[(no->qhead + i) % no->qcap]);
    free(no->q);
    pthread_cond_destroy(&no->work);
    pthread_cond_destroy(&no->progress);
    pthread_mutex_destroy(&no->mu);
    free(no);
}
