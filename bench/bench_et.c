/* bench_et: a capture replayed from memory on one core through decode -> flow -> stream ->
 * app layer (HTTP/DNS/TLS parsers) -> detect, with no rules and with every loadable rule of ET
 * Open (the app layer's keywords included), in one run so the ratio holds. The packets go
 * through the engine's worker stages themselves (engine_burst.h: pipeline_burst in bursts of
 * ENGINE_BATCH with their pcap_cnt, as a worker of `tripline -r` runs them; no anomaly stage).
 *
 *   bench_et [-p PCAP] [-e ET_RULES_GLOB] [-c classification.config] [-R REPEATS] [-A FILE]
 *
 * Defaults: ../shared/data/pcaps/throughput_mix.pcap, ../shared/data/rules/et-open/ (*.rules; the
 * shared data folder from TRIPLINE_SHARED_DATA when set), 3 repeats. Each repeat starts from
 * fresh decoder, flow table, app-layer and detect state (built outside the timed part); the
 * timed part is the packet loop and the final flow flush. Prints each case's median Mpps and
 * wire Gbps, alerts and transactions, the rules' load report (loaded, failed by reason),
 * compile time and database memory, and the ratio to Suricata 4.1.10 on this machine (4,893 of
 * these rules, 0.16 Mpps / 0.40 Gbps on throughput_mix.pcap, one worker). Variables are
 * Suricata's defaults (HOME_NET private ranges), stream.midstream off, as that reference.
 * -A FILE writes the first ET replay's alerts, one "packet-number sid" a line (0: raised at a
 * flow's end outside a packet: timeout, eviction, final flush), to compare two builds' alerts;
 * that replay then formats text, so its time is not a figure. Also printed: bytes scanned,
 * prefilter hits and rules verified per case.
 */
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "applayer.h"
#include "detect.h"
#include "engine.h"
#include "engine_burst.h"
#include "pcap_source.h"
#include "rules.h"

#define MAX_REPEATS 15

struct mempkt {
    struct dp_packet p;
    uint8_t *data;
};

struct ctx {
    uint64_t alerts;
    FILE *dump;   /* -A: every alert as "packet sid" (a check run, not a timing) */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: on a shared, loaded machine the per-core rate without the time
 * other processes took the core away */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool count_emit(void *vctx, const struct event *ev)
{
    struct ctx *c = vctx;
    if (ev->type == EVENT_ALERT) {
        c->alerts++;
        if (c->dump)
            fprintf(c->dump, "%" PRIu64 " %" PRIu32 "\n", ev->pcap_cnt, ev->u.alert.sid);
    }
    return true;
}

struct result {
    double mpps, gbps, seconds;
    double cpu_mpps, cpu_gbps, cpu_seconds;
    uint64_t alerts, tx;
    struct detect_stats ds;
};

/* One timed replay with fresh state. */
static int replay(const struct detect_engine *de, const struct mempkt *pk, unsigned n,
                  uint64_t bytes, struct result *r, FILE *dump)
{
    struct ctx c = {0};
    c.dump = dump;
    struct pipeline_config pc;
    pipeline_config_default(&pc);
    pc.de = de;
    struct pipeline *pl = pipeline_new(&pc);
    /* the burst call takes packet views and their numbers in arrays, as a worker's batch */
    struct dp_packet *pv = malloc((size_t)n * sizeof(*pv));
    uint64_t *cnt = malloc((size_t)n * sizeof(*cnt));
    int rc = -1;
    if (!pl || !pv || !cnt)
        goto out;
    for (unsigned i = 0; i < n; i++) {
        pv[i] = pk[i].p;
        cnt[i] = i + 1;
    }
    double t0 = now_s(), c0 = cpu_s();
    for (unsigned i = 0; i < n; i += ENGINE_BATCH)
        pipeline_burst(pl, pv + i, cnt + i, n - i < ENGINE_BATCH ? n - i : ENGINE_BATCH,
                       count_emit, &c);
    pipeline_flush(pl, count_emit, &c);
    double secs = now_s() - t0, csecs = cpu_s() - c0;
    const struct applayer_stats *st = pipeline_applayer_stats(pl);
    r->seconds = secs;
    r->mpps = n / secs / 1e6;
    r->gbps = (double)bytes * 8 / secs / 1e9;
    r->cpu_seconds = csecs;
    r->cpu_mpps = n / csecs / 1e6;
    r->cpu_gbps = (double)bytes * 8 / csecs / 1e9;
    r->alerts = c.alerts;
    r->tx = st->http_tx + st->dns_tx + st->tls_tx;
    detect_thread_stats(pipeline_detect_thread(pl), &r->ds);
    rc = 0;
out:
    free(cnt);
    free(pv);
    pipeline_free(pl);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of `repeats` replays (by time). */
static int run_case(const char *name, const struct ruleset *rs, const struct mempkt *pk,
                    unsigned n, uint64_t bytes, unsigned repeats, struct result *out, FILE *dump)
{
    char err[512];
    double t0 = now_s();
    struct detect_engine *de = detect_engine_new(rs, err, sizeof(err));
    double tc = now_s() - t0;
    if (!de) {
        fprintf(stderr, "%s: %s\n", name, err);
        return -1;
    }
    struct detect_engine_info info;
    detect_engine_get_info(de, &info);
    printf("%s: %u rules (%u prefiltered, %u by header), %u Hyperscan databases, %.2f MB, "
           "scratch %.1f KB, compiled in %.2f s\n",
           name, info.rules, info.mpm_rules, info.header_rules, info.databases,
           (double)info.db_bytes / 1e6, (double)info.scratch_bytes / 1e3, tc);
    struct result rr[MAX_REPEATS];
    double secs[MAX_REPEATS];
    for (unsigned i = 0; i < repeats; i++) {
        if (replay(de, pk, n, bytes, &rr[i], i == 0 ? dump : NULL) != 0) {
            detect_engine_free(de);
            return -1;
        }
        secs[i] = rr[i].seconds;
    }
    qsort(secs, repeats, sizeof(double), cmp_double);
    for (unsigned i = 0; i < repeats; i++)
        if (rr[i].seconds == secs[repeats / 2])
            *out = rr[i];
    detect_engine_free(de);
    return 0;
}

int main(int argc, char **argv)
{
    const char *shared = getenv("TRIPLINE_SHARED_DATA");
    char etpat[1024], pcapdef[1024], clsdef[1024];
    snprintf(etpat, sizeof(etpat), "%s/rules/et-open/*.rules", shared ? shared : "../shared/data");
    snprintf(pcapdef, sizeof(pcapdef), "%s/pcaps/throughput_mix.pcap",
             shared ? shared : "../shared/data");
    snprintf(clsdef, sizeof(clsdef), "%s/rules/et-open/classification.config",
             shared ? shared : "../shared/data");
    const char *et = etpat, *pcap = pcapdef, *cls = clsdef, *dump_path = NULL;
    unsigned repeats = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-p") && i + 1 < argc) pcap = argv[++i];
        else if (!strcmp(argv[i], "-e") && i + 1 < argc) et = argv[++i];
        else if (!strcmp(argv[i], "-c") && i + 1 < argc) cls = argv[++i];
        else if (!strcmp(argv[i], "-R") && i + 1 < argc) repeats = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "-A") && i + 1 < argc) dump_path = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [-p pcap] [-e et-glob] [-c classification] [-R repeats] "
                    "[-A alerts.txt]\n",
                    argv[0]);
            return 2;
        }
    }
    if (repeats < 1 || repeats > MAX_REPEATS)
        repeats = 3;

    char err[512];
    struct dp_pcap *src = dp_pcap_open_file(pcap, err, sizeof(err));
    if (!src) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    unsigned cap = 1 << 16, n = 0;
    struct mempkt *pk = malloc(cap * sizeof(*pk));
    uint64_t bytes = 0;
    struct dp_packet p;
    while (pk && dp_pcap_next(src, &p) == 1) {
        if (n == cap) {
            cap *= 2;
            struct mempkt *np = realloc(pk, cap * sizeof(*pk));
            if (!np)
                return 1;
            pk = np;
        }
        pk[n].data = malloc(p.caplen ? p.caplen : 1);
        if (!pk[n].data)
            return 1;
        memcpy(pk[n].data, p.data, p.caplen);
        pk[n].p = p;
        pk[n].p.data = pk[n].data;
        bytes += p.wirelen;
        n++;
    }
    dp_pcap_close(src);
    if (!pk || !n) {
        fprintf(stderr, "%s: no packets\n", pcap);
        return 1;
    }

    struct rules_load_config lc;
    rules_load_config_default(&lc);
    applayer_rules_hooks(&lc.applayer);
    lc.classification_path = cls;
    struct rules_report *r0rep = rules_report_new();
    struct ruleset *r0 = ruleset_load_string(&lc, "", "none", r0rep, err, sizeof(err));
    glob_t g;
    memset(&g, 0, sizeof(g));
    if (glob(et, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        fprintf(stderr, "%s: no rule files\n", et);
        return 1;
    }
    struct rules_report *rep = rules_report_new();
    double t0 = now_s();
    struct ruleset *ret = ruleset_load_files(&lc, (const char *const *)g.gl_pathv,
                                             (unsigned)g.gl_pathc, rep, err, sizeof(err));
    double tl = now_s() - t0;
    globfree(&g);
    if (!r0 || !ret) {
        fprintf(stderr, "rules: %s\n", err);
        return 1;
    }
    unsigned total = rules_report_loaded(rep) + rules_report_failed(rep);
    printf("ET Open (%s): %u of %u rules load (%.2f%%), parsed in %.2f s\n", et,
           rules_report_loaded(rep), total, 100.0 * rules_report_loaded(rep) / total, tl);
    rules_report_print(rep, stdout, false);

    printf("%s: %u packets, %.1f MB on the wire, %u repeats per case (median)\n", pcap, n,
           (double)bytes / 1e6, repeats);
    struct result a, b;
    FILE *dump = NULL;
    if (dump_path && !(dump = fopen(dump_path, "w"))) {
        perror(dump_path);
        return 1;
    }
    if (run_case("no rules", r0, pk, n, bytes, repeats, &a, NULL) != 0 ||
        run_case("ET Open", ret, pk, n, bytes, repeats, &b, dump) != 0)
        return 1;
    if (dump)
        fclose(dump);
    printf("case      wall: Mpps   Gbps     s | thread CPU: Mpps   Gbps     s | alerts  app tx\n");
    const struct result *rs2[2] = {&a, &b};
    const char *names[2] = {"no rules", "ET Open"};
    for (int i = 0; i < 2; i++)
        printf("%-9s %11.3f %6.2f %6.3f | %16.3f %6.2f %6.3f | %6" PRIu64 " %7" PRIu64 "\n",
               names[i], rs2[i]->mpps, rs2[i]->gbps, rs2[i]->seconds, rs2[i]->cpu_mpps,
               rs2[i]->cpu_gbps, rs2[i]->cpu_seconds, rs2[i]->alerts, rs2[i]->tx);
    for (int i = 0; i < 2; i++)
        printf("%-9s detect: %" PRIu64 " bytes scanned, %" PRIu64 " prefilter hits, %" PRIu64
               " rules verified\n",
               names[i], rs2[i]->ds.payload_bytes, rs2[i]->ds.mpm_hits, rs2[i]->ds.rules_checked);
    printf("ET Open vs no rules: %.2fx (wall), %.2fx (CPU); vs Suricata 4.1.10 (0.16 Mpps, "
           "0.40 Gbps): %.2fx (wall), %.2fx (CPU); goal 4x = 0.64 Mpps\n",
           b.mpps / a.mpps, b.cpu_mpps / a.cpu_mpps, b.mpps / 0.16, b.cpu_mpps / 0.16);

    for (unsigned i = 0; i < n; i++)
        free(pk[i].data);
    free(pk);
    ruleset_free(r0);
    ruleset_free(ret);
    rules_report_free(r0rep);
    rules_report_free(rep);
    return 0;
}
