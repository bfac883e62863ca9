#!/bin/sh
# Network namespaces for multi-host tests: PostgreSQL and three nodes, each with
# its own address, joined by a bridge that lives in a namespace of its own, so
# nothing is added to the host namespace.
#   netns.sh up PREFIX      create PREFIX-br (bridge br0), PREFIX-db, PREFIX-a, PREFIX-b, PREFIX-c
#   netns.sh down PREFIX    remove them (idempotent; also ends processes left inside by a killed run)
#   netns.sh reap STEM      `down` every STEM<pid> whose process <pid> is gone (killed test runs)
# Addresses (NETNS_NET, default 10.231.77): db .10, a .11, b .12, c .13, all /24.
# In namespace X the link to the bridge is `eth0`; its bridge-side end, in PREFIX-br, is `v-X`
# (`ip -n PREFIX-b link set eth0 down` cuts node b off; `up` heals it).
# `up` prints nothing on success; exit 77 with one line when namespaces cannot be created
# (no privilege, no netns/veth/bridge support), 1 on other failures, 2 on misuse.
set -u
NET=${NETNS_NET:-10.231.77}
MEMBERS="db a b c"

usage() { echo "usage: netns.sh up|down PREFIX | reap STEM" >&2; exit 2; }
skip() { echo "netns: $*" >&2; exit 77; }
fail() { echo "netns: $*" >&2; exit 1; }
addr_of() { case "$1" in db) echo "$NET.10" ;; a) echo "$NET.11" ;; b) echo "$NET.12" ;; c) echo "$NET.13" ;; esac; }
exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

# Ends the processes still inside namespace $1 (TERM, then KILL), then deletes it.
remove_ns() {
  exists "$1" || return 0
  pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
  if [ -n "$pids" ]; then
    kill -TERM $pids 2>/dev/null
    i=0
    while [ $i -lt 30 ] && [ -n "$(ip netns pids "$1" 2>/dev/null)" ]; do sleep 0.1; i=$((i + 1)); done
    pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  fi
  ip netns del "$1" 2>/dev/null || { exists "$1" && fail "cannot delete namespace $1"; }
  return 0
}

down() {
  for m in $MEMBERS; do remove_ns "$1-$m"; done   # deleting an end removes its veth pair
  remove_ns "$1-br"
}

up() {
  p=$1
  command -v ip >/dev/null 2>&1 || skip "the ip command (iproute2) is not installed"
  if [ "$(id -u)" -ne 0 ]; then
    eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status 2>/dev/null)
    # CAP_NET_ADMIN is bit 12, CAP_SYS_ADMIN (netns mounts, setns) bit 21.
    if [ -z "$eff" ] || [ $(( (0x$eff >> 12) & 1 )) -eq 0 ] || [ $(( (0x$eff >> 21) & 1 )) -eq 0 ]; then
      skip "not root and no CAP_NET_ADMIN + CAP_SYS_ADMIN: cannot create network namespaces"
    fi
  fi
  down "$p"                                       # leftovers of a killed run with this prefix
  err=$(ip netns add "$p-br" 2>&1) || { down "$p"; skip "ip netns add failed: $(echo "$err" | head -n1)"; }
  err=$( { ip -n "$p-br" link set lo up && ip -n "$p-br" link add br0 type bridge &&
           ip -n "$p-br" link set br0 up; } 2>&1) ||
    { down "$p"; skip "cannot create a bridge in a namespace: $(echo "$err" | head -n1)"; }
  for m in $MEMBERS; do
    ns=$p-$m
    err=$(ip netns add "$ns" 2>&1) || { down "$p"; skip "ip netns add failed: $(echo "$err" | head -n1)"; }
    err=$(ip -n "$p-br" link add "v-$m" type veth peer name eth0 netns "$ns" 2>&1) ||
      { down "$p"; skip "cannot create a veth pair: $(echo "$err" | head -n1)"; }
    err=$( { ip -n "$p-br" link set "v-$m" master br0 &&
             ip -n "$p-br" link set "v-$m" up &&
             ip -n "$ns" link set lo up &&
             ip -n "$ns" addr add "$(addr_of "$m")/24" dev eth0 &&
             ip -n "$ns" link set eth0 up; } 2>&1) ||
      { down "$p"; fail "cannot configure $ns: $(echo "$err" | head -n1)"; }
  done
}

[ $# -eq 2 ] && [ -n "$2" ] || usage
case "$2" in *[!A-Za-z0-9_.-]*) usage ;; esac
case "$1" in
up) up "$2" ;;
down) down "$2" ;;
reap)
  for br in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$2[0-9]+-br\$"); do
    prefix=${br%-br}; pid=${prefix#"$2"}
    kill -0 "$pid" 2>/dev/null || down "$prefix"
  done ;;
*) usage ;;
esac
exit 0
