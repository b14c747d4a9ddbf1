/* Rule parser: Suricata rule syntax into struct rule (rules_core.h). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_priv.h"
#include "rules_xform.h"

/* ---------------------------------------------------------------- metadata store */

#define STORE_CHUNK (64 * 1024)

struct store_chunk {
    struct store_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

struct rule_meta_store {
    struct store_chunk *head;
};

struct rule_meta_store *rule_meta_store_new(void)
{
    return calloc(1, sizeof(struct rule_meta_store));
}

void rule_meta_store_free(struct rule_meta_store *st)
{
    if (!st)
        return;
    struct store_chunk *c = st->head;
    while (c) {
        struct store_chunk *n = c->next;
        free(c);
        c = n;
    }
    free(st);
}

static void *store_alloc(struct rule_meta_store *st, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!st->head || st->head->size - st->head->used < n) {
        size_t sz = n > STORE_CHUNK ? n : STORE_CHUNK;
        struct store_chunk *c = malloc(sizeof(*c) + sz);
        if (!c)
            return NULL;
        c->next = st->head;
        c->used = 0;
        c->size = sz;
        st->head = c;
    }
    void *p = st->head->data + st->head->used;
    st->head->used += n;
    memset(p, 0, n);
    return p;
}

static char *store_strndup(struct rule_meta_store *st, const char *s, size_t n)
{
    char *p = store_alloc(st, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static char *store_strdup(struct rule_meta_store *st, const char *s)
{
    return store_strndup(st, s, strlen(s));
}

/* ---------------------------------------------------------------- report */

struct report_reason {
    char *text;
    unsigned count;
};

struct rules_report {
    unsigned loaded, failed;
    struct report_reason *reasons;
    unsigned n_reasons, cap_reasons;
    char **lines;
    unsigned n_lines, cap_lines;
    bool sorted;
};

struct rules_report *rules_report_new(void)
{
    return calloc(1, sizeof(struct rules_report));
}

void rules_report_free(struct rules_report *r)
{
    if (!r)
        return;
    for (unsigned i = 0; i < r->n_reasons; i++)
        free(r->reasons[i].text);
    for (unsigned i = 0; i < r->n_lines; i++)
        free(r->lines[i]);
    free(r->reasons);
    free(r->lines);
    free(r);
}

static void report_failure(struct rules_report *r, const char *file, unsigned line,
                           uint32_t sid, const char *reason, bool counts_as_rule)
{
    if (!r)
        return;
    if (counts_as_rule)
        r->failed++;
    r->sorted = false;
    unsigned i;
    for (i = 0; i < r->n_reasons; i++)
        if (strcmp(r->reasons[i].text, reason) == 0)
            break;
    if (i == r->n_reasons) {
        if (r->n_reasons == r->cap_reasons) {
            unsigned nc = r->cap_reasons ? r->cap_reasons * 2 : 16;
            void *p = realloc(r->reasons, nc * sizeof(*r->reasons));
            if (!p)
                return;
            r->reasons = p;
            r->cap_reasons = nc;
        }
        r->reasons[i].text = strdup(reason);
        if (!r->reasons[i].text)
            return;
        r->reasons[i].count = 0;
        r->n_reasons++;
    }
    r->reasons[i].count++;
    if (r->n_lines == r->cap_lines) {
        unsigned nc = r->cap_lines ? r->cap_lines * 2 : 64;
        void *p = realloc(r->lines, nc * sizeof(*r->lines));
        if (!p)
            return;
        r->lines = p;
        r->cap_lines = nc;
    }
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s:%u sid %" PRIu32 ": %s", file, line, sid, reason);
    r->lines[r->n_lines] = strdup(buf);
    if (r->lines[r->n_lines])
        r->n_lines++;
}

unsigned rules_report_loaded(const struct rules_report *r) { return r ? r->loaded : 0; }
unsigned rules_report_failed(const struct rules_report *r) { return r ? r->failed : 0; }
unsigned rules_report_n_reasons(const struct rules_report *r) { return r ? r->n_reasons : 0; }
unsigned rules_report_n_failures(const struct rules_report *r) { return r ? r->n_lines : 0; }

static int reason_cmp(const void *a, const void *b)
{
    const struct report_reason *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->text, y->text);
}

const char *rules_report_reason(const struct rules_report *r, unsigned i, unsigned *count)
{
    if (!r || i >= r->n_reasons)
        return NULL;
    if (!r->sorted) {
        /* sorting is a cache of the order, not a visible change */
        struct rules_report *w = (struct rules_report *)r;
        qsort(w->reasons, w->n_reasons, sizeof(*w->reasons), reason_cmp);
        w->sorted = true;
    }
    if (count)
        *count = r->reasons[i].count;
    return r->reasons[i].text;
}

const char *rules_report_failure(const struct rules_report *r, unsigned i)
{
    return r && i < r->n_lines ? r->lines[i] : NULL;
}

void rules_report_print(const struct rules_report *r, FILE *out, bool verbose)
{
    if (!r)
        return;
    fprintf(out, "%u rules loaded, %u failed\n", r->loaded, r->failed);
    for (unsigned i = 0; i < r->n_reasons; i++) {
        unsigned c;
        const char *t = rules_report_reason(r, i, &c);
        fprintf(out, "  %6u  %s\n", c, t);
    }
    if (verbose)
        for (unsigned i = 0; i < r->n_lines; i++)
            fprintf(out, "%s\n", r->lines[i]);
}

const char *rule_action_name(enum rule_action a)
{
    switch (a) {
    case RULE_ACTION_ALERT: return "alert";
    case RULE_ACTION_PASS: return "pass";
    case RULE_ACTION_DROP: return "drop";
    case RULE_ACTION_REJECT: return "reject";
    }
    return "unknown";
}

/* ---------------------------------------------------------------- ruleset */

struct classtype {
    char *name, *desc;
    uint8_t prio;
};

struct th_entry {
    uint32_t gid, sid;
    bool suppress;
    struct rule_threshold th;
    struct rule_suppress sup;
};

struct ruleset {
    struct rule *rules;
    unsigned n, cap;
    struct rule_meta_store *store;
    bool own_store;
    char **flowbits;
    unsigned n_flowbits, cap_flowbits;
    struct classtype *classes;
    unsigned n_classes;
    struct th_entry *th;
    unsigned n_th;
    uint64_t hash;
    XXH3_state_t *hst;
    const struct rules_load_config *cfg;
    const struct rules_vars *vars;
    struct rules_vars *own_vars;
    uint64_t *sidset; /* open addressing of (gid << 32 | sid) + 1, for duplicate checks */
    uint32_t sidcap, sidn;
    struct rule_xform *xforms; /* transformed buffers, id RULE_BUF_XFORM_BASE + index */
    unsigned n_xforms;
};

/* Inserts (gid, sid); false if it was there already (or no memory: then no check). */
static bool sid_insert(struct ruleset *rs, uint32_t gid, uint32_t sid)
{
    if ((rs->sidn + 1) * 2 > rs->sidcap) {
        uint32_t nc = rs->sidcap ? rs->sidcap * 2 : 1024;
        uint64_t *ns = calloc(nc, sizeof(uint64_t));
        if (!ns)
            return true;
        for (uint32_t i = 0; i < rs->sidcap; i++) {
            uint64_t k = rs->sidset[i];
            if (!k)
                continue;
            uint32_t h = (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 32) & (nc - 1);
            while (ns[h])
                h = (h + 1) & (nc - 1);
            ns[h] = k;
        }
        free(rs->sidset);
        rs->sidset = ns;
        rs->sidcap = nc;
    }
    uint64_t k = ((uint64_t)gid << 32 | sid) + 1;
    uint32_t h = (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 32) & (rs->sidcap - 1);
    while (rs->sidset[h]) {
        if (rs->sidset[h] == k)
            return false;
        h = (h + 1) & (rs->sidcap - 1);
    }
    rs->sidset[h] = k;
    rs->sidn++;
    return true;
}

const struct rule *ruleset_rules(const struct ruleset *rs, unsigned *n)
{
    *n = rs ? rs->n : 0;
    return rs ? rs->rules : NULL;
}

unsigned ruleset_n_flowbits(const struct ruleset *rs) { return rs ? rs->n_flowbits : 0; }
unsigned ruleset_count(const struct ruleset *rs) { return rs ? rs->n : 0; }
uint64_t ruleset_hash(const struct ruleset *rs) { return rs ? rs->hash : 0; }

const struct rule_meta *ruleset_meta(const struct ruleset *rs, unsigned i)
{
    return rs && i < rs->n ? rs->rules[i].meta : NULL;
}

const char *ruleset_flowbit_name(const struct ruleset *rs, uint16_t id)
{
    return rs && id < rs->n_flowbits ? rs->flowbits[id] : NULL;
}

const struct rule_xform *ruleset_xforms(const struct ruleset *rs, unsigned *n)
{
    *n = rs ? rs->n_xforms : 0;
    return rs ? rs->xforms : NULL;
}

/* Id of a (base, chain) pair, added if new; -ENOSPC past the id space. */
static int xform_intern(struct ruleset *rs, const struct rule_xform *x)
{
    for (unsigned i = 0; i < rs->n_xforms; i++) {
        const struct rule_xform *e = &rs->xforms[i];
        if (e->base == x->base && e->n_ops == x->n_ops && !memcmp(e->ops, x->ops, x->n_ops))
            return e->id;
    }
    if (rs->n_xforms >= 1024)
        return -ENOSPC;
    void *p = realloc(rs->xforms, (rs->n_xforms + 1) * sizeof(*rs->xforms));
    if (!p)
        return -ENOMEM;
    rs->xforms = p;
    struct rule_xform *e = &rs->xforms[rs->n_xforms];
    *e = *x;
    e->id = (uint16_t)(RULE_BUF_XFORM_BASE + rs->n_xforms++);
    return e->id;
}

static void rule_free_parts(struct rule *r)
{
    rules_addrs_free(&r->src);
    rules_addrs_free(&r->dst);
    free(r->sp.r);
    free(r->dp.r);
    for (unsigned i = 0; i < r->n_lists; i++) {
        struct rule_list *l = &r->lists[i];
        for (unsigned j = 0; j < l->n; j++) {
            struct rule_item *it = &l->items[j];
            if (it->type == RI_CONTENT)
                free(it->u.c.pat);
            else if (it->type == RI_PCRE) {
                pcre2_code_free(it->u.p.re);
                free(it->u.p.src);
            }
        }
        free(l->items);
    }
    free(r->lists);
    free(r->flowbits);
    for (unsigned i = 0; i < r->n_suppress; i++)
        rules_addrs_free(&r->suppress[i].addrs);
    free(r->suppress);
}

void ruleset_free(struct ruleset *rs)
{
    if (!rs)
        return;
    for (unsigned i = 0; i < rs->n; i++)
        rule_free_parts(&rs->rules[i]);
    free(rs->rules);
    for (unsigned i = 0; i < rs->n_flowbits; i++)
        free(rs->flowbits[i]);
    free(rs->flowbits);
    for (unsigned i = 0; i < rs->n_classes; i++) {
        free(rs->classes[i].name);
        free(rs->classes[i].desc);
    }
    free(rs->classes);
    for (unsigned i = 0; i < rs->n_th; i++)
        rules_addrs_free(&rs->th[i].sup.addrs);
    free(rs->th);
    free(rs->sidset);
    free(rs->xforms);
    if (rs->hst)
        XXH3_freeState(rs->hst);
    rules_vars_free(rs->own_vars);
    if (rs->own_store)
        rule_meta_store_free(rs->store);
    free(rs);
}

void rules_load_config_default(struct rules_load_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
}

static int flowbit_intern(struct ruleset *rs, const char *name, size_t len)
{
    for (unsigned i = 0; i < rs->n_flowbits; i++)
        if (strlen(rs->flowbits[i]) == len && memcmp(rs->flowbits[i], name, len) == 0)
            return (int)i;
    if (rs->n_flowbits >= 65535)
        return -ENOSPC;
    if (rs->n_flowbits == rs->cap_flowbits) {
        unsigned nc = rs->cap_flowbits ? rs->cap_flowbits * 2 : 64;
        void *p = realloc(rs->flowbits, nc * sizeof(char *));
        if (!p)
            return -ENOMEM;
        rs->flowbits = p;
        rs->cap_flowbits = nc;
    }
    rs->flowbits[rs->n_flowbits] = strndup(name, len);
    if (!rs->flowbits[rs->n_flowbits])
        return -ENOMEM;
    return (int)rs->n_flowbits++;
}

/* ---------------------------------------------------------------- helpers */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* Parses a decimal/hex integer with optional sign into [min,max]. */
static bool parse_int(const char *s, long long min, long long max, long long *out)
{
    s = s ? s : "";
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return false;
    errno = 0;
    char *end;
    long long v;
    if ((s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
        v = (long long)strtoull(s, &end, 16);
    else
        v = strtoll(s, &end, 10);
    if (errno || end == s)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    if (*end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Removes surrounding quotes (if any) and resolves \x escapes in place. false on an
 * unbalanced quote. */
static bool unquote(char *s)
{
    size_t n = strlen(s);
    if (n && s[0] == '"') {
        if (n < 2 || s[n - 1] != '"' || (n >= 3 && s[n - 2] == '\\' && s[n - 3] != '\\'))
            return false;
        memmove(s, s + 1, n - 2);
        s[n - 2] = 0;
    } else if (n && s[n - 1] == '"') {
        return false;
    }
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
        }
        *w++ = *r;
    }
    *w = 0;
    return true;
}

/* Splits `s` at top-level commas into at most max trimmed fields. */
static int split_commas(char *s, char **f, int max)
{
    int n = 0;
    char *p = s;
    while (n < max) {
        char *c = strchr(p, ',');
        if (c)
            *c = 0;
        f[n++] = trim(p);
        if (!c)
            break;
        p = c + 1;
    }
    return n;
}

static int byte_var_find(const char (*names)[32], int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

/* ---------------------------------------------------------------- rule parsing */

struct parse_state {
    struct ruleset *rs;
    struct rule *r;
    struct rule_meta *m;
    const char *reason;
    char reason_buf[160];
    int cur_list;   /* index in r->lists of the list new items go to */
    int last_item;  /* index of the last item in cur_list, -1 none */
    int last_content_list, last_content_item;
    char var_names[RULE_MAX_VARS][32];
    int n_vars;
    struct rule_metadata_kv *md;
    unsigned n_md, cap_md;
    struct rule_reference *refs;
    unsigned n_refs, cap_refs;
    bool have_sid;
    bool noalert;
    bool bypass; /* `bypass` keyword (dataplanes) */
    unsigned xforms_at_start; /* rs->n_xforms before this rule: ids past it are the rule's own */
    uint32_t prio_opt;
};

static int fail(struct parse_state *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->reason_buf, sizeof(ps->reason_buf), fmt, ap);
    va_end(ap);
    ps->reason = ps->reason_buf;
    return -EINVAL;
}

static int list_get(struct parse_state *ps, uint16_t buffer)
{
    struct rule *r = ps->r;
    for (int i = 0; i < r->n_lists; i++)
        if (r->lists[i].buffer == buffer)
            return i;
    void *p = realloc(r->lists, (r->n_lists + 1) * sizeof(*r->lists));
    if (!p)
        return -ENOMEM;
    r->lists = p;
    memset(&r->lists[r->n_lists], 0, sizeof(*r->lists));
    r->lists[r->n_lists].buffer = buffer;
    return r->n_lists++;
}

static struct rule_item *item_add(struct parse_state *ps, uint8_t type)
{
    if (ps->cur_list < 0) {
        int l = list_get(ps, RULE_BUF_PAYLOAD);
        if (l < 0)
            return NULL;
        ps->cur_list = l;
    }
    struct rule_list *l = &ps->r->lists[ps->cur_list];
    if (l->n >= 1024)
        return NULL;
    void *p = realloc(l->items, (l->n + 1) * sizeof(*l->items));
    if (!p)
        return NULL;
    l->items = p;
    struct rule_item *it = &l->items[l->n];
    memset(it, 0, sizeof(*it));
    it->type = type;
    ps->last_item = l->n++;
    return it;
}

static struct rule_content *last_content(struct parse_state *ps)
{
    if (ps->last_content_list < 0)
        return NULL;
    return &ps->r->lists[ps->last_content_list].items[ps->last_content_item].u.c;
}

static int parse_content_str(struct parse_state *ps, const char *val, struct rule_content *c)
{
    const char *s = val;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '!') {
        c->flags |= CF_NEGATED;
        s++;
        while (isspace((unsigned char)*s))
            s++;
    }
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return fail(ps, "content not in quotes");
    s++;
    n -= 2;
    uint8_t *out = malloc(n + 1);
    if (!out)
        return -ENOMEM;
    size_t o = 0;
    bool hex = false;
    int nib = -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (hex) {
            if (ch == '|') {
                if (nib >= 0) {
                    free(out);
                    return fail(ps, "bad hex in content");
                }
                hex = false;
            } else if (isxdigit(ch)) {
                int v = isdigit(ch) ? ch - '0' : (tolower(ch) - 'a' + 10);
                if (nib < 0) {
                    nib = v;
                } else {
                    out[o++] = (uint8_t)(nib << 4 | v);
                    nib = -1;
                }
            } else if (ch != ' ') {
                free(out);
                return fail(ps, "bad hex in content");
            }
        } else if (ch == '|') {
            hex = true;
        } else if (ch == '\\') {
            if (i + 1 >= n) {
                free(out);
                return fail(ps, "bad escape in content");
            }
            char e = s[++i];
            if (e != '"' && e != ';' && e != '\\' && e != ':' && e != '|') {
                free(out);
                return fail(ps, "bad escape in content");
            }
            out[o++] = (uint8_t)e;
        } else if (ch == '"' || ch == ';') {
            free(out);
            return fail(ps, "unescaped %c in content", ch);
        } else {
            out[o++] = ch;
        }
    }
    if (hex) {
        free(out);
        return fail(ps, "unterminated hex in content");
    }
    if (o == 0 || o > 65535) {
        free(out);
        return fail(ps, o ? "content too long" : "empty content");
    }
    c->pat = out;
    c->len = (uint32_t)o;
    return 0;
}

static int opt_content(struct parse_state *ps, char *val)
{
    struct rule_item *it = item_add(ps, RI_CONTENT);
    if (!it)
        return fail(ps, "too many content items");
    struct rule_content *c = &it->u.c;
    c->offset_var = c->depth_var = c->distance_var = c->within_var = RULE_VAR_NONE;
    int rc = parse_content_str(ps, val, c);
    if (rc != 0) {
        ps->r->lists[ps->cur_list].n--;
        return rc;
    }
    ps->last_content_list = ps->cur_list;
    ps->last_content_item = ps->last_item;
    return 0;
}

/* Resolves a number or a byte_extract variable name. */
static int num_or_var(struct parse_state *ps, const char *v, long long min, long long max,
                      int32_t *num, int8_t *var)
{
    long long x;
    if (parse_int(v, min, max, &x)) {
        *num = (int32_t)x;
        *var = RULE_VAR_NONE;
        return 0;
    }
    int i = byte_var_find((const char(*)[32])ps->var_names, ps->n_vars, v);
    if (i < 0)
        return fail(ps, "bad number");
    *var = (int8_t)i;
    *num = 0;
    return 0;
}

static int opt_content_mod(struct parse_state *ps, const char *name, char *val)
{
    struct rule_content *c = last_content(ps);
    if (!c)
        return fail(ps, "%s without content", name);
    if (strcmp(name, "nocase") == 0) {
        c->flags |= CF_NOCASE;
        return 0;
    }
    if (strcmp(name, "rawbytes") == 0)
        return 0;
    if (strcmp(name, "startswith") == 0) {
        if (c->flags & (CF_OFFSET | CF_DEPTH | CF_DISTANCE | CF_WITHIN))
            return fail(ps, "startswith with a position keyword");
        c->flags |= CF_STARTSWITH;
        return 0;
    }
    if (strcmp(name, "endswith") == 0) {
        c->flags |= CF_ENDSWITH;
        return 0;
    }
    if (strcmp(name, "fast_pattern") == 0) {
        if (c->flags & CF_NEGATED)
            return fail(ps, "fast_pattern on negated content");
        c->flags |= CF_FAST_PATTERN;
        if (val && *val) {
            if (strcmp(val, "only") == 0) {
                c->flags |= CF_FP_ONLY;
            } else {
                char *f[3];
                if (split_commas(val, f, 3) != 2)
                    return fail(ps, "bad fast_pattern");
                long long o, l;
                if (!parse_int(f[0], 0, 65535, &o) || !parse_int(f[1], 1, 65535, &l) ||
                    o + l > c->len)
                    return fail(ps, "bad fast_pattern");
                c->flags |= CF_FP_CHOP;
                c->fp_off = (uint16_t)o;
                c->fp_len = (uint16_t)l;
            }
        }
        return 0;
    }
    if (!val || !*val)
        return fail(ps, "%s needs a value", name);
    if (c->flags & CF_STARTSWITH)
        return fail(ps, "startswith with a position keyword");
    int rc;
    if (strcmp(name, "offset") == 0) {
        if ((rc = num_or_var(ps, val, 0, 65535, &c->offset, &c->offset_var)) != 0)
            return rc;
        if (c->flags & CF_RELATIVE)
            return fail(ps, "offset with distance/within");
        c->flags |= CF_OFFSET;
    } else if (strcmp(name, "depth") == 0) {
        if ((rc = num_or_var(ps, val, 1, 65535, &c->depth, &c->depth_var)) != 0)
            return rc;
        if (c->flags & CF_RELATIVE)
            return fail(ps, "depth with distance/within");
        if (c->depth_var < 0 && (uint32_t)c->depth < c->len)
            return fail(ps, "depth smaller than content");
        c->flags |= CF_DEPTH;
    } else if (strcmp(name, "distance") == 0) {
        if ((rc = num_or_var(ps, val, -65535, 65535, &c->distance, &c->distance_var)) != 0)
            return rc;
        if (c->flags & (CF_OFFSET | CF_DEPTH))
            return fail(ps, "distance with offset/depth");
        c->flags |= CF_DISTANCE;
    } else if (strcmp(name, "within") == 0) {
        if ((rc = num_or_var(ps, val, 1, 65535, &c->within, &c->within_var)) != 0)
            return rc;
        if (c->flags & (CF_OFFSET | CF_DEPTH))
            return fail(ps, "within with offset/depth");
        if (c->within_var < 0 && (uint32_t)c->within < c->len)
            return fail(ps, "within smaller than content");
        c->flags |= CF_WITHIN;
    }
    /* the item is relative to the previous one in its list */
    if (c->flags & CF_RELATIVE) {
        /* on the first item: relative to the buffer start, as Suricata does */
        struct rule_list *l = &ps->r->lists[ps->last_content_list];
        l->items[ps->last_content_item].relative = true;
    }
    return 0;
}

static int opt_pcre(struct parse_state *ps, char *val)
{
    char *s = trim(val);
    bool negated = false;
    if (*s == '!') {
        negated = true;
        s = trim(s + 1);
    }
    size_t n = strlen(s);
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return fail(ps, "pcre not in quotes");
    s[n - 1] = 0;
    s++;
    if (*s != '/')
        return fail(ps, "bad pcre");
    char *end = strrchr(s, '/');
    if (end == s)
        return fail(ps, "bad pcre");
    *end = 0;
    const char *pat = s + 1;
    const char *mods = end + 1;
    uint32_t opts = 0, flags = negated ? PF_NEGATED : 0;
    int buffer = -1;
    for (const char *m = mods; *m; m++) {
        switch (*m) {
        case 'i': opts |= PCRE2_CASELESS; break;
        case 's': opts |= PCRE2_DOTALL; break;
        case 'm': opts |= PCRE2_MULTILINE; break;
        case 'x': opts |= PCRE2_EXTENDED; break;
        case 'A': opts |= PCRE2_ANCHORED; break;
        case 'E': opts |= PCRE2_DOLLAR_ENDONLY; break;
        case 'G': opts |= PCRE2_UNGREEDY; break;
        case 'R': flags |= PF_RELATIVE; break;
        case 'O': case 'B': break;
        default: {
            static const char *const http_mod[][2] = {
                {"U", "http_uri"}, {"I", "http_raw_uri"}, {"P", "http_client_body"},
                {"Q", "file_data"}, {"H", "http_header"}, {"D", "http_raw_header"},
                {"M", "http_method"}, {"C", "http_cookie"}, {"S", "http_stat_code"},
                {"Y", "http_stat_msg"}, {"V", "http_user_agent"}, {"W", "http_host"},
                {"Z", "http_raw_host"}, {"K", "http_cookie"},
            };
            const char *kw = NULL;
            for (size_t i = 0; i < sizeof(http_mod) / sizeof(http_mod[0]); i++)
                if (*m == http_mod[i][0][0])
                    kw = http_mod[i][1];
            if (!kw)
                return fail(ps, "bad pcre modifier %c", *m);
            int id = 0;
            if (ps->rs->cfg->applayer.sticky_buffer)
                id = ps->rs->cfg->applayer.sticky_buffer(ps->rs->cfg->applayer.ctx, kw);
            if (id <= 0)
                return fail(ps, "unsupported keyword pcre /%c", *m);
            buffer = RULE_BUF_APP_BASE + id;
        }
        }
    }
    int err;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &err, &eoff, NULL);
    if (!re)
        return fail(ps, "pcre does not compile");
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* failure: interpreted, still correct */
    int saved = ps->cur_list;
    if (buffer >= 0) {
        int l = list_get(ps, (uint16_t)buffer);
        if (l < 0) {
            pcre2_code_free(re);
            return -ENOMEM;
        }
        ps->cur_list = l;
    }
    struct rule_item *it = item_add(ps, RI_PCRE);
    if (buffer >= 0)
        ps->cur_list = saved;
    if (!it) {
        pcre2_code_free(re);
        return fail(ps, "too many items");
    }
    it->u.p.re = re;
    it->u.p.flags = flags;
    it->u.p.src = strdup(pat);
    it->u.p.anchored = pat[0] == '^' || (opts & PCRE2_ANCHORED);
    it->relative = (flags & PF_RELATIVE) != 0;
    return 0;
}

static int parse_numcmp(struct parse_state *ps, const char *kw, char *val, uint64_t max,
                        struct rule_num *n)
{
    char *s = trim(val);
    long long a, b;
    char *mid = strstr(s, "<>");
    if (mid) {
        *mid = 0;
        if (!parse_int(s, 0, (long long)max, &a) || !parse_int(mid + 2, 0, (long long)max, &b) ||
            a >= b)
            return fail(ps, "bad %s", kw);
        n->op = NUM_RANGE;
        n->a = (uint64_t)a;
        n->b = (uint64_t)b;
        return 0;
    }
    uint8_t op = NUM_EQ;
    if (s[0] == '<' && s[1] == '=') { op = NUM_LE; s += 2; }
    else if (s[0] == '>' && s[1] == '=') { op = NUM_GE; s += 2; }
    else if (s[0] == '<') { op = NUM_LT; s++; }
    else if (s[0] == '>') { op = NUM_GT; s++; }
    else if (s[0] == '!') { op = NUM_NE; s++; }
    else if (s[0] == '=') { s++; }
    if (!parse_int(s, 0, (long long)max, &a))
        return fail(ps, "bad %s", kw);
    n->op = op;
    n->a = (uint64_t)a;
    return 0;
}

/* ---- app-layer keywords: bsize, urilen, transforms, app-layer-protocol */

static bool list_is_app(const struct rule_list *l)
{
    return l->buffer >= RULE_BUF_APP_BASE;
}

/* Sets a list's size condition; a second one must be the same (ET writes `urilen:8;` and
 * `http.uri; bsize:8;` in one rule). */
static int set_bsize(struct parse_state *ps, struct rule_list *l, const char *kw, char *val,
                     uint64_t max)
{
    struct rule_num n = {0};
    int rc = parse_numcmp(ps, kw, val, max, &n);
    if (rc)
        return rc;
    if (l->bsize.op && (l->bsize.op != n.op || l->bsize.a != n.a || l->bsize.b != n.b))
        return fail(ps, "duplicate %s", kw);
    l->bsize = n;
    return 0;
}

/* bsize:[op]N | lo<>hi; on the current sticky buffer (Suricata: an unsigned 64-bit integer
 * keyword; ranges exclusive). */
static int opt_bsize(struct parse_state *ps, char *val)
{
    if (ps->cur_list < 0 || !list_is_app(&ps->r->lists[ps->cur_list]))
        return fail(ps, "bsize without a sticky buffer");
    return set_bsize(ps, &ps->r->lists[ps->cur_list], "bsize", val, LLONG_MAX);
}

/* urilen:[op]N | lo<>hi [,raw|norm]: the length of the normalised (or raw) URI, i.e. bsize on
 * http.uri (http.uri.raw). Does not change the current buffer. */
static int opt_urilen(struct parse_state *ps, char *val)
{
    char *f[3];
    int n = split_commas(val, f, 3);
    const char *buf = "http.uri";
    if (n == 2 && !strcmp(f[1], "raw"))
        buf = "http.uri.raw";
    else if (n > 2 || (n == 2 && strcmp(f[1], "norm") != 0))
        return fail(ps, "bad urilen");
    const struct rules_applayer_hooks *h = &ps->rs->cfg->applayer;
    int id = h->sticky_buffer ? h->sticky_buffer(h->ctx, buf) : 0;
    if (id <= 0)
        return fail(ps, "unsupported keyword urilen");
    int l = list_get(ps, (uint16_t)(RULE_BUF_APP_BASE + id));
    if (l < 0)
        return l;
    return set_bsize(ps, &ps->r->lists[l], "urilen", f[0], 65535);
}

/* A transform (dotprefix, to_lowercase, ...): the current sticky buffer becomes the buffer
 * transformed so (a chain when several follow each other). As in Suricata, transforms come
 * right after the buffer keyword, before its first content. */
static int opt_xform(struct parse_state *ps, const char *name, enum rule_xform_op op, char *val)
{
    if (val)
        return fail(ps, "%s takes no value", name);
    if (ps->cur_list < 0 || !list_is_app(&ps->r->lists[ps->cur_list]))
        return fail(ps, "transform %s without a sticky buffer", name);
    struct rule_list *l = &ps->r->lists[ps->cur_list];
    if (l->n || l->bsize.op)
        return fail(ps, "transform %s after content", name);
    struct rule_xform x = {.base = l->buffer};
    struct ruleset *rs = ps->rs;
    if (l->buffer >= RULE_BUF_XFORM_BASE)
        x = rs->xforms[l->buffer - RULE_BUF_XFORM_BASE];
    if (x.n_ops >= RULE_MAX_XFORM_OPS)
        return fail(ps, "too many transforms");
    x.ops[x.n_ops++] = (uint8_t)op;
    /* a chain's shorter prefix that this rule just added is used by no rule: drop it, or the
     * matcher would derive a buffer nobody inspects */
    if (l->buffer >= RULE_BUF_XFORM_BASE && l->buffer == RULE_BUF_XFORM_BASE + rs->n_xforms - 1 &&
        rs->n_xforms > ps->xforms_at_start)
        rs->n_xforms--;
    int id = xform_intern(rs, &x);
    if (id < 0)
        return id == -ENOMEM ? id : fail(ps, "too many transformed buffers");
    for (int i = 0; i < ps->r->n_lists; i++)
        if (i != ps->cur_list && ps->r->lists[i].buffer == id)
            return fail(ps, "transformed buffer given twice");
    l->buffer = (uint16_t)id;
    return 0;
}

/* app-layer-protocol:[!]name; Suricata's optional mode (final, original, either, to_server,
 * to_client) is not taken. */
static int opt_alproto(struct parse_state *ps, char *val)
{
    char *f[3];
    if (split_commas(val, f, 3) != 1)
        return fail(ps, "unsupported app-layer-protocol mode");
    char *p = f[0];
    bool neg = *p == '!';
    if (neg)
        p = trim(p + 1);
    const struct rules_applayer_hooks *h = &ps->rs->cfg->applayer;
    int id = h->app_proto ? h->app_proto(h->ctx, p) : 0;
    if (id <= 0)
        return fail(ps, "unknown app-layer-protocol %s", p);
    struct rule *r = ps->r;
    if (r->n_alproto >= RULE_MAX_ALPROTO)
        return fail(ps, "too many app-layer-protocol");
    r->alproto[r->n_alproto++] = (struct rule_alproto){(uint16_t)id, neg};
    return 0;
}

/* Longest content a bsize lets match (UINT64_MAX: no bound). */
static uint64_t bsize_max(const struct rule_num *n)
{
    switch (n->op) {
    case NUM_EQ: case NUM_LE: return n->a;
    case NUM_LT: return n->a ? n->a - 1 : 0;
    case NUM_RANGE: return n->b - 1;
    default: return UINT64_MAX;
    }
}

static int opt_flags(struct parse_state *ps, char *val)
{
    char *f[3];
    int nf = split_commas(val, f, 3);
    struct rule *r = ps->r;
    const char *s = f[0];
    uint8_t mode = 0;
    if (*s == '+' || *s == '*' || *s == '!') {
        mode = (uint8_t)*s;
        s++;
    }
    uint8_t v = 0;
    for (; *s; s++) {
        switch (*s) {
        case 'F': v |= 0x01; break;
        case 'S': v |= 0x02; break;
        case 'R': v |= 0x04; break;
        case 'P': v |= 0x08; break;
        case 'A': v |= 0x10; break;
        case 'U': v |= 0x20; break;
        case 'E': case '2': v |= 0x40; break;
        case 'C': case '1': v |= 0x80; break;
        case '0': break;
        case '+': case '*': case '!':
            if (mode)
                return fail(ps, "bad flags");
            mode = (uint8_t)*s;
            break;
        default: return fail(ps, "bad flags");
        }
    }
    uint8_t ign = 0;
    if (nf > 1) {
        for (s = f[1]; *s; s++) {
            switch (*s) {
            case 'F': ign |= 0x01; break;
            case 'S': ign |= 0x02; break;
            case 'R': ign |= 0x04; break;
            case 'P': ign |= 0x08; break;
            case 'A': ign |= 0x10; break;
            case 'U': ign |= 0x20; break;
            case 'E': case '2': ign |= 0x40; break;
            case 'C': case '1': ign |= 0x80; break;
            default: return fail(ps, "bad flags");
            }
        }
    }
    r->tcp_flags_set = 1;
    r->tcp_flags_mode = mode;
    r->tcp_flags_value = v;
    r->tcp_flags_ignore = ign;
    return 0;
}

static int opt_flow(struct parse_state *ps, char *val)
{
    char *f[8];
    int n = split_commas(val, f, 8);
    for (int i = 0; i < n; i++) {
        const char *w = f[i];
        uint16_t b;
        if (!strcmp(w, "to_server") || !strcmp(w, "from_client")) b = FLOW_TO_SERVER_F;
        else if (!strcmp(w, "to_client") || !strcmp(w, "from_server")) b = FLOW_TO_CLIENT_F;
        else if (!strcmp(w, "established")) b = FLOW_ESTABLISHED_F;
        else if (!strcmp(w, "not_established")) b = FLOW_NOT_ESTABLISHED_F;
        else if (!strcmp(w, "stateless")) b = FLOW_STATELESS_F;
        else if (!strcmp(w, "only_stream")) b = FLOW_ONLY_STREAM_F;
        else if (!strcmp(w, "no_stream")) b = FLOW_NO_STREAM_F;
        else if (!strcmp(w, "only_frag")) b = FLOW_ONLY_FRAG_F;
        else if (!strcmp(w, "no_frag")) b = FLOW_NO_FRAG_F;
        else return fail(ps, "bad flow option");
        ps->r->flow_flags |= b;
    }
    uint16_t ff = ps->r->flow_flags;
    if ((ff & FLOW_TO_SERVER_F && ff & FLOW_TO_CLIENT_F) ||
        (ff & FLOW_ESTABLISHED_F && ff & FLOW_NOT_ESTABLISHED_F) ||
        (ff & FLOW_ONLY_STREAM_F && ff & FLOW_NO_STREAM_F))
        return fail(ps, "contradicting flow options");
    return 0;
}

static int opt_flowbits(struct parse_state *ps, char *val)
{
    char *f[3];
    int n = split_commas(val, f, 3);
    if (n == 1 && strcmp(f[0], "noalert") == 0) {
        ps->noalert = true;
        return 0;
    }
    if (n != 2 || !*f[1])
        return fail(ps, "bad flowbits");
    struct rule_flowbit fb = {0};
    if (!strcmp(f[0], "set")) fb.cmd = FB_SET;
    else if (!strcmp(f[0], "unset")) fb.cmd = FB_UNSET;
    else if (!strcmp(f[0], "toggle")) fb.cmd = FB_TOGGLE;
    else if (!strcmp(f[0], "isset")) fb.cmd = FB_ISSET;
    else if (!strcmp(f[0], "isnotset")) fb.cmd = FB_ISNOTSET;
    else return fail(ps, "bad flowbits command");
    char *names = f[1];
    bool has_or = strchr(names, '|') != NULL, has_and = strchr(names, '&') != NULL;
    if (has_or && has_and)
        return fail(ps, "bad flowbits");
    if (has_or && fb.cmd != FB_ISSET && fb.cmd != FB_ISNOTSET)
        return fail(ps, "bad flowbits");
    fb.any_of = has_or;
    char *save = NULL;
    for (char *t = strtok_r(names, "|&", &save); t; t = strtok_r(NULL, "|&", &save)) {
        t = trim(t);
        if (!*t || fb.n >= RULE_MAX_FLOWBITS)
            return fail(ps, "bad flowbits");
        for (char *q = t; *q; q++)
            if (isspace((unsigned char)*q))
                return fail(ps, "bad flowbits");
        int id = flowbit_intern(ps->rs, t, strlen(t));
        if (id < 0)
            return id;
        fb.ids[fb.n++] = (uint16_t)id;
    }
    if (fb.n == 0)
        return fail(ps, "bad flowbits");
    struct rule *r = ps->r;
    if (r->n_flowbits >= 16)
        return fail(ps, "too many flowbits");
    void *p = realloc(r->flowbits, (r->n_flowbits + 1) * sizeof(*r->flowbits));
    if (!p)
        return -ENOMEM;
    r->flowbits = p;
    r->flowbits[r->n_flowbits++] = fb;
    return 0;
}

static int parse_threshold_fields(struct parse_state *ps, char *val, struct rule_threshold *t,
                                  bool detection_filter)
{
    char *f[8];
    int n = split_commas(val, f, 8);
    bool have_count = false, have_seconds = false, have_track = false;
    memset(t, 0, sizeof(*t));
    if (detection_filter)
        t->type = TH_DETECTION_FILTER;
    for (int i = 0; i < n; i++) {
        char *k = f[i], *v = k;
        while (*v && !isspace((unsigned char)*v))
            v++;
        if (*v)
            *v++ = 0;
        v = trim(v);
        long long x;
        if (!strcmp(k, "type") && !detection_filter) {
            if (!strcmp(v, "limit")) t->type = TH_LIMIT;
            else if (!strcmp(v, "threshold")) t->type = TH_THRESHOLD;
            else if (!strcmp(v, "both")) t->type = TH_BOTH;
            else if (!strcmp(v, "backoff")) t->type = TH_BACKOFF;
            else return fail(ps, "bad threshold type");
        } else if (!strcmp(k, "track")) {
            have_track = true;
            if (!strcmp(v, "by_src")) t->track = TRACK_SRC;
            else if (!strcmp(v, "by_dst")) t->track = TRACK_DST;
            else if (!strcmp(v, "by_rule")) t->track = TRACK_RULE;
            else if (!strcmp(v, "by_both")) t->track = TRACK_BOTH;
            else if (!strcmp(v, "by_flow")) t->track = TRACK_FLOW;
            else return fail(ps, "bad threshold track");
        } else if (!strcmp(k, "count")) {
            if (!parse_int(v, 1, UINT32_MAX, &x))
                return fail(ps, "bad threshold count");
            t->count = (uint32_t)x;
            have_count = true;
        } else if (!strcmp(k, "seconds")) {
            if (!parse_int(v, 0, UINT32_MAX, &x))
                return fail(ps, "bad threshold seconds");
            t->seconds = (uint32_t)x;
            have_seconds = true;
        } else if (!strcmp(k, "multiplier")) {
            if (!parse_int(v, 1, UINT32_MAX, &x))
                return fail(ps, "bad threshold multiplier");
            t->multiplier = (uint32_t)x;
        } else {
            return fail(ps, "bad threshold option");
        }
    }
    if (!t->type || !have_track || !have_count)
        return fail(ps, "incomplete threshold");
    if (t->type == TH_BACKOFF) {
        if (!t->multiplier || t->track != TRACK_FLOW)
            return fail(ps, "bad backoff threshold");
    } else if (!have_seconds) {
        return fail(ps, "incomplete threshold");
    }
    return 0;
}

static int byte_common_opt(struct parse_state *ps, struct rule_byte *b, char *w, bool jump)
{
    long long x;
    if (!strcmp(w, "relative")) b->flags |= BF_RELATIVE;
    else if (!strcmp(w, "little")) b->flags |= BF_LITTLE;
    else if (!strcmp(w, "big")) b->flags &= ~BF_LITTLE;
    else if (!strcmp(w, "string")) b->flags |= BF_STRING;
    else if (!strcmp(w, "hex")) b->flags |= BF_HEX;
    else if (!strcmp(w, "oct")) b->flags |= BF_OCT;
    else if (!strcmp(w, "dec")) b->flags |= BF_DEC;
    else if (!strcmp(w, "dce")) return fail(ps, "unsupported keyword byte dce");
    else if (jump && !strcmp(w, "align")) b->flags |= BF_ALIGN;
    else if (jump && !strcmp(w, "from_beginning")) b->flags |= BF_FROM_BEGINNING;
    else if (jump && !strcmp(w, "from_end")) b->flags |= BF_FROM_END;
    else if (!strncmp(w, "bitmask", 7)) {
        if (!parse_int(trim(w + 7), 0, LLONG_MAX, &x) || x == 0)
            return fail(ps, "bad bitmask");
        b->flags |= BF_BITMASK;
        b->bitmask = (uint64_t)x;
    } else if (!strncmp(w, "multiplier", 10)) {
        if (!parse_int(trim(w + 10), 1, 65535, &x))
            return fail(ps, "bad multiplier");
        b->multiplier = (uint32_t)x;
    } else if (jump && !strncmp(w, "post_offset", 11)) {
        if (!parse_int(trim(w + 11), -65535, 65535, &x))
            return fail(ps, "bad post_offset");
        b->post_offset = (int32_t)x;
    } else if (!jump && !strncmp(w, "align", 5)) {
        if (!parse_int(trim(w + 5), 2, 4, &x) || x == 3)
            return fail(ps, "bad align");
        b->align = (uint8_t)x;
    } else {
        return fail(ps, "bad byte option %s", w);
    }
    return 0;
}

/* zero_ok: 0 bytes is allowed (byte_test with string: the digits up to the first non-digit, as
 * Suricata's string conversion with length 0; byte_jump without string: a jump of 0). */
/* The byte count of byte_test/byte_jump: a number, or a byte_extract variable (checked against
 * the limits when the rule runs: rules_byte_resolve). */
static int byte_count(struct parse_state *ps, const char *v, struct rule_byte *b)
{
    long long x;
    if (parse_int(v, 0, 23, &x)) {
        b->nbytes = (uint8_t)x;
        return 0;
    }
    int i = byte_var_find((const char(*)[32])ps->var_names, ps->n_vars, v);
    if (i < 0)
        return fail(ps, "bad byte count");
    b->nbytes_var = (int8_t)i;
    b->nbytes = 1; /* placeholder for the checks below */
    return 0;
}

static int byte_check_n(struct parse_state *ps, struct rule_byte *b, bool zero_ok)
{
    unsigned maxn = (b->flags & BF_STRING) ? 23 : 8;
    if ((b->nbytes < 1 && !zero_ok) || b->nbytes > maxn)
        return fail(ps, "bad byte count");
    if (!(b->flags & BF_STRING) && (b->flags & (BF_HEX | BF_OCT | BF_DEC)))
        return fail(ps, "number base without string");
    return 0;
}

static int opt_byte_test(struct parse_state *ps, char *val)
{
    char *f[16];
    int n = split_commas(val, f, 16);
    if (n < 4)
        return fail(ps, "bad byte_test");
    struct rule_item *it = item_add(ps, RI_BYTE_TEST);
    if (!it)
        return fail(ps, "too many items");
    struct rule_byte *b = &it->u.b;
    b->multiplier = 1;
    b->offset_var = b->value_var = b->nbytes_var = RULE_VAR_NONE;
    long long x;
    int rc = byte_count(ps, f[0], b);
    if (rc)
        return rc;
    char *op = f[1];
    if (*op == '!') {
        b->flags |= BF_NEGATE;
        op++;
    }
    if (!strcmp(op, "<")) b->op = BOP_LT;
    else if (!strcmp(op, ">")) b->op = BOP_GT;
    else if (!strcmp(op, "=") || !strcmp(op, "")) b->op = BOP_EQ;
    else if (!strcmp(op, "<=")) b->op = BOP_LE;
    else if (!strcmp(op, ">=")) b->op = BOP_GE;
    else if (!strcmp(op, "&")) b->op = BOP_AND;
    else if (!strcmp(op, "^")) b->op = BOP_OR;
    else if (!strcmp(op, "!=")) { b->op = BOP_EQ; b->flags ^= BF_NEGATE; }
    else return fail(ps, "bad byte_test operator");
    if (parse_int(f[2], 0, LLONG_MAX, &x)) {
        b->value = (uint64_t)x;
    } else {
        int v = byte_var_find((const char(*)[32])ps->var_names, ps->n_vars, f[2]);
        if (v < 0)
            return fail(ps, "bad byte_test value");
        b->value_var = (int8_t)v;
    }
    rc = num_or_var(ps, f[3], -65535, 65535, &b->offset, &b->offset_var);
    if (rc)
        return rc;
    for (int i = 4; i < n; i++)
        if ((rc = byte_common_opt(ps, b, f[i], false)) != 0)
            return rc;
    it->relative = (b->flags & BF_RELATIVE) != 0;
    return byte_check_n(ps, b, (b->flags & BF_STRING) != 0);
}

static int opt_byte_jump(struct parse_state *ps, char *val)
{
    char *f[16];
    int n = split_commas(val, f, 16);
    if (n < 2)
        return fail(ps, "bad byte_jump");
    struct rule_item *it = item_add(ps, RI_BYTE_JUMP);
    if (!it)
        return fail(ps, "too many items");
    struct rule_byte *b = &it->u.b;
    b->multiplier = 1;
    b->offset_var = b->value_var = b->nbytes_var = RULE_VAR_NONE;
    int rc = byte_count(ps, f[0], b);
    if (rc)
        return rc;
    rc = num_or_var(ps, f[1], -65535, 65535, &b->offset, &b->offset_var);
    if (rc)
        return rc;
    for (int i = 2; i < n; i++)
        if ((rc = byte_common_opt(ps, b, f[i], true)) != 0)
            return rc;
    if ((b->flags & BF_FROM_BEGINNING) && (b->flags & BF_FROM_END))
        return fail(ps, "bad byte_jump");
    it->relative = (b->flags & BF_RELATIVE) != 0;
    return byte_check_n(ps, b, !(b->flags & BF_STRING));
}

static int opt_byte_extract(struct parse_state *ps, char *val)
{
    char *f[16];
    int n = split_commas(val, f, 16);
    if (n < 3)
        return fail(ps, "bad byte_extract");
    if (ps->n_vars >= RULE_MAX_VARS)
        return fail(ps, "too many byte_extract variables");
    struct rule_item *it = item_add(ps, RI_BYTE_EXTRACT);
    if (!it)
        return fail(ps, "too many items");
    struct rule_byte *b = &it->u.b;
    b->multiplier = 1;
    b->offset_var = b->value_var = b->nbytes_var = RULE_VAR_NONE;
    long long x;
    if (!parse_int(f[0], 1, 23, &x))
        return fail(ps, "bad byte count");
    b->nbytes = (uint8_t)x;
    if (!parse_int(f[1], -65535, 65535, &x))
        return fail(ps, "bad byte_extract offset");
    b->offset = (int32_t)x;
    if (!*f[2] || strlen(f[2]) >= 32 || isdigit((unsigned char)f[2][0]))
        return fail(ps, "bad byte_extract name");
    if (byte_var_find((const char(*)[32])ps->var_names, ps->n_vars, f[2]) >= 0)
        return fail(ps, "duplicate byte_extract name");
    int rc;
    for (int i = 3; i < n; i++)
        if ((rc = byte_common_opt(ps, b, f[i], false)) != 0)
            return rc;
    snprintf(ps->var_names[ps->n_vars], 32, "%s", f[2]);
    b->var = (uint8_t)ps->n_vars++;
    ps->r->n_vars = (uint8_t)ps->n_vars;
    it->relative = (b->flags & BF_RELATIVE) != 0;
    return byte_check_n(ps, b, false);
}

static int opt_isdataat(struct parse_state *ps, char *val)
{
    char *f[4];
    int n = split_commas(val, f, 4);
    struct rule_item *it = item_add(ps, RI_ISDATAAT);
    if (!it)
        return fail(ps, "too many items");
    struct rule_isdataat *d = &it->u.d;
    char *v = f[0];
    if (*v == '!') {
        d->negated = true;
        v = trim(v + 1);
    }
    int rc = num_or_var(ps, v, 0, 65535, &d->value, &d->value_var);
    if (rc)
        return rc;
    for (int i = 1; i < n; i++) {
        if (!strcmp(f[i], "relative"))
            d->relative = true;
        else if (strcmp(f[i], "rawbytes") != 0)
            return fail(ps, "bad isdataat");
    }
    it->relative = d->relative;
    return 0;
}

static int opt_metadata(struct parse_state *ps, char *val)
{
    char *f[64];
    int n = split_commas(val, f, 64);
    struct rule_meta_store *st = ps->rs->store;
    for (int i = 0; i < n; i++) {
        char *k = f[i];
        if (!*k)
            continue;
        char *v = k;
        while (*v && !isspace((unsigned char)*v))
            v++;
        if (*v)
            *v++ = 0;
        v = trim(v);
        unsigned j;
        for (j = 0; j < ps->n_md; j++)
            if (strcmp(ps->md[j].key, k) == 0)
                break;
        if (j == ps->n_md) {
            if (ps->n_md == ps->cap_md) {
                unsigned nc = ps->cap_md ? ps->cap_md * 2 : 8;
                void *p = realloc(ps->md, nc * sizeof(*ps->md));
                if (!p)
                    return -ENOMEM;
                ps->md = p;
                ps->cap_md = nc;
            }
            ps->md[j].key = store_strdup(st, k);
            ps->md[j].values = NULL;
            ps->md[j].n_values = 0;
            ps->n_md++;
        }
        /* values array is regrown in the store (old copies are small and stay) */
        const char **nv = store_alloc(st, (ps->md[j].n_values + 1) * sizeof(char *));
        if (!nv || !ps->md[j].key)
            return -ENOMEM;
        if (ps->md[j].n_values)
            memcpy(nv, ps->md[j].values, ps->md[j].n_values * sizeof(char *));
        nv[ps->md[j].n_values] = store_strdup(st, v);
        ps->md[j].values = nv;
        ps->md[j].n_values++;
    }
    return 0;
}

static void json_escape(char **w, const char *s, char *end)
{
    for (; *s && *w < end - 8; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *(*w)++ = '\\';
            *(*w)++ = (char)c;
        } else if (c < 0x20) {
            *w += snprintf(*w, (size_t)(end - *w), "\\u%04x", c);
        } else {
            *(*w)++ = (char)c;
        }
    }
}

static int finish_metadata(struct parse_state *ps)
{
    struct rule_meta *m = ps->m;
    struct rule_meta_store *st = ps->rs->store;
    if (ps->n_md) {
        struct rule_metadata_kv *kv = store_alloc(st, ps->n_md * sizeof(*kv));
        if (!kv)
            return -ENOMEM;
        memcpy(kv, ps->md, ps->n_md * sizeof(*kv));
        m->metadata = kv;
        m->n_metadata = ps->n_md;
        size_t cap = 16;
        for (unsigned i = 0; i < ps->n_md; i++) {
            cap += strlen(kv[i].key) * 6 + 8;
            for (unsigned j = 0; j < kv[i].n_values; j++)
                cap += strlen(kv[i].values[j]) * 6 + 4;
        }
        char *buf = store_alloc(st, cap);
        if (!buf)
            return -ENOMEM;
        char *w = buf, *end = buf + cap;
        *w++ = '{';
        for (unsigned i = 0; i < ps->n_md; i++) {
            if (i)
                *w++ = ',';
            *w++ = '"';
            json_escape(&w, kv[i].key, end);
            *w++ = '"';
            *w++ = ':';
            *w++ = '[';
            for (unsigned j = 0; j < kv[i].n_values; j++) {
                if (j)
                    *w++ = ',';
                *w++ = '"';
                json_escape(&w, kv[i].values[j], end);
                *w++ = '"';
            }
            *w++ = ']';
        }
        *w++ = '}';
        *w = 0;
        m->metadata_json = buf;
    }
    if (ps->n_refs) {
        struct rule_reference *rf = store_alloc(st, ps->n_refs * sizeof(*rf));
        if (!rf)
            return -ENOMEM;
        memcpy(rf, ps->refs, ps->n_refs * sizeof(*rf));
        m->references = rf;
        m->n_references = ps->n_refs;
    }
    return 0;
}

static int opt_reference(struct parse_state *ps, char *val)
{
    char *comma = strchr(val, ',');
    if (!comma)
        return fail(ps, "bad reference");
    *comma = 0;
    if (ps->n_refs == ps->cap_refs) {
        unsigned nc = ps->cap_refs ? ps->cap_refs * 2 : 4;
        void *p = realloc(ps->refs, nc * sizeof(*ps->refs));
        if (!p)
            return -ENOMEM;
        ps->refs = p;
        ps->cap_refs = nc;
    }
    ps->refs[ps->n_refs].system = store_strdup(ps->rs->store, trim(val));
    ps->refs[ps->n_refs].id = store_strdup(ps->rs->store, trim(comma + 1));
    ps->n_refs++;
    return 0;
}

static const struct classtype *class_find(const struct ruleset *rs, const char *name)
{
    for (unsigned i = 0; i < rs->n_classes; i++)
        if (strcmp(rs->classes[i].name, name) == 0)
            return &rs->classes[i];
    return NULL;
}

/* Options that compare a header field with a number (dsize:<10; ttl:3<>9; ...). */
static const struct num_opt {
    const char *name;
    size_t off;   /* of the struct rule_num in struct rule */
    uint64_t max;
} num_opts[] = {
    {"dsize", offsetof(struct rule, dsize), 65535},
    {"ttl", offsetof(struct rule, ttl), 255},
    {"itype", offsetof(struct rule, itype), 255},
    {"icode", offsetof(struct rule, icode), 255},
    {"icmp_id", offsetof(struct rule, icmp_id), 65535},
    {"icmp_seq", offsetof(struct rule, icmp_seq), 65535},
};

/* Integer options of the rule's identity. */
enum int_target { INT_SID, INT_REV, INT_GID, INT_PRIORITY };
static const struct int_opt {
    const char *name;
    long long min, max;
    uint8_t target; /* enum int_target */
} int_opts[] = {
    {"sid", 1, UINT32_MAX, INT_SID},
    {"rev", 0, UINT32_MAX, INT_REV},
    {"gid", 0, UINT32_MAX, INT_GID},
    {"priority", 1, 255, INT_PRIORITY},
};

static int opt_ip_proto(struct parse_state *ps, char *val)
{
    static const struct { const char *n; int v; } pn[] = {
        {"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"ipv6-icmp", 58}, {"icmpv6", 58}, {"gre", 47},
        {"esp", 50}, {"ah", 51}, {"igmp", 2}, {"sctp", 132}, {"ipv6", 41},
    };
    for (size_t i = 0; i < sizeof(pn) / sizeof(pn[0]); i++)
        if (!strcmp(val, pn[i].n)) {
            ps->r->ip_proto.op = NUM_EQ;
            ps->r->ip_proto.a = (uint64_t)pn[i].v;
            return 0;
        }
    return parse_numcmp(ps, "ip_proto", val, 255, &ps->r->ip_proto);
}

static int opt_threshold(struct parse_state *ps, char *val)
{
    if (ps->r->threshold.type)
        return fail(ps, "duplicate threshold");
    return parse_threshold_fields(ps, val, &ps->r->threshold, false);
}

static int opt_detection_filter(struct parse_state *ps, char *val)
{
    struct rule *r = ps->r;
    int rc = parse_threshold_fields(ps, val, &r->detection_filter, true);
    if (rc == 0 &&
        (r->detection_filter.track == TRACK_FLOW || r->detection_filter.track == TRACK_BOTH))
        return fail(ps, "bad detection_filter track");
    return rc;
}

static int opt_stream_size(struct parse_state *ps, char *val)
{
    struct rule *r = ps->r;
    char *f[4];
    if (split_commas(val, f, 4) != 3)
        return fail(ps, "bad stream_size");
    if (!strcmp(f[0], "server")) r->stream_size_side = SS_SERVER;
    else if (!strcmp(f[0], "client")) r->stream_size_side = SS_CLIENT;
    else if (!strcmp(f[0], "both")) r->stream_size_side = SS_BOTH;
    else if (!strcmp(f[0], "either")) r->stream_size_side = SS_EITHER;
    else return fail(ps, "bad stream_size");
    char buf[64];
    snprintf(buf, sizeof(buf), "%s%s", f[1], f[2]);
    if (strcmp(f[1], "<") && strcmp(f[1], ">") && strcmp(f[1], "=") && strcmp(f[1], "!=") &&
        strcmp(f[1], "<=") && strcmp(f[1], ">="))
        return fail(ps, "bad stream_size");
    if (!strcmp(f[1], "!="))
        snprintf(buf, sizeof(buf), "!%s", f[2]);
    return parse_numcmp(ps, "stream_size", buf, UINT32_MAX, &r->stream_size);
}

/* Options that take a value, each with its parser; a missing value is "bad <name>". */
static const struct val_opt {
    const char *name;
    int (*fn)(struct parse_state *ps, char *val);
} val_opts[] = {
    {"reference", opt_reference},
    {"metadata", opt_metadata},
    {"content", opt_content},
    {"pcre", opt_pcre},
    {"byte_test", opt_byte_test},
    {"byte_jump", opt_byte_jump},
    {"byte_extract", opt_byte_extract},
    {"isdataat", opt_isdataat},
    {"ip_proto", opt_ip_proto},
    {"flags", opt_flags},
    {"flow", opt_flow},
    {"flowbits", opt_flowbits},
    {"threshold", opt_threshold},
    {"detection_filter", opt_detection_filter},
    {"stream_size", opt_stream_size},
    {"bsize", opt_bsize},
    {"urilen", opt_urilen},
    {"app-layer-protocol", opt_alproto},
};

/* Content modifiers (opt_content_mod). */
static const char *const content_mods[] = {
    "nocase", "offset", "depth", "distance", "within", "startswith", "endswith", "fast_pattern",
    "rawbytes",
};

/* Keywords this build knows to be unsupported are reported the same way as unknown ones:
 * "unsupported keyword X". */
static int apply_option(struct parse_state *ps, char *name, char *val)
{
    struct rule_meta *m = ps->m;
    long long x;

    for (size_t i = 0; i < sizeof(val_opts) / sizeof(val_opts[0]); i++)
        if (!strcmp(name, val_opts[i].name))
            return val ? val_opts[i].fn(ps, val) : fail(ps, "bad %s", name);
    for (size_t i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++)
        if (!strcmp(name, num_opts[i].name)) {
            struct rule_num *n = (struct rule_num *)((char *)ps->r + num_opts[i].off);
            return val ? parse_numcmp(ps, name, val, num_opts[i].max, n) : fail(ps, "bad %s", name);
        }
    for (size_t i = 0; i < sizeof(int_opts) / sizeof(int_opts[0]); i++) {
        const struct int_opt *o = &int_opts[i];
        if (strcmp(name, o->name) != 0)
            continue;
        if (!parse_int(val, o->min, o->max, &x))
            return fail(ps, "bad %s", name);
        switch (o->target) {
        case INT_SID: m->sid = (uint32_t)x; ps->have_sid = true; break;
        case INT_REV: m->rev = (uint32_t)x; break;
        case INT_GID: m->gid = (uint32_t)x; break;
        default: ps->prio_opt = (uint32_t)x;
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof(content_mods) / sizeof(content_mods[0]); i++)
        if (!strcmp(name, content_mods[i]))
            return opt_content_mod(ps, name, val);
    enum rule_xform_op xf = rules_xform_from_name(name);
    if (xf)
        return opt_xform(ps, name, xf, val);

    if (!strcmp(name, "msg")) {
        if (!val || !unquote(val))
            return fail(ps, "bad msg");
        m->msg = store_strdup(ps->rs->store, val);
        return m->msg ? 0 : -ENOMEM;
    }
    if (!strcmp(name, "classtype")) {
        if (!val || !*val)
            return fail(ps, "bad classtype");
        const struct classtype *ct = class_find(ps->rs, val);
        if (!ct)
            return fail(ps, "unknown classtype");
        m->classtype = store_strdup(ps->rs->store, ct->name);
        m->category = store_strdup(ps->rs->store, ct->desc);
        if (!ps->prio_opt)
            m->priority = ct->prio;
        return 0;
    }
    if (!strcmp(name, "target") || !strcmp(name, "tag"))
        return 0; /* EVE source/target and tagging: not needed for matching */
    if (!strcmp(name, "noalert")) {
        ps->noalert = true;
        return 0;
    }
    if (!strcmp(name, "pkt_data")) {
        int l = list_get(ps, RULE_BUF_PAYLOAD);
        if (l < 0)
            return l;
        ps->cur_list = l;
        ps->last_item = -1;
        return 0;
    }
    if (!strcmp(name, "bypass")) { /* Suricata: a match bypasses the rest of the flow */
        ps->bypass = true;
        return val ? fail(ps, "bypass takes no value") : 0;
    }
    /* sticky buffers and content modifiers of the app layer, through the sensor's hook */
    const struct rules_applayer_hooks *h = &ps->rs->cfg->applayer;
    int id = h->sticky_buffer ? h->sticky_buffer(h->ctx, name) : 0;
    if (id > 0) {
        int l = list_get(ps, (uint16_t)(RULE_BUF_APP_BASE + id));
        if (l < 0)
            return l;
        if (!strncmp(name, "http_", 5) && strcmp(name, "http_") != 0 && !val &&
            strchr(name, '.') == NULL && ps->last_content_list >= 0 &&
            ps->r->lists[ps->last_content_list].buffer == RULE_BUF_PAYLOAD) {
            /* old-style modifier (content:"x"; http_uri;): move the last content */
            struct rule_list *from = &ps->r->lists[ps->last_content_list];
            struct rule_item moved = from->items[ps->last_content_item];
            if (ps->last_content_item != from->n - 1)
                return fail(ps, "unsupported keyword %s", name);
            from->n--;
            int saved = ps->cur_list;
            ps->cur_list = l;
            struct rule_item *it = item_add(ps, RI_CONTENT);
            ps->cur_list = saved;
            if (!it)
                return -ENOMEM;
            *it = moved;
            ps->last_content_list = l;
            ps->last_content_item = ps->r->lists[l].n - 1;
            return 0;
        }
        ps->cur_list = l;
        ps->last_item = -1;
        return 0;
    }
    return fail(ps, "unsupported keyword %s", name);
}

/* Splits the option string at unescaped ';' outside quotes and applies each option. */
static int parse_options(struct parse_state *ps, char *s)
{
    char *p = s;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        char *start = p;
        bool inq = false;
        while (*p) {
            if (*p == '\\' && p[1]) {
                p += 2;
                continue;
            }
            if (*p == '"' && inq) {
                /* a quote closes the value only where the option ends (`;`, or `,` before
                 * pcre's extraction list): ET writes pcre:"/^["']?post/Ri"; unescaped */
                const char *q = p + 1;
                while (isspace((unsigned char)*q))
                    q++;
                if (*q == ';' || *q == ',' || !*q)
                    inq = false;
            } else if (*p == '"') {
                inq = true;
            } else if (*p == ';' && !inq)
                break;
            p++;
        }
        if (inq)
            return fail(ps, "unbalanced quotes");
        if (*p != ';')
            return fail(ps, "option without ';'");
        *p++ = 0;
        char *colon = NULL;
        for (char *q = start; *q; q++) {
            if (*q == ':') {
                colon = q;
                break;
            }
            if (*q == '"')
                break;
        }
        char *val = NULL;
        if (colon) {
            *colon = 0;
            val = trim(colon + 1);
        }
        char *name = trim(start);
        if (!*name)
            return fail(ps, "empty option");
        for (char *q = name; *q; q++)
            if (!isalnum((unsigned char)*q) && *q != '_' && *q != '.' && *q != '-')
                return fail(ps, "bad option name");
        int rc = apply_option(ps, name, val);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Splits the header "action proto src sport dir dst dport" at whitespace outside brackets. */
static int split_header(char *h, char **tok, int max)
{
    int n = 0;
    char *p = h;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (n == max)
            return -1;
        tok[n++] = p;
        int nest = 0;
        while (*p && (nest > 0 || !isspace((unsigned char)*p))) {
            if (*p == '[')
                nest++;
            else if (*p == ']')
                nest--;
            p++;
        }
        if (nest)
            return -1;
        if (*p)
            *p++ = 0;
    }
    return n;
}

static int parse_header(struct parse_state *ps, char *h)
{
    char *tok[8];
    struct rule *r = ps->r;
    int n = split_header(h, tok, 8);
    if (n != 7)
        return fail(ps, "bad rule header");
    if (!strcmp(tok[0], "alert")) r->action = RULE_ACTION_ALERT;
    else if (!strcmp(tok[0], "pass")) r->action = RULE_ACTION_PASS;
    else if (!strcmp(tok[0], "drop")) r->action = RULE_ACTION_DROP;
    else if (!strcmp(tok[0], "reject") || !strcmp(tok[0], "rejectsrc") ||
             !strcmp(tok[0], "rejectdst") || !strcmp(tok[0], "rejectboth"))
        r->action = RULE_ACTION_REJECT;
    else return fail(ps, "bad action");
    const char *proto = tok[1];
    if (!strcmp(proto, "ip") || !strcmp(proto, "pkthdr")) r->ipproto = 0;
    else if (!strcmp(proto, "tcp")) r->ipproto = 6;
    else if (!strcmp(proto, "tcp-pkt")) { r->ipproto = 6; r->flags |= RF_TCP_PKT; }
    else if (!strcmp(proto, "tcp-stream")) { r->ipproto = 6; r->flags |= RF_TCP_STREAM; }
    else if (!strcmp(proto, "udp")) r->ipproto = 17;
    else if (!strcmp(proto, "icmp") || !strcmp(proto, "icmpv4") || !strcmp(proto, "icmpv6"))
        r->ipproto = 1;
    else {
        const struct rules_applayer_hooks *hk = &ps->rs->cfg->applayer;
        int id = hk->app_proto ? hk->app_proto(hk->ctx, proto) : 0;
        if (id <= 0)
            return fail(ps, "unsupported protocol %s", proto);
        r->app_proto = (uint16_t)id;
        /* dns runs over both; others TCP in practice: leave any IP, the flow's app_proto
         * decides */
        r->ipproto = 0;
    }
    const char *err = "bad address";
    if (rules_parse_addrs(ps->rs->vars, tok[2], &r->src, &err) != 0)
        return fail(ps, "%s", err);
    if (rules_parse_ports(ps->rs->vars, tok[3], &r->sp, &err) != 0)
        return fail(ps, "%s", err);
    if (!strcmp(tok[4], "<>"))
        r->flags |= RF_BIDIR;
    else if (strcmp(tok[4], "->") != 0)
        return fail(ps, "bad direction");
    if (rules_parse_addrs(ps->rs->vars, tok[5], &r->dst, &err) != 0)
        return fail(ps, "%s", err);
    if (rules_parse_ports(ps->rs->vars, tok[6], &r->dp, &err) != 0)
        return fail(ps, "%s", err);
    /* ports on `ip` rules are accepted (Suricata loads them): only packets with ports match */
    return 0;
}

/* Final checks and derived fields. */
static int finish_rule(struct parse_state *ps)
{
    struct rule *r = ps->r;
    if (!ps->have_sid)
        return fail(ps, "missing sid");
    if (r->n_lists > 0 && r->ipproto == 1 && 0)
        return 0;
    /* old-style modifiers (content:"x"; http_uri;) move contents out of the payload list and can
     * leave it empty: drop it rather than fail the rule as an empty sticky buffer */
    for (int li = 0; li < r->n_lists; li++) {
        if (r->lists[li].n == 0 && r->lists[li].buffer == RULE_BUF_PAYLOAD) {
            free(r->lists[li].items);
            memmove(&r->lists[li], &r->lists[li + 1],
                    (size_t)(r->n_lists - li - 1) * sizeof(*r->lists));
            r->n_lists--;
            li--;
        }
    }
    /* pick the fast pattern: explicit, else the longest positive content (Suricata prefers
     * the longest; ties: the first) of the payload list, else of any list */
    r->fp_list = r->fp_item = -1;
    uint32_t best = 0;
    for (int li = 0; li < r->n_lists; li++) {
        struct rule_list *l = &r->lists[li];
        if (l->buffer == RULE_BUF_PAYLOAD)
            r->flags |= RF_HAS_PAYLOAD;
        else
            r->flags |= RF_HAS_APPBUF;
        for (int i = 0; i < l->n; i++) {
            struct rule_item *it = &l->items[i];
            if (it->type != RI_CONTENT)
                continue;
            struct rule_content *c = &it->u.c;
            if (c->flags & CF_NEGATED)
                continue;
            if (c->flags & CF_FAST_PATTERN) {
                r->fp_list = (int16_t)li;
                r->fp_item = (int16_t)i;
                best = UINT32_MAX;
            } else if (c->len > best) {
                best = c->len;
                r->fp_list = (int16_t)li;
                r->fp_item = (int16_t)i;
            }
        }
    }
    for (int li = 0; li < r->n_lists; li++) {
        struct rule_list *l = &r->lists[li];
        if (l->n == 0 && !l->bsize.op)
            return fail(ps, "empty sticky buffer");
        /* Suricata rejects a rule whose content cannot fit its bsize */
        uint64_t bmax = bsize_max(&l->bsize);
        for (int i = 0; i < l->n; i++)
            if (l->items[i].type == RI_CONTENT && !(l->items[i].u.c.flags & CF_NEGATED) &&
                l->items[i].u.c.len > bmax)
                return fail(ps, "content longer than bsize");
        /* the first item of a list cannot be relative to nothing (pcre R/byte relative at the
         * start are relative to the buffer start in Suricata) */
    }
    if ((r->flags & RF_HAS_PAYLOAD) && r->ipproto == 0 && !r->app_proto) {
        /* payload on `ip` rules: allowed (any L4 payload) */
    }
    if (ps->noalert)
        r->flags |= RF_NOALERT;
    if (ps->bypass)
        r->flags |= RF_BYPASS;
    bool l4 = r->dsize.op || r->tcp_flags_set || r->itype.op || r->icode.op || r->icmp_id.op ||
              r->icmp_seq.op || r->flow_flags || r->n_flowbits || r->stream_size_side ||
              r->app_proto || r->n_lists || r->ttl.op || r->ip_proto.op || r->n_alproto;
    if (!l4 && r->sp.any && r->dp.any && (r->ipproto == 0))
        r->flags |= RF_IPONLY;
    if (!ps->prio_opt && !ps->m->priority)
        ps->m->priority = 3;
    if (ps->prio_opt)
        ps->m->priority = (uint8_t)ps->prio_opt;
    r->priority = ps->m->priority;
    if (!ps->m->msg)
        ps->m->msg = "";
    return finish_metadata(ps);
}

static int rules_add(struct ruleset *rs, struct rule *r)
{
    if (rs->n == rs->cap) {
        unsigned nc = rs->cap ? rs->cap * 2 : 256;
        void *p = realloc(rs->rules, nc * sizeof(*rs->rules));
        if (!p)
            return -ENOMEM;
        rs->rules = p;
        rs->cap = nc;
    }
    r->idx = rs->n;
    rs->rules[rs->n++] = *r;
    return 0;
}

/* Reads `sid:N;` from raw text for the failure line. */
static uint32_t sniff_sid(const char *s)
{
    for (const char *p = s; (p = strstr(p, "sid")) != NULL; p++) {
        if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;
        const char *q = p + 3;
        while (isspace((unsigned char)*q))
            q++;
        if (*q != ':')
            continue;
        q++;
        while (isspace((unsigned char)*q))
            q++;
        unsigned long v = strtoul(q, NULL, 10);
        return v > UINT32_MAX ? 0 : (uint32_t)v;
    }
    return 0;
}

static void apply_threshold_config(struct ruleset *rs, struct rule *r)
{
    for (unsigned i = 0; i < rs->n_th; i++) {
        struct th_entry *e = &rs->th[i];
        bool all = e->sid == 0;
        if (!all && (e->sid != r->meta->sid || e->gid != r->meta->gid))
            continue;
        if (all && e->gid != 0 && e->gid != r->meta->gid)
            continue;
        if (e->suppress) {
            void *p = realloc(r->suppress, (r->n_suppress + 1) * sizeof(*r->suppress));
            if (!p)
                continue;
            r->suppress = p;
            struct rule_suppress *s = &r->suppress[r->n_suppress];
            s->track = e->sup.track;
            memset(&s->addrs, 0, sizeof(s->addrs));
            /* share nothing: copy the ranges */
            s->addrs.any = e->sup.addrs.any;
            s->addrs.n4 = e->sup.addrs.n4;
            s->addrs.n6 = e->sup.addrs.n6;
            if (s->addrs.n4) {
                s->addrs.v4 = malloc(s->addrs.n4 * sizeof(*s->addrs.v4));
                if (!s->addrs.v4)
                    continue;
                memcpy(s->addrs.v4, e->sup.addrs.v4, s->addrs.n4 * sizeof(*s->addrs.v4));
            }
            if (s->addrs.n6) {
                s->addrs.v6 = malloc(s->addrs.n6 * sizeof(*s->addrs.v6));
                if (!s->addrs.v6) {
                    free(s->addrs.v4);
                    continue;
                }
                memcpy(s->addrs.v6, e->sup.addrs.v6, s->addrs.n6 * sizeof(*s->addrs.v6));
            }
            r->n_suppress++;
        } else if (!all || !r->threshold.type) {
            /* a threshold.config entry replaces the rule's own threshold (Suricata) */
            r->threshold = e->th;
        }
    }
}

static void parse_one(struct ruleset *rs, const char *file, unsigned line, char *text,
                      struct rules_report *rep)
{
    struct parse_state ps = {.rs = rs, .cur_list = -1, .last_item = -1,
                             .last_content_list = -1, .last_content_item = -1};
    struct rule r;
    memset(&r, 0, sizeof(r));
    ps.r = &r;
    uint32_t sid = sniff_sid(text);
    struct rule_meta *m = store_alloc(rs->store, sizeof(*m));
    if (!m) {
        report_failure(rep, file, line, sid, "out of memory", true);
        return;
    }
    ps.m = m;
    ps.xforms_at_start = rs->n_xforms;
    m->gid = 1;
    m->raw = store_strdup(rs->store, text);
    m->file = store_strdup(rs->store, file);
    m->line = line;
    int rc;
    char *open = strchr(text, '(');
    size_t tl = strlen(text);
    while (tl && isspace((unsigned char)text[tl - 1]))
        text[--tl] = 0;
    if (!open || tl == 0 || text[tl - 1] != ')') {
        rc = fail(&ps, open ? "rule does not end with ')'" : "no options");
        goto bad;
    }
    *open = 0;
    text[tl - 1] = 0;
    if ((rc = parse_header(&ps, text)) != 0)
        goto bad;
    if ((rc = parse_options(&ps, open + 1)) != 0)
        goto bad;
    if ((rc = finish_rule(&ps)) != 0)
        goto bad;
    m->action = r.action;
    if (!sid_insert(rs, m->gid, m->sid)) {
        rc = fail(&ps, "duplicate sid");
        goto bad;
    }
    r.meta = m;
    apply_threshold_config(rs, &r);
    if (rules_add(rs, &r) != 0) {
        rc = fail(&ps, "out of memory");
        goto bad;
    }
    if (rs->hst)
        XXH3_64bits_update(rs->hst, m->raw, strlen(m->raw) + 1);
    if (rep)
        rep->loaded++;
    free(ps.md);
    free(ps.refs);
    return;
bad:
    rs->n_xforms = ps.xforms_at_start; /* transformed buffers only this rule named */
    report_failure(rep, file, line, ps.have_sid ? m->sid : sid,
                   rc == -ENOMEM ? "out of memory" : ps.reason ? ps.reason : "parse error", true);
    rule_free_parts(&r);
    free(ps.md);
    free(ps.refs);
}

/* Feeds a whole text: comments, blank lines, `\` continuations. */
static int parse_text(struct ruleset *rs, const char *name, const char *text,
                      struct rules_report *rep)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    unsigned lineno = 0, start_line = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        if (len == 0)
            start_line = lineno;
        if (len + ll + 2 > cap) {
            while (len + ll + 2 > cap)
                cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
        }
        memcpy(buf + len, p, ll);
        len += ll;
        while (len && (buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
            len--;
        bool cont = len && buf[len - 1] == '\\';
        if (cont) {
            len--;
        } else {
            buf[len] = 0;
            char *t = trim(buf);
            if (*t && *t != '#')
                parse_one(rs, name, start_line, t, rep);
            len = 0;
        }
        p = nl ? nl + 1 : p + ll;
    }
    if (len) {
        buf[len] = 0;
        char *t = trim(buf);
        if (*t && *t != '#')
            parse_one(rs, name, start_line, t, rep);
    }
    free(buf);
    return 0;
}

static char *read_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap)
            break;
        if (cap >= max) {
            free(buf);
            buf = NULL;
            break;
        }
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    if (buf) {
        buf[len] = 0;
        /* NUL bytes inside would cut lines short; make them spaces */
        for (size_t i = 0; i < len; i++)
            if (buf[i] == 0)
                buf[i] = ' ';
    }
    fclose(f);
    return buf;
}

static int load_classification(struct ruleset *rs, const char *path, struct rules_report *rep,
                               char *err, size_t errlen)
{
    char *text = path ? read_file(path, 16 << 20) : strdup(rules_default_classification);
    if (!path)
        path = "<built-in classification>";
    if (!text) {
        snprintf(err, errlen, "%s: cannot read classification file", path);
        return -ENOENT;
    }
    unsigned lineno = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *t = trim(l);
        if (!*t || *t == '#')
            continue;
        const char *pfx = "config classification:";
        if (strncmp(t, pfx, strlen(pfx)) != 0) {
            report_failure(rep, path, lineno, 0, "bad classification line", false);
            continue;
        }
        char *f[4];
        int n = split_commas(t + strlen(pfx), f, 4);
        long long pr;
        if (n != 3 || !*f[0] || !parse_int(f[2], 1, 255, &pr)) {
            report_failure(rep, path, lineno, 0, "bad classification line", false);
            continue;
        }
        void *p = realloc(rs->classes, (rs->n_classes + 1) * sizeof(*rs->classes));
        if (!p)
            break;
        rs->classes = p;
        struct classtype *c = &rs->classes[rs->n_classes];
        c->name = strdup(f[0]);
        c->desc = strdup(f[1]);
        c->prio = (uint8_t)pr;
        if (!c->name || !c->desc) {
            free(c->name);
            free(c->desc);
            break;
        }
        rs->n_classes++;
    }
    free(text);
    return 0;
}

/* threshold.config: threshold / event_filter / suppress lines. */
static int load_threshold_config(struct ruleset *rs, const char *path, struct rules_report *rep,
                                 char *err, size_t errlen)
{
    char *text = read_file(path, 16 << 20);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read threshold file", path);
        return -ENOENT;
    }
    if (rs->hst)
        XXH3_64bits_update(rs->hst, text, strlen(text));
    unsigned lineno = 0;
    char *save = NULL;
    struct rule dummy;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *t = trim(l);
        if (!*t || *t == '#')
            continue;
        struct parse_state ps = {.rs = rs, .r = &dummy};
        char *sp = t;
        while (*sp && !isspace((unsigned char)*sp))
            sp++;
        if (*sp)
            *sp++ = 0;
        char *rest = trim(sp);
        struct th_entry e;
        memset(&e, 0, sizeof(e));
        bool suppress = !strcmp(t, "suppress");
        if (!suppress && strcmp(t, "threshold") && strcmp(t, "event_filter")) {
            report_failure(rep, path, lineno, 0,
                           !strcmp(t, "rate_filter") ? "rate_filter not supported"
                                                     : "bad threshold.config line",
                           false);
            continue;
        }
        e.suppress = suppress;
        /* pull gen_id / sig_id (and suppress's track/ip) out, leave the rest as the
         * threshold option syntax */
        char *f[12];
        int n = split_commas(rest, f, 12);
        char th[256] = "";
        bool okg = false, oks = false, bad = false;
        char *ipval = NULL;
        for (int i = 0; i < n; i++) {
            char *k = f[i], *v = k;
            while (*v && !isspace((unsigned char)*v))
                v++;
            if (*v)
                *v++ = 0;
            v = trim(v);
            long long x;
            if (!strcmp(k, "gen_id")) {
                okg = parse_int(v, 0, UINT32_MAX, &x);
                e.gid = (uint32_t)x;
            } else if (!strcmp(k, "sig_id")) {
                oks = parse_int(v, 0, UINT32_MAX, &x);
                e.sid = (uint32_t)x;
            } else if (suppress && !strcmp(k, "track")) {
                if (!strcmp(v, "by_src")) e.sup.track = TRACK_SRC;
                else if (!strcmp(v, "by_dst")) e.sup.track = TRACK_DST;
                else if (!strcmp(v, "by_either")) e.sup.track = TRACK_EITHER;
                else bad = true;
            } else if (suppress && !strcmp(k, "ip")) {
                ipval = v;
            } else if (!suppress) {
                size_t used = strlen(th);
                snprintf(th + used, sizeof(th) - used, "%s%s %s", used ? "," : "", k, v);
            } else {
                bad = true;
            }
        }
        if (!okg || !oks || bad) {
            report_failure(rep, path, lineno, e.sid, "bad threshold.config line", false);
            continue;
        }
        if (suppress) {
            if ((e.sup.track != 0) != (ipval != NULL)) {
                report_failure(rep, path, lineno, e.sid, "bad suppress line", false);
                continue;
            }
            const char *aerr = "bad address";
            if (ipval && rules_parse_addrs(rs->vars, ipval, &e.sup.addrs, &aerr) != 0) {
                report_failure(rep, path, lineno, e.sid, aerr, false);
                continue;
            }
        } else if (parse_threshold_fields(&ps, th, &e.th, false) != 0) {
            report_failure(rep, path, lineno, e.sid, ps.reason, false);
            continue;
        }
        void *p = realloc(rs->th, (rs->n_th + 1) * sizeof(*rs->th));
        if (!p) {
            rules_addrs_free(&e.sup.addrs);
            break;
        }
        rs->th = p;
        rs->th[rs->n_th++] = e;
    }
    free(text);
    return 0;
}

static struct ruleset *ruleset_begin(const struct rules_load_config *cfg,
                                     struct rules_report *rep, char *err, size_t errlen)
{
    struct ruleset *rs = calloc(1, sizeof(*rs));
    if (!rs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rs->cfg = cfg;
    if (cfg->meta_store) {
        rs->store = cfg->meta_store;
    } else {
        rs->store = rule_meta_store_new();
        rs->own_store = true;
    }
    rs->hst = XXH3_createState();
    if (!rs->store || !rs->hst)
        goto nomem;
    XXH3_64bits_reset(rs->hst);
    if (cfg->vars) {
        rs->vars = cfg->vars;
    } else {
        rs->own_vars = rules_vars_new();
        if (!rs->own_vars)
            goto nomem;
        rs->vars = rs->own_vars;
    }
    rules_vars_hash(rs->vars, rs->hst);
    if (load_classification(rs, cfg->classification_path, rep, err, errlen) != 0)
        goto fail;
    if (cfg->threshold_path &&
        load_threshold_config(rs, cfg->threshold_path, rep, err, errlen) != 0)
        goto fail;
    return rs;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    ruleset_free(rs);
    return NULL;
}

static void ruleset_end(struct ruleset *rs)
{
    rs->hash = XXH3_64bits_digest(rs->hst);
    XXH3_freeState(rs->hst);
    rs->hst = NULL;
    rs->cfg = NULL;
}

struct ruleset *ruleset_load_files(const struct rules_load_config *cfg, const char *const *files,
                                   unsigned n_files, struct rules_report *report, char *err,
                                   size_t errlen)
{
    struct rules_load_config def;
    if (!cfg) {
        rules_load_config_default(&def);
        cfg = &def;
    }
    struct ruleset *rs = ruleset_begin(cfg, report, err, errlen);
    if (!rs)
        return NULL;
    for (unsigned i = 0; i < n_files; i++) {
        char *text = read_file(files[i], 256u << 20);
        if (!text) {
            report_failure(report, files[i], 0, 0, "cannot read rule file", false);
            continue;
        }
        int rc = parse_text(rs, files[i], text, report);
        free(text);
        if (rc != 0) {
            snprintf(err, errlen, "out of memory");
            ruleset_free(rs);
            return NULL;
        }
    }
    ruleset_end(rs);
    return rs;
}

struct ruleset *ruleset_load_string(const struct rules_load_config *cfg, const char *text,
                                    const char *name, struct rules_report *report, char *err,
                                    size_t errlen)
{
    struct rules_load_config def;
    if (!cfg) {
        rules_load_config_default(&def);
        cfg = &def;
    }
    struct ruleset *rs = ruleset_begin(cfg, report, err, errlen);
    if (!rs)
        return NULL;
    if (parse_text(rs, name ? name : "<string>", text ? text : "", report) != 0) {
        snprintf(err, errlen, "out of memory");
        ruleset_free(rs);
        return NULL;
    }
    ruleset_end(rs);
    return rs;
}
