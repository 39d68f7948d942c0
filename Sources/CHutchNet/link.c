/* Links: the `ip link` verbs hutch needs (show, add bridge, add veth, set, del). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include "internal.h"

struct link_answer {
    int32_t ifindex;
    uint32_t flags;
};

static int on_link(struct nl_msg *msg, void *arg) {
    struct nlmsghdr *h = nlmsg_hdr(msg);
    if (h->nlmsg_type == RTM_NEWLINK && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg))) {
        struct ifinfomsg *ifi = nlmsg_data(h);
        struct link_answer *a = arg;
        a->ifindex = ifi->ifi_index;
        a->flags = ifi->ifi_flags;
    }
    return NL_OK;
}

/* ip link show NAME */
int hn_link_get(hn_nl *nl, const char *name, int32_t *ifindex, uint32_t *flags) {
    if (strlen(name) >= IFNAMSIZ) return -EINVAL;
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
    if (!msg) return -ENOMEM;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    if (nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0 ||
        nla_put_string(msg, IFLA_IFNAME, name) < 0) { nlmsg_free(msg); return -EMSGSIZE; }
    struct link_answer a = { 0, 0 };
    int r = hn_talk(nl, msg, 0, on_link, &a);
    if (r < 0) return r;
    if (a.ifindex <= 0) return -ENODEV;
    if (ifindex) *ifindex = a.ifindex;
    if (flags) *flags = a.flags;
    return 0;
}

static int set_mac(struct rtnl_link *link, const uint8_t *mac) {
    struct nl_addr *a = nl_addr_build(AF_LLC, mac, 6);
    if (!a) return -ENOMEM;
    rtnl_link_set_addr(link, a);
    nl_addr_put(a);
    return 0;
}

static int add_link(hn_nl *nl, struct rtnl_link *link) {
    struct nl_msg *msg = NULL;
    int r = rtnl_link_build_add_request(link, NLM_F_CREATE | NLM_F_EXCL, &msg);
    if (r < 0) return hn_nle_to_errno(r);
    return hn_talk(nl, msg, 0, NULL, NULL);
}

/* ip link add NAME [address MAC] type bridge */
int hn_bridge_add(hn_nl *nl, const char *name, const uint8_t *mac) {
    if (strlen(name) >= IFNAMSIZ) return -EINVAL;
    struct rtnl_link *link = rtnl_link_alloc();
    if (!link) return -ENOMEM;
    int r = rtnl_link_set_type(link, "bridge");
    if (r < 0) { rtnl_link_put(link); return hn_nle_to_errno(r); }
    rtnl_link_set_name(link, name);
    if (mac && (r = set_mac(link, mac)) < 0) { rtnl_link_put(link); return r; }
    r = add_link(nl, link);
    rtnl_link_put(link);
    return r;
}

/* ip link add HOST [master M] [up] [mtu N] type veth peer name PEER [address MAC] [mtu N] netns PID */
int hn_veth_add(hn_nl *nl, const char *host, const char *peer, pid_t peer_pid,
                int32_t master_ifindex, int host_up, const uint8_t *peer_mac, uint32_t mtu) {
    if (strlen(host) >= IFNAMSIZ || strlen(peer) >= IFNAMSIZ) return -EINVAL;
    struct rtnl_link *link = rtnl_link_veth_alloc();
    if (!link) return -ENOMEM;
    struct rtnl_link *p = rtnl_link_veth_get_peer(link);
    rtnl_link_set_name(link, host);
    if (master_ifindex > 0) rtnl_link_set_master(link, master_ifindex);
    if (host_up) rtnl_link_set_flags(link, IFF_UP);
    rtnl_link_set_name(p, peer);
    if (peer_pid > 0) rtnl_link_set_ns_pid(p, peer_pid);
    if (mtu > 0) { rtnl_link_set_mtu(link, mtu); rtnl_link_set_mtu(p, mtu); }
    int r = 0;
    if (peer_mac) r = set_mac(p, peer_mac);
    rtnl_link_put(p);
    if (r == 0) r = add_link(nl, link);
    rtnl_link_veth_release(link);
    return r;
}

/* RTM_NEWLINK addressed by name (ifi_index 0): one message, no lookup first. */
static int change_by_name(hn_nl *nl, const char *name, uint32_t flags, uint32_t change) {
    if (strlen(name) >= IFNAMSIZ) return -EINVAL;
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWLINK, 0);
    if (!msg) return -ENOMEM;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = flags, .ifi_change = change };
    if (nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        nla_put_string(msg, IFLA_IFNAME, name) < 0) { nlmsg_free(msg); return -EMSGSIZE; }
    return hn_talk(nl, msg, 0, NULL, NULL);
}

/* ip link set NAME up|down */
int hn_link_set_up(hn_nl *nl, const char *name, int up) {
    return change_by_name(nl, name, up ? IFF_UP : 0, IFF_UP);
}

/* ip link del NAME */
int hn_link_del(hn_nl *nl, const char *name) {
    if (strlen(name) >= IFNAMSIZ) return -EINVAL;
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_DELLINK, 0);
    if (!msg) return -ENOMEM;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    if (nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        nla_put_string(msg, IFLA_IFNAME, name) < 0) { nlmsg_free(msg); return -EMSGSIZE; }
    return hn_talk(nl, msg, 0, NULL, NULL);
}

/* bridge link set dev NAME hairpin on|off: RTM_SETLINK, family AF_BRIDGE, IFLA_PROTINFO nest with
 * IFLA_BRPORT_MODE (what iproute2's `bridge link` sends). NAME must be a bridge port. */
int hn_bridge_port_set_hairpin(hn_nl *nl, const char *name, int on) {
    int32_t ifindex = 0;
    int r = hn_link_get(nl, name, &ifindex, NULL);
    if (r < 0) return r;
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
    if (!msg) return -ENOMEM;
    struct ifinfomsg ifi = { .ifi_family = AF_BRIDGE, .ifi_index = ifindex };
    struct nlattr *nest;
    if (nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        !(nest = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED)) ||
        nla_put_u8(msg, IFLA_BRPORT_MODE, on ? 1 : 0) < 0) { nlmsg_free(msg); return -EMSGSIZE; }
    nla_nest_end(msg, nest);
    return hn_talk(nl, msg, 0, NULL, NULL);
}

struct names_answer {
    char *buf;
    size_t len, used;
    int truncated;
};

static int on_link_name(struct nl_msg *msg, void *arg) {
    struct nlmsghdr *h = nlmsg_hdr(msg);
    struct names_answer *a = arg;
    if (h->nlmsg_type != RTM_NEWLINK) return NL_OK;
    struct nlattr *tb[IFLA_MAX + 1];
    if (nlmsg_parse(h, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_IFNAME]) return NL_OK;
    const char *name = nla_get_string(tb[IFLA_IFNAME]);
    uint32_t master = tb[IFLA_MASTER] ? nla_get_u32(tb[IFLA_MASTER]) : 0;
    char line[IFNAMSIZ + 16];
    int n = snprintf(line, sizeof line, "%.*s %u\n", IFNAMSIZ - 1, name, master);
    if (n < 0 || a->used + (size_t)n > a->len) { a->truncated = 1; return NL_OK; }
    memcpy(a->buf + a->used, line, (size_t)n);
    a->used += (size_t)n;
    return NL_OK;
}

/* ip -o link show: one line "NAME MASTER_IFINDEX" (0: no master) per link, into buf
   (NUL-terminated). Returns the number of bytes written or -errno (-ENOSPC: buf too small). */
int hn_link_names(hn_nl *nl, char *buf, size_t len) {
    if (len == 0) return -ENOSPC;
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_DUMP);
    if (!msg) return -ENOMEM;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    if (nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0) { nlmsg_free(msg); return -EMSGSIZE; }
    struct names_answer a = { buf, len - 1, 0, 0 };
    int r = hn_talk(nl, msg, 1, on_link_name, &a);
    buf[a.used] = '\0';
    if (r < 0) return r;
    return a.truncated ? -ENOSPC : (int)a.used;
}

/* ip link add NAME type dummy; ip link set NAME up */
int hn_dummy_add(hn_nl *nl, const char *name) {
    if (strlen(name) >= IFNAMSIZ) return -EINVAL;
    struct rtnl_link *link = rtnl_link_alloc();
    if (!link) return -ENOMEM;
    int r = rtnl_link_set_type(link, "dummy");
    if (r < 0) { rtnl_link_put(link); return hn_nle_to_errno(r); }
    rtnl_link_set_name(link, name);
    rtnl_link_set_flags(link, IFF_UP);
    r = add_link(nl, link);
    rtnl_link_put(link);
    return r;
}
