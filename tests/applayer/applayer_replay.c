/* applayer_replay: replays a capture through the engine's worker stages (engine_burst.h: decode
 * -> flow -> stream -> app layer -> detect, in bursts as a worker runs them, transactions
 * inspected through detect_buffers) with the app layer's rule keywords, and writes alerts plus
 * http/dns/tls records as EVE lines. The app layer's driver for the suricata-verify runner
 * (tests/sv/run_sv.py --replay): rule options without the engine's configuration and outputs.
 * Records and alert objects arrive as the engine's EVENT_APPLAYER chunks (applayer_eve.h).
 *
 *   applayer_replay [-r FILE.pcap] -S RULES [-S RULES...] [-c classification.config]
 *                   [-T threshold.config] [--set stream.midstream=true] [--eve FILE] [-q]
 *                   [--var HOME_NET=[10.0.0.0/8,...]] [--var HTTP_PORTS=[80,8080]]
 *
 * Without -r it loads and compiles the rules and prints the load report (rules loaded, failed
 * by reason), compile time and database memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "applayer.h"
#include "applayer_eve.h"
#include "detect.h"
#include "engine_burst.h"
#include "json_writer.h"
#include "pcap_bursts.h"
#include "rules.h"

struct ctx {
    bool quiet;
    FILE *eve;
    uint64_t alerts, records;
    uint64_t pcap_cnt; /* packets read so far: pcap_cnt of events that name no packet */
    struct applayer_eve_asm *easm; /* joins the records' chunks (as the output thread does) */
    /* the object of the alerts that follow (EVENT_APPLAYER_ATTACH chunks), joined here */
    uint8_t attach[APPLAYER_EVE_SNAPSHOT_MAX];
    size_t attach_len;
    uint32_t *sids;
    uint64_t *counts;
    unsigned n_sids;
};

static void addr_str(const uint8_t *a, int v, char *buf, size_t n)
{
    inet_ntop(v == 6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)n);
}

static void count_sid(struct ctx *c, uint32_t sid)
{
    unsigned i;
    for (i = 0; i < c->n_sids; i++)
        if (c->sids[i] == sid)
            break;
    if (i == c->n_sids) {
        c->sids = realloc(c->sids, (i + 1) * sizeof(*c->sids));
        c->counts = realloc(c->counts, (i + 1) * sizeof(*c->counts));
        if (!c->sids || !c->counts)
            exit(3);
        c->sids[i] = sid;
        c->counts[i] = 0;
        c->n_sids++;
    }
    c->counts[i]++;
}

static void write_record(struct ctx *c, const struct event *ev);

static bool emit(void *vctx, const struct event *ev)
{
    struct ctx *c = vctx;
    if (ev->type == EVENT_APPLAYER) {
        const struct event_applayer *ch = &ev->u.applayer;
        if ((ch->flags & EVENT_APPLAYER_ATTACH) && ch->len <= EVENT_APPLAYER_CHUNK &&
            (size_t)ch->off + ch->len <= sizeof(c->attach)) {
            memcpy(c->attach + ch->off, ch->data, ch->len);
            c->attach_len = (size_t)ch->off + ch->len == ch->total ? ch->total : 0;
        }
        if (applayer_eve_asm_add(c->easm, ev))
            write_record(c, ev);
        return true;
    }
    if (ev->type != EVENT_ALERT)
        return true;
    const struct event_alert *a = &ev->u.alert;
    char s[64], d[64];
    addr_str(ev->ref.src, ev->ref.ip_version, s, sizeof(s));
    addr_str(ev->ref.dst, ev->ref.ip_version, d, sizeof(d));
    if (!c->quiet)
        printf("alert sid:%" PRIu32 " %s:%u -> %s:%u app_proto:%s tx:%" PRIu64 " msg:\"%s\"\n",
               a->sid, s, ev->ref.sport, d, ev->ref.dport, app_proto_name(ev->ref.app_proto),
               a->tx_id, a->rule && a->rule->msg ? a->rule->msg : "");
    if (c->eve) {
        char line[8192];
        struct json_writer w;
        json_writer_init(&w, line, sizeof(line));
        jw_open_object(&w);
        jw_kv_str(&w, "event_type", "alert");
        jw_kv_u64(&w, "pcap_cnt", ev->pcap_cnt ? ev->pcap_cnt : c->pcap_cnt);
        jw_kv_str(&w, "src_ip", s);
        jw_kv_u64(&w, "src_port", ev->ref.sport);
        jw_kv_str(&w, "dest_ip", d);
        jw_kv_u64(&w, "dest_port", ev->ref.dport);
        const char *ap = applayer_eve_app_proto_name(ev->ref.app_proto);
        if (ap)
            jw_kv_str(&w, "app_proto", ap);
        jw_key(&w, "alert");
        jw_open_object(&w);
        jw_kv_str(&w, "action", "allowed");
        jw_kv_u64(&w, "gid", a->gid);
        jw_kv_u64(&w, "signature_id", a->sid);
        jw_kv_u64(&w, "rev", a->rev);
        jw_kv_u64(&w, "severity", a->severity);
        jw_close_object(&w);
        /* the transaction's fields on alerts raised from its buffers, as Suricata adds them */
        if (a->app_obj && c->attach_len)
            applayer_eve_write(&w, c->attach, c->attach_len);
        jw_close_object(&w);
        if (json_writer_finish(&w) == 0)
            fprintf(c->eve, "%s\n", line);
    }
    c->alerts++;
    count_sid(c, a->sid);
    return true;
}

/* An app-layer record (event_type http/dns/tls) for a complete transaction: its chunks joined,
 * tuple as the engine sends it (client -> server; a DNS response server -> client). */
static void write_record(struct ctx *c, const struct event *ev)
{
    if (!c->eve)
        return;
    char line[8192];
    struct json_writer w;
    json_writer_init(&w, line, sizeof(line));
    jw_open_object(&w);
    jw_kv_str(&w, "event_type", app_proto_name((enum app_proto)ev->u.applayer.proto));
    char a[64], b[64];
    addr_str(ev->ref.src, ev->ref.ip_version, a, sizeof(a));
    addr_str(ev->ref.dst, ev->ref.ip_version, b, sizeof(b));
    jw_kv_str(&w, "src_ip", a);
    jw_kv_u64(&w, "src_port", ev->ref.sport);
    jw_kv_str(&w, "dest_ip", b);
    jw_kv_u64(&w, "dest_port", ev->ref.dport);
    if (applayer_eve_asm_write(c->easm, &w, ev) != 0)
        return;
    jw_close_object(&w);
    if (json_writer_finish(&w) == 0) {
        fprintf(c->eve, "%s\n", line);
        c->records++;
    }
}

int main(int argc, char **argv)
{
    const char *pcap = NULL, *cls = NULL, *thr = NULL, *eve = NULL;
    const char *rules[4096];
    unsigned n_rules = 0;
    const char *vars[32];
    unsigned n_vars = 0;
    bool quiet = false, midstream = false, verbose = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc) pcap = argv[++i];
        else if (!strcmp(argv[i], "-S") && i + 1 < argc && n_rules < 4096) rules[n_rules++] = argv[++i];
        else if (!strcmp(argv[i], "-c") && i + 1 < argc) cls = argv[++i];
        else if (!strcmp(argv[i], "-T") && i + 1 < argc) thr = argv[++i];
        else if (!strcmp(argv[i], "-q")) quiet = true;
        else if (!strcmp(argv[i], "-v")) verbose = true;
        else if (!strcmp(argv[i], "--eve") && i + 1 < argc) eve = argv[++i];
        else if (!strcmp(argv[i], "--var") && i + 1 < argc && n_vars < 32) vars[n_vars++] = argv[++i];
        else if (!strcmp(argv[i], "-k") && i + 1 < argc) i++; /* checksums are not checked */
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            const char *kv = argv[++i];
            if (!strcmp(kv, "stream.midstream=true"))
                midstream = true;
            else if (!strncmp(kv, "threshold-file=", 15))
                thr = kv + 15;
        } else {
            fprintf(stderr, "usage: %s [-r pcap] -S rules [-c classification] [-T threshold] "
                            "[--set stream.midstream=true] [--eve file] [-q] [-v]\n", argv[0]);
            return 2;
        }
    }
    struct rules_load_config lc;
    rules_load_config_default(&lc);
    lc.classification_path = cls;
    lc.threshold_path = thr;
    applayer_rules_hooks(&lc.applayer);
    struct rules_vars *rv = rules_vars_new();
    for (unsigned i = 0; rv && i < n_vars; i++) {
        /* --var HOME_NET=[10.0.0.0/8] (address) or --var HTTP_PORTS=[80,8080] (name ends _PORTS) */
        char name[64];
        const char *eq = strchr(vars[i], '=');
        if (!eq || (size_t)(eq - vars[i]) >= sizeof(name)) {
            fprintf(stderr, "bad --var %s\n", vars[i]);
            return 2;
        }
        memcpy(name, vars[i], (size_t)(eq - vars[i]));
        name[eq - vars[i]] = 0;
        size_t nl = strlen(name);
        int r = nl > 6 && !strcmp(name + nl - 6, "_PORTS") ? rules_vars_set_port(rv, name, eq + 1)
                                                           : rules_vars_set_address(rv, name, eq + 1);
        if (r != 0) {
            fprintf(stderr, "bad --var %s\n", vars[i]);
            return 2;
        }
    }
    lc.vars = rv;
    struct rule_meta_store *store = rule_meta_store_new();
    lc.meta_store = store;
    struct rules_report *rep = rules_report_new();
    char err[512];
    struct ruleset *rs = ruleset_load_files(&lc, rules, n_rules, rep, err, sizeof(err));
    if (!rs) {
        fprintf(stderr, "rules: %s\n", err);
        return 1;
    }
    rules_report_print(rep, pcap ? stderr : stdout, verbose);
    struct detect_config dc;
    detect_config_default(&dc);
    dc.stream.midstream = midstream;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct detect_engine *de = detect_engine_new_cfg(rs, &dc, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!de) {
        fprintf(stderr, "detect: %s\n", err);
        return 1;
    }
    struct detect_engine_info info;
    detect_engine_get_info(de, &info);
    fprintf(pcap ? stderr : stdout,
            "engine: %u rules (%u prefiltered, %u by header), %u databases, %zu bytes, "
            "compile %.1f ms (%.1f s wall)\n",
            info.rules, info.mpm_rules, info.header_rules, info.databases, info.db_bytes,
            info.compile_ms,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    int rc = 0;
    if (pcap) {
        struct ctx c = {.quiet = quiet};
        if (eve && !(c.eve = fopen(eve, "w"))) {
            fprintf(stderr, "%s: %s\n", eve, strerror(errno));
            return 1;
        }
        c.easm = applayer_eve_asm_new(1);
        struct pipeline_config pc;
        pipeline_config_default(&pc);
        pc.de = de;
        struct pipeline *pl = pipeline_new(&pc);
        struct pcap_bursts *src = pcap_bursts_open(pcap, err, sizeof(err));
        if (!c.easm || !pl || !src) {
            fprintf(stderr, "setup failed: %s\n", src ? "" : err);
            return 1;
        }
        const struct dp_packet *pkts;
        const uint64_t *cnt;
        unsigned k;
        while ((k = pcap_bursts_next(src, &pkts, &cnt)) > 0) {
            c.pcap_cnt = cnt[k - 1];
            pipeline_burst(pl, pkts, cnt, k, emit, &c);
        }
        pipeline_flush(pl, emit, &c);
        uint64_t n = pcap_bursts_count(src);
        for (unsigned i = 0; i < c.n_sids; i++)
            printf("count sid:%" PRIu32 " %" PRIu64 "\n", c.sids[i], c.counts[i]);
        const struct applayer_stats *st = pipeline_applayer_stats(pl);
        fprintf(stderr,
                "packets %" PRIu64 " alerts %" PRIu64 " app records %" PRIu64 " tx http %" PRIu64
                " dns %" PRIu64 " tls %" PRIu64 " pending dropped %" PRIu64 "\n",
                n, c.alerts, c.records, st->http_tx, st->dns_tx, st->tls_tx,
                pipeline_pending_dropped(pl));
        pcap_bursts_close(src);
        pipeline_free(pl);
        applayer_eve_asm_free(c.easm);
        free(c.sids);
        free(c.counts);
        if (c.eve)
            fclose(c.eve);
    }
    detect_engine_free(de);
    ruleset_free(rs);
    rules_report_free(rep);
    rule_meta_store_free(store);
    rules_vars_free(rv);
    return rc;
}
