/* applayer_replay: replays a capture through decode -> flow -> detect with the app layer wired
 * in (rules hooks, stream hook, UDP payloads, transactions inspected through detect_buffers)
 * and writes alerts plus http/dns/tls records as EVE lines. The app layer's own driver for the
 * suricata-verify runner (tests/sv/run_sv.py --replay) until the engine carries the app layer;
 * it is also the reference for how a worker wires it (see applayer.h).
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
#include "decode.h"
#include "detect.h"
#include "flow.h"
#include "json_writer.h"
#include "pcap_source.h"
#include "rules.h"

/* struct applayer_buf_ref is documented as struct detect_buffer's layout */
_Static_assert(sizeof(struct applayer_buf_ref) == sizeof(struct detect_buffer), "layout");
_Static_assert(offsetof(struct applayer_buf_ref, id) == offsetof(struct detect_buffer, id), "id");
_Static_assert(offsetof(struct applayer_buf_ref, data) == offsetof(struct detect_buffer, data), "data");
_Static_assert(offsetof(struct applayer_buf_ref, len) == offsetof(struct detect_buffer, len), "len");

#define PENDING_TX 1024

struct ctx {
    struct detect_thread *dt;
    struct applayer_ctx *al;
    struct applayer_pending *pending;
    bool quiet;
    FILE *eve;
    uint64_t alerts, records;
    uint64_t pcap_cnt; /* number of the packet being handled (Suricata's pcap_cnt) */
    /* EVE snapshots of the pending transactions, by pending index */
    uint8_t (*snap)[APPLAYER_EVE_SNAPSHOT_MAX];
    size_t *snap_len;
    const uint8_t *cur_snap;
    size_t cur_snap_len;
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

static bool emit(void *vctx, const struct event *ev)
{
    struct ctx *c = vctx;
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
        jw_kv_u64(&w, "pcap_cnt", c->pcap_cnt);
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
        if (c->cur_snap_len)
            applayer_eve_write(&w, c->cur_snap, c->cur_snap_len);
        jw_close_object(&w);
        if (json_writer_finish(&w) == 0)
            fprintf(c->eve, "%s\n", line);
    }
    c->alerts++;
    count_sid(c, a->sid);
    return true;
}

/* An app-layer record (event_type http/dns/tls) for a complete transaction (on_log). */
static void write_record(void *vctx, struct flow *f, const struct applayer_tx *tx)
{
    struct ctx *c = vctx;
    if (!c->eve)
        return;
    /* DNS: the message's own direction; others are written from the request's side */
    enum flow_dir dir = applayer_tx_has_side(tx, FLOW_TO_CLIENT) ? FLOW_TO_CLIENT : FLOW_TO_SERVER;
    char line[8192];
    struct json_writer w;
    json_writer_init(&w, line, sizeof(line));
    jw_open_object(&w);
    jw_kv_str(&w, "event_type", app_proto_name(applayer_tx_proto(tx)));
    /* DNS records go the message's way; others client -> server, as Suricata writes them */
    int cs = f->client_side & 1;
    int from = applayer_tx_proto(tx) == APP_PROTO_DNS && dir == FLOW_TO_CLIENT ? !cs : cs;
    char a[64], b[64];
    addr_str(f->key.addr[from], f->key.ip_version, a, sizeof(a));
    addr_str(f->key.addr[!from], f->key.ip_version, b, sizeof(b));
    jw_kv_str(&w, "src_ip", a);
    jw_kv_u64(&w, "src_port", f->key.port[from]);
    jw_kv_str(&w, "dest_ip", b);
    jw_kv_u64(&w, "dest_port", f->key.port[!from]);
    if (applayer_eve_tx(&w, tx, dir) != 0)
        return;
    jw_close_object(&w);
    if (json_writer_finish(&w) == 0) {
        fprintf(c->eve, "%s\n", line);
        c->records++;
    }
}

static void on_tx(void *vctx, struct flow *f, const struct applayer_tx *tx, enum flow_dir dir)
{
    struct ctx *c = vctx;
    /* inspected after the packet's own matching: see applayer_pending in applayer.h */
    unsigned idx = applayer_pending_count(c->pending);
    if (applayer_pending_add(c->pending, f, tx, dir) && idx < PENDING_TX)
        c->snap_len[idx] = applayer_eve_snapshot(tx, dir, c->snap[idx], APPLAYER_EVE_SNAPSHOT_MAX);

}

static void pseudo_meta(struct pkt_meta *pm, const struct flow *f, enum flow_dir d)
{
    memset(pm, 0, sizeof(*pm));
    pm->ts_ns = f->last_ns;
    pm->ip_version = f->key.ip_version;
    pm->proto = f->key.proto;
    pm->flags = PKT_HAS_L4 | (f->key.ip_version == 6 ? PKT_IPV6 : PKT_IPV4) |
                (f->key.proto == 6 ? PKT_TCP : f->key.proto == 17 ? PKT_UDP : 0);
    int cs = f->client_side & 1;
    int s = d == FLOW_TO_SERVER ? cs : !cs;
    memcpy(pm->src, f->key.addr[s], 16);
    memcpy(pm->dst, f->key.addr[!s], 16);
    pm->sport = f->key.port[s];
    pm->dport = f->key.port[!s];
}

/* Inspects the transactions completed while handling the current packet (m, dir), or at the
 * end of a flow (m NULL). */
static void run_pending(struct ctx *c, const struct pkt_meta *m, enum flow_dir mdir)
{
    unsigned n = applayer_pending_count(c->pending);
    for (unsigned i = 0; i < n; i++) {
        struct flow *f;
        enum flow_dir dir;
        uint64_t tx_id;
        const struct applayer_buf_ref *bufs;
        unsigned nb;
        applayer_pending_get(c->pending, i, &f, &dir, &tx_id, &bufs, &nb);
        struct pkt_meta pm;
        const struct pkt_meta *use = m;
        if (!m || mdir != dir) {
            pseudo_meta(&pm, f, dir);
            use = &pm;
        }
        c->cur_snap = c->snap[i];
        c->cur_snap_len = c->snap_len[i];
        detect_buffers(c->dt, use, f, dir, (const struct detect_buffer *)bufs, nb, tx_id, emit, c);
        c->cur_snap_len = 0;
    }
    applayer_pending_clear(c->pending);
}

static void on_flow_end(void *vctx, struct flow *f)
{
    struct ctx *c = vctx;
    detect_flow_end(c->dt, f, emit, c); /* may still deliver queued stream data */
    applayer_flow_end(c->al, f);
    run_pending(c, NULL, FLOW_TO_SERVER);
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
        c.dt = detect_thread_new(de);
        c.al = applayer_ctx_new(NULL);
        c.pending = applayer_pending_new(4u << 20, PENDING_TX);
        c.snap = calloc(PENDING_TX, sizeof(*c.snap));
        c.snap_len = calloc(PENDING_TX, sizeof(*c.snap_len));
        if (!c.snap || !c.snap_len)
            return 1;
        struct decoder_config dcfg;
        decoder_config_default(&dcfg);
        struct decoder *dec = decoder_new(&dcfg);
        struct flow_config fc;
        flow_config_default(&fc);
        struct flow_table *ft = flow_table_new(&fc, on_flow_end, &c);
        struct dp_pcap *src = dp_pcap_open_file(pcap, err, sizeof(err));
        if (!c.dt || !c.al || !c.pending || !dec || !ft || !src) {
            fprintf(stderr, "setup failed: %s\n", src ? "" : err);
            return 1;
        }
        applayer_ctx_set_callbacks(c.al, on_tx, &c, NULL, NULL);
        applayer_ctx_set_log_callback(c.al, write_record, &c);
        detect_thread_set_stream_hook(c.dt, applayer_stream_deliver, c.al);
        struct dp_packet pkt;
        struct pkt_meta m;
        uint64_t n = 0;
        while (dp_pcap_next(src, &pkt) == 1) {
            n++;
            c.pcap_cnt = n;
            if (decode_packet(dec, &pkt, &m) == DECODE_HELD)
                continue;
            enum flow_dir dir = FLOW_TO_SERVER;
            struct flow *f = m.ip_version ? flow_table_update(ft, &m, &dir) : NULL;
            if (f && (m.flags & PKT_UDP) && m.payload_len)
                applayer_udp_data(c.al, f, dir, m.payload, m.payload_len, m.ts_ns);
            detect_packet(c.dt, &m, f, dir, emit, &c);
            run_pending(&c, &m, dir);
        }
        flow_table_flush(ft);
        for (unsigned i = 0; i < c.n_sids; i++)
            printf("count sid:%" PRIu32 " %" PRIu64 "\n", c.sids[i], c.counts[i]);
        const struct applayer_stats *st = applayer_get_stats(c.al);
        fprintf(stderr,
                "packets %" PRIu64 " alerts %" PRIu64 " app records %" PRIu64 " tx http %" PRIu64
                " dns %" PRIu64 " tls %" PRIu64 " pending dropped %" PRIu64 "\n",
                n, c.alerts, c.records, st->http_tx, st->dns_tx, st->tls_tx,
                applayer_pending_dropped(c.pending));
        dp_pcap_close(src);
        flow_table_free(ft);
        decoder_free(dec);
        detect_thread_free(c.dt);
        applayer_pending_free(c.pending);
        free(c.snap);
        free(c.snap_len);
        applayer_ctx_free(c.al);
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
