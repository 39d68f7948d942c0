// hutch-shim: the process helpers every other file uses (proc.c): failure reports, fd hygiene,
// signal reset, exec, clone, exit codes. The bottom layer: proc.h includes no other shim header
// and proc.c calls nothing but libc. main.c's head comment shows who calls whom.
//
// The contract with the Swift CLI is docs/shim-protocol.md.
#pragma once

#include <stdbool.h>
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

// --- failures -----------------------------------------------------------------------------------

// A failure of the shim itself (bad arguments, or a step before any child runs): one line
// `PREFIX: MESSAGE` on stderr and, when asked, the same line on fd 3; then exit 125.
// fatal_setup chooses PREFIX ("hutch-shim" by default, "hutch" in exec mode) and whether fd 3
// gets the line too (run, when the CLI passed fd 3: a detached shim's stderr is /dev/null).
void fatal_setup(const char *prefix, bool to_status_fd);
__attribute__((noreturn, format(printf, 1, 2))) void shim_fatal(const char *fmt, ...);

// Where a failing step of a child (between clone and exec) reports to; set before clone/fork.
enum report_mode {
    REPORT_PIPE,   // `STEP\tERRNO\tMESSAGE\n` on fd 5 (run, as the CLI expects); the default
    REPORT_STDERR, // `hutch-shim: STEP: MESSAGE` on stderr (run started without fd 5, by hand)
    REPORT_HUTCH,  // `hutch: ...` on stderr, worded for users (exec)
};
void report_setup(enum report_mode mode);

// Reports a failed step and exits: 127 for step "exec" with ENOENT, 126 for any other "exec"
// failure, 125 for every other step. `what` names the object (a path, the command); with_text
// appends the errno text. System calls only: safe between clone and exec.
__attribute__((noreturn)) void child_fail(const char *step, int err, const char *what, bool with_text);

// --- processes ----------------------------------------------------------------------------------

// Fork-like clone(2) with extra namespace flags: no glibc fork handlers, which is fine for this
// single-threaded process. 0 in the child, the child's pid (or -1) in the parent.
pid_t raw_clone(unsigned long flags);

// Closes every fd >= 3 (for processes that stay and do not exec: the init, the pause).
void close_fds_from_3(void);

// The last step of every process the shim starts: every fd >= 3 becomes close-on-exec (fd 5
// stays usable for a report until the exec itself), every signal gets its default disposition
// and the mask is emptied, environ becomes env (execvp's PATH lookup reads it), execvp.
// Returns only if the exec failed, with its errno.
int exec_command(char **argv, char **env);

// Docker's convention: the exit code, or 128+N when killed by signal N; 125 otherwise.
int status_to_code(int status);

// waitpid(pid, status, 0), retried on EINTR.
pid_t wait_child(pid_t pid, int *status);

// read(2), retried on EINTR.
ssize_t read_retry(int fd, void *buf, size_t n);

// Rewrites the shim's argv strings in place, so /proc/PID/cmdline shows `title` (the init and the
// pause show as `hutch-shim init` / `hutch-shim pause`). title_setup records the argv area once,
// in main, before anything splits an argument.
void title_setup(int argc, char **argv);
void set_title(const char *title);
