/* setgroups/setgid/setuid after start-up. See privdrop.h. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

bool privdrop_enabled(const struct privdrop *pd)
{
    return pd->user[0] != 0;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int privdrop_resolve(struct privdrop *pd, char *err, size_t errlen)
{
    if (!privdrop_enabled(pd)) {
        if (pd->group[0]) {
            snprintf(err, errlen, "run-as: a group ('%s') needs a user (run-as.user / --user)", pd->group);
            return -EINVAL;
        }
        return 0;
    }
    struct passwd *pw = getpwnam(pd->user);
    if (!pw && all_digits(pd->user))
        pw = getpwuid((uid_t)strtoul(pd->user, NULL, 10));
    if (!pw) {
        snprintf(err, errlen, "run-as: unknown user '%s'", pd->user);
        return -ENOENT;
    }
    pd->uid = pw->pw_uid;
    pd->gid = pw->pw_gid;
    if (pd->group[0]) {
        struct group *gr = getgrnam(pd->group);
        if (!gr && all_digits(pd->group))
            gr = getgrgid((gid_t)strtoul(pd->group, NULL, 10));
        if (!gr) {
            snprintf(err, errlen, "run-as: unknown group '%s'", pd->group);
            return -ENOENT;
        }
        pd->gid = gr->gr_gid;
    }
    if (geteuid() != 0 && (geteuid() != pd->uid || getegid() != pd->gid)) {
        snprintf(err, errlen, "run-as: switching to user '%s' needs root (running as uid %u)",
                 pd->user, (unsigned)geteuid());
        return -EPERM;
    }
    return 0;
}

int privdrop_apply(const struct privdrop *pd, char *err, size_t errlen)
{
    if (!privdrop_enabled(pd))
        return 0;
    if (geteuid() != 0)
        return 0; /* already that user (checked by privdrop_resolve) */
    /* groups first: after setuid we could no longer change them */
    int rc;
    if (pd->group[0])
        rc = setgroups(1, &pd->gid);
    else
        rc = initgroups(pd->user, pd->gid);
    if (rc != 0) {
        snprintf(err, errlen, "run-as: cannot set the groups of '%s': %s", pd->user, strerror(errno));
        return -errno;
    }
    if (setgid(pd->gid) != 0) {
        snprintf(err, errlen, "run-as: setgid(%u): %s", (unsigned)pd->gid, strerror(errno));
        return -errno;
    }
    if (setuid(pd->uid) != 0) {
        snprintf(err, errlen, "run-as: setuid(%u): %s", (unsigned)pd->uid, strerror(errno));
        return -errno;
    }
    /* the drop must be permanent: regaining root must fail (pd->uid is never 0 here unless
     * the configured user is root itself, where there is nothing to drop) */
    if (pd->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        snprintf(err, errlen, "run-as: could regain root after dropping to '%s'", pd->user);
        return -EPERM;
    }
    return 0;
}

int privdrop_hook(void *ctx)
{
    const struct privdrop *pd = ctx;
    char err[256];
    int rc = privdrop_apply(pd, err, sizeof(err));
    if (rc < 0)
        tl_err(pd->log, "%s", err);
    else if (privdrop_enabled(pd))
        tl_info(pd->log, "running as user %s (uid %u, gid %u)", pd->user, (unsigned)pd->uid,
                (unsigned)pd->gid);
    return rc;
}
