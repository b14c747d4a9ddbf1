/* Outputs: where formatted events go. Any number of outputs at once, each with its own event-type
 * filter, minimum severity, pseudonymisation and tamper-evidence chain.
 *
 * Threading: one thread (the engine's output thread) calls outputs_write_event/json/stats,
 * outputs_tick and outputs_free. outputs_reopen() may be called from any thread (it only sets a
 * flag; the reopen happens in the output thread's next call). Network outputs never block that
 * thread on the network: each has its own sender thread fed through a bounded in-memory queue and,
 * when the queue is full or the collector is down, a bounded on-disk spool (see spool.h).
 *
 * Delivery: at least once, in order, per output. Every record of a network output (and of any
 * signed output) carries "tripline_seq" (per output, monotonic across restarts) so a collector can
 * drop duplicates. A full spool drops the record, counts it (output_stats.spool_dropped), logs it
 * and reports it in the next stats record: never silently.
 */
#ifndef TRIPLINE_OUTPUT_H
#define TRIPLINE_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eve_format.h"

struct event;

enum output_kind {
    OUTPUT_EVE_FILE = 0, /* JSON lines file, rotation by size/time, reopen on SIGHUP */
    OUTPUT_UNIX_STREAM,  /* JSON lines over a SOCK_STREAM Unix socket (fever, EveBox) */
    OUTPUT_UNIX_DGRAM,   /* one JSON object per SOCK_DGRAM datagram */
    OUTPUT_SYSLOG_UDP,   /* RFC 5424 over UDP (RFC 5426), one message per datagram */
    OUTPUT_SYSLOG_TCP,   /* RFC 5424 over TCP, octet-counting framing (RFC 6587 3.4.1) */
    OUTPUT_SYSLOG_TLS,   /* RFC 5424 over TLS (RFC 5425), server certificate verified */
    OUTPUT_REDIS,        /* Redis list / channel / stream, as Suricata writes them */
    OUTPUT_KAFKA,        /* Kafka through librdkafka, acks=all */
    OUTPUT_FAST_LOG,     /* Suricata's fast.log: one text line per alert (fastlog.h); other
                            events are not written to it. Rotation and reopen as eve-file */
    OUTPUT_KIND_COUNT
};

enum output_redis_mode { OUTPUT_REDIS_LPUSH = 0, OUTPUT_REDIS_RPUSH, OUTPUT_REDIS_PUBLISH, OUTPUT_REDIS_XADD };
enum output_kafka_key { OUTPUT_KAFKA_KEY_FLOW = 0, OUTPUT_KAFKA_KEY_SENSOR, OUTPUT_KAFKA_KEY_NONE };

/* Record classes for the event-type filter (bit = 1u << class). */
enum output_class {
    OUTPUT_CLASS_ALERT = 0,  /* EVENT_ALERT */
    OUTPUT_CLASS_FLOW,       /* EVENT_FLOW */
    OUTPUT_CLASS_ANOMALY,    /* EVENT_ANOMALY */
    OUTPUT_CLASS_DETECTION,  /* EVENT_DETECTION (anomaly detectors' alerts) */
    OUTPUT_CLASS_STATS,      /* stats records */
    OUTPUT_CLASS_HTTP,       /* EVENT_APPLAYER records of HTTP transactions (event_type http) */
    OUTPUT_CLASS_DNS,        /* ... DNS messages (event_type dns) */
    OUTPUT_CLASS_TLS,        /* ... TLS handshakes (event_type tls) */
    OUTPUT_CLASS_COUNT
};

#define OUTPUT_PATH_MAX 256
#define OUTPUT_NAME_MAX 64

/* One output's configuration. Plain data: fill with output_config_default() then
 * output_config_set() per key (what the YAML loader calls), then output_config_validate(). */
struct output_config {
    char name[OUTPUT_NAME_MAX]; /* for logs, stats and file names; default: the kind */
    enum output_kind kind;
    char path[OUTPUT_PATH_MAX];    /* eve-file path, unix socket path */
    char address[OUTPUT_PATH_MAX]; /* host name or address; kafka: bootstrap brokers list */
    uint16_t port;
    char key[128];   /* redis: list key / channel / stream key (default "suricata") */
    char topic[128]; /* kafka topic */
    enum output_redis_mode redis_mode;
    enum output_kafka_key kafka_key;
    uint32_t types;       /* bit set of 1u << enum output_class; 0 = every type */
    uint8_t min_severity; /* pass events whose severity is <= this (1 highest); 0 = no filter.
                             Applies to events that carry one (alert, detection); others pass. */
    uint64_t rotate_bytes;      /* eve-file: rotate when the file reaches this size; 0 = never */
    uint32_t rotate_interval_s; /* eve-file: rotate every this many seconds; 0 = never */
    char spool_dir[OUTPUT_PATH_MAX]; /* network outputs: required */
    uint64_t spool_max_bytes;        /* bound of the spool on disk (default 256 MiB) */
    uint32_t queue_records;          /* bound of the in-memory queue (default 4096) */
    uint32_t retry_min_ms, retry_max_ms; /* reconnect backoff, doubled per failure */
    uint32_t resend_window;          /* syslog tcp/tls, unix stream: records resent after a
                                        reconnect because these transports have no acks */
    uint32_t flush_timeout_ms;       /* outputs_free(): time to drain before spooling the rest */
    char pseudonymise_key_file[OUTPUT_PATH_MAX]; /* Crypto-PAn key (32 bytes); "" = off */
    bool drop_payload;               /* drop payload fields (on by default when pseudonymising) */
    char sign_key_file[OUTPUT_PATH_MAX]; /* Ed25519 seed (32 bytes); "" = no signing */
    bool chain;                      /* hash chain (on when signing) */
    uint32_t checkpoint_records;     /* signed checkpoint every N records (default 1000) */
    uint32_t checkpoint_interval_s;  /* ... or every T seconds (default 60) */
    char sensor_id[64];
    char host[128];
    /* syslog */
    uint8_t syslog_facility;   /* default 16 (local0) */
    char app_name[48];         /* default "tripline" */
    /* TLS (syslog-tls) */
    char tls_ca_file[OUTPUT_PATH_MAX];
    char tls_cert_file[OUTPUT_PATH_MAX];
    char tls_key_file[OUTPUT_PATH_MAX];
    char tls_server_name[128]; /* checked against the certificate; default: address */
    bool tls_verify;           /* default true; turning it off is refused unless explicitly set */
    /* kafka */
    uint32_t kafka_message_timeout_ms; /* librdkafka message.timeout.ms (default 30000) */
    /* Suricata's keys of every file output (fast, eve-log) */
    bool disabled; /* enabled: no - the output is kept (stats, names) but writes nothing */
    bool truncate; /* append: no - eve-file / fast: the file is emptied when first opened */
};

/* Per-output counters (read by outputs_stats(); summed by the caller as needed). */
struct output_stats {
    uint64_t written;        /* records accepted after filtering */
    uint64_t filtered;       /* events the filter refused */
    uint64_t sent;           /* records delivered (acknowledged where the transport acks) */
    uint64_t queued;         /* records now in the in-memory queue */
    uint64_t spooled;        /* records ever written to the spool */
    uint64_t spool_records;  /* records now in the spool */
    uint64_t spool_bytes;    /* bytes now in the spool */
    uint64_t spool_dropped;  /* records refused because the spool was full */
    uint64_t spool_corrupt;  /* corrupt spool frames skipped */
    uint64_t resent;         /* records sent again after a failure (at-least-once) */
    uint64_t send_errors;    /* failed sends / connects */
    uint64_t format_errors;  /* events the formatter refused */
    uint64_t oversize;       /* records too large for the transport (datagrams) */
    uint64_t checkpoints;    /* signed checkpoints written */
    uint64_t rotations;      /* eve-file rotations and reopens */
    uint64_t seq;            /* last sequence number assigned */
    bool connected;
};

/* Metadata of a preformatted JSON record (outputs_write_json). */
struct output_record_meta {
    enum output_class cls;
    uint8_t severity; /* 0 = none */
    uint64_t flow_id; /* kafka key by flow; 0 = none */
};

struct outputs;

/* Fills defaults: kind eve-file, path "eve.json", all types, no filter, spool 256 MiB,
 * queue 4096, retry 100 ms .. 5 s, checkpoint every 1000 records / 60 s. */
void output_config_default(struct output_config *cfg);

/* Sets one key from its text value, as written in the config file: type, name, filename|path,
 * address|server|host, port, key, topic, redis-mode (list|lpush|rpush|channel|publish|stream|xadd),
 * kafka-key (flow|sensor|none), types (comma list of alert,flow,anomaly,detection,stats,http,dns,tls),
 * min-severity, rotate-size (bytes, k/m/g suffix), rotate-interval (seconds, s/m/h/d suffix),
 * spool-dir, spool-max (bytes), queue, retry-min-ms, retry-max-ms, resend-window, flush-timeout-ms,
 * pseudonymise-key, drop-payload (yes|no), sign-key, chain, checkpoint-records,
 * checkpoint-interval, sensor-id, hostname, facility, app-name, tls-ca, tls-cert, tls-key,
 * tls-server-name, tls-verify, kafka-message-timeout-ms, enabled (yes|no), append (yes|no).
 * Types: eve-file | unix-stream | unix-dgram | syslog-udp | syslog-tcp | syslog-tls | redis | kafka
 * | fast. The name "fast" (Suricata's output name) also selects type fast and filename fast.log,
 * which later keys may change.
 * Returns 0, -ENOENT (unknown key) or -EINVAL (bad value); err says which and why. */
int output_config_set(struct output_config *cfg, const char *key, const char *value, char *err,
                      size_t errlen);

/* Checks a filled config (required keys per kind, ranges). Returns 0 or -EINVAL with err. */
int output_config_validate(const struct output_config *cfg, char *err, size_t errlen);

/* Name of a kind as accepted by output_config_set("type"). */
const char *output_kind_name(enum output_kind kind);

/* Builds the outputs: opens files, loads keys, reads each network output's spool (sent first),
 * starts sender threads. Returns NULL with err on any failure (nothing left running). */
struct outputs *outputs_new(const struct output_config *cfgs, unsigned n, char *err, size_t errlen);

/* Formats one event (eve_format_event) for every output whose filter passes it, applying that
 * output's pseudonymisation, and writes it. Output thread only. Returns 0, or -EIO when at least
 * one output lost the record (counted in that output's stats and logged). */
int outputs_write_event(struct outputs *outs, const struct event *ev);

/* Writes one preformatted JSON object (one line, no newline, ending in '}') to every output whose
 * filter passes `meta`. No pseudonymisation is applied (the caller formatted it). Output thread
 * only. Returns as outputs_write_event. */
int outputs_write_json(struct outputs *outs, const struct output_record_meta *meta, const char *json,
                       size_t len);

/* Writes a stats record: the engine's stats JSON object (from eve_format_stats) with an
 * "outputs" object added that holds every output's counters (spool full and drops included).
 * Output thread only. */
int outputs_write_stats(struct outputs *outs, const char *stats_json, size_t len);

/* Periodic work, called by the output thread about once a second with the wall clock (ns):
 * flushes file buffers, rotates by time, writes time-based checkpoints, saves chain state. */
void outputs_tick(struct outputs *outs, uint64_t now_ns);

/* Requests reopening of every file output (SIGHUP / logrotate). Any thread; async-signal-safe. */
void outputs_reopen(struct outputs *outs);

/* Gives every output the names the formatter cannot know by itself (app_proto values, app-layer
 * anomaly names), from the layers that own them. Call once after outputs_new(), before the first
 * event. Either function may be NULL. */
void outputs_set_eve_names(struct outputs *outs, eve_app_proto_name_fn app_proto_name,
                           eve_anomaly_name_fn anomaly_name, void *anomaly_name_ctx);

/* Gives every output the writer of app-layer objects (sensor/applayer's applayer_eve_asm_write
 * with its state): EVENT_APPLAYER records and alerts with app_obj then carry http/dns/tls.
 * Call once after outputs_new(), before the first event. */
void outputs_set_eve_applayer(struct outputs *outs, eve_applayer_fn fn, void *ctx);

/* Copies output `i`'s counters. Returns 0 or -ERANGE. Any thread. */
int outputs_stats(const struct outputs *outs, unsigned i, struct output_stats *st);

/* Number of outputs. */
unsigned outputs_count(const struct outputs *outs);

/* Waits up to timeout_ms until every network output has delivered all it holds (queue and spool)
 * or given up on the collector. Returns true when nothing is pending. Output thread only. */
bool outputs_drain(struct outputs *outs, uint32_t timeout_ms);

/* Flushes and closes everything: network outputs get flush_timeout_ms to deliver, the rest is
 * written to their spool for the next start. NULL is a no-op. */
void outputs_free(struct outputs *outs);

#endif
