/* One worker's stages on one thread: the per-packet path of the engine, callable alone.
 *
 * A struct pipeline owns what a worker owns for its packets: the decoder (with
 * defragmentation), its flow table slice, the detect thread with stream reassembly, the app
 * layer (parsers, pending transactions and their EVE snapshots), the anomaly worker and the
 * flow-bypass state. pipeline_burst() runs a burst of packets through
 *   decode -> (invalid: anomaly event) -> flow (as a burst, bucket prefetch) -> UDP app layer ->
 *   detect (stream + app layer inside) -> transactions' sticky buffers -> bypass -> anomaly
 * and periodic work in packet time (flow expiry, defrag expiry, anomaly ticks) between runs of
 * packets. Events (alert, flow, anomaly, app-layer chunks) leave through the emit callback given
 * to each call, in order.
 *
 * The engine's workers (engine.c) run their packets through here, and so do the replay drivers
 * and benches (tests/detect/detect_replay, tests/applayer/applayer_replay, bench/bench_et), so
 * what they check and measure is the code that ships.
 *
 * Calling context: a pipeline belongs to one thread (its worker); nothing is shared but the
 * detect engine and the anomaly stage's shared state it was built from. The per-packet path
 * allocates nothing, takes no lock and makes no system call.
 */
#ifndef TRIPLINE_ENGINE_BURST_H
#define TRIPLINE_ENGINE_BURST_H

#include <stdbool.h>
#include <stdint.h>

#include "applayer.h"
#include "capture_opts.h"
#include "dataplane.h"
#include "decode.h"
#include "detect.h"
#include "event.h"
#include "flow.h"

struct anomaly_shared;

/* Periodic stage work (defrag expiry, anomaly ticks) runs at this granularity of packet time. */
#define PIPELINE_TICK_NS (100ull * 1000000ull)

/* What a pipeline is built from. */
struct pipeline_config {
    struct decoder_config dc;
    struct flow_config fc;
    /* Rules (shared, immutable; must outlive the pipeline). NULL: decode, flow and anomaly
     * only. Otherwise the pipeline runs stream reassembly, detection and the app layer (its
     * http/dns/tls records and the transactions' sticky buffers), as the engine does with an
     * empty rule set too. */
    const struct detect_engine *de;
    /* The anomaly stage's shared state (NULL: no anomaly stage); the worker is made with id. */
    struct anomaly_shared *ash;
    uint16_t worker_id; /* written into the events the pipeline makes */
};

/* Defaults: decoder_config_default, flow_config_default, no rules, no anomaly stage, worker 0. */
void pipeline_config_default(struct pipeline_config *pc);

struct pipeline;

/* Builds the stages with all their memory. NULL when out of memory. */
struct pipeline *pipeline_new(const struct pipeline_config *pc);

/* Frees everything, the current detect thread included (flows still in the table are freed
 * without events: call pipeline_flush() first). NULL is a no-op. */
void pipeline_free(struct pipeline *p);

/* Runs n packets through the stages in order (any n; the burst is taken in runs of at most
 * ENGINE_BATCH packets that stay inside one tick of packet time, with the periodic work of a
 * run's time before it). pcap_cnt: each packet's 1-based number in the capture (Suricata's
 * pcap_cnt), written into the per-packet events (alerts, decoder / stream / app-layer
 * anomalies, app-layer records) that carry none; NULL: none (live). Events go to emit(ctx, ...)
 * in order; the packet views are not used after the call. Returns n. */
unsigned pipeline_burst(struct pipeline *p, const struct dp_packet *pkts, const uint64_t *pcap_cnt,
                        unsigned n, event_emit_fn emit, void *ctx);

/* Moves packet time to now_ns (no-op unless later than the last packet's): flows past their
 * timeout end, and at tick boundaries the decoder's fragment expiry and the anomaly stage's
 * tick run. For a worker that has no packets while time goes on (the reader's clock, a live
 * source's idle wall time). */
void pipeline_advance(struct pipeline *p, uint64_t now_ns, event_emit_fn emit, void *ctx);

/* End of stream: ends every flow still in the table (reason shutdown), each with its stream
 * tails matched, its transactions inspected and its flow event. The pipeline stays usable. */
void pipeline_flush(struct pipeline *p, event_emit_fn emit, void *ctx);

/* Replaces the flow table and decoder with empty ones and restarts packet time (the next
 * capture file starts earlier than the last one ended). Call pipeline_flush() first. Returns 0,
 * or -ENOMEM with the old (empty) tables kept. The counters of pipeline_flow_stats() and
 * pipeline_decoder_stats() then start from 0. */
int pipeline_reset(struct pipeline *p);

/* Counters of the packets handed to pipeline_burst() (plain fields, owner thread). */
struct pipeline_stats {
    uint64_t packets, bytes;
    uint64_t invalid;   /* DECODE_INVALID: each became an anomaly event */
    uint64_t dec_notes; /* valid or held packets with a decoder note: each an anomaly event */
};
const struct pipeline_stats *pipeline_get_stats(const struct pipeline *p);

/* The current flow table's and decoder's counters (since the last pipeline_reset()). */
const struct flow_table_stats *pipeline_flow_stats(const struct pipeline *p);
const struct decoder_stats *pipeline_decoder_stats(const struct pipeline *p);

/* The app layer's counters; NULL without rules (no app layer). */
const struct applayer_stats *pipeline_applayer_stats(const struct pipeline *p);

/* Completed transactions the pending store could not hold (their buffers were not matched). */
uint64_t pipeline_pending_dropped(const struct pipeline *p);

/* The flow-bypass state (capture_opts.h): a zeroed one bypasses locally by rule only. The
 * owner may set it up (engine_bypass_init) before packets flow and reads its counters. */
struct engine_bypass *pipeline_bypass(struct pipeline *p);

/* The flow table (rule reload remaps flowbits through flow_table_foreach). */
struct flow_table *pipeline_flow_table(struct pipeline *p);

/* The detect thread in use (NULL without rules), and its replacement by a rule reload between
 * bursts: the pipeline owns and frees dt from then on, the caller takes the old one. dt must
 * carry the stream state and hook of the old one (detect_thread_take_stream). */
struct detect_thread *pipeline_detect_thread(const struct pipeline *p);
void pipeline_set_detect_thread(struct pipeline *p, struct detect_thread *dt);

/* Packet time of the last packet or pipeline_advance() (0 before any). */
uint64_t pipeline_now(const struct pipeline *p);

#endif
