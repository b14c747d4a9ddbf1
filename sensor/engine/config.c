/* YAML configuration: file -> node tree (with lines) -> schema-checked typed struct. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "config.h"
#include "log.h"
#include "metrics.h"

/* ---- node tree ---------------------------------------------------------------------------- */

static struct cfg_node *node_new(enum cfg_kind kind, const char *key, const char *value, int line)
{
    struct cfg_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = line;
    if (key && !(n->key = strdup(key)))
        goto fail;
    if (value && !(n->value = strdup(value)))
        goto fail;
    return n;
fail:
    free(n->key);
    free(n);
    return NULL;
}

static void node_free(struct cfg_node *n)
{
    while (n) {
        struct cfg_node *next = n->next;
        node_free(n->child);
        free(n->key);
        free(n->value);
        free(n);
        n = next;
    }
}

static void node_append(struct cfg_node *parent, struct cfg_node *c)
{
    struct cfg_node **pp = &parent->child;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
}

static struct cfg_node *node_find(const struct cfg_node *map, const char *key, size_t klen)
{
    if (!map || map->kind != CFG_MAP)
        return NULL;
    for (struct cfg_node *c = map->child; c; c = c->next)
        if (strlen(c->key) == klen && memcmp(c->key, key, klen) == 0)
            return c;
    return NULL;
}

const struct cfg_node *config_get(const struct cfg_node *node, const char *path)
{
    const char *p = path;
    while (node && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (node->kind == CFG_SEQ) {
            char *end;
            unsigned long idx = strtoul(p, &end, 10);
            if (end != p + len)
                return NULL;
            const struct cfg_node *c = node->child;
            while (c && idx--)
                c = c->next;
            node = c;
        } else {
            node = node_find(node, p, len);
        }
        p = dot ? dot + 1 : p + len;
    }
    return node;
}

const char *config_file(const struct tl_config *cfg)
{
    return cfg->file[0] ? cfg->file : "<defaults>";
}

/* "FILE:LINE: key 'k': " or "--set: key 'k': " */
static int where(const struct tl_config *cfg, const struct cfg_node *n, const char *key, char *err,
                 size_t errlen)
{
    if (n && n->line > 0)
        return snprintf(err, errlen, "%s:%d: key '%s': ", config_file(cfg), n->line, key);
    return snprintf(err, errlen, "command line: key '%s': ", key);
}

#define CFG_ERR(cfg, n, key, ...)                                                                  \
    do {                                                                                           \
        int w_ = where(cfg, n, key, err, errlen);                                                  \
        if (w_ >= 0 && (size_t)w_ < errlen)                                                        \
            snprintf(err + w_, errlen - (size_t)w_, __VA_ARGS__);                                  \
    } while (0)

/* ---- YAML reading ------------------------------------------------------------------------- */

struct yreader {
    yaml_parser_t p;
    const char *file;
    char *err;
    size_t errlen;
};

static int yr_next(struct yreader *r, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&r->p, ev)) {
        snprintf(r->err, r->errlen, "%s:%zu: YAML error: %s%s%s", r->file,
                 r->p.problem_mark.line + 1, r->p.problem ? r->p.problem : "syntax error",
                 r->p.context ? " " : "", r->p.context ? r->p.context : "");
        return -EINVAL;
    }
    return 0;
}

static int yr_node(struct yreader *r, yaml_event_t *ev, const char *key, struct cfg_node **out);

static int yr_children(struct yreader *r, struct cfg_node *parent)
{
    yaml_event_t ev;
    for (;;) {
        if (yr_next(r, &ev) < 0)
            return -EINVAL;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        struct cfg_node *child = NULL;
        if (parent->kind == CFG_MAP) {
            if (ev.type != YAML_SCALAR_EVENT) {
                snprintf(r->err, r->errlen, "%s:%zu: a map key must be a plain scalar", r->file,
                         ev.start_mark.line + 1);
                yaml_event_delete(&ev);
                return -EINVAL;
            }
            char key[256];
            snprintf(key, sizeof(key), "%s", (const char *)ev.data.scalar.value);
            int kline = (int)ev.start_mark.line + 1;
            yaml_event_delete(&ev);
            if (node_find(parent, key, strlen(key))) {
                snprintf(r->err, r->errlen, "%s:%d: key '%s' appears twice", r->file, kline, key);
                return -EINVAL;
            }
            if (yr_next(r, &ev) < 0)
                return -EINVAL;
            int rc = yr_node(r, &ev, key, &child);
            if (rc < 0)
                return rc;
            child->line = kline; /* messages name the key's line */
        } else {
            int rc = yr_node(r, &ev, NULL, &child);
            if (rc < 0)
                return rc;
        }
        node_append(parent, child);
    }
}

/* Builds the node for the event ev (consumed). */
static int yr_node(struct yreader *r, yaml_event_t *ev, const char *key, struct cfg_node **out)
{
    int line = (int)ev->start_mark.line + 1;
    int rc = 0;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        *out = node_new(CFG_SCALAR, key, (const char *)ev->data.scalar.value, line);
        yaml_event_delete(ev);
        return *out ? 0 : -ENOMEM;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        *out = node_new(ev->type == YAML_MAPPING_START_EVENT ? CFG_MAP : CFG_SEQ, key, NULL, line);
        yaml_event_delete(ev);
        if (!*out)
            return -ENOMEM;
        rc = yr_children(r, *out);
        if (rc < 0) {
            node_free(*out);
            *out = NULL;
        }
        return rc;
    case YAML_ALIAS_EVENT:
        snprintf(r->err, r->errlen, "%s:%d: YAML aliases are not supported", r->file, line);
        break;
    default:
        snprintf(r->err, r->errlen, "%s:%d: unexpected YAML element", r->file, line);
        break;
    }
    yaml_event_delete(ev);
    return -EINVAL;
}

static int yaml_read_tree(FILE *f, const char *file, struct cfg_node **root, char *err, size_t errlen)
{
    struct yreader r = {.file = file, .err = err, .errlen = errlen};
    yaml_event_t ev;
    int rc = -EINVAL;
    *root = NULL;
    if (!yaml_parser_initialize(&r.p)) {
        snprintf(err, errlen, "%s: cannot initialise the YAML parser", file);
        return -ENOMEM;
    }
    yaml_parser_set_input_file(&r.p, f);
    for (;;) {
        if (yr_next(&r, &ev) < 0)
            goto out;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT ||
            t == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (*root) {
            snprintf(err, errlen, "%s:%zu: only one YAML document is allowed", file,
                     ev.start_mark.line + 1);
            yaml_event_delete(&ev);
            goto out;
        }
        if (t == YAML_SCALAR_EVENT && ev.data.scalar.length == 0) {
            yaml_event_delete(&ev); /* empty document */
            *root = node_new(CFG_MAP, NULL, NULL, 1);
            continue;
        }
        if (t != YAML_MAPPING_START_EVENT) {
            snprintf(err, errlen, "%s:%zu: the configuration must be a map of sections", file,
                     ev.start_mark.line + 1);
            yaml_event_delete(&ev);
            goto out;
        }
        if (yr_node(&r, &ev, NULL, root) < 0)
            goto out;
    }
    if (!*root)
        *root = node_new(CFG_MAP, NULL, NULL, 1);
    rc = *root ? 0 : -ENOMEM;
out:
    if (rc < 0) {
        node_free(*root);
        *root = NULL;
    }
    yaml_parser_delete(&r.p);
    return rc;
}

/* ---- schema ------------------------------------------------------------------------------- */

enum ftype { F_STR, F_U32, F_U64, F_SIZE, F_BOOL, F_DOUBLE, F_RUNMODE, F_STRLIST, F_VARMAP, F_PASS };

struct field {
    const char *path;
    enum ftype t;
    size_t off;
    size_t sz;       /* F_STR: buffer size */
    double min, max; /* numbers */
};

#define O(f) offsetof(struct tl_config, f)
#define S(f) sizeof(((struct tl_config *)0)->f)
/* Grouped by section, in the order --dump-config writes them. */
static const struct field schema[] = {
    {"capture.interface", F_STR, O(interface), S(interface), 0, 0},
    {"capture.bpf-filter", F_STR, O(bpf_filter), S(bpf_filter), 0, 0},
    {"capture.snaplen", F_U32, O(snaplen), 0, 64, 262144},
    {"capture.promisc", F_BOOL, O(promisc), 0, 0, 0},
    {"capture.pcap-speed", F_DOUBLE, O(pcap_speed), 0, 0, 1e6},
    /* multi-queue capture: read and checked by capture_opts.c (dataplanes) */
    {"capture.method", F_PASS, 0, 0, 0, 0},
    {"capture.queues", F_PASS, 0, 0, 0, 0},
    {"capture.bypass", F_PASS, 0, 0, 0, 0},
    {"capture.bypass-after", F_PASS, 0, 0, 0, 0},
    {"capture.afxdp", F_PASS, 0, 0, 0, 0},
    {"capture.dpdk", F_PASS, 0, 0, 0, 0},
    {"threading.runmode", F_RUNMODE, O(runmode), 0, 0, 0},
    {"threading.workers", F_U32, O(workers), 0, 0, 1024},
    {"threading.cpus", F_STR, O(cpus), S(cpus), 0, 0},
    {"pipeline.batch-ring", F_U32, O(batch_ring), 0, 2, 65536},
    {"pipeline.event-ring", F_U32, O(event_ring), 0, 64, 1 << 22},
    {"pipeline.event-overflow", F_U32, O(event_overflow), 0, 0, 1 << 24},
    {"memory.flows", F_U64, O(max_flows), 0, 1024, 1ull << 28},
    {"memory.flow-hash-size", F_U32, O(flow_hash_size), 0, 0, 1u << 30},
    {"memory.fragments", F_U32, O(max_frag_datagrams), 0, 16, 1 << 24},
    {"memory.fragment-bytes", F_SIZE, O(max_frag_bytes), 0, 65536, 64.0 * (1ull << 30)},
    {"memory.streams", F_SIZE, O(max_stream_bytes), 0, 0, 1024.0 * (1ull << 30)},
    {"flow.timeouts.tcp-new", F_U32, O(to_tcp_new), 0, 1, 86400},
    {"flow.timeouts.tcp-established", F_U32, O(to_tcp_established), 0, 1, 86400 * 7},
    {"flow.timeouts.tcp-closing", F_U32, O(to_tcp_closing), 0, 1, 86400},
    {"flow.timeouts.tcp-closed", F_U32, O(to_tcp_closed), 0, 1, 86400},
    {"flow.timeouts.udp-new", F_U32, O(to_udp_new), 0, 1, 86400},
    {"flow.timeouts.udp-established", F_U32, O(to_udp_established), 0, 1, 86400 * 7},
    {"flow.timeouts.icmp-new", F_U32, O(to_icmp_new), 0, 1, 86400},
    {"flow.timeouts.icmp-established", F_U32, O(to_icmp_established), 0, 1, 86400 * 7},
    {"flow.timeouts.default-new", F_U32, O(to_default_new), 0, 1, 86400},
    {"flow.timeouts.default-established", F_U32, O(to_default_established), 0, 1, 86400 * 7},
    {"flow.timeouts.default-closed", F_U32, O(to_default_closed), 0, 1, 86400},
    {"decoder.checksum-validation", F_BOOL, O(checksum_validation), 0, 0, 0},
    {"decoder.vxlan-port", F_U32, O(vxlan_port), 0, 0, 65535},
    {"decoder.fragment-timeout", F_U32, O(frag_timeout), 0, 1, 3600},
    {"rules.default-rule-path", F_STR, O(default_rule_path), S(default_rule_path), 0, 0},
    {"rules.files", F_STRLIST, O(rule_files), 0, 0, 0},
    {"rules.classification-file", F_STR, O(classification_file), S(classification_file), 0, 0},
    {"threshold-file", F_STR, O(threshold_file), S(threshold_file), 0, 0},
    {"stream.midstream", F_BOOL, O(stream_midstream), 0, 0, 0},
    {"stream.reassembly.depth", F_SIZE, O(stream_depth), 0, 0, 1024.0 * (1ull << 30)},
    {"vars.address-groups", F_VARMAP, O(address_groups), 0, 0, 0},
    {"vars.port-groups", F_VARMAP, O(port_groups), 0, 0, 0},
    {"default-log-dir", F_STR, O(log_dir), S(log_dir), 0, 0},
    {"control-socket", F_STR, O(control_socket), S(control_socket), 0, 0},
    {"stats.interval", F_U32, O(stats_interval), 0, 0, 86400},
    {"logging.level", F_STR, O(log_level), S(log_level), 0, 0},
    {"logging.to", F_STR, O(log_to), S(log_to), 0, 0},
    {"logging.rate-limit", F_U32, O(log_rate_limit), 0, 0, 1000000},
    {"metrics.enabled", F_BOOL, O(metrics_enabled), 0, 0, 0},
    {"metrics.listen", F_STR, O(metrics_listen), S(metrics_listen), 0, 0},
    {"metrics.linger", F_U32, O(metrics_linger), 0, 0, 86400},
    {"run-as.user", F_STR, O(run_as_user), S(run_as_user), 0, 0},
    {"run-as.group", F_STR, O(run_as_group), S(run_as_group), 0, 0},
    {"outputs", F_PASS, 0, 0, 0, 0},
    {"anomaly", F_PASS, 0, 0, 0, 0},
};
#define N_SCHEMA (sizeof(schema) / sizeof(schema[0]))

int config_init(struct tl_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->snaplen = 65535;
    cfg->promisc = true;
    cfg->runmode = RUNMODE_AUTOFP;
    cfg->batch_ring = 64;
    cfg->event_ring = 16384;
    cfg->event_overflow = 65536;
    cfg->max_flows = 1000000;
    cfg->max_frag_datagrams = 4096;
    cfg->max_frag_bytes = 32ull << 20;
    cfg->max_stream_bytes = 256ull << 20;
    cfg->to_tcp_new = 60;
    cfg->to_tcp_established = 600;
    cfg->to_tcp_closing = 120;
    cfg->to_tcp_closed = 10;
    cfg->to_udp_new = 30;
    cfg->to_udp_established = 300;
    cfg->to_icmp_new = 30;
    cfg->to_icmp_established = 300;
    cfg->to_default_new = 30;
    cfg->to_default_established = 300;
    cfg->to_default_closed = 0 + 10;
    cfg->vxlan_port = 4789;
    cfg->frag_timeout = 60;
    snprintf(cfg->log_dir, sizeof(cfg->log_dir), ".");
    snprintf(cfg->eve_filename, sizeof(cfg->eve_filename), "eve.json");
    cfg->stats_interval = 8;
    snprintf(cfg->metrics_listen, sizeof(cfg->metrics_listen), "127.0.0.1:9187");
    snprintf(cfg->log_level, sizeof(cfg->log_level), "notice");
    snprintf(cfg->log_to, sizeof(cfg->log_to), "stderr");
    cfg->log_rate_limit = 10;
    cfg->stream_depth = 1u << 20; /* Suricata's stream.reassembly.depth default */
    cfg->root = node_new(CFG_MAP, NULL, NULL, 0);
    return cfg->root ? 0 : -ENOMEM;
}

void config_release(struct tl_config *cfg)
{
    if (!cfg)
        return;
    node_free(cfg->root);
    cfg->root = NULL;
}

int config_load_file(struct tl_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open configuration: %s", path, strerror(errno));
        return -errno;
    }
    struct cfg_node *root;
    int rc = yaml_read_tree(f, path, &root, err, errlen);
    fclose(f);
    if (rc < 0)
        return rc;
    node_free(cfg->root);
    cfg->root = root;
    snprintf(cfg->file, sizeof(cfg->file), "%s", path);
    return 0;
}

static const struct field *schema_find(const char *path)
{
    for (size_t i = 0; i < N_SCHEMA; i++)
        if (strcmp(schema[i].path, path) == 0)
            return &schema[i];
    return NULL;
}

/* true when path names a section holding schema keys ("flow", "flow.timeouts") */
static bool schema_is_section(const char *path)
{
    size_t len = strlen(path);
    for (size_t i = 0; i < N_SCHEMA; i++)
        if (strncmp(schema[i].path, path, len) == 0 && schema[i].path[len] == '.')
            return true;
    return false;
}

int config_set(struct tl_config *cfg, const char *assignment, char *err, size_t errlen)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        snprintf(err, errlen, "--set %s: expected key=value", assignment);
        return -EINVAL;
    }
    char key[512];
    size_t klen = (size_t)(eq - assignment);
    if (klen >= sizeof(key)) {
        snprintf(err, errlen, "--set: key too long");
        return -EINVAL;
    }
    memcpy(key, assignment, klen);
    key[klen] = 0;
    const char *value = eq + 1;
    const struct field *fd = schema_find(key);

    struct cfg_node *n = cfg->root;
    char *save = NULL;
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", key);
    for (char *part = strtok_r(tmp, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
        if (n->kind != CFG_MAP) {
            snprintf(err, errlen, "--set %s: '%s' is not a section", key, part);
            return -EINVAL;
        }
        struct cfg_node *c = node_find(n, part, strlen(part));
        if (!c) {
            c = node_new(CFG_MAP, part, NULL, 0);
            if (!c)
                return -ENOMEM;
            node_append(n, c);
        }
        n = c;
    }
    /* n is the target: turn it into the scalar (or list) the key wants */
    if (n->kind != CFG_SCALAR && n->child && !(fd && fd->t == F_STRLIST)) {
        snprintf(err, errlen, "--set %s: is a section, set one of its keys", key);
        return -EINVAL;
    }
    node_free(n->child);
    n->child = NULL;
    free(n->value);
    n->value = NULL;
    n->line = 0;
    if (fd && fd->t == F_STRLIST) {
        n->kind = CFG_SEQ;
        char list[4096];
        snprintf(list, sizeof(list), "%s", value);
        char *s2 = NULL;
        for (char *it = strtok_r(list, ",", &s2); it; it = strtok_r(NULL, ",", &s2)) {
            struct cfg_node *c = node_new(CFG_SCALAR, NULL, it, 0);
            if (!c)
                return -ENOMEM;
            node_append(n, c);
        }
        return 0;
    }
    n->kind = CFG_SCALAR;
    n->value = strdup(value);
    return n->value ? 0 : -ENOMEM;
}

/* ---- typed reads ----------------------------------------------------------------------------- */

static const char *node_name(const struct cfg_node *n)
{
    return n && n->key ? n->key : "?";
}

int config_node_u64(const struct tl_config *cfg, const struct cfg_node *n, uint64_t min, uint64_t max,
                    uint64_t *out, char *err, size_t errlen)
{
    if (!n)
        return -ENOENT;
    if (n->kind != CFG_SCALAR) {
        CFG_ERR(cfg, n, node_name(n), "expected an integer, got a %s",
                n->kind == CFG_MAP ? "map" : "list");
        return -EINVAL;
    }
    const char *s = n->value;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (!isdigit((unsigned char)*s) || *end || errno) {
        CFG_ERR(cfg, n, node_name(n), "expected a non-negative integer, got '%s'", s);
        return -EINVAL;
    }
    if (v < min || v > max) {
        CFG_ERR(cfg, n, node_name(n), "%llu is out of range [%" PRIu64 ", %" PRIu64 "]", v, min, max);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int config_node_size(const struct tl_config *cfg, const struct cfg_node *n, uint64_t min, uint64_t max,
                     uint64_t *out, char *err, size_t errlen)
{
    if (!n)
        return -ENOENT;
    if (n->kind != CFG_SCALAR) {
        CFG_ERR(cfg, n, node_name(n), "expected a size, got a %s", n->kind == CFG_MAP ? "map" : "list");
        return -EINVAL;
    }
    const char *s = n->value;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!isdigit((unsigned char)*s) || errno) {
        CFG_ERR(cfg, n, node_name(n), "expected a size like 64mb, got '%s'", s);
        return -EINVAL;
    }
    while (*end == ' ')
        end++;
    unsigned shift = 0;
    if (*end) {
        if (!strcasecmp(end, "kb") || !strcasecmp(end, "k") || !strcasecmp(end, "kib"))
            shift = 10;
        else if (!strcasecmp(end, "mb") || !strcasecmp(end, "m") || !strcasecmp(end, "mib"))
            shift = 20;
        else if (!strcasecmp(end, "gb") || !strcasecmp(end, "g") || !strcasecmp(end, "gib"))
            shift = 30;
        else if (strcasecmp(end, "b") != 0) {
            CFG_ERR(cfg, n, node_name(n), "unknown size unit in '%s' (use b, kb, mb, gb)", s);
            return -EINVAL;
        }
    }
    if (shift && v > (UINT64_MAX >> shift)) {
        CFG_ERR(cfg, n, node_name(n), "'%s' is too large", s);
        return -EINVAL;
    }
    v <<= shift;
    if (v < min || v > max) {
        CFG_ERR(cfg, n, node_name(n), "%s is out of range [%" PRIu64 ", %" PRIu64 "] bytes", s, min, max);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int config_node_double(const struct tl_config *cfg, const struct cfg_node *n, double min, double max,
                       double *out, char *err, size_t errlen)
{
    if (!n)
        return -ENOENT;
    if (n->kind != CFG_SCALAR) {
        CFG_ERR(cfg, n, node_name(n), "expected a number, got a %s", n->kind == CFG_MAP ? "map" : "list");
        return -EINVAL;
    }
    char *end;
    errno = 0;
    double v = strtod(n->value, &end);
    if (end == n->value || *end || errno || isnan(v)) {
        CFG_ERR(cfg, n, node_name(n), "expected a number, got '%s'", n->value);
        return -EINVAL;
    }
    if (v < min || v > max) {
        CFG_ERR(cfg, n, node_name(n), "%g is out of range [%g, %g]", v, min, max);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int config_node_bool(const struct tl_config *cfg, const struct cfg_node *n, bool *out, char *err,
                     size_t errlen)
{
    if (!n)
        return -ENOENT;
    static const char *yes[] = {"yes", "true", "on", "1"}, *no[] = {"no", "false", "off", "0"};
    if (n->kind == CFG_SCALAR) {
        for (int i = 0; i < 4; i++) {
            if (!strcasecmp(n->value, yes[i])) {
                *out = true;
                return 0;
            }
            if (!strcasecmp(n->value, no[i])) {
                *out = false;
                return 0;
            }
        }
    }
    CFG_ERR(cfg, n, node_name(n), "expected yes or no, got '%s'", n->value ? n->value : "a section");
    return -EINVAL;
}

static int read_field(struct tl_config *cfg, const struct field *fd, const struct cfg_node *n,
                      char *err, size_t errlen)
{
    uint8_t *base = (uint8_t *)cfg;
    uint64_t u;
    int rc;
    switch (fd->t) {
    case F_STR:
        if (n->kind != CFG_SCALAR) {
            CFG_ERR(cfg, n, fd->path, "expected a string, got a %s", n->kind == CFG_MAP ? "map" : "list");
            return -EINVAL;
        }
        if (strlen(n->value) >= fd->sz) {
            CFG_ERR(cfg, n, fd->path, "value longer than %zu bytes", fd->sz - 1);
            return -EINVAL;
        }
        snprintf((char *)(base + fd->off), fd->sz, "%s", n->value);
        return 0;
    case F_U32:
    case F_U64:
        if ((rc = config_node_u64(cfg, n, (uint64_t)fd->min, (uint64_t)fd->max, &u, err, errlen)) < 0)
            goto rename;
        if (fd->t == F_U32)
            *(uint32_t *)(base + fd->off) = (uint32_t)u;
        else
            *(uint64_t *)(base + fd->off) = u;
        return 0;
    case F_SIZE:
        if ((rc = config_node_size(cfg, n, (uint64_t)fd->min, (uint64_t)fd->max, &u, err, errlen)) < 0)
            goto rename;
        *(uint64_t *)(base + fd->off) = u;
        return 0;
    case F_BOOL:
        if ((rc = config_node_bool(cfg, n, (bool *)(base + fd->off), err, errlen)) < 0)
            goto rename;
        return 0;
    case F_DOUBLE:
        if ((rc = config_node_double(cfg, n, fd->min, fd->max, (double *)(base + fd->off), err, errlen)) < 0)
            goto rename;
        return 0;
    case F_RUNMODE: {
        static const char *names[] = {"autofp", "single", "workers"};
        if (n->kind == CFG_SCALAR)
            for (int i = 0; i < 3; i++)
                if (!strcmp(n->value, names[i])) {
                    cfg->runmode = (enum tl_runmode)i;
                    return 0;
                }
        CFG_ERR(cfg, n, fd->path, "expected single, autofp or workers, got '%s'",
                n->value ? n->value : "a section");
        return -EINVAL;
    }
    case F_STRLIST: {
        if (n->kind != CFG_SEQ) {
            CFG_ERR(cfg, n, fd->path, "expected a list of file names");
            return -EINVAL;
        }
        cfg->n_rule_files = 0;
        for (const struct cfg_node *c = n->child; c; c = c->next) {
            if (c->kind != CFG_SCALAR || strlen(c->value) >= sizeof(cfg->rule_files[0])) {
                CFG_ERR(cfg, c->line ? c : n, fd->path, "list items must be file names");
                return -EINVAL;
            }
            if (cfg->n_rule_files >= TL_MAX_LIST) {
                CFG_ERR(cfg, c, fd->path, "more than %d items", TL_MAX_LIST);
                return -EINVAL;
            }
            snprintf(cfg->rule_files[cfg->n_rule_files++], sizeof(cfg->rule_files[0]), "%s", c->value);
        }
        return 0;
    }
    case F_VARMAP: {
        struct tl_var *vars = (struct tl_var *)(base + fd->off);
        unsigned *count = vars == cfg->address_groups ? &cfg->n_address_groups : &cfg->n_port_groups;
        if (n->kind != CFG_MAP) {
            CFG_ERR(cfg, n, fd->path, "expected a map of NAME: value");
            return -EINVAL;
        }
        *count = 0;
        for (const struct cfg_node *c = n->child; c; c = c->next) {
            char full[256];
            snprintf(full, sizeof(full), "%s.%s", fd->path, c->key);
            if (c->kind != CFG_SCALAR) {
                CFG_ERR(cfg, c, full, "expected a string");
                return -EINVAL;
            }
            if (strlen(c->key) >= sizeof(vars->name) || strlen(c->value) >= sizeof(vars->value)) {
                CFG_ERR(cfg, c, full, "name or value too long");
                return -EINVAL;
            }
            if (*count >= TL_MAX_LIST) {
                CFG_ERR(cfg, c, full, "more than %d variables", TL_MAX_LIST);
                return -EINVAL;
            }
            snprintf(vars[*count].name, sizeof(vars->name), "%s", c->key);
            snprintf(vars[*count].value, sizeof(vars->value), "%s", c->value);
            (*count)++;
        }
        return 0;
    }
    case F_PASS:
        return 0;
    }
    return 0;
rename:
    /* the helpers name the node's own key; name the full dotted path instead */
    {
        char msg[512];
        const char *colon = strstr(err, "': ");
        snprintf(msg, sizeof(msg), "%s", colon ? colon + 3 : err);
        CFG_ERR(cfg, n, fd->path, "%s", msg);
    }
    return rc;
}

static int walk(struct tl_config *cfg, const struct cfg_node *map, const char *prefix, char *err,
                size_t errlen)
{
    for (const struct cfg_node *c = map->child; c; c = c->next) {
        char path[512];
        if (prefix[0])
            snprintf(path, sizeof(path), "%s.%s", prefix, c->key);
        else
            snprintf(path, sizeof(path), "%s", c->key);
        const struct field *fd = schema_find(path);
        int rc;
        if (fd) {
            if ((rc = read_field(cfg, fd, c, err, errlen)) < 0)
                return rc;
        } else if (schema_is_section(path)) {
            if (c->kind != CFG_MAP) {
                /* an empty section ("flow:") is a null scalar: accept it */
                if (c->kind == CFG_SCALAR && c->value[0] == 0)
                    continue;
                CFG_ERR(cfg, c, path, "expected a section (map)");
                return -EINVAL;
            }
            if ((rc = walk(cfg, c, path, err, errlen)) < 0)
                return rc;
        } else {
            CFG_ERR(cfg, c, path, "unknown key");
            return -EINVAL;
        }
    }
    return 0;
}

static int ops_config_check(const struct tl_config *cfg, char *err, size_t errlen);

int config_finalize(struct tl_config *cfg, char *err, size_t errlen)
{
    int rc = walk(cfg, cfg->root, "", err, errlen);
    if (rc < 0)
        return rc;
    int cpus[1024];
    if (cfg->cpus[0] && config_parse_cpus(cfg->cpus, cpus, 1024) < 0) {
        const struct cfg_node *n = config_get(cfg->root, "threading.cpus");
        CFG_ERR(cfg, n, "threading.cpus", "bad CPU list '%s' (expected e.g. 0-3,6)", cfg->cpus);
        return -EINVAL;
    }
    if ((rc = ops_config_check(cfg, err, errlen)) < 0)
        return rc;
    const struct cfg_node *fn = config_get(cfg->root, "outputs.eve-log.filename");
    if (fn && fn->kind == CFG_SCALAR)
        snprintf(cfg->eve_filename, sizeof(cfg->eve_filename), "%s", fn->value);
    return 0;
}

int config_parse_cpus(const char *list, int *cpus, int max)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b;
        if (end == p || a < 0 || a > 4095)
            return -EINVAL;
        b = a;
        p = end;
        if (*p == '-') {
            p++;
            b = strtol(p, &end, 10);
            if (end == p || b < a || b > 4095)
                return -EINVAL;
            p = end;
        }
        for (long c = a; c <= b; c++) {
            if (n >= max)
                return -EINVAL;
            cpus[n++] = (int)c;
        }
        if (*p == ',')
            p++;
        else if (*p)
            return -EINVAL;
    }
    return n > 0 ? n : -EINVAL;
}

/* Values of the operations keys that the schema's types cannot check (log.h, metrics.h). */
static int ops_config_check(const struct tl_config *cfg, char *err, size_t errlen)
{
    enum log_level lv;
    enum log_target lt;
    struct sockaddr_storage sa;
    socklen_t salen;
    if (log_level_parse(cfg->log_level, &lv) < 0) {
        CFG_ERR(cfg, config_get(cfg->root, "logging.level"), "logging.level",
                "expected error, warning, notice, info or debug, got '%s'", cfg->log_level);
        return -EINVAL;
    }
    if (log_target_parse(cfg->log_to, &lt) < 0) {
        CFG_ERR(cfg, config_get(cfg->root, "logging.to"), "logging.to",
                "expected stderr or syslog, got '%s'", cfg->log_to);
        return -EINVAL;
    }
    if (metrics_parse_listen(cfg->metrics_listen, &sa, &salen) < 0) {
        CFG_ERR(cfg, config_get(cfg->root, "metrics.listen"), "metrics.listen",
                "expected ADDRESS:PORT (127.0.0.1:9187, [::1]:9187), got '%s'", cfg->metrics_listen);
        return -EINVAL;
    }
    return 0;
}

/* ---- dump ------------------------------------------------------------------------------------ */

static void dump_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void dump_tree(FILE *out, const struct cfg_node *n, int indent)
{
    for (const struct cfg_node *c = n->child; c; c = c->next) {
        fprintf(out, "%*s", indent, "");
        if (n->kind == CFG_SEQ)
            fputs("- ", out);
        else {
            dump_str(out, c->key);
            fputs(":", out);
        }
        if (c->kind == CFG_SCALAR) {
            if (n->kind != CFG_SEQ)
                fputc(' ', out);
            dump_str(out, c->value);
            fputc('\n', out);
        } else if (!c->child) {
            fputs(c->kind == CFG_MAP ? " {}\n" : " []\n", out);
        } else {
            fputc('\n', out);
            dump_tree(out, c, indent + 2);
        }
    }
}

void config_dump(const struct tl_config *cfg, FILE *out)
{
    static const char *runmodes[] = {"autofp", "single", "workers"};
    const uint8_t *base = (const uint8_t *)cfg;
    char open[8][64];
    int depth = 0;

    fprintf(out, "%%YAML 1.1\n---\n# effective configuration (%s)\n", config_file(cfg));
    for (size_t i = 0; i < N_SCHEMA; i++) {
        const struct field *fd = &schema[i];
        char parts[8][64];
        int np = 0;
        char tmp[256], *save = NULL;
        snprintf(tmp, sizeof(tmp), "%s", fd->path);
        for (char *t = strtok_r(tmp, ".", &save); t && np < 8; t = strtok_r(NULL, ".", &save))
            snprintf(parts[np++], sizeof(parts[0]), "%s", t);
        /* keep the common section prefix open, open new sections */
        int common = 0;
        while (common < depth && common < np - 1 && !strcmp(open[common], parts[common]))
            common++;
        depth = common;
        for (int k = common; k < np - 1; k++) {
            fprintf(out, "%*s%s:\n", 2 * k, "", parts[k]);
            snprintf(open[k], sizeof(open[0]), "%s", parts[k]);
            depth = k + 1;
        }
        int ind = 2 * (np - 1);
        const char *leaf = parts[np - 1];
        const void *p = base + fd->off;
        switch (fd->t) {
        case F_STR:
            fprintf(out, "%*s%s: ", ind, "", leaf);
            dump_str(out, (const char *)p);
            fputc('\n', out);
            break;
        case F_U32:
            fprintf(out, "%*s%s: %" PRIu32 "\n", ind, "", leaf, *(const uint32_t *)p);
            break;
        case F_U64:
        case F_SIZE:
            fprintf(out, "%*s%s: %" PRIu64 "\n", ind, "", leaf, *(const uint64_t *)p);
            break;
        case F_BOOL:
            fprintf(out, "%*s%s: %s\n", ind, "", leaf, *(const bool *)p ? "yes" : "no");
            break;
        case F_DOUBLE:
            fprintf(out, "%*s%s: %.17g\n", ind, "", leaf, *(const double *)p);
            break;
        case F_RUNMODE:
            fprintf(out, "%*s%s: %s\n", ind, "", leaf, runmodes[cfg->runmode]);
            break;
        case F_STRLIST:
            fprintf(out, "%*s%s:%s\n", ind, "", leaf, cfg->n_rule_files ? "" : " []");
            for (unsigned k = 0; k < cfg->n_rule_files; k++) {
                fprintf(out, "%*s  - ", ind, "");
                dump_str(out, cfg->rule_files[k]);
                fputc('\n', out);
            }
            break;
        case F_VARMAP: {
            const struct tl_var *v = p;
            unsigned cnt = v == cfg->address_groups ? cfg->n_address_groups : cfg->n_port_groups;
            fprintf(out, "%*s%s:%s\n", ind, "", leaf, cnt ? "" : " {}");
            for (unsigned k = 0; k < cnt; k++) {
                fprintf(out, "%*s  %s: ", ind, "", v[k].name);
                dump_str(out, v[k].value);
                fputc('\n', out);
            }
            break;
        }
        case F_PASS: {
            const struct cfg_node *sub = config_get(cfg->root, fd->path);
            if (!sub && !strncmp(fd->path, "capture.", 8))
                break; /* capture_opts' keys: absent means its default */
            if (sub && sub->kind == CFG_SCALAR && sub->value && sub->value[0]) {
                fprintf(out, "%*s%s: ", ind, "", leaf); /* a passed-through scalar */
                dump_str(out, sub->value);
                fputc('\n', out);
            } else if (!sub || sub->kind != CFG_MAP || !sub->child) {
                fprintf(out, "%*s%s: {}\n", ind, "", leaf);
            } else {
                fprintf(out, "%*s%s:\n", ind, "", leaf);
                dump_tree(out, sub, ind + 2);
            }
            break;
        }
        }
    }
}
