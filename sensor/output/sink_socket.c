/* Socket transports: Unix stream/datagram (JSON lines), syslog RFC 5424 over UDP (RFC 5426),
 * TCP with octet counting (RFC 6587 3.4.1) and TLS (RFC 5425, OpenSSL, peer verified). */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "output_priv.h"

#define IO_TIMEOUT_S 2
#define SEND_BUF (1u << 20)

struct sock_sink {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char *buf; /* one batch, framed */
    size_t cap;
};

static struct sock_sink *sink_of(struct netout *no)
{
    return no->sink;
}

static int sock_open(struct netout *no, char *err, size_t errlen)
{
    struct sock_sink *s = calloc(1, sizeof(*s));
    if (!s)
        goto out_nomem;
    s->fd = -1;
    s->cap = SEND_BUF;
    s->buf = malloc(s->cap);
    if (!s->buf) {
        free(s);
        goto out_nomem;
    }
    no->sink = s;
    return 0;
out_nomem:
    snprintf(err, errlen, "output %s: out of memory", no->cfg->name);
    return -ENOMEM;
}

static void sock_disconnect(struct netout *no)
{
    struct sock_sink *s = sink_of(no);
    if (s->ssl) {
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

static void sock_close(struct netout *no)
{
    struct sock_sink *s = sink_of(no);
    if (!s)
        return;
    sock_disconnect(no);
    SSL_CTX_free(s->ctx);
    free(s->buf);
    free(s);
    no->sink = NULL;
}

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static int unix_connect(struct netout *no, int type)
{
    struct sock_sink *s = sink_of(no);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(no->cfg->path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, no->cfg->path, strlen(no->cfg->path));
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    set_timeouts(fd);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    s->fd = fd;
    return 0;
}

static int unix_stream_connect(struct netout *no) { return unix_connect(no, SOCK_STREAM); }
static int unix_dgram_connect(struct netout *no) { return unix_connect(no, SOCK_DGRAM); }

static int inet_connect(struct netout *no, int type)
{
    struct sock_sink *s = sink_of(no);
    char port[8];
    snprintf(port, sizeof(port), "%u", no->cfg->port);
    struct addrinfo hints = {.ai_socktype = type, .ai_family = AF_UNSPEC}, *res = NULL;
    int g = getaddrinfo(no->cfg->address, port, &hints, &res);
    if (g != 0)
        return g == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
    int rc = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        set_timeouts(fd);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            s->fd = fd;
            rc = 0;
            break;
        }
        rc = -errno;
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static int udp_connect(struct netout *no) { return inet_connect(no, SOCK_DGRAM); }
static int tcp_connect(struct netout *no) { return inet_connect(no, SOCK_STREAM); }

static int tls_open(struct netout *no, char *err, size_t errlen)
{
    const struct output_config *c = no->cfg;
    int rc = sock_open(no, err, errlen);
    if (rc < 0)
        return rc;
    struct sock_sink *s = sink_of(no);
    s->ctx = SSL_CTX_new(TLS_client_method());
    if (!s->ctx)
        goto out_ssl;
    SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
    if (c->tls_verify) {
        SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, NULL);
        if (c->tls_ca_file[0] ? SSL_CTX_load_verify_locations(s->ctx, c->tls_ca_file, NULL) != 1
                              : SSL_CTX_set_default_verify_paths(s->ctx) != 1)
            goto out_ssl;
    }
    if (c->tls_cert_file[0] &&
        (SSL_CTX_use_certificate_chain_file(s->ctx, c->tls_cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(s->ctx, c->tls_key_file[0] ? c->tls_key_file : c->tls_cert_file,
                                     SSL_FILETYPE_PEM) != 1))
        goto out_ssl;
    return 0;
out_ssl:;
    char e[256];
    ERR_error_string_n(ERR_get_error(), e, sizeof(e));
    snprintf(err, errlen, "output %s: TLS setup: %s", c->name, e);
    return -EINVAL;
}

static int tls_connect(struct netout *no)
{
    const struct output_config *c = no->cfg;
    struct sock_sink *s = sink_of(no);
    int rc = tcp_connect(no);
    if (rc < 0)
        return rc;
    s->ssl = SSL_new(s->ctx);
    if (!s->ssl)
        goto out_fail;
    SSL_set_fd(s->ssl, s->fd);
    const char *name = c->tls_server_name[0] ? c->tls_server_name : c->address;
    if (c->tls_verify) {
        /* the certificate must name the server: an IP address or a DNS name */
        X509_VERIFY_PARAM *vp = SSL_get0_param(s->ssl);
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1) {
            if (SSL_set1_host(s->ssl, name) != 1)
                goto out_fail;
            SSL_set_tlsext_host_name(s->ssl, name);
        }
    }
    if (SSL_connect(s->ssl) != 1) {
        if (no->fail_streak) /* logged once per outage */
            goto out_fail;
        long vr = SSL_get_verify_result(s->ssl);
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        output_log(c->name, "TLS handshake with %s:%u failed: %s%s%s", c->address, c->port, e,
                   vr != X509_V_OK ? "; certificate: " : "",
                   vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
        goto out_fail;
    }
    return 0;
out_fail:
    ERR_clear_error();
    sock_disconnect(no);
    return -ECONNREFUSED;
}

/* A stream peer that closed shows up as POLLRDHUP/POLLHUP: catch it before writing into the void. */
static bool peer_closed(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static int write_all(struct sock_sink *s, const char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w;
        if (s->ssl) {
            int n = SSL_write(s->ssl, buf + off, (int)(len - off));
            if (n <= 0) {
                ERR_clear_error();
                return -EPIPE;
            }
            w = n;
        } else {
            w = send(s->fd, buf + off, len - off, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
        }
        off += (size_t)w;
    }
    return 0;
}

static void fmt_ts(uint64_t ts_ns, char *out, size_t cap)
{
    time_t t = (time_t)(ts_ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%06uZ", (unsigned)(ts_ns % 1000000000ull / 1000));
}

/* SD-PARAM value escaping (RFC 5424 6.3.3): '"', '\' and ']' get a backslash. */
static size_t sd_escape(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 2 < cap; s++) {
        if (*s == '"' || *s == '\\' || *s == ']')
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n] = '\0';
    return n;
}

static const char *class_name(uint8_t cls)
{
    static const char *const names[] = {"alert", "flow", "anomaly", "detection", "stats"};
    return cls < sizeof(names) / sizeof(names[0]) ? names[cls] : "checkpoint";
}

size_t syslog_format(const struct netout *no, const struct spool_record *r, bool octet_counting,
                     char *buf, size_t cap)
{
    /* alert severity 1..4 -> crit, err, warning, notice; other records info */
    unsigned sev = r->severity >= 1 && r->severity <= 4 ? 1u + r->severity : 6u;
    unsigned pri = no->cfg->syslog_facility * 8u + sev;
    char ts[40], sid[160];
    fmt_ts(r->ts_ns, ts, sizeof(ts));
    sd_escape(sid, sizeof(sid), no->cfg->sensor_id[0] ? no->cfg->sensor_id : no->hostname);
    /* 32473 is the private enterprise number RFC 5612 reserves for examples and documentation */
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "<%u>1 %s %s %s %d %s [tripline@32473 sensor=\"%s\" seq=\"%" PRIu64 "\"] ", pri,
                      ts, no->hostname, no->cfg->app_name, no->pid, class_name(r->cls), sid, r->seq);
    if (hl < 0 || (size_t)hl >= sizeof(head))
        return 0;
    size_t msglen = (size_t)hl + r->len;
    size_t n = 0;
    if (octet_counting) {
        int pl = snprintf(buf, cap, "%zu ", msglen);
        if (pl < 0 || (size_t)pl >= cap)
            return 0;
        n = (size_t)pl;
    }
    if (n + msglen > cap)
        return 0;
    memcpy(buf + n, head, (size_t)hl);
    memcpy(buf + n + (size_t)hl, r->data, r->len);
    return n + msglen;
}

static int frame_record(struct netout *no, const struct spool_record *r, char *out, size_t cap)
{
    switch (no->cfg->kind) {
    case OUTPUT_UNIX_STREAM:
        if (r->len + 1 > cap)
            return -1;
        memcpy(out, r->data, r->len);
        out[r->len] = '\n';
        return (int)r->len + 1;
    case OUTPUT_UNIX_DGRAM:
        if (r->len > cap)
            return -1;
        memcpy(out, r->data, r->len);
        return (int)r->len;
    case OUTPUT_SYSLOG_UDP: {
        size_t n = syslog_format(no, r, false, out, cap);
        return n ? (int)n : -1;
    }
    default: {
        size_t n = syslog_format(no, r, true, out, cap);
        return n ? (int)n : -1;
    }
    }
}

static int oversize(struct netout *no, const struct spool_record *r)
{
    pthread_mutex_lock(&no->mu);
    no->st->oversize++;
    pthread_mutex_unlock(&no->mu);
    output_log(no->cfg->name, "record seq %" PRIu64 " (%u bytes) too large for the transport: dropped",
               r->seq, r->len);
    return 0;
}

static int stream_send(struct netout *no, struct spool_record **recs, unsigned n, unsigned *acked)
{
    struct sock_sink *s = sink_of(no);
    *acked = 0;
    if (s->fd < 0 || peer_closed(s->fd))
        return -EPIPE;
    unsigned i = 0;
    while (i < n) {
        /* as many whole records as fit into one write */
        size_t len = 0;
        unsigned j = i;
        while (j < n) {
            int fl = frame_record(no, recs[j], s->buf + len, s->cap - len);
            if (fl < 0)
                break;
            len += (size_t)fl;
            j++;
        }
        if (j == i) { /* a single record larger than the buffer */
            oversize(no, recs[i]);
            *acked = ++i;
            continue;
        }
        int rc = write_all(s, s->buf, len);
        if (rc < 0)
            return rc;
        i = j;
        *acked = i;
    }
    return 0;
}

static int dgram_send(struct netout *no, struct spool_record **recs, unsigned n, unsigned *acked)
{
    struct sock_sink *s = sink_of(no);
    *acked = 0;
    for (unsigned i = 0; i < n; i++) {
        int fl = frame_record(no, recs[i], s->buf, s->cap);
        if (fl < 0) {
            oversize(no, recs[i]);
            *acked = i + 1;
            continue;
        }
        ssize_t w;
        do
            w = send(s->fd, s->buf, (size_t)fl, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0) {
            if (errno == EMSGSIZE) {
                oversize(no, recs[i]);
                *acked = i + 1;
                continue;
            }
            return -errno;
        }
        *acked = i + 1;
    }
    return 0;
}

const struct sink_ops sink_unix_stream_ops = {
    .open = sock_open, .connect = unix_stream_connect, .disconnect = sock_disconnect,
    .send = stream_send, .close = sock_close, .resend_after_reconnect = true,
};
const struct sink_ops sink_unix_dgram_ops = {
    .open = sock_open, .connect = unix_dgram_connect, .disconnect = sock_disconnect,
    .send = dgram_send, .close = sock_close, .resend_after_reconnect = false,
};
const struct sink_ops sink_syslog_udp_ops = {
    .open = sock_open, .connect = udp_connect, .disconnect = sock_disconnect,
    .send = dgram_send, .close = sock_close, .resend_after_reconnect = false,
};
const struct sink_ops sink_syslog_tcp_ops = {
    .open = sock_open, .connect = tcp_connect, .disconnect = sock_disconnect,
    .send = stream_send, .close = sock_close, .resend_after_reconnect = true,
};
const struct sink_ops sink_syslog_tls_ops = {
    .open = tls_open, .connect = tls_connect, .disconnect = sock_disconnect,
    .send = stream_send, .close = sock_close, .resend_after_reconnect = true,
};
