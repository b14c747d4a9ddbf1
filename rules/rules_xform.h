/* Sticky-buffer transforms (Suricata's `dotprefix`, `to_lowercase`, ...).
 *
 * A rule writes a transform right after its sticky buffer (`dns.query; dotprefix;
 * content:".evil.com"; endswith;`): the list's contents are matched against the transformed
 * buffer. The parser gives every distinct (base buffer, transform chain) pair of a ruleset an
 * id of its own, RULE_BUF_XFORM_BASE + k (struct rule_list.buffer), so the matcher compiles and
 * scans transformed buffers like any other buffer. It derives them per transaction with
 * rules_xform_expand() from the base buffers the app layer hands over.
 *
 * Threads: ruleset_xforms() is immutable after loading; a rules_xform_scratch belongs to one
 * worker. rules_xform_expand() does not allocate.
 */
#ifndef TRIPLINE_RULES_XFORM_H
#define TRIPLINE_RULES_XFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "rules.h"

enum rule_xform_op {
    XF_DOTPREFIX = 1,        /* prepends "." (so ".example.com" matches the name and subdomains) */
    XF_TO_LOWERCASE,         /* A-Z -> a-z */
    XF_TO_UPPERCASE,         /* a-z -> A-Z */
    XF_STRIP_WHITESPACE,     /* drops every space, \t, \n, \v, \f, \r */
    XF_COMPRESS_WHITESPACE,  /* each run of whitespace becomes its first character */
    XF_URL_DECODE,           /* %XX decoded, '+' to space; a bad escape is kept as is */
    XF_MAX
};

#define RULE_MAX_XFORM_OPS 4

/* A transformed buffer of a ruleset: base buffer, then ops in order. */
struct rule_xform {
    uint16_t id;   /* RULE_BUF_XFORM_BASE + index */
    uint16_t base; /* RULE_BUF_APP_BASE + enum app_buffer */
    uint8_t n_ops;
    uint8_t ops[RULE_MAX_XFORM_OPS];
};

/* Transform of a keyword name ("dotprefix"); 0 if name is not a transform. */
enum rule_xform_op rules_xform_from_name(const char *name);
/* Name of a transform ("dotprefix"). */
const char *rules_xform_name(enum rule_xform_op op);

/* The ruleset's transformed buffers (ids RULE_BUF_XFORM_BASE + i). */
const struct rule_xform *ruleset_xforms(const struct ruleset *rs, unsigned *n);

/* Bytes a chain may write for an input of len bytes (dotprefix adds one each). */
static inline uint32_t rules_xform_out_max(const struct rule_xform *x, uint32_t len)
{
    uint32_t extra = 0;
    for (unsigned i = 0; i < x->n_ops; i++)
        extra += x->ops[i] == XF_DOTPREFIX;
    return len + extra;
}

/* Applies x's chain to in[0..len) into out, which must hold rules_xform_out_max(x, len) bytes.
 * Returns the output length. */
uint32_t rules_xform_apply(const struct rule_xform *x, const uint8_t *in, uint32_t len,
                           uint8_t *out);

/* One buffer handed to the matcher; the layout of sensor/detect's struct detect_buffer. */
struct rule_buf {
    uint16_t id;
    const uint8_t *data;
    uint32_t len;
};

/* A worker's room for transformed buffers: `bytes` of data and up to `max_bufs` buffers in all
 * (inputs included). NULL on allocation failure; a ruleset without transforms needs none (NULL
 * is then accepted by rules_xform_expand()). */
struct rules_xform_scratch;
struct rules_xform_scratch *rules_xform_scratch_new(const struct ruleset *rs, uint32_t bytes,
                                                    unsigned max_bufs);
void rules_xform_scratch_free(struct rules_xform_scratch *s);

/* Returns the buffers to inspect: in[0..n) followed by every transformed buffer of the ruleset
 * whose base is among them (once per input buffer, so a multi-value buffer such as dns.query
 * gives one transformed buffer per value). *n_out gets the count. Without transforms (or with
 * s NULL) returns in itself. A buffer that does not fit the scratch is left out and counted
 * (rules_xform_dropped). Valid until the next call. Caller: the owning worker. */
const struct rule_buf *rules_xform_expand(struct rules_xform_scratch *s, const struct rule_buf *in,
                                          unsigned n, unsigned *n_out);

/* Transformed buffers left out because the scratch was full. */
uint64_t rules_xform_dropped(const struct rules_xform_scratch *s);

#endif
