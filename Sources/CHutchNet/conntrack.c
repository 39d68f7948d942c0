/* Deleting conntrack entries over netlink (libnetfilter_conntrack), in the caller's netns.
 *
 * UDP has no connection end: an entry made before a port mapping existed (or towards the previous
 * container) keeps steering datagrams until it times out. After a UDP mapping changes, its entries
 * go: one dump of the IPv4 table, then one delete per matching entry, as `conntrack -D -p udp
 * --dport PORT` does per port, without a process per port.
 *
 * libnetfilter_conntrack is loaded on first use (dlopen), as libnftables is (nft.c): only UDP
 * mappings need it, and a linked shared library costs every hutch process its loading. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include "chutchnet.h"

static struct {
    __typeof__(&nfct_open) open;
    __typeof__(&nfct_close) close;
    __typeof__(&nfct_callback_register) callback_register;
    __typeof__(&nfct_callback_unregister) callback_unregister;
    __typeof__(&nfct_query) query;
    __typeof__(&nfct_clone) clone;
    __typeof__(&nfct_destroy) destroy;
    __typeof__(&nfct_get_attr_u8) get_u8;
    __typeof__(&nfct_get_attr_u16) get_u16;
    __typeof__(&nfct_get_attr_u32) get_u32;
} lib;
static int loaded; /* 1 once every symbol is there */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void *sym(void *h, const char *name, int *ok) {
    void *f = dlsym(h, name);
    if (!f) *ok = 0;
    return f;
}

static void load(void) {
    void *h = dlopen("libnetfilter_conntrack.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    int ok = 1;
    lib.open = (__typeof__(lib.open))sym(h, "nfct_open", &ok);
    lib.close = (__typeof__(lib.close))sym(h, "nfct_close", &ok);
    lib.callback_register = (__typeof__(lib.callback_register))sym(h, "nfct_callback_register", &ok);
    lib.callback_unregister = (__typeof__(lib.callback_unregister))sym(h, "nfct_callback_unregister", &ok);
    lib.query = (__typeof__(lib.query))sym(h, "nfct_query", &ok);
    lib.clone = (__typeof__(lib.clone))sym(h, "nfct_clone", &ok);
    lib.destroy = (__typeof__(lib.destroy))sym(h, "nfct_destroy", &ok);
    lib.get_u8 = (__typeof__(lib.get_u8))sym(h, "nfct_get_attr_u8", &ok);
    lib.get_u16 = (__typeof__(lib.get_u16))sym(h, "nfct_get_attr_u16", &ok);
    lib.get_u32 = (__typeof__(lib.get_u32))sym(h, "nfct_get_attr_u32", &ok);
    loaded = ok;
}

/* What the dump callback collects: copies of the matching entries. */
struct ct_match {
    const uint16_t *ports; /* host byte order */
    const uint32_t *dsts;  /* NULL, or per port: the original destination address (0: any) */
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
    if (lib.get_u8(ct, ATTR_L3PROTO) != AF_INET || lib.get_u8(ct, ATTR_L4PROTO) != IPPROTO_UDP)
        return NFCT_CB_CONTINUE;
    uint16_t port = ntohs(lib.get_u16(ct, ATTR_ORIG_PORT_DST));
    uint32_t dst = ntohl(lib.get_u32(ct, ATTR_ORIG_IPV4_DST));
    size_t i = 0;
    while (i < m->nports && !(m->ports[i] == port && (!m->dsts || !m->dsts[i] || m->dsts[i] == dst))) i++;
    if (i == m->nports) return NFCT_CB_CONTINUE;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        struct nf_conntrack **f = realloc(m->found, cap * sizeof *f);
        if (!f) { m->err = -ENOMEM; return NFCT_CB_STOP; }
        m->found = f;
        m->cap = cap;
    }
    struct nf_conntrack *copy = lib.clone(ct);
    if (!copy) { m->err = -ENOMEM; return NFCT_CB_STOP; }
    m->found[m->n++] = copy;
    return NFCT_CB_CONTINUE;
}

int hn_conntrack_delete_udp(const uint16_t *ports, size_t n) {
    return hn_conntrack_delete_udp_to(NULL, ports, n);
}

int hn_conntrack_delete_udp_to(const uint32_t *dsts, const uint16_t *ports, size_t n) {
    if (n == 0) return 0;
    pthread_once(&load_once, load);
    if (!loaded) return -ENOSYS; /* libnetfilter_conntrack.so.3 missing: nothing deleted */
    struct nfct_handle *h = lib.open(CONNTRACK, 0);
    if (!h) return errno ? -errno : -EIO;
    struct ct_match m = { .ports = ports, .dsts = dsts, .nports = n };
    lib.callback_register(h, NFCT_T_ALL, collect, &m);
    /* The deletes follow the dump (not inside its callback): the socket is busy until it ends. */
    uint32_t family = AF_INET;
    int r = lib.query(h, NFCT_Q_DUMP, &family) < 0 ? -errno : m.err;
    lib.callback_unregister(h);
    int deleted = 0;
    for (size_t i = 0; i < m.n; i++) {
        /* The delete names the entry by its original tuple (and id): ENOENT means it expired or
         * someone else deleted it meanwhile, which is as good. */
        if (r == 0) {
            if (lib.query(h, NFCT_Q_DESTROY, m.found[i]) == 0) deleted++;
            else if (errno != ENOENT) r = -errno;
        }
        lib.destroy(m.found[i]);
    }
    free(m.found);
    lib.close(h);
    return r < 0 ? r : deleted;
}
