/* bench_detect: detection throughput per core, all cases in one run so the ratios hold.
 *
 *   bench_detect [-n PACKETS] [-f FLOWS] [-e ET_RULES_GLOB] [-p PCAP]
 *
 * Generated traffic: TCP packets with 512-byte text payloads (pseudo-words) spread over FLOWS
 * established flows, each in sequence, so every packet goes through stream reassembly and
 * stream + packet matching, as on a worker. Cases: no rules, 1,000 and 10,000 generated content
 * rules (`alert tcp any any -> any any (content:"<word>"; sid:N;)`, 10-12 letter words drawn
 * from the same syllable generator as the payload text, so a few match), and the loadable part
 * of ET Open. One thread, one core: Mpps and
 * Gbps (payload bytes and wire bytes: 512 + 54 header bytes) and the ratio to the no-rules case
 * and to Suricata 4.1's figures on this machine (1.66 Gbps with 1,000 rules, 0.87 Gbps with
 * 10,000). With -p, the capture (default ../shared/data/pcaps/throughput_mix.pcap) is also
 * replayed from memory through decode -> flow -> detect with no rules and with ET Open.
 */
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

static struct ruleset *gen_rules(unsigned n)
{
    size_t cap = (size_t)n * 96 + 16;
    char *text = malloc(cap);
    size_t o = 0;
    text[0] = 0;
    for (unsigned i = 0; i < n; i++) {
        char w[16];
        do
            word(w, 13);
        while (strlen(w) < 10);
        o += (size_t)snprintf(text + o, cap - o,
                              "alert tcp any any -> any any (msg:\"gen %u\"; content:\"%s\"; sid:%u;)\n",
                              i, w, 1000000 + i);
    }
    char err[256];
    struct ruleset *rs = ruleset_load_string(NULL, text, "generated", NULL, err, sizeof(err));
    free(text);
    return rs;
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
    /* handshake each flow (SYN seen: reassembled) */
    for (unsigned i = 0; i < n_flows; i++) {
        flows[i].flow_id = i + 1;
        flows[i].key.proto = 6;
        flows[i].key.ip_version = 4;
        m.src[0] = 10;
        m.src[2] = (uint8_t)(i >> 8);
        m.src[3] = (uint8_t)i;
        m.dst[0] = 192;
        m.dst[1] = 168;
        m.sport = (uint16_t)(1024 + i);
        m.tcp_flags = 0x02;
        m.tcp_seq = seq[i] = rnd();
        m.payload_len = 0;
        detect_packet(dt, &m, &flows[i], FLOW_TO_SERVER, count_emit, NULL);
        flows[i].state = FLOW_STATE_ESTABLISHED;
        seq[i]++;
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
    for (unsigned i = 0; i < n_flows; i++)
        detect_flow_end(dt, &flows[i], count_emit, NULL);
    r.alerts = alerts;
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

int main(int argc, char **argv)
{
    unsigned n_pkts = 400000, n_flows = 1000;
    const char *shared = getenv("TRIPLINE_SHARED_DATA");
    char etpat[1024], pcapdef[1024];
    snprintf(etpat, sizeof(etpat), "%s/rules/et-open/*.rules", shared ? shared : "../shared/data");
    snprintf(pcapdef, sizeof(pcapdef), "%s/pcaps/throughput_mix.pcap",
             shared ? shared : "../shared/data");
    const char *et = etpat, *pcap = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) n_pkts = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "-f") && i + 1 < argc) n_flows = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "-e") && i + 1 < argc) et = argv[++i];
        else if (!strcmp(argv[i], "-p")) pcap = (i + 1 < argc && argv[i + 1][0] != '-') ? argv[++i] : pcapdef;
        else {
            fprintf(stderr, "usage: %s [-n packets] [-f flows] [-e et-glob] [-p [pcap]]\n", argv[0]);
            return 2;
        }
    }
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
    struct result res[8];
    unsigned nr = 0;
    struct ruleset *r0 = ruleset_load_string(NULL, "", "none", NULL, NULL, 0);
    struct ruleset *r1k = gen_rules(1000);
    struct ruleset *r10k = gen_rules(10000);
    unsigned et_failed = 0;
    struct ruleset *ret = et_rules(et, &et_failed);
    res[nr++] = run_generated("no rules", r0, payloads, n_payloads, n_pkts, n_flows);
    res[nr++] = run_generated("1,000 content rules", r1k, payloads, n_payloads, n_pkts, n_flows);
    res[nr++] = run_generated("10,000 content rules", r10k, payloads, n_payloads, n_pkts, n_flows);
    if (ret)
        res[nr++] = run_generated("ET Open (loadable)", ret, payloads, n_payloads, n_pkts, n_flows);
    printf("bench_detect: one core, %u TCP packets of %d-byte text payload over %u flows "
           "(stream reassembly + stream/packet matching)\n", n_pkts, PAYLOAD, n_flows);
    printf("%-24s %7s %8s %10s %10s %9s %10s %9s %8s\n", "case", "rules", "Mpps", "Gbps(pay)",
           "Gbps(wire)", "vs none", "compile_ms", "db_KiB", "alerts");
    for (unsigned i = 0; i < nr; i++)
        printf("%-24s %7u %8.3f %10.2f %10.2f %9.2f %10.1f %9zu %8" PRIu64 "\n", res[i].name,
               res[i].rules, res[i].mpps, res[i].gbps_payload, res[i].gbps_wire,
               res[i].mpps / res[0].mpps, res[i].compile_ms, res[i].db_bytes / 1024,
               res[i].alerts);
    printf("vs Suricata 4.1 (1 worker, same machine, 512-byte packets): 1,000 rules %.2fx of 1.66 Gbps, "
           "10,000 rules %.2fx of 0.87 Gbps (wire Gbps)\n",
           res[1].gbps_wire / 1.66, res[2].gbps_wire / 0.87);
    if (ret)
        printf("ET Open: %u rules loaded, %u failed (app-layer keywords, see --test-rules)\n",
               ruleset_count(ret), et_failed);
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
            struct result a = run_pcap("pcap, no rules", r0, pk, n, bytes);
            struct result b = ret ? run_pcap("pcap, ET Open", ret, pk, n, bytes) : a;
            printf("%s: %u packets\n", pcap, n);
            printf("%-24s %8.3f Mpps %8.2f Gbps (wire) alerts %" PRIu64 "\n", a.name, a.mpps,
                   a.gbps_wire, a.alerts);
            printf("%-24s %8.3f Mpps %8.2f Gbps (wire) alerts %" PRIu64 " (%.2fx of no rules; "
                   "Suricata 4.1: 0.16 Mpps, 0.40 Gbps)\n",
                   b.name, b.mpps, b.gbps_wire, b.alerts, b.mpps / a.mpps);
            for (unsigned i = 0; i < n; i++)
                free(pk[i].data);
            free(pk);
        }
    }
    ruleset_free(r0);
    ruleset_free(r1k);
    ruleset_free(r10k);
    ruleset_free(ret);
    free(payloads);
    return 0;
}
