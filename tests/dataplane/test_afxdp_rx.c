/* AF_XDP receiver used by the root integration test (tests/netns/afxdp_veth.sh) and the
 * benchmark: attaches Tripline's XDP program through the AF_XDP source, receives until told to
 * stop, and prints every counter as key=value lines so the script can check the accounting.
 *
 *   test_afxdp_rx -i IFACE [-q N] [--skb] [--copy] [--bypass P,SRC,SPORT,DST,DPORT]
 *                 [--ready FILE] [--expect-file FILE] [--seconds S]
 *       receive; SIGTERM/SIGINT stops. With --expect-file, after the stop signal it reads the
 *       number of frames the peer sent and drains until the kernel has seen them all and every
 *       redirected frame is received or counted as dropped (5 s at most).
 *   test_afxdp_rx --detach -i IFACE        detach a left-over program (exit 0, 3 if none)
 *   test_afxdp_rx --attached -i IFACE      exit 0 if Tripline's program is attached, 1 if not
 *   test_afxdp_rx --count-flow FILE --flow T [--max-frame N]   packets of flow T in FILE
 *   test_afxdp_rx --top-flow FILE [--max-frame N]              busiest TCP/UDP flow of FILE
 * Exit codes: 0 ok, 1 failure, 2 usage, 3 open failed with -EBUSY, 4 -ENODEV, 77 -EPERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "afxdp_source.h"
#include "pcap_source.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void log_stderr(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "%s\n", msg);
}

static int parse_tuple(const char *s, struct dp_flow_tuple *t)
{
    char buf[256], *save = NULL;
    char *f[5];
    int n = 0;

    snprintf(buf, sizeof(buf), "%s", s);
    for (char *p = strtok_r(buf, ",", &save); p && n < 5; p = strtok_r(NULL, ",", &save))
        f[n++] = p;
    if (n != 5)
        return -1;
    memset(t, 0, sizeof(*t));
    t->proto = (uint8_t)atoi(f[0]);
    t->sport = (uint16_t)atoi(f[2]);
    t->dport = (uint16_t)atoi(f[4]);
    if (inet_pton(AF_INET, f[1], t->src) == 1 && inet_pton(AF_INET, f[3], t->dst) == 1)
        t->ip_version = 4;
    else if (inet_pton(AF_INET6, f[1], t->src) == 1 && inet_pton(AF_INET6, f[3], t->dst) == 1)
        t->ip_version = 6;
    else
        return -1;
    return 0;
}

/* Minimal Ethernet/VLAN/IPv4/IPv6/TCP/UDP parse (no extension headers, no fragments): enough
 * to recognise the test's flow in user space. Returns 0 with *t filled. */
static int packet_tuple(const uint8_t *p, uint32_t len, struct dp_flow_tuple *t)
{
    uint32_t off = 14;
    uint16_t et;

    if (len < 14)
        return -1;
    et = (uint16_t)(p[12] << 8 | p[13]);
    for (int i = 0; i < 2 && (et == 0x8100 || et == 0x88a8); i++) {
        if (len < off + 4)
            return -1;
        et = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
        off += 4;
    }
    memset(t, 0, sizeof(*t));
    if (et == 0x0800) {
        if (len < off + 20 || (p[off] >> 4) != 4)
            return -1;
        uint32_t ihl = (uint32_t)(p[off] & 15) * 4;
        if (ihl < 20 || (((p[off + 6] << 8) | p[off + 7]) & 0x3fff))
            return -1;
        t->ip_version = 4;
        t->proto = p[off + 9];
        memcpy(t->src, p + off + 12, 4);
        memcpy(t->dst, p + off + 16, 4);
        off += ihl;
    } else if (et == 0x86dd) {
        if (len < off + 40 || (p[off] >> 4) != 6)
            return -1;
        t->ip_version = 6;
        t->proto = p[off + 6];
        memcpy(t->src, p + off + 8, 16);
        memcpy(t->dst, p + off + 24, 16);
        off += 40;
    } else {
        return -1;
    }
    if (t->proto == 6 || t->proto == 17) {
        if (len < off + 4)
            return -1;
        t->sport = (uint16_t)(p[off] << 8 | p[off + 1]);
        t->dport = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
    }
    return 0;
}

static bool tuple_same_flow(const struct dp_flow_tuple *a, const struct dp_flow_tuple *b)
{
    size_t al = a->ip_version == 4 ? 4 : 16;

    if (a->ip_version != b->ip_version || a->proto != b->proto)
        return false;
    if (!memcmp(a->src, b->src, al) && !memcmp(a->dst, b->dst, al) && a->sport == b->sport &&
        a->dport == b->dport)
        return true;
    return !memcmp(a->src, b->dst, al) && !memcmp(a->dst, b->src, al) && a->sport == b->dport &&
           a->dport == b->sport;
}

static void print_tuple(const struct dp_flow_tuple *t)
{
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    int af = t->ip_version == 4 ? AF_INET : AF_INET6;

    inet_ntop(af, t->src, s, sizeof(s));
    inet_ntop(af, t->dst, d, sizeof(d));
    printf("%u,%s,%u,%s,%u\n", t->proto, s, t->sport, d, t->dport);
}

/* Counts the packets of flow t in a capture, or (t NULL) prints the busiest TCP/UDP flow. */
static int scan_pcap(const char *path, const struct dp_flow_tuple *t, uint32_t max_frame)
{
    enum { SLOTS = 8192 };
    static struct {
        struct dp_flow_tuple t;
        uint64_t n;
    } tab[SLOTS];
    char err[256];
    struct dp_pcap *pc = dp_pcap_open_file(path, err, sizeof(err));
    struct dp_packet pkt;
    uint64_t count = 0;
    int rc;

    if (!pc) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    while ((rc = dp_pcap_next(pc, &pkt)) == 1) {
        struct dp_flow_tuple pt;
        if (max_frame && pkt.wirelen > max_frame)
            continue; /* the sender cannot put it on the wire */
        if (packet_tuple(pkt.data, pkt.caplen, &pt))
            continue;
        if (t) {
            count += tuple_same_flow(t, &pt);
            continue;
        }
        if (pt.proto != 6 && pt.proto != 17)
            continue;
        for (unsigned i = 0, h = (pt.sport ^ pt.dport ^ pt.src[3] ^ pt.dst[3]) % SLOTS; i < SLOTS;
             i++, h = (h + 1) % SLOTS) {
            if (tab[h].n == 0) {
                tab[h].t = pt;
                tab[h].n = 1;
                break;
            }
            if (tuple_same_flow(&tab[h].t, &pt)) {
                tab[h].n++;
                break;
            }
        }
    }
    dp_pcap_close(pc);
    if (rc < 0)
        return 1;
    if (t) {
        printf("%llu\n", (unsigned long long)count);
        return 0;
    }
    unsigned best = 0;
    for (unsigned i = 1; i < SLOTS; i++)
        if (tab[i].n > tab[best].n)
            best = i;
    if (tab[best].n == 0)
        return 1;
    print_tuple(&tab[best].t);
    return 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    struct dp_afxdp_config cfg;
    struct dp_flow_tuple bypass;
    bool have_bypass = false, do_detach = false, do_attached = false;
    const char *ready = NULL, *expect_file = NULL, *count_flow = NULL, *top_flow = NULL;
    uint32_t max_frame = 0;
    double seconds = 0;
    char err[512];
    int rc;

    dp_afxdp_config_default(&cfg);
    cfg.log = log_stderr;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-i") && v) {
            cfg.iface = v;
            i++;
        } else if (!strcmp(a, "-q") && v) {
            cfg.queues = (unsigned)atoi(v);
            i++;
        } else if (!strcmp(a, "--skb")) {
            cfg.force_skb = true;
        } else if (!strcmp(a, "--copy")) {
            cfg.force_copy = true;
        } else if (!strcmp(a, "--frames") && v) {
            cfg.frames = (unsigned)atoi(v);
            i++;
        } else if ((!strcmp(a, "--bypass") || !strcmp(a, "--flow")) && v) {
            if (parse_tuple(v, &bypass)) {
                fprintf(stderr, "bad tuple %s (want PROTO,SRC,SPORT,DST,DPORT)\n", v);
                return 2;
            }
            have_bypass = true;
            i++;
        } else if (!strcmp(a, "--ready") && v) {
            ready = v;
            i++;
        } else if (!strcmp(a, "--expect-file") && v) {
            expect_file = v;
            i++;
        } else if (!strcmp(a, "--seconds") && v) {
            seconds = atof(v);
            i++;
        } else if (!strcmp(a, "--max-frame") && v) {
            max_frame = (uint32_t)atoi(v);
            i++;
        } else if (!strcmp(a, "--count-flow") && v) {
            count_flow = v;
            i++;
        } else if (!strcmp(a, "--top-flow") && v) {
            top_flow = v;
            i++;
        } else if (!strcmp(a, "--detach")) {
            do_detach = true;
        } else if (!strcmp(a, "--attached")) {
            do_attached = true;
        } else {
            fprintf(stderr, "usage: see the head of test_afxdp_rx.c (bad argument %s)\n", a);
            return 2;
        }
    }
    if (count_flow)
        return have_bypass ? scan_pcap(count_flow, &bypass, max_frame) : 2;
    if (top_flow)
        return scan_pcap(top_flow, NULL, max_frame);
    if (!cfg.iface)
        return 2;
    if (do_attached)
        return dp_afxdp_attached(cfg.iface) ? 0 : 1;
    if (do_detach) {
        rc = dp_afxdp_detach(cfg.iface, err, sizeof(err));
        if (rc)
            fprintf(stderr, "%s\n", err);
        return rc == 0 ? 0 : rc == -ENOENT ? 3 : 1;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int e = 0;
    struct dp_afxdp *src = dp_afxdp_open(&cfg, &e, err, sizeof(err));
    if (!src) {
        fprintf(stderr, "%s\n", err);
        return e == -EBUSY ? 3 : e == -ENODEV ? 4 : e == -EPERM ? 77 : 1;
    }
    if (have_bypass && (rc = dp_afxdp_bypass_add(src, 0, &bypass))) {
        fprintf(stderr, "bypass_add: %s\n", strerror(-rc));
        dp_afxdp_close(src);
        return 1;
    }
    if (ready) {
        FILE *f = fopen(ready, "w");
        if (f)
            fclose(f);
    }

    unsigned nq = dp_afxdp_queue_count(src);
    struct dp_packet pkts[64];
    uint64_t flow_user = 0, start = mono_ms(), first_ms = 0, last_ms = 0, received = 0;
    uint64_t stop_at = 0, expected = 0;
    bool draining = false;
    for (;;) {
        unsigned got = 0;
        for (unsigned q = 0; q < nq; q++) {
            unsigned n = dp_afxdp_rx_burst(src, q, pkts, 64);
            for (unsigned i = 0; i < n && have_bypass; i++) {
                struct dp_flow_tuple pt;
                if (!packet_tuple(pkts[i].data, pkts[i].caplen, &pt) && tuple_same_flow(&bypass, &pt))
                    flow_user++;
            }
            dp_afxdp_release(src, q);
            got += n;
        }
        if (got) {
            uint64_t now = mono_ms();
            if (!first_ms)
                first_ms = now;
            last_ms = now;
            received += got;
        }
        if (seconds > 0 && mono_ms() - start >= (uint64_t)(seconds * 1000))
            break;
        if (g_stop && !draining) {
            draining = true;
            stop_at = mono_ms();
            if (!expect_file)
                break;
            FILE *f = fopen(expect_file, "r");
            unsigned long long v = 0;
            if (!f || fscanf(f, "%llu", &v) != 1) {
                fprintf(stderr, "cannot read the expected count from %s\n", expect_file);
                if (f)
                    fclose(f);
                break;
            }
            fclose(f);
            expected = v;
        }
        if (draining) {
            struct dp_xdp_counters kc;
            struct dp_source_stats ss;
            dp_afxdp_kernel_counters(src, &kc);
            dp_afxdp_stats(src, &ss);
            if (kc.packets >= expected && ss.packets + ss.kernel_drops >= kc.redirected)
                break;
            if (mono_ms() - stop_at > 5000) {
                fprintf(stderr, "drain timed out\n");
                break;
            }
        }
        if (!got && !draining)
            dp_afxdp_wait(src, 0, 50);
    }

    struct dp_xdp_counters kc;
    struct dp_source_stats ss;
    dp_afxdp_kernel_counters(src, &kc);
    dp_afxdp_stats(src, &ss);
    printf("mode=%s\n", dp_afxdp_native(src) ? "native" : "skb");
    printf("queues=%u\n", nq);
    printf("received=%llu\nreceived_bytes=%llu\n", (unsigned long long)ss.packets,
           (unsigned long long)ss.bytes);
    printf("sock_drops=%llu\nsock_errors=%llu\n", (unsigned long long)ss.kernel_drops,
           (unsigned long long)ss.errors);
    printf("xdp_packets=%llu\nxdp_bytes=%llu\nxdp_redirected=%llu\nxdp_bypassed=%llu\n"
           "xdp_bypassed_bytes=%llu\nxdp_no_socket=%llu\nxdp_parse_failed=%llu\n"
           "xdp_ipv4=%llu\nxdp_ipv6=%llu\nxdp_tcp=%llu\nxdp_udp=%llu\nxdp_non_ip=%llu\nxdp_vlan=%llu\n",
           (unsigned long long)kc.packets, (unsigned long long)kc.bytes,
           (unsigned long long)kc.redirected, (unsigned long long)kc.bypassed_packets,
           (unsigned long long)kc.bypassed_bytes, (unsigned long long)kc.no_socket,
           (unsigned long long)kc.parse_failed, (unsigned long long)kc.ipv4,
           (unsigned long long)kc.ipv6, (unsigned long long)kc.tcp, (unsigned long long)kc.udp,
           (unsigned long long)kc.non_ip, (unsigned long long)kc.vlan);
    if (have_bypass) {
        struct dp_bypass_counters bc = {0};
        rc = dp_afxdp_bypass_del(src, 0, &bypass, &bc);
        printf("flow_user=%llu\nflow_kernel_packets=%llu\nflow_kernel_bytes=%llu\nflow_in_map=%d\n",
               (unsigned long long)flow_user, (unsigned long long)bc.packets,
               (unsigned long long)bc.bytes, rc == 0);
    }
    for (unsigned q = 0; q < nq; q++) {
        struct dp_afxdp_queue_stats qs;
        dp_afxdp_queue_stats(src, q, &qs);
        printf("received_q%u=%llu\n", q, (unsigned long long)qs.packets);
    }
    if (received && last_ms > first_ms)
        printf("rx_pps=%.0f\n", (double)received * 1000.0 / (double)(last_ms - first_ms));
    dp_afxdp_close(src);
    return 0;
}
