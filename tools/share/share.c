#include "share.h"

#include <ctype.h>
#include <stdint.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <sodium.h>

/* STIX 2.1 predefined TLP marking definitions (STIX 2.1 section 7.2.1.4) */
static const char *const stix_tlp_id[] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
};
static const char *const tlp_name[] = {"white", "green", "amber", "red"};
static const char *const misp_tlp_tag[] = {"tlp:clear", "tlp:green", "tlp:amber", "tlp:red"};
/* STIX 2.1 namespace for deterministic SCO identifiers (section 2.9) */
static const uint8_t stix_sco_ns[16] = {0x00, 0xab, 0xed, 0xb4, 0xaa, 0x42, 0x46, 0x6c,
                                        0x9c, 0x01, 0xfe, 0xd2, 0x33, 0x15, 0xa9, 0xb7};

struct share {
    struct share_opts o;
    json_t *alerts; /* array of parsed alert objects */
    unsigned skipped;
};

int share_tlp_parse(const char *s, enum share_tlp *out)
{
    if (!strcasecmp(s, "clear") || !strcasecmp(s, "white")) *out = SHARE_TLP_CLEAR;
    else if (!strcasecmp(s, "green")) *out = SHARE_TLP_GREEN;
    else if (!strcasecmp(s, "amber")) *out = SHARE_TLP_AMBER;
    else if (!strcasecmp(s, "red")) *out = SHARE_TLP_RED;
    else return -1;
    return 0;
}

struct share *share_new(const struct share_opts *o)
{
    if (sodium_init() < 0)
        return NULL;
    struct share *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->o = *o;
    s->alerts = json_array();
    if (!s->alerts) {
        free(s);
        return NULL;
    }
    return s;
}

int share_add_line(struct share *s, const char *line, size_t len)
{
    json_t *j = json_loadb(line, len, 0, NULL);
    const char *type = j ? json_string_value(json_object_get(j, "event_type")) : NULL;
    json_t *a = j ? json_object_get(j, "alert") : NULL;
    if (!type || strcmp(type, "alert") || !json_is_object(a) ||
        !json_is_string(json_object_get(j, "timestamp"))) {
        json_decref(j);
        s->skipped++;
        return 0;
    }
    json_int_t sev = json_integer_value(json_object_get(a, "severity"));
    if (s->o.min_severity && sev > s->o.min_severity) {
        json_decref(j);
        s->skipped++;
        return 0;
    }
    return json_array_append_new(s->alerts, j) == 0 ? 1 : -1;
}

unsigned share_alerts(const struct share *s) { return (unsigned)json_array_size(s->alerts); }
unsigned share_skipped(const struct share *s) { return s->skipped; }

void share_free(struct share *s)
{
    if (!s)
        return;
    json_decref(s->alerts);
    free(s);
}

/* EVE "2017-04-07T22:24:37.251547+0000" -> STIX "2017-04-07T22:24:37.251Z" (UTC) and seconds. */
static int eve_time(const char *ts, char out[32], time_t *secs)
{
    struct tm tm = {0};
    const char *p = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    unsigned ms = 0;
    if (*p == '.') {
        p++;
        unsigned digits = 0, frac = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3) {
                frac = frac * 10 + (unsigned)(*p - '0');
                digits++;
            }
            p++;
        }
        while (digits < 3) {
            frac *= 10;
            digits++;
        }
        ms = frac;
    }
    long off = 0;
    if ((*p == '+' || *p == '-') && strlen(p) >= 5) {
        int hh = (p[1] - '0') * 10 + (p[2] - '0');
        int mm = p[3] == ':' ? (p[4] - '0') * 10 + (p[5] - '0') : (p[3] - '0') * 10 + (p[4] - '0');
        off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
    }
    time_t t = timegm(&tm) - off;
    struct tm u;
    gmtime_r(&t, &u);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &u);
    snprintf(out + n, 32 - n, ".%03uZ", ms);
    if (secs)
        *secs = t;
    return 0;
}

static void uuid_fmt(const uint8_t u[16], const char *type, char *out, size_t cap)
{
    snprintf(out, cap,
             "%s--%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", type,
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

static void id_v4(const char *type, char *out, size_t cap)
{
    uint8_t u[16];
    randombytes_buf(u, sizeof(u));
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    uuid_fmt(u, type, out, cap);
}

/* RFC 4122 version 5 (SHA-1) over the namespace and name: deterministic ids. */
static void id_v5(const uint8_t ns[16], const char *type, const char *name, char *out, size_t cap)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha1(), NULL);
    EVP_DigestUpdate(c, ns, 16);
    EVP_DigestUpdate(c, name, strlen(name));
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    md[6] = (uint8_t)((md[6] & 0x0f) | 0x50);
    md[8] = (uint8_t)((md[8] & 0x3f) | 0x80);
    uuid_fmt(md, type, out, cap);
}

static const char *str_or(json_t *o, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : def;
}

static const char *producer_name(struct share *s)
{
    if (s->o.producer)
        return s->o.producer;
    json_t *first = json_array_get(s->alerts, 0);
    if (first) {
        const char *v = str_or(first, "sensor_id", NULL);
        if (!v)
            v = str_or(first, "host", NULL);
        if (v)
            return v;
    }
    return "tripline";
}

/* SCO for an address: ipv4-addr or ipv6-addr with a deterministic id; returns its id. */
static json_t *addr_sco(const char *ip, char *id, size_t cap)
{
    const char *type = strchr(ip, ':') ? "ipv6-addr" : "ipv4-addr";
    char name[128];
    snprintf(name, sizeof(name), "{\"value\":\"%s\"}", ip);
    id_v5(stix_sco_ns, type, name, id, cap);
    return json_pack("{s:s, s:s, s:s, s:s}", "type", type, "spec_version", "2.1", "id", id, "value", ip);
}

json_t *share_stix_bundle(struct share *s)
{
    char now[32], bid[80], ident[80];
    time_t t = time(NULL);
    struct tm u;
    gmtime_r(&t, &u);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S.000Z", &u);
    id_v4("bundle", bid, sizeof(bid));
    const char *prod = producer_name(s);
    uint8_t ns[16] = {0};
    memcpy(ns, stix_sco_ns, 16);
    id_v5(ns, "identity", prod, ident, sizeof(ident));
    const char *mark = stix_tlp_id[s->o.tlp];
    json_t *objs = json_array();
    json_array_append_new(objs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s}}", "type", "marking-definition",
                                          "spec_version", "2.1", "id", mark, "created",
                                          "2017-01-20T00:00:00.000Z", "definition_type", "tlp",
                                          "definition", "tlp", tlp_name[s->o.tlp]));
    json_array_append_new(objs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "type", "identity",
                                          "spec_version", "2.1", "id", ident, "created", now, "modified",
                                          now, "name", prod, "identity_class", "system",
                                          "object_marking_refs", mark));
    json_t *patterns = json_object(); /* signature key -> attack-pattern id */
    size_t i;
    json_t *ev;
    json_array_foreach(s->alerts, i, ev) {
        json_t *a = json_object_get(ev, "alert");
        char ts[32];
        if (eve_time(json_string_value(json_object_get(ev, "timestamp")), ts, NULL) < 0)
            continue;
        json_int_t gid = json_integer_value(json_object_get(a, "gid"));
        json_int_t sid = json_integer_value(json_object_get(a, "signature_id"));
        json_int_t rev = json_integer_value(json_object_get(a, "rev"));
        const char *sig = str_or(a, "signature", "unknown signature");
        char key[64], apid[80];
        snprintf(key, sizeof(key), "%lld:%lld:%lld", (long long)gid, (long long)sid, (long long)rev);
        json_t *have = json_object_get(patterns, key);
        if (have) {
            snprintf(apid, sizeof(apid), "%s", json_string_value(have));
        } else {
            id_v5(ns, "attack-pattern", key, apid, sizeof(apid));
            json_object_set_new(patterns, key, json_string(apid));
            json_t *ap = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}], s:[s]}", "type",
                                   "attack-pattern", "spec_version", "2.1", "id", apid, "created", now,
                                   "modified", now, "name", sig, "created_by_ref", ident,
                                   "external_references", "source_name", "tripline", "external_id", key,
                                   "object_marking_refs", mark);
            const char *cat = str_or(a, "category", NULL);
            if (cat)
                json_object_set_new(ap, "description", json_string(cat));
            json_array_append_new(objs, ap);
        }
        /* observed SCOs */
        json_t *refs = json_array();
        char srcid[96] = "", dstid[96] = "";
        const char *src = str_or(ev, "src_ip", NULL), *dst = str_or(ev, "dest_ip", NULL);
        if (src) {
            json_array_append_new(objs, addr_sco(src, srcid, sizeof(srcid)));
        }
        if (dst) {
            json_array_append_new(objs, addr_sco(dst, dstid, sizeof(dstid)));
        }
        if (src && dst) {
            const char *proto = str_or(ev, "proto", "ip");
            char lower[16];
            size_t k;
            for (k = 0; proto[k] && k < sizeof(lower) - 1; k++)
                lower[k] = (char)tolower((unsigned char)proto[k]);
            lower[k] = '\0';
            json_int_t sp = json_integer_value(json_object_get(ev, "src_port"));
            json_int_t dp = json_integer_value(json_object_get(ev, "dest_port"));
            char name[512], ntid[96];
            snprintf(name, sizeof(name),
                     "{\"dst_port\":%lld,\"dst_ref\":\"%s\",\"protocols\":[\"%s\"],\"src_port\":%lld,\"src_ref\":\"%s\"}",
                     (long long)dp, dstid, lower, (long long)sp, srcid);
            id_v5(stix_sco_ns, "network-traffic", name, ntid, sizeof(ntid));
            json_t *nt = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s]}", "type", "network-traffic",
                                   "spec_version", "2.1", "id", ntid, "src_ref", srcid, "dst_ref", dstid,
                                   "protocols", lower);
            if (json_object_get(ev, "src_port"))
                json_object_set_new(nt, "src_port", json_integer(sp));
            if (json_object_get(ev, "dest_port"))
                json_object_set_new(nt, "dst_port", json_integer(dp));
            json_array_append_new(objs, nt);
            json_array_append_new(refs, json_string(ntid));
        }
        if (src)
            json_array_append_new(refs, json_string(srcid));
        if (dst)
            json_array_append_new(refs, json_string(dstid));
        if (!json_array_size(refs)) {
            json_decref(refs);
            continue;
        }
        char odid[80], sgid[80];
        id_v4("observed-data", odid, sizeof(odid));
        id_v4("sighting", sgid, sizeof(sgid));
        json_array_append_new(objs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:[s]}",
                                              "type", "observed-data", "spec_version", "2.1", "id", odid,
                                              "created", now, "modified", now, "created_by_ref", ident,
                                              "first_observed", ts, "last_observed", ts,
                                              "number_observed", 1, "object_refs", refs,
                                              "object_marking_refs", mark));
        json_array_append_new(objs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:[s], s:[s], s:[s]}",
                                              "type", "sighting", "spec_version", "2.1", "id", sgid,
                                              "created", now, "modified", now, "created_by_ref", ident,
                                              "first_seen", ts, "last_seen", ts, "count", 1,
                                              "sighting_of_ref", apid, "observed_data_refs", odid,
                                              "where_sighted_refs", ident, "object_marking_refs", mark));
    }
    json_decref(patterns);
    return json_pack("{s:s, s:s, s:o}", "type", "bundle", "id", bid, "objects", objs);
}

json_t *share_misp_event(struct share *s)
{
    char uuid[64], date[16];
    id_v4("x", uuid, sizeof(uuid));
    time_t t = time(NULL);
    struct tm u;
    gmtime_r(&t, &u);
    strftime(date, sizeof(date), "%Y-%m-%d", &u);
    char stamp[24];
    snprintf(stamp, sizeof(stamp), "%lld", (long long)t);
    json_int_t best = 4;
    json_t *objects = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(s->alerts, i, ev) {
        json_t *a = json_object_get(ev, "alert");
        json_int_t sev = json_integer_value(json_object_get(a, "severity"));
        if (sev >= 1 && sev < best)
            best = sev;
        char ts[32];
        time_t secs = 0;
        if (eve_time(json_string_value(json_object_get(ev, "timestamp")), ts, &secs) < 0)
            continue;
        char comment[512];
        snprintf(comment, sizeof(comment), "%s [%lld:%lld:%lld] severity %lld",
                 str_or(a, "signature", "alert"), (long long)json_integer_value(json_object_get(a, "gid")),
                 (long long)json_integer_value(json_object_get(a, "signature_id")),
                 (long long)json_integer_value(json_object_get(a, "rev")), (long long)sev);
        json_t *attrs = json_array();
        struct { const char *rel, *type, *field; } f[] = {
            {"ip-src", "ip-src", "src_ip"}, {"ip-dst", "ip-dst", "dest_ip"},
            {"src-port", "port", "src_port"}, {"dst-port", "port", "dest_port"},
            {"layer4-protocol", "text", "proto"}, {"community-id", "community-id", "community_id"},
        };
        for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
            json_t *v = json_object_get(ev, f[k].field);
            char num[24];
            const char *val = json_string_value(v);
            if (json_is_integer(v)) {
                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
                val = num;
            }
            if (!val)
                continue;
            json_array_append_new(attrs, json_pack("{s:s, s:s, s:s, s:s, s:b}", "object_relation", f[k].rel,
                                                   "type", f[k].type, "category", "Network activity",
                                                   "value", val, "to_ids", 0));
        }
        json_array_append_new(attrs, json_pack("{s:s, s:s, s:s, s:s, s:b}", "object_relation", "first-packet-seen",
                                               "type", "datetime", "category", "Other", "value", ts, "to_ids", 0));
        char ouuid[64];
        id_v4("x", ouuid, sizeof(ouuid));
        json_array_append_new(objects, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "name", "network-connection",
                                                 "meta-category", "network", "uuid", ouuid + 3, "comment", comment,
                                                 "distribution", "5", "Attribute", attrs));
    }
    char threat[4];
    snprintf(threat, sizeof(threat), "%lld", (long long)(best <= 3 ? best : 4));
    char info[256];
    snprintf(info, sizeof(info), "Tripline alerts from %s (%u alerts)", producer_name(s), share_alerts(s));
    json_t *event = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:[{s:s}], s:o}", "uuid", uuid + 3,
                              "info", info, "date", date, "threat_level_id", threat, "analysis", "2",
                              "distribution", "0", "published", 0, "timestamp", stamp, "Tag", "name",
                              misp_tlp_tag[s->o.tlp], "Object", objects);
    json_object_set_new(event, "Orgc", json_pack("{s:s}", "name", producer_name(s)));
    return json_pack("{s:o}", "Event", event);
}
