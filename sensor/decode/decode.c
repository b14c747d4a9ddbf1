/* Packet decoder: link layer to L4, tunnels, and the glue to defragmentation.
 *
 * Each layer function gets the bytes captured from its header on (`len`) and how many more bytes
 * the wire had beyond the capture (`miss`, from wirelen - caplen, narrowed by each IP/UDP length).
 * A header that is not all there is either cut by the snaplen (it fits in len + miss: decoding
 * stops, the packet stays valid and is noted PKT_SNAPLEN_CUT) or truncated (a counted invalid
 * packet). Lengths that the meta reports (l3_len, l4_len, payload_len) are bytes present in
 * memory, so consumers may read them without further checks.
 *
 * Length rules (following Suricata's decode-ipv4.c where RFCs leave a choice):
 *  - IPv4: IHL < 5 -> ipv4.bad_ihl; total length < IHL*4, or more than the wire had -> ipv4.bad_total_len;
 *    options are walked TLV by TLV (RFC 791 3.1) -> ipv4.bad_options. Bytes past the total length
 *    (Ethernet padding) are ignored.
 *  - IPv6: payload length past the wire -> ipv6.bad_payload_len; extension headers (RFC 8200 4.1):
 *    each of hop-by-hop, routing, fragment, AH at most once and destination options at most twice
 *    (else ipv6.exthdr_duplicate, which also catches chains that loop), at most
 *    DECODE_MAX_IPV6_EXTHDRS in all (ipv6.exthdr_too_many; HIP, shim6 and the experimental
 *    253/254 use the RFC 6564 format and may repeat). Atomic fragments (offset 0, M clear,
 *    RFC 6946) are decoded in place. Fragments with M set must carry a multiple of 8 bytes
 *    (RFC 8200 4.5) else frag.bad_len.
 *  - VLAN: up to DECODE_MAX_VLAN_TAGS tags per Ethernet header (vlan.too_many_layers beyond).
 *  - UDP: length < 8 or past the IP payload -> udp.bad_len; a shorter UDP length trims the payload.
 *  - TCP: data offset < 5 or past the segment -> tcp.bad_offset; options walked with each known
 *    kind's fixed length (RFC 9293, RFC 7323, RFC 2018) -> tcp.bad_options; SYN with FIN or RST is a
 *    note (tcp.bad_flags) on a valid packet, since scanners send them and flows should see them.
 *  - Checksums (cfg.check_checksums): IPv4 header, TCP, UDP (a zero UDP checksum means none, also
 *    over IPv6 as RFC 6935 allows for tunnels); skipped for snaplen-cut packets and fragments.
 *
 * Link: Ethernet, VLAN tags, MPLS, PPPoE sessions (IP inside), Linux SLL/SLL2, raw, BSD NULL/LOOP.
 * Tunnels: GRE (RFC 2784/2890, version 0, also RFC 1701 routing), VXLAN (RFC 7348, on
 * cfg.vxlan_port with the I flag), IP-in-IP (4), 6in4 (41), Ethernet over MPLS with the RFC 4385
 * control word. The meta then describes the innermost IP packet (PKT_TUNNELED, tunnel_depth);
 * VLAN ids are taken from the outermost Ethernet header only. Nesting is bounded by
 * DECODE_MAX_TUNNEL_DEPTH.
 *
 * Fragments: handed to defrag.c (see there for the overlap policy). One reassembly per
 * decode_packet() call: a fragment found inside a reassembled datagram is passed on as a fragment.
 */
#include <stdlib.h>

#include "decode_flowkey.h"
#include "decode_priv.h"

struct dctx {
    struct decoder *d;
    struct pkt_meta *m;
    bool reassembled; /* a datagram was completed during this call */
};

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define ETH_P_QINQ_OLD 0x9100
#define ETH_P_MPLS_UC 0x8847
#define ETH_P_MPLS_MC 0x8848
#define ETH_P_TEB 0x6558
#define ETH_P_PPPOE_SESS 0x8864

static enum decode_result dec_ethertype(struct dctx *c, uint16_t et, const uint8_t *p, uint32_t len,
                                        uint32_t miss, unsigned depth);
static enum decode_result dec_ipv4(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                   unsigned depth);
static enum decode_result dec_ipv6(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                   unsigned depth);

void decoder_config_default(struct decoder_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->frag_max_datagrams = 1024;
    cfg->frag_max_bytes = 4u << 20;
    cfg->frag_timeout_ns = 60ull * 1000000000ull; /* Suricata's defrag default */
    cfg->check_checksums = false;
    cfg->vxlan_port = 4789;
}

struct decoder *decoder_new(const struct decoder_config *cfg)
{
    struct decoder *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cfg = *cfg;
    if (defrag_init(&d->defrag, cfg, &d->stats.reason[DEC_FRAG_TIMEOUT]) < 0) {
        free(d);
        return NULL;
    }
    return d;
}

void decoder_free(struct decoder *d)
{
    if (!d)
        return;
    defrag_fini(&d->defrag);
    free(d);
}

const struct decoder_stats *decoder_get_stats(const struct decoder *d)
{
    return &d->stats;
}

void decoder_expire(struct decoder *d, uint64_t now_ns)
{
    defrag_expire(&d->defrag, now_ns);
}

static const char *const reason_names[DEC_REASON_MAX] = {
    [DEC_NONE] = "none",
    [DEC_LINK_UNSUPPORTED] = "link.unsupported",
    [DEC_ETH_TRUNCATED] = "ethernet.truncated",
    [DEC_VLAN_TRUNCATED] = "vlan.truncated",
    [DEC_VLAN_TOO_MANY] = "vlan.too_many_layers",
    [DEC_MPLS_TRUNCATED] = "mpls.truncated",
    [DEC_MPLS_TOO_MANY] = "mpls.too_many_labels",
    [DEC_SLL_TRUNCATED] = "sll.truncated",
    [DEC_IPV4_TRUNCATED] = "ipv4.truncated",
    [DEC_IPV4_BAD_VERSION] = "ipv4.bad_version",
    [DEC_IPV4_BAD_IHL] = "ipv4.bad_ihl",
    [DEC_IPV4_BAD_TOTAL_LEN] = "ipv4.bad_total_len",
    [DEC_IPV4_BAD_OPTIONS] = "ipv4.bad_options",
    [DEC_IPV4_BAD_CHECKSUM] = "ipv4.bad_checksum",
    [DEC_IPV6_TRUNCATED] = "ipv6.truncated",
    [DEC_IPV6_BAD_VERSION] = "ipv6.bad_version",
    [DEC_IPV6_BAD_PAYLOAD_LEN] = "ipv6.bad_payload_len",
    [DEC_IPV6_EXTHDR_TRUNCATED] = "ipv6.exthdr_truncated",
    [DEC_IPV6_EXTHDR_TOO_MANY] = "ipv6.exthdr_too_many",
    [DEC_IPV6_EXTHDR_DUPLICATE] = "ipv6.exthdr_duplicate",
    [DEC_TCP_TRUNCATED] = "tcp.truncated",
    [DEC_TCP_BAD_OFFSET] = "tcp.bad_offset",
    [DEC_TCP_BAD_OPTIONS] = "tcp.bad_options",
    [DEC_TCP_BAD_FLAGS] = "tcp.bad_flags",
    [DEC_TCP_BAD_CHECKSUM] = "tcp.bad_checksum",
    [DEC_UDP_TRUNCATED] = "udp.truncated",
    [DEC_UDP_BAD_LEN] = "udp.bad_len",
    [DEC_UDP_BAD_CHECKSUM] = "udp.bad_checksum",
    [DEC_ICMP_TRUNCATED] = "icmpv4.truncated",
    [DEC_ICMPV6_TRUNCATED] = "icmpv6.truncated",
    [DEC_GRE_TRUNCATED] = "gre.truncated",
    [DEC_GRE_BAD_VERSION] = "gre.bad_version",
    [DEC_VXLAN_TRUNCATED] = "vxlan.truncated",
    [DEC_TUNNEL_TOO_DEEP] = "tunnel.too_deep",
    [DEC_FRAG_OVERLAP] = "frag.overlap",
    [DEC_FRAG_TOO_LARGE] = "frag.too_large",
    [DEC_FRAG_TABLE_FULL] = "frag.table_full",
    [DEC_FRAG_TIMEOUT] = "frag.timeout",
    [DEC_FRAG_BAD_LEN] = "frag.bad_len",
    [DEC_PKT_TRUNCATED_SNAPLEN] = "pkt.truncated_snaplen",
    [DEC_PPPOE_TRUNCATED] = "pppoe.truncated",
};

const char *decode_reason_name(enum decode_reason r)
{
    if ((unsigned)r >= DEC_REASON_MAX || !reason_names[r])
        return "unknown";
    return reason_names[r];
}

/* ---- helpers ---- */

static inline enum decode_result invalid(struct dctx *c, enum decode_reason r)
{
    c->m->reason = r;
    return DECODE_INVALID;
}

/* A note on a valid packet; the first one is kept. */
static inline void note(struct dctx *c, enum decode_reason r)
{
    if (c->m->reason == DEC_NONE)
        c->m->reason = r;
}

/* A header of `need` bytes did not fit in `len`: cut by the snaplen if the wire had it. */
static enum decode_result short_hdr(struct dctx *c, uint32_t len, uint32_t miss, uint32_t need,
                                    enum decode_reason r)
{
    if ((uint64_t)len + miss >= need)
        return DECODE_OK;
    return invalid(c, r);
}

/* Ones' complement sum in host byte order (RFC 1071 2(B): byte order independent). */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, uint32_t len)
{
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        sum += w >> 32;
        sum += w & 0xffffffffu;
        p += 8;
        len -= 8;
    }
    while (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        sum += w;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint8_t b[2] = {p[0], 0};
        uint16_t w;
        memcpy(&w, b, 2);
        sum += w;
    }
    return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* True if the L4 checksum over the pseudo-header (RFC 793 3.1, RFC 768, RFC 8200 8.1) is right. */
static bool l4_csum_ok(const struct pkt_meta *m, const uint8_t *l4, uint32_t len, uint8_t proto)
{
    uint64_t sum = 0;
    unsigned alen = m->ip_version == 4 ? 4 : 16;
    uint8_t ph[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    uint8_t pp[2] = {0, proto};
    sum = csum_add(sum, m->src, alen);
    sum = csum_add(sum, m->dst, alen);
    sum = csum_add(sum, ph, 4);
    sum = csum_add(sum, pp, 2);
    sum = csum_add(sum, l4, len);
    return csum_fold(sum) == 0xffff;
}

/* Entering a tunnel: the inner IP header replaces the outer one in the meta. */
static inline enum decode_result tunnel_enter(struct dctx *c, unsigned depth)
{
    if (depth + 1 > DECODE_MAX_TUNNEL_DEPTH)
        return invalid(c, DEC_TUNNEL_TOO_DEEP);
    c->m->tunnel_depth = (uint8_t)(depth + 1);
    c->m->flags |= PKT_TUNNELED;
    return DECODE_OK;
}

/* Clears what an outer IP layer left before an inner one is decoded. */
static void meta_reset_inner(struct pkt_meta *m)
{
    m->flags &= PKT_TUNNELED | PKT_SNAPLEN_CUT | PKT_REASSEMBLED;
    memset(m->src, 0, sizeof(m->src));
    memset(m->dst, 0, sizeof(m->dst));
    memset(&m->sport, 0, offsetof(struct pkt_meta, l3) - offsetof(struct pkt_meta, sport));
    m->tcp_wscale = 0xff;
    m->l4 = m->payload = NULL;
    m->l4_len = m->payload_len = 0;
}

/* ---- L4 ---- */

static bool tcp_opts_parse(struct pkt_meta *m, const uint8_t *o, uint32_t n)
{
    while (n > 0) {
        uint8_t kind = o[0];
        if (kind == 0) /* end of option list */
            break;
        if (kind == 1) { /* NOP */
            o++;
            n--;
            continue;
        }
        if (n < 2)
            return false;
        uint8_t l = o[1];
        if (l < 2 || l > n)
            return false;
        switch (kind) {
        case 2: /* MSS */
            if (l != 4)
                return false;
            m->tcp_mss = rd16(o + 2);
            break;
        case 3: /* window scale */
            if (l != 3)
                return false;
            m->tcp_wscale = o[2];
            break;
        case 4: /* SACK permitted */
            if (l != 2)
                return false;
            m->tcp_sack_ok = true;
            break;
        case 5: /* SACK blocks */
            if (l < 10 || (l - 2) % 8 != 0)
                return false;
            break;
        case 8: /* timestamps */
            if (l != 10)
                return false;
            m->tcp_has_ts = true;
            m->tcp_tsval = rd32(o + 2);
            m->tcp_tsecr = rd32(o + 6);
            break;
        default:
            break;
        }
        o += l;
        n -= l;
    }
    return true;
}

static enum decode_result dec_tcp(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss)
{
    struct pkt_meta *m = c->m;
    if (unlikely(len < 20))
        return short_hdr(c, len, miss, 20, DEC_TCP_TRUNCATED);
    c->d->stats.tcp++;
    m->flags |= PKT_TCP | PKT_HAS_L4;
    m->sport = rd16(p);
    m->dport = rd16(p + 2);
    m->tcp_seq = rd32(p + 4);
    m->tcp_ack = rd32(p + 8);
    m->tcp_flags = p[13];
    m->tcp_win = rd16(p + 14);
    m->l4 = p;
    m->l4_len = len;
    uint32_t hl = (uint32_t)(p[12] >> 4) * 4;
    if (unlikely(hl < 20))
        return invalid(c, DEC_TCP_BAD_OFFSET);
    if (unlikely(hl > len)) {
        if (hl > (uint64_t)len + miss)
            return invalid(c, DEC_TCP_BAD_OFFSET);
        return DECODE_OK; /* options cut by the snaplen */
    }
    m->payload = p + hl;
    m->payload_len = len - hl;
    if (hl > 20 && unlikely(!tcp_opts_parse(m, p + 20, hl - 20)))
        return invalid(c, DEC_TCP_BAD_OPTIONS);
    /* TH_SYN with TH_FIN or TH_RST: never legitimate, kept as a note. */
    if (unlikely((m->tcp_flags & 0x02) && (m->tcp_flags & 0x05)))
        note(c, DEC_TCP_BAD_FLAGS);
    if (c->d->cfg.check_checksums && miss == 0 && !l4_csum_ok(m, p, len, 6))
        return invalid(c, DEC_TCP_BAD_CHECKSUM);
    return DECODE_OK;
}

static enum decode_result dec_ether(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                    unsigned depth);

static enum decode_result dec_udp(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                  unsigned depth)
{
    struct pkt_meta *m = c->m;
    if (unlikely(len < 8))
        return short_hdr(c, len, miss, 8, DEC_UDP_TRUNCATED);
    c->d->stats.udp++;
    m->flags |= PKT_UDP | PKT_HAS_L4;
    m->sport = rd16(p);
    m->dport = rd16(p + 2);
    m->l4 = p;
    m->l4_len = len;
    uint32_t ulen = rd16(p + 4);
    if (unlikely(ulen < 8))
        return invalid(c, DEC_UDP_BAD_LEN);
    if (ulen <= len) {
        len = ulen;
        miss = 0;
    } else if (ulen > (uint64_t)len + miss) {
        return invalid(c, DEC_UDP_BAD_LEN);
    } else {
        miss = ulen - len;
    }
    m->l4 = p;
    m->l4_len = len;
    m->payload = p + 8;
    m->payload_len = len - 8;
    if (c->d->cfg.check_checksums && miss == 0 && rd16(p + 6) != 0 && !l4_csum_ok(m, p, len, 17))
        return invalid(c, DEC_UDP_BAD_CHECKSUM);

    if (m->dport == c->d->cfg.vxlan_port) {
        /* RFC 7348 5: flags(8, I = 0x08) reserved(24) VNI(24) reserved(8), then Ethernet. */
        if (m->payload_len < 8)
            return short_hdr(c, m->payload_len, miss, 8, DEC_VXLAN_TRUNCATED);
        if (!(m->payload[0] & 0x08))
            return DECODE_OK;
        enum decode_result r = tunnel_enter(c, depth);
        if (r != DECODE_OK)
            return r;
        c->d->stats.vxlan++;
        return dec_ether(c, m->payload + 8, m->payload_len - 8, miss, depth + 1);
    }
    return DECODE_OK;
}

static enum decode_result dec_icmp(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                   bool v6)
{
    struct pkt_meta *m = c->m;
    if (unlikely(len < 8))
        return short_hdr(c, len, miss, 8, v6 ? DEC_ICMPV6_TRUNCATED : DEC_ICMP_TRUNCATED);
    c->d->stats.icmp++;
    m->flags |= PKT_ICMP | PKT_HAS_L4;
    m->icmp_type = p[0];
    m->icmp_code = p[1];
    m->sport = p[0];
    m->dport = p[1];
    if (v6 ? (p[0] == 128 || p[0] == 129) : (p[0] == 8 || p[0] == 0)) {
        m->icmp_id = rd16(p + 4);
        m->icmp_seq = rd16(p + 6);
    }
    m->l4 = p;
    m->l4_len = len;
    m->payload = p + 8;
    m->payload_len = len - 8;
    return DECODE_OK;
}

static enum decode_result dec_gre(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                  unsigned depth)
{
    if (len < 4)
        return short_hdr(c, len, miss, 4, DEC_GRE_TRUNCATED);
    c->d->stats.gre++;
    uint16_t fl = rd16(p);
    uint16_t proto = rd16(p + 2);
    unsigned ver = fl & 7;
    if (ver == 1)
        return DECODE_OK; /* PPTP enhanced GRE (RFC 2637): PPP inside, not decoded */
    if (ver != 0)
        return invalid(c, DEC_GRE_BAD_VERSION);
    uint32_t hl = 4;
    if (fl & 0xc000) /* checksum or routing present: checksum + offset (RFC 1701) */
        hl += 4;
    if (fl & 0x2000) /* key (RFC 2890) */
        hl += 4;
    if (fl & 0x1000) /* sequence number (RFC 2890) */
        hl += 4;
    if (len < hl)
        return short_hdr(c, len, miss, hl, DEC_GRE_TRUNCATED);
    if (fl & 0x4000) { /* RFC 1701 source route entries, ended by a NULL SRE */
        for (unsigned n = 0;; n++) {
            if (n >= DECODE_MAX_GRE_SRES)
                return invalid(c, DEC_GRE_TRUNCATED);
            if (len - hl < 4)
                return short_hdr(c, len, miss, hl + 4, DEC_GRE_TRUNCATED);
            uint16_t af = rd16(p + hl);
            uint8_t sl = p[hl + 3];
            hl += 4;
            if (af == 0 && sl == 0)
                break;
            hl += sl;
            if (len < hl)
                return short_hdr(c, len, miss, hl, DEC_GRE_TRUNCATED);
        }
    }
    p += hl;
    len -= hl;
    switch (proto) {
    case ETH_P_IPV4:
    case ETH_P_IPV6:
    case ETH_P_TEB:
    case ETH_P_MPLS_UC:
    case ETH_P_MPLS_MC: {
        enum decode_result r = tunnel_enter(c, depth);
        if (r != DECODE_OK)
            return r;
        if (proto == ETH_P_TEB)
            return dec_ether(c, p, len, miss, depth + 1);
        return dec_ethertype(c, proto, p, len, miss, depth + 1);
    }
    default:
        return DECODE_OK;
    }
}

static enum decode_result dec_l4(struct dctx *c, uint8_t proto, const uint8_t *p, uint32_t len,
                                 uint32_t miss, unsigned depth)
{
    enum decode_result r;
    switch (proto) {
    case 6:
        return dec_tcp(c, p, len, miss);
    case 17:
        return dec_udp(c, p, len, miss, depth);
    case 1:
        return dec_icmp(c, p, len, miss, false);
    case 58:
        return dec_icmp(c, p, len, miss, true);
    case 47:
        return dec_gre(c, p, len, miss, depth);
    case 4:
    case 41:
        r = tunnel_enter(c, depth);
        if (r != DECODE_OK)
            return r;
        c->d->stats.ipip++;
        return proto == 4 ? dec_ipv4(c, p, len, miss, depth + 1) : dec_ipv6(c, p, len, miss, depth + 1);
    default:
        c->d->stats.other_l4++;
        return DECODE_OK;
    }
}

/* ---- fragments ---- */

static enum decode_result dec_fragment(struct dctx *c, struct defrag_frag *f, unsigned depth)
{
    struct pkt_meta *m = c->m;
    enum decode_reason reason = DEC_NONE;
    const uint8_t *out = NULL;
    uint32_t out_len = 0;

    c->d->stats.fragments++;
    m->flags |= PKT_FRAGMENT;
    m->frag_off = (uint16_t)(f->off | (f->more ? PKT_FRAG_MF : 0));
    if (c->reassembled)
        return DECODE_OK; /* nested fragmentation inside a reassembled datagram: passed on */
    f->vlan[0] = m->vlan[0];
    f->vlan[1] = m->vlan[1];
    f->depth = (uint8_t)depth;
    f->ts_ns = m->ts_ns;
    enum defrag_result dr = defrag_insert(&c->d->defrag, f, &reason, &out, &out_len);
    switch (dr) {
    case DEFRAG_HELD:
        if (reason != DEC_NONE)
            note(c, reason);
        return DECODE_HELD;
    case DEFRAG_PASS:
        note(c, reason);
        return DECODE_OK;
    case DEFRAG_INVALID:
        return invalid(c, reason);
    case DEFRAG_DONE:
        break;
    }
    if (reason != DEC_NONE)
        note(c, reason);
    c->reassembled = true;
    c->d->stats.reassembled++;
    m->flags = (m->flags & ~PKT_FRAGMENT) | PKT_REASSEMBLED;
    m->frag_off = 0;
    return f->version == 4 ? dec_ipv4(c, out, out_len, 0, depth) : dec_ipv6(c, out, out_len, 0, depth);
}

/* ---- L3 ---- */

static bool ipv4_opts_ok(const uint8_t *o, uint32_t n)
{
    while (n > 0) {
        uint8_t t = o[0];
        if (t == 0) /* end of option list */
            return true;
        if (t == 1) { /* NOP */
            o++;
            n--;
            continue;
        }
        if (n < 2)
            return false;
        uint8_t l = o[1];
        if (l < 2 || l > n)
            return false;
        switch (t) {
        case 7:   /* record route */
        case 131: /* loose source route */
        case 137: /* strict source route: pointer from 4, in steps of 4 (RFC 791 3.1) */
            if (l < 3 || o[2] < 4 || o[2] > l + 1 || (o[2] & 3) != 0)
                return false;
            break;
        case 68: /* timestamp */
            if (l < 4 || o[2] < 5)
                return false;
            break;
        case 130: /* security (RFC 791) */
            if (l != 11)
                return false;
            break;
        case 136: /* stream id */
        case 148: /* router alert (RFC 2113) */
            if (l != 4)
                return false;
            break;
        default:
            break;
        }
        o += l;
        n -= l;
    }
    return true;
}

static enum decode_result dec_ipv4(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                   unsigned depth)
{
    struct pkt_meta *m = c->m;
    if (unlikely(len < 20))
        return short_hdr(c, len, miss, 20, DEC_IPV4_TRUNCATED);
    if (unlikely((p[0] >> 4) != 4))
        return invalid(c, DEC_IPV4_BAD_VERSION);
    uint32_t hl = (uint32_t)(p[0] & 0x0f) * 4;
    if (unlikely(hl < 20))
        return invalid(c, DEC_IPV4_BAD_IHL);
    uint32_t tot = rd16(p + 2);
    if (unlikely(tot < hl))
        return invalid(c, DEC_IPV4_BAD_TOTAL_LEN);
    if (likely(tot <= len)) {
        len = tot; /* drop link-layer padding */
        miss = 0;
    } else if (tot > (uint64_t)len + miss) {
        return invalid(c, DEC_IPV4_BAD_TOTAL_LEN);
    } else {
        miss = tot - len;
    }
    if (depth > 0)
        meta_reset_inner(m);
    c->d->stats.ipv4++;
    m->flags |= PKT_IPV4;
    m->ip_version = 4;
    m->ttl = p[8];
    m->proto = p[9];
    m->ip_id = rd16(p + 4);
    memcpy(m->src, p + 12, 4);
    memcpy(m->dst, p + 16, 4);
    m->l3 = p;
    m->l3_len = len;
    if (unlikely(hl > len))
        return DECODE_OK; /* options cut by the snaplen */
    if (unlikely(hl > 20) && !ipv4_opts_ok(p + 20, hl - 20))
        return invalid(c, DEC_IPV4_BAD_OPTIONS);
    if (c->d->cfg.check_checksums && csum_fold(csum_add(0, p, hl)) != 0xffff)
        return invalid(c, DEC_IPV4_BAD_CHECKSUM);

    uint16_t fo = rd16(p + 6);
    if (unlikely(fo & 0x3fff)) { /* MF or an offset */
        uint32_t off = (uint32_t)(fo & 0x1fff) * 8;
        if (off + tot > 65535u)
            return invalid(c, DEC_FRAG_TOO_LARGE);
        if (miss > 0) {
            /* Cut by the snaplen: the data is incomplete, so it is passed on, not held. */
            c->d->stats.fragments++;
            m->flags |= PKT_FRAGMENT;
            m->frag_off = (uint16_t)(off | ((fo & 0x2000) ? PKT_FRAG_MF : 0));
            return DECODE_OK;
        }
        struct defrag_frag f = {
            .version = 4,
            .proto = p[9],
            .more = (fo & 0x2000) != 0,
            .id = m->ip_id,
            .src = p + 12,
            .dst = p + 16,
            .hdr = p,
            .hdr_len = hl,
            .data = p + hl,
            .len = len - hl,
            .off = off,
        };
        return dec_fragment(c, &f, depth);
    }
    return dec_l4(c, m->proto, p + hl, len - hl, miss, depth);
}

static enum decode_result dec_ipv6(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                   unsigned depth)
{
    struct pkt_meta *m = c->m;
    if (unlikely(len < 40))
        return short_hdr(c, len, miss, 40, DEC_IPV6_TRUNCATED);
    if (unlikely((p[0] >> 4) != 6))
        return invalid(c, DEC_IPV6_BAD_VERSION);
    uint32_t tot = 40 + (uint32_t)rd16(p + 4);
    if (likely(tot <= len)) {
        len = tot;
        miss = 0;
    } else if (tot > (uint64_t)len + miss) {
        return invalid(c, DEC_IPV6_BAD_PAYLOAD_LEN);
    } else {
        miss = tot - len;
    }
    if (depth > 0)
        meta_reset_inner(m);
    c->d->stats.ipv6++;
    m->flags |= PKT_IPV6;
    m->ip_version = 6;
    m->ttl = p[7];
    memcpy(m->src, p + 8, 16);
    memcpy(m->dst, p + 24, 16);
    m->l3 = p;
    m->l3_len = len;

    uint8_t nh = p[6];
    uint32_t off = 40, nh_off = 6;
    unsigned n = 0, dstopts = 0;
    uint32_t seen = 0; /* bit per extension header kind that may appear once */
    for (;;) {
        uint32_t hl;
        uint32_t bit;
        switch (nh) {
        case 0: /* hop-by-hop */
            bit = 1;
            break;
        case 43: /* routing */
            bit = 2;
            break;
        case 44: /* fragment */
            bit = 4;
            break;
        case 51: /* AH */
            bit = 8;
            break;
        case 60: /* destination options: before the routing header and before the upper layer */
            bit = ++dstopts > 2 ? 16 : 0;
            break;
        case 139: /* HIP, shim6, experimental: extension headers in the RFC 6564 format */
        case 140:
        case 253:
        case 254:
            bit = 0;
            break;
        default:
            goto upper;
        }
        if (++n > DECODE_MAX_IPV6_EXTHDRS)
            return invalid(c, DEC_IPV6_EXTHDR_TOO_MANY);
        if ((seen & bit) || bit == 16)
            return invalid(c, DEC_IPV6_EXTHDR_DUPLICATE);
        seen |= bit;
        if (len - off < 8)
            return short_hdr(c, len - off, miss, 8, DEC_IPV6_EXTHDR_TRUNCATED);
        if (nh == 44) {
            const uint8_t *fh = p + off;
            uint16_t fo = rd16(fh + 2);
            uint32_t foff = fo & 0xfff8;
            bool more = fo & 1;
            if (foff == 0 && !more) { /* atomic fragment (RFC 6946) */
                nh_off = off;
                nh = fh[0];
                off += 8;
                continue;
            }
            m->proto = fh[0];
            m->ip_id = (uint16_t)rd32(fh + 4);
            /* RFC 8200 4.5: the reassembled payload length must fit in 16 bits. */
            if ((uint64_t)off - 40 + foff + (len - off - 8) > 65535u)
                return invalid(c, DEC_FRAG_TOO_LARGE);
            if (miss > 0) {
                c->d->stats.fragments++;
                m->flags |= PKT_FRAGMENT;
                m->frag_off = (uint16_t)(foff | (more ? PKT_FRAG_MF : 0));
                return DECODE_OK;
            }
            struct defrag_frag f = {
                .version = 6,
                .proto = fh[0],
                .more = more,
                .id = rd32(fh + 4),
                .src = p + 8,
                .dst = p + 24,
                .hdr = p,
                .hdr_len = off,
                .nh_off = nh_off,
                .data = fh + 8,
                .len = len - off - 8,
                .off = foff,
            };
            return dec_fragment(c, &f, depth);
        }
        if (nh == 51)
            hl = ((uint32_t)p[off + 1] + 2) * 4; /* RFC 4302 2.2: in 4-octet units, minus 2 */
        else
            hl = ((uint32_t)p[off + 1] + 1) * 8;
        if (len - off < hl)
            return short_hdr(c, len - off, miss, hl, DEC_IPV6_EXTHDR_TRUNCATED);
        nh_off = off;
        nh = p[off];
        off += hl;
    }
upper:
    m->proto = nh;
    return dec_l4(c, nh, p + off, len - off, miss, depth);
}

/* ---- link layers ---- */

static enum decode_result dec_mpls(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                   unsigned depth)
{
    c->d->stats.mpls++;
    for (unsigned n = 0;; n++) {
        if (n >= DECODE_MAX_MPLS_LABELS)
            return invalid(c, DEC_MPLS_TOO_MANY);
        if (len < 4)
            return short_hdr(c, len, miss, 4, DEC_MPLS_TRUNCATED);
        bool bottom = p[2] & 1;
        p += 4;
        len -= 4;
        if (bottom)
            break;
    }
    if (len < 1)
        return short_hdr(c, len, miss, 1, DEC_MPLS_TRUNCATED);
    switch (p[0] >> 4) {
    case 4:
        return dec_ipv4(c, p, len, miss, depth);
    case 6:
        return dec_ipv6(c, p, len, miss, depth);
    case 0: { /* RFC 4385 pseudowire control word, then Ethernet (RFC 4448) */
        if (len < 4)
            return short_hdr(c, len, miss, 4, DEC_MPLS_TRUNCATED);
        enum decode_result r = tunnel_enter(c, depth);
        if (r != DECODE_OK)
            return r;
        return dec_ether(c, p + 4, len - 4, miss, depth + 1);
    }
    default:
        return DECODE_OK;
    }
}

/* PPPoE session stage (RFC 2516 4): ver/type, code, session id, length, then the PPP protocol
 * (RFC 1661 2; one byte when compressed: RFC 1661 6.5). IP inside is decoded, other PPP is not. */
static enum decode_result dec_pppoe(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                    unsigned depth)
{
    if (len < 7)
        return short_hdr(c, len, miss, 7, DEC_PPPOE_TRUNCATED);
    uint32_t hl = 8;
    uint16_t proto;
    if (p[6] & 1) { /* protocol field compressed */
        proto = p[6];
        hl = 7;
    } else {
        if (len < 8)
            return short_hdr(c, len, miss, 8, DEC_PPPOE_TRUNCATED);
        proto = rd16(p + 6);
    }
    switch (proto) {
    case 0x0021:
        return dec_ipv4(c, p + hl, len - hl, miss, depth);
    case 0x0057:
        return dec_ipv6(c, p + hl, len - hl, miss, depth);
    default:
        return DECODE_OK; /* LCP, IPCP, ...: valid, not IP */
    }
}

static enum decode_result dec_ethertype(struct dctx *c, uint16_t et, const uint8_t *p, uint32_t len,
                                        uint32_t miss, unsigned depth)
{
    struct pkt_meta *m = c->m;
    unsigned tags = 0;
    while (et == ETH_P_8021Q || et == ETH_P_8021AD || et == ETH_P_QINQ_OLD) {
        if (++tags > DECODE_MAX_VLAN_TAGS)
            return invalid(c, DEC_VLAN_TOO_MANY);
        if (len < 4)
            return short_hdr(c, len, miss, 4, DEC_VLAN_TRUNCATED);
        c->d->stats.vlan++;
        if (depth == 0 && m->vlan_count < 2)
            m->vlan[m->vlan_count++] = rd16(p) & 0x0fff;
        et = rd16(p + 2);
        p += 4;
        len -= 4;
    }
    switch (et) {
    case ETH_P_IPV4:
        return dec_ipv4(c, p, len, miss, depth);
    case ETH_P_IPV6:
        return dec_ipv6(c, p, len, miss, depth);
    case ETH_P_MPLS_UC:
    case ETH_P_MPLS_MC:
        return dec_mpls(c, p, len, miss, depth);
    case ETH_P_PPPOE_SESS:
        return dec_pppoe(c, p, len, miss, depth);
    default:
        return DECODE_OK; /* ARP, LLC, ...: valid, not IP */
    }
}

static enum decode_result dec_ether(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss,
                                    unsigned depth)
{
    if (unlikely(len < 14))
        return short_hdr(c, len, miss, 14, DEC_ETH_TRUNCATED);
    return dec_ethertype(c, rd16(p + 12), p + 14, len - 14, miss, depth);
}

static enum decode_result dec_raw(struct dctx *c, const uint8_t *p, uint32_t len, uint32_t miss)
{
    if (len < 1)
        return short_hdr(c, len, miss, 1, DEC_IPV4_TRUNCATED);
    if ((p[0] >> 4) == 6)
        return dec_ipv6(c, p, len, miss, 0);
    return dec_ipv4(c, p, len, miss, 0);
}

/* BSD loopback family values: AF_INET is 2 everywhere, AF_INET6 is 24, 28 or 30 (BSDs), 10 (Linux). */
static enum decode_result dec_null_family(struct dctx *c, uint32_t fam, const uint8_t *p, uint32_t len,
                                          uint32_t miss)
{
    switch (fam) {
    case 2:
        return dec_ipv4(c, p, len, miss, 0);
    case 10:
    case 24:
    case 28:
    case 30:
        return dec_ipv6(c, p, len, miss, 0);
    default:
        return DECODE_OK;
    }
}

/* Zeroes the meta with plain vector stores: compilers turn a 160-byte memset into `rep stos`,
 * which costs more than the whole decode of a small packet on some cores (measured: 2/3 of it). */
static inline void meta_zero(struct pkt_meta *m)
{
    typedef uint64_t v2u64 __attribute__((vector_size(16), aligned(1)));
    _Static_assert(sizeof(*m) % 16 == 0, "pkt_meta size must be a multiple of 16");
    v2u64 *q = (v2u64 *)(void *)m;
    const v2u64 z = {0, 0};
    for (size_t i = 0; i < sizeof(*m) / 16; i++) {
        q[i] = z;
        __asm__ volatile(""); /* keeps the loop from being turned back into memset */
    }
}

/* The common case in one pass, without the layer functions: Ethernet with at most one 802.1Q
 * tag, then IPv4 without options and not a fragment, or IPv6 without extension headers, then TCP
 * (options walked as dec_tcp does) or UDP (not on the VXLAN port), the whole packet captured,
 * checksums not checked, no note to make. It writes exactly what the full decoder writes for such
 * a packet, the flow key and hash included (built here from the header words, in the same pass;
 * tests/decode test_decode_fastpath compares the two on crafted, mutated and real packets).
 * Anything else, or any length that does not add up, returns false before a counter is touched,
 * and decode_packet_full() starts over (it zeroes the meta again). */
static inline bool decode_fast(struct decoder *d, const struct dp_packet *pkt, struct pkt_meta *m)
{
    const uint8_t *p = pkt->data;
    uint32_t len = pkt->caplen;
    if (unlikely(pkt->linktype != DP_LINK_ETHERNET || pkt->wirelen > len || len < 14 + 20 + 8 ||
                 d->cfg.check_checksums))
        return false;
    uint32_t off = 14, tags = 0;
    uint16_t et = rd16(p + 12), vlan = 0;
    if (et == ETH_P_8021Q) { /* len >= 42: the tag and the IPv4 header are there */
        vlan = rd16(p + 14) & 0x0fff;
        et = rd16(p + 16);
        off = 18;
        tags = 1;
    }
    const uint8_t *ip = p + off;
    const uint8_t *l4;
    uint32_t tot, l4_len;
    uint8_t proto;
    bool v6;
    if (likely(et == ETH_P_IPV4)) {
        if (unlikely(ip[0] != 0x45))
            return false;
        tot = rd16(ip + 2);
        /* total length within the capture (the rest is link padding), no MF flag, no offset */
        if (unlikely(tot < 20 || tot > len - off || (rd16(ip + 6) & 0x3fff) != 0))
            return false;
        l4 = ip + 20;
        l4_len = tot - 20;
        proto = ip[9];
        v6 = false;
    } else if (et == ETH_P_IPV6) {
        /* the fixed header and 8 bytes after it present; payload within the capture */
        if (unlikely(len - off < 40 + 8 || (ip[0] >> 4) != 6))
            return false;
        tot = 40 + (uint32_t)rd16(ip + 4);
        if (unlikely(tot > len - off))
            return false;
        l4 = ip + 40;
        l4_len = tot - 40;
        proto = ip[6]; /* an extension header (or anything but TCP/UDP) is declined below */
        v6 = true;
    } else {
        return false;
    }
    uint32_t flags, hl;
    uint16_t sport = rd16(l4), dport = rd16(l4 + 2);
    if (proto == 17) {
        if (unlikely(l4_len < 8))
            return false;
        uint32_t ulen = rd16(l4 + 4);
        if (unlikely(ulen < 8 || ulen > l4_len || dport == d->cfg.vxlan_port))
            return false;
        l4_len = ulen; /* a shorter UDP length trims the payload */
        hl = 8;
        flags = PKT_UDP | PKT_HAS_L4;
    } else if (proto == 6) {
        if (unlikely(l4_len < 20))
            return false;
        hl = (uint32_t)(l4[12] >> 4) * 4;
        uint8_t fl = l4[13];
        /* bad data offset (invalid), or SYN with FIN or RST (a note): the full decoder's */
        if (unlikely(hl < 20 || hl > l4_len || ((fl & 0x02) && (fl & 0x05))))
            return false;
        flags = PKT_TCP | PKT_HAS_L4;
    } else {
        return false;
    }

    meta_zero(m);
    m->ts_ns = pkt->ts_ns;
    m->wirelen = len;
    m->proto = proto;
    m->vlan_count = (uint8_t)tags;
    m->vlan[0] = vlan;
    m->sport = sport;
    m->dport = dport;
    m->tcp_wscale = 0xff;
    m->l3 = ip;
    m->l3_len = tot;
    m->l4 = l4;
    m->l4_len = l4_len;
    m->payload = l4 + hl;
    m->payload_len = l4_len - hl;
    /* the flow key (decode_flowkey.h flowkey_build() of this meta, from the header words),
     * without branches on the packet's direction (random per packet: a mispredicted branch cost
     * more than the whole key) */
    struct flow_key *k = &m->flow_key;
    uint64_t a0, a1, b0, b1;
    unsigned swap;
    if (!v6) {
        m->flags = flags | PKT_IPV4;
        m->ip_version = 4;
        m->ttl = ip[8];
        m->ip_id = rd16(ip + 4);
        memcpy(m->src, ip + 12, 4);
        memcpy(m->dst, ip + 16, 4);
        uint32_t sa = rd32(ip + 12), da = rd32(ip + 16);
        swap = (unsigned)(sa > da) | ((unsigned)(sa == da) & (unsigned)(sport > dport));
        uint32_t x = (sa ^ da) & (0 - (uint32_t)swap), a = sa ^ x, b = da ^ x;
        uint32_t an = __builtin_bswap32(a), bn = __builtin_bswap32(b);
        memcpy(k->addr[0], &an, 4);
        memcpy(k->addr[1], &bn, 4);
        a0 = (uint64_t)a << 32;
        b0 = (uint64_t)b << 32;
        a1 = b1 = 0;
    } else {
        m->flags = flags | PKT_IPV6;
        m->ip_version = 6;
        m->ttl = ip[7];
        memcpy(m->src, ip + 8, 16);
        memcpy(m->dst, ip + 24, 16);
        uint64_t s0 = flowkey_be64(ip + 8), s1 = flowkey_be64(ip + 16), d0 = flowkey_be64(ip + 24),
                 d1 = flowkey_be64(ip + 32);
        swap = flowkey_swap(s0, s1, d0, d1, sport, dport);
        uint64_t mask = 0 - (uint64_t)swap, x0 = (s0 ^ d0) & mask, x1 = (s1 ^ d1) & mask;
        a0 = s0 ^ x0;
        b0 = d0 ^ x0;
        a1 = s1 ^ x1;
        b1 = d1 ^ x1;
        uint64_t r[4], x; /* the addresses as they lie in memory */
        memcpy(r, ip + 8, 32);
        x = (r[0] ^ r[2]) & mask;
        r[0] ^= x;
        r[2] ^= x;
        x = (r[1] ^ r[3]) & mask;
        r[1] ^= x;
        r[3] ^= x;
        memcpy(k->addr[0], r, 16);
        memcpy(k->addr[1], r + 2, 16);
    }
    uint32_t xp = (uint32_t)(sport ^ dport) & (0 - (uint32_t)swap);
    uint16_t pa = (uint16_t)(sport ^ xp), pb = (uint16_t)(dport ^ xp);
    /* ports and VLANs, then proto, version and padding, as two stores (stores bound this loop) */
    uint64_t w4 = (uint64_t)pa | (uint64_t)pb << 16 | (uint64_t)vlan << 32;
    uint32_t w5 = (uint32_t)proto | (v6 ? 6u : 4u) << 8;
    _Static_assert(offsetof(struct flow_key, vlan) == offsetof(struct flow_key, port) + 4 &&
                       offsetof(struct flow_key, proto) == offsetof(struct flow_key, port) + 8 &&
                       offsetof(struct flow_key, ip_version) == offsetof(struct flow_key, port) + 9,
                   "key tail layout");
    memcpy(k->port, &w4, 8);
    memcpy(&k->proto, &w5, 4);
    m->flow_src_side = (uint8_t)swap;
    m->flow_hash = v6 ? flowkey_hash_words(a0, a1, b0, b1, w4, w5)
                      : flowkey_hash_v4((uint32_t)(a0 >> 32), (uint32_t)(b0 >> 32), w4, w5);
    if (proto == 6) {
        m->tcp_seq = rd32(l4 + 4);
        m->tcp_ack = rd32(l4 + 8);
        m->tcp_flags = l4[13];
        m->tcp_win = rd16(l4 + 14);
        if (hl > 20 && unlikely(!tcp_opts_parse(m, l4 + 20, hl - 20)))
            return false; /* tcp.bad_options: the full decoder reports it */
        d->stats.tcp++;
    } else {
        d->stats.udp++;
    }
    d->stats.packets++;
    d->stats.bytes += len;
    d->stats.vlan += tags;
    if (v6)
        d->stats.ipv6++;
    else
        d->stats.ipv4++;
    return true;
}

enum decode_result decode_packet(struct decoder *d, const struct dp_packet *pkt, struct pkt_meta *m)
{
    if (likely(decode_fast(d, pkt, m)))
        return DECODE_OK;
    return decode_packet_full(d, pkt, m);
}

bool decode_packet_fast(struct decoder *d, const struct dp_packet *pkt, struct pkt_meta *m)
{
    return decode_fast(d, pkt, m);
}

enum decode_result decode_packet_full(struct decoder *d, const struct dp_packet *pkt,
                                      struct pkt_meta *m)
{
    const uint8_t *p = pkt->data;
    uint32_t len = pkt->caplen;
    uint32_t miss = pkt->wirelen > pkt->caplen ? pkt->wirelen - pkt->caplen : 0;
    struct dctx c = {.d = d, .m = m, .reassembled = false};
    enum decode_result r;

    meta_zero(m);
    m->ts_ns = pkt->ts_ns;
    m->wirelen = len + miss;
    m->tcp_wscale = 0xff;
    d->stats.packets++;
    d->stats.bytes += len + miss;

    switch (pkt->linktype) {
    case DP_LINK_ETHERNET:
        r = dec_ether(&c, p, len, miss, 0);
        break;
    case DP_LINK_RAW:
        r = dec_raw(&c, p, len, miss);
        break;
    case DP_LINK_IPV4:
        r = dec_ipv4(&c, p, len, miss, 0);
        break;
    case DP_LINK_IPV6:
        r = dec_ipv6(&c, p, len, miss, 0);
        break;
    case DP_LINK_LINUX_SLL: /* 16 bytes, protocol last (an ethertype) */
        if (len < 16)
            r = short_hdr(&c, len, miss, 16, DEC_SLL_TRUNCATED);
        else
            r = dec_ethertype(&c, rd16(p + 14), p + 16, len - 16, miss, 0);
        break;
    case DP_LINK_LINUX_SLL2: /* 20 bytes, protocol first */
        if (len < 20)
            r = short_hdr(&c, len, miss, 20, DEC_SLL_TRUNCATED);
        else
            r = dec_ethertype(&c, rd16(p), p + 20, len - 20, miss, 0);
        break;
    case DP_LINK_NULL:
    case DP_LINK_LOOP:
        if (len < 4) {
            r = short_hdr(&c, len, miss, 4, DEC_ETH_TRUNCATED);
        } else {
            uint32_t fam = rd32(p);
            /* NULL is in the capturing host's order, which need not be ours: accept both. */
            if (pkt->linktype == DP_LINK_NULL && (fam & 0xffff) == 0)
                fam = __builtin_bswap32(fam);
            r = dec_null_family(&c, fam, p + 4, len - 4, miss);
        }
        break;
    default:
        r = invalid(&c, DEC_LINK_UNSUPPORTED);
        break;
    }

    if (unlikely(miss > 0)) {
        m->flags |= PKT_SNAPLEN_CUT;
        if (r != DECODE_INVALID)
            note(&c, DEC_PKT_TRUNCATED_SNAPLEN);
    }
    if (unlikely(r == DECODE_INVALID))
        d->stats.invalid++;
    if (unlikely(m->reason != DEC_NONE))
        d->stats.reason[m->reason]++;
    if (r == DECODE_OK && (m->ip_version == 4 || m->ip_version == 6))
        flowkey_set_meta(m); /* what the fast path builds in its pass */
    return r;
}
