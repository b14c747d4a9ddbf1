/* Rule language: Suricata/Snort rule syntax parsed into an immutable rule set.
 *
 * A ruleset is loaded once (start-up or reload) from rule files, with address/port variables
 * (HOME_NET, EXTERNAL_NET, HTTP_PORTS ... as in Suricata's suricata.yaml), a
 * classification.config and an optional threshold.config. A rule that cannot be parsed, or uses
 * a keyword this build does not support, is skipped: the load report gets one line
 * `file:line sid N: reason` and loading goes on. sensor/detect compiles a loaded ruleset into
 * Hyperscan databases (detect_engine_new); the parsed form it reads is in rules_core.h.
 *
 * Threads: loading runs on the control thread. A loaded ruleset is immutable and may be read by
 * every worker at once without locks.
 *
 * Rule metadata lifetime: every struct rule_meta is allocated in a struct rule_meta_store. Alerts
 * (struct event_alert.rule) point at it and may still sit in output queues after a reload has
 * replaced and freed the ruleset, so the sensor keeps ONE store for the whole process, passes it
 * to every ruleset_load(), and frees it only at exit (rule_meta_store_free). A rule_meta thus
 * lives until the sensor exits, across reloads. Loading without a store (NULL) makes the ruleset
 * own a private store freed with it: for tools and tests only.
 */
#ifndef TRIPLINE_RULES_H
#define TRIPLINE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum rule_action {
    RULE_ACTION_ALERT = 1,
    RULE_ACTION_PASS,   /* a match suppresses every other alert on the packet (and, for flow
                           matches, Suricata semantics: the rest of the packet's rules) */
    RULE_ACTION_DROP,   /* passive sensor: raises an alert like `alert` (EVE alert.action
                           "allowed", as Suricata in IDS mode); the action is kept here so an
                           output can mark it */
    RULE_ACTION_REJECT, /* as drop */
};

/* "alert", "pass", "drop", "reject" */
const char *rule_action_name(enum rule_action a);

/* One metadata key with its values, in rule order: `metadata: created_at 2010_07_30, tag a,
 * tag b;` gives {created_at: [2010_07_30]}, {tag: [a, b]}. */
struct rule_metadata_kv {
    const char *key;
    const char *const *values;
    uint32_t n_values;
};

/* A `reference:system,id;` option. */
struct rule_reference {
    const char *system; /* "url", "cve", ... */
    const char *id;
};

/* What an alert needs to be written (EVE `alert` object). Strings are NUL-terminated, UTF-8 as
 * written in the rule (escapes `\;` `\"` `\\` resolved). Immutable once loaded; lives in a
 * rule_meta_store (see the lifetime note above). */
struct rule_meta {
    const char *msg;       /* alert.signature; "" if the rule has no msg */
    const char *classtype; /* short name, NULL if none */
    const char *category;  /* classification.config description ("Attempted Information
                              Leak"), NULL if no classtype; alert.category */
    uint8_t priority;      /* 1 (highest) .. 255: `priority:` option, else classtype's, else 3;
                              alert.severity */
    uint8_t action;        /* enum rule_action */
    uint32_t sid, gid, rev; /* gid defaults to 1, rev to 0 */
    const struct rule_metadata_kv *metadata; /* NULL if none */
    uint32_t n_metadata;
    /* The same metadata preformatted as a JSON object, Suricata's EVE shape:
     * {"created_at":["2010_07_30"],"tag":["a","b"]}; NULL if the rule has none. */
    const char *metadata_json;
    const struct rule_reference *references;
    uint32_t n_references;
    const char *raw;       /* the rule text as loaded (one line, continuations joined) */
    const char *file;      /* file it came from (basename kept as given) */
    uint32_t line;         /* first line of the rule in that file */
};

/* ---- metadata store ---- */

struct rule_meta_store;

/* Creates an empty store. NULL on allocation failure. */
struct rule_meta_store *rule_meta_store_new(void);
/* Frees the store and every rule_meta in it; call only when no alert can point into it. */
void rule_meta_store_free(struct rule_meta_store *st);

/* ---- variables ---- */

struct rules_vars;

/* Creates the variable set with Suricata's suricata.yaml defaults: HOME_NET
 * [192.168.0.0/16,10.0.0.0/8,172.16.0.0/12], EXTERNAL_NET !$HOME_NET, *_SERVERS $HOME_NET
 * (AIM_SERVERS $EXTERNAL_NET), HTTP_PORTS 80, SHELLCODE_PORTS !80, ORACLE_PORTS 1521,
 * SSH_PORTS 22, DNP3_PORTS 20000, MODBUS_PORTS 502, FILE_DATA_PORTS [$HTTP_PORTS,110,143],
 * FTP_PORTS 21, GENEVE_PORTS 6081, VXLAN_PORTS 4789, TEREDO_PORTS 3544, SIP_PORTS [5060,5061].
 * NULL on allocation failure. */
struct rules_vars *rules_vars_new(void);
void rules_vars_free(struct rules_vars *v);

/* Sets (or replaces) an address variable (`HOME_NET`, without `$`) or a port variable
 * (`HTTP_PORTS`). The value is an expression as rules write it and may use other variables;
 * it is resolved when rules are loaded. Returns 0, -EINVAL (bad name) or -ENOMEM. */
int rules_vars_set_address(struct rules_vars *v, const char *name, const char *value);
int rules_vars_set_port(struct rules_vars *v, const char *name, const char *value);

/* ---- loading ---- */

/* Hooks through which the sensor tells the parser what its app layer supports, so rules/ needs
 * nothing of sensor/. Both may be NULL: then app-layer protocols and sticky buffers are
 * unsupported and rules using them are skipped ("unsupported protocol http", "unsupported
 * keyword http.uri"). */
struct rules_applayer_hooks {
    /* Protocol id (> 0, the sensor's enum app_proto) of a rule protocol name such as "http",
     * "tls", "dns"; 0 if unknown. */
    int (*app_proto)(void *ctx, const char *name);
    /* Buffer id (> 0, the sensor's enum app_buffer) of a sticky-buffer keyword ("http.uri",
     * "http_uri", "dns.query", "file.data"); 0 if not supported. The id is stored in the
     * content's list (rules_core.h: RULE_BUF_APP_BASE + id). */
    int (*sticky_buffer)(void *ctx, const char *keyword);
    void *ctx;
};

struct rules_load_config {
    const struct rules_vars *vars;    /* NULL: defaults */
    const char *classification_path;  /* NULL: the built-in list (Suricata's / ET Open's) */
    const char *threshold_path;       /* NULL: none; threshold.config lines (threshold,
                                         suppress, event_filter, rate_filter is skipped) */
    struct rule_meta_store *meta_store; /* where rule_meta live; NULL: the ruleset owns one */
    struct rules_applayer_hooks applayer;
};

/* Zeroes cfg (defaults). */
void rules_load_config_default(struct rules_load_config *cfg);

/* Load report: how many rules loaded, how many failed and why. */
struct rules_report;

struct rules_report *rules_report_new(void);
void rules_report_free(struct rules_report *r);
unsigned rules_report_loaded(const struct rules_report *r);
unsigned rules_report_failed(const struct rules_report *r);
/* Number of distinct reasons; reason i's text ("unsupported keyword http.uri") and count,
 * sorted by count, most frequent first. NULL past the end. */
unsigned rules_report_n_reasons(const struct rules_report *r);
const char *rules_report_reason(const struct rules_report *r, unsigned i, unsigned *count);
/* Failure i as one line `file:line sid N: reason` (sid 0 if none could be read); NULL past the
 * end. Also holds errors of the config files (classification, threshold) in the same form. */
unsigned rules_report_n_failures(const struct rules_report *r);
const char *rules_report_failure(const struct rules_report *r, unsigned i);
/* Prints "N rules loaded, M failed" then one line per reason group "  count  reason"; with
 * verbose, then every failure line. */
void rules_report_print(const struct rules_report *r, FILE *out, bool verbose);

struct ruleset;

/* Loads rules from n files (a file that cannot be opened is a report line, not an error). The
 * report (may be NULL) is appended to. Returns the ruleset (possibly with zero rules), or NULL
 * when a config file named in cfg cannot be read or on allocation failure; err gets why. */
struct ruleset *ruleset_load_files(const struct rules_load_config *cfg, const char *const *files,
                                   unsigned n_files, struct rules_report *report, char *err,
                                   size_t errlen);

/* As ruleset_load_files() from a string of rules (one per line, `\` continuations allowed);
 * `name` is used as the file name in report lines. For tools and tests. */
struct ruleset *ruleset_load_string(const struct rules_load_config *cfg, const char *text,
                                    const char *name, struct rules_report *report, char *err,
                                    size_t errlen);

void ruleset_free(struct ruleset *rs);

/* Number of loaded rules. */
unsigned ruleset_count(const struct ruleset *rs);
/* Metadata of loaded rule i (0 .. count-1); NULL past the end. */
const struct rule_meta *ruleset_meta(const struct ruleset *rs, unsigned i);
/* 64-bit hash of the loaded rules' text, the variables and the threshold config: the key of
 * the compiled-database cache. */
uint64_t ruleset_hash(const struct ruleset *rs);

/* Name of a flowbit by id (ids are stored in struct flow.flowbits[]); NULL if unknown. */
const char *ruleset_flowbit_name(const struct ruleset *rs, uint16_t id);

#endif
