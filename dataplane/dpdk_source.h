/* DPDK packet source: any DPDK port (physical NIC, net_pcap, net_null, net_ring, net_af_packet,
 * net_af_xdp) with N receive queues and symmetric RSS, one worker per queue.
 *
 * Worker q polls receive queue q of every selected port (round robin), so with the symmetric
 * Toeplitz key both directions of a flow reach the same worker, even across two ports that
 * see one direction each. Bursts are handed out as dp_packet views into the mbufs, without
 * copying (a packet chained over several mbufs is the exception: it is gathered into a
 * per-queue buffer); the mbufs go back to their pool on release or on the next burst.
 *
 * Threads: open/close and the port counters belong to the control thread; each queue handle is
 * used by one worker thread (any pthread: the worker registers itself with DPDK on first use).
 * EAL can be initialised once per process: after dp_dpdk_close() no new source can be opened.
 * Built only when HAVE_DPDK.
 */
#ifndef TRIPLINE_DPDK_SOURCE_H
#define TRIPLINE_DPDK_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane.h"

struct dp_dpdk;

#define DP_DPDK_MAX_PORTS 32

struct dp_dpdk_config {
    const char *eal_args;   /* EAL arguments, split on blanks ("--no-huge --no-pci -m 1024 ...") */
    const char *ports;      /* comma list of port ids or device names; NULL or "" = all ports */
    unsigned queues;        /* receive queues per port = workers (>= 1) */
    unsigned mbufs;         /* mbufs per NUMA socket pool; 0 = computed from ports and queues */
    unsigned mbuf_cache;    /* per-lcore mempool cache */
    unsigned mbuf_size;     /* data room per mbuf (bytes, headroom included) */
    unsigned rx_desc;       /* receive descriptors per queue */
    unsigned burst;         /* most packets per rx burst (<= 256) */
    bool promisc;
    /* Finite replays (net_pcap with rx_pcap=FILE): a queue reports end of data once every
     * packet of its files has been received, so a replay ends by itself. */
    bool stop_at_eof;
    void (*log)(void *ctx, const char *msg); /* start-up messages (links, RSS), may be NULL */
    void *log_ctx;
};

/* Port counters (rte_eth_stats): a miss is never silent. */
struct dp_dpdk_port_stats {
    uint64_t ipackets, ibytes;
    uint64_t imissed;   /* dropped by the NIC: no descriptor free */
    uint64_t ierrors;   /* erroneous packets */
    uint64_t rx_nombuf; /* no mbuf to receive into */
};

/* Defaults: 1 queue, mbufs computed, cache 256, 2048 + headroom bytes per mbuf, 1024 rx
 * descriptors, burst 64, promiscuous, stop_at_eof. */
void dp_dpdk_config_default(struct dp_dpdk_config *cfg);

/* Initialises EAL, the mbuf pools and the ports, and starts them. On failure returns NULL
 * with a message in err naming the setting at fault: the EAL arguments (unknown vdev, memory),
 * no ports, an unknown port in `ports`, `queues` above a device's maximum, `mbufs` too few for
 * the rings, or a device that refused its configuration. errno_out (may be NULL) receives
 * -errno. */
struct dp_dpdk *dp_dpdk_open(const struct dp_dpdk_config *cfg, int *errno_out, char *err,
                             size_t errlen);

/* Number of queues (= workers). */
unsigned dp_dpdk_queue_count(const struct dp_dpdk *src);

/* Number of ports used, and the DPDK port id and device name of port index i. */
unsigned dp_dpdk_port_count(const struct dp_dpdk *src);
uint16_t dp_dpdk_port_id(const struct dp_dpdk *src, unsigned i);
const char *dp_dpdk_port_name(const struct dp_dpdk *src, unsigned i);

/* Counters of port index i. Returns 0 or -errno. Control thread (or the stats thread). */
int dp_dpdk_port_stats(struct dp_dpdk *src, unsigned i, struct dp_dpdk_port_stats *out);

/* All ports summed in the common shape: kernel_drops = imissed, iface_drops = rx_nombuf,
 * errors = ierrors, packets/bytes = what the queues handed out. */
void dp_dpdk_stats(struct dp_dpdk *src, struct dp_source_stats *out);

/* Handle of queue q for its worker (the engine's `void *` queue); valid until close. */
void *dp_dpdk_queue_handle(struct dp_dpdk *src, unsigned q);

/* Receives up to max packets from the handle's queue on every port. Returns the count, 0 when
 * nothing is waiting (after a short pause so an idle worker does not spin), or -ENODATA when a
 * finite replay has delivered everything (stop_at_eof). Views are valid until
 * dp_dpdk_handle_release() or the next call, which releases the previous burst first. */
int dp_dpdk_handle_rx(void *handle, struct dp_packet *pkts, unsigned max);

/* Frees the mbufs of the handle's last burst (pkts and n are not needed). */
void dp_dpdk_handle_release(void *handle, struct dp_packet *pkts, unsigned n);

/* Adds the queue's packets/bytes to *out; the handle of queue 0 also adds the ports' drop and
 * error counters (once for the whole source). Safe from another thread. */
void dp_dpdk_handle_stats(void *handle, struct dp_source_stats *out);

/* The symmetric Toeplitz key programmed into every port with RSS (0x6d5a repeated); *len gets
 * its length in bytes. Exposed for tests and for tools that predict a flow's queue. */
const uint8_t *dp_dpdk_rss_key(size_t *len);

/* Stops and closes the ports, frees the pools and cleans up EAL. NULL is a no-op. */
void dp_dpdk_close(struct dp_dpdk *src);

#endif
