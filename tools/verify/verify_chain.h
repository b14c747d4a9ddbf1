/* Checks a tamper-evident output (see sensor/output/chain.h): feed the records (JSON lines) in
 * the order they were stored, then verify_chain_finish() reports deleted, reordered and altered
 * records and checks every checkpoint's Ed25519 signature. Duplicates (at-least-once delivery)
 * with identical content are accepted. Used by tools/verify and the tests. */
#ifndef TRIPLINE_VERIFY_CHAIN_H
#define TRIPLINE_VERIFY_CHAIN_H

#include <stddef.h>
#include <stdint.h>

struct verify_result {
    uint64_t lines;       /* lines fed */
    uint64_t records;     /* distinct chained records */
    uint64_t duplicates;  /* identical copies (at-least-once delivery) */
    uint64_t deleted;     /* sequence numbers missing */
    uint64_t reordered;   /* records stored after a later one */
    uint64_t altered;     /* records whose hash breaks the chain, conflicting copies, bad lines */
    uint64_t checkpoints; /* checkpoints with a good signature */
    uint64_t bad_signatures;
    uint64_t unsigned_tail; /* records after the last good checkpoint (not yet signed) */
    uint64_t first_seq, last_seq;
};

typedef void (*verify_report_fn)(void *ctx, const char *msg);

struct verify_chain;

/* pk: the output's Ed25519 public key (32 bytes), or NULL to skip signature checks. */
struct verify_chain *verify_chain_new(const uint8_t *pk);
/* One stored line (without the newline). Returns 0 or -ENOMEM. */
int verify_chain_add(struct verify_chain *v, const char *line, size_t len);
/* Analyses everything fed; report gets one message per finding. Returns 0 when nothing was
 * deleted, reordered or altered and every signature checked out, else 1. */
int verify_chain_finish(struct verify_chain *v, struct verify_result *res, verify_report_fn report,
                        void *ctx);
void verify_chain_free(struct verify_chain *v);

#endif
