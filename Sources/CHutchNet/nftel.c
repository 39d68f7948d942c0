/* nftables set/map elements through libnftnl over a plain NETLINK_NETFILTER socket: no cache, no
 * table dump, so adding the 1,000th element costs what the first did. One transaction per call. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h> /* libnftnl/expr.h uses FILE */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include "chutchnet.h"

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#define CHUNK 128 /* elements per message */

/* Appends one NEW/DELSETELEM message for elements [from, to) (all of the same set) at buf+*off. */
static int put_msg(char *buf, size_t cap, size_t *off, const char *table, const hn_nft_elem *e,
                   size_t from, size_t to, uint16_t type, uint16_t flags, uint32_t seq) {
    struct nftnl_set *s = nftnl_set_alloc();
    if (!s) return -ENOMEM;
    nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
    nftnl_set_set_str(s, NFTNL_SET_NAME, e[from].set);
    for (size_t i = from; i < to; i++) {
        struct nftnl_set_elem *x = nftnl_set_elem_alloc();
        if (!x) { nftnl_set_free(s); return -ENOMEM; }
        nftnl_set_elem_set(x, NFTNL_SET_ELEM_KEY, e[i].key, e[i].key_len);
        if (type == NFT_MSG_NEWSETELEM && e[i].data_len)
            nftnl_set_elem_set(x, NFTNL_SET_ELEM_DATA, e[i].data, e[i].data_len);
        if (type == NFT_MSG_NEWSETELEM && e[i].comment && *e[i].comment) {
            /* what nft writes for `comment "..."`: a NFTNL_UDATA_SET_ELEM_COMMENT TLV, NUL included */
            struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(256);
            if (!u || !nftnl_udata_put_strz(u, NFTNL_UDATA_SET_ELEM_COMMENT, e[i].comment)) {
                if (u) nftnl_udata_buf_free(u);
                nftnl_set_elem_free(x); nftnl_set_free(s); return -EMSGSIZE;
            }
            nftnl_set_elem_set(x, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u));
            nftnl_udata_buf_free(u);
        }
        nftnl_set_elem_add(s, x);
    }
    if (*off + 512 + (to - from) * 512 > cap) { nftnl_set_free(s); return -EMSGSIZE; }
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf + *off, type, NFPROTO_IPV4, flags, seq);
    nftnl_set_elems_nlmsg_build_payload(nlh, s);
    *off += NLMSG_ALIGN(nlh->nlmsg_len);
    nftnl_set_free(s);
    return 0;
}

/* One NETLINK_NETFILTER socket per process, reused by every call: closing one after a delete
 * makes the closer wait for the kernel's deferred release of what was deleted (an RCU grace
 * period, measured in bench/README.md). After a committed delete the socket is handed to the linger helper at
 * exit (linger.c), which drops it once this process is gone; otherwise the exit closes it. */
static pthread_mutex_t sock_mu = PTHREAD_MUTEX_INITIALIZER;
static int sock_fd = -1;
static int sock_handed_over; /* a delete was committed: the socket goes to the linger helper */

static int nft_socket(void) {
    if (sock_fd >= 0) return sock_fd;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return sock_fd = fd;
}

static int send_batch(int fd, const char *buf, size_t off, int msgs, uint32_t first);

int hn_nft_set_elems(const char *table, const hn_nft_elem *e, size_t n, int add, const char *linger_helper) {
    if (add) return hn_nft_elems_txn(table, NULL, 0, NULL, 0, e, n, linger_helper);
    return hn_nft_elems_txn(table, NULL, 0, e, n, NULL, 0, linger_helper);
}

/* Appends one message flushing every element of set `name` (DELSETELEM without an element list). */
static int put_flush(char *buf, size_t cap, size_t *off, const char *table, const char *name, uint32_t seq) {
    if (*off + 512 > cap) return -EMSGSIZE;
    struct nftnl_set *s = nftnl_set_alloc();
    if (!s) return -ENOMEM;
    nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
    nftnl_set_set_str(s, NFTNL_SET_NAME, name);
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf + *off, NFT_MSG_DELSETELEM, NFPROTO_IPV4, NLM_F_ACK, seq);
    nftnl_set_elems_nlmsg_build_payload(nlh, s);
    *off += NLMSG_ALIGN(nlh->nlmsg_len);
    nftnl_set_free(s);
    return 0;
}

int hn_nft_elems_txn(const char *table, const char *const *flush, size_t nflush, const hn_nft_elem *dels, size_t ndel,
                     const hn_nft_elem *adds, size_t nadd, const char *linger_helper) {
    if (nflush + ndel + nadd == 0) return 0;
    size_t cap = 4096 + nflush * 512 + (2 * ndel + nadd) * 512;
    char *buf = calloc(1, cap);
    if (!buf) return -ENOMEM;
    /* Sequence numbers go up across the calls that share the socket. */
    static uint32_t next_seq;
    pthread_mutex_lock(&sock_mu);
    if (!next_seq) next_seq = (uint32_t)time(NULL) << 8;
    uint32_t seq = next_seq, first = seq;
    size_t off = 0;
    struct nlmsghdr *h = nftnl_batch_begin(buf + off, seq++);
    off += NLMSG_ALIGN(h->nlmsg_len);
    int msgs = 0, r = 0;
    for (size_t i = 0; i < nflush && r == 0; i++) { r = put_flush(buf, cap, &off, table, flush[i], seq++); msgs++; }
    /* Deleting: add each element first (a no-op when it is there with the same data), so the delete
     * cannot fail on an element that is already gone. Then the additions. */
    for (int pass = 0; pass < 3 && r == 0; pass++) {
        const hn_nft_elem *e = pass < 2 ? dels : adds;
        size_t n = pass < 2 ? ndel : nadd;
        uint16_t type = pass == 1 ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM;
        uint16_t flags = (type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0) | NLM_F_ACK;
        for (size_t i = 0; i < n && r == 0;) {
            size_t j = i + 1;
            while (j < n && j - i < CHUNK && strcmp(e[j].set, e[i].set) == 0) j++;
            r = put_msg(buf, cap, &off, table, e, i, j, type, flags, seq++);
            msgs++;
            i = j;
        }
    }
    if (r < 0) { pthread_mutex_unlock(&sock_mu); free(buf); return r; }
    h = nftnl_batch_end(buf + off, seq++);
    off += NLMSG_ALIGN(h->nlmsg_len);
    next_seq = seq;

    int fd = nft_socket();
    if (fd < 0) r = fd;
    else r = send_batch(fd, buf, off, msgs, first);
    if (r != 0 && fd >= 0) { close(fd); sock_fd = -1; sock_handed_over = 0; } /* never reuse a socket in an unknown state */
    /* Only a delete (or flush) leaves objects for the kernel to release. */
    if (r == 0 && (ndel || nflush) && linger_helper && !sock_handed_over) {
        hn_linger_adopt_fd(sock_fd, linger_helper);
        sock_handed_over = 1;
    }
    pthread_mutex_unlock(&sock_mu);
    free(buf);
    return r;
}

static int send_batch(int fd, const char *buf, size_t off, int msgs, uint32_t first) {
    int sz = (int)(off + 65536), r = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    /* Every message's ack arrives before this reads the first one: room for all of them. The
     * receive buffer counts each ack's whole socket buffer (its truesize, ~750 bytes for an ack
     * of a few dozen), not its length; the kernel doubles the value set. 256 a message was too
     * little: one endpoint leaving 999 services (~1,400 messages) lost acks (ENOBUFS) although
     * the kernel had committed the batch. */
    int rsz = msgs * 1024 + 65536;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rsz, sizeof rsz) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rsz, sizeof rsz);
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (sendto(fd, buf, off, 0, (struct sockaddr *)&sa, sizeof sa) != (ssize_t)off) return errno ? -errno : -EIO;
    /* One answer (ack or error) per message that asked for an ack. */
    char rb[16384];
    int answers = 0;
    while (answers < msgs) {
        ssize_t got = recv(fd, rb, sizeof rb, 0);
        if (got < 0) { if (errno == EINTR) continue; r = r ? r : -errno; break; }
        for (struct nlmsghdr *m = (struct nlmsghdr *)rb; NLMSG_OK(m, (size_t)got); m = NLMSG_NEXT(m, got)) {
            if (m->nlmsg_seq < first) continue;
            if (m->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *er = NLMSG_DATA(m);
                answers++;
                if (er->error && !r) r = er->error;
            }
        }
    }
    return r;
}

/* ---- reading one chain's jumps ------------------------------------------------------------- */

struct jumps { char *out; size_t cap, len; int err; };

static int on_expr(struct nftnl_expr *e, void *arg) {
    struct jumps *j = arg;
    const char *kind = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    if (!kind || strcmp(kind, "immediate") != 0 || !nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT)) return 0;
    int v = (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
    const char *target = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
    if ((v != NFT_JUMP && v != NFT_GOTO) || !target) return 0;
    size_t n = strlen(target);
    if (j->len + n + 2 > j->cap) { j->err = -ENOSPC; return -1; }
    memcpy(j->out + j->len, target, n);
    j->len += n;
    j->out[j->len++] = '\n';
    j->out[j->len] = 0;
    return 0;
}

/* One NETLINK_NETFILTER dump: sends the request that build() writes into buf (returning it), then
 * hands each answer message to on_msg (which returns 0, or -errno to stop) until NLMSG_DONE.
 * A socket of its own: nothing is deleted through it, so closing it costs nothing.
 * 0 or -errno (-ENOENT when the table or object is missing). */
static int nft_dump(struct nlmsghdr *(*build)(char *buf, uint32_t seq, const void *arg), const void *build_arg,
                    int (*on_msg)(const struct nlmsghdr *m, void *arg), void *msg_arg) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) return -errno;
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t bufsz = 65536;
    char *buf = malloc(bufsz);
    if (!buf) { close(fd); return -ENOMEM; }
    uint32_t seq = (uint32_t)time(NULL);
    struct nlmsghdr *req = build(buf, seq, build_arg);
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    int r = 0, done = 0;
    if (!req) r = -ENOMEM;
    else if (sendto(fd, buf, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) r = -errno;
    while (r == 0 && !done) {
        ssize_t got = recv(fd, buf, bufsz, 0);
        if (got < 0) { if (errno == EINTR) continue; r = -errno; break; }
        for (struct nlmsghdr *m = (struct nlmsghdr *)buf; NLMSG_OK(m, (size_t)got); m = NLMSG_NEXT(m, got)) {
            if (m->nlmsg_seq != seq) continue;
            if (m->nlmsg_type == NLMSG_DONE) { done = 1; break; }
            if (m->nlmsg_type == NLMSG_ERROR) {
                r = ((struct nlmsgerr *)NLMSG_DATA(m))->error;
                done = 1; break;
            }
            if ((r = on_msg(m, msg_arg)) != 0) break;
        }
    }
    free(buf);
    close(fd);
    return r;
}

struct names { const char *table, *name; };

static struct nlmsghdr *rules_request(char *buf, uint32_t seq, const void *arg) {
    const struct names *n = arg;
    struct nftnl_rule *filter = nftnl_rule_alloc();
    if (!filter) return NULL;
    /* The kernel dumps only the rules of TABLE/CHAIN when both are given. */
    struct nlmsghdr *req = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_IPV4, NLM_F_DUMP, seq);
    nftnl_rule_set_str(filter, NFTNL_RULE_TABLE, n->table);
    nftnl_rule_set_str(filter, NFTNL_RULE_CHAIN, n->name);
    nftnl_rule_nlmsg_build_payload(req, filter);
    nftnl_rule_free(filter);
    return req;
}

static int on_rule(const struct nlmsghdr *m, void *arg) {
    struct jumps *j = arg;
    if (NFNL_MSG_TYPE(m->nlmsg_type) != NFT_MSG_NEWRULE) return 0;
    struct nftnl_rule *rule = nftnl_rule_alloc();
    if (!rule) return -ENOMEM;
    if (nftnl_rule_nlmsg_parse(m, rule) == 0) nftnl_expr_foreach(rule, on_expr, j);
    nftnl_rule_free(rule);
    return j->err;
}

int hn_nft_chain_jumps(const char *table, const char *chain, char *out, size_t cap) {
    if (cap < 1) return -ENOSPC;
    out[0] = 0;
    struct names n = { table, chain };
    struct jumps j = { out, cap, 0, 0 };
    int r = nft_dump(rules_request, &n, on_rule, &j);
    if (r == -ENOENT) return 0; /* no such table or chain: no jumps */
    return r < 0 ? r : (int)j.len;
}

/* ---- reading one set's elements ------------------------------------------------------------ */

static struct nlmsghdr *elems_request(char *buf, uint32_t seq, const void *arg) {
    const struct names *n = arg;
    struct nftnl_set *filter = nftnl_set_alloc();
    if (!filter) return NULL;
    struct nlmsghdr *req = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_IPV4, NLM_F_DUMP, seq);
    nftnl_set_set_str(filter, NFTNL_SET_TABLE, n->table);
    nftnl_set_set_str(filter, NFTNL_SET_NAME, n->name);
    nftnl_set_elems_nlmsg_build_payload(req, filter);
    nftnl_set_free(filter);
    return req;
}

struct elems { uint8_t *out; size_t cap, klen, dlen, n; };

static int on_elems(const struct nlmsghdr *m, void *arg) {
    struct elems *x = arg;
    struct nftnl_set *s = nftnl_set_alloc();
    if (!s) return -ENOMEM;
    int r = 0;
    size_t rec = x->klen + x->dlen;
    if (nftnl_set_elems_nlmsg_parse(m, s) == 0) {
        struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(s);
        struct nftnl_set_elem *e;
        /* iter_next returns the current element, then moves on */
        while (it && (e = nftnl_set_elems_iter_next(it))) {
            uint32_t kl = 0, dl = 0;
            const void *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &kl);
            const void *d = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &dl);
            if (!k || kl != x->klen || (x->dlen && (!d || dl != x->dlen))) continue;
            if ((x->n + 1) * rec > x->cap) { r = -ENOSPC; break; }
            memcpy(x->out + x->n * rec, k, x->klen);
            if (x->dlen) memcpy(x->out + x->n * rec + x->klen, d, x->dlen);
            x->n++;
        }
        if (it) nftnl_set_elems_iter_destroy(it);
    }
    nftnl_set_free(s);
    return r;
}

int hn_nft_set_elems_dump(const char *table, const char *set, uint8_t *out, size_t cap, size_t klen, size_t dlen) {
    struct names n = { table, set };
    struct elems x = { out, cap, klen, dlen, 0 };
    int r = nft_dump(elems_request, &n, on_elems, &x);
    if (r == -ENOENT) return 0;
    return r < 0 ? r : (int)x.n;
}
