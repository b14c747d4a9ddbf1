/* Community ID v1: see community_id.h. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "community_id.h"

/* ICMP type -> counterpart type, from Zeek's ICMP analyzer (ICMP4_counterpart /
 * ICMP6_counterpart) as the spec prescribes. -1: no counterpart (one-way). */
static int icmp4_counterpart(uint8_t type)
{
    switch (type) {
    case 8: return 0;   /* echo request -> reply */
    case 0: return 8;
    case 13: return 14; /* timestamp */
    case 14: return 13;
    case 15: return 16; /* information */
    case 16: return 15;
    case 17: return 18; /* address mask */
    case 18: return 17;
    case 10: return 9;  /* router solicitation -> advertisement */
    case 9: return 10;
    default: return -1;
    }
}

static int icmp6_counterpart(uint8_t type)
{
    switch (type) {
    case 128: return 129; /* echo */
    case 129: return 128;
    case 133: return 134; /* router solicitation / advertisement */
    case 134: return 133;
    case 135: return 136; /* neighbor solicitation / advertisement */
    case 136: return 135;
    case 130: return 131; /* multicast listener query / report */
    case 131: return 130;
    case 139: return 140; /* node information query / response */
    case 140: return 139;
    case 144: return 145; /* home agent address discovery */
    case 145: return 144;
    default: return -1;
    }
}

/* SHA-1 fetched once per process: EVP_sha1() makes OpenSSL 3 look the algorithm up on every
 * digest (432 ns a call here vs 147 ns with a fetched handle). Immutable once set. */
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha1_md;

static void sha1_fetch(void)
{
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

int community_id_v1_ports(uint16_t seed, uint8_t ip_version, const uint8_t *saddr,
                          const uint8_t *daddr, uint8_t proto, uint16_t sport, uint16_t dport,
                          bool has_ports, bool one_way, char *out, size_t outlen)
{
    size_t alen = ip_version == 4 ? 4 : ip_version == 6 ? 16 : 0;
    if (alen == 0 || outlen < COMMUNITY_ID_LEN)
        return -EINVAL;

    /* order endpoints: smaller address first, ports decide on equal addresses */
    int c = memcmp(saddr, daddr, alen);
    bool swap = !one_way && (c > 0 || (c == 0 && has_ports && sport > dport));
    const uint8_t *a = swap ? daddr : saddr, *b = swap ? saddr : daddr;
    uint16_t pa = swap ? dport : sport, pb = swap ? sport : dport;

    uint8_t in[2 + 16 + 16 + 2 + 4];
    size_t n = 0;
    in[n++] = (uint8_t)(seed >> 8);
    in[n++] = (uint8_t)seed;
    memcpy(in + n, a, alen);
    n += alen;
    memcpy(in + n, b, alen);
    n += alen;
    in[n++] = proto;
    in[n++] = 0;
    if (has_ports) {
        in[n++] = (uint8_t)(pa >> 8);
        in[n++] = (uint8_t)pa;
        in[n++] = (uint8_t)(pb >> 8);
        in[n++] = (uint8_t)pb;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    pthread_once(&sha1_once, sha1_fetch);
    const EVP_MD *alg = sha1_md != NULL ? sha1_md : EVP_sha1();
    if (EVP_Digest(in, n, md, &mdlen, alg, NULL) != 1 || mdlen != 20)
        return -EIO;
    out[0] = '1';
    out[1] = ':';
    /* 20 bytes -> 28 base64 characters + NUL */
    EVP_EncodeBlock((unsigned char *)out + 2, md, 20);
    return 0;
}

int community_id_v1(uint16_t seed, uint8_t ip_version, const uint8_t *saddr, const uint8_t *daddr,
                    uint8_t proto, uint16_t sport, uint16_t dport, char *out, size_t outlen)
{
    bool has_ports, one_way = false;
    switch (proto) {
    case 1:
    case 58: {
        int cp = proto == 1 ? icmp4_counterpart((uint8_t)sport) : icmp6_counterpart((uint8_t)sport);
        has_ports = true;
        if (cp >= 0) {
            dport = (uint16_t)cp;
        } else {
            one_way = true; /* dport stays the code */
        }
        break;
    }
    case 6:
    case 17:
    case 132:
        has_ports = true;
        break;
    default:
        has_ports = false;
        break;
    }
    return community_id_v1_ports(seed, ip_version, saddr, daddr, proto, sport, dport, has_ports,
                                 one_way, out, outlen);
}
