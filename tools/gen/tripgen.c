/* tripgen: deterministic labelled traffic generator.
 *
 *   tripgen [-s SEED] [-d SECONDS] [-n] OUT.pcap TRUTH.jsonl
 *
 * Writes a capture (pcap, nanosecond timestamps, Ethernet) of a small enterprise network
 * (inside 10.0.0.0/16) with realistic background: TCP sessions with handshakes and FIN
 * teardown (TLS-like and HTTP-like), DNS queries/answers, NTP, ICMP, a monitoring poller, a
 * busy web server with a flash crowd, PTR lookups, CDN-style names, backups inside and to a
 * cloud. With each attack class injected at fixed times (-n: background only). Packets longer
 * than the snap length are cut (caplen < wire length, as GRO-merged captures), which keeps
 * bulk transfers small on disk while the bytes on the wire count.
 *
 * TRUTH.jsonl holds one JSON object per line:
 *   {"class":"syn-flood","attackers":["a.b.c.d",...],"victims":[...],"start":T,"end":T}
 * (times in seconds since the epoch, packet time) and hard negatives with "class":"benign"
 * and a "label". The same seed always gives the same bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAP 192u
#define T0 1700000000ull /* capture start, seconds */
#define NS 1000000000ull

/* ---- deterministic randomness ---- */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}
static double rndu(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }
static uint32_t rndn(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }
static double rnd_exp(double mean)
{
    double u = rndu();
    if (u < 1e-12)
        u = 1e-12;
    return -mean * log(u);
}

/* ---- packet store ---- */
struct rec {
    uint64_t ts, seq;
    uint32_t off, caplen, wirelen;
};
static struct rec *recs;
static size_t n_recs, cap_recs;
static uint8_t *arena;
static size_t arena_len, arena_cap;
static uint64_t seqno;
static uint64_t duration_ns;

static int store(uint64_t ts, const uint8_t *pkt, uint32_t len, uint32_t wirelen)
{
    if (ts >= duration_ns)
        return 0; /* past the end of the capture */
    uint32_t cl = len < SNAP ? len : SNAP;
    if (n_recs == cap_recs) {
        cap_recs = cap_recs ? cap_recs * 2 : 65536;
        recs = realloc(recs, cap_recs * sizeof(*recs));
        if (recs == NULL)
            return -ENOMEM;
    }
    if (arena_len + cl > arena_cap) {
        arena_cap = arena_cap ? arena_cap * 2 : (16u << 20);
        arena = realloc(arena, arena_cap);
        if (arena == NULL)
            return -ENOMEM;
    }
    memcpy(arena + arena_len, pkt, cl);
    recs[n_recs++] = (struct rec){ts + T0 * NS, seqno++, (uint32_t)arena_len, cl, wirelen};
    arena_len += cl;
    return 0;
}

/* ---- packet building ---- */
static uint16_t csum_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}
static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static uint8_t pktbuf[70000];
static uint8_t ttl_of_host(uint32_t ip) { return (uint8_t)(ip >> 24 == 10 ? 64 : 40 + (ip % 20)); }

/* Builds Ethernet + IPv4 + L4 header + payload (payload may be NULL: a fill pattern). wire_pay is
 * the payload length on the wire; only what fits SNAP is materialised. */
static int emit_ip(uint64_t ts, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4hdr,
                   uint32_t l4hlen, const uint8_t *pay, uint32_t pay_len, uint32_t wire_pay, int ttl)
{
    uint8_t *p = pktbuf;
    static const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
    memcpy(p, macs, 12);
    p[12] = 0x08;
    p[13] = 0x00;
    uint8_t *ip = p + 14;
    uint32_t tot = 20 + l4hlen + wire_pay;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    ip[2] = (uint8_t)(tot >> 8);
    ip[3] = (uint8_t)tot;
    uint16_t id = (uint16_t)rnd();
    ip[4] = (uint8_t)(id >> 8);
    ip[5] = (uint8_t)id;
    ip[6] = 0x40; /* DF */
    ip[8] = (uint8_t)(ttl >= 0 ? ttl : ttl_of_host(src));
    ip[9] = proto;
    uint32_t s = htonl(src), d = htonl(dst);
    memcpy(ip + 12, &s, 4);
    memcpy(ip + 16, &d, 4);
    uint16_t c = csum_fold(csum_add(0, ip, 20));
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    uint8_t *l4 = ip + 20;
    memcpy(l4, l4hdr, l4hlen);
    uint32_t mat = wire_pay; /* materialise only what is captured */
    if (14 + 20 + l4hlen + mat > SNAP)
        mat = SNAP > 34 + l4hlen ? SNAP - 34 - l4hlen : 0;
    if (mat > wire_pay)
        mat = wire_pay;
    for (uint32_t i = 0; i < mat; i++)
        l4[l4hlen + i] = pay && i < pay_len ? pay[i] : (uint8_t)('a' + (i % 26));
    /* checksum over what is materialised (a cut packet cannot be verified anyway) */
    uint32_t ps = 0;
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = proto;
    uint32_t l4len = l4hlen + wire_pay;
    pseudo[10] = (uint8_t)(l4len >> 8);
    pseudo[11] = (uint8_t)l4len;
    if (proto == 6 || proto == 17)
        ps = csum_add(0, pseudo, 12);
    ps = csum_add(ps, l4, l4hlen + mat);
    c = csum_fold(ps);
    if (proto == 6) {
        l4[16] = (uint8_t)(c >> 8);
        l4[17] = (uint8_t)c;
    } else if (proto == 17) {
        if (c == 0)
            c = 0xffff;
        l4[6] = (uint8_t)(c >> 8);
        l4[7] = (uint8_t)c;
    } else if (proto == 1) {
        l4[2] = (uint8_t)(c >> 8);
        l4[3] = (uint8_t)c;
    }
    return store(ts, p, 14 + 20 + l4hlen + mat, 14 + tot);
}

static int udp(uint64_t ts, uint32_t src, uint16_t sp, uint32_t dst, uint16_t dp, const uint8_t *pay,
               uint32_t len, uint32_t wire_len)
{
    uint8_t h[8];
    uint32_t ul = 8 + wire_len;
    h[0] = (uint8_t)(sp >> 8), h[1] = (uint8_t)sp, h[2] = (uint8_t)(dp >> 8), h[3] = (uint8_t)dp;
    h[4] = (uint8_t)(ul >> 8), h[5] = (uint8_t)ul, h[6] = h[7] = 0;
    return emit_ip(ts, src, dst, 17, h, 8, pay, len, wire_len, -1);
}

static int tcp(uint64_t ts, uint32_t src, uint16_t sp, uint32_t dst, uint16_t dp, uint32_t seq,
               uint32_t ack, uint8_t flags, const uint8_t *pay, uint32_t len, uint32_t wire_len, int ttl)
{
    uint8_t h[24];
    unsigned hl = (flags & 0x02) ? 24 : 20;
    memset(h, 0, sizeof(h));
    h[0] = (uint8_t)(sp >> 8), h[1] = (uint8_t)sp, h[2] = (uint8_t)(dp >> 8), h[3] = (uint8_t)dp;
    uint32_t s = htonl(seq), a = htonl(ack);
    memcpy(h + 4, &s, 4);
    memcpy(h + 8, &a, 4);
    h[12] = (uint8_t)((hl / 4) << 4);
    h[13] = flags;
    h[14] = 0xfa, h[15] = 0xf0;
    if (hl == 24) { /* MSS option */
        h[20] = 2, h[21] = 4, h[22] = 0x05, h[23] = 0xb4;
    }
    return emit_ip(ts, src, dst, 6, h, hl, pay, len, wire_len, ttl);
}

static int icmp_echo(uint64_t ts, uint32_t src, uint32_t dst, bool reply, uint16_t id, uint16_t sq,
                     uint32_t pay_len)
{
    uint8_t h[8] = {reply ? 0 : 8, 0, 0, 0, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(sq >> 8), (uint8_t)sq};
    return emit_ip(ts, src, dst, 1, h, 8, NULL, 0, pay_len, -1);
}

/* ---- sessions ---- */
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20

struct xfer {
    int dir;           /* 0 client->server, 1 server->client */
    uint32_t bytes;    /* application bytes */
    const char *data;  /* first bytes (may be NULL) */
    double gap;        /* seconds before this transfer */
};

/* A complete TCP session: handshake, transfers (segments of up to seg bytes, acknowledged),
 * FIN teardown. Returns the end time. */
static double pace_bps; /* 0: back-to-back segments; else data paced at this rate */

static uint64_t tcp_session(uint64_t t, uint32_t c, uint16_t cp, uint32_t s, uint16_t sp, double rtt,
                            const struct xfer *x, unsigned nx, uint32_t seg)
{
    uint32_t cs = (uint32_t)rnd(), ss = (uint32_t)rnd();
    uint64_t r = (uint64_t)(rtt * 1e9), h = r / 2;
    tcp(t, c, cp, s, sp, cs, 0, F_SYN, NULL, 0, 0, -1);
    tcp(t + h, s, sp, c, cp, ss, cs + 1, F_SYN | F_ACK, NULL, 0, 0, -1);
    t += r;
    tcp(t, c, cp, s, sp, cs + 1, ss + 1, F_ACK, NULL, 0, 0, -1);
    cs++, ss++;
    for (unsigned i = 0; i < nx; i++) {
        t += (uint64_t)(x[i].gap * 1e9);
        uint32_t left = x[i].bytes, off = 0;
        int d = x[i].dir;
        unsigned nseg = 0;
        while (left > 0) {
            uint32_t n = left < seg ? left : seg;
            const uint8_t *pd = NULL;
            uint32_t pl = 0;
            if (off == 0 && x[i].data) {
                pd = (const uint8_t *)x[i].data;
                pl = (uint32_t)strlen(x[i].data);
            }
            if (d == 0) {
                tcp(t, c, cp, s, sp, cs, ss, F_ACK | F_PSH, pd, pl, n, -1);
                cs += n;
            } else {
                tcp(t, s, sp, c, cp, ss, cs, F_ACK | F_PSH, pd, pl, n, -1);
                ss += n;
            }
            left -= n;
            off += n;
            if (pace_bps > 0)
                t += (uint64_t)(n * 8.0 / pace_bps * 1e9 * (0.8 + 0.4 * rndu()));
            else
                t += 20000 + rnd() % 200000; /* 20-220 us between segments */
            if (++nseg % 2 == 0 || left == 0) { /* delayed ACK every second segment */
                if (d == 0)
                    tcp(t + h, s, sp, c, cp, ss, cs, F_ACK, NULL, 0, 0, -1);
                else
                    tcp(t + h, c, cp, s, sp, cs, ss, F_ACK, NULL, 0, 0, -1);
            }
        }
        t += r;
    }
    t += 1000000;
    tcp(t, c, cp, s, sp, cs, ss, F_FIN | F_ACK, NULL, 0, 0, -1);
    tcp(t + h, s, sp, c, cp, ss, cs + 1, F_FIN | F_ACK, NULL, 0, 0, -1);
    tcp(t + r, c, cp, s, sp, cs + 1, ss + 1, F_ACK, NULL, 0, 0, -1);
    return t + r;
}

static uint16_t eph(void) { return (uint16_t)(32768 + rndn(28000)); }

/* DNS messages */
static uint32_t dns_msg(uint8_t *b, uint16_t id, const char *name, uint16_t qtype, bool answer,
                        uint32_t ans_ip)
{
    b[0] = (uint8_t)(id >> 8), b[1] = (uint8_t)id;
    b[2] = answer ? 0x81 : 0x01;
    b[3] = answer ? 0x80 : 0x00;
    b[4] = 0, b[5] = 1, b[6] = 0, b[7] = answer ? 1 : 0, b[8] = b[9] = b[10] = b[11] = 0;
    uint32_t o = 12;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        b[o++] = (uint8_t)l;
        memcpy(b + o, p, l);
        o += (uint32_t)l;
        p += l;
        if (*p == '.')
            p++;
    }
    b[o++] = 0;
    b[o++] = (uint8_t)(qtype >> 8), b[o++] = (uint8_t)qtype, b[o++] = 0, b[o++] = 1;
    if (answer) {
        b[o++] = 0xc0, b[o++] = 12;
        b[o++] = (uint8_t)(qtype >> 8), b[o++] = (uint8_t)qtype, b[o++] = 0, b[o++] = 1;
        b[o++] = 0, b[o++] = 0, b[o++] = 0x0e, b[o++] = 0x10;
        if (qtype == 1) {
            b[o++] = 0, b[o++] = 4;
            uint32_t a = htonl(ans_ip);
            memcpy(b + o, &a, 4);
            o += 4;
        } else {
            b[o++] = 0, b[o++] = 16;
            for (int i = 0; i < 16; i++)
                b[o++] = (uint8_t)rnd();
        }
    }
    return o;
}

static void dns_exchange(uint64_t t, uint32_t c, uint32_t resolver, const char *name, uint16_t qtype,
                         uint32_t ans)
{
    uint8_t b[600];
    uint16_t id = (uint16_t)rnd(), cp = eph();
    uint32_t n = dns_msg(b, id, name, qtype, false, 0);
    udp(t, c, cp, resolver, 53, b, n, n);
    n = dns_msg(b, id, name, qtype, true, ans);
    udp(t + 2000000 + rnd() % 20000000, resolver, 53, c, cp, b, n, n);
}

/* ---- addresses and truth ---- */
static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d) { return a << 24 | b << 16 | c << 8 | d; }

static uint32_t outside_ip(void)
{
    for (;;) {
        uint32_t a = (uint32_t)rnd();
        unsigned o1 = a >> 24;
        if (o1 == 0 || o1 == 10 || o1 == 127 || o1 >= 224 || (o1 == 172 && ((a >> 20) & 0xf) == 1) ||
            (o1 == 192 && ((a >> 16) & 0xff) == 168) || o1 == 100)
            continue;
        return a;
    }
}

static FILE *truth;
static void ipstr(uint32_t ip, char *out) { sprintf(out, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255); }
static void truth_rec(const char *cls, const char *label, const uint32_t *att, unsigned na,
                      const uint32_t *vic, unsigned nv, double start, double end)
{
    char b[32];
    fprintf(truth, "{\"class\":\"%s\"", cls);
    if (label)
        fprintf(truth, ",\"label\":\"%s\"", label);
    fprintf(truth, ",\"attackers\":[");
    for (unsigned i = 0; i < na; i++) {
        ipstr(att[i], b);
        fprintf(truth, "%s\"%s\"", i ? "," : "", b);
    }
    fprintf(truth, "],\"victims\":[");
    for (unsigned i = 0; i < nv; i++) {
        ipstr(vic[i], b);
        fprintf(truth, "%s\"%s\"", i ? "," : "", b);
    }
    fprintf(truth, "],\"start\":%.6f,\"end\":%.6f}\n", (double)T0 + start, (double)T0 + end);
}

/* ---- well-known hosts ---- */
#define WEB ip4(10, 0, 0, 10)
#define RESOLVER ip4(10, 0, 0, 53)
#define SSHD ip4(10, 0, 0, 22)
#define MAIL ip4(10, 0, 0, 25)
#define BACKUP_SRV ip4(10, 0, 0, 60)
#define POLLER ip4(10, 0, 0, 5)
#define GAMESRV ip4(10, 0, 0, 80)
#define NCLIENTS 60 /* workstations 10.0.1.1 .. */
static uint32_t client(unsigned i) { return ip4(10, 0, 1, 1 + i); }

static const char *const sites[] = {"www.example.com", "news.example.org", "mail.example.net",
                                    "cdn.static-example.com", "api.service-example.io",
                                    "docs.example.co.uk", "login.example.com", "shop.example.de"};
static uint32_t site_ip[8];

static const char *tls_hello = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
static const char *tls_server = "\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03";

static void web_session(uint64_t t, uint32_t c, uint32_t s, bool tls, uint32_t down)
{
    char get[256];
    snprintf(get, sizeof(get), "GET /page/%u HTTP/1.1\r\nHost: site\r\nUser-Agent: Mozilla/5.0\r\n\r\n", rndn(1000));
    struct xfer x[4];
    unsigned n = 0;
    if (tls) {
        x[n++] = (struct xfer){0, 517, tls_hello, 0};
        x[n++] = (struct xfer){1, 3000 + rndn(2000), tls_server, 0};
        x[n++] = (struct xfer){0, 300 + rndn(400), "\x17\x03\x03", 0.001};
        x[n++] = (struct xfer){1, down, "\x17\x03\x03", 0.001};
    } else {
        x[n++] = (struct xfer){0, (uint32_t)strlen(get), get, 0};
        x[n++] = (struct xfer){1, down, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", 0};
    }
    tcp_session(t, c, eph(), s, tls ? 443 : 80, 0.01 + rndu() * 0.08, x, n, 1448);
}

static void ssh_session(uint64_t t, uint32_t c, uint32_t s, uint16_t port, unsigned auth_tries, double rtt)
{
    struct xfer x[12];
    unsigned n = 0;
    x[n++] = (struct xfer){1, 41, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", 0};
    x[n++] = (struct xfer){0, 39, "SSH-2.0-libssh_0.9.6\r\n", 0.001};
    x[n++] = (struct xfer){0, 1100, NULL, 0.001};
    x[n++] = (struct xfer){1, 1080, NULL, 0.001};
    x[n++] = (struct xfer){0, 48, NULL, 0.002};
    x[n++] = (struct xfer){1, 500, NULL, 0.002};
    for (unsigned i = 0; i < auth_tries && n + 2 <= 12; i++) {
        x[n++] = (struct xfer){0, 100, NULL, 0.05};
        x[n++] = (struct xfer){1, 52, NULL, 0.2};
    }
    tcp_session(t, c, eph(), s, port, rtt, x, n, 1448);
}

/* ---- background ---- */
static void background(double dur)
{
    for (unsigned i = 0; i < 8; i++)
        site_ip[i] = outside_ip();
    /* client browsing: DNS then a session, Poisson per client */
    for (unsigned ci = 0; ci < NCLIENTS; ci++) {
        double t = rndu() * 5;
        while (t < dur) {
            unsigned si = rndn(8);
            uint64_t ts = (uint64_t)(t * 1e9);
            dns_exchange(ts, client(ci), RESOLVER, sites[si], 1, site_ip[si]);
            web_session(ts + 30000000, client(ci), site_ip[si], rndu() < 0.7, 2000 + rndn(30000));
            t += rnd_exp(15.0);
        }
    }
    /* CDN-style names: many short, low-entropy subdomains (hard negative for tunnelling) */
    for (double t = 10; t < dur; t += 0.5 + rndu()) {
        char name[64];
        snprintf(name, sizeof(name), "img%u.cdn-example.net", rndn(80));
        dns_exchange((uint64_t)(t * 1e9), client(7), RESOLVER, name, 1, site_ip[3]);
    }
    /* mail server PTR lookups (hard negative for tunnelling) */
    for (double t = 3; t < dur; t += rnd_exp(1.5)) {
        char name[80];
        uint32_t a = outside_ip();
        snprintf(name, sizeof(name), "%u.%u.%u.%u.in-addr.arpa", a & 255, (a >> 8) & 255, (a >> 16) & 255, a >> 24);
        dns_exchange((uint64_t)(t * 1e9), MAIL, RESOLVER, name, 12, 0);
    }
    /* busy web server: outside clients, with a flash crowd (hard negative for SYN floods) */
    uint32_t crowd[400];
    for (unsigned i = 0; i < 400; i++)
        crowd[i] = outside_ip();
    for (double t = 0; t < dur; t += rnd_exp(1.0 / 8)) {
        web_session((uint64_t)(t * 1e9), crowd[rndn(400)], WEB, rndu() < 0.5, 1000 + rndn(20000));
    }
    double fc = dur * 0.1;
    for (double t = fc; t < fc + 3; t += rnd_exp(1.0 / 1200))
        web_session((uint64_t)(t * 1e9), crowd[rndn(400)], WEB, false, 800);
    /* busy game server on UDP: steady request/response (hard negative for UDP floods) */
    for (double t = 0; t < dur; t += rnd_exp(1.0 / 60)) {
        uint32_t c = crowd[rndn(400)];
        uint64_t ts = (uint64_t)(t * 1e9);
        udp(ts, c, 27015, GAMESRV, 27015, NULL, 0, 120);
        udp(ts + 15000000, GAMESRV, 27015, c, 27015, NULL, 0, 300);
    }
    /* NTP from every client to two outside servers */
    uint32_t ntp[2] = {outside_ip(), outside_ip()};
    for (unsigned ci = 0; ci < NCLIENTS; ci++) {
        for (double t = rndu() * 64; t < dur; t += 64) {
            uint64_t ts = (uint64_t)(t * 1e9);
            uint32_t srv = ntp[ci & 1];
            uint16_t p = eph();
            udp(ts, client(ci), p, srv, 123, NULL, 0, 48);
            udp(ts + 30000000, srv, 123, client(ci), p, NULL, 0, 48);
        }
    }
    /* monitoring poller: pings 30 hosts every 60 s, SSH check every 30 s, HTTP check every 10 s */
    for (double t = 2; t < dur; t += 60) {
        for (unsigned i = 0; i < 30; i++) {
            uint64_t ts = (uint64_t)((t + i * 0.01) * 1e9);
            icmp_echo(ts, POLLER, client(i), false, 77, (uint16_t)i, 56);
            icmp_echo(ts + 400000, client(i), POLLER, true, 77, (uint16_t)i, 56);
        }
    }
    for (double t = 4; t < dur; t += 30)
        ssh_session((uint64_t)(t * 1e9), POLLER, SSHD, 22, 1, 0.0005);
    for (double t = 1; t < dur; t += 10)
        web_session((uint64_t)(t * 1e9), POLLER, WEB, false, 500);
    /* admins using SSH from the inside */
    for (double t = 20; t < dur; t += rnd_exp(90))
        ssh_session((uint64_t)(t * 1e9), client(rndn(5)), SSHD, 22, 2, 0.001);
    /* backups: inside (rsync to the backup server) and continuous upload to a cloud */
    uint32_t bk = client(55), cloud = outside_ip(), bk2 = client(56);
    for (double t = 5; t < dur; t += 30 + rndu() * 10) {
        struct xfer x[2] = {{0, 40000000, NULL, 0}, {1, 2000, NULL, 0.01}};
        pace_bps = 100e6;
        tcp_session((uint64_t)(t * 1e9), bk, eph(), BACKUP_SRV, 873, 0.0005, x, 2, 64000);
        pace_bps = 0;
    }
    for (double t = 1; t < dur;) {
        /* files of 0.5-8 MB uploaded at ~4 Mbit/s in 8 KB (GRO-merged) segments, one session
         * each, back to back with short random pauses */
        uint32_t size = 500000 + rndn(7500000);
        struct xfer x[2] = {{0, size, "\x17\x03\x03", 0}, {1, 3000, NULL, 0.01}};
        pace_bps = 4e6;
        uint64_t end = tcp_session((uint64_t)(t * 1e9), bk2, eph(), cloud, 443, 0.02, x, 2, 8000);
        pace_bps = 0;
        t = (double)end / 1e9 + rnd_exp(2.0);
    }
    truth_rec("benign", "backup-inside", &bk, 1, (uint32_t[]){BACKUP_SRV}, 1, 0, dur);
    truth_rec("benign", "backup-cloud", &bk2, 1, &cloud, 1, 0, dur);
    truth_rec("benign", "flash-crowd", NULL, 0, (uint32_t[]){WEB}, 1, fc, fc + 3);
    truth_rec("benign", "monitoring-poller", (uint32_t[]){POLLER}, 1, NULL, 0, 0, dur);
    truth_rec("benign", "busy-game-server", NULL, 0, (uint32_t[]){GAMESRV}, 1, 0, dur);
}

/* ---- attacks ---- */
static void attacks(double dur)
{
    double s = dur / 660.0; /* schedule scales with the duration (660 s nominal) */
    /* SYN flood, distributed spoofed sources; the server answers a part */
    {
        double a = 100 * s, b = a + 15;
        for (double t = a; t < b; t += rnd_exp(1.0 / 5000)) {
            uint32_t src = outside_ip();
            uint64_t ts = (uint64_t)(t * 1e9);
            uint16_t sp = eph();
            uint32_t seq = (uint32_t)rnd();
            tcp(ts, src, sp, WEB, 80, seq, 0, F_SYN, NULL, 0, 0, 30 + (int)rndn(30));
            if (rndu() < 0.3)
                tcp(ts + 100000, WEB, 80, src, sp, (uint32_t)rnd(), seq + 1, F_SYN | F_ACK, NULL, 0, 0, -1);
        }
        truth_rec("syn-flood", NULL, NULL, 0, (uint32_t[]){WEB}, 1, a, b);
    }
    /* UDP flood from one source to random ports */
    {
        double a = 130 * s, b = a + 10;
        uint32_t att = ip4(198, 51, 100, 23);
        for (double t = a; t < b; t += rnd_exp(1.0 / 4000))
            udp((uint64_t)(t * 1e9), att, eph(), GAMESRV, (uint16_t)(1 + rndn(65535)), NULL, 0, 512);
        truth_rec("udp-flood", NULL, &att, 1, (uint32_t[]){GAMESRV}, 1, a, b);
    }
    /* ICMP flood from two sources */
    {
        double a = 160 * s, b = a + 10;
        uint32_t att[2] = {ip4(203, 0, 113, 5), ip4(203, 0, 113, 6)};
        uint16_t sq = 0;
        for (double t = a; t < b; t += rnd_exp(1.0 / 3000)) {
            uint64_t ts = (uint64_t)(t * 1e9);
            uint32_t src = att[rndn(2)];
            icmp_echo(ts, src, WEB, false, 1, sq, 1000);
            if (rndu() < 0.1)
                icmp_echo(ts + 100000, WEB, src, true, 1, sq, 1000);
            sq++;
        }
        truth_rec("icmp-flood", NULL, att, 2, (uint32_t[]){WEB}, 1, a, b);
    }
    /* DNS reflection: 40 open resolvers answer queries spoofed as the victim */
    {
        double a = 190 * s, b = a + 15;
        uint32_t refl[40];
        for (unsigned i = 0; i < 40; i++)
            refl[i] = outside_ip();
        uint8_t m[600];
        uint32_t n = dns_msg(m, 0x1234, "example-amplify.com", 255, true, 0);
        for (double t = a; t < b; t += rnd_exp(1.0 / 1500))
            udp((uint64_t)(t * 1e9), refl[rndn(40)], 53, WEB, (uint16_t)(1024 + rndn(60000)), m, n, 3000);
        truth_rec("reflection", NULL, refl, 4, (uint32_t[]){WEB}, 1, a, b);
    }
    /* horizontal scan of port 445 over 10.0.2.0/24: few hosts exist */
    {
        double a = 220 * s, t = a;
        uint32_t att = ip4(203, 0, 113, 66);
        for (unsigned h = 1; h < 255; h++, t += 0.1) {
            uint32_t dst = ip4(10, 0, 2, h);
            uint64_t ts = (uint64_t)(t * 1e9);
            uint16_t sp = eph();
            uint32_t seq = (uint32_t)rnd();
            tcp(ts, att, sp, dst, 445, seq, 0, F_SYN, NULL, 0, 0, -1);
            if (h % 25 == 0) {
                tcp(ts + 300000, dst, 445, att, sp, (uint32_t)rnd(), seq + 1, F_SYN | F_ACK, NULL, 0, 0, -1);
                tcp(ts + 600000, att, sp, dst, 445, seq + 1, 0, F_RST, NULL, 0, 0, -1);
            } else if (h % 5 == 0) {
                tcp(ts + 300000, dst, 445, att, sp, 0, seq + 1, F_RST | F_ACK, NULL, 0, 0, -1);
            }
        }
        truth_rec("scan-horizontal", NULL, &att, 1, (uint32_t[]){ip4(10, 0, 2, 1)}, 1, a, t);
    }
    /* vertical scan of one host, ports 1..1000 */
    {
        double a = 260 * s, t = a;
        uint32_t att = ip4(203, 0, 113, 77);
        uint16_t sp = eph();
        for (unsigned p = 1; p <= 1000; p++, t += 0.02) {
            uint64_t ts = (uint64_t)(t * 1e9);
            uint32_t seq = (uint32_t)rnd();
            tcp(ts, att, sp, SSHD, (uint16_t)p, seq, 0, F_SYN, NULL, 0, 0, -1);
            if (p == 22 || p == 80) {
                tcp(ts + 200000, SSHD, (uint16_t)p, att, sp, (uint32_t)rnd(), seq + 1, F_SYN | F_ACK, NULL, 0, 0, -1);
                tcp(ts + 400000, att, sp, SSHD, (uint16_t)p, seq + 1, 0, F_RST, NULL, 0, 0, -1);
            } else {
                tcp(ts + 200000, SSHD, (uint16_t)p, att, sp, 0, seq + 1, F_RST | F_ACK, NULL, 0, 0, -1);
            }
        }
        truth_rec("scan-vertical", NULL, &att, 1, (uint32_t[]){SSHD}, 1, a, t);
    }
    /* ICMP host sweep of 10.0.3.0/24: 10 hosts answer */
    {
        double a = 290 * s, t = a;
        uint32_t att = ip4(198, 51, 100, 99);
        for (unsigned h = 1; h < 255; h++, t += 0.04) {
            uint64_t ts = (uint64_t)(t * 1e9);
            icmp_echo(ts, att, ip4(10, 0, 3, h), false, 9, (uint16_t)h, 8);
            if (h % 25 == 0)
                icmp_echo(ts + 300000, ip4(10, 0, 3, h), att, true, 9, (uint16_t)h, 8);
        }
        truth_rec("host-sweep", NULL, &att, 1, (uint32_t[]){ip4(10, 0, 3, 1)}, 1, a, t);
    }
    /* SSH brute force against one host */
    {
        double a = 310 * s, t = a;
        uint32_t att = ip4(185, 220, 101, 5);
        for (unsigned i = 0; i < 45; i++, t += 1.2 + rndu() * 0.6)
            ssh_session((uint64_t)(t * 1e9), att, SSHD, 22, 3, 0.03);
        truth_rec("brute-force", NULL, &att, 1, (uint32_t[]){SSHD}, 1, a, t);
    }
    /* RDP password spraying over 30 hosts */
    {
        double a = 380 * s, t = a;
        uint32_t att = ip4(185, 220, 101, 9);
        for (unsigned h = 0; h < 30; h++)
            for (unsigned k = 0; k < 2; k++, t += 0.7)
                ssh_session((uint64_t)(t * 1e9), att, client(10 + h), 3389, 1, 0.03);
        truth_rec("brute-force", "spray", &att, 1, (uint32_t[]){client(10)}, 1, a, t);
    }
    /* beaconing: one inside host calls home every 20 s +-10% for the whole capture */
    {
        uint32_t host = client(33), c2 = ip4(91, 215, 85, 20);
        double a = 30 * s, t = a, last = a;
        while (t < dur - 5) {
            struct xfer x[2] = {{0, 200 + rndn(100), tls_hello, 0}, {1, 150 + rndn(100), tls_server, 0.05}};
            tcp_session((uint64_t)(t * 1e9), host, eph(), c2, 443, 0.08, x, 2, 1448);
            last = t;
            t += 20 * (0.9 + 0.2 * rndu());
        }
        truth_rec("beaconing", NULL, &host, 1, &c2, 1, a, last);
    }
    /* DNS tunnel: long random names under one domain, NULL/TXT queries */
    {
        double a = 430 * s, b = a + 60;
        uint32_t host = client(44);
        static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
        for (double t = a; t < b; t += rnd_exp(0.1)) {
            char name[200];
            unsigned l1 = 40 + rndn(20), l2 = 10 + rndn(20), o = 0;
            for (unsigned i = 0; i < l1; i++)
                name[o++] = b32[rndn(32)];
            name[o++] = '.';
            for (unsigned i = 0; i < l2; i++)
                name[o++] = b32[rndn(32)];
            strcpy(name + o, ".t.tunnel-example.com");
            dns_exchange((uint64_t)(t * 1e9), host, RESOLVER, name, rndu() < 0.5 ? 10 : 16, 0);
        }
        truth_rec("dns-tunnel", NULL, &host, 1, (uint32_t[]){RESOLVER}, 1, a, b);
    }
    /* exfiltration: a workstation uploads ~8 Mbit/s to an outside host */
    {
        double a = 500 * s, b = a + 60;
        uint32_t host = client(23), drop = ip4(45, 137, 21, 9);
        for (double t = a; t < b; t += 10) {
            struct xfer x[2] = {{0, 9400000, "\x17\x03\x03", 0}, {1, 2000, NULL, 0.01}};
            pace_bps = 8e6;
            tcp_session((uint64_t)(t * 1e9), host, eph(), drop, 443, 0.03, x, 2, 8000);
            pace_bps = 0;
        }
        truth_rec("exfiltration", NULL, &host, 1, &drop, 1, a, b);
    }
    /* protocol anomaly: SYN+FIN and Xmas segments to the web server */
    {
        double a = 590 * s, b = a + 10;
        uint32_t att = ip4(198, 51, 100, 200);
        unsigned i = 0;
        for (double t = a; t < b; t += 0.01, i++) {
            uint8_t fl = (i & 1) ? (F_SYN | F_FIN) : (F_FIN | F_PSH | F_URG);
            tcp((uint64_t)(t * 1e9), att, 40000, WEB, 80, (uint32_t)rnd(), 0, fl, NULL, 0, 0, -1);
        }
        truth_rec("protocol-anomaly", NULL, &att, 1, (uint32_t[]){WEB}, 1, a, b);
    }
}

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void usage(void)
{
    fprintf(stderr, "usage: tripgen [-s SEED] [-d SECONDS] [-n] OUT.pcap TRUTH.jsonl\n"
                    "  -n  background only (no attacks)\n");
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    double dur = 660;
    bool no_attacks = false;
    int opt;
    while ((opt = getopt(argc, argv, "s:d:nh")) != -1) {
        switch (opt) {
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'd': dur = strtod(optarg, NULL); break;
        case 'n': no_attacks = true; break;
        default: usage(); return opt == 'h' ? 0 : 2;
        }
    }
    if (argc - optind != 2 || dur < 60 || dur > 86400) {
        usage();
        return 2;
    }
    rng_state = seed * 0x9E3779B97F4A7C15ull + 0x1234567;
    if (rng_state == 0)
        rng_state = 1;
    duration_ns = (uint64_t)(dur * 1e9);
    truth = fopen(argv[optind + 1], "w");
    if (truth == NULL) {
        fprintf(stderr, "tripgen: %s: %s\n", argv[optind + 1], strerror(errno));
        return 1;
    }
    fprintf(truth, "{\"class\":\"capture\",\"seed\":%llu,\"attacks\":%s,\"start\":%.6f,\"end\":%.6f}\n",
            (unsigned long long)seed, no_attacks ? "false" : "true", (double)T0, (double)T0 + dur);
    background(dur);
    if (!no_attacks)
        attacks(dur);
    qsort(recs, n_recs, sizeof(*recs), rec_cmp);
    FILE *out = fopen(argv[optind], "wb");
    if (out == NULL) {
        fprintf(stderr, "tripgen: %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    /* pcap global header, nanosecond timestamps (magic a1b23c4d), LINKTYPE_ETHERNET */
    uint32_t gh[6] = {0xa1b23c4d, 0x00040002, 0, 0, SNAP, 1};
    fwrite(gh, sizeof(gh), 1, out);
    for (size_t i = 0; i < n_recs; i++) {
        const struct rec *r = &recs[i];
        uint32_t ph[4] = {(uint32_t)(r->ts / NS), (uint32_t)(r->ts % NS), r->caplen, r->wirelen};
        fwrite(ph, sizeof(ph), 1, out);
        fwrite(arena + r->off, r->caplen, 1, out);
    }
    if (fclose(out) != 0 || fclose(truth) != 0) {
        fprintf(stderr, "tripgen: write failed: %s\n", strerror(errno));
        return 1;
    }
    fprintf(stderr, "tripgen: %zu packets, %.0f s, seed %llu%s\n", n_recs, dur,
            (unsigned long long)seed, no_attacks ? ", background only" : "");
    free(recs);
    free(arena);
    return 0;
}
