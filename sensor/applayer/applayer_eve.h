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

/* ---- carrying snapshots from the worker to the output thread ----
 *
 * A snapshot travels as consecutive EVENT_APPLAYER chunk events (sensor/event.h) through the
 * worker's own event ring, so it keeps the worker's event order and backpressure, and nothing is
 * formatted on the packet path. The output thread joins the chunks (applayer_eve_asm_add) and
 * the EVE formatter asks for the object (applayer_eve_asm_write as eve_format_opts.applayer).
 *
 * Worker side, per transaction:
 *   - its EVE record: applayer_eve_log() from the applayer_log_fn callback;
 *   - alerts raised from its buffers: snapshot it in the applayer_tx_fn callback into an
 *     applayer_eve_store (by pending index), then run detect_buffers() with
 *     applayer_eve_alerts_emit as emit callback: before the first alert it sends the snapshot
 *     (EVENT_APPLAYER_ATTACH), and every alert goes with app_obj set. */

/* Sends snap (len bytes, at most APPLAYER_EVE_SNAPSHOT_MAX) as chunk events built on head's
 * ts_ns / worker / ref, with tx_id and flags (EVENT_APPLAYER_LOG or _ATTACH). Returns the number
 * of chunks the emit callback took; 0 for a bad snapshot. Caller: the worker. */
unsigned applayer_eve_emit(const void *snap, size_t len, const struct event *head, uint64_t tx_id,
                           uint8_t flags, event_emit_fn emit, void *emit_ctx);

/* The EVE record of a complete transaction (for an applayer_log_fn): snapshot on the stack,
 * tuple from the flow (client -> server; a DNS response server -> client, as Suricata writes
 * DNS answers), timestamp the transaction's, then applayer_eve_emit(). Returns the chunks sent
 * (0: nothing to log). Caller: the worker, inside the callback. */
unsigned applayer_eve_log(const struct flow *f, const struct applayer_tx *tx, uint16_t worker,
                          event_emit_fn emit, void *emit_ctx);

/* Snapshots of the transactions waiting in an applayer_pending store, by the same index.
 * Bounded arena; a snapshot that does not fit is counted and its alerts go without object. */
struct applayer_eve_store;
struct applayer_eve_store *applayer_eve_store_new(size_t bytes, unsigned max_tx);
void applayer_eve_store_free(struct applayer_eve_store *st);
/* Snapshots tx (direction dir) as entry idx (the applayer_pending index it was added at). */
bool applayer_eve_store_put(struct applayer_eve_store *st, unsigned idx, const struct applayer_tx *tx,
                            enum flow_dir dir);
/* Entry idx: false (and *len 0) when absent. Valid until applayer_eve_store_clear(). */
bool applayer_eve_store_get(const struct applayer_eve_store *st, unsigned idx, const uint8_t **snap,
                            size_t *len);
void applayer_eve_store_clear(struct applayer_eve_store *st);
/* Snapshots that did not fit. */
uint64_t applayer_eve_store_dropped(const struct applayer_eve_store *st);

/* Context of applayer_eve_alerts_emit: fill emit/emit_ctx (the real callback), worker (the
 * emitting worker's id: the output thread joins chunks per worker, and the rule engine's alerts
 * do not say which) and snap/len (the transaction's snapshot, len 0 for none); sent starts
 * false. */
struct applayer_eve_alerts {
    event_emit_fn emit;
    void *emit_ctx;
    uint16_t worker;
    const uint8_t *snap;
    size_t len;
    bool sent;
};
/* An event_emit_fn for detect_buffers(): alerts get their transaction's object (see above) and
 * the worker id; other events pass unchanged. */
bool applayer_eve_alerts_emit(void *ctx, const struct event *ev);

/* Output thread: joins chunks per worker (one record and one alert object in flight each). */
struct applayer_eve_asm;
struct applayer_eve_asm *applayer_eve_asm_new(unsigned workers);
void applayer_eve_asm_free(struct applayer_eve_asm *a);
/* Takes one EVENT_APPLAYER chunk. Returns true when it completes a record to write (LOG flag):
 * the caller then formats that event (eve_format_event / outputs_write_event); false otherwise
 * (more chunks due, an alert object kept, or a chunk out of sequence: counted). */
bool applayer_eve_asm_add(struct applayer_eve_asm *a, const struct event *ev);
/* eve_format_opts.applayer: ctx is the struct applayer_eve_asm. */
int applayer_eve_asm_write(void *ctx, struct json_writer *w, const struct event *ev);
/* Chunks dropped out of sequence (a bug if ever non-zero: the ring keeps order). */
uint64_t applayer_eve_asm_errors(const struct applayer_eve_asm *a);

/* Writes the object as an alert carries it: "http"/"tls" as in the record, DNS as Suricata's
 * alerts do ("dns":{"query":[{...}]} or "dns":{"answer":{...}}). Returns 0 or -EINVAL. */
int applayer_eve_write_alert(struct json_writer *w, const void *snap, size_t len);

#endif
