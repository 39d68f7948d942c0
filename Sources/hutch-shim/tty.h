// hutch-shim: pseudo-terminals (tty.c): a pty pair for a container, the slave as a process's
// controlling terminal, a master passed between processes, and the caller's terminal in raw mode
// and back. Uses proc.c only.
//
// The functions marked "system calls only" are called between clone and exec.
#pragma once

#include <stdbool.h>

// --- the container's side (system calls only) --------------------------------------------------

// Mounts a devpts instance of the container's own on /dev/pts (newinstance, ptmxmode 0666, mode
// 0620, gid 5), in the caller's mount namespace, which must be private. /dev/ptmx then opens
// that instance (Linux >= 4.7 resolves it through the `pts` next to it). 0 or an errno.
int pty_mount_devpts(void);

// Opens a new pty pair from /dev/ptmx: the master and its slave, both close-on-exec and
// O_NOCTTY (the slave becomes a controlling terminal only through pty_take_control). 0 or an errno.
int pty_open(int *master, int *slave);

// Sets `to`'s window size (a slave, or a master: the same pair) to the caller's terminal's: fd
// 1's, else fd 0's; neither a terminal (detached): left as it is. On a master, a change signals
// SIGWINCH to the pty's foreground process group (the kernel does it).
void pty_copy_size(int to);

// The slave becomes fds 0, 1, 2 (and is closed at its own number). 0 or an errno.
int pty_stdio(int slave);

// Makes fd 0 (a pty slave) the controlling terminal of the caller, which must be a session
// leader without one. 0 or an errno.
int pty_take_control(void);

// Sends fd over a unix socket (SCM_RIGHTS). 0 or an errno.
int send_fd(int sock, int fd);

// --- the monitor's side -------------------------------------------------------------------------

// Receives an fd sent with send_fd; -1 on EOF (the sender is gone) or error.
int recv_fd(int sock);

// Puts fd (a terminal) into raw mode (cfmakeraw: no echo, no line editing, no keyboard signals,
// no output processing), remembering its settings; term_restore puts them back. The first call
// registers term_restore with atexit, so every exit() of the shim (shim_fatal included) restores.
void term_raw(int fd);
void term_restore(void);
