/* Per-packet flow state for header conditions (see detect_state_priv.h). */
#include "detect_state_priv.h"

/* Bits of f->detect_flags (bits 0-7 are detect.h's public marks). */
#define SH_STARTED (1u << 8)
#define SH_SEEN_SHIFT 9   /* bit per direction: a packet went that way */
#define SH_TCP_SHIFT 11   /* 3 bits: enum tcp_state */
#define SH_FIN_SHIFT 14   /* bit per direction: it sent a FIN */
#define SH_ACKED_SHIFT 16 /* bit per direction: its FIN was acknowledged */
#define SH_MASK (0x3ffu << 8)

void detect_state_update(struct flow *f, const struct pkt_meta *m, enum flow_dir dir)
{
    uint32_t v = f->detect_flags;
    bool first = !(v & SH_STARTED);
    unsigned seen = (v >> SH_SEEN_SHIFT) & 3;
    unsigned st = (v >> SH_TCP_SHIFT) & 7;
    unsigned fin = (v >> SH_FIN_SHIFT) & 3, acked = (v >> SH_ACKED_SHIFT) & 3;
    if (m->proto == 6) {
        /* the flow stage's own machine on detect's copy of the state; f->tcp_fin_seq was set by
         * the flow stage at that side's first FIN, which it has already processed: detect sees
         * the packets in the same order, later */
        uint8_t fin8 = (uint8_t)fin, acked8 = (uint8_t)acked;
        st = flow_tcp_state_step((enum tcp_state)st, &fin8, &acked8, f->tcp_fin_seq,
                                 (seen & (1u << !dir)) != 0, m, dir, first);
        fin = fin8;
        acked = acked8;
    }
    seen |= 1u << dir;
    f->detect_flags = (v & ~SH_MASK) | SH_STARTED | seen << SH_SEEN_SHIFT | st << SH_TCP_SHIFT |
                      fin << SH_FIN_SHIFT | acked << SH_ACKED_SHIFT;
}

enum flow_state detect_state_get(const struct flow *f)
{
    uint32_t v = f->detect_flags;
    if (f->key.proto == 6)
        return flow_state_of_tcp_state((enum tcp_state)((v >> SH_TCP_SHIFT) & 7));
    return ((v >> SH_SEEN_SHIFT) & 3) == 3 ? FLOW_STATE_ESTABLISHED : FLOW_STATE_NEW;
}

enum tcp_state detect_state_tcp(const struct flow *f)
{
    return (enum tcp_state)((f->detect_flags >> SH_TCP_SHIFT) & 7);
}
