#!/bin/sh
# Throwaway PostgreSQL 15 for tests, the demo and the benchmark.
#   pgtest.sh start STATEFILE [--durable]   initdb + pg_ctl on a free port; writes STATEFILE
#   pgtest.sh stop STATEFILE                stop the server and remove its folder
#   pgtest.sh reap [DIR]                    stop leftovers of killed runs under DIR
# STATEFILE is shell syntax (PGTEST_DIR, PGTEST_PORT, PGTEST_DSN). --durable keeps
# fsync/synchronous_commit on, for a fair benchmark. As root the server runs as `postgres`.
set -eu
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT_MIN=${PGTEST_PORT_MIN:-55700}; PORT_MAX=${PGTEST_PORT_MAX:-55899}
BASE=$(cd "${PGTEST_TMP:-/tmp}" && pwd)
state=${2:-}; case "$state" in ""|/*) ;; *) state=$PWD/$state ;; esac
as_owner() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
stop_dir() {
  [ -f "$1/postmaster.pid" ] || return 0
  as_owner "$PGBIN/pg_ctl" -D "$1" -m fast -w -t 10 -s stop 2>/dev/null ||
  as_owner "$PGBIN/pg_ctl" -D "$1" -m immediate -w -t 10 -s stop 2>/dev/null || true
}
stop_state() {
  [ -f "$state" ] || return 0
  . "$state"; stop_dir "$PGTEST_DIR/data"; rm -rf "$PGTEST_DIR" "$state"
}
case "${1:-}" in
start)
  [ -x "$PGBIN/initdb" ] || { echo "pgtest: $PGBIN/initdb not found (make deps installs postgresql-15)" >&2; exit 1; }
  stop_state                                   # leftover of a killed run in this build dir
  dir=$(mktemp -d "$BASE/pgtest.XXXXXX")
  chmod 755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
  as_owner "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
      --no-sync --no-instructions >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 400
shared_buffers = 128MB
log_min_messages = warning
CONF
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
    grep -q 'could not bind' "$dir/server.log" 2>/dev/null || { cat "$dir/server.log" "$dir/pg_ctl.err" >&2; exit 1; }
    port=$((port + 1))
  done
  echo "pgtest: no free port in $PORT_MIN-$PORT_MAX" >&2; exit 1 ;;
stop) stop_state ;;
restart)
  . "$state"; as_owner "$PGBIN/pg_ctl" -D "$PGTEST_DIR/data" -l "$PGTEST_DIR/server.log" -m fast -w -t 60 -s restart ;;
reap)
  for f in "$(cd "${2:-$BASE}" && pwd)"/pgtest.*/data/postmaster.pid; do
    [ -f "$f" ] || continue; d=${f%/postmaster.pid}; stop_dir "$d"; rm -rf "${d%/data}"
  done ;;
*) echo "usage: pgtest.sh start|stop|restart STATEFILE [--durable] | reap [DIR]" >&2; exit 2 ;;
esac
