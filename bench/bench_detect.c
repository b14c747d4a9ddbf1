/* bench_detect: detection throughput per core, all cases in one run so the ratios hold.
 *
 *   bench_detect [-n PACKETS] [-f FLOWS] [-e ET_RULES_GLOB] [-p PCAP | -P] [-r REPEAT] [-k CASE]
 *                [-H]
 *
 * Generated traffic: TCP packets with 512-byte text payloads (pseudo-words) spread over FLOWS
 * established flows (three-way handshake first), each in sequence, so every packet goes
 * through stream reassembly and stream + packet matching, as on a worker. Cases: no rules,
 * 1,000 and 10,000 generated content rules (`alert tcp any any -> any any (content:"<word>";
 * sid:N;)`, 10-12 letter words drawn from the same syllable generator as the payload text, so
 * a few match), and the loadable part of ET Open. Then the capture (default
 * ../shared/data/pcaps/throughput_mix.pcap; -P skips it) replayed from memory through
 * decode -> flow -> detect with no rules and with ET Open. One thread, one core: Mpps and Gbps
 * (payload bytes and wire bytes: 512 + 54 header bytes) per case, the ratio to the no-rules
 * case and to Suricata 4.1's figures on this machine (1,000 rules 0.41 Mpps / 1.66 Gbps,
 * 10,000 rules 0.21 Mpps / 0.87 Gbps, throughput_mix with ET Open 0.16 Mpps / 0.40 Gbps).
 * Each case runs REPEAT times (default 1) and the fastest run is printed; alert counts must
 * not differ between runs.
 *
 * The syllable text above is hard on a literal matcher: rule words are made of the payload's
 * own syllables, so nearly every position starts some rule word's first bytes and the matcher
 * looks closer at many near misses. A second generated case, "web", runs the same traffic
 * shape on HTTP-like requests and natural-language-like text with rules on ET Open's own 8-24
 * byte contents (some planted in the text so alerts fire). For every generated rule case the
 * bench prints the Hyperscan-alone floor and the text's texture (near misses and matches per
 * packet). -k CASE runs only the cases whose name holds CASE (profiling). -H adds the floor
 * under other Hyperscan set-ups (singlematch off, hs_compile_multi, split databases, 8-byte
 * pieces, vectored mode; see hs_variant), also with -k (-k zzz: those alone).
 */
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hs.h>

#include "decode.h"
#include "detect.h"
#include "flow.h"
#include "pcap_source.h"
#include "rules.h"

#define PAYLOAD 512
#define WIRE (PAYLOAD + 54)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static const char *const syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa",
                                  "do", "fe", "gu", "hi", "jo", "ba", "ce", "wi", "xo", "yu",
                                  "an", "el", "is", "on", "ur", "th", "st", "qu", "br", "gr"};

static int word(char *out, int maxlen)
{
    int n = 0, parts = 2 + (int)(rnd() % 5);
    for (int i = 0; i < parts && n + 2 < maxlen; i++) {
        const char *s = syl[rnd() % (sizeof(syl) / sizeof(syl[0]))];
        out[n++] = s[0];
        out[n++] = s[1];
    }
    out[n] = 0;
    return n;
}

/* A set of rule contents (raw bytes). */
struct patset {
    unsigned n;
    uint8_t (*pat)[32];
    uint8_t *len;
};

static struct patset patset_new(unsigned n)
{
    struct patset ps = {0, malloc((size_t)n * 32), malloc(n)};
    return ps;
}

static void patset_free(struct patset *ps)
{
    free(ps->pat);
    free(ps->len);
}

static int hs_count(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *ctx);

static int hs_mark(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                   void *ctx)
{
    (void)from;
    (void)to;
    (void)flags;
    ((uint8_t *)ctx)[id] = 1;
    return 0;
}

/* ET Open's own content strings, decoded (|hex| included), distinct, 8-24 bytes (the sizes of
 * typical distinctive fast patterns), in a fixed pseudo-random order; at most max. Strings
 * found in the benign text (n_benign payloads) are left out: in ET they are never a rule's
 * only content (a rule firing on every ordinary request would not ship), they only
 * accompany a distinctive one; *dropped gets their number. */
static struct patset et_contents(const char *pattern, unsigned max, const uint8_t *benign,
                                 unsigned n_benign, unsigned *dropped)
{
    struct patset ps = patset_new(max);
    unsigned cap = 32768, n = 0;
    uint8_t (*all)[32] = malloc((size_t)cap * 32);
    uint8_t *alen = malloc(cap);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) == 0) {
        char line[65536];
        for (size_t fi = 0; fi < g.gl_pathc; fi++) {
            FILE *fp = fopen(g.gl_pathv[fi], "r");
            if (!fp)
                continue;
            while (fgets(line, sizeof(line), fp)) {
                if (strncmp(line, "alert", 5) != 0)
                    continue;
                for (char *c = strstr(line, "content:\""); c; c = strstr(c, "content:\"")) {
                    c += 9;
                    if (*c == '!')
                        continue;
                    uint8_t b[64];
                    unsigned l = 0;
                    bool hex = false, ok = true;
                    for (; *c && *c != '"' && ok; c++) {
                        if (*c == '|') {
                            hex = !hex;
                        } else if (hex) {
                            unsigned v;
                            if (*c == ' ')
                                continue;
                            if (sscanf(c, "%2x", &v) != 1 || !c[1]) {
                                ok = false;
                                break;
                            }
                            c++;
                            if (l < sizeof(b))
                                b[l++] = (uint8_t)v;
                        } else {
                            if (*c == '\\' && c[1])
                                c++;
                            if (l < sizeof(b))
                                b[l++] = (uint8_t)*c;
                        }
                    }
                    if (!ok || l < 8 || l > 24 || n == cap)
                        continue;
                    bool dup = false;
                    for (unsigned k = 0; k < n && !dup; k++) /* build time only */
                        dup = alen[k] == l && !memcmp(all[k], b, l);
                    if (dup)
                        continue;
                    memcpy(all[n], b, l);
                    alen[n++] = (uint8_t)l;
                }
            }
            fclose(fp);
        }
        globfree(&g);
    }
    *dropped = 0;
    if (n) {
        const char **pats = malloc(n * sizeof(char *));
        size_t *lens = malloc(n * sizeof(size_t));
        unsigned *ids = malloc(n * sizeof(unsigned));
        uint8_t *seen = calloc(n, 1);
        hs_database_t *db = NULL;
        hs_scratch_t *scr = NULL;
        hs_compile_error_t *ce = NULL;
        for (unsigned i = 0; i < n; i++) {
            pats[i] = (const char *)all[i];
            lens[i] = alen[i];
            ids[i] = i;
        }
        if (hs_compile_lit_multi(pats, NULL, ids, lens, n, HS_MODE_BLOCK, NULL, &db, &ce) ==
                HS_SUCCESS &&
            hs_alloc_scratch(db, &scr) == HS_SUCCESS)
            hs_scan(db, (const char *)benign, n_benign * PAYLOAD, 0, scr, hs_mark, seen);
        hs_free_compile_error(ce);
        hs_free_scratch(scr);
        hs_free_database(db);
        unsigned m = 0;
        for (unsigned i = 0; i < n; i++) {
            if (seen[i]) {
                if (getenv("BENCH_DETECT_VERBOSE"))
                    fprintf(stderr, "benign: %.*s\n", alen[i], (const char *)all[i]);
                continue;
            }
            memmove(all[m], all[i], 32);
            alen[m++] = alen[i];
        }
        *dropped = n - m;
        n = m;
        free(pats);
        free(lens);
        free(ids);
        free(seen);
    }
    /* fixed shuffle, so the 1,000 set is the first tenth of the 10,000 set */
    for (unsigned i = n; i > 1; i--) {
        unsigned j = rnd() % i;
        uint8_t t[32], tl = alen[i - 1];
        memcpy(t, all[i - 1], 32);
        memcpy(all[i - 1], all[j], 32);
        alen[i - 1] = alen[j];
        memcpy(all[j], t, 32);
        alen[j] = tl;
    }
    ps.n = n < max ? n : max;
    memcpy(ps.pat, all, (size_t)ps.n * 32);
    memcpy(ps.len, alen, ps.n);
    free(all);
    free(alen);
    return ps;
}

/* Realistic text: HTTP/1.1 request headers and HTML-ish natural-language bodies. Words come
 * from a vocabulary of common English words plus 4,000 pseudo-words from a larger syllable
 * inventory, drawn with a Zipf-like skew (frequent words often, the long tail rarely). */
static const char *const common[] = {
    "the", "of", "and", "to", "a", "in", "is", "it", "you", "that", "he", "was", "for", "on",
    "are", "with", "as", "I", "his", "they", "be", "at", "one", "have", "this", "from", "or",
    "had", "by", "not", "word", "but", "what", "some", "we", "can", "out", "other", "were",
    "all", "there", "when", "up", "use", "your", "how", "said", "an", "each", "she", "which",
    "do", "their", "time", "if", "will", "way", "about", "many", "then", "them", "write",
    "would", "like", "so", "these", "her", "long", "make", "thing", "see", "him", "two", "has",
    "look", "more", "day", "could", "go", "come", "did", "number", "sound", "no", "most",
    "people", "my", "over", "know", "water", "than", "call", "first", "who", "may", "down",
    "side", "been", "now", "find", "any", "new", "work", "part", "take", "get", "place",
    "made", "live", "where", "after", "back", "little", "only", "round", "man", "year",
    "came", "show", "every", "good", "me", "give", "our", "under", "name", "very", "through",
    "just", "form", "sentence", "great", "think", "say", "help", "low", "line", "differ",
    "turn", "cause", "much", "mean", "before", "move", "right", "boy", "old", "too", "same",
    "tell", "does", "set", "three", "want", "air", "well", "also", "play", "small", "end",
    "put", "home", "read", "hand", "port", "large", "spell", "add", "even", "land", "here",
    "must", "big", "high", "such", "follow", "act", "why", "ask", "men", "change", "went",
    "light", "kind", "off", "need", "house", "picture", "try", "us", "again", "animal",
    "point", "mother", "world", "near", "build", "self", "earth", "father", "account",
    "service", "update", "server", "login", "search", "user", "download", "image", "page"};
#define N_PSEUDO 4000
static char pseudo[N_PSEUDO][16];

static void pseudo_init(void)
{
    static const char *const on[] = {"b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n",
                                      "p", "r", "s", "t", "v", "w", "z", "ch", "sh", "th",
                                      "st", "tr", "pl", "gr", "br", "cl", "sp"};
    static const char *const nu[] = {"a", "e", "i", "o", "u", "ea", "ou", "ai", "io", "y"};
    static const char *const co[] = {"", "", "", "n", "r", "s", "t", "l", "m", "nd", "st",
                                      "ck", "ng", "rt", "x"};
    for (unsigned i = 0; i < N_PSEUDO; i++) {
        char *w = pseudo[i];
        int n = 0, parts = 1 + (int)(rnd() % 3);
        for (int k = 0; k < parts; k++)
            n += snprintf(w + n, (size_t)(16 - n), "%s%s%s", on[rnd() % 28], nu[rnd() % 10],
                          co[rnd() % 15]);
        w[15] = 0;
    }
}

/* A word: half of the draws from the common list (index skewed to the front), half from the
 * pseudo-words (skewed likewise). */
static const char *nat_word(void)
{
    uint32_t r = rnd();
    double u = (r >> 8) / 16777216.0;
    if (r & 1) {
        unsigned n = sizeof(common) / sizeof(common[0]);
        return common[(unsigned)(n * u * u) % n];
    }
    return pseudo[(unsigned)(N_PSEUDO * u * u * u) % N_PSEUDO];
}

static int emit_s(uint8_t *p, int o, const char *s)
{
    while (*s && o < PAYLOAD)
        p[o++] = (uint8_t)*s++;
    return o;
}

static void nat_payload(uint8_t *p)
{
    static const char *const ua[] = {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/118.0.0.0 Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/119.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15",
        "curl/8.4.0", "python-requests/2.31.0"};
    static const char *const ext[] = {"html", "php", "js", "css", "png", "aspx", "json"};
    static const char *const tld[] = {"com", "net", "org", "de", "io", "co.uk"};
    char tmp[160];
    int o = 0;
    if (rnd() % 2 == 0) {
        snprintf(tmp, sizeof(tmp), "%s /%s/%s.%s?%s=%u&%s=%08x HTTP/1.1\r\nHost: www.%s%s.%s\r\n",
                 rnd() % 4 ? "GET" : "POST", nat_word(), nat_word(), ext[rnd() % 7], nat_word(),
                 rnd() % 10000, nat_word(), rnd(), nat_word(), nat_word(), tld[rnd() % 6]);
        o = emit_s(p, o, tmp);
        snprintf(tmp, sizeof(tmp), "User-Agent: %s\r\nAccept: text/html,application/xhtml+xml,"
                 "*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n", ua[rnd() % 5]);
        o = emit_s(p, o, tmp);
        snprintf(tmp, sizeof(tmp), "Cookie: %s=%08x%08x; %s=%u\r\nConnection: keep-alive\r\n\r\n",
                 nat_word(), rnd(), rnd(), nat_word(), rnd() % 100000);
        o = emit_s(p, o, tmp);
    }
    while (o < PAYLOAD) {
        uint32_t r = rnd() % 64;
        if (r == 0) {
            snprintf(tmp, sizeof(tmp), "<a href=\"/%s/%s.html\">", nat_word(), nat_word());
            o = emit_s(p, o, tmp);
        } else if (r == 1) {
            o = emit_s(p, o, "</p>\n<p>");
        } else if (r < 5) {
            o = emit_s(p, o, r == 2 ? ", " : ". ");
        }
        o = emit_s(p, o, nat_word());
        if (o < PAYLOAD)
            p[o++] = ' ';
    }
}

/* The thread's CPU time: rates are per core even when the machine is shared (the team's
 * builds and tests run beside the bench; wall time then says more about them than about us). */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t alerts;
static bool count_emit(void *ctx, const struct event *ev)
{
    (void)ctx;
    if (ev->type == EVENT_ALERT)
        alerts++;
    return true;
}

struct result {
    const char *name;
    unsigned rules;
    double mpps, gbps_payload, gbps_wire, compile_ms;
    size_t db_bytes;
    uint64_t alerts;
};

/* n generated words (10-12 letters from the payload's own syllables). */
static struct patset gen_words(unsigned n)
{
    struct patset ps = patset_new(n);
    for (unsigned i = 0; i < n; i++) {
        char w[16];
        do
            word(w, 13);
        while (strlen(w) < 10);
        ps.len[i] = (uint8_t)strlen(w);
        memcpy(ps.pat[i], w, ps.len[i]);
    }
    ps.n = n;
    return ps;
}

/* `alert tcp any any -> any any (content:"<pattern>"; sid:N;)` for the first n patterns of ps
 * (bytes other than letters, digits and a few safe signs written as |hex|). */
static struct ruleset *gen_rules(const struct patset *ps, unsigned n, unsigned sid0)
{
    size_t cap = (size_t)n * 160 + 16;
    char *text = malloc(cap);
    size_t o = 0;
    text[0] = 0;
    for (unsigned i = 0; i < n && i < ps->n; i++) {
        char c[32 * 4 + 1];
        size_t k = 0;
        for (unsigned j = 0; j < ps->len[i]; j++) {
            uint8_t b = ps->pat[i][j];
            if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
                (b && strchr(" ./_-=&?%:,<>()[]*@!#$+~", b)))
                c[k++] = (char)b;
            else
                k += (size_t)snprintf(c + k, sizeof(c) - k, "|%02X|", b);
        }
        c[k] = 0;
        o += (size_t)snprintf(text + o, cap - o,
                              "alert tcp any any -> any any (msg:\"gen %u\"; content:\"%s\"; sid:%u;)\n",
                              i, c, sid0 + i);
    }
    char err[256];
    struct ruleset *rs = ruleset_load_string(NULL, text, "generated", NULL, err, sizeof(err));
    if (!rs || ruleset_count(rs) != (n < ps->n ? n : ps->n))
        fprintf(stderr, "generated rules: %u of %u loaded (%s)\n", rs ? ruleset_count(rs) : 0, n,
                rs ? "" : err);
    free(text);
    return rs;
}

static int hs_count(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *ctx)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    (*(uint64_t *)ctx)++;
    return 0;
}

/* The floor under a generated case: Hyperscan alone, one block scan per packet of the same
 * patterns (a literal database as detect builds it) over the bytes detect scans per packet (the
 * new 512 bytes plus the longest pattern minus one before them). Packets per CPU second. With
 * singlematch false, *hits gets every occurrence of every pattern (texture of the case). */
static double hs_alone(const struct patset *ps, unsigned n, const uint8_t *payloads,
                       unsigned n_payloads, unsigned n_pkts, bool singlematch, uint64_t *hits)
{
    const char **pats = malloc(n * sizeof(char *));
    size_t *lens = malloc(n * sizeof(size_t));
    unsigned *flags = malloc(n * sizeof(unsigned)), *ids = malloc(n * sizeof(unsigned));
    hs_database_t *db = NULL;
    hs_scratch_t *scr = NULL;
    hs_compile_error_t *ce = NULL;
    double rate = 0;
    size_t longest = 0;
    *hits = 0;
    for (unsigned i = 0; i < n; i++) {
        pats[i] = (const char *)ps->pat[i];
        lens[i] = ps->len[i];
        flags[i] = singlematch ? HS_FLAG_SINGLEMATCH : 0;
        ids[i] = i;
        if (lens[i] > longest)
            longest = lens[i];
    }
    if (hs_compile_lit_multi(pats, flags, ids, lens, n, HS_MODE_BLOCK, NULL, &db, &ce) ==
            HS_SUCCESS &&
        hs_alloc_scratch(db, &scr) == HS_SUCCESS) {
        /* two consecutive payloads stand for the window tail and the new packet */
        size_t span = PAYLOAD + longest - 1;
        double t0 = now_s();
        for (unsigned k = 0; k < n_pkts; k++) {
            const uint8_t *p = payloads + (size_t)(k % (n_payloads - 1)) * PAYLOAD + PAYLOAD -
                               (longest - 1);
            hs_scan(db, (const char *)p, (unsigned)span, 0, scr, hs_count, hits);
        }
        rate = n_pkts / (now_s() - t0) / 1e6;
    }
    hs_free_compile_error(ce);
    hs_free_scratch(scr);
    hs_free_database(db);
    free(pats);
    free(lens);
    free(flags);
    free(ids);
    return rate;
}

/* -H: the floor's Hyperscan set-ups side by side (which one raises it). Variant 0 is the floor
 * above (literal API, singlematch); 1 literal without singlematch; 2 hs_compile_multi on the
 * escaped patterns, singlematch; 3 literal, the patterns split by length (< 12 and >= 12
 * bytes) into two databases, both scanned; 4 literal, each pattern's rarest 8-byte piece as the
 * prefilter (the rest would be verified; counts are not comparable); 5 literal in vectored mode,
 * the window tail and the new bytes scanned as two pieces (no copy to make them one run);
 * 6 the same 2 pieces copied into one buffer first, then a block scan. Packets per CPU
 * second. */
static const char *const hs_variant_name[] = {
    "literal, singlematch (floor)", "literal, no singlematch", "hs_compile_multi, singlematch",
    "literal, split <12 / >=12 bytes", "literal, 8-byte piece of each",
    "vectored, tail + data", "copy tail + data, block"};
#define HS_VARIANTS 7

static double hs_variant(const struct patset *ps, unsigned n, const uint8_t *payloads,
                         unsigned n_payloads, unsigned n_pkts, int variant)
{
    const char **pats = malloc(n * sizeof(char *));
    char *esc = malloc((size_t)n * 32 * 4 + 1);
    size_t *lens = malloc(n * sizeof(size_t));
    unsigned *flags = malloc(n * sizeof(unsigned)), *ids = malloc(n * sizeof(unsigned));
    hs_database_t *db[2] = {NULL, NULL};
    hs_scratch_t *scr = NULL;
    hs_compile_error_t *ce = NULL;
    double rate = 0;
    size_t longest = 0;
    uint64_t hits = 0;
    /* byte frequencies of the payloads: a piece's rarity is the product of its bytes' */
    static double freq[256];
    memset(freq, 0, sizeof(freq));
    for (size_t i = 0; i < (size_t)n_payloads * PAYLOAD; i++)
        freq[payloads[i]] += 1;
    for (int c = 0; c < 256; c++)
        freq[c] = (freq[c] + 1) / ((double)n_payloads * PAYLOAD + 256);
    unsigned nd = variant == 3 ? 2 : 1;
    for (unsigned d = 0; d < nd; d++) {
        unsigned k = 0;
        char *e = esc;
        for (unsigned i = 0; i < n; i++) {
            size_t l = ps->len[i];
            if (l > longest)
                longest = l;
            if (variant == 3 && (d == 0) != (l < 12))
                continue;
            pats[k] = (const char *)ps->pat[i];
            lens[k] = l;
            if (variant == 4 && l > 8) {
                size_t best = 0;
                double bp = 2;
                for (size_t o = 0; o + 8 <= l; o++) {
                    double pr = 1;
                    for (size_t j = 0; j < 8; j++)
                        pr *= freq[ps->pat[i][o + j]];
                    if (pr < bp) {
                        bp = pr;
                        best = o;
                    }
                }
                pats[k] += best;
                lens[k] = 8;
            }
            if (variant == 2) {
                pats[k] = e;
                for (size_t j = 0; j < l; j++)
                    e += sprintf(e, "\\x%02x", ps->pat[i][j]);
                *e++ = 0;
            }
            flags[k] = variant == 1 ? 0 : HS_FLAG_SINGLEMATCH;
            ids[k] = i;
            k++;
        }
        int rc = variant == 2 ? hs_compile_multi(pats, flags, ids, k, HS_MODE_BLOCK, NULL, &db[d],
                                                 &ce)
                              : hs_compile_lit_multi(pats, flags, ids, lens, k,
                                                     variant == 5 ? HS_MODE_VECTORED
                                                                  : HS_MODE_BLOCK,
                                                     NULL, &db[d], &ce);
        if (rc != HS_SUCCESS || hs_alloc_scratch(db[d], &scr) != HS_SUCCESS) {
            fprintf(stderr, "variant %d: %s\n", variant, ce ? ce->message : "compile failed");
            goto out;
        }
    }
    size_t span = PAYLOAD + longest - 1;
    static uint8_t cbuf[PAYLOAD + 64];
    double t0 = now_s();
    for (unsigned k = 0; k < n_pkts; k++) {
        const uint8_t *p = payloads + (size_t)(k % (n_payloads - 1)) * PAYLOAD + PAYLOAD -
                           (longest - 1);
        if (variant == 5) {
            /* the tail from another payload than the data: two places in memory */
            const char *pc[2] = {(const char *)payloads + (size_t)((k + 7) % n_payloads) *
                                     PAYLOAD + PAYLOAD - (longest - 1),
                                 (const char *)p + longest - 1};
            unsigned pl[2] = {(unsigned)(longest - 1), PAYLOAD};
            hs_scan_vector(db[0], pc, pl, 2, 0, scr, hs_count, &hits);
            continue;
        }
        if (variant == 6) {
            memcpy(cbuf, payloads + (size_t)((k + 7) % n_payloads) * PAYLOAD + PAYLOAD -
                             (longest - 1), longest - 1);
            memcpy(cbuf + longest - 1, p + longest - 1, PAYLOAD);
            p = cbuf;
        }
        for (unsigned d = 0; d < nd; d++)
            hs_scan(db[d], (const char *)p, (unsigned)span, 0, scr, hs_count, &hits);
    }
    rate = n_pkts / (now_s() - t0) / 1e6;
out:
    hs_free_compile_error(ce);
    hs_free_scratch(scr);
    hs_free_database(db[0]);
    hs_free_database(db[1]);
    free(pats);
    free(esc);
    free(lens);
    free(flags);
    free(ids);
    return rate;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Positions per packet where 4 bytes equal the first 4 bytes of some pattern: a measure of the
 * near misses the literal matcher must look at more closely (its filter keys on a few bytes). */
static double prefix4_per_packet(const struct patset *ps, unsigned n, const uint8_t *payloads,
                                 unsigned n_payloads)
{
    uint32_t *pre = malloc(n * sizeof(uint32_t));
    for (unsigned i = 0; i < n; i++)
        memcpy(&pre[i], ps->pat[i], 4);
    qsort(pre, n, sizeof(uint32_t), u32_cmp);
    uint64_t hits = 0;
    for (unsigned k = 0; k < n_payloads; k++) {
        const uint8_t *p = payloads + (size_t)k * PAYLOAD;
        for (unsigned o = 0; o + 4 <= PAYLOAD; o++) {
            uint32_t v;
            memcpy(&v, p + o, 4);
            hits += bsearch(&v, pre, n, sizeof(uint32_t), u32_cmp) != NULL;
        }
    }
    free(pre);
    return (double)hits / n_payloads;
}

static struct ruleset *et_rules(const char *pattern, unsigned *failed)
{
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0)
        return NULL;
    struct rules_report *rep = rules_report_new();
    char err[256];
    struct ruleset *rs = ruleset_load_files(NULL, (const char *const *)g.gl_pathv,
                                            (unsigned)g.gl_pathc, rep, err, sizeof(err));
    *failed = rules_report_failed(rep);
    rules_report_free(rep);
    globfree(&g);
    return rs;
}

/* Generated traffic through detect_packet. */
static struct result run_generated(const char *name, struct ruleset *rs, const uint8_t *payloads,
                                   unsigned n_payloads, unsigned n_pkts, unsigned n_flows)
{
    struct result r = {.name = name, .rules = ruleset_count(rs)};
    char err[256];
    struct detect_engine *de = detect_engine_new(rs, err, sizeof(err));
    if (!de) {
        fprintf(stderr, "%s: %s\n", name, err);
        exit(1);
    }
    struct detect_engine_info info;
    detect_engine_get_info(de, &info);
    r.compile_ms = info.compile_ms;
    r.db_bytes = info.db_bytes;
    struct detect_thread *dt = detect_thread_new(de);
    struct flow *flows = calloc(n_flows, sizeof(*flows));
    uint32_t *seq = calloc(n_flows, sizeof(uint32_t));
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.flags = PKT_IPV4 | PKT_TCP | PKT_HAS_L4;
    m.ip_version = 4;
    m.proto = 6;
    m.ttl = 64;
    m.dport = 80;
    /* three-way handshake for each flow (SYN seen: reassembled; established for
     * flow:established rules) */
    for (unsigned i = 0; i < n_flows; i++) {
        flows[i].flow_id = i + 1;
        flows[i].key.proto = 6;
        flows[i].key.ip_version = 4;
        struct pkt_meta s = m;
        s.src[0] = 10;
        s.src[2] = (uint8_t)(i >> 8);
        s.src[3] = (uint8_t)i;
        s.dst[0] = 192;
        s.dst[1] = 168;
        s.sport = (uint16_t)(1024 + i);
        s.payload_len = 0;
        uint32_t isn_s = rnd();
        seq[i] = rnd();
        struct pkt_meta rv = s;
        memcpy(rv.src, s.dst, 16);
        memcpy(rv.dst, s.src, 16);
        rv.sport = s.dport;
        rv.dport = s.sport;
        s.tcp_flags = 0x02;
        s.tcp_seq = seq[i];
        detect_packet(dt, &s, &flows[i], FLOW_TO_SERVER, count_emit, NULL);
        rv.tcp_flags = 0x12;
        rv.tcp_seq = isn_s;
        rv.tcp_ack = seq[i] + 1;
        detect_packet(dt, &rv, &flows[i], FLOW_TO_CLIENT, count_emit, NULL);
        seq[i]++;
        s.tcp_flags = 0x10;
        s.tcp_seq = seq[i];
        s.tcp_ack = isn_s + 1;
        detect_packet(dt, &s, &flows[i], FLOW_TO_SERVER, count_emit, NULL);
        flows[i].state = FLOW_STATE_ESTABLISHED;
        m.src[0] = 10;
        m.dst[0] = 192;
        m.dst[1] = 168;
        m.tcp_ack = isn_s + 1;
    }
    alerts = 0;
    m.tcp_flags = 0x18;
    double t0 = now_s();
    for (unsigned k = 0; k < n_pkts; k++) {
        unsigned i = k % n_flows;
        m.src[2] = (uint8_t)(i >> 8);
        m.src[3] = (uint8_t)i;
        m.sport = (uint16_t)(1024 + i);
        m.tcp_seq = seq[i];
        seq[i] += PAYLOAD;
        m.payload = payloads + (size_t)(k % n_payloads) * PAYLOAD;
        m.payload_len = PAYLOAD;
        m.ts_ns = 1700000000000000000ull + (uint64_t)k * 1000;
        detect_packet(dt, &m, &flows[i], FLOW_TO_SERVER, count_emit, NULL);
    }
    double dtm = now_s() - t0;
    r.alerts = alerts; /* those of the timed packets (flow-end flushes are not timed) */
    for (unsigned i = 0; i < n_flows; i++)
        detect_flow_end(dt, &flows[i], count_emit, NULL);
    r.mpps = n_pkts / dtm / 1e6;
    r.gbps_payload = (double)n_pkts * PAYLOAD * 8 / dtm / 1e9;
    r.gbps_wire = (double)n_pkts * WIRE * 8 / dtm / 1e9;
    free(flows);
    free(seq);
    detect_thread_free(dt);
    detect_engine_free(de);
    return r;
}

struct mempkt {
    struct dp_packet p;
    uint8_t *data;
};

static void on_end(void *ctx, struct flow *f)
{
    detect_flow_end(ctx, f, count_emit, NULL);
}

/* A capture replayed from memory through decode -> flow -> detect. */
static struct result run_pcap(const char *name, struct ruleset *rs, struct mempkt *pk, unsigned n,
                              uint64_t bytes)
{
    struct result r = {.name = name, .rules = ruleset_count(rs)};
    char err[256];
    struct detect_engine *de = detect_engine_new(rs, err, sizeof(err));
    struct detect_thread *dt = detect_thread_new(de);
    struct decoder_config dc;
    decoder_config_default(&dc);
    struct decoder *dec = decoder_new(&dc);
    struct flow_config fc;
    flow_config_default(&fc);
    struct flow_table *ft = flow_table_new(&fc, on_end, dt);
    alerts = 0;
    struct pkt_meta m;
    double t0 = now_s();
    for (unsigned i = 0; i < n; i++) {
        if (decode_packet(dec, &pk[i].p, &m) == DECODE_HELD)
            continue;
        enum flow_dir dir = FLOW_TO_SERVER;
        struct flow *f = m.ip_version ? flow_table_update(ft, &m, &dir) : NULL;
        detect_packet(dt, &m, f, dir, count_emit, NULL);
    }
    flow_table_flush(ft);
    double dtm = now_s() - t0;
    r.alerts = alerts;
    r.mpps = n / dtm / 1e6;
    r.gbps_wire = (double)bytes * 8 / dtm / 1e9;
    r.gbps_payload = 0;
    flow_table_free(ft);
    decoder_free(dec);
    detect_thread_free(dt);
    detect_engine_free(de);
    return r;
}

/* -k: only the cases whose name holds this (for profiling one case) */
static const char *only_case;
/* -H: Hyperscan set-up variants of the floor (hs_variant) */
static bool hs_variants;

/* Best (highest packet rate) of `repeat` runs: the machine is shared, a slow run says little. */
static struct result best_generated(const char *name, struct ruleset *rs, const uint8_t *payloads,
                                    unsigned n_payloads, unsigned n_pkts, unsigned n_flows,
                                    unsigned repeat)
{
    if (only_case && !strstr(name, only_case)) {
        struct result skip = {.name = name, .rules = ruleset_count(rs), .mpps = 1e-9};
        return skip;
    }
    struct result best = run_generated(name, rs, payloads, n_payloads, n_pkts, n_flows);
    for (unsigned i = 1; i < repeat; i++) {
        struct result r = run_generated(name, rs, payloads, n_payloads, n_pkts, n_flows);
        if (r.alerts != best.alerts) {
            fprintf(stderr, "%s: alerts differ between runs (%" PRIu64 " vs %" PRIu64 ")\n", name,
                    r.alerts, best.alerts);
            exit(1);
        }
        if (r.mpps > best.mpps)
            best = r;
    }
    return best;
}

static struct result best_pcap(const char *name, struct ruleset *rs, struct mempkt *pk, unsigned n,
                               uint64_t bytes, unsigned repeat)
{
    if (only_case && !strstr(name, only_case)) {
        struct result skip = {.name = name, .rules = ruleset_count(rs), .mpps = 1e-9};
        return skip;
    }
    struct result best = run_pcap(name, rs, pk, n, bytes);
    for (unsigned i = 1; i < repeat; i++) {
        struct result r = run_pcap(name, rs, pk, n, bytes);
        if (r.mpps > best.mpps)
            best = r;
    }
    return best;
}

int main(int argc, char **argv)
{
    unsigned n_pkts = 400000, n_flows = 1000, repeat = 1;
    const char *shared = getenv("TRIPLINE_SHARED_DATA");
    char etpat[1024], pcapdef[1024];
    snprintf(etpat, sizeof(etpat), "%s/rules/et-open/*.rules", shared ? shared : "../shared/data");
    snprintf(pcapdef, sizeof(pcapdef), "%s/pcaps/throughput_mix.pcap",
             shared ? shared : "../shared/data");
    const char *et = etpat, *pcap = pcapdef;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) n_pkts = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "-f") && i + 1 < argc) n_flows = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "-e") && i + 1 < argc) et = argv[++i];
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) repeat = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) pcap = argv[++i];
        else if (!strcmp(argv[i], "-P")) pcap = NULL;
        else if (!strcmp(argv[i], "-k") && i + 1 < argc) only_case = argv[++i];
        else if (!strcmp(argv[i], "-H")) hs_variants = true;
        else {
            fprintf(stderr, "usage: %s [-n packets] [-f flows] [-e et-glob] [-p pcap | -P] [-r repeat] [-k case] [-H]\n", argv[0]);
            return 2;
        }
    }
    if (repeat == 0)
        repeat = 1;
    /* payloads: 4096 distinct 512-byte texts */
    unsigned n_payloads = 4096;
    uint8_t *payloads = malloc((size_t)n_payloads * PAYLOAD);
    for (unsigned k = 0; k < n_payloads; k++) {
        uint8_t *p = payloads + (size_t)k * PAYLOAD;
        unsigned o = 0;
        while (o < PAYLOAD) {
            char w[16];
            int l = word(w, 13);
            for (int j = 0; j < l && o < PAYLOAD; j++)
                p[o++] = (uint8_t)w[j];
            if (o < PAYLOAD)
                p[o++] = (rnd() % 8) ? ' ' : '\n';
        }
    }
    struct result res[12];
    unsigned nr = 0;
    struct ruleset *r0 = ruleset_load_string(NULL, "", "none", NULL, NULL, 0);
    struct patset w1k = gen_words(1000), w10k = gen_words(10000);
    struct ruleset *r1k = gen_rules(&w1k, 1000, 1000000);
    struct ruleset *r10k = gen_rules(&w10k, 10000, 1000000);
    unsigned et_failed = 0;
    struct ruleset *ret = et_rules(et, &et_failed);
    /* The web case: HTTP-like requests and natural-language-like bodies, rules on ET Open's own
     * 8-24 byte contents (the 1,000 set is the first tenth of the 10,000 set); one payload in 32
     * carries one of the 1,000 set's strings at a random place, so alerts fire. */
    pseudo_init();
    uint8_t *web = malloc((size_t)n_payloads * PAYLOAD);
    for (unsigned k = 0; k < n_payloads; k++)
        nat_payload(web + (size_t)k * PAYLOAD);
    unsigned benign_dropped = 0;
    struct patset etc = et_contents(et, 10000, web, n_payloads, &benign_dropped);
    struct ruleset *rw1k = NULL, *rw10k = NULL;
    unsigned planted = 0;
    if (etc.n >= 1000) {
        for (unsigned k = 0; k < n_payloads; k++) {
            if (rnd() % 32)
                continue;
            unsigned j = rnd() % 1000;
            memcpy(web + (size_t)k * PAYLOAD + rnd() % (PAYLOAD - etc.len[j]), etc.pat[j],
                   etc.len[j]);
            planted++;
        }
        rw1k = gen_rules(&etc, 1000, 2000000);
        rw10k = gen_rules(&etc, etc.n, 2000000);
    }
    /* Suricata 4.1 with Hyperscan, one worker, on this machine (../shared/ENVIRONMENT.md) */
    static const struct ref {
        double mpps, gbps;
    } ref_none = {0, 0}, ref_1k = {0.41, 1.66}, ref_10k = {0.21, 0.87}, ref_pcap_et = {0.16, 0.40};
    const struct ref *refs[12];
    res[nr] = best_generated("no rules", r0, payloads, n_payloads, n_pkts, n_flows, repeat);
    refs[nr++] = &ref_none;
    res[nr] = best_generated("1,000 content rules", r1k, payloads, n_payloads, n_pkts, n_flows,
                             repeat);
    refs[nr++] = &ref_1k;
    res[nr] = best_generated("10,000 content rules", r10k, payloads, n_payloads, n_pkts, n_flows,
                             repeat);
    refs[nr++] = &ref_10k;
    if (ret) {
        res[nr] = best_generated("ET Open (loadable)", ret, payloads, n_payloads, n_pkts, n_flows,
                                 repeat);
        refs[nr++] = &ref_none;
    }
    if (rw1k && rw10k) {
        res[nr] = best_generated("web: no rules", r0, web, n_payloads, n_pkts, n_flows, repeat);
        refs[nr++] = &ref_none;
        res[nr] = best_generated("web: 1,000 ET strings", rw1k, web, n_payloads, n_pkts, n_flows,
                                 repeat);
        refs[nr++] = &ref_1k;
        res[nr] = best_generated("web: 10,000 ET strings", rw10k, web, n_payloads, n_pkts,
                                 n_flows, repeat);
        refs[nr++] = &ref_10k;
    }
    unsigned n_gen = nr;
    unsigned pcap_pkts = 0;
    if (pcap) {
        char err[256];
        struct dp_pcap *src = dp_pcap_open_file(pcap, err, sizeof(err));
        if (!src) {
            fprintf(stderr, "%s\n", err);
        } else {
            unsigned cap = 1 << 16, n = 0;
            struct mempkt *pk = malloc(cap * sizeof(*pk));
            uint64_t bytes = 0;
            struct dp_packet p;
            while (dp_pcap_next(src, &p) == 1) {
                if (n == cap) {
                    cap *= 2;
                    pk = realloc(pk, cap * sizeof(*pk));
                }
                pk[n].data = malloc(p.caplen);
                memcpy(pk[n].data, p.data, p.caplen);
                pk[n].p = p;
                pk[n].p.data = pk[n].data;
                bytes += p.wirelen;
                n++;
            }
            dp_pcap_close(src);
            pcap_pkts = n;
            res[nr] = best_pcap("mix pcap, no rules", r0, pk, n, bytes, repeat);
            refs[nr++] = &ref_none;
            if (ret) {
                res[nr] = best_pcap("mix pcap, ET Open", ret, pk, n, bytes, repeat);
                refs[nr++] = &ref_pcap_et;
            }
            for (unsigned i = 0; i < n; i++)
                free(pk[i].data);
            free(pk);
        }
    }
    printf("bench_detect: one core (one thread; rates from the thread's CPU time), best of %u "
           "run(s) per case\n", repeat);
    printf("generated: %u TCP packets of %d-byte text payload over %u established flows (stream "
           "reassembly + stream/packet matching); Gbps(wire) counts %d bytes per packet\n",
           n_pkts, PAYLOAD, n_flows, WIRE);
    if (pcap)
        printf("mix pcap: %s, %u packets replayed from memory through decode -> flow -> detect\n",
               pcap, pcap_pkts);
    printf("%-22s %6s %8s %9s %10s %7s %9s %8s | %-19s %8s %6s\n", "case", "rules",
           "Mpps", "Gbps(pay)", "Gbps(wire)", "vs none", "compile_ms", "alerts",
           "Suricata 4.1 ref", "x Suri", "goal4x");
    for (unsigned i = 0; i < nr; i++) {
        const struct result *x = &res[i];
        const struct result *none = i < n_gen ? &res[0] : &res[n_gen];
        char refs_s[32] = "-", ratio_s[16] = "-", goal_s[8] = "-";
        if (refs[i]->mpps > 0) {
            /* same packets, so the packet rate ratio is the fair one; Suricata's Gbps figures
             * are its packet rate times the payload (512 B) or wire bytes of the capture */
            double ratio = x->mpps / refs[i]->mpps;
            snprintf(refs_s, sizeof(refs_s), "%.2f Mpps %.2f Gbps", refs[i]->mpps, refs[i]->gbps);
            snprintf(ratio_s, sizeof(ratio_s), "%.2fx", ratio);
            snprintf(goal_s, sizeof(goal_s), "%s", ratio >= 4.0 ? "met" : "no");
        }
        char pay[16] = "-";
        if (x->gbps_payload > 0)
            snprintf(pay, sizeof(pay), "%.2f", x->gbps_payload);
        printf("%-22s %6u %8.3f %9s %10.2f %7.2f %9.1f %8" PRIu64 " | %-19s %8s %6s\n", x->name,
               x->rules, x->mpps, pay, x->gbps_wire, x->mpps / none->mpps, x->compile_ms,
               x->alerts, refs_s, ratio_s, goal_s);
    }
    printf("x Suri: packets per second vs Suricata 4.1 on the same packets (goal: 4x; Suricata's "
           "Gbps = its Mpps x 512 payload bytes: 4x is %.2f Gbps(pay) with 1,000 rules, %.2f with "
           "10,000)\n", 4 * 1.66, 4 * 0.87);
    if (ret)
        printf("ET Open: %u rules loaded, %u failed (app-layer keywords, see --test-rules)\n",
               ruleset_count(ret), et_failed);
    if (rw1k)
        printf("web: HTTP-like requests + natural-language-like text; rules on ET Open's own "
               "contents (%u distinct of 8-24 bytes, %u more left out as found in the benign text); %u of %u payloads carry one of the 1,000 "
               "set's strings; x Suri compares with Suricata's figures on its own 512-byte text\n",
               etc.n, benign_dropped, planted, n_payloads);
    /* the floor and the texture of each generated rule case */
    struct {
        const char *name;
        const struct patset *ps;
        unsigned n;
        const uint8_t *pl;
        unsigned res;
    } fl[4] = {{"syllable text, 1,000 words", &w1k, 1000, payloads, 1},
               {"syllable text, 10,000 words", &w10k, 10000, payloads, 2},
               {"web text, 1,000 ET strings", &etc, 1000, web, ret ? 5 : 4},
               {"web text, 10,000 ET strings", &etc, etc.n, web, ret ? 6 : 5}};
    printf("floor: Hyperscan alone, one block scan per packet of the same patterns and bytes; "
           "texture per 512-byte packet: positions whose 4 bytes start some pattern, "
           "occurrences of patterns (every match, no singlematch)\n");
    for (unsigned c = 0; c < (rw1k ? 4u : 2u) && !only_case; c++) {
        double h = 0;
        uint64_t hits = 0, occ = 0;
        for (unsigned i = 0; i < repeat; i++) {
            double a = hs_alone(fl[c].ps, fl[c].n, fl[c].pl, n_payloads, n_pkts, true, &hits);
            h = a > h ? a : h;
        }
        hs_alone(fl[c].ps, fl[c].n, fl[c].pl, n_payloads, n_payloads, false, &occ);
        printf("  %-28s floor %6.3f Mpps, detect %3.0f%% of it; prefix hits %6.1f, "
               "occurrences %6.3f\n", fl[c].name, h, 100 * res[fl[c].res].mpps / h,
               prefix4_per_packet(fl[c].ps, fl[c].n, fl[c].pl, n_payloads),
               (double)occ / n_payloads);
    }
    for (unsigned c = 0; c < (rw1k ? 4u : 2u) && hs_variants; c++) {
        printf("  %-28s", fl[c].name);
        for (int v = 0; v < HS_VARIANTS; v++) {
            double h = 0;
            for (unsigned i = 0; i < repeat; i++) {
                double a = hs_variant(fl[c].ps, fl[c].n, fl[c].pl, n_payloads, n_pkts, v);
                h = a > h ? a : h;
            }
            printf(" | %s %.3f", hs_variant_name[v], h);
        }
        printf(" Mpps\n");
    }
    patset_free(&w1k);
    patset_free(&w10k);
    patset_free(&etc);
    ruleset_free(rw1k);
    ruleset_free(rw10k);
    free(web);
    ruleset_free(r0);
    ruleset_free(r1k);
    ruleset_free(r10k);
    ruleset_free(ret);
    free(payloads);
    return 0;
}
