/* Redis transport (hiredis): list (LPUSH/RPUSH), channel (PUBLISH) or stream (XADD key * eve
 * <json>), as Suricata's redis output writes them. Commands are pipelined per batch; a record
 * counts as delivered when its reply arrived, so a Redis that dies mid-batch loses nothing it did
 * not acknowledge (with appendfsync always, nothing it did). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "output_priv.h"
#include "tripline_config.h"

#if HAVE_REDIS
#include <hiredis/hiredis.h>

static int redis_connect(struct netout *no)
{
    struct timeval tv = {.tv_sec = 2};
    redisContext *c = redisConnectWithTimeout(no->cfg->address, no->cfg->port, tv);
    if (!c)
        return -ENOMEM;
    if (c->err) {
        redisFree(c);
        return -ECONNREFUSED;
    }
    redisSetTimeout(c, tv);
    no->sink = c;
    return 0;
}

static void redis_disconnect(struct netout *no)
{
    if (no->sink)
        redisFree(no->sink);
    no->sink = NULL;
}

static int redis_send(struct netout *no, struct spool_record **recs, unsigned n, unsigned *acked)
{
    redisContext *c = no->sink;
    const char *key = no->cfg->key;
    *acked = 0;
    if (!c)
        return -ENOTCONN;
    for (unsigned i = 0; i < n; i++) {
        int rc;
        switch (no->cfg->redis_mode) {
        case OUTPUT_REDIS_RPUSH:
            rc = redisAppendCommand(c, "RPUSH %s %b", key, recs[i]->data, (size_t)recs[i]->len);
            break;
        case OUTPUT_REDIS_PUBLISH:
            rc = redisAppendCommand(c, "PUBLISH %s %b", key, recs[i]->data, (size_t)recs[i]->len);
            break;
        case OUTPUT_REDIS_XADD:
            rc = redisAppendCommand(c, "XADD %s * eve %b", key, recs[i]->data, (size_t)recs[i]->len);
            break;
        default:
            rc = redisAppendCommand(c, "LPUSH %s %b", key, recs[i]->data, (size_t)recs[i]->len);
            break;
        }
        if (rc != REDIS_OK)
            return -ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            return -EPIPE;
        bool err = r->type == REDIS_REPLY_ERROR;
        if (err)
            /* LOADING after a restart, MISCONF, OOM...: all retried, never skipped */
            output_log(no->cfg->name, "redis refused record: %s", r->str);
        freeReplyObject(r);
        if (err)
            return -EAGAIN;
        *acked = i + 1;
    }
    return 0;
}

const struct sink_ops sink_redis_ops = {
    .connect = redis_connect, .disconnect = redis_disconnect, .send = redis_send,
    .close = redis_disconnect,
};
#else
static int redis_none(struct netout *no, char *err, size_t errlen)
{
    snprintf(err, errlen, "output %s: built without hiredis", no->cfg->name);
    return -ENOTSUP;
}
const struct sink_ops sink_redis_ops = {.open = redis_none};
#endif
