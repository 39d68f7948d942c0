// hutch-shim: the container's first process, from clone to exec.
//
// child_main runs in a raw-clone copy of the shim: PID 1 of the new pid namespace, already in
// the new mount (and net/uts/ipc, unless joined) namespaces. From clone to exec it makes ONLY
// system calls: no malloc, no stdio, no locale. Everything it needs (namespace fds, the log fd,
// the capability state, argv, envp) was prepared by the shim before clone.
//
// A failing step reports through child_fail (proc.c): `STEP\tERRNO\tMESSAGE\n` on fd 5, then exit
// 127 for `exec` with ENOENT, 126 for any other `exec` failure, 125 for every other step.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include "child.h"
#include "caps.h"
#include "mounts.h"
#include "user.h"
#include "seccomp_filter.h"
#include "init.h"
#include "tty.h"
#include "proc.h"

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
    if (read_retry(s->sync_rd, &go, 1) != 1) _exit(EXIT_SHIM);
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

    // 8. The file system view (mounts.c): the root (the host's or --rootfs), --read-only, /proc,
    //    a read-only /sys, /dev for a root of its own, the generated /etc files, volumes and
    //    tmpfs, pivot_root, Docker's masked and read-only paths.
    mounts_setup(&s->mounts, s->binds, s->nbinds);

    // 10. stdio. --tty: a pty of the container's own (docs/shim-protocol.md, "Terminals"): a
    //     devpts instance on /dev/pts, a pair from it sized like the caller's terminal, the
    //     master sent to the shim (which copies its traffic), the slave as 0/1/2. With --log,
    //     stdin is /dev/null and stdout and stderr are pipes whose read ends the shim copies
    //     into the log (all made by the shim before clone); otherwise the shim's 0/1/2 are
    //     inherited.
    if (s->tty) {
        int err = pty_mount_devpts();
        if (err) child_fail("mount-devpts", err, "/dev/pts", true);
        int master, slave;
        if ((err = pty_open(&master, &slave))) child_fail("pty", err, "/dev/ptmx", true);
        pty_copy_size(slave);
        if ((err = send_fd(s->tty_sock, master))) child_fail("pty", err, "sending the terminal to the shim", true);
        close(master);
        close(s->tty_sock);
        if ((err = pty_stdio(slave))) child_fail("stdio", err, "the terminal", true);
    } else if (s->log_fd >= 0) {
        // stdout and stderr are two pipes the shim reads, so that the log keeps them apart.
        if (dup2(s->devnull_fd, 0) < 0 || dup2(s->out_wr, 1) < 0 || dup2(s->err_wr, 2) < 0)
            child_fail("stdio", errno, s->log, true);
        close(s->devnull_fd);
        close(s->out_wr);
        close(s->err_wr);
        close(s->log_fd);
    }

    // 11. --init: fork the command; this process stays as the init (never returns here).
    if (s->init) init_fork_command();

    // 11b. --tty: the command's session gets the pty as its controlling terminal, so that ^C
    //      and job control act on its process groups. Without --init this process is already
    //      a session leader (step 2); under the init, the command starts a session of its own
    //      (the init keeps none: it is never signalled by the terminal).
    if (s->tty) {
        if (s->init && setsid() < 0) child_fail("setsid", errno, "setsid", true);
        int err = pty_take_control();
        if (err) child_fail("tty", err, "the terminal", true);
    }

    // 12. The working directory.
    if (chdir(s->workdir) < 0) child_fail("chdir", errno, s->workdir, true);

    // 13. --user (keeping the permitted capabilities for the next step), capabilities
    //     (bounding set, E/P/I, ambient), then no_new_privs: exec can never gain privileges
    //     (set-id bits, file caps) from here on; then the seccomp filter.
    switch_user(&s->user);
    drop_privileges(&s->caps, s->no_new_privs);
    seccomp_apply(&s->seccomp);

    // 14. --pause: nothing to exec; PID 1 sleeps (init.c closes fd 5 once it is set up).
    if (s->pause) pause_main();

    // 15. The command, with its complete environment. Only 0/1/2 survive exec; fd 5 stays open
    //     until exec succeeds (its EOF is the signal).
    child_fail("exec", exec_command(s->argv, s->env), s->argv[0], false);
}
