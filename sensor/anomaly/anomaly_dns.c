/* Minimal bounded DNS query-name extractor for the tunnelling detector (until a shared
 * app-layer parser exists). Reads the header and the first question only. */
#include <errno.h>
#include <string.h>

#include "anomaly_priv.h"

/* Second-level labels under which registrations sit one level deeper ("example.co.uk"): a tiny
 * stand-in for the public suffix list, enough for ccTLD-style suffixes. */
static bool is_generic_sld(const char *s, size_t len)
{
    static const char *const slds[] = {"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or"};
    for (size_t i = 0; i < sizeof(slds) / sizeof(slds[0]); i++)
        if (strlen(slds[i]) == len && memcmp(slds[i], s, len) == 0)
            return true;
    return false;
}

int anomaly_dns_parse_query(const uint8_t *p, size_t len, struct anomaly_dns_q *q)
{
    memset(q, 0, sizeof(*q));
    if (len < 12)
        return -EINVAL;
    /* RFC 1035 4.1.1: QR bit 0 for a query, opcode 0 (QUERY) */
    if ((p[2] & 0x80) != 0 || ((p[2] >> 3) & 0x0f) != 0)
        return -EINVAL;
    unsigned qdcount = (unsigned)(p[4] << 8 | p[5]);
    if (qdcount == 0)
        return -ENODATA;
    size_t off = 12, out = 0;
    uint16_t label_start[128];
    unsigned nl = 0;
    for (;;) {
        if (off >= len)
            return -EINVAL;
        unsigned l = p[off++];
        if (l == 0)
            break;
        if (l > 63) /* compression pointer or reserved: not expected in the first question */
            return -EINVAL;
        if (off + l > len || out + l + 1 > 255 || nl >= 128)
            return -EINVAL;
        if (out > 0)
            q->name[out++] = '.';
        label_start[nl++] = (uint16_t)out;
        for (unsigned i = 0; i < l; i++) {
            uint8_t c = p[off + i];
            if (c >= 'A' && c <= 'Z')
                c = (uint8_t)(c + 32);
            q->name[out++] = (char)c;
        }
        off += l;
    }
    if (off + 4 > len)
        return -EINVAL;
    q->qtype = (uint16_t)(p[off] << 8 | p[off + 1]);
    q->name[out] = '\0';
    q->name_len = (uint16_t)out;
    q->labels = (uint8_t)nl;
    /* registered domain: last two labels, three under a generic second level of a 2-letter TLD */
    unsigned keep = nl < 2 ? nl : 2;
    if (nl >= 3) {
        size_t tld_len = out - label_start[nl - 1];
        size_t sld_len = label_start[nl - 1] - 1 - label_start[nl - 2];
        if (tld_len == 2 && is_generic_sld(q->name + label_start[nl - 2], sld_len))
            keep = 3;
    }
    if (nl == 0) {
        q->domain_off = 0;
        q->sub_len = 0;
    } else {
        q->domain_off = label_start[nl - keep];
        q->sub_len = q->domain_off > 0 ? (uint16_t)(q->domain_off - 1) : 0;
    }
    return 0;
}
