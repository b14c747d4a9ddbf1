/* Test harness shared by the app-layer keyword tests (test_applayer_detect.c,
 * test_applayer_keywords.c): rules loaded with the app layer's hooks, the real parsers fed
 * directly (no stream), and each completed transaction matched through detect_buffers() from
 * the pending store, as a worker does. Alerts are recorded by sid. Assertions are cmocka's:
 * call only from a cmocka test. */
#ifndef TRIPLINE_TEST_APPLAYER_HARNESS_H
#define TRIPLINE_TEST_APPLAYER_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "applayer.h"
#include "detect.h"
#include "rules.h"

#define HARNESS_MAX_ALERTS 512

struct harness {
    struct rules_report *rep;
    struct ruleset *rs;
    struct detect_engine *de;
    struct applayer_ctx *al;
    struct applayer_pending *pending;
    struct detect_thread *dt;
    uint32_t sids[HARNESS_MAX_ALERTS]; /* alerts in order (the first HARNESS_MAX_ALERTS) */
    unsigned n;
};

/* Loads rules (name for messages) with the app layer's keyword hooks, asserts that every rule
 * loaded, compiles them and builds the parsers (1 MiB pending store, 64 transactions) and a
 * detect thread wired to them. */
void harness_open(struct harness *h, const char *rules, const char *name);

/* Ends flows' app-layer state (the flows the test fed; NULL entries skipped), matches what they
 * left pending, and frees everything harness_open() built. */
void harness_close(struct harness *h, struct flow *const *flows, unsigned n_flows);

/* The parsers' transaction callback (applayer_tx_fn): ctx is a struct harness whose pending
 * store receives the transaction (asserted to fit). Usable alone with only al and pending set. */
void harness_on_tx(void *ctx, struct flow *f, const struct applayer_tx *tx, enum flow_dir dir);

/* Matches the pending transactions through detect_buffers() (packet metadata standing for the
 * flow's direction) and clears the store. */
void harness_flush_pending(struct harness *h);

/* A test flow: IPv4 10.0.0.1:40000 (client) -> 10.0.0.2:sport, established. */
void harness_flow_init(struct flow *f, uint8_t proto, uint16_t sport);

/* Feeds n bytes of TCP payload of direction dir to the parsers, then matches what completed. */
void harness_tcp(struct harness *h, struct flow *f, enum flow_dir dir, const void *d, size_t n);

/* Feeds one UDP payload, then matches what completed. */
void harness_udp(struct harness *h, struct flow *f, enum flow_dir dir, const void *d, size_t n);

/* How many alerts of sid were recorded. */
unsigned harness_count(const struct harness *h, uint32_t sid);

#endif
