/* EVE formatting: each event type parsed back with jansson and checked field by field, field
 * order as Suricata writes it, timestamps in the process's time zone, pseudonymisation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "community_id.h"
#include "decode.h"
#include "eve_format.h"
#include "rules.h"

/* 2017-04-07T22:24:37.251547 UTC */
#define TS 1491603877251547123ull
#define NS 1000000000ull

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static int setup_utc(void **state)
{
    (void)state;
    set_tz("UTC");
    return 0;
}

static json_t *fmt(const struct eve_format_opts *o, const struct event *ev, char *buf, size_t cap)
{
    size_t len = 0;
    int rc = eve_format_event(o, ev, buf, cap, &len);
    assert_int_equal(rc, 0);
    assert_int_equal(len, strlen(buf));
    assert_null(strchr(buf, '\n'));
    json_error_t err;
    json_t *j = json_loads(buf, 0, &err);
    if (j == NULL)
        print_error("bad json: %s: %s\n", err.text, buf);
    assert_non_null(j);
    return j;
}

/* keys appear in this order in the text */
static void assert_order(const char *buf, const char *const *keys, size_t n)
{
    const char *prev = buf;
    for (size_t i = 0; i < n; i++) {
        char pat[64];
        snprintf(pat, sizeof(pat), "\"%s\":", keys[i]);
        const char *p = strstr(prev, pat);
        if (p == NULL)
            print_error("key %s missing or out of order in %s\n", keys[i], buf);
        assert_non_null(p);
        prev = p;
    }
}

static const char *jstr(json_t *j, const char *k)
{
    json_t *v = json_object_get(j, k);
    assert_non_null(v);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static json_int_t jint(json_t *j, const char *k)
{
    json_t *v = json_object_get(j, k);
    assert_non_null(v);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void v4(uint8_t a[16], uint8_t x, uint8_t y, uint8_t z, uint8_t w)
{
    memset(a, 0, 16);
    a[0] = x, a[1] = y, a[2] = z, a[3] = w;
}

static void test_timestamp(void **state)
{
    (void)state;
    char b[40];
    assert_int_equal(eve_format_timestamp(TS, b, sizeof(b)), 31);
    assert_string_equal(b, "2017-04-07T22:24:37.251547+0000");
    assert_int_equal(eve_format_timestamp(0, b, sizeof(b)), 31);
    assert_string_equal(b, "1970-01-01T00:00:00.000000+0000");
    assert_int_equal(eve_format_timestamp(TS, b, 10), 0);
    /* POSIX TZ strings need no zoneinfo files: one hour east, and 3:30 west */
    set_tz("XXX-1");
    eve_format_timestamp(TS, b, sizeof(b));
    assert_string_equal(b, "2017-04-07T23:24:37.251547+0100");
    set_tz("<-0330>3:30");
    eve_format_timestamp(TS, b, sizeof(b));
    assert_string_equal(b, "2017-04-07T18:54:37.251547-0330");
    set_tz("UTC");
}

static struct event tcp_flow_event(void)
{
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_FLOW;
    ev.ts_ns = TS + 5 * NS;
    ev.ref.flow_id = 1234567890123ull;
    ev.ref.has_flow = 1;
    ev.ref.ip_version = 4;
    ev.ref.proto = 6;
    v4(ev.ref.src, 10, 0, 0, 1);
    v4(ev.ref.dst, 192, 168, 1, 200);
    ev.ref.sport = 49632;
    ev.ref.dport = 80;
    ev.ref.vlan_count = 2;
    ev.ref.vlan[0] = 100;
    ev.ref.vlan[1] = 7;
    ev.ref.app_proto = 1;
    struct event_flow *f = &ev.u.flow;
    f->pkts_toserver = 5;
    f->pkts_toclient = 4;
    f->bytes_toserver = 500;
    f->bytes_toclient = 4000;
    f->start_ns = TS;
    f->end_ns = TS + 3 * NS + 900000000ull; /* 3.9 s later: age 4 by seconds, as Suricata */
    f->state = FLOW_STATE_CLOSED;
    f->tcp_state = TCP_CLOSED;
    f->reason = FLOW_END_TIMEOUT;
    f->tcp_flags_ts = 0x1b;
    f->tcp_flags_tc = 0x1a;
    f->tcp_flags = 0x1b;
    f->alerted = 1;
    return ev;
}

static const char *app_name(uint16_t ap)
{
    return ap == 1 ? "http" : NULL;
}

static void test_flow_tcp(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    o.in_iface = "eth0";
    o.host = "sensor-1";
    o.app_proto_name = app_name;
    struct event ev = tcp_flow_event();
    char buf[2048];
    json_t *j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(j, "timestamp"), "2017-04-07T22:24:42.251547+0000");
    assert_int_equal(jint(j, "flow_id"), 1234567890123ll);
    assert_string_equal(jstr(j, "in_iface"), "eth0");
    assert_string_equal(jstr(j, "event_type"), "flow");
    json_t *vl = json_object_get(j, "vlan");
    assert_int_equal(json_array_size(vl), 2);
    assert_int_equal(json_integer_value(json_array_get(vl, 0)), 100);
    assert_int_equal(json_integer_value(json_array_get(vl, 1)), 7);
    assert_string_equal(jstr(j, "src_ip"), "10.0.0.1");
    assert_int_equal(jint(j, "src_port"), 49632);
    assert_string_equal(jstr(j, "dest_ip"), "192.168.1.200");
    assert_int_equal(jint(j, "dest_port"), 80);
    assert_string_equal(jstr(j, "proto"), "TCP");
    assert_string_equal(jstr(j, "app_proto"), "http");
    char cid[COMMUNITY_ID_LEN];
    community_id_v1(0, 4, ev.ref.src, ev.ref.dst, 6, 49632, 80, cid, sizeof(cid));
    assert_string_equal(jstr(j, "community_id"), cid);
    json_t *f = json_object_get(j, "flow");
    assert_int_equal(jint(f, "pkts_toserver"), 5);
    assert_int_equal(jint(f, "pkts_toclient"), 4);
    assert_int_equal(jint(f, "bytes_toserver"), 500);
    assert_int_equal(jint(f, "bytes_toclient"), 4000);
    assert_string_equal(jstr(f, "start"), "2017-04-07T22:24:37.251547+0000");
    assert_string_equal(jstr(f, "end"), "2017-04-07T22:24:41.151547+0000");
    assert_int_equal(jint(f, "age"), 4);
    assert_string_equal(jstr(f, "state"), "closed");
    assert_string_equal(jstr(f, "reason"), "timeout");
    assert_true(json_is_true(json_object_get(f, "alerted")));
    json_t *t = json_object_get(j, "tcp");
    assert_string_equal(jstr(t, "tcp_flags"), "1b");
    assert_string_equal(jstr(t, "tcp_flags_ts"), "1b");
    assert_string_equal(jstr(t, "tcp_flags_tc"), "1a");
    assert_true(json_is_true(json_object_get(t, "syn")));
    assert_true(json_is_true(json_object_get(t, "fin")));
    assert_true(json_is_true(json_object_get(t, "psh")));
    assert_true(json_is_true(json_object_get(t, "ack")));
    assert_null(json_object_get(t, "rst"));
    assert_string_equal(jstr(t, "state"), "closed");
    assert_string_equal(jstr(j, "host"), "sensor-1");
    static const char *const order[] = {"timestamp", "flow_id", "in_iface", "event_type", "vlan", "src_ip",
                                        "src_port", "dest_ip", "dest_port", "proto", "app_proto",
                                        "community_id", "flow", "pkts_toserver", "pkts_toclient",
                                        "bytes_toserver", "bytes_toclient", "start", "end", "age", "state",
                                        "reason", "alerted", "tcp", "tcp_flags", "tcp_flags_ts",
                                        "tcp_flags_tc", "syn", "fin", "psh", "ack", "state", "host"};
    assert_order(buf, order, sizeof(order) / sizeof(order[0]));
    json_decref(j);

    /* closing (FIN seen) is Suricata's "established"; forced eviction; no app_proto name */
    ev.u.flow.state = FLOW_STATE_CLOSING;
    ev.u.flow.tcp_state = TCP_FIN_WAIT;
    ev.u.flow.reason = FLOW_END_FORCED;
    ev.ref.app_proto = 0;
    o.in_iface = NULL;
    o.host = NULL;
    o.community_id = false;
    j = fmt(&o, &ev, buf, sizeof(buf));
    f = json_object_get(j, "flow");
    assert_string_equal(jstr(f, "state"), "established");
    assert_string_equal(jstr(f, "reason"), "forced");
    assert_string_equal(jstr(json_object_get(j, "tcp"), "state"), "fin_wait1");
    assert_null(json_object_get(j, "app_proto"));
    assert_null(json_object_get(j, "in_iface"));
    assert_null(json_object_get(j, "host"));
    assert_null(json_object_get(j, "community_id"));
    json_decref(j);
}

static void test_flow_icmp_ipv6(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_FLOW;
    ev.ts_ns = TS;
    ev.ref.flow_id = 99;
    ev.ref.has_flow = 1;
    ev.ref.ip_version = 6;
    ev.ref.proto = 58;
    static const uint8_t s6[16] = {0xfe, 0x80, [10] = 0x02, [11] = 0x01, [14] = 0x0a, [15] = 0xbc};
    static const uint8_t d6[16] = {0xff, 0x02, [15] = 0x01};
    memcpy(ev.ref.src, s6, 16);
    memcpy(ev.ref.dst, d6, 16);
    ev.ref.sport = 128; /* type/code */
    ev.ref.dport = 0;
    ev.u.flow.icmp_seen = 3;
    ev.u.flow.icmp_type = 128;
    ev.u.flow.icmp_rtype = 129;
    ev.u.flow.start_ns = ev.u.flow.end_ns = TS;
    char buf[2048];
    json_t *j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(j, "src_ip"), "fe80:0000:0000:0000:0000:0201:0000:0abc");
    assert_string_equal(jstr(j, "dest_ip"), "ff02:0000:0000:0000:0000:0000:0000:0001");
    assert_string_equal(jstr(j, "proto"), "IPv6-ICMP");
    assert_null(json_object_get(j, "src_port"));
    assert_null(json_object_get(j, "dest_port"));
    assert_int_equal(jint(j, "icmp_type"), 128);
    assert_int_equal(jint(j, "icmp_code"), 0);
    assert_int_equal(jint(j, "response_icmp_type"), 129);
    assert_int_equal(jint(j, "response_icmp_code"), 0);
    assert_null(json_object_get(j, "tcp"));
    assert_null(json_object_get(j, "vlan"));
    char cid[COMMUNITY_ID_LEN];
    community_id_v1(0, 6, s6, d6, 58, 128, 0, cid, sizeof(cid));
    assert_string_equal(jstr(j, "community_id"), cid);
    assert_string_equal(jstr(json_object_get(j, "flow"), "state"), "new");
    json_decref(j);
}

static bool rule_cb(void *ctx, const struct event_alert *a, struct eve_rule_info *out)
{
    (void)ctx;
    if (a->sid != 2100498)
        return false;
    out->msg = "GPL ATTACK_RESPONSE id check returned \"root\"";
    out->category = "Potentially Bad Traffic";
    out->metadata_json = "{\"created_at\":[\"2010_09_23\"],\"tag\":[\"a\",\"b\"]}";
    out->blocked = a->action == 2;
    return true;
}

static void test_alert(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    o.rule_info = rule_cb;
    o.app_proto_name = app_name;
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_ALERT;
    ev.ts_ns = TS;
    ev.ref.flow_id = 42;
    ev.ref.has_flow = 1;
    ev.ref.ip_version = 4;
    ev.ref.proto = 6;
    v4(ev.ref.src, 192, 168, 1, 200);
    v4(ev.ref.dst, 10, 0, 0, 1);
    ev.ref.sport = 80;
    ev.ref.dport = 49632;
    ev.ref.app_proto = 1;
    ev.u.alert.sid = 2100498;
    ev.u.alert.gid = 1;
    ev.u.alert.rev = 7;
    ev.u.alert.severity = 2;
    ev.u.alert.direction = FLOW_TO_CLIENT;
    char buf[2048];
    json_t *j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(j, "event_type"), "alert");
    assert_string_equal(jstr(j, "src_ip"), "192.168.1.200");
    json_t *a = json_object_get(j, "alert");
    assert_string_equal(jstr(a, "action"), "allowed");
    assert_int_equal(jint(a, "gid"), 1);
    assert_int_equal(jint(a, "signature_id"), 2100498);
    assert_int_equal(jint(a, "rev"), 7);
    assert_string_equal(jstr(a, "signature"), "GPL ATTACK_RESPONSE id check returned \"root\"");
    assert_string_equal(jstr(a, "category"), "Potentially Bad Traffic");
    assert_int_equal(jint(a, "severity"), 2);
    json_t *md = json_object_get(a, "metadata");
    assert_int_equal(json_array_size(json_object_get(md, "tag")), 2);
    assert_string_equal(jstr(j, "app_proto"), "http");
    assert_string_equal(jstr(j, "direction"), "to_client");
    static const char *const order[] = {"timestamp", "flow_id", "event_type", "src_ip", "src_port", "dest_ip",
                                        "dest_port", "proto", "community_id", "alert", "action", "gid",
                                        "signature_id", "rev", "signature", "category", "severity",
                                        "metadata", "app_proto", "direction"};
    assert_order(buf, order, sizeof(order) / sizeof(order[0]));
    assert_null(json_object_get(j, "pcap_cnt")); /* 0: not from a capture file */
    json_decref(j);

    /* pcap mode: Suricata's pcap_cnt after in_iface, before event_type */
    ev.pcap_cnt = 12345678901ull;
    o.in_iface = "eth0";
    j = fmt(&o, &ev, buf, sizeof(buf));
    assert_int_equal(jint(j, "pcap_cnt"), 12345678901ll);
    static const char *const order_cnt[] = {"timestamp", "flow_id", "in_iface", "pcap_cnt", "event_type",
                                            "src_ip"};
    assert_order(buf, order_cnt, sizeof(order_cnt) / sizeof(order_cnt[0]));
    json_decref(j);
    o.in_iface = NULL;
    ev.pcap_cnt = 0;

    ev.u.alert.action = 2;
    j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(json_object_get(j, "alert"), "action"), "blocked");
    json_decref(j);

    /* unknown rule: still a valid alert with empty texts */
    ev.u.alert.sid = 5;
    j = fmt(&o, &ev, buf, sizeof(buf));
    a = json_object_get(j, "alert");
    assert_string_equal(jstr(a, "signature"), "");
    assert_null(json_object_get(a, "metadata"));
    json_decref(j);
}

static void test_alert_from_rule_meta(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    struct rule_meta rm;
    memset(&rm, 0, sizeof(rm));
    rm.msg = "ET POLICY \x01 odd\tmsg";
    rm.category = "Attempted Information Leak";
    rm.priority = 2;
    rm.action = RULE_ACTION_DROP;
    rm.sid = 2001;
    rm.gid = 1;
    rm.rev = 3;
    rm.metadata_json = "{\"created_at\":[\"2010_07_30\"]}";
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_ALERT;
    ev.ts_ns = TS;
    ev.ref.ip_version = 4;
    ev.ref.proto = 17;
    v4(ev.ref.src, 1, 2, 3, 4);
    v4(ev.ref.dst, 5, 6, 7, 8);
    ev.ref.sport = 1122;
    ev.ref.dport = 3344;
    ev.u.alert.rule = &rm;
    ev.u.alert.sid = 2001;
    ev.u.alert.gid = 1;
    ev.u.alert.rev = 3;
    ev.u.alert.action = RULE_ACTION_DROP;
    char buf[2048];
    json_t *j = fmt(&o, &ev, buf, sizeof(buf));
    json_t *a = json_object_get(j, "alert");
    /* IDS mode: a drop rule alerts as "allowed", as Suricata in IDS mode */
    assert_string_equal(jstr(a, "action"), "allowed");
    assert_string_equal(jstr(a, "signature"), rm.msg);
    assert_string_equal(jstr(a, "category"), "Attempted Information Leak");
    assert_int_equal(jint(a, "severity"), 2); /* from the rule's priority */
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(a, "metadata"),
                                                                         "created_at"), 0)),
                        "2010_07_30");
    assert_string_equal(jstr(j, "community_id"), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=");
    assert_null(json_object_get(j, "flow_id")); /* no flow */
    assert_null(json_object_get(j, "direction"));
    json_decref(j);
    o.inline_mode = true;
    j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(json_object_get(j, "alert"), "action"), "blocked");
    json_decref(j);
    ev.u.alert.action = RULE_ACTION_ALERT;
    j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(json_object_get(j, "alert"), "action"), "allowed");
    json_decref(j);
}

static bool anomaly_cb(void *ctx, const struct event_anomaly *a, const char **event, const char **layer)
{
    (void)ctx;
    if (a->layer == 0 && a->code == 8) {
        *event = "decoder.ipv4.trunc_pkt";
        return true;
    }
    if (a->layer == 2) {
        *event = "APPLAYER_DETECT_PROTOCOL_ONLY_ONE_DIRECTION";
        *layer = "proto_detect";
        return true;
    }
    return false;
}

static void test_anomaly(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    o.anomaly_name = anomaly_cb;
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_ANOMALY;
    ev.ts_ns = TS;
    ev.u.anomaly.layer = 0;
    ev.u.anomaly.code = 8;
    char buf[1024];
    /* no IP layer: no tuple, no flow id, no community id */
    json_t *j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(j, "event_type"), "anomaly");
    assert_null(json_object_get(j, "src_ip"));
    assert_null(json_object_get(j, "flow_id"));
    assert_null(json_object_get(j, "community_id"));
    json_t *an = json_object_get(j, "anomaly");
    assert_string_equal(jstr(an, "type"), "decode");
    assert_string_equal(jstr(an, "event"), "decoder.ipv4.trunc_pkt");
    assert_null(json_object_get(an, "layer"));
    json_decref(j);

    ev.ref.ip_version = 4;
    ev.ref.proto = 1;
    v4(ev.ref.src, 1, 2, 3, 4);
    v4(ev.ref.dst, 5, 6, 7, 8);
    ev.ref.sport = 8;
    ev.u.anomaly.layer = 2;
    j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(j, "proto"), "ICMP");
    assert_int_equal(jint(j, "icmp_type"), 8);
    assert_string_equal(jstr(j, "community_id"), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
    an = json_object_get(j, "anomaly");
    assert_string_equal(jstr(an, "type"), "applayer");
    assert_string_equal(jstr(an, "layer"), "proto_detect");
    json_decref(j);

    /* unknown names: a generated one, never a crash */
    ev.u.anomaly.layer = 1;
    ev.u.anomaly.code = 77;
    j = fmt(&o, &ev, buf, sizeof(buf));
    an = json_object_get(j, "anomaly");
    assert_string_equal(jstr(an, "type"), "stream");
    assert_string_equal(jstr(an, "event"), "stream.code_77");
    json_decref(j);

    /* no callback: decode anomalies take Suricata's name where one matches exactly */
    o.anomaly_name = NULL;
    ev.u.anomaly.layer = 0;
    ev.u.anomaly.code = DEC_IPV4_BAD_IHL;
    j = fmt(&o, &ev, buf, sizeof(buf));
    an = json_object_get(j, "anomaly");
    assert_string_equal(jstr(an, "event"), "decoder.ipv4.hlen_too_small");
    assert_string_equal(jstr(an, "type"), "decode");
    json_decref(j);
    /* fragment events name the IP version of the packet, as Suricata's do */
    ev.u.anomaly.code = DEC_FRAG_OVERLAP;
    uint8_t ipv_was = ev.ref.ip_version;
    ev.ref.ip_version = 4;
    j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(json_object_get(j, "anomaly"), "event"), "decoder.ipv4.frag_overlap");
    json_decref(j);
    ev.ref.ip_version = 6;
    j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(json_object_get(j, "anomaly"), "event"), "decoder.ipv6.frag_overlap");
    json_decref(j);
    ev.ref.ip_version = ipv_was;
    /* Tripline's own reasons keep the decoder's name under the "decoder." prefix */
    ev.u.anomaly.code = DEC_TUNNEL_TOO_DEEP;
    j = fmt(&o, &ev, buf, sizeof(buf));
    char want[80];
    snprintf(want, sizeof(want), "decoder.%s", decode_reason_name(DEC_TUNNEL_TOO_DEEP));
    assert_string_equal(jstr(json_object_get(j, "anomaly"), "event"), want);
    json_decref(j);
    /* an out-of-range code is not looked up */
    ev.u.anomaly.code = 60000;
    j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(json_object_get(j, "anomaly"), "event"), "decoder.code_60000");
    json_decref(j);
}

static void test_detection(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    struct event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = EVENT_DETECTION;
    ev.ts_ns = TS + NS;
    struct event_detection *d = &ev.u.detection;
    d->class_name = "syn-flood";
    d->sid = 9000001;
    d->phase = DETECTION_UPDATE;
    d->severity = 1;
    d->n_attackers = 2;
    v4(d->attacker[0], 203, 0, 113, 5);
    v4(d->attacker[1], 203, 0, 113, 6);
    d->n_victims = 1;
    v4(d->victim[0], 10, 0, 0, 80);
    d->victim_port = 443;
    d->start_ns = TS;
    d->incident_id = 77;
    d->n_metrics = 2;
    d->metric[0].name = "syn_rate";
    d->metric[0].value = 12345.5;
    d->metric[1].name = "synack_ratio";
    d->metric[1].value = 0.01;
    d->asset_name = "web \"frontend\"";
    char buf[2048];
    json_t *j = fmt(&o, &ev, buf, sizeof(buf));
    assert_string_equal(jstr(j, "event_type"), "alert");
    assert_string_equal(jstr(j, "src_ip"), "203.0.113.5");
    assert_string_equal(jstr(j, "dest_ip"), "10.0.0.80");
    json_t *a = json_object_get(j, "alert");
    assert_int_equal(jint(a, "gid"), EVE_DETECTION_GID);
    assert_int_equal(jint(a, "signature_id"), 9000001);
    assert_string_equal(jstr(a, "category"), "syn-flood");
    assert_int_equal(jint(a, "severity"), 1);
    json_t *t = json_object_get(j, "tripline");
    assert_non_null(t);
    assert_string_equal(jstr(t, "phase"), "update");
    assert_int_equal(jint(t, "incident_id"), 77);
    assert_string_equal(jstr(t, "start"), "2017-04-07T22:24:37.251547+0000");
    assert_int_equal(json_array_size(json_object_get(t, "attackers")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(t, "attackers"), 1)), "203.0.113.6");
    assert_string_equal(json_string_value(json_array_get(json_object_get(t, "victims"), 0)), "10.0.0.80");
    assert_int_equal(jint(t, "victim_port"), 443);
    assert_string_equal(jstr(t, "asset"), "web \"frontend\"");
    json_t *m = json_object_get(t, "metrics");
    assert_true(json_real_value(json_object_get(m, "syn_rate")) == 12345.5);
    assert_true(json_real_value(json_object_get(m, "synack_ratio")) == 0.01);
    json_decref(j);
}

/* maps a.b.c.d -> 100.b.c.d (and the first IPv6 byte to 0x20) */
static bool pseudo(void *ctx, uint8_t ipv, const uint8_t *in, uint8_t *out)
{
    int *calls = ctx;
    (*calls)++;
    memcpy(out, in, ipv == 4 ? 4 : 16);
    out[0] = ipv == 4 ? 100 : 0x20;
    return true;
}

static void test_pseudonymise(void **state)
{
    (void)state;
    int calls = 0;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    o.pseudonymise = pseudo;
    o.pseudonymise_ctx = &calls;
    struct event ev = tcp_flow_event();
    char buf[2048];
    json_t *j = fmt(&o, &ev, buf, sizeof(buf));
    assert_int_equal(calls, 2);
    assert_string_equal(jstr(j, "src_ip"), "100.0.0.1");
    assert_string_equal(jstr(j, "dest_ip"), "100.168.1.200");
    uint8_t s[16], d[16];
    v4(s, 100, 0, 0, 1);
    v4(d, 100, 168, 1, 200);
    char cid[COMMUNITY_ID_LEN];
    community_id_v1(0, 4, s, d, 6, 49632, 80, cid, sizeof(cid));
    assert_string_equal(jstr(j, "community_id"), cid);
    assert_null(strstr(buf, "10.0.0.1"));
    json_decref(j);
}

static void test_stats(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    o.host = "s1";
    const struct eve_stat st[] = {
        {"capture.kernel_packets", 100},
        {"decoder.pkts", 90},
        {"decoder.bytes", 9000},
        {"flow.tcp", 3},
        {"decoder.event.ipv4.trunc_pkt", 2},
        {"decoder.event.ipv4.hlen_too_small", 1},
        {"detect.alert", 7},
        {"flow.udp", 4},
        {"x.y", 1},
        {"x.y.z", 2}, /* both a counter and a group */
    };
    char buf[2048];
    size_t len;
    assert_int_equal(eve_format_stats(&o, TS, 3600, st, sizeof(st) / sizeof(st[0]), buf, sizeof(buf), &len), 0);
    assert_int_equal(len, strlen(buf));
    json_error_t err;
    json_t *j = json_loads(buf, 0, &err);
    assert_non_null(j);
    assert_string_equal(jstr(j, "event_type"), "stats");
    assert_string_equal(jstr(j, "timestamp"), "2017-04-07T22:24:37.251547+0000");
    assert_string_equal(jstr(j, "host"), "s1");
    json_t *s = json_object_get(j, "stats");
    assert_int_equal(jint(s, "uptime"), 3600);
    assert_int_equal(jint(json_object_get(s, "capture"), "kernel_packets"), 100);
    json_t *dec = json_object_get(s, "decoder");
    assert_int_equal(jint(dec, "pkts"), 90);
    assert_int_equal(jint(dec, "bytes"), 9000);
    json_t *ip4 = json_object_get(json_object_get(dec, "event"), "ipv4");
    assert_int_equal(jint(ip4, "trunc_pkt"), 2);
    assert_int_equal(jint(ip4, "hlen_too_small"), 1);
    assert_int_equal(json_object_size(json_object_get(s, "flow")), 2);
    assert_int_equal(jint(json_object_get(s, "flow"), "udp"), 4);
    assert_int_equal(jint(json_object_get(s, "detect"), "alert"), 7);
    json_t *x = json_object_get(s, "x");
    assert_int_equal(jint(x, "y"), 1);
    assert_int_equal(jint(x, "y.z"), 2);
    /* each group once, in first-appearance order */
    assert_string_equal(buf, "{\"timestamp\":\"2017-04-07T22:24:37.251547+0000\",\"event_type\":\"stats\","
                             "\"stats\":{\"uptime\":3600,\"capture\":{\"kernel_packets\":100},"
                             "\"decoder\":{\"pkts\":90,\"bytes\":9000,\"event\":{\"ipv4\":{\"trunc_pkt\":2,"
                             "\"hlen_too_small\":1}}},\"flow\":{\"tcp\":3,\"udp\":4},\"detect\":{\"alert\":7},"
                             "\"x\":{\"y\":1,\"y.z\":2}},\"host\":\"s1\"}");
    json_decref(j);
}

static void test_truncation_and_bad_type(void **state)
{
    (void)state;
    struct eve_format_opts o;
    eve_format_opts_default(&o);
    struct event ev = tcp_flow_event();
    char buf[2048];
    size_t full;
    assert_int_equal(eve_format_event(&o, &ev, buf, sizeof(buf), &full), 0);
    for (size_t cap = 0; cap <= full; cap += 7) {
        char small[2048];
        size_t len = 99;
        assert_int_equal(eve_format_event(&o, &ev, small, cap, &len), -ENOSPC);
        assert_int_equal(len, 0);
        if (cap > 0)
            assert_string_equal(small, "");
    }
    size_t len;
    assert_int_equal(eve_format_event(&o, &ev, buf, full + 1, &len), 0);
    assert_int_equal(len, full);
    ev.type = 99;
    assert_int_equal(eve_format_event(&o, &ev, buf, sizeof(buf), &len), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_timestamp, setup_utc),
        cmocka_unit_test_setup(test_flow_tcp, setup_utc),
        cmocka_unit_test_setup(test_flow_icmp_ipv6, setup_utc),
        cmocka_unit_test_setup(test_alert, setup_utc),
        cmocka_unit_test_setup(test_alert_from_rule_meta, setup_utc),
        cmocka_unit_test_setup(test_anomaly, setup_utc),
        cmocka_unit_test_setup(test_detection, setup_utc),
        cmocka_unit_test_setup(test_pseudonymise, setup_utc),
        cmocka_unit_test_setup(test_stats, setup_utc),
        cmocka_unit_test_setup(test_truncation_and_bad_type, setup_utc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
