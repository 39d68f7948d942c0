// hutch-shim: the container's file system view (mounts.c): its root (the host's, or --rootfs DIR
// with an optional private overlay), /proc and /sys, a minimal /dev for a root of its own, the
// generated /etc files, volumes and tmpfs, read-only root, pivot_root, masked and read-only paths.
// Uses proc.c.
#pragma once

#include <stdbool.h>

enum mount_kind { MOUNT_BIND, MOUNT_TMPFS };

// One --volume or --tmpfs, in the order given (the CLI sorts them parents first).
struct mount_entry {
    enum mount_kind kind;
    const char *src;       // bind: the host path; tmpfs: "tmpfs"
    const char *dst;       // the path inside the container, as given
    const char *target;    // the path to mount on before pivot_root (prepared)
    const char *spec;      // the option as given, for messages
    unsigned long flags;   // tmpfs: MS_* from its options
    const char *data;      // tmpfs: the options the kernel parses (size=, mode=, ...)
    bool read_only;
    int tree;              // bind: the source's detached copy (open_tree), taken before --read-only
};

struct mounts_plan {
    bool read_only;            // --read-only: the root (and its submounts) read-only
    const char *rootfs;        // --rootfs DIR, or NULL: the host's root
    const char *overlay;       // --rootfs-overlay SCRATCH: a tmpfs there holds the overlay's upper layer
    bool host_submounts;       // --host-submounts: the host's other file systems, read-only, at their places
    bool no_proc;
    struct mount_entry *entries;
    int nentries;
    const char **masked;       // --mask PATH
    int nmasked;
    const char **ro_paths;     // --readonly-path PATH
    int nro;

    // Prepared before clone (mounts_prepare): every path the child needs, already joined.
    const char *root;          // where the container's root is mounted ("/" without --rootfs)
    const char *proc, *sys, *dev;
    const char *ovl_upper, *ovl_work, *ovl_data;
    const char *dev_paths[16];  // --rootfs: /dev entries (ROOT/dev/null, ...)
    const char **bind_targets;  // the generated /etc files' targets
    const char **sub_src;       // --host-submounts: the host's mount points to bind (read-only)
    const char **sub_dst;       //   and where they go under the root
    int nsub;
};

struct bind;
// Parses `--tmpfs PATH[:OPTIONS]` and `--volume SRC:DST:ro|rw` (argument errors are fatal).
void parse_tmpfs(struct mount_entry *m, char *spec);
void parse_volume(struct mount_entry *m, char *spec);

// Before clone: joins every target path with the root (allocates).
void mounts_prepare(struct mounts_plan *m, const struct bind *binds, int nbinds);

// In the child, right after `/` was made rec-private: the whole view, pivot_root included.
// System calls only; a failure reports its step and exits (child_fail).
void mounts_setup(const struct mounts_plan *m, const struct bind *binds, int nbinds);
