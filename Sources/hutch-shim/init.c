// hutch-shim: what runs as PID 1 of a container when the command does not.
//
// --init: a tiny init (the tini pattern). It forks the command, forwards every catchable signal
//         except SIGCHLD to it, reaps every zombie (orphans are re-parented to PID 1), and exits
//         with the command's status once the command itself exits; the kernel then kills whatever
//         is left in the pid namespace.
// --pause: Kubernetes' pause.c: sleeps in pause(), reaps children, exits 0 on SIGINT/SIGTERM.
//
// Both run in the clone child, so they too make only system calls.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "init.h"
#include "proc.h"

// The init's loop. Every signal is blocked and taken with sigwaitinfo: a blocked signal is
// queued even for a pid-namespace init without handlers, so the monitor's forwarded SIGTERM
// arrives here instead of being dropped.
__attribute__((noreturn)) static void init_loop(pid_t command) {
    sigset_t all;
    sigfillset(&all);
    for (;;) {
        int sig = sigwaitinfo(&all, NULL);
        if (sig < 0) continue; // EINTR
        if (sig != SIGCHLD) {
            kill(command, sig);
            continue;
        }
        // Reap every child that has exited: the command and any orphaned descendant.
        for (;;) {
            int status;
            pid_t p = waitpid(-1, &status, WNOHANG);
            if (p <= 0) break;
            if (p == command) _exit(status_to_code(status));
        }
    }
}

void init_fork_command(void) {
    // Block everything first: a signal that arrives between fork and the loop stays pending
    // for sigwaitinfo instead of taking a default action.
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);

    // Fork the command (it becomes PID 2). raw_clone is fork without glibc's atfork machinery.
    pid_t command = raw_clone(0);
    if (command < 0) child_fail("fork", errno, "cannot start the command under the init", true);
    if (command == 0) return; // the command goes on with chdir, caps, exec (signals reset there)

    // Inside the container, `ps` shows `hutch-shim init`, not the run options.
    set_title("hutch-shim init");

    // The init keeps no fd but 0/1/2; dropping its copy of fd 5 lets the CLI see EOF at exec.
    close_fds_from_3();
    init_loop(command);
}

// --- pause (Kubernetes pause.c semantics) -----------------------------------------------------

static void sigdown(int sig) {
    (void)sig;
    _exit(0);
}

static void sigreap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

void pause_main(void) {
    set_title("hutch-shim pause");

    // Handlers make SIGINT/SIGTERM deliverable to a pid-namespace init; each failing setup step
    // has its own exit code, as in pause.c.
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sigdown;
    if (sigaction(SIGINT, &sa, NULL) < 0) _exit(1);
    if (sigaction(SIGTERM, &sa, NULL) < 0) _exit(2);
    sa.sa_handler = sigreap;
    sa.sa_flags = SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) < 0) _exit(3);

    // Set up: keep no fd but 0/1/2. EOF on fd 5 tells the CLI that setup succeeded, so it comes
    // after the title (whoever sees the EOF sees `hutch-shim pause`) and the handlers.
    close_fds_from_3();

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    for (;;) pause();
    _exit(42); // unreachable, as in pause.c
}
