/* Output configuration: defaults, key/value parsing (called by the config loader), validation. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "output.h"
#include "tripline_config.h"

static const char *const kind_names[OUTPUT_KIND_COUNT] = {
    [OUTPUT_EVE_FILE] = "eve-file",       [OUTPUT_UNIX_STREAM] = "unix-stream",
    [OUTPUT_UNIX_DGRAM] = "unix-dgram",   [OUTPUT_SYSLOG_UDP] = "syslog-udp",
    [OUTPUT_SYSLOG_TCP] = "syslog-tcp",   [OUTPUT_SYSLOG_TLS] = "syslog-tls",
    [OUTPUT_REDIS] = "redis",             [OUTPUT_KAFKA] = "kafka",
    [OUTPUT_FAST_LOG] = "fast",
};

static const char *const class_names[OUTPUT_CLASS_COUNT] = {
    "alert", "flow", "anomaly", "detection", "stats", "http", "dns", "tls",
};

const char *output_kind_name(enum output_kind kind)
{
    return kind < OUTPUT_KIND_COUNT ? kind_names[kind] : "?";
}

void output_config_default(struct output_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->kind = OUTPUT_EVE_FILE;
    snprintf(cfg->path, sizeof(cfg->path), "eve.json");
    snprintf(cfg->key, sizeof(cfg->key), "suricata");
    snprintf(cfg->topic, sizeof(cfg->topic), "tripline");
    snprintf(cfg->app_name, sizeof(cfg->app_name), "tripline");
    cfg->spool_max_bytes = 256ull << 20;
    cfg->queue_records = 4096;
    cfg->retry_min_ms = 100;
    cfg->retry_max_ms = 5000;
    cfg->resend_window = 4096;
    cfg->flush_timeout_ms = 3000;
    cfg->checkpoint_records = 1000;
    cfg->checkpoint_interval_s = 60;
    cfg->syslog_facility = 16; /* local0 */
    cfg->tls_verify = true;
    cfg->kafka_message_timeout_ms = 30000;
}

static int bad(char *err, size_t errlen, const char *key, const char *value, const char *why)
{
    snprintf(err, errlen, "output key '%s': bad value '%s': %s", key, value, why);
    return -EINVAL;
}

/* Unsigned with an optional unit suffix: mult table for k/m/g (bytes) or s/m/h/d (seconds). */
static int parse_u64(const char *v, bool bytes, bool secs, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*v))
        return -EINVAL;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno)
        return -EINVAL;
    while (*end == ' ')
        end++;
    uint64_t m = 1;
    if (*end) {
        char c = (char)tolower((unsigned char)*end);
        if (bytes && c == 'k') m = 1ull << 10;
        else if (bytes && c == 'm') m = 1ull << 20;
        else if (bytes && c == 'g') m = 1ull << 30;
        else if (bytes && c == 'b') m = 1;
        else if (secs && c == 's') m = 1;
        else if (secs && c == 'm') m = 60;
        else if (secs && c == 'h') m = 3600;
        else if (secs && c == 'd') m = 86400;
        else return -EINVAL;
        end++;
        if (bytes && m > 1 && (*end == 'b' || *end == 'B' || *end == 'i'))
            end += (*end == 'i' && (end[1] == 'b' || end[1] == 'B')) ? 2 : 1;
        if (*end)
            return -EINVAL;
    }
    if (x > UINT64_MAX / m)
        return -EINVAL;
    *out = x * m;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcmp(v, "0"))
        *out = false;
    else
        return -EINVAL;
    return 0;
}

static int set_str(char *dst, size_t cap, const char *key, const char *v, char *err, size_t errlen)
{
    if (strlen(v) >= cap)
        return bad(err, errlen, key, v, "too long");
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int parse_types(const char *v, uint32_t *out)
{
    uint32_t m = 0;
    char buf[256];
    if (strlen(v) >= sizeof(buf))
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%s", v);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", []", &save); t; t = strtok_r(NULL, ", []", &save)) {
        unsigned i;
        for (i = 0; i < OUTPUT_CLASS_COUNT; i++)
            if (!strcasecmp(t, class_names[i]))
                break;
        if (i == OUTPUT_CLASS_COUNT)
            return -EINVAL;
        m |= 1u << i;
    }
    if (!m)
        return -EINVAL;
    *out = m;
    return 0;
}

#define KEY(k) (!strcasecmp(key, (k)))
#define STR(field) set_str(cfg->field, sizeof(cfg->field), key, value, err, errlen)

int output_config_set(struct output_config *cfg, const char *key, const char *value, char *err,
                      size_t errlen)
{
    uint64_t u;
    bool b;
    if (KEY("type")) {
        for (unsigned i = 0; i < OUTPUT_KIND_COUNT; i++)
            if (!strcasecmp(value, kind_names[i])) {
                cfg->kind = i;
                return 0;
            }
        return bad(err, errlen, key, value,
                   "expected eve-file, unix-stream, unix-dgram, syslog-udp, syslog-tcp, syslog-tls, redis, kafka or fast");
    }
    if (KEY("name")) {
        /* Suricata names its fast.log output "fast": that name alone selects it */
        if (!strcasecmp(value, "fast")) {
            cfg->kind = OUTPUT_FAST_LOG;
            snprintf(cfg->path, sizeof(cfg->path), "fast.log");
        }
        return STR(name);
    }
    if (KEY("enabled") || KEY("append")) {
        if (parse_bool(value, &b) < 0)
            return bad(err, errlen, key, value, "expected yes or no");
        if (KEY("enabled")) cfg->disabled = !b;
        else cfg->truncate = !b;
        return 0;
    }
    if (KEY("filename") || KEY("path") || KEY("socket")) return STR(path);
    if (KEY("address") || KEY("server") || KEY("brokers")) return STR(address);
    if (KEY("key") || KEY("channel") || KEY("stream")) return STR(key);
    if (KEY("topic")) return STR(topic);
    if (KEY("spool-dir")) return STR(spool_dir);
    if (KEY("pseudonymise-key") || KEY("pseudonymize-key")) {
        cfg->drop_payload = true;
        return STR(pseudonymise_key_file);
    }
    if (KEY("sign-key")) {
        cfg->chain = true;
        return STR(sign_key_file);
    }
    if (KEY("sensor-id")) return STR(sensor_id);
    if (KEY("hostname") || KEY("host")) return STR(host);
    if (KEY("app-name")) return STR(app_name);
    if (KEY("tls-ca")) return STR(tls_ca_file);
    if (KEY("tls-cert")) return STR(tls_cert_file);
    if (KEY("tls-key")) return STR(tls_key_file);
    if (KEY("tls-server-name")) return STR(tls_server_name);
    if (KEY("redis-mode") || KEY("mode")) {
        if (!strcasecmp(value, "list") || !strcasecmp(value, "lpush")) cfg->redis_mode = OUTPUT_REDIS_LPUSH;
        else if (!strcasecmp(value, "rpush")) cfg->redis_mode = OUTPUT_REDIS_RPUSH;
        else if (!strcasecmp(value, "channel") || !strcasecmp(value, "publish")) cfg->redis_mode = OUTPUT_REDIS_PUBLISH;
        else if (!strcasecmp(value, "stream") || !strcasecmp(value, "xadd")) cfg->redis_mode = OUTPUT_REDIS_XADD;
        else return bad(err, errlen, key, value, "expected list, lpush, rpush, channel, publish, stream or xadd");
        return 0;
    }
    if (KEY("kafka-key")) {
        if (!strcasecmp(value, "flow")) cfg->kafka_key = OUTPUT_KAFKA_KEY_FLOW;
        else if (!strcasecmp(value, "sensor")) cfg->kafka_key = OUTPUT_KAFKA_KEY_SENSOR;
        else if (!strcasecmp(value, "none")) cfg->kafka_key = OUTPUT_KAFKA_KEY_NONE;
        else return bad(err, errlen, key, value, "expected flow, sensor or none");
        return 0;
    }
    if (KEY("types")) {
        if (parse_types(value, &cfg->types) < 0)
            return bad(err, errlen, key, value, "expected a list of alert, flow, anomaly, detection, stats");
        return 0;
    }
    if (KEY("drop-payload") || KEY("chain") || KEY("tls-verify")) {
        if (parse_bool(value, &b) < 0)
            return bad(err, errlen, key, value, "expected yes or no");
        if (KEY("drop-payload")) cfg->drop_payload = b;
        else if (KEY("chain")) cfg->chain = b;
        else cfg->tls_verify = b;
        return 0;
    }
    bool bytes = KEY("rotate-size") || KEY("spool-max");
    bool secs = KEY("rotate-interval") || KEY("checkpoint-interval");
    struct { const char *k; uint64_t max; } nums[] = {
        {"port", 65535}, {"min-severity", 255}, {"rotate-size", UINT64_MAX},
        {"rotate-interval", UINT32_MAX}, {"spool-max", UINT64_MAX}, {"queue", 1u << 24},
        {"retry-min-ms", UINT32_MAX}, {"retry-max-ms", UINT32_MAX}, {"resend-window", 1u << 20},
        {"flush-timeout-ms", UINT32_MAX}, {"checkpoint-records", UINT32_MAX},
        {"checkpoint-interval", UINT32_MAX}, {"facility", 23}, {"kafka-message-timeout-ms", UINT32_MAX},
    };
    for (unsigned i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (!KEY(nums[i].k))
            continue;
        if (parse_u64(value, bytes, secs, &u) < 0 || u > nums[i].max)
            return bad(err, errlen, key, value, "expected a number in range (units: k/m/g bytes, s/m/h/d time)");
        switch (i) {
        case 0: cfg->port = (uint16_t)u; break;
        case 1: cfg->min_severity = (uint8_t)u; break;
        case 2: cfg->rotate_bytes = u; break;
        case 3: cfg->rotate_interval_s = (uint32_t)u; break;
        case 4: cfg->spool_max_bytes = u; break;
        case 5: cfg->queue_records = (uint32_t)u; break;
        case 6: cfg->retry_min_ms = (uint32_t)u; break;
        case 7: cfg->retry_max_ms = (uint32_t)u; break;
        case 8: cfg->resend_window = (uint32_t)u; break;
        case 9: cfg->flush_timeout_ms = (uint32_t)u; break;
        case 10: cfg->checkpoint_records = (uint32_t)u; break;
        case 11: cfg->checkpoint_interval_s = (uint32_t)u; break;
        case 12: cfg->syslog_facility = (uint8_t)u; break;
        case 13: cfg->kafka_message_timeout_ms = (uint32_t)u; break;
        }
        return 0;
    }
    snprintf(err, errlen, "unknown output key '%s'", key);
    return -ENOENT;
}

int output_config_validate(const struct output_config *c, char *err, size_t errlen)
{
    const char *n = c->name[0] ? c->name : output_kind_name(c->kind);
    bool net = c->kind != OUTPUT_EVE_FILE && c->kind != OUTPUT_FAST_LOG;
    if (c->kind >= OUTPUT_KIND_COUNT)
        goto fail_kind;
    if ((c->kind == OUTPUT_EVE_FILE || c->kind == OUTPUT_UNIX_STREAM || c->kind == OUTPUT_UNIX_DGRAM ||
         c->kind == OUTPUT_FAST_LOG) &&
        !c->path[0]) {
        snprintf(err, errlen, "output %s: 'filename' is required", n);
        return -EINVAL;
    }
    if ((c->kind >= OUTPUT_SYSLOG_UDP && c->kind <= OUTPUT_REDIS) && (!c->address[0] || !c->port)) {
        snprintf(err, errlen, "output %s: 'address' and 'port' are required", n);
        return -EINVAL;
    }
    if (c->kind == OUTPUT_KAFKA && (!c->address[0] || !c->topic[0])) {
        snprintf(err, errlen, "output %s: 'brokers' and 'topic' are required", n);
        return -EINVAL;
    }
    if (c->kind == OUTPUT_REDIS && !HAVE_REDIS) {
        snprintf(err, errlen, "output %s: this build has no Redis support (hiredis)", n);
        return -EINVAL;
    }
    if (c->kind == OUTPUT_KAFKA && !HAVE_KAFKA) {
        snprintf(err, errlen, "output %s: this build has no Kafka support (librdkafka)", n);
        return -EINVAL;
    }
    if (net && !c->spool_dir[0]) {
        snprintf(err, errlen, "output %s: 'spool-dir' is required for network outputs (nothing is lost "
                 "while the collector is down)", n);
        return -EINVAL;
    }
    if (net && c->spool_max_bytes < 65536) {
        snprintf(err, errlen, "output %s: 'spool-max' must be at least 64k", n);
        return -EINVAL;
    }
    if (!c->queue_records || !c->retry_min_ms || c->retry_max_ms < c->retry_min_ms) {
        snprintf(err, errlen, "output %s: 'queue' must be > 0 and retry-min-ms <= retry-max-ms", n);
        return -EINVAL;
    }
    if (c->kind == OUTPUT_FAST_LOG && (c->sign_key_file[0] || c->chain)) {
        snprintf(err, errlen, "output %s: fast.log lines cannot be chained or signed (use an EVE output)", n);
        return -EINVAL;
    }
    if (c->sign_key_file[0] && !c->checkpoint_records && !c->checkpoint_interval_s) {
        snprintf(err, errlen, "output %s: signing needs checkpoint-records or checkpoint-interval", n);
        return -EINVAL;
    }
    if (c->kind == OUTPUT_SYSLOG_TLS && c->tls_cert_file[0] && !c->tls_key_file[0]) {
        snprintf(err, errlen, "output %s: 'tls-cert' needs 'tls-key'", n);
        return -EINVAL;
    }
    return 0;
fail_kind:
    snprintf(err, errlen, "output %s: unknown type", n);
    return -EINVAL;
}
