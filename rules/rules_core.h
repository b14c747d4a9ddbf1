/* Parsed form of a rule, read by the compiler and matcher in sensor/detect.
 *
 * Everything here is immutable once ruleset_load_*() returns, and owned by the ruleset.
 *
 * A rule's payload conditions are kept in lists, one per buffer: RULE_BUF_PAYLOAD (the packet
 * payload or, for TCP, the reassembled stream, as the rule's protocol says) and app-layer sticky
 * buffers (RULE_BUF_APP_BASE + the sensor's enum app_buffer, enabled through
 * rules_applayer_hooks.sticky_buffer). Each list is an ordered chain of items (content, pcre,
 * byte_test, byte_jump, byte_extract, isdataat) where "relative" means relative to the end of
 * the previous item's match in the same list, as in Suricata.
 */
#ifndef TRIPLINE_RULES_CORE_H
#define TRIPLINE_RULES_CORE_H

#include <stdbool.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "rules.h"

#define RULE_BUF_PAYLOAD 0
#define RULE_BUF_APP_BASE 16
/* Transformed sticky buffers (`dns.query; dotprefix;`): ids from here on name a (base buffer,
 * transform chain) pair of the ruleset (ruleset_xforms()); the matcher derives them from the
 * base buffer with rules_xform_expand() (rules_xform.h). */
#define RULE_BUF_XFORM_BASE 256

#define RULE_MAX_VARS 8       /* byte_extract variables per rule */
#define RULE_MAX_FLOWBITS 8   /* names in one flowbits option (a|b, a&b) */
#define RULE_VAR_NONE (-1)

/* Numeric comparison (dsize, ttl, itype, icode, icmp_id, icmp_seq, ip_proto). */
enum rule_num_op { NUM_NONE = 0, NUM_EQ, NUM_NE, NUM_LT, NUM_LE, NUM_GT, NUM_GE, NUM_RANGE };
struct rule_num {
    uint8_t op;    /* NUM_NONE: not used */
    uint64_t a, b; /* NUM_RANGE: a < x < b (exclusive, as Suricata's `a<>b`) */
};
bool rule_num_match(const struct rule_num *n, uint64_t x);

/* Address set: normalised (sorted, merged) inclusive ranges. IPv6 as 128-bit integers. */
struct rule_range4 { uint32_t lo, hi; };
struct rule_range6 { unsigned __int128 lo, hi; };
struct rule_addrs {
    bool any;
    uint32_t n4, n6;
    struct rule_range4 *v4;
    struct rule_range6 *v6;
};
/* addr: 16 bytes as in pkt_meta (IPv4 in the first 4). */
bool rule_addrs_match(const struct rule_addrs *a, const uint8_t *addr, bool v6);

struct rule_prange { uint16_t lo, hi; };
struct rule_ports {
    bool any;
    uint32_t n;
    struct rule_prange *r;
};
bool rule_ports_match(const struct rule_ports *p, uint16_t port);

enum rule_item_type {
    RI_CONTENT = 1,
    RI_PCRE,
    RI_BYTE_TEST,
    RI_BYTE_JUMP,
    RI_BYTE_EXTRACT,
    RI_ISDATAAT,
};

/* content flags */
#define CF_NOCASE (1u << 0)
#define CF_NEGATED (1u << 1)
#define CF_OFFSET (1u << 2)
#define CF_DEPTH (1u << 3)
#define CF_DISTANCE (1u << 4)
#define CF_WITHIN (1u << 5)
#define CF_STARTSWITH (1u << 6)
#define CF_ENDSWITH (1u << 7)
#define CF_FAST_PATTERN (1u << 8) /* fast_pattern given */
#define CF_FP_ONLY (1u << 9)      /* fast_pattern:only (still verified: harmless) */
#define CF_FP_CHOP (1u << 10)     /* fast_pattern:offset,length */
#define CF_RELATIVE (CF_DISTANCE | CF_WITHIN)

struct rule_content {
    uint8_t *pat;
    uint32_t len;
    uint32_t flags;
    int32_t offset, depth, distance, within;
    int8_t offset_var, depth_var, distance_var, within_var; /* byte_extract var or -1 */
    uint16_t fp_off, fp_len; /* CF_FP_CHOP */
};

#define PF_RELATIVE (1u << 0)
#define PF_NEGATED (1u << 1)
struct rule_pcre {
    pcre2_code *re;
    uint32_t flags;
    bool anchored; /* starts with ^ or has /A: anchors at the start of the inspected data */
    char *src; /* as written, for messages */
};

/* byte_* flags */
#define BF_RELATIVE (1u << 0)
#define BF_LITTLE (1u << 1)
#define BF_STRING (1u << 2)
#define BF_HEX (1u << 3)
#define BF_OCT (1u << 4)
#define BF_DEC (1u << 5)
#define BF_ALIGN (1u << 6)
#define BF_FROM_BEGINNING (1u << 7)
#define BF_FROM_END (1u << 8)
#define BF_DCE (1u << 9)
#define BF_BITMASK (1u << 10)
#define BF_NEGATE (1u << 11)

enum byte_op { BOP_LT = 1, BOP_GT, BOP_EQ, BOP_LE, BOP_GE, BOP_AND, BOP_OR };

struct rule_byte {
    uint8_t nbytes;
    uint8_t op;        /* byte_test */
    uint8_t var;       /* byte_extract: variable slot written */
    uint8_t align;     /* byte_extract align 2/4 */
    uint32_t flags;
    int32_t offset;
    int8_t offset_var;
    int8_t value_var;  /* byte_test value from a variable */
    int8_t nbytes_var; /* byte_test/byte_jump byte count from a variable (Suricata 7), or -1 */
    uint64_t value;    /* byte_test */
    uint32_t multiplier; /* byte_jump/byte_extract, 1 if none */
    int32_t post_offset;
    uint64_t bitmask;
};

/* A byte_test/byte_jump whose byte count is a byte_extract variable, with the count taken from
 * vars into *tmp; NULL when the value is not a valid count (1..8, 1..23 with string). */
static inline const struct rule_byte *rules_byte_resolve(const struct rule_byte *b,
                                                         const uint64_t *vars,
                                                         struct rule_byte *tmp)
{
    uint64_t k = vars[b->nbytes_var];
    if (k < 1 || k > ((b->flags & BF_STRING) ? 23u : 8u))
        return NULL;
    *tmp = *b;
    tmp->nbytes = (uint8_t)k;
    return tmp;
}

struct rule_isdataat {
    int32_t value;
    int8_t value_var;
    bool relative, negated;
};

struct rule_item {
    uint8_t type; /* enum rule_item_type */
    bool relative; /* positioned after the previous item's match */
    union {
        struct rule_content c;
        struct rule_pcre p;
        struct rule_byte b;
        struct rule_isdataat d;
    } u;
};

struct rule_list {
    uint16_t buffer; /* RULE_BUF_PAYLOAD, RULE_BUF_APP_BASE + id or RULE_BUF_XFORM_BASE + k */
    uint16_t n;
    struct rule_item *items;
    /* bsize (and urilen on http.uri / http.uri.raw): the length of the inspected buffer, after
     * transforms; NUM_NONE when not given. A list may hold only this (no items). */
    struct rule_num bsize;
};

/* flow: keyword */
#define FLOW_TO_SERVER_F (1u << 0)
#define FLOW_TO_CLIENT_F (1u << 1)
#define FLOW_ESTABLISHED_F (1u << 2)
#define FLOW_NOT_ESTABLISHED_F (1u << 3)
#define FLOW_STATELESS_F (1u << 4)
#define FLOW_ONLY_STREAM_F (1u << 5)
#define FLOW_NO_STREAM_F (1u << 6)
#define FLOW_ONLY_FRAG_F (1u << 7)
#define FLOW_NO_FRAG_F (1u << 8)

enum flowbit_cmd { FB_SET = 1, FB_UNSET, FB_TOGGLE, FB_ISSET, FB_ISNOTSET };
struct rule_flowbit {
    uint8_t cmd;
    uint8_t n;
    bool any_of; /* a|b: any (isset/isnotset); default all (a&b) */
    uint16_t ids[RULE_MAX_FLOWBITS];
};

enum threshold_type { TH_NONE = 0, TH_LIMIT, TH_THRESHOLD, TH_BOTH, TH_BACKOFF, TH_DETECTION_FILTER };
enum threshold_track { TRACK_SRC = 1, TRACK_DST, TRACK_RULE, TRACK_BOTH, TRACK_FLOW, TRACK_EITHER };
struct rule_threshold {
    uint8_t type;  /* enum threshold_type */
    uint8_t track; /* enum threshold_track */
    uint32_t count;
    uint32_t seconds;
    uint32_t multiplier; /* backoff */
};

/* threshold.config `suppress`: no alert when the tracked address is in addrs (or always when
 * track is 0). */
struct rule_suppress {
    uint8_t track; /* 0 (all), TRACK_SRC, TRACK_DST, TRACK_EITHER */
    struct rule_addrs addrs;
};

/* stream_size: keyword */
enum stream_size_side { SS_SERVER = 1, SS_CLIENT, SS_BOTH, SS_EITHER };

/* rule flags */
#define RF_BIDIR (1u << 0)       /* <> */
#define RF_TCP_PKT (1u << 1)     /* tcp-pkt: packets only */
#define RF_TCP_STREAM (1u << 2)  /* tcp-stream: stream only */
#define RF_NOALERT (1u << 3)     /* flowbits:noalert or noalert */
#define RF_IPONLY (1u << 4)      /* no payload, no L4 header condition, no flow: by address */
#define RF_HAS_PAYLOAD (1u << 5) /* has a RULE_BUF_PAYLOAD list */
#define RF_HAS_APPBUF (1u << 6)  /* has a sticky-buffer list */
#define RF_BYPASS (1u << 7)      /* bypass: a match bypasses the flow (no more inspection) */

/* app-layer-protocol: the flow's detected protocol is (or, negated, is known and is not) proto.
 * A rule may give several; all must hold. */
#define RULE_MAX_ALPROTO 4
struct rule_alproto {
    uint16_t proto; /* the sensor's enum app_proto (through rules_applayer_hooks.app_proto) */
    bool negated;
};

/* Whether the conditions hold for a flow's app_proto (0: not detected yet). Suricata: a negated
 * protocol does not match while detection is still undecided. */
static inline bool rule_alproto_match(const struct rule_alproto *a, unsigned n, uint16_t app_proto)
{
    for (unsigned i = 0; i < n; i++) {
        if (a[i].negated ? (app_proto == 0 || app_proto == a[i].proto) : app_proto != a[i].proto)
            return false;
    }
    return true;
}

struct rule {
    struct rule_meta *meta;
    uint32_t idx;      /* index in the ruleset */
    uint8_t action;    /* enum rule_action */
    uint8_t ipproto;   /* 0: any IP; 6 tcp; 17 udp; 1 icmp (matches ICMPv6 too) */
    uint16_t app_proto;/* 0: none; the sensor's enum app_proto */
    uint32_t flags;    /* RF_* */
    uint8_t ipver;     /* 0 any, 4, 6 (from ip4/ip6 addresses only... kept 0) */
    struct rule_addrs src, dst;
    struct rule_ports sp, dp;

    struct rule_num dsize, ttl, itype, icode, icmp_id, icmp_seq, ip_proto;
    /* flags: (flags & ~ignore) compared with value by mode */
    uint8_t tcp_flags_set;   /* 1 if flags: given */
    uint8_t tcp_flags_mode;  /* 0 exact, '+', '*', '!' */
    uint8_t tcp_flags_value, tcp_flags_ignore;
    uint16_t flow_flags;
    uint8_t stream_size_side; /* 0: none */
    struct rule_num stream_size;
    uint8_t n_alproto;        /* app-layer-protocol conditions */
    struct rule_alproto alproto[RULE_MAX_ALPROTO];

    uint8_t n_flowbits;
    struct rule_flowbit *flowbits;

    struct rule_threshold threshold;        /* threshold: (or threshold.config) */
    struct rule_threshold detection_filter;
    uint32_t n_suppress;
    struct rule_suppress *suppress;

    uint16_t n_lists;
    struct rule_list *lists;
    int16_t fp_list, fp_item; /* fast pattern (a positive content), -1 if none */
    uint8_t n_vars;           /* byte_extract variables used */
    uint8_t priority;         /* = meta->priority */
};

/* The rules of a ruleset, in load order. */
const struct rule *ruleset_rules(const struct ruleset *rs, unsigned *n);
/* Number of interned flowbit names (ids are 0 .. n-1). */
unsigned ruleset_n_flowbits(const struct ruleset *rs);

#endif
