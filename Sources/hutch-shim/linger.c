// `hutch-shim linger [--del-link NAME]...`: work the hutch CLI leaves behind so that it does not
// wait for it (see Sources/CHutchNet/linger.c for the CLI's side).
//
// Deletes each named link (RTM_DELLINK; a link that is already gone is fine), then keeps its
// descriptors 3 and up (NETLINK_NETFILTER sockets after a delete) until stdin reaches EOF, which
// happens when the CLI holding the pipe's write end has exited; then exits, dropping them. The
// kernel's waits (an RCU grace period for each) happen here, in a process nobody waits for.
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include "linger.h"
#include "proc.h"

// ip link del NAME in the current network namespace; 0, or -errno (-ENODEV: no such link).
static int delete_link(int fd, const char *name, unsigned seq) {
    size_t len = strlen(name);
    if (len >= IFNAMSIZ) return -EINVAL;
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
        char attrs[RTA_SPACE(IFNAMSIZ)];
    } req;
    memset(&req, 0, sizeof req);
    struct rtattr *a = (struct rtattr *)req.attrs;
    a->rta_type = IFLA_IFNAME;
    a->rta_len = RTA_LENGTH(len + 1);
    memcpy(RTA_DATA(a), name, len + 1);
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.i) + RTA_ALIGN(a->rta_len);
    req.h.nlmsg_type = RTM_DELLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = seq;
    req.i.ifi_family = AF_UNSPEC;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) return -errno;
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) { if (errno == EINTR) continue; return -errno; }
        for (struct nlmsghdr *m = (struct nlmsghdr *)buf; NLMSG_OK(m, (size_t)n); m = NLMSG_NEXT(m, n)) {
            if (m->nlmsg_seq != seq || m->nlmsg_type != NLMSG_ERROR) continue;
            return ((struct nlmsgerr *)NLMSG_DATA(m))->error;
        }
    }
}

int linger_main(const char **links, int n) {
    int fd = -1;
    for (int i = 0; i < n; i++) {
        if (fd < 0) {
            fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
            struct timeval tv = { .tv_sec = 10 };
            if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        }
        if (fd >= 0) delete_link(fd, links[i], (unsigned)i + 1); // best effort: gc sweeps leftovers
    }
    if (fd >= 0) close(fd);
    char b[64];
    while (read_retry(0, b, sizeof b) > 0) {}
    return 0;
}
