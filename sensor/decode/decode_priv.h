/* Decoder internals shared by decode.c, defrag.c and decode_hash.c. Not a public header. */
#ifndef TRIPLINE_DECODE_PRIV_H
#define TRIPLINE_DECODE_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "decode.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Bounds that keep a hostile packet's work finite. */
#define DECODE_MAX_VLAN_TAGS 3     /* per Ethernet header (as Suricata); the outer 2 are kept */
#define DECODE_MAX_MPLS_LABELS 8
#define DECODE_MAX_TUNNEL_DEPTH 4  /* GRE, VXLAN, IP-in-IP, MPLS pseudowire levels */
#define DECODE_MAX_IPV6_EXTHDRS 8  /* a legal chain has at most 6 (RFC 8200 4.1) */
#define DECODE_MAX_GRE_SRES 16

static inline uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}

static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

/* ---- defragmentation (defrag.c) ---- */

#define DEFRAG_BLOCK 1024u                  /* data is stored in blocks of this size */
#define DEFRAG_MAX_DATA 65536u              /* fragmentable part of one datagram, at most */
#define DEFRAG_BLOCKS_PER_DGRAM (DEFRAG_MAX_DATA / DEFRAG_BLOCK)
#define DEFRAG_UNITS (DEFRAG_MAX_DATA / 8)  /* fragment offsets count 8-byte units */
#define DEFRAG_MAX_HDR 512u                 /* IPv4 header, or IPv6 unfragmentable part */
#define DEFRAG_NONE UINT32_MAX

/* One fragment as the IP decoders hand it to the reassembler. */
struct defrag_frag {
    uint8_t version; /* 4 or 6 */
    uint8_t proto;   /* IPv4: protocol (part of the key); IPv6: next header after the fragment hdr */
    uint8_t depth;   /* tunnel depth: fragments of different encapsulations never mix */
    bool more;       /* MF / M flag */
    uint16_t vlan[2];
    uint32_t id;
    const uint8_t *src, *dst; /* 4 or 16 bytes */
    const uint8_t *hdr;       /* IPv4 header / IPv6 header + extension headers before the fragment header */
    uint32_t hdr_len;
    uint32_t nh_off; /* IPv6: offset in hdr of the next-header byte naming the fragment header */
    const uint8_t *data;
    uint32_t len, off; /* fragment data and its offset in bytes */
    uint64_t ts_ns;
};

enum defrag_result {
    DEFRAG_HELD,    /* kept; datagram incomplete */
    DEFRAG_DONE,    /* datagram complete: *out / *out_len hold it (decoder's buffer) */
    DEFRAG_PASS,    /* not tracked (no room): hand the fragment on as it is */
    DEFRAG_INVALID, /* malformed fragment (reason set), dropped */
};

struct defrag_dgram {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint8_t version, proto, depth;
    bool has_last, has_first;
    uint16_t vlan[2];
    uint32_t hash_next;          /* bucket chain */
    uint32_t age_prev, age_next; /* list in order of creation, for expiry */
    uint64_t first_ns;
    uint32_t total;     /* end of the data (known once the last fragment arrived) */
    uint32_t max_end;   /* highest end of data received */
    uint32_t units;     /* 8-byte units filled */
    uint32_t hdr_len, nh_off;
    uint8_t next_proto; /* IPv6 */
    uint32_t block[DEFRAG_BLOCKS_PER_DGRAM]; /* block index, DEFRAG_NONE if not yet allocated */
    uint64_t bitmap[DEFRAG_UNITS / 64];      /* units received */
    uint8_t hdr[DEFRAG_MAX_HDR];
};

struct defrag {
    uint64_t timeout_ns;
    uint32_t max_dgrams, n_dgrams;
    uint32_t n_buckets; /* power of two */
    uint32_t *buckets;
    struct defrag_dgram *dgrams;
    uint32_t free_dgram;           /* free list through hash_next */
    uint32_t age_head, age_tail;   /* oldest first */
    uint32_t n_blocks, n_free_blocks;
    uint32_t *free_blocks;         /* stack of free block indices */
    uint8_t *data;                 /* n_blocks * DEFRAG_BLOCK */
    uint8_t *out;                  /* reassembled datagram handed back */
    uint64_t *timeouts;            /* decoder stats counter to bump on expiry */
};

int defrag_init(struct defrag *df, const struct decoder_config *cfg, uint64_t *timeout_counter);
void defrag_fini(struct defrag *df);
enum defrag_result defrag_insert(struct defrag *df, const struct defrag_frag *f,
                                 enum decode_reason *reason, const uint8_t **out, uint32_t *out_len);
void defrag_expire(struct defrag *df, uint64_t now_ns);
/* Datagrams currently tracked and blocks in use (tests). */
uint32_t defrag_active(const struct defrag *df);

/* ---- the decoder ---- */

/* decode_packet() is decode_packet_fast() for the common case (Ethernet [+ one 802.1Q tag] /
 * IPv4 without options, not a fragment / TCP or UDP), else decode_packet_full(). Both are here
 * for tests that hold the fast path to the full decoder. */
/* Decodes pkt if it is of the common case and returns true; false (no counter touched, meta
 * content unspecified) otherwise. */
bool decode_packet_fast(struct decoder *d, const struct dp_packet *pkt, struct pkt_meta *m);
/* The full decoder, every layer, as decode_packet() without the fast path. */
enum decode_result decode_packet_full(struct decoder *d, const struct dp_packet *pkt,
                                      struct pkt_meta *m);

struct decoder {
    struct decoder_config cfg;
    struct decoder_stats stats;
    struct defrag defrag;
};

#endif
