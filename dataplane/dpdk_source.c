/* DPDK source: EAL, per-socket mbuf pools, ports with symmetric RSS, bursts of mbuf views.
 * See dpdk_source.h for the contract.
 */
#include "dpdk_source.h"
#include "dp_msg.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcap.h>
#include <rte_common.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>

#define DPDK_MAX_ARGS 64
#define DPDK_MAX_BURST 256
#define DPDK_MAX_SOCKETS 8
#define DPDK_MAX_QUEUES 128
#define DPDK_GATHER_MAX 65535u /* most bytes gathered of one chained packet (more: cut, counted) */
#define DPDK_STALL_NS (2ull * 1000000000ull)

/* Toeplitz key made of 0x6d5a repeated: hashing (src, dst) and (dst, src) gives the same value,
 * so both directions of a flow land on one queue (Woo and Park, "Scalable TCP Session
 * Monitoring with Symmetric Receive-side Scaling", 2012). */
static const uint8_t dpdk_sym_key[52] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
    0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
    0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

/* Look-ahead of one port for the time-ordered merge of several replaying ports. */
struct dpdk_look {
    struct rte_mbuf **m; /* burst entries */
    uint16_t i, n;       /* next to hand out, how many are there */
    bool exhausted;
    uint64_t empty_since_ns;
};

struct dp_dpdk_queue {
    struct dp_dpdk *src;
    struct dpdk_look *look; /* one per port when merging replays, else NULL */
    unsigned id;
    unsigned next_port;  /* round-robin start, so one busy port cannot starve the others */
    unsigned nheld;
    bool registered;     /* rte_thread_register() tried */
    bool done;           /* finite replay fully delivered */
    uint64_t packets, bytes;
    uint64_t idle_since_ns;
    uint64_t got[DP_DPDK_MAX_PORTS];      /* packets received per port (for stop_at_eof) */
    uint64_t expected[DP_DPDK_MAX_PORTS]; /* packets in this queue's replay files per port */
    uint8_t *gather; /* burst x DPDK_GATHER_MAX bytes: untouched (no pages) until a chain comes */
    size_t gather_used;
    uint64_t gather_cut; /* chained packets longer than DPDK_GATHER_MAX */
    struct rte_mbuf *held[DPDK_MAX_BURST];
} __rte_cache_aligned;

struct dp_dpdk_port {
    uint16_t id;
    int socket;
    bool started;
    bool finite; /* net_pcap replaying files only */
    uint32_t ts_scale; /* rx timestamp dynfield -> ns (net_pcap: microseconds), 0 = wall clock */
    char name[RTE_ETH_NAME_MAX_LEN];
};

struct dp_dpdk {
    struct dp_dpdk_config cfg;
    bool eal_ready;
    unsigned nports;
    struct dp_dpdk_port port[DP_DPDK_MAX_PORTS];
    struct rte_mempool *pool[DPDK_MAX_SOCKETS];
    int ts_offset;      /* rx timestamp dynfield, -1 if none */
    uint64_t ts_flag;
    bool all_finite;
    unsigned nq;
    struct dp_dpdk_queue *q;
};

/* messages through the helpers every source shares (dp_msg.h) */
#define dpdk_log(cfg, ...) dp_msg_log((cfg)->log, (cfg)->log_ctx, __VA_ARGS__)
#define dpdk_fail dp_msg_fail

const uint8_t *dp_dpdk_rss_key(size_t *len)
{
    *len = sizeof(dpdk_sym_key);
    return dpdk_sym_key;
}

void dp_dpdk_config_default(struct dp_dpdk_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->queues = 1;
    cfg->mbuf_cache = 256;
    cfg->mbuf_size = RTE_MBUF_DEFAULT_BUF_SIZE;
    cfg->rx_desc = 1024;
    cfg->burst = 64;
    cfg->promisc = true;
    cfg->stop_at_eof = true;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Splits the EAL argument string on blanks into argv (argv[0] = "tripline"); single or double
 * quotes group words. Returns argc or -1 when there are too many words. */
static int dpdk_split_args(char *buf, char **argv, int max)
{
    int argc = 0;
    char *p = buf;

    argv[argc++] = (char *)"tripline";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        if (argc >= max - 1)
            return -1;
        char *out = p;
        argv[argc++] = out;
        char quote = 0;
        while (*p && (quote || (*p != ' ' && *p != '\t' && *p != '\n'))) {
            if (!quote && (*p == '\'' || *p == '"')) {
                quote = *p++;
                continue;
            }
            if (quote && *p == quote) {
                quote = 0;
                p++;
                continue;
            }
            *out++ = *p++;
        }
        if (*p)
            p++;
        *out = '\0';
    }
    argv[argc] = NULL;
    return argc;
}

/* Packets in a capture file (for stop_at_eof), -1 if it cannot be read. */
static int64_t dpdk_count_pcap(const char *path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const u_char *d;
    int64_t n = 0;
    pcap_t *p = pcap_open_offline(path, errbuf);

    if (!p)
        return -1;
    while (pcap_next_ex(p, &h, &d) == 1)
        n++;
    pcap_close(p);
    return n;
}

/* For a net_pcap port replaying files (rx_pcap=...), fills the expected packet count of each
 * queue (the i-th rx_pcap feeds queue i) and returns true; false for any other device. */
static bool dpdk_port_replay_counts(struct dp_dpdk *s, unsigned pi, uint16_t port)
{
    struct rte_eth_dev_info info;
    char args[1024];
    unsigned qi = 0;

    if (rte_eth_dev_info_get(port, &info) != 0 || !info.device)
        return false;
    if (!info.driver_name || !strstr(info.driver_name, "pcap"))
        return false;
    const struct rte_devargs *da = rte_dev_devargs(info.device);
    if (!da || !da->args)
        return false;
    snprintf(args, sizeof(args), "%s", da->args);
    if (strstr(args, "rx_iface") || strstr(args, "iface="))
        return false; /* live interface: never ends */
    char *save = NULL;
    for (char *kv = strtok_r(args, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        if (strncmp(kv, "rx_pcap=", 8) != 0)
            continue;
        int64_t n = dpdk_count_pcap(kv + 8);
        if (n < 0)
            return false;
        if (qi < s->nq)
            s->q[qi].expected[pi] = (uint64_t)n;
        qi++;
    }
    return qi > 0;
}

static int dpdk_parse_ports(struct dp_dpdk *s, char *err, size_t errlen)
{
    const char *list = s->cfg.ports;
    uint16_t pid;

    if (!list || !list[0]) {
        RTE_ETH_FOREACH_DEV(pid)
        {
            if (s->nports >= DP_DPDK_MAX_PORTS)
                break;
            s->port[s->nports++].id = pid;
        }
    } else {
        char buf[512], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", list);
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            char *end;
            unsigned long v = strtoul(t, &end, 10);
            if (*t && !*end) {
                if (v >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port((uint16_t)v))
                    return dpdk_fail(err, errlen, -ENODEV,
                                     "dpdk: --ports: no port %s (%u port(s) available)", t,
                                     (unsigned)rte_eth_dev_count_avail());
                pid = (uint16_t)v;
            } else if (rte_eth_dev_get_port_by_name(t, &pid) != 0) {
                return dpdk_fail(err, errlen, -ENODEV, "dpdk: --ports: no port named '%s'", t);
            }
            if (s->nports >= DP_DPDK_MAX_PORTS)
                return dpdk_fail(err, errlen, -E2BIG, "dpdk: --ports: more than %d ports",
                                 DP_DPDK_MAX_PORTS);
            for (unsigned i = 0; i < s->nports; i++)
                if (s->port[i].id == pid)
                    return dpdk_fail(err, errlen, -EINVAL, "dpdk: --ports: port %s given twice", t);
            s->port[s->nports++].id = pid;
        }
    }
    if (s->nports == 0)
        return dpdk_fail(err, errlen, -ENODEV,
                         "dpdk: no ports: add a virtual device to --dpdk-args (e.g. "
                         "--vdev=net_pcap0,rx_pcap=FILE) or bind a NIC to a DPDK driver");
    for (unsigned i = 0; i < s->nports; i++) {
        struct dp_dpdk_port *p = &s->port[i];
        int sock = rte_eth_dev_socket_id(p->id);
        p->socket = sock < 0 || sock >= DPDK_MAX_SOCKETS ? 0 : sock;
        if (rte_eth_dev_get_name_by_port(p->id, p->name) != 0)
            snprintf(p->name, sizeof(p->name), "port%u", p->id);
    }
    return 0;
}

static int dpdk_make_pools(struct dp_dpdk *s, char *err, size_t errlen)
{
    const struct dp_dpdk_config *c = &s->cfg;
    unsigned per_socket[DPDK_MAX_SOCKETS] = {0};

    for (unsigned i = 0; i < s->nports; i++)
        per_socket[s->port[i].socket]++;
    for (int sk = 0; sk < DPDK_MAX_SOCKETS; sk++) {
        if (!per_socket[sk])
            continue;
        /* Every descriptor holds an mbuf, every worker may hold a burst, and every lcore cache
         * may hide some: fewer than that and the ports starve (rx_nombuf). */
        unsigned rings = per_socket[sk] * c->queues * c->rx_desc;
        unsigned need = rings + c->queues * c->burst * 2 + (rte_lcore_count() + c->queues) * c->mbuf_cache;
        unsigned n = c->mbufs ? c->mbufs : (need * 2 > 8191 ? need * 2 : 8191);
        if (n < need)
            return dpdk_fail(err, errlen, -EINVAL,
                             "dpdk: mbufs %u is too few on socket %d: %u port(s) x %u queue(s) x "
                             "%u rx descriptors plus bursts and caches need at least %u; raise "
                             "the mbufs setting (or lower queues / rx descriptors)",
                             n, sk, per_socket[sk], c->queues, c->rx_desc, need);
        char name[RTE_MEMPOOL_NAMESIZE];
        snprintf(name, sizeof(name), "tl_mbuf_s%d", sk);
        s->pool[sk] = rte_pktmbuf_pool_create(name, n, c->mbuf_cache, 0, (uint16_t)c->mbuf_size, sk);
        if (!s->pool[sk])
            return dpdk_fail(err, errlen, -ENOMEM,
                             "dpdk: cannot create %u mbufs of %u bytes on socket %d: %s (give EAL "
                             "more memory with -m / hugepages in --dpdk-args, or lower mbufs)",
                             n, c->mbuf_size, sk, rte_strerror(rte_errno));
        dpdk_log(c, "dpdk: socket %d: pool of %u mbufs (%u bytes each)", sk, n, c->mbuf_size);
    }
    return 0;
}

static int dpdk_port_setup(struct dp_dpdk *s, unsigned pi, char *err, size_t errlen)
{
    const struct dp_dpdk_config *c = &s->cfg;
    struct dp_dpdk_port *p = &s->port[pi];
    struct rte_eth_dev_info info;
    struct rte_eth_conf conf;
    uint8_t key[sizeof(dpdk_sym_key)];
    int rc;

    rc = rte_eth_dev_info_get(p->id, &info);
    if (rc)
        return dpdk_fail(err, errlen, rc, "dpdk: port %s: cannot read device info: %s", p->name,
                         rte_strerror(-rc));
    if (c->queues > info.max_rx_queues)
        return dpdk_fail(err, errlen, -EINVAL,
                         "dpdk: --queues %u is above the maximum of port %s (%s): %u receive "
                         "queue(s)%s",
                         c->queues, p->name, info.driver_name, info.max_rx_queues,
                         strstr(info.driver_name, "pcap") ? " (net_pcap: one rx_pcap per queue)" : "");

    memset(&conf, 0, sizeof(conf));
    if (c->queues > 1 && info.flow_type_rss_offloads) {
        size_t klen = info.hash_key_size ? info.hash_key_size : 40;
        if (klen > sizeof(key))
            klen = sizeof(key);
        memcpy(key, dpdk_sym_key, klen);
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_key = key;
        conf.rx_adv_conf.rss_conf.rss_key_len = (uint8_t)klen;
        conf.rx_adv_conf.rss_conf.rss_hf =
            (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
        dpdk_log(c, "dpdk: port %s: symmetric RSS over %u queues (hash functions 0x%llx)", p->name,
                 c->queues, (unsigned long long)conf.rx_adv_conf.rss_conf.rss_hf);
    } else if (c->queues > 1) {
        dpdk_log(c, "dpdk: port %s (%s) has no RSS: the driver decides which queue gets a packet",
                 p->name, info.driver_name);
    }
    /* Replays keep the capture's packet time (flow timeouts run on it): net_pcap stamps every
     * mbuf with the record's time in microseconds (through the rx timestamp dynfield, whether
     * or not the offload is asked for). A NIC's stamps are in its own clock units, so other
     * ports use the receive time instead. */
    if (strcmp(info.driver_name, "net_pcap") == 0 && s->ts_offset >= 0) {
        if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP)
            conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
        p->ts_scale = 1000;
    }
    if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH && conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS)
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_RSS_HASH;

    rc = rte_eth_dev_configure(p->id, (uint16_t)c->queues, 0, &conf);
    if (rc)
        return dpdk_fail(err, errlen, rc, "dpdk: port %s refused %u receive queue(s): %s", p->name,
                         c->queues, rte_strerror(-rc));
    uint16_t nrxd = (uint16_t)c->rx_desc, ntxd = 0;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->id, &nrxd, &ntxd);
    if (rc)
        return dpdk_fail(err, errlen, rc, "dpdk: port %s: rx descriptors %u rejected: %s", p->name,
                         c->rx_desc, rte_strerror(-rc));
    for (unsigned q = 0; q < c->queues; q++) {
        rc = rte_eth_rx_queue_setup(p->id, (uint16_t)q, nrxd, (unsigned)p->socket, NULL,
                                    s->pool[p->socket]);
        if (rc)
            return dpdk_fail(err, errlen, rc, "dpdk: port %s: receive queue %u setup failed: %s "
                             "(mbufs / mbuf size?)", p->name, q, rte_strerror(-rc));
    }
    rc = rte_eth_dev_start(p->id);
    if (rc)
        return dpdk_fail(err, errlen, rc, "dpdk: port %s does not start: %s", p->name,
                         rte_strerror(-rc));
    p->started = true;
    if (c->promisc) {
        rc = rte_eth_promiscuous_enable(p->id);
        if (rc && rc != -ENOTSUP)
            dpdk_log(c, "dpdk: port %s: promiscuous mode refused: %s", p->name, rte_strerror(-rc));
    }
    struct rte_eth_link link;
    if (rte_eth_link_get_nowait(p->id, &link) == 0)
        dpdk_log(c, "dpdk: port %u %s (%s, socket %d, %u queue(s)): link %s, %u Mbps, %s duplex",
                 p->id, p->name, info.driver_name, p->socket, c->queues,
                 link.link_status ? "up" : "down", link.link_speed,
                 link.link_duplex ? "full" : "half");
    else
        dpdk_log(c, "dpdk: port %u %s (%s): link status unknown", p->id, p->name, info.driver_name);
    p->finite = dpdk_port_replay_counts(s, pi, p->id);
    return 0;
}

struct dp_dpdk *dp_dpdk_open(const struct dp_dpdk_config *cfg, int *errno_out, char *err,
                             size_t errlen)
{
    char *argv[DPDK_MAX_ARGS + 1];
    char *argbuf = NULL;
    struct dp_dpdk *s = NULL;
    cpu_set_t cpus;
    bool have_cpus;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!cfg->queues || cfg->queues > DPDK_MAX_QUEUES) {
        rc = dpdk_fail(err, errlen, -EINVAL, "dpdk: --queues %u must be between 1 and %d",
                       cfg->queues, DPDK_MAX_QUEUES);
        goto fail;
    }
    if (!cfg->burst || cfg->burst > DPDK_MAX_BURST) {
        rc = dpdk_fail(err, errlen, -EINVAL, "dpdk: burst %u must be between 1 and %d", cfg->burst,
                       DPDK_MAX_BURST);
        goto fail;
    }
    if (cfg->mbuf_size < RTE_PKTMBUF_HEADROOM + 256 || cfg->mbuf_size > UINT16_MAX) {
        rc = dpdk_fail(err, errlen, -EINVAL, "dpdk: mbuf size %u must be between %u and %u",
                       cfg->mbuf_size, RTE_PKTMBUF_HEADROOM + 256, UINT16_MAX);
        goto fail;
    }
    if (!cfg->rx_desc) {
        rc = dpdk_fail(err, errlen, -EINVAL, "dpdk: rx descriptors must be at least 1");
        goto fail;
    }
    s = calloc(1, sizeof(*s));
    argbuf = strdup(cfg->eal_args ? cfg->eal_args : "");
    if (!s || !argbuf) {
        rc = dpdk_fail(err, errlen, -ENOMEM, "dpdk: out of memory");
        goto fail;
    }
    s->cfg = *cfg;
    s->cfg.eal_args = NULL;
    s->cfg.ports = NULL; /* only read during open */
    s->ts_offset = -1;
    int argc = dpdk_split_args(argbuf, argv, DPDK_MAX_ARGS);
    if (argc < 0) {
        rc = dpdk_fail(err, errlen, -E2BIG, "dpdk: --dpdk-args has more than %d words",
                       DPDK_MAX_ARGS - 1);
        goto fail;
    }

    /* EAL pins the calling thread to its main lcore; the engine's threads are created from this
     * one later and must not all inherit that pin, so the old affinity is put back. */
    have_cpus = pthread_getaffinity_np(pthread_self(), sizeof(cpus), &cpus) == 0;
    rc = rte_eal_init(argc, argv);
    if (have_cpus)
        pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
    if (rc < 0) {
        int e = rte_errno;
        rc = dpdk_fail(err, errlen, -(e ? e : EINVAL),
                       "dpdk: EAL initialisation failed with --dpdk-args \"%s\": %s (check each "
                       "--vdev driver name and its arguments, and the memory options -m / "
                       "--no-huge; EAL's own messages above say more)",
                       cfg->eal_args ? cfg->eal_args : "", rte_strerror(e));
        goto fail;
    }
    s->eal_ready = true;
    s->cfg.ports = cfg->ports;
    rc = dpdk_parse_ports(s, err, errlen);
    s->cfg.ports = NULL;
    if (rc)
        goto fail;

    s->nq = cfg->queues;
    s->q = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*s->q) * s->nq);
    if (!s->q) {
        rc = dpdk_fail(err, errlen, -ENOMEM, "dpdk: out of memory");
        goto fail;
    }
    memset(s->q, 0, sizeof(*s->q) * s->nq);
    for (unsigned i = 0; i < s->nq; i++) {
        s->q[i].src = s;
        s->q[i].id = i;
        s->q[i].gather = malloc((size_t)cfg->burst * DPDK_GATHER_MAX);
        if (!s->q[i].gather) {
            rc = dpdk_fail(err, errlen, -ENOMEM, "dpdk: out of memory");
            goto fail;
        }
    }

    rc = rte_mbuf_dyn_rx_timestamp_register(&s->ts_offset, &s->ts_flag);
    if (rc) {
        s->ts_offset = -1;
        s->ts_flag = 0;
    }
    rc = dpdk_make_pools(s, err, errlen);
    if (rc)
        goto fail;
    s->all_finite = cfg->stop_at_eof;
    for (unsigned i = 0; i < s->nports; i++) {
        rc = dpdk_port_setup(s, i, err, errlen);
        if (rc)
            goto fail;
        s->all_finite = s->all_finite && s->port[i].finite;
    }
    if (s->all_finite)
        dpdk_log(cfg, "dpdk: every port replays files: queues end when their files are consumed%s",
                 s->nports > 1 ? ", packets of the ports merged in capture time order" : "");
    for (unsigned i = 0; s->all_finite && s->nports > 1 && i < s->nq; i++) {
        struct dp_dpdk_queue *q = &s->q[i];
        q->look = calloc(s->nports, sizeof(*q->look));
        if (!q->look) {
            rc = dpdk_fail(err, errlen, -ENOMEM, "dpdk: out of memory");
            goto fail;
        }
        for (unsigned p = 0; p < s->nports; p++) {
            q->look[p].m = calloc(cfg->burst, sizeof(struct rte_mbuf *));
            if (!q->look[p].m) {
                rc = dpdk_fail(err, errlen, -ENOMEM, "dpdk: out of memory");
                goto fail;
            }
        }
    }
    free(argbuf);
    return s;

fail:
    free(argbuf);
    if (errno_out)
        *errno_out = rc;
    dp_dpdk_close(s);
    return NULL;
}

unsigned dp_dpdk_queue_count(const struct dp_dpdk *src)
{
    return src->nq;
}

unsigned dp_dpdk_port_count(const struct dp_dpdk *src)
{
    return src->nports;
}

uint16_t dp_dpdk_port_id(const struct dp_dpdk *src, unsigned i)
{
    return src->port[i].id;
}

const char *dp_dpdk_port_name(const struct dp_dpdk *src, unsigned i)
{
    return src->port[i].name;
}

int dp_dpdk_port_stats(struct dp_dpdk *src, unsigned i, struct dp_dpdk_port_stats *out)
{
    struct rte_eth_stats st;
    int rc = rte_eth_stats_get(src->port[i].id, &st);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    out->ipackets = st.ipackets;
    out->ibytes = st.ibytes;
    out->imissed = st.imissed;
    out->ierrors = st.ierrors;
    out->rx_nombuf = st.rx_nombuf;
    return 0;
}

static void dpdk_add_port_drops(struct dp_dpdk *src, struct dp_source_stats *out)
{
    for (unsigned i = 0; i < src->nports; i++) {
        struct dp_dpdk_port_stats ps;
        if (dp_dpdk_port_stats(src, i, &ps) == 0) {
            out->kernel_drops += ps.imissed;
            out->iface_drops += ps.rx_nombuf;
            out->errors += ps.ierrors;
        }
    }
}

void dp_dpdk_stats(struct dp_dpdk *src, struct dp_source_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned q = 0; q < src->nq; q++) {
        out->packets += __atomic_load_n(&src->q[q].packets, __ATOMIC_RELAXED);
        out->bytes += __atomic_load_n(&src->q[q].bytes, __ATOMIC_RELAXED);
    }
    dpdk_add_port_drops(src, out);
}

void *dp_dpdk_queue_handle(struct dp_dpdk *src, unsigned q)
{
    return q < src->nq ? &src->q[q] : NULL;
}

void dp_dpdk_handle_release(void *handle, struct dp_packet *pkts, unsigned n)
{
    struct dp_dpdk_queue *q = handle;

    (void)pkts;
    (void)n;
    if (q->nheld)
        rte_pktmbuf_free_bulk(q->held, q->nheld);
    q->nheld = 0;
    q->gather_used = 0;
}

/* Whether a finite replay queue has everything; a port that stopped short (its errors ate some
 * packets) is given up after DPDK_STALL_NS without a packet, and that is said. */
static bool dpdk_queue_finished(struct dp_dpdk_queue *q)
{
    struct dp_dpdk *s = q->src;
    bool all = true;

    for (unsigned p = 0; p < s->nports; p++)
        all = all && q->got[p] >= q->expected[p];
    if (all)
        return true;
    uint64_t now = mono_ns();
    if (!q->idle_since_ns) {
        q->idle_since_ns = now;
        return false;
    }
    if (now - q->idle_since_ns < DPDK_STALL_NS)
        return false;
    for (unsigned p = 0; p < s->nports; p++)
        if (q->got[p] < q->expected[p])
            dpdk_log(&s->cfg, "dpdk: queue %u: port %s delivered %llu of %llu replayed packets "
                     "(the rest are in its ierrors/rx_nombuf counters); ending the queue",
                     q->id, s->port[p].name, (unsigned long long)q->got[p],
                     (unsigned long long)q->expected[p]);
    return true;
}

/* Fills one view from an mbuf (gathering a chained packet). */
static uint64_t dpdk_fill_view(struct dp_dpdk_queue *q, const struct dp_dpdk_port *port,
                               struct rte_mbuf *m, struct dp_packet *pk, uint64_t *now)
{
    const struct dp_dpdk *s = q->src;

    if (m->nb_segs == 1) {
        pk->data = rte_pktmbuf_mtod(m, const uint8_t *);
        pk->caplen = m->data_len;
    } else {
        /* Chained (jumbo) packet: gathered so the decoder sees contiguous bytes. */
        uint32_t len = m->pkt_len;
        if (len > DPDK_GATHER_MAX) {
            len = DPDK_GATHER_MAX; /* cut: caplen < wirelen tells the decoder */
            q->gather_cut++;
        }
        uint8_t *dst = q->gather + q->gather_used;
        const void *p = rte_pktmbuf_read(m, 0, len, dst);
        if (p && p != dst)
            memcpy(dst, p, len);
        pk->data = dst;
        pk->caplen = len;
        q->gather_used += len;
    }
    pk->wirelen = m->pkt_len;
    if (port->ts_scale && (m->ol_flags & s->ts_flag)) {
        pk->ts_ns = *RTE_MBUF_DYNFIELD(m, s->ts_offset, rte_mbuf_timestamp_t *) * port->ts_scale;
    } else {
        if (!*now)
            *now = wall_ns();
        pk->ts_ns = *now;
    }
    pk->hash = (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) ? m->hash.rss : 0;
    pk->linktype = DP_LINK_ETHERNET;
    pk->queue = (uint16_t)q->id;
    return m->pkt_len;
}

static uint64_t dpdk_mbuf_ts(const struct dp_dpdk *s, const struct rte_mbuf *m)
{
    return (m->ol_flags & s->ts_flag) ? *RTE_MBUF_DYNFIELD(m, s->ts_offset, rte_mbuf_timestamp_t *)
                                      : 0;
}

/* Several ports replaying files into one queue: their packets are merged in timestamp order,
 * as if the ports saw them at the capture's times (unpaced replays read each file at its own
 * pace, so polling them round robin would jump packet time back and forth and expire flows
 * early). Each port keeps a look-ahead burst; a packet goes out only when every port that can
 * still deliver has one waiting. Returns the count; sets q->done at the end. */
static unsigned dpdk_rx_merge(struct dp_dpdk_queue *q, struct dp_packet *pkts, unsigned max,
                              uint64_t *bytes)
{
    struct dp_dpdk *s = q->src;
    uint64_t now = 0, t = mono_ns();
    unsigned n = 0;

    for (;;) {
        /* Refill the empty look-ahead buffers; a port is exhausted once all its replay came
         * (or it stalled, see dpdk_queue_finished()). */
        bool waiting = false, any = false;
        for (unsigned pi = 0; pi < s->nports; pi++) {
            struct dpdk_look *lk = &q->look[pi];
            if (lk->i < lk->n || lk->exhausted)
                continue;
            lk->i = 0;
            lk->n = rte_eth_rx_burst(s->port[pi].id, (uint16_t)q->id, lk->m, (uint16_t)s->cfg.burst);
            q->got[pi] += lk->n;
            if (lk->n) {
                lk->empty_since_ns = 0;
                continue;
            }
            if (q->got[pi] >= q->expected[pi]) {
                lk->exhausted = true;
            } else if (!lk->empty_since_ns) {
                lk->empty_since_ns = t;
                waiting = true;
            } else if (t - lk->empty_since_ns > DPDK_STALL_NS) {
                dpdk_log(&s->cfg, "dpdk: queue %u: port %s delivered %llu of %llu replayed packets "
                         "(the rest are in its ierrors/rx_nombuf counters); ending its replay",
                         q->id, s->port[pi].name, (unsigned long long)q->got[pi],
                         (unsigned long long)q->expected[pi]);
                lk->exhausted = true;
            } else {
                waiting = true;
            }
        }
        if (waiting)
            return n; /* a port may still hold an earlier packet: wait for it */
        /* Emit in time order while every live port has a packet waiting. */
        while (n < max) {
            unsigned best = UINT32_MAX;
            uint64_t best_ts = UINT64_MAX;
            bool need_refill = false;
            for (unsigned pi = 0; pi < s->nports; pi++) {
                struct dpdk_look *lk = &q->look[pi];
                if (lk->i >= lk->n) {
                    if (!lk->exhausted)
                        need_refill = true;
                    continue;
                }
                uint64_t ts = dpdk_mbuf_ts(s, lk->m[lk->i]);
                if (ts < best_ts) {
                    best_ts = ts;
                    best = pi;
                }
            }
            if (need_refill || best == UINT32_MAX)
                break;
            any = true;
            struct rte_mbuf *m = q->look[best].m[q->look[best].i++];
            q->held[n] = m;
            *bytes += dpdk_fill_view(q, &s->port[best], m, &pkts[n], &now);
            n++;
        }
        if (n == max)
            return n;
        bool all_done = true;
        for (unsigned pi = 0; pi < s->nports; pi++)
            all_done = all_done && q->look[pi].exhausted && q->look[pi].i >= q->look[pi].n;
        if (all_done) {
            if (n == 0)
                q->done = true;
            return n;
        }
        if (!any)
            return n;
    }
}

int dp_dpdk_handle_rx(void *handle, struct dp_packet *pkts, unsigned max)
{
    struct dp_dpdk_queue *q = handle;
    struct dp_dpdk *s = q->src;
    unsigned n = 0;
    uint64_t now = 0, bytes = 0;

    dp_dpdk_handle_release(handle, pkts, 0);
    if (q->done)
        return -ENODATA;
    if (!q->registered) {
        /* A registered thread gets an lcore id, hence a mempool cache (fewer ring trips). */
        q->registered = true;
        if (rte_lcore_id() == LCORE_ID_ANY)
            rte_thread_register();
    }
    if (max > s->cfg.burst)
        max = s->cfg.burst;
    if (q->look) {
        n = dpdk_rx_merge(q, pkts, max, &bytes);
        if (q->done)
            return -ENODATA;
    } else {
        for (unsigned i = 0; i < s->nports && n < max; i++) {
            unsigned pi = (q->next_port + i) % s->nports;
            const struct dp_dpdk_port *port = &s->port[pi];
            uint16_t got = rte_eth_rx_burst(port->id, (uint16_t)q->id, q->held + n,
                                            (uint16_t)(max - n));
            q->got[pi] += got;
            for (unsigned k = n; k < n + got; k++)
                bytes += dpdk_fill_view(q, port, q->held[k], &pkts[k], &now);
            n += got;
        }
        q->next_port = (q->next_port + 1) % s->nports;
    }
    if (n == 0) {
        if (!q->look && s->all_finite && dpdk_queue_finished(q)) {
            q->done = true;
            return -ENODATA;
        }
        /* Idle: yield the core briefly rather than spin (shared machines, replay tails). */
        struct timespec nap = {0, 20000};
        nanosleep(&nap, NULL);
        return 0;
    }
    q->idle_since_ns = 0;
    q->nheld = n;
    /* Written only here, read by the stats thread: relaxed atomics (plain moves on x86). */
    __atomic_store_n(&q->packets, q->packets + n, __ATOMIC_RELAXED);
    __atomic_store_n(&q->bytes, q->bytes + bytes, __ATOMIC_RELAXED);
    return (int)n;
}

void dp_dpdk_handle_stats(void *handle, struct dp_source_stats *out)
{
    struct dp_dpdk_queue *q = handle;

    out->packets += __atomic_load_n(&q->packets, __ATOMIC_RELAXED);
    out->bytes += __atomic_load_n(&q->bytes, __ATOMIC_RELAXED);
    if (q->id == 0)
        dpdk_add_port_drops(q->src, out);
}

void dp_dpdk_close(struct dp_dpdk *src)
{
    if (!src)
        return;
    if (src->q) {
        for (unsigned i = 0; i < src->nq; i++) {
            struct dp_dpdk_queue *q = &src->q[i];
            if (q->nheld)
                rte_pktmbuf_free_bulk(q->held, q->nheld);
            for (unsigned p = 0; q->look && p < src->nports; p++) {
                if (q->look[p].m && q->look[p].i < q->look[p].n)
                    rte_pktmbuf_free_bulk(q->look[p].m + q->look[p].i,
                                          (unsigned)(q->look[p].n - q->look[p].i));
                free(q->look[p].m);
            }
            free(q->look);
            free(src->q[i].gather);
        }
        free(src->q);
    }
    for (unsigned i = 0; i < src->nports; i++) {
        if (src->port[i].started)
            rte_eth_dev_stop(src->port[i].id);
        if (src->eal_ready)
            rte_eth_dev_close(src->port[i].id);
    }
    for (int sk = 0; sk < DPDK_MAX_SOCKETS; sk++)
        rte_mempool_free(src->pool[sk]);
    if (src->eal_ready)
        rte_eal_cleanup();
    free(src);
}
