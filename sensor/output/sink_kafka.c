/* Kafka transport (librdkafka): acks=all, idempotent producer (in order, no duplicates from
 * librdkafka's own retries). A record counts as delivered on its delivery report; records whose
 * report is an error are produced again after a backoff (at least once). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output_priv.h"
#include "tripline_config.h"

#if HAVE_KAFKA
#include <librdkafka/rdkafka.h>

struct kafka_sink {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    int status[NETOUT_BATCH]; /* 0 pending, 1 delivered, -1 failed */
    uint32_t gen;             /* batch generation: a late report of an older batch is ignored */
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct kafka_sink *k = opaque;
    uintptr_t tag = (uintptr_t)m->_private;
    unsigned idx = (unsigned)(tag & 0xffff);
    if (k && (uint32_t)(tag >> 16) == (k->gen & 0xffff) && idx < NETOUT_BATCH)
        k->status[idx] = m->err ? -1 : 1;
}

static int kafka_create(struct netout *no, char *err, size_t errlen)
{
    struct kafka_sink *k = no->sink;
    const struct output_config *c = no->cfg;
    char e[512], v[32];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(v, sizeof(v), "%u", c->kafka_message_timeout_ms);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", c->address, e, sizeof(e)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "acks", "all", e, sizeof(e)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof(e)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "message.timeout.ms", v, e, sizeof(e)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "linger.ms", "5", e, sizeof(e)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "output %s: kafka config: %s", c->name, e);
        return -EINVAL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, k);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!k->rk) {
        snprintf(err, errlen, "output %s: kafka: %s", c->name, e);
        return -EINVAL;
    }
    k->rkt = rd_kafka_topic_new(k->rk, c->topic, NULL);
    if (!k->rkt) {
        snprintf(err, errlen, "output %s: kafka topic %s: %s", c->name, c->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(k->rk);
        k->rk = NULL;
        return -EINVAL;
    }
    return 0;
}

static int kafka_open(struct netout *no, char *err, size_t errlen)
{
    no->sink = calloc(1, sizeof(struct kafka_sink));
    if (!no->sink) {
        snprintf(err, errlen, "output %s: out of memory", no->cfg->name);
        return -ENOMEM;
    }
    return kafka_create(no, err, errlen);
}

static void kafka_destroy(struct kafka_sink *k)
{
    if (k->rkt)
        rd_kafka_topic_destroy(k->rkt);
    if (k->rk) {
        rd_kafka_flush(k->rk, 2000);
        rd_kafka_destroy(k->rk);
    }
    k->rkt = NULL;
    k->rk = NULL;
}

static int kafka_connect(struct netout *no)
{
    struct kafka_sink *k = no->sink;
    if (k->rk)
        return 0;
    char err[256];
    int rc = kafka_create(no, err, sizeof(err));
    if (rc < 0)
        output_log(no->cfg->name, "%s", err);
    return rc;
}

static void kafka_disconnect(struct netout *no)
{
    struct kafka_sink *k = no->sink;
    /* a fatal error (idempotence state lost) needs a new producer; otherwise librdkafka reconnects */
    char e[128];
    if (k && k->rk && rd_kafka_fatal_error(k->rk, e, sizeof(e)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        output_log(no->cfg->name, "kafka fatal error: %s; new producer", e);
        kafka_destroy(k);
    }
}

static int kafka_send(struct netout *no, struct spool_record **recs, unsigned n, unsigned *acked)
{
    struct kafka_sink *k = no->sink;
    const struct output_config *c = no->cfg;
    *acked = 0;
    if (!k->rk)
        return -ENOTCONN;
    for (unsigned i = 0; i < n; i++)
        k->status[i] = 0;
    k->gen++;
    unsigned produced = 0;
    for (; produced < n; produced++) {
        char kbuf[24];
        const void *key = NULL;
        size_t klen = 0;
        if (c->kafka_key == OUTPUT_KAFKA_KEY_FLOW && recs[produced]->key) {
            klen = (size_t)snprintf(kbuf, sizeof(kbuf), "%016" PRIx64, recs[produced]->key);
            key = kbuf;
        } else if (c->kafka_key == OUTPUT_KAFKA_KEY_SENSOR && c->sensor_id[0]) {
            key = c->sensor_id;
            klen = strlen(c->sensor_id);
        }
        for (;;) {
            int rc = rd_kafka_produce(k->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                                      recs[produced]->data, recs[produced]->len, key, klen,
                                      (void *)(((uintptr_t)(k->gen & 0xffff) << 16) | produced));
            if (rc == 0)
                break;
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                output_log(c->name, "kafka produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
                goto wait;
            }
            rd_kafka_poll(k->rk, 50);
        }
    }
wait:
    /* every produced message gets a report within message.timeout.ms */
    rd_kafka_flush(k->rk, (int)c->kafka_message_timeout_ms + 5000);
    unsigned ok = 0;
    while (ok < produced && k->status[ok] == 1)
        ok++;
    *acked = ok;
    if (ok < n) {
        /* the rest may still get a report later: detach it from our status array */
        rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(k->rk, 0);
        return -EIO;
    }
    return 0;
}

static void kafka_close(struct netout *no)
{
    struct kafka_sink *k = no->sink;
    if (!k)
        return;
    kafka_destroy(k);
    free(k);
    no->sink = NULL;
}

const struct sink_ops sink_kafka_ops = {
    .open = kafka_open, .connect = kafka_connect, .disconnect = kafka_disconnect,
    .send = kafka_send, .close = kafka_close,
};
#else
static int kafka_none(struct netout *no, char *err, size_t errlen)
{
    snprintf(err, errlen, "output %s: built without librdkafka", no->cfg->name);
    return -ENOTSUP;
}
const struct sink_ops sink_kafka_ops = {.open = kafka_none};
#endif
