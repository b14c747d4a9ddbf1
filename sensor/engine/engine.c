/* The pipeline: reader (dispatch) -> SPSC batch rings -> workers -> SPSC event rings -> output.
 * See engine.h for the shape; comments here say why things are done the way they are. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "anomaly.h"
#include "applayer.h"
#include "applayer_eve.h"
#include "capture_opts.h"
#include "clock_priv.h"
#include "decode.h"
#include "detect.h"
#include "engine.h"
#include "engine_burst.h"
#include "eve_format.h"
#include "event.h"
#include "flow.h"
#include "log.h"
#include "output.h"
#include "pcap_source.h"
#include "reload.h"
#include "ring.h"

#define NS_PER_S 1000000000ull
#define TICK_NS PIPELINE_TICK_NS /* periodic stage work granularity, packet time */
#define OUT_BURST 256
#define OUT_LINE_MAX 65536

/* ---- counters -------------------------------------------------------------------------------
 * Each thread keeps plain counters; at the end of every batch it publishes a copy with relaxed
 * atomic stores (plain moves on x86) that the stats reader loads from another thread. No
 * read-modify-write atomics anywhere on the packet path. */
enum wstat {
    WS_PACKETS, WS_BYTES, WS_INVALID, WS_ALERTS, WS_DETECTIONS, WS_ANOMALY_EVENTS, WS_FLOW_EVENTS,
    WS_EVENT_RING_FULL, WS_EVENT_WAITS, WS_FLOWS_CREATED, WS_FLOWS_ACTIVE, WS_FLOWS_EVICTED,
    WS_FLOWS_ENDED, WS_FLOWS_TCP, WS_FLOWS_UDP, WS_DEC_IPV4, WS_DEC_IPV6, WS_DEC_TCP, WS_DEC_UDP,
    WS_DEC_ICMP, WS_DEC_FRAGMENTS, WS_DEC_REASSEMBLED,
    WS_DEC_NOTES, /* valid (or held) packets with a decoder note: each an anomaly event */
    WS_BYP, WS_BYP_LAST = WS_BYP + BYP_N - 1, /* struct engine_bypass counters (dataplanes) */
    WS_SEV1, WS_SEV2, WS_SEV3, WS_SEV4, /* alerts + detections by severity (metrics) */
    /* app layer (struct applayer_stats): flows detected and transactions opened per protocol */
    WS_AL_FLOW, WS_AL_TX = WS_AL_FLOW + APP_PROTO_MAX, WS_AL_DNS_TCP_FLOW = WS_AL_TX + APP_PROTO_MAX,
    WS_AL_DNS_TCP_TX,
    WS_MAX
};

enum rstat { RS_PACKETS, RS_BYTES, RS_DISPATCH_DROPS, RS_DISPATCH_WAITS, RS_SNAPLEN_CUT,
             RS_READ_ERRORS, RS_WINDOW_WAITS, RS_KERNEL_DROPS, RS_IFACE_DROPS, RS_CLOCK, RS_MAX };

struct batch {
    unsigned n;
    uint32_t used;     /* arena bytes in use */
    uint64_t clock_ns; /* reader's packet clock when pushed (>= every packet in it) */
    bool last;         /* end of stream: the worker finishes after this batch */
    bool reset;        /* time went backwards (next capture file): restart flow/defrag state */
    struct dp_packet pkts[ENGINE_BATCH];
    uint64_t pcap_cnt[ENGINE_BATCH]; /* each packet's number in the capture files (1-based), 0 live */
    alignas(64) uint8_t arena[ENGINE_BATCH_ARENA];
};

struct worker {
    alignas(64) struct sensor *s;
    unsigned id;
    int cpu;
    pthread_t thr;
    bool started;
    struct pipeline *pl; /* decode -> flow -> stream/app layer/detect -> anomaly (engine_burst.h) */
    uint64_t rules_gen;       /* rule generation of the pipeline's detect thread (reload.h) */
    uint64_t ev_seq;          /* events emitted so far: the reload's event fence (reload.h) */
    struct spsc_ring *in;  /* batches, reader -> worker */
    struct spsc_ring *ret; /* emptied batches, worker -> reader */
    struct spsc_ring *ev;  /* events, worker -> output thread */
    struct batch **pool;   /* owned batches (freed at the end) */
    unsigned n_pool;
    /* overflow behind a full event ring: a FIFO, flushed before new events */
    struct event *ovf;
    uint32_t ovf_head, ovf_n, ovf_cap;
    uint64_t c[WS_MAX];
    uint64_t base[WS_MAX]; /* flow/decoder counters of tables replaced by a reset */
    _Atomic uint64_t pub[WS_MAX];
    _Atomic uint64_t done_clock; /* batch clock the worker has fully processed (dispatch) */
    /* workers mode */
    void *q;
    const struct pkt_source_ops *ops;
};

struct sensor {
    const struct tl_config *cfg;
    const atomic_int *stop;
    unsigned nw;
    unsigned nw_alloc; /* workers created (workers mode may use fewer) */
    struct worker **w;
    bool live;
    bool single; /* runmode single: the reader runs the worker inline */
    int cpus[1024];
    int ncpus;

    struct anomaly_config acfg;
    struct anomaly_shared *ash;

    /* rules: generations loaded and compiled on the main / control thread, shared read-only by
     * the workers, swapped live by reload.c; de is the first one's engine (worker start-up) */
    struct reload *rl;
    const struct detect_engine *de;

    /* output */
    struct eve_format_opts eopts;
    char eve_path[1024]; /* for the summary: the only output's path, or how many outputs */
    struct outputs *outs;
    struct applayer_eve_asm *easm; /* output thread: app-layer chunks joined per worker */
    const atomic_int *reopen; /* bumped by the SIGHUP handler; NULL = none */
    int reopen_seen;
    char *line;
    pthread_t out_thr;
    _Atomic bool out_started; /* atomic: sensor_get_totals() reads it from the control thread */
    atomic_bool out_stop;
    uint64_t out_written, out_errors; /* output thread only; read after join */
    _Atomic uint64_t out_pub_written;
    _Atomic uint64_t out_pub_errors; /* out_errors as other threads may read it */

    /* reader (dispatch) */
    struct batch **cur; /* batch being filled, per worker */
    uint64_t r[RS_MAX];
    _Atomic uint64_t rpub[RS_MAX];
    uint64_t clock_ns;
    uint64_t window_ns; /* clock pushes to every worker at these boundaries of packet time */
    uint64_t bytes_total, bytes_done; /* progress over all files */
    struct timespec t0, t1; /* start, output done */
    _Atomic uint64_t t1_ns; /* t1 for other threads (0 until output done): release/acquire */
    _Atomic uint64_t tw_ns;  /* workers done (monotonic ns, 0 = running); read by the output
                                thread's stats while main writes it, hence atomic (relaxed:
                                a plain figure, orders nothing) */
    _Atomic bool ran; /* set after t0 (seq_cst): a reader that sees it sees t0 */
    /* workers mode */
    const struct pkt_source *qsrc;
    /* nw and qsrc for threads that run before sensor_run_queues() changes them (the control
     * socket's sensor_get_totals): nw_pub is stored before qsrc_pub (both release); readers
     * load qsrc_pub, then nw_pub (both acquire), so a reader that sees the source sees its nw */
    _Atomic unsigned nw_pub;
    _Atomic(const struct pkt_source *) qsrc_pub;
    /* operations (log.h, metrics.h, privdrop.h) */
    struct tl_log *log;
    sensor_stats_hook_fn stats_hook;
    void *stats_ctx;
    sensor_ready_hook_fn ready_hook;
    void *ready_ctx;
};

static void sleep_ns(long ns)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
    nanosleep(&ts, NULL);
}

/* Back-off for a thread waiting on a ring: yield first, then sleep a little longer each time,
 * so waiting threads do not steal cores from the ones they wait for. */
static void backoff(unsigned *spins)
{
    if (*spins < 16)
        sched_yield();
    else
        sleep_ns(*spins < 2048 ? 10000 : 200000);
    (*spins)++;
}

static void pin_thread(pthread_t t, int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(t, sizeof(set), &set);
}

/* ---- events out of a worker ------------------------------------------------------------------ */

/* Moves overflowed events into the ring, oldest first. With wait, loops until all went. */
static void worker_flush_overflow(struct worker *w, bool wait)
{
    unsigned spins = 0;
    while (w->ovf_n > 0) {
        uint32_t contiguous = w->ovf_cap - w->ovf_head;
        if (contiguous > w->ovf_n)
            contiguous = w->ovf_n;
        unsigned n = spsc_ring_enqueue_burst(w->ev, &w->ovf[w->ovf_head], contiguous);
        w->ovf_head = (w->ovf_head + n) % w->ovf_cap;
        w->ovf_n -= n;
        if (n == 0) {
            if (!wait)
                return;
            backoff(&spins);
        }
    }
}

/* The emit callback every stage gets. Never drops: ring, else overflow FIFO, else wait. */
static bool worker_emit(void *ctx, const struct event *ev)
{
    struct worker *w = ctx;
    switch (ev->type) {
    case EVENT_FLOW: w->c[WS_FLOW_EVENTS]++; break;
    case EVENT_ALERT:
        w->c[WS_ALERTS]++;
        w->c[WS_SEV1 + (ev->u.alert.severity >= 1 && ev->u.alert.severity <= 4 ? ev->u.alert.severity - 1 : 3)]++;
        break;
    case EVENT_ANOMALY: w->c[WS_ANOMALY_EVENTS]++; break;
    case EVENT_DETECTION:
        w->c[WS_DETECTIONS]++;
        w->c[WS_SEV1 + (ev->u.detection.severity >= 1 && ev->u.detection.severity <= 4 ? ev->u.detection.severity - 1 : 3)]++;
        break;
    default: break;
    }
    w->ev_seq++; /* numbered in emit order: the output consumes them in that order */
    /* events keep their order: nothing may overtake the overflow */
    if (w->ovf_n == 0 && spsc_ring_enqueue_burst(w->ev, ev, 1) == 1)
        return true;
    w->c[WS_EVENT_RING_FULL]++;
    if (w->ovf_n > 0)
        worker_flush_overflow(w, false);
    if (w->ovf_n == w->ovf_cap) {
        /* overflow full too: wait for the output thread (counted), never lose the event */
        w->c[WS_EVENT_WAITS]++;
        worker_flush_overflow(w, true);
        if (w->ovf_cap == 0) {
            unsigned spins = 0;
            while (spsc_ring_enqueue_burst(w->ev, ev, 1) == 0)
                backoff(&spins);
            return true;
        }
        if (w->ovf_n == 0 && spsc_ring_enqueue_burst(w->ev, ev, 1) == 1)
            return true;
    }
    w->ovf[(w->ovf_head + w->ovf_n) % w->ovf_cap] = *ev;
    w->ovf_n++;
    return true;
}

static void worker_publish(struct worker *w)
{
    const struct pipeline_stats *ps = pipeline_get_stats(w->pl);
    const struct flow_table_stats *fs = pipeline_flow_stats(w->pl);
    const struct decoder_stats *ds = pipeline_decoder_stats(w->pl);
    w->c[WS_PACKETS] = ps->packets;
    w->c[WS_BYTES] = ps->bytes;
    w->c[WS_INVALID] = ps->invalid;
    w->c[WS_DEC_NOTES] = ps->dec_notes;
    w->c[WS_FLOWS_CREATED] = w->base[WS_FLOWS_CREATED] + fs->created;
    w->c[WS_FLOWS_ACTIVE] = fs->active;
    w->c[WS_FLOWS_EVICTED] = w->base[WS_FLOWS_EVICTED] + fs->ended_forced;
    w->c[WS_FLOWS_ENDED] = w->base[WS_FLOWS_ENDED] + fs->ended_timeout + fs->ended_forced + fs->ended_shutdown;
    w->c[WS_FLOWS_TCP] = w->base[WS_FLOWS_TCP] + fs->tcp;
    w->c[WS_FLOWS_UDP] = w->base[WS_FLOWS_UDP] + fs->udp;
    w->c[WS_DEC_IPV4] = w->base[WS_DEC_IPV4] + ds->ipv4;
    w->c[WS_DEC_IPV6] = w->base[WS_DEC_IPV6] + ds->ipv6;
    w->c[WS_DEC_TCP] = w->base[WS_DEC_TCP] + ds->tcp;
    w->c[WS_DEC_UDP] = w->base[WS_DEC_UDP] + ds->udp;
    w->c[WS_DEC_ICMP] = w->base[WS_DEC_ICMP] + ds->icmp;
    w->c[WS_DEC_FRAGMENTS] = w->base[WS_DEC_FRAGMENTS] + ds->fragments;
    w->c[WS_DEC_REASSEMBLED] = w->base[WS_DEC_REASSEMBLED] + ds->reassembled;
    for (int k = 0; k < BYP_N; k++)
        w->c[WS_BYP + k] = pipeline_bypass(w->pl)->c[k];
    const struct applayer_stats *as = pipeline_applayer_stats(w->pl);
    if (as) {
        for (int k = 0; k < APP_PROTO_MAX; k++) {
            w->c[WS_AL_FLOW + k] = as->flows_detected[k];
            w->c[WS_AL_TX + k] = as->tx_opened[k];
        }
        w->c[WS_AL_DNS_TCP_FLOW] = as->dns_tcp_flows;
        w->c[WS_AL_DNS_TCP_TX] = as->dns_tcp_tx;
    }
    for (int i = 0; i < WS_MAX; i++)
        atomic_store_explicit(&w->pub[i], w->c[i], memory_order_relaxed);
}

/* ---- the worker loop ------------------------------------------------------------------------- */

/* Periodic work at packet time now (flow expiry, decoder and anomaly ticks: engine_burst.h). */
static void worker_advance(struct worker *w, uint64_t now)
{
    pipeline_advance(w->pl, now, worker_emit, w);
}

/* Between batches: picks up a reloaded rule set (reload.h); one atomic load when there is none. */
static inline void worker_check_rules(struct worker *w)
{
    if (w->s->rl && reload_generation(w->s->rl) != w->rules_gen) {
        struct detect_thread *dt = pipeline_detect_thread(w->pl);
        reload_worker_switch(w->s->rl, w->id, &dt, pipeline_flow_table(w->pl), &w->rules_gen,
                             pipeline_now(w->pl), w->ev_seq);
        pipeline_set_detect_thread(w->pl, dt);
    }
}

/* Processes n packets in order through the stages (engine_burst.h: the same burst call the
 * replay drivers and benches use). pcap_cnt: each packet's number in the capture, NULL live. */
static inline void worker_process(struct worker *w, const struct dp_packet *pkts,
                                  const uint64_t *pcap_cnt, unsigned n)
{
    pipeline_burst(w->pl, pkts, pcap_cnt, n, worker_emit, w);
}

/* End of stream for this worker: time moves to the last clock, remaining flows are flushed
 * (reason shutdown) and every event is handed to the output thread. */
static void worker_finish(struct worker *w, uint64_t final_clock)
{
    worker_advance(w, final_clock);
    pipeline_flush(w->pl, worker_emit, w);
    reload_worker_exit(w->s->rl, w->id); /* its detect thread is no longer used */
    worker_flush_overflow(w, true);
    worker_publish(w);
}

/* The next capture file starts earlier than the last one ended: flows and fragments of the
 * previous file end now (reason shutdown, as at exit) and the flow table and decoder start
 * afresh, so the new file's timeouts run on its own clock identically in every worker. */
static void worker_reset(struct worker *w)
{
    pipeline_flush(w->pl, worker_emit, w);
    worker_publish(w); /* the old tables' counters, their flush included */
    if (pipeline_reset(w->pl) == 0) /* carry them over */
        for (int k = WS_FLOWS_CREATED; k <= WS_DEC_REASSEMBLED; k++)
            w->base[k] = k == WS_FLOWS_ACTIVE ? 0 : w->c[k];
    /* else out of memory: the old (empty) tables are kept; timeouts may then run late */
    worker_flush_overflow(w, true);
}

static void *worker_dispatch_main(void *arg)
{
    struct worker *w = arg;
    unsigned spins = 0;
    for (;;) {
        struct batch *b;
        if (spsc_ring_dequeue_burst(w->in, &b, 1) == 0) {
            worker_flush_overflow(w, false);
            worker_check_rules(w);
            backoff(&spins);
            continue;
        }
        spins = 0;
        if (w->ovf_n)
            worker_flush_overflow(w, false);
        worker_check_rules(w);
        worker_process(w, b->pkts, b->pcap_cnt, b->n);
        /* the reader's clock: lets an idle worker's timeouts and ticks follow packet time */
        uint64_t clock = b->clock_ns;
        bool last = b->last, reset = b->reset;
        b->n = 0;
        b->reset = false;
        b->used = 0;
        /* cannot fail: the return ring holds every batch of the pool */
        spsc_ring_enqueue_burst(w->ret, &b, 1);
        if (last) {
            worker_finish(w, clock);
            return NULL;
        }
        if (reset)
            worker_reset(w);
        worker_advance(w, clock);
        worker_publish(w);
        /* release: pairs with the reader's acquire load in reader_clock(); everything this
         * worker did for packets up to clock (shard writes of the anomaly stage) is done */
        atomic_store_explicit(&w->done_clock, clock, memory_order_release);
    }
}

static void *worker_queue_main(void *arg)
{
    struct worker *w = arg;
    struct dp_packet pkts[ENGINE_BATCH];
    unsigned idle = 0;
    while (!atomic_load_explicit(w->s->stop, memory_order_relaxed)) {
        worker_check_rules(w);
        int n = w->ops->rx_burst(w->q, pkts, ENGINE_BATCH);
        if (n < 0)
            break;
        if (n == 0) {
            worker_flush_overflow(w, false);
            /* a live source idles: packet time follows the wall clock so flows still time out,
             * but only when the packets themselves carry current time (not a replay) */
            uint64_t now = wall_ns();
            uint64_t pnow = pipeline_now(w->pl);
            if (pnow && now > pnow && now - pnow < 600 * NS_PER_S)
                worker_advance(w, now);
            worker_publish(w);
            backoff(&idle);
            continue;
        }
        idle = 0;
        if (w->ovf_n)
            worker_flush_overflow(w, false);
        worker_process(w, pkts, NULL, (unsigned)n);
        if (w->ops->release)
            w->ops->release(w->q, pkts, (unsigned)n);
        worker_publish(w);
    }
    worker_finish(w, pipeline_now(w->pl));
    return NULL;
}

/* ---- output thread --------------------------------------------------------------------------- */

static uint64_t sum_w(struct sensor *s, enum wstat k)
{
    uint64_t v = 0;
    unsigned nw = atomic_load_explicit(&s->nw_pub, memory_order_acquire); /* any thread */
    for (unsigned i = 0; i < nw; i++)
        v += atomic_load_explicit(&s->w[i]->pub[k], memory_order_relaxed);
    return v;
}

static uint64_t get_r(struct sensor *s, enum rstat k)
{
    return atomic_load_explicit(&s->rpub[k], memory_order_relaxed);
}

static void reader_publish(struct sensor *s)
{
    for (int i = 0; i < RS_MAX; i++)
        atomic_store_explicit(&s->rpub[i], s->r[i], memory_order_relaxed);
}

/* Suricata's app_layer.flow.<proto> (flows whose protocol was detected, DNS split into dns_udp
 * and dns_tcp) and app_layer.tx.<proto> for the protocols tripline parses (HTTP, DNS, TLS:
 * transactions opened, see struct applayer_stats). names holds the built names. */
static size_t app_layer_stats(struct sensor *s, struct eve_stat *out, char (*names)[48])
{
    size_t n = 0;
    uint64_t dns_tcp[2] = {sum_w(s, WS_AL_DNS_TCP_FLOW), sum_w(s, WS_AL_DNS_TCP_TX)};
    for (int tx = 0; tx < 2; tx++) {
        for (int k = 1; k < APP_PROTO_MAX; k++) {
            if (tx && k != APP_PROTO_HTTP && k != APP_PROTO_DNS && k != APP_PROTO_TLS)
                continue;
            if (k == APP_PROTO_FAILED) /* Suricata splits it (failed_tcp/_udp): not written */
                continue;
            uint64_t v = sum_w(s, (enum wstat)((tx ? WS_AL_TX : WS_AL_FLOW) + k));
            const char *kind = tx ? "tx" : "flow";
            if (k == APP_PROTO_DNS) {
                snprintf(names[n], 48, "app_layer.%s.dns_udp", kind);
                out[n].name = names[n];
                out[n].value = v - dns_tcp[tx];
                n++;
                snprintf(names[n], 48, "app_layer.%s.dns_tcp", kind);
                out[n].name = names[n];
                out[n].value = dns_tcp[tx];
                n++;
                continue;
            }
            snprintf(names[n], 48, "app_layer.%s.%s", kind, app_proto_name((enum app_proto)k));
            out[n].name = names[n];
            out[n].value = v;
            n++;
        }
    }
    return n;
}

static void out_stats(struct sensor *s, uint64_t ts_ns, uint64_t uptime_s)
{
    struct sensor_totals t;
    sensor_get_totals(s, &t);
    struct reload_stats rst;
    memset(&rst, 0, sizeof(rst));
    if (s->rl)
        reload_get_stats(s->rl, &rst);
    const struct eve_stat st[] = {
        {"capture.kernel_packets", t.packets},
        {"capture.kernel_drops", t.capture_kernel_drops},
        {"capture.kernel_ifdrops", t.capture_iface_drops},
        {"decoder.pkts", t.processed},
        {"decoder.bytes", sum_w(s, WS_BYTES)},
        {"decoder.invalid", t.decode_invalid},
        {"decoder.ipv4", sum_w(s, WS_DEC_IPV4)},
        {"decoder.ipv6", sum_w(s, WS_DEC_IPV6)},
        {"decoder.tcp", sum_w(s, WS_DEC_TCP)},
        {"decoder.udp", sum_w(s, WS_DEC_UDP)},
        {"decoder.icmp", sum_w(s, WS_DEC_ICMP)},
        {"decoder.fragments", sum_w(s, WS_DEC_FRAGMENTS)},
        {"decoder.reassembled", sum_w(s, WS_DEC_REASSEMBLED)},
        {"decoder.notes", sum_w(s, WS_DEC_NOTES)},
        {"decoder.snaplen_cut", t.snaplen_cut},
        {"flow.total", t.flows_created},
        {"flow.active", t.flows_active},
        {"flow.tcp", t.tcp_flows},
        {"flow.udp", t.udp_flows},
        {"flow.ended", t.flows_ended},
        {"flow.evicted", t.flows_evicted},
        {"detect.alert", t.alerts},
        {"detect.rules_loaded", rst.rules_loaded},
        {"detect.rules_generation", rst.generation},
        {"detect.reloads_ok", rst.reloads_ok},
        {"detect.reloads_failed", rst.reloads_failed},
        {"detect.last_reload", rst.last_reload_ns / NS_PER_S}, /* wall clock, s; 0 = none */
        {"anomaly.detections", sum_w(s, WS_DETECTIONS)},
        {"anomaly.decode_events", t.anomaly_events},
        {"pipeline.workers", s->nw},
        {"pipeline.dispatch_drops", t.dispatch_drops},
        {"pipeline.dispatch_waits", t.dispatch_waits},
        {"pipeline.event_ring_full", t.event_ring_full},
        {"pipeline.event_waits", t.event_waits},
        {"pipeline.events_written", t.events_written},
        {"pipeline.read_errors", t.read_errors},
        {"pipeline.window_waits", get_r(s, RS_WINDOW_WAITS)},
    };
    /* flow bypass and the capture's own counters (XDP program, DPDK ports): capture_opts.c */
    struct eve_stat all[sizeof(st) / sizeof(st[0]) + 2 * APP_PROTO_MAX + 2 + ENGINE_EXTRA_STATS];
    uint64_t byp[BYP_N];
    for (int k = 0; k < BYP_N; k++)
        byp[k] = sum_w(s, (enum wstat)(WS_BYP + k));
    memcpy(all, st, sizeof(st));
    size_t n = sizeof(st) / sizeof(st[0]);
    char alnames[2 * APP_PROTO_MAX + 2][48];
    n += app_layer_stats(s, all + n, alnames);
    n += engine_extra_stats(byp, s->qsrc, all + n, ENGINE_EXTRA_STATS);
    size_t len;
    if (eve_format_stats(&s->eopts, ts_ns, uptime_s, all, n, s->line, OUT_LINE_MAX, &len) != 0 ||
        outputs_write_stats(s->outs, s->line, len) != 0)
        s->out_errors++;
}

static void *output_main(void *arg)
{
    struct sensor *s = arg;
    struct event evs[OUT_BURST];
    uint64_t start = mono_ns();
    uint64_t next_tick = start + NS_PER_S;
    uint64_t interval = (uint64_t)s->cfg->stats_interval * NS_PER_S;
    uint64_t next_stats = interval ? start + interval : UINT64_MAX;
    unsigned spins = 0;
    if (s->stats_hook)
        s->stats_hook(s->stats_ctx, s); /* metrics valid from the start */
    for (;;) {
        /* read the stop flag before draining: once set, the workers are done and everything
         * they queued is visible (acquire pairs with the release store in sensor_run_*) */
        bool stopping = atomic_load_explicit(&s->out_stop, memory_order_acquire);
        unsigned got = 0;
        for (unsigned i = 0; i < s->nw; i++) {
            unsigned n = spsc_ring_dequeue_burst(s->w[i]->ev, evs, OUT_BURST);
            for (unsigned k = 0; k < n; k++) {
                /* app-layer chunks: only the one completing a record is written */
                if (evs[k].type == EVENT_APPLAYER && !applayer_eve_asm_add(s->easm, &evs[k]))
                    continue;
                if (outputs_write_event(s->outs, &evs[k]) == 0)
                    s->out_written++;
                else
                    s->out_errors++;
            }
            reload_output_progress(s->rl, i, n); /* past the reload's event fence (reload.h) */
            got += n;
        }
        atomic_store_explicit(&s->out_pub_written, s->out_written, memory_order_relaxed);
        atomic_store_explicit(&s->out_pub_errors, s->out_errors, memory_order_relaxed);
        uint64_t now = mono_ns();
        if (s->reopen) {
            /* SIGHUP (logrotate): the handler only counts; the reopen happens here */
            int r = atomic_load_explicit(s->reopen, memory_order_relaxed);
            if (r != s->reopen_seen) {
                s->reopen_seen = r;
                outputs_reopen(s->outs);
            }
        }
        if (now >= next_tick) {
            outputs_tick(s->outs, wall_ns());
            if (s->stats_hook)
                s->stats_hook(s->stats_ctx, s);
            next_tick = now + NS_PER_S;
        }
        if (now >= next_stats) {
            uint64_t ts = s->live ? wall_ns() : get_r(s, RS_CLOCK);
            out_stats(s, ts ? ts : wall_ns(), (now - start) / NS_PER_S);
            next_stats = now + interval;
        }
        if (got == 0) {
            if (stopping)
                break;
            backoff(&spins);
            if (spins > 64)
                spins = 64;
        } else {
            spins = 0;
        }
    }
    outputs_tick(s->outs, wall_ns());
    return NULL;
}

/* ---- rules ------------------------------------------------------------------------------------ */

/* Loads and compiles cfg's rules as the first generation (reload.c: load report to out; a file
 * that cannot be read is reported; zero usable rules is an error). */
static int sensor_load_rules(struct sensor *s, FILE *out, char *err, size_t errlen)
{
    if (!(s->rl = reload_new(s->cfg, s->nw, out, err, errlen)))
        return -EINVAL;
    s->de = reload_engine(s->rl);
    return 0;
}

int sensor_test_rules(const struct tl_config *cfg, FILE *out, char *err, size_t errlen)
{
    struct sensor s;
    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    int rc = sensor_load_rules(&s, out, err, errlen);
    if (rc == 0 && out)
        reload_print_info(s.rl, out);
    reload_free(s.rl);
    return rc;
}

struct reload *sensor_reload(struct sensor *s)
{
    return s->rl;
}

/* ---- construction ---------------------------------------------------------------------------- */

static void worker_free(struct worker *w)
{
    if (!w)
        return;
    pipeline_free(w->pl);
    spsc_ring_free(w->in);
    spsc_ring_free(w->ret);
    spsc_ring_free(w->ev);
    for (unsigned i = 0; i < w->n_pool; i++)
        free(w->pool[i]);
    free(w->pool);
    free(w->ovf);
    free(w);
}

static struct worker *worker_new(struct sensor *s, unsigned id, char *err, size_t errlen)
{
    const struct tl_config *cfg = s->cfg;
    struct worker *w = aligned_alloc(64, (sizeof(struct worker) + 63) & ~(size_t)63);
    if (!w)
        goto oom;
    memset(w, 0, sizeof(*w));
    w->s = s;
    w->id = id;
    w->cpu = s->ncpus ? s->cpus[id % (unsigned)s->ncpus] : -1;

    struct pipeline_config pc;
    pipeline_config_default(&pc);
    struct decoder_config dc = pc.dc;
    dc.frag_max_datagrams = cfg->max_frag_datagrams / s->nw > 16 ? cfg->max_frag_datagrams / s->nw : 16;
    uint64_t fb = cfg->max_frag_bytes / s->nw;
    dc.frag_max_bytes = (uint32_t)(fb > 65536 ? (fb > UINT32_MAX ? UINT32_MAX : fb) : 65536);
    dc.frag_timeout_ns = (uint64_t)cfg->frag_timeout * NS_PER_S;
    dc.check_checksums = cfg->checksum_validation;
    dc.vxlan_port = (uint16_t)cfg->vxlan_port;
    pc.dc = dc;

    struct flow_config fc = pc.fc;
    uint64_t per = cfg->max_flows / s->nw;
    fc.max_flows = (uint32_t)(per < 1024 ? 1024 : per);
    fc.hash_size = cfg->flow_hash_size ? cfg->flow_hash_size / s->nw : 0;
    fc.tcp_new = cfg->to_tcp_new;
    fc.tcp_established = cfg->to_tcp_established;
    fc.tcp_closing = cfg->to_tcp_closing;
    fc.tcp_closed = cfg->to_tcp_closed;
    fc.udp_new = cfg->to_udp_new;
    fc.udp_established = cfg->to_udp_established;
    fc.icmp_new = cfg->to_icmp_new;
    fc.icmp_established = cfg->to_icmp_established;
    fc.timeout_new = cfg->to_default_new;
    fc.timeout_established = cfg->to_default_established;
    fc.timeout_closed = cfg->to_default_closed;
    fc.midstream = cfg->stream_midstream; /* mid-stream direction as Suricata (flow_midstream.c) */
    pc.fc = fc;
    pc.de = s->de;   /* rules: stream, detect and the app layer */
    pc.ash = s->ash; /* anomaly stage */
    pc.worker_id = (uint16_t)id;
    if (!(w->pl = pipeline_new(&pc)))
        goto oom;

    if (!(w->ev = spsc_ring_new(cfg->event_ring, sizeof(struct event))))
        goto oom;
    w->ovf_cap = cfg->event_overflow;
    if (w->ovf_cap && !(w->ovf = malloc(sizeof(struct event) * w->ovf_cap)))
        goto oom;
    return w;
oom:
    snprintf(err, errlen, "worker %u: out of memory (lower memory.flows or pipeline sizes)", id);
    worker_free(w);
    return NULL;
}

/* Batch rings and pools for dispatch mode. */
static int worker_alloc_dispatch(struct sensor *s, struct worker *w)
{
    uint32_t cap = s->cfg->batch_ring;
    if (!(w->in = spsc_ring_new(cap, sizeof(struct batch *))))
        return -ENOMEM;
    cap = spsc_ring_capacity(w->in);
    /* pool = ring + the one the worker holds + the one the reader fills: the reader then always
     * finds a free batch right after a successful push */
    w->n_pool = 0;
    w->pool = calloc(cap + 2, sizeof(*w->pool));
    if (!w->pool || !(w->ret = spsc_ring_new(cap + 2, sizeof(struct batch *))))
        return -ENOMEM;
    for (unsigned i = 0; i < cap + 2; i++) {
        struct batch *b = aligned_alloc(64, sizeof(struct batch));
        if (!b)
            return -ENOMEM;
        b->n = 0;
        b->used = 0;
        b->last = false;
        b->reset = false;
        w->pool[w->n_pool++] = b;
    }
    s->cur[w->id] = w->pool[0];
    spsc_ring_enqueue_burst(w->ret, &w->pool[1], cap + 1);
    return 0;
}

static long online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* ---- outputs ---------------------------------------------------------------------------------- */

/* Joins a sequence of scalars with commas (types: [alert, flow] -> "alert,flow"). */
static int join_seq(const struct cfg_node *n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (const struct cfg_node *c = n->child; c; c = c->next) {
        if (c->kind != CFG_SCALAR || !c->value)
            return -EINVAL;
        int w = snprintf(out + len, cap - len, "%s%s", len ? "," : "", c->value);
        if (w < 0 || (size_t)w >= cap - len)
            return -ENAMETOOLONG;
        len += (size_t)w;
    }
    return 0;
}

/* Fills one output from its map under `outputs`: every key goes to output_config_set(), errors
 * name the key and its line. A relative eve-file path is under the log directory (as before:
 * outputs.eve-log.filename, -l DIR). */
static int output_from_node(const struct tl_config *cfg, const struct cfg_node *on,
                            struct output_config *oc, char *err, size_t errlen)
{
    char oerr[256];
    output_config_default(oc);
    if (on->kind != CFG_MAP) {
        snprintf(err, errlen, "%s:%d: key 'outputs.%s': expected a map of settings",
                 config_file(cfg), config_node_line(on), on->key);
        return -EINVAL;
    }
    if (output_config_set(oc, "name", on->key, oerr, sizeof(oerr)) < 0) {
        snprintf(err, errlen, "%s:%d: key 'outputs.%s': %s", config_file(cfg), config_node_line(on),
                 on->key, oerr);
        return -EINVAL;
    }
    for (const struct cfg_node *k = on->child; k; k = k->next) {
        char val[1024];
        const char *v = k->value;
        if (k->kind == CFG_SEQ) {
            if (join_seq(k, val, sizeof(val)) < 0) {
                snprintf(err, errlen, "%s:%d: key 'outputs.%s.%s': expected a list of words",
                         config_file(cfg), config_node_line(k), on->key, k->key);
                return -EINVAL;
            }
            v = val;
        } else if (k->kind != CFG_SCALAR || !v) {
            snprintf(err, errlen, "%s:%d: key 'outputs.%s.%s': expected a value or a list",
                     config_file(cfg), config_node_line(k), on->key, k->key);
            return -EINVAL;
        }
        if (output_config_set(oc, k->key, v, oerr, sizeof(oerr)) < 0) {
            snprintf(err, errlen, "%s:%d: key 'outputs.%s.%s': %s", config_file(cfg),
                     config_node_line(k), on->key, k->key, oerr);
            return -EINVAL;
        }
    }
    if ((oc->kind == OUTPUT_EVE_FILE || oc->kind == OUTPUT_FAST_LOG) && oc->path[0] != '/') {
        char full[sizeof(oc->path)];
        int w = snprintf(full, sizeof(full), "%s/%s", cfg->log_dir, oc->path);
        if (w < 0 || (size_t)w >= sizeof(full)) {
            snprintf(err, errlen, "%s:%d: key 'outputs.%s': path too long under %s", config_file(cfg),
                     config_node_line(on), on->key, cfg->log_dir);
            return -EINVAL;
        }
        memcpy(oc->path, full, sizeof(full));
    }
    if (output_config_validate(oc, oerr, sizeof(oerr)) < 0) {
        snprintf(err, errlen, "%s:%d: key 'outputs.%s': %s", config_file(cfg), config_node_line(on),
                 on->key, oerr);
        return -EINVAL;
    }
    return 0;
}

/* Builds s->outs from the `outputs` section; none (or empty): one EVE file LOGDIR/eve.json
 * (outputs.eve-log.filename / --set may rename it). */
static int sensor_outputs_new(struct sensor *s, char *err, size_t errlen)
{
    const struct tl_config *cfg = s->cfg;
    const struct cfg_node *sec = config_get(cfg->root, "outputs");
    unsigned n = 0;
    if (sec && sec->kind == CFG_MAP)
        for (const struct cfg_node *c = sec->child; c; c = c->next)
            n++;
    else if (sec && !(sec->kind == CFG_SCALAR && (!sec->value || !sec->value[0]))) {
        snprintf(err, errlen, "%s:%d: key 'outputs': expected a map of outputs", config_file(cfg),
                 config_node_line(sec));
        return -EINVAL;
    }
    struct output_config *ocs = calloc(n ? n : 1, sizeof(*ocs));
    if (!ocs) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = 0;
    if (n == 0) {
        output_config_default(&ocs[0]);
        snprintf(ocs[0].name, sizeof(ocs[0].name), "eve-log");
        int w = snprintf(ocs[0].path, sizeof(ocs[0].path), "%s/%s", cfg->log_dir, cfg->eve_filename);
        if (w < 0 || (size_t)w >= sizeof(ocs[0].path)) {
            snprintf(err, errlen, "%s/%s: path too long", cfg->log_dir, cfg->eve_filename);
            rc = -EINVAL;
            goto out;
        }
        n = 1;
    } else {
        unsigned i = 0;
        for (const struct cfg_node *c = sec->child; c; c = c->next, i++)
            if ((rc = output_from_node(cfg, c, &ocs[i], err, errlen)) < 0)
                goto out;
    }
    if (n == 1)
        snprintf(s->eve_path, sizeof(s->eve_path), "%s",
                 ocs[0].kind == OUTPUT_EVE_FILE || ocs[0].kind == OUTPUT_UNIX_STREAM ||
                         ocs[0].kind == OUTPUT_UNIX_DGRAM
                     ? ocs[0].path
                     : ocs[0].name);
    else
        snprintf(s->eve_path, sizeof(s->eve_path), "%u outputs", n);
    if (!(s->outs = outputs_new(ocs, n, err, errlen)))
        rc = -EINVAL;
    else {
        outputs_set_eve_applayer(s->outs, applayer_eve_asm_write, s->easm);
        outputs_set_eve_names(s->outs, applayer_eve_app_proto_name, applayer_eve_anomaly_name,
                              NULL);
    }
out:
    free(ocs);
    return rc;
}

void sensor_set_reopen(struct sensor *s, const atomic_int *reopen)
{
    s->reopen = reopen;
    s->reopen_seen = reopen ? atomic_load(reopen) : 0;
}

struct sensor *sensor_new(const struct tl_config *cfg, const atomic_int *stop, char *err,
                          size_t errlen)
{
    struct sensor *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->stop = stop;
    s->single = cfg->runmode == RUNMODE_SINGLE;
    s->nw = s->single ? 1 : (cfg->workers ? cfg->workers : (unsigned)online_cpus());
    if (s->nw > ENGINE_MAX_WORKERS)
        s->nw = ENGINE_MAX_WORKERS;
    atomic_init(&s->nw_pub, s->nw);
    atomic_init(&s->qsrc_pub, NULL);
    atomic_init(&s->out_stop, false);
    atomic_init(&s->out_pub_written, 0);
    atomic_init(&s->out_pub_errors, 0);
    for (int i = 0; i < RS_MAX; i++)
        atomic_init(&s->rpub[i], 0);
    if (cfg->cpus[0]) {
        int n = config_parse_cpus(cfg->cpus, s->cpus, 1024);
        if (n < 0) {
            snprintf(err, errlen, "bad CPU list '%s'", cfg->cpus);
            goto fail;
        }
        s->ncpus = n;
    }

    /* anomaly stage: its config is the pass-through section */
    anomaly_config_default(&s->acfg);
    if (anomaly_config_parse(&s->acfg, cfg, config_get(cfg->root, "anomaly"), err, errlen) < 0)
        goto fail;
    /* the stage sizes its per-worker state by max_workers: exactly the workers we run */
    s->acfg.max_workers = s->nw;
    if (s->acfg.enabled) {
        if (anomaly_config_validate(&s->acfg, err, errlen) < 0)
            goto fail;
        if (!(s->ash = anomaly_shared_new(&s->acfg))) {
            snprintf(err, errlen, "anomaly: cannot create state (out of memory?)");
            goto fail;
        }
    }

    /* Without rule files an empty rule set still runs stream reassembly and the app layer, so
     * http/dns/tls records and app_proto are written as Suricata does without rules. */
    if (sensor_load_rules(s, cfg->n_rule_files ? stderr : NULL, err, errlen) < 0)
        goto fail;

    s->window_ns = s->ash ? (uint64_t)s->acfg.window_ms * 1000000ull : NS_PER_S;
    if (s->window_ns < TICK_NS)
        s->window_ns = TICK_NS;

    /* output */
    eve_format_opts_default(&s->eopts);
    s->eopts.app_proto_name = applayer_eve_app_proto_name;
    if (!(s->line = malloc(OUT_LINE_MAX)))
        goto oom;
    if (mkdir(cfg->log_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create log directory: %s", cfg->log_dir, strerror(errno));
        goto fail;
    }
    if (!(s->easm = applayer_eve_asm_new(s->nw)))
        goto oom;
    if (sensor_outputs_new(s, err, errlen) < 0)
        goto fail;

    if (!(s->w = calloc(s->nw, sizeof(*s->w))) || !(s->cur = calloc(s->nw, sizeof(*s->cur))))
        goto oom;
    for (unsigned i = 0; i < s->nw; i++) {
        if (!(s->w[i] = worker_new(s, i, err, errlen)))
            goto fail;
        s->nw_alloc = i + 1;
        for (int k = 0; k < WS_MAX; k++)
            atomic_init(&s->w[i]->pub[k], 0);
        atomic_init(&s->w[i]->done_clock, 0);
    }
    return s;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    sensor_free(s);
    return NULL;
}

void sensor_set_log(struct sensor *s, struct tl_log *lg)
{
    s->log = lg;
}

void sensor_set_stats_hook(struct sensor *s, sensor_stats_hook_fn fn, void *ctx)
{
    s->stats_hook = fn;
    s->stats_ctx = ctx;
}

void sensor_set_ready_hook(struct sensor *s, sensor_ready_hook_fn fn, void *ctx)
{
    s->ready_hook = fn;
    s->ready_ctx = ctx;
}

/* Runs the ready hook once (privilege drop); false when it failed and the run must stop. */
static bool sensor_ready(struct sensor *s)
{
    if (!s->ready_hook)
        return true;
    sensor_ready_hook_fn fn = s->ready_hook;
    s->ready_hook = NULL;
    return fn(s->ready_ctx) == 0;
}

const struct outputs *sensor_outputs(const struct sensor *s)
{
    return s->outs;
}

unsigned sensor_worker_count(const struct sensor *s)
{
    return atomic_load_explicit(&((struct sensor *)s)->nw_pub, memory_order_acquire);
}

static int output_start(struct sensor *s)
{
    /* set before the thread exists: the output thread reads it (stats), and pthread_create
       orders this write before everything the new thread does */
    s->out_started = true;
    if (pthread_create(&s->out_thr, NULL, output_main, s) != 0) {
        s->out_started = false;
        return -EAGAIN;
    }
    if (s->ncpus)
        pin_thread(s->out_thr, s->cpus[(s->nw + 1) % (unsigned)s->ncpus]);
    return 0;
}

/* Stops the output thread after the workers are done; the final stats event is written
 * after it drained every ring. */
static void output_stop(struct sensor *s)
{
    if (!s->out_started)
        return;
    /* release: pairs with the output thread's acquire load; every event the workers (now
     * joined) queued is visible to it */
    atomic_store_explicit(&s->out_stop, true, memory_order_release);
    pthread_join(s->out_thr, NULL);
    /* t1 before out_started goes false: other threads' sensor_get_totals() read t1 only then */
    clock_gettime(CLOCK_MONOTONIC, &s->t1);
    atomic_store_explicit(&s->t1_ns, (uint64_t)s->t1.tv_sec * NS_PER_S + (uint64_t)s->t1.tv_nsec,
                          memory_order_release);
    s->out_started = false;
    atomic_store_explicit(&s->out_pub_written, s->out_written, memory_order_relaxed);
    /* one final stats event (replay: stamped with the last packet time) */
    uint64_t ts = s->live ? wall_ns() : s->r[RS_CLOCK];
    uint64_t up = (uint64_t)(s->t1.tv_sec - s->t0.tv_sec);
    out_stats(s, ts ? ts : wall_ns(), up);
    atomic_store_explicit(&s->out_pub_written, s->out_written, memory_order_relaxed);
    atomic_store_explicit(&s->out_pub_errors, s->out_errors, memory_order_relaxed);
    outputs_tick(s->outs, wall_ns());
    if (s->stats_hook)
        s->stats_hook(s->stats_ctx, s); /* final totals */
}

/* After the workers stopped: the anomaly stage's merge of what is pending and incident ends. The
 * main thread becomes worker 0's event producer (the worker thread is joined). */
static void anomaly_final(struct sensor *s)
{
    if (!s->ash)
        return;
    struct worker *w0 = s->w[0];
    anomaly_shared_flush(s->ash, worker_emit, w0);
    worker_flush_overflow(w0, true);
    worker_publish(w0);
}

/* ---- dispatch mode: the reader ---------------------------------------------------------------- */

/* Hands the current batch of worker wi over (or processes it inline in single mode) and takes
 * a free one. Replay: waits while the worker's ring is full. Live: a full ring drops the
 * batch's packets, counted. */
static void reader_push_reset(struct sensor *s, unsigned wi, bool last, bool reset)
{
    struct worker *w = s->w[wi];
    struct batch *b = s->cur[wi];
    b->clock_ns = s->clock_ns;
    b->last = last;
    b->reset = reset;
    if (s->single) {
        worker_check_rules(w);
        worker_process(w, b->pkts, b->pcap_cnt, b->n);
        if (last)
            worker_finish(w, b->clock_ns);
        else {
            if (reset)
                worker_reset(w);
            worker_advance(w, b->clock_ns);
            worker_publish(w);
        }
        b->n = 0;
        b->used = 0;
        return;
    }
    unsigned spins = 0;
    while (spsc_ring_enqueue_burst(w->in, &b, 1) == 0) {
        if (s->live && !last) {
            s->r[RS_DISPATCH_DROPS] += b->n;
            b->n = 0;
            b->used = 0;
            return;
        }
        s->r[RS_DISPATCH_WAITS]++;
        backoff(&spins);
    }
    spins = 0;
    while (spsc_ring_dequeue_burst(w->ret, &s->cur[wi], 1) == 0)
        backoff(&spins);
}

static void reader_push(struct sensor *s, unsigned wi, bool last)
{
    reader_push_reset(s, wi, last, false);
}

/* Copies one packet into its worker's batch. */
static void reader_add(struct sensor *s, const struct dp_packet *p, uint64_t pcap_cnt)
{
    uint32_t h = decode_dispatch_hash_port(p, (uint16_t)s->cfg->vxlan_port);
    unsigned wi = s->nw > 1 ? h % s->nw : 0;
    struct batch *b = s->cur[wi];
    if (p->caplen > ENGINE_BATCH_ARENA - b->used || b->n == ENGINE_BATCH) {
        reader_push(s, wi, false);
        b = s->cur[wi];
    }
    uint32_t cap = p->caplen > ENGINE_BATCH_ARENA ? ENGINE_BATCH_ARENA : p->caplen;
    b->pcap_cnt[b->n] = pcap_cnt;
    struct dp_packet *d = &b->pkts[b->n++];
    *d = *p;
    d->caplen = cap;
    d->hash = h;
    d->data = b->arena + b->used;
    memcpy(b->arena + b->used, p->data, cap);
    /* keep the next copy 64-byte aligned */
    b->used += (cap + 63) & ~63u;
    if (b->used > ENGINE_BATCH_ARENA)
        b->used = ENGINE_BATCH_ARENA;
}

/* Moves the reader's packet clock to the time of the packet just read. When that crosses a
 * window boundary (the anomaly stage's merge window), every worker gets its batch, even an
 * empty one, carrying the new clock: each worker then passes every window after the packets
 * of that window and before those of the next, exactly as a single worker would, so windows
 * merge with the same content whatever the worker count (determinism), and idle workers'
 * flows time out. */
static void reader_clock(struct sensor *s, uint64_t ts)
{
    if (ts <= s->clock_ns)
        return;
    bool crossed = s->clock_ns && ts / s->window_ns != s->clock_ns / s->window_ns;
    s->clock_ns = ts;
    if (!crossed || s->single)
        return;
    for (unsigned i = 0; i < s->nw; i++)
        reader_push(s, i, false);
    if (s->live || !s->ash)
        return;
    /* Replay runs as fast as the workers go, so without a barrier one worker could race windows
     * ahead of another: the anomaly stage's merged windows would then depend on thread timing.
     * At each window boundary of packet time, wait until every worker has processed all packets
     * before it and passed the boundary (a barrier once per window, not per packet). */
    uint64_t target = ts;
    for (unsigned i = 0; i < s->nw; i++) {
        unsigned spins = 0;
        /* acquire: pairs with the worker's release store of done_clock */
        while (atomic_load_explicit(&s->w[i]->done_clock, memory_order_acquire) < target) {
            s->r[RS_WINDOW_WAITS]++;
            backoff(&spins);
        }
    }
}

static void reader_flush_all(struct sensor *s, bool last)
{
    for (unsigned i = 0; i < s->nw; i++)
        if (last || s->cur[i]->n > 0)
            reader_push(s, i, last);
    reader_publish(s);
}

static int pipeline_start(struct sensor *s, bool queues)
{
    clock_gettime(CLOCK_MONOTONIC, &s->t0);
    s->ran = true;
    if (output_start(s) < 0)
        return -EAGAIN;
    if (s->single)
        return 0;
    for (unsigned i = 0; i < s->nw; i++) {
        struct worker *w = s->w[i];
        if (pthread_create(&w->thr, NULL, queues ? worker_queue_main : worker_dispatch_main, w) != 0)
            return -EAGAIN;
        w->started = true;
        pin_thread(w->thr, w->cpu);
    }
    if (s->ncpus && !queues)
        pin_thread(pthread_self(), s->cpus[s->nw % (unsigned)s->ncpus]);
    return 0;
}

static void pipeline_join(struct sensor *s)
{
    for (unsigned i = 0; i < s->nw; i++) {
        if (s->w[i]->started) {
            pthread_join(s->w[i]->thr, NULL);
            s->w[i]->started = false;
        }
    }
    atomic_store_explicit(&s->tw_ns, mono_ns(), memory_order_relaxed);
    anomaly_final(s);
    output_stop(s);
}

static int dispatch_prepare(struct sensor *s)
{
    for (unsigned i = 0; i < s->nw; i++)
        if (worker_alloc_dispatch(s, s->w[i]) < 0)
            return -ENOMEM;
    return 0;
}

/* Progress line on a terminal: packets, rate, percent of the input. */
static void progress(struct sensor *s, uint64_t *last_print, uint64_t file_off, bool final)
{
    uint64_t now = mono_ns();
    if (!final && now - *last_print < NS_PER_S)
        return;
    *last_print = now;
    double el = (double)(now - ((uint64_t)s->t0.tv_sec * NS_PER_S + (uint64_t)s->t0.tv_nsec)) / 1e9;
    double pct = s->bytes_total ? 100.0 * (double)(s->bytes_done + file_off) / (double)s->bytes_total : 0;
    fprintf(stderr, "\r%" PRIu64 " packets, %.2f Mpps, %.0f%%   ", s->r[RS_PACKETS],
            el > 0 ? (double)s->r[RS_PACKETS] / el / 1e6 : 0.0, pct > 100 ? 100 : pct);
    if (final)
        fputc('\n', stderr);
}

/* Pacing for --pcap-speed: returns when the packet's time (scaled) has come. */
static void pace(struct sensor *s, uint64_t ts, uint64_t *first_ts, uint64_t *wall0)
{
    if (*first_ts == 0) {
        *first_ts = ts;
        *wall0 = mono_ns();
        return;
    }
    if (ts <= *first_ts)
        return;
    uint64_t due = *wall0 + (uint64_t)((double)(ts - *first_ts) / s->cfg->pcap_speed);
    uint64_t now = mono_ns();
    if (now + 200000 < due) {
        /* workers must see what was read so far before we sleep */
        reader_flush_all(s, false);
        while ((now = mono_ns()) < due && !atomic_load_explicit(s->stop, memory_order_relaxed)) {
            uint64_t d = due - now;
            sleep_ns((long)(d > 50000000 ? 50000000 : d));
        }
    }
}

int sensor_run_files(struct sensor *s, char *const *files, unsigned n)
{
    char err[600];
    int rc = 0;
    uint64_t read_ok_files = 0;
    bool tty = isatty(2);
    uint64_t last_print = mono_ns(), first_ts = 0, wall0 = 0;

    if (dispatch_prepare(s) < 0) {
        tl_err(s->log, "out of memory for the dispatch rings");
        return 1;
    }
    for (unsigned i = 0; i < n; i++) {
        struct stat st;
        if (stat(files[i], &st) == 0 && S_ISREG(st.st_mode))
            s->bytes_total += (uint64_t)st.st_size;
    }
    if (pipeline_start(s, false) < 0) {
        tl_err(s->log, "cannot start threads");
        return 1;
    }
    for (unsigned f = 0; f < n && !atomic_load_explicit(s->stop, memory_order_relaxed); f++) {
        struct dp_pcap *src = dp_pcap_open_file(files[f], err, sizeof(err));
        if (!src) {
            tl_err(s->log, "%s", err);
            s->r[RS_READ_ERRORS]++;
            continue;
        }
        if (!sensor_ready(s)) {
            dp_pcap_close(src);
            rc = 1;
            break;
        }
        struct dp_packet p;
        int r = 0;
        uint64_t before = s->r[RS_PACKETS];
        bool first = true;
        while (!atomic_load_explicit(s->stop, memory_order_relaxed) && (r = dp_pcap_next(src, &p)) == 1) {
            if (first && p.ts_ns < s->clock_ns) {
                /* this file starts before the previous one ended: a separate capture. The
                 * reset batches carry clock 0; wait until every worker applied it so no worker
                 * mixes the two clocks (determinism). */
                s->clock_ns = 0;
                for (unsigned i = 0; i < s->nw; i++)
                    reader_push_reset(s, i, false, true);
                for (unsigned i = 0; i < s->nw && !s->single; i++) {
                    unsigned spins = 0;
                    /* acquire: pairs with the worker's release store of done_clock */
                    while (atomic_load_explicit(&s->w[i]->done_clock, memory_order_acquire) != 0)
                        backoff(&spins);
                }
                first_ts = 0;
            }
            first = false;
            reader_clock(s, p.ts_ns);
            if (s->cfg->pcap_speed > 0)
                pace(s, p.ts_ns, &first_ts, &wall0);
            s->r[RS_PACKETS]++;
            s->r[RS_BYTES] += p.wirelen;
            reader_add(s, &p, s->r[RS_PACKETS]); /* Suricata's pcap_cnt: numbered across the files */
            if ((s->r[RS_PACKETS] & 1023) == 0) {
                s->r[RS_CLOCK] = s->clock_ns;
                reader_publish(s);
                if (tty)
                    progress(s, &last_print, dp_pcap_offset(src), false);
            }
        }
        if (r < 0) {
            tl_err(s->log, "%s%s", dp_pcap_error(src),
                    s->r[RS_PACKETS] > before ? "; the packets before it were processed" : "");
            s->r[RS_READ_ERRORS]++;
        }
        if (s->r[RS_PACKETS] > before || r == 0)
            read_ok_files++;
        s->r[RS_SNAPLEN_CUT] += dp_pcap_snaplen_cut(src);
        s->bytes_done += dp_pcap_size(src);
        dp_pcap_close(src);
    }
    s->r[RS_CLOCK] = s->clock_ns;
    reader_flush_all(s, true);
    pipeline_join(s);
    if (tty)
        progress(s, &last_print, 0, true);
    if (read_ok_files == 0)
        rc = 1;
    return rc;
}

int sensor_run_live(struct sensor *s, const char *iface)
{
    char err[600];
    s->live = true;
    struct dp_pcap *src = dp_pcap_open_live(iface, s->cfg->bpf_filter, err, sizeof(err));
    if (!src) {
        tl_err(s->log, "%s", err);
        return -ENODEV;
    }
    if (!sensor_ready(s)) {
        dp_pcap_close(src);
        return -EPERM;
    }
    if (dispatch_prepare(s) < 0 || pipeline_start(s, false) < 0) {
        dp_pcap_close(src);
        tl_err(s->log, "cannot start the pipeline");
        return -ENOMEM;
    }
    uint64_t last_flush = mono_ns();
    while (!atomic_load_explicit(s->stop, memory_order_relaxed)) {
        struct dp_packet p;
        int r = dp_pcap_next(src, &p);
        if (r < 0) {
            tl_err(s->log, "%s", dp_pcap_error(src));
            s->r[RS_READ_ERRORS]++;
            break;
        }
        if (r == 1) {
            reader_clock(s, p.ts_ns);
            s->r[RS_PACKETS]++;
            s->r[RS_BYTES] += p.wirelen;
            reader_add(s, &p, 0); /* live: no pcap_cnt */
            if ((s->r[RS_PACKETS] & 255) != 0)
                continue;
        }
        /* live: batches must not sit waiting for more traffic; flush every ~10 ms */
        uint64_t now = mono_ns();
        if (r == 0 || now - last_flush > 10000000ull) {
            uint64_t wall = wall_ns();
            if (r == 0 && wall > s->clock_ns)
                s->clock_ns = wall; /* idle link: time still passes */
            reader_flush_all(s, false);
            struct dp_source_stats st;
            dp_pcap_stats(src, &st);
            s->r[RS_KERNEL_DROPS] = st.kernel_drops;
            s->r[RS_IFACE_DROPS] = st.iface_drops;
            s->r[RS_CLOCK] = s->clock_ns;
            reader_publish(s);
            last_flush = now;
        }
    }
    struct dp_source_stats st;
    dp_pcap_stats(src, &st);
    s->r[RS_KERNEL_DROPS] = st.kernel_drops;
    s->r[RS_IFACE_DROPS] = st.iface_drops;
    s->r[RS_CLOCK] = s->clock_ns;
    dp_pcap_close(src);
    reader_flush_all(s, true);
    pipeline_join(s);
    return 0;
}

int sensor_run_queues(struct sensor *s, const struct pkt_source *src)
{
    if (src->n_queues < s->nw) {
        /* only as many workers as queues: the others would idle */
        s->nw = src->n_queues;
        reload_set_workers(s->rl, s->nw); /* reloads do not wait for the idle ones */
    }
    s->live = true;
    s->qsrc = src;
    atomic_store_explicit(&s->nw_pub, s->nw, memory_order_release);
    atomic_store_explicit(&s->qsrc_pub, src, memory_order_release);
    for (unsigned i = 0; i < s->nw; i++) {
        s->w[i]->q = src->queues[i];
        s->w[i]->ops = src->ops;
        engine_bypass_init(pipeline_bypass(s->w[i]->pl), src, i);
    }
    bool single = s->single;
    s->single = false;
    if (pipeline_start(s, true) < 0) {
        s->single = single;
        return -EAGAIN;
    }
    pipeline_join(s);
    return 0;
}

/* ---- accounting ------------------------------------------------------------------------------ */

void sensor_get_totals(struct sensor *s, struct sensor_totals *t)
{
    memset(t, 0, sizeof(*t));
    t->packets = get_r(s, RS_PACKETS);
    t->bytes = get_r(s, RS_BYTES);
    t->processed = sum_w(s, WS_PACKETS);
    const struct pkt_source *q = atomic_load_explicit(&s->qsrc_pub, memory_order_acquire);
    if (q) {
        unsigned nw = atomic_load_explicit(&s->nw_pub, memory_order_acquire);
        t->packets = t->processed;
        t->bytes = sum_w(s, WS_BYTES);
        for (unsigned i = 0; i < nw && i < q->n_queues && q->ops->stats; i++) {
            struct dp_source_stats st = {0};
            q->ops->stats(q->queues[i], &st);
            t->capture_kernel_drops += st.kernel_drops;
            t->capture_iface_drops += st.iface_drops;
        }
    } else {
        t->capture_kernel_drops = get_r(s, RS_KERNEL_DROPS);
        t->capture_iface_drops = get_r(s, RS_IFACE_DROPS);
    }
    t->decode_invalid = sum_w(s, WS_INVALID);
    t->flows_created = sum_w(s, WS_FLOWS_CREATED);
    t->flows_ended = sum_w(s, WS_FLOWS_ENDED);
    t->flows_active = sum_w(s, WS_FLOWS_ACTIVE);
    t->flows_evicted = sum_w(s, WS_FLOWS_EVICTED);
    t->tcp_flows = sum_w(s, WS_FLOWS_TCP);
    t->udp_flows = sum_w(s, WS_FLOWS_UDP);
    t->alerts = sum_w(s, WS_ALERTS) + sum_w(s, WS_DETECTIONS);
    t->anomaly_events = sum_w(s, WS_ANOMALY_EVENTS);
    t->flow_events = sum_w(s, WS_FLOW_EVENTS);
    t->events_written = atomic_load_explicit(&s->out_pub_written, memory_order_relaxed);
    t->dispatch_drops = get_r(s, RS_DISPATCH_DROPS);
    t->dispatch_waits = get_r(s, RS_DISPATCH_WAITS);
    t->event_ring_full = sum_w(s, WS_EVENT_RING_FULL);
    t->event_waits = sum_w(s, WS_EVENT_WAITS);
    t->snaplen_cut = get_r(s, RS_SNAPLEN_CUT);
    t->read_errors = get_r(s, RS_READ_ERRORS);
    t->bypassed_flows = sum_w(s, WS_BYP + BYP_FLOWS);
    t->bypass_capture = sum_w(s, WS_BYP + BYP_CAPTURE);
    t->bypass_local_pkts = sum_w(s, WS_BYP + BYP_LOCAL_PKTS);
    t->bypass_local_bytes = sum_w(s, WS_BYP + BYP_LOCAL_BYTES);
    /* published by the writer: the final stats write after output_stop may still count one */
    t->output_errors = atomic_load_explicit(&s->out_pub_errors, memory_order_relaxed);
    for (int k = 0; k < 4; k++)
        t->alerts_severity[k + 1] = sum_w(s, (enum wstat)(WS_SEV1 + k));
    if (s->rl) {
        /* the running generation's count: follows reloads (same figure as the EVE stats) */
        struct reload_stats rst;
        reload_get_stats(s->rl, &rst);
        t->rules_loaded = rst.rules_loaded;
    }
    struct timespec now;
    uint64_t t1_ns = atomic_load_explicit(&s->t1_ns, memory_order_acquire);
    if (s->out_started || !t1_ns)
        clock_gettime(CLOCK_MONOTONIC, &now);
    else
        now = (struct timespec){.tv_sec = (time_t)(t1_ns / NS_PER_S), .tv_nsec = (long)(t1_ns % NS_PER_S)};
    uint64_t tw = atomic_load_explicit(&s->tw_ns, memory_order_relaxed);
    if (tw)
        t->processing_s = (double)(tw - ((uint64_t)s->t0.tv_sec * NS_PER_S + (uint64_t)s->t0.tv_nsec)) / 1e9;
    t->elapsed_s = s->ran ? (double)(now.tv_sec - s->t0.tv_sec) + (double)(now.tv_nsec - s->t0.tv_nsec) / 1e9 : 0;
}

void sensor_print_summary(struct sensor *s, FILE *out)
{
    struct sensor_totals t;
    sensor_get_totals(s, &t);
    double mpps = t.elapsed_s > 0 ? (double)t.processed / t.elapsed_s / 1e6 : 0;
    double gbps = t.elapsed_s > 0 ? (double)sum_w(s, WS_BYTES) * 8 / t.elapsed_s / 1e9 : 0;
    fprintf(out,
            "tripline: %" PRIu64 " packets (%" PRIu64 " bytes) in %.3f s: %.3f Mpps, %.3f Gbps, %u worker%s\n"
            "  flows %" PRIu64 " (tcp %" PRIu64 ", udp %" PRIu64 ", evicted %" PRIu64 "), alerts %" PRIu64
            ", decoder anomalies %" PRIu64 "\n"
            "  drops: capture %" PRIu64 " (kernel) + %" PRIu64 " (interface), dispatch %" PRIu64
            ", events 0 (ring full %" PRIu64 " -> overflow, %" PRIu64 " waits); reader waited %" PRIu64
            " times\n"
            "  events written %" PRIu64 " to %s%s\n",
            t.packets, t.bytes, t.elapsed_s, mpps, gbps, s->nw, s->nw == 1 ? "" : "s",
            t.flows_created, t.tcp_flows, t.udp_flows, t.flows_evicted, t.alerts, t.decode_invalid,
            t.capture_kernel_drops, t.capture_iface_drops, t.dispatch_drops, t.event_ring_full,
            t.event_waits, t.dispatch_waits, t.events_written, s->eve_path,
            t.output_errors ? " (WRITE ERRORS)" : "");
    if (t.snaplen_cut)
        fprintf(out, "  %" PRIu64 " packets were cut by the capture's snaplen\n", t.snaplen_cut);
    if (s->rl) {
        struct reload_stats rst;
        reload_get_stats(s->rl, &rst);
        if (rst.reloads_ok || rst.reloads_failed)
            fprintf(out, "  rules: %u loaded (generation %" PRIu64 "), reloads %" PRIu64 " ok, %" PRIu64
                    " failed\n", rst.rules_loaded, rst.generation, rst.reloads_ok, rst.reloads_failed);
    }
    if (t.bypassed_flows)
        fprintf(out, "  bypass: %" PRIu64 " flows (%" PRIu64 " in the capture), %" PRIu64
                " packets (%" PRIu64 " bytes) of them not inspected\n", t.bypassed_flows,
                t.bypass_capture, t.bypass_local_pkts, t.bypass_local_bytes);
}

void sensor_free(struct sensor *s)
{
    if (!s)
        return;
    if (s->w) {
        for (unsigned i = 0; i < s->nw_alloc; i++)
            worker_free(s->w[i]);
    }
    anomaly_shared_free(s->ash);
    reload_free(s->rl); /* after the workers: their detect threads use its engines */
    outputs_free(s->outs);
    applayer_eve_asm_free(s->easm);
    free(s->line);
    free(s->w);
    free(s->cur);
    free(s);
}
