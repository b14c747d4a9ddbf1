/* Flow state as of the packet being inspected (private to sensor/detect).
 *
 * The engine updates the flow table for a whole burst of packets before detect runs on each of
 * them, so f->state / f->tcp_state already hold the state after the burst's last packet of the
 * flow: a `flow:established` rule would then see the RST at the end of a short session on every
 * packet before it. Detect therefore replays the flow stage's state machine (flow_tcp_state_step,
 * "both directions seen" for other protocols) packet by packet in bits of f->detect_flags, so
 * header conditions see the state the packet itself left, whatever the burst size. The replay
 * needs nothing from the flow stage but the FIN sequence numbers, which it sets once and never
 * changes (so reading them ahead of time gives the same value).
 */
#ifndef TRIPLINE_DETECT_STATE_PRIV_H
#define TRIPLINE_DETECT_STATE_PRIV_H

#include <stdbool.h>

#include "decode.h"
#include "flow.h"

/* Advances f's per-packet state with packet m (direction dir). Call once per real packet, in
 * order, before its rules are evaluated. */
void detect_state_update(struct flow *f, const struct pkt_meta *m, enum flow_dir dir);

/* enum flow_state of f as of the last packet given to detect_state_update(); FLOW_STATE_NEW
 * before any. */
enum flow_state detect_state_get(const struct flow *f);

/* enum tcp_state of a TCP flow as of the last packet given to detect_state_update(). */
enum tcp_state detect_state_tcp(const struct flow *f);

#endif
