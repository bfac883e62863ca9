#!/bin/sh
# Throwaway PostgreSQL 15 for tests, the demo and the benchmark.
#   pgtest.sh start STATEFILE [--durable]   initdb + pg_ctl on a free port; writes STATEFILE
#   pgtest.sh stop STATEFILE                stop the server and remove its folder
#   pgtest.sh reap [DIR]                    stop leftovers of killed runs under DIR
# STATEFILE is shell syntax (PGTEST_DIR, PGTEST_PORT, PGTEST_DSN) and stays where the
# caller puts it (the build folder), with a copy of the server log after stop. The
# cluster itself lives in a 0755 folder of its own under $PGTEST_SERVER_TMP (default
# /tmp), never under the checkout: as root the server runs as `postgres`, which cannot
# traverse a checkout below a 0700 folder such as /root or a `mktemp -d` folder.
# --durable keeps fsync/synchronous_commit on, for a fair benchmark. $PGTEST_EXTRA_CONF (lines)
# is appended to postgresql.conf (the pipeline benchmark loads pg_stat_statements with it).
set -eu
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT_MIN=${PGTEST_PORT_MIN:-55700}; PORT_MAX=${PGTEST_PORT_MAX:-55899}
BASE=$(cd "${PGTEST_SERVER_TMP:-/tmp}" && pwd)
state=${2:-}; case "$state" in ""|/*) ;; *) state=$PWD/$state ;; esac
as_owner() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
stop_dir() {
  [ -f "$1/postmaster.pid" ] || return 0
  as_owner "$PGBIN/pg_ctl" -D "$1" -m fast -w -t 10 -s stop 2>/dev/null ||
  as_owner "$PGBIN/pg_ctl" -D "$1" -m immediate -w -t 10 -s stop 2>/dev/null || true
}
stop_state() {
  [ -f "$state" ] || return 0
  . "$state"; stop_dir "$PGTEST_DIR/data"
  [ -f "$PGTEST_DIR/server.log" ] && cp "$PGTEST_DIR/server.log" "${state%.*}.server.log" 2>/dev/null
  rm -f "$state"
  # A run leaves a gigabyte in thousands of files (a database per test); deleting them
  # can take minutes on a busy disk. The server is down: delete them in the background.
  if mv "$PGTEST_DIR" "$PGTEST_DIR.removing" 2>/dev/null; then
    setsid rm -rf "$PGTEST_DIR.removing" </dev/null >/dev/null 2>&1 &
  else
    rm -rf "$PGTEST_DIR"
  fi
}
# A failed start: show why and where, keep the logs next to STATEFILE, remove the cluster.
fail_start() {
  for f in initdb.log server.log pg_ctl.err; do
    [ -s "$dir/$f" ] && { cat "$dir/$f" >&2; cp "$dir/$f" "${state%.*}.$f" 2>/dev/null || true; }
  done
  echo "pgtest: $1 (cluster folder $dir, removed; its logs are next to $state)" >&2
  stop_dir "$dir/data"; rm -rf "$dir"; exit 1
}
case "${1:-}" in
start)
  [ -x "$PGBIN/initdb" ] || { echo "pgtest: $PGBIN/initdb not found (make deps installs postgresql-15)" >&2; exit 1; }
  [ -n "$state" ] || { echo "usage: pgtest.sh start STATEFILE [--durable]" >&2; exit 2; }
  stop_state                                   # leftover of a killed run with this state file
  dir=$(mktemp -d "$BASE/pgtest.XXXXXX")
  chmod 755 "$dir"
  echo "$state" >"$dir/owner"                   # reap: whose cluster this is
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
  as_owner test -w "$dir" ||
    fail_start "the server's user cannot write its folder; set PGTEST_SERVER_TMP to one it can reach"
  as_owner "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
      --no-sync --no-instructions >"$dir/initdb.log" 2>&1 || fail_start "initdb failed"
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 400
shared_buffers = 128MB
log_min_messages = warning
CONF
  if [ -n "${PGTEST_EXTRA_CONF:-}" ]; then printf '%s\n' "$PGTEST_EXTRA_CONF" >>"$dir/data/postgresql.conf"; fi
  if [ "${3:-}" != "--durable" ]; then
    printf 'fsync = off\nfull_page_writes = off\n' >>"$dir/data/postgresql.conf"
  fi
  port=$PORT_MIN
  while [ "$port" -le "$PORT_MAX" ]; do
    rm -f "$dir/server.log"
    echo "port = $port" >>"$dir/data/postgresql.conf"
    if as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -s start 2>>"$dir/pg_ctl.err"; then
      printf 'PGTEST_DIR=%s\nPGTEST_PORT=%s\nPGTEST_DSN="host=127.0.0.1 port=%s user=postgres dbname=postgres"\n' \
        "$dir" "$port" "$port" >"$state"
      exit 0
    fi
    grep -q 'could not bind' "$dir/server.log" 2>/dev/null || fail_start "the server did not start"
    port=$((port + 1))
  done
  fail_start "no free port in $PORT_MIN-$PORT_MAX" ;;
stop) stop_state ;;
restart)
  . "$state"; as_owner "$PGBIN/pg_ctl" -D "$PGTEST_DIR/data" -l "$PGTEST_DIR/server.log" -m fast -w -t 60 -s restart ;;
reap)
  # Only clusters whose state file is gone or names another cluster: never a live run's.
  for f in "$(cd "${2:-$BASE}" && pwd)"/pgtest.*/data/postmaster.pid; do
    [ -f "$f" ] || continue; d=${f%/data/postmaster.pid}
    owner=$(cat "$d/owner" 2>/dev/null || true)
    if [ -n "$owner" ] && [ -f "$owner" ] && grep -q "^PGTEST_DIR=$d\$" "$owner"; then continue; fi
    stop_dir "$d/data"; rm -rf "$d"
  done ;;
*) echo "usage: pgtest.sh start|stop|restart STATEFILE [--durable] | reap [DIR]" >&2; exit 2 ;;
esac
