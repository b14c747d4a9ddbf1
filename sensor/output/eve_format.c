/* EVE JSON formatting: see eve_format.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "community_id.h"
#include "decode.h"
#include "eve_format.h"
#include "json_writer.h"
#include "rules.h"

void eve_format_opts_default(struct eve_format_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->community_id = true;
    o->community_id_seed = 0;
}

static inline char *put2(char *p, unsigned v)
{
    p[0] = (char)('0' + (v / 10) % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

size_t eve_format_timestamp(uint64_t ts_ns, char *out, size_t cap)
{
    time_t sec = (time_t)(ts_ns / 1000000000ull);
    unsigned usec = (unsigned)((ts_ns % 1000000000ull) / 1000);
    struct tm tm;
    if (localtime_r(&sec, &tm) == NULL)
        return 0;
    int year = tm.tm_year + 1900;
    if (year < 0 || year > 9999 || cap < 32)
        return 0;
    long off = tm.tm_gmtoff / 60; /* minutes east of UTC */
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    char *p = out;
    p = put2(p, (unsigned)year / 100);
    p = put2(p, (unsigned)year % 100);
    *p++ = '-';
    p = put2(p, (unsigned)tm.tm_mon + 1);
    *p++ = '-';
    p = put2(p, (unsigned)tm.tm_mday);
    *p++ = 'T';
    p = put2(p, (unsigned)tm.tm_hour);
    *p++ = ':';
    p = put2(p, (unsigned)tm.tm_min);
    *p++ = ':';
    p = put2(p, (unsigned)tm.tm_sec);
    *p++ = '.';
    p = put2(p, usec / 10000);
    p = put2(p, (usec / 100) % 100);
    p = put2(p, usec % 100);
    *p++ = sign;
    p = put2(p, (unsigned)(off / 60));
    p = put2(p, (unsigned)(off % 60));
    *p = '\0';
    return (size_t)(p - out);
}

const char *eve_proto_name(uint8_t proto, char tmp[4])
{
    /* names as /etc/protocols gives them, which Suricata prints */
    switch (proto) {
    case 1: return "ICMP";
    case 2: return "IGMP";
    case 4: return "IPIP";
    case 6: return "TCP";
    case 17: return "UDP";
    case 41: return "IPv6";
    case 47: return "GRE";
    case 50: return "ESP";
    case 51: return "AH";
    case 58: return "IPv6-ICMP";
    case 103: return "PIM";
    case 112: return "VRRP";
    case 132: return "SCTP";
    default: break;
    }
    snprintf(tmp, 4, "%u", proto);
    return tmp;
}

/* IPv4 dotted quad; IPv6 as Suricata prints it: eight groups of four hex digits. */
static size_t fmt_addr(char *out, uint8_t ip_version, const uint8_t *a)
{
    static const char hx[] = "0123456789abcdef";
    char *p = out;
    if (ip_version == 4) {
        for (int i = 0; i < 4; i++) {
            unsigned v = a[i];
            if (v >= 100)
                *p++ = (char)('0' + v / 100);
            if (v >= 10)
                *p++ = (char)('0' + (v / 10) % 10);
            *p++ = (char)('0' + v % 10);
            if (i < 3)
                *p++ = '.';
        }
    } else {
        for (int i = 0; i < 16; i += 2) {
            *p++ = hx[a[i] >> 4];
            *p++ = hx[a[i] & 0xf];
            *p++ = hx[a[i + 1] >> 4];
            *p++ = hx[a[i + 1] & 0xf];
            if (i < 14)
                *p++ = ':';
        }
    }
    *p = '\0';
    return (size_t)(p - out);
}

static void kv_ts(struct json_writer *w, const char *key, uint64_t ts_ns)
{
    char tb[40];
    size_t n = eve_format_timestamp(ts_ns, tb, sizeof(tb));
    jw_kv_str_n(w, key, tb, n);
}

static void kv_addr(struct json_writer *w, const char *key, uint8_t ipv, const uint8_t *a)
{
    char ab[48];
    size_t n = fmt_addr(ab, ipv, a);
    jw_kv_str_n(w, key, ab, n);
}

static void str_addr(struct json_writer *w, uint8_t ipv, const uint8_t *a)
{
    char ab[48];
    size_t n = fmt_addr(ab, ipv, a);
    jw_str_n(w, ab, n);
}

/* Copies (and pseudonymises, when configured) one address. */
static void map_addr(const struct eve_format_opts *o, uint8_t ipv, const uint8_t *in, uint8_t out[16])
{
    memcpy(out, in, 16);
    if (o->pseudonymise != NULL && (ipv == 4 || ipv == 6)) {
        uint8_t tmp[16] = {0};
        if (o->pseudonymise(o->pseudonymise_ctx, ipv, in, tmp))
            memcpy(out, tmp, ipv == 4 ? 4 : 16);
    }
}

static inline bool proto_has_ports(uint8_t p)
{
    return p == 6 || p == 17 || p == 132;
}

static inline bool proto_is_icmp(uint8_t p)
{
    return p == 1 || p == 58;
}

/* The common header up to and including proto (and ICMP type/code). */
static void header(struct json_writer *w, const struct eve_format_opts *o, const struct event *ev,
                   const char *event_type, uint8_t ipv, const uint8_t *src, const uint8_t *dst,
                   bool with_tuple)
{
    const struct event_flow_ref *r = &ev->ref;
    kv_ts(w, "timestamp", ev->ts_ns);
    if (r->has_flow && r->flow_id != 0)
        jw_kv_u64(w, "flow_id", r->flow_id);
    if (o->in_iface != NULL)
        jw_kv_str(w, "in_iface", o->in_iface);
    if (ev->pcap_cnt != 0) /* Suricata's place: after in_iface, before event_type */
        jw_kv_u64(w, "pcap_cnt", ev->pcap_cnt);
    jw_kv_str(w, "event_type", event_type);
    if (r->vlan_count > 0) {
        jw_key(w, "vlan");
        jw_open_array(w);
        for (unsigned i = 0; i < r->vlan_count && i < 2; i++)
            jw_u64(w, r->vlan[i]);
        jw_close_array(w);
    }
    if (!with_tuple)
        return;
    kv_addr(w, "src_ip", ipv, src);
    if (proto_has_ports(r->proto))
        jw_kv_u64(w, "src_port", r->sport);
    kv_addr(w, "dest_ip", ipv, dst);
    if (proto_has_ports(r->proto))
        jw_kv_u64(w, "dest_port", r->dport);
    char tmp[4];
    jw_kv_str(w, "proto", eve_proto_name(r->proto, tmp));
}

static void community(struct json_writer *w, const struct eve_format_opts *o, uint8_t ipv,
                      const uint8_t *src, const uint8_t *dst, const struct event_flow_ref *r)
{
    if (!o->community_id || (ipv != 4 && ipv != 6))
        return;
    char cid[COMMUNITY_ID_LEN];
    if (community_id_v1(o->community_id_seed, ipv, src, dst, r->proto, r->sport, r->dport, cid,
                        sizeof(cid)) == 0)
        jw_kv_str(w, "community_id", cid);
}

static void app_proto(struct json_writer *w, const struct eve_format_opts *o, uint16_t ap)
{
    if (ap == 0 || o->app_proto_name == NULL)
        return;
    const char *name = o->app_proto_name(ap);
    if (name != NULL)
        jw_kv_str(w, "app_proto", name);
}

static const char *suricata_flow_state(uint8_t s)
{
    switch (s) {
    case FLOW_STATE_NEW: return "new";
    case FLOW_STATE_CLOSED: return "closed";
    default: return "established"; /* established and closing */
    }
}

static void hexflags(struct json_writer *w, const char *key, uint8_t f)
{
    static const char hx[] = "0123456789abcdef";
    char b[2] = {hx[f >> 4], hx[f & 0xf]};
    jw_kv_str_n(w, key, b, 2);
}

static void body_flow(struct json_writer *w, const struct eve_format_opts *o, const struct event *ev)
{
    const struct event_flow *f = &ev->u.flow;
    jw_key(w, "flow");
    jw_open_object(w);
    /* Suricata (EveAddFlow): totals include what the capture counted while the flow was
     * bypassed, and a "bypassed" object holds those counts (dataplanes) */
    jw_kv_u64(w, "pkts_toserver", f->pkts_toserver + f->bypassed_pkts_ts);
    jw_kv_u64(w, "pkts_toclient", f->pkts_toclient + f->bypassed_pkts_tc);
    jw_kv_u64(w, "bytes_toserver", f->bytes_toserver + f->bypassed_bytes_ts);
    jw_kv_u64(w, "bytes_toclient", f->bytes_toclient + f->bypassed_bytes_tc);
    if (f->bypass == FLOW_BYPASS_CAPTURE) {
        jw_key(w, "bypassed");
        jw_open_object(w);
        jw_kv_u64(w, "pkts_toserver", f->bypassed_pkts_ts);
        jw_kv_u64(w, "pkts_toclient", f->bypassed_pkts_tc);
        jw_kv_u64(w, "bytes_toserver", f->bypassed_bytes_ts);
        jw_kv_u64(w, "bytes_toclient", f->bypassed_bytes_tc);
        jw_close_object(w);
    }
    kv_ts(w, "start", f->start_ns);
    kv_ts(w, "end", f->end_ns);
    /* whole seconds between the second parts, as Suricata computes it */
    int64_t age = (int64_t)(f->end_ns / 1000000000ull) - (int64_t)(f->start_ns / 1000000000ull);
    jw_kv_i64(w, "age", age);
    if (f->bypass != FLOW_BYPASS_NONE) {
        /* Suricata: state "bypassed" and how */
        jw_kv_str(w, "bypass", f->bypass == FLOW_BYPASS_CAPTURE ? "capture" : "local");
        jw_kv_str(w, "state", "bypassed");
    } else {
        jw_kv_str(w, "state", suricata_flow_state(f->state));
    }
    jw_kv_str(w, "reason", flow_end_reason_name((enum flow_end_reason)f->reason));
    jw_kv_bool(w, "alerted", f->alerted != 0);
    if (f->exception_policy & EVENT_EXC_MIDSTREAM_IGNORE) {
        /* Suricata 7.0.12+: the exception policies applied to the flow */
        jw_key(w, "exception_policy");
        jw_open_array(w);
        jw_open_object(w);
        jw_kv_str(w, "target", "stream_midstream");
        jw_kv_str(w, "policy", "ignore");
        jw_close_object(w);
        jw_close_array(w);
    }
    jw_close_object(w);
    (void)o;
    if (ev->ref.proto == 6) {
        jw_key(w, "tcp");
        jw_open_object(w);
        hexflags(w, "tcp_flags", f->tcp_flags);
        hexflags(w, "tcp_flags_ts", f->tcp_flags_ts);
        hexflags(w, "tcp_flags_tc", f->tcp_flags_tc);
        static const struct {
            uint8_t bit;
            const char *name;
        } names[] = {{0x02, "syn"}, {0x01, "fin"}, {0x04, "rst"}, {0x08, "psh"},
                     {0x10, "ack"}, {0x20, "urg"}, {0x40, "ecn"}, {0x80, "cwr"}};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (f->tcp_flags & names[i].bit)
                jw_kv_bool(w, names[i].name, true);
        jw_kv_str(w, "state", tcp_state_name((enum tcp_state)f->tcp_state));
        jw_close_object(w);
    }
}

static void format_flow(struct json_writer *w, const struct eve_format_opts *o, const struct event *ev,
                        uint8_t ipv, const uint8_t *src, const uint8_t *dst)
{
    const struct event_flow *f = &ev->u.flow;
    header(w, o, ev, "flow", ipv, src, dst, true);
    if (proto_is_icmp(ev->ref.proto) && (f->icmp_seen & 1)) {
        jw_kv_u64(w, "icmp_type", f->icmp_type);
        jw_kv_u64(w, "icmp_code", f->icmp_code);
        if (f->icmp_seen & 2) {
            jw_kv_u64(w, "response_icmp_type", f->icmp_rtype);
            jw_kv_u64(w, "response_icmp_code", f->icmp_rcode);
        }
    }
    app_proto(w, o, ev->ref.app_proto);
    community(w, o, ipv, src, dst, &ev->ref);
    body_flow(w, o, ev);
}

static void icmp_pkt_fields(struct json_writer *w, const struct event_flow_ref *r)
{
    if (proto_is_icmp(r->proto)) {
        jw_kv_u64(w, "icmp_type", r->sport);
        jw_kv_u64(w, "icmp_code", r->dport);
    }
}

static void format_alert(struct json_writer *w, const struct eve_format_opts *o, const struct event *ev,
                         uint8_t ipv, const uint8_t *src, const uint8_t *dst)
{
    const struct event_alert *a = &ev->u.alert;
    struct eve_rule_info ri = {0};
    bool have = false;
    uint8_t prio = 0;
    if (o->rule_info != NULL) {
        have = o->rule_info(o->rule_info_ctx, a, &ri);
    } else if (a->rule != NULL) {
        /* rules/ keeps every rule_meta alive until the sensor exits */
        const struct rule_meta *rm = a->rule;
        ri.msg = rm->msg;
        ri.category = rm->category;
        ri.metadata_json = rm->metadata_json;
        uint8_t act = a->action ? a->action : rm->action;
        ri.blocked = o->inline_mode && (act == RULE_ACTION_DROP || act == RULE_ACTION_REJECT);
        prio = rm->priority;
        have = true;
    }
    header(w, o, ev, "alert", ipv, src, dst, ipv == 4 || ipv == 6);
    icmp_pkt_fields(w, &ev->ref);
    community(w, o, ipv, src, dst, &ev->ref);
    jw_key(w, "alert");
    jw_open_object(w);
    jw_kv_str(w, "action", (have && ri.blocked) ? "blocked" : "allowed");
    jw_kv_u64(w, "gid", a->gid ? a->gid : 1);
    jw_kv_u64(w, "signature_id", a->sid);
    jw_kv_u64(w, "rev", a->rev);
    jw_kv_str(w, "signature", (have && ri.msg) ? ri.msg : "");
    jw_kv_str(w, "category", (have && ri.category) ? ri.category : "");
    jw_kv_u64(w, "severity", a->severity ? a->severity : prio ? prio : 3);
    if (have && ri.metadata_json != NULL && ri.metadata_json[0] == '{') {
        jw_key(w, "metadata");
        jw_raw(w, ri.metadata_json, strlen(ri.metadata_json));
    }
    jw_close_object(w);
    app_proto(w, o, ev->ref.app_proto);
    if (ev->ref.has_flow)
        jw_kv_str(w, "direction", a->direction == FLOW_TO_CLIENT ? "to_client" : "to_server");
    if (a->app_obj && o->applayer != NULL)
        (void)o->applayer(o->applayer_ctx, w, ev); /* nothing joined: the alert goes without */
}

/* An app-layer transaction's record; the object comes from opts.applayer (the snapshot joined
 * from the chunks). Refused without one. */
static int format_applayer(struct json_writer *w, const struct eve_format_opts *o,
                           const struct event *ev, uint8_t ipv, const uint8_t *src, const uint8_t *dst)
{
    const char *type = o->app_proto_name ? o->app_proto_name(ev->u.applayer.proto) : NULL;
    if (type == NULL || o->applayer == NULL)
        return -EINVAL;
    header(w, o, ev, type, ipv, src, dst, true);
    community(w, o, ipv, src, dst, &ev->ref);
    app_proto(w, o, ev->ref.app_proto);
    return o->applayer(o->applayer_ctx, w, ev) < 0 ? -EINVAL : 0;
}

static const char *anomaly_type(uint8_t layer)
{
    switch (layer) {
    case 0: return "decode";
    case 1: return "stream";
    default: return "applayer";
    }
}

/* Suricata's name (src/decode-events.c) for a decoder reason that has an exact counterpart, so
 * tools keyed on Suricata's anomaly names (EveBox, dashboards, decode-event rules) see the same
 * string; NULL for Tripline's own reasons (their "decoder." + decode_reason_name() form is
 * listed in sensor/output/OUTPUTS.md). Fragment events carry the IP version as Suricata's do. */
static const char *suricata_decoder_name(enum decode_reason r, uint8_t ipv)
{
    bool v6 = ipv == 6;
    switch (r) {
    case DEC_ETH_TRUNCATED: return "decoder.ethernet.pkt_too_small";
    case DEC_VLAN_TRUNCATED: return "decoder.vlan.header_too_small";
    case DEC_VLAN_TOO_MANY: return "decoder.vlan.too_many_layers";
    case DEC_MPLS_TRUNCATED: return "decoder.mpls.header_too_small";
    case DEC_SLL_TRUNCATED: return "decoder.sll.pkt_too_small";
    case DEC_PPPOE_TRUNCATED: return "decoder.pppoe.pkt_too_small";
    case DEC_IPV4_TRUNCATED: return "decoder.ipv4.pkt_too_small";
    case DEC_IPV4_BAD_VERSION: return "decoder.ipv4.wrong_ip_version";
    case DEC_IPV4_BAD_IHL: return "decoder.ipv4.hlen_too_small";
    case DEC_IPV4_BAD_OPTIONS: return "decoder.ipv4.opt_malformed";
    case DEC_IPV6_TRUNCATED: return "decoder.ipv6.pkt_too_small";
    case DEC_IPV6_BAD_VERSION: return "decoder.ipv6.wrong_ip_version";
    case DEC_IPV6_BAD_PAYLOAD_LEN: return "decoder.ipv6.trunc_pkt";
    case DEC_IPV6_EXTHDR_TRUNCATED: return "decoder.ipv6.trunc_exthdr";
    case DEC_TCP_TRUNCATED: return "decoder.tcp.pkt_too_small";
    case DEC_TCP_BAD_OFFSET: return "decoder.tcp.hlen_too_small";
    case DEC_TCP_BAD_OPTIONS: return "decoder.tcp.opt_invalid_len";
    case DEC_UDP_TRUNCATED: return "decoder.udp.pkt_too_small";
    case DEC_UDP_BAD_LEN: return "decoder.udp.hlen_invalid";
    case DEC_ICMP_TRUNCATED: return "decoder.icmpv4.pkt_too_small";
    case DEC_ICMPV6_TRUNCATED: return "decoder.icmpv6.pkt_too_small";
    case DEC_GRE_TRUNCATED: return "decoder.gre.pkt_too_small";
    case DEC_GRE_BAD_VERSION: return "decoder.gre.wrong_version";
    case DEC_FRAG_OVERLAP: return v6 ? "decoder.ipv6.frag_overlap" : "decoder.ipv4.frag_overlap";
    case DEC_FRAG_TOO_LARGE: return v6 ? "decoder.ipv6.frag_pkt_too_large" : "decoder.ipv4.frag_pkt_too_large";
    case DEC_FRAG_TABLE_FULL: return v6 ? "decoder.ipv6.frag_ignored" : "decoder.ipv4.frag_ignored";
    default: return NULL;
    }
}

static void format_anomaly(struct json_writer *w, const struct eve_format_opts *o,
                           const struct event *ev, uint8_t ipv, const uint8_t *src, const uint8_t *dst)
{
    const struct event_anomaly *a = &ev->u.anomaly;
    bool tuple = ipv == 4 || ipv == 6;
    header(w, o, ev, "anomaly", ipv, src, dst, tuple);
    if (tuple) {
        icmp_pkt_fields(w, &ev->ref);
        community(w, o, ipv, src, dst, &ev->ref);
    }
    const char *name = NULL, *layer = NULL;
    bool known = o->anomaly_name != NULL && o->anomaly_name(o->anomaly_name_ctx, a, &name, &layer);
    char dec[64];
    if (!known && a->layer == 0 && a->code > DEC_NONE && a->code < DEC_REASON_MAX &&
        (name = suricata_decoder_name((enum decode_reason)a->code, ipv)) != NULL)
        known = true;
    if (!known && a->layer == 0 && a->code > DEC_NONE && a->code < DEC_REASON_MAX) {
        /* the decoder's own names, under Suricata's "decoder." prefix */
        int n = snprintf(dec, sizeof(dec), "decoder.%s", decode_reason_name((enum decode_reason)a->code));
        if (n > 0 && (size_t)n < sizeof(dec)) {
            name = dec;
            known = true;
        }
    }
    jw_key(w, "anomaly");
    jw_open_object(w);
    jw_kv_str(w, "type", anomaly_type(a->layer));
    if (known && name != NULL) {
        jw_kv_str(w, "event", name);
    } else {
        char tmp[48];
        int n = snprintf(tmp, sizeof(tmp), "%s.code_%u", a->layer == 0 ? "decoder" : anomaly_type(a->layer),
                         a->code);
        jw_kv_str_n(w, "event", tmp, (size_t)n);
    }
    if (known && layer != NULL)
        jw_kv_str(w, "layer", layer);
    jw_close_object(w);
    if (tuple)
        app_proto(w, o, ev->ref.app_proto);
}

static const char *phase_name(uint8_t p)
{
    switch (p) {
    case DETECTION_START: return "start";
    case DETECTION_UPDATE: return "update";
    case DETECTION_END: return "end";
    }
    return "unknown";
}

static void format_detection(struct json_writer *w, const struct eve_format_opts *o,
                             const struct event *ev)
{
    const struct event_detection *d = &ev->u.detection;
    const struct event_flow_ref *r = &ev->ref;
    uint8_t src[16] = {0}, dst[16] = {0};
    uint8_t ipv = r->ip_version;
    if (ipv == 4 || ipv == 6) {
        map_addr(o, ipv, r->src, src);
        map_addr(o, ipv, r->dst, dst);
    } else if (d->n_attackers > 0 && d->n_victims > 0 && d->attacker_v6 == d->victim_v6) {
        /* no packet tuple: the first attacker -> first victim */
        ipv = d->attacker_v6 ? 6 : 4;
        map_addr(o, ipv, d->attacker[0], src);
        map_addr(o, ipv, d->victim[0], dst);
    } else {
        ipv = 0;
    }
    bool tuple = ipv == 4 || ipv == 6;
    header(w, o, ev, "alert", ipv, src, dst, tuple);
    if (tuple && (r->ip_version == 4 || r->ip_version == 6))
        community(w, o, ipv, src, dst, r);
    const char *cls = d->class_name ? d->class_name : "anomaly";
    jw_key(w, "alert");
    jw_open_object(w);
    jw_kv_str(w, "action", "allowed");
    jw_kv_u64(w, "gid", EVE_DETECTION_GID);
    jw_kv_u64(w, "signature_id", d->sid);
    jw_kv_u64(w, "rev", 1);
    char sig[128];
    int n = snprintf(sig, sizeof(sig), "TRIPLINE anomaly %s", cls);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(sig))
        n = sizeof(sig) - 1;
    jw_kv_str_n(w, "signature", sig, (size_t)n);
    jw_kv_str(w, "category", cls);
    jw_kv_u64(w, "severity", d->severity ? d->severity : 3);
    jw_close_object(w);

    jw_key(w, "tripline");
    jw_open_object(w);
    jw_kv_str(w, "phase", phase_name(d->phase));
    jw_kv_u64(w, "incident_id", d->incident_id);
    if (d->start_ns)
        kv_ts(w, "start", d->start_ns);
    uint8_t tmp[16];
    jw_key(w, "attackers");
    jw_open_array(w);
    for (unsigned i = 0; i < d->n_attackers && i < DETECTION_MAX_PEERS; i++) {
        uint8_t v = d->attacker_v6 ? 6 : 4;
        map_addr(o, v, d->attacker[i], tmp);
        str_addr(w, v, tmp);
    }
    jw_close_array(w);
    jw_key(w, "victims");
    jw_open_array(w);
    for (unsigned i = 0; i < d->n_victims && i < DETECTION_MAX_PEERS; i++) {
        uint8_t v = d->victim_v6 ? 6 : 4;
        map_addr(o, v, d->victim[i], tmp);
        str_addr(w, v, tmp);
    }
    jw_close_array(w);
    if (d->victim_port)
        jw_kv_u64(w, "victim_port", d->victim_port);
    if (d->asset_name != NULL)
        jw_kv_str(w, "asset", d->asset_name);
    jw_key(w, "metrics");
    jw_open_object(w);
    for (unsigned i = 0; i < d->n_metrics && i < DETECTION_MAX_METRICS; i++) {
        if (d->metric[i].name == NULL)
            continue;
        jw_kv_double(w, d->metric[i].name, d->metric[i].value);
    }
    jw_close_object(w);
    jw_close_object(w);
}

static int finish(struct json_writer *w, const struct eve_format_opts *o, size_t *len)
{
    if (o->host != NULL)
        jw_kv_str(w, "host", o->host);
    jw_close_object(w);
    int rc = json_writer_finish(w);
    if (len != NULL)
        *len = rc == 0 ? w->len : 0;
    if (rc != 0 && w->cap > 0)
        w->buf[0] = '\0';
    return rc;
}

int eve_format_event(const struct eve_format_opts *o, const struct event *ev, char *buf, size_t cap,
                     size_t *len)
{
    struct json_writer w;
    json_writer_init(&w, buf, cap);
    if (len != NULL)
        *len = 0;
    uint8_t src[16], dst[16];
    uint8_t ipv = ev->ref.ip_version;
    if (ev->type != EVENT_DETECTION) {
        map_addr(o, ipv, ev->ref.src, src);
        map_addr(o, ipv, ev->ref.dst, dst);
    }
    jw_open_object(&w);
    switch (ev->type) {
    case EVENT_FLOW:
        format_flow(&w, o, ev, ipv, src, dst);
        break;
    case EVENT_ALERT:
        format_alert(&w, o, ev, ipv, src, dst);
        break;
    case EVENT_ANOMALY:
        format_anomaly(&w, o, ev, ipv, src, dst);
        break;
    case EVENT_DETECTION:
        format_detection(&w, o, ev);
        break;
    case EVENT_APPLAYER:
        if (format_applayer(&w, o, ev, ipv, src, dst) < 0) {
            if (cap > 0)
                buf[0] = '\0';
            return -EINVAL;
        }
        break;
    default:
        if (cap > 0)
            buf[0] = '\0';
        return -EINVAL;
    }
    return finish(&w, o, len);
}

/* ---- stats ---- */

/* The segment of name after `plen` bytes of prefix (and its dot). */
static bool in_group(const char *name, const char *prefix, size_t plen)
{
    return plen == 0 || (strncmp(name, prefix, plen) == 0 && name[plen] == '.');
}

static const char *rest_of(const char *name, size_t plen)
{
    return plen == 0 ? name : name + plen + 1;
}

static size_t seg_len(const char *rest)
{
    const char *dot = strchr(rest, '.');
    return dot ? (size_t)(dot - rest) : strlen(rest);
}

/* Emits the members of the group named by the first plen bytes of `prefix` in first-appearance
 * order. Quadratic in the number of counters, which is fine once per stats interval. A name
 * that is both a counter and a group ("a.b" and "a.b.c") keeps the counter and writes the
 * deeper names flat ("b.c") beside it, so nothing is lost and no key repeats. */
static void stats_group(struct json_writer *w, const struct eve_stat *st, size_t n, const char *prefix,
                        size_t plen, unsigned depth)
{
    for (size_t i = 0; i < n; i++) {
        if (st[i].name == NULL || !in_group(st[i].name, prefix, plen))
            continue;
        const char *rest = rest_of(st[i].name, plen);
        size_t sl = seg_len(rest);
        if (sl == 0)
            continue;
        /* first appearance of this segment in the group? */
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            if (st[j].name == NULL || !in_group(st[j].name, prefix, plen))
                continue;
            const char *r2 = rest_of(st[j].name, plen);
            seen = seg_len(r2) == sl && memcmp(r2, rest, sl) == 0;
        }
        if (seen)
            continue;
        /* is there a plain counter with exactly this segment? */
        const struct eve_stat *leaf = NULL;
        bool deeper = false;
        for (size_t j = i; j < n; j++) {
            if (st[j].name == NULL || !in_group(st[j].name, prefix, plen))
                continue;
            const char *r2 = rest_of(st[j].name, plen);
            if (strncmp(r2, rest, sl) != 0)
                continue;
            if (r2[sl] == '\0' && leaf == NULL)
                leaf = &st[j];
            else if (r2[sl] == '.')
                deeper = true;
        }
        if (leaf != NULL) {
            jw_key_n(w, rest, sl);
            jw_u64(w, leaf->value);
            if (deeper) {
                for (size_t j = i; j < n; j++) {
                    if (st[j].name == NULL || !in_group(st[j].name, prefix, plen))
                        continue;
                    const char *r2 = rest_of(st[j].name, plen);
                    if (strncmp(r2, rest, sl) == 0 && r2[sl] == '.')
                        jw_kv_u64(w, r2, st[j].value);
                }
            }
        } else if (depth < 16) {
            jw_key_n(w, rest, sl);
            jw_open_object(w);
            stats_group(w, st, n, st[i].name, (size_t)(rest - st[i].name) + sl, depth + 1);
            jw_close_object(w);
        }
    }
}

int eve_format_stats(const struct eve_format_opts *o, uint64_t ts_ns, uint64_t uptime_s,
                     const struct eve_stat *stats, size_t n, char *buf, size_t cap, size_t *len)
{
    struct json_writer w;
    json_writer_init(&w, buf, cap);
    if (len != NULL)
        *len = 0;
    jw_open_object(&w);
    kv_ts(&w, "timestamp", ts_ns);
    jw_kv_str(&w, "event_type", "stats"); /* no in_iface: Suricata's stats are per process */
    jw_key(&w, "stats");
    jw_open_object(&w);
    jw_kv_u64(&w, "uptime", uptime_s);
    stats_group(&w, stats, n, "", 0, 0);
    jw_close_object(&w);
    return finish(&w, o, len);
}
