/*
 * CHutchNet: thin plain-function glue over libnl-route-3, libnftables and posix_spawn for Swift.
 *
 * Conventions: functions return 0 (or a count / index) on success and a negative errno on failure.
 * Kernel errors are passed through as the errno the kernel reported (not libnl's NLE_* codes), so
 * Swift can name them with strerror. No macros are part of the interface.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- netlink sockets (netns.c) ---------------------------------------------------------------- */

/* One NETLINK_ROUTE socket (a struct nl_sock underneath). */
typedef struct hn_nl hn_nl;

/* Opens a socket in the calling thread's network namespace. NULL and *err = -errno on failure. */
hn_nl *hn_nl_open(int *err);
/* Opens a socket inside the network namespace at `path` (e.g. /proc/PID/ns/net or a bind mount).
 * A dedicated pthread opens the path, setns()es into it, connects the socket and exits; the socket
 * stays bound to that namespace for its lifetime. The calling thread never changes namespace. */
hn_nl *hn_nl_open_netns_path(const char *path, int *err);
/* Same, for /proc/PID/ns/net. */
hn_nl *hn_nl_open_netns_pid(pid_t pid, int *err);
void hn_nl_close(hn_nl *nl);

/* ---- links (link.c) --------------------------------------------------------------------------- */

/* ip link show NAME: 0 with *ifindex and *flags (IFF_*), -ENODEV if there is no such link. */
int hn_link_get(hn_nl *nl, const char *name, int32_t *ifindex, uint32_t *flags);
/* ip link add NAME [address MAC] type bridge. mac may be NULL (6 bytes otherwise). */
int hn_bridge_add(hn_nl *nl, const char *name, const uint8_t *mac);
/* ip link add HOST [master M] [up] type veth peer name PEER [address MAC] netns PID
 * One message: the peer is created directly inside the netns of peer_pid (0: the socket's netns).
 * master_ifindex 0: no master. peer_mac may be NULL. mtu 0: the kernel's default (both ends). (Bringing the peer up in the same message
 * fails with ENOTCONN when it lands in another netns: set it up from a session in that netns.) */
int hn_veth_add(hn_nl *nl, const char *host, const char *peer, pid_t peer_pid,
                int32_t master_ifindex, int host_up, const uint8_t *peer_mac, uint32_t mtu);
/* ip link set NAME up|down */
int hn_link_set_up(hn_nl *nl, const char *name, int up);
/* ip -o link show: one line "NAME MASTER_IFINDEX" (0: no master) per link, into buf
 * (NUL-terminated). Returns the number of bytes written or -errno (-ENOSPC: buf too small). */
int hn_link_names(hn_nl *nl, char *buf, size_t len);
/* ip link del NAME: -ENODEV if missing. */
int hn_link_del(hn_nl *nl, const char *name);
/* ip link add NAME type dummy; ip link set NAME up. -EEXIST if it exists. */
int hn_dummy_add(hn_nl *nl, const char *name);
/* bridge link set dev NAME hairpin on|off (NAME is a bridge port). */
int hn_bridge_port_set_hairpin(hn_nl *nl, const char *name, int on);

/* ---- addresses and routes (addr.c) ------------------------------------------------------------ */

/* ip addr add A/PREFIX broadcast B dev IFINDEX. Addresses in host byte order. */
int hn_addr_add_v4(hn_nl *nl, int32_t ifindex, uint32_t addr, int prefix, uint32_t broadcast);
/* ip route add default via GW [dev IFINDEX] (ifindex 0: let the kernel resolve). Host byte order. */
int hn_route_add_default_v4(hn_nl *nl, uint32_t gateway, int32_t ifindex);

typedef struct hn_route4 {
    uint32_t dst;      /* host byte order */
    uint8_t prefix;
    uint8_t type;      /* RTN_* */
    uint32_t table;
    int32_t oif;       /* 0 when none */
} hn_route4;
/* ip -4 route show table TABLE: *out is malloc'ed (free with hn_free), *count entries. */
int hn_routes_v4(hn_nl *nl, uint32_t table, hn_route4 **out, size_t *count);

/* ip route add|del DST/PREFIX dev IFINDEX (table main, scope link). Host byte order.
 * add: -EEXIST if there; del: -ESRCH if missing. */
int hn_route_v4(hn_nl *nl, int add, uint32_t dst, int prefix, int32_t ifindex);

void hn_free(void *p);

/* ---- cluster overlay (overlay.c) -------------------------------------------------------------- */

/* ip link add NAME [address MAC] type vxlan id VNI local LOCAL dev LINK dstport PORT nolearning
 * (LOCAL host byte order; link_ifindex 0: none; mac NULL: the kernel's random one). */
int hn_vxlan_add(hn_nl *nl, const char *name, uint32_t vni, uint32_t local, int32_t link_ifindex,
                 uint16_t port, const uint8_t *mac);
/* ip link show dev IFINDEX: its MTU. */
int hn_link_mtu(hn_nl *nl, int32_t ifindex, uint32_t *mtu);
/* ip route replace DST/PREFIX via GW dev OIF [onlink] [src SRC] (host byte order; src 0: none) */
int hn_route_replace_v4(hn_nl *nl, uint32_t dst, int prefix, uint32_t gw, int32_t oif, int onlink, uint32_t src);
/* ip route del DST/PREFIX: -ESRCH when there is none. */
int hn_route_del_v4(hn_nl *nl, uint32_t dst, int prefix);
/* ip neigh replace IP lladdr MAC dev IFINDEX nud permanent */
int hn_neigh_replace_v4(hn_nl *nl, int32_t ifindex, uint32_t ip, const uint8_t *mac);
/* ip neigh del IP dev IFINDEX: -ENOENT when there is none. */
int hn_neigh_del_v4(hn_nl *nl, int32_t ifindex, uint32_t ip);
/* bridge fdb replace MAC dev IFINDEX dst DST self permanent */
int hn_fdb_replace(hn_nl *nl, int32_t ifindex, const uint8_t *mac, uint32_t dst);
/* bridge fdb del MAC dev IFINDEX self: -ENOENT when there is none. */
int hn_fdb_del(hn_nl *nl, int32_t ifindex, const uint8_t *mac);
/* ip -4 -o addr show to ADDR: the link holding ADDR and its prefix; -EADDRNOTAVAIL if none. */
int hn_addr_find_v4(hn_nl *nl, uint32_t addr, int32_t *ifindex, int *prefix);

/* ---- nftables (nft.c) ------------------------------------------------------------------------- */

/* nft -f - <<< cmds, in the calling thread's netns: returns 0 on success. *output gets nft's
 * output (listings), *error its error text; both malloc'ed (free with hn_free), may be NULL. */
int hn_nft_run(const char *cmds, char **output, char **error);

/* ---- nftables set/map elements (nftel.c, libnftnl) ------------------------------------------- */

/* One element of a set or map: key and data in nft's register layout (each field of a
 * concatenation padded to 4 bytes, network byte order). data_len 0: a set element. */
typedef struct hn_nft_elem {
    const char *set;
    const uint8_t *key;
    uint32_t key_len;
    const uint8_t *data;
    uint32_t data_len;
    const char *comment; /* NULL or "": none */
} hn_nft_elem;

/* One transaction in `table ip TABLE` (no cache, nothing read back): add (add != 0) the elements,
 * or delete them, each first added (no-op when present) so a missing one is fine. Elements of the
 * same set should be adjacent (one message each run). 0 or -errno: -ENOENT when the table or a
 * set is missing, -EBUSY when a key exists with other data (another owner's element).
 * After a committed delete, the process's nft socket goes at exit to `linger_helper linger` (the
 * path of hutch-shim; see linger.c) rather than being closed by this process, which would wait for
 * the kernel's deferred release of the deleted elements. linger_helper NULL: closed at exit here. */
int hn_nft_set_elems(const char *table, const hn_nft_elem *elems, size_t n, int add, const char *linger_helper);

/* One transaction in `table ip TABLE`: first every element of the sets named in flush[0..nflush)
 * goes (nft flush set), then dels[] are deleted (each first added, so a missing one is fine; it
 * must carry the data it was added with), then adds[] are added. 0 or -errno as hn_nft_set_elems;
 * the socket lingers after a committed delete or flush as there. */
int hn_nft_elems_txn(const char *table, const char *const *flush, size_t nflush, const hn_nft_elem *dels, size_t ndel,
                     const hn_nft_elem *adds, size_t nadd, const char *linger_helper);

/* The elements of set (or map) SET of `table ip TABLE`, read with one dump (no cache): each
 * element whose key is klen bytes (and data dlen bytes) goes to out as key then data. Returns the
 * number of elements (0 also when the table or set is missing) or -errno (-ENOSPC: out too small). */
int hn_nft_set_elems_dump(const char *table, const char *set, uint8_t *out, size_t cap, size_t klen, size_t dlen);

/* The chains that the rules of `table ip TABLE` chain CHAIN jump or go to (plain `jump X` /
 * `goto X` verdicts, not verdict maps), one name per line, into out (NUL-terminated). Reads that
 * one chain (a filtered rule dump, no cache). Returns the bytes written (0 also when the table or
 * chain is missing) or -errno (-ENOSPC: out too small). */
int hn_nft_chain_jumps(const char *table, const char *chain, char *out, size_t cap);

/* ---- conntrack (conntrack.c, libnetfilter_conntrack) ------------------------------------------ */

/* conntrack -D -p udp --dport PORT, for every PORT of ports[0..n) at once, in the calling thread's
 * network namespace: dumps the IPv4 table once and deletes each UDP entry whose original
 * destination port is one of them. Returns the number deleted (entries gone meanwhile are not
 * counted, and are no error) or -errno; -ENOSYS when libnetfilter_conntrack.so.3 cannot be loaded. */
int hn_conntrack_delete_udp(const uint16_t *ports, size_t n);
/* The same for (destination, port) pairs: entries whose original destination is dsts[i] (host
 * byte order; 0: any) and whose original destination port is ports[i]. dsts NULL: ports only. */
int hn_conntrack_delete_udp_to(const uint32_t *dsts, const uint16_t *ports, size_t n);

/* ---- work left to a helper that outlives this process (linger.c) ------------------------------ */

/* At exit, hand a duplicate of `fd` to `helper_path linger` (hutch-shim), which keeps it until this
 * process is gone: closing a NETLINK_NETFILTER socket after a committed delete waits for the
 * kernel's deferred release. 0 or -errno. */
int hn_linger_adopt_fd(int fd, const char *helper_path);
/* At exit, have `helper_path linger` delete link NAME (ip link del; missing is fine), so this
 * process does not wait for RTM_DELLINK's RCU grace period. 0 or -errno. */
int hn_linger_delete_link(const char *name, const char *helper_path);

/* ---- starting programs (spawn.c) ------------------------------------------------------------- */

/* Flags of hn_spawn (an enum: constants, not macros). */
enum {
    HN_SPAWN_NULL_STDIO = 1,   /* fds 0, 1, 2 that fd_map does not name: /dev/null (else inherited) */
    HN_SPAWN_NEW_SESSION = 2,  /* setsid(): the caller's terminal and its signals do not reach it */
};

/* posix_spawn(path, argv, environ), the one place hutch sets up a child process:
 * - fd_map: n_fd_map pairs { source, target, source, target, ... }; each source is dup2'ed to its
 *   target in the child (a source may go to several targets; sources and targets may overlap, as
 *   sources below the highest target are first duplicated out of the way);
 * - every other descriptor >= 3 is closed in the child, close-on-exec or not;
 * - every signal has its default disposition (SIG_IGN too) and the signal mask is empty.
 * 0 with *pid set, or -errno (the spawn's, e.g. -ENOENT for a missing path). At most 64 pairs. */
int hn_spawn(pid_t *pid, const char *path, const char *const argv[], const int *fd_map,
             size_t n_fd_map, int flags);

/* hn_spawn with the environment `envp` (NULL-terminated "KEY=VALUE" entries) instead of this
 * process's: a caller that adds thousands of variables builds the list once instead of calling
 * setenv for each (each setenv scans and copies the whole environment). */
int hn_spawn_env(pid_t *pid, const char *path, const char *const argv[], const char *const envp[],
                 const int *fd_map, size_t n_fd_map, int flags);

/* ---- running a helper program (spawn.c) ------------------------------------------------------- */

/* hn_spawn(argv[0], argv) with stdin fed from `input` (len bytes, may be NULL), stdout and
 * stderr captured (merged into *output, malloc'ed). Waits for it. Returns the exit status (0..255),
 * 128+signal if killed, or -errno if it could not be started. */
int hn_run(const char *const argv[], const char *input, size_t len, char **output);

/* flock(LOCK_EX) on a file (created 0600 if missing), waiting for it: returns the fd (>= 0,
 * close-on-exec) or -errno. hn_unlock_file closes it (which releases the lock). */
int hn_lock_file(const char *path);
void hn_unlock_file(int fd);

#ifdef __cplusplus
}
#endif
