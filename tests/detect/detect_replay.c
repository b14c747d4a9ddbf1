/* detect_replay: replays a capture through the engine's worker stages (engine_burst.h: decode
 * -> flow -> stream / app layer -> detect, in bursts as a worker runs them) and prints the
 * alerts. The detect stage's driver for tests and the load report: rule options (-S, -c, -T,
 * --set, --cache) without the engine's configuration, outputs and threads.
 *
 *   detect_replay [-r FILE.pcap] -S RULES [-S RULES...] [-c classification.config]
 *                 [-T threshold.config] [--set stream.midstream=true] [--cache DIR] [-q]
 *
 * Without -r it only loads and compiles the rules and prints the load report, compile time
 * and database memory. Output: one line per alert `alert sid:N gid:N rev:N src:port ->
 * dst:port stream:0|1`, then per-sid counts `count sid:N N`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "engine_burst.h"
#include "pcap_bursts.h"
#include "rules.h"

struct ctx {
    bool quiet;
    uint32_t *sids;
    uint64_t *counts;
    unsigned n_sids;
    uint64_t anomalies;
    FILE *eve;
};

static void addr_str(const uint8_t *a, int v, char *buf, size_t n)
{
    inet_ntop(v == 6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)n);
}

static bool emit(void *vctx, const struct event *ev)
{
    struct ctx *c = vctx;
    if (ev->type == EVENT_ANOMALY) {
        c->anomalies++;
        /* the stream's own (layer 1); decoder and app-layer anomalies are not this driver's */
        if (!c->quiet && ev->u.anomaly.layer == 1)
            printf("anomaly layer:%u code:%s\n", ev->u.anomaly.layer,
                   ev->u.anomaly.layer == 1 ? stream_anomaly_name(ev->u.anomaly.code) : "?");
        return true;
    }
    if (ev->type != EVENT_ALERT)
        return true;
    const struct event_alert *a = &ev->u.alert;
    if (!c->quiet) {
        char s[64], d[64];
        addr_str(ev->ref.src, ev->ref.ip_version, s, sizeof(s));
        addr_str(ev->ref.dst, ev->ref.ip_version, d, sizeof(d));
        printf("alert sid:%" PRIu32 " gid:%" PRIu32 " rev:%" PRIu32 " %s:%u -> %s:%u stream:%u "
               "msg:\"%s\"\n",
               a->sid, a->gid, a->rev, s, ev->ref.sport, d, ev->ref.dport, a->in_stream,
               a->rule->msg);
    }
    if (c->eve) {
        char s[64], d[64];
        addr_str(ev->ref.src, ev->ref.ip_version, s, sizeof(s));
        addr_str(ev->ref.dst, ev->ref.ip_version, d, sizeof(d));
        fprintf(c->eve,
                "{\"event_type\":\"alert\",\"src_ip\":\"%s\",\"src_port\":%u,"
                "\"dest_ip\":\"%s\",\"dest_port\":%u,\"alert\":{\"signature_id\":%" PRIu32
                ",\"gid\":%" PRIu32 ",\"rev\":%" PRIu32 ",\"severity\":%u}}\n",
                s, ev->ref.sport, d, ev->ref.dport, a->sid, a->gid, a->rev, a->severity);
    }
    unsigned i;
    for (i = 0; i < c->n_sids; i++)
        if (c->sids[i] == a->sid)
            break;
    if (i == c->n_sids) {
        c->sids = realloc(c->sids, (i + 1) * sizeof(*c->sids));
        c->counts = realloc(c->counts, (i + 1) * sizeof(*c->counts));
        if (!c->sids || !c->counts)
            exit(3);
        c->sids[i] = a->sid;
        c->counts[i] = 0;
        c->n_sids++;
    }
    c->counts[i]++;
    return true;
}

int main(int argc, char **argv)
{
    const char *pcap = NULL, *cls = NULL, *thr = NULL, *cache = NULL, *eve = NULL;
    const char *rules[64];
    unsigned n_rules = 0;
    bool quiet = false, midstream = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc) pcap = argv[++i];
        else if (!strcmp(argv[i], "-S") && i + 1 < argc && n_rules < 64) rules[n_rules++] = argv[++i];
        else if (!strcmp(argv[i], "-c") && i + 1 < argc) cls = argv[++i];
        else if (!strcmp(argv[i], "-T") && i + 1 < argc) thr = argv[++i];
        else if (!strcmp(argv[i], "--cache") && i + 1 < argc) cache = argv[++i];
        else if (!strcmp(argv[i], "-q")) quiet = true;
        else if (!strcmp(argv[i], "--eve") && i + 1 < argc) eve = argv[++i];
        else if (!strcmp(argv[i], "-k") && i + 1 < argc) i++; /* checksums are not checked */
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            const char *kv = argv[++i];
            if (!strcmp(kv, "stream.midstream=true"))
                midstream = true;
            else if (!strncmp(kv, "threshold-file=", 15))
                thr = kv + 15;
        } else {
            fprintf(stderr, "usage: %s [-r pcap] -S rules [-c classification] [-T threshold] "
                            "[--set stream.midstream=true] [--cache dir] [-q]\n", argv[0]);
            return 2;
        }
    }
    struct rules_load_config lc;
    rules_load_config_default(&lc);
    lc.classification_path = cls;
    lc.threshold_path = thr;
    struct rule_meta_store *store = rule_meta_store_new();
    lc.meta_store = store;
    struct rules_report *rep = rules_report_new();
    char err[512];
    struct ruleset *rs = ruleset_load_files(&lc, rules, n_rules, rep, err, sizeof(err));
    if (!rs) {
        fprintf(stderr, "rules: %s\n", err);
        return 1;
    }
    rules_report_print(rep, pcap ? stderr : stdout, !pcap && !quiet ? false : false);
    if (!quiet)
        for (unsigned i = 0; i < rules_report_n_failures(rep); i++)
            fprintf(stderr, "%s\n", rules_report_failure(rep, i));
    struct detect_config dc;
    detect_config_default(&dc);
    dc.stream.midstream = midstream;
    dc.cache_dir = cache;
    struct detect_engine *de = detect_engine_new_cfg(rs, &dc, err, sizeof(err));
    if (!de) {
        fprintf(stderr, "detect: %s\n", err);
        return 1;
    }
    struct detect_engine_info info;
    detect_engine_get_info(de, &info);
    fprintf(pcap ? stderr : stdout,
            "engine: %u rules (%u prefiltered, %u by header of which %u IP-only), %u databases, "
            "%zu bytes, scratch %zu bytes, compile %.1f ms%s\n",
            info.rules, info.mpm_rules, info.header_rules, info.iponly_rules, info.databases,
            info.db_bytes, info.scratch_bytes, info.compile_ms,
            info.from_cache ? " (from cache)" : "");
    int rc = 0;
    if (pcap) {
        struct ctx c = {.quiet = quiet};
        if (eve && !(c.eve = fopen(eve, "w"))) {
            fprintf(stderr, "%s: %s\n", eve, strerror(errno));
            return 1;
        }
        struct pipeline_config pc;
        pipeline_config_default(&pc);
        pc.de = de;
        struct pipeline *pl = pipeline_new(&pc);
        struct pcap_bursts *src = pcap_bursts_open(pcap, err, sizeof(err));
        if (!pl || !src) {
            fprintf(stderr, "setup failed: %s\n", src ? "" : err);
            return 1;
        }
        const struct dp_packet *pkts;
        const uint64_t *cnt;
        unsigned k;
        while ((k = pcap_bursts_next(src, &pkts, &cnt)) > 0)
            pipeline_burst(pl, pkts, cnt, k, emit, &c);
        pipeline_flush(pl, emit, &c);
        uint64_t n = pcap_bursts_count(src);
        for (unsigned i = 0; i < c.n_sids; i++)
            printf("count sid:%" PRIu32 " %" PRIu64 "\n", c.sids[i], c.counts[i]);
        struct detect_stats st;
        detect_thread_stats(pipeline_detect_thread(pl), &st);
        fprintf(stderr,
                "packets %" PRIu64 " alerts %" PRIu64 " mpm_hits %" PRIu64 " checked %" PRIu64
                " stream: chunks %" PRIu64 " gaps %" PRIu64 " overlaps_diff %" PRIu64
                " midstream_skipped %" PRIu64 "\n",
                n, st.alerts, st.mpm_hits, st.rules_checked, st.stream.chunks, st.stream.gaps,
                st.stream.overlaps_different, st.stream.midstream_skipped);
        pcap_bursts_close(src);
        pipeline_free(pl);
        free(c.sids);
        free(c.counts);
        if (c.eve)
            fclose(c.eve);
    }
    detect_engine_free(de);
    ruleset_free(rs);
    rules_report_free(rep);
    rule_meta_store_free(store);
    return rc;
}
