#!/usr/bin/env bash
# Many queues, many nodes (issue 24 item 6): BENCH_QUEUES (500) queues served by each of
# BENCH_QUEUE_NODES (3) nodes, 2 workers per queue, default database.pool; idle, then a
# burst of BENCH_QUEUE_BURST (20) messages on every queue. Prints the connections and the
# transactions per second of the idle cluster, the burst's messages/s (server clock: the
# burst's commit to the last handled run) and the connections after it. On a throwaway
# durable PostgreSQL (or $POSTBOX_DSN). The nodes run the limits suite's node binary
# (tests/actors_node/limits_main.cpp: type `work`, each run recorded in a table).
# Prints figures; never asserts on them.
#   scripts/bench_queues.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUEUES=${BENCH_QUEUES:-500}
NODES=${BENCH_QUEUE_NODES:-3}
BURST=${BENCH_QUEUE_BURST:-20}
IDLE_SECS=${BENCH_QUEUE_IDLE_SECS:-10}
WORK=$BUILD/bench-queues
STATE=$BUILD/bench-queues-pg.env
DB=postbox_bench_queues
node_pids=() started_pg=

say() { echo "bench-queues: $*" >&2; }
q() { psql "$1" -X -q -At -v ON_ERROR_STOP=1 -c "$2"; }

cleanup() {
  local pid
  for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${node_pids[@]}"; do
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$started_pg" ]; then
    "$ROOT/tests/harness/pgtest.sh" stop "$STATE"
  else
    q "$BASE_DSN" "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$BUILD/postbox-test-limits" ] || { say "$BUILD/postbox-test-limits is not built"; exit 1; }
mkdir -p "$WORK"
if [ -z "${POSTBOX_DSN:-}" ]; then
  "$ROOT/tests/harness/pgtest.sh" start "$STATE" --durable
  started_pg=1
  . "$STATE"
  BASE_DSN=$PGTEST_DSN
else
  BASE_DSN=$POSTBOX_DSN
fi
case "$BASE_DSN" in
  postgres://* | postgresql://*)
    DSN=$(sed -E "s#^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?\$#\1/$DB\4#" <<<"$BASE_DSN") ;;
  *) DSN="$BASE_DSN dbname=$DB" ;;
esac
q "$BASE_DSN" "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
q "$BASE_DSN" "CREATE DATABASE $DB" >/dev/null
"$BUILD/postbox" --dsn "$DSN" migrate >/dev/null
q "$DSN" "CREATE TABLE runs (message_id bigint, queue text, key text, owner text,
                             started_us bigint, ended_us bigint)" >/dev/null

TOPOLOGY=$WORK/topology.yaml
{
  echo "cluster: bench-queues"
  echo "database: { dsn: \"\${POSTBOX_DSN}\" }"
  echo "nodes:"
  for ((n = 1; n <= NODES; n++)); do
    echo "  n$n:"
    echo "    actors:"
    for ((i = 0; i < QUEUES; i++)); do echo "      - { queue: q$i, concurrency: 2 }"; done
  done
} >"$TOPOLOGY"

export POSTBOX_DSN=$DSN
for ((n = 1; n <= NODES; n++)); do
  "$BUILD/postbox-test-limits" --topology "$TOPOLOGY" --node "n$n" >"$WORK/node-n$n.log" 2>&1 &
  node_pids+=($!)
done
# Up: every node's probe is connected (it starts after every consumer).
for _ in $(seq 600); do
  [ "$(q "$DSN" "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'
                  AND application_name = 'postbox-probe'")" -ge "$NODES" ] && break
  sleep 0.1
done
commits() { q "$DSN" "SELECT xact_commit FROM pg_stat_database WHERE datname = '$DB'"; }
# Settled: every consumer's first claim is behind it (a second with few commits), at most 120 s.
for _ in $(seq 120); do
  a=$(commits); sleep 1; b=$(commits)
  [ $((b - a)) -le $((3 * NODES + 1)) ] && break
done
conns() { q "$DSN" "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND application_name LIKE 'postbox-%'"; }
idle_conns=$(conns)
c0=$(commits)
sleep "$IDLE_SECS"
c1=$(commits)
idle_tx=$(awk -v a="$c0" -v b="$c1" -v s="$IDLE_SECS" 'BEGIN { printf "%.1f", (b - a - 1) / s }')
echo "queues: $QUEUES queues x $NODES nodes (2 workers each) idle: $idle_conns connections, $idle_tx transactions/s"

total=$((QUEUES * BURST))
t0=$(q "$DSN" "SELECT extract(epoch FROM clock_timestamp())")
q "$DSN" "SELECT count(postbox.send('q' || (i % $QUEUES), 'work', '{\"key\": \"\", \"sleep_ms\": 0}'))
          FROM generate_series(0, $total - 1) i" >/dev/null
PGOPTIONS="-c statement_timeout=600s" q "$DSN" "DO \$\$ BEGIN
    WHILE (SELECT count(*) FROM runs) < $total LOOP PERFORM pg_sleep(0.05); END LOOP;
  END \$\$" >/dev/null || { say "the burst was not handled in 600 s (logs: $WORK)"; exit 1; }
secs=$(q "$DSN" "SELECT round((max(ended_us) / 1e6 - $t0)::numeric, 3) FROM runs")
rate=$(awk -v n="$total" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
echo "queues: burst of $total messages ($BURST on each queue): ${secs} s, $rate messages/s; $(conns) connections after it"
