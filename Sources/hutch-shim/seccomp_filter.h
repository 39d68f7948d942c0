// hutch-shim: the container's seccomp filter (seccomp.c), built with libseccomp from the
// compiled profile the CLI writes (`--seccomp FILE`). Uses proc.c.
#pragma once

#include <stdbool.h>
#include <linux/filter.h>

struct seccomp_plan {
    const char *file;        // --seccomp FILE, or NULL: no filter
    struct sock_fprog prog;  // prepared before clone
};

// Before clone (allocates): reads FILE, builds the filter with libseccomp and keeps the BPF
// program libseccomp generated. A bad line or an unknown action is fatal (exit 125).
void seccomp_prepare(struct seccomp_plan *p);

// In the child, after no_new_privs and just before exec (one system call).
void seccomp_apply(const struct seccomp_plan *p);
