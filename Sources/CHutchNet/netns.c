/* Opening NETLINK_ROUTE sockets, in the caller's netns or in another one (from a setns'ing thread),
 * and the request/acknowledge loop every other file uses. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <netlink/errno.h>
#include "internal.h"

int hn_nle_to_errno(int nle) {
    switch (nle < 0 ? -nle : nle) {
    case 0: return 0;
    case NLE_INTR: return -EINTR;
    case NLE_AGAIN: return -EAGAIN;
    case NLE_NOMEM: return -ENOMEM;
    case NLE_EXIST: return -EEXIST;
    case NLE_INVAL: return -EINVAL;
    case NLE_RANGE: return -ERANGE;
    case NLE_MSGSIZE: return -EMSGSIZE;
    case NLE_OPNOTSUPP: return -EOPNOTSUPP;
    case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
    case NLE_OBJ_NOTFOUND: return -ENOENT;
    case NLE_NOADDR: return -EADDRNOTAVAIL;
    case NLE_BUSY: return -EBUSY;
    case NLE_NOACCESS: return -EACCES;
    case NLE_PERM: return -EPERM;
    case NLE_NODEV: return -ENODEV;
    default: return -EIO;
    }
}

static hn_nl *open_here(int *err) {
    struct nl_sock *sk = nl_socket_alloc();
    if (!sk) { *err = -ENOMEM; return NULL; }
    int r = nl_connect(sk, NETLINK_ROUTE);
    if (r < 0) { *err = hn_nle_to_errno(r); nl_socket_free(sk); return NULL; }
    /* Kernel replies can be large (route dumps): a 1 MiB receive buffer avoids ENOBUFS. */
    nl_socket_set_buffer_size(sk, 1 << 20, 0);
    nl_socket_set_msg_buf_size(sk, 1 << 16);
    hn_nl *nl = calloc(1, sizeof *nl);
    if (!nl) { *err = -ENOMEM; nl_socket_free(sk); return NULL; }
    nl->sk = sk;
    *err = 0;
    return nl;
}

hn_nl *hn_nl_open(int *err) { return open_here(err); }

struct netns_job {
    int nsfd;
    hn_nl *result;
    int err;
};

static void *netns_thread(void *p) {
    struct netns_job *job = p;
    /* Only this thread changes namespace; it exits right after, so nothing else runs in it. */
    if (setns(job->nsfd, CLONE_NEWNET) != 0) { job->err = -errno; return NULL; }
    job->result = open_here(&job->err);
    return NULL;
}

hn_nl *hn_nl_open_netns_path(const char *path, int *err) {
    struct netns_job job = { .nsfd = open(path, O_RDONLY | O_CLOEXEC), .result = NULL, .err = 0 };
    if (job.nsfd < 0) { *err = -errno; return NULL; }
    pthread_t t;
    int r = pthread_create(&t, NULL, netns_thread, &job);
    if (r != 0) { close(job.nsfd); *err = -r; return NULL; }
    pthread_join(t, NULL);
    close(job.nsfd);
    *err = job.err;
    return job.result;
}

hn_nl *hn_nl_open_netns_pid(pid_t pid, int *err) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
    return hn_nl_open_netns_path(path, err);
}

void hn_nl_close(hn_nl *nl) {
    if (!nl) return;
    nl_socket_free(nl->sk);
    free(nl);
}

void hn_free(void *p) { free(p); }

/* ---- request / answer ------------------------------------------------------------------------ */

struct talk_state {
    int done;      /* 1 once the ACK, the error or the end of the dump arrived */
    int result;    /* 0 or -errno */
    hn_reply_fn on_reply;
    void *arg;
};

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg) {
    (void)nla;
    struct talk_state *s = arg;
    s->done = 1;
    s->result = e->error; /* already a negative errno */
    return NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg) {
    (void)msg;
    struct talk_state *s = arg;
    s->done = 1;
    return NL_STOP;
}

static int on_valid(struct nl_msg *msg, void *arg) {
    struct talk_state *s = arg;
    return s->on_reply ? s->on_reply(msg, s->arg) : NL_OK;
}

int hn_talk(hn_nl *nl, struct nl_msg *msg, int dump, hn_reply_fn on_reply, void *arg) {
    nl_complete_msg(nl->sk, msg);
    if (dump) nlmsg_hdr(msg)->nlmsg_flags &= ~NLM_F_ACK;
    int r = nl_send(nl->sk, msg);
    nlmsg_free(msg);
    if (r < 0) return hn_nle_to_errno(r);

    struct nl_cb *cb = nl_cb_clone(nl_socket_get_cb(nl->sk));
    if (!cb) return -ENOMEM;
    struct talk_state s = { .done = 0, .result = 0, .on_reply = on_reply, .arg = arg };
    nl_cb_err(cb, NL_CB_CUSTOM, on_error, &s);
    nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &s);
    nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_ack, &s);
    nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &s);
    while (!s.done) {
        r = nl_recvmsgs(nl->sk, cb);
        if (r < 0 && !s.done) { s.result = hn_nle_to_errno(r); break; }
    }
    nl_cb_put(cb);
    return s.result;
}
