// hutch-shim: capabilities (libcap) and no_new_privs.
//
// `--caps HEX` is a mask such as Docker's default a80425fb. The plan is built before clone,
// where allocating is fine; drop_privileges runs in the child between clone and exec and only makes
// system calls (prctl and capset through libcap's thin wrappers).
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include "caps.h"
#include "proc.h"

// Parses a hexadecimal mask, with or without a leading 0x.
int parse_caps(const char *text, uint64_t *mask) {
    const char *p = text;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) p += 2;
    if (*p == '\0' || strlen(p) > 16) return -1;
    uint64_t m = 0;
    for (; *p; p++) {
        int d;
        if (*p >= '0' && *p <= '9') d = *p - '0';
        else if (*p >= 'a' && *p <= 'f') d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F') d = *p - 'A' + 10;
        else return -1;
        m = (m << 4) | (uint64_t)d;
    }
    *mask = m;
    return 0;
}

// The highest capability the running kernel knows: the last one PR_CAPBSET_READ accepts.
static int kernel_last_cap(void) {
    int c = 0;
    while (c < 63 && prctl(PR_CAPBSET_READ, c + 1, 0, 0, 0) >= 0) c++;
    return c;
}

// Before clone: builds the E/P/I state (mask restricted to the capabilities the kernel knows).
int caps_prepare(struct caps_plan *plan, uint64_t mask) {
    plan->enabled = true;
    plan->last_cap = kernel_last_cap();
    plan->mask = mask;
    if (plan->last_cap < 63) plan->mask &= (UINT64_C(1) << (plan->last_cap + 1)) - 1;
    plan->state = cap_init(); // all sets empty
    if (!plan->state) return -1;
    for (int c = 0; c <= plan->last_cap; c++) {
        if (!(plan->mask & (UINT64_C(1) << c))) continue;
        cap_value_t v = c;
        // Inheritable stays empty, as Docker has it since CVE-2022-24769: a file with inheritable
        // file capabilities must not gain them across exec.
        if (cap_set_flag(plan->state, CAP_EFFECTIVE, 1, &v, CAP_SET) < 0 ||
            cap_set_flag(plan->state, CAP_PERMITTED, 1, &v, CAP_SET) < 0)
            return -1;
    }
    return 0;
}

// After clone, before exec (system calls only):
//   1. drop every capability outside the mask from the bounding set (needs CAP_SETPCAP, so
//      this comes while the effective set is still full);
//   2. set effective and permitted to the mask, inheritable empty (capset);
//   3. clear the ambient set.
static int caps_apply(const struct caps_plan *plan) {
    if (!plan->enabled) return 0;
    for (int c = 0; c <= plan->last_cap; c++) {
        if (plan->mask & (UINT64_C(1) << c)) continue;
        if (cap_drop_bound((cap_value_t)c) < 0) return -1;
    }
    if (cap_set_proc(plan->state) < 0) return -1;
    if (cap_reset_ambient() < 0) return -1;
    return 0;
}

// no_new_privs comes last: from here on exec can never gain privileges (set-id bits, file caps).
void drop_privileges(const struct caps_plan *plan, bool no_new_privs) {
    if (caps_apply(plan) < 0) child_fail("caps", errno, "cannot reduce capabilities", true);
    if (no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail("no-new-privs", errno, "prctl(PR_SET_NO_NEW_PRIVS)", true);
}
