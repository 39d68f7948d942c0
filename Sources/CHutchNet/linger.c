/* Work left to a helper that outlives the hutch process: `hutch-shim linger`.
 *
 * Two kernel operations make their caller wait for an RCU grace period (bench/README.md has the figures) although
 * their effect is already complete or certain: closing a NETLINK_NETFILTER socket after a commit
 * that deleted rules (the kernel releases the deleted objects first), and RTM_DELLINK of a veth.
 * At exit, hutch spawns one helper and hands it both: the sockets (as fds 3, 4, ...) and the names
 * of the links to delete. The helper deletes the links, then waits for EOF on its stdin (the write
 * end stays here, close-on-exec, until this process is gone), then exits, dropping the sockets.
 * The caller's command has returned by then; nothing is left half-done (the rules were removed and
 * acknowledged, the links are removed by the helper or, with their namespace, by the kernel). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "chutchnet.h"

#define MAX_FDS 8
#define MAX_LINKS 256

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char *helper;
static int fds[MAX_FDS];
static size_t nfds;
static char links[MAX_LINKS][IFNAMSIZ];
static size_t nlinks;
static int registered;

static void hand_over(void);

/* Under mu. */
static int note_helper(const char *path) {
    if (!path || !*path) return -EINVAL;
    if (!helper && !(helper = strdup(path))) return -ENOMEM;
    if (!registered) { atexit(hand_over); registered = 1; }
    return 0;
}

int hn_linger_adopt_fd(int fd, const char *helper_path) {
    pthread_mutex_lock(&mu);
    int r = note_helper(helper_path);
    if (r == 0 && nfds == MAX_FDS) r = -ENOSPC;
    /* Our own reference (hn_spawn moves it to 3+ in the helper whatever its number). */
    int dup = r == 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (r == 0 && dup < 0) r = -errno;
    if (r == 0) fds[nfds++] = dup;
    pthread_mutex_unlock(&mu);
    return r;
}

int hn_linger_delete_link(const char *name, const char *helper_path) {
    if (strlen(name) >= IFNAMSIZ) return -EINVAL;
    pthread_mutex_lock(&mu);
    int r = note_helper(helper_path);
    if (r == 0 && nlinks == MAX_LINKS) r = -ENOSPC;
    if (r == 0) strcpy(links[nlinks++], name);
    pthread_mutex_unlock(&mu);
    return r;
}

/* atexit: one helper for everything collected. If it cannot be spawned, the links are deleted and
 * the sockets closed here (slower, same result). */
static void hand_over(void) {
    pthread_mutex_lock(&mu);
    if (nfds == 0 && nlinks == 0) { pthread_mutex_unlock(&mu); return; }
    int p[2] = { -1, -1 };
    int spawned = 0;
    if (pipe2(p, O_CLOEXEC) == 0) {
        /* stdin: the pipe's read end; the sockets at 3, 4, ...; stdout and stderr: /dev/null;
         * its own session, so the caller's terminal signals (Ctrl-C) do not reach it. */
        int map[2 + 2 * MAX_FDS];
        size_t m = 0;
        map[m++] = p[0]; map[m++] = 0;
        for (size_t i = 0; i < nfds; i++) { map[m++] = fds[i]; map[m++] = 3 + (int)i; }
        char *argv[2 + 2 * MAX_LINKS + 1];
        size_t n = 0;
        argv[n++] = helper;
        argv[n++] = (char *)"linger";
        for (size_t i = 0; i < nlinks; i++) { argv[n++] = (char *)"--del-link"; argv[n++] = links[i]; }
        argv[n] = NULL;
        pid_t pid;
        spawned = hn_spawn(&pid, helper, (const char *const *)argv, map, m / 2,
                           HN_SPAWN_NULL_STDIO | HN_SPAWN_NEW_SESSION) == 0;
        close(p[0]);
    }
    if (!spawned) {
        if (p[1] >= 0) close(p[1]);
        int err = 0;
        hn_nl *nl = nlinks ? hn_nl_open(&err) : NULL;
        if (nl) {
            for (size_t i = 0; i < nlinks; i++) hn_link_del(nl, links[i]);
            hn_nl_close(nl);
        }
    }
    /* Spawned: p[1] stays open until this process is gone; the helper is reparented and reaped
     * by init (or the subreaper). Either way this process's own copies of the sockets go now. */
    for (size_t i = 0; i < nfds; i++) close(fds[i]);
    nfds = nlinks = 0;
    pthread_mutex_unlock(&mu);
}
