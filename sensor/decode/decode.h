/* Packet decoder: link layer to L4, tunnels (GRE, VXLAN, IP-in-IP) and IP defragmentation.
 *
 * One decoder per worker, owned by that worker's thread. Every length is checked before it is
 * read; a malformed packet yields DECODE_INVALID with a reason that feeds a per-worker counter
 * and an `anomaly` event, never a crash. The per-packet path does not allocate: defragmentation
 * memory is reserved at decoder_new() and bounded by the config.
 */
#ifndef TRIPLINE_DECODE_H
#define TRIPLINE_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane.h"

/* Why a packet (or part of it) could not be decoded. Names appear in EVE anomaly events and
 * stats as "decoder.<name>" (see decode_reason_name()). Keep DEC_NONE first. */
enum decode_reason {
    DEC_NONE = 0,
    DEC_LINK_UNSUPPORTED,
    DEC_ETH_TRUNCATED,
    DEC_VLAN_TRUNCATED,
    DEC_VLAN_TOO_MANY,
    DEC_MPLS_TRUNCATED,
    DEC_MPLS_TOO_MANY,
    DEC_SLL_TRUNCATED,
    DEC_IPV4_TRUNCATED,
    DEC_IPV4_BAD_VERSION,
    DEC_IPV4_BAD_IHL,
    DEC_IPV4_BAD_TOTAL_LEN,
    DEC_IPV4_BAD_OPTIONS,
    DEC_IPV4_BAD_CHECKSUM,
    DEC_IPV6_TRUNCATED,
    DEC_IPV6_BAD_VERSION,
    DEC_IPV6_BAD_PAYLOAD_LEN,
    DEC_IPV6_EXTHDR_TRUNCATED,
    DEC_IPV6_EXTHDR_TOO_MANY,
    DEC_IPV6_EXTHDR_DUPLICATE,
    DEC_TCP_TRUNCATED,
    DEC_TCP_BAD_OFFSET,
    DEC_TCP_BAD_OPTIONS,
    DEC_TCP_BAD_FLAGS,
    DEC_TCP_BAD_CHECKSUM,
    DEC_UDP_TRUNCATED,
    DEC_UDP_BAD_LEN,
    DEC_UDP_BAD_CHECKSUM,
    DEC_ICMP_TRUNCATED,
    DEC_ICMPV6_TRUNCATED,
    DEC_GRE_TRUNCATED,
    DEC_GRE_BAD_VERSION,
    DEC_VXLAN_TRUNCATED,
    DEC_TUNNEL_TOO_DEEP,
    DEC_FRAG_OVERLAP,          /* overlapping fragments carrying different data */
    DEC_FRAG_TOO_LARGE,        /* reassembled datagram over 65535 bytes */
    DEC_FRAG_TABLE_FULL,       /* no room to track a new datagram: counted, packet passed on */
    DEC_FRAG_TIMEOUT,          /* datagram expired incomplete */
    DEC_FRAG_BAD_LEN,
    DEC_PKT_TRUNCATED_SNAPLEN, /* caplen < wirelen: decoded as far as present */
    DEC_PPPOE_TRUNCATED,       /* PPPoE session header cut short */
    DEC_REASON_MAX
};

/* Stable short name of a reason, e.g. "ipv4.bad_ihl". */
const char *decode_reason_name(enum decode_reason r);
/* Layer of a reason as Suricata names it in anomaly events: "decode" or "stream"... */

enum decode_result {
    DECODE_OK = 0,      /* meta filled; inspect the packet */
    DECODE_HELD = 1,    /* an IP fragment kept for reassembly: nothing to inspect yet (meta->reason
                         * may still carry a note, e.g. DEC_FRAG_OVERLAP, to report) */
    DECODE_INVALID = 2, /* malformed; meta->reason says why, layers decoded so far are valid */
};

/* Flags in pkt_meta.flags */
#define PKT_IPV4 (1u << 0)
#define PKT_IPV6 (1u << 1)
#define PKT_TCP (1u << 2)
#define PKT_UDP (1u << 3)
#define PKT_ICMP (1u << 4) /* ICMPv4 or ICMPv6 */
#define PKT_FRAGMENT (1u << 5)    /* a fragment (not reassembled) */
#define PKT_REASSEMBLED (1u << 6) /* l3 points to a reassembled datagram */
#define PKT_TUNNELED (1u << 7)    /* addresses are those of the innermost IP header */
#define PKT_HAS_L4 (1u << 8)      /* ports / L4 fields valid */
#define PKT_SNAPLEN_CUT (1u << 9)

/* Canonical flow key: addresses and ports ordered so both directions give the same key (the flow
 * table's key; declared here because the decoder builds it, see pkt_meta.flow_key). */
struct flow_key {
    uint8_t addr[2][16]; /* [0] = lower (addr,port) endpoint, [1] = higher */
    uint16_t port[2];
    uint16_t vlan[2];
    uint8_t proto;
    uint8_t ip_version;
    uint8_t pad[2];
};

/* pkt_meta.frag_off: the More Fragments flag (offset bits 3.. are the offset in bytes). */
#define PKT_FRAG_MF 1u

/* What the decoder found. Pointers point into the packet (or the decoder's reassembly buffer
 * for PKT_REASSEMBLED) and stay valid until the next decode_packet() call on this decoder. */
struct pkt_meta {
    uint64_t ts_ns;
    uint32_t flags;
    uint32_t wirelen;
    enum decode_reason reason; /* DEC_NONE or why the packet was invalid / noted */

    uint8_t ip_version; /* 4 or 6, 0 if no IP */
    uint8_t proto;      /* IP protocol of the L4 header (after IPv6 extension headers) */
    uint8_t ttl;        /* TTL or hop limit (innermost IP header) */
    uint8_t tunnel_depth;
    uint8_t vlan_count;
    uint16_t vlan[2];  /* outermost first */
    uint8_t src[16];   /* innermost IP addresses; IPv4 uses the first 4 bytes, rest zero */
    uint8_t dst[16];
    uint16_t sport, dport; /* host order; for ICMP: sport = type, dport = code (as Suricata) */

    uint8_t tcp_flags;
    uint16_t tcp_win;
    uint32_t tcp_seq, tcp_ack;
    uint8_t tcp_wscale;   /* 0xff if absent */
    uint16_t tcp_mss;     /* 0 if absent */
    bool tcp_sack_ok;
    bool tcp_has_ts;
    uint32_t tcp_tsval, tcp_tsecr;

    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id, icmp_seq; /* echo request/reply only */

    uint16_t ip_id;
    uint16_t frag_off; /* fragment offset in bytes and MF flag for a fragment seen */
                       /* (offsets are multiples of 8: bit 0 holds MF, see PKT_FRAG_MF) */

    /* Lengths below count bytes present in memory: with PKT_SNAPLEN_CUT they stop where the
     * capture stopped, so l3[0..l3_len) etc. are always safe to read. */
    const uint8_t *l3; /* innermost IP header */
    uint32_t l3_len;   /* bytes from l3 to the end of the IP datagram (trailer excluded) */
    const uint8_t *l4;
    uint32_t l4_len;
    const uint8_t *payload; /* L4 payload */
    uint32_t payload_len;

    /* Set by the decoder on every DECODE_OK packet with an IP layer: the packet's canonical flow
     * key, the flow table's hash of it and which key endpoint (0/1) sent the packet, built in the
     * decoder's pass over the headers so the flow table does not rebuild them (decode_flowkey.h).
     * flow_hash 0: not set (a zeroed meta built by hand): the flow table builds them itself. Code
     * that changes the addresses, ports, VLANs, proto or version of a decoded meta must set
     * flow_hash to 0. */
    uint32_t flow_hash;
    struct flow_key flow_key __attribute__((aligned(8))); /* its words stored whole, none split */
    uint8_t flow_src_side;
};

struct decoder_config {
    uint32_t frag_max_datagrams; /* datagrams being reassembled at once (per worker) */
    uint32_t frag_max_bytes;     /* bytes of fragment data held at once (per worker) */
    uint64_t frag_timeout_ns;    /* packet time after which an incomplete datagram is dropped */
    bool check_checksums;        /* off by default: NICs offload them */
    uint16_t vxlan_port;         /* UDP port decoded as VXLAN, default 4789 */
};

/* Fills cfg with the defaults: 1024 datagrams, 4 MiB of fragment data, 60 s timeout (Suricata's),
 * checksums not checked, VXLAN on 4789. */
void decoder_config_default(struct decoder_config *cfg);

struct decoder_stats {
    uint64_t packets, bytes;
    uint64_t ipv4, ipv6, tcp, udp, icmp, other_l4, vlan, mpls, gre, vxlan, ipip;
    uint64_t fragments, reassembled;
    uint64_t invalid;                  /* packets returned DECODE_INVALID */
    uint64_t reason[DEC_REASON_MAX];   /* per reason (incl. notes on valid packets) */
};

struct decoder;

/* Creates a decoder with its defragmentation memory reserved. NULL on allocation failure. */
struct decoder *decoder_new(const struct decoder_config *cfg);
/* Frees the decoder and its reassembly memory; NULL is a no-op. */
void decoder_free(struct decoder *d);

/* Decodes one packet. meta is fully written (zeroed first). */
enum decode_result decode_packet(struct decoder *d, const struct dp_packet *pkt,
                                 struct pkt_meta *meta);

/* Ends incomplete datagrams older than now_ns (packet time); counted as DEC_FRAG_TIMEOUT. */
void decoder_expire(struct decoder *d, uint64_t now_ns);

/* The decoder's counters (plain fields owned by its worker; read them from that thread or after it
 * stopped). */
const struct decoder_stats *decoder_get_stats(const struct decoder *d);

/* Symmetric 32-bit hash of the flow the packet belongs to (swap src/dst and ports: same hash),
 * computed from a decoded meta. Used by the dispatcher and the flow table. Covers addresses,
 * ports, proto, ip_version and vlan[0..1]; for ICMP the ports (type/code) are left out so that
 * requests and replies hash alike. Never 0. */
uint32_t pkt_meta_flow_hash(const struct pkt_meta *m);

/* Cheap symmetric hash for dispatching raw packets to workers before full decoding: a light,
 * bounded walk of link layer, VLAN/MPLS/PPPoE and the tunnels the decoder enters (IP-in-IP,
 * GRE, VXLAN on vxlan_port), hashing the address pair (order-free) of the innermost IP header,
 * the one the flow table keys on, so a flow seen bare and tunnelled, both directions and every
 * fragment of a datagram land on the same worker (an IP fragment stops the walk at its own
 * header). 0 if not IP. */
uint32_t decode_dispatch_hash_port(const struct dp_packet *pkt, uint16_t vxlan_port);

/* decode_dispatch_hash_port() with the default VXLAN port 4789. */
uint32_t decode_dispatch_hash(const struct dp_packet *pkt);

#endif
