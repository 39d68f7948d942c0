// hutch-shim: shared types and the functions each file provides.
// The contract with the Swift CLI is docs/shim-protocol.md.
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/types.h>

// The file descriptors the CLI hands to `hutch-shim run`.
enum {
    FD_STATUS = 3, // write end: the shim reports `PID\n` (or its own one-line error)
    FD_GO = 4,     // read end: the CLI writes `G` once the network is wired
    FD_ERR = 5,    // write end: the child reports `STEP\tERRNO\tMESSAGE\n`, EOF at exec
};

// Exit codes (Docker's convention).
enum {
    EXIT_SHIM = 125,     // the shim or a setup step failed
    EXIT_CANNOT = 126,   // the command exists but cannot be executed
    EXIT_NOTFOUND = 127, // the command was not found
};

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

// Capabilities prepared before clone (libcap allocates), applied after it (syscalls only).
struct caps_plan {
    bool enabled;
    uint64_t mask;
    int last_cap; // highest capability number the kernel knows
    cap_t state;  // E = P = I = mask
};

// Everything `hutch-shim run` was asked for, plus what the shim prepared before clone.
struct run_spec {
    struct ns_opt net, uts, ipc;
    const char *hostname;
    struct bind *binds;
    int nbinds;
    bool no_proc;
    const char *workdir;
    char **env; // NULL-terminated: the command's complete environment
    bool init, pause, detach, no_new_privs;
    const char *log;
    const char *exit_file;
    char **exit_cmd; // NULL-terminated, may be empty
    char **argv;     // NULL-terminated command (empty with --pause)
    struct caps_plan caps;

    // Prepared by the shim before clone.
    int log_fd;     // --log opened O_APPEND|O_CREAT, or -1
    int devnull_fd; // /dev/null for stdin with --log, or -1
    int sync_rd;    // the child waits for one byte here (the shim relays the CLI's `G`)
    int sync_wr;
    bool have_status, have_go, have_err; // which of fds 3/4/5 the caller passed
};

struct exec_spec {
    pid_t pid;
    char **env;
    const char *workdir;
    bool no_new_privs;
    char **argv;
    struct caps_plan caps;
};

// main.c
extern const char *fatal_prefix; // "hutch-shim", or "hutch" in exec mode
__attribute__((noreturn, format(printf, 1, 2))) void shim_fatal(const char *fmt, ...);
extern char *args_area_start, *args_area_end; // the shim's argv strings, for set_title
void set_title(const char *title);

// spawn.c: `hutch-shim run`.
__attribute__((noreturn)) void run_container(struct run_spec *spec);

// child.c: the container's first process, from clone to exec. Syscalls only.
// Where a failing step reports to (set before clone/fork).
enum report_mode {
    REPORT_PIPE,   // `STEP\tERRNO\tMESSAGE\n` on fd 5 (run, as the CLI expects)
    REPORT_STDERR, // `hutch-shim: STEP: MESSAGE` on stderr (run started without fd 5, by hand)
    REPORT_HUTCH,  // `hutch: ...` on stderr, worded for users (exec)
};
extern enum report_mode report_mode;
__attribute__((noreturn)) void child_main(struct run_spec *spec);
__attribute__((noreturn)) void child_fail(const char *step, int err, const char *what, bool with_text);
void mark_fds_cloexec(void);
void close_fds_from_3(void);
void reset_signals(void);
__attribute__((noreturn)) void exec_command(char **argv, char **env);

// init.c: PID 1 helpers.
// Forks the command; returns in the command's process, never returns in the init.
void init_fork_command(void);
__attribute__((noreturn)) void pause_main(void);

// monitor.c: waiting for a child while forwarding signals.
void forwarded_signals(sigset_t *set);
int wait_forwarding(pid_t child, const sigset_t *forward);
int status_to_code(int status);
void write_exit_file(const char *path, int code);
int run_and_wait(char **argv);

// caps.c
int caps_prepare(struct caps_plan *plan, uint64_t mask);
int caps_apply(const struct caps_plan *plan);
int parse_caps(const char *text, uint64_t *mask);

// exec.c: `hutch-shim exec`.
__attribute__((noreturn)) void exec_in_container(struct exec_spec *spec);

// Raw fork-like clone: no glibc fork handlers, safe from this single-threaded process.
pid_t raw_clone(unsigned long flags);

// linger.c: `hutch-shim linger [--del-link NAME]...`, the names already parsed by main.c.
int linger_main(const char **links, int n);
