#!/usr/bin/env bash
# A narrated tour of hutch: a web server in a bridge-mode container, reached from the host.
# It runs inside a throwaway network namespace that plays "the host", with a throwaway state
# root, so your machine's real network is never touched and nothing is left behind.
set -euo pipefail
HUTCH=${HUTCH:-hutch}
NS=hutch-demo-$$
ROOT=$(mktemp -d /tmp/hutch-demo.XXXXXX)

say()  { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
h()    { nsenter --net=/run/netns/$NS "$HUTCH" --root "$ROOT" "$@"; }
onhost() { nsenter --net=/run/netns/$NS "$@"; }

cleanup() {
  h rm -f web >/dev/null 2>&1 || true
  ip netns del $NS 2>/dev/null || true
  rm -rf "$ROOT"
  # hutch keeps its `hutch` parent cgroups once made (as Docker keeps `docker`); the demo takes
  # them back where it left them empty.
  for d in /sys/fs/cgroup/hutch /sys/fs/cgroup/*/hutch; do rmdir "$d" 2>/dev/null || true; done
}
trap cleanup EXIT

say "A throwaway 'host' network namespace ($NS) and state root ($ROOT)"
ip netns add $NS
onhost ip link set lo up

say "Start a web server in bridge mode (the default network, like docker0), port 8000 published on 8080"
printf '$ hutch run -d --name web -p 8080:8000 -- python3 -m http.server 8000\n'
h run -d --name web -p 8080:8000 -w /tmp -- python3 -m http.server 8000
printf '$ hutch port web\n'; h port web

say "hutch created the bridge hutch0 with the gateway address, and a veth for the container"
show onhost ip -br addr show hutch0
show onhost ip -br link show master hutch0

say "The container's view: eth0 with its own address, a default route via the gateway"
printf '$ hutch exec web ip -br addr\n'; h exec web ip -br addr
printf '$ hutch exec web ip route\n'; h exec web ip route
printf '$ hutch exec web cat /etc/hosts\n'; h exec web cat /etc/hosts

IP=$(h inspect web | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["NetworkSettings"]["IPAddress"])')
say "The host reaches the server at the container's address $IP"
for i in $(seq 50); do onhost curl -s -o /dev/null "http://$IP:8000/" && break; sleep 0.1; done
printf '$ curl -s http://%s:8000/ | head -3\n' "$IP"
page=$(onhost curl -s "http://$IP:8000/")   # not piped into head: with pipefail, curl's EPIPE would fail the demo
sed -n 1,3p <<<"$page"

say "The published port is a kernel DNAT rule (no proxy): the host reaches it on 127.0.0.1:8080"
printf '$ curl -s -o /dev/null -w "%%{http_code}\\n" http://127.0.0.1:8080/\n'
onhost curl -s -o /dev/null -w "%{http_code}\n" http://127.0.0.1:8080/
show onhost nft list map ip hutch tcp_any
show onhost nft list chain ip hutch nat-bridge

say "ps, logs, and removal"
printf '$ hutch ps\n'; h ps
printf '$ hutch logs web\n'; h logs web
printf '$ hutch rm -f web\n'; h rm -f web
say "The veth goes with the container's network namespace, a moment after its last process"
for i in $(seq 100); do [ -z "$(onhost ip -br link show master hutch0)" ] && break; sleep 0.02; done
show onhost ip -br link show master hutch0
say "Done: the veth, the address lease and the record are gone; the namespace is deleted on exit."
