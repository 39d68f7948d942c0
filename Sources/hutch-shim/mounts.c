// hutch-shim: the container's file system view, built in its own mount namespace (so nothing
// here reaches the host). The order is runc's: the root (bind or overlay), read-only root,
// /proc, /sys, /dev, the generated /etc files, volumes and tmpfs, pivot_root, then the masked and
// read-only paths (those are under the container's own /proc and /sys).
//
// mounts_prepare allocates (before clone); mounts_setup runs in the child and makes only system
// calls.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include "mounts.h"
#include "child.h"
#include "proc.h"

// mount_setattr(2) (Linux 5.12): glibc's header and <linux/mount.h> clash, so the few names
// needed are spelled here.
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
struct hutch_mount_attr { unsigned long long attr_set, attr_clr, propagation, userns_fd; };
#define HUTCH_MOUNT_ATTR_RDONLY 0x00000001ULL
#define HUTCH_AT_RECURSIVE 0x8000
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#define HUTCH_OPEN_TREE_CLONE 1
#define HUTCH_MOVE_MOUNT_F_EMPTY_PATH 0x00000004

// --- parsing (before clone) ---------------------------------------------------------------------

static const struct { const char *name; unsigned long set, clear; } tmpfs_flags[] = {
    { "ro", MS_RDONLY, 0 }, { "rw", 0, MS_RDONLY },
    { "noexec", MS_NOEXEC, 0 }, { "exec", 0, MS_NOEXEC },
    { "nosuid", MS_NOSUID, 0 }, { "suid", 0, MS_NOSUID },
    { "nodev", MS_NODEV, 0 }, { "dev", 0, MS_NODEV },
};

// PATH[:OPTIONS]: Docker's defaults are noexec,nosuid,nodev; flag words become MS_* flags, the
// rest (size=, mode=, uid=, gid=, nr_inodes=) goes to the kernel as data.
void parse_tmpfs(struct mount_entry *m, char *spec) {
    m->spec = strdup(spec);
    m->kind = MOUNT_TMPFS;
    m->src = "tmpfs";
    m->flags = MS_NOEXEC | MS_NOSUID | MS_NODEV;
    char *colon = strchr(spec, ':');
    char *opts = NULL;
    if (colon) { *colon = '\0'; opts = colon + 1; }
    m->dst = spec;
    if (spec[0] != '/') shim_fatal("invalid --tmpfs \"%s\": the path must be absolute", m->spec);
    char *data = calloc(1, opts ? strlen(opts) + 1 : 1);
    if (!data) shim_fatal("out of memory");
    for (char *save = NULL, *w = opts ? strtok_r(opts, ",", &save) : NULL; w; w = strtok_r(NULL, ",", &save)) {
        bool known = false;
        for (size_t i = 0; i < sizeof tmpfs_flags / sizeof tmpfs_flags[0]; i++) {
            if (strcmp(w, tmpfs_flags[i].name) != 0) continue;
            m->flags = (m->flags | tmpfs_flags[i].set) & ~tmpfs_flags[i].clear;
            known = true;
        }
        if (known) continue;
        if (!strchr(w, '=')) shim_fatal("invalid --tmpfs \"%s\": unknown option %s", m->spec, w);
        if (*data) strcat(data, ",");
        strcat(data, w);
    }
    m->data = data;
    m->read_only = (m->flags & MS_RDONLY) != 0;
}

// SRC:DST:ro|rw (the CLI always renders the mode).
void parse_volume(struct mount_entry *m, char *spec) {
    m->spec = strdup(spec);
    m->kind = MOUNT_BIND;
    char *a = strchr(spec, ':');
    char *b = a ? strchr(a + 1, ':') : NULL;
    if (!a || !b) shim_fatal("invalid --volume \"%s\": use SRC:DST:ro|rw", m->spec);
    *a = *b = '\0';
    m->src = spec;
    m->dst = a + 1;
    if (strcmp(b + 1, "ro") == 0) m->read_only = true;
    else if (strcmp(b + 1, "rw") != 0) shim_fatal("invalid --volume \"%s\": the mode is ro or rw", m->spec);
    if (m->src[0] != '/' || m->dst[0] != '/') shim_fatal("invalid --volume \"%s\": both paths must be absolute", m->spec);
}

static const char *join(const char *root, const char *path) {
    if (strcmp(root, "/") == 0) return path;
    char *out;
    if (asprintf(&out, "%s%s", root, path) < 0) shim_fatal("out of memory");
    return out;
}

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
enum { NDEV = sizeof dev_nodes / sizeof dev_nodes[0] };
// dev_paths: [0..NDEV) the nodes, then pts, shm, ptmx, fd, stdin, stdout, stderr
enum { DEV_PTS = NDEV, DEV_SHM, DEV_PTMX, DEV_FD, DEV_STDIN, DEV_STDOUT, DEV_STDERR };

// --- the host's other file systems (--host-submounts) ---------------------------------------------

// An overlay whose lower layer is the host's / shows only the root file system: what is mounted
// below it (a separate /home, /usr, /boot, /work...) would be an empty directory. Those are bound
// in, read-only. Not: what the container gets of its own (/proc, /sys, /dev, /run, /tmp,
// /var/tmp) and kernel pseudo file systems.
static const char *const own_prefixes[] = { "/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp" };
static const char *const pseudo_fs[] = {
    "proc", "sysfs", "cgroup", "cgroup2", "nsfs", "devpts", "mqueue", "debugfs", "tracefs", "securityfs",
    "bpf", "autofs", "binfmt_misc", "configfs", "fusectl", "pstore", "hugetlbfs", "efivarfs",
};

static bool under(const char *path, const char *prefix) {
    size_t n = strlen(prefix);
    if (n == 1) return true;  // "/"
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
static void unescape(char *s) {
    char *o = s;
    for (char *i = s; *i; ) {
        if (i[0] == '\\' && i[1] >= '0' && i[1] <= '3' && i[2] >= '0' && i[2] <= '7' && i[3] >= '0' && i[3] <= '7') {
            *o++ = (char)((i[1] - '0') * 64 + (i[2] - '0') * 8 + (i[3] - '0'));
            i += 4;
        } else {
            *o++ = *i++;
        }
    }
    *o = '\0';
}

static void prepare_host_submounts(struct mounts_plan *m) {
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) shim_fatal("cannot read /proc/self/mountinfo: %s", strerror(errno));
    size_t cap = 16;
    m->sub_src = calloc(cap, sizeof *m->sub_src);
    if (!m->sub_src) shim_fatal("out of memory");
    char *line = NULL;
    size_t len = 0;
    while (getline(&line, &len, f) > 0) {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
        char *save = NULL, *field[5] = { 0 };
        for (int i = 0; i < 5; i++) field[i] = strtok_r(i == 0 ? line : NULL, " ", &save);
        char *dash = field[4] && save ? strstr(save, " - ") : NULL;
        if (!dash) continue;
        char *fstype = dash + 3;
        char *sp = strchr(fstype, ' ');
        if (sp) *sp = '\0';
        char *mp = field[4];
        unescape(mp);
        if (strcmp(mp, "/") == 0) continue;
        bool skip = false;
        for (size_t i = 0; !skip && i < sizeof own_prefixes / sizeof own_prefixes[0]; i++) skip = under(mp, own_prefixes[i]);
        for (size_t i = 0; !skip && i < sizeof pseudo_fs / sizeof pseudo_fs[0]; i++) skip = strcmp(fstype, pseudo_fs[i]) == 0;
        if (m->overlay && under(mp, m->overlay)) skip = true;
        if (skip) continue;
        if ((size_t)m->nsub + 1 >= cap) {
            cap *= 2;
            m->sub_src = realloc(m->sub_src, cap * sizeof *m->sub_src);
            if (!m->sub_src) shim_fatal("out of memory");
        }
        m->sub_src[m->nsub] = strdup(mp);
        if (!m->sub_src[m->nsub]) shim_fatal("out of memory");
        m->nsub++;
    }
    free(line);
    fclose(f);
    // Only the outermost of nested mounts: a recursive bind brings the rest along.
    int kept = 0;
    for (int i = 0; i < m->nsub; i++) {
        bool nested = false;
        for (int j = 0; j < m->nsub && !nested; j++)
            nested = j != i && under(m->sub_src[i], m->sub_src[j]) &&
                     (strcmp(m->sub_src[i], m->sub_src[j]) != 0 || j < i);
        if (!nested) m->sub_src[kept++] = m->sub_src[i];
    }
    m->nsub = kept;
    m->sub_dst = calloc((size_t)kept + 1, sizeof *m->sub_dst);
    if (!m->sub_dst) shim_fatal("out of memory");
    for (int i = 0; i < kept; i++) m->sub_dst[i] = join(m->root, m->sub_src[i]);
}

void mounts_prepare(struct mounts_plan *m, const struct bind *binds, int nbinds) {
    m->root = "/";
    if (m->host_submounts && (!m->overlay || !m->rootfs || strcmp(m->rootfs, "/") != 0))
        shim_fatal("--host-submounts needs --rootfs / and --rootfs-overlay");
    if (m->overlay) {
        if (!m->rootfs) shim_fatal("--rootfs-overlay needs --rootfs");
        m->ovl_upper = join(m->overlay, "/upper");
        m->ovl_work = join(m->overlay, "/work");
        m->root = join(m->overlay, "/merged");
        char *data;
        if (asprintf(&data, "lowerdir=%s,upperdir=%s,workdir=%s", m->rootfs, m->ovl_upper, m->ovl_work) < 0)
            shim_fatal("out of memory");
        m->ovl_data = data;
    } else if (m->rootfs) {
        m->root = m->rootfs;
    }
    m->proc = join(m->root, "/proc");
    m->sys = join(m->root, "/sys");
    m->dev = join(m->root, "/dev");
    static const char *const dev_rest[] = { "pts", "shm", "ptmx", "fd", "stdin", "stdout", "stderr" };
    for (int i = 0; i < NDEV; i++) {
        char *p;
        if (asprintf(&p, "%s/%s", m->dev, dev_nodes[i]) < 0) shim_fatal("out of memory");
        m->dev_paths[i] = p;
    }
    for (int i = 0; i < 7; i++) {
        char *p;
        if (asprintf(&p, "%s/%s", m->dev, dev_rest[i]) < 0) shim_fatal("out of memory");
        m->dev_paths[NDEV + i] = p;
    }
    m->bind_targets = calloc((size_t)nbinds + 1, sizeof *m->bind_targets);
    if (!m->bind_targets) shim_fatal("out of memory");
    for (int i = 0; i < nbinds; i++) m->bind_targets[i] = join(m->root, binds[i].dst);
    for (int i = 0; i < m->nentries; i++) m->entries[i].target = join(m->root, m->entries[i].dst);
    if (m->host_submounts) prepare_host_submounts(m);
}

// --- in the child: system calls only --------------------------------------------------------------

// Read-only, recursively (every submount too): mount_setattr(AT_RECURSIVE); on kernels before
// 5.12, a read-only remount of the top mount.
static int make_read_only(const char *path) {
    struct hutch_mount_attr attr = { .attr_set = HUTCH_MOUNT_ATTR_RDONLY };
    if (syscall(SYS_mount_setattr, -1, path, HUTCH_AT_RECURSIVE, &attr, sizeof attr) == 0) return 0;
    if (errno != ENOSYS) return -1;
    return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
}

// A mount point that may be missing in a root of the container's own.
static void ensure_dir(const char *path) {
    if (mkdir(path, 0755) < 0 && errno != EEXIST) child_fail("mkdir", errno, path, true);
}
static void ensure_file(const char *path) {
    // An existing one is left as it is (not opened for writing: in an overlay that would copy
    // it up, and a host file bound read-only would refuse).
    struct stat st;
    if (lstat(path, &st) == 0) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno != EEXIST && errno != EISDIR) child_fail("mkfile", errno, path, true);
    if (fd >= 0) close(fd);
}

// `mkdir -p` of PATH's parents (a copy on the stack: no heap in the child).
static int mkdir_parents(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (buf[i] != '/') continue;
        buf[i] = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
        buf[i] = '/';
    }
    return 0;
}

// A volume's or tmpfs's mount point, created when missing, in a root whose writes are the
// container's own (an overlay): a directory, or an empty file for a file volume (as Docker makes
// them in the container's layer).
static int ensure_target(const struct mount_entry *e) {
    struct stat st;
    if (lstat(e->target, &st) == 0) return 0;
    bool file = false;
    if (e->kind == MOUNT_BIND) {
        struct stat src;
        int rc = e->tree >= 0 ? fstat(e->tree, &src) : stat(e->src, &src);
        file = rc == 0 && !S_ISDIR(src.st_mode);
    }
    if (mkdir_parents(e->target) < 0) return -1;
    if (!file) return mkdir(e->target, 0755) < 0 && errno != EEXIST ? -1 : 0;
    int fd = open(e->target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

// The root of the container's own: DIR bound onto itself, or a private overlay with DIR as its
// read-only lower layer and its upper layer in a tmpfs of this mount namespace (gone with it).
static void setup_rootfs(const struct mounts_plan *m, int nbinds) {
    if (m->overlay) {
        if (mount("tmpfs", m->overlay, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
            child_fail("mount-overlay", errno, m->overlay, true);
        ensure_dir(m->ovl_upper);
        ensure_dir(m->ovl_work);
        ensure_dir(m->root);
        if (mount("overlay", m->root, "overlay", 0, m->ovl_data) < 0)
            child_fail("mount-overlay", errno, m->rootfs, true);
        // The host's other file systems at their places, read-only (the overlay shows only
        // the root file system's own directories).
        for (int i = 0; i < m->nsub; i++) {
            if (mount(m->sub_src[i], m->sub_dst[i], NULL, MS_BIND | MS_REC, NULL) < 0 || make_read_only(m->sub_dst[i]) < 0)
                child_fail("host-submount", errno, m->sub_src[i], true);
        }
        // A generated /etc file whose target is a symbolic link (resolv.conf -> /run/...) is
        // replaced by a plain file in the container's own layer, so the bind lands in /etc.
        for (int i = 0; i < nbinds; i++) {
            struct stat st;
            if (lstat(m->bind_targets[i], &st) == 0 && S_ISLNK(st.st_mode) && unlink(m->bind_targets[i]) < 0)
                child_fail("mkfile", errno, m->bind_targets[i], true);
        }
        // Volumes' and tmpfs's mount points, before the root may turn read-only; those under
        // another tmpfs are made again once that is mounted (see mounts_setup).
        for (int i = 0; i < m->nentries; i++) (void)ensure_target(&m->entries[i]);
    } else if (mount(m->rootfs, m->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
        child_fail("mount-rootfs", errno, m->rootfs, true);
    }
    // Mount points hutch needs; created before the root may turn read-only.
    ensure_dir(m->proc);
    ensure_dir(m->sys);
    ensure_dir(m->dev);
    char etc[4096];
    size_t n = strlen(m->root);
    if (n + 5 < sizeof etc) {
        memcpy(etc, m->root, n);
        memcpy(etc + n, "/etc", 5);
        ensure_dir(etc);
    }
    for (int i = 0; i < nbinds; i++) ensure_file(m->bind_targets[i]);
}

// A minimal /dev: a tmpfs with the host's null, zero, full, random, urandom and tty bound in, a
// devpts of the container's own, /dev/shm, and the usual symlinks.
static void setup_dev(const struct mounts_plan *m) {
    if (mount("tmpfs", m->dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
        child_fail("mount-dev", errno, m->dev, true);
    char src[32];
    for (int i = 0; i < NDEV; i++) {
        size_t l = strlen(dev_nodes[i]);
        memcpy(src, "/dev/", 5);
        memcpy(src + 5, dev_nodes[i], l + 1);
        ensure_file(m->dev_paths[i]);
        if (mount(src, m->dev_paths[i], NULL, MS_BIND, NULL) < 0) child_fail("mount-dev", errno, src, true);
    }
    ensure_dir(m->dev_paths[DEV_PTS]);
    if (mount("devpts", m->dev_paths[DEV_PTS], "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
        child_fail("mount-devpts", errno, m->dev_paths[DEV_PTS], true);
    ensure_dir(m->dev_paths[DEV_SHM]);
    if (mount("shm", m->dev_paths[DEV_SHM], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
        child_fail("mount-dev", errno, m->dev_paths[DEV_SHM], true);
    if (symlink("pts/ptmx", m->dev_paths[DEV_PTMX]) < 0 ||
        symlink("/proc/self/fd", m->dev_paths[DEV_FD]) < 0 ||
        symlink("/proc/self/fd/0", m->dev_paths[DEV_STDIN]) < 0 ||
        symlink("/proc/self/fd/1", m->dev_paths[DEV_STDOUT]) < 0 ||
        symlink("/proc/self/fd/2", m->dev_paths[DEV_STDERR]) < 0)
        child_fail("mount-dev", errno, m->dev, true);
}

// pivot_root(".", ".") as runc does: the old root ends up on top of the new one and is detached.
static void pivot(const char *root) {
    if (chdir(root) < 0) child_fail("pivot-root", errno, root, true);
    if (syscall(SYS_pivot_root, ".", ".") < 0) child_fail("pivot-root", errno, root, true);
    if (umount2(".", MNT_DETACH) < 0) child_fail("pivot-root", errno, "the old root", true);
    if (chdir("/") < 0) child_fail("pivot-root", errno, "/", true);
}

// Docker's masked paths: a file becomes /dev/null, a directory an empty read-only tmpfs. Paths
// that do not exist on this kernel are skipped.
static void mask(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return;
    int rc = S_ISDIR(st.st_mode)
        ? mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555")
        : mount("/dev/null", path, NULL, MS_BIND, NULL);
    if (rc < 0) child_fail("mask", errno, path, true);
}

static void read_only_path(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return;
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0 || make_read_only(path) < 0)
        child_fail("readonly-path", errno, path, true);
}

void mounts_setup(const struct mounts_plan *m, const struct bind *binds, int nbinds) {
    bool own_root = m->rootfs != NULL;
    // Volumes' sources as the host has them: detached copies taken now, before --read-only
    // makes every mount of this namespace read-only (a later bind would inherit that).
    for (int i = 0; i < m->nentries; i++) {
        struct mount_entry *e = &m->entries[i];
        e->tree = -1;
        if (e->kind != MOUNT_BIND) continue;
        e->tree = (int)syscall(SYS_open_tree, AT_FDCWD, e->src, HUTCH_OPEN_TREE_CLONE | O_CLOEXEC | HUTCH_AT_RECURSIVE);
        if (e->tree < 0 && errno != ENOSYS) child_fail("volume", errno, e->spec, true);
    }
    if (own_root) setup_rootfs(m, nbinds);

    // --read-only: everything under the root, before anything of the container's is mounted
    // on top (those stay writable: /proc's own rules, /dev, tmpfs, rw volumes, /etc files).
    if (m->read_only && make_read_only(m->root) < 0) child_fail("read-only", errno, m->root, true);

    // A fresh procfs, so that /proc (and ps) show the container's pid namespace.
    if (!m->no_proc && mount("proc", m->proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        child_fail("mount-proc", errno, m->proc, true);
    // A read-only sysfs mounted from inside the container's network namespace, so
    // /sys/class/net shows its own interfaces (for --netns host: the caller's), as Docker does.
    // EBUSY: /sys already is this very sysfs (the caller runs under `ip netns exec`, which mounts
    // the namespace's sysfs there, and the container shares that netns): keep it.
    if (!m->no_proc &&
        mount("sysfs", m->sys, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
        errno != EBUSY)
        child_fail("mount-sysfs", errno, m->sys, true);
    if (own_root) setup_dev(m);

    // The generated files (/etc/hosts, /etc/hostname, /etc/resolv.conf).
    for (int i = 0; i < nbinds; i++) {
        if (mount(binds[i].src, m->bind_targets[i], NULL, MS_BIND, NULL) < 0)
            child_fail("bind", errno, binds[i].spec, true);
    }

    // Volumes and tmpfs, in order (parents first). A read-only bind is read-only all the way
    // down: its submounts too.
    for (int i = 0; i < m->nentries; i++) {
        const struct mount_entry *e = &m->entries[i];
        if (m->overlay && ensure_target(e) < 0) child_fail(e->kind == MOUNT_TMPFS ? "tmpfs" : "volume", errno, e->spec, true);
        if (e->kind == MOUNT_TMPFS) {
            if (mount("tmpfs", e->target, "tmpfs", e->flags, e->data) < 0) child_fail("tmpfs", errno, e->spec, true);
            continue;
        }
        int rc = e->tree >= 0
            ? (int)syscall(SYS_move_mount, e->tree, "", AT_FDCWD, e->target, HUTCH_MOVE_MOUNT_F_EMPTY_PATH)
            : mount(e->src, e->target, NULL, MS_BIND | MS_REC, NULL);
        if (rc < 0) child_fail("volume", errno, e->spec, true);
        if (e->tree >= 0) close(e->tree);
        if (e->read_only && make_read_only(e->target) < 0) child_fail("volume", errno, e->spec, true);
    }

    if (own_root) pivot(m->root);

    for (int i = 0; i < m->nmasked; i++) mask(m->masked[i]);
    for (int i = 0; i < m->nro; i++) read_only_path(m->ro_paths[i]);
}
