// hutch-shim: the container's user. The CLI resolves names against the container's /etc/passwd
// and /etc/group; the shim only takes numbers.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include "user.h"
#include "proc.h"

static unsigned long number(const char *text, const char *opt, const char *spec) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || end == text || *end || v > 0xfffffffeUL) shim_fatal("invalid %s \"%s\": use numbers", opt, spec);
    return v;
}

void parse_user(struct user_plan *u, const char *spec) {
    char buf[64];
    if (strlen(spec) >= sizeof buf) shim_fatal("invalid --user \"%s\": use UID:GID", spec);
    strcpy(buf, spec);
    char *colon = strchr(buf, ':');
    if (!colon) shim_fatal("invalid --user \"%s\": use UID:GID", spec);
    *colon = '\0';
    u->enabled = true;
    u->uid = (uid_t)number(buf, "--user", spec);
    u->gid = (gid_t)number(colon + 1, "--user", spec);
}

void parse_groups(struct user_plan *u, const char *list) {
    char buf[1024];
    if (strlen(list) >= sizeof buf) shim_fatal("invalid --groups: too long");
    strcpy(buf, list);
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (u->ngroups == (int)(sizeof u->groups / sizeof u->groups[0])) shim_fatal("invalid --groups: at most 64");
        u->groups[u->ngroups++] = (gid_t)number(w, "--groups", list);
    }
}

void switch_user(const struct user_plan *u) {
    if (!u->enabled) return;
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) child_fail("user", errno, "prctl(PR_SET_KEEPCAPS)", true);
    if (setgroups((size_t)u->ngroups, u->groups) < 0) child_fail("user", errno, "setgroups", true);
    if (setresgid(u->gid, u->gid, u->gid) < 0) child_fail("user", errno, "setgid", true);
    if (setresuid(u->uid, u->uid, u->uid) < 0) child_fail("user", errno, "setuid", true);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) child_fail("user", errno, "prctl(PR_SET_KEEPCAPS)", true);
    // setuid cleared the effective set; raise it back to the permitted one for caps.c.
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0) child_fail("user", errno, "capget", true);
    d[0].effective = d[0].permitted;
    d[1].effective = d[1].permitted;
    if (syscall(SYS_capset, &h, d) < 0) child_fail("user", errno, "capset", true);
}
