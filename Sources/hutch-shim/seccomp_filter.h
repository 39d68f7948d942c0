// hutch-shim: the container's seccomp filter (seccomp.c), built with libseccomp from the
// compiled profile the CLI writes (`--seccomp FILE`). Uses proc.c.
#pragma once

#include <stdbool.h>
#include <linux/filter.h>

struct seccomp_plan {
    const char *file;        // --seccomp FILE, or NULL: no filter
    const char *cache;       // --seccomp-cache DIR: BPF programs built before, by the profile's hash
    struct sock_fprog prog;  // prepared before clone
};

// Before clone (allocates): reads FILE, builds the filter with libseccomp and keeps the BPF
// program libseccomp generated. A bad line or an unknown action is fatal (exit 125). With a
// cache, a program built before from the same profile text is read instead (and a new one is
// stored there, written whole and renamed).
void seccomp_prepare(struct seccomp_plan *p);

// In the child, after no_new_privs and just before exec (one system call).
void seccomp_apply(const struct seccomp_plan *p);
