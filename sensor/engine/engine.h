/* The engine: process-wide `struct sensor`, one `struct worker` per core, and the pipeline
 * that moves packets from a source through the stages to the output thread.
 *
 * Two run modes share the worker loop:
 *
 *  dispatch (sensor_run_files, sensor_run_live; runmode autofp): one reader thread pulls
 *    packets from a single-stream source (capture file, libpcap live), computes the symmetric
 *    decode_dispatch_hash() and copies each packet once into the current batch of worker
 *    hash % N. Full batches (up to ENGINE_BATCH packets in a fixed arena) go to the worker over
 *    a single-producer/single-consumer ring; the worker hands the emptied batch back over a
 *    second SPSC ring. Replay: a full ring makes the reader wait (back-pressure, never loss).
 *    Live: a full ring is a counted drop ("dispatch_drops").
 *    runmode single: the same loop with one worker run inline in the reader thread.
 *
 *  workers (sensor_run_queues; runmode workers): a source with several receive queues (AF_XDP
 *    sockets, DPDK RSS queues) gives each worker its own queue; the worker pulls bursts through
 *    struct pkt_source_ops and processes them run to completion, no copy, no ring.
 *
 * Every worker owns its decoder (with defragmentation), flow table slice, detect thread and
 * anomaly worker; per packet: decode -> (invalid: anomaly event) -> flow -> detect -> anomaly
 * (engine_burst.h: the same burst call the replay drivers and bench_et use).
 * Events (flow, alert, anomaly, detection) leave a worker through its SPSC event ring to one
 * output thread that hands them to the outputs (sensor/output: output.h) built from the config's
 * `outputs` section (none: one EVE file OUTDIR/eve.json); SIGHUP reopens their files. A full event ring
 * is counted and the events wait in a bounded per-worker overflow buffer; only when that too is
 * full does the worker wait (no event is ever dropped).
 *
 * Time is packet time: timeouts and periodic stage work (flow expiry, defrag expiry, anomaly
 * ticks) run from the capture's timestamps, so results do not depend on the replay speed or on
 * the number of workers. Wall time only paces stats events and output flushes.
 */
#ifndef TRIPLINE_ENGINE_H
#define TRIPLINE_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "dataplane.h"

#define ENGINE_BATCH 64             /* packets per batch / burst */
#define ENGINE_BATCH_ARENA (256u << 10) /* bytes of packet data per dispatch batch */
#define ENGINE_MAX_WORKERS 256

/* --- multi-queue sources (workers mode) ------------------------------------------------------
 *
 * A source with several receive queues implements these operations. Each queue is used by
 * exactly one worker thread (the one sensor_run_queues() assigns to it), so implementations
 * need no locking. */
struct pkt_source_counter;

struct pkt_source_ops {
    /* Receives up to max packets from queue q into pkts (views into the source's buffers, with
     * linktype, ts_ns and optionally hash filled). Returns the count (0 when nothing is waiting:
     * the worker polls again after checking for stop), or -errno when the queue failed for good
     * (the worker then finishes). Must not block for more than ~100 ms. */
    int (*rx_burst)(void *q, struct dp_packet *pkts, unsigned max);
    /* Gives back the buffers of the n packets the last rx_burst returned, once the worker has
     * processed them (views are not used afterwards). May be NULL. */
    void (*release)(void *q, struct dp_packet *pkts, unsigned n);
    /* Adds this queue's counters (kernel / interface drops, ...) to *out. May be NULL. Called by
     * the stats reader from another thread: read the source's counters with relaxed loads. */
    void (*stats)(void *q, struct dp_source_stats *out);
    /* Bypass (Suricata's capture bypass; dataplanes). May be NULL: the engine then bypasses
     * locally (stops inspecting the flow, its packets still arrive). bypass_add asks the source
     * to stop delivering flow t (both directions) and to count its packets instead; the worker
     * of queue q calls it once per flow, never per packet. 0, or -errno (the engine then
     * bypasses locally). */
    int (*bypass_add)(void *q, const struct dp_flow_tuple *t);
    /* At the end of a flow bypass_add accepted: reads and forgets what the source counted for
     * it (out->packets_fwd: those from t->src). 0, or -ENOENT (evicted: counted as lost). */
    int (*bypass_take)(void *q, const struct dp_flow_tuple *t, struct dp_bypass_counters *out);
    /* Writes up to max named counters of the source as a whole (kernel program, ports) for the
     * EVE stats event ("capture.afxdp.redirected", ...); returns how many. ctx is the
     * pkt_source's. Called by the output thread. May be NULL. */
    unsigned (*counters)(void *ctx, struct pkt_source_counter *out, unsigned max);
};

/* One named counter of a source (same layout as the output's struct eve_stat). Dotted names
 * nest in the stats event. */
struct pkt_source_counter {
    const char *name;
    uint64_t value;
};

struct pkt_source {
    const struct pkt_source_ops *ops;
    void **queues;      /* queues[i] is fed to worker i */
    unsigned n_queues;  /* number of workers used */
    const char *name;   /* for messages ("afxdp:veth0") */
    void *ctx;          /* for ops->counters */
    /* capture.bypass-after: a flow with this many bytes (both directions) is bypassed once no
     * stream or app-layer inspection is pending for it (detect_flow_inspection_done); 0: off */
    uint64_t bypass_after;
};

struct sensor;

/* Counters summed over all threads; what the stats events and the exit summary report. */
struct sensor_totals {
    uint64_t packets, bytes;            /* read from the source(s) */
    uint64_t processed;                 /* decoded by workers */
    uint64_t decode_invalid;            /* packets with a decoder anomaly */
    uint64_t flows_created, flows_ended, flows_active, flows_evicted;
    uint64_t tcp_flows, udp_flows;
    uint64_t alerts, anomaly_events, flow_events, events_written;
    uint64_t capture_kernel_drops, capture_iface_drops; /* reported by the source */
    uint64_t dispatch_drops;   /* live: packets dropped because a worker's ring was full */
    uint64_t dispatch_waits;   /* replay: times the reader waited for a worker (no loss) */
    uint64_t event_ring_full;  /* events that went to the overflow buffer */
    uint64_t event_waits;      /* times a worker waited because its overflow was full */
    uint64_t snaplen_cut;      /* packets cut by the capture's snaplen */
    uint64_t read_errors;      /* files with a bad record (truncated ...) */
    uint64_t output_errors;    /* events that could not be formatted/written */
    uint64_t bypassed_flows;   /* flows the engine stopped inspecting (rule `bypass`, bypass-after) */
    uint64_t bypass_capture;   /*   of them bypassed in the capture (XDP map) */
    uint64_t bypass_local_pkts, bypass_local_bytes; /* packets of bypassed flows still received */
    uint64_t alerts_severity[5]; /* alerts (rule alerts + anomaly detections) by severity 1..4;
                                    [0] unused; a severity outside 1..4 counts as 4 */
    uint64_t rules_loaded;     /* rules of the running rule set (0: none) */
    double elapsed_s;          /* start to end of output (whole run) */
    double processing_s;       /* start until the last worker finished (0 while running) */
};

/* Builds the sensor from a finalized configuration: workers (count from cfg->workers, 0 = all
 * online CPUs), their stage state, the rules (cfg->rule_files) and the outputs in cfg->log_dir.
 * stop is the process's stop flag (set by a signal handler); the pipeline polls it. Returns
 * NULL with a message in err. Main thread. */
struct sensor *sensor_new(const struct tl_config *cfg, const atomic_int *stop, char *err,
                          size_t errlen);

/* Gives the output thread a counter the SIGHUP handler increments: on each change it reopens
 * every file output (logrotate). Call before running; reopen may be NULL. Main thread. */
void sensor_set_reopen(struct sensor *s, const atomic_int *reopen);

/* --test-rules: loads and compiles cfg's rules, prints the load report (and why rules failed)
 * to out. Returns 0 when at least one rule loaded and compiled, else -EINVAL with err set. */
int sensor_test_rules(const struct tl_config *cfg, FILE *out, char *err, size_t errlen);

/* Dispatch mode over capture files, read in sequence as one stream of packet time. Returns 0;
 * 1 when no packet at all could be read (every file failed); messages go to stderr. A file
 * with a truncated last record is reported and what was read is processed. */
int sensor_run_files(struct sensor *s, char *const *files, unsigned n);

/* Dispatch mode on a live interface until *stop. Returns 0, or -errno when it cannot open. */
int sensor_run_live(struct sensor *s, const char *iface);

/* Workers mode: runs worker i on src->queues[i] until *stop or every queue failed. Returns 0. */
int sensor_run_queues(struct sensor *s, const struct pkt_source *src);

/* Totals so far (after a run: final). Any thread. */
void sensor_get_totals(struct sensor *s, struct sensor_totals *t);

/* Prints the exit summary (packets, bytes, flows, alerts, anomalies, drops per hop, elapsed,
 * Mpps). */
void sensor_print_summary(struct sensor *s, FILE *out);

/* Operations hooks (main thread, before running; see metrics.h, privdrop.h, log.h). */
struct tl_log;
struct outputs;
typedef void (*sensor_stats_hook_fn)(void *ctx, struct sensor *s);
typedef int (*sensor_ready_hook_fn)(void *ctx);

/* Diagnostics go to lg (NULL: stderr). The sensor does not own it. */
void sensor_set_log(struct sensor *s, struct tl_log *lg);

/* fn(ctx, s) is called by the output thread about once a second while running, and once by the
 * thread that runs the sensor after the pipeline ended (final totals). It may call
 * sensor_get_totals() and outputs_stats(sensor_outputs(s), ...); it must not block. */
void sensor_set_stats_hook(struct sensor *s, sensor_stats_hook_fn fn, void *ctx);

/* fn(ctx) is called once by the thread running the sensor after the packet source is open
 * (sensor_run_live: the interface; sensor_run_files: the first file) and before packets are
 * read: the place to drop privileges. A negative return stops the run (exit status 1). */
void sensor_set_ready_hook(struct sensor *s, sensor_ready_hook_fn fn, void *ctx);

/* The sensor's outputs (for their counters: outputs_stats() is safe from any thread). */
const struct outputs *sensor_outputs(const struct sensor *s);

/* Number of workers in use. */
unsigned sensor_worker_count(const struct sensor *s);

/* The sensor's rule generations and live reload (reload.h): for the control thread
 * (reload_rules, reload_get_stats). NULL when the sensor runs without rules. */
struct reload;
struct reload *sensor_reload(struct sensor *s);

void sensor_free(struct sensor *s);

#endif
