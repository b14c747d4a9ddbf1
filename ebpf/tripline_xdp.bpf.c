// SPDX-License-Identifier: GPL-2.0-only
/* Tripline's XDP program: counts every packet per CPU, passes flows that user space has put in
 * the bypass map to the kernel stack (counting them per flow), and redirects everything else to
 * the AF_XDP socket of the packet's receive queue.
 *
 * Every header access is checked against data_end first (the verifier insists, and a malformed
 * frame must never be dropped silently: it is counted as parse_failed and still redirected, so
 * the user-space decoder can report it).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "tripline_xdp.h"

#define TL_ETH_P_IP 0x0800
#define TL_ETH_P_IPV6 0x86DD
#define TL_ETH_P_8021Q 0x8100
#define TL_ETH_P_8021AD 0x88A8
#define TL_IPPROTO_HOPOPTS 0
#define TL_IPPROTO_ICMP 1
#define TL_IPPROTO_TCP 6
#define TL_IPPROTO_UDP 17
#define TL_IPPROTO_ROUTING 43
#define TL_IPPROTO_FRAGMENT 44
#define TL_IPPROTO_ICMPV6 58
#define TL_IPPROTO_DSTOPTS 60
#define TL_IPPROTO_SCTP 132
#define TL_MAX_VLAN 2
#define TL_MAX_EXTHDR 4

/* Settings, fixed before load by the loader (read-only data: the verifier prunes dead paths). */
const volatile __u32 tl_cfg_bypass = 1;   /* look flows up in the bypass map */
const volatile __u32 tl_cfg_redirect = 1; /* 0: count only, pass everything to the stack */

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, TL_XDP_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} tl_xsks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct tl_xdp_counters);
} tl_counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
    __uint(max_entries, TL_XDP_BYPASS_ENTRIES);
    __type(key, struct tl_flow_key);
    __type(value, struct tl_flow_counters);
} tl_bypass SEC(".maps");

struct tl_vlan_hdr {
    __be16 tci;
    __be16 proto;
};

struct tl_ipv6_opt_hdr {
    __u8 nexthdr;
    __u8 hdrlen; /* in 8-octet units, not counting the first 8 (RFC 8200 section 4.3) */
};

enum tl_parse { TL_PARSE_OK = 0, TL_PARSE_NO_TUPLE, TL_PARSE_FAILED };

/* Reads the transport ports of TCP/UDP/SCTP (RFC 793, RFC 768: ports are the first 4 bytes). */
static __always_inline enum tl_parse tl_parse_l4(struct tl_xdp_counters *c, void *l4, void *end,
                                                 __u8 proto, __u16 *sport, __u16 *dport)
{
    *sport = 0;
    *dport = 0;
    if (proto == TL_IPPROTO_TCP) {
        struct tcphdr *th = l4;
        if ((void *)(th + 1) > end)
            return TL_PARSE_FAILED;
        c->tcp++;
        *sport = th->source;
        *dport = th->dest;
    } else if (proto == TL_IPPROTO_UDP) {
        struct udphdr *uh = l4;
        if ((void *)(uh + 1) > end)
            return TL_PARSE_FAILED;
        c->udp++;
        *sport = uh->source;
        *dport = uh->dest;
    } else if (proto == TL_IPPROTO_ICMP || proto == TL_IPPROTO_ICMPV6) {
        c->icmp++;
    } else if (proto == TL_IPPROTO_SCTP) {
        /* SCTP ports lead its common header too (RFC 9260 section 3.1); the flow table keys
         * SCTP flows on them, so the bypass key must as well. */
        __be16 *ports = l4;
        if ((void *)(ports + 2) > end)
            return TL_PARSE_FAILED;
        c->other_l4++;
        *sport = ports[0];
        *dport = ports[1];
    } else {
        c->other_l4++;
    }
    return TL_PARSE_OK;
}

static __always_inline enum tl_parse tl_parse_ipv4(struct tl_xdp_counters *c, void *l3, void *end,
                                                   struct tl_flow_key *key, int *from_hi)
{
    struct iphdr *ip = l3;
    __u32 src[4] = {}, dst[4] = {};
    __u16 sport, dport;

    if ((void *)(ip + 1) > end)
        return TL_PARSE_FAILED;
    if (ip->version != 4 || ip->ihl < 5)
        return TL_PARSE_FAILED;
    c->ipv4++;
    /* MF set or a non-zero offset (RFC 791 section 3.1): a fragment has no reliable ports. */
    if (ip->frag_off & bpf_htons(0x3FFF)) {
        c->fragments++;
        return TL_PARSE_NO_TUPLE;
    }
    void *l4 = l3 + ip->ihl * 4;
    if (l4 > end)
        return TL_PARSE_FAILED;
    enum tl_parse r = tl_parse_l4(c, l4, end, ip->protocol, &sport, &dport);
    if (r != TL_PARSE_OK)
        return r;
    src[0] = ip->saddr;
    dst[0] = ip->daddr;
    *from_hi = tl_flow_key_set(key, 4, ip->protocol, src, sport, dst, dport);
    return TL_PARSE_OK;
}

static __always_inline enum tl_parse tl_parse_ipv6(struct tl_xdp_counters *c, void *l3, void *end,
                                                   struct tl_flow_key *key, int *from_hi)
{
    struct ipv6hdr *ip6 = l3;
    __u32 src[4], dst[4];
    __u16 sport, dport;

    if ((void *)(ip6 + 1) > end)
        return TL_PARSE_FAILED;
    if (ip6->version != 6)
        return TL_PARSE_FAILED;
    c->ipv6++;
    __u8 nexthdr = ip6->nexthdr;
    void *cur = ip6 + 1;
    /* Skip the extension headers that may precede the transport (RFC 8200 section 4.1). */
#pragma unroll
    for (int i = 0; i < TL_MAX_EXTHDR; i++) {
        if (nexthdr == TL_IPPROTO_FRAGMENT) {
            c->fragments++;
            return TL_PARSE_NO_TUPLE;
        }
        if (nexthdr != TL_IPPROTO_HOPOPTS && nexthdr != TL_IPPROTO_ROUTING &&
            nexthdr != TL_IPPROTO_DSTOPTS)
            break;
        struct tl_ipv6_opt_hdr *oh = cur;
        if ((void *)(oh + 1) > end)
            return TL_PARSE_FAILED;
        nexthdr = oh->nexthdr;
        cur += (oh->hdrlen + 1) * 8;
        if (cur > end)
            return TL_PARSE_FAILED;
    }
    if (nexthdr == TL_IPPROTO_HOPOPTS || nexthdr == TL_IPPROTO_ROUTING ||
        nexthdr == TL_IPPROTO_DSTOPTS || nexthdr == TL_IPPROTO_FRAGMENT)
        return TL_PARSE_NO_TUPLE; /* more extension headers than we follow */
    enum tl_parse r = tl_parse_l4(c, cur, end, nexthdr, &sport, &dport);
    if (r != TL_PARSE_OK)
        return r;
    __builtin_memcpy(src, &ip6->saddr, sizeof(src));
    __builtin_memcpy(dst, &ip6->daddr, sizeof(dst));
    *from_hi = tl_flow_key_set(key, 6, nexthdr, src, sport, dst, dport);
    return TL_PARSE_OK;
}

SEC("xdp")
int tripline_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct tl_flow_key key = {};
    __u32 zero = 0;
    enum tl_parse r = TL_PARSE_FAILED;
    int from_hi = 0;

    struct tl_xdp_counters *c = bpf_map_lookup_elem(&tl_counters, &zero);
    if (!c)
        return XDP_PASS; /* cannot happen for an array; the verifier wants the check */
    __u64 len = end - data;
    c->packets++;
    c->bytes += len;

    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        goto parsed;
    __u16 proto = eth->h_proto;
    void *cur = eth + 1;
    bool tagged = false;
#pragma unroll
    for (int i = 0; i < TL_MAX_VLAN; i++) {
        if (proto != bpf_htons(TL_ETH_P_8021Q) && proto != bpf_htons(TL_ETH_P_8021AD))
            break;
        struct tl_vlan_hdr *vh = cur;
        if ((void *)(vh + 1) > end)
            goto parsed;
        tagged = true;
        proto = vh->proto;
        cur = vh + 1;
    }
    if (tagged)
        c->vlan++;
    if (proto == bpf_htons(TL_ETH_P_IP)) {
        r = tl_parse_ipv4(c, cur, end, &key, &from_hi);
    } else if (proto == bpf_htons(TL_ETH_P_IPV6)) {
        r = tl_parse_ipv6(c, cur, end, &key, &from_hi);
    } else {
        c->non_ip++;
        r = TL_PARSE_NO_TUPLE;
    }

parsed:
    if (r == TL_PARSE_FAILED)
        c->parse_failed++;
    if (tl_cfg_bypass && r == TL_PARSE_OK) {
        struct tl_flow_counters *fc = bpf_map_lookup_elem(&tl_bypass, &key);
        if (fc) {
            fc->packets++;
            fc->bytes += len;
            fc->last_seen_ns = bpf_ktime_get_ns();
            if (!from_hi) {
                fc->packets_lo++;
                fc->bytes_lo += len;
            }
            c->bypassed_packets++;
            c->bypassed_bytes += len;
            return XDP_PASS;
        }
    }
    if (!tl_cfg_redirect)
        return XDP_PASS;
    /* XDP_PASS in the flags: with no socket on this queue the packet goes to the stack. */
    long act = bpf_redirect_map(&tl_xsks, ctx->rx_queue_index, XDP_PASS);
    if (act == XDP_REDIRECT)
        c->redirected++;
    else
        c->no_socket++;
    return act;
}

char LICENSE[] SEC("license") = "GPL";
