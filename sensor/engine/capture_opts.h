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
#include "engine.h"
#include "flow.h"

enum capture_kind { CAPTURE_PCAP = 0, CAPTURE_AFXDP, CAPTURE_DPDK };

struct capture_opts {
    enum capture_kind kind;
    const char *iface;     /* -i (afxdp) */
    unsigned queues;       /* --queues; 0: all the interface has (afxdp), 1 (dpdk) */
    const char *dpdk_args; /* --dpdk-args "EAL ARGS" */
    const char *ports;     /* --ports LIST (dpdk): ids or device names, comma separated */
    bool xdp_detach;       /* --xdp-detach: detach a left-over XDP program from -i and exit */
    /* capture.afxdp.* */
    unsigned afxdp_frames, afxdp_frame_size, afxdp_bypass_entries;
    uint64_t afxdp_bypass_after; /* bytes after which a flow no rule can still match is bypassed */
    bool afxdp_force_copy, afxdp_force_skb;
    /* capture.dpdk.* */
    unsigned dpdk_mbufs, dpdk_mbuf_size, dpdk_rx_desc;
    char cfg_dpdk_args[1024], cfg_ports[256]; /* storage for values read from the config */
};

/* Defaults: pcap capture, every tunable at its data plane's default (0 = default). */
void capture_opts_init(struct capture_opts *o);

/* Reads the `capture.afxdp` and `capture.dpdk` sections (and capture.method, capture.queues
 * when the config schema passes them through) from cfg. Keys: capture.method (pcap|afxdp|dpdk),
 * capture.queues, capture.afxdp.{frames, frame-size, force-copy, force-skb, bypass-entries, bypass-after},
 * capture.dpdk.{eal-args, ports, mbufs, mbuf-size, rx-descriptors}. Call after the command
 * line has been handled: values the command line set are kept. Returns 0 or -EINVAL with
 * "FILE:LINE: key ..." in err. */
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

/* Stops the source (ports, sockets, XDP program, EAL). NULL is a no-op. */
void capture_close(struct capture *c);

/* `tripline --xdp-detach -i IFACE`: detaches Tripline's XDP program (one left by a killed
 * instance). Returns 0 and prints what was done, or -errno with a message in err. */
int capture_xdp_detach(const char *iface, char *err, size_t errlen);

#endif
