// hutch-shim: the parent's side of a child (monitor.c): signal forwarding, waiting, copying a
// pty's traffic, and what happens after the child exits. Uses tty.c and proc.c.
#pragma once

#include <stdbool.h>
#include <signal.h>
#include <sys/types.h>

// Before clone: fills `forward` with the signals passed on to the child (docs/shim-protocol.md)
// and blocks them and SIGCHLD (and SIGPIPE if asked), so they queue for monitor_wait. The child
// inherits the mask; exec_command resets it.
void monitor_block_signals(sigset_t *forward, bool block_sigpipe);

// Waits for `child`, forwarding the signals in `forward` to it; returns its exit code
// (status_to_code), or 125 if waiting failed.
int monitor_wait(pid_t child, const sigset_t *forward);

// monitor_wait for a child whose stdio is a pty: also copies `in` -> master (keystrokes; -1:
// no input) and master -> `out` (the terminal, or the log) until the child has exited and its
// output is drained (every slave closed, or no output for 100 ms after the exit: what a process
// left behind in the background may keep the slave open for ever). SIGWINCH is not forwarded
// but applied: the caller's window size is set on the master, and the kernel signals the pty's
// foreground process group. Closes master; uses no heap.
// `framed`: `out` is the container's log, written in entries (logfmt.h) as one stream, stdout.
int monitor_wait_tty(pid_t child, const sigset_t *forward, int master, int in, int out, bool framed);

// monitor_wait for a child whose stdout and stderr are the write ends of two pipes: copies what
// comes out of each read end into the log (`log_fd`, framed with its stream's name: logfmt.h)
// until the child has exited and both pipes are drained (EOF, or no output for 100 ms after the
// exit). Closes out_rd and err_rd; uses no heap.
int monitor_wait_log(pid_t child, const sigset_t *forward, int out_rd, int err_rd, int log_fd);

// `CODE\n` into PATH.tmp, then rename to PATH: readers see the whole file or none.
void write_exit_file(const char *path, int code);

// Runs argv (PATH lookup in the shim's own environment) and waits for it; its exit code, or -1.
int run_and_wait(char **argv);
