// hutch-shim exec: run a command inside a running container (exec.c). Uses monitor.c, tty.c,
// caps.c and proc.c.
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include "caps.h"
#include "user.h"
#include "seccomp_filter.h"

struct exec_spec {
    pid_t pid;
    char **env;
    const char *workdir;
    bool no_new_privs;
    bool tty; // --tty: the command gets a pty (from the container's /dev/ptmx); we copy
    char **argv;
    struct caps_plan caps;
    struct user_plan user;        // --user, --groups
    struct seccomp_plan seccomp;  // --seccomp FILE (the container's compiled profile)
    const char **cgroups;         // --cgroup DIR: joined before the namespaces
    int ncgroups;
};

// Never returns: exits with the command's code, or 125.
__attribute__((noreturn)) void exec_in_container(struct exec_spec *spec);
