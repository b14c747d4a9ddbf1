/* EVE `http`, `dns` and `tls` objects in Suricata's shape, for app-layer event records and for
 * alerts on such flows.
 *
 * A transaction lives only during the applayer_tx_fn callback, while EVE lines are written later
 * on the output thread. So the worker takes a snapshot (applayer_eve_snapshot(): bounded memcpy
 * of the fields EVE shows into a caller buffer, no text formatting) and hands the bytes on with
 * its event; the output thread turns the snapshot into JSON (applayer_eve_write()).
 *
 * Links against sensor/output's json_writer: a program that calls these links output_dep too.
 */
#ifndef TRIPLINE_APPLAYER_EVE_H
#define TRIPLINE_APPLAYER_EVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "applayer.h"
#include "json_writer.h"

/* A snapshot never needs more than this (strings are cut to fit and a longer one is marked). */
#define APPLAYER_EVE_SNAPSHOT_MAX 4096

/* Copies what EVE shows of tx as seen at the completion of direction dir into buf. Returns the
 * bytes used (0 if cap is under 16 or tx is NULL). Caller: the worker, inside applayer_tx_fn. */
size_t applayer_eve_snapshot(const struct applayer_tx *tx, enum flow_dir dir, void *buf, size_t cap);

/* Protocol of a snapshot (APP_PROTO_UNKNOWN if it is not one). */
enum app_proto applayer_eve_snapshot_proto(const void *snap, size_t len);

/* Writes `"http":{...}` (or "dns" / "tls") into an open JSON object from a snapshot, plus
 * "tx_id" for http events as Suricata puts it beside the object when tx_id is true. The event
 * type of an app-layer record is the name of the protocol. Returns 0, or -EINVAL for a bad
 * snapshot. Caller: any thread. */
int applayer_eve_write(struct json_writer *w, const void *snap, size_t len);

/* Convenience for a live transaction (tests, tools): snapshot on the stack, then write. */
int applayer_eve_tx(struct json_writer *w, const struct applayer_tx *tx, enum flow_dir dir);

/* For eve_format_opts.app_proto_name: Suricata's name, NULL for APP_PROTO_UNKNOWN (Suricata
 * then writes no app_proto). */
const char *applayer_eve_app_proto_name(uint16_t app_proto);

/* For eve_format_opts.anomaly_name: names app-layer anomalies (layer 2) as
 * event "applayer.<name>" ("applayer.http.bad_chunk"), layer "proto_parser"; false for other
 * layers so the formatter (or another namer) handles them. */
bool applayer_eve_anomaly_name(void *ctx, const struct event_anomaly *a, const char **event,
                               const char **layer);

/* Suricata's names used in EVE: "A", "AAAA", "CNAME"... ("TYPE123" style as a number otherwise
 * written by the caller), "NOERROR"/"NXDOMAIN"..., "TLS 1.2"/"TLSv1"... NULL when unknown. */
const char *applayer_dns_rrtype_name(uint16_t t);
const char *applayer_dns_rcode_name(uint16_t r);
const char *applayer_tls_version_name(uint16_t v);

#endif
