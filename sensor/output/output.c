/* Outputs: filtering, per-output formatting (pseudonymisation), sequence numbers and the hash
 * chain with signed checkpoints, EVE files with rotation, and hand-off to network senders. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "chain.h"
#include "cryptopan.h"
#include "event.h"
#include "eve_format.h"
#include "fastlog.h"
#include "json_writer.h"
#include "keyfile.h"
#include "output.h"
#include "output_priv.h"

#define LINE_MAX_BYTES (256u << 10)
#define FILE_BUF (256u << 10)
/* After an unclean exit the saved sequence number may be behind what collectors already hold:
 * jump ahead so that no new record reuses a number a collector would drop as a duplicate. */
#define SEQ_UNCLEAN_JUMP (1ull << 20)

struct output {
    struct output_config cfg;
    struct output_stats st; /* file outputs: output thread; network: under the netout's lock */
    struct netout *net;
    struct cryptopan *cp;
    struct eve_format_opts eopts;
    bool seq_on, chain_on, sign_on;
    uint8_t pk[CHAIN_PK_LEN], sk[CHAIN_SK_LEN];
    uint64_t seq;
    uint8_t prev[CHAIN_HASH_LEN];
    uint32_t since_ckpt;
    uint64_t last_ckpt_ns;
    char state_path[OUTPUT_PATH_MAX + 16];
    char sensor_json[256]; /* ,"sensor_id":"..." or "" */
    /* eve-file */
    FILE *f;
    char *fbuf;
    uint64_t fbytes, fopened_ns;
    unsigned rot_idx;
    bool fopened_once; /* append: no empties the file at the first open only */
};

struct outputs {
    unsigned n;
    struct output *o;
    atomic_bool reopen;
    uint64_t now_ns;
    char *fmt, *line; /* LINE_MAX_BYTES each */
};

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool pseudonymise_cb(void *ctx, uint8_t ipv, const uint8_t *in, uint8_t *out)
{
    const struct cryptopan *cp = ctx;
    if (ipv == 4)
        cryptopan_anon_ipv4(cp, in, out);
    else
        cryptopan_anon_ipv6(cp, in, out);
    return true;
}

/* ---- chain state (seq + last hash) ---- */

static void state_save(struct output *o, bool clean)
{
    if (!o->seq_on || !o->state_path[0])
        return;
    char tmp[sizeof(o->state_path) + 8], hex[CHAIN_HASH_HEX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", o->state_path);
    keyfile_hex(o->prev, CHAIN_HASH_LEN, hex);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        output_log(o->cfg.name, "cannot save sequence state %s: %s", tmp, strerror(errno));
        return;
    }
    fprintf(f, "%" PRIu64 " %s %s\n", o->seq, hex, clean ? "clean" : "running");
    if (fclose(f) != 0 || rename(tmp, o->state_path) != 0)
        output_log(o->cfg.name, "cannot save sequence state %s: %s", o->state_path, strerror(errno));
}

static void state_load(struct output *o)
{
    FILE *f = fopen(o->state_path, "r");
    if (!f)
        return;
    char hex[80] = "", mode[16] = "";
    unsigned long long seq = 0;
    if (fscanf(f, "%llu %79s %15s", &seq, hex, mode) == 3 &&
        keyfile_unhex(hex, strlen(hex), o->prev, CHAIN_HASH_LEN) == 0) {
        o->seq = seq;
        if (strcmp(mode, "clean") != 0) {
            output_log(o->cfg.name, "unclean exit last time: sequence numbers continue at %llu + %llu "
                       "(the chain shows a gap there)", seq, (unsigned long long)SEQ_UNCLEAN_JUMP);
            o->seq += SEQ_UNCLEAN_JUMP;
        }
    } else {
        output_log(o->cfg.name, "sequence state %s unreadable: ignored", o->state_path);
    }
    fclose(f);
}

/* ---- files ---- */

/* Outputs that write a file themselves (the others hand records to a network sender). */
static bool kind_is_file(enum output_kind k)
{
    return k == OUTPUT_EVE_FILE || k == OUTPUT_FAST_LOG;
}

static int file_open(struct output *o)
{
    o->f = fopen(o->cfg.path, o->cfg.truncate && !o->fopened_once ? "w" : "a");
    o->fopened_once = true;
    if (!o->f)
        return -errno;
    if (o->fbuf)
        setvbuf(o->f, o->fbuf, _IOFBF, FILE_BUF);
    struct stat st;
    o->fbytes = fstat(fileno(o->f), &st) == 0 ? (uint64_t)st.st_size : 0;
    return 0;
}

static void file_rotate(struct output *o, uint64_t now_ns, bool rename_it)
{
    if (o->f) {
        fclose(o->f);
        o->f = NULL;
    }
    if (rename_it) {
        time_t t = (time_t)(now_ns / 1000000000ull);
        struct tm tm;
        char stamp[32], to[OUTPUT_PATH_MAX + 48];
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
        snprintf(to, sizeof(to), "%s.%s.%u", o->cfg.path, stamp, o->rot_idx++);
        if (rename(o->cfg.path, to) < 0)
            output_log(o->cfg.name, "rotate %s -> %s: %s", o->cfg.path, to, strerror(errno));
    }
    int rc = file_open(o);
    if (rc < 0)
        output_log(o->cfg.name, "cannot open %s: %s; records are counted as lost until it opens",
                   o->cfg.path, strerror(-rc));
    o->fopened_ns = now_ns;
    o->st.rotations++;
}

/* ---- one record ---- */

static int deliver(struct outputs *outs, struct output *o, const struct output_record_meta *m,
                   const char *line, size_t len)
{
    if (o->net) {
        struct spool_record *r = spool_record_new(o->seq, m->flow_id, outs->now_ns, m->severity,
                                                  (uint8_t)m->cls, line, (uint32_t)len);
        if (!r)
            return -ENOMEM;
        return netout_push(o->net, r);
    }
    if (!o->f) {
        file_rotate(o, outs->now_ns, false);
        if (!o->f) {
            o->st.spool_dropped++;
            return -EIO;
        }
    }
    if (fwrite(line, 1, len, o->f) != len || fputc('\n', o->f) == EOF) {
        o->st.send_errors++;
        return -EIO;
    }
    o->fbytes += len + 1;
    o->st.sent++;
    if (o->cfg.rotate_bytes && o->fbytes >= o->cfg.rotate_bytes)
        file_rotate(o, outs->now_ns, true);
    return 0;
}

/* Appends the output's fields (sensor_id, tripline_seq, prev_hash) to one JSON object, chains
 * it and delivers it. */
static int emit(struct outputs *outs, struct output *o, const struct output_record_meta *m,
                const char *json, size_t len)
{
    while (len && (json[len - 1] == '\n' || json[len - 1] == ' '))
        len--;
    if (len < 2 || json[0] != '{' || json[len - 1] != '}') {
        o->st.format_errors++;
        return -EINVAL;
    }
    char *line = outs->line;
    size_t extra = strlen(o->sensor_json) + 128;
    if (len + extra > LINE_MAX_BYTES) {
        o->st.format_errors++;
        output_log(o->cfg.name, "record of %zu bytes too large: dropped", len);
        return -EMSGSIZE;
    }
    size_t n = len - 1;
    bool empty = n == 1; /* "{}" */
    memcpy(line, json, n);
    if (o->sensor_json[0]) {
        size_t sl = strlen(o->sensor_json);
        memcpy(line + n, o->sensor_json + (empty ? 1 : 0), sl - (empty ? 1 : 0));
        n += sl - (empty ? 1 : 0);
        empty = false;
    }
    if (o->seq_on) {
        o->seq++;
        n += (size_t)snprintf(line + n, 64, "%s\"tripline_seq\":%" PRIu64, empty ? "" : ",", o->seq);
        empty = false;
    }
    if (o->chain_on) {
        char hex[CHAIN_HASH_HEX];
        keyfile_hex(o->prev, CHAIN_HASH_LEN, hex);
        n += (size_t)snprintf(line + n, 96, ",\"prev_hash\":\"%s\"", hex);
    }
    line[n++] = '}';
    line[n] = '\0';
    if (o->chain_on)
        chain_hash(line, n, o->prev);
    o->since_ckpt++;
    int rc = deliver(outs, o, m, line, n);
    o->st.written++;
    o->st.seq = o->seq;
    return rc;
}

static int write_checkpoint(struct outputs *outs, struct output *o)
{
    char ts[40], hex[CHAIN_HASH_HEX], sighex[2 * CHAIN_SIG_LEN + 1], keyid[17], msg[CHAIN_MSG_MAX];
    uint8_t sig[CHAIN_SIG_LEN];
    uint64_t seq = o->seq + 1;
    size_t ml = chain_checkpoint_message(seq, o->prev, msg);
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, ml, o->sk);
    keyfile_hex(sig, CHAIN_SIG_LEN, sighex);
    keyfile_hex(o->prev, CHAIN_HASH_LEN, hex);
    keyfile_hex(o->pk, 8, keyid);
    if (!eve_format_timestamp(outs->now_ns, ts, sizeof(ts)))
        snprintf(ts, sizeof(ts), "-");
    char *line = outs->line;
    int n = snprintf(line, LINE_MAX_BYTES,
                     "{\"timestamp\":\"%s\",\"event_type\":\"checkpoint\"%s,\"checkpoint\":{\"records\":%" PRIu32
                     ",\"hash\":\"blake2b-256\",\"signature\":\"ed25519\",\"key_id\":\"%s\"},"
                     "\"tripline_seq\":%" PRIu64 ",\"prev_hash\":\"%s\",\"signature\":\"%s\"}",
                     ts, o->sensor_json, o->since_ckpt, keyid, seq, hex, sighex);
    if (n < 0 || (size_t)n >= LINE_MAX_BYTES)
        return -ENOSPC;
    o->seq = seq;
    chain_hash(line, (size_t)n, o->prev);
    o->since_ckpt = 0;
    o->last_ckpt_ns = outs->now_ns;
    o->st.checkpoints++;
    o->st.seq = o->seq;
    struct output_record_meta m = {.cls = OUTPUT_CLASS_COUNT};
    return deliver(outs, o, &m, line, (size_t)n);
}

static void after_record(struct outputs *outs, struct output *o)
{
    if (o->sign_on && o->cfg.checkpoint_records && o->since_ckpt >= o->cfg.checkpoint_records)
        write_checkpoint(outs, o);
}

static bool passes(const struct output *o, const struct output_record_meta *m)
{
    if (o->cfg.types && !(o->cfg.types & (1u << m->cls)))
        return false;
    if (o->cfg.min_severity && m->severity && m->severity > o->cfg.min_severity)
        return false;
    return true;
}

static void handle_reopen(struct outputs *outs)
{
    if (!atomic_exchange_explicit(&outs->reopen, false, memory_order_acq_rel))
        return;
    for (unsigned i = 0; i < outs->n; i++)
        if (!outs->o[i].net && !outs->o[i].cfg.disabled)
            file_rotate(&outs->o[i], outs->now_ns, false);
}

/* ---- public ---- */

static int output_setup(struct outputs *outs, struct output *o, const struct output_config *cfg,
                        char *err, size_t errlen)
{
    o->cfg = *cfg;
    if (!o->cfg.name[0])
        snprintf(o->cfg.name, sizeof(o->cfg.name), "%s", output_kind_name(cfg->kind));
    if (output_config_validate(&o->cfg, err, errlen) < 0)
        return -EINVAL;
    eve_format_opts_default(&o->eopts);
    o->eopts.host = o->cfg.host[0] ? o->cfg.host : NULL;
    o->eopts.drop_payload = o->cfg.drop_payload;
    if (o->cfg.pseudonymise_key_file[0]) {
        o->cp = cryptopan_new_from_file(o->cfg.pseudonymise_key_file, err, errlen);
        if (!o->cp)
            return -EINVAL;
        o->eopts.pseudonymise = pseudonymise_cb;
        o->eopts.pseudonymise_ctx = o->cp;
    }
    if (o->cfg.sensor_id[0]) {
        char esc[200];
        jw_escape(esc, sizeof(esc), o->cfg.sensor_id, strlen(o->cfg.sensor_id));
        snprintf(o->sensor_json, sizeof(o->sensor_json), ",\"sensor_id\":\"%s\"", esc);
    }
    if (o->cfg.sign_key_file[0]) {
        uint8_t seed[CHAIN_SEED_LEN];
        if (keyfile_read(o->cfg.sign_key_file, seed, sizeof(seed), err, errlen) < 0)
            return -EINVAL;
        int rc = chain_keypair_from_seed(seed, o->pk, o->sk);
        sodium_memzero(seed, sizeof(seed));
        if (rc < 0) {
            snprintf(err, errlen, "output %s: cannot derive Ed25519 key", o->cfg.name);
            return -EINVAL;
        }
        o->sign_on = true;
        o->cfg.chain = true;
    }
    if (o->cfg.disabled)
        return 0; /* enabled: no - kept for its name and counters, opens and writes nothing */
    o->chain_on = o->cfg.chain;
    o->seq_on = o->chain_on || !kind_is_file(cfg->kind);
    if (o->seq_on)
        snprintf(o->state_path, sizeof(o->state_path), "%s%s",
                 cfg->kind == OUTPUT_EVE_FILE ? o->cfg.path : o->cfg.spool_dir,
                 cfg->kind == OUTPUT_EVE_FILE ? ".seq" : "/seq.state");
    if (kind_is_file(cfg->kind)) {
        o->fbuf = malloc(FILE_BUF);
        if (!o->fbuf) {
            snprintf(err, errlen, "output %s: out of memory", o->cfg.name);
            return -ENOMEM;
        }
        int rc = file_open(o);
        if (rc < 0) {
            snprintf(err, errlen, "output %s: cannot open %s: %s", o->cfg.name, o->cfg.path, strerror(-rc));
            return rc;
        }
        o->fopened_ns = outs->now_ns;
        if (o->seq_on)
            state_load(o);
    } else {
        /* the spool directory must exist before the state file can be read */
        o->net = netout_new(&o->cfg, &o->st, err, errlen);
        if (!o->net)
            return -EINVAL;
        state_load(o);
        const struct spool_record *last = netout_spool_last(o->net);
        if (last && last->seq > o->seq) {
            o->seq = last->seq;
            chain_hash(last->data, last->len, o->prev);
        }
    }
    o->last_ckpt_ns = outs->now_ns;
    o->st.seq = o->seq;
    state_save(o, false);
    return 0;
}

struct outputs *outputs_new(const struct output_config *cfgs, unsigned n, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "outputs: libsodium initialisation failed");
        return NULL;
    }
    struct outputs *outs = calloc(1, sizeof(*outs));
    if (!outs)
        goto out_nomem;
    outs->now_ns = wall_ns();
    atomic_init(&outs->reopen, false);
    outs->fmt = malloc(LINE_MAX_BYTES);
    outs->line = malloc(LINE_MAX_BYTES);
    outs->o = calloc(n ? n : 1, sizeof(*outs->o));
    if (!outs->fmt || !outs->line || !outs->o) {
        outputs_free(outs);
        goto out_nomem;
    }
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < i; j++) {
            bool net_i = !kind_is_file(cfgs[i].kind), net_j = !kind_is_file(cfgs[j].kind);
            const char *a = net_i ? cfgs[i].spool_dir : cfgs[i].path;
            const char *b = net_j ? cfgs[j].spool_dir : cfgs[j].path;
            if (net_i == net_j && a[0] && !strcmp(a, b) && !cfgs[i].disabled && !cfgs[j].disabled) {
                snprintf(err, errlen, "outputs %u and %u share %s %s: each output needs its own", j + 1,
                         i + 1, net_i ? "spool-dir" : "filename", a);
                outputs_free(outs);
                return NULL;
            }
        }
    for (unsigned i = 0; i < n; i++) {
        outs->n = i + 1;
        if (output_setup(outs, &outs->o[i], &cfgs[i], err, errlen) < 0) {
            outputs_free(outs);
            return NULL;
        }
    }
    outs->n = n;
    return outs;
out_nomem:
    snprintf(err, errlen, "outputs: out of memory");
    return NULL;
}

static void event_meta(const struct event *ev, struct output_record_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->flow_id = ev->ref.flow_id;
    switch (ev->type) {
    case EVENT_ALERT: m->cls = OUTPUT_CLASS_ALERT; m->severity = ev->u.alert.severity; break;
    case EVENT_FLOW: m->cls = OUTPUT_CLASS_FLOW; break;
    case EVENT_ANOMALY: m->cls = OUTPUT_CLASS_ANOMALY; break;
    case EVENT_DETECTION: m->cls = OUTPUT_CLASS_DETECTION; m->severity = ev->u.detection.severity; break;
    case EVENT_APPLAYER:
        /* enum app_proto (applayer.h): 1 http, 2 dns, 3 tls */
        m->cls = ev->u.applayer.proto == 1   ? OUTPUT_CLASS_HTTP
                 : ev->u.applayer.proto == 2 ? OUTPUT_CLASS_DNS
                 : ev->u.applayer.proto == 3 ? OUTPUT_CLASS_TLS
                                             : OUTPUT_CLASS_COUNT;
        break;
    default: m->cls = OUTPUT_CLASS_COUNT; break;
    }
}

int outputs_write_event(struct outputs *outs, const struct event *ev)
{
    struct output_record_meta m;
    event_meta(ev, &m);
    handle_reopen(outs);
    int ret = 0;
    /* outputs with the same formatting options share one formatted line */
    const struct eve_format_opts *last = NULL;
    size_t len = 0;
    for (unsigned i = 0; i < outs->n; i++) {
        struct output *o = &outs->o[i];
        if (m.cls == OUTPUT_CLASS_COUNT) {
            o->st.format_errors++;
            ret = -EINVAL;
            continue;
        }
        if (!passes(o, &m) || o->cfg.disabled ||
            (o->cfg.kind == OUTPUT_FAST_LOG && ev->type != EVENT_ALERT)) {
            o->st.filtered++;
            continue;
        }
        if (o->cfg.kind == OUTPUT_FAST_LOG) {
            /* its own text line, formatted here in the output thread; no JSON fields added */
            size_t fl;
            if (fastlog_format(&o->eopts, ev, outs->line, LINE_MAX_BYTES, &fl) < 0 || fl < 1) {
                o->st.format_errors++;
                ret = -EIO;
                continue;
            }
            if (deliver(outs, o, &m, outs->line, fl - 1) < 0) /* deliver adds the newline */
                ret = -EIO;
            o->st.written++;
            continue;
        }
        if (!last || last->host != o->eopts.host || last->pseudonymise_ctx != o->eopts.pseudonymise_ctx ||
            last->drop_payload != o->eopts.drop_payload) {
            if (eve_format_event(&o->eopts, ev, outs->fmt, LINE_MAX_BYTES, &len) < 0) {
                o->st.format_errors++;
                ret = -EIO;
                last = NULL;
                continue;
            }
            last = &o->eopts;
        }
        if (emit(outs, o, &m, outs->fmt, len) < 0)
            ret = -EIO;
        after_record(outs, o);
    }
    return ret;
}

int outputs_write_json(struct outputs *outs, const struct output_record_meta *meta, const char *json,
                       size_t len)
{
    handle_reopen(outs);
    int ret = 0;
    for (unsigned i = 0; i < outs->n; i++) {
        struct output *o = &outs->o[i];
        /* preformatted JSON records (app layer, stats) have no fast.log line */
        if (!passes(o, meta) || o->cfg.disabled || o->cfg.kind == OUTPUT_FAST_LOG) {
            o->st.filtered++;
            continue;
        }
        if (emit(outs, o, meta, json, len) < 0)
            ret = -EIO;
        after_record(outs, o);
    }
    return ret;
}

int outputs_write_stats(struct outputs *outs, const char *stats_json, size_t len)
{
    size_t cap = 256 + outs->n * 768;
    char *obj = malloc(cap);
    char *full = malloc(len + cap + 16);
    int ret = -ENOMEM;
    if (!obj || !full)
        goto out;
    struct json_writer w;
    json_writer_init(&w, obj, cap);
    jw_open_object(&w);
    for (unsigned i = 0; i < outs->n; i++) {
        struct output_stats s;
        outputs_stats(outs, i, &s);
        jw_key(&w, outs->o[i].cfg.name);
        jw_open_object(&w);
        jw_kv_str(&w, "type", output_kind_name(outs->o[i].cfg.kind));
        jw_kv_u64(&w, "written", s.written);
        jw_kv_u64(&w, "sent", s.sent);
        jw_kv_u64(&w, "filtered", s.filtered);
        jw_kv_u64(&w, "queued", s.queued);
        jw_kv_u64(&w, "spooled", s.spooled);
        jw_kv_u64(&w, "spool_records", s.spool_records);
        jw_kv_u64(&w, "spool_bytes", s.spool_bytes);
        jw_kv_bool(&w, "spool_full", s.spool_dropped > 0 &&
                   s.spool_bytes + 65536 > outs->o[i].cfg.spool_max_bytes);
        jw_kv_u64(&w, "spool_dropped", s.spool_dropped);
        jw_kv_u64(&w, "spool_corrupt", s.spool_corrupt);
        jw_kv_u64(&w, "resent", s.resent);
        jw_kv_u64(&w, "send_errors", s.send_errors);
        jw_kv_u64(&w, "format_errors", s.format_errors);
        jw_kv_u64(&w, "oversize", s.oversize);
        jw_kv_u64(&w, "checkpoints", s.checkpoints);
        jw_kv_u64(&w, "seq", s.seq);
        jw_kv_bool(&w, "connected", outs->o[i].net ? s.connected : true);
        jw_close_object(&w);
    }
    jw_close_object(&w);
    if (json_writer_finish(&w) < 0)
        goto out;
    while (len && stats_json[len - 1] != '}')
        len--;
    if (len < 2) {
        ret = -EINVAL;
        goto out;
    }
    /* stats is the last member of the stats event: put "outputs" inside it when it is an object */
    size_t at = len - 1, n;
    bool inside = len >= 3 && stats_json[len - 2] == '}';
    if (inside)
        at = len - 2;
    memcpy(full, stats_json, at);
    n = at;
    bool need_comma = stats_json[at - 1] != '{';
    n += (size_t)sprintf(full + n, "%s\"outputs\":", need_comma ? "," : "");
    memcpy(full + n, obj, w.len);
    n += w.len;
    memcpy(full + n, stats_json + at, len - at);
    n += len - at;
    struct output_record_meta m = {.cls = OUTPUT_CLASS_STATS};
    ret = outputs_write_json(outs, &m, full, n);
out:
    free(obj);
    free(full);
    return ret;
}

void outputs_tick(struct outputs *outs, uint64_t now_ns)
{
    outs->now_ns = now_ns;
    handle_reopen(outs);
    for (unsigned i = 0; i < outs->n; i++) {
        struct output *o = &outs->o[i];
        /* the wall clock may step back: restart the intervals rather than wrap */
        if (now_ns < o->last_ckpt_ns)
            o->last_ckpt_ns = now_ns;
        if (now_ns < o->fopened_ns)
            o->fopened_ns = now_ns;
        if (o->sign_on && o->cfg.checkpoint_interval_s && o->since_ckpt &&
            now_ns - o->last_ckpt_ns >= o->cfg.checkpoint_interval_s * 1000000000ull)
            write_checkpoint(outs, o);
        if (o->f) {
            if (o->cfg.rotate_interval_s &&
                now_ns - o->fopened_ns >= o->cfg.rotate_interval_s * 1000000000ull)
                file_rotate(o, now_ns, true);
            else
                fflush(o->f);
        }
        if (o->net) {
            netout_flush_spool(o->net);
            netout_kick(o->net);
        }
        state_save(o, false);
    }
}

void outputs_set_eve_names(struct outputs *outs, eve_app_proto_name_fn app_proto_name,
                           eve_anomaly_name_fn anomaly_name, void *anomaly_name_ctx)
{
    if (!outs)
        return;
    for (unsigned i = 0; i < outs->n; i++) {
        outs->o[i].eopts.app_proto_name = app_proto_name;
        outs->o[i].eopts.anomaly_name = anomaly_name;
        outs->o[i].eopts.anomaly_name_ctx = anomaly_name_ctx;
    }
}

void outputs_set_eve_applayer(struct outputs *outs, eve_applayer_fn fn, void *ctx)
{
    if (!outs)
        return;
    for (unsigned i = 0; i < outs->n; i++) {
        outs->o[i].eopts.applayer = fn;
        outs->o[i].eopts.applayer_ctx = ctx;
    }
}

void outputs_reopen(struct outputs *outs)
{
    atomic_store_explicit(&outs->reopen, true, memory_order_release);
}

int outputs_stats(const struct outputs *outs, unsigned i, struct output_stats *st)
{
    if (i >= outs->n)
        return -ERANGE;
    if (outs->o[i].net)
        netout_stats(outs->o[i].net, st);
    else
        *st = outs->o[i].st;
    return 0;
}

unsigned outputs_count(const struct outputs *outs)
{
    return outs->n;
}

bool outputs_drain(struct outputs *outs, uint32_t timeout_ms)
{
    bool ok = true;
    for (unsigned i = 0; i < outs->n; i++) {
        if (outs->o[i].f)
            fflush(outs->o[i].f);
        if (outs->o[i].net && !netout_drain(outs->o[i].net, timeout_ms))
            ok = false;
    }
    return ok;
}

void outputs_free(struct outputs *outs)
{
    if (!outs)
        return;
    for (unsigned i = 0; i < outs->n; i++) {
        struct output *o = &outs->o[i];
        bool ready = o->net || o->f;
        /* a final checkpoint so that the tail of the chain is signed too */
        if (ready && o->sign_on && o->since_ckpt)
            write_checkpoint(outs, o);
        netout_free(o->net);
        if (o->f)
            fclose(o->f);
        if (ready)
            state_save(o, true);
        free(o->fbuf);
        cryptopan_free(o->cp);
        sodium_memzero(o->sk, sizeof(o->sk));
    }
    free(outs->o);
    free(outs->fmt);
    free(outs->line);
    free(outs);
}
