/* Anomaly configuration: defaults, key/value setter, engine YAML section, networks, severity. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly_priv.h"
#include "config.h" /* struct tl_config / cfg_node only: header types, no engine functions */

static const char *const class_names[ANOM_CLASS_MAX] = {
    [ANOM_SYN_FLOOD] = "syn-flood",
    [ANOM_UDP_FLOOD] = "udp-flood",
    [ANOM_ICMP_FLOOD] = "icmp-flood",
    [ANOM_REFLECTION] = "reflection",
    [ANOM_SCAN_HORIZONTAL] = "scan-horizontal",
    [ANOM_SCAN_VERTICAL] = "scan-vertical",
    [ANOM_HOST_SWEEP] = "host-sweep",
    [ANOM_BRUTE_FORCE] = "brute-force",
    [ANOM_BEACONING] = "beaconing",
    [ANOM_DNS_TUNNEL] = "dns-tunnel",
    [ANOM_EXFILTRATION] = "exfiltration",
    [ANOM_PROTOCOL] = "protocol-anomaly",
};

const char *anomaly_class_name(enum anomaly_class c)
{
    return (unsigned)c < ANOM_CLASS_MAX ? class_names[c] : NULL;
}

void anomaly_config_default(struct anomaly_config *c)
{
    memset(c, 0, sizeof(*c));
    c->enabled = true;
    c->window_ms = 1000;
    c->max_workers = 64;
    c->shard_dsts = 2048;
    c->shard_srcs = 2048;
    c->shard_pairs = 2048;
    c->shard_hosts = 2048;
    c->shard_dns = 512;
    c->track_entries = 16384;
    c->max_incidents = 1024;
    c->learning_s = 60;
    c->ewma_alpha = 0.05;
    c->baseline_sigmas = 6;
    c->baseline_factor = 3;
    c->syn_pps = 1000;
    c->syn_complete_max = 0.3;
    c->udp_pps = 2000;
    c->udp_bps = 200000000ull;
    c->udp_reply_max = 0.2;
    c->icmp_pps = 1000;
    c->icmp_bps = 100000000ull;
    c->distributed_sources = 32;
    c->refl_pps = 200;
    c->refl_bps = 20000000ull;
    c->refl_min_reflectors = 5;
    static const uint16_t refl[] = {53, 123, 1900, 11211, 19, 389};
    memcpy(c->refl_ports, refl, sizeof(refl));
    c->n_refl_ports = sizeof(refl) / sizeof(refl[0]);
    c->scan_epoch_s = 30;
    c->hscan_hosts = 20;
    c->vscan_ports = 40;
    c->sweep_hosts = 20;
    c->scan_fail_min = 0.5;
    c->bf_epoch_s = 60;
    c->bf_conns = 20;
    c->bf_spray_hosts = 10;
    static const uint16_t bf[] = {22, 3389, 445, 21, 23};
    memcpy(c->bf_ports, bf, sizeof(bf));
    c->n_bf_ports = sizeof(bf) / sizeof(bf[0]);
    c->beacon_min_intervals = 8;
    c->beacon_min_period_s = 5;
    c->beacon_max_period_s = 3600;
    c->beacon_max_cv = 0.25;
    c->beacon_skip_ports[0] = 53;
    c->beacon_skip_ports[1] = 123;
    c->n_beacon_skip_ports = 2;
    c->dns_epoch_s = 60;
    c->dns_subdomains = 30;
    c->dns_mean_len = 20;
    c->dns_mean_entropy = 3.3;
    c->dns_src_mean_len = 40;
    c->exfil_bps = 2000000ull;
    c->exfil_ratio = 4;
    c->exfil_unlearned_bps = 50000000ull;
    c->exfil_tau_s = 30;
    c->exfil_baseline_tau_s = 600;
    c->proto_bad_flags = 20;
    c->proto_frag_overlap = 5;
    c->proto_ttl_change = 20;
    c->proto_bad_checksum = 0;
    c->update_interval_s = 10;
    c->end_quiet_s = 5;
}

enum vkind { V_U32, V_U64, V_DBL, V_BOOL, V_PORTS };
struct key_desc {
    const char *name;
    enum vkind kind;
    size_t off, cnt_off;
    double min, max;
};
#define K32(n, lo, hi) {#n, V_U32, offsetof(struct anomaly_config, n), 0, lo, hi}
#define K64(n, lo, hi) {#n, V_U64, offsetof(struct anomaly_config, n), 0, lo, hi}
#define KD(n, lo, hi) {#n, V_DBL, offsetof(struct anomaly_config, n), 0, lo, hi}
#define KP(n) {#n, V_PORTS, offsetof(struct anomaly_config, n), offsetof(struct anomaly_config, n_##n), 0, 0}

static const struct key_desc keys[] = {
    {"enabled", V_BOOL, offsetof(struct anomaly_config, enabled), 0, 0, 1},
    K32(window_ms, 100, 60000), K32(max_workers, 1, 1024),
    K32(shard_dsts, 16, 1u << 22), K32(shard_srcs, 16, 1u << 22), K32(shard_pairs, 16, 1u << 22),
    K32(shard_hosts, 16, 1u << 22), K32(shard_dns, 16, 1u << 22), K32(track_entries, 64, 1u << 24),
    K32(max_incidents, 16, 1u << 20), K32(learning_s, 0, 86400 * 30), KD(ewma_alpha, 0.0001, 1),
    KD(baseline_sigmas, 0, 1000), KD(baseline_factor, 0, 1e6),
    K32(syn_pps, 1, 1e9), KD(syn_complete_max, 0, 1), K32(udp_pps, 1, 1e9), K64(udp_bps, 1, 1e15),
    KD(udp_reply_max, 0, 1e6), K32(icmp_pps, 1, 1e9), K64(icmp_bps, 1, 1e15),
    K32(distributed_sources, 1, 1e9), K32(refl_pps, 1, 1e9), K64(refl_bps, 1, 1e15),
    K32(refl_min_reflectors, 1, 1e9), KP(refl_ports), K32(scan_epoch_s, 1, 86400),
    K32(hscan_hosts, 2, 1e9), K32(vscan_ports, 2, 65536), K32(sweep_hosts, 2, 1e9),
    KD(scan_fail_min, 0, 1), K32(bf_epoch_s, 1, 86400), K32(bf_conns, 1, 1e9),
    K32(bf_spray_hosts, 2, 1e9), KP(bf_ports), K32(beacon_min_intervals, 2, 16),
    K32(beacon_min_period_s, 1, 86400), K32(beacon_max_period_s, 1, 86400 * 7),
    KD(beacon_max_cv, 0, 10), KP(beacon_skip_ports), K32(dns_epoch_s, 1, 86400),
    K32(dns_subdomains, 1, 1e9), KD(dns_mean_len, 0, 255), KD(dns_mean_entropy, 0, 8),
    KD(dns_src_mean_len, 0, 255),
    K64(exfil_bps, 1, 1e15), KD(exfil_ratio, 0, 1e9), K64(exfil_unlearned_bps, 1, 1e15),
    K32(exfil_tau_s, 1, 86400), K32(exfil_baseline_tau_s, 1, 86400 * 30), K32(proto_bad_flags, 0, 1e9), K32(proto_frag_overlap, 0, 1e9),
    K32(proto_ttl_change, 0, 1e9), K32(proto_bad_checksum, 0, 1e9),
    K32(update_interval_s, 1, 86400), K32(end_quiet_s, 1, 86400),
};

static int parse_ports(const char *v, uint16_t *ports, uint8_t *n)
{
    uint16_t tmp[ANOMALY_MAX_PORTS];
    unsigned cnt = 0;
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '[' || *p == ']')
            p++;
        if (*p == '\0')
            break;
        char *end;
        unsigned long x = strtoul(p, &end, 10);
        if (end == p || x == 0 || x > 65535 || cnt >= ANOMALY_MAX_PORTS)
            return -EINVAL;
        tmp[cnt++] = (uint16_t)x;
        p = end;
    }
    memcpy(ports, tmp, cnt * sizeof(uint16_t));
    *n = (uint8_t)cnt;
    return 0;
}

int anomaly_config_set(struct anomaly_config *cfg, const char *key, const char *value)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct key_desc *k = &keys[i];
        if (strcmp(k->name, key) != 0)
            continue;
        char *field = (char *)cfg + k->off;
        char *end;
        switch (k->kind) {
        case V_BOOL:
            if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "on"))
                *(bool *)field = true;
            else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "off"))
                *(bool *)field = false;
            else
                return -EINVAL;
            return 0;
        case V_PORTS:
            return parse_ports(value, (uint16_t *)field, (uint8_t *)((char *)cfg + k->cnt_off));
        default: {
            errno = 0;
            double d = strtod(value, &end);
            if (end == value || *end != '\0' || errno != 0 || d < k->min || d > k->max)
                return -EINVAL;
            if (k->kind == V_U32)
                *(uint32_t *)field = (uint32_t)d;
            else if (k->kind == V_U64)
                *(uint64_t *)field = (uint64_t)d;
            else
                *(double *)field = d;
            return 0;
        }
        }
    }
    return -ENOENT;
}

int anomaly_parse_prefix(const char *s, uint8_t addr[16], uint8_t *prefix, bool *v6)
{
    char buf[64];
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, len + 1);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash != NULL) {
        *slash = '\0';
        char *end;
        bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0')
            return -EINVAL;
    }
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *v6 = false;
        if (bits < 0)
            bits = 32;
        if (bits > 32)
            return -EINVAL;
    } else if (inet_pton(AF_INET6, buf, addr) == 1) {
        *v6 = true;
        if (bits < 0)
            bits = 128;
        if (bits > 128)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    *prefix = (uint8_t)bits;
    /* clear host bits so matching is a plain compare */
    for (unsigned i = 0; i < 16; i++) {
        int keep = (int)bits - (int)i * 8;
        if (keep >= 8)
            continue;
        addr[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
    return 0;
}

int anomaly_config_add_network(struct anomaly_config *cfg, const char *prefix, const char *name,
                               unsigned criticality)
{
    if (criticality < 1 || criticality > 4)
        return -EINVAL;
    if (cfg->n_networks >= ANOMALY_MAX_NETWORKS)
        return -ENOSPC;
    struct anomaly_network *n = &cfg->networks[cfg->n_networks];
    bool v6;
    if (anomaly_parse_prefix(prefix, n->addr, &n->prefix, &v6) != 0)
        return -EINVAL;
    n->v6 = v6;
    n->criticality = (uint8_t)criticality;
    snprintf(n->name, sizeof(n->name), "%s", name ? name : prefix);
    cfg->n_networks++;
    return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == net[full];
}

int anomaly_net_match(const struct anomaly_config *cfg, const uint8_t *addr, bool v6)
{
    int best = -1;
    for (unsigned i = 0; i < cfg->n_networks; i++) {
        const struct anomaly_network *n = &cfg->networks[i];
        if (n->v6 != v6 || !prefix_match(addr, n->addr, n->prefix))
            continue;
        if (best < 0 || n->prefix > cfg->networks[best].prefix)
            best = (int)i;
    }
    return best;
}

/* Escalation table (README.md): rows magnitude (x1, x4, x16 the threshold), columns criticality. */
uint8_t anomaly_severity(double ratio, unsigned criticality)
{
    static const uint8_t table[3][4] = {
        {2, 3, 3, 4},
        {1, 2, 3, 3},
        {1, 1, 2, 3},
    };
    unsigned m = ratio >= 16 ? 2 : ratio >= 4 ? 1 : 0;
    if (criticality < 1)
        criticality = 1;
    if (criticality > 4)
        criticality = 4;
    return table[m][criticality - 1];
}

int anomaly_config_validate(const struct anomaly_config *c, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (c->window_ms < 100 || c->window_ms > 60000)
        bad = "window_ms";
    else if (c->max_workers < 1)
        bad = "max_workers";
    else if (c->shard_dsts < 16 || c->shard_srcs < 16 || c->shard_pairs < 16 || c->shard_hosts < 16 ||
             c->shard_dns < 16)
        bad = "shard_*";
    else if (c->track_entries < 64)
        bad = "track_entries";
    else if (c->max_incidents < 16)
        bad = "max_incidents";
    else if (c->ewma_alpha <= 0 || c->ewma_alpha > 1)
        bad = "ewma_alpha";
    else if (c->beacon_min_intervals < 2 || c->beacon_min_intervals > 16)
        bad = "beacon_min_intervals";
    else if (c->beacon_min_period_s > c->beacon_max_period_s)
        bad = "beacon_min_period_s";
    else if (c->scan_epoch_s == 0 || c->bf_epoch_s == 0 || c->dns_epoch_s == 0 || c->exfil_tau_s == 0 ||
             c->exfil_baseline_tau_s == 0)
        bad = "*_epoch_s";
    if (bad != NULL) {
        snprintf(err, errlen, "anomaly: key '%s': value out of range", bad);
        return -EINVAL;
    }
    return 0;
}

int anomaly_config_parse(struct anomaly_config *cfg, const struct tl_config *tl,
                         const struct cfg_node *node, char *err, size_t errlen)
{
    const char *file = (tl != NULL && tl->file[0]) ? tl->file : "<defaults>";
    if (node == NULL)
        return 0;
    if (node->kind != CFG_MAP) {
        snprintf(err, errlen, "%s:%d: key 'anomaly': expected a map", file, node->line);
        return -EINVAL;
    }
    for (const struct cfg_node *n = node->child; n != NULL; n = n->next) {
        if (n->key == NULL)
            continue;
        if (strcmp(n->key, "networks") == 0) {
            if (n->kind != CFG_SEQ) {
                snprintf(err, errlen, "%s:%d: key 'anomaly.networks': expected a list", file, n->line);
                return -EINVAL;
            }
            cfg->n_networks = 0;
            for (const struct cfg_node *it = n->child; it != NULL; it = it->next) {
                const char *prefix = NULL, *name = NULL;
                unsigned crit = 3;
                for (const struct cfg_node *f = it->child; f != NULL; f = f->next) {
                    if (f->key == NULL || f->value == NULL)
                        continue;
                    if (!strcmp(f->key, "prefix"))
                        prefix = f->value;
                    else if (!strcmp(f->key, "name"))
                        name = f->value;
                    else if (!strcmp(f->key, "criticality"))
                        crit = (unsigned)strtoul(f->value, NULL, 10);
                }
                if (prefix == NULL || anomaly_config_add_network(cfg, prefix, name, crit) != 0) {
                    snprintf(err, errlen,
                             "%s:%d: key 'anomaly.networks': need prefix (a.b.c.d/n), name, criticality 1-4",
                             file, it->line);
                    return -EINVAL;
                }
            }
            continue;
        }
        const char *val = n->value;
        char joined[256];
        if (n->kind == CFG_SEQ) { /* port lists may be YAML sequences */
            size_t off = 0;
            joined[0] = '\0';
            for (const struct cfg_node *it = n->child; it != NULL && it->value; it = it->next) {
                int w = snprintf(joined + off, sizeof(joined) - off, "%s%s", off ? "," : "", it->value);
                if (w < 0 || (size_t)w >= sizeof(joined) - off)
                    break;
                off += (size_t)w;
            }
            val = joined;
        }
        if (val == NULL) {
            snprintf(err, errlen, "%s:%d: key 'anomaly.%s': expected a value", file, n->line, n->key);
            return -EINVAL;
        }
        int rc = anomaly_config_set(cfg, n->key, val);
        if (rc == -ENOENT) {
            snprintf(err, errlen, "%s:%d: key 'anomaly.%s': unknown key", file, n->line, n->key);
            return -EINVAL;
        }
        if (rc != 0) {
            snprintf(err, errlen, "%s:%d: key 'anomaly.%s': bad value '%s'", file, n->line, n->key, val);
            return -EINVAL;
        }
    }
    return anomaly_config_validate(cfg, err, errlen);
}
