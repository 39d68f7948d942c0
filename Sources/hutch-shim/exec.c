// hutch-shim exec: run a command inside a running container.
//
// The CLI execv's the shim, so this process is what the user waits on. It joins the container's
// namespaces (mnt last: after it, /proc is the container's), forks so that the command lands in
// the container's pid namespace, forwards signals, and exits with the command's status. --tty:
// the command's stdio is a pty opened from the container's /dev/ptmx (its own devpts if it was
// started with --tty), and this process copies between it and its own stdin/stdout.
// Errors are one line `hutch: ...` on stderr: 125 for a failed step, 126/127 for a command that
// cannot be run / is not found.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "exec.h"
#include "caps.h"
#include "cgroup.h"
#include "user.h"
#include "seccomp_filter.h"
#include "monitor.h"
#include "tty.h"
#include "proc.h"

static const struct {
    const char *name;
    int flag;
} kinds[] = {
    { "ipc", CLONE_NEWIPC },
    { "uts", CLONE_NEWUTS },
    { "net", CLONE_NEWNET },
    { "pid", CLONE_NEWPID },
    { "mnt", CLONE_NEWNS }, // last: joining it changes our root, cwd and /proc
};
enum { NKINDS = sizeof kinds / sizeof kinds[0] };

void exec_in_container(struct exec_spec *s) {
    // 1. Open every namespace file first, while /proc is still the host's.
    int fds[NKINDS];
    for (int i = 0; i < NKINDS; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)s->pid, kinds[i].name);
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) {
            if (errno == ENOENT || errno == ESRCH) shim_fatal("the container's process %d is not running", (int)s->pid);
            shim_fatal("cannot open %s: %s", path, strerror(errno));
        }
    }

    // 2. Capabilities are prepared now (libcap allocates); the child only applies them.
    if (s->caps.enabled && caps_prepare(&s->caps, s->caps.mask) < 0)
        shim_fatal("cannot prepare capabilities: %s", strerror(errno));

    // 2b. The container's cgroup (this process, so the command forked below is in it from its
    //     first instruction; the paths are the host's, so before the mount namespace), and its
    //     seccomp program (libseccomp allocates).
    const char *failed = NULL;
    int cg_err = cgroup_enter(getpid(), s->cgroups, s->ncgroups, &failed);
    if (cg_err) shim_fatal("cannot join the container's cgroup %s: %s", failed, strerror(cg_err));
    seccomp_prepare(&s->seccomp);

    // 3. Join: ipc, uts, net, pid (applies to our children), mnt.
    for (int i = 0; i < NKINDS; i++) {
        if (setns(fds[i], kinds[i].flag) < 0)
            shim_fatal("cannot join the container's %s namespace: %s", kinds[i].name, strerror(errno));
        close(fds[i]);
    }

    // 3b. --tty: a pty pair from the container's /dev/ptmx (we are in its mount namespace now),
    //     sized like our terminal. Both ends are opened here, before fork, so the master never
    //     reports a hangup for a slave not yet opened.
    int master = -1, slave = -1;
    if (s->tty) {
        int err = pty_open(&master, &slave);
        if (err) shim_fatal("cannot open a terminal in the container (/dev/ptmx): %s", strerror(err));
        pty_copy_size(master);
    }

    // 4. Block the forwarded signals and SIGCHLD (they queue for sigwaitinfo), and with a pty
    //    SIGPIPE (a closed stdout must not kill us with the terminal in raw mode), then fork
    //    the command into the container's pid namespace.
    sigset_t forward;
    monitor_block_signals(&forward, s->tty);
    report_setup(REPORT_HUTCH);
    pid_t child = raw_clone(0);
    if (child < 0) shim_fatal("fork: %s", strerror(errno));

    if (child == 0) {
        // The command's process: system calls only until exec (as in child.c). Its own session,
        // so that a keyboard signal reaches it once, through our forwarding; with a pty, the
        // pty is that session's controlling terminal and the command's stdio.
        if (setsid() < 0) child_fail("setsid", errno, "setsid", true);
        if (slave >= 0) {
            int err = pty_stdio(slave);
            if (!err) err = pty_take_control();
            if (err) child_fail("tty", err, "the terminal", true);
        }
        if (chdir(s->workdir) < 0) child_fail("chdir", errno, s->workdir, true);
        switch_user(&s->user);
        drop_privileges(&s->caps, s->no_new_privs);
        seccomp_apply(&s->seccomp);
        child_fail("exec", exec_command(s->argv, s->env), s->argv[0], false);
    }

    // 5. Forward signals until the command exits, then exit with its status. With a pty, copy
    //    meanwhile, our stdin in raw mode if it is a terminal (restored at every exit: atexit).
    if (master < 0) exit(monitor_wait(child, &forward));
    close(slave);
    if (isatty(0)) term_raw(0);
    int code = monitor_wait_tty(child, &forward, master, 0, 1, false);
    term_restore();
    exit(code);
}
