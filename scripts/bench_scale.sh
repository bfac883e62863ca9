#!/usr/bin/env bash
# make bench-scale: files/s through the full pipeline (submit -> orchestrator -> file_batch ->
# callback -> COMPLETED) with 1, 2 and 3 nodes, then the raw-SQL claim+ack rate (pgbench, the
# mailbox claim in batches of 20 + one DELETE) on the same server, and the ratio. A durable
# throwaway PostgreSQL (fsync on, in a /tmp folder of its own), or $POSTBOX_DSN; each round runs in a database
# of its own, created and dropped here. Prints figures; never asserts on them.
#   scripts/bench_scale.sh BUILD_DIR        env: BENCH_FILES (2000), BENCH_RAW_MESSAGES (20000),
#                                                BENCH_RAW_CLIENTS (4), BENCH_ROUND_TIMEOUT (120 s)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=${BENCH_FILES:-2000}
RAW_MESSAGES=${BENCH_RAW_MESSAGES:-20000}
RAW_CLIENTS=${BENCH_RAW_CLIENTS:-4}
ROUND_TIMEOUT=${BENCH_ROUND_TIMEOUT:-120}
BATCH=20
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
[ -x "$PGBENCH" ] || PGBENCH=pgbench
WORK=$BUILD/bench-scale
STATE=$BUILD/bench-scale-pg.env
TOPOLOGY=$WORK/topology.yaml
DB_PREFIX=postbox_bench_scale
node_pids=() started_pg= created_dbs=()

say() { echo "bench-scale: $*" >&2; }

stop_nodes() {
  local pid rc=0
  for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${node_pids[@]}"; do
    # SIGTERM drains; a node that is still there after 20 s is killed.
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || rc=$?
  done
  node_pids=()
  return "$rc"
}

cleanup() {
  stop_nodes || true
  if [ -z "$started_pg" ]; then  # an existing server: drop only the databases made here
    for db in "${created_dbs[@]}"; do admin_sql "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; done
  fi
  [ -n "$started_pg" ] && "$ROOT/tests/harness/pgtest.sh" stop "$STATE"
  rm -rf "$WORK/files" "$WORK"/raw-*.sql
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${POSTBOX_DSN:-}" ]; then
  "$ROOT/tests/harness/pgtest.sh" start "$STATE" --durable
  started_pg=1
  . "$STATE"
  BASE_DSN=$PGTEST_DSN
else
  BASE_DSN=$POSTBOX_DSN
fi

admin_sql() { PGOPTIONS="-c client_min_messages=warning" psql "$BASE_DSN" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }

# The server's DSN pointed at database $1 (key=value: a later dbname wins; URI: replace the path).
dsn_for() {
  case "$BASE_DSN" in
    postgres://* | postgresql://*)
      sed -E "s#^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?\$#\1/$1\4#" <<<"$BASE_DSN" ;;
    *) echo "$BASE_DSN dbname=$1" ;;
  esac
}

fresh_db() {
  admin_sql "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
  admin_sql "CREATE DATABASE $1"
  created_dbs+=("$1")
  "$BUILD/postbox" --dsn "$(dsn_for "$1")" migrate >/dev/null
}

drop_db() { admin_sql "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; }

now() { date +%s.%N; }

# The files, once: small text files of 200..1200 bytes.
rm -rf "$WORK"
mkdir -p "$WORK/files"
line=$(printf '%064d\n' 0)
for ((i = 0; i < FILES; i++)); do
  body=""
  for ((j = 0; j <= i % 18; j++)); do body+="file $i line $j $line"; done
  printf '%s\n' "$body" >"$WORK/files/f$(printf '%05d' "$i").txt"
done

# Three nodes, each orchestrator + file_batch x4 + callback; n1 also runs outbox and reaper.
# No webhooks section: an empty url disables webhooks.
cat >"$TOPOLOGY" <<'YAML'
cluster: bench-scale
database:
  dsn: ${POSTBOX_DSN}
queues:
  orchestrator: { visibility_timeout: 30s, max_attempts: 3 }
  file_batch:   { visibility_timeout: 30s, max_attempts: 3, claim_batch: 16, poll_interval: 1s }
  callback:     { visibility_timeout: 30s, max_attempts: 5 }
workflows:
  bench: { processor: checksum, batch_size: 20 }
reaper: { interval: 5s, stuck_after: 2m }
nodes:
  n1:
    actors:
      - { role: orchestrator, concurrency: 1 }
      - { role: file_batch,   concurrency: 4 }
      - { role: callback,     concurrency: 1 }
      - { role: outbox }
      - { role: reaper }
  n2:
    actors:
      - { role: orchestrator, concurrency: 1 }
      - { role: file_batch,   concurrency: 4 }
      - { role: callback,     concurrency: 1 }
  n3:
    actors:
      - { role: orchestrator, concurrency: 1 }
      - { role: file_batch,   concurrency: 4 }
      - { role: callback,     concurrency: 1 }
YAML

echo "postbox scale benchmark: $FILES files, workflow 'bench' (checksum, batch_size $BATCH)," \
  "file_batch concurrency 4 per node, $(nproc) cores"

declare -A rate
for k in 1 2 3; do
  db=${DB_PREFIX}_$k
  fresh_db "$db"
  export POSTBOX_DSN
  POSTBOX_DSN=$(dsn_for "$db")
  for ((n = 1; n <= k; n++)); do
    log=$WORK/node-k$k-n$n.log
    "$BUILD/postbox-node" --topology "$TOPOLOGY" --node "n$n" >"$log" 2>&1 &
    node_pids+=($!)
  done
  for ((n = 1; n <= k; n++)); do  # ready: every consumer of the node is claiming
    log=$WORK/node-k$k-n$n.log
    for _ in $(seq 300); do
      [ "$(grep -c 'consuming queue' "$log" 2>/dev/null)" -ge 3 ] && break
      kill -0 "${node_pids[n - 1]}" 2>/dev/null || { say "node n$n exited: $(tail -3 "$log")"; exit 1; }
      sleep 0.1
    done
    [ "$(grep -c 'consuming queue' "$log")" -ge 3 ] || { say "node n$n not ready in 30 s (see $log)"; exit 1; }
  done

  t0=$(now)
  out=$("$BUILD/postbox" --dsn "$POSTBOX_DSN" --topology "$TOPOLOGY" --json submit --workflow bench "$WORK/files")
  id=$(sed -n 's/.*"execution_id":"\([^"]*\)".*/\1/p' <<<"$out")
  [ -n "$id" ] || { say "submit printed no execution_id: $out"; exit 1; }
  status=QUEUED
  while :; do
    st=$("$BUILD/postbox" --dsn "$POSTBOX_DSN" --json status "$id")
    status=$(sed -n 's/.*"status":"\([A-Z_]*\)".*/\1/p' <<<"$st")
    case "$status" in COMPLETED | ERROR | STOPPED) break ;; esac
    if awk -v a="$t0" -v b="$(now)" -v t="$ROUND_TIMEOUT" 'BEGIN { exit !(b - a > t) }'; then
      say "nodes=$k: not terminal after ${ROUND_TIMEOUT} s: $st"; exit 1
    fi
    sleep 0.1
  done
  t1=$(now)
  [ "$status" = COMPLETED ] || { say "nodes=$k: execution ended $status: $st (logs: $WORK)"; exit 1; }
  stop_nodes || say "nodes=$k: a node did not exit 0 on SIGTERM (logs: $WORK)"
  # Submit to COMPLETED as the server saw it (created_at -> finished_at): the polling above only
  # detects the end, so its 100 ms period and the CLI start-up do not blur a one-second round.
  secs=$(psql "$POSTBOX_DSN" -X -q -At -c "SELECT round(extract(epoch FROM finished_at - created_at)::numeric, 3)
    FROM postbox.executions WHERE id = '$id'")
  [ -n "$secs" ] || secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  drop_db "$db"
  rate[$k]=$(awk -v n="$FILES" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  echo "nodes=$k files=$FILES seconds=$secs files/s=${rate[$k]}"
done

# The raw SQL a consumer runs per claim (bench/bench_mailbox.cpp: raw_claim + claim_columns,
# then the array_agg + unnest DELETE of mailbox_ack_batch), in batches of $BATCH, on a mailbox
# prefilled with exactly as many messages as pgbench claims.
db=${DB_PREFIX}_raw
fresh_db "$db"
RAW_DSN=$(dsn_for "$db")
per_client=$(((RAW_MESSAGES / BATCH + RAW_CLIENTS - 1) / RAW_CLIENTS))
total=$((per_client * RAW_CLIENTS * BATCH))
psql "$RAW_DSN" -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO postbox.mailbox (queue, type, execution_id, payload)
  SELECT 'raw', 'bench', 'e-' || i, jsonb_build_object('n', i) FROM generate_series(1, $total) i" >/dev/null
script=$WORK/raw-claim-ack.sql
cat >"$script" <<SQL
WITH u AS (WITH c AS (SELECT id FROM postbox.mailbox WHERE queue = 'raw' AND visible_at <= now() ORDER BY visible_at, id LIMIT $BATCH FOR UPDATE SKIP LOCKED) UPDATE postbox.mailbox m SET visible_at = now() + interval '30 seconds', read_ct = m.read_ct + 1, receipt = nextval('postbox.receipt_seq'), lease_owner = 'raw' FROM c WHERE m.id = c.id RETURNING m.id, m.receipt, m.queue, m.type, m.execution_id, m.org, m.payload::text, m.headers::text, m.read_ct, m.last_error, extract(epoch FROM m.enqueued_at)::float8) SELECT array_agg(id) AS ids, array_agg(receipt) AS rs, count(*) AS n, max(length(payload)) AS p FROM u \gset
DELETE FROM postbox.mailbox m USING unnest(':ids'::bigint[], ':rs'::bigint[]) a(id, r) WHERE m.id = a.id AND m.receipt = a.r;
SQL
pgout=$("$PGBENCH" -n -c "$RAW_CLIENTS" -j "$((RAW_CLIENTS < 2 ? RAW_CLIENTS : 2))" -t "$per_client" \
  -f "$script" "$RAW_DSN" 2>&1) || { say "pgbench failed: $pgout"; exit 1; }
left=$(psql "$RAW_DSN" -X -q -At -c "SELECT count(*) FROM postbox.mailbox")
[ "$left" = 0 ] || say "warning: $left raw messages were not claimed+acked"
drop_db "$db"
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$pgout" | head -1)
[ -n "$tps" ] || { say "no tps in the pgbench output: $pgout"; exit 1; }
raw=$(awk -v t="$tps" -v b="$BATCH" 'BEGIN { printf "%.0f", t * b }')
echo "raw SQL claim+ack: $raw msg/s  (pgbench, $RAW_CLIENTS clients, $total messages, batch $BATCH)"

echo
echo "  nodes   files/s   files/s ÷ raw claim+ack msg/s"
for k in 1 2 3; do
  awk -v k="$k" -v r="${rate[$k]}" -v raw="$raw" 'BEGIN { printf "  %5d  %8d   %.3f\n", k, r, r / raw }'
done
echo "A file costs its result row plus 1/$BATCH of a batch message (claim, ack, barrier, callback);"
echo "the ratio is the pipeline's files/s over the bare claim+ack of one message claimed $BATCH at a time."
