/* The overlay verbs of a cluster node (flannel's recipe): a vxlan device, routes to other nodes'
 * pod subnets, permanent neighbour and forwarding-database entries, and the address lookups a
 * node needs to find its underlay link. Each function mirrors one `ip`/`bridge` command. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include "internal.h"

/* ip link add NAME [address MAC] type vxlan id VNI local LOCAL dev LINK dstport PORT nolearning */
int hn_vxlan_add(hn_nl *nl, const char *name, uint32_t vni, uint32_t local, int32_t link_ifindex,
                 uint16_t port, const uint8_t *mac) {
    if (strlen(name) >= IFNAMSIZ) return -EINVAL;
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    if (!msg) return -ENOMEM;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    uint32_t l = htonl(local);
    struct nlattr *info, *data;
    if (nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        nla_put_string(msg, IFLA_IFNAME, name) < 0 ||
        (mac && nla_put(msg, IFLA_ADDRESS, 6, mac) < 0) ||
        !(info = nla_nest_start(msg, IFLA_LINKINFO)) ||
        nla_put_string(msg, IFLA_INFO_KIND, "vxlan") < 0 ||
        !(data = nla_nest_start(msg, IFLA_INFO_DATA)) ||
        nla_put_u32(msg, IFLA_VXLAN_ID, vni) < 0 ||
        nla_put(msg, IFLA_VXLAN_LOCAL, 4, &l) < 0 ||
        (link_ifindex > 0 && nla_put_u32(msg, IFLA_VXLAN_LINK, (uint32_t)link_ifindex) < 0) ||
        nla_put_u16(msg, IFLA_VXLAN_PORT, htons(port)) < 0 ||
        nla_put_u8(msg, IFLA_VXLAN_LEARNING, 0) < 0) { nlmsg_free(msg); return -EMSGSIZE; }
    nla_nest_end(msg, data);
    nla_nest_end(msg, info);
    return hn_talk(nl, msg, 0, NULL, NULL);
}

struct mtu_answer { uint32_t mtu; };

static int on_link_mtu(struct nl_msg *msg, void *arg) {
    struct nlmsghdr *h = nlmsg_hdr(msg);
    if (h->nlmsg_type != RTM_NEWLINK) return NL_OK;
    struct nlattr *tb[IFLA_MAX + 1];
    if (nlmsg_parse(h, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_MTU]) return NL_OK;
    ((struct mtu_answer *)arg)->mtu = nla_get_u32(tb[IFLA_MTU]);
    return NL_OK;
}

/* ip link show dev IFINDEX: its MTU */
int hn_link_mtu(hn_nl *nl, int32_t ifindex, uint32_t *mtu) {
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
    if (!msg) return -ENOMEM;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
    if (nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        nla_put_u32(msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0) { nlmsg_free(msg); return -EMSGSIZE; }
    struct mtu_answer a = { 0 };
    int r = hn_talk(nl, msg, 0, on_link_mtu, &a);
    if (r < 0) return r;
    if (a.mtu == 0) return -ENODEV;
    *mtu = a.mtu;
    return 0;
}

/* ip route replace|del DST/PREFIX [via GW] [dev OIF] [onlink] [src SRC] */
static int route_msg(hn_nl *nl, int type, int flags, uint32_t dst, int prefix, uint32_t gw, int32_t oif,
                     int onlink, uint32_t src) {
    if (prefix < 0 || prefix > 32) return -EINVAL;
    struct nl_msg *msg = nlmsg_alloc_simple(type, flags);
    if (!msg) return -ENOMEM;
    struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_dst_len = (uint8_t)prefix, .rtm_table = RT_TABLE_MAIN,
                         .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST,
                         .rtm_flags = onlink ? RTNH_F_ONLINK : 0 };
    if (type == RTM_DELROUTE) rtm.rtm_scope = RT_SCOPE_NOWHERE;
    uint32_t d = htonl(dst), g = htonl(gw), s = htonl(src);
    if (nlmsg_append(msg, &rtm, sizeof rtm, NLMSG_ALIGNTO) < 0 ||
        nla_put(msg, RTA_DST, 4, &d) < 0 ||
        (gw && nla_put(msg, RTA_GATEWAY, 4, &g) < 0) ||
        (oif > 0 && nla_put_u32(msg, RTA_OIF, (uint32_t)oif) < 0) ||
        (src && nla_put(msg, RTA_PREFSRC, 4, &s) < 0)) { nlmsg_free(msg); return -EMSGSIZE; }
    return hn_talk(nl, msg, 0, NULL, NULL);
}

/* ip route replace DST/PREFIX via GW dev OIF [onlink] [src SRC] (src 0: none) */
int hn_route_replace_v4(hn_nl *nl, uint32_t dst, int prefix, uint32_t gw, int32_t oif, int onlink, uint32_t src) {
    return route_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, dst, prefix, gw, oif, onlink, src);
}

/* ip route del DST/PREFIX (table main): -ESRCH when there is none */
int hn_route_del_v4(hn_nl *nl, uint32_t dst, int prefix) {
    return route_msg(nl, RTM_DELROUTE, 0, dst, prefix, 0, 0, 0, 0);
}

/* RTM_NEWNEIGH / RTM_DELNEIGH: family AF_INET (a neighbour) or AF_BRIDGE (an fdb entry, NTF_SELF). */
static int neigh_msg(hn_nl *nl, int type, int flags, int family, int32_t ifindex, const uint8_t *mac,
                     uint32_t ip) {
    struct nl_msg *msg = nlmsg_alloc_simple(type, flags);
    if (!msg) return -ENOMEM;
    struct ndmsg nd = { .ndm_family = (uint8_t)family, .ndm_ifindex = ifindex, .ndm_state = NUD_PERMANENT,
                        .ndm_flags = family == AF_BRIDGE ? NTF_SELF : 0, .ndm_type = 0 };
    uint32_t a = htonl(ip);
    if (nlmsg_append(msg, &nd, sizeof nd, NLMSG_ALIGNTO) < 0 ||
        (mac && nla_put(msg, NDA_LLADDR, 6, mac) < 0) ||
        (ip && nla_put(msg, NDA_DST, 4, &a) < 0)) { nlmsg_free(msg); return -EMSGSIZE; }
    return hn_talk(nl, msg, 0, NULL, NULL);
}

/* ip neigh replace IP lladdr MAC dev IFINDEX nud permanent */
int hn_neigh_replace_v4(hn_nl *nl, int32_t ifindex, uint32_t ip, const uint8_t *mac) {
    return neigh_msg(nl, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, AF_INET, ifindex, mac, ip);
}

/* ip neigh del IP dev IFINDEX: -ENOENT when there is none */
int hn_neigh_del_v4(hn_nl *nl, int32_t ifindex, uint32_t ip) {
    return neigh_msg(nl, RTM_DELNEIGH, 0, AF_INET, ifindex, NULL, ip);
}

/* bridge fdb replace MAC dev IFINDEX dst DST self permanent */
int hn_fdb_replace(hn_nl *nl, int32_t ifindex, const uint8_t *mac, uint32_t dst) {
    return neigh_msg(nl, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, AF_BRIDGE, ifindex, mac, dst);
}

/* bridge fdb del MAC dev IFINDEX self: -ENOENT when there is none */
int hn_fdb_del(hn_nl *nl, int32_t ifindex, const uint8_t *mac) {
    return neigh_msg(nl, RTM_DELNEIGH, 0, AF_BRIDGE, ifindex, mac, 0);
}

struct addr_find {
    uint32_t want;
    int32_t ifindex;
    int prefix;
};

static int on_addr(struct nl_msg *msg, void *arg) {
    struct addr_find *f = arg;
    struct nlmsghdr *h = nlmsg_hdr(msg);
    if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg))) return NL_OK;
    struct ifaddrmsg *ifa = nlmsg_data(h);
    if (ifa->ifa_family != AF_INET) return NL_OK;
    struct nlattr *tb[IFA_MAX + 1];
    if (nlmsg_parse(h, sizeof(struct ifaddrmsg), tb, IFA_MAX, NULL) < 0) return NL_OK;
    struct nlattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (!a || nla_len(a) != 4) return NL_OK;
    uint32_t v;
    memcpy(&v, nla_data(a), 4);
    if (ntohl(v) == f->want && f->ifindex == 0) { f->ifindex = (int32_t)ifa->ifa_index; f->prefix = ifa->ifa_prefixlen; }
    return NL_OK;
}

/* ip -4 -o addr show to ADDR: the link holding the address and its prefix length; -EADDRNOTAVAIL
 * when no link has it. */
int hn_addr_find_v4(hn_nl *nl, uint32_t addr, int32_t *ifindex, int *prefix) {
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETADDR, NLM_F_DUMP);
    if (!msg) return -ENOMEM;
    struct ifaddrmsg ifa = { .ifa_family = AF_INET };
    if (nlmsg_append(msg, &ifa, sizeof ifa, NLMSG_ALIGNTO) < 0) { nlmsg_free(msg); return -EMSGSIZE; }
    struct addr_find f = { .want = addr, .ifindex = 0, .prefix = 0 };
    int r = hn_talk(nl, msg, 1, on_addr, &f);
    if (r < 0) return r;
    if (f.ifindex == 0) return -EADDRNOTAVAIL;
    *ifindex = f.ifindex;
    *prefix = f.prefix;
    return 0;
}
