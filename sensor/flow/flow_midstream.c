/* Direction of a TCP session picked up mid-stream (stream.midstream), as Suricata decides it.
 *
 * Suricata takes the first packet's sender as the client, and reverses the flow (FlowSwap) in
 * two cases, both only for sessions it picked up mid-stream:
 *  - stream-tcp.c, StreamTcpPacketStateNone: the first packet is a SYN/ACK (the flow table
 *    already treats that as the server's packet, with or without midstream);
 *  - app-layer.c, TCPProtoDetect: protocol detection recognises the data going "to the server"
 *    by a pattern registered only for the other direction (reverse_flow), while the other
 *    direction has no protocol yet. Of the protocols Tripline parses, that is HTTP/1: its
 *    response versions ("HTTP/0.9", "HTTP/1.0", "HTTP/1.1") are to-client patterns in
 *    app-layer-htp.c; TLS and DNS register theirs for both directions, so they never reverse.
 * The flow table applies the second case when the session's first packet carries such data, so
 * every stage sees the reversed direction from the start. Not covered: Suricata also reverses
 * when the response comes on a later packet (the first ones carrying no data). */
#include <string.h>

#include "flow.h"

#define TH_SYN 0x02
#define IPPROTO_NUM_TCP 6

bool flow_midstream_reversed(const struct pkt_meta *m)
{
    if (m->proto != IPPROTO_NUM_TCP || (m->tcp_flags & TH_SYN) || !m->payload || !m->payload_len)
        return false;
    /* Suricata's HTTP/1 to-client patterns: case-sensitive, at the start of the data */
    static const char versions[][9] = {"HTTP/0.9", "HTTP/1.0", "HTTP/1.1"};
    if (m->payload_len < 8)
        return false;
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (memcmp(m->payload, versions[i], 8) == 0)
            return true;
    return false;
}
