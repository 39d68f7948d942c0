// hutch-shim: the container's first process, from clone to exec.
//
// child_main runs in a raw-clone copy of the shim: PID 1 of the new pid namespace, already in
// the new mount (and net/uts/ipc, unless joined) namespaces. From clone to exec it makes ONLY
// system calls: no malloc, no stdio, no locale. Everything it needs (namespace fds, the log fd,
// the capability state, argv, envp) was prepared by the shim before clone.
//
// A failing step reports `STEP\tERRNO\tMESSAGE\n` on fd 5 and exits: 127 for `exec` with
// ENOENT, 126 for any other `exec` failure, 125 for every other step.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <linux/close_range.h>
#include "shim.h"

enum report_mode report_mode = REPORT_PIPE;

// --- error reporting without stdio ------------------------------------------------------------

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

// Reports a failed step and exits. `what` names the object (a path, the command); with_text
// appends the errno text to it (the CLI adds its own wording for `exec`).
void child_fail(const char *step, int err, const char *what, bool with_text) {
    bool is_exec = strcmp(step, "exec") == 0;
    int code = is_exec ? (err == ENOENT ? EXIT_NOTFOUND : EXIT_CANNOT) : EXIT_SHIM;
    struct line l = { .len = 0 };
    switch (report_mode) {
    case REPORT_PIPE:
        put(&l, step); put_raw(&l, "\t"); put_int(&l, err); put_raw(&l, "\t"); put(&l, what);
        if (with_text) { put(&l, ": "); put(&l, errtext(err)); }
        l.buf[l.len++] = '\n';
        write_all(FD_ERR, l.buf, l.len);
        break;
    case REPORT_STDERR:
        put(&l, "hutch-shim: "); put(&l, step); put(&l, ": "); put(&l, what);
        put(&l, ": "); put(&l, errtext(err));
        l.buf[l.len++] = '\n';
        write_all(2, l.buf, l.len);
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
        l.buf[l.len++] = '\n';
        write_all(2, l.buf, l.len);
        break;
    }
    _exit(code);
}

// --- the last steps before exec, shared with `exec` mode ----------------------------------------

// Marks every fd above 2 close-on-exec, so only 0/1/2 reach the command while fd 5 stays usable
// for a report until the exec itself. close_range(CLOSE_RANGE_CLOEXEC) needs Linux 5.11; older
// kernels get a loop over the fd table.
void mark_fds_cloexec(void) {
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
    struct rlimit rl;
    int max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max)
        max = (int)rl.rlim_cur;
    for (int fd = 3; fd < max; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

// Default dispositions for every signal and an empty mask: the command must not inherit the
// shim's blocked set (blocked masks and ignored dispositions survive exec).
void reset_signals(void) {
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

// Replaces the process with the command. environ becomes the given list first, so the PATH
// lookup of execvp uses the container's PATH (glibc's execvp only reads environ and uses stack
// buffers). Reaching the line after execvp means it failed.
void exec_command(char **argv, char **env) {
    reset_signals();
    environ = env;
    execvp(argv[0], argv);
    child_fail("exec", errno, argv[0], false);
}

// ip link set lo up, in the new network namespace this process is already in: one ioctl here
// instead of a netlink session opened into the namespace from the CLI.
static int loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

// --- the container's first process --------------------------------------------------------------

// Closes every fd >= 3 for real (the init and pause keep running, they do not exec).
void close_fds_from_3(void) {
    if (close_range(3, ~0U, 0) == 0) return;
    for (int fd = 3; fd < 65536; fd++) close(fd);
}

void child_main(struct run_spec *s) {
    // 1. Drop the CLI's status and go fds and our copy of the sync pipe's write end: the CLI reads
    //    fd 3 to EOF and must not wait for us, and the go byte arrives on sync_rd.
    close(FD_STATUS);
    close(FD_GO);
    close(s->sync_wr);

    // 2. A session of its own: keyboard signals from the caller's terminal do not reach the
    //    container directly, only once, through the monitor's forwarding.
    if (setsid() < 0) child_fail("setsid", errno, "setsid", true);

    // 3. Die with the monitor: a container nobody watches would keep its IP after the state
    //    store released it. (Kept across exec unless the command is set-id or has file caps.)
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

    // 4. Wait until the CLI has wired the network (the shim relays its `G`). EOF: the shim is
    //    gone or aborting (it SIGKILLs us anyway).
    char go;
    ssize_t n;
    do n = read(s->sync_rd, &go, 1); while (n < 0 && errno == EINTR);
    if (n != 1) _exit(EXIT_SHIM);
    close(s->sync_rd);

    // 5. Join the namespaces given as paths (the fds were opened before clone, in the host's
    //    mount namespace). The shim itself never leaves the host namespaces.
    struct ns_opt *joins[] = { &s->ipc, &s->uts, &s->net };
    for (size_t i = 0; i < sizeof joins / sizeof joins[0]; i++) {
        struct ns_opt *ns = joins[i];
        if (ns->mode != NS_PATH) continue;
        if (setns(ns->fd, ns->clone_flag) < 0) child_fail(ns->step, errno, ns->path, true);
        close(ns->fd);
    }

    // 5b. A new network namespace starts with lo down; Docker's containers (every mode that has
    //     a netns of its own) have it up.
    if (s->net.mode == NS_NEW && loopback_up() < 0) child_fail("lo-up", errno, "lo", true);

    // 6. The hostname, in our own UTS namespace (main.c checked that it is a new one).
    if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
        child_fail("sethostname", errno, s->hostname, true);

    // 7. Make every mount private, so nothing below propagates back to the host.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        child_fail("mount-private", errno, "/", true);

    // 8. A fresh procfs, so that /proc (and ps) show the container's pid namespace.
    if (!s->no_proc && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        child_fail("mount-proc", errno, "/proc", true);
    // 8b. A read-only sysfs mounted from inside the container's network namespace, so
    // /sys/class/net shows its own interfaces (for --netns host: the caller's), as Docker does.
    // EBUSY: /sys already is this very sysfs (the caller runs under `ip netns exec`, which mounts
    // the namespace's sysfs there, and the container shares that netns): keep it.
    if (!s->no_proc &&
        mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
        errno != EBUSY)
        child_fail("mount-sysfs", errno, "/sys", true);

    // 9. The generated files (/etc/hosts, /etc/hostname, /etc/resolv.conf).
    for (int i = 0; i < s->nbinds; i++) {
        if (mount(s->binds[i].src, s->binds[i].dst, NULL, MS_BIND, NULL) < 0)
            child_fail("bind", errno, s->binds[i].spec, true);
    }

    // 10. stdio: with --log, stdin is /dev/null and stdout+stderr append to the log (both opened
    //     by the shim before clone); otherwise the shim's 0/1/2 are inherited.
    if (s->log_fd >= 0) {
        if (dup2(s->devnull_fd, 0) < 0 || dup2(s->log_fd, 1) < 0 || dup2(s->log_fd, 2) < 0)
            child_fail("stdio", errno, s->log, true);
        close(s->devnull_fd);
        close(s->log_fd);
    }

    // 11. --init: fork the command; this process stays as the init (never returns here).
    if (s->init) init_fork_command();

    // 12. The working directory.
    if (chdir(s->workdir) < 0) child_fail("chdir", errno, s->workdir, true);

    // 13. Capabilities: bounding set, E/P/I, ambient.
    if (caps_apply(&s->caps) < 0) child_fail("caps", errno, "cannot reduce capabilities", true);

    // 14. no_new_privs: exec can never gain privileges (set-id bits, file caps) from here on.
    if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail("no-new-privs", errno, "prctl(PR_SET_NO_NEW_PRIVS)", true);

    // 15. --pause: nothing to exec; close every fd but 0/1/2 (EOF on fd 5 tells the CLI that
    //     setup succeeded) and sleep as PID 1.
    if (s->pause) {
        close_fds_from_3();
        pause_main();
    }

    // 16. Only 0/1/2 survive exec; fd 5 stays open until exec succeeds (its EOF is the signal).
    mark_fds_cloexec();

    // 17. The command, with its complete environment.
    exec_command(s->argv, s->env);
}
