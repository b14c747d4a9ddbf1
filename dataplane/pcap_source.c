/* Capture files, memory captures and live interfaces through libpcap.
 *
 * Files are opened with nanosecond timestamp precision so pcap (usec or nsec) and pcapng
 * timestamps all arrive as nanoseconds. Before handing a file to libpcap we look at it
 * ourselves (exists, is a regular file, not empty, known magic) so the operator gets one clear
 * message naming the file instead of libpcap's generic "unknown file format".
 */
#include <errno.h>
#include <poll.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pcap_source.h"

struct dp_pcap {
    pcap_t *p;
    FILE *mem;           /* fmemopen stream of a memory source (libpcap closes it) */
    bool live;
    bool stopped;        /* pcap_breakloop seen on a live source */
    int linktype;        /* enum dp_linktype, -1 if unsupported */
    int dlt;             /* libpcap's DLT value */
    uint64_t size;       /* file size, 0 for live */
    uint64_t packets, bytes, cut;
    char name[256];
    char err[512];
};

/* Classic pcap (usec and nsec, both byte orders) and pcapng's section header block. */
static bool magic_known(uint32_t m)
{
    switch (m) {
    case 0xa1b2c3d4: case 0xd4c3b2a1: /* pcap, microseconds */
    case 0xa1b23c4d: case 0x4d3cb2a1: /* pcap, nanoseconds */
    case 0x0a0d0d0a:                  /* pcapng SHB (palindromic) */
        return true;
    default:
        return false;
    }
}

bool dp_linktype_supported(int linktype)
{
    switch (linktype) {
    case DP_LINK_NULL: case DP_LINK_ETHERNET: case DP_LINK_RAW: case DP_LINK_LOOP:
    case DP_LINK_LINUX_SLL: case DP_LINK_IPV4: case DP_LINK_IPV6: case DP_LINK_LINUX_SLL2:
        return true;
    default:
        return false;
    }
}

/* libpcap hands out DLT_* values, which differ from LINKTYPE_* for a few (DLT_RAW is 12 or 14
 * depending on the platform); map them back to the file format's numbers. */
static int dlt_to_linktype(int dlt)
{
    switch (dlt) {
    case DLT_NULL: return DP_LINK_NULL;
    case DLT_EN10MB: return DP_LINK_ETHERNET;
    case 12: /* DLT_RAW on most systems, DLT_LOOP on OpenBSD */
    case 14: /* DLT_RAW on OpenBSD */
    case 101: return DP_LINK_RAW;
    case 108: return DP_LINK_LOOP;
    case 113: return DP_LINK_LINUX_SLL;
    case 228: return DP_LINK_IPV4;
    case 229: return DP_LINK_IPV6;
    case 276: return DP_LINK_LINUX_SLL2;
    default: return -1;
    }
}

static struct dp_pcap *src_alloc(const char *name)
{
    struct dp_pcap *s = calloc(1, sizeof(*s));
    if (s)
        snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

/* Common tail of the open functions: link type check. Returns 0 or -EPROTONOSUPPORT. */
static int src_check_link(struct dp_pcap *s, char *err, size_t errlen)
{
    s->dlt = pcap_datalink(s->p);
    s->linktype = dlt_to_linktype(s->dlt);
    if (s->linktype < 0) {
        const char *n = pcap_datalink_val_to_name(s->dlt);
        snprintf(err, errlen, "%s: unsupported link type %d (%s)", s->name, s->dlt, n ? n : "unknown");
        return -EPROTONOSUPPORT;
    }
    return 0;
}

struct dp_pcap *dp_pcap_open_file(const char *path, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct stat st;
    struct dp_pcap *s;

    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: cannot open capture: %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory, not a capture file", path);
        return NULL;
    }
    if (S_ISREG(st.st_mode)) {
        if (st.st_size == 0) {
            snprintf(err, errlen, "%s: empty file, not a capture", path);
            return NULL;
        }
        FILE *f = fopen(path, "rb");
        if (!f) {
            snprintf(err, errlen, "%s: cannot open capture: %s", path, strerror(errno));
            return NULL;
        }
        uint8_t b[4];
        size_t got = fread(b, 1, sizeof(b), f);
        fclose(f);
        if (got < sizeof(b)) {
            snprintf(err, errlen, "%s: too short to be a capture (%zu bytes)", path, got);
            return NULL;
        }
        uint32_t magic = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (!magic_known(magic)) {
            snprintf(err, errlen, "%s: not a pcap or pcapng file (wrong magic 0x%08" PRIx32 ")",
                     path, magic);
            return NULL;
        }
    }
    s = src_alloc(path);
    if (!s) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    s->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    s->p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (!s->p) {
        snprintf(err, errlen, "%s: cannot read capture: %s", path, ebuf);
        goto out_free;
    }
    if (src_check_link(s, err, errlen) < 0)
        goto out_close;
    return s;

out_close:
    pcap_close(s->p);
out_free:
    free(s);
    return NULL;
}

struct dp_pcap *dp_pcap_open_memory(const void *buf, size_t len, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct dp_pcap *s;

    if (len < 4) {
        snprintf(err, errlen, "<memory>: too short to be a capture (%zu bytes)", len);
        return NULL;
    }
    s = src_alloc("<memory>");
    if (!s) {
        snprintf(err, errlen, "<memory>: out of memory");
        return NULL;
    }
    s->size = len;
    /* fmemopen takes a non-const buffer but "r" mode never writes it */
    s->mem = fmemopen((void *)(uintptr_t)buf, len, "rb");
    if (!s->mem) {
        snprintf(err, errlen, "<memory>: fmemopen: %s", strerror(errno));
        goto out_free;
    }
    s->p = pcap_fopen_offline_with_tstamp_precision(s->mem, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (!s->p) {
        snprintf(err, errlen, "<memory>: cannot read capture: %s", ebuf);
        fclose(s->mem);
        goto out_free;
    }
    if (src_check_link(s, err, errlen) < 0) {
        pcap_close(s->p); /* closes s->mem too */
        goto out_free;
    }
    return s;

out_free:
    free(s);
    return NULL;
}

struct dp_pcap *dp_pcap_open_live(const char *iface, const char *bpf, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct dp_pcap *s = src_alloc(iface);
    int rc;

    if (!s) {
        snprintf(err, errlen, "%s: out of memory", iface);
        return NULL;
    }
    s->live = true;
    s->p = pcap_create(iface, ebuf);
    if (!s->p) {
        snprintf(err, errlen, "%s: cannot open interface: %s", iface, ebuf);
        goto out_free;
    }
    pcap_set_snaplen(s->p, 65535);
    pcap_set_promisc(s->p, 1);
    pcap_set_immediate_mode(s->p, 1);
    pcap_set_timeout(s->p, 100); /* ms: a blocked read returns so the reader can flush batches */
    pcap_set_buffer_size(s->p, 64 << 20);
    pcap_set_tstamp_precision(s->p, PCAP_TSTAMP_PRECISION_NANO); /* best effort: falls back to usec */
    rc = pcap_activate(s->p);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot capture: %s", iface,
                 rc == PCAP_ERROR ? pcap_geterr(s->p) : pcap_statustostr(rc));
        goto out_close;
    }
    if (bpf && *bpf) {
        struct bpf_program prog;
        if (pcap_compile(s->p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) < 0 ||
            pcap_setfilter(s->p, &prog) < 0) {
            snprintf(err, errlen, "%s: bad capture filter \"%s\": %s", iface, bpf, pcap_geterr(s->p));
            goto out_close;
        }
        pcap_freecode(&prog);
    }
    if (src_check_link(s, err, errlen) < 0)
        goto out_close;
    /* libpcap's blocking read on Linux keeps polling past its timeout until a packet comes, so
     * a quiet link would never let the reader see a stop request: read non-blocking and wait
     * in our own poll with a timeout instead */
    if (pcap_setnonblock(s->p, 1, ebuf) < 0 || pcap_get_selectable_fd(s->p) < 0) {
        snprintf(err, errlen, "%s: cannot set non-blocking capture: %s", iface, ebuf);
        goto out_close;
    }
    return s;

out_close:
    pcap_close(s->p);
out_free:
    free(s);
    return NULL;
}

int dp_pcap_next(struct dp_pcap *s, struct dp_packet *pkt)
{
    struct pcap_pkthdr *h;
    const u_char *data;

    if (s->stopped)
        return 0;
    int rc = pcap_next_ex(s->p, &h, &data);
    if (rc == 1) {
        pkt->data = data;
        pkt->caplen = h->caplen;
        pkt->wirelen = h->len < h->caplen ? h->caplen : h->len;
        /* tv_usec holds nanoseconds: the handle was opened with nanosecond precision */
        uint64_t frac = (uint64_t)h->ts.tv_usec;
        if (s->live && pcap_get_tstamp_precision(s->p) != PCAP_TSTAMP_PRECISION_NANO)
            frac *= 1000;
        pkt->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000ull + frac;
        pkt->hash = 0;
        pkt->linktype = (uint16_t)s->linktype;
        pkt->queue = 0;
        s->packets++;
        s->bytes += pkt->wirelen;
        if (h->caplen < h->len)
            s->cut++;
        return 1;
    }
    if (rc == 0) {
        /* live, nothing waiting: sleep until traffic or 100 ms, then let the caller look */
        struct pollfd pfd = {.fd = pcap_get_selectable_fd(s->p), .events = POLLIN};
        poll(&pfd, 1, 100);
        return 0;
    }
    if (rc == PCAP_ERROR_BREAK) {
        if (s->live)
            s->stopped = true;
        return 0; /* end of file, or broken out of a live read */
    }
    const char *perr = pcap_geterr(s->p);
    if (!s->live && strstr(perr, "truncated"))
        snprintf(s->err, sizeof(s->err), "%s: truncated record after %" PRIu64 " packets (%s)",
                 s->name, s->packets, perr);
    else
        snprintf(s->err, sizeof(s->err), "%s: read error after %" PRIu64 " packets: %s", s->name,
                 s->packets, perr);
    return -EIO;
}

const char *dp_pcap_error(const struct dp_pcap *s)
{
    return s->err;
}

int dp_pcap_linktype(const struct dp_pcap *s)
{
    return s->linktype;
}

uint64_t dp_pcap_offset(const struct dp_pcap *s)
{
    if (s->live)
        return 0;
    FILE *f = pcap_file(s->p);
    long off = f ? ftell(f) : -1;
    return off < 0 ? 0 : (uint64_t)off;
}

uint64_t dp_pcap_size(const struct dp_pcap *s)
{
    return s->size;
}

void dp_pcap_stats(struct dp_pcap *s, struct dp_source_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->packets = s->packets;
    out->bytes = s->bytes;
    if (s->live) {
        struct pcap_stat ps;
        if (pcap_stats(s->p, &ps) == 0) {
            out->kernel_drops = ps.ps_drop;
            out->iface_drops = ps.ps_ifdrop;
        }
    }
}

uint64_t dp_pcap_snaplen_cut(const struct dp_pcap *s)
{
    return s->cut;
}

void dp_pcap_break(struct dp_pcap *s)
{
    if (s && s->p)
        pcap_breakloop(s->p);
}

void dp_pcap_close(struct dp_pcap *s)
{
    if (!s)
        return;
    if (s->p)
        pcap_close(s->p); /* also closes the fmemopen stream of a memory source */
    free(s);
}
