// hutch-shim run: clone the container's first process, sync with the CLI, monitor it.
//
// The shim (the "monitor", like conmon) never leaves the caller's namespaces: it runs the exit
// command there once the container is gone. Only the clone child enters new namespaces or
// setns'es into joined ones (child.c).
//
//   shim (monitor)                          child (container PID 1)
//   prepare: ns fds, log, caps, sync pipe
//   block signals, clone  ---------------->  close fds 3/4, wait on sync pipe
//   `PID\n` on fd 3, close 3, 5
//   read `G` on fd 4, relay on sync pipe -->  setns, hostname, mounts, stdio, caps, exec
//   (--tty: receive the pty master <--------  devpts, pty pair, master over tty_sock)
//   forward signals, waitpid                  (fd 5: a report, or EOF at exec)
//   (--tty: copy terminal <-> master; --log: copy the stdout/stderr pipes into the log, framed)
//   (--restart: restart command, backoff, clone again into the kept network namespace)
//   exit file, exit command, exit CODE
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <time.h>
#include "spawn.h"
#include "caps.h"
#include "child.h"
#include "cgroup.h"
#include "mounts.h"
#include "seccomp_filter.h"
#include "monitor.h"
#include "tty.h"
#include "proc.h"

// Is fd open? If not, /dev/null takes its number so that nothing we open later lands there.
static bool ensure_fd(int fd, int flags) {
    if (fcntl(fd, F_GETFD) >= 0) return true;
    int n = open("/dev/null", flags | O_CLOEXEC);
    if (n >= 0 && n != fd) {
        dup3(n, fd, O_CLOEXEC);
        close(n);
    }
    return false;
}

// Opens the namespace file of a joined namespace, in the host's mount namespace.
static void open_ns(struct ns_opt *ns, const char *what) {
    if (ns->mode != NS_PATH) return;
    ns->fd = open(ns->path, O_RDONLY | O_CLOEXEC);
    if (ns->fd < 0) shim_fatal("cannot open the %s namespace %s: %s", what, ns->path, strerror(errno));
}

static void close_if(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

// fd 3, 4 and 5 stay taken (by /dev/null) once closed: a restarted child closes 3 and 4 and
// reports on 5, so nothing of ours may land on those numbers.
static void hold_fd(int fd) {
    int n = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (n >= 0 && n != fd) {
        dup3(n, fd, O_CLOEXEC);
        close(n);
    }
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// The per-child setup: the sync pipe, the pty socket (--tty), the stdout/stderr pipes (--log),
// then clone and the cgroups. On return the child waits for the sync byte. The shim's ends come
// back in *tty_sock, *out_rd, *err_rd (-1 when unused); the child's ends are closed here.
// A failure returns -1 (errno set; *failed names what failed).
static pid_t start_child(struct run_spec *s, int *tty_sock, int *out_rd, int *err_rd, const char **failed) {
    *tty_sock = *out_rd = *err_rd = -1;
    s->out_wr = s->err_wr = -1;
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0) { *failed = "pipe"; return -1; }
    s->sync_rd = sync[0];
    s->sync_wr = sync[1];
    // --tty: the child opens the pty in its own devpts (it exists only in the child's mount
    // namespace) and sends us the master over this socket.
    if (s->tty) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) { *failed = "socketpair"; return -1; }
        *tty_sock = sv[0];
        s->tty_sock = sv[1];
    } else if (s->log_fd >= 0) {
        int o[2], e[2];
        if (pipe2(o, O_CLOEXEC) < 0) { *failed = "pipe"; return -1; }
        if (pipe2(e, O_CLOEXEC) < 0) { close(o[0]); close(o[1]); *failed = "pipe"; return -1; }
        *out_rd = o[0]; s->out_wr = o[1];
        *err_rd = e[0]; s->err_wr = e[1];
    }
    // Always new pid and mount namespaces, new net/uts/ipc unless host or joined (or kept).
    unsigned long flags = CLONE_NEWPID | CLONE_NEWNS;
    if (s->net.mode == NS_NEW) flags |= CLONE_NEWNET;
    if (s->uts.mode == NS_NEW) flags |= CLONE_NEWUTS;
    if (s->ipc.mode == NS_NEW) flags |= CLONE_NEWIPC;
    pid_t child = raw_clone(flags);
    if (child < 0) { *failed = "clone"; return -1; }
    if (child == 0) child_main(s); // never returns: from here to exec, system calls only

    // The container's cgroup(s), before the child runs anything of the container's (it waits
    // for the sync byte).
    int cg_err = cgroup_enter(child, s->cgroups, s->ncgroups, failed);
    close_if(&s->sync_rd);
    close_if(&s->tty_sock);
    close_if(&s->out_wr);
    close_if(&s->err_wr);
    if (cg_err) {
        kill(child, SIGKILL);
        wait_child(child, NULL);
        errno = cg_err;
        return -1;
    }
    return child;
}

// Lets the child go on (it waits for one byte on the sync pipe).
static void release_child(struct run_spec *s) {
    if (write(s->sync_wr, "G", 1) < 0) {
        // EPIPE: the child is already gone; its status comes from waitpid.
    }
    close_if(&s->sync_wr);
}

// Waits for the child, copying its terminal or its output pipes meanwhile (monitor.c).
static int wait_for(struct run_spec *s, pid_t child, const sigset_t *forward, int tty_sock, int out_rd,
                    int err_rd, int tty_out) {
    // --tty: receive the master (EOF: the child failed before it had one; its report is on
    // fd 5) and copy the pty's traffic meanwhile. Keystrokes come from our stdin unless detached
    // or logging (the CLI hands us /dev/null without -i); a terminal there goes into raw mode, so
    // that ^C and ^Z are bytes for the container's terminal, and back at every exit (atexit).
    int master = s->tty ? recv_fd(tty_sock) : -1;
    if (tty_sock >= 0) close(tty_sock);
    if (master >= 0) {
        int in = (s->detach || s->log) ? -1 : 0;
        if (in == 0 && isatty(0)) term_raw(0);
        int code = monitor_wait_tty(child, forward, master, in, tty_out, s->log_fd >= 0);
        term_restore();
        return code;
    }
    if (out_rd >= 0) return monitor_wait_log(child, forward, out_rd, err_rd, s->log_fd);
    return monitor_wait(child, forward);
}

// Docker's restart manager: whether the policy restarts after this exit (a user's stop, the
// stop file, prevents it; on-failure counts its retries).
static bool should_restart(struct run_spec *s, int code, int count) {
    if (s->restart == RESTART_NO) return false;
    if (s->stop_file && access(s->stop_file, F_OK) == 0) return false;
    if (s->restart == RESTART_ON_FAILURE) return code != 0 && (s->restart_max == 0 || count < s->restart_max);
    return true;
}

// The backoff between two starts: sleeps `ms`, forwarding nothing (there is no child); a
// SIGTERM, SIGINT, SIGHUP or SIGQUIT (`hutch stop` of a container waiting to restart) ends the
// wait and the restarts: false.
static bool backoff(const sigset_t *forward, long long ms) {
    sigset_t set = *forward;
    sigaddset(&set, SIGCHLD);
    long long deadline = now_ms() + ms;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) return true;
        struct timespec ts = { .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000 };
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig < 0) {
            if (errno == EAGAIN) return true;
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT) return false;
    }
}

// Runs the restart command with two more arguments: EVENT and its VALUE (a code or a pid).
static void restart_event(struct run_spec *s, const char *event, int value) {
    if (!s->restart_cmd || !s->restart_cmd[0]) return;
    char num[16];
    snprintf(num, sizeof num, "%d", value);
    s->restart_cmd[s->nrestart_cmd] = (char *)event;
    s->restart_cmd[s->nrestart_cmd + 1] = num;
    s->restart_cmd[s->nrestart_cmd + 2] = NULL;
    run_and_wait(s->restart_cmd);
}

void run_container(struct run_spec *s) {
    // 1. The protocol fds. By hand they may be missing: then no pid report, no go wait, and
    //    setup errors on stderr.
    s->have_status = ensure_fd(FD_STATUS, O_WRONLY);
    s->have_go = ensure_fd(FD_GO, O_RDONLY);
    s->have_err = ensure_fd(FD_ERR, O_WRONLY);
    report_setup(s->have_err ? REPORT_PIPE : REPORT_STDERR);
    bool restarts = s->restart != RESTART_NO;

    // 2. Remember who started us: if that changes (the CLI died while waiting in the
    //    foreground), the exit command must run.
    pid_t start_ppid = getppid();

    // 3. Detached: our own session (the CLI's posix_spawn usually did it already).
    if (s->detach && getsid(0) != getpid()) setsid();

    // 4. Prepare everything the child needs, so that it only makes system calls.
    open_ns(&s->net, "network");
    open_ns(&s->uts, "UTS");
    open_ns(&s->ipc, "IPC");
    if (s->log) {
        s->log_fd = open(s->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (s->log_fd < 0) shim_fatal("cannot open the log %s: %s", s->log, strerror(errno));
        s->devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (s->devnull_fd < 0) shim_fatal("cannot open /dev/null: %s", strerror(errno));
    }
    // --open-stdin (`run -di`): stdin is a pipe whose write end we keep, unwritten, until we
    // exit, so that `sh` reads no EOF and stays (Docker keeps a detached -i container's stdin open).
    int stdin_hold = -1;
    if (s->log && s->open_stdin) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) shim_fatal("pipe: %s", strerror(errno));
        close(s->devnull_fd);
        s->devnull_fd = p[0];
        stdin_hold = p[1];
    }
    if (s->caps.enabled && caps_prepare(&s->caps, s->caps.mask) < 0)
        shim_fatal("cannot prepare capabilities: %s", strerror(errno));
    // The file system plan's paths and the seccomp program are prepared here: the child only
    // makes system calls.
    mounts_prepare(&s->mounts, s->binds, s->nbinds);
    seccomp_prepare(&s->seccomp);

    // 5. Block the forwarded signals, SIGCHLD and SIGPIPE (monitor.c says why). The child
    //    inherits the mask and resets it right before exec.
    sigset_t forward;
    monitor_block_signals(&forward, true);

    // 6. Clone the container's first process and move it into its cgroup(s): a failure is the
    //    shim's own, reported in place of the pid.
    int tty_sock, out_rd, err_rd;
    const char *failed = NULL;
    pid_t child = start_child(s, &tty_sock, &out_rd, &err_rd, &failed);
    if (child < 0) {
        if (failed && failed[0] == '/') shim_fatal("cannot move the container into the cgroup %s: %s", failed, strerror(errno));
        shim_fatal("%s: %s", failed ? failed : "clone", strerror(errno));
    }

    // 7. Report the container's host pid and close fd 3. Drop our copy of fd 5 (so the CLI sees
    //    EOF when the child execs). What a restart needs again stays: the namespace files, the
    //    log and stdin, the capability state.
    if (s->have_status) dprintf(FD_STATUS, "%d\n", (int)child);
    close(FD_STATUS);
    close(FD_ERR);
    if (restarts) {
        hold_fd(FD_STATUS);
        hold_fd(FD_ERR);
    } else {
        close_if(&s->net.fd);
        close_if(&s->uts.fd);
        close_if(&s->ipc.fd);
        close_if(&s->devnull_fd);
        if (s->caps.state) {
            cap_free(s->caps.state);
            s->caps.state = NULL;
        }
    }
    // With --tty the container writes to the pty, and the log (if any) is ours to fill; without,
    // the log is filled from the stdout/stderr pipes.
    int tty_out = s->log_fd >= 0 ? s->log_fd : 1;

    // 8. Wait for the CLI's `G` (it wires the network meanwhile) and relay it to the child.
    //    EOF or anything else: abort, kill and reap the child, exit 125 without exit file or
    //    exit command (the CLI unwinds on its own).
    if (s->have_go) {
        char go = 0;
        ssize_t n = read_retry(FD_GO, &go, 1);
        close(FD_GO);
        if (n != 1 || go != 'G') {
            kill(child, SIGKILL);
            wait_child(child, NULL);
            exit(EXIT_SHIM);
        }
    } else {
        close(FD_GO);
    }
    if (restarts) hold_fd(FD_GO);
    // --restart with a network namespace of its own: we keep it (an open nsfs file keeps a
    // namespace, its veth, address and routes alive) and every restarted child joins it, so the
    // network the CLI wired stays as it is across restarts.
    if (restarts && s->net.mode == NS_NEW) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/net", (int)child);
        s->net.fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->net.fd >= 0) {
            s->net.mode = NS_PATH;
            s->net.path = "the kept network namespace";
        } else {
            restarts = false; // the child is already gone: nothing to keep, no restarts
        }
    }
    release_child(s);

    // 9. Monitor: forward signals to the container's PID 1 until it exits. --restart: clone
    //    again after Docker's backoff (100 ms, doubled after each start that ran less than 10 s,
    //    at most a minute), unless the stop file exists or a stop signal ends the wait.
    int code;
    int count = 0;
    long long delay = 0;
    for (;;) {
        long long started = now_ms();
        code = wait_for(s, child, &forward, tty_sock, out_rd, err_rd, tty_out);
        if (!restarts || !should_restart(s, code, count)) break;
        delay = delay == 0 ? 100 : delay * 2;
        if (now_ms() - started >= 10000) delay = 100;
        if (delay > 60000) delay = 60000;
        count++;
        restart_event(s, "restarting", code);
        if (!backoff(&forward, delay)) break;
        if (s->stop_file && access(s->stop_file, F_OK) == 0) break;
        child = start_child(s, &tty_sock, &out_rd, &err_rd, &failed);
        if (child < 0) {
            fprintf(stderr, "hutch-shim: cannot restart the container: %s: %s\n", failed ? failed : "clone", strerror(errno));
            break;
        }
        release_child(s);
        restart_event(s, "started", (int)child);
    }

    // 10. The exit file, then the exit command when nobody else will clean up: detached, or
    //     the CLI that started us in the foreground is gone.
    if (stdin_hold >= 0) close(stdin_hold);
    if (s->exit_file) write_exit_file(s->exit_file, code);
    if (s->exit_cmd[0] && (s->detach || getppid() != start_ppid)) run_and_wait(s->exit_cmd);
    exit(code);
}
