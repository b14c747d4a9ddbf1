/* Configuration: a YAML file (libyaml) parsed once into typed structs, plus `--set` overrides.
 *
 * The file is first read into a small tree of nodes that remember their line, then every key
 * the engine knows is checked against a schema (type, range) and stored in struct tl_config.
 * Unknown keys, wrong types and out-of-range values are errors naming the key, the file and
 * the line. Two subtrees are passed through untyped for their stages to parse with
 * config_get(): `anomaly` (sensor/anomaly) and `outputs` (sensor/output). Messages from those
 * stages should use config_node_line() and config_file() in the same "FILE:LINE: key ..." form.
 *
 * Calling context: main thread, at start-up. The tree and struct are immutable afterwards and
 * may be read from any thread.
 */
#ifndef TRIPLINE_CONFIG_H
#define TRIPLINE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_kind { CFG_SCALAR = 0, CFG_MAP, CFG_SEQ };

/* One YAML node. Map entries and sequence items are children linked through `next`. */
struct cfg_node {
    enum cfg_kind kind;
    char *key;   /* key inside its parent map, NULL for sequence items and the root */
    char *value; /* scalar text, NULL otherwise */
    int line;    /* 1-based line in the file; 0 for values from --set or defaults */
    struct cfg_node *child, *next;
};

enum tl_runmode { RUNMODE_AUTOFP = 0, RUNMODE_SINGLE, RUNMODE_WORKERS };

#define TL_MAX_LIST 64

struct tl_var {
    char name[64];
    char value[512];
};

struct tl_config {
    char file[512]; /* config file path, "" when none */

    /* capture */
    char interface[64];
    char bpf_filter[512];
    uint32_t snaplen;
    bool promisc;
    double pcap_speed; /* 0: as fast as possible; N: N times real time */

    /* threads */
    enum tl_runmode runmode;
    uint32_t workers; /* 0: one per online CPU */
    char cpus[256];   /* "0-3,6": threads pinned in order (reader/output first), "" = no pinning */

    /* pipeline */
    uint32_t batch_ring;     /* batches queued per worker (reader -> worker) */
    uint32_t event_ring;     /* events queued per worker (worker -> output) */
    uint32_t event_overflow; /* per-worker overflow buffer behind a full event ring */

    /* memory limits (for the whole sensor; split evenly between workers) */
    uint64_t max_flows;
    uint32_t flow_hash_size; /* 0: 2 x flows */
    uint32_t max_frag_datagrams;
    uint64_t max_frag_bytes;
    uint64_t max_stream_bytes;

    /* flow timeouts, seconds of packet time */
    uint32_t to_tcp_new, to_tcp_established, to_tcp_closing, to_tcp_closed;
    uint32_t to_udp_new, to_udp_established, to_icmp_new, to_icmp_established;
    uint32_t to_default_new, to_default_established, to_default_closed;

    /* decoder */
    bool checksum_validation;
    uint32_t vxlan_port;
    uint32_t frag_timeout; /* seconds */

    /* rules */
    char rule_files[TL_MAX_LIST][512];
    unsigned n_rule_files;
    char default_rule_path[512];
    char classification_file[512];
    char threshold_file[512]; /* threshold.config-style suppress/threshold lines ("" = none) */

    /* TCP stream reassembly (sensor/stream), Suricata's keys */
    bool stream_midstream;   /* stream.midstream: reassemble sessions picked up mid-stream */
    uint64_t stream_depth;   /* stream.reassembly.depth: bytes per direction, 0 = unlimited */
    struct tl_var address_groups[TL_MAX_LIST];
    unsigned n_address_groups;
    struct tl_var port_groups[TL_MAX_LIST];
    unsigned n_port_groups;

    /* outputs */
    char log_dir[512];
    char eve_filename[256]; /* outputs.eve-log.filename, default eve.json */
    uint32_t stats_interval; /* seconds of wall time between stats events; 0 = off */
    char control_socket[108]; /* control socket path (control.h); "" = LOGDIR/tripline.sock,
                                 "off" = none */

    /* operations (metrics.h, log.h, privdrop.h) */
    bool metrics_enabled;
    char metrics_listen[128];  /* ADDRESS:PORT */
    uint32_t metrics_linger;   /* seconds to keep serving after the run ended (0 = exit at once) */
    char log_level[16];        /* error warning notice info debug */
    char log_to[16];           /* stderr | syslog */
    uint32_t log_rate_limit;   /* messages per second per message site (0 = unlimited) */
    char run_as_user[64];      /* "" = stay as started */
    char run_as_group[64];

    struct cfg_node *root; /* whole tree (after --set), for pass-through sections */
};

/* Fills cfg with the built-in defaults (those documented in tripline.yaml) and an empty tree. */
int config_init(struct tl_config *cfg);

/* Reads a YAML file into the tree. Returns 0, or -errno / -EINVAL with a message in err
 * ("FILE:LINE: ..."). Call config_finalize() afterwards. */
int config_load_file(struct tl_config *cfg, const char *path, char *err, size_t errlen);

/* Applies one `key=value` override (dotted key, as Suricata's --set). A list key takes a
 * comma-separated value. Returns 0 or -EINVAL with a message. */
int config_set(struct tl_config *cfg, const char *assignment, char *err, size_t errlen);

/* Validates the tree against the schema and fills the typed fields. Returns 0 or -EINVAL with a
 * message naming the key and its line ("FILE:LINE: key 'workers': ..."). */
int config_finalize(struct tl_config *cfg, char *err, size_t errlen);

/* Writes the effective configuration as YAML that config_load_file() reads back unchanged. */
void config_dump(const struct tl_config *cfg, FILE *out);

/* Frees the tree. cfg itself is the caller's. NULL is a no-op. */
void config_release(struct tl_config *cfg);

/* Finds a node by dotted path below node ("anomaly.syn_flood.pps"); a number selects a sequence
 * item ("rules.files.0"). NULL when absent. */
const struct cfg_node *config_get(const struct cfg_node *node, const char *path);

/* Typed reads of a scalar node for stages parsing pass-through sections. Each returns 0, -ENOENT
 * when node is NULL, or -EINVAL (wrong type / out of range) with "FILE:LINE: key 'k': ..." in err. */
int config_node_u64(const struct tl_config *cfg, const struct cfg_node *node, uint64_t min,
                    uint64_t max, uint64_t *out, char *err, size_t errlen);
int config_node_double(const struct tl_config *cfg, const struct cfg_node *node, double min,
                       double max, double *out, char *err, size_t errlen);
int config_node_bool(const struct tl_config *cfg, const struct cfg_node *node, bool *out, char *err,
                     size_t errlen);
/* Sizes accept suffixes kb, mb, gb (powers of 1024), as Suricata. */
int config_node_size(const struct tl_config *cfg, const struct cfg_node *node, uint64_t min,
                     uint64_t max, uint64_t *out, char *err, size_t errlen);

static inline int config_node_line(const struct cfg_node *n) { return n ? n->line : 0; }
/* File name for messages ("<defaults>" when no file was loaded). */
const char *config_file(const struct tl_config *cfg);

/* Parses a CPU list "0-3,6" into cpus[] (at most max). Returns the count or -EINVAL. */
int config_parse_cpus(const char *list, int *cpus, int max);

#endif
