/* DNS parser (RFC 1035) over UDP (one message per datagram) and TCP (2-byte length prefix,
 * RFC 1035 4.2.2 / RFC 7766). Names are decoded with compression pointers that must point
 * backwards and at most DNS_MAX_JUMPS times, so a crafted message cannot loop; a name longer
 * than 255 bytes (RFC 1035 3.1) is malformed.
 */
#include <errno.h>
#include <string.h>


#include "applayer_priv.h"

#define DNS_MAX_JUMPS 32
#define DNS_MAX_NAME 255

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

enum name_result { NAME_OK = 0, NAME_MALFORMED, NAME_LOOP, NAME_TOO_LONG };

/* Decodes the name at *off into out (dotted, without the root dot); *off moves past it in the
 * message (past the first pointer when compressed). out may be NULL to only validate. */
static enum name_result read_name(const uint8_t *msg, uint32_t len, uint32_t *off, uint8_t *out,
                                  uint32_t *out_len)
{
    uint32_t pos = *off, next = 0, n = 0, jumps = 0;
    bool jumped = false;
    for (;;) {
        if (pos >= len)
            return NAME_MALFORMED;
        uint8_t l = msg[pos];
        if ((l & 0xc0) == 0xc0) {
            if (pos + 1 >= len)
                return NAME_MALFORMED;
            uint32_t ptr = (uint32_t)(l & 0x3f) << 8 | msg[pos + 1];
            /* backwards only (RFC 1035 4.1.4 "a prior occurrence"), and a bounded chain */
            if (ptr >= pos || ++jumps > DNS_MAX_JUMPS)
                return NAME_LOOP;
            if (!jumped)
                next = pos + 2;
            jumped = true;
            pos = ptr;
            continue;
        }
        if (l & 0xc0)
            return NAME_MALFORMED; /* extended label types (RFC 6891 obsoleted them) */
        if (l == 0) {
            pos++;
            break;
        }
        if (pos + 1 + l > len)
            return NAME_MALFORMED;
        if (n + (n ? 1u : 0u) + l > DNS_MAX_NAME)
            return NAME_TOO_LONG;
        if (out) {
            if (n)
                out[n] = '.';
            memcpy(out + n + (n ? 1 : 0), msg + pos + 1, l);
        }
        n += (n ? 1u : 0u) + l;
        pos += 1u + l;
    }
    *off = jumped ? next : pos;
    if (out_len)
        *out_len = n;
    return NAME_OK;
}

static void name_anomaly(struct applayer_ctx *ctx, enum name_result r)
{
    if (!ctx)
        return;
    al_anomaly(ctx, r == NAME_LOOP       ? APPL_DNS_NAME_LOOP
                    : r == NAME_TOO_LONG ? APPL_DNS_NAME_TOO_LONG
                                         : APPL_DNS_MALFORMED);
}

bool dns_probe(const uint8_t *msg, uint32_t len, bool strict)
{
    if (len < 12)
        return false;
    uint16_t flags = rd16(msg + 2);
    uint16_t qd = rd16(msg + 4), an = rd16(msg + 6), ns = rd16(msg + 8), ar = rd16(msg + 10);
    unsigned opcode = (flags >> 11) & 0xf;
    if (opcode == 3 || opcode > 6)
        return false;
    if (strict) {
        if ((flags & 0x8000) || opcode != 0 || qd != 1 || an || ns || ar > 1 || (flags & 0x0070))
            return false;
    } else if (qd > 16 || an > 512 || ns > 512 || ar > 512 || (qd == 0 && !(flags & 0x8000))) {
        return false;
    }
    uint32_t off = 12;
    if (!strict && len == 12)
        return true; /* header-only check (TCP: the rest may not have arrived) */
    for (unsigned i = 0; i < qd; i++) {
        if (read_name(msg, len, &off, NULL, NULL) != NAME_OK)
            return false;
        if (off + 4 > len)
            return false;
        uint16_t qclass = rd16(msg + off + 2);
        if (strict && qclass != 1)
            return false;
        off += 4;
        if (i == 0 && !strict)
            break; /* the first question is enough evidence on a DNS port */
    }
    if (strict && ar == 0 && off != len)
        return false;
    return true;
}

int dns_parse_message(struct applayer_ctx *ctx, const uint8_t *msg, uint32_t len, struct dns_msg *m,
                      struct al_buf *arena)
{
    m->n_rr = m->n_q = m->n_an = m->n_ns = m->n_ar = 0;
    m->arena = arena->data;
    arena->len = 0;
    if (len < 12) {
        if (ctx)
            al_anomaly(ctx, APPL_DNS_MALFORMED);
        return -EINVAL;
    }
    m->id = rd16(msg);
    m->flags = rd16(msg + 2);
    m->qdcount = rd16(msg + 4);
    m->ancount = rd16(msg + 6);
    m->nscount = rd16(msg + 8);
    m->arcount = rd16(msg + 10);
    uint32_t max_rr = ctx ? ctx->cfg.dns_max_records : DNS_MAX_RR_CAP;
    uint32_t counts[4] = {m->qdcount, m->ancount, m->nscount, m->arcount};
    uint32_t off = 12;
    bool warned = false;
    for (unsigned sec = 0; sec < 4; sec++) {
        for (uint32_t i = 0; i < counts[sec]; i++) {
            uint8_t name[DNS_MAX_NAME + 1];
            uint32_t nlen = 0;
            enum name_result r = read_name(msg, len, &off, name, &nlen);
            if (r != NAME_OK) {
                name_anomaly(ctx, r);
                return -EINVAL;
            }
            uint32_t need = sec == 0 ? 4 : 10;
            if (off + need > len) {
                if (ctx)
                    al_anomaly(ctx, APPL_DNS_MALFORMED);
                return -EINVAL;
            }
            struct dns_rr_rec rec;
            memset(&rec, 0, sizeof(rec));
            rec.section = (uint8_t)sec;
            rec.rrtype = rd16(msg + off);
            rec.rrclass = rd16(msg + off + 2);
            uint32_t rdoff = 0, rdlen = 0;
            if (sec > 0) {
                rec.ttl = (uint32_t)msg[off + 4] << 24 | (uint32_t)msg[off + 5] << 16 |
                          (uint32_t)msg[off + 6] << 8 | msg[off + 7];
                rdlen = rd16(msg + off + 8);
                rdoff = off + 10;
                if (rdoff + rdlen > len) {
                    if (ctx)
                        al_anomaly(ctx, APPL_DNS_MALFORMED);
                    return -EINVAL;
                }
            }
            off += need + rdlen;
            if (m->n_rr >= max_rr) {
                if (!warned && ctx)
                    al_anomaly(ctx, APPL_DNS_TOO_MANY_RECORDS);
                warned = true;
                continue; /* keep walking to validate framing, store nothing */
            }
            rec.name.len = nlen;
            rec.name.off = al_buf_append(arena, name, nlen);
            if (rec.name.off == AL_ABSENT) {
                rec.name.off = 0;
                rec.name.len = 0;
            }
            rec.rdata.off = 0;
            rec.rdata.len = 0;
            if (sec > 0 && rdlen) {
                /* names inside rdata may be compressed: decode the ones EVE shows as text */
                uint32_t t = rdoff, nl2 = 0;
                uint8_t nbuf[DNS_MAX_NAME + 1];
                bool is_name = false;
                if (rec.rrtype == 5 || rec.rrtype == 2 || rec.rrtype == 12 || rec.rrtype == 6) {
                    is_name = read_name(msg, rdoff + rdlen, &t, nbuf, &nl2) == NAME_OK;
                } else if (rec.rrtype == 15 && rdlen > 2) {
                    t = rdoff + 2;
                    is_name = read_name(msg, rdoff + rdlen, &t, nbuf, &nl2) == NAME_OK;
                }
                uint32_t o = is_name ? al_buf_append(arena, nbuf, nl2)
                                     : al_buf_append(arena, msg + rdoff, rdlen);
                if (o != AL_ABSENT) {
                    rec.rdata.off = o;
                    rec.rdata.len = is_name ? nl2 : rdlen;
                    rec.rdata_is_name = is_name;
                }
            }
            m->rr[m->n_rr++] = rec;
            switch (sec) {
            case 0: m->n_q++; break;
            case 1: m->n_an++; break;
            case 2: m->n_ns++; break;
            default: m->n_ar++; break;
            }
        }
    }
    return 0;
}

static void hand_msg(struct applayer_ctx *ctx, struct flow *f, enum flow_dir dir, const uint8_t *msg,
                     uint32_t len, uint64_t id)
{
    struct dns_msg *m = &ctx->dns_scratch;
    if (dns_parse_message(ctx, msg, len, m, ctx->scratch2) < 0)
        return;
    ctx->stats.tx_opened[APP_PROTO_DNS]++;
    ctx->stats.dns_tcp_tx += f->key.proto == 6;
    struct applayer_tx t = {
        .proto = APP_PROTO_DNS, .final = true, .id = id, .ts = ctx->cur_ts, .dns = m,
    };
    al_hand_tx(ctx, f, &t, dir);
    al_log_tx(ctx, f, &t);
}

void dns_udp(struct applayer_ctx *ctx, struct flow *f, enum flow_dir dir, const uint8_t *data,
             uint32_t len)
{
    hand_msg(ctx, f, dir, data, len, len >= 2 ? rd16(data) : 0);
}

void dns_state_init(struct dns_state *s)
{
    memset(s, 0, sizeof(*s));
}

void dns_tcp(struct applayer_ctx *ctx, struct flow *f, struct dns_state *s, enum flow_dir dir,
             const uint8_t *data, uint32_t len)
{
    struct dns_tcp_dir *d = &s->dir[dir];
    uint32_t i = 0;
    while (i < len) {
        if (d->lenhave < 2) {
            d->lenbuf[d->lenhave++] = data[i++];
            if (d->lenhave < 2)
                continue;
            d->need = (uint32_t)d->lenbuf[0] << 8 | d->lenbuf[1];
            d->skip = 0;
            if (d->need == 0) {
                d->lenhave = 0;
                continue;
            }
            if (!d->buf)
                d->buf = al_buf_get(ctx);
            if (!d->buf || d->need > d->buf->cap) {
                if (d->buf)
                    al_anomaly(ctx, APPL_DNS_TCP_TOO_LARGE);
                d->skip = 1;
            }
            if (d->buf)
                d->buf->len = 0;
            d->skipped = 0;
            continue;
        }
        uint32_t n = len - i;
        if (d->skip) {
            uint32_t left = d->need - d->skipped;
            if (n > left)
                n = left;
            d->skipped += n;
            i += n;
            if (d->skipped == d->need)
                d->lenhave = 0;
            continue;
        }
        uint32_t left = d->need - d->buf->len;
        if (n > left)
            n = left;
        memcpy(d->buf->data + d->buf->len, data + i, n);
        d->buf->len += n;
        i += n;
        if (d->buf->len == d->need) {
            hand_msg(ctx, f, dir, d->buf->data, d->need, s->next_id++);
            d->lenhave = 0;
            /* idle connections hold no buffer between messages */
            al_buf_put(ctx, d->buf);
            d->buf = NULL;
        }
    }
}

void dns_state_end(struct applayer_ctx *ctx, struct dns_state *s)
{
    for (int d = 0; d < 2; d++) {
        al_buf_put(ctx, s->dir[d].buf);
        s->dir[d].buf = NULL;
    }
}

bool dns_tx_buffer(const struct dns_msg *m, enum app_buffer b, uint32_t index, const uint8_t **data,
                   uint32_t *len)
{
    if (b != APP_BUF_DNS_QUERY || index >= m->n_q)
        return false;
    /* questions come first in rr[] */
    const struct dns_rr_rec *r = &m->rr[index];
    *data = m->arena + r->name.off;
    *len = r->name.len;
    return true;
}

int applayer_dns_first_question(const uint8_t *msg, uint32_t len, struct applayer_dns_info *info,
                                char *qname, size_t cap, uint16_t *qtype)
{
    if (!msg || len < 12)
        return -EINVAL;
    uint16_t flags = rd16(msg + 2);
    if (info) {
        memset(info, 0, sizeof(*info));
        info->id = rd16(msg);
        info->flags = flags;
        info->opcode = (flags >> 11) & 0xf;
        info->rcode = flags & 0xf;
        info->response = (flags >> 15) & 1;
        info->n_queries = rd16(msg + 4);
        info->n_answers = rd16(msg + 6);
        info->n_authorities = rd16(msg + 8);
        info->n_additionals = rd16(msg + 10);
    }
    if (rd16(msg + 4) == 0)
        return -ENODATA;
    uint8_t name[DNS_MAX_NAME + 1];
    uint32_t nl = 0, off = 12;
    if (read_name(msg, len, &off, name, &nl) != NAME_OK || off + 4 > len)
        return -EINVAL;
    if (qtype)
        *qtype = rd16(msg + off);
    if (!qname || cap == 0)
        return 0;
    size_t k = nl < cap - 1 ? nl : cap - 1;
    memcpy(qname, name, k);
    qname[k] = 0;
    return k < nl ? -ENOSPC : 0;
}
