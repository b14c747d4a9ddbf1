/* The local control socket of a running tripline, and its protocol.
 *
 * A Unix stream socket (path from the config's `control-socket:`, default LOGDIR/tripline.sock;
 * mode 0660; removed at exit) served by one control thread, which also runs the reloads that
 * SIGUSR2 asks for. Protocol: per request one line, either a plain command word
 * ("reload-rules\n") or a JSON object ({"command": "reload-rules"}\n); per request one line of
 * JSON back: {"ok": true|false, "command": "...", ...; "error": "why" when not ok}. A client may
 * send several requests on one connection; the server closes it at EOF, after an idle timeout
 * or after `shutdown`.
 *
 * Commands: reload-rules (reload.h; the reply carries the new generation, the rule counts and
 * the packet time the workers switched at), stats (the counters of the EVE stats event and the
 * exit summary, plus the rule reload counters), shutdown (as SIGTERM: capture stops, the
 * pipeline drains, exit status 0), version.
 */
#ifndef TRIPLINE_CONTROL_H
#define TRIPLINE_CONTROL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "config.h"
#include "engine.h"
#include "reload.h"

enum control_cmd {
    CONTROL_NONE = 0,
    CONTROL_RELOAD_RULES,
    CONTROL_STATS,
    CONTROL_SHUTDOWN,
    CONTROL_VERSION,
};

#define CONTROL_LINE_MAX 4096 /* longest request line accepted */

/* Parses one request (len bytes, without or with its trailing newline; surrounding white space
 * ignored). Returns 0 with *cmd set, or -EINVAL with why in err (empty request, unknown command,
 * bad JSON, JSON without a string "command"). Any thread. */
int control_parse_request(const char *line, size_t len, enum control_cmd *cmd, char *err,
                          size_t errlen);

/* The command's name as written in requests ("reload-rules"); "?" for CONTROL_NONE. */
const char *control_cmd_name(enum control_cmd cmd);

/* The stats reply's counters: the sensor totals under the EVE stats event's names
 * (capture.kernel_packets, decoder.pkts, detect.alert, ...) and the rule counters under
 * "rules" (loaded, failed, generation, reloads_ok, reloads_failed, last_reload, ...). rs may be
 * NULL (no rules). Returns a new object, NULL when out of memory. */
json_t *control_stats_json(const struct sensor_totals *t, const struct reload_stats *rs);

/* The socket path for cfg: cfg->control_socket, or LOGDIR/tripline.sock when empty. Returns 0,
 * 1 when the socket is turned off ("off"), or -ENAMETOOLONG (a Unix socket path holds at most
 * 107 bytes). */
int control_socket_path(const struct tl_config *cfg, char *out, size_t cap);

struct control;

/* Creates the socket at path (a stale socket file left by a killed run is replaced; a socket
 * another process answers on is an error: -EADDRINUSE) and starts the control thread. stop is
 * the process's stop flag (`shutdown` sets it); reload_sig is bumped by the SIGUSR2 handler
 * (may be NULL). Returns NULL with err set. Main thread. */
struct control *control_start(const char *path, struct sensor *s, atomic_int *stop,
                              const atomic_int *reload_sig, char *err, size_t errlen);

/* Stops the control thread (an ongoing request completes first), closes and removes the socket.
 * Call before sensor_free(). NULL is a no-op. Main thread. */
void control_stop(struct control *c);

#endif
