#!/usr/bin/env bash
# failover_test.sh BUILD_DIR — issue 14: a PostgreSQL primary failover loses nothing.
# A pg_auto_failover formation (failover.sh), a webhook receiver and two nodes, node a on
# the key=value multi-host DSN and node b on the URI form (both target_session_attrs=
# read-write). Three executions of a slow chaos workflow run; mid-run the primary is killed
# (SIGKILL to its pg_autoctl and postgres) and the secondary promoted. Then every execution
# must end COMPLETED, with no failed file, no dead letter and exactly one webhook each.
# Prints: formation start time, failover time (kill -> secondary writable) and kill -> first
# successful ack (the first file_results row committed on the new primary).
set -euo pipefail
BUILD=$(cd "${1:?usage: failover_test.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FO=$ROOT/tests/harness/failover.sh
WORK=$BUILD/failover-test
STATE=$WORK/formation.env
HOOKS=$WORK/webhooks.jsonl
DEADLINE_S=${FAILOVER_TEST_DEADLINE:-90}   # after the kill, for every execution to end
sink_pid= node_pids=()

say() { printf '%s failover_test: %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { say "FAIL: $*"; for n in a b; do echo "--- node $n (last 30 lines)"; tail -30 "$WORK/$n.log" 2>/dev/null; done; exit 1; }
now_ms() { date +%s%3N; }

cleanup() {
  local p
  for p in "${node_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$sink_pid" ] && { kill -TERM "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null; } || true
  "$FO" stop "$STATE" || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM   # ctest's TIMEOUT, ^C: still stop the nodes and the formation

"$FO" stop "$STATE" 2>/dev/null || true   # the formation of a run killed without cleanup
rm -rf "$WORK" && mkdir -p "$WORK"
t0=$(now_ms)
"$FO" start "$STATE"
formation_ms=$(( $(now_ms) - t0 ))
. "$STATE"
sql() { psql "$FAILOVER_DSN connect_timeout=3" -X -q -A -t -c "$1"; }

"$BUILD/postbox-webhook-sink" --port 0 --out "$HOOKS" 2>"$WORK/sink.log" &
sink_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$WORK/sink.log" 2>/dev/null && break; sleep 0.05; done
sink_port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$WORK/sink.log" | head -1)
[ -n "$sink_port" ] || fail "the webhook receiver did not start: $(cat "$WORK/sink.log")"

# Each node's /metrics, read at the end: charged failures and poisons must be 0.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { local p=$1; while ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }
# Below the kernel's ephemeral range (32768-60999 here): a port in it can be taken as the
# local end of any outgoing connection (a libpq client's) between the probe and the bind,
# which a connect probe cannot see (CI saw node a fail with "bind: Address already in use").
http_a=$(free_port 29100); http_b=$(free_port $((http_a + 1)))

# The chaos processor sleeps 400 ms per file: 60 files on 2 x 2 handlers last ~6-8 s, so the
# kill lands mid-run. A 3 s visibility timeout bounds how long a lease held by a connection
# that died with the primary keeps its message.
cat >"$WORK/topology.yaml" <<YAML
cluster: failover
database: { dsn: "\${POSTBOX_DSN}", pool: 4 }
queues:
  orchestrator: { visibility_timeout: 3s, poll_interval: 200ms }
  file_batch:   { visibility_timeout: 3s, claim_batch: 2, poll_interval: 200ms }
  callback:     { visibility_timeout: 3s, poll_interval: 200ms }
workflows:
  slow: { processor: chaos, batch_size: 2, options: { sleep_ms: 400 } }
webhooks: { url: "http://127.0.0.1:$sink_port/hook", max_attempts: 20, timeout: 5s }
reaper: { interval: 1s, stuck_after: 2m }
nodes:
  a: { http_port: $http_a, actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: reaper }, { role: outbox } ] }
  b: { http_port: $http_b, actors: [ { role: orchestrator }, { role: file_batch, concurrency: 2 }, { role: callback }, { role: reaper }, { role: outbox } ] }
YAML
PB=("$BUILD/postbox" --topology "$WORK/topology.yaml" --dsn "$FAILOVER_DSN")
"${PB[@]}" migrate >/dev/null

"$BUILD/postbox-node" --topology "$WORK/topology.yaml" --node a --dsn "$FAILOVER_DSN" >"$WORK/a.log" 2>&1 &
node_pids+=($!)
"$BUILD/postbox-node" --topology "$WORK/topology.yaml" --node b --dsn "$FAILOVER_URI" >"$WORK/b.log" 2>&1 &
node_pids+=($!)
say "nodes a (key=value DSN) and b (URI) started; logs in $WORK"

ids=()
for e in 1 2 3; do
  mkdir -p "$WORK/in$e"
  for i in $(seq -w 1 20); do echo "execution $e file $i" >"$WORK/in$e/f$i.txt"; done
  ids+=("$("${PB[@]}" submit --workflow slow "$WORK/in$e")")
done
say "submitted ${ids[*]}"

# Kill once work is flowing but far from done.
deadline=$((SECONDS + 60))
until [ "$(sql "SELECT count(*) FROM postbox.file_results" 2>/dev/null || echo 0)" -ge 8 ]; do
  [ $SECONDS -lt $deadline ] || fail "no work done within 60 s"
  sleep 0.1
done
before=$(sql "SELECT count(*) FROM postbox.file_results")
say "$before of 60 files done; killing the primary"
failover_ms=$("$FO" failover "$STATE")
. "$STATE"   # FAILOVER_KILLED_AT_MS

deadline=$((SECONDS + DEADLINE_S))
while :; do
  open=$(sql "SELECT count(*) FROM postbox.executions WHERE status NOT IN ('COMPLETED', 'ERROR', 'STOPPED')" 2>/dev/null || echo '?')
  [ "$open" = 0 ] && break
  [ $SECONDS -lt $deadline ] || fail "$open executions still open ${DEADLINE_S}s after the kill: $(sql "SELECT id, status, files_done, files_failed FROM postbox.executions" 2>&1)"
  sleep 0.2
done
# Webhooks are sent by the outbox after the execution ended: wait for one each.
deadline=$((SECONDS + 30))
until [ "$(wc -l <"$HOOKS" 2>/dev/null || echo 0)" -ge 3 ] || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
sleep 2   # a duplicate would come now

# created_at is now() of the acking transaction (its start): a row stamped after the old
# primary stopped answering was committed on the new primary. (Stamped between the kill and
# then: a commit that slipped in while SIGKILL was being delivered — and survived, since it
# was replicated synchronously.)
first_ack_ms=$(sql "SELECT round(extract(epoch FROM min(created_at)) * 1000 - $FAILOVER_KILLED_AT_MS)
                    FROM postbox.file_results
                    WHERE created_at > to_timestamp($FAILOVER_DEAD_AT_MS / 1000.0)")

bad=0
for id in "${ids[@]}"; do
  row=$(sql "SELECT status, files_total, files_done, files_failed FROM postbox.executions WHERE id = '$id'")
  hooks=$(grep -c -- "$id" "$HOOKS" || true)
  say "execution $id: $row, webhooks $hooks"
  [ "$row" = "COMPLETED|20|20|0" ] || { say "  expected COMPLETED|20|20|0"; bad=1; }
  [ "$hooks" = 1 ] || { say "  expected exactly one webhook"; bad=1; }
done
dead=$(sql "SELECT count(*) FROM postbox.dead_letters")
[ "$dead" = 0 ] || { say "dead letters: $dead"; bad=1; }
results=$(sql "SELECT count(*) FROM postbox.file_results")
[ "$results" = 60 ] || { say "file_results: $results, expected 60"; bad=1; }
for n in a b; do
  lost=$(grep -c 'connection_lost' "$WORK/$n.log" || true)
  ro=$(grep -c 'session is read-only\|25006\|read-only transaction' "$WORK/$n.log" || true)
  say "node $n log: $lost connection_lost lines ($ro of them read-only), $(grep -c 'retry_later' "$WORK/$n.log" || true) deliveries given back uncharged"
done
# "Never counted as an attempt": no delivery was charged (handler failure, timeout, crash)
# or poisoned on either node; the lost-connection give-backs are counted as nacks.
for n in a b; do
  port=$http_a; [ "$n" = b ] && port=$http_b
  m=$(curl -sf "http://127.0.0.1:$port/metrics") || { say "node $n: /metrics unreadable"; bad=1; continue; }
  charged=$(echo "$m" | awk '/^postbox_(failures|poisons)_total[{ ]/ { s += $NF } END { print s + 0 }')
  nacks=$(echo "$m" | awk '/^postbox_nacks_total[{ ]/ { s += $NF } END { print s + 0 }')
  say "node $n metrics: $charged charged failures/poisons, $nacks uncharged give-backs"
  [ "$charged" = 0 ] || { say "  expected no charged attempt"; bad=1; }
done
[ "$before" -lt 60 ] || { say "the kill came after the run ended"; bad=1; }
[ -n "$first_ack_ms" ] || { say "no ack after the kill"; bad=1; }
say "figures: formation start ${formation_ms} ms; failover (kill -> secondary writable) ${failover_ms} ms; kill -> first successful ack ${first_ack_ms:-none} ms"
[ "$bad" = 0 ] || fail "see above"
say "PASS"
