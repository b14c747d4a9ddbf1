/* Detection: a loaded ruleset compiled into Hyperscan databases, matched on packets and on
 * reassembled TCP streams; matches become EVENT_ALERT events.
 *
 * detect_engine: built once per ruleset (start-up, reload) on the control thread, immutable
 * afterwards and shared read-only by every worker. Databases are grouped per buffer kind
 * (packet payload, TCP stream) and per protocol group (TCP, UDP, ICMP, other IP), one block-mode
 * literal database each, holding each rule's fast pattern (its longest content unless the rule
 * says fast_pattern). A Hyperscan hit only makes a rule a candidate: every constraint of it is
 * then verified (content chain with backtracking, pcre with PCRE2, byte_*, header conditions,
 * flow, flowbits). Rules without content are checked by header, grouped by protocol and indexed
 * by address (IP-only rules) so a packet does not scan every rule.
 *
 * detect_thread: one per worker, owned by its thread: the Hyperscan scratch (hs_clone_scratch),
 * PCRE2 match data, the stream reassembler (sensor/stream) and the threshold tables.
 * Thresholds and detection_filter are counted per worker in packet time: since a flow always
 * lands on one worker, by_flow tracking is exact; by_src/by_dst/by_rule counts are per worker
 * (a source spread over several workers is counted on each).
 *
 * Alerts follow Suricata's semantics: at most one alert per rule per packet; a `pass` rule that
 * matches suppresses every alert of lower precedence on that packet; alerts of a packet are
 * emitted in order of rule priority (then action pass>drop>reject>alert, then sid); flowbits
 * `noalert` rules set bits but raise nothing. For TCP, plain `tcp` payload rules inspect the
 * reassembled stream when the packet entered it and the packet's payload otherwise; `tcp-pkt`
 * rules inspect packets only, `tcp-stream` rules the stream only.
 */
#ifndef TRIPLINE_DETECT_H
#define TRIPLINE_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "event.h"
#include "flow.h"
#include "rules.h"
#include "stream.h"

struct detect_config {
    struct stream_config stream;
    uint32_t threshold_entries; /* per-worker threshold/detection_filter table size */
    const char *cache_dir;      /* compiled-database cache (hs_serialize_database); NULL: none */
};

/* Defaults: stream_config_default, 65536 threshold entries, no cache. */
void detect_config_default(struct detect_config *cfg);

struct detect_engine;
struct detect_thread;

/* Compiles rs (which must outlive the engine) with the default config. NULL on failure, err
 * gets why (Hyperscan's message). Caller: control thread. */
struct detect_engine *detect_engine_new(const struct ruleset *rs, char *err, size_t errlen);
/* Same with a config. When cfg->cache_dir is set, databases are loaded from
 * cache_dir/tripline-<hash>.hsdb when present (hash of the rules, variables and the Hyperscan
 * version/platform), else compiled and written there. */
struct detect_engine *detect_engine_new_cfg(const struct ruleset *rs,
                                            const struct detect_config *cfg, char *err,
                                            size_t errlen);
void detect_engine_free(struct detect_engine *de);

/* Figures of a compiled engine. */
struct detect_engine_info {
    unsigned rules;          /* rules in the ruleset */
    unsigned mpm_rules;      /* rules prefiltered by a fast pattern */
    unsigned header_rules;   /* rules without content, checked by header */
    unsigned iponly_rules;   /* of those, indexed by address */
    unsigned databases;      /* Hyperscan databases */
    size_t db_bytes;         /* hs_database_size summed */
    size_t scratch_bytes;    /* one scratch */
    double compile_ms;       /* wall time spent compiling (0 when loaded from cache) */
    bool from_cache;
};
void detect_engine_get_info(const struct detect_engine *de, struct detect_engine_info *info);

/* A worker's matching state. NULL on allocation failure. Caller: control thread or the worker;
 * the thread is then used only by its worker. */
struct detect_thread *detect_thread_new(const struct detect_engine *de);
void detect_thread_free(struct detect_thread *dt);

/* Rule reload: moves from's stream reassembly state (the flows' stream_dir pointers point into
 * it) and its stream hook to `to`, a thread of the new engine, and gives `to`'s unused
 * reassembly state to from, which is then only fit for detect_thread_free(). Reassembly, stream
 * counters and the flows' streams carry on unchanged; thresholds restart empty in `to`. Both
 * threads must share the stream config. Caller: the worker owning both. */
void detect_thread_take_stream(struct detect_thread *to, struct detect_thread *from);

/* Optional: also hands every in-order TCP stream chunk to fn (the app layer's
 * applayer_tcp_data), before rules are matched on it. */
void detect_thread_set_stream_hook(struct detect_thread *dt, stream_deliver_fn fn, void *ctx);

/* Inspects one decoded packet (flow may be NULL). For TCP this runs stream reassembly and
 * stream matching first. Emits EVENT_ALERT events (and stream anomalies) through emit; returns
 * the number of alerts emitted. The caller fills nothing in the events: detect sets ts_ns,
 * ref (packet direction) and u.alert; ev.worker is left 0. Caller: the owning worker. */
unsigned detect_packet(struct detect_thread *dt, const struct pkt_meta *m, struct flow *f,
                       enum flow_dir dir, event_emit_fn emit, void *emit_ctx);

/* Per-flow marks of sensor/detect in flow->detect_flags. */
#define DETECT_FLOW_BYPASS 0x1u /* a rule with `bypass` matched the flow (Suricata: bypass;) */
/* A TCP flow picked up mid-stream while stream.midstream is off: it is not reassembled and its
 * packets are inspected one by one (Suricata 7.0.12+ records this in the flow record as the
 * exception policy "ignore" of target "stream_midstream"). Bits 8-17 are detect's own. */
#define DETECT_FLOW_MIDSTREAM 0x2u

/* Whether a rule with the `bypass` keyword matched flow f (on any packet or buffer so far, also
 * a noalert one): the engine then stops inspecting the flow and asks the capture to bypass it. */
static inline bool detect_flow_bypass_requested(const struct flow *f)
{
    return f && (f->detect_flags & DETECT_FLOW_BYPASS);
}

/* Whether no stream or app-layer inspection is pending for flow f any more: a TCP flow that the
 * stream engine reassembles, each direction either past the stream depth or closed by its FIN,
 * so no further byte of it reaches stream rules or the app layer (Suricata's stream.bypass
 * criterion). False for UDP and other flows (every packet is inspected) and for TCP flows
 * picked up without reassembly. Packet-level rules (header conditions, tcp-pkt) are not
 * counted: a flow bypassed on this criterion no longer reaches them. Caller: the owning worker. */
bool detect_flow_inspection_done(const struct detect_thread *dt, const struct flow *f);

/* The flow ends: flushes the stream's queued data through matching, then frees its stream
 * state. Returns alerts emitted. */
unsigned detect_flow_end(struct detect_thread *dt, struct flow *f, event_emit_fn emit,
                         void *emit_ctx);

/* An app-layer buffer for sticky-buffer rules (id = RULE_BUF_APP_BASE + enum app_buffer). */
struct detect_buffer {
    uint16_t id;
    const uint8_t *data;
    uint32_t len;
};

/* Inspects the sticky buffers of one transaction direction: rules whose contents belong to
 * these buffers are matched. Returns alerts emitted (their tx_id set). For the app-layer
 * stage once rules with sticky buffers load. */
unsigned detect_buffers(struct detect_thread *dt, const struct pkt_meta *m, struct flow *f,
                        enum flow_dir dir, const struct detect_buffer *bufs, unsigned n,
                        uint64_t tx_id, event_emit_fn emit, void *emit_ctx);

struct detect_stats {
    uint64_t packets;       /* packets inspected */
    uint64_t payload_bytes; /* bytes scanned by Hyperscan (packets + stream) */
    uint64_t mpm_hits;      /* candidate rules from the prefilter */
    uint64_t rules_checked; /* full verifications */
    uint64_t alerts;        /* alerts emitted */
    uint64_t suppressed;    /* alerts not emitted: pass rules, thresholds, suppress */
    uint64_t emit_failed;   /* emit returned false */
    uint64_t threshold_full;/* threshold table full: rule alerted as without threshold */
    uint64_t mpm_proven;    /* of rules_checked: fast-pattern-only rules whose prefilter hit
                               proved the content (not searched again) */
    uint64_t window_copies; /* one-chunk stream inspections (an in-order segment with
                               nothing queued) that copied the whole window to verify a rule
                               whose header matched; the others copied its last bytes only */
    struct stream_stats stream;
};

/* Copies the worker's counters (call from the worker, or when it is stopped). */
void detect_thread_stats(const struct detect_thread *dt, struct detect_stats *st);

#endif
