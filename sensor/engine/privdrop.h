/* Dropping root after start-up (config `run-as: {user, group}`, CLI --user/--group).
 *
 * Called once the capture and the outputs are open (the engine's ready hook): supplementary
 * groups are set to the user's (initgroups) or cleared, then setgid, then setuid. From root
 * without keep-caps, setuid() clears the permitted and effective capabilities of every thread
 * (glibc applies set*id to all threads), so the process keeps no capability at all; open file
 * descriptors (capture socket, EVE files, metrics socket) stay usable. Afterwards setuid(0)
 * must fail, which is checked.
 *
 * Consequences (documented in the man page): files reopened later (SIGHUP, rotation) and
 * capture files read after the first need permissions for that user; AF_XDP and DPDK capture
 * need privileges at exit (detaching the XDP program, hugepages) and refuse run-as.
 */
#ifndef TRIPLINE_PRIVDROP_H
#define TRIPLINE_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tl_log;

struct privdrop {
    char user[64];  /* "" = do not drop */
    char group[64]; /* "" = the user's primary group */
    uid_t uid;      /* resolved by privdrop_resolve() */
    gid_t gid;
    struct tl_log *log;
};

/* Looks the user and group up (names or numeric ids). Call at start-up, before anything is
 * opened, so an unknown user fails at once. Returns 0, or -ENOENT with err ("run-as: unknown
 * user 'x'"), or -EPERM when not running as root while a drop is configured (unless already
 * that user). */
int privdrop_resolve(struct privdrop *pd, char *err, size_t errlen);

/* Whether a drop is configured. */
bool privdrop_enabled(const struct privdrop *pd);

/* Drops to pd's user and group. Returns 0 or -errno with err. A sensor_ready_hook_fn with
 * ctx = pd logs the error and returns it. */
int privdrop_apply(const struct privdrop *pd, char *err, size_t errlen);
int privdrop_hook(void *pd);

#endif
