// hutch-shim: the process helpers (see proc.h). Everything here that a child calls between clone
// and exec (child_fail, close_fds_from_3, exec_command, raw_clone, read_retry, set_title) makes
// only system calls and plain memory writes: no malloc, no stdio, no locale.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include "proc.h"

// --- the shim's own failures --------------------------------------------------------------------

static const char *fatal_prefix = "hutch-shim";
static bool fatal_to_status_fd = false;

void fatal_setup(const char *prefix, bool to_status_fd) {
    fatal_prefix = prefix;
    fatal_to_status_fd = to_status_fd;
}

void shim_fatal(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", fatal_prefix, line);
    if (fatal_to_status_fd) dprintf(FD_STATUS, "%s: %s\n", fatal_prefix, line);
    exit(EXIT_SHIM);
}

// --- a child's failed step, reported without stdio ----------------------------------------------

static enum report_mode report_mode = REPORT_PIPE;

void report_setup(enum report_mode mode) { report_mode = mode; }

struct line {
    char buf[1024];
    size_t len;
};

// Appends s as is (the separators).
static void put_raw(struct line *l, const char *s) {
    for (; *s && l->len < sizeof l->buf - 2; s++) l->buf[l->len++] = *s;
}

// Appends s; tabs and newlines become spaces so that the report stays one line of three fields.
static void put(struct line *l, const char *s) {
    for (; *s && l->len < sizeof l->buf - 2; s++) l->buf[l->len++] = (*s == '\t' || *s == '\n') ? ' ' : *s;
}

static void put_int(struct line *l, int v) {
    char digits[16];
    int n = 0;
    unsigned u = v < 0 ? (unsigned)-v : (unsigned)v;
    do digits[n++] = (char)('0' + u % 10); while ((u /= 10) && n < 15);
    if (v < 0) put(l, "-");
    while (n > 0 && l->len < sizeof l->buf - 2) l->buf[l->len++] = digits[--n];
}

// strerrordesc_np returns a constant English string: no locale files, no allocation.
static const char *errtext(int err) {
    const char *t = strerrordesc_np(err);
    return t ? t : "unknown error";
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

void child_fail(const char *step, int err, const char *what, bool with_text) {
    bool is_exec = strcmp(step, "exec") == 0;
    int code = is_exec ? (err == ENOENT ? EXIT_NOTFOUND : EXIT_CANNOT) : EXIT_SHIM;
    struct line l = { .len = 0 };
    int fd = 2;
    switch (report_mode) {
    case REPORT_PIPE:
        put(&l, step); put_raw(&l, "\t"); put_int(&l, err); put_raw(&l, "\t"); put(&l, what);
        if (with_text) { put(&l, ": "); put(&l, errtext(err)); }
        fd = FD_ERR;
        break;
    case REPORT_STDERR:
        put(&l, "hutch-shim: "); put(&l, step); put(&l, ": "); put(&l, what);
        put(&l, ": "); put(&l, errtext(err));
        break;
    case REPORT_HUTCH:
        // Worded like the CLI words the fd-5 reports of `run`.
        if (is_exec) {
            put(&l, "hutch: exec failed: "); put(&l, what); put(&l, ": ");
            put(&l, err == ENOENT ? "executable file not found in $PATH" : errtext(err));
        } else if (strcmp(step, "chdir") == 0) {
            put(&l, "hutch: cannot change to the working directory: "); put(&l, what);
            put(&l, ": "); put(&l, errtext(err));
        } else {
            put(&l, "hutch: exec setup failed at "); put(&l, step); put(&l, ": "); put(&l, what);
            if (with_text) { put(&l, ": "); put(&l, errtext(err)); }
        }
        break;
    }
    l.buf[l.len++] = '\n';
    write_all(fd, l.buf, l.len);
    _exit(code);
}

// --- processes ----------------------------------------------------------------------------------

pid_t raw_clone(unsigned long flags) {
    // No new stack (the child continues on a copy-on-write copy of ours) and SIGCHLD to the
    // parent when it exits.
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

// Closes every fd >= 3, or (CLOSE_RANGE_CLOEXEC) marks it close-on-exec. close_range needs
// Linux 5.9 (5.11 for the flag); older kernels get a loop over the fd table, up to the soft
// RLIMIT_NOFILE (at most 65536).
static void fds_from_3(unsigned flags) {
    if (close_range(3, ~0U, flags) == 0) return;
    struct rlimit rl;
    int max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max)
        max = (int)rl.rlim_cur;
    for (int fd = 3; fd < max; fd++) {
        if (flags & CLOSE_RANGE_CLOEXEC) fcntl(fd, F_SETFD, FD_CLOEXEC);
        else close(fd);
    }
}

void close_fds_from_3(void) { fds_from_3(0); }

// Default dispositions for every signal and an empty mask: the command must not inherit the
// shim's blocked set (blocked masks and ignored dispositions survive exec).
static void reset_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &sa, NULL); // glibc's reserved signals fail with EINVAL: harmless
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

// glibc's execvp only reads environ and uses stack buffers, so it is fine after clone.
int exec_command(char **argv, char **env) {
    fds_from_3(CLOSE_RANGE_CLOEXEC);
    reset_signals();
    environ = env;
    execvp(argv[0], argv);
    return errno;
}

int status_to_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return EXIT_SHIM;
}

pid_t wait_child(pid_t pid, int *status) {
    pid_t p;
    do p = waitpid(pid, status, 0); while (p < 0 && errno == EINTR);
    return p;
}

ssize_t read_retry(int fd, void *buf, size_t n) {
    ssize_t r;
    do r = read(fd, buf, n); while (r < 0 && errno == EINTR);
    return r;
}

// --- the process title --------------------------------------------------------------------------

static char *args_area_start, *args_area_end;

void title_setup(int argc, char **argv) {
    // argv strings are contiguous: the area runs from the first to the end of the last.
    if (argc <= 0) return;
    args_area_start = argv[0];
    args_area_end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
}

// The setproctitle trick: a non-NUL last byte makes /proc/PID/cmdline stop at the first NUL.
// Plain memory writes: fine between clone and exec.
void set_title(const char *title) {
    size_t n = (size_t)(args_area_end - args_area_start);
    if (!args_area_start || n < 2) return;
    size_t t = strlen(title);
    if (t > n - 2) t = n - 2;
    memcpy(args_area_start, title, t);
    memset(args_area_start + t, 0, n - t);
    args_area_end[-1] = ' ';
}
