/* Structs shared by the XDP program (tripline_xdp.bpf.c) and its user-space loader
 * (dataplane/afxdp_source.c). Only fixed-width kernel types, so the same layout is seen on both
 * sides: the BPF side gets them from vmlinux.h, user space from <linux/types.h>.
 */
#ifndef TRIPLINE_XDP_H
#define TRIPLINE_XDP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Name of the XDP function: the loader finds an attached copy of itself by it (busy check). */
#define TL_XDP_PROG_NAME "tripline_xdp"

/* Upper bound on receive queues the XSKMAP can steer to. */
#define TL_XDP_MAX_QUEUES 64

/* Default bypass table size (entries); the loader may resize it before load. */
#define TL_XDP_BYPASS_ENTRIES 65536

/* Per-CPU packet counters, one slot (key 0) of a per-CPU array; user space sums the CPUs. */
struct tl_xdp_counters {
    __u64 packets;          /* every packet the program saw */
    __u64 bytes;            /* their lengths (frame bytes, no FCS) */
    __u64 ipv4;
    __u64 ipv6;
    __u64 tcp;
    __u64 udp;
    __u64 icmp;             /* ICMPv4 and ICMPv6 */
    __u64 other_l4;         /* IP with another transport (GRE, ESP, SCTP (ports read)...) */
    __u64 non_ip;           /* ARP, LLDP, ... */
    __u64 vlan;             /* frames with at least one 802.1Q/802.1ad tag */
    __u64 fragments;        /* IP fragments: no ports, never matched against the bypass map */
    __u64 parse_failed;     /* headers cut short or malformed: still redirected to user space */
    __u64 bypassed_packets; /* matched the bypass map: counted and passed to the kernel stack */
    __u64 bypassed_bytes;
    __u64 redirected;       /* handed to the queue's AF_XDP socket */
    __u64 no_socket;        /* no socket on the receive queue: passed to the kernel stack */
};

/* Canonical 5-tuple: the (address, port) pair that compares lower comes first, so both
 * directions of a flow give the same key. Addresses and ports are raw network-order bytes;
 * IPv4 addresses fill word 0 and leave words 1..3 zero. */
struct tl_flow_key {
    __u32 addr_lo[4];
    __u32 addr_hi[4];
    __u16 port_lo;
    __u16 port_hi;
    __u8 proto;
    __u8 ip_version; /* 4 or 6 */
    __u16 pad;       /* always 0: part of the hashed key */
};

/* Per-CPU counters of one bypassed flow (value of the LRU per-CPU hash). */
struct tl_flow_counters {
    __u64 packets;
    __u64 bytes;
    __u64 last_seen_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the last packet on this CPU */
    __u64 packets_lo;   /* of packets/bytes: those sent by the key's lower endpoint (addr_lo, */
    __u64 bytes_lo;     /* port_lo): the flow's counters per direction for its EVE record */
};

/* Compares (a, pa) with (b, pb); negative when a comes first. Word order as stored, so the
 * kernel and user space on one host agree (the order itself has no meaning). */
static inline __attribute__((always_inline)) int
tl_flow_endpoint_cmp(const __u32 *a, __u16 pa, const __u32 *b, __u16 pb)
{
    for (int i = 0; i < 4; i++) {
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    }
    if (pa != pb)
        return pa < pb ? -1 : 1;
    return 0;
}

/* Fills `key` from one packet's addresses (4 words each, zero padded for IPv4) and ports
 * (network order), in canonical order. Returns 1 when the source is the key's higher endpoint
 * (the packet goes hi -> lo), 0 when it is the lower one. */
static inline __attribute__((always_inline)) int
tl_flow_key_set(struct tl_flow_key *key, __u8 ip_version, __u8 proto, const __u32 *src, __u16 sport,
                const __u32 *dst, __u16 dport)
{
    const __u32 *lo = src, *hi = dst;
    __u16 plo = sport, phi = dport;
    int swapped = tl_flow_endpoint_cmp(src, sport, dst, dport) > 0;

    if (swapped) {
        lo = dst;
        hi = src;
        plo = dport;
        phi = sport;
    }
    for (int i = 0; i < 4; i++) {
        key->addr_lo[i] = lo[i];
        key->addr_hi[i] = hi[i];
    }
    key->port_lo = plo;
    key->port_hi = phi;
    key->proto = proto;
    key->ip_version = ip_version;
    key->pad = 0;
    return swapped;
}

#endif
