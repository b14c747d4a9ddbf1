/* Rule sets of a running sensor and their live reload (engine-private).
 *
 * A generation is one loaded rule set: variables, ruleset, compiled detect engine; immutable once
 * published. struct reload holds the current generation behind an atomic pointer and a
 * generation number. A reload (control thread: SIGUSR2 or `tripline-ctl reload-rules`):
 *
 *  1. re-reads the configured rule files and compiles them beside the running engine; a file
 *     that cannot be read, zero loaded rules or a failed compile leave the running rules in
 *     place (the reason is returned and logged, reloads_failed counted);
 *  2. creates one detect thread per worker for the new engine (allocation off the workers) and
 *     the flowbit id map old -> new (ids are interned per ruleset, by name);
 *  3. publishes the generation (release store);
 *  4. each worker, between two batches, sees the new number (reload_pending), takes its detect
 *     thread, moves its TCP reassembly state into it (detect_thread_take_stream: every flow's
 *     stream stays valid), remaps the flowbits of its flows, and acknowledges with the packet
 *     time it switched at. Every packet is therefore matched by exactly one rule set: those of
 *     batches before the switch by the old one, the rest by the new one;
 *  5. an old generation is freed (engine, the workers' old detect threads, and the ruleset whose
 *     rule metadata queued alert events point at) by the control thread once it is retirable:
 *     every worker acknowledged the switch, and the output thread has finished with every event
 *     each worker emitted before it. That is an event fence per worker: a worker numbers the
 *     events it emits (one plain counter) and records that number when it switches
 *     (reload_worker_switch's ev_seq); the output thread publishes, per worker, how many of its
 *     events it has written (reload_output_progress). Events leave a worker in order (ring and
 *     overflow are one FIFO), so consumed >= fence means no event of the old rules is queued.
 *     At most two generations are alive: a reload waits (bounded) for the previous one to be
 *     retired, else it is refused with -EBUSY.
 *
 * Flow state across a reload (documented behaviour): stream reassembly and app-layer state carry
 * on; flowbits keep their names (a bit no rule of the new set names is dropped); threshold and
 * detection_filter counters restart empty (they are indexed by rule); stream bytes kept as
 * context before new data (the stream window) may be inspected again by the new rules.
 *
 * One reload at a time: a reload waits (bounded) for the previous switch to complete. Once a
 * worker has finished (end of capture), reloads are refused.
 */
#ifndef TRIPLINE_RELOAD_H
#define TRIPLINE_RELOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct detect_engine;
struct detect_thread;
struct flow_table;
struct reload;

/* Counters and the outcome of the last reload; a consistent copy under the reload's lock. */
struct reload_stats {
    uint64_t generation;      /* current generation (1: the rules loaded at start) */
    unsigned rules_loaded;    /* rules of the current generation */
    unsigned rules_failed;    /* rules of its files that failed to load */
    uint64_t reloads_ok, reloads_failed;
    uint64_t last_reload_ns;  /* wall time (CLOCK_REALTIME) of the last reload attempt; 0 none */
    bool last_ok;
    char last_error[512];     /* why the last reload failed ("" when it did not) */
    double last_compile_ms;   /* load + compile time of the last successful reload */
    /* packet time at which the workers switched to the current generation (min/max over the
     * workers that switched; 0 before the first reload), and how many did. A worker's switch
     * time is its packet clock then: the packets it matched with the old rules had timestamps
     * <= it; in a capture whose time only moves forward, later ones have timestamps >= it */
    uint64_t switch_ts_min, switch_ts_max;
    unsigned workers_switched, workers;
    unsigned generations_alive; /* generations held in memory: 1, or 2 while one is retired */
};

/* Loads and compiles cfg's rules as generation 1 (the load report goes to report when not
 * NULL) for n_workers workers. NULL with err set when no rule loads or the compile fails.
 * Main thread. */
struct reload *reload_new(const struct tl_config *cfg, unsigned n_workers, FILE *report, char *err,
                          size_t errlen);

/* The current engine (to create the workers' first detect threads). Main thread, before run. */
const struct detect_engine *reload_engine(const struct reload *r);

/* Figures of the current generation's engine (--test-rules). */
void reload_print_info(const struct reload *r, FILE *out);

/* Only workers 0 .. n-1 run (a multi-queue source with fewer queues than workers): reloads do
 * not wait for the others. Main thread, before the run. */
void reload_set_workers(struct reload *r, unsigned n);

/* The current generation number; a worker compares it with its own between batches (one relaxed
 * load). Any thread. */
uint64_t reload_generation(const struct reload *r);

/* Worker side, between batches, when reload_generation() differs from *gen: replaces *dt with
 * the new generation's thread for worker wid (old one handed back to be freed by the control
 * thread), remaps the flowbits of ft's flows, records now_ns as the switch time and ev_seq (the
 * number of events worker wid has emitted so far: all of them with the old rules) as its event
 * fence, sets *gen. Never allocates. Caller: worker wid. */
void reload_worker_switch(struct reload *r, unsigned wid, struct detect_thread **dt,
                          struct flow_table *ft, uint64_t *gen, uint64_t now_ns, uint64_t ev_seq);

/* Output side: the output thread has written (or dropped as unwritable) n more events of worker
 * wid, in the order the worker emitted them. Caller: the one thread that consumes worker wid's
 * events; NULL r is a no-op. */
void reload_output_progress(struct reload *r, unsigned wid, unsigned n);

/* Worker wid has finished (no more packets): reloads are refused from now on and a pending
 * switch does not wait for it. Caller: worker wid, after its last use of its detect thread. */
void reload_worker_exit(struct reload *r, unsigned wid);

/* Reloads the rule files (steps 1-5 above). Waits up to wait_ms for the previous generation to
 * be retired, then up to wait_ms for every worker to switch (an idle worker switches at its
 * next batch; the old generation is freed here when already retirable, else by a later
 * reload_collect()). Returns 0 with a one-line summary in msg, or -errno with why in msg
 * (-EINVAL: rules did not load / compile, running rules kept; -EBUSY: the previous generation
 * is not retired yet; -ESHUTDOWN: capture finished). The report of the rule load goes to report when not
 * NULL. Caller: the control thread (one at a time). */
int reload_rules(struct reload *r, unsigned wait_ms, FILE *report, char *msg, size_t msglen);

/* Frees the previous generation once it is retirable (step 5: every worker switched and the
 * output thread consumed past every worker's event fence). Returns true when none is left
 * pending. Control thread (called periodically). */
bool reload_collect(struct reload *r);

/* Copies the counters. Any thread. */
void reload_get_stats(struct reload *r, struct reload_stats *st);

/* Frees every generation and the detect threads no worker took. Call after the workers' own
 * detect threads were freed (sensor_free). NULL is a no-op. */
void reload_free(struct reload *r);

/* ---- helpers shared with the unit tests ---- */

/* Builds the map of flowbit ids from ruleset names: map[i] is the id in `to` of from's bit i,
 * UINT16_MAX when `to` has no bit of that name. Returns the number of entries (from's bits;
 * *map NULL when 0) or -ENOMEM. *identity tells whether every id maps to itself. */
struct ruleset;
int reload_flowbit_map(const struct ruleset *from, const struct ruleset *to, uint16_t **map,
                       bool *identity);

#endif
