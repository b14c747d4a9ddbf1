/* End-to-end: the app-layer parsers on real captures (the suricata-verify tests whose rules use
 * HTTP, DNS and TLS buffers, and ndpi captures). Packets go through the real decoder and flow
 * table; TCP payloads are fed in sequence order by a minimal in-test sequencer (retransmissions
 * dropped, SYN data kept) since this checks the parsers, not reassembly. Each check names the
 * buffer a suricata-verify rule inspects and what that rule's content expects there, with how
 * many transactions Suricata's expected alert count implies.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "applayer.h"
#include "decode.h"
#include "flow.h"
#include "pcap_source.h"

struct check {
    const char *pcap;        /* relative to TRIPLINE_SHARED_DATA */
    enum app_buffer buf;
    int dir;                 /* flow_dir to inspect, or -1 for either */
    const char *needle;      /* substring that must be in the buffer */
    size_t needle_len;
    bool exact;              /* buffer must equal needle */
    unsigned want;           /* transactions whose buffer holds it */
};

#define S(x) x, sizeof(x) - 1

static const struct check checks[] = {
    {"suricata-verify-app-A/http-response-line/input.pcap", APP_BUF_HTTP_RESPONSE_LINE, 1,
     S("HTTP/1.0 200 OK"), true, 1},
    {"suricata-verify-app-A/uricontent/detect-uricontent-02/input.pcap", APP_BUF_HTTP_URI, 0,
     S("one"), false, 2},
    {"suricata-verify-app-A/uricontent/detect-uricontent-02/input.pcap", APP_BUF_HTTP_URI, 0,
     S("self"), false, 1},
    {"suricata-verify-app-A/bug-6269-01/input.pcap", APP_BUF_HTTP_URI, 0,
     S("/test_lastline_blocking"), false, 1},
    {"suricata-verify-app-A/tcp-fastopen-01/tfo.pcap", APP_BUF_HTTP_URI, 0, S("/etc/passwd"),
     false, 1},
    {"suricata-verify-app-A/tcp-fastopen-01/tfo.pcap", APP_BUF_HTTP_URI_RAW, 0, S("/etc/passwd"),
     false, 1},
    {"suricata-verify-app-A/http-async/input.pcap", APP_BUF_FILE_DATA, 1, S("World"), false, 1},
    {"suricata-verify-app-A/http-async/input.pcap", APP_BUF_FILE_DATA, 1, S("People"), false, 1},
    {"suricata-verify-app-A/http-post-file/input.pcap", APP_BUF_FILE_DATA, 0,
     S("X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"), false, 1},
    {"suricata-verify-app-A/engine-state/detect-engine-state-01/input.pcap", APP_BUF_HTTP_COOKIE,
     0, S("dummy"), false, 2},
    {"suricata-verify-app-A/http-encoding-gzip-uncompressed/input.pcap",
     APP_BUF_HTTP_REQUEST_BODY, 0, S("\"sdk_version\":"), false, 1},
    {"suricata-verify-app-A/detect-bsize-0/input.pcap", APP_BUF_HTTP_USER_AGENT, 0, S(""), true, 1},
    {"suricata-verify-app-A/http-missing-protocol/input.pcap", APP_BUF_HTTP_HEADER_NAMES, 0,
     S("User-Agent"), false, 1},
    {"suricata-verify-app-A/tls/tls-cert-issuer/tls.pcap", APP_BUF_TLS_CERT_ISSUER, 1,
     S("O=Stamus"), false, 4},
    {"suricata-verify-app-A/tls/tls-subject-zero/input.pcap", APP_BUF_TLS_CERT_SUBJECT, 1,
     S("C=US, ST=WA, L=Redmond, O=Microsoft Corporat\0on, OU=Microsoft Corporation, "
       "CN=go.microsoft.com"), true, 1},
    {"suricata-verify-app-A/tls/tls-client-hello-frag-01/dump_mtu300.pcap", APP_BUF_TLS_SNI, 0,
     S("google"), false, 1},
    {"suricata-verify-app-A/dns/dns-query/dns-detect-query-02/input.pcap", APP_BUF_DNS_QUERY, 0,
     S("google.com"), false, 1},
    {"suricata-verify-app-A/dns/dns-query/dns-detect-query-02/input.pcap", APP_BUF_DNS_QUERY, 0,
     S("google.net"), false, 1},
    {"suricata-verify-app-A/issues/issue-4759.1/tcpdns.pcap", APP_BUF_DNS_QUERY, 0, S(".com"),
     false, 2},
};

static uint64_t run_bytes, run_pkts, al_ns;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* ---- a minimal per-flow sequencer ---- */

#define MAX_SEQ_FLOWS 65536 /* power of two */

struct seq_ent {
    uint64_t flow_id;
    uint32_t next[2];
    uint8_t known[2];
};

struct run {
    struct applayer_ctx *al;
    const struct check *c;
    unsigned hits;
    struct seq_ent seq[MAX_SEQ_FLOWS];
};

/* Open addressing on the flow id; when full, the oldest entries are simply overwritten (a flow
 * then restarts sequencing at its next packet, as after a gap). */
static struct seq_ent *seq_of(struct run *r, uint64_t id)
{
    uint32_t h = (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 52) & (MAX_SEQ_FLOWS - 1);
    for (unsigned k = 0; k < 8; k++) {
        struct seq_ent *e = &r->seq[(h + k) & (MAX_SEQ_FLOWS - 1)];
        if (e->flow_id == id)
            return e;
        if (e->flow_id == 0) {
            memset(e, 0, sizeof(*e));
            e->flow_id = id;
            return e;
        }
    }
    struct seq_ent *e = &r->seq[h];
    memset(e, 0, sizeof(*e));
    e->flow_id = id;
    return e;
}

static void on_tx(void *ctx, struct flow *f, const struct applayer_tx *tx, enum flow_dir dir)
{
    (void)f;
    struct run *r = ctx;
    const struct check *c = r->c;
    if (!c || (c->dir >= 0 && (int)dir != c->dir))
        return;
    for (uint32_t idx = 0;; idx++) {
        const uint8_t *p;
        uint32_t l;
        if (!applayer_tx_buffer(tx, c->buf, dir, idx, &p, &l))
            break;
        bool ok;
        if (c->exact)
            ok = l == c->needle_len && memcmp(p, c->needle, l) == 0;
        else
            ok = memmem(p, l, c->needle, c->needle_len) != NULL;
        if (ok) {
            r->hits++;
            break;
        }
    }
}

static void on_end(void *ctx, struct flow *f)
{
    struct run *r = ctx;
    applayer_flow_end(r->al, f);
}

static void tcp_feed(struct run *r, struct flow *f, enum flow_dir dir, const struct pkt_meta *m)
{
    struct seq_ent *e = seq_of(r, f->flow_id);
    if (!e)
        return;
    uint32_t seq = m->tcp_seq;
    if (m->tcp_flags & 0x02) { /* SYN: data (TCP Fast Open) starts at seq + 1 */
        seq++;
        e->next[dir] = seq;
        e->known[dir] = 1;
    }
    if (m->payload_len == 0)
        return;
    if (!e->known[dir]) {
        e->next[dir] = seq;
        e->known[dir] = 1;
    }
    int32_t d = (int32_t)(seq - e->next[dir]);
    const uint8_t *p = m->payload;
    uint32_t n = m->payload_len;
    if (d < 0) { /* retransmission, maybe with new bytes at its end */
        if ((uint32_t)-d >= n)
            return;
        p += (uint32_t)-d;
        n -= (uint32_t)-d;
    } else if (d > 0) {
        applayer_tcp_gap(r->al, f, dir); /* a hole: this checker does not reorder */
    }
    uint64_t t0 = now_ns();
    applayer_tcp_data(r->al, f, dir, p, n, m->ts_ns);
    al_ns += now_ns() - t0;
    e->next[dir] = seq + (d < 0 ? (uint32_t)-d : 0) + n;
}

static int run_file(const char *path, const struct check *c, struct run *r, bool print_stats)
{
    char err[256];
    struct dp_pcap *src = dp_pcap_open_file(path, err, sizeof(err));
    if (!src) {
        fprintf(stderr, "%s\n", err);
        return -ENOENT;
    }
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->al = applayer_ctx_new(NULL);
    struct decoder_config dc;
    decoder_config_default(&dc);
    struct decoder *dec = decoder_new(&dc);
    struct flow_config fc;
    flow_config_default(&fc);
    fc.max_flows = 4096;
    struct flow_table *ft = flow_table_new(&fc, on_end, r);
    if (!r->al || !dec || !ft)
        return -ENOMEM;
    applayer_ctx_set_callbacks(r->al, on_tx, r, NULL, NULL);
    struct dp_packet pkt;
    while (dp_pcap_next(src, &pkt) == 1) {
        struct pkt_meta m;
        if (decode_packet(dec, &pkt, &m) != DECODE_OK || !(m.flags & PKT_HAS_L4))
            continue;
        flow_table_expire(ft, m.ts_ns, 64); /* as a worker does, in packet time */
        enum flow_dir dir;
        struct flow *f = flow_table_update(ft, &m, &dir);
        if (!f)
            continue;
        run_pkts++;
        run_bytes += m.payload_len;
        if (m.flags & PKT_TCP)
            tcp_feed(r, f, dir, &m);
        else if (m.flags & PKT_UDP) {
            uint64_t t0 = now_ns();
            applayer_udp_data(r->al, f, dir, m.payload, m.payload_len, m.ts_ns);
            al_ns += now_ns() - t0;
        }
    }
    flow_table_flush(ft);
    const struct applayer_stats *st = applayer_get_stats(r->al);
    int rc = 0;
    if (print_stats) {
        printf("flows by app_proto:");
        for (int p = 0; p < APP_PROTO_MAX; p++)
            if (st->flows_detected[p])
                printf(" %s=%llu", app_proto_name((enum app_proto)p),
                       (unsigned long long)st->flows_detected[p]);
        printf("\ntransactions: http=%llu dns=%llu tls=%llu; no_state=%llu no_buffer=%llu\nanomalies:",
               (unsigned long long)st->http_tx, (unsigned long long)st->dns_tx,
               (unsigned long long)st->tls_tx, (unsigned long long)st->no_state,
               (unsigned long long)st->no_buffer);
        for (int a = 1; a < APPL_ANOMALY_MAX; a++)
            if (st->anomaly[a])
                printf(" %s=%llu", applayer_anomaly_name((enum applayer_anomaly)a),
                       (unsigned long long)st->anomaly[a]);
        printf("\n");
    }
    if (st->states_in_use || st->buffers_in_use) {
        fprintf(stderr, "%s: pooled memory not returned\n", c->pcap);
        rc = -EFAULT;
    }
    flow_table_free(ft);
    decoder_free(dec);
    applayer_ctx_free(r->al);
    dp_pcap_close(src);
    return rc;
}

static int run_check(const char *root, const struct check *c, struct run *r)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", root, c->pcap);
    return run_file(path, c, r, false);
}

int main(int argc, char **argv)
{
    static struct run r;
    if (argc == 3 && strcmp(argv[1], "--stats") == 0) {
        /* a tool mode: parser figures on any capture (decode + flow + sequencing included) */
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = run_file(argv[2], NULL, &r, true);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("%llu packets, %llu payload bytes in %.3f s (%.2f Mpps, %.2f Gbit/s of payload)\n",
               (unsigned long long)run_pkts, (unsigned long long)run_bytes, s, run_pkts / s / 1e6,
               run_bytes * 8.0 / s / 1e9);
        double as = (double)al_ns / 1e9;
        printf("app layer alone: %.3f s (%.2f Mpps, %.2f Gbit/s of payload, clock reads included)\n",
               as, run_pkts / as / 1e6, run_bytes * 8.0 / as / 1e9);
        return rc ? 1 : 0;
    }
    const char *root = getenv("TRIPLINE_SHARED_DATA");
    if (!root) {
        fprintf(stderr, "SKIP: TRIPLINE_SHARED_DATA not set\n");
        return 77;
    }
    unsigned failed = 0, n = sizeof(checks) / sizeof(checks[0]);
    for (unsigned i = 0; i < n; i++) {
        const struct check *c = &checks[i];
        int rc = run_check(root, c, &r);
        bool ok = rc == 0 && r.hits == c->want;
        printf("%-4s %-70s %-22s %u/%u\n", ok ? "ok" : "FAIL", c->pcap, app_buffer_name(c->buf),
               r.hits, c->want);
        failed += !ok;
    }
    printf("%u/%u checks passed\n", n - failed, n);
    return failed ? 1 : 0;
}
