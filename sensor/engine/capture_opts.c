/* Capture options and the multi-queue sources behind them (see capture_opts.h). */
#include "capture_opts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dp_msg.h"
#include "eve_format.h"
#include "tripline_config.h"

#if HAVE_XDP
#include "afxdp_source.h"
#endif
#if HAVE_DPDK
#include "dpdk_source.h"
#endif

enum { OPT_CAPTURE = 0, OPT_QUEUES, OPT_DPDK_ARGS, OPT_PORTS, OPT_XDP_DETACH, OPT_N };

struct capture {
    enum capture_kind kind;
    uint64_t bypass_after;
    struct pkt_source src;
    struct pkt_source_ops ops;
    void **queues;
#if HAVE_XDP
    struct dp_afxdp *afxdp;
#endif
#if HAVE_DPDK
    struct dp_dpdk *dpdk;
#endif
};

#define fail dp_msg_fail /* dataplane/dp_msg.h */

void capture_opts_init(struct capture_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->kind = CAPTURE_PCAP;
}

static int parse_kind(const char *v, enum capture_kind *out)
{
    if (!strcmp(v, "pcap"))
        *out = CAPTURE_PCAP;
    else if (!strcmp(v, "afxdp"))
        *out = CAPTURE_AFXDP;
    else if (!strcmp(v, "dpdk"))
        *out = CAPTURE_DPDK;
    else
        return -EINVAL;
    return 0;
}

/* The config's typed readers name the node's own key; name the whole dotted path instead. */
static int full_key(const struct tl_config *cfg, const struct cfg_node *n, const char *path,
                    int rc, char *err, size_t errlen)
{
    char msg[512];
    const char *rest = err ? strstr(err, "': ") : NULL;
    snprintf(msg, sizeof(msg), "%s", rest ? rest + 3 : (err ? err : "bad value"));
    return fail(err, errlen, rc, "%s:%d: key '%s': %s", config_file(cfg), config_node_line(n),
                path, msg);
}

static int cfg_u32(const struct tl_config *cfg, const char *path, uint64_t min, uint64_t max,
                   unsigned *out, char *err, size_t errlen)
{
    const struct cfg_node *n = config_get(cfg->root, path);
    uint64_t v;
    if (!n)
        return 0;
    int rc = config_node_u64(cfg, n, min, max, &v, err, errlen);
    if (rc)
        return full_key(cfg, n, path, rc, err, errlen);
    *out = (unsigned)v;
    return 0;
}

static int cfg_size(const struct tl_config *cfg, const char *path, uint64_t *out, char *err,
                    size_t errlen)
{
    const struct cfg_node *n = config_get(cfg->root, path);
    int rc = n ? config_node_size(cfg, n, 0, UINT64_MAX, out, err, errlen) : 0;
    return rc ? full_key(cfg, n, path, rc, err, errlen) : 0;
}

static int cfg_flag(const struct tl_config *cfg, const char *path, bool *out, char *err,
                    size_t errlen)
{
    const struct cfg_node *n = config_get(cfg->root, path);
    int rc = n ? config_node_bool(cfg, n, out, err, errlen) : 0;
    return rc ? full_key(cfg, n, path, rc, err, errlen) : 0;
}

static int cfg_str(const struct tl_config *cfg, const char *path, char *buf, size_t len,
                   const char **out, char *err, size_t errlen)
{
    const struct cfg_node *n = config_get(cfg->root, path);
    if (!n)
        return 0;
    if (n->kind != CFG_SCALAR || !n->value)
        return fail(err, errlen, -EINVAL, "%s:%d: key '%s': expected a string", config_file(cfg),
                    config_node_line(n), path);
    if (strlen(n->value) >= len)
        return fail(err, errlen, -EINVAL, "%s:%d: key '%s': longer than %zu characters",
                    config_file(cfg), config_node_line(n), path, len - 1);
    snprintf(buf, len, "%s", n->value);
    *out = buf;
    return 0;
}

/* Every key of a pass-through section must be one we read: a typo is an error with its line. */
static int cfg_known(const struct tl_config *cfg, const char *path, const char *const *keys,
                     char *err, size_t errlen)
{
    const struct cfg_node *sec = config_get(cfg->root, path);
    if (!sec)
        return 0;
    if (sec->kind != CFG_MAP) {
        if (sec->kind == CFG_SCALAR && (!sec->value || !sec->value[0]))
            return 0; /* "afxdp:" with nothing below */
        return fail(err, errlen, -EINVAL, "%s:%d: key '%s': expected a section (map)",
                    config_file(cfg), config_node_line(sec), path);
    }
    for (const struct cfg_node *c = sec->child; c; c = c->next) {
        bool ok = false;
        for (const char *const *k = keys; *k && !ok; k++)
            ok = c->key && !strcmp(c->key, *k);
        if (!ok)
            return fail(err, errlen, -EINVAL, "%s:%d: key '%s.%s': unknown key", config_file(cfg),
                        config_node_line(c), path, c->key ? c->key : "?");
    }
    return 0;
}

static int opts_from_config(struct capture_opts *o, const struct tl_config *cfg, char *err,
                            size_t errlen)
{
    static const char *const afxdp_keys[] = {"queues", "frames", "frame-size", "force-copy",
                                             "force-skb", "xdp-mode", "bypass-entries",
                                             "bypass-after", NULL};
    static const char *const dpdk_keys[] = {"eal-args", "ports", "queues", "mbufs", "mbuf-size",
                                            "rx-descriptors", NULL};
    const struct cfg_node *m = config_get(cfg->root, "capture.method");
    const struct cfg_node *xm = config_get(cfg->root, "capture.afxdp.xdp-mode");
    bool bypass = true;
    int rc;

    if (m) {
        if (m->kind != CFG_SCALAR || !m->value || parse_kind(m->value, &o->kind))
            return fail(err, errlen, -EINVAL,
                        "%s:%d: key 'capture.method': expected pcap, afxdp or dpdk",
                        config_file(cfg), config_node_line(m));
    }
    if (xm) {
        const char *v = xm->kind == CFG_SCALAR && xm->value ? xm->value : "";
        if (!strcmp(v, "auto"))
            o->xdp_mode = CAPTURE_XDP_AUTO;
        else if (!strcmp(v, "native") || !strcmp(v, "driver"))
            o->xdp_mode = CAPTURE_XDP_NATIVE;
        else if (!strcmp(v, "skb") || !strcmp(v, "generic"))
            o->xdp_mode = CAPTURE_XDP_SKB;
        else
            return fail(err, errlen, -EINVAL,
                        "%s:%d: key 'capture.afxdp.xdp-mode': expected auto, native or skb",
                        config_file(cfg), config_node_line(xm));
    }
    if ((rc = cfg_known(cfg, "capture.afxdp", afxdp_keys, err, errlen)) ||
        (rc = cfg_known(cfg, "capture.dpdk", dpdk_keys, err, errlen)) ||
        (rc = cfg_flag(cfg, "capture.bypass", &bypass, err, errlen)) ||
        (rc = cfg_size(cfg, "capture.bypass-after", &o->afxdp_bypass_after, err, errlen)) ||
        (rc = cfg_u32(cfg, "capture.queues", 0, 1024, &o->queues, err, errlen)) ||
        (rc = cfg_u32(cfg, "capture.afxdp.queues", 0, 1024, &o->queues, err, errlen)) ||
        (rc = cfg_u32(cfg, "capture.afxdp.frames", 64, 1u << 20, &o->afxdp_frames, err, errlen)) ||
        (rc = cfg_u32(cfg, "capture.afxdp.frame-size", 2048, 4096, &o->afxdp_frame_size, err,
                      errlen)) ||
        (rc = cfg_u32(cfg, "capture.afxdp.bypass-entries", 1, 1u << 24, &o->afxdp_bypass_entries,
                      err, errlen)) ||
        (rc = cfg_size(cfg, "capture.afxdp.bypass-after", &o->afxdp_bypass_after, err, errlen)) ||
        (rc = cfg_flag(cfg, "capture.afxdp.force-copy", &o->afxdp_force_copy, err, errlen)) ||
        (rc = cfg_flag(cfg, "capture.afxdp.force-skb", &o->afxdp_force_skb, err, errlen)) ||
        (rc = cfg_u32(cfg, "capture.dpdk.queues", 0, 1024, &o->queues, err, errlen)) ||
        (rc = cfg_u32(cfg, "capture.dpdk.mbufs", 0, 1u << 30, &o->dpdk_mbufs, err, errlen)) ||
        (rc = cfg_u32(cfg, "capture.dpdk.mbuf-size", 512, 65535, &o->dpdk_mbuf_size, err,
                      errlen)) ||
        (rc = cfg_u32(cfg, "capture.dpdk.rx-descriptors", 32, 32768, &o->dpdk_rx_desc, err,
                      errlen)) ||
        (rc = cfg_str(cfg, "capture.dpdk.eal-args", o->cfg_dpdk_args, sizeof(o->cfg_dpdk_args),
                      &o->dpdk_args, err, errlen)) ||
        (rc = cfg_str(cfg, "capture.dpdk.ports", o->cfg_ports, sizeof(o->cfg_ports), &o->ports,
                      err, errlen)))
        return rc < 0 ? rc : -EINVAL;
    o->bypass_off = !bypass;
    return 0;
}

int capture_opts_from_config(struct capture_opts *o, const struct tl_config *cfg, char *err,
                             size_t errlen)
{
    struct capture_opts c;

    capture_opts_init(&c);
    int rc = opts_from_config(&c, cfg, err, errlen);
    if (rc)
        return rc;
    /* The command line (already in o) wins over the file: take only what it left unset. */
    if (!o->kind_set && o->kind == CAPTURE_PCAP)
        o->kind = c.kind;
    if (!o->queues)
        o->queues = c.queues;
    if (!o->dpdk_args && c.dpdk_args) {
        memcpy(o->cfg_dpdk_args, c.cfg_dpdk_args, sizeof(o->cfg_dpdk_args));
        o->dpdk_args = o->cfg_dpdk_args;
    }
    if (!o->ports && c.ports) {
        memcpy(o->cfg_ports, c.cfg_ports, sizeof(o->cfg_ports));
        o->ports = o->cfg_ports;
    }
    o->afxdp_frames = c.afxdp_frames;
    o->afxdp_frame_size = c.afxdp_frame_size;
    o->afxdp_bypass_entries = c.afxdp_bypass_entries;
    o->afxdp_force_copy = c.afxdp_force_copy;
    o->afxdp_bypass_after = c.afxdp_bypass_after;
    o->afxdp_force_skb = c.afxdp_force_skb;
    o->xdp_mode = c.xdp_mode;
    o->bypass_off = c.bypass_off;
    o->dpdk_mbufs = c.dpdk_mbufs;
    o->dpdk_mbuf_size = c.dpdk_mbuf_size;
    o->dpdk_rx_desc = c.dpdk_rx_desc;
    return 0;
}

unsigned capture_opts_getopt(struct option *out, int base)
{
    static const char *names[OPT_N] = {"capture", "queues", "dpdk-args", "ports", "xdp-detach"};
    for (int i = 0; i < OPT_N; i++) {
        out[i].name = names[i];
        out[i].has_arg = i == OPT_XDP_DETACH ? no_argument : required_argument;
        out[i].flag = NULL;
        out[i].val = base + i;
    }
    return OPT_N;
}

int capture_opts_handle(struct capture_opts *o, int val, int base, const char *optarg, char *err,
                        size_t errlen)
{
    char *end;
    unsigned long v;

    switch (val - base) {
    case OPT_CAPTURE:
        if (parse_kind(optarg, &o->kind))
            return fail(err, errlen, -EINVAL, "--capture takes pcap, afxdp or dpdk, not '%s'",
                        optarg);
        o->kind_set = true;
        return 1;
    case OPT_QUEUES:
        v = strtoul(optarg, &end, 10);
        if (!*optarg || *end || v > 1024)
            return fail(err, errlen, -EINVAL, "--queues takes a number 0..1024, not '%s'", optarg);
        o->queues = (unsigned)v;
        return 1;
    case OPT_DPDK_ARGS:
        o->dpdk_args = optarg;
        return 1;
    case OPT_PORTS:
        o->ports = optarg;
        return 1;
    case OPT_XDP_DETACH:
        o->xdp_detach = true;
        return 1;
    default:
        return 0;
    }
}

const char *capture_opts_usage(void)
{
    return "Multi-queue capture (runmode workers: one worker per receive queue):\n"
           "  --capture afxdp|dpdk afxdp: XDP + AF_XDP sockets on -i IFACE; dpdk: DPDK ports\n"
           "                       (default pcap: libpcap on -i, or -r files)\n"
           "  --queues N           receive queues (= workers); afxdp default: all of IFACE's,\n"
           "                       dpdk default: 1\n"
           "  --dpdk-args \"ARGS\"   EAL arguments, e.g. \"--no-huge -m 1024 --no-pci\n"
           "                       --vdev=net_pcap0,rx_pcap=FILE\" (capture.dpdk.eal-args)\n"
           "  --ports LIST         DPDK ports by id or name (default: all) (capture.dpdk.ports)\n"
           "  --xdp-detach         with -i IFACE: detach a left-over Tripline XDP program, exit\n";
}

#if HAVE_XDP || HAVE_DPDK
static void log_line(void *ctx, const char *msg)
{
    FILE *f = ctx;
    if (f)
        fprintf(f, "tripline: %s\n", msg);
}
#endif

#if HAVE_XDP || HAVE_DPDK
static unsigned capture_counters(void *ctx, struct pkt_source_counter *out, unsigned max);

/* The engine's view of an opened source: one handle per queue (handle(src, i)) and ops. */
static int capture_set_queues(struct capture *c, void *src, unsigned nq,
                              void *(*handle)(void *src, unsigned q), const char *name,
                              char *err, size_t errlen)
{
    c->queues = calloc(nq, sizeof(*c->queues));
    if (!c->queues)
        return fail(err, errlen, -ENOMEM, "out of memory");
    for (unsigned i = 0; i < nq; i++)
        c->queues[i] = handle(src, i);
    c->src.n_queues = nq;
    c->src.name = name;
    c->src.ctx = c;
    c->src.bypass_after = c->bypass_after;
    c->ops.counters = capture_counters;
    return 0;
}
#endif

#if HAVE_XDP
static void *afxdp_handle(void *src, unsigned q)
{
    return dp_afxdp_queue_handle(src, q);
}

static int open_afxdp(struct capture *c, const struct capture_opts *o, FILE *log, bool *usage,
                      char *err, size_t errlen)
{
    struct dp_afxdp_config cfg;
    int e = 0;

    if (!o->iface)
        return (*usage = true), fail(err, errlen, -EINVAL, "--capture afxdp needs -i IFACE");
    dp_afxdp_config_default(&cfg);
    cfg.iface = o->iface;
    cfg.queues = o->queues;
    if (o->afxdp_frames)
        cfg.frames = o->afxdp_frames;
    if (o->afxdp_frame_size)
        cfg.frame_size = o->afxdp_frame_size;
    if (o->afxdp_bypass_entries)
        cfg.bypass_entries = o->afxdp_bypass_entries;
    cfg.force_copy = o->afxdp_force_copy;
    cfg.force_skb = o->afxdp_force_skb || o->xdp_mode == CAPTURE_XDP_SKB;
    cfg.bypass = !o->bypass_off;
    cfg.log = log_line;
    cfg.log_ctx = log;
    c->afxdp = dp_afxdp_open(&cfg, &e, err, errlen);
    if (!c->afxdp) {
        *usage = e == -EINVAL;
        return e ? e : -EINVAL;
    }
    if (o->xdp_mode == CAPTURE_XDP_NATIVE && !dp_afxdp_native(c->afxdp)) {
        *usage = true;
        return fail(err, errlen, -EOPNOTSUPP,
                    "capture.afxdp.xdp-mode native: %s has no native XDP (generic mode only); "
                    "use xdp-mode auto or skb", o->iface);
    }
    int rc = capture_set_queues(c, c->afxdp, dp_afxdp_queue_count(c->afxdp), afxdp_handle,
                                "afxdp", err, errlen);
    if (rc)
        return rc;
    c->ops.rx_burst = dp_afxdp_handle_rx;
    c->ops.release = dp_afxdp_handle_release;
    c->ops.stats = dp_afxdp_handle_stats;
    if (!o->bypass_off) { /* one map update per bypassed flow, one read at its end */
        c->ops.bypass_add = dp_afxdp_handle_bypass_add;
        c->ops.bypass_take = dp_afxdp_handle_bypass_take;
    }
    return 0;
}
#endif

#if HAVE_DPDK
static void *dpdk_handle(void *src, unsigned q)
{
    return dp_dpdk_queue_handle(src, q);
}

static int open_dpdk(struct capture *c, const struct capture_opts *o, FILE *log, bool *usage,
                     char *err, size_t errlen)
{
    struct dp_dpdk_config cfg;
    int e = 0;

    dp_dpdk_config_default(&cfg);
    cfg.eal_args = o->dpdk_args ? o->dpdk_args : "";
    cfg.ports = o->ports;
    cfg.queues = o->queues ? o->queues : 1;
    if (o->dpdk_mbufs)
        cfg.mbufs = o->dpdk_mbufs;
    if (o->dpdk_mbuf_size)
        cfg.mbuf_size = o->dpdk_mbuf_size;
    if (o->dpdk_rx_desc)
        cfg.rx_desc = o->dpdk_rx_desc;
    cfg.log = log_line;
    cfg.log_ctx = log;
    c->dpdk = dp_dpdk_open(&cfg, &e, err, errlen);
    if (!c->dpdk) {
        *usage = e == -EINVAL || e == -ENODEV;
        return e ? e : -EINVAL;
    }
    int rc = capture_set_queues(c, c->dpdk, dp_dpdk_queue_count(c->dpdk), dpdk_handle, "dpdk",
                                err, errlen);
    if (rc)
        return rc;
    c->ops.rx_burst = dp_dpdk_handle_rx;
    c->ops.release = dp_dpdk_handle_release;
    c->ops.stats = dp_dpdk_handle_stats;
    /* no bypass_add: bypassed flows are bypassed in software (local: counted, not inspected) */
    return 0;
}
#endif

struct capture *capture_open(const struct capture_opts *o, FILE *log, bool *exit_usage, char *err,
                             size_t errlen)
{
    struct capture *c = calloc(1, sizeof(*c));
    bool usage = false;
    int rc = -EINVAL;

    if (!c) {
        fail(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    c->kind = o->kind;
    c->bypass_after = o->afxdp_bypass_after;
    switch (o->kind) {
    case CAPTURE_AFXDP:
#if HAVE_XDP
        rc = open_afxdp(c, o, log, &usage, err, errlen);
#else
        usage = true;
        rc = fail(err, errlen, -ENOTSUP, "--capture afxdp: this build has no AF_XDP support "
                  "(libbpf, libxdp, clang and bpftool were not found at build time)");
#endif
        break;
    case CAPTURE_DPDK:
#if HAVE_DPDK
        rc = open_dpdk(c, o, log, &usage, err, errlen);
#else
        usage = true;
        rc = fail(err, errlen, -ENOTSUP, "--capture dpdk: this build has no DPDK support "
                  "(libdpdk was not found at build time)");
#endif
        break;
    default:
        usage = true;
        rc = fail(err, errlen, -EINVAL, "capture_open: pcap capture does not use queues");
        break;
    }
    (void)log;
    if (rc == 0) {
        c->src.ops = &c->ops;
        c->src.queues = c->queues;
        if (exit_usage)
            *exit_usage = false;
        return c;
    }
out:
    if (exit_usage)
        *exit_usage = usage;
    capture_close(c);
    return NULL;
}

const struct pkt_source *capture_source(const struct capture *c)
{
    return &c->src;
}

int capture_get_stats(struct capture *c, struct capture_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->kind = c->kind;
#if HAVE_XDP
    if (c->afxdp) {
        struct dp_xdp_counters k;
        struct dp_source_stats s;
        int rc = dp_afxdp_kernel_counters(c->afxdp, &k);
        if (rc)
            return rc;
        dp_afxdp_stats(c->afxdp, &s);
        st->xdp_packets = k.packets;
        st->xdp_bytes = k.bytes;
        st->xdp_redirected = k.redirected;
        st->xdp_bypassed_packets = k.bypassed_packets;
        st->xdp_bypassed_bytes = k.bypassed_bytes;
        st->xdp_parse_failed = k.parse_failed;
        st->xdp_no_socket = k.no_socket;
        st->xdp_sock_drops = s.kernel_drops;
    }
#endif
#if HAVE_DPDK
    if (c->dpdk) {
        for (unsigned i = 0; i < dp_dpdk_port_count(c->dpdk); i++) {
            struct dp_dpdk_port_stats ps;
            int rc = dp_dpdk_port_stats(c->dpdk, i, &ps);
            if (rc)
                return rc;
            st->ipackets += ps.ipackets;
            st->ibytes += ps.ibytes;
            st->imissed += ps.imissed;
            st->ierrors += ps.ierrors;
            st->rx_nombuf += ps.rx_nombuf;
        }
    }
#endif
    return 0;
}

int capture_stats_json(const struct capture_stats *st, char *buf, size_t len)
{
    if (st->kind == CAPTURE_AFXDP)
        return snprintf(buf, len,
                        "{\"afxdp\":{\"kernel_packets\":%" PRIu64 ",\"kernel_bytes\":%" PRIu64
                        ",\"redirected\":%" PRIu64 ",\"bypassed_packets\":%" PRIu64
                        ",\"bypassed_bytes\":%" PRIu64 ",\"parse_failed\":%" PRIu64
                        ",\"no_socket\":%" PRIu64 ",\"socket_drops\":%" PRIu64 "}}",
                        st->xdp_packets, st->xdp_bytes, st->xdp_redirected,
                        st->xdp_bypassed_packets, st->xdp_bypassed_bytes, st->xdp_parse_failed,
                        st->xdp_no_socket, st->xdp_sock_drops);
    if (st->kind == CAPTURE_DPDK)
        return snprintf(buf, len,
                        "{\"dpdk\":{\"ipackets\":%" PRIu64 ",\"ibytes\":%" PRIu64
                        ",\"imissed\":%" PRIu64 ",\"ierrors\":%" PRIu64 ",\"rx_nombuf\":%" PRIu64
                        "}}",
                        st->ipackets, st->ibytes, st->imissed, st->ierrors, st->rx_nombuf);
    return snprintf(buf, len, "{}");
}

#if HAVE_XDP || HAVE_DPDK
/* ops->counters: the capture's own counters for the EVE stats event (output thread). */
static unsigned capture_counters(void *ctx, struct pkt_source_counter *out, unsigned max)
{
    struct capture *c = ctx;
    unsigned n = 0;
#define PUT(name, v)                                                                               \
    do {                                                                                           \
        if (n < max)                                                                               \
            out[n++] = (struct pkt_source_counter){name, (v)};                                     \
    } while (0)
#if HAVE_XDP
    if (c->afxdp) {
        /* the XDP program's per-CPU counters summed, and the sockets' drops */
        struct dp_xdp_counters k;
        struct dp_source_stats s;
        if (dp_afxdp_kernel_counters(c->afxdp, &k) == 0) {
            PUT("capture.afxdp.kernel_packets", k.packets);
            PUT("capture.afxdp.kernel_bytes", k.bytes);
            PUT("capture.afxdp.ipv4", k.ipv4);
            PUT("capture.afxdp.ipv6", k.ipv6);
            PUT("capture.afxdp.tcp", k.tcp);
            PUT("capture.afxdp.udp", k.udp);
            PUT("capture.afxdp.icmp", k.icmp);
            PUT("capture.afxdp.other_l4", k.other_l4);
            PUT("capture.afxdp.non_ip", k.non_ip);
            PUT("capture.afxdp.vlan", k.vlan);
            PUT("capture.afxdp.fragments", k.fragments);
            PUT("capture.afxdp.parse_failed", k.parse_failed);
            PUT("capture.afxdp.bypassed_packets", k.bypassed_packets);
            PUT("capture.afxdp.bypassed_bytes", k.bypassed_bytes);
            PUT("capture.afxdp.redirected", k.redirected);
            PUT("capture.afxdp.no_socket", k.no_socket);
        }
        dp_afxdp_stats(c->afxdp, &s);
        PUT("capture.afxdp.socket_drops", s.kernel_drops);
    }
#endif
#if HAVE_DPDK
    if (c->dpdk) {
        /* rte_eth_stats summed over the ports (Suricata 7: capture.dpdk.*) */
        struct dp_dpdk_port_stats sum = {0};
        for (unsigned i = 0; i < dp_dpdk_port_count(c->dpdk); i++) {
            struct dp_dpdk_port_stats ps;
            if (dp_dpdk_port_stats(c->dpdk, i, &ps) == 0) {
                sum.ipackets += ps.ipackets;
                sum.ibytes += ps.ibytes;
                sum.imissed += ps.imissed;
                sum.ierrors += ps.ierrors;
                sum.rx_nombuf += ps.rx_nombuf;
            }
        }
        PUT("capture.dpdk.ipackets", sum.ipackets);
        PUT("capture.dpdk.ibytes", sum.ibytes);
        PUT("capture.dpdk.imissed", sum.imissed);
        PUT("capture.dpdk.ierrors", sum.ierrors);
        PUT("capture.dpdk.rx_nombuf", sum.rx_nombuf);
    }
#endif
#undef PUT
    return n;
}
#endif

void capture_print_summary(struct capture *c, FILE *out)
{
    struct capture_stats st;

    if (!c || capture_get_stats(c, &st))
        return;
#if HAVE_XDP
    if (c->afxdp)
        fprintf(out,
                "  xdp:        %" PRIu64 " packets seen in the kernel, %" PRIu64 " redirected, %" PRIu64
                " bypassed (%" PRIu64 " bytes), %" PRIu64 " parse failures, %" PRIu64
                " without socket, %" PRIu64 " socket drops\n",
                st.xdp_packets, st.xdp_redirected, st.xdp_bypassed_packets,
                st.xdp_bypassed_bytes, st.xdp_parse_failed, st.xdp_no_socket, st.xdp_sock_drops);
#endif
#if HAVE_DPDK
    if (c->dpdk) {
        for (unsigned i = 0; i < dp_dpdk_port_count(c->dpdk); i++) {
            struct dp_dpdk_port_stats ps;
            if (dp_dpdk_port_stats(c->dpdk, i, &ps) == 0)
                fprintf(out,
                        "  dpdk port %u (%s): ipackets %" PRIu64 ", imissed %" PRIu64
                        ", ierrors %" PRIu64 ", rx_nombuf %" PRIu64 "\n",
                        dp_dpdk_port_id(c->dpdk, i), dp_dpdk_port_name(c->dpdk, i), ps.ipackets,
                        ps.imissed, ps.ierrors, ps.rx_nombuf);
        }
    }
#endif
    (void)out;
}

bool capture_can_bypass(const struct capture *c)
{
#if HAVE_XDP
    return c && c->afxdp;
#else
    (void)c;
    return false;
#endif
}

uint64_t capture_bypass_after_bytes(const struct capture *c)
{
    return c ? c->bypass_after : 0;
}

#if HAVE_XDP
static void to_tuple(const struct capture_flow *f, struct dp_flow_tuple *t)
{
    memset(t, 0, sizeof(*t));
    t->ip_version = f->ip_version;
    t->proto = f->proto;
    t->sport = f->sport;
    t->dport = f->dport;
    memcpy(t->src, f->src, 16);
    memcpy(t->dst, f->dst, 16);
}
#endif

int capture_bypass_add(struct capture *c, unsigned queue, const struct capture_flow *f)
{
#if HAVE_XDP
    if (c && c->afxdp) {
        struct dp_flow_tuple t;
        to_tuple(f, &t);
        return dp_afxdp_bypass_add(c->afxdp, queue, &t);
    }
#endif
    (void)c;
    (void)queue;
    (void)f;
    return -EOPNOTSUPP;
}

int capture_bypass_take(struct capture *c, unsigned queue, const struct capture_flow *f,
                        uint64_t *packets, uint64_t *bytes)
{
#if HAVE_XDP
    if (c && c->afxdp) {
        struct dp_flow_tuple t;
        struct dp_bypass_counters bc;
        to_tuple(f, &t);
        int rc = dp_afxdp_bypass_del(c->afxdp, queue, &t, &bc);
        if (rc == 0) {
            *packets = bc.packets;
            *bytes = bc.bytes;
        }
        return rc;
    }
#endif
    (void)c;
    (void)queue;
    (void)f;
    (void)packets;
    (void)bytes;
    return -EOPNOTSUPP;
}

void capture_close(struct capture *c)
{
    if (!c)
        return;
#if HAVE_XDP
    dp_afxdp_close(c->afxdp);
#endif
#if HAVE_DPDK
    dp_dpdk_close(c->dpdk);
#endif
    free(c->queues);
    free(c);
}

int capture_xdp_detach(const char *iface, char *err, size_t errlen)
{
#if HAVE_XDP
    if (!iface)
        return fail(err, errlen, -EINVAL, "--xdp-detach needs -i IFACE");
    int rc = dp_afxdp_detach(iface, err, errlen);
    if (rc == 0)
        fprintf(stderr, "tripline: detached Tripline's XDP program from %s\n", iface);
    return rc;
#else
    (void)iface;
    return fail(err, errlen, -ENOTSUP, "--xdp-detach: this build has no AF_XDP support");
#endif
}

int capture_prepare(struct capture_opts *o, struct tl_config *cfg, const char *iface,
                    unsigned n_files, struct capture **cap)
{
    char err[1024];
    bool usage = false;

    *cap = NULL;
    if (capture_opts_from_config(o, cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "tripline: %s\n", err);
        return 2;
    }
    if (o->xdp_detach) {
        if (capture_xdp_detach(iface, err, sizeof(err)) < 0) {
            fprintf(stderr, "tripline: %s\n", err);
            return 1;
        }
        return 0;
    }
    if (o->kind == CAPTURE_PCAP)
        return -1;
    if (n_files) {
        fprintf(stderr, "tripline: --capture %s reads no -r files (DPDK replays a capture through "
                        "--dpdk-args \"--vdev=net_pcap0,rx_pcap=FILE\")\n",
                o->kind == CAPTURE_DPDK ? "dpdk" : "afxdp");
        return 2;
    }
    o->iface = iface;
    *cap = capture_open(o, stderr, &usage, err, sizeof(err));
    if (!*cap) {
        fprintf(stderr, "tripline: %s\n", err);
        return usage ? 2 : 1;
    }
    /* one worker per receive queue, run to completion */
    cfg->runmode = RUNMODE_WORKERS;
    cfg->workers = (*cap)->src.n_queues;
    return -1;
}

void capture_flow_from_key(const struct flow_key *k, struct dp_flow_tuple *t)
{
    memset(t, 0, sizeof(*t));
    t->ip_version = k->ip_version;
    t->proto = k->proto;
    memcpy(t->src, k->addr[0], 16);
    memcpy(t->dst, k->addr[1], 16);
    t->sport = k->port[0];
    t->dport = k->port[1];
}

/* ---- flow bypass in a worker ---------------------------------------------------------------- */

void engine_bypass_init(struct engine_bypass *b, const struct pkt_source *src, unsigned q)
{
    memset(b, 0, sizeof(*b));
    if (src) {
        b->ops = src->ops;
        b->q = src->queues[q];
        b->after = src->bypass_after;
    }
}

void engine_bypass_flow(struct engine_bypass *b, struct flow *f)
{
    if (f->bypass)
        return;
    b->c[BYP_FLOWS]++;
    f->bypass = FLOW_BYPASS_LOCAL;
    if (b->ops && b->ops->bypass_add) {
        struct dp_flow_tuple t;
        capture_flow_from_key(&f->key, &t);
        if (b->ops->bypass_add(b->q, &t) == 0) {
            f->bypass = FLOW_BYPASS_CAPTURE;
            b->c[BYP_CAPTURE]++;
        } else {
            b->c[BYP_FAILED]++; /* map full or refused: keep receiving, stop inspecting */
        }
    }
}

void engine_bypass_flow_end(struct engine_bypass *b, const struct flow *f, struct event *ev)
{
    ev->u.flow.bypass = f->bypass;
    if (f->bypass != FLOW_BYPASS_CAPTURE || !b->ops || !b->ops->bypass_take)
        return;
    struct dp_flow_tuple t;
    struct dp_bypass_counters bc;
    capture_flow_from_key(&f->key, &t);
    if (b->ops->bypass_take(b->q, &t, &bc) != 0) {
        b->c[BYP_LOST]++;
        return;
    }
    /* t->src is key endpoint 0; the client is endpoint f->client_side */
    bool src_is_client = (f->client_side & 1) == 0;
    uint64_t pkts_rev = bc.packets - bc.packets_fwd, bytes_rev = bc.bytes - bc.bytes_fwd;
    struct event_flow *e = &ev->u.flow;
    e->bypassed_pkts_ts = src_is_client ? bc.packets_fwd : pkts_rev;
    e->bypassed_pkts_tc = src_is_client ? pkts_rev : bc.packets_fwd;
    e->bypassed_bytes_ts = src_is_client ? bc.bytes_fwd : bytes_rev;
    e->bypassed_bytes_tc = src_is_client ? bytes_rev : bc.bytes_fwd;
    e->kernel_bypassed_pkts = bc.packets;
    e->kernel_bypassed_bytes = bc.bytes;
    b->c[BYP_CAPTURE_PKTS] += bc.packets;
    b->c[BYP_CAPTURE_BYTES] += bc.bytes;
}

_Static_assert(sizeof(struct pkt_source_counter) == sizeof(struct eve_stat) &&
                   offsetof(struct pkt_source_counter, value) == offsetof(struct eve_stat, value),
               "a source's counters are handed to eve_format_stats as they are");

unsigned engine_extra_stats(const uint64_t byp[BYP_N], const struct pkt_source *src,
                            struct eve_stat *out, unsigned max)
{
    /* Suricata's flow_bypassed object: local_* for packets that still reached us, pkts/bytes
     * for what the capture counted on flows that ended */
    static const char *const names[BYP_N] = {
        [BYP_FLOWS] = "flow_bypassed.flows",         [BYP_CAPTURE] = "flow_bypassed.capture",
        [BYP_FAILED] = "flow_bypassed.failed",       [BYP_LOCAL_PKTS] = "flow_bypassed.local_pkts",
        [BYP_LOCAL_BYTES] = "flow_bypassed.local_bytes", [BYP_CAPTURE_PKTS] = "flow_bypassed.pkts",
        [BYP_CAPTURE_BYTES] = "flow_bypassed.bytes", [BYP_LOST] = "flow_bypassed.lost",
    };
    unsigned n = 0;
    for (int k = 0; k < BYP_N && n < max; k++)
        out[n++] = (struct eve_stat){names[k], byp[k]};
    if (src && src->ops->counters && n < max)
        n += src->ops->counters(src->ctx, (struct pkt_source_counter *)(void *)(out + n), max - n);
    return n;
}
