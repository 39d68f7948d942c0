// hutch-shim: seccomp. The CLI parses Docker's profile JSON (or renders the default profile) and
// writes a compiled form, one rule a line:
//
//   default ACTION            the action for every system call no rule matches (first line)
//   arch NAME                 an extra architecture (x86, x32, ...), besides the native one
//   ACTION SYSCALL [ARG...]   ARG = INDEX:OP:VALUE[:VALUE2], OP one of eq ne lt le gt ge masked_eq
//
// ACTION: allow, errno:N, kill (the thread), kill_process, trap, log, trace:N. libseccomp turns
// the rules into BPF before clone; the child only loads that program. Unknown system call names
// (another kernel's) are skipped as Docker skips them; a rule whose action is the default is
// redundant and skipped.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include "seccomp_filter.h"
#include "proc.h"

static bool parse_action(const char *w, uint32_t *action) {
    char *end;
    if (strcmp(w, "allow") == 0) *action = SCMP_ACT_ALLOW;
    else if (strcmp(w, "kill") == 0) *action = SCMP_ACT_KILL_THREAD;
    else if (strcmp(w, "kill_process") == 0) *action = SCMP_ACT_KILL_PROCESS;
    else if (strcmp(w, "trap") == 0) *action = SCMP_ACT_TRAP;
    else if (strcmp(w, "log") == 0) *action = SCMP_ACT_LOG;
    else if (strncmp(w, "errno:", 6) == 0) {
        unsigned long n = strtoul(w + 6, &end, 10);
        if (*end || end == w + 6 || n > 4095) return false;
        *action = SCMP_ACT_ERRNO((uint16_t)n);
    } else if (strncmp(w, "trace:", 6) == 0) {
        unsigned long n = strtoul(w + 6, &end, 10);
        if (*end || end == w + 6 || n > 65535) return false;
        *action = SCMP_ACT_TRACE((uint16_t)n);
    } else return false;
    return true;
}

static const struct { const char *name; enum scmp_compare op; } ops[] = {
    { "eq", SCMP_CMP_EQ }, { "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT }, { "le", SCMP_CMP_LE },
    { "gt", SCMP_CMP_GT }, { "ge", SCMP_CMP_GE }, { "masked_eq", SCMP_CMP_MASKED_EQ },
};

static bool parse_arg(char *w, struct scmp_arg_cmp *c) {
    char *f[4] = { 0 };
    int n = 0;
    for (char *save = NULL, *t = strtok_r(w, ":", &save); t && n < 4; t = strtok_r(NULL, ":", &save)) f[n++] = t;
    if (n < 3) return false;
    char *end;
    unsigned long idx = strtoul(f[0], &end, 10);
    if (*end || idx > 5) return false;
    memset(c, 0, sizeof *c);
    c->arg = (unsigned)idx;
    bool found = false;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, f[1]) == 0) { c->op = ops[i].op; found = true; }
    if (!found) return false;
    errno = 0;
    c->datum_a = strtoull(f[2], &end, 0);
    if (errno || *end) return false;
    if (n == 4) {
        c->datum_b = strtoull(f[3], &end, 0);
        if (errno || *end) return false;
    }
    return true;
}

// FNV-1a, 64 bits: names a cached program after the profile text it was built from (and the
// format and libseccomp versions, whose output it is).
static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ULL; }
    return h;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "re");
    if (!f) shim_fatal("cannot read the seccomp profile %s: %s", path, strerror(errno));
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    if (!buf) shim_fatal("out of memory");
    for (size_t r; (r = fread(buf + n, 1, cap - n - 1, f)) > 0; ) {
        n += r;
        if (n + 1 == cap && !(buf = realloc(buf, cap *= 2))) shim_fatal("out of memory");
    }
    if (ferror(f)) shim_fatal("cannot read the seccomp profile %s: %s", path, strerror(errno));
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

// A cached program: whole sock_filter records, no more than the kernel takes.
static bool read_cached(const char *path, struct sock_fprog *prog) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    off_t size = lseek(fd, 0, SEEK_END);
    bool ok = size > 0 && size % (off_t)sizeof(struct sock_filter) == 0 &&
              size / (off_t)sizeof(struct sock_filter) <= BPF_MAXINSNS;
    struct sock_filter *f = ok ? malloc((size_t)size) : NULL;
    ok = f && pread(fd, f, (size_t)size, 0) == size;
    close(fd);
    if (!ok) { free(f); return false; }
    prog->filter = f;
    prog->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
    return true;
}

// Best effort: a cache that cannot be written only means the next run builds again.
static void write_cached(const char *dir, const char *path, const struct sock_fprog *prog) {
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) return;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof tmp) return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    size_t size = prog->len * sizeof(struct sock_filter);
    bool ok = write(fd, prog->filter, size) == (ssize_t)size;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) unlink(tmp);
}

void seccomp_prepare(struct seccomp_plan *p) {
    if (!p->file) return;
    size_t len;
    char *text = read_all(p->file, &len);
    char cached[4096] = "";
    if (p->cache) {
        const struct scmp_version *v = seccomp_version();
        char tag[64];
        int n = snprintf(tag, sizeof tag, "hutch-seccomp-1 %u.%u.%u\n", v->major, v->minor, v->micro);
        uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325ULL, tag, (size_t)n), text, len);
        if (snprintf(cached, sizeof cached, "%s/%016llx.bpf", p->cache, (unsigned long long)h) >= (int)sizeof cached)
            cached[0] = '\0';
        if (cached[0] && read_cached(cached, &p->prog)) { free(text); return; }
    }
    int lineno = 0;
    scmp_filter_ctx ctx = NULL;
    uint32_t def = 0;
    for (char *lsave = NULL, *line = strtok_r(text, "\n", &lsave); line; line = strtok_r(NULL, "\n", &lsave)) {
        lineno++;
        char *save = NULL;
        char *w = strtok_r(line, " \t", &save);
        if (!w || w[0] == '#') continue;
        if (!ctx) {
            char *a = strtok_r(NULL, " \t", &save);
            if (strcmp(w, "default") != 0 || !a || !parse_action(a, &def))
                shim_fatal("seccomp profile %s:%d: the first rule must be `default ACTION`", p->file, lineno);
            ctx = seccomp_init(def);
            if (!ctx) shim_fatal("seccomp_init failed");
            continue;
        }
        if (strcmp(w, "arch") == 0) {
            char *a = strtok_r(NULL, " \t", &save);
            uint32_t arch = a ? seccomp_arch_resolve_name(a) : 0;
            if (!arch) shim_fatal("seccomp profile %s:%d: unknown architecture %s", p->file, lineno, a ? a : "");
            int rc = seccomp_arch_add(ctx, arch);
            if (rc < 0 && rc != -EEXIST) shim_fatal("seccomp profile %s:%d: %s", p->file, lineno, strerror(-rc));
            continue;
        }
        uint32_t action;
        if (!parse_action(w, &action)) shim_fatal("seccomp profile %s:%d: unknown action %s", p->file, lineno, w);
        char *name = strtok_r(NULL, " \t", &save);
        if (!name) shim_fatal("seccomp profile %s:%d: missing system call", p->file, lineno);
        struct scmp_arg_cmp args[6];
        unsigned nargs = 0;
        for (char *a = strtok_r(NULL, " \t", &save); a; a = strtok_r(NULL, " \t", &save)) {
            if (nargs == 6 || !parse_arg(a, &args[nargs++]))
                shim_fatal("seccomp profile %s:%d: invalid argument rule %s", p->file, lineno, a);
        }
        if (action == def) continue;
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) continue;
        int rc = seccomp_rule_add_array(ctx, action, nr, nargs, args);
        if (rc < 0 && rc != -EEXIST)
            shim_fatal("seccomp profile %s:%d: %s: %s", p->file, lineno, name, strerror(-rc));
    }
    free(text);
    if (!ctx) shim_fatal("seccomp profile %s: empty", p->file);
    // The BPF program libseccomp generates, kept in memory for the child's one prctl.
    int fd = memfd_create("hutch-seccomp", MFD_CLOEXEC);
    if (fd < 0) shim_fatal("memfd_create: %s", strerror(errno));
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0) shim_fatal("cannot build the seccomp filter: %s", strerror(-rc));
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter)) shim_fatal("cannot build the seccomp filter");
    struct sock_filter *prog = malloc((size_t)size);
    if (!prog || pread(fd, prog, (size_t)size, 0) != size) shim_fatal("cannot read the seccomp filter");
    close(fd);
    seccomp_release(ctx);
    p->prog.len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
    p->prog.filter = prog;
    if (cached[0]) write_cached(p->cache, cached, &p->prog);
}

void seccomp_apply(const struct seccomp_plan *p) {
    if (!p->file) return;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p->prog, 0, 0) < 0)
        child_fail("seccomp", errno, "loading the seccomp filter", true);
}
