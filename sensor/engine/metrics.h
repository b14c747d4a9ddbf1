/* Prometheus metrics: an optional HTTP endpoint (config `metrics: {enabled, listen}`) serving
 * the text exposition format 0.0.4 on GET /metrics (404 elsewhere, 405 for methods other than
 * GET and HEAD).
 *
 * The HTTP side is libmicrohttpd (Debian's libmicrohttpd-dev) with its own internal thread in
 * poll() mode: nothing of it runs on the packet path. The values come from the same counters as
 * the EVE stats records (sensor_get_totals, outputs_stats): the engine's output thread calls
 * metrics_update() about once a second (sensor_set_stats_hook) and once more with the final
 * totals when the pipeline ended; a scrape formats the latest snapshot. A scrape taken after
 * the run ended (metrics.linger) therefore shows exactly the exit summary's figures.
 *
 * Threading: metrics_server_new/free from main; metrics_update from the thread the engine calls
 * its stats hook on; the HTTP thread reads the snapshot under a mutex.
 */
#ifndef TRIPLINE_METRICS_H
#define TRIPLINE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "engine.h"
#include "output.h"

#define METRICS_MAX_OUTPUTS 32

struct tl_log;

/* What a scrape shows: a copy taken by metrics_update(). */
struct metrics_snapshot {
    bool valid;            /* false until the first update (only build info is shown) */
    struct sensor_totals t;
    unsigned workers;
    /* rule reloads (reload.h; zero without a reload state) */
    uint64_t rules_generation, reloads_ok, reloads_failed;
    unsigned rules_generations_alive; /* rule sets held in memory: 1, 2 while one retires */
    unsigned n_outputs;
    struct {
        char name[OUTPUT_NAME_MAX];
        struct output_stats st;
    } out[METRICS_MAX_OUTPUTS];
    double start_time_s;   /* process start, Unix seconds */
};

struct metrics_server;

/* Parses "ADDR:PORT" ("127.0.0.1:9187", "[::1]:9187"; port 0 = any free port) into sa.
 * Returns 0 or -EINVAL. */
int metrics_parse_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *salen);

/* Binds cfg->metrics_listen and starts the HTTP thread. Output labels are the names of cfg's
 * `outputs` entries, in the order the engine builds them ("eve-log" without that section). The
 * bound address is logged at notice level ("metrics: serving http://127.0.0.1:9187/metrics").
 * Returns NULL with err on failure (bad address, port in use). */
struct metrics_server *metrics_server_new(const struct tl_config *cfg, struct tl_log *lg, char *err,
                                          size_t errlen);

/* The port actually bound (useful with port 0). */
uint16_t metrics_server_port(const struct metrics_server *m);

/* Takes a snapshot of s's counters. Signature of a sensor_stats_hook_fn (ctx = the server). */
void metrics_update(void *m, struct sensor *s);

/* Formats snap in the Prometheus text format 0.0.4 into buf. Returns the length written, or the
 * length needed (> cap) when buf is too small (as snprintf). */
size_t metrics_format(const struct metrics_snapshot *snap, char *buf, size_t cap);

/* Stops the HTTP thread and closes the socket. NULL is a no-op. */
void metrics_server_free(struct metrics_server *m);

#endif
