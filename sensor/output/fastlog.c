/* fast.log line formatting (see fastlog.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "fastlog.h"
#include "rules.h"

/* IPv4 dotted quad; IPv6 as Suricata's PrintInet: eight groups of four hex digits. */
static void fmt_addr(char *out, size_t cap, uint8_t ipv, const uint8_t *a)
{
    if (ipv == 4) {
        snprintf(out, cap, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
        return;
    }
    snprintf(out, cap, "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x",
             a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12],
             a[13], a[14], a[15]);
}

int fastlog_format(const struct eve_format_opts *o, const struct event *ev, char *buf, size_t cap,
                   size_t *len)
{
    if (ev->type != EVENT_ALERT)
        return -EINVAL;
    const struct event_alert *a = &ev->u.alert;
    struct eve_rule_info ri = {0};
    const char *cls = NULL;
    unsigned prio = a->severity;
    uint8_t act = a->action;
    if (o->rule_info != NULL) {
        if (o->rule_info(o->rule_info_ctx, a, &ri))
            cls = ri.category;
    } else if (a->rule != NULL) {
        /* rules/ keeps every rule_meta alive until the sensor exits */
        const struct rule_meta *rm = a->rule;
        ri.msg = rm->msg;
        cls = rm->category;
        if (!act)
            act = rm->action;
        if (!prio)
            prio = rm->priority;
        ri.blocked = act == RULE_ACTION_DROP || act == RULE_ACTION_REJECT;
    }
    /* Suricata: "[Drop] " for a dropping rule inline, "[wDrop] " ("would drop") in IDS mode */
    const char *action = !ri.blocked ? "" : o->inline_mode ? "[Drop] " : "[wDrop] ";

    char ts[80];
    time_t sec = (time_t)(ev->ts_ns / 1000000000ull);
    unsigned usec = (unsigned)((ev->ts_ns % 1000000000ull) / 1000);
    struct tm tm;
    if (localtime_r(&sec, &tm) == NULL)
        snprintf(ts, sizeof(ts), "ts-error");
    else
        snprintf(ts, sizeof(ts), "%02d/%02d/%02d-%02d:%02d:%02d.%06u", tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);

    int n = snprintf(buf, cap, "%s  %s[**] [%u:%u:%u] %s [**] [Classification: %s] [Priority: %u]",
                     ts, action, a->gid, a->sid, a->rev, ri.msg ? ri.msg : "",
                     cls ? cls : "(null)", prio);
    if (n < 0 || (size_t)n >= cap)
        return -ENOSPC;
    size_t w = (size_t)n;
    const struct event_flow_ref *r = &ev->ref;
    if (r->ip_version == 4 || r->ip_version == 6) {
        size_t al = r->ip_version == 4 ? 4 : 16;
        uint8_t src[16], dst[16];
        memcpy(src, r->src, al);
        memcpy(dst, r->dst, al);
        if (o->pseudonymise) {
            uint8_t t[16];
            if (o->pseudonymise(o->pseudonymise_ctx, r->ip_version, src, t))
                memcpy(src, t, al);
            if (o->pseudonymise(o->pseudonymise_ctx, r->ip_version, dst, t))
                memcpy(dst, t, al);
        }
        char sa[48], da[48], tmp[4], pn[16];
        fmt_addr(sa, sizeof(sa), r->ip_version, src);
        fmt_addr(da, sizeof(da), r->ip_version, dst);
        const char *proto = eve_proto_name(r->proto, tmp);
        if (proto == tmp) {
            snprintf(pn, sizeof(pn), "PROTO:%03u", r->proto);
            proto = pn;
        }
        n = snprintf(buf + w, cap - w, " {%s} %s:%u -> %s:%u\n", proto, sa, r->sport, da, r->dport);
    } else {
        /* no IP layer (Suricata writes its decoder-event variant with the raw packet, which an
         * event does not carry): the line ends after the priority */
        n = snprintf(buf + w, cap - w, "\n");
    }
    if (n < 0 || (size_t)n >= cap - w)
        return -ENOSPC;
    *len = w + (size_t)n;
    return 0;
}
