/* Anomaly detectors: per-worker window shards, merge on the last worker to pass a window,
 * detectors on the merged window, long-lived baselines and incidents. See anomaly.h. */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "anomaly_priv.h"
#include "sketch.h"

#define NSLOT 4           /* windows a worker may run ahead of the merge */
#define HLL_P 6
#define HLL_M (1u << HLL_P)
#define TOPK 4
#define OVF_TOPK 32
#define PROBES 16
#define SCAN_UNDO 4096
#define SCAN_PROMOTE 8 /* attempts (Count-Min estimate) before a source is tracked for scanning */
#define NONE UINT64_MAX
#define START_GRACE 2 /* windows the merge waits for a worker that has not started yet */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20

/* anomaly_flags bits in struct flow */
#define AF_ATTEMPT 0x01u
#define AF_ANSWERED 0x02u
#define AF_EST 0x04u
#define AF_BF 0x08u
#define AF_TTL0 0x10u /* first TTL of direction 0 stored in bits 16..23 */
#define AF_TTL1 0x20u /* direction 1 in bits 24..31 */
#define AF_REFL 0x40u /* flow started by an unsolicited response */
#define AF_SEEN 0x80u  /* this stage saw a packet of the flow */
#define AF_REPLY 0x100u /* ... and one towards the client */
#define AF_CPKTS_SHIFT 9 /* bits 9..11: client packets seen, saturating at 7 */
#define AF_SENT 0x1000u /* bit 12: a packet towards the server seen */
#define AF_NET 0x2000u  /* bit 13: bits 14, 15 hold the flow's protected-network membership */
#define AF_CIN 0x4000u  /* bit 14: the client's address is inside a protected network */
#define AF_SIN 0x8000u  /* bit 15: the server's address is inside */

enum pa_kind { PA_FLAGS = 0, PA_FRAG, PA_TTL, PA_CSUM, PA_MAX };
static const char *const pa_names[PA_MAX] = {"bad_tcp_flags", "frag_overlap", "ttl_change",
                                             "bad_checksum"};

/* ------------------------------------------------------------------------------------------ */
/* Bounded open-addressing table. A slot is live when its tag's gen equals the table's: a
 * per-window table is cleared in O(1) by bumping gen. Long-lived tables keep gen and replace the
 * least recently used entry of a full probe run. Entries are not stored in their slots but
 * densely in creation order (the tag holds the index): a window with few keys touches few
 * cache lines and pages, iteration is a plain walk, and memory is mapped as the high-water mark
 * of entries grows, not for the whole capacity at start (first-touch page faults cost
 * ~100-300 ms at start on the shared VM for the default sizes). */

struct ahdr {
    uint32_t gen;
    uint32_t hash;
    uint64_t last; /* packet time of last use (long-lived tables) */
};

struct atag {
    uint32_t gen, hash; /* mirror of each entry's header: probing reads this dense array only */
    uint32_t idx;       /* the entry's index in mem */
};

struct atab {
    struct atag *tags;
    uint8_t *mem;
    uint32_t cap, mask, esz, ksz;
    uint32_t zsz; /* bytes zeroed in a new entry: the rest is initialised on first use */
    uint32_t gen;
    uint32_t n_used; /* entries 0 .. n_used-1 of mem are live, in creation order */
    uint64_t overflow, evicted;
    bool no_zero; /* set around bulk copies into a fresh entry */
};

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t c = 16;
    while (c < n && c < (1u << 30))
        c <<= 1;
    return c;
}

/* Zeroed memory mapped page by page on first touch. Not calloc: once large blocks have been
 * freed, glibc raises its mmap threshold and serves the next ones from the heap, zeroing (and so
 * touching) all of it; the tables' entry arrays would then be mapped whole at start again. */
static void *zmap(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int atab_init(struct atab *t, uint32_t entries, uint32_t esz, uint32_t ksz)
{
    memset(t, 0, sizeof(*t));
    t->cap = pow2_at_least(entries + entries / 2); /* load <= 2/3 */
    t->mask = t->cap - 1;
    t->esz = esz;
    t->ksz = ksz;
    t->zsz = esz;
    t->gen = 1;
    t->mem = zmap((size_t)t->cap * esz); /* mapped on first use (dense: the first pages only) */
    t->tags = calloc(t->cap, sizeof(struct atag));
    if (t->mem == NULL || t->tags == NULL)
        return -ENOMEM;
    sketch_prefault(t->tags, (size_t)t->cap * sizeof(struct atag));
    return 0;
}

static void atab_release(struct atab *t)
{
    free(t->tags);
    t->tags = NULL;
    if (t->mem != NULL)
        munmap(t->mem, (size_t)t->cap * t->esz);
    t->mem = NULL;
}

static inline struct ahdr *atab_at(const struct atab *t, uint32_t idx)
{
    return (struct ahdr *)(t->mem + (size_t)idx * t->esz);
}

static inline uint8_t *ekey(struct ahdr *h)
{
    return (uint8_t *)(h + 1);
}

static void atab_clear(struct atab *t)
{
    t->gen++;
    if (t->gen == 0) { /* wrapped: really clear */
        memset(t->tags, 0, (size_t)t->cap * sizeof(struct atag));
        t->gen = 1;
    }
    t->n_used = 0;
}

/* Key equality without a memcmp call: keys are 20 (address), 32 (DNS) or 36 (pair) bytes, or
 * OKEY; word compares for the common sizes (the per-packet path). */
static inline bool key_eq(const void *a, const void *b, uint32_t ksz)
{
    if (ksz == 20) {
        uint64_t a0, a1, b0, b1;
        uint32_t a2, b2;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, (const uint8_t *)a + 8, 8);
        memcpy(&b1, (const uint8_t *)b + 8, 8);
        memcpy(&a2, (const uint8_t *)a + 16, 4);
        memcpy(&b2, (const uint8_t *)b + 16, 4);
        return ((a0 ^ b0) | (a1 ^ b1) | (uint64_t)(a2 ^ b2)) == 0;
    }
    return memcmp(a, b, ksz) == 0;
}

/* Finds key; creates it (first zsz bytes zeroed) if absent and create. evict: replace the least
 * recently used of a full probe run. NULL when absent (or no room). *idx_out (if not NULL):
 * the entry's index, a hint for atab_hint(). */
static struct ahdr *atab_get_idx(struct atab *t, const void *key, uint32_t hash, bool create,
                                 bool evict, uint64_t now, uint32_t *idx_out)
{
    uint32_t slot = hash & t->mask;
    for (unsigned i = 0; i < PROBES; i++, slot = (slot + 1) & t->mask) {
        struct atag *g = &t->tags[slot];
        if (g->gen != t->gen) {
            if (!create)
                return NULL;
            uint32_t idx = t->n_used++; /* a free slot exists, so an entry does too */
            struct ahdr *h = atab_at(t, idx);
            if (!t->no_zero)
                memset(h, 0, t->zsz);
            else
                memset(h, 0, sizeof(*h)); /* the caller writes the rest */
            h->gen = t->gen;
            h->hash = hash;
            memcpy(ekey(h), key, t->ksz);
            h->last = now;
            g->gen = t->gen;
            g->hash = hash;
            g->idx = idx;
            if (idx_out != NULL)
                *idx_out = idx;
            return h;
        }
        if (g->hash == hash) {
            struct ahdr *h = atab_at(t, g->idx);
            if (key_eq(ekey(h), key, t->ksz)) {
                if (now > h->last)
                    h->last = now;
                if (idx_out != NULL)
                    *idx_out = g->idx;
                return h;
            }
        }
    }
    if (!create)
        return NULL;
    if (!evict) {
        t->overflow++;
        return NULL;
    }
    /* full probe run: replace its least recently used entry (only here are entries read) */
    struct ahdr *oldest = NULL;
    uint32_t oslot = 0;
    slot = hash & t->mask;
    for (unsigned i = 0; i < PROBES; i++, slot = (slot + 1) & t->mask) {
        struct ahdr *h = atab_at(t, t->tags[slot].idx);
        if (oldest == NULL || h->last < oldest->last) {
            oldest = h;
            oslot = slot;
        }
    }
    t->tags[oslot].hash = hash;
    t->evicted++;
    memset(oldest, 0, t->zsz);
    oldest->gen = t->gen;
    oldest->hash = hash;
    memcpy(ekey(oldest), key, t->ksz);
    oldest->last = now;
    if (idx_out != NULL)
        *idx_out = t->tags[oslot].idx;
    return oldest;
}

static inline struct ahdr *atab_get(struct atab *t, const void *key, uint32_t hash, bool create,
                                    bool evict, uint64_t now)
{
    return atab_get_idx(t, key, hash, create, evict, now, NULL);
}

/* A flow's hint for an entry: its index in the low 24 bits (tables hold at most 2^23 slots) and
 * the table's generation (low 8 bits) above, so a hint from an earlier window is rejected
 * without reading the entry (the burst's prefetch pass relies on that). */
#define HINT_IDX_BITS 24
#define HINT_IDX_MASK ((1u << HINT_IDX_BITS) - 1)

static inline uint32_t hint_of(const struct atab *t, uint32_t idx)
{
    return idx | t->gen << HINT_IDX_BITS;
}

/* The index a hint names in t if it may be live there (generation and range), else UINT32_MAX. */
static inline uint32_t hint_idx(const struct atab *t, uint32_t hint)
{
    uint32_t idx = hint & HINT_IDX_MASK;
    return (hint >> HINT_IDX_BITS) == (t->gen & 0xffu) && idx < t->n_used ? idx : UINT32_MAX;
}

/* The entry a hint names if it is live and holds key (a window table: no LRU time), else NULL.
 * Hints come from earlier lookups (kept per flow) and may be stale or from another table:
 * checked, never trusted. */
static inline struct ahdr *atab_hint(const struct atab *t, uint32_t hint, const void *key)
{
    uint32_t idx = hint_idx(t, hint);
    if (idx == UINT32_MAX)
        return NULL;
    struct ahdr *h = atab_at(t, idx);
    return key_eq(ekey(h), key, t->ksz) ? h : NULL;
}

/* Detectors walk a window table and look each key up in a long-lived table (its tags and
 * entries are large and cold: ~2 cache misses a key). Called at entry i of the walk, this
 * prefetches the probe line of entry i + 16's key and, where entry i + 8's key is found in
 * its first probe slot, that long-lived entry (the window entries' hash is the long-lived
 * tables' hash too). Only loads and prefetches: results are unchanged. ll2 (may be NULL): a
 * second long-lived table (pairs: brute force or beacon entries, by the pair's kind byte at
 * kind_off of the key; ll for kind 1, ll2 otherwise). */
#define LL_AHEAD 16
static inline void ll_prefetch(const struct atab *win, uint32_t i, const struct atab *ll,
                               const struct atab *ll2, uint32_t kind_off)
{
    uint32_t a = i + LL_AHEAD, b = i + LL_AHEAD / 2;
    if (a < win->n_used) {
        const struct ahdr *e = atab_at(win, a);
        const struct atab *t = ll2 == NULL || ekey((struct ahdr *)e)[kind_off] == 1 ? ll : ll2;
        __builtin_prefetch(&t->tags[e->hash & t->mask], 0);
    }
    if (b < win->n_used) {
        const struct ahdr *e = atab_at(win, b);
        const struct atab *t = ll2 == NULL || ekey((struct ahdr *)e)[kind_off] == 1 ? ll : ll2;
        const struct atag *g = &t->tags[e->hash & t->mask];
        if (g->gen == t->gen && g->hash == e->hash && g->idx < t->cap) {
            const uint8_t *x = (const uint8_t *)atab_at(t, g->idx);
            __builtin_prefetch(x, 1);
            __builtin_prefetch(x + 64, 1);
        }
    }
}

/* every live entry, in creation order */
#define ATAB_FOREACH(t, h)                                                                   \
    for (uint32_t _i = 0; _i < (t)->n_used; _i++)                                            \
        for (struct ahdr *h = atab_at((t), _i); h != NULL; h = NULL)

/* ------------------------------------------------------------------------------------------ */
/* Entries. Keys start right after the header. */

struct akey { /* an address */
    uint8_t a[16];
    uint8_t v6;
    uint8_t pad[3];
};

struct pkey { /* (src, dst, port, kind) */
    uint8_t src[16], dst[16];
    uint16_t port;
    uint8_t kind; /* PAIR_AUTH / PAIR_BEACON */
    uint8_t v6;
};
enum { PAIR_AUTH = 1, PAIR_BEACON = 2 };

struct dkey { /* (source, registered domain) */
    uint8_t src[16];
    uint64_t dom;
    uint8_t v6;
    uint8_t pad[7];
};

/* Window entries are zeroed up to their first lazily set field (atab.zsz): a new destination
 * or source costs two cache lines of stores, not five or six. A lazy field is live once its
 * counter says so: hist and src_hll once opens > 0, refl_hll once refl > 0, top once top_n > 0;
 * sample once n_sample > 0, hll_dst and hll_port once att > 0, hll_icmp once icmp_att > 0. */
struct dst_ent {
    struct ahdr h;
    struct akey k;
    uint32_t pkts, syn, est, udp, udp_reply, icmp, refl;
    uint32_t opens; /* flows opened towards it (first packet each way) */
    uint8_t top_n;
    uint64_t bytes, udp_bytes, icmp_bytes, refl_bytes;
    /* lazy; top first: updated per packet, next to the counters */
    struct sketch_topk_item top[TOPK];
    uint32_t hist[16];
    uint8_t src_hll[HLL_M];
    uint8_t refl_hll[HLL_M];
};

struct src_ent {
    struct ahdr h;
    struct akey k;
    uint32_t att, ans, icmp_att, icmp_ans;
    uint8_t n_sample;
    /* lazy */
    uint8_t sample[TOPK][16];
    uint8_t hll_dst[HLL_M], hll_port[HLL_M], hll_icmp[HLL_M];
};

struct pair_ent {
    struct ahdr h;
    struct pkey k;
    uint32_t conns;
    uint64_t first_ts;
};

struct host_ent {
    struct ahdr h;
    struct akey k;
    uint64_t out, in;
    uint8_t top_n;
    struct sketch_topk_item top[2];
};

struct dns_ent {
    struct ahdr h;
    struct dkey k;
    uint32_t queries, odd_qtype;
    uint64_t sub_len, ent_milli;
    uint8_t hll[HLL_M];
    char domain[64];
};

/* long-lived */
struct ewma {
    double m, v;
};

struct base_ent {
    struct ahdr h;
    struct akey k;
    uint64_t first_ns;
    struct ewma syn, udp, udp_b, icmp, icmp_b;
};

struct scan_ent {
    struct ahdr h;
    struct akey k;
    uint64_t epoch;
    uint64_t mute_until; /* the source is a flood's main attacker */
    uint32_t att[2], ans[2], icmp_att[2], icmp_ans[2];
    uint8_t n_sample;
    uint8_t sample[TOPK][16];
    uint8_t hll_dst[2][HLL_M], hll_port[2][HLL_M], hll_icmp[2][HLL_M];
};

struct bf_ent {
    struct ahdr h;
    struct pkey k;
    uint64_t epoch;
    uint32_t conns[2];
};

struct spray_ent {
    struct ahdr h;
    struct akey k; /* source; port in pad */
    uint64_t epoch;
    uint32_t conns[2];
    uint8_t n_sample;
    uint8_t sample[TOPK][16];
    uint8_t hll[2][HLL_M];
};

#define BEACON_RING 16
struct beacon_ent {
    struct ahdr h;
    struct pkey k;
    uint64_t last_ts;
    uint32_t n;       /* intervals seen */
    uint32_t ring[BEACON_RING]; /* last intervals in ms */
};

struct dnsl_ent {
    struct ahdr h;
    struct dkey k;
    uint64_t epoch;
    uint32_t queries[2], odd[2];
    uint64_t sub_len[2], ent_milli[2];
    uint8_t hll[2][HLL_M];
    char domain[64];
};

struct hostb_ent {
    struct ahdr h;
    struct akey k;
    uint64_t first_ns;
    uint64_t last_w;
    double fast_out, fast_in; /* bytes/s, EWMA with time constant exfil_tau_s */
    struct ewma base;         /* per-window outbound bytes/s */
    uint8_t top[16];
    bool alarm;
};

#define OKEY 40
struct obs {
    uint8_t cls;
    uint8_t key[OKEY];
    uint8_t n_att, n_vic, att_v6, vic_v6;
    uint8_t att[TOPK][16], vic[TOPK][16];
    uint16_t port;
    uint8_t proto;
    uint8_t n_metrics;
    struct {
        const char *name;
        double value;
    } metric[DETECTION_MAX_METRICS];
    double ratio;
    int net; /* protected network of the party that matters, -1 none */
    uint64_t quiet_ns;
};

struct inc_ent {
    struct ahdr h;
    uint8_t key[OKEY];
    uint64_t id, start_ns, seen_ns, update_ns, quiet_ns;
    double peak_ratio;
    struct obs last;
};

/* ------------------------------------------------------------------------------------------ */

struct shard {
    _Atomic uint64_t wid; /* window held, NONE before first use; the merger reads other
                           * workers' tags, so the tag is atomic (relaxed: progress orders) */
    struct atab dst, src, pair, host, dns;
    struct sketch_cms ovf_cms; /* destinations without a table entry: packets (and SYNs, salted) */
    uint8_t ovf_n;
    struct sketch_topk_item ovf_top[OVF_TOPK];
    uint64_t pkts, bytes;
    uint32_t pa_count[PA_MAX];
    uint8_t pa_src_n[PA_MAX], pa_dst_n[PA_MAX];
    struct sketch_topk_item pa_src[PA_MAX][TOPK], pa_dst[PA_MAX][TOPK];
};

struct progress {
    _Atomic uint64_t v; /* the window this worker is in: all earlier ones are complete */
    char pad[56];
};

struct anomaly_worker {
    struct anomaly_shared *sh;
    /* one-entry lookup caches (per-packet path) */
    struct dst_ent *last_dst;
    struct host_ent *last_host;
    const struct shard *last_dst_shard, *last_host_shard;
    uint32_t last_dst_gen, last_host_gen;
    struct akey last_dst_key, last_host_key;
    unsigned id;
    uint64_t win_ns, win_end, cur_wid;
    struct shard *cur;
    struct shard shards[NSLOT];
    uint64_t packets, overrun, dns_bad;
    const struct anomaly_config *cfg;
};

struct cms_undo {
    uint64_t h;
    uint32_t n;
};

struct anomaly_shared {
    struct anomaly_config cfg;
    /* IPv4 networks as (net, mask), longest prefix first: the per-packet membership test */
    uint32_t v4_net[ANOMALY_MAX_NETWORKS], v4_mask[ANOMALY_MAX_NETWORKS];
    int v4_idx[ANOMALY_MAX_NETWORKS];
    unsigned n_v4;
    uint64_t win_ns;
    struct progress *prog;
    struct anomaly_worker **workers;
    _Atomic uint64_t merged_next; /* first window not merged yet */
    _Atomic uint64_t first_wid;   /* lowest window a worker started in (NONE before any) */
    _Atomic int merging;
    /* below: owned by whoever holds `merging` */
    struct shard m; /* merged window */
    struct shard *cur; /* the window the detectors read: &m, or the only shard that had data */
    struct shard **parts; /* max_workers: the shards of the window being merged */
    uint64_t *cand;       /* max_workers * NSLOT + 1: windows to merge */
    struct atab base, scan, bf, spray, beacon, dnsl, hostb, inc;
    struct sketch_cms scan_cms[2]; /* attempts per source: current and previous scan epoch */
    struct cms_undo *scan_undo[2]; /* (hash, n) added in each, while few */
    uint32_t scan_undo_n[2];
    uint64_t scan_cms_epoch;
    struct obs *obs;
    uint32_t n_obs, max_obs;
    uint64_t next_incident;
    uint64_t last_now;
    struct anomaly_stats st;
    bool started;
    uint64_t first_ns;
};

/* ------------------------------------------------------------------------------------------ */

static inline uint32_t h32(uint64_t h)
{
    return (uint32_t)(h ^ (h >> 32));
}

static inline void akey_set(struct akey *k, const uint8_t *a, bool v6)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->a, a, v6 ? 16 : 4);
    k->v6 = v6;
}

static int shard_init(struct shard *s, const struct anomaly_config *c, uint32_t mult)
{
    int rc = 0;
    rc |= atab_init(&s->dst, c->shard_dsts * mult, sizeof(struct dst_ent), sizeof(struct akey));
    rc |= atab_init(&s->src, c->shard_srcs * mult, sizeof(struct src_ent), sizeof(struct akey));
    rc |= atab_init(&s->pair, c->shard_pairs * mult, sizeof(struct pair_ent), sizeof(struct pkey));
    rc |= atab_init(&s->host, c->shard_hosts * mult, sizeof(struct host_ent), sizeof(struct akey));
    rc |= atab_init(&s->dns, c->shard_dns * mult, sizeof(struct dns_ent), sizeof(struct dkey));
    rc |= sketch_cms_init(&s->ovf_cms, 4, 1024);
    s->dst.zsz = offsetof(struct dst_ent, top);
    s->src.zsz = offsetof(struct src_ent, sample);
    atomic_init(&s->wid, NONE);
    return rc ? -ENOMEM : 0;
}

static void shard_release(struct shard *s)
{
    atab_release(&s->dst);
    atab_release(&s->src);
    atab_release(&s->pair);
    atab_release(&s->host);
    atab_release(&s->dns);
    sketch_cms_release(&s->ovf_cms);
}

static void shard_clear(struct shard *s)
{
    atab_clear(&s->dst);
    atab_clear(&s->src);
    atab_clear(&s->pair);
    atab_clear(&s->host);
    atab_clear(&s->dns);
    if (s->ovf_n > 0 || s->dst.overflow > 0)
        sketch_cms_clear(&s->ovf_cms);
    /* the merger has read these counters by the time a slot is reused */
    s->dst.overflow = s->src.overflow = s->pair.overflow = s->host.overflow = s->dns.overflow = 0;
    s->ovf_n = 0;
    s->pkts = s->bytes = 0;
    memset(s->pa_count, 0, sizeof(s->pa_count));
    memset(s->pa_src_n, 0, sizeof(s->pa_src_n));
    memset(s->pa_dst_n, 0, sizeof(s->pa_dst_n));
}

static uint64_t shard_overflow(const struct shard *s)
{
    return s->dst.overflow + s->src.overflow + s->pair.overflow + s->host.overflow + s->dns.overflow;
}

struct anomaly_shared *anomaly_shared_new(const struct anomaly_config *cfg)
{
    char err[128];
    if (cfg == NULL || anomaly_config_validate(cfg, err, sizeof(err)) != 0)
        return NULL;
    struct anomaly_shared *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->cfg = *cfg;
    if (s->cfg.n_networks == 0) {
        anomaly_config_add_network(&s->cfg, "10.0.0.0/8", "rfc1918", 3);
        anomaly_config_add_network(&s->cfg, "172.16.0.0/12", "rfc1918", 3);
        anomaly_config_add_network(&s->cfg, "192.168.0.0/16", "rfc1918", 3);
        anomaly_config_add_network(&s->cfg, "fc00::/7", "ula", 3);
    }
    const struct anomaly_config *c = &s->cfg;
    for (unsigned bits = 33; bits-- > 0;) /* longest prefix first */
        for (unsigned i = 0; i < c->n_networks; i++) {
            const struct anomaly_network *n = &c->networks[i];
            if (n->v6 || n->prefix != bits)
                continue;
            s->v4_mask[s->n_v4] = bits ? ~0u << (32 - bits) : 0;
            s->v4_net[s->n_v4] = (uint32_t)n->addr[0] << 24 | (uint32_t)n->addr[1] << 16 |
                                 (uint32_t)n->addr[2] << 8 | n->addr[3];
            s->v4_idx[s->n_v4++] = (int)i;
        }
    s->win_ns = (uint64_t)c->window_ms * 1000000ull;
    s->prog = aligned_alloc(64, sizeof(struct progress) * c->max_workers);
    s->workers = calloc(c->max_workers, sizeof(*s->workers));
    if (s->prog == NULL || s->workers == NULL)
        goto fail;
    for (unsigned i = 0; i < c->max_workers; i++)
        atomic_init(&s->prog[i].v, NONE);
    atomic_init(&s->merged_next, 0);
    atomic_init(&s->first_wid, NONE);
    atomic_init(&s->merging, 0);
    /* the merged window sees every worker's keys: size it like the long-lived tables */
    uint32_t mult = c->track_entries / (c->shard_dsts ? c->shard_dsts : 1);
    if (mult < 1)
        mult = 1;
    if (shard_init(&s->m, c, mult) != 0)
        goto fail;
    uint32_t t = c->track_entries;
    int rc = 0;
    rc |= atab_init(&s->base, t, sizeof(struct base_ent), sizeof(struct akey));
    rc |= atab_init(&s->scan, t, sizeof(struct scan_ent), sizeof(struct akey));
    rc |= atab_init(&s->bf, t, sizeof(struct bf_ent), sizeof(struct pkey));
    rc |= atab_init(&s->spray, t, sizeof(struct spray_ent), sizeof(struct akey));
    rc |= atab_init(&s->beacon, t, sizeof(struct beacon_ent), sizeof(struct pkey));
    rc |= atab_init(&s->dnsl, t / 4, sizeof(struct dnsl_ent), sizeof(struct dkey));
    rc |= atab_init(&s->hostb, t, sizeof(struct hostb_ent), sizeof(struct akey));
    rc |= atab_init(&s->inc, c->max_incidents, sizeof(struct inc_ent), OKEY);
    /* wide enough that a spoofed flood's one-packet sources stay under SCAN_PROMOTE: the
     * overestimate is about e * attempts / width */
    rc |= sketch_cms_init(&s->scan_cms[0], 4, pow2_at_least(8 * t));
    rc |= sketch_cms_init(&s->scan_cms[1], 4, pow2_at_least(8 * t));
    s->scan_undo[0] = malloc(SCAN_UNDO * sizeof(struct cms_undo));
    s->scan_undo[1] = malloc(SCAN_UNDO * sizeof(struct cms_undo));
    if (s->scan_undo[0] == NULL || s->scan_undo[1] == NULL)
        rc = -ENOMEM;
    if (rc != 0)
        goto fail;
    s->parts = calloc(c->max_workers, sizeof(*s->parts));
    s->cand = calloc((size_t)c->max_workers * NSLOT + 1, sizeof(*s->cand));
    if (s->parts == NULL || s->cand == NULL)
        goto fail;
    s->cur = &s->m;
    s->max_obs = 4096;
    s->obs = calloc(s->max_obs, sizeof(*s->obs));
    if (s->obs == NULL)
        goto fail;
    return s;
fail:
    anomaly_shared_free(s);
    return NULL;
}

void anomaly_worker_free(struct anomaly_worker *w)
{
    if (w == NULL)
        return;
    if (w->sh != NULL && w->sh->workers[w->id] == w)
        w->sh->workers[w->id] = NULL;
    for (unsigned i = 0; i < NSLOT; i++)
        shard_release(&w->shards[i]);
    free(w);
}

void anomaly_shared_free(struct anomaly_shared *s)
{
    if (s == NULL)
        return;
    if (s->workers != NULL)
        for (unsigned i = 0; i < s->cfg.max_workers; i++)
            anomaly_worker_free(s->workers[i]);
    free(s->workers);
    free(s->prog);
    shard_release(&s->m);
    atab_release(&s->base);
    atab_release(&s->scan);
    atab_release(&s->bf);
    atab_release(&s->spray);
    atab_release(&s->beacon);
    atab_release(&s->dnsl);
    atab_release(&s->hostb);
    atab_release(&s->inc);
    sketch_cms_release(&s->scan_cms[0]);
    sketch_cms_release(&s->scan_cms[1]);
    free(s->scan_undo[0]);
    free(s->scan_undo[1]);
    free(s->obs);
    free(s->parts);
    free(s->cand);
    free(s);
}

struct anomaly_worker *anomaly_worker_new(struct anomaly_shared *s, unsigned worker_id)
{
    if (s == NULL || worker_id >= s->cfg.max_workers || s->workers[worker_id] != NULL)
        return NULL;
    struct anomaly_worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->id = worker_id;
    w->cfg = &s->cfg;
    w->win_ns = s->win_ns;
    for (unsigned i = 0; i < NSLOT; i++) {
        if (shard_init(&w->shards[i], &s->cfg, 1) != 0) {
            anomaly_worker_free(w);
            return NULL;
        }
    }
    w->sh = s;
    s->workers[worker_id] = w;
    return w;
}

/* ------------------------------------------------------------------------------------------ */
/* Worker side: windows */

/* A worker's first roll (into window wid). Until then its progress is NONE and the merge
 * waits for it (min_progress), so in replay, where every worker starts within the first window
 * crossing, no window is merged before every worker could add its packets to it, whichever
 * thread runs first. Lowers first_wid, then publishes progress, then reads merged_next once no
 * merge is running: a merge that began before the publication (possible only after the
 * START_GRACE escape, live) has then stored its merged_next, and any later one sees our
 * progress; so a late starter's window is moved to the first unmerged one instead of being
 * lost. Runs once per worker; waiting for a running merge is bounded by one merge. */
static uint64_t worker_start(struct anomaly_worker *w, uint64_t wid)
{
    struct anomaly_shared *sh = w->sh;
    uint64_t lo = atomic_load_explicit(&sh->first_wid, memory_order_seq_cst);
    while (wid < lo &&
           !atomic_compare_exchange_weak_explicit(&sh->first_wid, &lo, wid, memory_order_seq_cst,
                                                  memory_order_seq_cst))
        ;
    atomic_store_explicit(&sh->prog[w->id].v, wid, memory_order_seq_cst);
    while (atomic_load_explicit(&sh->merging, memory_order_seq_cst) != 0)
        sched_yield();
    uint64_t merged = atomic_load_explicit(&sh->merged_next, memory_order_seq_cst);
    return wid < merged ? merged : wid;
}

/* Starts the window holding ts (or the first unmerged one). Publishes progress: every window
 * before the new one is complete for this worker. */
static void worker_roll(struct anomaly_worker *w, uint64_t ts)
{
    struct anomaly_shared *sh = w->sh;
    uint64_t wid = ts / w->win_ns;
    if (w->cur == NULL)
        wid = worker_start(w, wid);
    uint64_t merged = atomic_load_explicit(&sh->merged_next, memory_order_acquire);
    if (wid < merged)
        wid = merged; /* a window already merged cannot take data any more */
    if (w->cur != NULL && wid <= w->cur_wid) {
        w->win_end = (w->cur_wid + 1) * w->win_ns;
        return;
    }
    /* any slot whose window has been merged may take the new one (the merger finds a window
     * by its tag), so a jump in time needs only one free slot */
    struct shard *next = NULL;
    for (unsigned k = 0; k < NSLOT; k++) {
        struct shard *sd = &w->shards[k];
        uint64_t tag = atomic_load_explicit(&sd->wid, memory_order_relaxed);
        if (sd != w->cur && (tag == NONE || tag < merged)) {
            next = sd;
            break;
        }
    }
    if (next == NULL) {
        w->overrun++;
        return; /* keep filling the current window; the merge is behind */
    }
    /* pairs with the acquire load of progress in merge_pending(): our writes to the finished
     * shard happen before the merger reads it */
    atomic_store_explicit(&sh->prog[w->id].v, wid, memory_order_seq_cst);
    shard_clear(next);
    atomic_store_explicit(&next->wid, wid, memory_order_relaxed);
    w->cur = next;
    w->cur_wid = wid;
    w->win_end = (wid + 1) * w->win_ns;
}

static inline int net4_match(const struct anomaly_shared *sh, const uint8_t *a)
{
    uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    for (unsigned i = 0; i < sh->n_v4; i++)
        if ((x & sh->v4_mask[i]) == sh->v4_net[i])
            return sh->v4_idx[i];
    return -1;
}

static inline void topk_add(struct sketch_topk_item *it, uint8_t *n, unsigned k, const uint8_t *a)
{
    sketch_topk_add(it, n, k, a, 1);
}

static void pa_add(struct shard *s, enum pa_kind k, const struct pkt_meta *m)
{
    uint8_t a[16] = {0}, b[16] = {0};
    unsigned al = m->ip_version == 6 ? 16 : 4;
    memcpy(a, m->src, al);
    memcpy(b, m->dst, al);
    s->pa_count[k]++;
    topk_add(s->pa_src[k], &s->pa_src_n[k], TOPK, a);
    topk_add(s->pa_dst[k], &s->pa_dst_n[k], TOPK, b);
}

static inline bool port_in(const uint16_t *ports, unsigned n, uint16_t p)
{
    for (unsigned i = 0; i < n; i++)
        if (ports[i] == p)
            return true;
    return false;
}

/* The window entry of key k in t (created if absent). hint (may be NULL): the flow's hint for
 * this entry from an earlier packet, tried first and updated; most packets of a flow then cost
 * no hash and no probe. hash: the key's hash if the caller has it (the burst's prefetch pass),
 * else NO_HASH. */
#define NO_HASH UINT64_MAX
static inline struct ahdr *win_get(struct atab *t, const struct akey *k, uint32_t seed,
                                   uint32_t *hint, uint64_t hash)
{
    struct ahdr *h;
    if (hint != NULL && (h = atab_hint(t, *hint, k)) != NULL)
        return h;
    uint32_t hv = hash != NO_HASH ? (uint32_t)hash : h32(sketch_hash(k, sizeof(*k), seed));
    uint32_t idx;
    h = atab_get_idx(t, k, hv, true, false, 0, &idx);
    if (h != NULL && hint != NULL)
        *hint = hint_of(t, idx);
    return h;
}

static void sample_add(uint8_t (*sample)[16], uint8_t *n, const uint8_t *a, bool v6);

static inline void dst_opened(struct dst_ent *d, uint64_t hsrc)
{
    if (d->opens++ == 0) {
        memset(d->hist, 0, sizeof(d->hist));
        memset(d->src_hll, 0, sizeof(d->src_hll));
    }
    sketch_hll_add(d->src_hll, HLL_P, hsrc);
    d->hist[hsrc & 15]++;
}

/* One more attempt (TCP SYN or first UDP packet) from source se to dst:dport. */
static inline void src_attempt(struct src_ent *se, const struct pkt_meta *m, bool v6)
{
    if (se->att++ == 0) {
        memset(se->hll_dst, 0, sizeof(se->hll_dst));
        memset(se->hll_port, 0, sizeof(se->hll_port));
    }
    sketch_hll_add(se->hll_dst, HLL_P, sketch_hash(m->dst, 16, 11));
    sketch_hll_add(se->hll_port, HLL_P, sketch_hash(&m->dport, 2, 12));
    sample_add(se->sample, &se->n_sample, m->dst, v6);
}

static struct src_ent *src_get(struct shard *s, const uint8_t *addr, bool v6)
{
    struct akey k;
    akey_set(&k, addr, v6);
    return (struct src_ent *)atab_get(&s->src, &k, h32(sketch_hash(&k, sizeof(k), 2)), true, false, 0);
}

static struct pair_ent *pair_get(struct shard *s, const uint8_t *src, const uint8_t *dst, bool v6,
                                 uint16_t port, uint8_t kind)
{
    struct pkey k;
    memset(&k, 0, sizeof(k));
    memcpy(k.src, src, v6 ? 16 : 4);
    memcpy(k.dst, dst, v6 ? 16 : 4);
    k.port = port;
    k.kind = kind;
    k.v6 = v6;
    return (struct pair_ent *)atab_get(&s->pair, &k, h32(sketch_hash(&k, sizeof(k), 3)), true, false, 0);
}

static void sample_add(uint8_t (*sample)[16], uint8_t *n, const uint8_t *a, bool v6)
{
    uint8_t k[16] = {0};
    memcpy(k, a, v6 ? 16 : 4);
    /* keeps the TOPK lowest addresses: the same sample whatever the merge order */
    unsigned i, pos = *n;
    for (i = 0; i < *n; i++) {
        int cmp = memcmp(sample[i], k, 16);
        if (cmp == 0)
            return;
        if (cmp > 0 && pos == *n)
            pos = i;
    }
    if (pos >= TOPK)
        return;
    unsigned last = *n < TOPK ? *n : TOPK - 1;
    memmove(sample[pos + 1], sample[pos], (last - pos) * 16);
    memcpy(sample[pos], k, 16);
    if (*n < TOPK)
        (*n)++;
}

static void dns_account_key(struct shard *s, const struct pkt_meta *m, bool v6,
                            const struct anomaly_dns_q *qq, const char *dom, size_t dlen, bool whole);

static void dns_account(struct anomaly_worker *w, struct shard *s, const struct pkt_meta *m, bool v6)
{
    struct anomaly_dns_q q;
    if (anomaly_dns_parse_query(m->payload, m->payload_len, &q) != 0) {
        w->dns_bad++;
        return;
    }
    const char *dom = q.name + q.domain_off;
    size_t dlen = q.name_len - q.domain_off;
    /* reverse lookups are many distinct, low-entropy names by design: not tunnels */
    if (dlen >= 4 && memcmp(dom + dlen - 4, "arpa", 4) == 0)
        return;
    dns_account_key(s, m, v6, &q, dom, dlen, false);
    /* the same query in the per-source view (domain "*"): tunnels that carry data in the last
     * labels ("dnscat.<hex>") spread over many registered domains */
    dns_account_key(s, m, v6, &q, "*", 1, true);
}

static void dns_account_key(struct shard *s, const struct pkt_meta *m, bool v6,
                            const struct anomaly_dns_q *qq, const char *dom, size_t dlen, bool whole)
{
    struct anomaly_dns_q qv = *qq;
    const struct anomaly_dns_q *pq = &qv;
    if (whole)
        qv.sub_len = qv.name_len; /* measure the whole name */
#define q (*pq)
    struct dkey k;
    memset(&k, 0, sizeof(k));
    memcpy(k.src, m->src, v6 ? 16 : 4);
    k.v6 = v6;
    k.dom = sketch_hash(dom, dlen, 5);
    struct dns_ent *e =
        (struct dns_ent *)atab_get(&s->dns, &k, h32(sketch_hash(&k, sizeof(k), 6)), true, false, 0);
    if (e == NULL)
        return;
    if (e->queries == 0) {
        size_t n = dlen < sizeof(e->domain) - 1 ? dlen : sizeof(e->domain) - 1;
        memcpy(e->domain, dom, n);
        e->domain[n] = '\0';
    }
    e->queries++;
    if (q.qtype == 10 || q.qtype == 16 || q.qtype == 255)
        e->odd_qtype++;
    if (q.sub_len > 0) {
        /* entropy over the subdomain's characters, dots excluded */
        uint32_t hist[256] = {0};
        unsigned n = 0;
        for (unsigned i = 0; i < q.sub_len; i++) {
            uint8_t c = (uint8_t)q.name[i];
            if (c != '.') {
                hist[c]++;
                n++;
            }
        }
        e->sub_len += n;
        e->ent_milli += (uint64_t)(sketch_entropy(hist, 256) * 1000.0);
        sketch_hll_add(e->hll, HLL_P, sketch_hash(q.name, q.sub_len, 7));
    }
#undef q
}

static bool tcp_flags_illegal(uint8_t f)
{
    if ((f & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN))
        return true;
    if ((f & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST))
        return true;
    if ((f & (TCP_FIN | TCP_RST | TCP_SYN | TCP_ACK | TCP_PSH | TCP_URG)) == 0)
        return true; /* null */
    if ((f & (TCP_FIN | TCP_PSH | TCP_URG)) == (TCP_FIN | TCP_PSH | TCP_URG) && !(f & TCP_ACK))
        return true; /* xmas */
    if ((f & TCP_FIN) && !(f & TCP_ACK))
        return true; /* FIN without ACK (RFC 9293: every segment after SYN carries ACK) */
    return false;
}

/* One packet (anomaly_packet); hash_dst / hash_host: the hashes of its destination and inside-host keys if
 * the burst's prefetch pass computed them, else NO_HASH. */
static inline void packet_one(struct anomaly_worker *w, const struct pkt_meta *m, struct flow *f,
                              enum flow_dir dir, uint64_t hash_dst, uint64_t hash_host)
{
    const struct anomaly_config *c = w->cfg;
    if (!c->enabled || (m->ip_version != 4 && m->ip_version != 6))
        return;
    if (m->ts_ns >= w->win_end || w->cur == NULL)
        worker_roll(w, m->ts_ns);
    struct shard *s = w->cur;
    bool v6 = m->ip_version == 6;
    uint32_t wl = m->wirelen;
    w->packets++;
    s->pkts++;
    s->bytes += wl;

    uint32_t af = f ? f->anomaly_flags : 0;
    /* The flow's own counters may already include later packets of the same burst (the engine
     * updates the flow table a burst at a time), so the packet's place in its flow comes from
     * marks this stage keeps in anomaly_flags, set in packet order. */
    bool first = f != NULL && dir == FLOW_TO_SERVER && !(af & AF_SEEN);
    bool first_reply = f != NULL && dir == FLOW_TO_CLIENT && !(af & AF_REPLY);
    /* the first packet of each direction of a flow: the destination's distinct-source sketch
     * and source histogram count flows opened towards it (spoofed floods open one per packet),
     * not every packet of a bulk transfer */
    bool opens = f == NULL || first_reply || (dir == FLOW_TO_SERVER && !(af & AF_SENT));
    if (f != NULL) {
        af |= AF_SEEN;
        if (dir == FLOW_TO_CLIENT) {
            af |= AF_REPLY;
        } else {
            af |= AF_SENT;
            if (((af >> AF_CPKTS_SHIFT) & 7u) < 7u)
                af += 1u << AF_CPKTS_SHIFT; /* client packets, saturating at 7 */
        }
    }
    unsigned cpkts = (af >> AF_CPKTS_SHIFT) & 7u;

    uint8_t src16[16] = {0};
    memcpy(src16, m->src, v6 ? 16 : 4);
    uint64_t hsrc = opens ? sketch_hash(src16, 16, 9) : 0;
    /* a flow keeps the indices of its entries (f->anomaly_slot: [0] the server's destination
     * entry, [1] the client's, [2] the inside host's), checked against the key before use; without
     * a flow, a one-entry cache of the last lookup (bulk runs to one destination) */
    struct akey dk;
    akey_set(&dk, m->dst, v6);
    struct dst_ent *d;
    if (f != NULL) {
        d = (struct dst_ent *)win_get(&s->dst, &dk, 1,
                                      &f->anomaly_slot[dir == FLOW_TO_SERVER ? 0 : 1], hash_dst);
    } else if (w->last_dst != NULL && w->last_dst_shard == s && w->last_dst_gen == s->dst.gen &&
               key_eq(&w->last_dst_key, &dk, sizeof(dk))) {
        d = w->last_dst;
    } else {
        d = (struct dst_ent *)win_get(&s->dst, &dk, 1, NULL, hash_dst);
        w->last_dst = d;
        w->last_dst_shard = s;
        w->last_dst_gen = s->dst.gen;
        w->last_dst_key = dk;
    }
    if (d != NULL) {
        d->pkts++;
        d->bytes += wl;
        /* top sources by packets (who floods); distinct sources and their entropy by flows
         * opened (every source opens a flow, so the distinct count is the same) */
        topk_add(d->top, &d->top_n, TOPK, src16);
        if (opens)
            dst_opened(d, hsrc);
    } else {
        /* table full: heavy destinations are still found (space-saving) and counted (CMS) */
        uint8_t dst16[16] = {0};
        memcpy(dst16, m->dst, v6 ? 16 : 4);
        uint64_t hd = sketch_hash(dst16, 16, 10);
        sketch_cms_add(&s->ovf_cms, hd, 1);
        if (m->proto == 6 && (m->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
            sketch_cms_add(&s->ovf_cms, hd ^ 0x5e5e5e5e5e5e5e5eull, 1);
        else if (m->proto == 17)
            sketch_cms_add(&s->ovf_cms, hd ^ 0x1717171717171717ull, 1);
        else if (m->proto == 1 || m->proto == 58)
            sketch_cms_add(&s->ovf_cms, hd ^ 0x0101010101010101ull, 1);
        topk_add(s->ovf_top, &s->ovf_n, OVF_TOPK, dst16);
    }

    /* membership is a property of the flow's addresses: looked up once per flow */
    bool src_in, dst_in;
    if (f != NULL && (af & AF_NET)) {
        bool cin = af & AF_CIN, sin = af & AF_SIN;
        src_in = dir == FLOW_TO_SERVER ? cin : sin;
        dst_in = dir == FLOW_TO_SERVER ? sin : cin;
    } else {
        src_in = (v6 ? anomaly_net_match(c, m->src, true) : net4_match(w->sh, m->src)) >= 0;
        dst_in = (v6 ? anomaly_net_match(c, m->dst, true) : net4_match(w->sh, m->dst)) >= 0;
        if (f != NULL) {
            bool cin = dir == FLOW_TO_SERVER ? src_in : dst_in;
            bool sin = dir == FLOW_TO_SERVER ? dst_in : src_in;
            af |= AF_NET | (cin ? AF_CIN : 0) | (sin ? AF_SIN : 0);
        }
    }
    /* multicast and broadcast are local services, never an outside peer (mDNS, SSDP, DHCP) */
    bool dst_group = v6 ? m->dst[0] == 0xff
                        : (m->dst[0] & 0xf0) == 0xe0 || (m->dst[0] == 255 && m->dst[3] == 255);

    if (m->reason == DEC_TCP_BAD_FLAGS)
        pa_add(s, PA_FLAGS, m);
    else if (m->proto == 6 && (m->flags & PKT_HAS_L4) && tcp_flags_illegal(m->tcp_flags))
        pa_add(s, PA_FLAGS, m);
    if (m->reason == DEC_FRAG_OVERLAP)
        pa_add(s, PA_FRAG, m);
    if (c->proto_bad_checksum &&
        (m->reason == DEC_IPV4_BAD_CHECKSUM || m->reason == DEC_TCP_BAD_CHECKSUM || m->reason == DEC_UDP_BAD_CHECKSUM))
        pa_add(s, PA_CSUM, m);

    if (f != NULL) {
        /* TTL of a flow's direction should not move much: a jump hints at injection/spoofing */
        uint32_t bit = dir == FLOW_TO_SERVER ? AF_TTL0 : AF_TTL1;
        unsigned shift = dir == FLOW_TO_SERVER ? 16 : 24;
        if (!(af & bit)) {
            af |= bit | ((uint32_t)m->ttl << shift);
        } else {
            int t0 = (int)((af >> shift) & 0xff);
            if (abs(t0 - (int)m->ttl) > 8)
                pa_add(s, PA_TTL, m);
        }
    }

    if (m->proto == 6 && (m->flags & PKT_HAS_L4)) {
        uint8_t fl = m->tcp_flags;
        bool syn_only = (fl & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == TCP_SYN;
        if (syn_only && d != NULL)
            d->syn++;
        if (f != NULL) {
            if (syn_only && dir == FLOW_TO_SERVER && !(af & AF_ATTEMPT)) {
                af |= AF_ATTEMPT;
                struct src_ent *se = src_get(s, m->src, v6);
                if (se != NULL)
                    src_attempt(se, m, v6);
            }
            if ((fl & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) && dir == FLOW_TO_CLIENT &&
                (af & AF_ATTEMPT) && !(af & AF_ANSWERED)) {
                af |= AF_ANSWERED;
                struct src_ent *se = src_get(s, m->dst, v6);
                if (se != NULL)
                    se->ans++;
            }
            /* the client's ACK after our SYN was answered completes the handshake */
            if (dir == FLOW_TO_SERVER && (fl & (TCP_ACK | TCP_SYN | TCP_RST)) == TCP_ACK &&
                (af & AF_ANSWERED) && !(af & AF_EST)) {
                af |= AF_EST;
                if (d != NULL)
                    d->est++; /* d is the server's entry: the packet goes to the server */
            }
            /* a session that carried client data (>= 2 segments after the handshake) to an
             * authentication port */
            if (dir == FLOW_TO_SERVER && cpkts >= 4 && !(af & AF_BF) && (af & AF_EST) &&
                port_in(c->bf_ports, c->n_bf_ports, m->dport)) {
                af |= AF_BF;
                struct pair_ent *pe = pair_get(s, m->src, m->dst, v6, m->dport, PAIR_AUTH);
                if (pe != NULL)
                    pe->conns++;
            }
        }
    } else if (m->proto == 17 && (m->flags & PKT_HAS_L4)) {
        bool refl = false;
        if (f != NULL && dir == FLOW_TO_SERVER &&
            (first || (af & AF_REFL)) && port_in(c->refl_ports, c->n_refl_ports, m->sport) &&
            !port_in(c->refl_ports, c->n_refl_ports, m->dport)) {
            /* the flow began with a response from a service port: nobody here asked */
            refl = true;
            af |= AF_REFL;
        }
        if (refl) {
            if (d != NULL) {
                if (d->refl++ == 0)
                    memset(d->refl_hll, 0, sizeof(d->refl_hll));
                d->refl_bytes += wl;
                sketch_hll_add(d->refl_hll, HLL_P, hsrc ? hsrc : sketch_hash(src16, 16, 9));
            }
        } else {
            if (d != NULL) {
                d->udp++;
                d->udp_bytes += wl;
            }
            if (dir == FLOW_TO_CLIENT && f != NULL) {
                struct akey sk;
                akey_set(&sk, m->src, v6);
                struct dst_ent *server = (struct dst_ent *)win_get(&s->dst, &sk, 1, &f->anomaly_slot[0], NO_HASH);
                if (server != NULL)
                    server->udp_reply++;
                if (first_reply && (af & AF_ATTEMPT) && !(af & AF_ANSWERED)) {
                    af |= AF_ANSWERED;
                    struct src_ent *se = src_get(s, m->dst, v6);
                    if (se != NULL)
                        se->ans++;
                }
            }
            if (first) {
                af |= AF_ATTEMPT;
                struct src_ent *se = src_get(s, m->src, v6);
                if (se != NULL)
                    src_attempt(se, m, v6);
            }
            if (dir == FLOW_TO_SERVER && m->dport == 53 && m->payload != NULL && m->payload_len >= 12)
                dns_account(w, s, m, v6);
        }
    } else if (m->proto == 1 || m->proto == 58) {
        if (d != NULL) {
            d->icmp++;
            d->icmp_bytes += wl;
        }
        bool req = v6 ? m->icmp_type == 128 : m->icmp_type == 8;
        bool rep = v6 ? m->icmp_type == 129 : m->icmp_type == 0;
        if (req) {
            struct src_ent *se = src_get(s, m->src, v6);
            if (se != NULL) {
                if (se->icmp_att++ == 0)
                    memset(se->hll_icmp, 0, sizeof(se->hll_icmp));
                sketch_hll_add(se->hll_icmp, HLL_P, sketch_hash(m->dst, 16, 11));
                sample_add(se->sample, &se->n_sample, m->dst, v6);
            }
        } else if (rep) {
            struct src_ent *se = src_get(s, m->dst, v6);
            if (se != NULL)
                se->icmp_ans++;
        }
    }

    /* exfiltration: bytes across the protected boundary per inside host */
    if (src_in != dst_in && !dst_group) {
        struct akey hk;
        akey_set(&hk, src_in ? m->src : m->dst, v6);
        struct host_ent *he;
        if (f != NULL) {
            he = (struct host_ent *)win_get(&s->host, &hk, 4, &f->anomaly_slot[2], hash_host);
        } else if (w->last_host != NULL && w->last_host_shard == s && w->last_host_gen == s->host.gen &&
                   key_eq(&w->last_host_key, &hk, sizeof(hk))) {
            he = w->last_host;
        } else {
            he = (struct host_ent *)win_get(&s->host, &hk, 4, NULL, hash_host);
            w->last_host = he;
            w->last_host_shard = s;
            w->last_host_gen = s->host.gen;
            w->last_host_key = hk;
        }
        if (he != NULL) {
            if (src_in) {
                he->out += wl;
                uint8_t dst16[16] = {0};
                memcpy(dst16, m->dst, v6 ? 16 : 4);
                sketch_topk_add(he->top, &he->top_n, 2, dst16, wl);
            } else {
                he->in += wl;
            }
        }
    }
    /* beaconing: connection starts from inside to outside */
    if (first && src_in && !dst_in && !dst_group && m->proto != 1 && m->proto != 58 &&
        !port_in(c->beacon_skip_ports, c->n_beacon_skip_ports, m->dport)) {
        struct pair_ent *pe = pair_get(s, m->src, m->dst, v6, m->dport, PAIR_BEACON);
        if (pe != NULL) {
            if (pe->conns == 0 || m->ts_ns < pe->first_ts)
                pe->first_ts = m->ts_ns;
            pe->conns++;
        }
    }
    if (f != NULL)
        f->anomaly_flags = af;
}

void anomaly_packet(struct anomaly_worker *w, const struct pkt_meta *m, struct flow *f,
                    enum flow_dir dir)
{
    packet_one(w, m, f, dir, NO_HASH, NO_HASH);
}

static inline void prefetch_entry(const struct atab *t, uint32_t idx, uint32_t bytes)
{
    const uint8_t *e = (const uint8_t *)atab_at(t, idx);
    for (uint32_t o = 0; o < bytes; o += 64)
        __builtin_prefetch(e + o, 1);
    __builtin_prefetch(e + bytes - 1, 1);
}

/* Prefetch pass of a burst (see anomaly_burst): per packet with a flow, the entries its hints
 * name, or, where a hint is stale (a new flow or a new window), the key's hash (kept for the
 * lookup) and its probe line. Needs the flows' anomaly lines: a first loop prefetches them. */
static void burst_prefetch(struct anomaly_worker *w, const struct pkt_meta *m, const uint8_t *res,
                           unsigned n, struct flow *const *flows, const enum flow_dir *dirs,
                           uint64_t *hd, uint64_t *hh)
{
    struct shard *s = w->cur;
    unsigned j = 0;
    for (unsigned x = 0; x < n; x++) {
        hd[x] = hh[x] = NO_HASH;
        if (res[x] == DECODE_OK && flows[j++] != NULL)
            __builtin_prefetch(&flows[j - 1]->anomaly_flags, 1);
    }
    /* a burst lies within one engine tick; the shard is the one its packets go to unless the
     * burst starts a new window (then nothing is prefetched: once per window) */
    if (s == NULL || m[0].ts_ns >= w->win_end)
        return;
    j = 0;
    for (unsigned x = 0; x < n; x++) {
        if (res[x] != DECODE_OK)
            continue;
        struct flow *f = flows[j];
        enum flow_dir dir = dirs[j++];
        if (f == NULL || (m[x].ip_version != 4 && m[x].ip_version != 6))
            continue;
        bool v6 = m[x].ip_version == 6;
        uint32_t idx = hint_idx(&s->dst, f->anomaly_slot[dir == FLOW_TO_SERVER ? 0 : 1]);
        if (idx != UINT32_MAX) {
            prefetch_entry(&s->dst, idx, offsetof(struct dst_ent, hist));
        } else {
            struct akey dk;
            akey_set(&dk, m[x].dst, v6);
            hd[x] = h32(sketch_hash(&dk, sizeof(dk), 1));
            __builtin_prefetch(&s->dst.tags[hd[x] & s->dst.mask], 0);
        }
        /* the inside host of a flow across the boundary (membership known after its first
         * packet) */
        uint32_t af = f->anomaly_flags;
        if ((af & AF_NET) && !(af & AF_CIN) != !(af & AF_SIN)) {
            idx = hint_idx(&s->host, f->anomaly_slot[2]);
            if (idx != UINT32_MAX) {
                prefetch_entry(&s->host, idx, sizeof(struct host_ent));
            } else {
                bool src_in = dir == FLOW_TO_SERVER ? (af & AF_CIN) : (af & AF_SIN);
                struct akey hk;
                akey_set(&hk, src_in ? m[x].src : m[x].dst, v6);
                hh[x] = h32(sketch_hash(&hk, sizeof(hk), 4));
                __builtin_prefetch(&s->host.tags[hh[x] & s->host.mask], 0);
            }
        }
    }
}

void anomaly_burst(struct anomaly_worker *w, const struct pkt_meta *m, const uint8_t *res, unsigned n,
                   struct flow *const *flows, const enum flow_dir *dirs)
{
    if (!w->cfg->enabled || n == 0)
        return;
    uint64_t hd[ANOMALY_BURST_MAX], hh[ANOMALY_BURST_MAX];
    unsigned done = 0, j = 0;
    while (done < n) {
        unsigned k = n - done < ANOMALY_BURST_MAX ? n - done : ANOMALY_BURST_MAX;
        unsigned j0 = j;
        burst_prefetch(w, m + done, res + done, k, flows + j0, dirs + j0, hd, hh);
        for (unsigned x = 0; x < k; x++) {
            const struct pkt_meta *pm = &m[done + x];
            if (res[done + x] == DECODE_OK) {
                packet_one(w, pm, flows[j], dirs[j], hd[x], hh[x]);
                j++;
            } else if (res[done + x] == DECODE_INVALID) {
                anomaly_decode_invalid(w, pm);
            }
        }
        done += k;
    }
}

void anomaly_decode_invalid(struct anomaly_worker *w, const struct pkt_meta *m)
{
    const struct anomaly_config *c = w->cfg;
    if (!c->enabled || (m->ip_version != 4 && m->ip_version != 6))
        return;
    if (m->ts_ns >= w->win_end || w->cur == NULL)
        worker_roll(w, m->ts_ns);
    struct shard *s = w->cur;
    switch (m->reason) {
    case DEC_TCP_BAD_FLAGS: pa_add(s, PA_FLAGS, m); break;
    case DEC_FRAG_OVERLAP: pa_add(s, PA_FRAG, m); break;
    case DEC_IPV4_BAD_CHECKSUM:
    case DEC_TCP_BAD_CHECKSUM:
    case DEC_UDP_BAD_CHECKSUM:
        if (c->proto_bad_checksum)
            pa_add(s, PA_CSUM, m);
        break;
    default: break;
    }
}

void anomaly_flow_end(struct anomaly_worker *w, const struct flow *f)
{
    (void)w;
    (void)f; /* attempts and answers are counted at packet time, so the windows stay short */
}

/* ------------------------------------------------------------------------------------------ */
/* Merge */

/* Finds or creates src's key in t; a new entry takes src's values wholesale (the common case:
 * most keys of a window come from one worker), *fresh tells the caller nothing is left to add. */
static struct ahdr *merge_get(struct atab *t, const struct ahdr *src, bool *fresh)
{
    uint32_t before = t->n_used;
    t->no_zero = true;
    struct ahdr *h = atab_get(t, ekey((struct ahdr *)src), src->hash, true, false, 0);
    t->no_zero = false;
    *fresh = h != NULL && t->n_used != before;
    if (*fresh)
        memcpy((uint8_t *)(h + 1) + t->ksz, (const uint8_t *)(src + 1) + t->ksz,
               t->esz - sizeof(struct ahdr) - t->ksz);
    return h;
}

static void merge_shard(struct anomaly_shared *sh, const struct shard *src)
{
    bool fresh;
    struct shard *m = &sh->m;
    m->pkts += src->pkts;
    m->bytes += src->bytes;
    for (unsigned k = 0; k < PA_MAX; k++) {
        m->pa_count[k] += src->pa_count[k];
        sketch_topk_merge(m->pa_src[k], &m->pa_src_n[k], TOPK, src->pa_src[k], src->pa_src_n[k]);
        sketch_topk_merge(m->pa_dst[k], &m->pa_dst_n[k], TOPK, src->pa_dst[k], src->pa_dst_n[k]);
    }
    if (src->ovf_n > 0) {
        sketch_cms_merge(&m->ovf_cms, &src->ovf_cms);
        sketch_topk_merge(m->ovf_top, &m->ovf_n, OVF_TOPK, src->ovf_top, src->ovf_n);
    }
    sh->st.shard_overflow += shard_overflow(src);
    ATAB_FOREACH(&src->dst, h) {
        const struct dst_ent *e = (const struct dst_ent *)h;
        struct dst_ent *t = (struct dst_ent *)merge_get(&m->dst, h, &fresh);
        if (t == NULL || fresh)
            continue;
        t->pkts += e->pkts;
        t->syn += e->syn;
        t->est += e->est;
        t->udp += e->udp;
        t->udp_reply += e->udp_reply;
        t->icmp += e->icmp;
        t->bytes += e->bytes;
        t->udp_bytes += e->udp_bytes;
        t->icmp_bytes += e->icmp_bytes;
        t->refl_bytes += e->refl_bytes;
        /* lazy fields: copied where the target's are not live yet */
        if (e->opens > 0 && t->opens == 0) {
            memcpy(t->hist, e->hist, sizeof(t->hist));
            memcpy(t->src_hll, e->src_hll, HLL_M);
        } else if (e->opens > 0) {
            for (unsigned i = 0; i < 16; i++)
                t->hist[i] += e->hist[i];
            sketch_hll_merge(t->src_hll, e->src_hll, HLL_P);
        }
        t->opens += e->opens;
        if (e->refl > 0 && t->refl == 0)
            memcpy(t->refl_hll, e->refl_hll, HLL_M);
        else if (e->refl > 0)
            sketch_hll_merge(t->refl_hll, e->refl_hll, HLL_P);
        t->refl += e->refl;
        sketch_topk_merge(t->top, &t->top_n, TOPK, e->top, e->top_n);
    }
    ATAB_FOREACH(&src->src, h) {
        const struct src_ent *e = (const struct src_ent *)h;
        struct src_ent *t = (struct src_ent *)merge_get(&m->src, h, &fresh);
        if (t == NULL || fresh)
            continue;
        for (unsigned i = 0; i < e->n_sample; i++)
            sample_add(t->sample, &t->n_sample, e->sample[i], true);
        if (e->att > 0 && t->att == 0) {
            memcpy(t->hll_dst, e->hll_dst, HLL_M);
            memcpy(t->hll_port, e->hll_port, HLL_M);
        } else if (e->att > 0) {
            sketch_hll_merge(t->hll_dst, e->hll_dst, HLL_P);
            sketch_hll_merge(t->hll_port, e->hll_port, HLL_P);
        }
        if (e->icmp_att > 0 && t->icmp_att == 0)
            memcpy(t->hll_icmp, e->hll_icmp, HLL_M);
        else if (e->icmp_att > 0)
            sketch_hll_merge(t->hll_icmp, e->hll_icmp, HLL_P);
        t->att += e->att;
        t->ans += e->ans;
        t->icmp_att += e->icmp_att;
        t->icmp_ans += e->icmp_ans;
    }
    ATAB_FOREACH(&src->pair, h) {
        const struct pair_ent *e = (const struct pair_ent *)h;
        struct pair_ent *t = (struct pair_ent *)merge_get(&m->pair, h, &fresh);
        if (t == NULL || fresh)
            continue;
        if (t->conns == 0 || e->first_ts < t->first_ts)
            t->first_ts = e->first_ts;
        t->conns += e->conns;
    }
    ATAB_FOREACH(&src->host, h) {
        const struct host_ent *e = (const struct host_ent *)h;
        struct host_ent *t = (struct host_ent *)merge_get(&m->host, h, &fresh);
        if (t == NULL || fresh)
            continue;
        t->out += e->out;
        t->in += e->in;
        sketch_topk_merge(t->top, &t->top_n, 2, e->top, e->top_n);
    }
    ATAB_FOREACH(&src->dns, h) {
        const struct dns_ent *e = (const struct dns_ent *)h;
        struct dns_ent *t = (struct dns_ent *)merge_get(&m->dns, h, &fresh);
        if (t == NULL || fresh)
            continue;
        if (t->queries == 0)
            memcpy(t->domain, e->domain, sizeof(t->domain));
        t->queries += e->queries;
        t->odd_qtype += e->odd_qtype;
        t->sub_len += e->sub_len;
        t->ent_milli += e->ent_milli;
        sketch_hll_merge(t->hll, e->hll, HLL_P);
    }
}

/* --- observations ------------------------------------------------------------------------- */

static struct obs *obs_new(struct anomaly_shared *sh, enum anomaly_class cls, const void *key,
                           size_t klen)
{
    if (sh->n_obs >= sh->max_obs) {
        sh->st.incident_overflow++;
        return NULL;
    }
    struct obs *o = &sh->obs[sh->n_obs++];
    memset(o, 0, sizeof(*o));
    o->cls = (uint8_t)cls;
    memcpy(o->key, key, klen < OKEY ? klen : OKEY);
    o->net = -1;
    o->quiet_ns = (uint64_t)sh->cfg.end_quiet_s * 1000000000ull;
    return o;
}

static void obs_metric(struct obs *o, const char *name, double v)
{
    if (o->n_metrics < DETECTION_MAX_METRICS) {
        o->metric[o->n_metrics].name = name;
        o->metric[o->n_metrics].value = v;
        o->n_metrics++;
    }
}

static void obs_peer(struct obs *o, bool attacker, const uint8_t *a, bool v6)
{
    uint8_t(*arr)[16] = attacker ? o->att : o->vic;
    uint8_t *n = attacker ? &o->n_att : &o->n_vic;
    uint8_t k[16] = {0};
    memcpy(k, a, v6 ? 16 : 4);
    for (unsigned i = 0; i < *n; i++)
        if (memcmp(arr[i], k, 16) == 0)
            return;
    if (*n >= TOPK)
        return;
    memcpy(arr[(*n)++], k, 16);
    if (attacker)
        o->att_v6 = v6;
    else
        o->vic_v6 = v6;
}

static inline void ewma_update(struct ewma *e, double x, double a)
{
    double d = x - e->m;
    e->m += a * d;
    e->v = (1 - a) * (e->v + a * d * d);
}

/* Threshold from the floor and, once learned, the baseline. */
static double thr_of(const struct anomaly_config *c, double floor, const struct ewma *e, bool learned)
{
    double t = floor;
    if (learned) {
        double b = e->m + c->baseline_sigmas * sqrt(e->v > 0 ? e->v : 0);
        if (b > t)
            t = b;
        if (c->baseline_factor * e->m > t)
            t = c->baseline_factor * e->m;
    }
    return t;
}

static void epoch_shift(uint64_t *epoch, uint64_t now_epoch, void (*clear)(void *, int), void *e)
{
    if (*epoch == now_epoch)
        return;
    if (*epoch + 1 == now_epoch) {
        clear(e, 1); /* current becomes previous */
    } else {
        clear(e, 0);
        clear(e, 1);
    }
    *epoch = now_epoch;
}

/* clear(e, 1): move slot 0 to slot 1 and zero slot 0; clear(e, 0): zero slot 1 */
static void scan_shift(void *p, int mv)
{
    struct scan_ent *e = p;
    if (mv) {
        e->att[1] = e->att[0];
        e->ans[1] = e->ans[0];
        e->icmp_att[1] = e->icmp_att[0];
        e->icmp_ans[1] = e->icmp_ans[0];
        memcpy(e->hll_dst[1], e->hll_dst[0], HLL_M);
        memcpy(e->hll_port[1], e->hll_port[0], HLL_M);
        memcpy(e->hll_icmp[1], e->hll_icmp[0], HLL_M);
    } else {
        e->att[1] = e->ans[1] = e->icmp_att[1] = e->icmp_ans[1] = 0;
        memset(e->hll_dst[1], 0, HLL_M);
        memset(e->hll_port[1], 0, HLL_M);
        memset(e->hll_icmp[1], 0, HLL_M);
        e->n_sample = 0;
    }
    e->att[0] = e->ans[0] = e->icmp_att[0] = e->icmp_ans[0] = 0;
    memset(e->hll_dst[0], 0, HLL_M);
    memset(e->hll_port[0], 0, HLL_M);
    memset(e->hll_icmp[0], 0, HLL_M);
}

static void bf_shift(void *p, int mv)
{
    struct bf_ent *e = p;
    e->conns[1] = mv ? e->conns[0] : 0;
    e->conns[0] = 0;
}

static void spray_shift(void *p, int mv)
{
    struct spray_ent *e = p;
    e->conns[1] = mv ? e->conns[0] : 0;
    if (mv)
        memcpy(e->hll[1], e->hll[0], HLL_M);
    else {
        memset(e->hll[1], 0, HLL_M);
        e->n_sample = 0;
    }
    e->conns[0] = 0;
    memset(e->hll[0], 0, HLL_M);
}

static void dnsl_shift(void *p, int mv)
{
    struct dnsl_ent *e = p;
    if (mv) {
        e->queries[1] = e->queries[0];
        e->odd[1] = e->odd[0];
        e->sub_len[1] = e->sub_len[0];
        e->ent_milli[1] = e->ent_milli[0];
        memcpy(e->hll[1], e->hll[0], HLL_M);
    } else {
        e->queries[1] = e->odd[1] = 0;
        e->sub_len[1] = e->ent_milli[1] = 0;
        memset(e->hll[1], 0, HLL_M);
    }
    e->queries[0] = e->odd[0] = 0;
    e->sub_len[0] = e->ent_milli[0] = 0;
    memset(e->hll[0], 0, HLL_M);
}

static double hll2(const uint8_t (*h)[HLL_M])
{
    uint8_t t[HLL_M];
    memcpy(t, h[0], HLL_M);
    sketch_hll_merge(t, h[1], HLL_P);
    return sketch_hll_count(t, HLL_P);
}

/* --- detectors on a merged window --------------------------------------------------------- */

static void detect_floods(struct anomaly_shared *sh, uint64_t now)
{
    const struct anomaly_config *c = &sh->cfg;
    double per_s = 1000.0 / c->window_ms;
    double min_pps = c->syn_pps;
    if (c->udp_pps < min_pps)
        min_pps = c->udp_pps;
    if (c->icmp_pps < min_pps)
        min_pps = c->icmp_pps;
    if (c->refl_pps < min_pps)
        min_pps = c->refl_pps;
    double min_bps = (double)c->udp_bps;
    if ((double)c->icmp_bps < min_bps)
        min_bps = (double)c->icmp_bps;
    if ((double)c->refl_bps < min_bps)
        min_bps = (double)c->refl_bps;
    ATAB_FOREACH(&sh->cur->dst, h) {
        ll_prefetch(&sh->cur->dst, _i, &sh->base, NULL, 0);
        struct dst_ent *e = (struct dst_ent *)h;
        bool v6 = e->k.v6;
        /* below every floor nothing can alarm, and baselines only ever raise thresholds above
         * the floors: such a destination needs no baseline entry (skipping its quiet windows
         * keeps the baseline on the high, cautious side) */
        if (e->pkts * per_s < min_pps && e->bytes * 8.0 * per_s < min_bps &&
            atab_get(&sh->base, &e->k, h->hash, false, false, now) == NULL)
            continue;
        struct base_ent *b = (struct base_ent *)atab_get(&sh->base, &e->k, h->hash, true, true, now);
        if (b == NULL)
            continue;
        if (b->first_ns == 0)
            b->first_ns = now;
        bool learned = now - b->first_ns >= (uint64_t)c->learning_s * 1000000000ull;

        double syn = e->syn * per_s;
        double t_syn = thr_of(c, c->syn_pps, &b->syn, learned);
        double compl = e->syn ? (double)e->est / e->syn : 1;
        bool a_syn = syn >= t_syn && compl <= c->syn_complete_max;

        double udp = e->udp * per_s, udp_b = e->udp_bytes * 8.0 * per_s;
        double t_udp = thr_of(c, c->udp_pps, &b->udp, learned);
        double t_udp_b = thr_of(c, (double)c->udp_bps, &b->udp_b, learned);
        double reply = e->udp ? (double)e->udp_reply / e->udp : 1;
        bool a_udp = (udp >= t_udp || udp_b >= t_udp_b) && reply <= c->udp_reply_max;

        double icmp = e->icmp * per_s, icmp_b = e->icmp_bytes * 8.0 * per_s;
        double t_icmp = thr_of(c, c->icmp_pps, &b->icmp, learned);
        double t_icmp_b = thr_of(c, (double)c->icmp_bps, &b->icmp_b, learned);
        bool a_icmp = icmp >= t_icmp || icmp_b >= t_icmp_b;

        double refl = e->refl * per_s, refl_b = e->refl_bytes * 8.0 * per_s;
        bool a_refl = false;
        double reflectors = 0;
        if (refl >= c->refl_pps || refl_b >= (double)c->refl_bps) {
            reflectors = e->refl > 0 ? sketch_hll_count(e->refl_hll, HLL_P) : 0;
            a_refl = reflectors >= c->refl_min_reflectors;
        }
        /* the rest only matters for a destination that alarms (most windows: none) */
        double srcs = 0, ent = 0;
        int net = -1;
        if (a_syn || a_udp || a_icmp || a_refl) {
            srcs = e->opens > 0 ? sketch_hll_count(e->src_hll, HLL_P) : 0;
            ent = e->opens > 0 ? sketch_entropy(e->hist, 16) : 0;
            sketch_topk_sort(e->top, e->top_n);
            net = anomaly_net_match(c, e->k.a, v6);
        }

        struct {
            bool on;
            enum anomaly_class cls;
            double v, t, vb, tb;
            uint8_t proto;
        } cand[4] = {
            {a_syn, ANOM_SYN_FLOOD, syn, t_syn, 0, 0, 6},
            {a_udp, ANOM_UDP_FLOOD, udp, t_udp, udp_b, t_udp_b, 17},
            {a_icmp, ANOM_ICMP_FLOOD, icmp, t_icmp, icmp_b, t_icmp_b, 1},
            {a_refl, ANOM_REFLECTION, refl, c->refl_pps, refl_b, (double)c->refl_bps, 17},
        };
        for (unsigned i = 0; i < 4; i++) {
            if (!cand[i].on)
                continue;
            struct obs *o = obs_new(sh, cand[i].cls, &e->k, sizeof(e->k));
            if (o == NULL)
                break;
            o->proto = cand[i].proto;
            obs_peer(o, false, e->k.a, v6);
            for (unsigned j = 0; j < e->top_n; j++)
                obs_peer(o, true, e->top[j].key, v6);
            double r1 = cand[i].t > 0 ? cand[i].v / cand[i].t : 0;
            double r2 = cand[i].tb > 0 ? cand[i].vb / cand[i].tb : 0;
            o->ratio = r1 > r2 ? r1 : r2;
            o->net = net;
            obs_metric(o, "pps", cand[i].v);
            obs_metric(o, "bps", cand[i].vb > 0 ? cand[i].vb : e->bytes * 8.0 * per_s);
            obs_metric(o, "threshold_pps", cand[i].t);
            if (cand[i].cls == ANOM_REFLECTION) {
                obs_metric(o, "reflectors", reflectors);
                obs_metric(o, "threshold_reflectors", c->refl_min_reflectors);
            } else {
                obs_metric(o, "sources", srcs);
                obs_metric(o, "src_entropy", ent);
                obs_metric(o, "distributed", srcs >= c->distributed_sources ? 1 : 0);
            }
            /* a flooding source's random ports or hosts are not a scan: mute its scan counts */
            for (unsigned j = 0; j < e->top_n; j++) {
                if (e->top[j].count * 4u < e->pkts)
                    continue;
                struct akey ak;
                akey_set(&ak, e->top[j].key, v6);
                struct scan_ent *se = (struct scan_ent *)atab_get(
                    &sh->scan, &ak, h32(sketch_hash(&ak, sizeof(ak), 2)), true, true, now);
                if (se != NULL)
                    se->mute_until = now + 2ull * c->scan_epoch_s * 1000000000ull;
            }
            if (cand[i].cls == ANOM_SYN_FLOOD)
                obs_metric(o, "handshake_completion", compl);
            else if (cand[i].cls == ANOM_UDP_FLOOD)
                obs_metric(o, "reply_ratio", reply);
            obs_metric(o, "baseline_learned", learned ? 1 : 0);
        }
        /* baselines learn only from windows that were not anomalous */
        if (!a_syn)
            ewma_update(&b->syn, syn, c->ewma_alpha);
        if (!a_udp) {
            ewma_update(&b->udp, udp, c->ewma_alpha);
            ewma_update(&b->udp_b, udp_b, c->ewma_alpha);
        }
        if (!a_icmp) {
            ewma_update(&b->icmp, icmp, c->ewma_alpha);
            ewma_update(&b->icmp_b, icmp_b, c->ewma_alpha);
        }
    }
    /* destinations that did not fit the window table: floors only */
    sketch_topk_sort(sh->cur->ovf_top, sh->cur->ovf_n);
    for (unsigned i = 0; i < sh->cur->ovf_n; i++) {
        const uint8_t *a = sh->cur->ovf_top[i].key;
        uint64_t hd = sketch_hash(a, 16, 10);
        double syn = sketch_cms_estimate(&sh->cur->ovf_cms, hd ^ 0x5e5e5e5e5e5e5e5eull) * per_s;
        double udp = sketch_cms_estimate(&sh->cur->ovf_cms, hd ^ 0x1717171717171717ull) * per_s;
        double icmp = sketch_cms_estimate(&sh->cur->ovf_cms, hd ^ 0x0101010101010101ull) * per_s;
        enum anomaly_class cls;
        double v, t;
        if (syn >= c->syn_pps)
            cls = ANOM_SYN_FLOOD, v = syn, t = c->syn_pps;
        else if (udp >= c->udp_pps)
            cls = ANOM_UDP_FLOOD, v = udp, t = c->udp_pps;
        else if (icmp >= c->icmp_pps)
            cls = ANOM_ICMP_FLOOD, v = icmp, t = c->icmp_pps;
        else
            continue;
        /* v6 unknown here: an address with 12 zero trailing bytes is taken as IPv4 */
        static const uint8_t zero[12];
        bool v6 = memcmp(a + 4, zero, 12) != 0;
        struct akey k;
        akey_set(&k, a, v6);
        struct obs *o = obs_new(sh, cls, &k, sizeof(k));
        if (o == NULL)
            break;
        obs_peer(o, false, a, v6);
        o->ratio = v / t;
        o->net = anomaly_net_match(c, a, v6);
        obs_metric(o, "pps", v);
        obs_metric(o, "threshold_pps", t);
        obs_metric(o, "estimated", 1);
    }
}

static void scan_cms_empty(struct anomaly_shared *sh, int i)
{
    if (sh->scan_undo_n[i] > SCAN_UNDO) {
        sketch_cms_clear(&sh->scan_cms[i]);
    } else {
        for (uint32_t k = 0; k < sh->scan_undo_n[i]; k++)
            sketch_cms_sub(&sh->scan_cms[i], sh->scan_undo[i][k].h, sh->scan_undo[i][k].n);
    }
    sh->scan_undo_n[i] = 0;
}

static void detect_scans(struct anomaly_shared *sh, uint64_t now)
{
    const struct anomaly_config *c = &sh->cfg;
    uint64_t ep = now / ((uint64_t)c->scan_epoch_s * 1000000000ull);
    if (sh->scan_cms_epoch != ep && sh->cur->src.n_used > 0) {
        /* the previous epoch's counts move to the second sketch; the one reused is emptied */
        scan_cms_empty(sh, 1);
        struct sketch_cms tmp = sh->scan_cms[1];
        sh->scan_cms[1] = sh->scan_cms[0];
        sh->scan_cms[0] = tmp;
        uint32_t nu = sh->scan_undo_n[1];
        sh->scan_undo_n[1] = sh->scan_undo_n[0];
        sh->scan_undo_n[0] = nu;
        struct cms_undo *ub = sh->scan_undo[1];
        sh->scan_undo[1] = sh->scan_undo[0];
        sh->scan_undo[0] = ub;
        if (sh->scan_cms_epoch + 1 != ep)
            scan_cms_empty(sh, 1);
        sh->scan_cms_epoch = ep;
    }
    ATAB_FOREACH(&sh->cur->src, h) {
        ll_prefetch(&sh->cur->src, _i, &sh->scan, NULL, 0);
        const struct src_ent *e = (const struct src_ent *)h;
        /* a source gets a scan entry once it made a few attempts in the last two epochs (Count-Min
         * estimate): one-packet sources (spoofed floods, ordinary clients) stay in the sketch and
         * cost no table churn */
        struct scan_ent *t = (struct scan_ent *)atab_get(&sh->scan, &e->k, h->hash, false, false, now);
        if (t == NULL) {
            uint32_t n = e->att + e->icmp_att;
            if (n == 0)
                continue;
            uint64_t h64 = ((uint64_t)h->hash + 1) * 0x9E3779B97F4A7C15ull; /* spread over rows */
            sketch_cms_add(&sh->scan_cms[0], h64, n);
            /* remember small epochs' adds: emptying them by subtraction is cheaper than a
             * memset of the sketch when time jumps over many epochs */
            if (sh->scan_undo_n[0] < SCAN_UNDO)
                sh->scan_undo[0][sh->scan_undo_n[0]] = (struct cms_undo){h64, n};
            sh->scan_undo_n[0]++;
            uint32_t est = sketch_cms_estimate(&sh->scan_cms[0], h64) +
                           sketch_cms_estimate(&sh->scan_cms[1], h64);
            if (est < SCAN_PROMOTE)
                continue;
            t = (struct scan_ent *)atab_get(&sh->scan, &e->k, h->hash, true, true, now);
            if (t == NULL)
                continue;
        }
        epoch_shift(&t->epoch, ep, scan_shift, t);
        t->att[0] += e->att;
        t->ans[0] += e->ans;
        t->icmp_att[0] += e->icmp_att;
        t->icmp_ans[0] += e->icmp_ans;
        for (unsigned i = 0; i < e->n_sample; i++)
            sample_add(t->sample, &t->n_sample, e->sample[i], true);
        if (e->att > 0) {
            sketch_hll_merge(t->hll_dst[0], e->hll_dst, HLL_P);
            sketch_hll_merge(t->hll_port[0], e->hll_port, HLL_P);
        }
        if (e->icmp_att > 0)
            sketch_hll_merge(t->hll_icmp[0], e->hll_icmp, HLL_P);

        bool v6 = e->k.v6;
        double att = t->att[0] + t->att[1], ans = t->ans[0] + t->ans[1];
        double fail = att > 0 ? (att - (ans < att ? ans : att)) / att : 0;
        double iatt = t->icmp_att[0] + t->icmp_att[1], ians = t->icmp_ans[0] + t->icmp_ans[1];
        double ifail = iatt > 0 ? (iatt - (ians < iatt ? ians : iatt)) / iatt : 0;
        if (now < t->mute_until)
            continue;
        /* distinct counts only where a class can fire (every class needs its failed ratio):
         * most sources are clients whose attempts are answered */
        double hosts = 0, ports = 0;
        if (att >= 2 && fail >= c->scan_fail_min) {
            hosts = hll2((const uint8_t(*)[HLL_M])t->hll_dst);
            ports = hll2((const uint8_t(*)[HLL_M])t->hll_port);
        }
        double ihosts = iatt >= 2 && ifail >= c->scan_fail_min
                            ? hll2((const uint8_t(*)[HLL_M])t->hll_icmp) : 0;

        enum anomaly_class cls = ANOM_CLASS_MAX;
        double v = 0, thr = 1;
        if (hosts >= c->hscan_hosts && fail >= c->scan_fail_min)
            cls = ANOM_SCAN_HORIZONTAL, v = hosts, thr = c->hscan_hosts;
        else if (ports >= c->vscan_ports && hosts <= 4 && fail >= c->scan_fail_min)
            cls = ANOM_SCAN_VERTICAL, v = ports, thr = c->vscan_ports;
        if (cls != ANOM_CLASS_MAX) {
            struct obs *o = obs_new(sh, cls, &e->k, sizeof(e->k));
            if (o != NULL) {
                o->proto = 6;
                obs_peer(o, true, e->k.a, v6);
                for (unsigned i = 0; i < t->n_sample; i++)
                    obs_peer(o, false, t->sample[i], v6);
                o->ratio = v / thr;
                o->net = o->n_vic ? anomaly_net_match(c, o->vic[0], v6) : -1;
                o->quiet_ns = (uint64_t)c->scan_epoch_s * 1000000000ull;
                obs_metric(o, "distinct_hosts", hosts);
                obs_metric(o, "distinct_ports", ports);
                obs_metric(o, "attempts", att);
                obs_metric(o, "failed_ratio", fail);
                obs_metric(o, "threshold", thr);
            }
        }
        if (ihosts >= c->sweep_hosts && ifail >= c->scan_fail_min) {
            struct obs *o = obs_new(sh, ANOM_HOST_SWEEP, &e->k, sizeof(e->k));
            if (o != NULL) {
                o->proto = 1;
                obs_peer(o, true, e->k.a, v6);
                for (unsigned i = 0; i < t->n_sample; i++)
                    obs_peer(o, false, t->sample[i], v6);
                o->ratio = ihosts / c->sweep_hosts;
                o->net = o->n_vic ? anomaly_net_match(c, o->vic[0], v6) : -1;
                o->quiet_ns = (uint64_t)c->scan_epoch_s * 1000000000ull;
                obs_metric(o, "distinct_hosts", ihosts);
                obs_metric(o, "attempts", iatt);
                obs_metric(o, "failed_ratio", ifail);
                obs_metric(o, "threshold", c->sweep_hosts);
            }
        }
    }
}

static double beacon_stats(const struct beacon_ent *b, unsigned n, double *mean)
{
    double s = 0, s2 = 0;
    for (unsigned i = 0; i < n; i++) {
        double x = b->ring[(b->n - 1 - i) % BEACON_RING];
        s += x;
        s2 += x * x;
    }
    *mean = s / n;
    double var = s2 / n - *mean * *mean;
    return *mean > 0 ? sqrt(var > 0 ? var : 0) / *mean : 1e9;
}

static void detect_pairs(struct anomaly_shared *sh, uint64_t now)
{
    const struct anomaly_config *c = &sh->cfg;
    uint64_t ep = now / ((uint64_t)c->bf_epoch_s * 1000000000ull);
    ATAB_FOREACH(&sh->cur->pair, h) {
        ll_prefetch(&sh->cur->pair, _i, &sh->bf, &sh->beacon, offsetof(struct pkey, kind));
        const struct pair_ent *e = (const struct pair_ent *)h;
        bool v6 = e->k.v6;
        if (e->k.kind == PAIR_AUTH) {
            struct bf_ent *t = (struct bf_ent *)atab_get(&sh->bf, &e->k, h->hash, true, true, now);
            if (t != NULL) {
                epoch_shift(&t->epoch, ep, bf_shift, t);
                t->conns[0] += e->conns;
                double n = t->conns[0] + t->conns[1];
                if (n >= c->bf_conns) {
                    struct obs *o = obs_new(sh, ANOM_BRUTE_FORCE, &e->k, sizeof(e->k));
                    if (o != NULL) {
                        o->proto = 6;
                        obs_peer(o, true, e->k.src, v6);
                        obs_peer(o, false, e->k.dst, v6);
                        o->port = e->k.port;
                        o->ratio = n / c->bf_conns;
                        o->net = anomaly_net_match(c, e->k.dst, v6);
                        o->quiet_ns = (uint64_t)c->bf_epoch_s * 1000000000ull;
                        obs_metric(o, "sessions", n);
                        obs_metric(o, "threshold", c->bf_conns);
                        obs_metric(o, "window_s", 2.0 * c->bf_epoch_s);
                    }
                }
            }
            /* spraying: one source, one auth port, many hosts */
            struct akey sk;
            akey_set(&sk, e->k.src, v6);
            memcpy(sk.pad, &e->k.port, 2);
            struct spray_ent *sp = (struct spray_ent *)atab_get(
                &sh->spray, &sk, h32(sketch_hash(&sk, sizeof(sk), 13)), true, true, now);
            if (sp != NULL) {
                epoch_shift(&sp->epoch, ep, spray_shift, sp);
                sp->conns[0] += e->conns;
                sketch_hll_add(sp->hll[0], HLL_P, sketch_hash(e->k.dst, 16, 14));
                sample_add(sp->sample, &sp->n_sample, e->k.dst, v6);
            }
        } else if (e->k.kind == PAIR_BEACON) {
            struct beacon_ent *b = (struct beacon_ent *)atab_get(&sh->beacon, &e->k, h->hash, true, true, now);
            if (b == NULL)
                continue;
            /* starts closer than half the minimum period belong to one check-in */
            if (b->last_ts != 0 && e->first_ts < b->last_ts + (uint64_t)c->beacon_min_period_s * 500000000ull)
                continue;
            if (b->last_ts != 0) {
                uint64_t iv = (e->first_ts - b->last_ts) / 1000000ull;
                if (iv > UINT32_MAX)
                    iv = UINT32_MAX;
                b->ring[b->n % BEACON_RING] = (uint32_t)iv;
                b->n++;
            }
            b->last_ts = e->first_ts;
            unsigned n = b->n < BEACON_RING ? b->n : BEACON_RING;
            if (n < c->beacon_min_intervals)
                continue;
            double mean;
            double cv = beacon_stats(b, n, &mean);
            if (cv > c->beacon_max_cv || mean < c->beacon_min_period_s * 1000.0 ||
                mean > c->beacon_max_period_s * 1000.0)
                continue;
            struct obs *o = obs_new(sh, ANOM_BEACONING, &e->k, sizeof(e->k));
            if (o == NULL)
                continue;
            o->proto = 6;
            obs_peer(o, true, e->k.src, v6);
            obs_peer(o, false, e->k.dst, v6);
            o->port = e->k.port;
            o->ratio = cv > 0 ? c->beacon_max_cv / cv : 16;
            o->net = anomaly_net_match(c, e->k.src, v6);
            o->quiet_ns = (uint64_t)(3.0 * mean * 1000000.0);
            obs_metric(o, "interval_s", mean / 1000.0);
            obs_metric(o, "interval_cv", cv);
            obs_metric(o, "intervals", n);
            obs_metric(o, "threshold_cv", c->beacon_max_cv);
        }
    }
    /* spray verdicts after all pairs of the window are in */
    ATAB_FOREACH(&sh->cur->pair, h) {
        const struct pair_ent *e = (const struct pair_ent *)h;
        if (e->k.kind != PAIR_AUTH)
            continue;
        bool v6 = e->k.v6;
        struct akey sk;
        akey_set(&sk, e->k.src, v6);
        memcpy(sk.pad, &e->k.port, 2);
        struct spray_ent *sp = (struct spray_ent *)atab_get(
            &sh->spray, &sk, h32(sketch_hash(&sk, sizeof(sk), 13)), false, false, now);
        if (sp == NULL)
            continue;
        double hosts = hll2((const uint8_t(*)[HLL_M])sp->hll);
        double n = sp->conns[0] + sp->conns[1];
        if (hosts < c->bf_spray_hosts || n < c->bf_spray_hosts)
            continue;
        struct obs *o = obs_new(sh, ANOM_BRUTE_FORCE, &sk, sizeof(sk));
        if (o == NULL)
            break;
        /* the same spray source appears once per destination pair: one observation is enough */
        bool dup = false;
        for (uint32_t i = 0; i + 1 < sh->n_obs; i++)
            if (sh->obs[i].cls == ANOM_BRUTE_FORCE && memcmp(sh->obs[i].key, o->key, OKEY) == 0)
                dup = true;
        if (dup) {
            sh->n_obs--;
            continue;
        }
        o->proto = 6;
        obs_peer(o, true, e->k.src, v6);
        for (unsigned i = 0; i < sp->n_sample; i++)
            obs_peer(o, false, sp->sample[i], v6);
        o->port = e->k.port;
        o->ratio = hosts / c->bf_spray_hosts;
        o->net = o->n_vic ? anomaly_net_match(c, o->vic[0], v6) : -1;
        o->quiet_ns = (uint64_t)c->bf_epoch_s * 1000000000ull;
        obs_metric(o, "distinct_hosts", hosts);
        obs_metric(o, "sessions", n);
        obs_metric(o, "threshold_hosts", c->bf_spray_hosts);
        obs_metric(o, "sprayed", 1);
    }
}

static void detect_dns(struct anomaly_shared *sh, uint64_t now)
{
    const struct anomaly_config *c = &sh->cfg;
    uint64_t ep = now / ((uint64_t)c->dns_epoch_s * 1000000000ull);
    ATAB_FOREACH(&sh->cur->dns, h) {
        ll_prefetch(&sh->cur->dns, _i, &sh->dnsl, NULL, 0);
        const struct dns_ent *e = (const struct dns_ent *)h;
        struct dnsl_ent *t = (struct dnsl_ent *)atab_get(&sh->dnsl, &e->k, h->hash, true, true, now);
        if (t == NULL)
            continue;
        epoch_shift(&t->epoch, ep, dnsl_shift, t);
        if (t->domain[0] == '\0')
            memcpy(t->domain, e->domain, sizeof(t->domain));
        t->queries[0] += e->queries;
        t->odd[0] += e->odd_qtype;
        t->sub_len[0] += e->sub_len;
        t->ent_milli[0] += e->ent_milli;
        sketch_hll_merge(t->hll[0], e->hll, HLL_P);
        double q = t->queries[0] + t->queries[1];
        if (q <= 0)
            continue;
        double mlen = (t->sub_len[0] + t->sub_len[1]) / q;
        double ment = (t->ent_milli[0] + t->ent_milli[1]) / q / 1000.0;
        bool whole = t->domain[0] == '*';
        if (!whole && mlen < c->dns_mean_len && ment < c->dns_mean_entropy)
            continue;
        /* whole names: ordinary ones are short, so both length and entropy must be high */
        if (whole && (mlen < c->dns_src_mean_len || ment < c->dns_mean_entropy))
            continue;
        /* the distinct count last: most names fail the cheap tests above */
        double subs = hll2((const uint8_t(*)[HLL_M])t->hll);
        if (subs < c->dns_subdomains)
            continue;
        /* one incident per source, whichever view saw it */
        struct akey ik;
        akey_set(&ik, e->k.src, e->k.v6);
        struct obs *o = obs_new(sh, ANOM_DNS_TUNNEL, &ik, sizeof(ik));
        if (o == NULL)
            break;
        bool v6 = e->k.v6;
        o->proto = 17;
        obs_peer(o, true, e->k.src, v6);
        o->port = 53;
        o->ratio = subs / c->dns_subdomains;
        o->net = anomaly_net_match(c, e->k.src, v6);
        o->quiet_ns = (uint64_t)c->dns_epoch_s * 1000000000ull;
        obs_metric(o, "distinct_subdomains", subs);
        obs_metric(o, "queries", q);
        obs_metric(o, "mean_subdomain_len", mlen);
        obs_metric(o, "mean_entropy", ment);
        obs_metric(o, "odd_qtype_ratio", (t->odd[0] + t->odd[1]) / q);
        obs_metric(o, "threshold_subdomains", c->dns_subdomains);
    }
}

static void detect_exfil(struct anomaly_shared *sh, uint64_t now, uint64_t wid)
{
    const struct anomaly_config *c = &sh->cfg;
    double per_s = 1000.0 / c->window_ms;
    double af = (double)c->window_ms / 1000.0 / c->exfil_tau_s;
    if (af > 1)
        af = 1;
    ATAB_FOREACH(&sh->cur->host, h) {
        ll_prefetch(&sh->cur->host, _i, &sh->hostb, NULL, 0);
        struct host_ent *e = (struct host_ent *)h;
        struct hostb_ent *b = (struct hostb_ent *)atab_get(&sh->hostb, &e->k, h->hash, true, true, now);
        if (b == NULL)
            continue;
        if (b->first_ns == 0) {
            b->first_ns = now;
            b->last_w = wid;
        }
        double out = e->out * per_s, in = e->in * per_s;
        /* windows without traffic count as zeros for the fast average */
        if (wid > b->last_w + 1) {
            double decay = pow(1 - af, (double)(wid - b->last_w - 1));
            b->fast_out *= decay;
            b->fast_in *= decay;
        }
        b->last_w = wid;
        b->fast_out += af * (out - b->fast_out);
        b->fast_in += af * (in - b->fast_in);
        sketch_topk_sort(e->top, e->top_n);
        if (e->top_n > 0)
            memcpy(b->top, e->top[0].key, 16);
        bool learned = now - b->first_ns >= (uint64_t)c->learning_s * 1000000000ull;
        double thr = learned ? thr_of(c, c->exfil_bps / 8.0, &b->base, true) : c->exfil_unlearned_bps / 8.0;
        double ratio = b->fast_out / (b->fast_in > 1 ? b->fast_in : 1);
        bool alarm = b->fast_out >= thr && ratio >= c->exfil_ratio;
        b->alarm = alarm;
        /* the baseline is slow and learns only from ordinary windows, so that a rising upload
         * cannot teach it its own level before the fast average crosses the threshold */
        if (!alarm && out < thr) {
            double ab = (double)c->window_ms / 1000.0 / c->exfil_baseline_tau_s;
            ewma_update(&b->base, out, ab > 1 ? 1 : ab);
        }
        if (!alarm)
            continue;
        struct obs *o = obs_new(sh, ANOM_EXFILTRATION, &e->k, sizeof(e->k));
        if (o == NULL)
            break;
        bool v6 = e->k.v6;
        o->proto = 6;
        obs_peer(o, true, e->k.a, v6);
        obs_peer(o, false, b->top, v6);
        o->ratio = b->fast_out / thr;
        o->net = anomaly_net_match(c, e->k.a, v6);
        o->quiet_ns = (uint64_t)c->exfil_tau_s * 1000000000ull; /* the average moves that slowly */
        obs_metric(o, "out_bps", b->fast_out * 8);
        obs_metric(o, "in_bps", b->fast_in * 8);
        obs_metric(o, "out_in_ratio", ratio);
        obs_metric(o, "baseline_bps", b->base.m * 8);
        obs_metric(o, "threshold_bps", thr * 8);
        obs_metric(o, "baseline_learned", learned ? 1 : 0);
    }
}

static void detect_protocol(struct anomaly_shared *sh)
{
    const struct anomaly_config *c = &sh->cfg;
    const uint32_t thr[PA_MAX] = {c->proto_bad_flags, c->proto_frag_overlap, c->proto_ttl_change,
                                  c->proto_bad_checksum};
    struct shard *m = sh->cur;
    for (unsigned k = 0; k < PA_MAX; k++) {
        if (thr[k] == 0 || m->pa_count[k] < thr[k] || m->pa_dst_n[k] == 0)
            continue;
        sketch_topk_sort(m->pa_src[k], m->pa_src_n[k]);
        sketch_topk_sort(m->pa_dst[k], m->pa_dst_n[k]);
        uint8_t key[20] = {0};
        key[0] = (uint8_t)k;
        memcpy(key + 1, m->pa_dst[k][0].key, 16);
        struct obs *o = obs_new(sh, ANOM_PROTOCOL, key, sizeof(key));
        if (o == NULL)
            break;
        static const uint8_t zero[12];
        bool v6 = memcmp(m->pa_dst[k][0].key + 4, zero, 12) != 0;
        for (unsigned i = 0; i < m->pa_src_n[k]; i++)
            obs_peer(o, true, m->pa_src[k][i].key, v6);
        for (unsigned i = 0; i < m->pa_dst_n[k]; i++)
            obs_peer(o, false, m->pa_dst[k][i].key, v6);
        o->ratio = (double)m->pa_count[k] / thr[k];
        o->net = anomaly_net_match(c, m->pa_dst[k][0].key, v6);
        obs_metric(o, pa_names[k], m->pa_count[k] * 1000.0 / c->window_ms);
        obs_metric(o, "threshold", thr[k]);
        obs_metric(o, "kind", k);
    }
}

/* --- incidents ----------------------------------------------------------------------------- */

static int obs_cmp(const void *a, const void *b)
{
    const struct obs *x = a, *y = b;
    if (x->cls != y->cls)
        return x->cls < y->cls ? -1 : 1;
    return memcmp(x->key, y->key, OKEY);
}

static bool emit_detection(struct anomaly_shared *sh, const struct inc_ent *inc, uint8_t phase,
                           uint64_t now, event_emit_fn emit, void *ctx)
{
    const struct obs *o = &inc->last;
    const struct anomaly_config *c = &sh->cfg;
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_DETECTION;
    ev.ts_ns = now;
    struct event_detection *d = &ev.u.detection;
    d->class_name = anomaly_class_name((enum anomaly_class)o->cls);
    d->sid = 2000001u + o->cls;
    d->phase = phase;
    unsigned crit = o->net >= 0 ? c->networks[o->net].criticality : 4;
    d->severity = anomaly_severity(inc->peak_ratio, crit);
    d->n_attackers = o->n_att;
    d->n_victims = o->n_vic;
    memcpy(d->attacker, o->att, sizeof(d->attacker));
    memcpy(d->victim, o->vic, sizeof(d->victim));
    d->attacker_v6 = o->att_v6;
    d->victim_v6 = o->vic_v6;
    d->victim_port = o->port;
    d->start_ns = inc->start_ns;
    d->incident_id = inc->id;
    d->n_metrics = o->n_metrics;
    for (unsigned i = 0; i < o->n_metrics; i++) {
        d->metric[i].name = o->metric[i].name;
        d->metric[i].value = o->metric[i].value;
    }
    if (phase == DETECTION_END && d->n_metrics < DETECTION_MAX_METRICS) {
        d->metric[d->n_metrics].name = "duration_s";
        d->metric[d->n_metrics].value = (double)(inc->seen_ns - inc->start_ns) / 1e9;
        d->n_metrics++;
    }
    d->asset_name = o->net >= 0 ? c->networks[o->net].name : NULL;
    ev.ref.proto = o->proto;
    if (o->n_att > 0 && o->n_vic > 0 && o->att_v6 == o->vic_v6) {
        ev.ref.ip_version = o->att_v6 ? 6 : 4;
        memcpy(ev.ref.src, o->att[0], 16);
        memcpy(ev.ref.dst, o->vic[0], 16);
        ev.ref.dport = o->port;
    }
    sh->st.events++;
    if (emit == NULL || !emit(ctx, &ev)) {
        sh->st.emit_failed++;
        return false;
    }
    return true;
}

static void process_incidents(struct anomaly_shared *sh, uint64_t now, event_emit_fn emit, void *ctx)
{
    const struct anomaly_config *c = &sh->cfg;
    qsort(sh->obs, sh->n_obs, sizeof(*sh->obs), obs_cmp);
    for (uint32_t i = 0; i < sh->n_obs; i++) {
        struct obs *o = &sh->obs[i];
        uint8_t key[OKEY];
        memcpy(key, o->key, OKEY);
        key[OKEY - 1] ^= o->cls; /* class is part of the identity */
        uint32_t hh = h32(sketch_hash(key, OKEY, 15) ^ o->cls);
        struct inc_ent *inc = (struct inc_ent *)atab_get(&sh->inc, key, hh, false, false, now);
        if (inc != NULL && inc->id == 0)
            inc = NULL;
        if (inc == NULL) {
            inc = (struct inc_ent *)atab_get(&sh->inc, key, hh, true, true, now);
            if (inc == NULL) {
                sh->st.incident_overflow++;
                continue;
            }
            inc->id = ++sh->next_incident;
            inc->start_ns = now;
            inc->seen_ns = now;
            inc->update_ns = now;
            inc->peak_ratio = o->ratio;
            inc->quiet_ns = o->quiet_ns;
            inc->last = *o;
            sh->st.incidents_started++;
            sh->st.by_class[o->cls]++;
            emit_detection(sh, inc, DETECTION_START, now, emit, ctx);
            continue;
        }
        inc->seen_ns = now;
        inc->quiet_ns = o->quiet_ns;
        if (o->ratio > inc->peak_ratio)
            inc->peak_ratio = o->ratio;
        inc->last = *o;
        if (now - inc->update_ns >= (uint64_t)c->update_interval_s * 1000000000ull) {
            inc->update_ns = now;
            emit_detection(sh, inc, DETECTION_UPDATE, now, emit, ctx);
        }
    }
    sh->n_obs = 0;
}

/* Ends incidents without evidence for their quiet time (all of them when force). Ended slots
 * keep id 0 and are reused by the table when their probe run fills. */
static void end_incidents(struct anomaly_shared *sh, uint64_t now, bool force, event_emit_fn emit,
                          void *ctx)
{
    ATAB_FOREACH(&sh->inc, h) {
        struct inc_ent *inc = (struct inc_ent *)h;
        if (inc->id == 0)
            continue;
        if (!force && now < inc->seen_ns + inc->quiet_ns)
            continue;
        emit_detection(sh, inc, DETECTION_END, force ? (now > inc->seen_ns ? now : inc->seen_ns) : now,
                       emit, ctx);
        sh->st.incidents_ended++;
        inc->id = 0;
        inc->h.last = 0; /* first to be replaced */
    }
    /* compact: a table whose used list is all dead entries starts over */
    bool any = false;
    ATAB_FOREACH(&sh->inc, h) {
        if (((struct inc_ent *)h)->id != 0)
            any = true;
    }
    if (!any)
        atab_clear(&sh->inc);
}

static void run_window(struct anomaly_shared *sh, uint64_t wid, event_emit_fn emit, void *ctx)
{
    uint64_t now = (wid + 1) * sh->win_ns;
    detect_floods(sh, now);
    detect_scans(sh, now);
    detect_pairs(sh, now);
    detect_dns(sh, now);
    detect_exfil(sh, now, wid);
    detect_protocol(sh);
    process_incidents(sh, now, emit, ctx);
    end_incidents(sh, now, false, emit, ctx);
    sh->last_now = now;
    sh->st.windows_merged++;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Merges every window below the slowest worker's progress. Caller holds `merging`. */
static void merge_pending(struct anomaly_shared *sh, uint64_t upto, event_emit_fn emit, void *ctx)
{
    uint64_t next = atomic_load_explicit(&sh->merged_next, memory_order_relaxed);
    if (upto <= next)
        return;
    /* the windows that hold data: at most NSLOT per worker (time may jump far ahead) */
    uint64_t *cand = sh->cand;
    unsigned nc = 0;
    for (unsigned i = 0; i < sh->cfg.max_workers; i++) {
        struct anomaly_worker *w = sh->workers[i];
        if (w == NULL)
            continue;
        for (unsigned k = 0; k < NSLOT; k++) {
            uint64_t wid = atomic_load_explicit(&w->shards[k].wid, memory_order_relaxed);
            if (wid != NONE && wid >= next && wid < upto)
                cand[nc++] = wid;
        }
    }
    cand[nc++] = upto - 1; /* always evaluate the last one: incidents end on time */
    qsort(cand, nc, sizeof(cand[0]), u64_cmp);
    for (unsigned j = 0; j < nc; j++) {
        if (j > 0 && cand[j] == cand[j - 1])
            continue;
        uint64_t wid = cand[j];
        /* the complete shards of this window: only workers that have passed it (acquire pairs
         * with the seq_cst store in worker_roll) */
        struct shard **parts = sh->parts;
        unsigned np = 0;
        for (unsigned i = 0; i < sh->cfg.max_workers; i++) {
            struct anomaly_worker *w = sh->workers[i];
            if (w == NULL)
                continue;
            uint64_t p = atomic_load_explicit(&sh->prog[i].v, memory_order_acquire);
            if (p == NONE || p <= wid)
                continue;
            for (unsigned k = 0; k < NSLOT; k++)
                if (atomic_load_explicit(&w->shards[k].wid, memory_order_relaxed) == wid) {
                    parts[np++] = &w->shards[k];
                    break; /* a worker holds a window in one slot */
                }
        }
        if (np == 1) {
            /* one shard: the detectors read it in place (its worker no longer writes it and
             * will not reuse it before merged_next passes this window) */
            sh->cur = parts[0];
            sh->st.shard_overflow += shard_overflow(parts[0]);
        } else {
            shard_clear(&sh->m);
            for (unsigned i = 0; i < np; i++)
                merge_shard(sh, parts[i]);
            sh->cur = &sh->m;
        }
        run_window(sh, wid, emit, ctx);
    }
    /* pairs with the acquire load in worker_roll: the slots of merged windows may be reused */
    atomic_store_explicit(&sh->merged_next, upto, memory_order_release);
}

/* The window every worker has passed (NONE: none can be merged). A worker that has not
 * started (no tick or packet yet) holds the merge back: otherwise whether its first window
 * could still take its packets would depend on which thread ran first (its packets moved to a
 * later window or lost). It stops doing so once the started workers are START_GRACE windows
 * past the first started window (a live worker that never sees traffic), and at the final
 * flush (final). */
static uint64_t min_progress(struct anomaly_shared *sh, bool final)
{
    uint64_t mn = NONE;
    bool waiting = false;
    for (unsigned i = 0; i < sh->cfg.max_workers; i++) {
        if (sh->workers[i] == NULL)
            continue;
        uint64_t p = atomic_load_explicit(&sh->prog[i].v, memory_order_seq_cst);
        if (p == NONE)
            waiting = true;
        else if (p < mn)
            mn = p;
    }
    if (waiting && !final && mn != NONE) {
        /* a worker publishes first_wid before its progress: mn's worker is counted in it */
        uint64_t lo = atomic_load_explicit(&sh->first_wid, memory_order_seq_cst);
        if (mn < lo + START_GRACE)
            return NONE;
    }
    return mn;
}

static void try_merge(struct anomaly_shared *sh, bool final, event_emit_fn emit, void *ctx)
{
    for (;;) {
        if (atomic_exchange_explicit(&sh->merging, 1, memory_order_seq_cst) != 0)
            return; /* another worker merges; it re-checks progress after letting go */
        uint64_t mn = min_progress(sh, final);
        if (mn != NONE)
            merge_pending(sh, mn, emit, ctx);
        atomic_store_explicit(&sh->merging, 0, memory_order_seq_cst);
        /* a worker may have published while we held the flag and given up: look again */
        uint64_t mn2 = min_progress(sh, final);
        if (mn2 == NONE || mn2 <= atomic_load_explicit(&sh->merged_next, memory_order_acquire))
            return;
    }
}

void anomaly_tick(struct anomaly_worker *w, uint64_t now_ns, event_emit_fn emit, void *emit_ctx)
{
    if (!w->cfg->enabled)
        return;
    if (now_ns >= w->win_end || w->cur == NULL)
        worker_roll(w, now_ns);
    try_merge(w->sh, false, emit, emit_ctx);
}

void anomaly_shared_flush(struct anomaly_shared *sh, event_emit_fn emit, void *emit_ctx)
{
    if (sh == NULL || !sh->cfg.enabled)
        return;
    /* workers are stopped: their current windows are complete */
    for (unsigned i = 0; i < sh->cfg.max_workers; i++) {
        struct anomaly_worker *w = sh->workers[i];
        if (w == NULL || w->cur == NULL)
            continue;
        atomic_store_explicit(&sh->prog[i].v, w->cur_wid + 1, memory_order_seq_cst);
    }
    try_merge(sh, true, emit, emit_ctx);
    end_incidents(sh, sh->last_now, true, emit, emit_ctx);
}

void anomaly_get_stats(const struct anomaly_shared *sh, struct anomaly_stats *out)
{
    *out = sh->st;
    for (unsigned i = 0; i < sh->cfg.max_workers; i++) {
        const struct anomaly_worker *w = sh->workers[i];
        if (w == NULL)
            continue;
        out->packets += w->packets;
        out->window_overrun += w->overrun;
        out->dns_bad += w->dns_bad;
    }
    out->track_evicted = sh->base.evicted + sh->scan.evicted + sh->bf.evicted + sh->spray.evicted +
                         sh->beacon.evicted + sh->dnsl.evicted + sh->hostb.evicted;
}
