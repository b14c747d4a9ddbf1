/* Prometheus text exposition over libmicrohttpd. See metrics.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "tripline_config.h"

#define METRICS_BODY_MAX (256u << 10)

struct metrics_server {
    struct MHD_Daemon *d;
    struct tl_log *log;
    uint16_t port;
    pthread_mutex_t mu; /* guards snap */
    struct metrics_snapshot snap;
    char names[METRICS_MAX_OUTPUTS][OUTPUT_NAME_MAX];
    unsigned n_names;
};

int metrics_parse_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *salen)
{
    char host[128];
    const char *colon;
    memset(sa, 0, sizeof(*sa));
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - listen - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, listen + 1, (size_t)(rb - listen - 1));
        host[rb - listen - 1] = 0;
        colon = rb + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof(host) || colon == listen)
            return -EINVAL;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = 0;
    }
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port > 65535)
        return -EINVAL;
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *salen = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *salen = sizeof(*v6);
        return 0;
    }
    return -EINVAL;
}

/* ---- formatting ------------------------------------------------------------------------------ */

struct buf {
    char *p;
    size_t cap, len; /* len may exceed cap: the length needed */
};

__attribute__((format(printf, 2, 3))) static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One unlabelled sample with its HELP and TYPE lines. */
static void metric(struct buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    head(b, name, type, help);
    put(b, "%s %" PRIu64 "\n", name, v);
}

/* Label value escaping of the text format: backslash, double quote and line feed. */
static void label_value(struct buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            put(b, "\\\\");
        else if (*v == '"')
            put(b, "\\\"");
        else if (*v == '\n')
            put(b, "\\n");
        else
            put(b, "%c", *v);
    }
}

static void output_metric(struct buf *b, const struct metrics_snapshot *s, const char *name,
                          const char *type, const char *help, size_t field_off)
{
    head(b, name, type, help);
    for (unsigned i = 0; i < s->n_outputs; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&s->out[i].st + field_off, sizeof(v));
        put(b, "%s{output=\"", name);
        label_value(b, s->out[i].name);
        put(b, "\"} %" PRIu64 "\n", v);
    }
}

size_t metrics_format(const struct metrics_snapshot *s, char *out, size_t cap)
{
    struct buf b = {.p = out, .cap = cap, .len = 0};
    const struct sensor_totals *t = &s->t;

    head(&b, "tripline_build_info", "gauge", "Build information (value 1).");
    put(&b, "tripline_build_info{version=\"%s\",dpdk=\"%s\",xdp=\"%s\"} 1\n", TRIPLINE_VERSION,
        HAVE_DPDK ? "yes" : "no", HAVE_XDP ? "yes" : "no");
    metric(&b, "tripline_start_time_seconds", "gauge", "Process start time, Unix seconds.",
           (uint64_t)s->start_time_s);
    if (!s->valid) {
        if (cap)
            out[b.len < cap ? b.len : cap - 1] = 0;
        return b.len;
    }
    metric(&b, "tripline_workers", "gauge", "Worker threads.", s->workers);
    metric(&b, "tripline_rules_loaded", "gauge", "Rules in the running rule set.", t->rules_loaded);
    metric(&b, "tripline_rules_generation", "gauge",
           "Generation of the running rule set (1: loaded at start, +1 per reload).",
           s->rules_generation);
    metric(&b, "tripline_rules_generations_alive", "gauge",
           "Rule sets held in memory (1; 2 while a replaced one waits for its queued alerts).",
           s->rules_generations_alive);
    head(&b, "tripline_rule_reloads_total", "counter", "Rule reloads, by result.");
    put(&b, "tripline_rule_reloads_total{result=\"ok\"} %" PRIu64 "\n", s->reloads_ok);
    put(&b, "tripline_rule_reloads_total{result=\"failed\"} %" PRIu64 "\n", s->reloads_failed);
    metric(&b, "tripline_packets_total", "counter", "Packets read from the capture.", t->packets);
    metric(&b, "tripline_bytes_total", "counter", "Bytes (wire length) read from the capture.",
           t->bytes);
    metric(&b, "tripline_packets_processed_total", "counter", "Packets decoded by the workers.",
           t->processed);
    metric(&b, "tripline_decode_invalid_total", "counter",
           "Packets with a decoder anomaly (malformed).", t->decode_invalid);
    head(&b, "tripline_drops_total", "counter",
         "Packets lost, by reason: capture_kernel (socket buffer), capture_interface (NIC), "
         "dispatch (live: a worker's ring was full).");
    put(&b, "tripline_drops_total{reason=\"capture_kernel\"} %" PRIu64 "\n", t->capture_kernel_drops);
    put(&b, "tripline_drops_total{reason=\"capture_interface\"} %" PRIu64 "\n", t->capture_iface_drops);
    put(&b, "tripline_drops_total{reason=\"dispatch\"} %" PRIu64 "\n", t->dispatch_drops);
    metric(&b, "tripline_snaplen_cut_total", "counter", "Packets cut by the capture's snaplen.",
           t->snaplen_cut);
    metric(&b, "tripline_read_errors_total", "counter", "Capture files with a bad record.",
           t->read_errors);
    metric(&b, "tripline_dispatch_waits_total", "counter",
           "Replay: times the reader waited for a worker (back-pressure, no loss).", t->dispatch_waits);
    metric(&b, "tripline_event_ring_full_total", "counter",
           "Events that found their worker's event ring full and went to the overflow buffer "
           "(not lost).", t->event_ring_full);
    metric(&b, "tripline_event_waits_total", "counter",
           "Times a worker waited because its event overflow buffer was full (not lost).",
           t->event_waits);
    metric(&b, "tripline_flows_active", "gauge", "Flows in the flow tables.", t->flows_active);
    metric(&b, "tripline_flows_created_total", "counter", "Flows created.", t->flows_created);
    metric(&b, "tripline_flows_ended_total", "counter", "Flows ended (timeout, eviction, shutdown).",
           t->flows_ended);
    metric(&b, "tripline_flows_evicted_total", "counter",
           "Flows ended early because the flow table was full.", t->flows_evicted);
    head(&b, "tripline_flows_by_protocol_total", "counter", "Flows created, by transport protocol.");
    put(&b, "tripline_flows_by_protocol_total{proto=\"tcp\"} %" PRIu64 "\n", t->tcp_flows);
    put(&b, "tripline_flows_by_protocol_total{proto=\"udp\"} %" PRIu64 "\n", t->udp_flows);
    head(&b, "tripline_alerts_total", "counter",
         "Alerts (rule alerts and anomaly detections) by severity, 1 highest.");
    for (int k = 1; k <= 4; k++)
        put(&b, "tripline_alerts_total{severity=\"%d\"} %" PRIu64 "\n", k, t->alerts_severity[k]);
    metric(&b, "tripline_anomaly_events_total", "counter", "Decoder anomaly events.",
           t->anomaly_events);
    metric(&b, "tripline_flow_events_total", "counter", "Flow records emitted.", t->flow_events);
    metric(&b, "tripline_events_written_total", "counter",
           "Events handed to the outputs by the output thread.", t->events_written);
    metric(&b, "tripline_output_errors_total", "counter",
           "Events that could not be formatted or written.", t->output_errors);
    output_metric(&b, s, "tripline_output_queue_depth", "gauge",
                  "Records waiting in an output's in-memory queue.", offsetof(struct output_stats, queued));
    output_metric(&b, s, "tripline_output_spool_bytes", "gauge", "Bytes in an output's disk spool.",
                  offsetof(struct output_stats, spool_bytes));
    output_metric(&b, s, "tripline_output_spool_records", "gauge",
                  "Records in an output's disk spool.", offsetof(struct output_stats, spool_records));
    output_metric(&b, s, "tripline_output_records_total", "counter",
                  "Records an output accepted after filtering.", offsetof(struct output_stats, written));
    output_metric(&b, s, "tripline_output_sent_total", "counter",
                  "Records an output delivered.", offsetof(struct output_stats, sent));
    output_metric(&b, s, "tripline_output_spool_dropped_total", "counter",
                  "Records an output lost because its spool was full.",
                  offsetof(struct output_stats, spool_dropped));
    output_metric(&b, s, "tripline_output_send_errors_total", "counter",
                  "Failed sends or connects of an output.", offsetof(struct output_stats, send_errors));
    if (cap)
        out[b.len < cap ? b.len : cap - 1] = 0;
    return b.len;
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *ctype,
                               const char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct metrics_server *m = cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n", 19);
    if (strcmp(url, "/metrics") != 0)
        return respond(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found: try /metrics\n", 24);
    struct metrics_snapshot *snap = malloc(sizeof(*snap));
    char *body = malloc(METRICS_BODY_MAX);
    enum MHD_Result ret = MHD_NO;
    if (snap && body) {
        pthread_mutex_lock(&m->mu);
        *snap = m->snap;
        pthread_mutex_unlock(&m->mu);
        size_t len = metrics_format(snap, body, METRICS_BODY_MAX);
        if (len < METRICS_BODY_MAX)
            ret = respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
        else
            ret = respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "too large\n", 10);
    }
    free(snap);
    free(body);
    return ret;
}

void metrics_update(void *ctx, struct sensor *s)
{
    struct metrics_server *m = ctx;
    struct metrics_snapshot *n = malloc(sizeof(*n));
    if (!n)
        return; /* the previous snapshot stays */
    memset(n, 0, sizeof(*n));
    sensor_get_totals(s, &n->t);
    n->workers = sensor_worker_count(s);
    struct reload *rl = sensor_reload(s);
    if (rl) {
        struct reload_stats rst;
        reload_get_stats(rl, &rst);
        n->rules_generation = rst.generation;
        n->reloads_ok = rst.reloads_ok;
        n->reloads_failed = rst.reloads_failed;
        n->rules_generations_alive = rst.generations_alive;
    }
    const struct outputs *outs = sensor_outputs(s);
    unsigned no = outs ? outputs_count(outs) : 0;
    if (no > METRICS_MAX_OUTPUTS)
        no = METRICS_MAX_OUTPUTS;
    for (unsigned i = 0; i < no; i++) {
        if (outputs_stats(outs, i, &n->out[i].st) != 0)
            memset(&n->out[i].st, 0, sizeof(n->out[i].st));
        if (i < m->n_names)
            snprintf(n->out[i].name, sizeof(n->out[i].name), "%s", m->names[i]);
        else
            snprintf(n->out[i].name, sizeof(n->out[i].name), "output%u", i);
    }
    n->n_outputs = no;
    n->valid = true;
    pthread_mutex_lock(&m->mu);
    n->start_time_s = m->snap.start_time_s;
    m->snap = *n;
    pthread_mutex_unlock(&m->mu);
    free(n);
}

/* The engine names its outputs after the keys of the `outputs` section (a `name:` inside an
 * entry overrides it); without that section there is one, "eve-log" (engine.c). */
static void output_names(struct metrics_server *m, const struct tl_config *cfg)
{
    const struct cfg_node *sec = config_get(cfg->root, "outputs");
    m->n_names = 0;
    if (sec && sec->kind == CFG_MAP)
        for (const struct cfg_node *c = sec->child; c && m->n_names < METRICS_MAX_OUTPUTS; c = c->next) {
            const struct cfg_node *nm = config_get(c, "name");
            const char *name = nm && nm->kind == CFG_SCALAR && nm->value ? nm->value : c->key;
            snprintf(m->names[m->n_names++], OUTPUT_NAME_MAX, "%s", name ? name : "?");
        }
    if (m->n_names == 0)
        snprintf(m->names[m->n_names++], OUTPUT_NAME_MAX, "eve-log");
}

struct metrics_server *metrics_server_new(const struct tl_config *cfg, struct tl_log *lg, char *err,
                                          size_t errlen)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    if (metrics_parse_listen(cfg->metrics_listen, &sa, &salen) < 0) {
        snprintf(err, errlen, "key 'metrics.listen': bad address '%s' (expected ADDRESS:PORT)",
                 cfg->metrics_listen);
        return NULL;
    }
    struct metrics_server *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->log = lg;
    pthread_mutex_init(&m->mu, NULL);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    m->snap.start_time_s = (double)now.tv_sec;
    output_names(m, cfg);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    uint16_t port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                   : ((struct sockaddr_in *)&sa)->sin_port);
    m->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 16u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!m->d) {
        snprintf(err, errlen, "metrics: cannot listen on %s (address in use or not local?)",
                 cfg->metrics_listen);
        pthread_mutex_destroy(&m->mu);
        free(m);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : port;
    char host[64] = "";
    if (sa.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host, sizeof(host));
        tl_notice(lg, "metrics: serving http://[%s]:%u/metrics", host, m->port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host, sizeof(host));
        tl_notice(lg, "metrics: serving http://%s:%u/metrics", host, m->port);
    }
    return m;
}

uint16_t metrics_server_port(const struct metrics_server *m)
{
    return m->port;
}

void metrics_server_free(struct metrics_server *m)
{
    if (!m)
        return;
    MHD_stop_daemon(m->d);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
