/* Detection engine: Hyperscan prefilter, exact verification, alerts (see detect.h). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hs.h>

#include "detect.h"
#include "detect_alproto_priv.h"
#include "detect_state_priv.h"
#include "rules_core.h"
#include "rules_xform.h"

/* transformed buffers (rules_xform_expand) are handed back in struct detect_buffer's layout */
_Static_assert(sizeof(struct rule_buf) == sizeof(struct detect_buffer), "rule_buf layout");
_Static_assert(offsetof(struct rule_buf, data) == offsetof(struct detect_buffer, data), "data");
_Static_assert(offsetof(struct rule_buf, len) == offsetof(struct detect_buffer, len), "len");

#define TH_SYN 0x02
#define TH_ACK 0x10

enum { G_TCP = 0, G_UDP, G_ICMP, G_OTHER, G_MAX };
#define MAX_ALERTS_PER_PKT 32
#define MAX_STEPS 20000 /* backtracking budget per rule and buffer */
#define NS_PER_S 1000000000ull

/* One Hyperscan database and the rules its pattern ids stand for. */
struct ip_interval {
    uint32_t lo;       /* start of the elementary interval */
    uint32_t first, n; /* rules in the index's rules[first .. first+n) */
};

struct ip_index {
    struct ip_interval *iv;
    uint32_t n;
    uint32_t *rules;
};

/* A run of header rules with the same source and destination address sets: the sets are
 * tested once per packet for the whole run. */
struct addr_bucket {
    uint32_t first, n; /* in nompm */
    uint16_t src, dst; /* address set ids */
    uint8_t bidir, rank;
};

/* Rules indexed by one port: rules of port p are rules[first[p] .. first[p+1]). */
struct port_index {
    uint32_t *first; /* 65537 offsets, NULL when empty */
    uint32_t *rules;
};

struct mpm_group {
    hs_database_t *db;
    uint32_t *rule_of;  /* pattern id -> rule index */
    uint32_t n;
    uint32_t *nompm;    /* rules without a fast pattern that apply to this group and are not
                           in a port index, sorted by (flowbit rank, index) */
    uint32_t n_nompm;
    uint32_t rank_end[4]; /* nompm[rank_end[k-1] .. rank_end[k]) have rank k */
    struct addr_bucket *buckets; /* nompm split in runs sharing address sets, in rank order */
    uint32_t n_buckets;
    struct ip_index by_addr;     /* rules without a fast pattern with a narrow address side */
    struct port_index by_dp, by_sp; /* rules without a fast pattern, by a specific port */
    struct port_mpm *ports;      /* fast-pattern rules of a few specific ports (NULL: none) */
};

struct app_group {
    uint16_t buffer;
    struct mpm_group g;
};

struct detect_engine {
    const struct ruleset *rs;
    const struct rule *rules;
    unsigned n_rules;
    uint8_t *rank;                  /* flowbits ordering rank per rule */
    uint8_t *fp_only;               /* per rule: its payload list is its fast pattern alone
                                       (rule_fp_only), so a Hyperscan hit proves the list */
    bool has_flowbits;
    const struct rule_addrs **aset; /* distinct address sets of the rules */
    uint32_t n_aset;
    uint16_t *src_set, *dst_set;    /* per rule */
    struct mpm_group pkt[G_MAX];    /* packet payload */
    struct mpm_group tcp_added;     /* TCP packets whose payload entered the stream: only the
                                       rules that still inspect packets (tcp-pkt, dsize, no
                                       payload) */
    uint32_t stream_fp_max;         /* longest fast pattern of the stream group */
    struct mpm_group stream;        /* TCP stream */
    struct app_group *app;          /* sticky buffers */
    unsigned n_app;
    struct ip_index iponly;         /* IP-only rules by address (IPv4) */
    uint32_t *iponly_generic;       /* IP-only rules not indexed (wide on both sides, or v6) */
    uint32_t n_iponly_generic;
    hs_scratch_t *proto_scratch;
    struct detect_config cfg;
    struct detect_engine_info info;
};

struct th_entry {
    uint64_t key;
    uint32_t rule;     /* rule index + 1; 0 = empty */
    uint32_t count;
    uint64_t first_ns;
    uint64_t next;     /* backoff: next count that alerts */
    uint8_t kind;      /* 0 threshold, 1 detection_filter */
};

struct pending_alert {
    uint32_t rule;
    bool stream;
};

struct detect_thread {
    const struct detect_engine *de;
    bool tx_path; /* matching a transaction's buffers (detect_buffers), not a packet */
    hs_scratch_t *scratch;
    pcre2_match_data *md;
    pcre2_match_context *mctx; /* Suricata's default limits: a hostile pattern/payload pair
                                  cannot stall the worker */
    struct stream_ctx *sc;
    stream_deliver_fn hook;
    void *hook_ctx;
    struct rules_xform_scratch *xf; /* transformed sticky buffers (dotprefix, ...) */
    uint32_t *seen;   /* generation per rule: candidate already evaluated */
    uint32_t *proven; /* generation per rule: a fast-pattern-only rule's pattern was found
                         where its content may match (no need to search it again) */
    uint32_t *alerted;/* generation per rule: already alerted on this packet */
    uint32_t gen, agen;
    uint32_t *cand;
    uint32_t n_cand;
    /* stream inspection buffer for one packet */
    uint8_t *sbuf;
    const uint8_t *sptr; /* the bytes to inspect: sbuf, or the stream's own buffer when the
                            chunks came in place (no copy) */
    uint32_t sbuf_cap, sbuf_len, sbuf_prev;
    int64_t sbuf_base;
    bool sbuf_active;
    bool sbuf_inplace; /* sptr points into the stream's buffer */
    const uint8_t *lazy_src; /* window bytes still to be copied to sbuf[0, lazy_n) before any
                                rule is verified on sbuf (on_chunk's one-chunk path) */
    uint32_t lazy_n;
    uint32_t size_adj;       /* on_chunk's one-chunk path inspects during the delivery, before
                                the stream counts the chunk: stream_size adds it (size_dir) */
    enum flow_dir size_dir;
    /* the packet being inspected */
    const struct pkt_meta *m;
    struct flow *f;
    enum flow_dir dir;
    event_emit_fn emit;
    void *emit_ctx;
    struct pending_alert alerts[MAX_ALERTS_PER_PKT];
    unsigned n_alerts;
    bool pass_matched;
    struct th_entry *th;
    uint32_t th_mask;
    uint64_t vars[RULE_MAX_VARS];
    unsigned steps;
    uint32_t *aset_gen;     /* per address set: packet generation of the memo */
    uint8_t *aset_memo;     /* bit 0: packet src in set, bit 1: packet dst in set */
    uint32_t pgen;
    struct pkt_meta pseudo; /* flow-end flush */
    bool mpm_only;          /* flow-end re-inspection: prefiltered rules only */
    unsigned flushed;
    struct detect_stats st;
};

void detect_config_default(struct detect_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    stream_config_default(&cfg->stream);
    cfg->threshold_entries = 65536;
}

/* ------------------------------------------------------------------ build */

static int group_of_proto(uint8_t proto)
{
    switch (proto) {
    case 6: return G_TCP;
    case 17: return G_UDP;
    case 1: case 58: return G_ICMP;
    default: return G_OTHER;
    }
}

/* Groups a rule applies to (bitmask of G_*). */
static unsigned rule_groups(const struct rule *r)
{
    if (r->app_proto)
        return 1u << G_TCP | 1u << G_UDP;
    switch (r->ipproto) {
    case 6: return 1u << G_TCP;
    case 17: return 1u << G_UDP;
    case 1: return 1u << G_ICMP;
    default:
        if (!r->sp.any || !r->dp.any)
            return 1u << G_TCP | 1u << G_UDP;
        return (1u << G_MAX) - 1;
    }
}

static const struct rule_content *rule_fp(const struct rule *r)
{
    if (r->fp_list < 0)
        return NULL;
    return &r->lists[r->fp_list].items[r->fp_item].u.c;
}

/* The rule's only payload condition is its fast pattern, searched anywhere (no offset, depth,
 * relative or negated part, whole content as the Hyperscan pattern, with the same case rule):
 * a Hyperscan match of the pattern that ends where a match may end proves the list, so the
 * candidate needs its header conditions only. */
static bool rule_fp_only(const struct rule *r)
{
    const struct rule_content *c = rule_fp(r);
    if (!c || r->n_lists != 1 || r->fp_list != 0 || r->fp_item != 0)
        return false;
    const struct rule_list *l = &r->lists[0];
    if (l->buffer != RULE_BUF_PAYLOAD || l->n != 1 || l->bsize.op != NUM_NONE)
        return false;
    if (l->items[0].type != RI_CONTENT || l->items[0].relative)
        return false;
    return (c->flags & ~(CF_NOCASE | CF_FAST_PATTERN | CF_FP_ONLY)) == 0 && c->len > 0;
}

/* Whether a rule's payload may be inspected on packets / on the stream. */
static bool rule_on_packets(const struct rule *r)
{
    return !(r->flags & RF_TCP_STREAM) && !(r->flow_flags & FLOW_ONLY_STREAM_F);
}

static bool rule_on_stream(const struct rule *r, unsigned groups)
{
    if (!(groups & (1u << G_TCP)))
        return false;
    if ((r->flags & RF_TCP_PKT) || (r->flow_flags & FLOW_NO_STREAM_F) || r->dsize.op)
        return false;
    return (r->flags & RF_HAS_PAYLOAD) != 0;
}

static bool want_on_packet(const struct rule *r, bool stream_added);
static int cand_qsort_cmp(const void *a, const void *b, void *ctx);

struct u32vec {
    uint32_t *v;
    uint32_t n, cap;
};

static int vec_push(struct u32vec *v, uint32_t x)
{
    if (v->n == v->cap) {
        uint32_t nc = v->cap ? v->cap * 2 : 64;
        void *p = realloc(v->v, nc * sizeof(uint32_t));
        if (!p)
            return -ENOMEM;
        v->v = p;
        v->cap = nc;
    }
    v->v[v->n++] = x;
    return 0;
}

static void group_take(struct mpm_group *g, struct u32vec *mpm)
{
    g->rule_of = mpm->v;
    g->n = mpm->n;
    mpm->v = NULL;
}

static int compile_group(struct mpm_group *g, const struct rule *rules, char *err, size_t errlen)
{
    if (g->n == 0)
        return 0;
    const char **pats = malloc(g->n * sizeof(char *));
    unsigned *flags = malloc(g->n * sizeof(unsigned));
    unsigned *ids = malloc(g->n * sizeof(unsigned));
    size_t *lens = malloc(g->n * sizeof(size_t));
    int rc = -ENOMEM;
    if (!pats || !flags || !ids || !lens)
        goto out;
    for (uint32_t i = 0; i < g->n; i++) {
        const struct rule_content *c = rule_fp(&rules[g->rule_of[i]]);
        if (c->flags & CF_FP_CHOP) {
            pats[i] = (const char *)c->pat + c->fp_off;
            lens[i] = c->fp_len;
        } else {
            pats[i] = (const char *)c->pat;
            lens[i] = c->len;
        }
        /* singlematch kept: without it bench_detect's mix pcap with ET Open fell (1.4-1.7 ->
         * 1.2-1.3 Mpps), and on the generated texts the floor without it (-H) was within the
         * load's noise (-1% to +8%) */
        flags[i] = HS_FLAG_SINGLEMATCH | ((c->flags & CF_NOCASE) ? HS_FLAG_CASELESS : 0);
        ids[i] = i;
    }
    hs_compile_error_t *ce = NULL;
    if (hs_compile_lit_multi(pats, flags, ids, lens, g->n, HS_MODE_BLOCK, NULL, &g->db, &ce) !=
        HS_SUCCESS) {
        snprintf(err, errlen, "hyperscan: %s", ce ? ce->message : "compile failed");
        hs_free_compile_error(ce);
        rc = -EINVAL;
        goto out;
    }
    rc = 0;
out:
    free(pats);
    free(flags);
    free(ids);
    free(lens);
    return rc;
}

/* IP-only index over IPv4 ranges of one side of each rule. */
struct ipent {
    uint32_t lo, hi, rule;
};

static int ipent_cmp(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

static uint64_t addrs_v4_size(const struct rule_addrs *a)
{
    if (a->any)
        return 1ull << 32;
    uint64_t s = 0;
    for (uint32_t i = 0; i < a->n4; i++)
        s += (uint64_t)a->v4[i].hi - a->v4[i].lo + 1;
    return s;
}

/* Builds an address index over one side of each rule of list (the side covering fewer IPv4
 * addresses, if at most 2^24): elementary intervals of the IPv4 space, each with the rules
 * whose side covers it. Rules that cannot be indexed (both sides wide), and those whose side
 * also holds IPv6 ranges (the index is IPv4 only), go to generic. */
static int build_ipidx(const struct detect_engine *de, const uint32_t *list, uint32_t n,
                       struct ip_index *out, struct u32vec *generic)
{
    struct ipent *ents = NULL;
    size_t n_ents = 0, cap = 0;
    for (uint32_t k = 0; k < n; k++) {
        const struct rule *r = &de->rules[list[k]];
        uint64_t ss = addrs_v4_size(&r->src), ds = addrs_v4_size(&r->dst);
        const struct rule_addrs *side = ss <= ds ? &r->src : &r->dst;
        uint64_t sz = ss <= ds ? ss : ds;
        if (sz > (1ull << 24) || side->any || side->n6) {
            if (vec_push(generic, r->idx) != 0)
                goto nomem;
            if (sz > (1ull << 24) || side->any)
                continue;
        }
        for (uint32_t i = 0; i < side->n4; i++) {
            if (n_ents == cap) {
                cap = cap ? cap * 2 : 1024;
                void *p = realloc(ents, cap * sizeof(*ents));
                if (!p)
                    goto nomem;
                ents = p;
            }
            ents[n_ents++] = (struct ipent){side->v4[i].lo, side->v4[i].hi, r->idx};
        }
    }
    if (n_ents == 0) {
        free(ents);
        return 0;
    }
    uint32_t *pts = malloc((2 * n_ents + 1) * sizeof(uint32_t));
    if (!pts)
        goto nomem;
    size_t np = 0;
    pts[np++] = 0;
    for (size_t i = 0; i < n_ents; i++) {
        pts[np++] = ents[i].lo;
        if (ents[i].hi != UINT32_MAX)
            pts[np++] = ents[i].hi + 1;
    }
    qsort(pts, np, sizeof(uint32_t), ipent_cmp);
    size_t u = 0;
    for (size_t i = 0; i < np; i++)
        if (u == 0 || pts[i] != pts[u - 1])
            pts[u++] = pts[i];
    out->iv = calloc(u, sizeof(*out->iv));
    if (!out->iv) {
        free(pts);
        goto nomem;
    }
    out->n = (uint32_t)u;
    for (size_t i = 0; i < u; i++)
        out->iv[i].lo = pts[i];
    free(pts);
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t e = 0; e < n_ents; e++) {
            uint32_t lo = 0, hi = out->n;
            while (lo + 1 < hi) {
                uint32_t mid = (lo + hi) / 2;
                if (out->iv[mid].lo <= ents[e].lo)
                    lo = mid;
                else
                    hi = mid;
            }
            for (uint32_t j = lo; j < out->n; j++) {
                if (out->iv[j].lo > ents[e].hi || (j > lo && out->iv[j].lo == 0))
                    break;
                if (pass == 0)
                    out->iv[j].n++;
                else
                    out->rules[out->iv[j].first + out->iv[j].n++] = ents[e].rule;
            }
        }
        if (pass == 0) {
            for (uint32_t j = 0; j < out->n; j++) {
                out->iv[j].first = (uint32_t)total;
                total += out->iv[j].n;
                out->iv[j].n = 0;
            }
            out->rules = malloc((total ? total : 1) * sizeof(uint32_t));
            if (!out->rules)
                goto nomem;
        }
    }
    free(ents);
    return 0;
nomem:
    free(ents);
    return -ENOMEM;
}

static bool ports_small(const struct rule_ports *p)
{
    if (p->any)
        return false;
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->n; i++)
        n += (uint32_t)p->r[i].hi - p->r[i].lo + 1;
    return n <= 64;
}

static int port_index_build(struct port_index *pi, const struct rule *rules, const uint32_t *list,
                            uint32_t n, bool dst)
{
    pi->first = calloc(65537, sizeof(uint32_t));
    if (!pi->first)
        return -ENOMEM;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t k = 0; k < n; k++) {
            const struct rule_ports *p = dst ? &rules[list[k]].dp : &rules[list[k]].sp;
            for (uint32_t i = 0; i < p->n; i++)
                for (uint32_t port = p->r[i].lo; port <= p->r[i].hi; port++) {
                    if (pass == 0)
                        pi->first[port + 1]++;
                    else
                        pi->rules[pi->first[port]++] = list[k];
                }
        }
        if (pass == 0) {
            for (uint32_t port = 1; port <= 65536; port++)
                pi->first[port] += pi->first[port - 1];
            pi->rules = malloc((pi->first[65536] ? pi->first[65536] : 1) * sizeof(uint32_t));
            if (!pi->rules)
                return -ENOMEM;
        }
    }
    /* the fill pass moved each start to the next one's: shift back */
    memmove(pi->first + 1, pi->first, 65536 * sizeof(uint32_t));
    pi->first[0] = 0;
    return 0;
}

/* Splits a group's rules without fast pattern: those with a few specific destination (else
 * source) ports, not bidirectional, go to port indexes; the rest stay in nompm. */
static int group_index_ports(struct mpm_group *g, const struct rule *rules, const uint8_t *rank)
{
    uint32_t *dl = malloc((g->n_nompm + 1) * sizeof(uint32_t));
    uint32_t *sl = malloc((g->n_nompm + 1) * sizeof(uint32_t));
    uint32_t nd = 0, ns = 0, nr = 0;
    int rc = -ENOMEM;
    if (!dl || !sl)
        goto out;
    for (uint32_t k = 0; k < g->n_nompm; k++) {
        const struct rule *r = &rules[g->nompm[k]];
        if (!(r->flags & RF_BIDIR) && ports_small(&r->dp))
            dl[nd++] = g->nompm[k];
        else if (!(r->flags & RF_BIDIR) && ports_small(&r->sp))
            sl[ns++] = g->nompm[k];
        else
            g->nompm[nr++] = g->nompm[k];
    }
    g->n_nompm = nr;
    /* stable by rank: the list is in rule order, so a counting pass keeps it so */
    uint32_t *tmp = malloc((nr + 1) * sizeof(uint32_t));
    if (!tmp)
        goto out;
    uint32_t o = 0;
    for (uint8_t k = 0; k < 4; k++) {
        for (uint32_t i = 0; i < nr; i++)
            if (rank[g->nompm[i]] == k)
                tmp[o++] = g->nompm[i];
        g->rank_end[k] = o;
    }
    if (nr)
        memcpy(g->nompm, tmp, nr * sizeof(uint32_t));
    free(tmp);
    rc = 0;
    if (nd && (rc = port_index_build(&g->by_dp, rules, dl, nd, true)) != 0)
        goto out;
    if (ns && (rc = port_index_build(&g->by_sp, rules, sl, ns, false)) != 0)
        goto out;
out:
    free(dl);
    free(sl);
    return rc;
}

/* Fast-pattern rules that need a few specific ports leave their group's database for small
 * per-port ones, scanned only on packets with such a port (Suricata's port groups): ET's
 * port-135 rule with fast pattern |05| or port-3306 one with |11| otherwise match, and get
 * verified, on every TCP packet, and their short patterns slow the whole scan down. The
 * split is group_index_ports' for rules without a fast pattern: not bidirectional, a
 * destination else a source port set of at most 64 ports. addr_port_match fails such a rule
 * on a packet without ports or with another port, so the candidates that can match are the
 * same. The other rules of a protocol (`alert smtp ...`) go to a database per protocol,
 * scanned only on that protocol's flows (header_match's app_proto test). Ports whose rules are
 * the same share one database. */
struct port_mpm {
    uint16_t *of_dp, *of_sp; /* per port: 1 + index in subs, 0 none; NULL when no such rule */
    uint16_t of_app[256];    /* per flow app_proto (< 256) the same */
    struct mpm_group *subs;  /* db and rule_of only */
    uint32_t n_subs;
};

struct port_rule {
    uint32_t key; /* side << 16 | port (side 0 destination, 1 source), or 2 << 16 | app_proto */
    uint32_t rule;
};

static int port_rule_cmp(const void *a, const void *b)
{
    const struct port_rule *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Where a rule's fast pattern goes: *side 0 / 1 with the destination / source ports
 * returned, 2 by its protocol, 3 the group's own database. */
static const struct rule_ports *fp_port_side(const struct rule *r, uint32_t *side)
{
    *side = 3;
    if (!(r->flags & RF_BIDIR) && ports_small(&r->dp)) {
        *side = 0;
        return &r->dp;
    }
    if (!(r->flags & RF_BIDIR) && ports_small(&r->sp)) {
        *side = 1;
        return &r->sp;
    }
    if (r->app_proto && r->app_proto < 256)
        *side = 2;
    return NULL;
}

static void port_mpm_free(struct port_mpm *pm)
{
    if (!pm)
        return;
    for (uint32_t i = 0; i < pm->n_subs; i++) {
        hs_free_database(pm->subs[i].db);
        free(pm->subs[i].rule_of);
    }
    free(pm->subs);
    free(pm->of_dp);
    free(pm->of_sp);
    free(pm);
}

/* Moves g's port-specific fast-pattern rules to per-port rule lists (compiled later). */
static int group_split_ports(struct mpm_group *g, const struct rule *rules)
{
    uint32_t np = 0, side;
    for (uint32_t k = 0; k < g->n; k++) {
        const struct rule_ports *p = fp_port_side(&rules[g->rule_of[k]], &side);
        for (uint32_t i = 0; p && i < p->n; i++)
            np += (uint32_t)p->r[i].hi - p->r[i].lo + 1;
        np += side == 2;
    }
    if (np == 0)
        return 0;
    struct port_rule *pr = malloc(np * sizeof(*pr));
    struct port_mpm *pm = calloc(1, sizeof(*pm));
    uint32_t *subh = NULL;
    int rc = -ENOMEM;
    if (!pr || !pm)
        goto out;
    uint32_t o = 0, nw = 0;
    for (uint32_t k = 0; k < g->n; k++) {
        uint32_t ri = g->rule_of[k];
        const struct rule_ports *p = fp_port_side(&rules[ri], &side);
        if (side == 2)
            pr[o++] = (struct port_rule){2u << 16 | rules[ri].app_proto, ri};
        if (!p) {
            if (side == 3)
                g->rule_of[nw++] = ri;
            continue;
        }
        for (uint32_t i = 0; i < p->n; i++)
            for (uint32_t port = p->r[i].lo; port <= p->r[i].hi; port++)
                pr[o++] = (struct port_rule){side << 16 | port, ri};
    }
    g->n = nw;
    qsort(pr, np, sizeof(*pr), port_rule_cmp);
    subh = malloc(np * sizeof(uint32_t)); /* hash of each sub's rule list */
    pm->subs = calloc(np, sizeof(*pm->subs));
    if (!subh || !pm->subs)
        goto out;
    for (uint32_t a = 0, b; a < np; a = b) {
        uint32_t h = 2166136261u;
        for (b = a; b < np && pr[b].key == pr[a].key; b++)
            h = (h ^ pr[b].rule) * 16777619u;
        uint32_t n = b - a, s;
        for (s = 0; s < pm->n_subs; s++) {
            if (subh[s] != h || pm->subs[s].n != n)
                continue;
            uint32_t j = 0;
            while (j < n && pm->subs[s].rule_of[j] == pr[a + j].rule)
                j++;
            if (j == n)
                break;
        }
        if (s == pm->n_subs) {
            if (s == 65535) {
                rc = -E2BIG;
                goto out;
            }
            if (!(pm->subs[s].rule_of = malloc(n * sizeof(uint32_t))))
                goto out;
            for (uint32_t j = 0; j < n; j++)
                pm->subs[s].rule_of[j] = pr[a + j].rule;
            pm->subs[s].n = n;
            subh[s] = h;
            pm->n_subs++;
        }
        if (pr[a].key >> 16 == 2) {
            pm->of_app[pr[a].key & 0xff] = (uint16_t)(s + 1);
            continue;
        }
        uint16_t **of = pr[a].key >> 16 ? &pm->of_sp : &pm->of_dp;
        if (!*of && !(*of = calloc(65536, sizeof(uint16_t))))
            goto out;
        (*of)[pr[a].key & 0xffff] = (uint16_t)(s + 1);
    }
    void *shrunk = realloc(pm->subs, pm->n_subs * sizeof(*pm->subs));
    if (shrunk)
        pm->subs = shrunk;
    g->ports = pm;
    pm = NULL;
    rc = 0;
out:
    free(pr);
    free(subh);
    port_mpm_free(pm);
    return rc;
}

/* The group a split loop's index g stands for (port_mpm: packet groups, stream, tcp_added). */
static struct mpm_group *split_group(struct detect_engine *de, int g)
{
    return g < G_MAX ? &de->pkt[g] : g == G_MAX ? &de->stream : &de->tcp_added;
}

/* Compiles the per-port databases of g. */
static int group_compile_ports(struct detect_engine *de, struct mpm_group *g, char *err,
                               size_t errlen)
{
    for (uint32_t i = 0; g->ports && i < g->ports->n_subs; i++)
        if (compile_group(&g->ports->subs[i], de->rules, err, errlen) != 0)
            return -EINVAL;
    return 0;
}

/* Grows the engine's scratch for g's per-port databases and counts them. */
static int group_ports_scratch(struct detect_engine *de, struct mpm_group *g, char *err,
                               size_t errlen)
{
    for (uint32_t i = 0; g->ports && i < g->ports->n_subs; i++) {
        struct mpm_group *sg = &g->ports->subs[i];
        if (hs_alloc_scratch(sg->db, &de->proto_scratch) != HS_SUCCESS) {
            snprintf(err, errlen, "hyperscan: cannot allocate scratch");
            return -ENOMEM;
        }
        size_t sz = 0;
        hs_database_size(sg->db, &sz);
        de->info.db_bytes += sz;
        de->info.databases++;
    }
    return 0;
}

#define ASET_ALL 0xffff

static bool addrs_equal(const struct rule_addrs *a, const struct rule_addrs *b)
{
    return a->any == b->any && a->n4 == b->n4 && a->n6 == b->n6 &&
           (a->n4 == 0 || memcmp(a->v4, b->v4, a->n4 * sizeof(*a->v4)) == 0) &&
           (a->n6 == 0 || memcmp(a->v6, b->v6, a->n6 * sizeof(*a->v6)) == 0);
}

static int aset_intern(struct detect_engine *de, const struct rule_addrs *a)
{
    for (uint32_t i = 0; i < de->n_aset; i++)
        if (addrs_equal(de->aset[i], a))
            return (int)i;
    if (de->n_aset >= ASET_ALL)
        return -ENOSPC;
    void *p = realloc(de->aset, (de->n_aset + 1) * sizeof(*de->aset));
    if (!p)
        return -ENOMEM;
    de->aset = p;
    de->aset[de->n_aset] = a;
    return (int)de->n_aset++;
}

static int intern_all(struct detect_engine *de)
{
    unsigned n = de->n_rules ? de->n_rules : 1;
    de->src_set = calloc(n, sizeof(uint16_t));
    de->dst_set = calloc(n, sizeof(uint16_t));
    if (!de->src_set || !de->dst_set)
        return -ENOMEM;
    for (unsigned i = 0; i < de->n_rules; i++) {
        int a = aset_intern(de, &de->rules[i].src);
        int b = a >= 0 ? aset_intern(de, &de->rules[i].dst) : a;
        if (a == -ENOMEM || b == -ENOMEM)
            return -ENOMEM;
        if (a < 0 || b < 0) {
            /* too many distinct sets: ASET_ALL (always passes), eval_rule checks fully */
            a = b = ASET_ALL;
        }
        de->src_set[i] = (uint16_t)a;
        de->dst_set[i] = (uint16_t)b;
    }
    return 0;
}

static const struct detect_engine *bucket_sort_de;

static int bucket_cmp(const void *x, const void *y)
{
    const struct detect_engine *de = bucket_sort_de;
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    if (de->rank[a] != de->rank[b])
        return de->rank[a] < de->rank[b] ? -1 : 1;
    uint32_t ka = (uint32_t)de->src_set[a] << 16 | de->dst_set[a];
    uint32_t kb = (uint32_t)de->src_set[b] << 16 | de->dst_set[b];
    if (ka != kb)
        return ka < kb ? -1 : 1;
    int ba = !!(de->rules[a].flags & RF_BIDIR), bb = !!(de->rules[b].flags & RF_BIDIR);
    if (ba != bb)
        return ba - bb;
    return a < b ? -1 : a > b;
}

static int group_buckets(struct detect_engine *de, struct mpm_group *g)
{
    if (g->n_nompm == 0)
        return 0;
    bucket_sort_de = de; /* build time only, control thread */
    qsort(g->nompm, g->n_nompm, sizeof(uint32_t), bucket_cmp);
    bucket_sort_de = NULL;
    g->buckets = calloc(g->n_nompm, sizeof(*g->buckets));
    if (!g->buckets)
        return -ENOMEM;
    for (uint32_t i = 0; i < g->n_nompm; i++) {
        uint32_t r = g->nompm[i];
        struct addr_bucket *b = g->n_buckets ? &g->buckets[g->n_buckets - 1] : NULL;
        uint8_t bidir = !!(de->rules[r].flags & RF_BIDIR);
        if (b && b->src == de->src_set[r] && b->dst == de->dst_set[r] && b->bidir == bidir &&
            b->rank == de->rank[r]) {
            b->n++;
            continue;
        }
        b = &g->buckets[g->n_buckets++];
        b->first = i;
        b->n = 1;
        b->src = de->src_set[r];
        b->dst = de->dst_set[r];
        b->bidir = bidir;
        b->rank = de->rank[r];
    }
    return 0;
}

static uint8_t flowbit_rank(const struct rule *r)
{
    bool sets = false, reads = false;
    for (unsigned i = 0; i < r->n_flowbits; i++) {
        uint8_t c = r->flowbits[i].cmd;
        if (c == FB_ISSET || c == FB_ISNOTSET)
            reads = true;
        else
            sets = true;
    }
    if (sets && !reads)
        return 0;
    if (sets)
        return 1;
    if (reads)
        return 2;
    return 3;
}

/* Cache file: "TLHS" u32 format 3, u32 ndb, then per database u32 pattern count, u64 len and
 * the serialized bytes, then the same for each group's per-port databases (port_mpm_split). The groups' rule lists are rebuilt from the ruleset (cheap); only
 * compilation is cached. A file that does not fit is ignored and rewritten. */
static void cache_path(const struct detect_engine *de, char *p, size_t n)
{
    /* hs_version() names the library build: a database is only valid for the same one */
    uint64_t vh = 1469598103934665603ull;
    for (const char *v = hs_version(); *v; v++)
        vh = (vh ^ (uint8_t)*v) * 1099511628211ull;
    snprintf(p, n, "%s/tripline-%016" PRIx64 "-%08" PRIx32 ".hsdb", de->cfg.cache_dir,
             ruleset_hash(de->rs), (uint32_t)vh);
}

static void all_groups(struct detect_engine *de, unsigned *n, struct mpm_group **gs)
{
    unsigned k = 0;
    for (int g = 0; g < G_MAX; g++)
        gs[k++] = &de->pkt[g];
    gs[k++] = &de->stream;
    gs[k++] = &de->tcp_added;
    for (unsigned i = 0; i < de->n_app && k < 64; i++)
        gs[k++] = &de->app[i].g;
    *n = k;
}

static void all_dbs(struct detect_engine *de, unsigned *n, hs_database_t ***slots)
{
    struct mpm_group *gs[64];
    all_groups(de, n, gs);
    for (unsigned i = 0; i < *n; i++)
        slots[i] = &gs[i]->db;
}

/* One per-port database: u32 pattern count, u64 length, the serialized bytes. */
static bool cache_put_db(FILE *f, const struct mpm_group *g)
{
    char *buf = NULL;
    size_t len = 0;
    if (!g->db || hs_serialize_database(g->db, &buf, &len) != HS_SUCCESS)
        return false;
    uint64_t l = len;
    bool ok = fwrite(&g->n, sizeof(g->n), 1, f) == 1 && fwrite(&l, sizeof(l), 1, f) == 1 &&
              fwrite(buf, 1, len, f) == len;
    free(buf);
    return ok;
}

static bool cache_get_db(FILE *f, struct mpm_group *g)
{
    uint32_t npat;
    uint64_t len;
    if (fread(&npat, sizeof(npat), 1, f) != 1 || npat != g->n ||
        fread(&len, sizeof(len), 1, f) != 1 || len == 0 || len > (1ull << 32))
        return false;
    char *buf = malloc(len);
    bool ok = buf && fread(buf, 1, len, f) == len &&
              hs_deserialize_database(buf, len, &g->db) == HS_SUCCESS;
    free(buf);
    return ok;
}

static bool cache_load(struct detect_engine *de)
{
    char path[4096];
    cache_path(de, path, sizeof(path));
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    hs_database_t **slots[64];
    unsigned n;
    all_dbs(de, &n, slots);
    uint32_t hdr[3];
    bool ok = fread(hdr, sizeof(hdr), 1, f) == 1 && hdr[0] == 0x53484c54 && hdr[1] == 3 &&
              hdr[2] == n;
    struct mpm_group *gs[64];
    all_groups(de, &n, gs);
    for (unsigned i = 0; ok && i < n; i++) {
        uint64_t len;
        uint32_t npat;
        /* the pattern count guards against a cache written by another grouping */
        if (fread(&npat, sizeof(npat), 1, f) != 1 || npat != gs[i]->n ||
            fread(&len, sizeof(len), 1, f) != 1 || len > (1ull << 32)) {
            ok = false;
            break;
        }
        if (len == 0) {
            *slots[i] = NULL;
            continue;
        }
        char *buf = malloc(len);
        if (!buf || fread(buf, 1, len, f) != len ||
            hs_deserialize_database(buf, len, slots[i]) != HS_SUCCESS)
            ok = false;
        free(buf);
    }
    for (unsigned i = 0; ok && i < n; i++)
        for (uint32_t k = 0; ok && gs[i]->ports && k < gs[i]->ports->n_subs; k++)
            ok = cache_get_db(f, &gs[i]->ports->subs[k]);
    fclose(f);
    if (!ok) {
        for (unsigned i = 0; i < n; i++) {
            hs_free_database(*slots[i]);
            *slots[i] = NULL;
            for (uint32_t k = 0; gs[i]->ports && k < gs[i]->ports->n_subs; k++) {
                hs_free_database(gs[i]->ports->subs[k].db);
                gs[i]->ports->subs[k].db = NULL;
            }
        }
    }
    return ok;
}

static void cache_store(struct detect_engine *de)
{
    char path[4096], tmp[4200];
    cache_path(de, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
    mkdir(de->cfg.cache_dir, 0755);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return;
    hs_database_t **slots[64];
    unsigned n;
    all_dbs(de, &n, slots);
    uint32_t hdr[3] = {0x53484c54, 3, n};
    bool ok = fwrite(hdr, sizeof(hdr), 1, f) == 1;
    struct mpm_group *gs[64];
    all_groups(de, &n, gs);
    for (unsigned i = 0; ok && i < n; i++) {
        char *buf = NULL;
        size_t len = 0;
        uint32_t npat = gs[i]->n;
        ok = fwrite(&npat, sizeof(npat), 1, f) == 1;
        if (!ok)
            break;
        if (*slots[i] && hs_serialize_database(*slots[i], &buf, &len) != HS_SUCCESS) {
            ok = false;
            break;
        }
        uint64_t l = len;
        ok = fwrite(&l, sizeof(l), 1, f) == 1 && (len == 0 || fwrite(buf, 1, len, f) == len);
        free(buf);
    }
    for (unsigned i = 0; ok && i < n; i++)
        for (uint32_t k = 0; ok && gs[i]->ports && k < gs[i]->ports->n_subs; k++)
            ok = cache_put_db(f, &gs[i]->ports->subs[k]);
    if (fclose(f) != 0)
        ok = false;
    if (ok)
        rename(tmp, path);
    else
        remove(tmp);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct detect_engine *detect_engine_new(const struct ruleset *rs, char *err, size_t errlen)
{
    struct detect_config cfg;
    detect_config_default(&cfg);
    return detect_engine_new_cfg(rs, &cfg, err, errlen);
}

struct detect_engine *detect_engine_new_cfg(const struct ruleset *rs,
                                            const struct detect_config *cfg, char *err,
                                            size_t errlen)
{
    struct detect_engine *de = calloc(1, sizeof(*de));
    struct u32vec pm[G_MAX] = {{0}}, pn[G_MAX] = {{0}}, sm = {0}, sn = {0}, ipo = {0};
    struct u32vec tm = {0}, tn = {0};
    struct u32vec *am = NULL;
    if (!de)
        goto nomem;
    de->rs = rs;
    de->cfg = *cfg;
    de->rules = ruleset_rules(rs, &de->n_rules);
    de->rank = calloc(de->n_rules ? de->n_rules : 1, 1);
    de->fp_only = calloc(de->n_rules ? de->n_rules : 1, 1);
    if (!de->rank || !de->fp_only)
        goto nomem;
    for (unsigned i = 0; i < de->n_rules; i++) {
        const struct rule *r = &de->rules[i];
        de->rank[i] = flowbit_rank(r);
        de->fp_only[i] = rule_fp_only(r);
        if (r->n_flowbits)
            de->has_flowbits = true;
        unsigned groups = rule_groups(r);
        const struct rule_content *fp = rule_fp(r);
        bool fp_payload = fp && r->lists[r->fp_list].buffer == RULE_BUF_PAYLOAD;
        if (r->flags & RF_HAS_APPBUF) {
            /* sticky-buffer rules: prefiltered per buffer when their fast pattern is there;
             * otherwise every transaction checks them (rare) through an app group of their
             * first list */
            uint16_t b = fp && !fp_payload ? r->lists[r->fp_list].buffer : r->lists[0].buffer;
            unsigned a;
            for (a = 0; a < de->n_app; a++)
                if (de->app[a].buffer == b)
                    break;
            if (a == de->n_app) {
                void *p = realloc(de->app, (a + 1) * sizeof(*de->app));
                void *q = realloc(am, (a + 1) * sizeof(*am));
                if (p)
                    de->app = p;
                if (q)
                    am = q;
                if (!p || !q)
                    goto nomem;
                memset(&de->app[a], 0, sizeof(de->app[a]));
                memset(&am[a], 0, sizeof(am[a]));
                de->app[a].buffer = b;
                de->n_app++;
            }
            if (fp && !fp_payload) {
                if (vec_push(&am[a], i) != 0)
                    goto nomem;
            } else {
                struct mpm_group *g = &de->app[a].g;
                void *p = realloc(g->nompm, (g->n_nompm + 1) * sizeof(uint32_t));
                if (!p)
                    goto nomem;
                g->nompm = p;
                g->nompm[g->n_nompm++] = i;
            }
            continue;
        }
        if (r->flags & RF_IPONLY) {
            if (vec_push(&ipo, i) != 0)
                goto nomem;
            continue;
        }
        for (int g = 0; g < G_MAX; g++) {
            if (!(groups & (1u << g)))
                continue;
            if (!rule_on_packets(r) && !(g == G_TCP && !(r->flags & RF_HAS_PAYLOAD)))
                continue;
            if (vec_push(fp_payload ? &pm[g] : &pn[g], i) != 0)
                goto nomem;
            if (g == G_TCP && want_on_packet(r, true) &&
                vec_push(fp_payload ? &tm : &tn, i) != 0)
                goto nomem;
        }
        if (rule_on_stream(r, groups)) {
            if (vec_push(fp_payload ? &sm : &sn, i) != 0)
                goto nomem;
            if (fp_payload) {
                const struct rule_content *c = rule_fp(r);
                uint32_t l = (c->flags & CF_FP_CHOP) ? c->fp_len : c->len;
                if (l > de->stream_fp_max)
                    de->stream_fp_max = l;
            }
        }
    }
    double t0 = now_ms();
    bool cached = false;
    /* the groups' rule lists must exist before the cache is read (all_dbs order) */
    for (int g = 0; g < G_MAX; g++) {
        de->pkt[g].nompm = pn[g].v;
        de->pkt[g].n_nompm = pn[g].n;
        pn[g].v = NULL;
    }
    de->stream.nompm = sn.v;
    de->stream.n_nompm = sn.n;
    sn.v = NULL;
    de->tcp_added.nompm = tn.v;
    de->tcp_added.n_nompm = tn.n;
    tn.v = NULL;
    for (int g = 0; g < G_MAX; g++)
        group_take(&de->pkt[g], &pm[g]);
    group_take(&de->stream, &sm);
    group_take(&de->tcp_added, &tm);
    for (unsigned a = 0; a < de->n_app; a++)
        group_take(&de->app[a].g, &am[a]);
    for (int g = 0; g < G_MAX + 2; g++)
        if (group_split_ports(split_group(de, g), de->rules) != 0)
            goto nomem;
    if (cfg->cache_dir && cache_load(de)) {
        cached = true;
    } else {
        for (int g = 0; g < G_MAX; g++)
            if (compile_group(&de->pkt[g], de->rules, err, errlen) != 0)
                goto fail;
        if (compile_group(&de->stream, de->rules, err, errlen) != 0)
            goto fail;
        if (compile_group(&de->tcp_added, de->rules, err, errlen) != 0)
            goto fail;
        for (unsigned a = 0; a < de->n_app; a++)
            if (compile_group(&de->app[a].g, de->rules, err, errlen) != 0)
                goto fail;
        for (int g = 0; g < G_MAX + 2; g++)
            if (group_compile_ports(de, split_group(de, g), err, errlen) != 0)
                goto fail;
        if (cfg->cache_dir)
            cache_store(de);
    }
    {
        struct u32vec gen = {0};
        if (build_ipidx(de, ipo.v, ipo.n, &de->iponly, &gen) != 0) {
            free(gen.v);
            goto nomem;
        }
        de->iponly_generic = gen.v;
        de->n_iponly_generic = gen.n;
        /* in evaluation order (inspect_iponly merges these lists per packet) */
        if (gen.n)
            qsort_r(gen.v, gen.n, sizeof(uint32_t), cand_qsort_cmp, de);
        for (uint32_t i = 0; i < de->iponly.n; i++)
            if (de->iponly.iv[i].n > 1)
                qsort_r(de->iponly.rules + de->iponly.iv[i].first, de->iponly.iv[i].n,
                        sizeof(uint32_t), cand_qsort_cmp, de);
    }
    for (int g = 0; g < G_MAX; g++)
        if (group_index_ports(&de->pkt[g], de->rules, de->rank) != 0)
            goto nomem;
    if (group_index_ports(&de->stream, de->rules, de->rank) != 0 ||
        group_index_ports(&de->tcp_added, de->rules, de->rank) != 0)
        goto nomem;
    for (int g = 0; g < G_MAX + 2; g++) {
        struct mpm_group *mg = g < G_MAX ? &de->pkt[g] : g == G_MAX ? &de->stream : &de->tcp_added;
        struct u32vec rest = {0};
        if (build_ipidx(de, mg->nompm, mg->n_nompm, &mg->by_addr, &rest) != 0) {
            free(rest.v);
            goto nomem;
        }
        free(mg->nompm);
        mg->nompm = rest.v;
        mg->n_nompm = rest.n;
    }
    if (intern_all(de) != 0)
        goto nomem;
    for (int g = 0; g < G_MAX; g++)
        if (group_buckets(de, &de->pkt[g]) != 0)
            goto nomem;
    if (group_buckets(de, &de->stream) != 0 || group_buckets(de, &de->tcp_added) != 0)
        goto nomem;
    /* one prototype scratch big enough for every database; workers clone it */
    hs_database_t **slots[64];
    unsigned ndb;
    all_dbs(de, &ndb, slots);
    size_t dbb = 0;
    unsigned ndbs = 0;
    for (unsigned i = 0; i < ndb; i++) {
        if (!*slots[i])
            continue;
        if (hs_alloc_scratch(*slots[i], &de->proto_scratch) != HS_SUCCESS) {
            snprintf(err, errlen, "hyperscan: cannot allocate scratch");
            goto fail;
        }
        size_t s = 0;
        hs_database_size(*slots[i], &s);
        dbb += s;
        ndbs++;
    }
    de->info.rules = de->n_rules;
    for (unsigned i = 0; i < de->n_rules; i++) {
        if (de->rules[i].fp_list >= 0)
            de->info.mpm_rules++;
        else
            de->info.header_rules++;
        if (de->rules[i].flags & RF_IPONLY)
            de->info.iponly_rules++;
    }
    de->info.databases = ndbs;
    de->info.db_bytes = dbb;
    for (int g = 0; g < G_MAX + 2; g++)
        if (group_ports_scratch(de, split_group(de, g), err, errlen) != 0)
            goto fail;
    if (de->proto_scratch)
        hs_scratch_size(de->proto_scratch, &de->info.scratch_bytes);
    de->info.compile_ms = cached ? 0 : now_ms() - t0;
    de->info.from_cache = cached;
    free(ipo.v);
    free(am);
    return de;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    for (int g = 0; g < G_MAX; g++) {
        free(pm[g].v);
        free(pn[g].v);
    }
    free(sm.v);
    free(sn.v);
    free(tm.v);
    free(tn.v);
    free(ipo.v);
    if (am)
        for (unsigned a = 0; a < (de ? de->n_app : 0); a++)
            free(am[a].v);
    free(am);
    detect_engine_free(de);
    return NULL;
}

static void group_free(struct mpm_group *g)
{
    free(g->by_addr.iv);
    free(g->by_addr.rules);
    free(g->buckets);
    free(g->by_dp.first);
    free(g->by_dp.rules);
    free(g->by_sp.first);
    free(g->by_sp.rules);
    hs_free_database(g->db);
    free(g->rule_of);
    free(g->nompm);
    port_mpm_free(g->ports);
}

void detect_engine_free(struct detect_engine *de)
{
    if (!de)
        return;
    for (int g = 0; g < G_MAX; g++)
        group_free(&de->pkt[g]);
    group_free(&de->stream);
    group_free(&de->tcp_added);
    for (unsigned a = 0; a < de->n_app; a++)
        group_free(&de->app[a].g);
    free(de->app);
    free(de->iponly.iv);
    free(de->iponly.rules);
    free(de->iponly_generic);
    free(de->rank);
    free(de->fp_only);
    free(de->aset);
    free(de->src_set);
    free(de->dst_set);
    hs_free_scratch(de->proto_scratch);
    free(de);
}

void detect_engine_get_info(const struct detect_engine *de, struct detect_engine_info *info)
{
    *info = de->info;
}

/* ------------------------------------------------------------------ thread */

struct detect_thread *detect_thread_new(const struct detect_engine *de)
{
    struct detect_thread *dt = calloc(1, sizeof(*dt));
    if (!dt)
        return NULL;
    dt->de = de;
    unsigned n = de->n_rules ? de->n_rules : 1;
    dt->seen = calloc(n, sizeof(uint32_t));
    dt->proven = calloc(n, sizeof(uint32_t));
    dt->alerted = calloc(n, sizeof(uint32_t));
    dt->cand = malloc(n * sizeof(uint32_t));
    dt->md = pcre2_match_data_create(32, NULL);
    dt->mctx = pcre2_match_context_create(NULL);
    if (!dt->mctx)
        goto fail;
    pcre2_set_match_limit(dt->mctx, 3500);
    pcre2_set_depth_limit(dt->mctx, 1500);
    dt->aset_gen = calloc(de->n_aset ? de->n_aset : 1, sizeof(uint32_t));
    dt->aset_memo = calloc(de->n_aset ? de->n_aset : 1, 1);
    if (!dt->aset_gen || !dt->aset_memo)
        goto fail;
    dt->sc = stream_ctx_new(&de->cfg.stream);
    dt->sbuf_cap = de->cfg.stream.window + 256 * 1024;
    dt->sbuf = malloc(dt->sbuf_cap);
    uint32_t te = 1;
    while (te < de->cfg.threshold_entries && te < (1u << 28))
        te <<= 1;
    dt->th = calloc(te, sizeof(*dt->th));
    dt->th_mask = te - 1;
    dt->xf = rules_xform_scratch_new(de->rs, 256 * 1024, 512);
    if (!dt->seen || !dt->proven || !dt->alerted || !dt->cand || !dt->md || !dt->sc || !dt->sbuf || !dt->th ||
        !dt->xf)
        goto fail;
    if (de->proto_scratch && hs_clone_scratch(de->proto_scratch, &dt->scratch) != HS_SUCCESS)
        goto fail;
    return dt;
fail:
    detect_thread_free(dt);
    return NULL;
}

void detect_thread_free(struct detect_thread *dt)
{
    if (!dt)
        return;
    hs_free_scratch(dt->scratch);
    pcre2_match_data_free(dt->md);
    pcre2_match_context_free(dt->mctx);
    stream_ctx_free(dt->sc);
    free(dt->seen);
    free(dt->proven);
    free(dt->alerted);
    free(dt->cand);
    free(dt->sbuf);
    free(dt->th);
    free(dt->aset_gen);
    free(dt->aset_memo);
    rules_xform_scratch_free(dt->xf);
    free(dt);
}

void detect_thread_take_stream(struct detect_thread *to, struct detect_thread *from)
{
    struct stream_ctx *sc = to->sc;
    to->sc = from->sc;
    from->sc = sc;
    to->hook = from->hook;
    to->hook_ctx = from->hook_ctx;
}

bool detect_flow_inspection_done(const struct detect_thread *dt, const struct flow *f)
{
    uint64_t depth = dt->de->cfg.stream.depth;
    if (!f || f->key.proto != 6 || !depth || stream_flow_untracked(dt->sc, f))
        return false;
    for (int d = 0; d < 2; d++) {
        uint64_t size; /* reassembled bytes + 1 */
        bool past = stream_dir_size(dt->sc, f, (enum flow_dir)d, &size) && size > depth;
        /* tcp_fin_sides is indexed by direction too (flow stage) */
        if (!past && !(f->tcp_fin_sides & (1u << d)))
            return false;
    }
    return true;
}

void detect_thread_set_stream_hook(struct detect_thread *dt, stream_deliver_fn fn, void *ctx)
{
    dt->hook = fn;
    dt->hook_ctx = ctx;
}

void detect_thread_stats(const struct detect_thread *dt, struct detect_stats *st)
{
    *st = dt->st;
    st->stream = *stream_get_stats(dt->sc);
}

/* ------------------------------------------------------------------ payload matching */

/* Buffer being inspected: buf[0] is at absolute position `base` (0 for packets and app buffers;
 * minus the window length for a stream chunk, so absolute keywords (offset, depth, byte_*
 * without relative, isdataat) count from the start of the new data, as Suricata's chunked raw
 * stream inspection does); relative ones count from the previous match. */
struct mctx {
    struct detect_thread *dt;
    const uint8_t *buf;
    int64_t len;
    int64_t base;
    int64_t min_end; /* a match must reach past this (new stream data); -1: none */
};

static const uint8_t lc_table[256] = {
#define L(x) (uint8_t)((x) >= 'A' && (x) <= 'Z' ? (x) + 32 : (x))
#define R4(i) L(i), L(i + 1), L(i + 2), L(i + 3)
#define R16(i) R4(i), R4(i + 4), R4(i + 8), R4(i + 12)
#define R64(i) R16(i), R16(i + 16), R16(i + 32), R16(i + 48)
    R64(0), R64(64), R64(128), R64(192)
#undef R64
#undef R16
#undef R4
#undef L
};

static inline bool pat_at(const uint8_t *p, const struct rule_content *c)
{
    if (c->flags & CF_NOCASE) {
        for (uint32_t k = 0; k < c->len; k++)
            if (lc_table[p[k]] != lc_table[c->pat[k]])
                return false;
        return true;
    }
    return memcmp(p, c->pat, c->len) == 0;
}

/* Next occurrence of c in buf[from, end) (the whole pattern inside), or -1. */
static int64_t find_from(const uint8_t *buf, int64_t from, int64_t end, const struct rule_content *c)
{
    int64_t last = end - c->len;
    if (c->flags & CF_NOCASE) {
        uint8_t f = lc_table[c->pat[0]];
        for (int64_t i = from; i <= last; i++)
            if (lc_table[buf[i]] == f && pat_at(buf + i, c))
                return i;
        return -1;
    }
    if (from > last)
        return -1;
    const uint8_t *q = memmem(buf + from, (size_t)(end - from), c->pat, c->len);
    return q ? q - buf : -1;
}

static inline int64_t varval(const struct detect_thread *dt, int8_t var, int64_t lit)
{
    return var >= 0 ? (int64_t)dt->vars[var] : lit;
}

static bool extract_bytes(const uint8_t *p, int64_t avail, const struct rule_byte *b, uint64_t *out)
{
    if (b->nbytes > avail)
        return false;
    uint64_t v = 0;
    if (b->flags & BF_STRING) {
        int base = (b->flags & BF_HEX) ? 16 : (b->flags & BF_OCT) ? 8 : 10;
        int digits = 0;
        /* 0 bytes: the digits up to the first other byte (Suricata's string conversion) */
        int nb = b->nbytes ? b->nbytes : (int)(avail < 23 ? avail : 23);
        for (int i = 0; i < nb; i++) {
            int d;
            uint8_t ch = p[i];
            if (ch >= '0' && ch <= '9')
                d = ch - '0';
            else if (base == 16 && ch >= 'a' && ch <= 'f')
                d = ch - 'a' + 10;
            else if (base == 16 && ch >= 'A' && ch <= 'F')
                d = ch - 'A' + 10;
            else
                break;
            if (d >= base)
                break;
            v = v * (uint64_t)base + (uint64_t)d;
            digits++;
        }
        if (digits == 0)
            return false;
    } else if (b->flags & BF_LITTLE) {
        for (int i = b->nbytes - 1; i >= 0; i--)
            v = v << 8 | p[i];
    } else {
        for (int i = 0; i < b->nbytes; i++)
            v = v << 8 | p[i];
    }
    if (b->flags & BF_BITMASK) {
        v &= b->bitmask;
        uint64_t m = b->bitmask;
        while (m && !(m & 1)) {
            m >>= 1;
            v >>= 1;
        }
    }
    *out = v;
    return true;
}

static bool match_items(struct mctx *c, const struct rule_list *l, unsigned i, int64_t prev_end,
                        int64_t reach);

static bool match_items(struct mctx *c, const struct rule_list *l, unsigned i, int64_t prev_end,
                        int64_t reach)
{
    struct detect_thread *dt = c->dt;
    if (++dt->steps > MAX_STEPS)
        return false;
    if (i == l->n)
        return c->min_end < 0 || reach > c->min_end;
    const struct rule_item *it = &l->items[i];
    switch (it->type) {
    case RI_CONTENT: {
        const struct rule_content *ct = &it->u.c;
        int64_t start, end = c->len;
        if (it->relative) {
            int64_t dist = (ct->flags & CF_DISTANCE) ? varval(dt, ct->distance_var, ct->distance) : 0;
            start = prev_end + dist;
            if (ct->flags & CF_WITHIN) {
                int64_t w = prev_end + dist + varval(dt, ct->within_var, ct->within);
                if (w < end)
                    end = w;
            }
            if (start < 0)
                start = 0;
        } else {
            int64_t off = (ct->flags & CF_OFFSET) ? varval(dt, ct->offset_var, ct->offset) : 0;
            /* unanchored: the whole buffer, window included, so a content spanning the
             * previous segment is found (min_end keeps old matches from firing again) */
            start = (ct->flags & (CF_OFFSET | CF_DEPTH | CF_STARTSWITH)) ? off - c->base : 0;
            if (ct->flags & CF_STARTSWITH) {
                end = (int64_t)ct->len - c->base;
            } else if (ct->flags & CF_DEPTH) {
                int64_t d = off + varval(dt, ct->depth_var, ct->depth) - c->base;
                if (d < end)
                    end = d;
            }
            if (start < 0)
                start = 0;
        }
        if (end > c->len)
            end = c->len;
        if (ct->flags & CF_ENDSWITH) {
            int64_t p = c->len - ct->len;
            bool hit = p >= start && p + ct->len <= end && p >= 0 && pat_at(c->buf + p, ct);
            if (ct->flags & CF_NEGATED)
                return !hit && match_items(c, l, i + 1, prev_end, reach);
            return hit && match_items(c, l, i + 1, p + ct->len,
                                      p + ct->len > reach ? p + ct->len : reach);
        }
        if (ct->flags & CF_NEGATED) {
            if (start <= end && find_from(c->buf, start, end, ct) >= 0)
                return false;
            return match_items(c, l, i + 1, prev_end, reach);
        }
        for (int64_t p = start; p <= end - (int64_t)ct->len;) {
            p = find_from(c->buf, p, end, ct);
            if (p < 0)
                return false;
            int64_t e = p + ct->len;
            if (match_items(c, l, i + 1, e, e > reach ? e : reach))
                return true;
            if (dt->steps > MAX_STEPS)
                return false;
            p++;
        }
        return false;
    }
    case RI_PCRE: {
        const struct rule_pcre *pc = &it->u.p;
        int64_t from = (pc->flags & PF_RELATIVE) ? prev_end : 0;
        /* an anchored pattern on a stream chunk anchors at the new data, as Suricata's chunk
         * inspection does (the window before it is only there for spanning matches) */
        if (!(pc->flags & PF_RELATIVE) && c->base < 0 && pc->anchored)
            from = -c->base;
        if (from > c->len)
            return (pc->flags & PF_NEGATED) ? match_items(c, l, i + 1, prev_end, reach) : false;
        const uint8_t *subj = c->buf + from;
        size_t slen = (size_t)(c->len - from);
        size_t so = 0;
        for (;;) {
            int rc = pcre2_match(pc->re, subj, slen, so, 0, dt->md, dt->mctx);
            if (rc < 0) {
                if (pc->flags & PF_NEGATED)
                    return match_items(c, l, i + 1, prev_end, reach);
                return false;
            }
            if (pc->flags & PF_NEGATED)
                return false;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(dt->md);
            int64_t e = from + (int64_t)ov[1];
            size_t mstart = ov[0];
            if (match_items(c, l, i + 1, e, e > reach ? e : reach))
                return true;
            if (dt->steps > MAX_STEPS || mstart + 1 > slen)
                return false;
            so = mstart + 1;
        }
    }
    case RI_BYTE_TEST: {
        const struct rule_byte *b = &it->u.b;
        struct rule_byte bv;
        if (b->nbytes_var >= 0 && !(b = rules_byte_resolve(b, dt->vars, &bv)))
            return false; /* byte count from a byte_extract variable, out of range */
        int64_t pos = (it->relative ? prev_end : -c->base) + varval(dt, b->offset_var, b->offset);
        uint64_t v;
        if (pos < 0 || pos > c->len || !extract_bytes(c->buf + pos, c->len - pos, b, &v))
            return false;
        uint64_t t = b->value_var >= 0 ? dt->vars[b->value_var] : b->value;
        bool r;
        switch (b->op) {
        case BOP_LT: r = v < t; break;
        case BOP_GT: r = v > t; break;
        case BOP_EQ: r = v == t; break;
        case BOP_LE: r = v <= t; break;
        case BOP_GE: r = v >= t; break;
        case BOP_AND: r = (v & t) != 0; break;
        case BOP_OR: r = (v ^ t) != 0; break;
        default: r = false;
        }
        if (b->flags & BF_NEGATE)
            r = !r;
        return r && match_items(c, l, i + 1, prev_end, reach);
    }
    case RI_BYTE_JUMP: {
        const struct rule_byte *b = &it->u.b;
        struct rule_byte bv;
        if (b->nbytes_var >= 0 && !(b = rules_byte_resolve(b, dt->vars, &bv)))
            return false; /* byte count from a byte_extract variable, out of range */
        int64_t pos = (it->relative ? prev_end : -c->base) + varval(dt, b->offset_var, b->offset);
        uint64_t v;
        if (pos < 0 || pos > c->len || !extract_bytes(c->buf + pos, c->len - pos, b, &v))
            return false;
        int64_t jump = (int64_t)(v * b->multiplier);
        if (b->flags & BF_ALIGN)
            jump = (jump + 3) & ~(int64_t)3;
        int64_t np;
        if (b->flags & BF_FROM_BEGINNING)
            np = jump - c->base;
        else if (b->flags & BF_FROM_END)
            np = c->len + jump;
        else
            np = pos + b->nbytes + jump;
        np += b->post_offset;
        if (np < 0 || np >= c->len)
            return false;
        return match_items(c, l, i + 1, np, np > reach ? np : reach);
    }
    case RI_BYTE_EXTRACT: {
        const struct rule_byte *b = &it->u.b;
        int64_t pos = (it->relative ? prev_end : -c->base) + b->offset;
        uint64_t v;
        if (pos < 0 || pos > c->len || !extract_bytes(c->buf + pos, c->len - pos, b, &v))
            return false;
        v *= b->multiplier;
        if (b->align)
            v = (v + b->align - 1) / b->align * b->align;
        uint64_t saved = dt->vars[b->var];
        dt->vars[b->var] = v;
        int64_t e = pos + b->nbytes;
        if (match_items(c, l, i + 1, e, e > reach ? e : reach))
            return true;
        dt->vars[b->var] = saved;
        return false;
    }
    case RI_ISDATAAT: {
        const struct rule_isdataat *d = &it->u.d;
        int64_t v = varval(dt, d->value_var, d->value);
        bool present = d->relative ? prev_end + v <= c->len : v - c->base < c->len;
        if (present == d->negated)
            return false;
        return match_items(c, l, i + 1, prev_end, reach);
    }
    }
    return false;
}

static bool list_match(struct detect_thread *dt, const struct rule_list *l, const uint8_t *buf,
                       uint32_t len, int64_t base, int64_t min_end)
{
    struct mctx c = {.dt = dt, .buf = buf, .len = len, .base = (int64_t)base, .min_end = min_end};
    if (l->bsize.op && !rule_num_match(&l->bsize, len))
        return false; /* bsize / urilen (sticky buffers only) */
    dt->steps = 0;
    return match_items(&c, l, 0, 0, 0);
}

/* ------------------------------------------------------------------ header conditions */

static bool has_bit(const struct flow *f, uint16_t id)
{
    for (unsigned i = 0; i < f->n_flowbits; i++)
        if (f->flowbits[i] == id)
            return true;
    return false;
}

static bool flowbits_check(const struct rule *r, const struct flow *f)
{
    for (unsigned i = 0; i < r->n_flowbits; i++) {
        const struct rule_flowbit *fb = &r->flowbits[i];
        if (fb->cmd != FB_ISSET && fb->cmd != FB_ISNOTSET)
            continue;
        bool want = fb->cmd == FB_ISSET;
        if (fb->any_of) {
            bool ok = false;
            for (unsigned k = 0; k < fb->n && !ok; k++)
                ok = (f && has_bit(f, fb->ids[k])) == want;
            if (!ok)
                return false;
        } else {
            for (unsigned k = 0; k < fb->n; k++)
                if ((f && has_bit(f, fb->ids[k])) != want)
                    return false;
        }
    }
    return true;
}

static void bit_set(struct flow *f, uint16_t id)
{
    if (has_bit(f, id) || f->n_flowbits >= FLOW_MAX_FLOWBITS)
        return;
    f->flowbits[f->n_flowbits++] = id;
}

static void bit_unset(struct flow *f, uint16_t id)
{
    for (unsigned i = 0; i < f->n_flowbits; i++)
        if (f->flowbits[i] == id) {
            f->flowbits[i] = f->flowbits[--f->n_flowbits];
            return;
        }
}

static void flowbits_apply(const struct rule *r, struct flow *f)
{
    if (!f)
        return;
    for (unsigned i = 0; i < r->n_flowbits; i++) {
        const struct rule_flowbit *fb = &r->flowbits[i];
        for (unsigned k = 0; k < fb->n; k++) {
            if (fb->cmd == FB_SET)
                bit_set(f, fb->ids[k]);
            else if (fb->cmd == FB_UNSET)
                bit_unset(f, fb->ids[k]);
            else if (fb->cmd == FB_TOGGLE) {
                if (has_bit(f, fb->ids[k]))
                    bit_unset(f, fb->ids[k]);
                else
                    bit_set(f, fb->ids[k]);
            }
        }
    }
}

static bool addr_port_match(const struct rule *r, const struct pkt_meta *m)
{
    bool v6 = m->ip_version == 6;
    bool ports = (m->flags & PKT_HAS_L4) && (m->flags & (PKT_TCP | PKT_UDP));
    bool need_ports = !r->sp.any || !r->dp.any;
    if (need_ports && !ports)
        return false;
    if (rule_addrs_match(&r->src, m->src, v6) && rule_addrs_match(&r->dst, m->dst, v6) &&
        (!need_ports || (rule_ports_match(&r->sp, m->sport) && rule_ports_match(&r->dp, m->dport))))
        return true;
    if (r->flags & RF_BIDIR)
        return rule_addrs_match(&r->src, m->dst, v6) && rule_addrs_match(&r->dst, m->src, v6) &&
               (!need_ports ||
                (rule_ports_match(&r->sp, m->dport) && rule_ports_match(&r->dp, m->sport)));
    return false;
}

static bool tcp_flags_match(const struct rule *r, uint8_t fl)
{
    fl &= (uint8_t)~r->tcp_flags_ignore;
    uint8_t v = r->tcp_flags_value;
    switch (r->tcp_flags_mode) {
    case '+': return (fl & v) == v;
    case '*': return (fl & v) != 0;
    case '!': return (fl & v) == 0;
    default: return fl == v;
    }
}

static bool header_match(struct detect_thread *dt, const struct rule *r, bool on_stream)
{
    const struct pkt_meta *m = dt->m;
    struct flow *f = dt->f;
    switch (r->ipproto) {
    case 6: if (!(m->flags & PKT_TCP)) return false; break;
    case 17: if (!(m->flags & PKT_UDP)) return false; break;
    case 1: if (!(m->flags & PKT_ICMP)) return false; break;
    default: if (!m->ip_version) return false;
    }
    if (r->app_proto && (!f || f->app_proto != r->app_proto))
        return false;
    /* a header-only rule naming a protocol (Suricata's app_layer type) sees it on a packet as
     * Suricata's packet detection does: detect_alproto_priv.h */
    if (r->app_proto && r->n_lists == 0 && !dt->tx_path && !detect_alproto_visible(f))
        return false;
    if (r->n_alproto && !rule_alproto_match(r->alproto, r->n_alproto, f ? f->app_proto : 0))
        return false;
    /* cheap per-packet tests before the address sets */
    if ((r->flow_flags & FLOW_TO_SERVER_F) && (!f || dt->dir != FLOW_TO_SERVER))
        return false;
    if ((r->flow_flags & FLOW_TO_CLIENT_F) && (!f || dt->dir != FLOW_TO_CLIENT))
        return false;
    if (r->tcp_flags_set && (!(m->flags & PKT_TCP) || !tcp_flags_match(r, m->tcp_flags)))
        return false;
    if (r->dsize.op && (on_stream || !rule_num_match(&r->dsize, m->payload_len)))
        return false;
    if (!addr_port_match(r, m))
        return false;
    if (r->ttl.op && !rule_num_match(&r->ttl, m->ttl))
        return false;
    if (r->ip_proto.op && !rule_num_match(&r->ip_proto, m->proto))
        return false;
    if (r->dsize.op && (on_stream || !rule_num_match(&r->dsize, m->payload_len)))
        return false;
    if (r->tcp_flags_set && (!(m->flags & PKT_TCP) || !tcp_flags_match(r, m->tcp_flags)))
        return false;
    if (r->itype.op || r->icode.op || r->icmp_id.op || r->icmp_seq.op) {
        if (!(m->flags & PKT_ICMP))
            return false;
        if (r->itype.op && !rule_num_match(&r->itype, m->icmp_type))
            return false;
        if (r->icode.op && !rule_num_match(&r->icode, m->icmp_code))
            return false;
        bool echo = m->icmp_type == 0 || m->icmp_type == 8 || m->icmp_type == 128 ||
                    m->icmp_type == 129;
        if (r->icmp_id.op && (!echo || !rule_num_match(&r->icmp_id, m->icmp_id)))
            return false;
        if (r->icmp_seq.op && (!echo || !rule_num_match(&r->icmp_seq, m->icmp_seq)))
            return false;
    }
    uint16_t ff = r->flow_flags;
    if (ff) {
        if (ff & (FLOW_TO_SERVER_F | FLOW_TO_CLIENT_F)) {
            if (!f)
                return false;
            if ((ff & FLOW_TO_SERVER_F) && dt->dir != FLOW_TO_SERVER)
                return false;
            if ((ff & FLOW_TO_CLIENT_F) && dt->dir != FLOW_TO_CLIENT)
                return false;
        }
        if (ff & (FLOW_ESTABLISHED_F | FLOW_NOT_ESTABLISHED_F)) {
            /* the state this packet left (the flow stage may be a burst ahead) */
            enum flow_state fs = f ? detect_state_get(f) : FLOW_STATE_NEW;
            bool est = fs == FLOW_STATE_ESTABLISHED || fs == FLOW_STATE_CLOSING;
            if (est && (m->flags & PKT_TCP) && stream_flow_untracked(dt->sc, f))
                est = false; /* Suricata: no TCP session for a midstream flow */
            if ((ff & FLOW_ESTABLISHED_F) && !est)
                return false;
            if ((ff & FLOW_NOT_ESTABLISHED_F) && est)
                return false;
        }
        if ((ff & FLOW_ONLY_STREAM_F) && !on_stream)
            return false;
        if ((ff & FLOW_NO_STREAM_F) && on_stream)
            return false;
        if ((ff & FLOW_ONLY_FRAG_F) && !(m->flags & PKT_REASSEMBLED))
            return false;
        if ((ff & FLOW_NO_FRAG_F) && (m->flags & PKT_REASSEMBLED))
            return false;
    }
    if (r->stream_size_side) {
        uint64_t cs, ss;
        if (!f || !(m->flags & PKT_TCP))
            return false;
        bool hc = stream_dir_size(dt->sc, f, FLOW_TO_SERVER, &cs);
        bool hs = stream_dir_size(dt->sc, f, FLOW_TO_CLIENT, &ss);
        if (dt->size_adj) {
            /* as once stream_packet() has returned, when the other inspections run */
            if (dt->size_dir == FLOW_TO_SERVER && hc)
                cs += dt->size_adj;
            else if (dt->size_dir == FLOW_TO_CLIENT && hs)
                ss += dt->size_adj;
        }
        bool okc = hc && rule_num_match(&r->stream_size, cs);
        bool oks = hs && rule_num_match(&r->stream_size, ss);
        switch (r->stream_size_side) {
        case SS_CLIENT: if (!okc) return false; break;
        case SS_SERVER: if (!oks) return false; break;
        case SS_BOTH: if (!okc || !oks) return false; break;
        default: if (!okc && !oks) return false;
        }
    }
    if (r->n_flowbits && !flowbits_check(r, f))
        return false;
    return true;
}

/* ------------------------------------------------------------------ thresholds */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t addr_key(const uint8_t *a)
{
    uint64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, a + 8, 8);
    return mix64(x ^ mix64(y));
}

static uint64_t track_key(const struct detect_thread *dt, uint8_t track)
{
    switch (track) {
    case TRACK_SRC: return addr_key(dt->m->src);
    case TRACK_DST: return addr_key(dt->m->dst);
    case TRACK_BOTH: return addr_key(dt->m->src) ^ mix64(addr_key(dt->m->dst) + 1);
    case TRACK_FLOW: return dt->f ? mix64(dt->f->flow_id + 7) : addr_key(dt->m->src);
    default: return 0;
    }
}

static struct th_entry *th_lookup(struct detect_thread *dt, uint32_t rule, uint8_t kind,
                                  uint64_t key)
{
    uint64_t h = mix64(key ^ ((uint64_t)rule << 8 | kind));
    for (uint32_t probe = 0; probe < 16; probe++) {
        struct th_entry *e = &dt->th[(h + probe) & dt->th_mask];
        if (e->rule == 0) {
            e->rule = rule + 1;
            e->key = key;
            e->kind = kind;
            e->count = 0;
            e->first_ns = 0;
            e->next = 0;
            return e;
        }
        if (e->rule == rule + 1 && e->key == key && e->kind == kind)
            return e;
    }
    /* table full: reuse the slot whose window is oldest (bounded memory) */
    struct th_entry *old = NULL;
    for (uint32_t probe = 0; probe < 16; probe++) {
        struct th_entry *e = &dt->th[(h + probe) & dt->th_mask];
        if (!old || e->first_ns < old->first_ns)
            old = e;
    }
    dt->st.threshold_full++;
    old->rule = rule + 1;
    old->key = key;
    old->kind = kind;
    old->count = 0;
    old->first_ns = 0;
    old->next = 0;
    return old;
}

/* Suricata semantics, packet time. Returns true if the match may alert. */
static bool threshold_ok(struct detect_thread *dt, const struct rule *r,
                         const struct rule_threshold *t, uint8_t kind)
{
    uint64_t now = dt->m->ts_ns;
    struct th_entry *e = th_lookup(dt, r->idx, kind, track_key(dt, t->track));
    uint64_t win = (uint64_t)t->seconds * NS_PER_S;
    if (t->type == TH_BACKOFF) {
        if (e->next == 0)
            e->next = t->count;
        e->count++;
        /* alerts at the count-th match, then count*m, count*m^2, ... */
        if (e->count == e->next) {
            e->next *= t->multiplier;
            return true;
        }
        return false;
    }
    if (e->count == 0 || now - e->first_ns > win) {
        e->first_ns = now;
        e->count = 0;
    }
    e->count++;
    switch (t->type) {
    case TH_LIMIT: return e->count <= t->count;
    case TH_THRESHOLD:
        if (e->count >= t->count) {
            e->count = 0;
            return true;
        }
        return false;
    case TH_BOTH: return e->count == t->count;
    case TH_DETECTION_FILTER: return e->count > t->count;
    default: return true;
    }
}

static bool suppressed(const struct detect_thread *dt, const struct rule *r)
{
    bool v6 = dt->m->ip_version == 6;
    for (unsigned i = 0; i < r->n_suppress; i++) {
        const struct rule_suppress *s = &r->suppress[i];
        switch (s->track) {
        case 0: return true;
        case TRACK_SRC: if (rule_addrs_match(&s->addrs, dt->m->src, v6)) return true; break;
        case TRACK_DST: if (rule_addrs_match(&s->addrs, dt->m->dst, v6)) return true; break;
        default:
            if (rule_addrs_match(&s->addrs, dt->m->src, v6) ||
                rule_addrs_match(&s->addrs, dt->m->dst, v6))
                return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ per packet */

/* A rule fully matched: side effects and the alert decision. */
static void rule_matched(struct detect_thread *dt, const struct rule *r, bool on_stream)
{
    if (dt->alerted[r->idx] == dt->agen)
        return;
    dt->alerted[r->idx] = dt->agen;
    flowbits_apply(r, dt->f);
    if ((r->flags & RF_BYPASS) && dt->f)
        dt->f->detect_flags |= DETECT_FLOW_BYPASS; /* the engine bypasses the flow after this packet */
    if (r->flags & RF_NOALERT)
        return;
    if (r->detection_filter.type && !threshold_ok(dt, r, &r->detection_filter, 1)) {
        dt->st.suppressed++;
        return;
    }
    if (r->threshold.type && !threshold_ok(dt, r, &r->threshold, 0)) {
        dt->st.suppressed++;
        return;
    }
    if (r->n_suppress && suppressed(dt, r)) {
        dt->st.suppressed++;
        return;
    }
    if (r->action == RULE_ACTION_PASS) {
        dt->pass_matched = true;
        return;
    }
    if (dt->n_alerts < MAX_ALERTS_PER_PKT)
        dt->alerts[dt->n_alerts++] = (struct pending_alert){r->idx, on_stream};
    else
        dt->st.suppressed++;
}

/* Evaluates rule r on a buffer (NULL for header-only rules). */
static void eval_rule(struct detect_thread *dt, const struct rule *r, uint16_t buffer,
                      const uint8_t *buf, uint32_t len, int64_t base, int64_t min_end,
                      bool on_stream)
{
    if (dt->alerted[r->idx] == dt->agen)
        return;
    dt->st.rules_checked++;
    if (!header_match(dt, r, on_stream))
        return;
    if (dt->lazy_n && buf == dt->sbuf && r->n_lists) {
        /* a rule is to be verified on the stream buffer: it may look anywhere in the window,
         * whose older part on_chunk left out */
        memcpy(dt->sbuf, dt->lazy_src, dt->lazy_n);
        dt->lazy_n = 0;
        dt->st.window_copies++;
    }
    for (unsigned li = 0; li < r->n_lists; li++) {
        const struct rule_list *l = &r->lists[li];
        if (l->buffer != buffer)
            return; /* a list this buffer does not carry */
        if (!buf || !list_match(dt, l, buf, len, base, min_end))
            return;
    }
    rule_matched(dt, r, on_stream);
}

static int cand_cmp_ctx_rank(const struct detect_engine *de, uint32_t a, uint32_t b)
{
    if (de->rank[a] != de->rank[b])
        return de->rank[a] < de->rank[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

static int cand_qsort_cmp(const void *a, const void *b, void *ctx)
{
    return cand_cmp_ctx_rank(ctx, *(const uint32_t *)a, *(const uint32_t *)b);
}

/* Flowbit setters before readers (Suricata orders signatures so), then rule order. */
static void sort_cands(struct detect_thread *dt)
{
    const struct detect_engine *de = dt->de;
    if (dt->n_cand > 16) {
        qsort_r(dt->cand, dt->n_cand, sizeof(uint32_t), cand_qsort_cmp, (void *)de);
        return;
    }
    for (uint32_t i = 1; i < dt->n_cand; i++) {
        uint32_t x = dt->cand[i];
        uint32_t j = i;
        while (j > 0 && cand_cmp_ctx_rank(de, dt->cand[j - 1], x) > 0) {
            dt->cand[j] = dt->cand[j - 1];
            j--;
        }
        dt->cand[j] = x;
    }
}

static inline void add_cand(struct detect_thread *dt, uint32_t rule)
{
    if (dt->seen[rule] == dt->gen)
        return;
    dt->seen[rule] = dt->gen;
    dt->cand[dt->n_cand++] = rule;
}

struct scan_ctx {
    struct detect_thread *dt;
    const struct mpm_group *g;
    int64_t min_to; /* a hit whose end offset (in the scanned bytes) is past this proves a
                       fast-pattern-only rule: min_end - the scan's start */
};

static int on_group_match(unsigned id, unsigned long long from, unsigned long long to,
                          unsigned flags, void *ctx)
{
    (void)from;
    (void)to;
    (void)flags;
    struct scan_ctx *s = ctx;
    struct detect_thread *dt = s->dt;
    uint32_t rule = s->g->rule_of[id];
    dt->st.mpm_hits++;
    /* singlematch: only the pattern's first hit is reported; when that one lies in old bytes
     * the rule is verified as usual (it searches the whole buffer for a later one) */
    if (dt->de->fp_only[rule] && (int64_t)to > s->min_to)
        dt->proven[rule] = dt->gen;
    add_cand(dt, rule);
    return 0;
}

static void new_gen(struct detect_thread *dt)
{
    if (++dt->gen == 0) {
        memset(dt->seen, 0, dt->de->n_rules * sizeof(uint32_t));
        memset(dt->proven, 0, dt->de->n_rules * sizeof(uint32_t));
        dt->gen = 1;
    }
    dt->n_cand = 0;
}

/* Scans buf with group g, then verifies the candidates plus the group's rules without fast
 * pattern. */
static void ip_index_lookup(struct detect_thread *dt, const struct ip_index *idx);

/* Whether the packet's source (bit 0) / destination (bit 1) is in address set id; computed
 * once per packet. */
static uint8_t aset_test(struct detect_thread *dt, uint16_t id)
{
    if (id == ASET_ALL)
        return 3;
    if (dt->aset_gen[id] != dt->pgen) {
        const struct rule_addrs *a = dt->de->aset[id];
        bool v6 = dt->m->ip_version == 6;
        dt->aset_memo[id] = (uint8_t)(rule_addrs_match(a, dt->m->src, v6) |
                                      rule_addrs_match(a, dt->m->dst, v6) << 1);
        dt->aset_gen[id] = dt->pgen;
    }
    return dt->aset_memo[id];
}

/* The per-port databases of the packet's destination and source ports and that of the flow's
 * protocol (group_split_ports), from the same start as the group's own scan. */
static void scan_ports(struct detect_thread *dt, const struct port_mpm *pm, const uint8_t *buf,
                       uint32_t len, int64_t min_end)
{
    const struct pkt_meta *m = dt->m;
    uint16_t k[3] = {0, 0, 0};
    if ((m->flags & PKT_HAS_L4) && (m->flags & (PKT_TCP | PKT_UDP))) {
        /* else port rules cannot match (addr_port_match) */
        k[0] = pm->of_dp ? pm->of_dp[m->dport] : 0;
        k[1] = pm->of_sp ? pm->of_sp[m->sport] : 0;
    }
    if (dt->f && dt->f->app_proto && dt->f->app_proto < 256)
        k[2] = pm->of_app[dt->f->app_proto];
    if (!k[0] && !k[1] && !k[2])
        return;
    uint32_t from = 0;
    if (min_end > 0 && (uint64_t)min_end + 1 > dt->de->stream_fp_max)
        from = (uint32_t)(min_end + 1 - dt->de->stream_fp_max);
    if (from >= len)
        return;
    for (int i = 0; i < 3; i++) {
        if (!k[i] || (i >= 1 && k[i] == k[0]) || (i == 2 && k[2] == k[1]))
            continue;
        struct scan_ctx s = {dt, &pm->subs[k[i] - 1], min_end - (int64_t)from};
        hs_scan(s.g->db, (const char *)buf + from, len - from, 0, dt->scratch, on_group_match,
                &s);
    }
}

static void inspect_group(struct detect_thread *dt, const struct mpm_group *g, uint16_t buffer,
                          const uint8_t *buf, uint32_t len, int64_t base, int64_t min_end,
                          bool on_stream, bool (*want)(const struct rule *, bool), bool arg)
{
    const struct detect_engine *de = dt->de;
    new_gen(dt);
    if (g->db && buf && len) {
        /* on a stream buffer, a fast pattern that ends in the new data starts at most
         * (longest - 1) bytes before it: older bytes were scanned with the earlier chunk */
        uint32_t from = 0;
        if (min_end > 0 && (uint64_t)min_end + 1 > de->stream_fp_max)
            from = (uint32_t)(min_end + 1 - de->stream_fp_max);
        struct scan_ctx s = {dt, g, min_end - (int64_t)from};
        dt->st.payload_bytes += len - from;
        hs_scan(g->db, (const char *)buf + from, len - from, 0, dt->scratch, on_group_match, &s);
    }
    if (g->ports && buf && len)
        scan_ports(dt, g->ports, buf, len, min_end);
    if (!dt->mpm_only)
        ip_index_lookup(dt, &g->by_addr);
    if (!dt->mpm_only && (dt->m->flags & PKT_HAS_L4) && (dt->m->flags & (PKT_TCP | PKT_UDP))) {
        if (g->by_dp.first)
            for (uint32_t i = g->by_dp.first[dt->m->dport]; i < g->by_dp.first[dt->m->dport + 1]; i++)
                add_cand(dt, g->by_dp.rules[i]);
        if (g->by_sp.first)
            for (uint32_t i = g->by_sp.first[dt->m->sport]; i < g->by_sp.first[dt->m->sport + 1]; i++)
                add_cand(dt, g->by_sp.rules[i]);
    }
    /* flowbit setters before readers (Suricata orders signatures so): one pass per rank
     * rather than a sort, the candidate lists can be long */
    uint8_t ranks = de->has_flowbits ? 4 : 1;
    for (uint8_t rank = 0; rank < ranks; rank++) {
        for (uint32_t i = 0; i < dt->n_cand; i++) {
            const struct rule *r = &de->rules[dt->cand[i]];
            if (ranks > 1 && de->rank[r->idx] != rank)
                continue;
            if (want && !want(r, arg))
                continue;
            if (dt->proven[r->idx] == dt->gen && buffer == RULE_BUF_PAYLOAD) {
                /* its one content was found where it may match: header conditions only */
                if (dt->alerted[r->idx] != dt->agen) {
                    dt->st.rules_checked++;
                    dt->st.mpm_proven++;
                    if (header_match(dt, r, on_stream))
                        rule_matched(dt, r, on_stream);
                }
                continue;
            }
            eval_rule(dt, r, buffer, buf, len, base, min_end, on_stream);
        }
        /* rules without fast pattern: runs sharing address sets, in rank order */
        for (uint32_t b = 0; !dt->mpm_only && b < g->n_buckets; b++) {
            const struct addr_bucket *bk = &g->buckets[b];
            if (ranks > 1 && bk->rank != rank)
                continue;
            uint8_t ms = aset_test(dt, bk->src), md = aset_test(dt, bk->dst);
            bool fwd = (ms & 1) && (md & 2);
            bool rev = bk->bidir && (ms & 2) && (md & 1);
            if (!fwd && !rev)
                continue;
            for (uint32_t i = bk->first; i < bk->first + bk->n; i++) {
                const struct rule *r = &de->rules[g->nompm[i]];
                if (want && !want(r, arg))
                    continue;
                eval_rule(dt, r, buffer, buf, len, base, min_end, on_stream);
            }
        }
    }
}

/* Packet payload inspection of a rule: plain TCP payload rules go to the stream instead when
 * the packet entered it (Suricata: PKT_STREAM_ADD without SIG_FLAG_REQUIRE_PACKET). */
static bool want_on_packet(const struct rule *r, bool stream_added)
{
    if (!(r->flags & RF_HAS_PAYLOAD))
        return true;
    if (r->flags & RF_TCP_PKT)
        return true;
    if (r->dsize.op)
        return true;
    if (r->flags & RF_TCP_STREAM)
        return false;
    return !stream_added;
}

/* The elementary interval of a non-empty index that holds IPv4 address a. */
static const struct ip_interval *ip_index_find(const struct ip_index *idx, const uint8_t *a)
{
    uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    uint32_t lo = 0, hi = idx->n;
    while (lo + 1 < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (idx->iv[mid].lo <= x)
            lo = mid;
        else
            hi = mid;
    }
    return &idx->iv[lo];
}

/* Adds the rules of idx whose indexed address side holds the packet's source or
 * destination. */
static void ip_index_lookup(struct detect_thread *dt, const struct ip_index *idx)
{
    const struct pkt_meta *m = dt->m;
    if (m->ip_version != 4 || idx->n == 0)
        return;
    for (int side = 0; side < 2; side++) {
        const struct ip_interval *iv = ip_index_find(idx, side ? m->dst : m->src);
        for (uint32_t k = 0; k < iv->n; k++)
            add_cand(dt, idx->rules[iv->first + k]);
    }
}

static void inspect_iponly(struct detect_thread *dt)
{
    const struct detect_engine *de = dt->de;
    new_gen(dt);
    /* three lists, each sorted by (flowbit rank, rule) at build time: the interval of the
     * source, that of the destination and the rules not indexed; merged in that order with
     * duplicates dropped, so no per-packet sort */
    const uint32_t *l[3] = {NULL, NULL, de->iponly_generic};
    uint32_t n[3] = {0, 0, de->n_iponly_generic};
    const struct pkt_meta *m = dt->m;
    if (m->ip_version == 4 && de->iponly.n) {
        for (int side = 0; side < 2; side++) {
            const struct ip_interval *iv = ip_index_find(&de->iponly, side ? m->dst : m->src);
            l[side] = de->iponly.rules + iv->first;
            n[side] = iv->n;
        }
    }
    uint32_t k[3] = {0, 0, 0};
    for (;;) {
        int best = -1;
        for (int j = 0; j < 3; j++)
            if (k[j] < n[j] &&
                (best < 0 || cand_cmp_ctx_rank(de, l[j][k[j]], l[best][k[best]]) < 0))
                best = j;
        if (best < 0)
            break;
        add_cand(dt, l[best][k[best]++]);
    }
    for (uint32_t i = 0; i < dt->n_cand; i++)
        eval_rule(dt, &de->rules[dt->cand[i]], RULE_BUF_PAYLOAD, NULL, 0, 0, -1, false);
}

static void fill_ref(const struct detect_thread *dt, struct event *ev)
{
    const struct pkt_meta *m = dt->m;
    memcpy(ev->ref.src, m->src, 16);
    memcpy(ev->ref.dst, m->dst, 16);
    ev->ref.sport = m->sport;
    ev->ref.dport = m->dport;
    ev->ref.vlan[0] = m->vlan[0];
    ev->ref.vlan[1] = m->vlan[1];
    ev->ref.vlan_count = m->vlan_count;
    ev->ref.proto = m->proto;
    ev->ref.ip_version = m->ip_version;
    if (dt->f) {
        ev->ref.flow_id = dt->f->flow_id;
        ev->ref.has_flow = 1;
        ev->ref.app_proto = dt->f->app_proto;
    }
}

static int alert_cmp(const struct detect_thread *dt, const struct pending_alert *a,
                     const struct pending_alert *b)
{
    const struct rule *x = &dt->de->rules[a->rule], *y = &dt->de->rules[b->rule];
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    if (x->meta->sid != y->meta->sid)
        return x->meta->sid < y->meta->sid ? -1 : 1;
    return 0;
}

static unsigned flush_alerts(struct detect_thread *dt, uint64_t tx_id)
{
    unsigned n = 0;
    if (dt->pass_matched) {
        /* pass: the packet raises nothing (Suricata stops inspecting it) */
        dt->st.suppressed += dt->n_alerts;
        dt->n_alerts = 0;
        dt->pass_matched = false;
        return 0;
    }
    for (unsigned i = 1; i < dt->n_alerts; i++) {
        struct pending_alert x = dt->alerts[i];
        unsigned j = i;
        while (j > 0 && alert_cmp(dt, &dt->alerts[j - 1], &x) > 0) {
            dt->alerts[j] = dt->alerts[j - 1];
            j--;
        }
        dt->alerts[j] = x;
    }
    for (unsigned i = 0; i < dt->n_alerts; i++) {
        const struct rule *r = &dt->de->rules[dt->alerts[i].rule];
        struct event ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = EVENT_ALERT;
        ev.ts_ns = dt->m->ts_ns;
        fill_ref(dt, &ev);
        ev.u.alert.rule = r->meta;
        ev.u.alert.sid = r->meta->sid;
        ev.u.alert.gid = r->meta->gid;
        ev.u.alert.rev = r->meta->rev;
        ev.u.alert.action = r->action;
        ev.u.alert.severity = r->priority;
        ev.u.alert.direction = (uint8_t)dt->dir;
        ev.u.alert.in_stream = dt->alerts[i].stream;
        ev.u.alert.tx_id = tx_id;
        if (dt->emit && dt->emit(dt->emit_ctx, &ev))
            n++;
        else
            dt->st.emit_failed++;
    }
    if (dt->f)
        dt->f->alerts += n;
    dt->st.alerts += n;
    dt->n_alerts = 0;
    return n;
}

static void stream_inspect_buf(struct detect_thread *dt)
{
    if (!dt->sbuf_active || dt->sbuf_len <= dt->sbuf_prev)
        return;
    const struct detect_engine *de = dt->de;
    /* matches must reach into the new bytes (the window part was inspected before) */
    int64_t min_end = dt->sbuf_prev ? (int64_t)dt->sbuf_prev : -1;
    inspect_group(dt, &de->stream, RULE_BUF_PAYLOAD, dt->sptr, dt->sbuf_len, dt->sbuf_base,
                  min_end, true, NULL, false);
    dt->sbuf_active = false;
}

static void on_chunk(void *ctx, struct flow *f, enum flow_dir dir, const struct stream_chunk *ch)
{
    struct detect_thread *dt = ctx;
    if (dt->hook)
        dt->hook(dt->hook_ctx, f, dir, ch);
    if (dt->sbuf_active && !ch->gap_before && dt->sbuf_len + ch->len <= dt->sbuf_cap) {
        if (dt->sbuf_inplace && ch->inplace && ch->data == dt->sptr + dt->sbuf_len) {
            dt->sbuf_len += ch->len; /* the next bytes of the same run */
            return;
        }
        if (dt->sbuf_inplace) {
            /* the stream may rewrite its buffer after this chunk: take a copy now */
            memcpy(dt->sbuf, dt->sptr, dt->sbuf_len);
            dt->sptr = dt->sbuf;
            dt->sbuf_inplace = false;
        }
        memcpy(dt->sbuf + dt->sbuf_len, ch->data, ch->len);
        dt->sbuf_len += ch->len;
        return;
    }
    stream_inspect_buf(dt);
    uint32_t prev = ch->prev_len;
    if (ch->last && !ch->inplace && prev + ch->len <= dt->sbuf_cap) {
        /* the packet's only chunk: inspected now, while ch->prev is valid. The scan needs
         * only the window's last (longest fast pattern - 1) bytes before the new data; the
         * rest of the window is copied when some rule is to be verified (inspect_group), on
         * most packets none is */
        uint32_t t = dt->de->stream_fp_max ? dt->de->stream_fp_max - 1 : 0;
        if (t > prev)
            t = prev;
        if (t)
            memcpy(dt->sbuf + prev - t, ch->prev + prev - t, t);
        memcpy(dt->sbuf + prev, ch->data, ch->len);
        dt->lazy_src = ch->prev;
        dt->lazy_n = prev - t;
        dt->sptr = dt->sbuf;
        dt->sbuf_inplace = false;
        dt->sbuf_len = prev + ch->len;
        dt->sbuf_prev = prev;
        dt->sbuf_base = -(int64_t)prev;
        dt->sbuf_active = true;
        dt->size_adj = ch->len;
        dt->size_dir = dir;
        stream_inspect_buf(dt);
        dt->size_adj = 0;
        dt->lazy_n = 0;
        return;
    }
    if (prev + ch->len > dt->sbuf_cap) {
        /* larger than the buffer: inspect the chunk alone */
        prev = 0;
    }
    if (ch->len > dt->sbuf_cap) {
        /* cannot happen with the default sizes (segments <= 64 KiB); inspect in place */
        dt->sbuf_active = false;
        inspect_group(dt, &dt->de->stream, RULE_BUF_PAYLOAD, ch->data, ch->len, 0, -1,
                      true, NULL, false);
        return;
    }
    /* in place: window and data are one run in the stream's buffer already */
    dt->sbuf_inplace = ch->inplace && (prev == 0 || ch->prev + ch->prev_len == ch->data);
    dt->sptr = dt->sbuf_inplace ? ch->data - prev : dt->sbuf;
    if (!dt->sbuf_inplace) {
        if (prev)
            memcpy(dt->sbuf, ch->prev + ch->prev_len - prev, prev);
        memcpy(dt->sbuf + prev, ch->data, ch->len);
    }
    dt->sbuf_len = prev + ch->len;
    dt->sbuf_prev = prev;
    /* Suricata inspects the raw stream chunk by chunk: offset/depth count from the start of the
     * new data; the window before it only serves matches that span into it */
    dt->sbuf_base = -(int64_t)prev;
    dt->sbuf_active = true;
}

unsigned detect_packet(struct detect_thread *dt, const struct pkt_meta *m, struct flow *f,
                       enum flow_dir dir, event_emit_fn emit, void *emit_ctx)
{
    const struct detect_engine *de = dt->de;
    dt->m = m;
    dt->f = f;
    dt->dir = dir;
    dt->emit = emit;
    dt->emit_ctx = emit_ctx;
    dt->n_alerts = 0;
    dt->pass_matched = false;
    if (++dt->agen == 0) {
        memset(dt->alerted, 0, de->n_rules * sizeof(uint32_t));
        dt->agen = 1;
    }
    if (++dt->pgen == 0) {
        memset(dt->aset_gen, 0, (de->n_aset ? de->n_aset : 1) * sizeof(uint32_t));
        dt->pgen = 1;
    }
    dt->st.packets++;
    dt->tx_path = false;
    if (!m->ip_version)
        return 0;
    int g = group_of_proto(m->proto);
    bool stream_added = false;
    uint16_t ap_before = f ? f->app_proto : 0;
    if (f)
        detect_state_update(f, m, dir);
    if ((m->flags & PKT_TCP) && f) {
        dt->sbuf_active = false;
        uint64_t skipped = stream_get_stats(dt->sc)->midstream_skipped;
        stream_added = stream_packet(dt->sc, f, dir, m, on_chunk, dt, emit, emit_ctx) ==
                       STREAM_ADDED;
        if (stream_get_stats(dt->sc)->midstream_skipped != skipped)
            f->detect_flags |= DETECT_FLOW_MIDSTREAM;
        stream_inspect_buf(dt);
    }
    if (f)
        detect_alproto_update(f, m, dir, ap_before);
    inspect_iponly(dt);
    inspect_group(dt, stream_added ? &de->tcp_added : &de->pkt[g], RULE_BUF_PAYLOAD, m->payload,
                  m->payload_len, 0, -1, false, want_on_packet, stream_added);
    return flush_alerts(dt, 0);
}

/* Sets up a pseudo packet of flow f in direction d for alerts raised from flushed data. */
static void pseudo_packet(struct detect_thread *dt, struct flow *f, enum flow_dir d)
{
    struct pkt_meta *pm = &dt->pseudo;
    memset(pm, 0, sizeof(*pm));
    pm->ts_ns = f->last_ns;
    pm->ip_version = f->key.ip_version;
    pm->proto = f->key.proto;
    pm->flags = PKT_TCP | PKT_HAS_L4 | (f->key.ip_version == 6 ? PKT_IPV6 : PKT_IPV4);
    int c = f->client_side & 1;
    int s = d == FLOW_TO_SERVER ? c : !c;
    memcpy(pm->src, f->key.addr[s], 16);
    memcpy(pm->dst, f->key.addr[!s], 16);
    pm->sport = f->key.port[s];
    pm->dport = f->key.port[!s];
    dt->m = pm;
    dt->dir = d;
    dt->tx_path = false;
    dt->n_alerts = 0;
    dt->pass_matched = false;
    if (++dt->agen == 0) {
        memset(dt->alerted, 0, dt->de->n_rules * sizeof(uint32_t));
        dt->agen = 1;
    }
    if (++dt->pgen == 0) {
        memset(dt->aset_gen, 0, (dt->de->n_aset ? dt->de->n_aset : 1) * sizeof(uint32_t));
        dt->pgen = 1;
    }
}

static void on_flush_chunk(void *ctx, struct flow *f, enum flow_dir dir,
                           const struct stream_chunk *ch)
{
    struct detect_thread *dt = ctx;
    if (dir != dt->dir) {
        stream_inspect_buf(dt);
        dt->flushed += flush_alerts(dt, 0);
        pseudo_packet(dt, f, dir);
    }
    on_chunk(ctx, f, dir, ch);
}

unsigned detect_flow_end(struct detect_thread *dt, struct flow *f, event_emit_fn emit,
                         void *emit_ctx)
{
    if (!f)
        return 0;
    dt->f = f;
    dt->emit = emit;
    dt->emit_ctx = emit_ctx;
    dt->flushed = 0;
    dt->sbuf_active = false;
    if (f->key.proto == 6 && detect_state_tcp(f) >= TCP_ESTABLISHED) {
        /* Suricata (IDS mode) inspects raw stream data once the other side acknowledged it,
         * and, for a session that got established, what never was when the flow ends, through
         * a pseudo packet without payload: only rules its stream prefilter finds run then
         * (payload rules without a fast pattern need a packet payload). Tripline inspected
         * these bytes as they arrived, as Suricata did their packets; the flow-end pass is
         * that second inspection. */
        for (int d = 0; d < 2; d++) {
            const uint8_t *tail;
            uint32_t n = stream_dir_unacked(dt->sc, f, (enum flow_dir)d, &tail);
            if (n == 0)
                continue;
            pseudo_packet(dt, f, (enum flow_dir)d);
            dt->mpm_only = true;
            inspect_group(dt, &dt->de->stream, RULE_BUF_PAYLOAD, tail, n, 0, -1, true, NULL,
                          false);
            dt->mpm_only = false;
            dt->flushed += flush_alerts(dt, 0);
        }
    }
    pseudo_packet(dt, f, FLOW_TO_SERVER);
    /* queued data (beyond holes) is matched as if carried by a packet of its direction */
    stream_flow_end(dt->sc, f, f->key.proto == 6 ? on_flush_chunk : NULL, dt);
    stream_inspect_buf(dt);
    dt->flushed += flush_alerts(dt, 0);
    return dt->flushed;
}

unsigned detect_buffers(struct detect_thread *dt, const struct pkt_meta *m, struct flow *f,
                        enum flow_dir dir, const struct detect_buffer *bufs, unsigned n,
                        uint64_t tx_id, event_emit_fn emit, void *emit_ctx)
{
    const struct detect_engine *de = dt->de;
    /* the rules' transformed buffers, derived from their base buffers */
    bufs = (const struct detect_buffer *)rules_xform_expand(dt->xf, (const struct rule_buf *)bufs,
                                                            n, &n);
    dt->tx_path = true; /* the transaction carries its protocol */
    dt->m = m;
    dt->f = f;
    dt->dir = dir;
    dt->emit = emit;
    dt->emit_ctx = emit_ctx;
    dt->n_alerts = 0;
    dt->pass_matched = false;
    if (++dt->agen == 0) {
        memset(dt->alerted, 0, de->n_rules * sizeof(uint32_t));
        dt->agen = 1;
    }
    if (++dt->pgen == 0) {
        memset(dt->aset_gen, 0, (de->n_aset ? de->n_aset : 1) * sizeof(uint32_t));
        dt->pgen = 1;
    }
    /* rules with one sticky buffer are matched here; a rule needing several lists is
     * verified against each list with the buffer of that id */
    for (unsigned b = 0; b < n; b++) {
        for (unsigned a = 0; a < de->n_app; a++) {
            if (de->app[a].buffer != bufs[b].id)
                continue;
            new_gen(dt);
            const struct mpm_group *g = &de->app[a].g;
            if (g->db && bufs[b].len) {
                struct scan_ctx s = {dt, g, -1};
                hs_scan(g->db, (const char *)bufs[b].data, bufs[b].len, 0, dt->scratch,
                        on_group_match, &s);
            }
            for (uint32_t i = 0; i < g->n_nompm; i++)
                add_cand(dt, g->nompm[i]);
            sort_cands(dt);
            for (uint32_t i = 0; i < dt->n_cand; i++) {
                const struct rule *r = &de->rules[dt->cand[i]];
                if (dt->alerted[r->idx] == dt->agen || !header_match(dt, r, true))
                    continue;
                bool ok = true;
                for (unsigned li = 0; li < r->n_lists && ok; li++) {
                    const struct rule_list *l = &r->lists[li];
                    const struct detect_buffer *hit = NULL;
                    for (unsigned k = 0; k < n; k++)
                        if (bufs[k].id == l->buffer)
                            hit = &bufs[k];
                    ok = hit && list_match(dt, l, hit->data, hit->len, 0, -1);
                }
                if (ok)
                    rule_matched(dt, r, true);
            }
        }
    }
    return flush_alerts(dt, tx_id);
}
