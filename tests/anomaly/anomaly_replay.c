/* anomaly_replay: drives the anomaly stage the way the engine's workers do, from capture files,
 * and writes the detections as EVE JSON. Used by the anomaly end-to-end tests (until and beside
 * the tripline binary) and by hand:
 *
 *   anomaly_replay [-w WORKERS] [-T] [-c key=value]... [-N prefix,name,crit]... [-o EVE] PCAP...
 *
 * Packets are dispatched to WORKERS simulated workers by the symmetric dispatch hash (each with
 * its own decoder, flow table and anomaly worker) and processed in capture order in one thread,
 * so the result is deterministic; -T runs the workers as real threads instead (each works
 * through its share of the capture at its own pace, as in the engine). Prints one line per
 * detection start on stdout: "class attackers -> victims". Exit 0, or 1 on an error.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "anomaly.h"
#include "decode.h"
#include "eve_format.h"
#include "flow.h"
#include "pcap_source.h"

#define MAXW 16
#define TICK_NS 100000000ull /* 100 ms of packet time between ticks */

struct out {
    FILE *eve;
    struct eve_format_opts opts;
    pthread_mutex_t mu; /* the engine's output ring; here a lock is fine (not the packet path) */
    unsigned starts;
};

struct wk {
    struct decoder *dec;
    struct flow_table *ft;
    struct anomaly_worker *aw;
    struct out *out;
    /* threaded mode: this worker's packets */
    struct dp_packet *pk;
    size_t n_pk;
    uint64_t last_tick;
};

static bool emit_cb(void *ctx, const struct event *ev)
{
    struct out *o = ctx;
    char buf[8192];
    size_t len;
    if (eve_format_event(&o->opts, ev, buf, sizeof(buf), &len) != 0)
        return false;
    pthread_mutex_lock(&o->mu);
    if (o->eve != NULL) {
        fwrite(buf, 1, len, o->eve);
        fputc('\n', o->eve);
    }
    const struct event_detection *d = &ev->u.detection;
    if (d->phase == DETECTION_START) {
        o->starts++;
        char a[64];
        printf("%s sev=%u", d->class_name, d->severity);
        for (unsigned i = 0; i < d->n_attackers; i++) {
            inet_ntop(d->attacker_v6 ? AF_INET6 : AF_INET, d->attacker[i], a, sizeof(a));
            printf(" %s", a);
        }
        printf(" ->");
        for (unsigned i = 0; i < d->n_victims; i++) {
            inet_ntop(d->victim_v6 ? AF_INET6 : AF_INET, d->victim[i], a, sizeof(a));
            printf(" %s", a);
        }
        printf("\n");
    }
    pthread_mutex_unlock(&o->mu);
    return true;
}

static void on_flow_end(void *ctx, struct flow *f)
{
    struct wk *w = ctx;
    anomaly_flow_end(w->aw, f);
}

static void process(struct wk *w, const struct dp_packet *p)
{
    struct pkt_meta m;
    enum decode_result r = decode_packet(w->dec, p, &m);
    if (r == DECODE_INVALID) {
        anomaly_decode_invalid(w->aw, &m);
        return;
    }
    if (r != DECODE_OK)
        return;
    enum flow_dir dir = FLOW_TO_SERVER;
    struct flow *f = NULL;
    if (m.ip_version != 0)
        f = flow_table_update(w->ft, &m, &dir);
    anomaly_packet(w->aw, &m, f, dir);
}

/* Threaded mode: workers run concurrently through slices of packet time and meet at a barrier
 * after each, as the engine's bounded rings keep workers within a short distance of each other;
 * at each slice end every worker ticks with the pipeline's time (idle workers included). */
static pthread_barrier_t slice_barrier;
static uint64_t slice_first, slice_last;
#define SLICE_NS (TICK_NS * 3)

static void *worker_thread(void *arg)
{
    struct wk *w = arg;
    size_t i = 0;
    for (uint64_t end = slice_first + SLICE_NS;; end += SLICE_NS) {
        for (; i < w->n_pk && w->pk[i].ts_ns < end; i++) {
            const struct dp_packet *p = &w->pk[i];
            if (p->ts_ns >= w->last_tick + TICK_NS) {
                w->last_tick = p->ts_ns;
                flow_table_expire(w->ft, p->ts_ns, 4096);
                anomaly_tick(w->aw, p->ts_ns, emit_cb, w->out);
            }
            process(w, p);
        }
        anomaly_tick(w->aw, end - 1, emit_cb, w->out);
        pthread_barrier_wait(&slice_barrier);
        if (end > slice_last)
            break;
    }
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: anomaly_replay [-w WORKERS] [-T] [-c key=value]... [-N prefix,name,crit]... "
                    "[-o EVE] PCAP...\n");
}

int main(int argc, char **argv)
{
    unsigned nw = 1;
    bool threads = false;
    const char *eve_path = NULL;
    struct anomaly_config cfg;
    anomaly_config_default(&cfg);
    int opt;
    while ((opt = getopt(argc, argv, "w:Tc:N:o:h")) != -1) {
        switch (opt) {
        case 'w':
            nw = (unsigned)atoi(optarg);
            break;
        case 'T':
            threads = true;
            break;
        case 'c': {
            char kv[256];
            snprintf(kv, sizeof(kv), "%s", optarg);
            char *eq = strchr(kv, '=');
            if (eq == NULL || (*eq = '\0', anomaly_config_set(&cfg, kv, eq + 1) != 0)) {
                fprintf(stderr, "anomaly_replay: bad setting '%s'\n", optarg);
                return 1;
            }
            break;
        }
        case 'N': {
            char b[256];
            snprintf(b, sizeof(b), "%s", optarg);
            char *n1 = strchr(b, ',');
            char *n2 = n1 ? strchr(n1 + 1, ',') : NULL;
            if (n1 == NULL || n2 == NULL) {
                usage();
                return 1;
            }
            *n1 = *n2 = '\0';
            if (anomaly_config_add_network(&cfg, b, n1 + 1, (unsigned)atoi(n2 + 1)) != 0) {
                fprintf(stderr, "anomaly_replay: bad network '%s'\n", optarg);
                return 1;
            }
            break;
        }
        case 'o':
            eve_path = optarg;
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 1;
        }
    }
    if (optind >= argc || nw < 1 || nw > MAXW) {
        usage();
        return 1;
    }
    struct out out = {0};
    pthread_mutex_init(&out.mu, NULL);
    eve_format_opts_default(&out.opts);
    if (eve_path != NULL && (out.eve = fopen(eve_path, "w")) == NULL) {
        fprintf(stderr, "anomaly_replay: %s: %s\n", eve_path, strerror(errno));
        return 1;
    }
    cfg.max_workers = nw;
    struct anomaly_shared *sh = anomaly_shared_new(&cfg);
    if (sh == NULL) {
        fprintf(stderr, "anomaly_replay: anomaly_shared_new failed\n");
        return 1;
    }
    struct decoder_config dc;
    decoder_config_default(&dc);
    struct flow_config fc;
    flow_config_default(&fc);
    fc.max_flows = 200000;
    struct wk w[MAXW];
    memset(w, 0, sizeof(w));
    for (unsigned i = 0; i < nw; i++) {
        w[i].dec = decoder_new(&dc);
        w[i].ft = flow_table_new(&fc, on_flow_end, &w[i]);
        w[i].aw = anomaly_worker_new(sh, i);
        w[i].out = &out;
        if (w[i].dec == NULL || w[i].ft == NULL || w[i].aw == NULL) {
            fprintf(stderr, "anomaly_replay: worker setup failed\n");
            return 1;
        }
    }
    int rc = 0;
    uint64_t npk = 0, last_tick = 0, now = 0;
    /* threaded mode keeps copies of every packet */
    size_t cap[MAXW] = {0};
    for (int a = optind; a < argc && rc == 0; a++) {
        char err[256];
        struct dp_pcap *src = dp_pcap_open_file(argv[a], err, sizeof(err));
        if (src == NULL) {
            fprintf(stderr, "anomaly_replay: %s\n", err);
            rc = 1;
            break;
        }
        struct dp_packet p;
        int r;
        while ((r = dp_pcap_next(src, &p)) == 1) {
            npk++;
            unsigned wi = nw > 1 ? decode_dispatch_hash(&p) % nw : 0;
            if (p.ts_ns > now)
                now = p.ts_ns;
            if (threads) {
                if (slice_first == 0 || p.ts_ns < slice_first)
                    slice_first = p.ts_ns;
                struct wk *x = &w[wi];
                if (x->n_pk == cap[wi]) {
                    cap[wi] = cap[wi] ? cap[wi] * 2 : 4096;
                    x->pk = realloc(x->pk, cap[wi] * sizeof(*x->pk));
                }
                uint8_t *d = malloc(p.caplen ? p.caplen : 1);
                memcpy(d, p.data, p.caplen);
                x->pk[x->n_pk] = p;
                x->pk[x->n_pk].data = d;
                x->n_pk++;
                continue;
            }
            /* the engine ticks every worker with the pipeline's packet time */
            if (now >= last_tick + TICK_NS) {
                last_tick = now;
                for (unsigned i = 0; i < nw; i++) {
                    flow_table_expire(w[i].ft, now, 4096);
                    anomaly_tick(w[i].aw, now, emit_cb, &out);
                }
            }
            process(&w[wi], &p);
        }
        if (r < 0) {
            fprintf(stderr, "anomaly_replay: %s\n", dp_pcap_error(src));
            rc = 1;
        }
        dp_pcap_close(src);
    }
    if (threads) {
        pthread_t th[MAXW];
        slice_last = now;
        pthread_barrier_init(&slice_barrier, NULL, nw);
        for (unsigned i = 0; i < nw; i++)
            pthread_create(&th[i], NULL, worker_thread, &w[i]);
        for (unsigned i = 0; i < nw; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&slice_barrier);
    }
    for (unsigned i = 0; i < nw; i++) {
        anomaly_tick(w[i].aw, now, emit_cb, &out);
        flow_table_flush(w[i].ft);
    }
    anomaly_shared_flush(sh, emit_cb, &out);
    struct anomaly_stats st;
    anomaly_get_stats(sh, &st);
    fprintf(stderr,
            "anomaly_replay: %" PRIu64 " packets, %" PRIu64 " windows, %" PRIu64 " incidents, %" PRIu64
            " events, overflow %" PRIu64 ", overrun %" PRIu64 ", emit failed %" PRIu64 "\n",
            npk, st.windows_merged, st.incidents_started, st.events, st.shard_overflow,
            st.window_overrun, st.emit_failed);
    for (unsigned i = 0; i < nw; i++) {
        flow_table_free(w[i].ft);
        decoder_free(w[i].dec);
        for (size_t k = 0; k < w[i].n_pk; k++)
            free((void *)w[i].pk[k].data);
        free(w[i].pk);
    }
    anomaly_shared_free(sh);
    if (out.eve != NULL && fclose(out.eve) != 0)
        rc = 1;
    pthread_mutex_destroy(&out.mu);
    return rc;
}
