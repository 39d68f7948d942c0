// hutch-shim: the container's user and groups (`--user UID:GID`, `--groups GID,...`; user.c).
// Uses proc.c.
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct user_plan {
    bool enabled;
    uid_t uid;
    gid_t gid;
    gid_t groups[64];
    int ngroups;
};

// Argument parsing (errors are fatal, before anything starts).
void parse_user(struct user_plan *u, const char *spec);
void parse_groups(struct user_plan *u, const char *list);

// In the child (system calls only), before capabilities are reduced: the supplementary groups,
// gid and uid, keeping the permitted capabilities so that caps.c can still shape the sets (the
// exec then clears them for a uid other than 0, as for any non-root process).
void switch_user(const struct user_plan *u);
