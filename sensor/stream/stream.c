/* Bounded TCP reassembly per direction (see stream.h). */
#include <stdlib.h>
#include <string.h>

#include "stream.h"

#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10
#define NIL UINT32_MAX

struct ooo_seg {
    uint32_t seq, len;
    uint32_t next; /* next queued segment of the direction (by seq) or next free slot */
};

struct stream_dir {
    uint32_t isn;       /* first sequence number of data minus 1 (SYN's seq) */
    uint32_t next_seq;  /* next byte expected in order */
    uint64_t offset;    /* stream offset of next_seq */
    uint32_t win_len;
    uint32_t ooo_head;  /* first queued slot (lowest seq), NIL if none */
    uint16_t n_ooo;
    bool gap_pending;   /* the next delivered bytes follow a hole */
    bool depth_reached;
    bool peer_acked;    /* peer_ack is valid */
    uint32_t peer_ack;  /* highest ACK the other side sent for this direction's bytes */
    uint32_t free_next; /* pool free list */
    uint8_t *win;       /* the window: win_len bytes in buf */
    uint8_t *buf;       /* window + room bytes: new data is appended after the window and
                           delivered in place, the window slides forward in it and is moved
                           back to buf's start only when the room is used up */
};

struct stream_ctx {
    struct stream_config cfg;
    struct stream_dir *dirs;
    uint8_t *win_mem;
    uint32_t free_dir;
    struct ooo_seg *segs;
    uint8_t *seg_mem;
    uint32_t free_seg;
    uint32_t buf_size;           /* window + room */
    bool inplace_out;            /* an in-place chunk was delivered during this call: buffers
                                    are not compacted before the call returns */
    bool last_hint;              /* the next deliver_run() is the call's last chunk */
    struct stream_dir untracked; /* f->stream[] marker: flow not reassembled */
    struct stream_stats st;
};

const char *stream_anomaly_name(enum stream_anomaly a)
{
    switch (a) {
    case STREAM_ANOM_OVERLAP: return "stream.reassembly_overlap_different_data";
    case STREAM_ANOM_OOO_FULL: return "stream.reassembly_seq_gap";
    case STREAM_ANOM_SEGMENT_TOO_BIG: return "stream.reassembly_segment_truncated";
    case STREAM_ANOM_NO_STATE: return "stream.reassembly_no_state";
    default: return "stream.unknown";
    }
}

void stream_config_default(struct stream_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_dirs = 32768;
    cfg->window = 1024;
    cfg->max_ooo = 32;
    cfg->ooo_slots = 4096;
    cfg->ooo_slot_size = 2048;
    cfg->depth = 1u << 20;
    cfg->room = 0; /* in place off: see stream.h */
    cfg->midstream = false;
}

struct stream_ctx *stream_ctx_new(const struct stream_config *cfg)
{
    if (!cfg || cfg->max_dirs == 0 || cfg->max_dirs >= NIL || cfg->ooo_slots >= NIL ||
        cfg->window > (1u << 20) || cfg->room > (1u << 20) || cfg->ooo_slot_size > (1u << 20))
        return NULL;
    struct stream_ctx *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return NULL;
    sc->cfg = *cfg;
    sc->dirs = calloc(cfg->max_dirs, sizeof(*sc->dirs));
    sc->buf_size = cfg->window ? cfg->window + cfg->room : 1;
    sc->win_mem = malloc((size_t)cfg->max_dirs * sc->buf_size);
    sc->segs = calloc(cfg->ooo_slots ? cfg->ooo_slots : 1, sizeof(*sc->segs));
    sc->seg_mem = malloc((size_t)(cfg->ooo_slots ? cfg->ooo_slots : 1) *
                         (cfg->ooo_slot_size ? cfg->ooo_slot_size : 1));
    if (!sc->dirs || !sc->win_mem || !sc->segs || !sc->seg_mem) {
        stream_ctx_free(sc);
        return NULL;
    }
    for (uint32_t i = 0; i < cfg->max_dirs; i++) {
        sc->dirs[i].free_next = i + 1 < cfg->max_dirs ? i + 1 : NIL;
        sc->dirs[i].buf = sc->win_mem + (size_t)i * sc->buf_size;
        sc->dirs[i].win = sc->dirs[i].buf;
    }
    sc->free_dir = 0;
    for (uint32_t i = 0; i < cfg->ooo_slots; i++)
        sc->segs[i].next = i + 1 < cfg->ooo_slots ? i + 1 : NIL;
    sc->free_seg = cfg->ooo_slots ? 0 : NIL;
    return sc;
}

void stream_ctx_free(struct stream_ctx *sc)
{
    if (!sc)
        return;
    free(sc->dirs);
    free(sc->win_mem);
    free(sc->segs);
    free(sc->seg_mem);
    free(sc);
}

const struct stream_stats *stream_get_stats(const struct stream_ctx *sc)
{
    return &sc->st;
}

static inline uint8_t *seg_data(struct stream_ctx *sc, uint32_t i)
{
    return sc->seg_mem + (size_t)i * sc->cfg.ooo_slot_size;
}

static void raise_anomaly(const struct pkt_meta *m, struct flow *f, enum stream_anomaly a,
                          event_emit_fn emit, void *ctx)
{
    if (!emit || !m)
        return;
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_ANOMALY;
    ev.ts_ns = m->ts_ns;
    memcpy(ev.ref.src, m->src, 16);
    memcpy(ev.ref.dst, m->dst, 16);
    ev.ref.sport = m->sport;
    ev.ref.dport = m->dport;
    ev.ref.vlan[0] = m->vlan[0];
    ev.ref.vlan[1] = m->vlan[1];
    ev.ref.vlan_count = m->vlan_count;
    ev.ref.proto = m->proto;
    ev.ref.ip_version = m->ip_version;
    if (f) {
        ev.ref.flow_id = f->flow_id;
        ev.ref.has_flow = 1;
        ev.ref.app_proto = f->app_proto;
    }
    ev.u.anomaly.code = (uint16_t)a;
    ev.u.anomaly.layer = 1;
    emit(ctx, &ev);
}

/* Hands data to the consumer, then slides the window. */
static void deliver_run(struct stream_ctx *sc, struct stream_dir *sd, struct flow *f,
                        enum flow_dir dir, const uint8_t *data, uint32_t len,
                        stream_deliver_fn deliver, void *dctx)
{
    if (len == 0)
        return;
    if (sc->cfg.depth) {
        if (sd->offset >= sc->cfg.depth) {
            if (!sd->depth_reached)
                sc->st.depth_reached++;
            sd->depth_reached = true;
            return;
        }
        if (sd->offset + len > sc->cfg.depth) {
            len = (uint32_t)(sc->cfg.depth - sd->offset);
            sd->depth_reached = true;
            sc->st.depth_reached++;
        }
    }
    uint32_t W = sc->cfg.window;
    if (sd->gap_pending)
        sd->win_len = 0;
    /* In place: the new bytes go right after the window in buf, so the consumer gets window
     * and data as one run without copying them (one copy instead of two or three). The window
     * moves back to buf's start when the room is used up, but not while a chunk delivered in
     * place during this call may still be read by the consumer. */
    bool inplace = false;
    if (W && len <= sc->cfg.room) {
        uint32_t end = (uint32_t)(sd->win - sd->buf) + sd->win_len;
        if (end + len > sc->buf_size && !sc->inplace_out) {
            memmove(sd->buf, sd->win, sd->win_len);
            sd->win = sd->buf;
            end = sd->win_len;
        }
        if (end + len <= sc->buf_size) {
            memcpy(sd->buf + end, data, len);
            data = sd->buf + end;
            inplace = true;
            sc->inplace_out = true;
        }
    }
    if (deliver) {
        struct stream_chunk ch = {
            .data = data, .len = len,
            .prev = sd->gap_pending ? NULL : sd->win,
            .prev_len = sd->gap_pending ? 0 : sd->win_len,
            .offset = sd->offset,
            .gap_before = sd->gap_pending,
            .inplace = inplace,
            .last = sc->last_hint,
        };
        deliver(dctx, f, dir, &ch);
    }
    sc->st.bytes_delivered += len;
    sc->st.chunks++;
    sd->gap_pending = false;
    sd->next_seq += len;
    sd->offset += len;
    if (W == 0)
        return;
    if (inplace) {
        uint32_t n = sd->win_len + len > W ? W : sd->win_len + len;
        sd->win = (uint8_t *)data + len - n;
        sd->win_len = n;
    } else if (len >= W) {
        memcpy(sd->buf, data + len - W, W);
        sd->win = sd->buf;
        sd->win_len = W;
    } else {
        uint32_t keep = sd->win_len + len > W ? W - len : sd->win_len;
        memmove(sd->buf, sd->win + sd->win_len - keep, keep);
        memcpy(sd->buf + keep, data, len);
        sd->win = sd->buf;
        sd->win_len = keep + len;
    }
}

/* Delivers queued segments that are now in order (trimming what was already delivered). With
 * skip_gaps, holes are skipped too. */
static void drain(struct stream_ctx *sc, struct stream_dir *sd, struct flow *f, enum flow_dir dir,
                  bool skip_gaps, stream_deliver_fn deliver, void *dctx)
{
    while (sd->ooo_head != NIL) {
        uint32_t i = sd->ooo_head;
        struct ooo_seg *s = &sc->segs[i];
        int32_t d = (int32_t)(s->seq - sd->next_seq);
        if (d > 0) {
            if (!skip_gaps)
                break;
            sc->st.gaps++;
            sd->next_seq = s->seq;
            sd->offset += (uint32_t)d;
            sd->gap_pending = true;
            sd->win_len = 0;
            d = 0;
        }
        uint32_t skip = (uint32_t)(-d);
        if (skip < s->len)
            deliver_run(sc, sd, f, dir, seg_data(sc, i) + skip, s->len - skip, deliver, dctx);
        sd->ooo_head = s->next;
        sd->n_ooo--;
        s->next = sc->free_seg;
        sc->free_seg = i;
    }
}

/* Compares new bytes [seq, seq+len) with what is already held for the same sequence space:
 * the window (delivered data) and queued segments. */
static bool overlap_differs(struct stream_ctx *sc, struct stream_dir *sd, uint32_t seq,
                            const uint8_t *data, uint32_t len)
{
    /* window covers [next_seq - win_len, next_seq) */
    uint32_t wstart = sd->next_seq - sd->win_len;
    for (uint32_t k = 0; k < len; k++) {
        uint32_t s = seq + k;
        if ((int32_t)(s - wstart) >= 0 && (int32_t)(s - sd->next_seq) < 0) {
            if (sd->win[s - wstart] != data[k])
                return true;
        }
    }
    for (uint32_t i = sd->ooo_head; i != NIL; i = sc->segs[i].next) {
        const struct ooo_seg *q = &sc->segs[i];
        const uint8_t *qd = seg_data(sc, i);
        int32_t a = (int32_t)(q->seq - seq);
        uint32_t from = a > 0 ? (uint32_t)a : 0;
        for (uint32_t k = from; k < len; k++) {
            uint32_t off = k - (uint32_t)a; /* position in q */
            if ((int32_t)(seq + k - q->seq) < 0)
                continue;
            if (off >= q->len)
                break;
            if (qd[off] != data[k])
                return true;
        }
    }
    return false;
}

static void free_dir(struct stream_ctx *sc, struct stream_dir *sd)
{
    while (sd->ooo_head != NIL) {
        uint32_t i = sd->ooo_head;
        sd->ooo_head = sc->segs[i].next;
        sc->segs[i].next = sc->free_seg;
        sc->free_seg = i;
    }
    sd->free_next = sc->free_dir;
    sc->free_dir = (uint32_t)(sd - sc->dirs);
    sc->st.dirs_in_use--;
}

static struct stream_dir *alloc_dir(struct stream_ctx *sc)
{
    if (sc->free_dir == NIL)
        return NULL;
    struct stream_dir *sd = &sc->dirs[sc->free_dir];
    sc->free_dir = sd->free_next;
    uint8_t *buf = sd->buf;
    memset(sd, 0, sizeof(*sd));
    sd->buf = buf;
    sd->win = buf;
    sd->ooo_head = NIL;
    sc->st.dirs_in_use++;
    return sd;
}

enum stream_result stream_packet(struct stream_ctx *sc, struct flow *f, enum flow_dir dir,
                                 const struct pkt_meta *m, stream_deliver_fn deliver,
                                 void *dctx, event_emit_fn emit, void *emit_ctx)
{
    if (!f || !(m->flags & PKT_TCP) || !(m->flags & PKT_HAS_L4))
        return STREAM_NOT_TRACKED;
    sc->st.packets++;
    sc->inplace_out = false;
    struct stream_dir *sd = f->stream[dir];
    if (sd == &sc->untracked)
        return STREAM_NOT_TRACKED;
    bool syn = (m->tcp_flags & TH_SYN) != 0;
    if (!f->stream[0] && !f->stream[1]) {
        /* first packet the reassembler sees of this flow: Suricata's stream.midstream */
        if (!(syn && !(m->tcp_flags & TH_ACK)) && !sc->cfg.midstream) {
            f->stream[0] = f->stream[1] = &sc->untracked;
            sc->st.midstream_skipped++;
            return STREAM_NOT_TRACKED;
        }
    }
    if (!sd) {
        sd = alloc_dir(sc);
        if (!sd) {
            sc->st.no_state++;
            raise_anomaly(m, f, STREAM_ANOM_NO_STATE, emit, emit_ctx);
            if (f->stream[dir ^ 1] == NULL)
                f->stream[0] = f->stream[1] = &sc->untracked;
            return STREAM_NOT_TRACKED;
        }
        f->stream[dir] = sd;
        sd->isn = syn ? m->tcp_seq : m->tcp_seq - 1;
        sd->next_seq = sd->isn + 1;
    }
    if (m->tcp_flags & TH_ACK) {
        /* what the other direction may consider acknowledged (flow-end flush, see
         * stream_dir_unacked) */
        struct stream_dir *po = f->stream[dir ^ 1];
        if (po && po != &sc->untracked &&
            (!po->peer_acked || (int32_t)(m->tcp_ack - po->peer_ack) > 0)) {
            po->peer_ack = m->tcp_ack;
            po->peer_acked = true;
        }
    }
    uint32_t seq = m->tcp_seq + (syn ? 1 : 0);
    const uint8_t *data = m->payload;
    uint32_t len = m->payload_len;
    if (len == 0 || (m->tcp_flags & TH_RST))
        return STREAM_ADDED;
    if (sd->depth_reached)
        return STREAM_NOT_TRACKED;

    int32_t d = (int32_t)(seq - sd->next_seq);
    if (d < 0 || sd->ooo_head != NIL) {
        if (overlap_differs(sc, sd, seq, data, len)) {
            sc->st.overlaps_different++;
            raise_anomaly(m, f, STREAM_ANOM_OVERLAP, emit, emit_ctx);
        }
    }
    if (d < 0) {
        uint32_t old = (uint32_t)(-d);
        sc->st.overlaps++;
        if (old >= len) {
            sc->st.retransmits++;
            return STREAM_ADDED;
        }
        data += old;
        len -= old;
        seq += old;
        d = 0;
    }
    if (d == 0) {
        sc->last_hint = sd->ooo_head == NIL; /* drain() then delivers nothing */
        deliver_run(sc, sd, f, dir, data, len, deliver, dctx);
        sc->last_hint = false;
        drain(sc, sd, f, dir, false, deliver, dctx);
        return STREAM_ADDED;
    }
    /* out of order: queue it */
    if (sd->n_ooo >= sc->cfg.max_ooo || sc->free_seg == NIL) {
        /* no room: skip the hole up to what is queued, then carry on */
        sc->st.gaps++;
        raise_anomaly(m, f, STREAM_ANOM_OOO_FULL, emit, emit_ctx);
        drain(sc, sd, f, dir, true, deliver, dctx);
        d = (int32_t)(seq - sd->next_seq);
        if (d < 0) {
            uint32_t old = (uint32_t)(-d);
            if (old >= len)
                return STREAM_ADDED;
            data += old;
            len -= old;
            seq += old;
            d = 0;
        }
        if (d > 0) {
            sd->offset += (uint32_t)d;
            sd->next_seq = seq;
            sd->gap_pending = true;
            sd->win_len = 0;
        }
        deliver_run(sc, sd, f, dir, data, len, deliver, dctx);
        return STREAM_ADDED;
    }
    if (len > sc->cfg.ooo_slot_size) {
        sc->st.truncated++;
        raise_anomaly(m, f, STREAM_ANOM_SEGMENT_TOO_BIG, emit, emit_ctx);
        len = sc->cfg.ooo_slot_size;
    }
    /* insert sorted by seq; an exact duplicate of a queued segment is dropped (first wins) */
    uint32_t *link = &sd->ooo_head;
    while (*link != NIL) {
        struct ooo_seg *q = &sc->segs[*link];
        if (q->seq == seq && q->len >= len) {
            sc->st.retransmits++;
            return STREAM_ADDED;
        }
        if ((int32_t)(q->seq - seq) > 0)
            break;
        link = &q->next;
    }
    uint32_t i = sc->free_seg;
    sc->free_seg = sc->segs[i].next;
    sc->segs[i].seq = seq;
    sc->segs[i].len = len;
    memcpy(seg_data(sc, i), data, len);
    sc->segs[i].next = *link;
    *link = i;
    sd->n_ooo++;
    sc->st.ooo_queued++;
    return STREAM_ADDED;
}

void stream_flow_end(struct stream_ctx *sc, struct flow *f, stream_deliver_fn deliver,
                     void *dctx)
{
    if (!f)
        return;
    sc->inplace_out = false;
    for (int d = 0; d < 2; d++) {
        struct stream_dir *sd = f->stream[d];
        if (sd && sd != &sc->untracked) {
            drain(sc, sd, f, (enum flow_dir)d, true, deliver, dctx);
            free_dir(sc, sd);
        }
        f->stream[d] = NULL;
    }
}

bool stream_dir_size(const struct stream_ctx *sc, const struct flow *f, enum flow_dir dir,
                     uint64_t *bytes)
{
    const struct stream_dir *sd = f->stream[dir];
    if (!sd || sd == &sc->untracked)
        return false;
    *bytes = sd->offset + 1;
    return true;
}

bool stream_flow_untracked(const struct stream_ctx *sc, const struct flow *f)
{
    return f->stream[0] == &sc->untracked;
}

uint32_t stream_dir_unacked(const struct stream_ctx *sc, const struct flow *f, enum flow_dir dir,
                            const uint8_t **data)
{
    const struct stream_dir *sd = f->stream[dir];
    if (!sd || sd == &sc->untracked || sd->win_len == 0)
        return 0;
    uint32_t n = sd->win_len;
    if (sd->peer_acked) {
        int32_t u = (int32_t)(sd->next_seq - sd->peer_ack);
        if (u <= 0)
            return 0;
        if ((uint32_t)u < n)
            n = (uint32_t)u;
    }
    *data = sd->win + sd->win_len - n;
    return n;
}
