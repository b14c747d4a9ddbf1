/* TCP stream reassembly: each direction of a TCP flow as an in-order byte stream, for matching.
 *
 * One stream_ctx per worker, owned by that worker's thread. All memory is reserved at
 * stream_ctx_new(): a pool of per-direction states (each keeping the last `window` bytes of its
 * stream, so a content split across segments is seen whole) and a pool of out-of-order segment
 * slots. Nothing is allocated per packet. When a pool is empty the flow goes unreassembled (its
 * packets are then inspected one by one) and that is counted.
 *
 * Out-of-order segments wait in a bounded queue per direction (max_ooo segments); when the queue
 * is full, or the flow ends, the reassembler skips the hole (a gap, counted and flagged to the
 * consumer). Overlapping segments that carry different bytes for the same sequence space are a
 * known evasion: counted and raised as an EVENT_ANOMALY (layer 1, code STREAM_ANOM_OVERLAP); the
 * first copy received wins, since it is the one that was inspected.
 *
 * Mid-stream pickup follows Suricata's default (stream.midstream = false): a TCP flow whose first
 * packet seen is not a SYN is not reassembled at all, and its packets are inspected one by one.
 * With midstream = true reassembly starts at the first packet seen.
 */
#ifndef TRIPLINE_STREAM_H
#define TRIPLINE_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "decode.h"
#include "event.h"
#include "flow.h"

enum stream_anomaly {
    STREAM_ANOM_NONE = 0,
    STREAM_ANOM_OVERLAP,      /* "stream.reassembly_overlap_different_data" */
    STREAM_ANOM_OOO_FULL,     /* out-of-order queue full: a gap was skipped */
    STREAM_ANOM_SEGMENT_TOO_BIG, /* out-of-order segment larger than a slot: truncated */
    STREAM_ANOM_NO_STATE,     /* state pool empty: flow not reassembled */
    STREAM_ANOM_MAX
};

/* Name as written in EVE anomaly events' `event` field, e.g.
 * "stream.reassembly_overlap_different_data". */
const char *stream_anomaly_name(enum stream_anomaly a);

struct stream_config {
    uint32_t max_dirs;      /* direction states per worker (2 per flow) */
    uint32_t window;        /* bytes kept before new data for matching across segments */
    uint32_t room;          /* bytes per direction after the window where new in-order data is
                               placed and delivered in place (window + data as one run, no copy
                               for the consumer); a larger run is delivered from where it is.
                               0 (default): never in place. Measured (bench_detect, 2-CPU VM):
                               1536 gave +5-7% on the generated 512-byte cases but -35% on
                               throughput_mix without rules (2.5x the window memory per
                               direction, touched for the first time per new flow) */
    uint32_t max_ooo;       /* out-of-order segments queued per direction */
    uint32_t ooo_slots;     /* out-of-order segment slots per worker */
    uint32_t ooo_slot_size; /* bytes per slot; a larger out-of-order segment is truncated */
    uint64_t depth;         /* bytes per direction reassembled (0 = unlimited); Suricata's
                               stream.reassembly.depth, default 1 MiB */
    bool midstream;         /* stream.midstream */
};

/* Defaults: 32768 dirs (16384 flows), window 1024, room 0, 32 queued per direction, 4096 slots
 * of 2048 bytes (about 42 MiB per worker; room adds max_dirs x room), depth 1 MiB, midstream
 * false. */
void stream_config_default(struct stream_config *cfg);

/* A run of new in-order bytes of one direction. `prev` are the (up to window) bytes that came
 * right before `data` in the stream (empty after a gap); `offset` is the stream offset of data[0]
 * (0 = first byte after the SYN). */
struct stream_chunk {
    const uint8_t *data;
    uint32_t len;
    const uint8_t *prev;
    uint32_t prev_len;
    uint64_t offset;
    bool gap_before; /* bytes were skipped right before data */
    /* data lies in the direction's own buffer right after prev (prev + prev_len == data when
     * prev_len > 0), and both stay unchanged until stream_packet() or stream_flow_end()
     * returns, or until a chunk with inplace false is delivered to the consumer in the same
     * call (its delivery is the last moment to read this one). Otherwise data and prev are
     * valid only during the deliver call. */
    bool inplace;
    /* no other chunk follows in this stream_packet() call (an in-order segment with nothing
     * queued behind it): a consumer may inspect this one at once, while prev is valid, instead
     * of copying it to merge with the next ones. false when unknown. */
    bool last;
};

typedef void (*stream_deliver_fn)(void *ctx, struct flow *f, enum flow_dir dir,
                                  const struct stream_chunk *chunk);

/* What stream_packet() did with a packet. */
enum stream_result {
    STREAM_NOT_TRACKED = 0, /* not reassembled (no SYN seen and midstream off, no state, past
                               depth, not TCP): inspect the packet payload itself */
    STREAM_ADDED,           /* the payload entered the stream (possibly queued or duplicate) */
};

struct stream_stats {
    uint64_t packets, bytes_delivered, chunks;
    uint64_t ooo_queued, gaps, overlaps, overlaps_different, retransmits;
    uint64_t no_state, midstream_skipped, depth_reached, truncated;
    uint64_t dirs_in_use; /* current */
};

struct stream_ctx;

/* Creates a worker's context with all its memory. NULL on allocation failure or bad config. */
struct stream_ctx *stream_ctx_new(const struct stream_config *cfg);
void stream_ctx_free(struct stream_ctx *sc);

/* Feeds a decoded TCP packet of flow f (direction dir; the flow stage has already counted it).
 * Calls deliver for each new in-order run of bytes, in order, before returning; anomalies go to
 * emit (may be NULL). Caller: the owning worker. */
enum stream_result stream_packet(struct stream_ctx *sc, struct flow *f, enum flow_dir dir,
                                 const struct pkt_meta *m, stream_deliver_fn deliver,
                                 void *deliver_ctx, event_emit_fn emit, void *emit_ctx);

/* Delivers what is still queued (skipping holes) and frees the flow's stream state. deliver may
 * be NULL (then the data is dropped). Call when the flow ends. */
void stream_flow_end(struct stream_ctx *sc, struct flow *f, stream_deliver_fn deliver,
                     void *deliver_ctx);

/* True when the flow was seen but is not reassembled (picked up mid-stream with midstream off,
 * or no state): Suricata then has no TCP session, so the flow is not "established" for rules. */
bool stream_flow_untracked(const struct stream_ctx *sc, const struct flow *f);

/* Bytes of direction dir reassembled so far plus one for the SYN (Suricata's stream_size:
 * next_seq - isn). false when the flow is not reassembled. */
bool stream_dir_size(const struct stream_ctx *sc, const struct flow *f, enum flow_dir dir,
                     uint64_t *bytes);

/* The last bytes delivered in direction dir that the other side has not acknowledged (all
 * delivered bytes when it never sent an ACK), as far as the window still holds them: *data
 * points at them; returns their count (0: none, or the flow is not reassembled). Suricata's
 * IDS mode inspects raw stream data once it is acknowledged, and what never was at the flow's
 * end. Valid until the next stream call for the flow. */
uint32_t stream_dir_unacked(const struct stream_ctx *sc, const struct flow *f, enum flow_dir dir,
                            const uint8_t **data);

const struct stream_stats *stream_get_stats(const struct stream_ctx *sc);

#endif
