#!/usr/bin/env bash
# make demo: what postbox promises, on a fresh machine, in under a minute. A throwaway
# PostgreSQL (or $POSTBOX_DSN), a webhook receiver and two nodes (demo/promise.yaml),
# kept running as a service manager would: a node that dies is started again. Three
# executions run at once:
#   1. the 300 sample documents — node b is killed with SIGKILL mid-run;
#   2. 30 documents, one of which (crash.boom) aborts whichever node processes it;
#   3. a slow one, cancelled mid-run.
# The summary shows each execution's final state and how many webhooks it sent: one each.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOPOLOGY=$ROOT/demo/promise.yaml
DOCS=$ROOT/demo/sample-docs
WORK=$BUILD/demo
STATE=$BUILD/demo-pg.env
HOOKS=$WORK/webhooks.jsonl
PB="$BUILD/postbox --topology $TOPOLOGY"
sink_pid= started_pg=
declare -A keeper

say() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*"; }

cleanup() {
  touch "$WORK/stop" 2>/dev/null || true
  for n in "${!keeper[@]}"; do
    pkill -TERM -F "$WORK/$n.pid" 2>/dev/null || true
  done
  for n in "${!keeper[@]}"; do wait "${keeper[$n]}" 2>/dev/null || true; done
  [ -n "$sink_pid" ] && kill -TERM "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null || true
  [ -n "$started_pg" ] && "$ROOT/tests/harness/pgtest.sh" stop "$STATE"
  return 0
}
trap cleanup EXIT

rm -rf "$WORK" && mkdir -p "$WORK"
if [ -z "${POSTBOX_DSN:-}" ]; then
  "$ROOT/tests/harness/pgtest.sh" start "$STATE"
  started_pg=1
  . "$STATE"
  export POSTBOX_DSN=$PGTEST_DSN
  say "PostgreSQL 15 on 127.0.0.1:$PGTEST_PORT (throwaway)"
fi

"$BUILD/postbox-webhook-sink" --port 0 --out "$HOOKS" 2>"$WORK/sink.log" &
sink_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$WORK/sink.log" 2>/dev/null && break; sleep 0.05; done
sink_port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$WORK/sink.log" | head -1)
[ -n "$sink_port" ] || { echo "demo: the webhook receiver did not start: $(cat "$WORK/sink.log")" >&2; exit 1; }
export POSTBOX_WEBHOOK_URL=http://127.0.0.1:$sink_port/hook
$PB migrate >/dev/null

# A node's keeper: starts it, and starts it again whenever it dies (until the demo ends).
keep() {
  local name=$1
  while [ ! -e "$WORK/stop" ]; do
    "$BUILD/postbox-node" --topology "$TOPOLOGY" --node "$name" >>"$WORK/$name.log" 2>&1 &
    echo $! >"$WORK/$name.pid"
    local rc=0
    wait $! || rc=$?
    [ -e "$WORK/stop" ] && break
    case $rc in
      134) say "node $name died (SIGABRT: crash.boom aborted it) — restarting it" ;;
      137) say "node $name died (SIGKILL) — restarting it" ;;
      *) say "node $name exited ($rc) — restarting it" ;;
    esac
  done
}
# (bash's own "Killed"/"Aborted" job notices go to /dev/null; the keeper says it instead)
for n in a b; do keep "$n" 2>/dev/null & keeper[$n]=$!; done
say "nodes a and b started (logs: $WORK/a.log, $WORK/b.log); webhooks to $POSTBOX_WEBHOOK_URL"

sql() { psql "$POSTBOX_DSN" -X -q -A -t -c "$1"; }
submit() { $PB submit --workflow "$1" "${@:2}"; }

mkdir -p "$WORK/crashy" "$WORK/slow"
for i in $(seq -w 1 29); do cp "$DOCS/$(ls "$DOCS" | sed -n "${i#0}p")" "$WORK/crashy/doc$i.txt"; done
echo "this file aborts the node that processes it" >"$WORK/crashy/crash.boom"
for i in $(seq -w 1 80); do echo "slow $i" >"$WORK/slow/s$i.txt"; done

docs=$(submit docs "$DOCS")
say "submitted 1: 300 sample documents   -> $docs"
crashy=$(submit docs "$WORK/crashy")
say "submitted 2: 30 files, one is crash.boom -> $crashy"
slow=$(submit slow "$WORK/slow")
say "submitted 3: 80 slow files          -> $slow"

# Node b is killed while it holds leases of the first execution.
for _ in $(seq 200); do
  [ "$(sql "SELECT count(*) FROM postbox.mailbox WHERE execution_id = '$docs' AND lease_owner LIKE 'b/%'")" -gt 0 ] && break
  sleep 0.05
done
say "kill -9 node b while it runs batches of 1 ($(sql "SELECT count(*) FROM postbox.file_results WHERE execution_id = '$docs'")/300 files done)"
pkill -KILL -F "$WORK/b.pid" || true

# The slow one is cancelled once it has started.
for _ in $(seq 200); do
  [ "$(sql "SELECT count(*) FROM postbox.file_results WHERE execution_id = '$slow'")" -gt 0 ] && break
  sleep 0.05
done
say "cancel 3: $($PB cancel "$slow")"
at_cancel=$(sql "SELECT count(*) FROM postbox.file_results WHERE execution_id = '$slow'")

# Every execution ends; every terminal status is delivered.
for _ in $(seq 1200); do
  left=$(sql "SELECT count(*) FROM postbox.executions WHERE status IN ('QUEUED', 'EXECUTING')")
  sent=$( [ -s "$HOOKS" ] && wc -l <"$HOOKS" || echo 0)
  [ "$left" -eq 0 ] && [ "$sent" -ge 3 ] && break
  sleep 0.05
done
sleep 1  # a late duplicate webhook would show here

echo
echo "== the executions"
psql "$POSTBOX_DSN" -X -q -P footer=off -c "
SELECT CASE id WHEN '$docs' THEN '1 docs, node b killed'
               WHEN '$crashy' THEN '2 with crash.boom'
               ELSE '3 slow, cancelled' END AS execution,
       status, files_done || '/' || files_total AS done, files_failed AS failed,
       files_total - files_done - files_failed AS never_ran,
       left(coalesce(error, ''), 60) AS error
FROM postbox.executions WHERE id IN ('$docs', '$crashy', '$slow') ORDER BY 1"
echo "== webhooks received (one per execution, whatever happened)"
for id in "$docs" "$crashy" "$slow"; do
  n=$(grep -c "\"$id\"" "$HOOKS" || true)
  st=$(grep "\"$id\"" "$HOOKS" | sed -n 's/.*"status":"\([A-Z]*\)".*/\1/p' | head -1)
  printf '  %s  %s  webhooks: %s\n' "$id" "${st:-?}" "$n"
done
echo "== the one message charged for the crash (its neighbours were not)"
sql "SELECT '  dead letter ' || message_id || ' (' || type || '): ' || left(reason, 110) FROM postbox.dead_letters"
at_end=$(sql "SELECT count(*) FROM postbox.file_results WHERE execution_id = '$slow'")
echo "== cancel: 3 had $at_cancel file results when it was cancelled, $at_end at the end"
echo "   (batches still running finished their files, but STOPPED refused their results)"

bad=0
[ "$(sql "SELECT status FROM postbox.executions WHERE id = '$docs'")" = COMPLETED ] || bad=1
[ "$(sql "SELECT status FROM postbox.executions WHERE id = '$crashy'")" = ERROR ] || bad=1
[ "$(sql "SELECT status FROM postbox.executions WHERE id = '$slow'")" = STOPPED ] || bad=1
[ "$at_end" -eq "$at_cancel" ] || bad=1
for id in "$docs" "$crashy" "$slow"; do [ "$(grep -c "\"$id\"" "$HOOKS" || true)" -eq 1 ] || bad=1; done
# The poisoned batch's files count as failed: done + failed + never ran = total, failed > 0.
[ "$(sql "SELECT files_failed > 0 FROM postbox.executions WHERE id = '$crashy'")" = t ] || bad=1
exit "$bad"
