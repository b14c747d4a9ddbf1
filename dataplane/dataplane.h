/* Tripline data plane: the packet view every source hands to the sensor.
 *
 * A source (capture file, libpcap live, AF_XDP, DPDK) produces packet views that point into
 * its own buffers. Views are never copied on the way to the decoder; whoever crosses a thread
 * boundary with them (the dispatch reader) copies the bytes once into a batch it owns.
 */
#ifndef TRIPLINE_DATAPLANE_H
#define TRIPLINE_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Link types we decode (values are the pcap LINKTYPE_* numbers). */
enum dp_linktype {
    DP_LINK_NULL = 0,       /* BSD loopback: 4-byte host-order family */
    DP_LINK_ETHERNET = 1,
    DP_LINK_RAW = 101,      /* raw IPv4/IPv6, version from the first nibble */
    DP_LINK_LOOP = 108,     /* OpenBSD loopback: 4-byte network-order family */
    DP_LINK_LINUX_SLL = 113,
    DP_LINK_IPV4 = 228,
    DP_LINK_IPV6 = 229,
    DP_LINK_LINUX_SLL2 = 276,
};

/* One packet as a source sees it. `data` stays valid until the source's next call
 * (or until the batch holding it is recycled). */
struct dp_packet {
    const uint8_t *data;
    uint32_t caplen;   /* bytes present at data */
    uint32_t wirelen;  /* bytes on the wire (>= caplen when snaplen cut it) */
    uint64_t ts_ns;    /* packet time, nanoseconds since the Unix epoch */
    uint32_t hash;     /* symmetric flow hash if the source computed one, else 0 */
    uint16_t linktype; /* enum dp_linktype */
    uint16_t queue;    /* receive queue / port index inside the source */
};

/* Counters a source reports about itself; a drop is never silent. */
struct dp_source_stats {
    uint64_t packets;      /* handed to the sensor */
    uint64_t bytes;        /* wire bytes handed to the sensor */
    uint64_t kernel_drops; /* dropped by the capture mechanism (ps_drop, imissed, ...) */
    uint64_t iface_drops;  /* dropped by the interface (ps_ifdrop, rx_nombuf, ...) */
    uint64_t errors;       /* receive errors (ierrors, ...) */
};

/* A flow as a source's kernel side (XDP bypass) names it, either direction: ports in host
 * byte order, IPv4 addresses in the first 4 bytes of src/dst. */
struct dp_flow_tuple {
    uint8_t ip_version; /* 4 or 6 */
    uint8_t proto;      /* IPPROTO_* */
    uint16_t sport, dport;
    uint8_t src[16], dst[16];
};

/* Kernel-side counters of one bypassed flow (summed over CPUs). */
struct dp_bypass_counters {
    uint64_t packets, bytes;
    uint64_t last_seen_ns; /* CLOCK_MONOTONIC of the latest packet, 0 if none */
    /* of packets/bytes, those sent by the tuple's src (src -> dst), as given to the call;
     * the rest went dst -> src */
    uint64_t packets_fwd, bytes_fwd;
};

#endif
