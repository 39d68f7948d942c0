/* Addresses and routes: `ip addr add`, `ip route add default`, `ip route show`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include "internal.h"

/* ip addr add A/PREFIX broadcast B dev IFINDEX */
int hn_addr_add_v4(hn_nl *nl, int32_t ifindex, uint32_t addr, int prefix, uint32_t broadcast) {
    if (prefix < 0 || prefix > 32 || ifindex <= 0) return -EINVAL;
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    if (!msg) return -ENOMEM;
    struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = (uint8_t)prefix,
                             .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = (uint32_t)ifindex };
    uint32_t a = htonl(addr), b = htonl(broadcast);
    if (nlmsg_append(msg, &ifa, sizeof ifa, NLMSG_ALIGNTO) < 0 ||
        nla_put(msg, IFA_LOCAL, 4, &a) < 0 || nla_put(msg, IFA_ADDRESS, 4, &a) < 0 ||
        (prefix < 31 && nla_put(msg, IFA_BROADCAST, 4, &b) < 0)) { nlmsg_free(msg); return -EMSGSIZE; }
    return hn_talk(nl, msg, 0, NULL, NULL);
}

/* ip route add default via GW [dev IFINDEX] */
int hn_route_add_default_v4(hn_nl *nl, uint32_t gateway, int32_t ifindex) {
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    if (!msg) return -ENOMEM;
    struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_dst_len = 0, .rtm_table = RT_TABLE_MAIN,
                         .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE,
                         .rtm_type = RTN_UNICAST };
    uint32_t g = htonl(gateway);
    if (nlmsg_append(msg, &rtm, sizeof rtm, NLMSG_ALIGNTO) < 0 ||
        nla_put(msg, RTA_GATEWAY, 4, &g) < 0 ||
        (ifindex > 0 && nla_put_u32(msg, RTA_OIF, (uint32_t)ifindex) < 0)) { nlmsg_free(msg); return -EMSGSIZE; }
    return hn_talk(nl, msg, 0, NULL, NULL);
}

struct route_list {
    uint32_t table;
    hn_route4 *items;
    size_t count, cap;
    int oom;
};

static int on_route(struct nl_msg *msg, void *arg) {
    struct route_list *l = arg;
    struct nlmsghdr *h = nlmsg_hdr(msg);
    if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg))) return NL_OK;
    struct rtmsg *rtm = nlmsg_data(h);
    if (rtm->rtm_family != AF_INET) return NL_OK;
    struct nlattr *tb[RTA_MAX + 1];
    if (nlmsg_parse(h, sizeof(struct rtmsg), tb, RTA_MAX, NULL) < 0) return NL_OK;
    uint32_t table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
    if (l->table && table != l->table) return NL_OK;
    hn_route4 r = { .dst = 0, .prefix = rtm->rtm_dst_len, .type = rtm->rtm_type, .table = table, .oif = 0 };
    if (tb[RTA_DST] && nla_len(tb[RTA_DST]) == 4) { uint32_t d; memcpy(&d, nla_data(tb[RTA_DST]), 4); r.dst = ntohl(d); }
    if (tb[RTA_OIF]) r.oif = (int32_t)nla_get_u32(tb[RTA_OIF]);
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        hn_route4 *n = realloc(l->items, cap * sizeof *n);
        if (!n) { l->oom = 1; return NL_OK; }
        l->items = n; l->cap = cap;
    }
    l->items[l->count++] = r;
    return NL_OK;
}

/* ip -4 route show table TABLE (0: all tables) */
int hn_routes_v4(hn_nl *nl, uint32_t table, hn_route4 **out, size_t *count) {
    struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP);
    if (!msg) return -ENOMEM;
    struct rtmsg rtm = { .rtm_family = AF_INET };
    if (nlmsg_append(msg, &rtm, sizeof rtm, NLMSG_ALIGNTO) < 0) { nlmsg_free(msg); return -EMSGSIZE; }
    struct route_list l = { .table = table, .items = NULL, .count = 0, .cap = 0, .oom = 0 };
    int r = hn_talk(nl, msg, 1, on_route, &l);
    if (r == 0 && l.oom) r = -ENOMEM;
    if (r < 0) { free(l.items); return r; }
    *out = l.items;
    *count = l.count;
    return 0;
}

/* ip route add|del DST/PREFIX dev IFINDEX (table main, scope link) */
int hn_route_v4(hn_nl *nl, int add, uint32_t dst, int prefix, int32_t ifindex) {
    struct nl_msg *msg = nlmsg_alloc_simple(add ? RTM_NEWROUTE : RTM_DELROUTE, add ? (NLM_F_CREATE | NLM_F_EXCL) : 0);
    if (!msg) return -ENOMEM;
    struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_dst_len = (unsigned char)prefix, .rtm_table = RT_TABLE_MAIN,
                         .rtm_protocol = RTPROT_BOOT, .rtm_scope = add ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE,
                         .rtm_type = RTN_UNICAST };
    uint32_t d = htonl(dst);
    if (nlmsg_append(msg, &rtm, sizeof rtm, NLMSG_ALIGNTO) < 0 ||
        nla_put(msg, RTA_DST, 4, &d) < 0 ||
        (ifindex > 0 && nla_put_u32(msg, RTA_OIF, (uint32_t)ifindex) < 0)) { nlmsg_free(msg); return -EMSGSIZE; }
    return hn_talk(nl, msg, 0, NULL, NULL);
}
