/* Shared body of the applayer libFuzzer harnesses (http, dns, tls): the input is a sequence of
 * chunks, each a header byte (bit 7: direction, bits 0-6: length) and that many bytes, fed to
 * one flow as TCP stream chunks (or UDP datagrams for the dns harness's odd inputs). Every
 * buffer of every transaction handed over is read in full (so ASan sees a bad span), and after
 * the flow ends every pooled state and buffer must be back in its pool. */
#ifndef TRIPLINE_APPLAYER_FUZZ_H
#define TRIPLINE_APPLAYER_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "applayer.h"
#include "applayer_eve.h"
#include "json_writer.h"

static volatile uint8_t fuzz_sink;

/* EVE: hostile fields through the snapshot and the JSON writer */
static void fuzz_eve(const struct applayer_tx *tx, enum flow_dir dir)
{
    static uint8_t snap[APPLAYER_EVE_SNAPSHOT_MAX];
    static char line[16384];
    size_t n = applayer_eve_snapshot(tx, dir, snap, sizeof(snap));
    struct json_writer w;
    json_writer_init(&w, line, sizeof(line));
    jw_open_object(&w);
    if (n)
        applayer_eve_write(&w, snap, n);
    jw_close_object(&w);
    fuzz_sink ^= (uint8_t)json_writer_finish(&w);
}

static void fuzz_on_log(void *ctx, struct flow *f, const struct applayer_tx *tx)
{
    (void)ctx;
    (void)f;
    fuzz_eve(tx, FLOW_TO_CLIENT);
}

static void fuzz_on_tx(void *ctx, struct flow *f, const struct applayer_tx *tx, enum flow_dir dir)
{
    (void)ctx;
    (void)f;
    fuzz_eve(tx, dir);
    uint8_t acc = 0;
    for (int b = 1; b < APP_BUF_MAX; b++) {
        for (uint32_t idx = 0; idx < 4; idx++) {
            const uint8_t *p;
            uint32_t l;
            if (!applayer_tx_buffer(tx, (enum app_buffer)b, dir, idx, &p, &l))
                break;
            for (uint32_t i = 0; i < l; i++)
                acc ^= p[i];
        }
    }
    uint64_t v;
    for (int i = 0; i < APP_INT_MAX; i++)
        if (applayer_tx_int(tx, (enum app_int)i, &v))
            acc ^= (uint8_t)v;
    struct applayer_dns_rr rr;
    for (unsigned sec = 0; sec < 2; sec++)
        for (uint32_t i = 0; applayer_tx_dns_rr(tx, sec, i, &rr); i++)
            for (uint32_t k = 0; k < rr.name_len; k++)
                acc ^= rr.name[k] ^ (rr.rdata_len > k ? rr.rdata[k] : 0);
    fuzz_sink ^= acc;
}

static bool fuzz_emit(void *ctx, const struct event *ev)
{
    (void)ctx;
    fuzz_sink ^= (uint8_t)ev->u.anomaly.code;
    return true;
}

static struct applayer_ctx *fuzz_ctx(void)
{
    static struct applayer_ctx *ctx;
    if (!ctx) {
        struct applayer_config cfg;
        applayer_config_default(&cfg);
        /* small pools and limits so exhaustion and truncation paths are reached */
        cfg.max_states = 4;
        cfg.max_buffers = 6;
        cfg.buffer_size = 8192;
        cfg.max_inflate = 1;
        cfg.http_header_limit = 2048;
        cfg.http_request_body_limit = 1024;
        cfg.http_response_body_limit = 2048;
        cfg.http_max_tx = 3;
        cfg.dns_max_records = 16;
        ctx = applayer_ctx_new(&cfg);
        if (!ctx)
            abort();
        applayer_ctx_set_callbacks(ctx, fuzz_on_tx, NULL, fuzz_emit, NULL);
        applayer_ctx_set_log_callback(ctx, fuzz_on_log, NULL);
    }
    return ctx;
}

static void fuzz_flow(const uint8_t *data, size_t size, uint8_t l4, uint16_t sport, bool udp)
{
    struct applayer_ctx *ctx = fuzz_ctx();
    struct flow f;
    memset(&f, 0, sizeof(f));
    f.key.proto = l4;
    f.key.ip_version = 4;
    f.key.port[0] = 40000;
    f.key.port[1] = sport;
    size_t p = 0;
    while (p < size) {
        uint8_t h = data[p++];
        size_t n = h & 0x7f;
        if (n > size - p)
            n = size - p;
        enum flow_dir dir = (h & 0x80) ? FLOW_TO_CLIENT : FLOW_TO_SERVER;
        if (udp)
            applayer_udp_data(ctx, &f, dir, data + p, (uint32_t)n, p);
        else
            applayer_tcp_data(ctx, &f, dir, data + p, (uint32_t)n, p);
        p += n;
    }
    applayer_flow_end(ctx, &f);
    const struct applayer_stats *st = applayer_get_stats(ctx);
    if (st->states_in_use || st->buffers_in_use)
        abort(); /* pooled memory leaked past the flow's end */
}

#endif
