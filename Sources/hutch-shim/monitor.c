// hutch-shim: waiting for a child while forwarding signals, and what happens after it exits.
//
// The monitor stays resident for every detached container, so it is kept small: no heap use
// after setup, no buffers beyond a path on the stack (20 KiB more to copy a pty's traffic), signals taken synchronously with
// sigwaitinfo (no handlers, no races), or, for a child on a pty, through a signalfd polled
// together with the pty.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include "monitor.h"
#include "tty.h"
#include "logfmt.h"
#include "proc.h"

// The signals the shim passes on to the child (docs/shim-protocol.md).
static void forwarded_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGUSR2);
    sigaddset(set, SIGWINCH);
}

// Blocked, the forwarded signals and SIGCHLD queue for sigwaitinfo in monitor_wait (a SIGTERM
// during setup is forwarded once the child runs); a blocked SIGPIPE makes a write to a dead
// child's pipe return EPIPE instead of killing the shim.
void monitor_block_signals(sigset_t *forward, bool block_sigpipe) {
    sigset_t blocked;
    forwarded_signals(forward);
    blocked = *forward;
    sigaddset(&blocked, SIGCHLD);
    if (block_sigpipe) sigaddset(&blocked, SIGPIPE);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
}

int monitor_wait(pid_t child, const sigset_t *forward) {
    sigset_t set = *forward;
    sigaddset(&set, SIGCHLD);
    for (;;) {
        // Check before every wait: SIGCHLDs coalesce, the exit itself cannot be missed this way.
        int status;
        pid_t p = waitpid(child, &status, WNOHANG);
        if (p == child) return status_to_code(status);
        if (p < 0 && errno != EINTR) return EXIT_SHIM;
        int sig = sigwaitinfo(&set, NULL);
        if (sig > 0 && sig != SIGCHLD) kill(child, sig);
    }
}

void write_exit_file(const char *path, int code) {
    char tmp[PATH_MAX];
    char line[16];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        fprintf(stderr, "hutch-shim: exit file path too long: %s\n", path);
        return;
    }
    int len = snprintf(line, sizeof line, "%d\n", code);
    // No fsync: it cost every run a disk flush (bench/README.md), and a power loss also ends the container and
    // loses the store's last commits (synchronous=NORMAL), after which gc works from the boot id.
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, line, (size_t)len) != len || close(fd) < 0 || rename(tmp, path) < 0) {
        fprintf(stderr, "hutch-shim: cannot write exit file %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        unlink(tmp);
    }
}

// The shim keeps its signals blocked meanwhile, so a late SIGTERM cannot interrupt the cleanup
// (the command itself starts with a clean mask: exec_command).
int run_and_wait(char **argv) {
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "hutch-shim: cannot run the exit command: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int err = exec_command(argv, environ);
        fprintf(stderr, "hutch-shim: cannot run the exit command %s: %s\n", argv[0], strerror(err));
        _exit(EXIT_NOTFOUND);
    }
    int status;
    if (wait_child(pid, &status) < 0) return -1;
    return status_to_code(status);
}

// The child's exit code if it has exited, -1 if not yet, 125 if waiting failed.
static int try_reap(pid_t child) {
    int status;
    pid_t p = waitpid(child, &status, WNOHANG);
    if (p == child) return status_to_code(status);
    if (p < 0 && errno != EINTR) return EXIT_SHIM;
    return -1;
}

// --- a child on a pty ---------------------------------------------------------------------------

// How long output may pause after the child's exit before the copy ends anyway.
enum { DRAIN_MS = 100 };

// Writes everything to fd (the caller's stdout or the log), waiting when it is non-blocking and
// full. false when it cannot take more (a closed pipe: EPIPE, SIGPIPE being blocked).
static bool write_out(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = { .fd = fd, .events = POLLOUT };
            poll(&pf, 1, -1);
            continue;
        }
        return false;
    }
    return true;
}

// Takes every pending signal from the signalfd: SIGWINCH resizes the pty, SIGCHLD only wakes the
// loop (it calls waitpid), the others go to the child.
static void take_signals(int sfd, pid_t child, int master) {
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGWINCH) pty_copy_size(master);
        else if (sig != SIGCHLD) kill(child, sig);
    }
}

int monitor_wait_tty(pid_t child, const sigset_t *forward, int master, int in, int out, bool framed) {
    // The signals monitor_wait takes with sigwaitinfo arrive here through a signalfd, so one
    // poll waits for them and for both directions of traffic.
    sigset_t set = *forward;
    sigaddset(&set, SIGCHLD);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        close(master);
        return monitor_wait(child, forward);
    }
    // The master is ours alone: non-blocking, so that pending keystrokes never keep us from
    // reading the container's output (it may be waiting for us to, before it reads).
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);

    char inbuf[4096], outbuf[16384];
    size_t in_len = 0, in_off = 0;
    bool master_open = true;
    int code = -1; // the child's exit code once it has exited
    for (;;) {
        if (code < 0 && (code = try_reap(child)) >= 0) in = -1; // keystrokes typed from now on are the caller's shell's
        if (code >= 0 && !master_open) break;
        bool pending = in_len > in_off;
        struct pollfd pf[3] = {
            { .fd = sfd, .events = POLLIN },
            { .fd = master_open ? master : -1, .events = (short)(POLLIN | (pending ? POLLOUT : 0)) },
            { .fd = (in >= 0 && !pending) ? in : -1, .events = POLLIN },
        };
        int n = poll(pf, 3, code >= 0 ? DRAIN_MS : -1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; // drained (timeout after the exit), or poll failed
        if (pf[0].revents) take_signals(sfd, child, master);
        if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(master, outbuf, sizeof outbuf);
            if (r > 0) {
                // A log takes the terminal's output as one stream, framed (logfmt.h).
                bool ok = out < 0 || (framed ? log_chunk(out, "stdout", outbuf, (size_t)r) == 0
                                             : write_out(out, outbuf, (size_t)r));
                if (!ok) out = -1; // discard from now on
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                master_open = false; // EIO: every slave is closed and everything was read
            }
        }
        if (master_open && pending && (pf[1].revents & POLLOUT)) {
            ssize_t w = write(master, inbuf + in_off, in_len - in_off);
            if (w > 0) in_off += (size_t)w;
            if (in_off == in_len) in_off = in_len = 0;
        }
        if (pf[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(in, inbuf, sizeof inbuf);
            if (r > 0) {
                in_len = (size_t)r;
                in_off = 0;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                in = -1; // EOF: the caller's input is over; the container keeps its terminal
            }
        }
        if (!master_open) in = -1;
    }
    close(sfd);
    close(master);
    // Left the loop before the exit (poll failed): wait without copying.
    return code >= 0 ? code : monitor_wait(child, forward);
}

// --- a child whose output goes to the log -------------------------------------------------------

int monitor_wait_log(pid_t child, const sigset_t *forward, int out_rd, int err_rd, int log_fd) {
    sigset_t set = *forward;
    sigaddset(&set, SIGCHLD);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        // Without a signalfd the pipes cannot be polled with the signals: the child writes into
        // them unread until it exits (its writes block once they are full).
        int code = monitor_wait(child, forward);
        close(out_rd);
        close(err_rd);
        return code;
    }
    int fds[2] = { out_rd, err_rd };
    const char *names[2] = { "stdout", "stderr" };
    char buf[16384];
    int code = -1;
    for (;;) {
        if (code < 0) code = try_reap(child);
        if (code >= 0 && fds[0] < 0 && fds[1] < 0) break;
        struct pollfd pf[3] = {
            { .fd = sfd, .events = POLLIN },
            { .fd = fds[0], .events = POLLIN },
            { .fd = fds[1], .events = POLLIN },
        };
        // After the exit, what is left in the pipes is read; a process that escaped the pid
        // namespace's end cannot keep the monitor (DRAIN_MS without output ends the copy).
        int n = poll(pf, 3, code >= 0 ? DRAIN_MS : -1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (pf[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                if ((int)si.ssi_signo != SIGCHLD) kill(child, (int)si.ssi_signo);
        }
        for (int i = 0; i < 2; i++) {
            if (!(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = read(fds[i], buf, sizeof buf);
            if (r > 0) {
                if (log_fd >= 0 && log_chunk(log_fd, names[i], buf, (size_t)r) < 0) log_fd = -1; // full disk: discard
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
    }
    close(sfd);
    for (int i = 0; i < 2; i++) if (fds[i] >= 0) close(fds[i]);
    return code >= 0 ? code : monitor_wait(child, forward);
}
