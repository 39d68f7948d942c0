// hutch-shim: waiting for a child while forwarding signals, and what happens after it exits.
//
// The monitor stays resident for every detached container, so it is kept small: no heap use
// after setup, no buffers beyond a path on the stack, signals taken synchronously with
// sigwaitinfo (no handlers, no races).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "monitor.h"
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
