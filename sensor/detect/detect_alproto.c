/* The application protocol as packet rules see it (see detect_alproto_priv.h). */
#include "detect_alproto_priv.h"
#include "detect_state_priv.h"

/* Bits of f->detect_flags (detect.h: 0-7 public marks; detect_state.c: 8-17). */
#define AP_DETECTED_SHIFT 18      /* bit per direction: the protocol was detected in its data */
#define AP_VISIBLE (1u << 20)     /* packet rules see f->app_proto */
#define TH_ACK 0x10

void detect_alproto_update(struct flow *f, const struct pkt_meta *m, enum flow_dir dir,
                           uint16_t ap_before)
{
    if (!f || f->app_proto == 0 || (f->detect_flags & AP_VISIBLE))
        return;
    if (f->key.proto != 6) {
        f->detect_flags |= AP_VISIBLE;
        return;
    }
    if (ap_before == 0) {
        /* detected in this packet's data: the other side has not acknowledged it yet */
        f->detect_flags |= 1u << (AP_DETECTED_SHIFT + (dir & 1));
        return;
    }
    uint32_t detected = (f->detect_flags >> AP_DETECTED_SHIFT) & 3u;
    if (detected == 0) /* detected without data of either direction (e.g. by port): as it stands */
        detected = 3u;
    enum tcp_state st = detect_state_tcp(f);
    bool established = st >= TCP_ESTABLISHED && st <= TCP_CLOSED;
    if (established && (m->tcp_flags & TH_ACK) && (detected & (1u << ((dir & 1) ^ 1))))
        f->detect_flags |= AP_VISIBLE;
}

bool detect_alproto_visible(const struct flow *f)
{
    return f && (f->key.proto != 6 || (f->detect_flags & AP_VISIBLE));
}
