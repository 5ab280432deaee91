#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

int privdrop_to(const char *user, char *err, size_t errlen)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "user '%s': %s", user, errno ? strerror(errno) : "no such user");
        return -1;
    }
    if (pw->pw_uid == 0) {
        snprintf(err, errlen, "user '%s' is root: name an unprivileged user", user);
        return -1;
    }
    /* Keep the permitted set across setuid, then cut it down to one. */
    if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0 || setgroups(0, NULL) != 0 ||
        setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
        snprintf(err, errlen, "switching to %s: %s", user, strerror(errno));
        return -1;
    }
    cap_t caps = cap_from_text("cap_net_raw=pe");
    int rc = caps ? cap_set_proc(caps) : -1;
    int saved = errno;
    if (caps)
        cap_free(caps);
    if (rc != 0) {
        snprintf(err, errlen, "keeping CAP_NET_RAW: %s", strerror(saved));
        return -1;
    }
    if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) != 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0) {
        snprintf(err, errlen, "no_new_privs: %s", strerror(errno));
        return -1;
    }
    /* Believe it only once the kernel says so. */
    if (setuid(0) == 0 || getuid() != pw->pw_uid || geteuid() != pw->pw_uid) {
        snprintf(err, errlen, "still able to become root after dropping to %s", user);
        return -1;
    }
    return 0;
}
