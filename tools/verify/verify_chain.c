#include "verify_chain.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "chain.h"
#include "keyfile.h"

struct vrec {
    uint64_t seq;
    uint64_t line_no;
    uint8_t hash[CHAIN_HASH_LEN];
    uint8_t prev[CHAIN_HASH_LEN];
    bool checkpoint;
    bool sig_ok;
    bool dup; /* set by finish */
};

struct verify_chain {
    bool check_sig;
    uint8_t pk[CHAIN_PK_LEN];
    struct vrec *r;
    size_t n, cap;
    uint64_t lines, bad_lines;
    verify_report_fn report;
    void *ctx;
    /* problems found while adding */
    char **early;
    size_t nearly;
};

static void say(struct verify_chain *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct verify_chain *v, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (v->report)
        v->report(v->ctx, msg);
}

struct verify_chain *verify_chain_new(const uint8_t *pk)
{
    if (sodium_init() < 0)
        return NULL;
    struct verify_chain *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    if (pk) {
        v->check_sig = true;
        memcpy(v->pk, pk, CHAIN_PK_LEN);
    }
    return v;
}

static int note(struct verify_chain *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int note(struct verify_chain *v, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char **n = realloc(v->early, (v->nearly + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    v->early = n;
    v->early[v->nearly] = strdup(msg);
    if (!v->early[v->nearly])
        return -ENOMEM;
    v->nearly++;
    return 0;
}

int verify_chain_add(struct verify_chain *v, const char *line, size_t len)
{
    v->lines++;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (!len)
        return 0;
    json_error_t e;
    json_t *j = json_loadb(line, len, 0, &e);
    json_t *seq = j ? json_object_get(j, "tripline_seq") : NULL;
    json_t *prev = j ? json_object_get(j, "prev_hash") : NULL;
    struct vrec r = {.line_no = v->lines};
    if (!j || !json_is_integer(seq) || json_integer_value(seq) < 0 || !json_is_string(prev) ||
        keyfile_unhex(json_string_value(prev), json_string_length(prev), r.prev, CHAIN_HASH_LEN) < 0) {
        v->bad_lines++;
        json_decref(j);
        return note(v, "ALTERED line %" PRIu64 ": %s", v->lines,
                    j ? "no valid tripline_seq/prev_hash (not a chained record)" : "not valid JSON");
    }
    r.seq = (uint64_t)json_integer_value(seq);
    chain_hash(line, len, r.hash);
    const char *type = json_string_value(json_object_get(j, "event_type"));
    if (type && !strcmp(type, "checkpoint")) {
        r.checkpoint = true;
        json_t *sig = json_object_get(j, "signature");
        uint8_t s[CHAIN_SIG_LEN];
        char msg[CHAIN_MSG_MAX];
        size_t ml = chain_checkpoint_message(r.seq, r.prev, msg);
        r.sig_ok = json_is_string(sig) &&
                   keyfile_unhex(json_string_value(sig), json_string_length(sig), s, sizeof(s)) == 0 &&
                   (!v->check_sig ||
                    crypto_sign_verify_detached(s, (const unsigned char *)msg, ml, v->pk) == 0);
    }
    json_decref(j);
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        struct vrec *nr = realloc(v->r, cap * sizeof(*nr));
        if (!nr)
            return -ENOMEM;
        v->r = nr;
        v->cap = cap;
    }
    v->r[v->n++] = r;
    return 0;
}

static int cmp_line(const void *a, const void *b)
{
    const struct vrec *x = a, *y = b;
    return x->line_no < y->line_no ? -1 : x->line_no > y->line_no;
}

static int cmp_seq(const void *a, const void *b)
{
    const struct vrec *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->line_no < y->line_no ? -1 : x->line_no > y->line_no;
}

int verify_chain_finish(struct verify_chain *v, struct verify_result *res, verify_report_fn report,
                        void *ctx)
{
    memset(res, 0, sizeof(*res));
    v->report = report;
    v->ctx = ctx;
    res->lines = v->lines;
    res->altered = v->bad_lines;
    for (size_t i = 0; i < v->nearly; i++)
        say(v, "%s", v->early[i]);

    /* identical copies (resends) are marked first so that they do not count as moves */
    qsort(v->r, v->n, sizeof(*v->r), cmp_seq);
    for (size_t i = 1; i < v->n; i++)
        for (size_t k = i; k-- > 0 && v->r[k].seq == v->r[i].seq;)
            if (!v->r[k].dup && !memcmp(v->r[k].hash, v->r[i].hash, CHAIN_HASH_LEN)) {
                v->r[i].dup = true;
                break;
            }
    qsort(v->r, v->n, sizeof(*v->r), cmp_line);
    /* stored order: a record after one with a higher number was moved */
    uint64_t max = 0;
    bool any = false;
    for (size_t i = 0; i < v->n; i++) {
        if (v->r[i].dup)
            continue;
        if (any && v->r[i].seq < max) {
            res->reordered++;
            say(v, "REORDERED seq %" PRIu64 " (line %" PRIu64 ") stored after seq %" PRIu64,
                v->r[i].seq, v->r[i].line_no, max);
        }
        if (!any || v->r[i].seq > max)
            max = v->r[i].seq;
        any = true;
    }

    qsort(v->r, v->n, sizeof(*v->r), cmp_seq);
    const struct vrec *prev = NULL;
    uint64_t last_good_ckpt = 0;
    bool have_ckpt = false;
    for (size_t i = 0; i < v->n; i++) {
        struct vrec *r = &v->r[i];
        if (prev && prev->seq == r->seq) {
            if (r->dup) {
                res->duplicates++;
            } else {
                res->altered++;
                say(v, "ALTERED seq %" PRIu64 ": lines %" PRIu64 " and %" PRIu64 " differ", r->seq,
                    prev->line_no, r->line_no);
            }
            continue;
        }
        res->records++;
        if (!prev) {
            res->first_seq = r->seq;
        } else if (r->seq > prev->seq + 1) {
            res->deleted += r->seq - prev->seq - 1;
            if (r->seq - prev->seq == 2)
                say(v, "DELETED seq %" PRIu64, prev->seq + 1);
            else
                say(v, "DELETED seq %" PRIu64 "..%" PRIu64, prev->seq + 1, r->seq - 1);
        } else if (memcmp(prev->hash, r->prev, CHAIN_HASH_LEN) != 0) {
            res->altered++;
            say(v, "ALTERED seq %" PRIu64 " (line %" PRIu64 "): its hash does not match prev_hash of seq %" PRIu64,
                prev->seq, prev->line_no, r->seq);
        }
        if (r->checkpoint) {
            if (r->sig_ok) {
                res->checkpoints++;
                last_good_ckpt = r->seq;
                have_ckpt = true;
            } else {
                res->bad_signatures++;
                say(v, "BAD SIGNATURE checkpoint seq %" PRIu64 " (line %" PRIu64 ")", r->seq, r->line_no);
            }
        }
        res->last_seq = r->seq;
        prev = r;
    }
    for (size_t i = 0; i < v->n; i++)
        if ((!have_ckpt || v->r[i].seq > last_good_ckpt) && (i == 0 || v->r[i].seq != v->r[i - 1].seq))
            res->unsigned_tail++;
    if (res->unsigned_tail)
        say(v, "NOTE %" PRIu64 " records after the last good checkpoint are not covered by a signature yet",
            res->unsigned_tail);
    bool bad = res->deleted || res->reordered || res->altered || res->bad_signatures;
    return bad ? 1 : 0;
}

void verify_chain_free(struct verify_chain *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nearly; i++)
        free(v->early[i]);
    free(v->early);
    free(v->r);
    free(v);
}
