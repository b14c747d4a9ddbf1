/* IPv4 / IPv6 fragment reassembly with memory fixed at start-up.
 *
 * Every datagram being reassembled owns a slot in a preallocated table and borrows fixed-size
 * data blocks from a preallocated pool; a bitmap of 8-byte units records what arrived (fragment
 * offsets count 8-byte units, RFC 791 / RFC 8200 4.5, and only the last fragment may end off a
 * unit boundary). Nothing is allocated per packet.
 *
 * Overlap policy: first arrival wins. Bytes already received are never overwritten (as the BSD
 * and Suricata "first" policies do for a re-sent range); if an overlapping fragment carries
 * different bytes for a range already held, the overlap is reported (DEC_FRAG_OVERLAP) and the
 * datagram is still completed with the first data. Identical retransmitted fragments are silent.
 *
 * Timeouts are in packet time from the first fragment; expired datagrams are counted as
 * DEC_FRAG_TIMEOUT. When no slot or no data block is free (after expiring what is due), the
 * fragment is passed on unreassembled and counted as DEC_FRAG_TABLE_FULL; a datagram that cannot
 * get the memory for a fragment is dropped whole, since it could never complete.
 */
#include <errno.h>
#include <stdlib.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "decode_priv.h"

static uint32_t round_pow2(uint32_t v)
{
    uint32_t p = 1;
    while (p < v && p < (1u << 30))
        p <<= 1;
    return p;
}

int defrag_init(struct defrag *df, const struct decoder_config *cfg, uint64_t *timeout_counter)
{
    memset(df, 0, sizeof(*df));
    df->timeout_ns = cfg->frag_timeout_ns;
    df->timeouts = timeout_counter;
    df->max_dgrams = cfg->frag_max_datagrams;
    df->n_blocks = cfg->frag_max_bytes / DEFRAG_BLOCK;
    df->age_head = df->age_tail = DEFRAG_NONE;
    df->free_dgram = DEFRAG_NONE;
    /* The output buffer holds the largest datagram plus its header even when reassembly is off. */
    df->out = malloc(DEFRAG_MAX_HDR + DEFRAG_MAX_DATA);
    if (!df->out)
        goto err;
    if (df->max_dgrams == 0 || df->n_blocks == 0) {
        df->max_dgrams = 0;
        df->n_blocks = 0;
        return 0;
    }
    df->n_buckets = round_pow2(df->max_dgrams * 2);
    df->buckets = malloc(sizeof(uint32_t) * df->n_buckets);
    df->dgrams = calloc(df->max_dgrams, sizeof(struct defrag_dgram));
    df->free_blocks = malloc(sizeof(uint32_t) * df->n_blocks);
    df->data = malloc((size_t)df->n_blocks * DEFRAG_BLOCK);
    if (!df->buckets || !df->dgrams || !df->free_blocks || !df->data)
        goto err;
    for (uint32_t i = 0; i < df->n_buckets; i++)
        df->buckets[i] = DEFRAG_NONE;
    for (uint32_t i = df->max_dgrams; i-- > 0;) {
        df->dgrams[i].hash_next = df->free_dgram;
        df->free_dgram = i;
    }
    for (uint32_t i = 0; i < df->n_blocks; i++)
        df->free_blocks[i] = df->n_blocks - 1 - i;
    df->n_free_blocks = df->n_blocks;
    return 0;
err:
    defrag_fini(df);
    return -ENOMEM;
}

void defrag_fini(struct defrag *df)
{
    free(df->buckets);
    free(df->dgrams);
    free(df->free_blocks);
    free(df->data);
    free(df->out);
    memset(df, 0, sizeof(*df));
}

uint32_t defrag_active(const struct defrag *df)
{
    return df->n_dgrams;
}

static uint32_t frag_hash(const struct defrag *df, const struct defrag_frag *f)
{
    /* RFC 791: (src, dst, protocol, id); RFC 8200: (src, dst, id). Plus the encapsulation. */
    struct {
        uint8_t src[16], dst[16];
        uint32_t id;
        uint16_t vlan[2];
        uint8_t version, proto, depth, pad;
    } k;
    unsigned alen = f->version == 4 ? 4 : 16;
    memset(&k, 0, sizeof(k));
    memcpy(k.src, f->src, alen);
    memcpy(k.dst, f->dst, alen);
    k.id = f->id;
    k.vlan[0] = f->vlan[0];
    k.vlan[1] = f->vlan[1];
    k.version = f->version;
    k.proto = f->version == 4 ? f->proto : 0;
    k.depth = f->depth;
    return (uint32_t)XXH3_64bits(&k, sizeof(k)) & (df->n_buckets - 1);
}

static bool dgram_matches(const struct defrag_dgram *g, const struct defrag_frag *f)
{
    unsigned alen = f->version == 4 ? 4 : 16;
    return g->version == f->version && g->id == f->id && g->depth == f->depth &&
           (f->version == 6 || g->proto == f->proto) && g->vlan[0] == f->vlan[0] &&
           g->vlan[1] == f->vlan[1] && memcmp(g->src, f->src, alen) == 0 &&
           memcmp(g->dst, f->dst, alen) == 0;
}

/* Frees a datagram's blocks and slot; unlinks it from its bucket and the age list. */
static void dgram_free(struct defrag *df, uint32_t gi, uint32_t bucket)
{
    struct defrag_dgram *g = &df->dgrams[gi];
    for (uint32_t *pp = &df->buckets[bucket]; *pp != DEFRAG_NONE; pp = &df->dgrams[*pp].hash_next) {
        if (*pp == gi) {
            *pp = g->hash_next;
            break;
        }
    }
    if (g->age_prev != DEFRAG_NONE)
        df->dgrams[g->age_prev].age_next = g->age_next;
    else
        df->age_head = g->age_next;
    if (g->age_next != DEFRAG_NONE)
        df->dgrams[g->age_next].age_prev = g->age_prev;
    else
        df->age_tail = g->age_prev;
    for (unsigned b = 0; b < DEFRAG_BLOCKS_PER_DGRAM; b++) {
        if (g->block[b] != DEFRAG_NONE)
            df->free_blocks[df->n_free_blocks++] = g->block[b];
    }
    g->hash_next = df->free_dgram;
    df->free_dgram = gi;
    df->n_dgrams--;
}

static uint32_t dgram_bucket(const struct defrag *df, const struct defrag_dgram *g)
{
    struct defrag_frag f = {
        .version = g->version, .proto = g->proto, .depth = g->depth,
        .vlan = {g->vlan[0], g->vlan[1]}, .id = g->id, .src = g->src, .dst = g->dst,
    };
    return frag_hash(df, &f);
}

void defrag_expire(struct defrag *df, uint64_t now_ns)
{
    /* The age list is in order of creation, so the expired ones are at its head. */
    while (df->age_head != DEFRAG_NONE) {
        uint32_t gi = df->age_head;
        struct defrag_dgram *g = &df->dgrams[gi];
        if (now_ns < g->first_ns || now_ns - g->first_ns < df->timeout_ns)
            break;
        dgram_free(df, gi, dgram_bucket(df, g));
        (*df->timeouts)++;
    }
}

static uint32_t dgram_new(struct defrag *df, const struct defrag_frag *f, uint32_t bucket)
{
    uint32_t gi = df->free_dgram;
    struct defrag_dgram *g = &df->dgrams[gi];
    unsigned alen = f->version == 4 ? 4 : 16;
    df->free_dgram = g->hash_next;
    df->n_dgrams++;
    memset(g->src, 0, sizeof(g->src));
    memset(g->dst, 0, sizeof(g->dst));
    memcpy(g->src, f->src, alen);
    memcpy(g->dst, f->dst, alen);
    g->id = f->id;
    g->version = f->version;
    g->proto = f->version == 4 ? f->proto : 0;
    g->depth = f->depth;
    g->vlan[0] = f->vlan[0];
    g->vlan[1] = f->vlan[1];
    g->has_last = g->has_first = false;
    g->first_ns = f->ts_ns;
    g->total = g->max_end = g->units = 0;
    g->hdr_len = g->nh_off = 0;
    g->next_proto = 0;
    for (unsigned b = 0; b < DEFRAG_BLOCKS_PER_DGRAM; b++)
        g->block[b] = DEFRAG_NONE;
    memset(g->bitmap, 0, sizeof(g->bitmap));
    g->hash_next = df->buckets[bucket];
    df->buckets[bucket] = gi;
    g->age_next = DEFRAG_NONE;
    g->age_prev = df->age_tail;
    if (df->age_tail != DEFRAG_NONE)
        df->dgrams[df->age_tail].age_next = gi;
    else
        df->age_head = gi;
    df->age_tail = gi;
    return gi;
}

static inline uint8_t *unit_ptr(struct defrag *df, const struct defrag_dgram *g, uint32_t byte_off)
{
    return df->data + (size_t)g->block[byte_off / DEFRAG_BLOCK] * DEFRAG_BLOCK + byte_off % DEFRAG_BLOCK;
}

/* Writes the complete datagram into df->out. Returns its length, or 0 if it is too large. */
static uint32_t dgram_build(struct defrag *df, const struct defrag_dgram *g)
{
    uint32_t len = g->hdr_len + g->total;
    uint8_t *o = df->out;
    if (len > 65535 + (g->version == 6 ? 40u : 0u))
        return 0;
    memcpy(o, g->hdr, g->hdr_len);
    for (uint32_t off = 0; off < g->total; off += DEFRAG_BLOCK) {
        uint32_t n = g->total - off < DEFRAG_BLOCK ? g->total - off : DEFRAG_BLOCK;
        memcpy(o + g->hdr_len + off, unit_ptr(df, g, off), n);
    }
    if (g->version == 4) {
        o[2] = (uint8_t)(len >> 8);
        o[3] = (uint8_t)len;
        o[6] &= 0x40; /* keep DF, clear MF and the offset */
        o[7] = 0;
        o[10] = o[11] = 0;
        uint32_t sum = 0;
        for (uint32_t i = 0; i < g->hdr_len; i += 2)
            sum += (uint32_t)o[i] << 8 | o[i + 1];
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        sum = ~sum & 0xffff;
        o[10] = (uint8_t)(sum >> 8);
        o[11] = (uint8_t)sum;
    } else {
        uint32_t plen = len - 40;
        o[4] = (uint8_t)(plen >> 8);
        o[5] = (uint8_t)plen;
        o[g->nh_off] = g->next_proto; /* the fragment header is gone */
    }
    return len;
}

enum defrag_result defrag_insert(struct defrag *df, const struct defrag_frag *f,
                                 enum decode_reason *reason, const uint8_t **out, uint32_t *out_len)
{
    uint32_t end = f->off + f->len;

    /* RFC 791 / RFC 8200 4.5: every fragment but the last carries a multiple of 8 bytes. */
    if (f->more && (f->len == 0 || (f->len & 7))) {
        *reason = DEC_FRAG_BAD_LEN;
        return DEFRAG_INVALID;
    }
    if (end > DEFRAG_MAX_DATA - 1 || f->hdr_len > DEFRAG_MAX_HDR) {
        *reason = end > DEFRAG_MAX_DATA - 1 ? DEC_FRAG_TOO_LARGE : DEC_FRAG_BAD_LEN;
        return DEFRAG_INVALID;
    }
    if (df->max_dgrams == 0) {
        *reason = DEC_FRAG_TABLE_FULL;
        return DEFRAG_PASS;
    }
    /* Cheap when nothing is due (one comparison), and keeps memory from waiting on the caller. */
    defrag_expire(df, f->ts_ns);

    uint32_t bucket = frag_hash(df, f);
    uint32_t gi = df->buckets[bucket];
    while (gi != DEFRAG_NONE && !dgram_matches(&df->dgrams[gi], f))
        gi = df->dgrams[gi].hash_next;
    if (gi != DEFRAG_NONE) {
        struct defrag_dgram *g = &df->dgrams[gi];
        if (f->ts_ns >= g->first_ns && f->ts_ns - g->first_ns >= df->timeout_ns) {
            /* A late fragment of an expired datagram starts a new one (RFC 791's timer). */
            dgram_free(df, gi, bucket);
            (*df->timeouts)++;
            gi = DEFRAG_NONE;
        }
    }
    if (gi == DEFRAG_NONE) {
        if (df->free_dgram == DEFRAG_NONE)
            defrag_expire(df, f->ts_ns);
        if (df->free_dgram == DEFRAG_NONE) {
            *reason = DEC_FRAG_TABLE_FULL;
            return DEFRAG_PASS;
        }
        gi = dgram_new(df, f, bucket);
    }
    struct defrag_dgram *g = &df->dgrams[gi];

    /* The end of the datagram is set by the last fragment; data past it is contradictory. */
    if (!f->more) {
        if ((g->has_last && g->total != end) || (!g->has_last && g->max_end > end)) {
            *reason = DEC_FRAG_BAD_LEN;
            return DEFRAG_INVALID;
        }
    } else if (g->has_last && end > g->total) {
        *reason = DEC_FRAG_BAD_LEN;
        return DEFRAG_INVALID;
    }

    /* Reserve every block the fragment touches before changing anything. */
    if (f->len > 0) {
        uint32_t need = 0;
        for (uint32_t b = f->off / DEFRAG_BLOCK; b <= (end - 1) / DEFRAG_BLOCK; b++)
            need += g->block[b] == DEFRAG_NONE;
        if (need > df->n_free_blocks) {
            defrag_expire(df, f->ts_ns);
            /* Expiry may have freed this very datagram (it cannot: its age is below the timeout
             * or the lookup above would have dropped it), so g stays valid. */
        }
        if (need > df->n_free_blocks) {
            dgram_free(df, gi, bucket);
            *reason = DEC_FRAG_TABLE_FULL;
            return DEFRAG_PASS;
        }
        for (uint32_t b = f->off / DEFRAG_BLOCK; b <= (end - 1) / DEFRAG_BLOCK; b++) {
            if (g->block[b] == DEFRAG_NONE)
                g->block[b] = df->free_blocks[--df->n_free_blocks];
        }
    }

    if (!f->more) {
        g->has_last = true;
        g->total = end;
    }
    if (f->off == 0 && !g->has_first) {
        g->has_first = true;
        memcpy(g->hdr, f->hdr, f->hdr_len);
        g->hdr_len = f->hdr_len;
        g->nh_off = f->nh_off;
        g->next_proto = f->proto;
    }

    bool overlap = false;
    for (uint32_t o = f->off; o < end; o += 8) {
        uint32_t u = o / 8;
        uint32_t n = end - o < 8 ? end - o : 8;
        uint64_t bit = 1ull << (u & 63);
        uint8_t *dst = unit_ptr(df, g, o);
        if (g->bitmap[u / 64] & bit) {
            /* First arrival wins: compare only, report a difference. */
            if (memcmp(dst, f->data + (o - f->off), n) != 0)
                overlap = true;
        } else {
            memcpy(dst, f->data + (o - f->off), n);
            g->bitmap[u / 64] |= bit;
            g->units++;
        }
    }
    if (end > g->max_end)
        g->max_end = end;
    if (overlap)
        *reason = DEC_FRAG_OVERLAP;

    if (!g->has_last || !g->has_first || g->units != (g->total + 7) / 8)
        return DEFRAG_HELD;

    uint32_t len = dgram_build(df, g);
    dgram_free(df, gi, bucket);
    if (len == 0) {
        *reason = DEC_FRAG_TOO_LARGE;
        return DEFRAG_INVALID;
    }
    *out = df->out;
    *out_len = len;
    return DEFRAG_DONE;
}
