/* AF_XDP packet source: Tripline's XDP program (ebpf/tripline_xdp.bpf.c) on one interface and
 * one AF_XDP socket per receive queue.
 *
 * The XDP program counts every packet per CPU, passes bypassed flows to the kernel stack and
 * redirects everything else to the socket of its receive queue. Each queue has its own UMEM;
 * received frames are handed out as dp_packet views into the UMEM, never copied, and go back
 * to the fill ring when the owner calls dp_afxdp_release() (or its next dp_afxdp_rx_burst()).
 *
 * Threads: one thread per queue may call the per-queue functions (rx_burst, release, wait,
 * bypass_*, queue_stats) for its own queue; open/close/detach and the whole-source counter
 * readers belong to the control thread. Built only when HAVE_XDP.
 */
#ifndef TRIPLINE_AFXDP_SOURCE_H
#define TRIPLINE_AFXDP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane.h"

struct dp_afxdp;

/* How a source is opened; dp_afxdp_config_default() fills sane values. */
struct dp_afxdp_config {
    const char *iface;       /* interface name (required) */
    unsigned queues;         /* receive queues to serve, 0 = all the interface has */
    unsigned frames;         /* UMEM frames per queue (power of two, >= 2 * burst) */
    unsigned frame_size;     /* bytes per frame: 2048 or 4096 (caps the frame length) */
    unsigned burst;          /* most descriptors taken per dp_afxdp_rx_burst() */
    unsigned bypass_entries; /* size of the kernel bypass table (LRU) */
    bool force_copy;         /* do not try zero-copy */
    bool force_skb;          /* generic (SKB) XDP even where the driver has native XDP */
    bool bypass;             /* enable bypass lookups in the XDP program */
    void (*log)(void *ctx, const char *msg); /* start-up messages (mode chosen...), may be NULL */
    void *log_ctx;
};

/* Kernel counters summed over CPUs (see struct tl_xdp_counters in ebpf/tripline_xdp.h). */
struct dp_xdp_counters {
    uint64_t packets, bytes;
    uint64_t ipv4, ipv6, tcp, udp, icmp, other_l4, non_ip, vlan, fragments;
    uint64_t parse_failed;
    uint64_t bypassed_packets, bypassed_bytes;
    uint64_t redirected, no_socket;
};

/* Per-queue socket counters: what user space got and what the socket dropped. */
struct dp_afxdp_queue_stats {
    uint64_t packets, bytes;     /* handed out by dp_afxdp_rx_burst() */
    uint64_t rx_dropped;         /* XDP_STATISTICS: dropped for other reasons (too big...) */
    uint64_t rx_invalid_descs;
    uint64_t rx_ring_full;       /* redirected but the rx ring was full */
    uint64_t fill_ring_empty;    /* times the kernel found no frame in the fill ring */
    bool zerocopy;
};

/* Fills defaults: all queues, 1024 frames of 4096 bytes (4 MiB of UMEM per queue), burst 64,
 * 65536 bypass entries, zero-copy where possible, native XDP with SKB fallback. */
void dp_afxdp_config_default(struct dp_afxdp_config *cfg);

/* Attaches the XDP program to cfg->iface and binds one AF_XDP socket per queue. On failure
 * returns NULL and writes a message into err that names the interface and the cause:
 * no such interface (ENODEV), no permission to load BPF (EPERM), an XDP program already
 * attached - Tripline's own (another instance, or one that was killed: `--xdp-detach`) or a
 * foreign one - or a queue already bound to another socket (EBUSY), UMEM over the locked-memory
 * limit (ENOMEM), bad settings (EINVAL). If errno_out is not NULL it receives the -errno. */
struct dp_afxdp *dp_afxdp_open(const struct dp_afxdp_config *cfg, int *errno_out, char *err,
                               size_t errlen);

/* Number of queues served (one worker each). */
unsigned dp_afxdp_queue_count(const struct dp_afxdp *src);

/* Whether the XDP program runs in native (driver) mode, false for generic (SKB) mode. */
bool dp_afxdp_native(const struct dp_afxdp *src);

/* Receives up to max packets from queue q without blocking; returns how many views were
 * filled. Views stay valid until dp_afxdp_release(src, q) or the next rx_burst on q, which
 * releases the previous burst first. ts_ns is the receive time (CLOCK_REALTIME, one read per
 * burst): AF_XDP carries no capture timestamp. */
unsigned dp_afxdp_rx_burst(struct dp_afxdp *src, unsigned q, struct dp_packet *pkts, unsigned max);

/* Gives the frames of queue q's last burst back to the kernel. */
void dp_afxdp_release(struct dp_afxdp *src, unsigned q);

/* Waits up to timeout_ms for packets on queue q (poll(2)); returns >0 if some are ready, 0 on
 * timeout, -errno on error (-EINTR when a signal arrived). */
int dp_afxdp_wait(struct dp_afxdp *src, unsigned q, int timeout_ms);

/* Socket counters of queue q. */
void dp_afxdp_queue_stats(struct dp_afxdp *src, unsigned q, struct dp_afxdp_queue_stats *out);

/* Kernel counters of the XDP program (per-CPU array summed). Returns 0 or -errno. */
int dp_afxdp_kernel_counters(struct dp_afxdp *src, struct dp_xdp_counters *out);

/* Source totals in the common shape: packets/bytes handed out, socket drops as kernel_drops. */
void dp_afxdp_stats(struct dp_afxdp *src, struct dp_source_stats *out);

/* Puts a flow in the kernel bypass map: from now on its packets (both directions) are counted
 * per flow and passed to the kernel stack instead of reaching user space. Called from queue q's
 * thread (uses that queue's scratch). Returns 0, -E2BIG if the tuple is malformed, or -errno
 * from the map update. A full LRU map evicts its least recently used flow. */
int dp_afxdp_bypass_add(struct dp_afxdp *src, unsigned q, const struct dp_flow_tuple *t);

/* Reads the kernel counters of a bypassed flow. Returns 0, or -ENOENT if it is not (or no
 * longer) in the map. */
int dp_afxdp_bypass_read(struct dp_afxdp *src, unsigned q, const struct dp_flow_tuple *t,
                         struct dp_bypass_counters *out);

/* Removes a flow from the bypass map, returning its final counters in out (may be NULL).
 * Returns 0 or -ENOENT. */
int dp_afxdp_bypass_del(struct dp_afxdp *src, unsigned q, const struct dp_flow_tuple *t,
                        struct dp_bypass_counters *out);

/* Per-queue handles for a worker loop that sees a queue as `void *` (the engine's
 * struct pkt_source_ops): dp_afxdp_queue_handle() gives queue q's handle, valid until close. */
void *dp_afxdp_queue_handle(struct dp_afxdp *src, unsigned q);

/* rx_burst over a handle: like dp_afxdp_rx_burst(), but when nothing is waiting it sleeps in
 * poll(2) for at most 10 ms before trying once more, so an idle worker does not spin. Returns
 * the count (never negative). */
int dp_afxdp_handle_rx(void *handle, struct dp_packet *pkts, unsigned max);

/* Gives back the frames of the handle's last burst (pkts and n are not needed). */
void dp_afxdp_handle_release(void *handle, struct dp_packet *pkts, unsigned n);

/* Adds the queue's counters to *out; safe from another thread (relaxed loads). */
void dp_afxdp_handle_stats(void *handle, struct dp_source_stats *out);

/* Bypass through a queue handle, for the worker that owns it (dp_afxdp_bypass_add/_del on
 * the handle's queue): add returns 0 or -errno; take reads and removes the flow's kernel
 * counters, 0 or -ENOENT. */
int dp_afxdp_handle_bypass_add(void *handle, const struct dp_flow_tuple *t);
int dp_afxdp_handle_bypass_take(void *handle, const struct dp_flow_tuple *t,
                                struct dp_bypass_counters *out);

/* Closes the sockets and detaches the XDP program. NULL is a no-op. */
void dp_afxdp_close(struct dp_afxdp *src);

/* Detaches Tripline's XDP program from iface, e.g. one left by a killed instance
 * (`tripline --xdp-detach -i IFACE`). Returns 0 if one was detached, -ENOENT if the interface
 * has none (message in err), -ENODEV, -EPERM, or another -errno. Foreign programs are left. */
int dp_afxdp_detach(const char *iface, char *err, size_t errlen);

/* Whether Tripline's XDP program is attached to iface (false also if iface does not exist). */
bool dp_afxdp_attached(const char *iface);

#endif
