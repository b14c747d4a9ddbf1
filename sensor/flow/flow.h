/* Flow table: bidirectional 5-tuple (+ VLAN) flows with per-protocol, per-TCP-state timeouts.
 *
 * One table per worker, owned by its thread; memory is fixed at flow_table_new() (a flow array
 * and a bucket array sized from the config) and nothing is allocated per packet. Time is packet
 * time: flows expire when the capture's clock passes their timeout, never by the wall clock, so
 * a replay gives the same flows at any speed. When the table is full the flow next to expire
 * (with a second chance for flows active since they were scheduled: close to the least recently
 * seen) is evicted: counted, and still emitted, with reason "forced" as Suricata writes it.
 * Timeouts (flow_config_default) are those of suricata.yaml as Suricata 6/7 ship it.
 */
#ifndef TRIPLINE_FLOW_H
#define TRIPLINE_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "decode.h"

/* struct flow_key (the canonical key) is declared in decode.h: the decoder builds it. */

enum flow_state {
    FLOW_STATE_NEW = 0,     /* only one direction seen (or SYN sent) */
    FLOW_STATE_ESTABLISHED, /* both directions seen (TCP: handshake complete or midstream) */
    FLOW_STATE_CLOSING,     /* TCP FIN seen */
    FLOW_STATE_CLOSED,      /* TCP RST, or both FINs acknowledged */
};

enum tcp_state {
    TCP_NONE = 0,
    TCP_SYN_SENT,
    TCP_SYN_RECV,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT, /* one side sent FIN */
    TCP_CLOSING,  /* both sides sent FIN */
    TCP_CLOSED,   /* RST, or both FINs acked */
};

enum flow_end_reason {
    FLOW_END_TIMEOUT = 0, /* "timeout" */
    FLOW_END_FORCED,      /* evicted to make room: "forced" */
    FLOW_END_SHUTDOWN,    /* flushed at exit: "shutdown" */
};

/* Whether and how a flow is bypassed (Suricata's local / capture bypass). */
enum flow_bypass {
    FLOW_BYPASS_NONE = 0,
    FLOW_BYPASS_LOCAL,   /* the engine skips its inspection (packets still reach user space) */
    FLOW_BYPASS_CAPTURE, /* the capture (XDP bypass map) stops delivering it and counts it */
};

/* Direction of a packet relative to the flow's initiator. */
enum flow_dir { FLOW_TO_SERVER = 0, FLOW_TO_CLIENT = 1 };

#define FLOW_MAX_FLOWBITS 16

struct stream_dir; /* owned by sensor/stream */
struct applayer_state; /* owned by sensor/applayer */

/* A flow. Fields after `key` are owned by the worker thread; other stages keep their per-flow
 * state here (app_proto, flowbits, stream, detector marks).
 * Layout: what the flow table reads and writes for every packet sits in the first two cache
 * lines (the key, chain link and state in the first; time, counters and TCP close tracking in
 * the second), so a lookup and update touch exactly the two lines the burst prefetches. Fields
 * are only ever added; their order may change (refer to them by name). */
struct flow {
    /* line 0: lookup and state */
    struct flow_key key;
    uint8_t client_side; /* which key endpoint (0/1) initiated the flow */
    uint8_t state;       /* enum flow_state */
    uint8_t tcp_state;   /* enum tcp_state */
    uint8_t end_reason;  /* enum flow_end_reason, set when ended */
    uint8_t tcp_flags_ts, tcp_flags_tc; /* OR of TCP flags each way */
    uint16_t app_proto;                 /* enum app_proto (0 = unknown) */
    uint32_t hash;
    uint32_t next_in_bucket; /* table internal: hash chain */
    uint8_t touch_gen; /* table internal: burst that last touched the flow */
    uint8_t tcp_fin_sides;  /* bit d: direction d sent a FIN */
    uint8_t tcp_fin_acked;  /* bit d: direction d's FIN was acknowledged */
    uint8_t icmp_seen;      /* bit d: an ICMP packet went in direction d */
    /* line 1: per-packet counters */
    uint64_t last_ns;
    uint64_t pkts[2];    /* [FLOW_TO_SERVER], [FLOW_TO_CLIENT] */
    uint64_t bytes[2];
    uint32_t tcp_fin_seq[2];             /* sequence number of each direction's FIN */
    uint8_t icmp_type[2], icmp_code[2];  /* first ICMP type/code seen each direction */
    uint32_t timeout_s;  /* current timeout for its protocol and state */
    uint8_t timeout_class;  /* the flow's timeout class (table internal) */
    uint8_t n_flowbits;
    uint8_t applayer_flags; /* applayer stage's detection marks */
    uint8_t bypass;         /* enum flow_bypass, set once by the engine (dataplanes): the flow
                               is no longer inspected; read per packet, hence line 1 */
    /* colder: set once, or used by other stages */
    uint64_t flow_id;    /* unique per run; shared by every event of the flow */
    uint64_t first_ns;
    uint64_t alerts;
    uint16_t flowbits[FLOW_MAX_FLOWBITS]; /* ids of set flowbits (rules/ interns the names) */
    struct stream_dir *stream[2];         /* reassembly state per direction, NULL if none */
    uint32_t detect_flags;                /* sensor/detect's per-flow marks */
    uint32_t anomaly_flags;               /* sensor/anomaly's per-flow marks */
    /* table internals */
    uint32_t lru_prev, lru_next; /* links in the table's timer-wheel slot (or the free list) */
    uint64_t tw_sec;        /* second of packet time whose timer-wheel slot holds the flow */
    /* added by the applayer stage: parser state from its per-worker pool (NULL if none);
     * applayer_flow_end() must be called before the flow is freed */
    struct applayer_state *applayer;
    /* added by the anomaly stage: indices of the flow's entries in its per-window tables, hints
     * it checks against the key before use (any value is safe) */
    uint32_t anomaly_slot[3];
} __attribute__((aligned(64))); /* whole cache lines: the per-packet path touches the first two */

struct flow_config {
    uint32_t max_flows;   /* fixed capacity of the table */
    uint32_t hash_size;   /* bucket slots, rounded up to a power of two (0 = 2 * max_flows); buckets
                           * are cache lines of 8 slots (7 flows + an overflow link) */
    /* timeouts in seconds of packet time */
    uint32_t timeout_new, timeout_established, timeout_closed; /* default for other protocols */
    uint32_t tcp_new, tcp_established, tcp_closing, tcp_closed;
    uint32_t udp_new, udp_established;
    uint32_t icmp_new, icmp_established;
    uint64_t id_seed; /* mixed into flow_id so two sensors' ids differ */
    bool midstream;   /* stream.midstream: a TCP flow picked up mid-stream whose first packet
                         is a server's response is reversed, as Suricata (flow_midstream.c) */
};

void flow_config_default(struct flow_config *cfg);

struct flow_table_stats {
    uint64_t created, ended_timeout, ended_forced, ended_shutdown;
    uint64_t active; /* current */
    uint64_t tcp, udp, icmp, other;
    uint64_t lookups, probes;
    uint64_t keyed;         /* packets whose key and hash came with the meta (the decoder's) */
    uint64_t counters_only; /* updates of a known flow that changed only counters and time */
};

struct flow_table;

/* Called for each flow as it ends (timeout, eviction, flush). The flow is freed after the call
 * returns, so copy what you need. */
typedef void (*flow_end_fn)(void *ctx, struct flow *f);

/* Creates a table with all its memory. NULL on allocation failure or a bad config. */
struct flow_table *flow_table_new(const struct flow_config *cfg, flow_end_fn on_end, void *ctx);
void flow_table_free(struct flow_table *ft);

/* Finds or creates the flow of a decoded packet (which must have an IP layer) and updates its
 * counters, TCP state and timeout. *dir receives the packet's direction. Returns NULL only when
 * the packet has no IP layer. May end (evict) another flow through on_end. */
struct flow *flow_table_update(struct flow_table *ft, const struct pkt_meta *m, enum flow_dir *dir);

/* Hints the CPU to fetch the bucket of a packet about to be looked up (batch prefetch). */
void flow_table_prefetch(const struct flow_table *ft, uint32_t hash);

/* Builds the canonical key and symmetric hash of a packet. */
uint32_t flow_key_from_meta(const struct pkt_meta *m, struct flow_key *key);

/* Batch form of flow_table_update() for a burst of n decoded packets: computes every key and
 * hash first, prefetches the buckets and chain heads, then updates in order. flows[i] is NULL
 * where m[i] has no IP layer. A flow returned for m[i] stays valid for the rest of the burst
 * as long as max_flows > n (eviction spares flows touched by the current call). Returns how many
 * packets got a flow. Caller: the owning worker thread. */
unsigned flow_table_update_burst(struct flow_table *ft, const struct pkt_meta *const *m, unsigned n,
                                 struct flow **flows, enum flow_dir *dirs);

/* Ends every flow whose timeout has passed at packet time now_ns; returns how many ended.
 * Flows are kept in a timer wheel of one-second slots, so a flow ends at the first call whose
 * now_ns lies in a later second than its last packet + timeout (at most one second late, never
 * early). Work is bounded per call: at most max_work flows are examined, so a worker never
 * stalls; the next call resumes where this one stopped. */
unsigned flow_table_expire(struct flow_table *ft, uint64_t now_ns, unsigned max_work);

/* Ends all remaining flows (reason shutdown). */
void flow_table_flush(struct flow_table *ft);

const struct flow_table_stats *flow_table_get_stats(const struct flow_table *ft);

/* Calls fn for every flow in the table (no particular order). fn may change the flow's stage
 * state (flowbits, marks) but must not end, add or reschedule flows. Caller: the owning worker
 * (rule reload remaps flowbit ids with it). */
void flow_table_foreach(struct flow_table *ft, void (*fn)(void *ctx, struct flow *f), void *ctx);

/* One step of the flow table's TCP state machine (RFC 793 section 3.5 for the closing sequence)
 * for packet m of direction dir: returns the state that follows st. fin_sides / fin_acked: bit d
 * set when direction d sent a FIN / had it acknowledged (updated here). fin_seq[d]: sequence
 * number of direction d's FIN (only read: the flow table records it at that side's first FIN).
 * other_seen: a packet went the other way before; first: the flow's first packet. The flow
 * table runs it on the flow's own fields; a later stage may run it on a copy of the state
 * (sensor/detect replays it packet by packet). Pure: any thread. */
enum tcp_state flow_tcp_state_step(enum tcp_state st, uint8_t *fin_sides, uint8_t *fin_acked,
                                   const uint32_t fin_seq[2], bool other_seen,
                                   const struct pkt_meta *m, enum flow_dir dir, bool first);

/* The flow state a TCP state stands for (established; fin_wait / closing: closing; closed;
 * otherwise new). */
enum flow_state flow_state_of_tcp_state(enum tcp_state st);

/* Whether the first packet m of a TCP flow picked up mid-stream was sent by the server: its
 * data starts with a response that Suricata's protocol detection registers only for the
 * to-client direction (HTTP/1.x status line), so Suricata reverses the flow (app-layer.c
 * TCPProtoDetect). A SYN/ACK is not covered here (the flow table always reverses it). The flow
 * table asks when flow_config.midstream is set. Pure: any thread (flow_midstream.c). */
bool flow_midstream_reversed(const struct pkt_meta *m);

/* Endpoint helpers for events: source = the flow's client. */
const uint8_t *flow_client_addr(const struct flow *f);
const uint8_t *flow_server_addr(const struct flow *f);
uint16_t flow_client_port(const struct flow *f);
uint16_t flow_server_port(const struct flow *f);

struct event;
/* Fills *ev as the EVENT_FLOW record of f (client -> server direction, counters, times, state,
 * end reason, ICMP types; for ICMP, ref.sport/dport carry the client's type/code). ev->ts_ns
 * is the flow's last packet time: the caller may set the packet time at which the flow ended
 * instead (Suricata logs that). ev->worker is left 0 for the caller to set. */
void flow_to_event(const struct flow *f, struct event *ev);

const char *flow_state_name(enum flow_state s);
const char *flow_end_reason_name(enum flow_end_reason r);
const char *tcp_state_name(enum tcp_state s);

#endif
