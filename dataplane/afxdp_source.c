/* AF_XDP source: loads Tripline's XDP program through libxdp and receives from one AF_XDP
 * socket per queue. See afxdp_source.h for the contract.
 *
 * Kept apart from the libpcap source: pcap.h and libbpf.h both define struct bpf_insn.
 */
#include "afxdp_source.h"
#include "dp_msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "tripline_xdp.h"
#include "tripline_xdp.skel.h"

struct dp_afxdp_queue {
    struct xsk_ring_cons rx;
    struct xsk_ring_prod fq;
    struct xsk_ring_cons cq;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    void *area;
    size_t area_len;
    uint32_t held_idx; /* first rx descriptor of the burst handed out and not yet released */
    uint32_t held_n;
    uint64_t packets, bytes;
    struct tl_flow_counters *percpu; /* scratch for bypass map values, one per possible CPU */
    struct dp_afxdp *src;
    unsigned id;
    bool zerocopy;
} __attribute__((aligned(64)));

struct dp_afxdp {
    struct dp_afxdp_config cfg;
    char iface[IF_NAMESIZE];
    int ifindex;
    struct tripline_xdp_bpf *skel;
    struct xdp_program *prog;
    enum xdp_attach_mode mode;
    bool attached;
    int xsks_fd, counters_fd, bypass_fd;
    int ncpus;
    struct tl_xdp_counters *counters_scratch; /* control thread only */
    unsigned nq;
    struct dp_afxdp_queue *q;
};

/* messages through the helpers every source shares (dp_msg.h) */
#define afx_log(cfg, ...) dp_msg_log((cfg)->log, (cfg)->log_ctx, __VA_ARGS__)
#define afx_fail dp_msg_fail

static bool is_pow2(unsigned v)
{
    return v && !(v & (v - 1));
}

/* libbpf and libxdp print through process-wide hooks: keep their warnings, drop the chatter
 * every start produces here (dispatcher fallback details, the dispatcher's metadata section). */
static int afx_lib_print(int level, const char *fmt, va_list ap)
{
    if (level > 0 /* LIBBPF_WARN == LIBXDP_WARN == 0 */ || strstr(fmt, "unrecognized data section"))
        return 0;
    return vfprintf(stderr, fmt, ap);
}

static int afx_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    return afx_lib_print((int)level, fmt, ap);
}

static int afx_libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
    return afx_lib_print((int)level, fmt, ap);
}

void dp_afxdp_config_default(struct dp_afxdp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->frames = 1024;
    cfg->frame_size = 4096;
    cfg->burst = 64;
    cfg->bypass_entries = TL_XDP_BYPASS_ENTRIES;
    cfg->bypass = true;
}

/* Receive queues of the interface (ETHTOOL_GCHANNELS), 1 when the driver does not say. */
static unsigned afx_iface_queues(const char *iface)
{
    struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
    struct ifreq ifr = {0};
    unsigned n = 1;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return 1;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
    ifr.ifr_data = (void *)&ch;
    if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) {
        unsigned rx = ch.rx_count > ch.combined_count ? ch.rx_count : ch.combined_count;
        if (rx > 0)
            n = rx;
    }
    close(fd);
    return n;
}

/* Looks for an XDP program on ifindex. Returns 0 if none, -EBUSY with a message if one is
 * there that we must not take over (ours, or a foreign non-dispatcher program), or another
 * -errno when the kernel would not tell. */
static int afx_check_busy(const char *iface, int ifindex, char *err, size_t errlen)
{
    struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
    long e = libxdp_get_error(mp);
    int rc = 0;

    if (e == -ENOENT || (!e && !mp))
        return 0;
    if (e)
        return afx_fail(err, errlen, (int)e, "afxdp: cannot inspect XDP programs on %s: %s", iface,
                        strerror((int)-e));
    if (xdp_multiprog__is_legacy(mp)) {
        struct xdp_program *p = xdp_multiprog__main_prog(mp);
        const char *name = p ? xdp_program__name(p) : "?";
        if (p && strcmp(name, TL_XDP_PROG_NAME) == 0)
            rc = afx_fail(err, errlen, -EBUSY,
                          "afxdp: %s already has Tripline's XDP program attached (id %u): another "
                          "tripline is capturing there, or one was killed; if none runs, free it "
                          "with `tripline --xdp-detach -i %s`",
                          iface, xdp_program__id(p), iface);
        else if (p)
            rc = afx_fail(err, errlen, -EBUSY,
                          "afxdp: %s already has a foreign XDP program attached (%s, id %u) and "
                          "no libxdp dispatcher to share it; not taking it over",
                          iface, name, xdp_program__id(p));
    } else {
        for (struct xdp_program *p = xdp_multiprog__next_prog(NULL, mp); p;
             p = xdp_multiprog__next_prog(p, mp)) {
            if (strcmp(xdp_program__name(p), TL_XDP_PROG_NAME) == 0) {
                rc = afx_fail(err, errlen, -EBUSY,
                              "afxdp: %s already runs Tripline's XDP program (id %u) in its libxdp "
                              "dispatcher: another tripline is capturing there, or one was killed; "
                              "if none runs, free it with `tripline --xdp-detach -i %s`",
                              iface, xdp_program__id(p), iface);
                break;
            }
        }
    }
    xdp_multiprog__close(mp);
    return rc;
}

static int afx_attach(struct dp_afxdp *s, char *err, size_t errlen)
{
    char why[256];
    int rc;

    s->skel = tripline_xdp_bpf__open();
    if (!s->skel)
        return afx_fail(err, errlen, -errno ? -errno : -EINVAL,
                        "afxdp: cannot open the embedded XDP object: %s", strerror(errno));
    s->skel->rodata->tl_cfg_bypass = s->cfg.bypass ? 1 : 0;
    s->skel->rodata->tl_cfg_redirect = 1;
    rc = bpf_map__set_max_entries(s->skel->maps.tl_bypass, s->cfg.bypass_entries);
    if (rc)
        return afx_fail(err, errlen, rc, "afxdp: bypass_entries %u rejected: %s",
                        s->cfg.bypass_entries, strerror(-rc));

    s->prog = xdp_program__from_bpf_obj(s->skel->obj, "xdp");
    long e = libxdp_get_error(s->prog);
    if (e) {
        s->prog = NULL;
        return afx_fail(err, errlen, (int)e, "afxdp: libxdp cannot use the XDP object: %s",
                        strerror((int)-e));
    }

    enum xdp_attach_mode modes[2] = {XDP_MODE_NATIVE, XDP_MODE_SKB};
    int first = s->cfg.force_skb ? 1 : 0;
    rc = -EINVAL;
    for (int i = first; i < 2; i++) {
        rc = xdp_program__attach(s->prog, s->ifindex, modes[i], 0);
        if (rc == 0) {
            s->mode = modes[i];
            s->attached = true;
            break;
        }
        libxdp_strerror(rc, why, sizeof(why));
        if (rc == -EPERM || rc == -EACCES)
            break; /* no point trying SKB mode without the privilege */
        if (i == 0)
            afx_log(&s->cfg, "afxdp: native XDP attach on %s failed (%s), falling back to generic "
                    "(SKB) mode", s->iface, why);
    }
    if (rc) {
        libxdp_strerror(rc, why, sizeof(why));
        if (rc == -EPERM || rc == -EACCES)
            return afx_fail(err, errlen, -EPERM,
                            "afxdp: no permission to load/attach BPF on %s (%s): run as root or "
                            "with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON",
                            s->iface, why);
        if (rc == -EBUSY || rc == -EEXIST)
            return afx_fail(err, errlen, -EBUSY,
                            "afxdp: %s already has an XDP program attached (%s); not taking it over",
                            s->iface, why);
        return afx_fail(err, errlen, rc, "afxdp: cannot attach the XDP program to %s: %s", s->iface,
                        why);
    }
    afx_log(&s->cfg, "afxdp: XDP program attached to %s in %s mode (id %u)", s->iface,
            s->mode == XDP_MODE_NATIVE ? "native" : "generic (SKB)", xdp_program__id(s->prog));

    s->xsks_fd = bpf_map__fd(s->skel->maps.tl_xsks);
    s->counters_fd = bpf_map__fd(s->skel->maps.tl_counters);
    s->bypass_fd = bpf_map__fd(s->skel->maps.tl_bypass);
    if (s->xsks_fd < 0 || s->counters_fd < 0 || s->bypass_fd < 0)
        return afx_fail(err, errlen, -EINVAL, "afxdp: XDP program loaded without its maps");
    return 0;
}

static int afx_queue_open(struct dp_afxdp *s, struct dp_afxdp_queue *q, char *err, size_t errlen)
{
    const struct dp_afxdp_config *c = &s->cfg;
    struct xsk_umem_config ucfg = {
        .fill_size = c->frames,
        .comp_size = c->frames,
        .frame_size = c->frame_size,
        .frame_headroom = 0,
        .flags = 0,
    };
    struct xsk_socket_config scfg = {
        .rx_size = c->frames,
        .tx_size = 0,
        .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
        .xdp_flags = 0,
        .bind_flags = 0,
    };
    uint32_t idx;
    int rc;

    q->area_len = (size_t)c->frames * c->frame_size;
    q->area = mmap(NULL, q->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q->area == MAP_FAILED) {
        q->area = NULL;
        return afx_fail(err, errlen, -ENOMEM, "afxdp: queue %u: cannot map %zu bytes of UMEM", q->id,
                        q->area_len);
    }
    rc = xsk_umem__create(&q->umem, q->area, q->area_len, &q->fq, &q->cq, &ucfg);
    if (rc) {
        struct rlimit rl = {0};
        getrlimit(RLIMIT_MEMLOCK, &rl);
        if (rc == -ENOMEM || rc == -ENOBUFS || rc == -EPERM || rc == -EAGAIN)
            return afx_fail(err, errlen, -ENOMEM,
                            "afxdp: queue %u: cannot register %zu KiB of UMEM (%s); %u queue(s) x "
                            "afxdp frames %u x frame size %u must fit the locked-memory limit "
                            "(%llu KiB): lower the frames setting or the queue count",
                            q->id, q->area_len / 1024, strerror(-rc), s->nq, c->frames,
                            c->frame_size, (unsigned long long)rl.rlim_cur / 1024);
        return afx_fail(err, errlen, rc, "afxdp: queue %u: UMEM registration failed: %s", q->id,
                        strerror(-rc));
    }

    /* Zero-copy first where the driver allows it, copy mode otherwise. */
    uint16_t modes[2] = {XDP_ZEROCOPY, XDP_COPY};
    for (int i = c->force_copy ? 1 : 0; i < 2; i++) {
        scfg.bind_flags = XDP_USE_NEED_WAKEUP | modes[i];
        rc = xsk_socket__create(&q->xsk, s->iface, q->id, q->umem, &q->rx, NULL, &scfg);
        if (rc == 0) {
            q->zerocopy = modes[i] == XDP_ZEROCOPY;
            break;
        }
        q->xsk = NULL;
        if (rc == -EBUSY)
            return afx_fail(err, errlen, -EBUSY,
                            "afxdp: queue %u of %s is already bound to another AF_XDP socket "
                            "(another capture program runs there)",
                            q->id, s->iface);
    }
    if (rc)
        return afx_fail(err, errlen, rc, "afxdp: queue %u of %s: cannot create the AF_XDP socket: %s",
                        q->id, s->iface, strerror(-rc));

    /* Every frame starts in the fill ring; the fill ring is as large as the UMEM, so a
     * reservation for frames we own always succeeds. */
    if (xsk_ring_prod__reserve(&q->fq, c->frames, &idx) != c->frames)
        return afx_fail(err, errlen, -ENOSPC, "afxdp: queue %u: fill ring too small", q->id);
    for (unsigned i = 0; i < c->frames; i++)
        *xsk_ring_prod__fill_addr(&q->fq, idx + i) = (uint64_t)i * c->frame_size;
    xsk_ring_prod__submit(&q->fq, c->frames);

    int fd = xsk_socket__fd(q->xsk);
    uint32_t key = q->id;
    rc = bpf_map_update_elem(s->xsks_fd, &key, &fd, 0);
    if (rc)
        return afx_fail(err, errlen, -errno, "afxdp: queue %u: cannot insert the socket into the "
                        "XSKMAP: %s", q->id, strerror(errno));

    q->percpu = calloc((size_t)s->ncpus, sizeof(*q->percpu));
    if (!q->percpu)
        return afx_fail(err, errlen, -ENOMEM, "afxdp: out of memory");
    return 0;
}

struct dp_afxdp *dp_afxdp_open(const struct dp_afxdp_config *cfg, int *errno_out, char *err,
                               size_t errlen)
{
    struct dp_afxdp *s = NULL;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!cfg || !cfg->iface || !cfg->iface[0]) {
        rc = afx_fail(err, errlen, -EINVAL, "afxdp: no interface given (-i IFACE)");
        goto fail;
    }
    if (strlen(cfg->iface) >= IF_NAMESIZE) {
        rc = afx_fail(err, errlen, -EINVAL, "afxdp: interface name '%s' is too long", cfg->iface);
        goto fail;
    }
    if (!is_pow2(cfg->frames) || cfg->frames < 2 * cfg->burst || cfg->burst == 0) {
        rc = afx_fail(err, errlen, -EINVAL,
                      "afxdp: frames %u must be a power of two and at least twice the burst (%u)",
                      cfg->frames, cfg->burst);
        goto fail;
    }
    if (cfg->frame_size != 2048 && cfg->frame_size != 4096) {
        rc = afx_fail(err, errlen, -EINVAL, "afxdp: frame size %u must be 2048 or 4096",
                      cfg->frame_size);
        goto fail;
    }
    if (cfg->bypass_entries == 0) {
        rc = afx_fail(err, errlen, -EINVAL, "afxdp: bypass_entries must be at least 1");
        goto fail;
    }

    s = calloc(1, sizeof(*s));
    if (!s) {
        rc = afx_fail(err, errlen, -ENOMEM, "afxdp: out of memory");
        goto fail;
    }
    if (!getenv("TRIPLINE_BPF_DEBUG")) {
        libbpf_set_print(afx_libbpf_print);
        libxdp_set_print(afx_libxdp_print);
    }
    s->cfg = *cfg;
    snprintf(s->iface, sizeof(s->iface), "%s", cfg->iface);
    s->cfg.iface = s->iface;
    s->xsks_fd = s->counters_fd = s->bypass_fd = -1;

    s->ifindex = (int)if_nametoindex(s->iface);
    if (s->ifindex == 0) {
        rc = afx_fail(err, errlen, -ENODEV, "afxdp: interface %s not found", s->iface);
        goto fail;
    }
    unsigned have = afx_iface_queues(s->iface);
    s->nq = cfg->queues ? cfg->queues : have;
    if (s->nq > have || s->nq > TL_XDP_MAX_QUEUES) {
        rc = afx_fail(err, errlen, -EINVAL, "afxdp: --queues %u is more than %s has (%u, at most %u)",
                      s->nq, s->iface, have, TL_XDP_MAX_QUEUES);
        goto fail;
    }
    s->ncpus = libbpf_num_possible_cpus();
    if (s->ncpus <= 0) {
        rc = afx_fail(err, errlen, -EINVAL, "afxdp: cannot count possible CPUs");
        goto fail;
    }
    s->counters_scratch = calloc((size_t)s->ncpus, sizeof(*s->counters_scratch));
    s->q = aligned_alloc(64, sizeof(*s->q) * s->nq);
    if (!s->counters_scratch || !s->q) {
        rc = afx_fail(err, errlen, -ENOMEM, "afxdp: out of memory");
        goto fail;
    }
    memset(s->q, 0, sizeof(*s->q) * s->nq);
    for (unsigned i = 0; i < s->nq; i++) {
        s->q[i].id = i;
        s->q[i].src = s;
    }

    rc = afx_check_busy(s->iface, s->ifindex, err, errlen);
    if (rc == -EPERM || rc == -EACCES) {
        rc = afx_fail(err, errlen, -EPERM,
                      "afxdp: no permission to use BPF on %s: run as root or with CAP_BPF, "
                      "CAP_NET_ADMIN and CAP_PERFMON", s->iface);
        goto fail;
    }
    if (rc)
        goto fail;
    rc = afx_attach(s, err, errlen);
    if (rc)
        goto fail;
    for (unsigned i = 0; i < s->nq; i++) {
        rc = afx_queue_open(s, &s->q[i], err, errlen);
        if (rc)
            goto fail;
        afx_log(&s->cfg, "afxdp: %s queue %u: AF_XDP socket in %s mode, %u frames of %u bytes",
                s->iface, i, s->q[i].zerocopy ? "zero-copy" : "copy", cfg->frames, cfg->frame_size);
    }
    return s;

fail:
    if (errno_out)
        *errno_out = rc;
    dp_afxdp_close(s);
    return NULL;
}

unsigned dp_afxdp_queue_count(const struct dp_afxdp *src)
{
    return src->nq;
}

bool dp_afxdp_native(const struct dp_afxdp *src)
{
    return src->mode == XDP_MODE_NATIVE;
}

void dp_afxdp_release(struct dp_afxdp *src, unsigned qi)
{
    struct dp_afxdp_queue *q = &src->q[qi];
    uint32_t n = q->held_n, fidx;

    if (!n)
        return;
    /* Cannot come up short: only frames we hold go back, and the ring fits them all. */
    while (xsk_ring_prod__reserve(&q->fq, n, &fidx) != n)
        ;
    for (uint32_t i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, q->held_idx + i);
        *xsk_ring_prod__fill_addr(&q->fq, fidx + i) = xsk_umem__extract_addr(d->addr);
    }
    xsk_ring_prod__submit(&q->fq, n);
    xsk_ring_cons__release(&q->rx, n);
    q->held_n = 0;
}

unsigned dp_afxdp_rx_burst(struct dp_afxdp *src, unsigned qi, struct dp_packet *pkts, unsigned max)
{
    struct dp_afxdp_queue *q = &src->q[qi];
    struct timespec ts;
    uint32_t idx;

    dp_afxdp_release(src, qi);
    if (max > src->cfg.burst)
        max = src->cfg.burst;
    unsigned n = xsk_ring_cons__peek(&q->rx, max, &idx);
    if (n == 0) {
        /* In need-wakeup mode the driver sleeps until told the fill ring has frames again. */
        if (xsk_ring_prod__needs_wakeup(&q->fq))
            recvfrom(xsk_socket__fd(q->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
        return 0;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
        uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
        pkts[i].data = xsk_umem__get_data(q->area, addr);
        pkts[i].caplen = d->len;
        pkts[i].wirelen = d->len;
        pkts[i].ts_ns = now;
        pkts[i].hash = 0;
        pkts[i].linktype = DP_LINK_ETHERNET;
        pkts[i].queue = (uint16_t)qi;
        bytes += d->len;
    }
    q->held_idx = idx;
    q->held_n = n;
    /* Written only here, read by the stats thread: relaxed atomics, plain moves on x86. */
    __atomic_store_n(&q->packets, q->packets + n, __ATOMIC_RELAXED);
    __atomic_store_n(&q->bytes, q->bytes + bytes, __ATOMIC_RELAXED);
    return n;
}

int dp_afxdp_wait(struct dp_afxdp *src, unsigned qi, int timeout_ms)
{
    struct pollfd pfd = {.fd = xsk_socket__fd(src->q[qi].xsk), .events = POLLIN};
    int rc = poll(&pfd, 1, timeout_ms);
    return rc < 0 ? -errno : rc;
}

void dp_afxdp_queue_stats(struct dp_afxdp *src, unsigned qi, struct dp_afxdp_queue_stats *out)
{
    struct dp_afxdp_queue *q = &src->q[qi];
    struct xdp_statistics xs = {0};
    socklen_t len = sizeof(xs);

    memset(out, 0, sizeof(*out));
    out->packets = __atomic_load_n(&q->packets, __ATOMIC_RELAXED);
    out->bytes = __atomic_load_n(&q->bytes, __ATOMIC_RELAXED);
    out->zerocopy = q->zerocopy;
    if (q->xsk && getsockopt(xsk_socket__fd(q->xsk), SOL_XDP, XDP_STATISTICS, &xs, &len) == 0) {
        out->rx_dropped = xs.rx_dropped;
        out->rx_invalid_descs = xs.rx_invalid_descs;
        out->rx_ring_full = xs.rx_ring_full;
        out->fill_ring_empty = xs.rx_fill_ring_empty_descs;
    }
}

int dp_afxdp_kernel_counters(struct dp_afxdp *src, struct dp_xdp_counters *out)
{
    uint32_t key = 0;

    memset(out, 0, sizeof(*out));
    if (bpf_map_lookup_elem(src->counters_fd, &key, src->counters_scratch))
        return -errno;
    for (int c = 0; c < src->ncpus; c++) {
        const struct tl_xdp_counters *k = &src->counters_scratch[c];
        out->packets += k->packets;
        out->bytes += k->bytes;
        out->ipv4 += k->ipv4;
        out->ipv6 += k->ipv6;
        out->tcp += k->tcp;
        out->udp += k->udp;
        out->icmp += k->icmp;
        out->other_l4 += k->other_l4;
        out->non_ip += k->non_ip;
        out->vlan += k->vlan;
        out->fragments += k->fragments;
        out->parse_failed += k->parse_failed;
        out->bypassed_packets += k->bypassed_packets;
        out->bypassed_bytes += k->bypassed_bytes;
        out->redirected += k->redirected;
        out->no_socket += k->no_socket;
    }
    return 0;
}

void dp_afxdp_stats(struct dp_afxdp *src, struct dp_source_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < src->nq; i++) {
        struct dp_afxdp_queue_stats qs;
        dp_afxdp_queue_stats(src, i, &qs);
        out->packets += qs.packets;
        out->bytes += qs.bytes;
        out->kernel_drops += qs.rx_dropped + qs.rx_ring_full;
        out->errors += qs.rx_invalid_descs;
    }
}

/* Fills the kernel key of tuple t; returns 0 when t->src is the key's lower endpoint, 1 when
 * the higher one, -E2BIG for a bad tuple. */
static int afx_tuple_key(const struct dp_flow_tuple *t, struct tl_flow_key *key)
{
    uint32_t src[4] = {0}, dst[4] = {0};

    if (t->ip_version == 4) {
        memcpy(src, t->src, 4);
        memcpy(dst, t->dst, 4);
    } else if (t->ip_version == 6) {
        memcpy(src, t->src, 16);
        memcpy(dst, t->dst, 16);
    } else {
        return -E2BIG;
    }
    memset(key, 0, sizeof(*key));
    return tl_flow_key_set(key, t->ip_version, t->proto, src, htons(t->sport), dst,
                           htons(t->dport));
}

int dp_afxdp_bypass_add(struct dp_afxdp *src, unsigned qi, const struct dp_flow_tuple *t)
{
    struct dp_afxdp_queue *q = &src->q[qi];
    struct tl_flow_key key;

    if (afx_tuple_key(t, &key) < 0)
        return -E2BIG;
    memset(q->percpu, 0, sizeof(*q->percpu) * (size_t)src->ncpus);
    if (bpf_map_update_elem(src->bypass_fd, &key, q->percpu, BPF_NOEXIST) && errno != EEXIST)
        return -errno;
    return 0;
}

/* Sums the per-CPU values; src_hi: the caller's tuple src is the key's higher endpoint. */
static void afx_sum_flow(const struct dp_afxdp *src, const struct tl_flow_counters *v, int src_hi,
                         struct dp_bypass_counters *out)
{
    uint64_t pkts_lo = 0, bytes_lo = 0;
    memset(out, 0, sizeof(*out));
    for (int c = 0; c < src->ncpus; c++) {
        out->packets += v[c].packets;
        out->bytes += v[c].bytes;
        pkts_lo += v[c].packets_lo;
        bytes_lo += v[c].bytes_lo;
        if (v[c].last_seen_ns > out->last_seen_ns)
            out->last_seen_ns = v[c].last_seen_ns;
    }
    out->packets_fwd = src_hi ? out->packets - pkts_lo : pkts_lo;
    out->bytes_fwd = src_hi ? out->bytes - bytes_lo : bytes_lo;
}

int dp_afxdp_bypass_read(struct dp_afxdp *src, unsigned qi, const struct dp_flow_tuple *t,
                         struct dp_bypass_counters *out)
{
    struct dp_afxdp_queue *q = &src->q[qi];
    struct tl_flow_key key;

    int hi = afx_tuple_key(t, &key);
    if (hi < 0)
        return -E2BIG;
    if (bpf_map_lookup_elem(src->bypass_fd, &key, q->percpu))
        return -errno;
    afx_sum_flow(src, q->percpu, hi, out);
    return 0;
}

int dp_afxdp_bypass_del(struct dp_afxdp *src, unsigned qi, const struct dp_flow_tuple *t,
                        struct dp_bypass_counters *out)
{
    struct dp_afxdp_queue *q = &src->q[qi];
    struct tl_flow_key key;

    int hi = afx_tuple_key(t, &key);
    if (hi < 0)
        return -E2BIG;
    if (bpf_map_lookup_elem(src->bypass_fd, &key, q->percpu))
        return -errno;
    if (out)
        afx_sum_flow(src, q->percpu, hi, out);
    if (bpf_map_delete_elem(src->bypass_fd, &key))
        return -errno;
    return 0;
}

void *dp_afxdp_queue_handle(struct dp_afxdp *src, unsigned q)
{
    return q < src->nq ? &src->q[q] : NULL;
}

int dp_afxdp_handle_rx(void *handle, struct dp_packet *pkts, unsigned max)
{
    struct dp_afxdp_queue *q = handle;
    unsigned n = dp_afxdp_rx_burst(q->src, q->id, pkts, max);

    if (n == 0 && dp_afxdp_wait(q->src, q->id, 10) > 0)
        n = dp_afxdp_rx_burst(q->src, q->id, pkts, max);
    return (int)n;
}

void dp_afxdp_handle_release(void *handle, struct dp_packet *pkts, unsigned n)
{
    struct dp_afxdp_queue *q = handle;

    (void)pkts;
    (void)n;
    dp_afxdp_release(q->src, q->id);
}

void dp_afxdp_handle_stats(void *handle, struct dp_source_stats *out)
{
    struct dp_afxdp_queue *q = handle;
    struct dp_afxdp_queue_stats qs;

    dp_afxdp_queue_stats(q->src, q->id, &qs);
    out->packets += qs.packets;
    out->bytes += qs.bytes;
    out->kernel_drops += qs.rx_dropped + qs.rx_ring_full;
    out->errors += qs.rx_invalid_descs;
}

int dp_afxdp_handle_bypass_add(void *handle, const struct dp_flow_tuple *t)
{
    struct dp_afxdp_queue *q = handle;
    return dp_afxdp_bypass_add(q->src, q->id, t);
}

int dp_afxdp_handle_bypass_take(void *handle, const struct dp_flow_tuple *t,
                                struct dp_bypass_counters *out)
{
    struct dp_afxdp_queue *q = handle;
    return dp_afxdp_bypass_del(q->src, q->id, t, out);
}

void dp_afxdp_close(struct dp_afxdp *src)
{
    if (!src)
        return;
    if (src->q) {
        for (unsigned i = 0; i < src->nq; i++) {
            struct dp_afxdp_queue *q = &src->q[i];
            if (q->xsk) {
                uint32_t key = q->id;
                if (src->xsks_fd >= 0)
                    bpf_map_delete_elem(src->xsks_fd, &key);
                xsk_socket__delete(q->xsk);
            }
            if (q->umem)
                xsk_umem__delete(q->umem);
            if (q->area)
                munmap(q->area, q->area_len);
            free(q->percpu);
        }
        free(src->q);
    }
    if (src->attached)
        xdp_program__detach(src->prog, src->ifindex, src->mode, 0);
    /* A program made from an external object leaves the object to its owner, the skeleton. */
    xdp_program__close(src->prog);
    tripline_xdp_bpf__destroy(src->skel);
    free(src->counters_scratch);
    free(src);
}

int dp_afxdp_detach(const char *iface, char *err, size_t errlen)
{
    int ifindex = (int)if_nametoindex(iface);
    int rc = -ENOENT;

    if (ifindex == 0)
        return afx_fail(err, errlen, -ENODEV, "xdp-detach: interface %s not found", iface);
    struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
    long e = libxdp_get_error(mp);
    if (e == -ENOENT || (!e && !mp))
        return afx_fail(err, errlen, -ENOENT, "xdp-detach: %s has no XDP program attached", iface);
    if (e)
        return afx_fail(err, errlen, (int)e, "xdp-detach: cannot inspect XDP programs on %s: %s",
                        iface, strerror((int)-e));
    if (xdp_multiprog__is_legacy(mp)) {
        struct xdp_program *p = xdp_multiprog__main_prog(mp);
        if (p && strcmp(xdp_program__name(p), TL_XDP_PROG_NAME) == 0)
            rc = xdp_multiprog__detach(mp);
    } else {
        for (struct xdp_program *p = xdp_multiprog__next_prog(NULL, mp); p;
             p = xdp_multiprog__next_prog(p, mp)) {
            if (strcmp(xdp_program__name(p), TL_XDP_PROG_NAME) == 0) {
                rc = xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0);
                break;
            }
        }
    }
    xdp_multiprog__close(mp);
    if (rc == -ENOENT)
        return afx_fail(err, errlen, -ENOENT,
                        "xdp-detach: %s has an XDP program, but not Tripline's: left in place", iface);
    if (rc)
        return afx_fail(err, errlen, rc, "xdp-detach: cannot detach from %s: %s", iface,
                        strerror(-rc));
    return 0;
}

bool dp_afxdp_attached(const char *iface)
{
    int ifindex = (int)if_nametoindex(iface);
    bool found = false;

    if (ifindex == 0)
        return false;
    struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
    if (libxdp_get_error(mp) || !mp)
        return false;
    if (xdp_multiprog__is_legacy(mp)) {
        struct xdp_program *p = xdp_multiprog__main_prog(mp);
        found = p && strcmp(xdp_program__name(p), TL_XDP_PROG_NAME) == 0;
    } else {
        for (struct xdp_program *p = xdp_multiprog__next_prog(NULL, mp); p && !found;
             p = xdp_multiprog__next_prog(p, mp))
            found = strcmp(xdp_program__name(p), TL_XDP_PROG_NAME) == 0;
    }
    xdp_multiprog__close(mp);
    return found;
}
