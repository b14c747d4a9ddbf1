/* The application protocol as packet rules see it (private to sensor/detect).
 *
 * A rule whose header names an application protocol (`alert http ...`) but inspects no sticky
 * buffer is Suricata's "app_layer" rule type: inspected per packet, and only when the flow's
 * protocol is known to the packet's detection. Suricata (IDS mode) hands a TCP direction's data
 * to the app layer once the other side acknowledged it, and gives detection the flow's protocol
 * only on packets of an established session. So the protocol becomes visible to packet rules
 * on the first packet of the other direction that acknowledges the data it was detected in,
 * sent once the session is established (the SYN/ACK of a TCP Fast Open handshake does not
 * count: its data waits for the first ACK of the established session), and stays visible for
 * the rest of the flow, closing included. A packet carrying the detecting data does not see it.
 * Other protocols (UDP) see it on the packet it was detected in. Transactions' buffers
 * (detect_buffers) carry their protocol and are not concerned, and neither are payload rules
 * with a protocol header: Suricata inspects raw stream data once acknowledged, when the
 * protocol is known, while Tripline inspects it as it arrives (the same matches, earlier), so
 * gating them would lose matches instead of delaying them.
 *
 * Tripline parses stream data as it arrives; these bits of f->detect_flags replay Suricata's
 * timing: the direction whose data the protocol was detected in, and whether it is visible.
 */
#ifndef TRIPLINE_DETECT_ALPROTO_PRIV_H
#define TRIPLINE_DETECT_ALPROTO_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "decode.h"
#include "flow.h"

/* Call once per real packet after its stream data went to the app layer (f->app_proto may have
 * changed) and after detect_state_update(): ap_before is f->app_proto before that. */
void detect_alproto_update(struct flow *f, const struct pkt_meta *m, enum flow_dir dir,
                           uint16_t ap_before);

/* Whether packet rules of flow f see its app_proto (f->app_proto != 0 is checked apart). */
bool detect_alproto_visible(const struct flow *f);

#endif
