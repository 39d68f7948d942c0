// hutch-shim: the container's first process, from clone to exec (child.c), and the run spec it
// works from. Uses init.c, caps.c and proc.c.
#pragma once

#include <stdbool.h>
#include "caps.h"
#include "mounts.h"
#include "user.h"
#include "seccomp_filter.h"

// How the container gets one namespace kind (`--netns new|host|PATH`).
enum ns_mode { NS_NEW, NS_HOST, NS_PATH };

struct ns_opt {
    enum ns_mode mode;
    const char *path; // NS_PATH only
    int fd;           // NS_PATH only: opened by the shim before clone, setns'ed by the child
    int clone_flag;   // CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC
    const char *step; // "setns-net", ...
};

struct bind {
    const char *src;
    const char *dst;
    const char *spec; // the original SRC:DST, for error messages
};

// `--restart`: what the monitor does when the container's command exits (Docker's policies).
enum restart_policy { RESTART_NO, RESTART_ALWAYS, RESTART_ON_FAILURE, RESTART_UNLESS_STOPPED };

// Everything `hutch-shim run` was asked for (main.c), plus what the shim prepared before clone
// (spawn.c). Declared here, with its lowest reader.
struct run_spec {
    struct ns_opt net, uts, ipc;
    const char *hostname;
    struct bind *binds;
    int nbinds;
    bool no_proc;
    const char *workdir;
    char **env; // NULL-terminated: the command's complete environment
    bool init, pause, detach, no_new_privs;
    bool tty; // --tty: stdio is a pty of the container's own (tty.c)
    bool open_stdin; // --open-stdin: with --log, stdin is a pipe that stays open (not /dev/null)
    const char *log;
    const char *exit_file;
    char **exit_cmd; // NULL-terminated, may be empty
    char **argv;     // NULL-terminated command (empty with --pause)
    struct caps_plan caps;
    struct mounts_plan mounts;    // --read-only, --rootfs, --tmpfs, --volume, --mask, --readonly-path
    struct user_plan user;        // --user, --groups
    struct seccomp_plan seccomp;  // --seccomp FILE
    const char **cgroups;         // --cgroup DIR: the shim moves the child in before it runs
    int ncgroups;
    enum restart_policy restart;  // --restart POLICY[:MAX]
    int restart_max;              // on-failure's maximum retry count; 0: no maximum
    const char *stop_file;        // --stop-file PATH: once it exists, no more restarts
    char **restart_cmd;           // --restart-cmd ARG...: NULL-terminated, 2 free slots at the end
    int nrestart_cmd;

    // Prepared by the shim before clone.
    int log_fd;     // --log opened O_APPEND|O_CREAT, or -1
    int out_wr, err_wr; // with --log and no --tty: the write ends of the stdout and stderr pipes
    int devnull_fd; // stdin with --log: /dev/null, or the read end of the --open-stdin pipe; or -1
    int sync_rd;    // the child waits for one byte here (the shim relays the CLI's `G`)
    int sync_wr;
    int tty_sock;   // --tty: the child sends the pty's master to the shim over this socket
    bool have_status, have_go, have_err; // which of fds 3/4/5 the caller passed
};

// Runs in the clone child: setup in the new namespaces, then exec (or init, or pause). System
// calls only. Never returns.
__attribute__((noreturn)) void child_main(struct run_spec *spec);
