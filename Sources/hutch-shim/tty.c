// hutch-shim: pseudo-terminals (see tty.h).
//
// Who does what (docs/shim-protocol.md, "Terminals"): the container's side opens the pair and
// makes the slave its stdio and controlling terminal; the monitor holds the master and copies
// between it and the caller's terminal (or the log), and it alone changes the caller's terminal
// settings.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include "tty.h"
#include "proc.h"

// --- the container's side (system calls only) --------------------------------------------------

int pty_mount_devpts(void) {
    // The container's ptys are numbered from 0 and it sees no other terminal of the host's.
    if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
        return errno;
    return 0;
}

int pty_open(int *master, int *slave) {
    int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return errno;
    int unlock = 0;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0) {
        int err = errno;
        close(m);
        return err;
    }
    // TIOCGPTPEER opens the slave through the master itself: no path lookup, so it is the very
    // slave of this master whatever /dev/pts shows.
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        int err = errno;
        close(m);
        return err;
    }
    *master = m;
    *slave = s;
    return 0;
}

void pty_copy_size(int to) {
    struct winsize ws;
    if (ioctl(1, TIOCGWINSZ, &ws) == 0 || ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(to, TIOCSWINSZ, &ws);
}

int pty_stdio(int slave) {
    for (int fd = 0; fd < 3; fd++) {
        if (dup2(slave, fd) < 0) return errno;
    }
    if (slave > 2) close(slave);
    return 0;
}

int pty_take_control(void) {
    if (ioctl(0, TIOCSCTTY, 0) < 0) return errno;
    return 0;
}

int send_fd(int sock, int fd) {
    char byte = 'T';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } c;
    memset(&c, 0, sizeof c);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof c.buf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    ssize_t n;
    do n = sendmsg(sock, &msg, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : errno;
}

// --- the monitor's side -------------------------------------------------------------------------

int recv_fd(int sock) {
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } c;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof c.buf };
    ssize_t n;
    do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
    if (n != 1) return -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    return fd;
}

static int saved_fd = -1;
static struct termios saved;

void term_restore(void) {
    if (saved_fd < 0) return;
    // TCSADRAIN: what the container wrote last reaches the screen under the raw settings it was
    // written for.
    tcsetattr(saved_fd, TCSADRAIN, &saved);
    saved_fd = -1;
}

void term_raw(int fd) {
    static bool registered;
    struct termios raw;
    if (tcgetattr(fd, &saved) < 0) return;
    raw = saved;
    cfmakeraw(&raw);
    if (!registered) {
        atexit(term_restore);
        registered = true;
    }
    saved_fd = fd;
    tcsetattr(fd, TCSADRAIN, &raw);
}
