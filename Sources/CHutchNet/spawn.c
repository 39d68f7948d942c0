/* Starting programs: hn_spawn, the one posix_spawn set-up every caller uses (the shim from Swift,
 * helper tools through hn_run, the linger helper at exit), and hn_run, which runs a helper program
 * (iptables-restore, iptables-save) with stdin fed and output captured.
 * posix_spawn is safe from a multi-threaded Swift process; the child gets default signal
 * dispositions, an empty signal mask and no inherited descriptors beyond 0/1/2 and the mapped ones. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "chutchnet.h"

extern char **environ;

/* Sets up the file actions for hn_spawn. `src` holds a source fd per pair, each already moved
 * above every target (see hn_spawn), so the dup2s may run in any order. */
static int spawn_actions(posix_spawn_file_actions_t *fa, const int *src, const int *fd_map,
                         size_t n, int top, int flags) {
    int r = 0;
    /* Standard streams that nothing is mapped to: /dev/null when asked, else inherited. */
    for (int fd = 0; fd < 3 && (flags & HN_SPAWN_NULL_STDIO); fd++) {
        int mapped = 0;
        for (size_t i = 0; i < n; i++) mapped |= fd_map[2 * i + 1] == fd;
        if (!mapped && !r) r = posix_spawn_file_actions_addopen(fa, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
    }
    for (size_t i = 0; i < n && !r; i++) r = posix_spawn_file_actions_adddup2(fa, src[i], fd_map[2 * i + 1]);
    /* Every other descriptor from 3 on: the gaps between targets one by one (closing one that is
     * not open is no error in glibc), everything above the highest target in one go. */
    for (int fd = 3; fd < top && !r; fd++) {
        int mapped = 0;
        for (size_t i = 0; i < n; i++) mapped |= fd_map[2 * i + 1] == fd;
        if (!mapped) r = posix_spawn_file_actions_addclose(fa, fd);
    }
    if (!r) r = posix_spawn_file_actions_addclosefrom_np(fa, top);
    return r;
}

int hn_spawn(pid_t *pid, const char *path, const char *const argv[], const int *fd_map,
             size_t n_fd_map, int flags) {
    return hn_spawn_env(pid, path, argv, (const char *const *)environ, fd_map, n_fd_map, flags);
}

int hn_spawn_env(pid_t *pid, const char *path, const char *const argv[], const char *const envp[],
                 const int *fd_map, size_t n_fd_map, int flags) {
    if (n_fd_map > 64) return -EINVAL;
    /* top: one above the highest target (at least 3). A source below it could be overwritten by
     * an earlier dup2 in the child before it is read: such sources are duplicated above `top`
     * first (close-on-exec, closed again here after the spawn). */
    int top = 3;
    for (size_t i = 0; i < n_fd_map; i++) {
        if (fd_map[2 * i] < 0 || fd_map[2 * i + 1] < 0) return -EBADF;
        if (fd_map[2 * i + 1] >= top) top = fd_map[2 * i + 1] + 1;
    }
    int src[64], own[64], r = 0;
    size_t nown = 0;
    for (size_t i = 0; i < n_fd_map && !r; i++) {
        src[i] = fd_map[2 * i];
        if (src[i] >= top) continue;
        src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, top);
        if (src[i] < 0) r = -errno; else own[nown++] = src[i];
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    if (!r) r = -spawn_actions(&fa, src, fd_map, n_fd_map, top, flags);
    /* Default dispositions (SIG_IGN included) and an empty mask, whatever the caller set. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    short f = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    /* A new session: the caller's terminal signals (Ctrl-C) no longer reach the child. */
    if (flags & HN_SPAWN_NEW_SESSION) f |= POSIX_SPAWN_SETSID;
    posix_spawnattr_setflags(&at, f);

    if (!r) r = -posix_spawn(pid, path, &fa, &at, (char *const *)argv, (char *const *)envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    for (size_t i = 0; i < nown; i++) close(own[i]);
    return r;
}

int hn_run(const char *const argv[], const char *input, size_t len, char **output) {
    *output = NULL;
    int in[2], out[2]; /* in[0]: the child's end */
    /* stdin is a socket so a child that exits early yields EPIPE (MSG_NOSIGNAL), not SIGPIPE. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) return -errno;
    if (pipe2(out, O_CLOEXEC) != 0) { int e = errno; close(in[0]); close(in[1]); return -e; }

    const int map[] = { in[0], 0, out[1], 1, out[1], 2 };
    pid_t pid;
    int r = hn_spawn(&pid, argv[0], argv, map, 3, 0);
    close(in[0]);
    close(out[1]);
    if (r < 0) { close(in[1]); close(out[0]); return r; }

    /* Feed stdin and drain stdout together so neither side can block the other. */
    size_t off = 0, cap = 4096, n = 0;
    char *buf = malloc(cap);
    int infd = in[1];
    if (!input || len == 0) { close(infd); infd = -1; }
    for (;;) {
        struct pollfd p[2] = { { out[0], POLLIN, 0 }, { infd, POLLOUT, 0 } };
        if (poll(p, infd >= 0 ? 2 : 1, -1) < 0) { if (errno == EINTR) continue; break; }
        if (infd >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = send(infd, input + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) off += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || off == len) { close(infd); infd = -1; }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (buf && n + 4096 + 1 > cap) { cap *= 2; char *b = realloc(buf, cap); if (!b) { free(buf); buf = NULL; } else buf = b; }
            char scratch[4096];
            ssize_t got = read(out[0], buf ? buf + n : scratch, 4096);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            if (buf) n += (size_t)got;
        }
    }
    if (infd >= 0) close(infd);
    close(out[0]);
    if (buf) { buf[n] = 0; *output = buf; }

    int status = 0;
    while (waitpid(pid, &status, 0) < 0) { if (errno != EINTR) return -errno; }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

int hn_lock_file(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return -errno;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) { int e = errno; close(fd); return -e; }
    }
    return fd;
}

void hn_unlock_file(int fd) { if (fd >= 0) close(fd); }
