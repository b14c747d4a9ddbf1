/* Anomaly detectors: floods, reflection, scans, brute force, beaconing, DNS tunnelling,
 * exfiltration and protocol anomalies, fed by decoded packets and flows.
 *
 * Threading model. One struct anomaly_shared per sensor; one struct anomaly_worker per worker
 * thread. Packet time is cut into windows of `window_ms`. A worker adds each packet to its own
 * shard of the current window (plain fields, bounded tables, no atomics, no allocation). When a
 * worker's packet time passes a window end it publishes that window (one release store of its
 * progress). Window w is merged once every worker has passed it: the worker whose tick finds
 * the minimum progress beyond w takes a non-blocking merge flag, merges the shards of w in
 * worker-id order, runs the detectors on the merged window, updates the long-lived state
 * (baselines, epochs of scan/brute-force/DNS counts, beacon intervals, incidents) and emits
 * EVENT_DETECTION events. Merged results are the same for any number of workers as long as
 * the bounded per-window tables do not overflow (overflow is counted).
 *
 * Every worker must call anomaly_tick() regularly, also when it has no packets, with the
 * pipeline's packet time, otherwise the windows stop being merged. At the end of a capture
 * the engine calls anomaly_shared_flush() once the workers are stopped.
 */
#ifndef TRIPLINE_ANOMALY_H
#define TRIPLINE_ANOMALY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "event.h"
#include "flow.h"

#define ANOMALY_MAX_NETWORKS 64
#define ANOMALY_MAX_PORTS 16
#define ANOMALY_NAME_MAX 48

/* A protected network or critical asset. criticality: 1 (most critical) .. 4 (least). */
struct anomaly_network {
    uint8_t addr[16];
    uint8_t prefix;    /* bits */
    uint8_t v6;
    uint8_t criticality;
    char name[ANOMALY_NAME_MAX];
};

/* All thresholds and sizes. Defaults (anomaly_config_default) are documented per field and in
 * sensor/anomaly/README.md; rates are per second of packet time, bps in bits per second. */
struct anomaly_config {
    bool enabled;                 /* true */
    uint32_t window_ms;           /* 1000: detection window (merge period) */
    uint32_t max_workers;         /* 64 */
    /* memory: per worker per window (4 windows in flight) and merged long-lived tables */
    uint32_t shard_dsts;          /* 2048 destinations per worker per window */
    uint32_t shard_srcs;          /* 2048 scanning/connecting sources per worker per window */
    uint32_t shard_pairs;         /* 2048 (src,dst,port) pairs (brute force, beacon starts) */
    uint32_t shard_hosts;         /* 2048 inside hosts talking to outside (exfiltration) */
    uint32_t shard_dns;           /* 512 (source, domain) pairs */
    uint32_t track_entries;       /* 16384 entries per long-lived table (baselines, epochs) */
    uint32_t max_incidents;       /* 1024 open incidents */
    /* baselines */
    uint32_t learning_s;          /* 60: a key's baseline is used after this much packet time */
    double ewma_alpha;            /* 0.05 per window: baseline EWMA weight */
    double baseline_sigmas;       /* 6: value must exceed mean + k * stddev */
    double baseline_factor;       /* 3: ... and factor * mean */
    /* volumetric floods per destination */
    uint32_t syn_pps;             /* 1000 SYN/s floor */
    double syn_complete_max;      /* 0.3: completed handshakes / SYNs at most */
    uint32_t udp_pps;             /* 2000 UDP packets/s floor */
    uint64_t udp_bps;             /* 200e6 bit/s (either floor) */
    double udp_reply_max;         /* 0.2: UDP packets back / in at most */
    uint32_t icmp_pps;            /* 1000 */
    uint64_t icmp_bps;            /* 100e6 */
    uint32_t distributed_sources; /* 32: distinct sources for a "distributed" flood */
    /* reflection / amplification */
    uint32_t refl_pps;            /* 200 unsolicited responses/s */
    uint64_t refl_bps;            /* 20e6 */
    uint32_t refl_min_reflectors; /* 5 */
    uint16_t refl_ports[ANOMALY_MAX_PORTS]; /* 53 123 1900 11211 19 389 */
    uint8_t n_refl_ports;
    /* scans */
    uint32_t scan_epoch_s;        /* 30: counts cover the current and previous epoch */
    uint32_t hscan_hosts;         /* 20 distinct hosts (TCP/UDP) */
    uint32_t vscan_ports;         /* 40 distinct ports on at most 4 hosts */
    uint32_t sweep_hosts;         /* 20 distinct hosts pinged */
    double scan_fail_min;         /* 0.5 failed or unanswered attempts / attempts */
    /* brute force */
    uint32_t bf_epoch_s;          /* 60 */
    uint32_t bf_conns;            /* 20 sessions to one (host, port) */
    uint32_t bf_spray_hosts;      /* 10 hosts on one auth port */
    uint16_t bf_ports[ANOMALY_MAX_PORTS]; /* 22 3389 445 21 23 */
    uint8_t n_bf_ports;
    /* beaconing */
    uint32_t beacon_min_intervals; /* 8 */
    uint32_t beacon_min_period_s;  /* 5 */
    uint32_t beacon_max_period_s;  /* 3600 */
    double beacon_max_cv;          /* 0.25: stddev/mean of intervals (uniform jitter +-40%) */
    uint16_t beacon_skip_ports[ANOMALY_MAX_PORTS]; /* 53 123 */
    uint8_t n_beacon_skip_ports;
    /* DNS tunnelling */
    uint32_t dns_epoch_s;          /* 60 */
    uint32_t dns_subdomains;       /* 30 distinct subdomains of one domain from one source */
    double dns_mean_len;           /* 20 mean subdomain length ... */
    double dns_mean_entropy;       /* 3.3 ... or mean Shannon entropy (bits/char) */
    double dns_src_mean_len;       /* 40: per-source view (all names of a source): mean name
                                      length, required together with dns_mean_entropy */
    /* exfiltration */
    uint64_t exfil_bps;            /* 2e6 outbound floor (fast EWMA, ~30 s) */
    double exfil_ratio;            /* 4: out/in bytes */
    uint64_t exfil_unlearned_bps;  /* 50e6 for hosts without a baseline yet */
    uint32_t exfil_tau_s;          /* 30: time constant of the outbound rate average */
    uint32_t exfil_baseline_tau_s; /* 600: time constant of a host's outbound baseline */
    /* protocol anomalies per window */
    uint32_t proto_bad_flags;      /* 20 illegal TCP flag combinations */
    uint32_t proto_frag_overlap;   /* 5 */
    uint32_t proto_ttl_change;     /* 20 packets whose TTL moved > 8 from the flow's first */
    uint32_t proto_bad_checksum;   /* 0 = off (NICs offload checksums) */
    /* lifecycle */
    uint32_t update_interval_s;    /* 10: rate limit of update records */
    uint32_t end_quiet_s;          /* 5: an incident ends after this long without evidence */
    /* protected networks and assets; empty means RFC 1918 + fc00::/7, criticality 3 */
    struct anomaly_network networks[ANOMALY_MAX_NETWORKS];
    unsigned n_networks;
};

/* Detection classes (alert.category values and signature ids 2000001 + class). */
enum anomaly_class {
    ANOM_SYN_FLOOD = 0,
    ANOM_UDP_FLOOD,
    ANOM_ICMP_FLOOD,
    ANOM_REFLECTION,
    ANOM_SCAN_HORIZONTAL,
    ANOM_SCAN_VERTICAL,
    ANOM_HOST_SWEEP,
    ANOM_BRUTE_FORCE,
    ANOM_BEACONING,
    ANOM_DNS_TUNNEL,
    ANOM_EXFILTRATION,
    ANOM_PROTOCOL,
    ANOM_CLASS_MAX
};

/* "syn-flood", "udp-flood", ... (static string), NULL when out of range. */
const char *anomaly_class_name(enum anomaly_class c);

/* Fills the documented defaults. */
void anomaly_config_default(struct anomaly_config *cfg);

/* Sets one key ("syn_pps", "window_ms", "refl_ports" = "53,123", "bf_ports", ...) from text.
 * Returns 0, -ENOENT for an unknown key, -EINVAL for a bad value. */
int anomaly_config_set(struct anomaly_config *cfg, const char *key, const char *value);

/* Adds a protected network "10.0.0.0/8" or asset "192.0.2.10" (a /32 or /128) with a name and
 * a criticality 1..4. Longest prefix wins when several match. Returns 0, -EINVAL, -ENOSPC. */
int anomaly_config_add_network(struct anomaly_config *cfg, const char *prefix, const char *name,
                               unsigned criticality);

/* Checks ranges. Returns 0 or -EINVAL with a message naming the key in err. */
int anomaly_config_validate(const struct anomaly_config *cfg, char *err, size_t errlen);

struct tl_config;
struct cfg_node;
/* Parses the engine's pass-through `anomaly` section (sensor/engine/config.h): every scalar
 * key of anomaly_config_set() may appear, plus `networks:` as a sequence of maps
 * {prefix, name, criticality}. Starts from the values already in cfg. Returns 0 or -EINVAL
 * with "FILE:LINE: key ..." in err. node NULL (no section) leaves cfg unchanged. */
int anomaly_config_parse(struct anomaly_config *cfg, const struct tl_config *tl,
                         const struct cfg_node *node, char *err, size_t errlen);

struct anomaly_shared;
struct anomaly_worker;

/* Creates the merge state and long-lived tables with all their memory. NULL on allocation
 * failure or invalid config. Thread: main, before workers start. */
struct anomaly_shared *anomaly_shared_new(const struct anomaly_config *cfg);
void anomaly_shared_free(struct anomaly_shared *s);

/* Creates the state of worker worker_id (0 .. max_workers-1, each id once). Thread: main, before
 * workers start; the worker is then used by one thread only. Freed by anomaly_shared_free()
 * or earlier by anomaly_worker_free(). */
struct anomaly_worker *anomaly_worker_new(struct anomaly_shared *s, unsigned worker_id);
void anomaly_worker_free(struct anomaly_worker *w);

#define ANOMALY_BURST_MAX 64
/* A burst of n packets in packet order, as the engine's worker holds them after the flow
 * table's burst update: m[x] with the decoder's result res[x] (enum decode_result); each
 * DECODE_OK packet takes the next of flows[] / dirs[] (flow may be NULL) and is accounted as by
 * anomaly_packet(), each DECODE_INVALID one as by anomaly_decode_invalid(), others are skipped.
 * Same result as those calls one by one; first prefetches the entries the packets will update
 * (the flows' hints) or the probe lines of their keys. No allocation, no lock, no syscall. */
void anomaly_burst(struct anomaly_worker *w, const struct pkt_meta *m, const uint8_t *res, unsigned n,
                   struct flow *const *flows, const enum flow_dir *dirs);

/* Accounts one decoded packet (DECODE_OK) of flow f (may be NULL) in direction dir, in packet
 * order, after the flow table saw it (a burst update of several packets first is fine: the
 * stage keeps its own per-flow marks in f->anomaly_flags and reads neither the flow's packet
 * counters nor its TCP state). No allocation, no lock, no syscall. */
void anomaly_packet(struct anomaly_worker *w, const struct pkt_meta *m, struct flow *f,
                    enum flow_dir dir);

/* Accounts a packet the decoder found invalid (meta->reason set). */
void anomaly_decode_invalid(struct anomaly_worker *w, const struct pkt_meta *m);

/* A flow ended (the flow is freed after the call). Currently nothing needs it. */
void anomaly_flow_end(struct anomaly_worker *w, const struct flow *f);

/* Periodic work at packet time now_ns: publishes finished windows and, when this worker is the
 * last to pass a window, merges it and emits detection events through emit. Call from each
 * worker at least every window (also while idle, with the pipeline's packet time). */
void anomaly_tick(struct anomaly_worker *w, uint64_t now_ns, event_emit_fn emit, void *emit_ctx);

/* Merges everything still pending, then ends every open incident (END records). Call once
 * after all workers stopped, from one thread. */
void anomaly_shared_flush(struct anomaly_shared *s, event_emit_fn emit, void *emit_ctx);

struct anomaly_stats {
    uint64_t packets, windows_merged, events, emit_failed;
    uint64_t shard_overflow;   /* keys dropped because a per-window table was full */
    uint64_t track_evicted;    /* long-lived entries replaced when a table was full */
    uint64_t window_overrun;   /* a worker ran 4 windows ahead of the merge */
    uint64_t incidents_started, incidents_ended, incident_overflow;
    uint64_t dns_bad;          /* DNS queries that could not be parsed */
    uint64_t by_class[ANOM_CLASS_MAX]; /* incidents started per class */
};

/* Sums counters. Safe from any thread after workers stopped; approximate while running. */
void anomaly_get_stats(const struct anomaly_shared *s, struct anomaly_stats *out);

#endif
