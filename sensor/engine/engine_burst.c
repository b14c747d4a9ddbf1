/* One worker's stages on one thread (see engine_burst.h); comments here say why. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly.h"
#include "applayer.h"
#include "applayer_eve.h"
#include "engine.h"
#include "engine_burst.h"

#define TICK_NS PIPELINE_TICK_NS
#define EXPIRE_WORK 4096              /* flows ended per expiry call at most */
#define PENDING_BYTES (4u << 20)      /* buffers of the transactions completed in one packet */
#define PENDING_TX 1024
#define SNAP_BYTES (256u << 10)       /* their EVE snapshots (objects of their alerts) */

/* detect_buffers() reads the pending store's buffers in place: struct applayer_buf_ref is
 * documented as struct detect_buffer's layout (applayer.h) */
_Static_assert(sizeof(struct applayer_buf_ref) == sizeof(struct detect_buffer), "layout");
_Static_assert(offsetof(struct applayer_buf_ref, id) == offsetof(struct detect_buffer, id), "id");
_Static_assert(offsetof(struct applayer_buf_ref, data) == offsetof(struct detect_buffer, data), "data");
_Static_assert(offsetof(struct applayer_buf_ref, len) == offsetof(struct detect_buffer, len), "len");

struct pipeline {
    uint16_t id;
    struct decoder_config dc; /* kept to rebuild dec / ft on a reset */
    struct flow_config fc;
    struct decoder *dec;
    struct flow_table *ft;
    struct anomaly_worker *an;
    struct detect_thread *dt;          /* NULL without rules */
    struct applayer_ctx *al;           /* app-layer parsers (with rules: they feed sticky buffers) */
    struct applayer_pending *pending;  /* transactions completed during the current packet */
    struct applayer_eve_store *esnap;  /* their EVE snapshots (objects of their alerts) */
    struct engine_bypass bp;
    /* the caller's emit callback for the call in progress (stages call back into us) */
    event_emit_fn emit;
    void *emit_ctx;
    uint64_t cur_pcap_cnt; /* the packet being inspected (its events' pcap_cnt), 0 between packets */
    /* packet time */
    uint64_t now_ns, next_tick_ns;
    struct pipeline_stats st;
    /* per-run scratch */
    struct pkt_meta meta[ENGINE_BATCH];
    const struct pkt_meta *mp[ENGINE_BATCH];
    struct flow *flows[ENGINE_BATCH];
    enum flow_dir dirs[ENGINE_BATCH];
    uint8_t res[ENGINE_BATCH];
};

/* The emit callback every stage gets: stamps a per-packet event with its packet's number, then
 * hands it to the caller's callback. */
static bool pipeline_emit(void *ctx, const struct event *ev)
{
    struct pipeline *p = ctx;
    struct event stamped;
    if (p->cur_pcap_cnt && ev->pcap_cnt == 0 && ev->type != EVENT_FLOW &&
        ev->type != EVENT_DETECTION) {
        /* a per-packet event (alert, anomaly, app-layer record) names its packet as Suricata's
         * pcap_cnt; flow records and detector alerts belong to no packet */
        stamped = *ev;
        stamped.pcap_cnt = p->cur_pcap_cnt;
        ev = &stamped;
    }
    return p->emit(p->emit_ctx, ev);
}

static inline void pipeline_set_emit(struct pipeline *p, event_emit_fn emit, void *ctx)
{
    p->emit = emit;
    p->emit_ctx = ctx;
}

/* A transaction completed inside detect_packet() (through the stream hook): only remember it;
 * its buffers are matched once the packet's own matching returned (see applayer.h). */
static void pipeline_on_tx(void *ctx, struct flow *f, const struct applayer_tx *tx, enum flow_dir dir)
{
    struct pipeline *p = ctx;
    unsigned idx = applayer_pending_count(p->pending);
    if (applayer_pending_add(p->pending, f, tx, dir))
        applayer_eve_store_put(p->esnap, idx, tx, dir);
}

/* A transaction is complete: its EVE record (http/dns/tls) goes out as chunk events. */
static void pipeline_on_log(void *ctx, struct flow *f, const struct applayer_tx *tx)
{
    struct pipeline *p = ctx;
    applayer_eve_log(f, tx, p->id, pipeline_emit, p);
}

/* Packet metadata standing for a flow's direction, for transactions matched without a packet of
 * that direction at hand (the other direction's packet, or the flow's end). */
static void pseudo_meta(struct pkt_meta *pm, const struct flow *f, enum flow_dir d)
{
    memset(pm, 0, sizeof(*pm));
    pm->ts_ns = f->last_ns;
    pm->ip_version = f->key.ip_version;
    pm->proto = f->key.proto;
    pm->flags = PKT_HAS_L4 | (f->key.ip_version == 6 ? PKT_IPV6 : PKT_IPV4) |
                (f->key.proto == 6 ? PKT_TCP : f->key.proto == 17 ? PKT_UDP : 0);
    int cs = f->client_side & 1;
    int sd = d == FLOW_TO_SERVER ? cs : !cs;
    memcpy(pm->src, f->key.addr[sd], 16);
    memcpy(pm->dst, f->key.addr[!sd], 16);
    pm->sport = f->key.port[sd];
    pm->dport = f->key.port[!sd];
}

/* Matches the sticky buffers of the transactions completed while handling packet m (or at the
 * end of a flow: m NULL). */
static void pipeline_run_pending(struct pipeline *p, const struct pkt_meta *m, enum flow_dir mdir)
{
    unsigned n = applayer_pending_count(p->pending);
    for (unsigned i = 0; i < n; i++) {
        struct flow *f;
        enum flow_dir dir;
        uint64_t tx_id;
        const struct applayer_buf_ref *bufs;
        unsigned nb;
        applayer_pending_get(p->pending, i, &f, &dir, &tx_id, &bufs, &nb);
        struct pkt_meta pm;
        const struct pkt_meta *use = m;
        if (!m || mdir != dir) {
            pseudo_meta(&pm, f, dir);
            use = &pm;
        }
        /* struct applayer_buf_ref has struct detect_buffer's layout (applayer.h) */
        /* its alerts carry the transaction's http/dns/tls object (applayer_eve.h) */
        struct applayer_eve_alerts ea = {.emit = pipeline_emit, .emit_ctx = p, .worker = p->id};
        applayer_eve_store_get(p->esnap, i, &ea.snap, &ea.len);
        detect_buffers(p->dt, use, f, dir, (const struct detect_buffer *)bufs, nb, tx_id,
                       applayer_eve_alerts_emit, &ea);
    }
    applayer_pending_clear(p->pending);
    applayer_eve_store_clear(p->esnap);
}

static void pipeline_flow_end(void *ctx, struct flow *f)
{
    struct pipeline *p = ctx;
    if (p->dt)
        detect_flow_end(p->dt, f, pipeline_emit, p); /* flushes the stream tails through matching */
    if (p->al) {
        applayer_flow_end(p->al, f);
        pipeline_run_pending(p, NULL, FLOW_TO_SERVER);
    }
    if (p->an)
        anomaly_flow_end(p->an, f);
    struct event ev;
    flow_to_event(f, &ev);
    if (f->detect_flags & DETECT_FLOW_MIDSTREAM) /* not reassembled: picked up mid-stream */
        ev.u.flow.exception_policy |= EVENT_EXC_MIDSTREAM_IGNORE;
    ev.worker = p->id;
    if (f->bypass)
        engine_bypass_flow_end(&p->bp, f, &ev); /* the capture's counters of the flow */
    pipeline_emit(p, &ev);
}

/* Periodic work at packet time now: flow expiry (the flow table's timer wheel makes a call
 * free unless a second passed), and every TICK_NS the decoder's and the anomaly stage's. Runs
 * before the packets of that time are processed, so that a flow idle past its timeout ends
 * before its next packet whatever the worker count (determinism). */
static void advance(struct pipeline *p, uint64_t now)
{
    if (now <= p->now_ns)
        return;
    p->now_ns = now;
    flow_table_expire(p->ft, now, EXPIRE_WORK);
    if (now >= p->next_tick_ns) {
        decoder_expire(p->dec, now);
        if (p->an)
            anomaly_tick(p->an, now, pipeline_emit, p);
        p->next_tick_ns = (now / TICK_NS + 1) * TICK_NS;
    }
}

static void emit_decode_anomaly(struct pipeline *p, const struct pkt_meta *m)
{
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_ANOMALY;
    ev.worker = p->id;
    ev.ts_ns = m->ts_ns;
    if (m->ip_version == 4 || m->ip_version == 6) {
        memcpy(ev.ref.src, m->src, 16);
        memcpy(ev.ref.dst, m->dst, 16);
        ev.ref.ip_version = m->ip_version;
        ev.ref.proto = m->proto;
        if (m->flags & PKT_HAS_L4) {
            ev.ref.sport = m->sport;
            ev.ref.dport = m->dport;
        }
    }
    ev.ref.vlan_count = m->vlan_count;
    ev.ref.vlan[0] = m->vlan[0];
    ev.ref.vlan[1] = m->vlan[1];
    ev.u.anomaly.code = (uint16_t)m->reason;
    ev.u.anomaly.layer = 0;
    pipeline_emit(p, &ev);
}

/* Packets are taken in runs that stay inside one tick of packet time (periodic work runs
 * between runs) and stop after a reassembled datagram (its meta points into the decoder's
 * buffer, valid only until the next decode). Each run is decoded, then the flow table is
 * updated as a burst (bucket prefetch), then the later stages run packet by packet. */
unsigned pipeline_burst(struct pipeline *p, const struct dp_packet *pkts, const uint64_t *pcap_cnt,
                        unsigned n, event_emit_fn emit, void *ctx)
{
    pipeline_set_emit(p, emit, ctx);
    unsigned i = 0;
    while (i < n) {
        uint64_t tick = pkts[i].ts_ns / TICK_NS;
        advance(p, pkts[i].ts_ns);
        unsigned k = 0, ok = 0;
        while (i + k < n && k < ENGINE_BATCH) {
            const struct dp_packet *pk = &pkts[i + k];
            if (k > 0 && pk->ts_ns / TICK_NS > tick)
                break;
            struct pkt_meta *m = &p->meta[k];
            enum decode_result r = decode_packet(p->dec, pk, m);
            p->res[k] = (uint8_t)r;
            p->st.packets++;
            p->st.bytes += pk->wirelen;
            k++;
            if (r == DECODE_OK)
                p->mp[ok++] = m;
            if (r == DECODE_OK && (m->flags & PKT_REASSEMBLED))
                break;
        }
        if (ok)
            flow_table_update_burst(p->ft, p->mp, ok, p->flows, p->dirs);
        /* the anomaly stage takes the run at once (it prefetches its entries for the run, then
         * accounts the packets in order; it emits nothing per packet and reads no other
         * stage's state, so running it before them is the same) */
        if (p->an)
            anomaly_burst(p->an, p->meta, p->res, k, p->flows, p->dirs);
        unsigned j = 0;
        for (unsigned x = 0; x < k; x++) {
            const struct pkt_meta *m = &p->meta[x];
            p->cur_pcap_cnt = pcap_cnt ? pcap_cnt[i + x] : 0;
            if (p->res[x] == DECODE_OK) {
                struct flow *f = p->flows[j];
                enum flow_dir d = p->dirs[j];
                j++;
                if (f && f->bypass) {
                    engine_bypass_packet(&p->bp, m); /* bypassed: counted, not inspected */
                } else {
                    if (p->al && f && (m->flags & PKT_UDP) && m->payload_len)
                        applayer_udp_data(p->al, f, d, m->payload, m->payload_len, m->ts_ns);
                    if (p->dt)
                        detect_packet(p->dt, m, f, d, pipeline_emit, p);
                    if (p->al && applayer_pending_count(p->pending))
                        pipeline_run_pending(p, m, d);
                    if (f)
                        engine_bypass_check(&p->bp, p->dt, f); /* rule `bypass`, bypass-after */
                }
            } else if (p->res[x] == DECODE_INVALID) {
                p->st.invalid++;
                emit_decode_anomaly(p, m);
                continue;
            }
            /* a note on a valid or held packet (frag.overlap, tcp.bad_flags, snaplen cut...) */
            if (m->reason != DEC_NONE) {
                p->st.dec_notes++;
                emit_decode_anomaly(p, m);
            }
        }
        p->cur_pcap_cnt = 0;
        i += k;
    }
    return n;
}

void pipeline_advance(struct pipeline *p, uint64_t now_ns, event_emit_fn emit, void *ctx)
{
    pipeline_set_emit(p, emit, ctx);
    advance(p, now_ns);
}

void pipeline_flush(struct pipeline *p, event_emit_fn emit, void *ctx)
{
    pipeline_set_emit(p, emit, ctx);
    flow_table_flush(p->ft);
}

int pipeline_reset(struct pipeline *p)
{
    struct flow_table *nft = flow_table_new(&p->fc, pipeline_flow_end, p);
    struct decoder *nd = decoder_new(&p->dc);
    int rc = 0;
    if (nft && nd) {
        flow_table_free(p->ft);
        decoder_free(p->dec);
        p->ft = nft;
        p->dec = nd;
    } else {
        /* out of memory: keep the old (empty) state; timeouts may then run late */
        flow_table_free(nft);
        decoder_free(nd);
        rc = -ENOMEM;
    }
    p->now_ns = 0;
    p->next_tick_ns = 0;
    return rc;
}

void pipeline_config_default(struct pipeline_config *pc)
{
    memset(pc, 0, sizeof(*pc));
    decoder_config_default(&pc->dc);
    flow_config_default(&pc->fc);
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    flow_table_free(p->ft);
    detect_thread_free(p->dt);
    applayer_ctx_free(p->al);
    applayer_eve_store_free(p->esnap);
    applayer_pending_free(p->pending);
    decoder_free(p->dec);
    /* the anomaly worker belongs to the shared state (anomaly_shared_free) */
    free(p);
}

struct pipeline *pipeline_new(const struct pipeline_config *pc)
{
    struct pipeline *p = aligned_alloc(64, (sizeof(struct pipeline) + 63) & ~(size_t)63);
    if (!p)
        return NULL;
    memset(p, 0, sizeof(*p));
    p->id = pc->worker_id;
    p->dc = pc->dc;
    p->fc = pc->fc;
    if (!(p->dec = decoder_new(&p->dc)) || !(p->ft = flow_table_new(&p->fc, pipeline_flow_end, p)))
        goto oom;
    if (pc->ash && !(p->an = anomaly_worker_new(pc->ash, pc->worker_id)))
        goto oom;
    if (pc->de) {
        if (!(p->dt = detect_thread_new(pc->de)) || !(p->al = applayer_ctx_new(NULL)) ||
            !(p->pending = applayer_pending_new(PENDING_BYTES, PENDING_TX)) ||
            !(p->esnap = applayer_eve_store_new(SNAP_BYTES, PENDING_TX)))
            goto oom;
        applayer_ctx_set_callbacks(p->al, pipeline_on_tx, p, pipeline_emit, p);
        applayer_ctx_set_log_callback(p->al, pipeline_on_log, p);
        detect_thread_set_stream_hook(p->dt, applayer_stream_deliver, p->al);
    }
    return p;
oom:
    pipeline_free(p);
    return NULL;
}

const struct pipeline_stats *pipeline_get_stats(const struct pipeline *p)
{
    return &p->st;
}

const struct flow_table_stats *pipeline_flow_stats(const struct pipeline *p)
{
    return flow_table_get_stats(p->ft);
}

const struct decoder_stats *pipeline_decoder_stats(const struct pipeline *p)
{
    return decoder_get_stats(p->dec);
}

const struct applayer_stats *pipeline_applayer_stats(const struct pipeline *p)
{
    return p->al ? applayer_get_stats(p->al) : NULL;
}

uint64_t pipeline_pending_dropped(const struct pipeline *p)
{
    return p->pending ? applayer_pending_dropped(p->pending) : 0;
}

struct engine_bypass *pipeline_bypass(struct pipeline *p)
{
    return &p->bp;
}

struct flow_table *pipeline_flow_table(struct pipeline *p)
{
    return p->ft;
}

struct detect_thread *pipeline_detect_thread(const struct pipeline *p)
{
    return p->dt;
}

void pipeline_set_detect_thread(struct pipeline *p, struct detect_thread *dt)
{
    p->dt = dt;
}

uint64_t pipeline_now(const struct pipeline *p)
{
    return p->now_ns;
}
