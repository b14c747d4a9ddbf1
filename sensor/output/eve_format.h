/* EVE JSON formatting: one struct event -> one line of EVE JSON, as Suricata writes it.
 *
 * Called by the engine's output thread (never on the packet path). Shapes and field order follow
 * Suricata 6/7 so that EveBox, Filebeat's Suricata module and fever read the output unchanged:
 *
 *   timestamp, flow_id, in_iface, event_type, vlan, src_ip, src_port, dest_ip, dest_port, proto,
 *   icmp_type/icmp_code (ICMP), [app_proto,] community_id, <type object>, [tcp], host
 *
 * flow     -> "flow": {pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient, start, end,
 *             age, state, reason, alerted}, then "tcp" for TCP flows.
 * alert    -> "alert": {action, gid, signature_id, rev, signature, category, severity, metadata},
 *             then app_proto and direction (Suricata 7 writes them after the alert object).
 * anomaly  -> "anomaly": {type, event, layer}.
 * applayer (EVENT_APPLAYER, the last chunk of a transaction's snapshot) -> event_type "http",
 *             "dns" or "tls" (the app_proto name of the chunk's proto), app_proto, then what
 *             opts.applayer writes (tx_id and the object); alerts with app_obj get the object
 *             after "direction", as Suricata adds http/dns/tls to alerts on such flows.
 * detection (an anomaly detector's alert) -> an EVE alert with gid EVE_DETECTION_GID,
 *             category = the detector's class name, plus a "tripline" object: phase,
 *             incident_id, start, attackers, victims, victim_port, asset, metrics.
 * stats    -> "stats": {uptime, ...} with dotted counter names nested as objects.
 *
 * Ports are written for TCP, UDP and SCTP only; ICMP events carry icmp_type/icmp_code instead
 * (and response_icmp_type/code on flows), as Suricata does. Flow state "closing" (FIN seen) is
 * written as Suricata's "established": Suricata only knows new/established/closed.
 *
 * Lines end without a newline; the caller frames them. Functions are reentrant; the options
 * are read-only while formatting.
 */
#ifndef TRIPLINE_EVE_FORMAT_H
#define TRIPLINE_EVE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

#define EVE_DETECTION_GID 2 /* gid of anomaly-detector alerts (rules use gid 1) */

/* What the formatter needs from a rule. By default it is read from the alert's struct rule_meta
 * (rules/rules.h); a rule_info callback in the options overrides that (tests, other rule
 * sources). Strings must stay valid until eve_format_event() returns. */
struct eve_rule_info {
    const char *msg;           /* alert.signature */
    const char *category;      /* alert.category (classtype description), NULL to omit */
    const char *metadata_json; /* a JSON object text {"key":["v1","v2"]}, NULL to omit */
    bool blocked;              /* drop/reject: alert.action "blocked", else "allowed" */
};
typedef bool (*eve_rule_info_fn)(void *ctx, const struct event_alert *a, struct eve_rule_info *out);

/* Maps an address to its pseudonym (Crypto-PAn...). in/out are 4 bytes for IPv4, 16 for IPv6.
 * Returns false to keep the original. When set, src_ip/dest_ip, the detection peers and the
 * community_id all use the mapped addresses. */
typedef bool (*eve_pseudonymise_fn)(void *ctx, uint8_t ip_version, const uint8_t *in, uint8_t *out);

/* Name of an anomaly: *event like "decoder.ipv4.trunc_pkt", *layer optional (applayer parser
 * name) or NULL. Returns false if unknown: the formatter then uses "decoder." +
 * decode_reason_name() for decode anomalies, else "<type>.code_<n>". */
typedef bool (*eve_anomaly_name_fn)(void *ctx, const struct event_anomaly *a, const char **event,
                                    const char **layer);

/* Name of an app_proto value ("http"), or NULL when unknown (the field is then omitted). */
typedef const char *(*eve_app_proto_name_fn)(uint16_t app_proto);

struct json_writer;
/* Writes the app-layer part of an event into the open top-level object: for EVENT_APPLAYER the
 * record's "tx_id" and "http"/"dns"/"tls" object, for an alert with app_obj its transaction's
 * object. Returns 0, or <0 when it has nothing for this event (the formatter then writes none;
 * an EVENT_APPLAYER record is then refused). Set by sensor/applayer (applayer_eve_asm_write). */
typedef int (*eve_applayer_fn)(void *ctx, struct json_writer *w, const struct event *ev);

struct eve_format_opts {
    const char *host;     /* Suricata's sensor-name: written as "host", NULL to omit */
    const char *in_iface; /* NULL to omit */
    bool community_id;    /* write community_id (default true) */
    uint16_t community_id_seed;
    bool drop_payload;    /* never write payload/packet fields (we write none yet; kept for outputs) */
    bool inline_mode;     /* drop/reject rules write alert.action "blocked"; off (IDS), they write
                             "allowed" as Suricata does in IDS mode */
    eve_rule_info_fn rule_info;
    void *rule_info_ctx;
    eve_pseudonymise_fn pseudonymise;
    void *pseudonymise_ctx;
    eve_anomaly_name_fn anomaly_name;
    void *anomaly_name_ctx;
    eve_app_proto_name_fn app_proto_name;
    eve_applayer_fn applayer; /* NULL: no app-layer records, no objects in alerts */
    void *applayer_ctx;
};

/* Defaults: community_id on with seed 0, everything else off/NULL. */
void eve_format_opts_default(struct eve_format_opts *o);

/* Formats ev as one EVE JSON object into buf (NUL-terminated, no newline). *len receives the
 * length. Returns 0, -ENOSPC when cap is too small (buf then holds no usable line), or -EINVAL
 * for an unknown event type. */
int eve_format_event(const struct eve_format_opts *o, const struct event *ev, char *buf, size_t cap,
                     size_t *len);

/* One named counter for the stats event. Dotted names nest: "decoder.pkts" becomes
 * "decoder":{"pkts":N}. Order is kept (first appearance of each group). */
struct eve_stat {
    const char *name;
    uint64_t value;
};

/* Formats a stats event: {"timestamp":..,"event_type":"stats","stats":{"uptime":N,...}}. ts_ns
 * is the time of the snapshot (wall time for live capture, packet time for replay). */
int eve_format_stats(const struct eve_format_opts *o, uint64_t ts_ns, uint64_t uptime_s,
                     const struct eve_stat *stats, size_t n, char *buf, size_t cap, size_t *len);

/* Writes a timestamp like 2017-04-07T22:24:37.251547+0000 in the process's local time zone
 * (TZ). Returns its length (31 for 4-digit years), or 0 if it does not fit. */
size_t eve_format_timestamp(uint64_t ts_ns, char *out, size_t cap);

/* Suricata's protocol name ("TCP", "UDP", "ICMP", "IPv6-ICMP", ...) or the decimal number. */
const char *eve_proto_name(uint8_t proto, char tmp[4]);

#endif
