// hutch-shim: capabilities and no_new_privs (caps.c). Uses proc.c only.
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/capability.h>

// Capabilities prepared before clone (libcap allocates), applied after it (syscalls only).
struct caps_plan {
    bool enabled;
    uint64_t mask;
    int last_cap; // highest capability number the kernel knows
    cap_t state;  // E = P = I = mask
};

// Parses `--caps HEX`: 0, or -1 if it is not a hexadecimal mask.
int parse_caps(const char *text, uint64_t *mask);

// Before clone: builds the plan for mask. 0, or -1 with errno.
int caps_prepare(struct caps_plan *plan, uint64_t mask);

// After clone, before exec: applies the plan (if enabled), then no_new_privs (if asked). A failure
// is reported as step `caps` or `no-new-privs` (child_fail) and the process exits.
void drop_privileges(const struct caps_plan *plan, bool no_new_privs);
