/* Multi-queue capture sources for the workers run mode: `--capture afxdp|dpdk`, `--queues`,
 * `--dpdk-args`, `--ports`, `--xdp-detach`, and the `capture.afxdp` / `capture.dpdk` sections of
 * the configuration, turned into a struct pkt_source for sensor_run_queues().
 *
 * Owner: dataplanes (dataplane/afxdp_source, dataplane/dpdk_source). Each part is compiled in
 * only when its data plane is (HAVE_XDP, HAVE_DPDK); asking for a missing one is a clear error.
 * Calling context: main thread, except the bypass functions (a worker, for its own queue) and
 * capture_get_stats (any thread).
 */
#ifndef TRIPLINE_CAPTURE_OPTS_H
#define TRIPLINE_CAPTURE_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "dataplane.h"
#include "decode.h"
#include "detect.h"
#include "engine.h"
#include "event.h"
#include "flow.h"

enum capture_kind { CAPTURE_PCAP = 0, CAPTURE_AFXDP, CAPTURE_DPDK };

/* capture.afxdp.xdp-mode: auto = native with a fallback to generic (said in the log). */
enum capture_xdp_mode { CAPTURE_XDP_AUTO = 0, CAPTURE_XDP_NATIVE, CAPTURE_XDP_SKB };

struct capture_opts {
    enum capture_kind kind;
    bool kind_set;         /* --capture given (the command line wins over capture.method) */
    const char *iface;     /* -i (afxdp) */
    unsigned queues;       /* --queues; 0: all the interface has (afxdp), 1 (dpdk) */
    const char *dpdk_args; /* --dpdk-args "EAL ARGS" */
    const char *ports;     /* --ports LIST (dpdk): ids or device names, comma separated */
    bool xdp_detach;       /* --xdp-detach: detach a left-over XDP program from -i and exit */
    /* capture.bypass, capture.bypass-after (also capture.afxdp.bypass-after) */
    bool bypass_off;             /* capture.bypass: no - no flow is bypassed in the capture */
    uint64_t afxdp_bypass_after; /* bytes after which a flow no rule can still match is bypassed
                                    (any capture: in the kernel for afxdp, locally otherwise) */
    /* capture.afxdp.* */
    unsigned afxdp_frames, afxdp_frame_size, afxdp_bypass_entries;
    bool afxdp_force_copy, afxdp_force_skb;
    enum capture_xdp_mode xdp_mode;
    /* capture.dpdk.* */
    unsigned dpdk_mbufs, dpdk_mbuf_size, dpdk_rx_desc;
    char cfg_dpdk_args[1024], cfg_ports[256]; /* storage for values read from the config */
};

/* Defaults: pcap capture, every tunable at its data plane's default (0 = default). */
void capture_opts_init(struct capture_opts *o);

/* Reads the capture keys of the configuration (config.c passes them through to here):
 * capture.method (pcap|afxdp|dpdk), capture.queues, capture.bypass (yes|no),
 * capture.bypass-after (size), capture.afxdp.{queues, frames, frame-size, force-copy, force-skb,
 * xdp-mode (auto|native|skb), bypass-entries, bypass-after}, capture.dpdk.{eal-args, ports,
 * queues, mbufs, mbuf-size, rx-descriptors}; capture.interface is the engine's (-i). Call after
 * the command line has been handled: values the command line set are kept. Returns 0 or -EINVAL
 * with "FILE:LINE: key 'capture....': ..." in err (unknown keys of capture.afxdp / capture.dpdk
 * too). */
int capture_opts_from_config(struct capture_opts *o, const struct tl_config *cfg, char *err,
                             size_t errlen);

/* Long options to add to a getopt_long table, each with has_arg = required_argument except
 * xdp-detach (no_argument); their `val`s start at base. Returns the count written (at most 8). */
unsigned capture_opts_getopt(struct option *out, int base);

/* Handles a getopt_long result val (from the table above) with its optarg. Returns 1 if it was
 * one of ours, 0 if not, -EINVAL with a message for a bad value. */
int capture_opts_handle(struct capture_opts *o, int val, int base, const char *optarg, char *err,
                        size_t errlen);

/* Usage lines for --help. */
const char *capture_opts_usage(void);

struct capture;

/* Opens the source o->kind (AFXDP or DPDK) with `iface` (-i, afxdp). Start-up messages (XDP
 * mode, links, RSS) go to log (may be NULL). NULL with a message naming the setting on failure;
 * *exit_usage is set when the fault is the configuration (exit 2) rather than the host. */
struct capture *capture_open(const struct capture_opts *o, FILE *log, bool *exit_usage, char *err,
                             size_t errlen);

/* The queues for sensor_run_queues(); valid until capture_close(). */
const struct pkt_source *capture_source(const struct capture *c);

/* Counters of the capture layer itself, for EVE stats and the summary. */
struct capture_stats {
    enum capture_kind kind;
    /* afxdp: kernel (XDP program) counters summed over CPUs, and socket drops */
    uint64_t xdp_packets, xdp_bytes, xdp_redirected, xdp_bypassed_packets, xdp_bypassed_bytes;
    uint64_t xdp_parse_failed, xdp_no_socket, xdp_sock_drops;
    /* dpdk: port counters summed over ports */
    uint64_t ipackets, ibytes, imissed, ierrors, rx_nombuf;
};

/* Fills st. Returns 0 or -errno. Any thread. */
int capture_get_stats(struct capture *c, struct capture_stats *st);

/* Writes the counters as one JSON object (`{"afxdp":{...}}` or `{"dpdk":{...}}`) for an EVE
 * stats event. Returns the length (like snprintf). */
int capture_stats_json(const struct capture_stats *st, char *buf, size_t len);

/* Prints the capture counters, one line per port / the XDP program, for the exit summary. */
void capture_print_summary(struct capture *c, FILE *out);

/* A flow, both directions, as the kernel bypass sees it: ports in host order, IPv4 addresses
 * in the first 4 bytes. */
struct capture_flow {
    uint8_t ip_version, proto;
    uint16_t sport, dport;
    uint8_t src[16], dst[16];
};

/* Whether this capture can bypass flows in the kernel (afxdp). */
bool capture_can_bypass(const struct capture *c);

/* capture.afxdp.bypass-after: bytes (both directions) after which the engine may bypass a flow
 * that no rule can still match (an encrypted bulk transfer, say); 0 = only by rule keyword. */
uint64_t capture_bypass_after_bytes(const struct capture *c);

/* Worker `queue` asks the kernel to stop sending it a flow: from now on the flow's packets are
 * counted per flow in the kernel and passed to the stack. Returns 0, -EOPNOTSUPP (not afxdp),
 * or -errno from the map. Called from that queue's worker (not per packet: once per flow). */
int capture_bypass_add(struct capture *c, unsigned queue, const struct capture_flow *f);

/* Reads and removes a bypassed flow's kernel counters (at flow end, so its EVE flow record can
 * add them). Returns 0, -ENOENT (not or no longer in the map), -EOPNOTSUPP. */
int capture_bypass_take(struct capture *c, unsigned queue, const struct capture_flow *f,
                        uint64_t *packets, uint64_t *bytes);

/* main()'s one call after the configuration is final: reads the config's capture sections,
 * handles --xdp-detach, and for --capture afxdp|dpdk opens the source and sets cfg to the
 * workers run mode with one worker per queue (*cap set). Returns -1 to go on (*cap NULL for
 * the libpcap paths), or the exit status main should return (0 after --xdp-detach, 1 runtime
 * error, 2 usage or configuration error), the message already printed. */
int capture_prepare(struct capture_opts *o, struct tl_config *cfg, const char *iface,
                    unsigned n_files, struct capture **cap);

/* The kernel bypass's name for a flow table entry (VLAN ids are not part of it). */
void capture_flow_from_key(const struct flow_key *k, struct dp_flow_tuple *t);

/* ---- flow bypass in a worker (engine.c calls these; owner: dataplanes) ----------------------
 *
 * A flow is bypassed when a rule with the `bypass` keyword matched it
 * (detect_flow_bypass_requested), or when it carried capture.bypass-after bytes and no stream
 * or app-layer inspection is pending for it any more (detect_flow_inspection_done). The worker
 * then stops inspecting it (no app layer, no detect) and, where the source can
 * (ops->bypass_add: AF_XDP's kernel map), the capture stops delivering its packets: one map
 * update per flow. At flow end the source's counters for it (one map read and delete) go into
 * the EVE flow record ("bypassed" object, totals). Sources without bypass_add (DPDK, libpcap)
 * bypass locally: the packets still arrive, are counted and not inspected (Suricata's local
 * bypass). */
enum engine_bypass_counter {
    BYP_FLOWS = 0,    /* flows bypassed */
    BYP_CAPTURE,      /*   of them in the capture */
    BYP_FAILED,       /*   of them the capture refused (bypassed locally instead) */
    BYP_LOCAL_PKTS,   /* packets of bypassed flows that still reached the worker */
    BYP_LOCAL_BYTES,
    BYP_CAPTURE_PKTS, /* packets the capture counted for ended bypassed flows */
    BYP_CAPTURE_BYTES,
    BYP_LOST,         /* ended capture-bypassed flows whose counters were gone (LRU eviction) */
    BYP_N
};

struct engine_bypass {
    const struct pkt_source_ops *ops; /* NULL: local bypass only */
    void *q;
    uint64_t after; /* bytes; 0: only by rule */
    uint64_t c[BYP_N];
};

/* Sets b up for worker queue q of src (src NULL: dispatch mode, local bypass by rule only). */
void engine_bypass_init(struct engine_bypass *b, const struct pkt_source *src, unsigned q);

/* Bypasses flow f now (capture when the source can, else local). Once per flow. */
void engine_bypass_flow(struct engine_bypass *b, struct flow *f);

/* After a packet of f was inspected: bypass it if its rules asked or bypass-after applies.
 * dt may be NULL (no rules: nothing is pending). A branch or two per packet. */
static inline void engine_bypass_check(struct engine_bypass *b, const struct detect_thread *dt,
                                       struct flow *f)
{
    /* only rules ask (dt); detect_flags lies outside the flow's two per-packet cache lines,
     * so a sensor without rules does not touch it */
    if ((dt && detect_flow_bypass_requested(f)) ||
        (b->after && f->bytes[0] + f->bytes[1] >= b->after &&
         (!dt || detect_flow_inspection_done(dt, f))))
        engine_bypass_flow(b, f);
}

/* A packet of a bypassed flow reached the worker (local bypass, or in flight when the map was
 * updated): counted, not inspected. */
static inline void engine_bypass_packet(struct engine_bypass *b, const struct pkt_meta *m)
{
    b->c[BYP_LOCAL_PKTS]++;
    b->c[BYP_LOCAL_BYTES] += m->wirelen;
}

/* Flow end of a bypassed flow: takes the capture's counters into its flow event ev (made by
 * flow_to_event). */
void engine_bypass_flow_end(struct engine_bypass *b, const struct flow *f, struct event *ev);

/* Most entries engine_extra_stats() writes. */
#define ENGINE_EXTRA_STATS 48

struct eve_stat;
/* The stats event's extra counters: flow_bypassed.* from the workers' bypass counters byp
 * (summed), then src's own (capture.afxdp.* / capture.dpdk.*; src may be NULL). Returns how
 * many were written to out (at most max). Output thread. */
unsigned engine_extra_stats(const uint64_t byp[BYP_N], const struct pkt_source *src,
                            struct eve_stat *out, unsigned max);

/* Stops the source (ports, sockets, XDP program, EAL). NULL is a no-op. */
void capture_close(struct capture *c);

/* `tripline --xdp-detach -i IFACE`: detaches Tripline's XDP program (one left by a killed
 * instance). Returns 0 and prints what was done, or -errno with a message in err. */
int capture_xdp_detach(const char *iface, char *err, size_t errlen);

#endif
