/* Flow table: fixed memory, one-line buckets of hashes and flow indices, a timer wheel for expiry
 * in packet time.
 *
 * Layout: an array of max_flows cache-aligned flows and an array of buckets, one cache line
 * each: the 32-bit hashes of up to 7 flows beside their indices, and the head of an overflow
 * chain (linked through flow.next_in_bucket) for an 8th flow and more, which a bucket reaches
 * rarely (1/4 of a bucket per flow slot: 2 flows per bucket at half load). A lookup reads one
 * bucket line and compares the hash with all 7 at once; only a flow whose hash matches is read
 * (its key compared), so the burst can prefetch the right flow's lines, not a chain's first.
 * Free flows are linked through lru_next.
 *
 * Expiry: a timer wheel of one-second slots (a power of two larger than the longest timeout).
 * A flow sits in the slot of the second in which it would expire if no packet came. A packet
 * does not move it (that would touch two other random flows per packet, which cost a third of
 * the update time at 100k flows): only a change of timeout class (new -> established -> closed)
 * reschedules it. When flow_table_expire() passes a slot, each flow there either really has
 * timed out (last_ns + timeout < now) and ends, or has seen packets since and is rescheduled to
 * the slot of its real expiry. A flow is therefore looked at about once per timeout period,
 * work per call is bounded by max_work, and a flow ends at most one second late, never early
 * (Suricata's flow manager also checks timeouts about once a second).
 *
 * Eviction when the table is full takes the flow that is next to expire (the first flow of the
 * earliest slot), after giving a flow that was active since it was scheduled a second chance:
 * close to least-recently-seen without an LRU list. It is counted and the flow is handed to
 * on_end with reason "forced".
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "decode_flowkey.h"
#include "event.h"
#include "flow.h"

#define FLOW_NIL UINT32_MAX

#define likely(x) __builtin_expect(!!(x), 1)

#define BUCKET_WAYS 7
/* One cache line: hash[w] == 0 marks an empty way (key_build never returns 0). */
struct flow_bucket {
    uint32_t hash[BUCKET_WAYS];
    uint32_t more; /* overflow chain through flow.next_in_bucket, FLOW_NIL if none; never
                    * compared as a hash (bucket_match masks it off) */
    uint32_t idx[BUCKET_WAYS];
    uint32_t pad;
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct flow_bucket) == 64, "a bucket is one cache line");

_Static_assert(offsetof(struct flow, icmp_seen) < 64 && offsetof(struct flow, last_ns) == 64 &&
                   offsetof(struct flow, applayer_flags) < 128,
               "the per-packet fields must stay in the flow's first two cache lines");
#define NS_PER_S 1000000000ull

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

#define IPPROTO_NUM_ICMP 1
#define IPPROTO_NUM_TCP 6
#define IPPROTO_NUM_UDP 17
#define IPPROTO_NUM_ICMPV6 58

enum timeout_class {
    TC_TCP_NEW = 0,
    TC_TCP_EST,
    TC_TCP_CLOSING,
    TC_TCP_CLOSED,
    TC_UDP_NEW,
    TC_UDP_EST,
    TC_ICMP_NEW,
    TC_ICMP_EST,
    TC_OTHER_NEW,
    TC_OTHER_EST,
    TC_OTHER_CLOSED,
    TC_MAX
};

struct flow_table {
    struct flow *flows;
    struct flow_bucket *buckets;
    uint32_t mask;
    uint32_t max_flows;
    uint32_t free_head;
    uint32_t *tw_head, *tw_tail; /* timer wheel: one list per second, FIFO */
    uint32_t tw_mask;
    bool tw_started;
    uint64_t tw_next; /* first second not yet fully processed by flow_table_expire() */
    uint64_t timeout_ns[TC_MAX];
    uint32_t timeout_s[TC_MAX];
    uint64_t id_seed;
    bool midstream; /* flow_config.midstream */
    uint8_t gen; /* current update call: eviction spares flows with this touch_gen */
    uint64_t ends; /* flows ended so far: a burst's lookup hints are void once it moves */
    flow_end_fn on_end;
    void *ctx;
    struct flow_table_stats stats;
};

void flow_config_default(struct flow_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_flows = 65536;
    cfg->hash_size = 0;
    /* The values of suricata.yaml as shipped with Suricata 6/7 (flow-timeouts section). The
     * compiled-in fallbacks are lower for TCP (30/300) and Suricata <= 3 shipped
     * tcp established 3600 / closed 120; operators know the yaml values. */
    cfg->timeout_new = 30;
    cfg->timeout_established = 300;
    cfg->timeout_closed = 0;
    cfg->tcp_new = 60;
    cfg->tcp_established = 600;
    /* Suricata keeps a flow in its established state (and timeout) until the session is
     * closed; a half-closed connection may still carry data for a long time. */
    cfg->tcp_closing = 600;
    cfg->tcp_closed = 60;
    cfg->udp_new = 30;
    cfg->udp_established = 300;
    cfg->icmp_new = 30;
    cfg->icmp_established = 300;
    cfg->id_seed = 0;
}

/* The flow and bucket arrays are read at random, one or two cache lines per packet: with 4 KiB
 * pages nearly every lookup also misses the TLB (measured: a third of the update time at 128k
 * flows), so they ask for transparent huge pages (2 MiB-aligned, madvise; a hint only). */
#define FLOW_HUGE (2u << 20)

static void *big_alloc(size_t bytes)
{
    size_t align = bytes >= FLOW_HUGE ? FLOW_HUGE : 64;
    size_t sz = (bytes + align - 1) / align * align;
    void *p = aligned_alloc(align, sz);
#ifdef MADV_HUGEPAGE
    if (p != NULL && align == FLOW_HUGE)
        (void)madvise(p, sz, MADV_HUGEPAGE);
#endif
    return p;
}

static uint32_t round_pow2(uint32_t v)
{
    uint32_t p = 1;
    while (p < v && p < (1u << 31))
        p <<= 1;
    return p;
}

struct flow_table *flow_table_new(const struct flow_config *cfg, flow_end_fn on_end, void *ctx)
{
    if (cfg == NULL || cfg->max_flows == 0 || cfg->max_flows >= FLOW_NIL)
        return NULL;
    struct flow_table *ft = calloc(1, sizeof(*ft));
    if (ft == NULL)
        return NULL;
    uint64_t hs = cfg->hash_size ? cfg->hash_size : 2ull * cfg->max_flows;
    if (hs > (1u << 31))
        hs = 1u << 31;
    /* hash_size counts slots as single-index buckets did: lines of 8 (7 ways + the link) */
    uint32_t nb = round_pow2((uint32_t)hs) / 8;
    if (nb == 0)
        nb = 1;
    size_t fbytes = (size_t)cfg->max_flows * sizeof(*ft->flows);
    ft->flows = big_alloc(fbytes);
    if (ft->flows == NULL)
        goto out_free_table;
    memset(ft->flows, 0, fbytes);
    ft->buckets = big_alloc((size_t)nb * sizeof(*ft->buckets));
    if (ft->buckets == NULL)
        goto out_free_flows;
    for (uint32_t i = 0; i < nb; i++) {
        memset(ft->buckets[i].hash, 0, sizeof(ft->buckets[i].hash));
        memset(ft->buckets[i].idx, 0xff, sizeof(ft->buckets[i].idx));
        ft->buckets[i].more = FLOW_NIL;
        ft->buckets[i].pad = 0;
    }
    ft->mask = nb - 1;
    ft->max_flows = cfg->max_flows;
    /* free list through lru_next, in index order */
    for (uint32_t i = 0; i < cfg->max_flows; i++)
        ft->flows[i].lru_next = (i + 1 < cfg->max_flows) ? i + 1 : FLOW_NIL;
    ft->free_head = 0;
    ft->timeout_s[TC_TCP_NEW] = cfg->tcp_new;
    ft->timeout_s[TC_TCP_EST] = cfg->tcp_established;
    ft->timeout_s[TC_TCP_CLOSING] = cfg->tcp_closing;
    ft->timeout_s[TC_TCP_CLOSED] = cfg->tcp_closed;
    ft->timeout_s[TC_UDP_NEW] = cfg->udp_new;
    ft->timeout_s[TC_UDP_EST] = cfg->udp_established;
    ft->timeout_s[TC_ICMP_NEW] = cfg->icmp_new;
    ft->timeout_s[TC_ICMP_EST] = cfg->icmp_established;
    ft->timeout_s[TC_OTHER_NEW] = cfg->timeout_new;
    ft->timeout_s[TC_OTHER_EST] = cfg->timeout_established;
    ft->timeout_s[TC_OTHER_CLOSED] = cfg->timeout_closed;
    uint32_t max_to = 0;
    for (int c = 0; c < TC_MAX; c++) {
        ft->timeout_ns[c] = (uint64_t)ft->timeout_s[c] * NS_PER_S;
        if (ft->timeout_s[c] > max_to)
            max_to = ft->timeout_s[c];
    }
    if (max_to > (1u << 24))
        goto out_free_buckets; /* over half a year: a config error */
    uint32_t nslots = round_pow2(max_to + 2 < 64 ? 64 : max_to + 2);
    ft->tw_head = malloc((size_t)nslots * sizeof(uint32_t));
    ft->tw_tail = malloc((size_t)nslots * sizeof(uint32_t));
    if (ft->tw_head == NULL || ft->tw_tail == NULL)
        goto out_free_wheel;
    memset(ft->tw_head, 0xff, (size_t)nslots * sizeof(uint32_t));
    memset(ft->tw_tail, 0xff, (size_t)nslots * sizeof(uint32_t));
    ft->tw_mask = nslots - 1;
    ft->id_seed = cfg->id_seed;
    ft->midstream = cfg->midstream;
    ft->on_end = on_end;
    ft->ctx = ctx;
    return ft;

out_free_wheel:
    free(ft->tw_head);
    free(ft->tw_tail);
out_free_buckets:
    free(ft->buckets);
out_free_flows:
    free(ft->flows);
out_free_table:
    free(ft);
    return NULL;
}

void flow_table_free(struct flow_table *ft)
{
    if (ft == NULL)
        return;
    free(ft->tw_head);
    free(ft->tw_tail);
    free(ft->buckets);
    free(ft->flows);
    free(ft);
}

const struct flow_table_stats *flow_table_get_stats(const struct flow_table *ft)
{
    return &ft->stats;
}

/* ---- keys and hashes ---- */

/* The key and its hash come with the meta (pkt_meta.flow_key / flow_hash: the decoder builds them
 * in its pass over the headers); flowkey_build() (decode_flowkey.h) builds them for a meta made
 * by hand (flow_hash 0). The flow id still uses XXH3 over the key bytes (flow_make_id). */
static inline uint32_t key_build(const struct pkt_meta *m, struct flow_key *key, uint8_t *src_side)
{
    return flowkey_build(m, key, src_side);
}

static inline uint64_t ld64(const void *p)
{
    return flowkey_ld64(p);
}

/* Key equality on words (the key has no padding bytes that differ: pad is always zero). */
static inline bool key_eq(const struct flow_key *a, const struct flow_key *b)
{
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    uint64_t d = (ld64(x) ^ ld64(y)) | (ld64(x + 8) ^ ld64(y + 8)) | (ld64(x + 16) ^ ld64(y + 16)) |
                 (ld64(x + 24) ^ ld64(y + 24)) | (ld64(x + 32) ^ ld64(y + 32));
    uint32_t t, u;
    memcpy(&t, x + 40, 4);
    memcpy(&u, y + 40, 4);
    return d == 0 && t == u;
}

uint32_t flow_key_from_meta(const struct pkt_meta *m, struct flow_key *key)
{
    uint8_t side;
    return key_build(m, key, &side);
}

void flow_table_prefetch(const struct flow_table *ft, uint32_t hash)
{
    __builtin_prefetch(&ft->buckets[hash & ft->mask], 0, 3);
}

/* ---- timer wheel ---- */

static inline void tw_unlink(struct flow_table *ft, struct flow *f)
{
    uint32_t slot = (uint32_t)(f->tw_sec & ft->tw_mask);
    if (f->lru_prev != FLOW_NIL)
        ft->flows[f->lru_prev].lru_next = f->lru_next;
    else
        ft->tw_head[slot] = f->lru_next;
    if (f->lru_next != FLOW_NIL)
        ft->flows[f->lru_next].lru_prev = f->lru_prev;
    else
        ft->tw_tail[slot] = f->lru_prev;
}

/* Appends flow idx to the slot of second `sec` (never a second already processed). */
static inline void tw_insert(struct flow_table *ft, struct flow *f, uint32_t idx, uint64_t sec)
{
    if (!ft->tw_started) {
        /* the wheel starts at the first packet's second, not at its flow's expiry */
        ft->tw_started = true;
        ft->tw_next = f->last_ns / NS_PER_S;
    }
    if (sec < ft->tw_next)
        sec = ft->tw_next;
    f->tw_sec = sec;
    uint32_t slot = (uint32_t)(f->tw_sec & ft->tw_mask);
    f->lru_next = FLOW_NIL;
    f->lru_prev = ft->tw_tail[slot];
    if (f->lru_prev != FLOW_NIL)
        ft->flows[f->lru_prev].lru_next = idx;
    else
        ft->tw_head[slot] = idx;
    ft->tw_tail[slot] = idx;
}

static inline uint64_t flow_expiry_ns(const struct flow_table *ft, const struct flow *f)
{
    return f->last_ns + ft->timeout_ns[f->timeout_class];
}

static inline void tw_schedule(struct flow_table *ft, struct flow *f, uint32_t idx)
{
    tw_insert(ft, f, idx, flow_expiry_ns(ft, f) / NS_PER_S);
}

/* Bit w set where bucket way w holds this hash: the 8 words before idx[] compared at once (the
 * 8th, the overflow link, masked off). A scalar loop here cost ~25 instructions, run twice per
 * packet (prefetch and lookup): more than the lookup saved. */
static inline unsigned bucket_match(const struct flow_bucket *b, uint32_t hash)
{
#if defined(__AVX2__)
    __m256i v = _mm256_load_si256((const __m256i *)(const void *)b->hash);
    __m256i eq = _mm256_cmpeq_epi32(v, _mm256_set1_epi32((int)hash));
    return (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(eq)) & ((1u << BUCKET_WAYS) - 1);
#elif defined(__SSE2__)
    __m128i h = _mm_set1_epi32((int)hash);
    __m128i lo = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)(const void *)b->hash), h);
    __m128i hi = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)(const void *)(b->hash + 4)), h);
    unsigned bits = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(lo)) |
                    (unsigned)_mm_movemask_ps(_mm_castsi128_ps(hi)) << 4;
    return bits & ((1u << BUCKET_WAYS) - 1);
#else
    unsigned bits = 0;
    for (unsigned w = 0; w < BUCKET_WAYS; w++)
        bits |= (unsigned)(b->hash[w] == hash) << w;
    return bits;
#endif
}

static void bucket_insert(struct flow_table *ft, struct flow *f, uint32_t idx)
{
    struct flow_bucket *b = &ft->buckets[f->hash & ft->mask];
    unsigned empty = bucket_match(b, 0);
    if (empty != 0) {
        unsigned w = (unsigned)__builtin_ctz(empty);
        b->hash[w] = f->hash;
        b->idx[w] = idx;
        return;
    }
    f->next_in_bucket = b->more;
    b->more = idx;
}

static void bucket_unlink(struct flow_table *ft, struct flow *f, uint32_t idx)
{
    struct flow_bucket *b = &ft->buckets[f->hash & ft->mask];
    for (unsigned bits = bucket_match(b, f->hash); bits != 0; bits &= bits - 1) {
        unsigned w = (unsigned)__builtin_ctz(bits);
        if (b->idx[w] == idx) {
            /* the chain's first flow (if any) takes the way: chains stay short */
            uint32_t h = b->more;
            if (h != FLOW_NIL) {
                b->more = ft->flows[h].next_in_bucket;
                b->hash[w] = ft->flows[h].hash;
                b->idx[w] = h;
            } else {
                b->hash[w] = 0;
                b->idx[w] = FLOW_NIL;
            }
            return;
        }
    }
    uint32_t *pp = &b->more;
    while (*pp != FLOW_NIL) {
        if (*pp == idx) {
            *pp = f->next_in_bucket;
            return;
        }
        pp = &ft->flows[*pp].next_in_bucket;
    }
}

/* Ends flow idx: calls on_end, unlinks it and returns it to the free list. */
static void flow_end(struct flow_table *ft, uint32_t idx, enum flow_end_reason reason)
{
    struct flow *f = &ft->flows[idx];
    ft->ends++;
    f->end_reason = (uint8_t)reason;
    switch (reason) {
    case FLOW_END_TIMEOUT: ft->stats.ended_timeout++; break;
    case FLOW_END_FORCED: ft->stats.ended_forced++; break;
    case FLOW_END_SHUTDOWN: ft->stats.ended_shutdown++; break;
    }
    if (ft->on_end != NULL)
        ft->on_end(ft->ctx, f);
    tw_unlink(ft, f);
    bucket_unlink(ft, f, idx);
    ft->stats.active--;
    f->lru_next = ft->free_head;
    ft->free_head = idx;
}

/* ---- state and timeouts ---- */

static uint8_t timeout_class_of(const struct flow *f)
{
    switch (f->key.proto) {
    case IPPROTO_NUM_TCP:
        switch (f->tcp_state) {
        case TCP_ESTABLISHED: return TC_TCP_EST;
        case TCP_FIN_WAIT:
        case TCP_CLOSING: return TC_TCP_CLOSING;
        case TCP_CLOSED: return TC_TCP_CLOSED;
        default: return TC_TCP_NEW;
        }
    case IPPROTO_NUM_UDP:
        return f->state == FLOW_STATE_NEW ? TC_UDP_NEW : TC_UDP_EST;
    case IPPROTO_NUM_ICMP:
    case IPPROTO_NUM_ICMPV6:
        return f->state == FLOW_STATE_NEW ? TC_ICMP_NEW : TC_ICMP_EST;
    default:
        if (f->state == FLOW_STATE_CLOSED)
            return TC_OTHER_CLOSED;
        return f->state == FLOW_STATE_NEW ? TC_OTHER_NEW : TC_OTHER_EST;
    }
}

static inline uint8_t flow_state_of_tcp(uint8_t ts)
{
    switch (ts) {
    case TCP_ESTABLISHED: return FLOW_STATE_ESTABLISHED;
    case TCP_FIN_WAIT:
    case TCP_CLOSING: return FLOW_STATE_CLOSING;
    case TCP_CLOSED: return FLOW_STATE_CLOSED;
    default: return FLOW_STATE_NEW;
    }
}

static inline bool seq_geq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

/* TCP state machine (RFC 793 section 3.5 for the closing sequence): enough to pick a timeout
 * and to report Suricata's flow/tcp state. One body for the flow table's own view (inlined on
 * its per-packet path) and for sensor/detect's per-packet replay (flow_tcp_state_step). */
static inline enum tcp_state tcp_step(enum tcp_state st, uint8_t *fin_sides, uint8_t *fin_acked,
                                      const uint32_t fin_seq[2], bool other_seen,
                                      const struct pkt_meta *m, enum flow_dir dir, bool first)
{
    uint8_t fl = m->tcp_flags;
    if (fl & TH_RST)
        return TCP_CLOSED;
    if (first) {
        if ((fl & TH_SYN) && !(fl & TH_ACK))
            st = TCP_SYN_SENT;
        else if (fl & TH_SYN)
            st = TCP_SYN_RECV;
        else
            st = TCP_ESTABLISHED; /* midstream pickup */
    } else {
        switch (st) {
        case TCP_SYN_SENT:
            if (dir == FLOW_TO_CLIENT && (fl & TH_SYN) && (fl & TH_ACK))
                st = TCP_SYN_RECV;
            else if (!(fl & TH_SYN) && (fl & TH_ACK) && other_seen)
                st = TCP_ESTABLISHED; /* SYN/ACK missed: both directions talk */
            break;
        case TCP_SYN_RECV:
            if (!(fl & TH_SYN) && (fl & TH_ACK))
                st = TCP_ESTABLISHED;
            break;
        default:
            break;
        }
    }
    if ((fl & TH_FIN) && st != TCP_CLOSED) {
        *fin_sides |= (uint8_t)(1u << dir);
        st = *fin_sides == 3 ? TCP_CLOSING : TCP_FIN_WAIT;
    }
    /* an ACK from this side acknowledging the other side's FIN */
    unsigned other = !dir;
    if ((fl & TH_ACK) && (*fin_sides & (1u << other)) && seq_geq(m->tcp_ack, fin_seq[other] + 1))
        *fin_acked |= (uint8_t)(1u << other);
    if (*fin_sides == 3 && *fin_acked == 3)
        st = TCP_CLOSED;
    return st;
}

enum tcp_state flow_tcp_state_step(enum tcp_state st, uint8_t *fin_sides, uint8_t *fin_acked,
                                   const uint32_t fin_seq[2], bool other_seen,
                                   const struct pkt_meta *m, enum flow_dir dir, bool first)
{
    return tcp_step(st, fin_sides, fin_acked, fin_seq, other_seen, m, dir, first);
}

enum flow_state flow_state_of_tcp_state(enum tcp_state st)
{
    return (enum flow_state)flow_state_of_tcp((uint8_t)st);
}

/* The flow's own view (no reassembly). */
static void tcp_track(struct flow *f, const struct pkt_meta *m, enum flow_dir dir, bool first)
{
    uint8_t fins = f->tcp_fin_sides;
    enum tcp_state st = tcp_step((enum tcp_state)f->tcp_state, &f->tcp_fin_sides, &f->tcp_fin_acked,
                                 f->tcp_fin_seq, f->pkts[!dir] > 0, m, dir, first);
    if ((f->tcp_fin_sides ^ fins) & (1u << dir)) {
        /* this side's first FIN: it occupies the sequence number after the payload (and after a
         * SYN). Only the other side's is read by the step, so recording it after is the same. */
        f->tcp_fin_seq[dir] = m->tcp_seq + m->payload_len + ((m->tcp_flags & TH_SYN) ? 1 : 0);
    }
    f->tcp_state = (uint8_t)st;
    f->state = flow_state_of_tcp((uint8_t)st);
}

/* Sets the flow's timeout class after a state change and reschedules it. */
static void flow_set_class(struct flow_table *ft, struct flow *f, uint32_t idx, uint8_t c, bool linked)
{
    if (linked)
        tw_unlink(ft, f);
    f->timeout_class = c;
    f->timeout_s = ft->timeout_s[c];
    tw_schedule(ft, f, idx);
}

static inline uint64_t mix64(uint64_t x)
{
    /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Deterministic across runs and worker counts: a function of the key, the first packet's
 * time and the seed only. 51 bits so JavaScript-based consumers keep it exact, as Suricata. */
static uint64_t flow_make_id(const struct flow_key *key, uint64_t first_ns, uint64_t seed)
{
    uint64_t h = XXH3_64bits_withSeed(key, sizeof(*key), seed);
    uint64_t id = mix64(h ^ mix64(first_ns + 0x9e3779b97f4a7c15ull)) & ((1ull << 51) - 1);
    return id ? id : 1;
}

/* The flow to evict: the first of the earliest wheel slots, sparing flows touched by the
 * current update call (the caller may still hold them) and giving a flow that has seen packets
 * since it was scheduled a second chance (rescheduled) a few times. */
static uint32_t flow_pick_victim(struct flow_table *ft)
{
    unsigned chances = 8;
    uint32_t fallback = FLOW_NIL;
    uint64_t s = ft->tw_next;
    for (uint32_t n = 0; n <= ft->tw_mask; n++, s++) {
        uint32_t idx = ft->tw_head[s & ft->tw_mask];
        while (idx != FLOW_NIL) {
            struct flow *f = &ft->flows[idx];
            uint32_t next = f->lru_next;
            if (f->touch_gen == ft->gen) {
                if (fallback == FLOW_NIL)
                    fallback = idx;
                idx = next;
                continue;
            }
            uint64_t due = flow_expiry_ns(ft, f) / NS_PER_S;
            if (chances == 0 || due <= f->tw_sec)
                return idx;
            chances--;
            tw_unlink(ft, f);
            tw_insert(ft, f, idx, due); /* a later slot (or this one's tail) */
            idx = next;
        }
    }
    return fallback; /* every flow was touched by this call: the table is smaller than it */
}

/* Takes a flow from the free list, evicting one if there is none. */
static uint32_t flow_alloc(struct flow_table *ft)
{
    if (ft->free_head == FLOW_NIL) {
        uint32_t victim = flow_pick_victim(ft);
        if (victim == FLOW_NIL)
            return FLOW_NIL; /* cannot happen with max_flows > 0 */
        flow_end(ft, victim, FLOW_END_FORCED);
    }
    uint32_t idx = ft->free_head;
    ft->free_head = ft->flows[idx].lru_next;
    return idx;
}

static struct flow *flow_create(struct flow_table *ft, const struct pkt_meta *m,
                                const struct flow_key *key, uint32_t hash, uint8_t src_side,
                                enum flow_dir *dir)
{
    uint32_t idx = flow_alloc(ft);
    if (idx == FLOW_NIL)
        return NULL;
    struct flow *f = &ft->flows[idx];
    memset(f, 0, sizeof(*f));
    f->key = *key;
    f->hash = hash;
    f->first_ns = f->last_ns = m->ts_ns;
    f->flow_id = flow_make_id(key, m->ts_ns, ft->id_seed);
    /* the first packet's sender is the client, except a SYN/ACK (the server answering a SYN
     * we did not see), as Suricata does */
    bool synack = m->proto == IPPROTO_NUM_TCP && (m->tcp_flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK);
    /* with stream.midstream, also a first packet carrying a server's response (flow_midstream.c) */
    synack = synack || (ft->midstream && flow_midstream_reversed(m));
    f->client_side = synack ? (uint8_t)!src_side : src_side;
    *dir = synack ? FLOW_TO_CLIENT : FLOW_TO_SERVER;
    f->state = FLOW_STATE_NEW;
    f->next_in_bucket = FLOW_NIL;
    bucket_insert(ft, f, idx);
    /* scheduled in the wheel by the caller, once the first packet set its state */
    ft->stats.created++;
    ft->stats.active++;
    switch (m->proto) {
    case IPPROTO_NUM_TCP: ft->stats.tcp++; break;
    case IPPROTO_NUM_UDP: ft->stats.udp++; break;
    case IPPROTO_NUM_ICMP:
    case IPPROTO_NUM_ICMPV6: ft->stats.icmp++; break;
    default: ft->stats.other++; break;
    }
    return f;
}

static inline uint32_t flow_lookup(struct flow_table *ft, const struct flow_key *key, uint32_t hash)
{
    ft->stats.lookups++;
    const struct flow_bucket *b = &ft->buckets[hash & ft->mask];
    for (unsigned bits = bucket_match(b, hash); bits != 0; bits &= bits - 1) {
        uint32_t idx = b->idx[__builtin_ctz(bits)];
        ft->stats.probes++;
        if (key_eq(&ft->flows[idx].key, key))
            return idx;
    }
    uint32_t idx = b->more;
    while (idx != FLOW_NIL) {
        struct flow *f = &ft->flows[idx];
        ft->stats.probes++;
        if (f->hash == hash && key_eq(&f->key, key))
            return idx;
        idx = f->next_in_bucket;
    }
    return FLOW_NIL;
}

/* The common packet: flow f (live, found by key) is not timed out, and the packet can change
 * neither its state nor its timeout class: a UDP flow already established both ways, or an
 * established TCP session with no FIN seen and no SYN, FIN or RST in the packet (tcp_step then
 * returns TCP_ESTABLISHED and records nothing). Then the update is the counters and the time
 * alone; the timer wheel is not touched (lazy: flow_table_expire() re-checks last_ns). */
static inline bool flow_packet_steady(const struct flow_table *ft, const struct flow *f,
                                      const struct pkt_meta *m)
{
    if (m->ts_ns > f->last_ns + ft->timeout_ns[f->timeout_class])
        return false;
    if (m->proto == IPPROTO_NUM_UDP)
        return f->state == FLOW_STATE_ESTABLISHED;
    return m->proto == IPPROTO_NUM_TCP && f->tcp_state == TCP_ESTABLISHED && f->tcp_fin_sides == 0 &&
           f->state == FLOW_STATE_ESTABLISHED && !(m->tcp_flags & (TH_SYN | TH_FIN | TH_RST));
}

/* Inlined into the burst loop: the common packet (a known flow, no state change) then costs no
 * call and no timeout-class switch. */
static inline __attribute__((always_inline)) struct flow *
flow_update_keyed(struct flow_table *ft, const struct pkt_meta *m, const struct flow_key *key,
                  uint32_t hash, uint8_t src_side, enum flow_dir *dir, uint32_t hint)
{
    uint32_t idx;
    /* hint: the flow whose bucket way matched when the burst prefetched it, valid while no flow
     * ended since (a live flow's key is unique in the table, so a key match is that flow) */
    if (hint != FLOW_NIL && key_eq(&ft->flows[hint].key, key)) {
        ft->stats.lookups++;
        ft->stats.probes++;
        idx = hint;
        struct flow *f = &ft->flows[idx];
        if (likely(flow_packet_steady(ft, f, m))) {
            /* counters only: no state, class or timer-wheel work */
            ft->stats.counters_only++;
            enum flow_dir d = (src_side == f->client_side) ? FLOW_TO_SERVER : FLOW_TO_CLIENT;
            if (m->ts_ns > f->last_ns)
                f->last_ns = m->ts_ns;
            f->pkts[d]++;
            f->bytes[d] += m->wirelen;
            f->touch_gen = ft->gen;
            if (m->proto == IPPROTO_NUM_TCP) {
                if (d == FLOW_TO_SERVER)
                    f->tcp_flags_ts |= m->tcp_flags;
                else
                    f->tcp_flags_tc |= m->tcp_flags;
            }
            *dir = d;
            return f;
        }
    } else {
        idx = flow_lookup(ft, key, hash);
    }
    struct flow *f;
    bool first = false;
    enum flow_dir d;
    uint8_t old_class = 0, old_state = 0, old_tcp = 0;

    if (idx != FLOW_NIL) {
        f = &ft->flows[idx];
        /* timeout_class is kept equal to timeout_class_of(f) by every state change below */
        old_class = f->timeout_class;
        if (m->ts_ns > f->last_ns + ft->timeout_ns[old_class]) {
            /* timed out but not yet swept (the wheel runs up to a second late): the packet
             * starts a new flow, as Suricata 6+ checks at lookup */
            flow_end(ft, idx, FLOW_END_TIMEOUT);
            idx = FLOW_NIL;
        } else if (m->proto == IPPROTO_NUM_TCP && f->tcp_state == TCP_CLOSED &&
                   (m->tcp_flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN) {
            /* a new SYN on a closed TCP session starts a new flow (port reuse), as Suricata */
            flow_end(ft, idx, FLOW_END_TIMEOUT);
            idx = FLOW_NIL;
        }
    }
    if (idx == FLOW_NIL) {
        f = flow_create(ft, m, key, hash, src_side, &d);
        if (f == NULL)
            return NULL;
        idx = (uint32_t)(f - ft->flows);
        first = true;
    } else {
        d = (src_side == f->client_side) ? FLOW_TO_SERVER : FLOW_TO_CLIENT;
        old_state = f->state;
        old_tcp = f->tcp_state;
        if (m->ts_ns > f->last_ns)
            f->last_ns = m->ts_ns;
    }
    f->pkts[d]++;
    f->bytes[d] += m->wirelen;
    f->touch_gen = ft->gen;

    if (m->proto == IPPROTO_NUM_TCP) {
        if (d == FLOW_TO_SERVER)
            f->tcp_flags_ts |= m->tcp_flags;
        else
            f->tcp_flags_tc |= m->tcp_flags;
        tcp_track(f, m, d, first);
    } else {
        if (m->proto == IPPROTO_NUM_ICMP || m->proto == IPPROTO_NUM_ICMPV6) {
            if (!(f->icmp_seen & (1u << d))) {
                f->icmp_seen |= (uint8_t)(1u << d);
                f->icmp_type[d] = m->icmp_type;
                f->icmp_code[d] = m->icmp_code;
            }
        }
        if (f->pkts[FLOW_TO_SERVER] > 0 && f->pkts[FLOW_TO_CLIENT] > 0)
            f->state = FLOW_STATE_ESTABLISHED;
    }
    if (first || f->state != old_state || f->tcp_state != old_tcp) {
        /* the class is a function of the protocol and these two states only */
        uint8_t c = timeout_class_of(f);
        if (first || c != old_class)
            flow_set_class(ft, f, idx, c, !first);
    }
    *dir = d;
    return f;
}

static inline bool meta_has_ip(const struct pkt_meta *m)
{
    return m->ip_version == 4 || m->ip_version == 6;
}

struct flow *flow_table_update(struct flow_table *ft, const struct pkt_meta *m, enum flow_dir *dir)
{
    if (!meta_has_ip(m))
        return NULL;
    ft->gen++;
    if (m->flow_hash != 0) {
        ft->stats.keyed++;
        return flow_update_keyed(ft, m, &m->flow_key, m->flow_hash, m->flow_src_side, dir, FLOW_NIL);
    }
    struct flow_key key;
    uint8_t side;
    uint32_t hash = key_build(m, &key, &side);
    return flow_update_keyed(ft, m, &key, hash, side, dir, FLOW_NIL);
}

#define BURST_CHUNK 64
/* How many packets ahead of the one being updated its flow's cache lines are requested: the
 * bucket heads were requested for the whole chunk while the keys were built, so by then they
 * have arrived; PF_AHEAD updates (about a DRAM latency; 16 measured best of 4..24) hide the
 * miss on the flow's lines. */
#define PF_AHEAD 16

/* A write prefetch the compiler keeps: with the address taken from bucket_match(), GCC 12 -O1..3
 * left stage 2 and 3's __builtin_prefetch calls out of the object code altogether (no prefetchw
 * in flow.o). On x86 prefetchw is a hint (a NOP on CPUs without it). */
static inline void prefetch_w(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

/* Prefetches the flow whose bucket way holds this hash and returns its index (the lookup's
 * hint), FLOW_NIL if none (a new flow: nothing to fetch; overflow chains: rare). */
static inline uint32_t prefetch_flow(const struct flow_table *ft, uint32_t hash)
{
    const struct flow_bucket *b = &ft->buckets[hash & ft->mask];
    unsigned bits = bucket_match(b, hash);
    uint32_t h = FLOW_NIL;
    if (bits != 0) {
        h = b->idx[__builtin_ctz(bits)];
        /* the per-packet update touches the flow's first two cache lines */
        const char *fp = (const char *)&ft->flows[h];
        prefetch_w(fp);
        prefetch_w(fp + 64);
    }
    return h;
}

unsigned flow_table_update_burst(struct flow_table *ft, const struct pkt_meta *const *m, unsigned n,
                                 struct flow **flows, enum flow_dir *dirs)
{
    struct flow_key keys[BURST_CHUNK]; /* built here only for metas without a key */
    const struct flow_key *kp[BURST_CHUNK];
    uint32_t hashes[BURST_CHUNK];
    uint8_t sides[BURST_CHUNK];
    uint32_t hints[BURST_CHUNK];
    unsigned got = 0;
    uint64_t keyed = 0;

    ft->gen++;
    for (unsigned base = 0; base < n; base += BURST_CHUNK) {
        unsigned cnt = n - base < BURST_CHUNK ? n - base : BURST_CHUNK;
        const struct pkt_meta *const *mm = m + base;
        /* stage 1: keys, hashes (the decoder's), bucket prefetch for the whole chunk */
        for (unsigned i = 0; i < cnt; i++) {
            const struct pkt_meta *x = mm[i];
            uint32_t h = x->flow_hash;
            if (likely(h != 0)) {
                kp[i] = &x->flow_key;
                sides[i] = x->flow_src_side;
                keyed++;
            } else if (meta_has_ip(x)) {
                h = key_build(x, &keys[i], &sides[i]);
                kp[i] = &keys[i];
            } else {
                hashes[i] = 0;
                continue;
            }
            hashes[i] = h;
            __builtin_prefetch(&ft->buckets[h & ft->mask], 0, 3);
        }
        /* stage 2: the flows of the first packets */
        unsigned ahead = cnt < PF_AHEAD ? cnt : PF_AHEAD;
        uint64_t ends = ft->ends;
        for (unsigned i = 0; i < ahead; i++)
            hints[i] = hashes[i] != 0 ? prefetch_flow(ft, hashes[i]) : FLOW_NIL;
        /* stage 3: update in packet order, requesting the flow PF_AHEAD packets on */
        for (unsigned i = 0; i < cnt; i++) {
            if (i + PF_AHEAD < cnt)
                hints[i + PF_AHEAD] = hashes[i + PF_AHEAD] != 0 ? prefetch_flow(ft, hashes[i + PF_AHEAD]) : FLOW_NIL;
            if (hashes[i] == 0) { /* no IP layer */
                flows[base + i] = NULL;
                continue;
            }
            uint32_t hint = ft->ends == ends ? hints[i] : FLOW_NIL;
            flows[base + i] = flow_update_keyed(ft, mm[i], kp[i], hashes[i], sides[i], &dirs[base + i], hint);
            if (flows[base + i] != NULL)
                got++;
        }
    }
    ft->stats.keyed += keyed;
    return got;
}

unsigned flow_table_expire(struct flow_table *ft, uint64_t now_ns, unsigned max_work)
{
    if (!ft->tw_started)
        return 0;
    uint64_t now_sec = now_ns / NS_PER_S;
    uint64_t s = ft->tw_next;
    uint64_t limit = s + ft->tw_mask + 1; /* one turn of the wheel visits every slot */
    unsigned ended = 0, work = 0;

    for (; s < now_sec && s < limit; s++) {
        uint32_t slot = s & ft->tw_mask;
        uint32_t idx = ft->tw_head[slot];
        while (idx != FLOW_NIL) {
            if (work >= max_work) {
                ft->tw_next = s; /* resume here */
                return ended;
            }
            struct flow *f = &ft->flows[idx];
            uint32_t next = f->lru_next;
            /* flows of a later turn (or rescheduled just now) share the slot: leave them */
            if (f->tw_sec < now_sec) {
                work++;
                uint64_t due = flow_expiry_ns(ft, f);
                if (now_ns > due) {
                    /* strictly past last + timeout, as Suricata */
                    flow_end(ft, idx, FLOW_END_TIMEOUT);
                    ended++;
                } else {
                    /* seen since it was scheduled: move to its real second (>= now_sec) */
                    tw_unlink(ft, f);
                    tw_insert(ft, f, idx, due / NS_PER_S);
                }
            }
            idx = next;
        }
    }
    /* after a whole turn every flow due before now_sec has been looked at */
    ft->tw_next = s < now_sec ? now_sec : s;
    return ended;
}

void flow_table_flush(struct flow_table *ft)
{
    for (uint32_t slot = 0; slot <= ft->tw_mask; slot++) {
        while (ft->tw_head[slot] != FLOW_NIL)
            flow_end(ft, ft->tw_head[slot], FLOW_END_SHUTDOWN);
    }
}

void flow_table_foreach(struct flow_table *ft, void (*fn)(void *ctx, struct flow *f), void *ctx)
{
    /* every flow in use sits in exactly one timer-wheel slot */
    for (uint32_t slot = 0; slot <= ft->tw_mask; slot++)
        for (uint32_t idx = ft->tw_head[slot]; idx != FLOW_NIL; idx = ft->flows[idx].lru_next)
            fn(ctx, &ft->flows[idx]);
}

/* ---- helpers for events ---- */

const uint8_t *flow_client_addr(const struct flow *f)
{
    return f->key.addr[f->client_side];
}

const uint8_t *flow_server_addr(const struct flow *f)
{
    return f->key.addr[!f->client_side];
}

uint16_t flow_client_port(const struct flow *f)
{
    return f->key.port[f->client_side];
}

uint16_t flow_server_port(const struct flow *f)
{
    return f->key.port[!f->client_side];
}

void flow_to_event(const struct flow *f, struct event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = EVENT_FLOW;
    ev->ts_ns = f->last_ns;
    struct event_flow_ref *r = &ev->ref;
    r->flow_id = f->flow_id;
    memcpy(r->src, flow_client_addr(f), 16);
    memcpy(r->dst, flow_server_addr(f), 16);
    r->sport = flow_client_port(f);
    r->dport = flow_server_port(f);
    r->vlan[0] = f->key.vlan[0];
    r->vlan[1] = f->key.vlan[1];
    r->vlan_count = f->key.vlan[1] ? 2 : (f->key.vlan[0] ? 1 : 0);
    r->proto = f->key.proto;
    r->ip_version = f->key.ip_version;
    r->has_flow = 1;
    r->app_proto = f->app_proto;
    struct event_flow *e = &ev->u.flow;
    e->pkts_toserver = f->pkts[FLOW_TO_SERVER];
    e->pkts_toclient = f->pkts[FLOW_TO_CLIENT];
    e->bytes_toserver = f->bytes[FLOW_TO_SERVER];
    e->bytes_toclient = f->bytes[FLOW_TO_CLIENT];
    e->start_ns = f->first_ns;
    e->end_ns = f->last_ns;
    e->state = f->state;
    e->tcp_state = f->tcp_state;
    e->reason = f->end_reason;
    e->tcp_flags_ts = f->tcp_flags_ts;
    e->tcp_flags_tc = f->tcp_flags_tc;
    e->tcp_flags = f->tcp_flags_ts | f->tcp_flags_tc;
    e->alerted = f->alerts > 0;
    e->icmp_seen = f->icmp_seen;
    e->icmp_type = f->icmp_type[FLOW_TO_SERVER];
    e->icmp_code = f->icmp_code[FLOW_TO_SERVER];
    e->icmp_rtype = f->icmp_type[FLOW_TO_CLIENT];
    e->icmp_rcode = f->icmp_code[FLOW_TO_CLIENT];
    if (f->icmp_seen & 1) {
        /* Suricata's ICMP events carry type/code where others carry ports */
        r->sport = f->icmp_type[FLOW_TO_SERVER];
        r->dport = f->icmp_code[FLOW_TO_SERVER];
    }
}

const char *flow_state_name(enum flow_state s)
{
    switch (s) {
    case FLOW_STATE_NEW: return "new";
    case FLOW_STATE_ESTABLISHED: return "established";
    case FLOW_STATE_CLOSING: return "closing";
    case FLOW_STATE_CLOSED: return "closed";
    }
    return "unknown";
}

const char *flow_end_reason_name(enum flow_end_reason r)
{
    switch (r) {
    case FLOW_END_TIMEOUT: return "timeout";
    case FLOW_END_FORCED: return "forced";
    case FLOW_END_SHUTDOWN: return "shutdown";
    }
    return "unknown";
}

const char *tcp_state_name(enum tcp_state s)
{
    /* Suricata's tcp.state vocabulary */
    switch (s) {
    case TCP_NONE: return "none";
    case TCP_SYN_SENT: return "syn_sent";
    case TCP_SYN_RECV: return "syn_recv";
    case TCP_ESTABLISHED: return "established";
    case TCP_FIN_WAIT: return "fin_wait1";
    case TCP_CLOSING: return "closing";
    case TCP_CLOSED: return "closed";
    }
    return "unknown";
}
