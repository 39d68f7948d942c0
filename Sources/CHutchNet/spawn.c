/* Running a helper program (iptables-restore, iptables-save) with stdin fed and output captured.
 * posix_spawn is safe from a multi-threaded Swift process; the child gets default signal
 * dispositions, an empty signal mask and no inherited descriptors beyond 0/1/2. */
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

int hn_run(const char *const argv[], const char *input, size_t len, char **output) {
    *output = NULL;
    int in[2], out[2]; /* in[0]: the child's end */
    /* stdin is a socket so a child that exits early yields EPIPE (MSG_NOSIGNAL), not SIGPIPE. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) return -errno;
    if (pipe2(out, O_CLOEXEC) != 0) { int e = errno; close(in[0]); close(in[1]); return -e; }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    pid_t pid;
    int r = posix_spawn(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(in[0]);
    close(out[1]);
    if (r != 0) { close(in[1]); close(out[0]); return -r; }

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
