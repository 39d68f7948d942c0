#!/bin/sh
# The floor for "hutch run --rm -p HOSTPORT:80 -- true" done by hand: the same wiring with plain
# `ip` and `iptables` commands, one process per step, then torn down again. Run inside a throwaway
# network namespace (bench.py does that); it only touches that namespace.
#
#   baseline_wiring.sh setup-bridge               once: bridge hbr0 10.99.0.1/16 + MASQUERADE
#   baseline_wiring.sh run N HOSTPORT             one container: wire, run `true`, unwire
#   baseline_wiring.sh teardown-bridge            once, at the end
set -eu
BR=hbr0
case "$1" in
setup-bridge)
    ip link add "$BR" type bridge
    ip addr add 10.99.0.1/16 dev "$BR"
    ip link set "$BR" up
    iptables -t nat -A POSTROUTING -s 10.99.0.0/16 ! -o "$BR" -j MASQUERADE
    ;;
teardown-bridge)
    iptables -t nat -D POSTROUTING -s 10.99.0.0/16 ! -o "$BR" -j MASQUERADE || true
    ip link del "$BR" || true
    ;;
run)
    n=$2; hport=$3
    ns="${BENCH_NS_PREFIX:-hbb}-$n"; veth="hbv$n"   # netns names are global: bench.py passes a unique prefix
    ip4="10.99.$(( (n / 250) % 250 )).$(( n % 250 + 2 ))"
    # wiring: netns, veth pair, peer into the netns as eth0, addresses, lo, route, DNAT
    ip netns add "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$BR" up
    ip -n "$ns" addr add "$ip4/16" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via 10.99.0.1
    iptables -t nat -A PREROUTING -p tcp --dport "$hport" -j DNAT --to-destination "$ip4:80"
    iptables -t nat -A OUTPUT -p tcp --dport "$hport" -j DNAT --to-destination "$ip4:80"
    # the "container": new uts/ipc/pid/mount namespaces inside the wired netns
    ip netns exec "$ns" unshare --uts --ipc --pid --mount --fork true
    # teardown
    iptables -t nat -D OUTPUT -p tcp --dport "$hport" -j DNAT --to-destination "$ip4:80"
    iptables -t nat -D PREROUTING -p tcp --dport "$hport" -j DNAT --to-destination "$ip4:80"
    ip link del "$veth"
    ip netns del "$ns"
    ;;
*)
    echo "usage: $0 setup-bridge | run N HOSTPORT | teardown-bridge" >&2; exit 2 ;;
esac
