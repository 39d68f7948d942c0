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
//   (--tty: copy terminal <-> master)
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

void run_container(struct run_spec *s) {
    // 1. The protocol fds. By hand they may be missing: then no pid report, no go wait, and
    //    setup errors on stderr.
    s->have_status = ensure_fd(FD_STATUS, O_WRONLY);
    s->have_go = ensure_fd(FD_GO, O_RDONLY);
    s->have_err = ensure_fd(FD_ERR, O_WRONLY);
    report_setup(s->have_err ? REPORT_PIPE : REPORT_STDERR);

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
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0) shim_fatal("pipe: %s", strerror(errno));
    s->sync_rd = sync[0];
    s->sync_wr = sync[1];
    // --tty: the child opens the pty in its own devpts (it exists only in the child's mount
    // namespace) and sends us the master over this socket.
    int tty_sock = -1;
    if (s->tty) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) shim_fatal("socketpair: %s", strerror(errno));
        tty_sock = sv[0];
        s->tty_sock = sv[1];
    }

    // 5. Block the forwarded signals, SIGCHLD and SIGPIPE (monitor.c says why). The child
    //    inherits the mask and resets it right before exec.
    sigset_t forward;
    monitor_block_signals(&forward, true);

    // 6. Clone the container's first process: always new pid and mount namespaces, new
    //    net/uts/ipc unless host or joined.
    unsigned long flags = CLONE_NEWPID | CLONE_NEWNS;
    if (s->net.mode == NS_NEW) flags |= CLONE_NEWNET;
    if (s->uts.mode == NS_NEW) flags |= CLONE_NEWUTS;
    if (s->ipc.mode == NS_NEW) flags |= CLONE_NEWIPC;
    pid_t child = raw_clone(flags);
    if (child < 0) shim_fatal("clone: %s", strerror(errno));
    if (child == 0) child_main(s); // never returns: from here to exec, system calls only

    // The container's cgroup(s), before the child runs anything of the container's (it waits
    // for the go byte): a failure is the shim's own, reported in place of the pid.
    const char *failed = NULL;
    int cg_err = cgroup_enter(child, s->cgroups, s->ncgroups, &failed);
    if (cg_err) {
        kill(child, SIGKILL);
        wait_child(child, NULL);
        shim_fatal("cannot move the container into the cgroup %s: %s", failed, strerror(cg_err));
    }

    // 7. Report the container's host pid and close fd 3. Drop our copies of what only the
    //    child uses: fd 5 (so the CLI sees EOF when the child execs), the sync read end, the
    //    namespace and log fds.
    if (s->have_status) dprintf(FD_STATUS, "%d\n", (int)child);
    close(FD_STATUS);
    close(FD_ERR);
    close_if(&s->sync_rd);
    close_if(&s->net.fd);
    close_if(&s->uts.fd);
    close_if(&s->ipc.fd);
    close_if(&s->tty_sock);
    // With --tty the container writes to the pty, and the log (if any) is ours to fill.
    int tty_out = s->log_fd >= 0 ? s->log_fd : 1;
    if (!s->tty) close_if(&s->log_fd);
    close_if(&s->devnull_fd);
    if (s->caps.state) {
        cap_free(s->caps.state);
        s->caps.state = NULL;
    }

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
    if (write(s->sync_wr, "G", 1) < 0) {
        // EPIPE: the child is already gone; its status comes from waitpid below.
    }
    close_if(&s->sync_wr);

    // 9. Monitor: forward signals to the container's PID 1 until it exits. --tty: receive the
    //    master (EOF: the child failed before it had one; its report is on fd 5) and copy the
    //    pty's traffic meanwhile. Keystrokes come from our stdin unless detached or logging (the
    //    CLI hands us /dev/null without -i); a terminal there goes into raw mode, so that ^C
    //    and ^Z are bytes for the container's terminal, and back at every exit (atexit).
    int code;
    int master = s->tty ? recv_fd(tty_sock) : -1;
    if (tty_sock >= 0) close(tty_sock);
    if (master >= 0) {
        int in = (s->detach || s->log) ? -1 : 0;
        if (in == 0 && isatty(0)) term_raw(0);
        code = monitor_wait_tty(child, &forward, master, in, tty_out);
        term_restore();
    } else {
        code = monitor_wait(child, &forward);
    }

    // 10. The exit file, then the exit command when nobody else will clean up: detached, or
    //     the CLI that started us in the foreground is gone.
    if (stdin_hold >= 0) close(stdin_hold);
    if (s->exit_file) write_exit_file(s->exit_file, code);
    if (s->exit_cmd[0] && (s->detach || getppid() != start_ppid)) run_and_wait(s->exit_cmd);
    exit(code);
}
