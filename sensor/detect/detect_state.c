/* Per-packet flow state for header conditions (see detect_state_priv.h). */
#include "detect_state_priv.h"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

/* Bits of f->detect_flags (bits 0-7 are detect.h's public marks). */
#define SH_STARTED (1u << 8)
#define SH_SEEN_SHIFT 9   /* bit per direction: a packet went that way */
#define SH_TCP_SHIFT 11   /* 3 bits: enum tcp_state */
#define SH_FIN_SHIFT 14   /* bit per direction: it sent a FIN */
#define SH_ACKED_SHIFT 16 /* bit per direction: its FIN was acknowledged */
#define SH_MASK (0x3ffu << 8)

static inline bool seq_geq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

static enum flow_state state_of_tcp(unsigned st)
{
    switch (st) {
    case TCP_ESTABLISHED: return FLOW_STATE_ESTABLISHED;
    case TCP_FIN_WAIT:
    case TCP_CLOSING: return FLOW_STATE_CLOSING;
    case TCP_CLOSED: return FLOW_STATE_CLOSED;
    default: return FLOW_STATE_NEW;
    }
}

/* The flow stage's TCP state machine (flow.c tcp_track), on detect's copy of the state. */
static unsigned tcp_step(const struct flow *f, unsigned st, unsigned *fin, unsigned *acked,
                         unsigned seen, const struct pkt_meta *m, enum flow_dir dir, bool first)
{
    uint8_t fl = m->tcp_flags;
    if (fl & TH_RST)
        return TCP_CLOSED;
    if (first) {
        if ((fl & TH_SYN) && !(fl & TH_ACK))
            st = TCP_SYN_SENT;
        else if (fl & TH_SYN)
            st = TCP_SYN_RECV;
        else
            st = TCP_ESTABLISHED; /* midstream pickup */
    } else if (st == TCP_SYN_SENT) {
        if (dir == FLOW_TO_CLIENT && (fl & TH_SYN) && (fl & TH_ACK))
            st = TCP_SYN_RECV;
        else if (!(fl & TH_SYN) && (fl & TH_ACK) && (seen & (1u << !dir)))
            st = TCP_ESTABLISHED;
    } else if (st == TCP_SYN_RECV) {
        if (!(fl & TH_SYN) && (fl & TH_ACK))
            st = TCP_ESTABLISHED;
    }
    if ((fl & TH_FIN) && st != TCP_CLOSED) {
        *fin |= 1u << dir;
        st = *fin == 3 ? TCP_CLOSING : TCP_FIN_WAIT;
    }
    unsigned other = !dir;
    /* f->tcp_fin_seq[other] was set by the flow stage at that side's first FIN, which it has
     * already processed: detect sees the packets in the same order, later */
    if ((fl & TH_ACK) && (*fin & (1u << other)) && seq_geq(m->tcp_ack, f->tcp_fin_seq[other] + 1))
        *acked |= 1u << other;
    if (*fin == 3 && *acked == 3)
        st = TCP_CLOSED;
    return st;
}

void detect_state_update(struct flow *f, const struct pkt_meta *m, enum flow_dir dir)
{
    uint32_t v = f->detect_flags;
    bool first = !(v & SH_STARTED);
    unsigned seen = (v >> SH_SEEN_SHIFT) & 3;
    unsigned st = (v >> SH_TCP_SHIFT) & 7;
    unsigned fin = (v >> SH_FIN_SHIFT) & 3, acked = (v >> SH_ACKED_SHIFT) & 3;
    if (m->proto == 6)
        st = tcp_step(f, st, &fin, &acked, seen, m, dir, first);
    seen |= 1u << dir;
    f->detect_flags = (v & ~SH_MASK) | SH_STARTED | seen << SH_SEEN_SHIFT | st << SH_TCP_SHIFT |
                      fin << SH_FIN_SHIFT | acked << SH_ACKED_SHIFT;
}

enum flow_state detect_state_get(const struct flow *f)
{
    uint32_t v = f->detect_flags;
    if (f->key.proto == 6)
        return state_of_tcp((v >> SH_TCP_SHIFT) & 7);
    return ((v >> SH_SEEN_SHIFT) & 3) == 3 ? FLOW_STATE_ESTABLISHED : FLOW_STATE_NEW;
}

enum tcp_state detect_state_tcp(const struct flow *f)
{
    return (enum tcp_state)((f->detect_flags >> SH_TCP_SHIFT) & 7);
}
