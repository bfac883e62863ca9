#!/usr/bin/env bash
# A throwaway pg_auto_failover formation (Debian's postgresql-15-auto-failover) on loopback:
# a monitor, a primary and a secondary, each a `pg_autoctl run` of its own.
#   failover.sh start STATEFILE     create and run the formation; writes STATEFILE
#   failover.sh failover STATEFILE  crash the current primary (SIGKILL to its pg_autoctl and
#                                   its postgres, as a machine crash would) and wait until the
#                                   secondary is primary; prints how long that took
#   failover.sh stop STATEFILE      stop everything and remove the folder
# STATEFILE is shell syntax: FAILOVER_DIR, FAILOVER_PORTS (monitor, node1, node2),
# FAILOVER_DSN (key=value, multi-host) and FAILOVER_URI (postgresql://h:p,h:p/db), both with
# target_session_attrs=read-write, so a client always lands on the writable server.
# As root every pg_autoctl runs as `postgres` in a 0755 folder under $FAILOVER_TMP (/tmp):
# PostgreSQL refuses root, and `postgres` cannot traverse a checkout below /root.
# The monitor is tuned so a dead primary is replaced in seconds (defaults: ~30-60 s):
# see tune_monitor below.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
# Below the ephemeral range, as failover_test.sh's HTTP ports.
PORT_MIN=${FAILOVER_PORT_MIN:-29000}; PORT_MAX=${FAILOVER_PORT_MAX:-29099}
BASE=$(cd "${FAILOVER_TMP:-/tmp}" && pwd)
state=${2:-}; case "$state" in ""|/*) ;; *) state=$PWD/$state ;; esac

say() { printf '%s failover.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "$*"; exit 1; }
now_ms() { date +%s%3N; }

# pg_autoctl keeps its config and state under XDG_CONFIG_HOME / XDG_DATA_HOME: point them
# into the formation's folder so nothing lands in ~postgres and runs never share state.
autoctl() {
  local env=(env "XDG_CONFIG_HOME=$dir/xdg/config" "XDG_DATA_HOME=$dir/xdg/data" "PATH=$PGBIN:$PATH")
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "${env[@]}" pg_autoctl "$@")
  else (cd / && "${env[@]}" pg_autoctl "$@"); fi
}
# One `pg_autoctl run` per node, in a session of its own (setsid), so `stop` and `failover`
# can signal the node's whole process tree (pg_autoctl, its postgres and the backends).
run_node() {  # run_node NAME PG_AUTOCTL_ARGS...
  local name=$1; shift
  local env=(env "XDG_CONFIG_HOME=$dir/xdg/config" "XDG_DATA_HOME=$dir/xdg/data" "PATH=$PGBIN:$PATH")
  # setsid execs pg_autoctl (env is no group leader), so pg_autoctl's pid is the session id.
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && exec runuser -u postgres -- "${env[@]}" setsid pg_autoctl "$@") >"$dir/$name.log" 2>&1 </dev/null &
  else
    (cd / && exec "${env[@]}" setsid pg_autoctl "$@") >"$dir/$name.log" 2>&1 </dev/null &
  fi
}
node_sid() {  # session id of node $1's pg_autoctl supervisor, empty if it is not running
  local pid
  pid=$(ps -eo pid=,args= | awk -v d="$dir/$1" '$2 == "pg_autoctl" && ($3 == "run" || $3 == "create") { for (i = 4; i < NF; i++) if ($i == "--pgdata" && $(i + 1) == d) { print $1; exit } }')
  [ -n "$pid" ] && ps -o sid= -p "$pid" | tr -d ' '
  return 0
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() {  # three free ports in a row; the race with others is caught by the start
  local p=$PORT_MIN
  while [ $((p + 2)) -le "$PORT_MAX" ]; do
    if port_free "$p" && port_free $((p + 1)) && port_free $((p + 2)); then echo "$p"; return 0; fi
    p=$((p + 3))
  done
  return 1
}
monitor_sql() { psql "host=127.0.0.1 port=$mport user=postgres dbname=pg_auto_failover" -X -q -A -t -c "$1"; }
# Node states as "name port reported_state" lines, from the monitor's table.
states() {
  monitor_sql "SELECT nodename, nodeport, reportedstate, goalstate FROM pgautofailover.node ORDER BY nodeid" 2>/dev/null | tr '|' ' '
}
primary_port() {
  monitor_sql "SELECT nodeport FROM pgautofailover.node WHERE reportedstate IN ('primary', 'wait_primary', 'single') AND goalstate = reportedstate" 2>/dev/null | head -1
}
load_state() {
  [ -f "$state" ] || die "no state file $state"
  # shellcheck disable=SC1090
  . "$state"; dir=$FAILOVER_DIR; read -r mport p1 p2 <<<"$FAILOVER_PORTS"
}

tune_monitor() {
  # The monitor's health checks (pgautofailover.* GUCs, reloadable). Defaults: a check every
  # 5 s with a 5 s timeout and 2 retries 2 s apart, a node unhealthy after 20 s without a
  # report, and 30 s for an unreachable primary to demote itself before the standby is
  # promoted: a minute in all. Here: a check every second, unhealthy after 2 s, demote
  # timeout 2 s. Safe only because the "network" is loopback and the test kills the primary
  # for good; production keeps margins against false failovers.
  local g args=()   # ALTER SYSTEM refuses a transaction block: one -c each
  for g in health_check_period=1000 health_check_timeout=1000 health_check_max_retries=1 \
           health_check_retry_delay=500 node_considered_unhealthy_timeout=2000 \
           primary_demote_timeout=2000 startup_grace_period=2000; do
    args+=(-c "ALTER SYSTEM SET pgautofailover.${g%%=*} = ${g#*=}")
  done
  psql "host=127.0.0.1 port=$mport user=postgres dbname=pg_auto_failover" -X -q -A -t \
    "${args[@]}" -c "SELECT pg_reload_conf()" >/dev/null
}

stop_all() {
  local n sid
  for n in node2 node1 monitor; do
    sid=$(node_sid "$n")
    [ -n "$sid" ] && kill -TERM -- "-$sid" 2>/dev/null || true
  done
  for _ in $(seq 100); do
    [ -z "$(node_sid node1)$(node_sid node2)$(node_sid monitor)" ] && break
    sleep 0.1
  done
  for n in node2 node1 monitor; do
    sid=$(node_sid "$n")
    [ -n "$sid" ] && kill -KILL -- "-$sid" 2>/dev/null || true
    # A postgres left behind by a killed pg_autoctl (it is in the same session, but be sure).
    if [ -f "$dir/$n/postmaster.pid" ]; then
      if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/$n" -m immediate -w -t 10 -s stop) 2>/dev/null || true
      else "$PGBIN/pg_ctl" -D "$dir/$n" -m immediate -w -t 10 -s stop 2>/dev/null || true; fi
    fi
  done
}

case "${1:-}" in
start)
  command -v pg_autoctl >/dev/null || die "pg_autoctl not found (apt-get install postgresql-15-auto-failover)"
  [ -n "$state" ] || die "usage: failover.sh start STATEFILE"
  if [ -f "$state" ]; then "$0" stop "$state" || true; fi   # leftover of a killed run
  t0=$(now_ms)
  dir=$(mktemp -d "$BASE/pgaf.XXXXXX"); chmod 755 "$dir"
  echo "$state" >"$dir/owner"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
  base=$(pick_ports) || die "no three free ports in $PORT_MIN-$PORT_MAX"
  mport=$base; p1=$((base + 1)); p2=$((base + 2))
  printf 'FAILOVER_DIR=%s\nFAILOVER_PORTS="%s %s %s"\nFAILOVER_DSN="host=127.0.0.1,127.0.0.1 port=%s,%s user=postgres dbname=postgres target_session_attrs=read-write"\nFAILOVER_URI="postgresql://postgres@127.0.0.1:%s,127.0.0.1:%s/postgres?target_session_attrs=read-write"\nFAILOVER_MONITOR="host=127.0.0.1 port=%s user=postgres dbname=pg_auto_failover"\n' \
    "$dir" "$mport" "$p1" "$p2" "$p1" "$p2" "$p1" "$p2" "$mport" >"$state"
  trap 'say "start failed; logs kept in $dir"; "$0" stop "$state" --keep || true' EXIT

  # create --run: one process creates and then runs the node (create, then run, would stop
  # and start each server once more: seconds each on a busy machine).
  run_node monitor create monitor --pgctl "$PGBIN/pg_ctl" --pgdata "$dir/monitor" --pgport "$mport" \
    --hostname 127.0.0.1 --auth trust --no-ssl --run
  monitor_uri="postgres://autoctl_node@127.0.0.1:$mport/pg_auto_failover?sslmode=disable"
  # Ready for nodes once its extension exists and autoctl_node may connect (HBA).
  deadline=$((SECONDS + 90))
  until psql "$monitor_uri" -X -q -A -t -c "SELECT 1 FROM pgautofailover.formation LIMIT 1" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { tail -20 "$dir/monitor.log" >&2; die "monitor did not start"; }
    sleep 0.1
  done
  tune_monitor
  # node1 first, so it becomes the primary; node2 is then cloned from it as the secondary.
  # --dbname postgres, --username postgres: the database postbox uses, owned by the
  # superuser the tests connect as (trust on 127.0.0.1 only).
  for n in node1 node2; do
    port=$p1; [ "$n" = node2 ] && port=$p2
    run_node "$n" create postgres --pgctl "$PGBIN/pg_ctl" --pgdata "$dir/$n" --pgport "$port" \
      --listen 127.0.0.1 --hostname 127.0.0.1 --name "$n" --username postgres --dbname postgres \
      --monitor "$monitor_uri" --auth trust --no-ssl --run
    # Wait until this node is in its steady state before adding the next one.
    # node1 alone is "single"; once node2 is "secondary", node1 is "primary".
    want=single; [ "$n" = node2 ] && want=secondary
    ok=; deadline=$((SECONDS + 120))
    while [ $SECONDS -lt $deadline ]; do
      st=$(states)
      if echo "$st" | awk -v n="$n" -v w="$want" '$1 == n && $3 == w && $4 == w { f = 1 } END { exit !f }' &&
         { [ "$n" = node1 ] || echo "$st" | awk '$1 == "node1" && $3 == "primary" && $4 == "primary" { f = 1 } END { exit !f }'; }; then
        ok=1; break
      fi
      sleep 0.2
    done
    [ -n "$ok" ] || { states >&2; tail -20 "$dir/$n.log" >&2; die "$n did not reach $want"; }
    # Test settings, as pgtest.sh, set on node1 before node2 is cloned from it (so both
    # have them): fsync and full_page_writes off only matter for an OS crash; commits stay
    # synchronous (synchronous_commit on, pg_auto_failover's synchronous standby), so what
    # a node acked survives the primary's death.
    if [ "$n" = node1 ]; then
      psql "host=127.0.0.1 port=$p1 user=postgres dbname=postgres" -X -q -A -t \
        -c "ALTER SYSTEM SET fsync = off" -c "ALTER SYSTEM SET full_page_writes = off" \
        -c "SELECT pg_reload_conf()" >/dev/null
    fi
  done
  trap - EXIT
  say "formation up in $(( $(now_ms) - t0 )) ms: monitor :$mport, primary :$p1, secondary :$p2 ($dir)"
  ;;
failover)
  load_state
  old=$(primary_port); [ -n "$old" ] || { states >&2; die "no primary"; }
  victim=node1; [ "$old" = "$p2" ] && victim=node2
  sid=$(node_sid "$victim"); [ -n "$sid" ] || die "$victim's pg_autoctl is not running"
  # The whole node dies at once (pg_autoctl, postmaster, backends): killing only the
  # postmaster is undone by its pg_autoctl, which restarts it within a second. The
  # postmaster's own process group (its backends) too, should pg_autoctl have put it in
  # one of its own.
  pm=$(head -1 "$dir/$victim/postmaster.pid" 2>/dev/null || true)
  pm_pgid=; [ -n "$pm" ] && pm_pgid=$(ps -o pgid= -p "$pm" | tr -d ' ')
  t0=$(now_ms)
  kill -KILL -- "-$sid"
  if [ -n "$pm_pgid" ] && [ "$pm_pgid" != "$sid" ]; then kill -KILL -- "-$pm_pgid" 2>/dev/null || true; fi
  # SIGKILL is delivered asynchronously: note when the old primary stopped answering, so a
  # caller can tell a commit that slipped in just before from one on the new primary.
  deadline=$((SECONDS + 30))
  while pg_isready -q -h 127.0.0.1 -p "$old" -t 1 && [ $SECONDS -lt $deadline ]; do sleep 0.02; done
  dead=$(now_ms)
  say "killed $victim (primary on :$old, session $sid, postmaster $pm in group ${pm_pgid:-?}); it stopped answering after $((dead - t0)) ms"
  # Promoted = the other server accepts a read-write session, as a client with
  # target_session_attrs=read-write sees it. Not pg_is_in_recovery(): pg_auto_failover
  # promotes first and keeps default_transaction_read_only on (stop_replication) until the
  # old primary's demote timeout has passed; the monitor then reports wait_primary (a
  # primary without a standby: synchronous replication off until one comes back).
  new=$p1; [ "$old" = "$p1" ] && new=$p2
  deadline=$((SECONDS + 60)); ok=
  while [ $SECONDS -lt $deadline ]; do
    if [ "$(psql "host=127.0.0.1 port=$new user=postgres dbname=postgres connect_timeout=2 target_session_attrs=read-write" -X -A -t -c 'SELECT 1' 2>/dev/null)" = 1 ]; then ok=1; break; fi
    sleep 0.05
  done
  [ -n "$ok" ] || { states >&2; die "the secondary on :$new was not promoted within 60 s"; }
  printf 'FAILOVER_KILLED_AT_MS=%s\nFAILOVER_DEAD_AT_MS=%s\n' "$t0" "$dead" >>"$state"
  say "secondary on :$new is primary (writable) $(( $(now_ms) - t0 )) ms after the kill"
  echo "$(( $(now_ms) - t0 ))"
  ;;
states) load_state; states ;;
stop)
  [ -f "$state" ] || exit 0
  load_state
  stop_all
  for f in monitor node1 node2; do cp "$dir/$f.log" "${state%.*}.$f.log" 2>/dev/null || true; done
  if [ "${3:-}" != "--keep" ]; then rm -f "$state"; rm -rf "$dir"; fi
  ;;
*) echo "usage: failover.sh start|failover|stop|states STATEFILE" >&2; exit 2 ;;
esac
