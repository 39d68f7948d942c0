/* Deleting conntrack entries over netlink (libnetfilter_conntrack), in the caller's netns.
 *
 * UDP has no connection end: an entry made before a port mapping existed (or towards the previous
 * container) keeps steering datagrams until it times out. After a UDP mapping changes, its entries
 * go: one dump of the IPv4 table, then one delete per matching entry, as `conntrack -D -p udp
 * --dport PORT` does per port, without a process per port. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include "chutchnet.h"

/* What the dump callback collects: copies of the matching entries. */
struct ct_match {
    const uint16_t *ports; /* host byte order */
    size_t nports;
    struct nf_conntrack **found;
    size_t n, cap;
    int err; /* -ENOMEM once an entry could not be kept */
};

/* Dump callback: keeps a copy of each UDP entry whose original destination port is wanted. The
 * dump asked for IPv4 only (the kernel filters on the family). */
static int collect(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *arg) {
    (void)type;
    struct ct_match *m = arg;
    if (nfct_get_attr_u8(ct, ATTR_L3PROTO) != AF_INET || nfct_get_attr_u8(ct, ATTR_L4PROTO) != IPPROTO_UDP)
        return NFCT_CB_CONTINUE;
    uint16_t port = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
    size_t i = 0;
    while (i < m->nports && m->ports[i] != port) i++;
    if (i == m->nports) return NFCT_CB_CONTINUE;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        struct nf_conntrack **f = realloc(m->found, cap * sizeof *f);
        if (!f) { m->err = -ENOMEM; return NFCT_CB_STOP; }
        m->found = f;
        m->cap = cap;
    }
    struct nf_conntrack *copy = nfct_clone(ct);
    if (!copy) { m->err = -ENOMEM; return NFCT_CB_STOP; }
    m->found[m->n++] = copy;
    return NFCT_CB_CONTINUE;
}

int hn_conntrack_delete_udp(const uint16_t *ports, size_t n) {
    if (n == 0) return 0;
    struct nfct_handle *h = nfct_open(CONNTRACK, 0);
    if (!h) return errno ? -errno : -EIO;
    struct ct_match m = { .ports = ports, .nports = n };
    nfct_callback_register(h, NFCT_T_ALL, collect, &m);
    /* The deletes follow the dump (not inside its callback): the socket is busy until it ends. */
    uint32_t family = AF_INET;
    int r = nfct_query(h, NFCT_Q_DUMP, &family) < 0 ? -errno : m.err;
    nfct_callback_unregister(h);
    int deleted = 0;
    for (size_t i = 0; i < m.n; i++) {
        /* The delete names the entry by its original tuple (and id): ENOENT means it expired or
         * someone else deleted it meanwhile, which is as good. */
        if (r == 0) {
            if (nfct_query(h, NFCT_Q_DESTROY, m.found[i]) == 0) deleted++;
            else if (errno != ENOENT) r = -errno;
        }
        nfct_destroy(m.found[i]);
    }
    free(m.found);
    nfct_close(h);
    return r < 0 ? r : deleted;
}
