/* Events: what leaves a worker. Workers fill these fixed-size binary records on the packet path
 * (no text formatting there) and push them through their lock-free event queue; the output
 * thread turns them into EVE JSON and hands them to the outputs.
 */
#ifndef TRIPLINE_EVENT_H
#define TRIPLINE_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "flow.h"

enum event_type {
    EVENT_FLOW = 1,
    EVENT_ALERT,        /* a rule matched */
    EVENT_ANOMALY,      /* decoder / stream / app-layer anomaly on one packet */
    EVENT_DETECTION,    /* an anomaly detector's alert (start, update, end) */
    EVENT_APPLAYER,     /* one chunk of an app-layer transaction's EVE snapshot (http/dns/tls) */
};

/* Flow identity carried by every event (a copy: the flow may be gone when it is formatted). */
struct event_flow_ref {
    uint64_t flow_id;
    uint8_t src[16], dst[16]; /* as Suricata: the packet's direction for alerts/anomalies, */
    uint16_t sport, dport;    /* the client -> server direction for flow events */
    uint16_t vlan[2];
    uint8_t vlan_count;
    uint8_t proto;
    uint8_t ip_version;
    uint8_t has_flow; /* 0 when the packet had no flow (e.g. not IP) */
    uint16_t app_proto;
};

struct event_flow {
    uint64_t pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient;
    uint64_t start_ns, end_ns;
    uint8_t state;      /* enum flow_state */
    uint8_t tcp_state;  /* enum tcp_state */
    uint8_t reason;     /* enum flow_end_reason */
    uint8_t tcp_flags, tcp_flags_ts, tcp_flags_tc;
    uint8_t alerted;
    uint64_t kernel_bypassed_pkts, kernel_bypassed_bytes; /* from XDP bypass, 0 otherwise */
    /* Bypass (dataplanes): the engine stopped inspecting the flow; 0 none, else enum
     * flow_bypass (flow.h). FLOW_BYPASS_CAPTURE: the capture (XDP) counted the flow's later packets,
     * split by direction here (their sums are kernel_bypassed_*); pkts_/bytes_ above do not
     * include them (Suricata's flow record adds them into its totals and a "bypassed" object). */
    uint8_t bypass;
    uint64_t bypassed_pkts_ts, bypassed_pkts_tc, bypassed_bytes_ts, bypassed_bytes_tc;
    /* ICMP flows (added by the flow stage): first type/code each way, as Suricata's
     * icmp_type/icmp_code/response_icmp_type/response_icmp_code */
    uint8_t icmp_type, icmp_code, icmp_rtype, icmp_rcode;
    uint8_t icmp_seen; /* bit 0: to server seen, bit 1: to client seen */
    /* Exception policies applied to the flow (Suricata 7.0.12+ "exception_policy" list), added
     * by the rule engine: EVENT_EXC_* bits */
    uint8_t exception_policy;
};
#define EVENT_EXC_MIDSTREAM_IGNORE 0x01 /* {"target":"stream_midstream","policy":"ignore"} */

struct rule_meta; /* rules/: message, classtype, metadata; lives until the sensor exits */

struct event_alert {
    const struct rule_meta *rule;
    uint32_t sid, gid, rev;
    uint8_t action;   /* enum rule_action */
    uint8_t severity; /* 1 (highest) .. 4 */
    uint8_t direction; /* enum flow_dir of the packet */
    uint8_t in_stream; /* matched on reassembled stream data */
    uint64_t tx_id;
    uint8_t app_obj;  /* 1: the EVENT_APPLAYER chunks just before this alert in the worker's
                         event order carry transaction tx_id's http/dns/tls object */
};

struct event_anomaly {
    uint16_t code;  /* enum decode_reason, or a stream/app-layer code by `layer` */
    uint8_t layer;  /* 0 decode, 1 stream, 2 applayer */
};

#define DETECTION_MAX_METRICS 8
#define DETECTION_MAX_PEERS 4

enum detection_phase { DETECTION_START = 0, DETECTION_UPDATE, DETECTION_END };

/* An anomaly detector's alert. Names are static strings owned by sensor/anomaly. */
struct event_detection {
    const char *class_name;  /* e.g. "syn-flood": alert.category and signature */
    uint32_t sid;            /* synthetic signature id per class (gid 2) */
    uint8_t phase;           /* enum detection_phase */
    uint8_t severity;        /* escalation level 1 (highest) .. 4 */
    uint8_t n_attackers, n_victims;
    uint8_t attacker[DETECTION_MAX_PEERS][16];
    uint8_t victim[DETECTION_MAX_PEERS][16];
    uint8_t attacker_v6, victim_v6;
    uint16_t victim_port;
    uint64_t start_ns;
    uint64_t incident_id;
    uint8_t n_metrics;
    struct {
        const char *name; /* static string */
        double value;
    } metric[DETECTION_MAX_METRICS];
    const char *asset_name; /* protected asset matched, or NULL */
};

/* An app-layer transaction's EVE snapshot (sensor/applayer/applayer_eve.h) is larger than one
 * event, so the worker cuts it into chunks of consecutive EVENT_APPLAYER events (the event ring
 * keeps a worker's order) and the output thread joins them (applayer_eve_asm_*). ref is the
 * record's tuple (client -> server; DNS: the message's direction). */
#define EVENT_APPLAYER_CHUNK 288
#define EVENT_APPLAYER_LOG 0x01    /* write the transaction's own record (event_type http/...) */
#define EVENT_APPLAYER_ATTACH 0x02 /* the object of the alerts that follow (app_obj) */
struct event_applayer {
    uint64_t tx_id;
    uint16_t total;  /* snapshot bytes in all chunks */
    uint16_t off;    /* offset of data[0] in the snapshot */
    uint16_t len;    /* bytes in this chunk */
    uint8_t flags;   /* EVENT_APPLAYER_LOG / _ATTACH */
    uint8_t proto;   /* enum app_proto (applayer.h) */
    uint8_t data[EVENT_APPLAYER_CHUNK];
};

struct event {
    uint16_t type; /* enum event_type */
    uint16_t worker;
    uint32_t pad;
    uint64_t ts_ns; /* packet time of the event */
    /* the packet's 1-based number in the capture file(s) as Suricata's pcap_cnt (pcap mode, per-
     * packet events: alerts, anomalies, app-layer records); 0 = none (live, flow records) */
    uint64_t pcap_cnt;
    struct event_flow_ref ref;
    union {
        struct event_flow flow;
        struct event_alert alert;
        struct event_anomaly anomaly;
        struct event_detection detection;
        struct event_applayer applayer;
    } u;
};

/* How stages hand events to the engine (which queues them to the output thread). Returns false
 * when the event could not be queued right now; the engine counts that and retries or spills,
 * so a stage never blocks and no event is lost silently. */
_Static_assert(sizeof(struct event_applayer) <= sizeof(struct event_detection),
               "app-layer chunks must not grow struct event");

typedef bool (*event_emit_fn)(void *ctx, const struct event *ev);

#endif
