/* Address and port expressions, and the variables they use. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rules_priv.h"

#define VAR_MAX_DEPTH 16

struct rules_var {
    char *name;
    char *value;
    bool is_port;
};

struct rules_vars {
    struct rules_var *v;
    unsigned n, cap;
};

static const char *const default_addr_vars[][2] = {
    {"HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"},
    {"EXTERNAL_NET", "!$HOME_NET"},
    {"HTTP_SERVERS", "$HOME_NET"},
    {"SMTP_SERVERS", "$HOME_NET"},
    {"SQL_SERVERS", "$HOME_NET"},
    {"DNS_SERVERS", "$HOME_NET"},
    {"TELNET_SERVERS", "$HOME_NET"},
    {"AIM_SERVERS", "$EXTERNAL_NET"},
    {"DC_SERVERS", "$HOME_NET"},
    {"DNP3_SERVER", "$HOME_NET"},
    {"DNP3_CLIENT", "$HOME_NET"},
    {"MODBUS_CLIENT", "$HOME_NET"},
    {"MODBUS_SERVER", "$HOME_NET"},
    {"ENIP_CLIENT", "$HOME_NET"},
    {"ENIP_SERVER", "$HOME_NET"},
};
static const char *const default_port_vars[][2] = {
    {"HTTP_PORTS", "80"},
    {"SHELLCODE_PORTS", "!80"},
    {"ORACLE_PORTS", "1521"},
    {"SSH_PORTS", "22"},
    {"DNP3_PORTS", "20000"},
    {"MODBUS_PORTS", "502"},
    {"FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"},
    {"FTP_PORTS", "21"},
    {"GENEVE_PORTS", "6081"},
    {"VXLAN_PORTS", "4789"},
    {"TEREDO_PORTS", "3544"},
    {"SIP_PORTS", "[5060,5061]"},
};

static int vars_set(struct rules_vars *v, const char *name, const char *value, bool is_port)
{
    if (!v || !name || !value || !*name)
        return -EINVAL;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return -EINVAL;
    for (unsigned i = 0; i < v->n; i++) {
        if (v->v[i].is_port == is_port && strcmp(v->v[i].name, name) == 0) {
            char *nv = strdup(value);
            if (!nv)
                return -ENOMEM;
            free(v->v[i].value);
            v->v[i].value = nv;
            return 0;
        }
    }
    if (v->n == v->cap) {
        unsigned nc = v->cap ? v->cap * 2 : 32;
        struct rules_var *nvv = realloc(v->v, nc * sizeof(*nvv));
        if (!nvv)
            return -ENOMEM;
        v->v = nvv;
        v->cap = nc;
    }
    struct rules_var *e = &v->v[v->n];
    e->name = strdup(name);
    e->value = strdup(value);
    e->is_port = is_port;
    if (!e->name || !e->value) {
        free(e->name);
        free(e->value);
        return -ENOMEM;
    }
    v->n++;
    return 0;
}

struct rules_vars *rules_vars_new(void)
{
    struct rules_vars *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < sizeof(default_addr_vars) / sizeof(default_addr_vars[0]); i++)
        if (vars_set(v, default_addr_vars[i][0], default_addr_vars[i][1], false) != 0)
            goto fail;
    for (size_t i = 0; i < sizeof(default_port_vars) / sizeof(default_port_vars[0]); i++)
        if (vars_set(v, default_port_vars[i][0], default_port_vars[i][1], true) != 0)
            goto fail;
    return v;
fail:
    rules_vars_free(v);
    return NULL;
}

void rules_vars_free(struct rules_vars *v)
{
    if (!v)
        return;
    for (unsigned i = 0; i < v->n; i++) {
        free(v->v[i].name);
        free(v->v[i].value);
    }
    free(v->v);
    free(v);
}

int rules_vars_set_address(struct rules_vars *v, const char *name, const char *value)
{
    return vars_set(v, name, value, false);
}

int rules_vars_set_port(struct rules_vars *v, const char *name, const char *value)
{
    return vars_set(v, name, value, true);
}

const char *rules_vars_get(const struct rules_vars *v, const char *name, size_t name_len,
                           bool is_port)
{
    if (!v)
        return NULL;
    for (unsigned i = 0; i < v->n; i++)
        if (v->v[i].is_port == is_port && strlen(v->v[i].name) == name_len &&
            memcmp(v->v[i].name, name, name_len) == 0)
            return v->v[i].value;
    return NULL;
}

void rules_vars_hash(const struct rules_vars *v, XXH3_state_t *st)
{
    if (!v)
        return;
    for (unsigned i = 0; i < v->n; i++) {
        XXH3_64bits_update(st, v->v[i].name, strlen(v->v[i].name) + 1);
        XXH3_64bits_update(st, v->v[i].value, strlen(v->v[i].value) + 1);
    }
}

/* ---- generic range sets ---- */

/* Ranges are kept as 128-bit inclusive pairs during parsing (ports use the low 16 bits). */
typedef unsigned __int128 u128;
struct rset {
    u128 (*r)[2];
    unsigned n, cap;
};

static int rset_add(struct rset *s, u128 lo, u128 hi)
{
    if (s->n == s->cap) {
        unsigned nc = s->cap ? s->cap * 2 : 8;
        if (nc > (1u << 24))
            return -E2BIG;
        void *p = realloc(s->r, nc * sizeof(*s->r));
        if (!p)
            return -ENOMEM;
        s->r = p;
        s->cap = nc;
    }
    s->r[s->n][0] = lo;
    s->r[s->n][1] = hi;
    s->n++;
    return 0;
}

static int rcmp(const void *a, const void *b)
{
    const u128 *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0;
}

static void rset_norm(struct rset *s)
{
    if (s->n < 2)
        return;
    qsort(s->r, s->n, sizeof(*s->r), rcmp);
    unsigned o = 0;
    for (unsigned i = 1; i < s->n; i++) {
        if (s->r[i][0] <= s->r[o][1] + 1 || s->r[o][1] == ~(u128)0) {
            if (s->r[i][1] > s->r[o][1])
                s->r[o][1] = s->r[i][1];
        } else {
            o++;
            s->r[o][0] = s->r[i][0];
            s->r[o][1] = s->r[i][1];
        }
    }
    s->n = o + 1;
}

/* s := s minus t (both normalised). */
static int rset_sub(struct rset *s, const struct rset *t)
{
    struct rset out = {0};
    for (unsigned i = 0; i < s->n; i++) {
        u128 lo = s->r[i][0], hi = s->r[i][1];
        bool alive = true;
        for (unsigned j = 0; j < t->n && alive; j++) {
            u128 tl = t->r[j][0], th = t->r[j][1];
            if (th < lo || tl > hi)
                continue;
            if (tl > lo && rset_add(&out, lo, tl - 1) != 0)
                goto fail;
            if (th >= hi)
                alive = false;
            else
                lo = th + 1;
        }
        if (alive && rset_add(&out, lo, hi) != 0)
            goto fail;
    }
    free(s->r);
    *s = out;
    return 0;
fail:
    free(out.r);
    return -ENOMEM;
}

static int rset_merge(struct rset *s, const struct rset *t)
{
    for (unsigned i = 0; i < t->n; i++)
        if (rset_add(s, t->r[i][0], t->r[i][1]) != 0)
            return -ENOMEM;
    return 0;
}

/* ---- expression parsing (shared by addresses and ports) ---- */

struct expr_ctx {
    const struct rules_vars *vars;
    bool is_port;
    int depth;
    const char **err;
};

/* Result for one family: v4 in s4 (addresses) / ports in s4, v6 in s6. */
struct eset {
    struct rset s4, s6;
};

static void eset_free(struct eset *e)
{
    free(e->s4.r);
    free(e->s6.r);
    memset(e, 0, sizeof(*e));
}

static int parse_expr(struct expr_ctx *c, const char *s, size_t len, struct eset *out);

static const u128 V4_MAX = 0xffffffffu;
static const u128 PORT_MAX = 0xffffu;
#define U128_MAX (~(u128)0)

static int eset_any(struct expr_ctx *c, struct eset *e)
{
    if (rset_add(&e->s4, 0, c->is_port ? PORT_MAX : V4_MAX) != 0)
        return -ENOMEM;
    if (!c->is_port && rset_add(&e->s6, 0, U128_MAX) != 0)
        return -ENOMEM;
    return 0;
}

static int parse_port_atom(struct expr_ctx *c, const char *s, size_t len, struct eset *e)
{
    char buf[32];
    if (len == 0 || len >= sizeof(buf)) {
        *c->err = "bad port";
        return -EINVAL;
    }
    memcpy(buf, s, len);
    buf[len] = 0;
    char *colon = strchr(buf, ':');
    unsigned long lo, hi;
    char *end;
    if (colon) {
        *colon = 0;
        if (buf[0] == 0) {
            lo = 0;
        } else {
            if (!isdigit((unsigned char)buf[0]))
                goto bad;
            lo = strtoul(buf, &end, 10);
            if (*end)
                goto bad;
        }
        if (colon[1] == 0) {
            hi = 65535;
        } else {
            if (!isdigit((unsigned char)colon[1]))
                goto bad;
            hi = strtoul(colon + 1, &end, 10);
            if (*end)
                goto bad;
        }
    } else {
        if (!isdigit((unsigned char)buf[0]))
            goto bad;
        lo = hi = strtoul(buf, &end, 10);
        if (*end)
            goto bad;
    }
    if (lo > 65535 || hi > 65535 || lo > hi)
        goto bad;
    return rset_add(&e->s4, lo, hi);
bad:
    *c->err = "bad port";
    return -EINVAL;
}

static int parse_addr_atom(struct expr_ctx *c, const char *s, size_t len, struct eset *e)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) {
        *c->err = "bad address";
        return -EINVAL;
    }
    memcpy(buf, s, len);
    buf[len] = 0;
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = 0;
        char *end;
        if (!isdigit((unsigned char)slash[1]))
            goto bad;
        prefix = strtol(slash + 1, &end, 10);
        if (*end == '.') {
            /* netmask form 10.0.0.0/255.0.0.0 */
            struct in_addr m;
            if (inet_pton(AF_INET, slash + 1, &m) != 1)
                goto bad;
            uint32_t mm = ntohl(m.s_addr);
            prefix = 0;
            while (prefix < 32 && (mm & (0x80000000u >> prefix)))
                prefix++;
        } else if (*end) {
            goto bad;
        }
    }
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        if (prefix > 32)
            goto bad;
        uint32_t a = ntohl(a4.s_addr);
        uint32_t mask = prefix < 0 ? 0xffffffffu : prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
        return rset_add(&e->s4, a & mask, (a & mask) | ~mask);
    }
    if (inet_pton(AF_INET6, buf, &a6) == 1) {
        if (prefix > 128)
            goto bad;
        u128 a = 0;
        for (int i = 0; i < 16; i++)
            a = (a << 8) | a6.s6_addr[i];
        u128 mask = prefix < 0 ? U128_MAX : prefix == 0 ? 0 : U128_MAX << (128 - prefix);
        return rset_add(&e->s6, a & mask, (a & mask) | ~mask);
    }
bad:
    *c->err = "bad address";
    return -EINVAL;
}

/* Splits a list body at top-level commas and parses each element. */
static int parse_list(struct expr_ctx *c, const char *s, size_t len, struct eset *out)
{
    struct eset pos = {0}, neg = {0};
    bool any_pos = false;
    int rc = 0;
    size_t i = 0;
    while (i <= len) {
        while (i < len && isspace((unsigned char)s[i]))
            i++;
        size_t start = i;
        int nest = 0;
        while (i < len && (nest > 0 || s[i] != ',')) {
            if (s[i] == '[')
                nest++;
            else if (s[i] == ']')
                nest--;
            if (nest < 0)
                break;
            i++;
        }
        if (nest != 0) {
            *c->err = "unbalanced brackets";
            rc = -EINVAL;
            goto out;
        }
        size_t end = i;
        while (end > start && isspace((unsigned char)s[end - 1]))
            end--;
        if (end == start) {
            *c->err = c->is_port ? "bad port" : "bad address";
            rc = -EINVAL;
            goto out;
        }
        bool negated = false;
        if (s[start] == '!') {
            negated = true;
            start++;
            while (start < end && isspace((unsigned char)s[start]))
                start++;
        }
        struct eset el = {0};
        rc = parse_expr(c, s + start, end - start, &el);
        if (rc == 0) {
            struct eset *dst = negated ? &neg : &pos;
            if (rset_merge(&dst->s4, &el.s4) != 0 || rset_merge(&dst->s6, &el.s6) != 0)
                rc = -ENOMEM;
            if (!negated)
                any_pos = true;
        }
        eset_free(&el);
        if (rc != 0)
            goto out;
        i++; /* skip comma */
    }
    if (!any_pos && (rc = eset_any(c, &pos)) != 0)
        goto out;
    rset_norm(&pos.s4);
    rset_norm(&pos.s6);
    rset_norm(&neg.s4);
    rset_norm(&neg.s6);
    if ((rc = rset_sub(&pos.s4, &neg.s4)) != 0 || (rc = rset_sub(&pos.s6, &neg.s6)) != 0)
        goto out;
    *out = pos;
    memset(&pos, 0, sizeof(pos));
out:
    eset_free(&pos);
    eset_free(&neg);
    return rc;
}

static int parse_expr(struct expr_ctx *c, const char *s, size_t len, struct eset *out)
{
    if (++c->depth > VAR_MAX_DEPTH) {
        *c->err = "expression nested too deep";
        return -ELOOP;
    }
    int rc;
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len == 0) {
        *c->err = c->is_port ? "bad port" : "bad address";
        rc = -EINVAL;
    } else if (s[0] == '!' || (s[0] == '[' && s[len - 1] == ']') || memchr(s, ',', len)) {
        if (s[0] == '[' && s[len - 1] == ']') {
            /* check the brackets pair up (not "[a],[b]") */
            int nest = 0;
            bool whole = true;
            for (size_t i = 0; i < len; i++) {
                if (s[i] == '[')
                    nest++;
                else if (s[i] == ']')
                    nest--;
                if (nest == 0 && i + 1 < len)
                    whole = false;
            }
            if (whole)
                rc = parse_list(c, s + 1, len - 2, out);
            else
                rc = parse_list(c, s, len, out);
        } else {
            rc = parse_list(c, s, len, out);
        }
    } else if (len == 3 && strncasecmp(s, "any", 3) == 0) {
        rc = eset_any(c, out);
    } else if (s[0] == '$') {
        const char *val = rules_vars_get(c->vars, s + 1, len - 1, c->is_port);
        if (!val) {
            *c->err = "unknown variable";
            rc = -ENOENT;
        } else {
            rc = parse_expr(c, val, strlen(val), out);
        }
    } else if (c->is_port) {
        rc = parse_port_atom(c, s, len, out);
    } else {
        rc = parse_addr_atom(c, s, len, out);
    }
    c->depth--;
    return rc;
}

int rules_parse_addrs(const struct rules_vars *vars, const char *s, struct rule_addrs *out,
                      const char **err)
{
    struct expr_ctx c = {.vars = vars, .is_port = false, .err = err};
    struct eset e = {0};
    memset(out, 0, sizeof(*out));
    int rc = parse_expr(&c, s, strlen(s), &e);
    if (rc != 0) {
        eset_free(&e);
        return rc;
    }
    rset_norm(&e.s4);
    rset_norm(&e.s6);
    if (e.s4.n == 1 && e.s4.r[0][0] == 0 && e.s4.r[0][1] == V4_MAX && e.s6.n == 1 &&
        e.s6.r[0][0] == 0 && e.s6.r[0][1] == U128_MAX) {
        out->any = true;
    } else if (e.s4.n == 0 && e.s6.n == 0) {
        *err = "address expression matches nothing";
        eset_free(&e);
        return -EINVAL;
    } else {
        out->n4 = e.s4.n;
        out->n6 = e.s6.n;
        out->v4 = calloc(e.s4.n ? e.s4.n : 1, sizeof(*out->v4));
        out->v6 = calloc(e.s6.n ? e.s6.n : 1, sizeof(*out->v6));
        if (!out->v4 || !out->v6) {
            eset_free(&e);
            rules_addrs_free(out);
            *err = "out of memory";
            return -ENOMEM;
        }
        for (unsigned i = 0; i < e.s4.n; i++) {
            out->v4[i].lo = (uint32_t)e.s4.r[i][0];
            out->v4[i].hi = (uint32_t)e.s4.r[i][1];
        }
        for (unsigned i = 0; i < e.s6.n; i++) {
            out->v6[i].lo = e.s6.r[i][0];
            out->v6[i].hi = e.s6.r[i][1];
        }
    }
    eset_free(&e);
    return 0;
}

int rules_parse_ports(const struct rules_vars *vars, const char *s, struct rule_ports *out,
                      const char **err)
{
    struct expr_ctx c = {.vars = vars, .is_port = true, .err = err};
    struct eset e = {0};
    memset(out, 0, sizeof(*out));
    int rc = parse_expr(&c, s, strlen(s), &e);
    if (rc != 0) {
        eset_free(&e);
        return rc;
    }
    rset_norm(&e.s4);
    if (e.s4.n == 1 && e.s4.r[0][0] == 0 && e.s4.r[0][1] == PORT_MAX) {
        out->any = true;
    } else if (e.s4.n == 0) {
        *err = "port expression matches nothing";
        eset_free(&e);
        return -EINVAL;
    } else {
        out->n = e.s4.n;
        out->r = calloc(e.s4.n, sizeof(*out->r));
        if (!out->r) {
            eset_free(&e);
            *err = "out of memory";
            return -ENOMEM;
        }
        for (unsigned i = 0; i < e.s4.n; i++) {
            out->r[i].lo = (uint16_t)e.s4.r[i][0];
            out->r[i].hi = (uint16_t)e.s4.r[i][1];
        }
    }
    eset_free(&e);
    return 0;
}

void rules_addrs_free(struct rule_addrs *a)
{
    free(a->v4);
    free(a->v6);
    memset(a, 0, sizeof(*a));
}

bool rule_addrs_match(const struct rule_addrs *a, const uint8_t *addr, bool v6)
{
    if (a->any)
        return true;
    if (!v6) {
        uint32_t x = (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 | (uint32_t)addr[2] << 8 |
                     addr[3];
        uint32_t lo = 0, hi = a->n4;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (a->v4[mid].hi < x)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo < a->n4 && a->v4[lo].lo <= x;
    }
    u128 x = 0;
    for (int i = 0; i < 16; i++)
        x = (x << 8) | addr[i];
    for (uint32_t i = 0; i < a->n6; i++)
        if (a->v6[i].lo <= x && x <= a->v6[i].hi)
            return true;
    return false;
}

bool rule_ports_match(const struct rule_ports *p, uint16_t port)
{
    if (p->any)
        return true;
    for (uint32_t i = 0; i < p->n; i++)
        if (p->r[i].lo <= port && port <= p->r[i].hi)
            return true;
    return false;
}

bool rule_num_match(const struct rule_num *n, uint64_t x)
{
    switch (n->op) {
    case NUM_EQ: return x == n->a;
    case NUM_NE: return x != n->a;
    case NUM_LT: return x < n->a;
    case NUM_LE: return x <= n->a;
    case NUM_GT: return x > n->a;
    case NUM_GE: return x >= n->a;
    case NUM_RANGE: return x > n->a && x < n->b;
    default: return true;
    }
}
