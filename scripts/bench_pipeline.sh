#!/usr/bin/env bash
# make bench-pipeline: the file pipeline end to end on a throwaway durable PostgreSQL (fsync and
# synchronous_commit on, in a /tmp folder of its own), or $POSTBOX_DSN, next to the physical
# limit measured on the same server in the same run. Prints figures; never asserts on them.
#
# Cases (each in a database of its own, created and dropped here):
#   one     BENCH_FILES (20000) files of 1-4 KB, one execution, batch 20, checksum; on
#           BENCH_ONE_NODES ("1 2 3") nodes with the default topology (no queue settings),
#           then on one node tuned (file_batch claim_batch 16, prefetch 4)
#   many    BENCH_MANY_EXECS (200) executions of BENCH_MANY_FILES (100) files, one node
#   big     BENCH_BIG_FILES (200000) files in one execution, one node (0 skips it)
#   upload  `postbox submit --upload` of the BENCH_FILES files
#   latency BENCH_LATENCY_RUNS (200) one-file executions, one at a time, on an idle node
#   limit   pgbench, same server, 4 clients, BENCH_LIMIT_SECS (10) each: (1) the two-transaction
#           limit: per batch its claim, then ack + 20 result rows + arrival on its shard of the
#           execution's barrier in one transaction; (2) the machine's limit: the same rows (20
#           result rows, one arrival, one message delete per batch) in transactions of 50 batches
# Per case: files/s, seconds (server clock: first claim -> last COMPLETED), commits per batch
# (pg_stat_database.xact_commit, read-only ones included) and WAL flushes per batch
# (pg_stat_wal.wal_sync), both over everything the cluster did during the case; CPU ms per
# batch of this run's PostgreSQL (its postmaster and children, /proc) and nodes; with
# pg_stat_statements loaded (a server started here), SQL ms per batch (total_exec_time), shared
# buffers per batch and round trips per batch (statements, BEGIN/COMMIT included), and below
# the table each case's BENCH_STATEMENTS (8) costliest statements per batch (0: none).
#   scripts/bench_pipeline.sh BUILD_DIR [CASE...]      (default: every case)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=${BENCH_FILES:-20000}
MANY_EXECS=${BENCH_MANY_EXECS:-200}
MANY_FILES=${BENCH_MANY_FILES:-100}
BIG_FILES=${BENCH_BIG_FILES:-200000}
LATENCY_RUNS=${BENCH_LATENCY_RUNS:-200}
LIMIT_SECS=${BENCH_LIMIT_SECS:-10}
ROUND_TIMEOUT=${BENCH_ROUND_TIMEOUT:-600}
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(limit one many big upload latency)
BATCH=20
CONCURRENCY=4
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
[ -x "$PGBENCH" ] || PGBENCH=pgbench
WORK=$BUILD/bench-pipeline
STATE=$BUILD/bench-pipeline-pg.env
TOPOLOGY=$WORK/topology.yaml
DB_PREFIX=postbox_bench_pipeline
node_pids=() started_pg= created_dbs=()

say() { echo "bench-pipeline: $*" >&2; }
wants() { local c; for c in "${CASES[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }

stop_nodes() {
  local pid
  for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${node_pids[@]}"; do
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  node_pids=()
}

cleanup() {
  stop_nodes
  if [ -z "$started_pg" ]; then
    for db in "${created_dbs[@]}"; do admin_sql "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; done
  fi
  [ -n "$started_pg" ] && "$ROOT/tests/harness/pgtest.sh" stop "$STATE"
  rm -rf "$WORK/files" "$WORK/big" "$WORK/many" "$WORK/one-file" "$WORK"/*.sql
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${POSTBOX_DSN:-}" ]; then
  # pg_stat_statements counts the statements (round trips) per batch.
  PGTEST_EXTRA_CONF="shared_preload_libraries = 'pg_stat_statements'" \
    "$ROOT/tests/harness/pgtest.sh" start "$STATE" --durable
  started_pg=1
  . "$STATE"
  BASE_DSN=$PGTEST_DSN
  psql "$BASE_DSN" -X -q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
else
  BASE_DSN=$POSTBOX_DSN
fi

# Statements the case's database ran (BEGIN and COMMIT included: each is a round trip), their
# execution time in ms (pg_stat_statements' total_exec_time: the server's own clock, planning
# excluded) and the shared buffers they touched (hit or read: a count the machine's load does
# not change, so a statement that reads more per batch as the execution grows shows in it),
# when pg_stat_statements is loaded; empty otherwise.
statements() {
  q "$BASE_DSN" "SELECT sum(calls) || ' ' || round(sum(total_exec_time)::numeric, 1)
                        || ' ' || sum(shared_blks_hit + shared_blks_read)
                 FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                 WHERE d.datname = '$db' AND s.query !~ '^\\s*DO '" 2>/dev/null || true
}

# The case's BENCH_STATEMENTS (8) costliest statements, per batch: calls, execution ms,
# rows, buffers hit+read, and the statement's first words. Kept for the record below the
# table; a statement whose cost per batch grows with the execution's size shows here.
STATEMENT_DETAIL=()
statement_detail() {  # LABEL BATCHES
  local top=${BENCH_STATEMENTS:-8}
  [ "$top" -gt 0 ] || return 0
  STATEMENT_DETAIL+=("$1: the $top statements that took the most time, per batch (calls, exec ms, rows, buffers)")
  local line
  while IFS= read -r line; do STATEMENT_DETAIL+=("$line"); done < <(q "$BASE_DSN" "
    SELECT format('  %6s %7s %7s %8s  %s',
                  round(calls::numeric / $2, 2), round((total_exec_time / $2)::numeric, 3),
                  round(rows::numeric / $2, 1),
                  round((shared_blks_hit + shared_blks_read)::numeric / $2, 1),
                  left(regexp_replace(regexp_replace(query, '--[^\n]*', '', 'g'), '\s+', ' ', 'g'), 90))
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = '$db' AND s.query !~ '^\\s*DO ' -- not the wait loop of this script
    ORDER BY total_exec_time DESC LIMIT $top" 2>/dev/null || true)
}

admin_sql() { PGOPTIONS="-c client_min_messages=warning" psql "$BASE_DSN" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }
q() { psql "$1" -X -q -At -v ON_ERROR_STOP=1 -c "$2"; }

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

# Files of 1-4 KB (text, so any processor reads them), 1000 to a folder, written by one awk.
make_files() {  # DIR COUNT
  mkdir -p "$1"
  awk -v d="$1" -v n="$2" 'BEGIN {
    srand(42)
    w = length(n "")
    pad = sprintf("%70s", ""); gsub(/ /, "x", pad)
    for (i = 0; i < n; i++) {
      if (i % 1000 == 0) { sub_dir = sprintf("%s/%03d", d, int(i / 1000)); system("mkdir -p " sub_dir) }
      size = 1024 + int(rand() * 3073)
      line = "file " i " " pad "\n"
      body = ""
      while (length(body) < size) body = body line
      f = sprintf("%s/f%0" w "d.txt", sub_dir, i)
      printf "%s", substr(body, 1, size) > f
      close(f)
    }
  }'
}

# The default topology: no queue settings at all (what a user runs). `tuned` sets what
# used to matter (claim_batch, prefetch), for the default-versus-tuned line.
write_topology() {  # [tuned]
  local queues=""
  [ "${1:-}" = tuned ] && queues="queues:
  file_batch: { claim_batch: 16, prefetch: 4 }"
  cat >"$TOPOLOGY" <<YAML
cluster: bench-pipeline
database:
  dsn: \${POSTBOX_DSN}
$queues
workflows:
  bench: { processor: checksum, batch_size: $BATCH }
reaper: { interval: 5s, stuck_after: 10m }
nodes:
YAML
  local n
  for n in 1 2 3; do
    cat >>"$TOPOLOGY" <<YAML
  n$n:
    actors:
      - { role: orchestrator, concurrency: 1 }
      - { role: file_batch,   concurrency: $CONCURRENCY }
      - { role: callback,     concurrency: 1 }
YAML
    if [ "$n" = 1 ]; then printf '      - { role: outbox }\n      - { role: reaper }\n' >>"$TOPOLOGY"; fi
  done
}

start_nodes() {  # K
  local k=$1 n log
  for ((n = 1; n <= k; n++)); do
    log=$WORK/node-$db-n$n.log
    "$BUILD/postbox-node" --topology "$TOPOLOGY" --node "n$n" >"$log" 2>&1 &
    node_pids+=($!)
  done
  for ((n = 1; n <= k; n++)); do
    log=$WORK/node-$db-n$n.log
    for _ in $(seq 300); do
      [ "$(grep -c 'consuming queue' "$log" 2>/dev/null || true)" -ge 3 ] 2>/dev/null && break
      kill -0 "${node_pids[n - 1]}" 2>/dev/null || { say "node n$n exited: $(tail -3 "$log")"; exit 1; }
      sleep 0.1
    done
    [ "$(grep -c 'consuming queue' "$log")" -ge 3 ] || { say "node n$n not ready in 30 s (see $log)"; exit 1; }
  done
}

# CPU seconds (user + system) of the processes PIDS and of their children, live or exited
# (cutime + cstime: a backend or autovacuum worker that ended during the case counts in its
# postmaster's). Only this run's server and nodes: other clusters on a shared machine are not
# counted. PIDS "name:postgres": every process of that name (a server of $POSTBOX_DSN's).
cpu_of() {  # PIDS...
  local hz total=0 f line pids=" $* " name=
  hz=$(getconf CLK_TCK)
  [[ ${1:-} == name:* ]] && name=${1#name:}
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    local pid=${line%% *} rest=${line##*) }
    if [ -n "$name" ]; then
      [[ $line == *"($name)"* ]] || continue
    else
      set -- $rest  # $2: the parent's pid
      [[ $pids == *" $pid "* || $pids == *" $2 "* ]] || continue
    fi
    set -- $rest    # fields 14-17 of stat: utime stime cutime cstime
    total=$((total + ${12} + ${13} + ${14} + ${15}))
  done
  awk -v t="$total" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'
}
pg_pids() {  # the postmaster of the server started here, else every postgres process
  if [ -n "$started_pg" ]; then head -1 "$PGTEST_DIR/data/postmaster.pid"; else echo name:postgres; fi
}

counters() {  # xact_commit of the case's database, and the cluster's WAL syncs
  q "$DSN" "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())
                || ' ' || (SELECT wal_sync FROM pg_stat_wal)"
}

wait_all_terminal() {  # EXPECTED_COUNT
  # One psql waits on the server: a poll loop of psql processes would take a tenth of this
  # machine's CPU from the run it measures. It COMMITs each round: a DO statement holds the
  # snapshot it started with (its backend's xmin) until its transaction ends, and one
  # held through the run kept every row the run deleted or updated from being pruned or
  # vacuumed (each arrival's update of its barrier shard went to a new page, each claim
  # walked the mailbox's dead rows): the longer the case, the more each batch cost.
  PGOPTIONS="-c statement_timeout=${ROUND_TIMEOUT}s" q "$DSN" "DO \$\$ BEGIN
      LOOP
        EXIT WHEN (SELECT count(*) FROM postbox.executions
                   WHERE status IN ('COMPLETED', 'ERROR', 'STOPPED')) >= $1;
        PERFORM pg_sleep(0.05);
        COMMIT;
      END LOOP;
    END \$\$" >/dev/null ||
    { say "$db: not all $1 executions terminal after ${ROUND_TIMEOUT} s (logs: $WORK)"; exit 1; }
  local bad
  bad=$(q "$DSN" "SELECT count(*) FROM postbox.executions WHERE status <> 'COMPLETED' OR files_done <> files_total")
  [ "$bad" = 0 ] || { say "$db: $bad executions did not complete with every file done (logs: $WORK)"; exit 1; }
}

# One case: executions are submitted with the nodes stopped, then the nodes start; the time is
# the server's, from the first orchestrator claim (started_at) to the last finished_at.
RESULTS=() BASELINE=()
run_case() {  # LABEL NODES FILES_TOTAL SUBMIT_FN
  local label=$1 k=$2 total=$3 submit=$4 c0 c1 secs rate batches
  db=${DB_PREFIX}_${label//[^a-z0-9]/_}
  fresh_db "$db"
  DSN=$(dsn_for "$db")
  export POSTBOX_DSN=$DSN
  "$submit"
  sleep 1.2  # the CLI's statistics reach pg_stat_database before the first reading
  read -r -a c0 <<<"$(counters)"
  local pg0 pg1 node1 stmts
  q "$BASE_DSN" "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
  pg0=$(cpu_of "$(pg_pids)")
  start_nodes "$k"
  wait_all_terminal "$(q "$DSN" "SELECT count(*) FROM postbox.executions")"
  pg1=$(cpu_of "$(pg_pids)")
  node1=$(cpu_of "${node_pids[@]}")
  stmts=$(statements)
  statement_detail "$label" "$(q "$BASE_DSN" "SELECT ceil($total::numeric / $BATCH)")"
  stop_nodes
  sleep 1.2
  read -r -a c1 <<<"$(counters)"
  secs=$(q "$DSN" "SELECT round(extract(epoch FROM max(finished_at) - min(started_at))::numeric, 3)
                   FROM postbox.executions")
  drop_db "$db"
  rate=$(awk -v n="$total" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  batches=$(q "$BASE_DSN" "SELECT ceil($total::numeric / $BATCH)")
  local commits flushes
  commits=$(awk -v a="${c0[0]}" -v b="${c1[0]}" -v n="$batches" 'BEGIN { printf "%.2f", (b - a) / n }')
  flushes=$(awk -v a="${c0[1]}" -v b="${c1[1]}" -v n="$batches" 'BEGIN { printf "%.2f", (b - a) / n }')
  local cpu trips=- sql_ms=- bufs=-
  cpu=$(awk -v a="$pg0" -v b="$pg1" -v c="$node1" -v n="$batches" \
    'BEGIN { printf "%.2f/%.2f", (b - a) * 1000 / n, c * 1000 / n }')
  if [ -n "$stmts" ]; then
    read -r trips sql_ms bufs <<<"$stmts"
    trips=$(awk -v s="$trips" -v n="$batches" 'BEGIN { printf "%.1f", s / n }')
    sql_ms=$(awk -v s="$sql_ms" -v n="$batches" 'BEGIN { printf "%.2f", s / n }')
    bufs=$(awk -v s="$bufs" -v n="$batches" 'BEGIN { printf "%.0f", s / n }')
  fi
  RESULTS+=("$(printf '%-26s %5d %8d %9s %9d %12s %12s %14s %8s %8s %8s' "$label" "$k" "$total" "$secs" "$rate" "$commits" "$flushes" "$cpu" "$sql_ms" "$bufs" "$trips")")
  echo "${RESULTS[-1]}"
  [ "$label" = "one-$FILES-nodes1" ] && BASELINE=("$label" "$trips" "$commits" "$flushes")
  return 0
}

submit_one() { "$BUILD/postbox" --topology "$TOPOLOGY" submit --workflow bench "$WORK/files" >/dev/null; }
submit_big() { "$BUILD/postbox" --topology "$TOPOLOGY" submit --workflow bench "$WORK/big" >/dev/null; }
submit_many() {
  local i
  for ((i = 0; i < MANY_EXECS; i++)); do
    "$BUILD/postbox" --topology "$TOPOLOGY" submit --workflow bench "$WORK/many/$(printf '%03d' "$i")" >/dev/null &
    if (((i + 1) % 8 == 0)); then wait; fi
  done
  wait
}

rm -rf "$WORK"
mkdir -p "$WORK"
write_topology
echo "postbox pipeline benchmark: $(nproc) cores, workflow 'bench' (checksum, batch $BATCH)," \
  "file_batch concurrency $CONCURRENCY per node, durable PostgreSQL (fsync on)"
echo "git: $(git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null || echo unknown)"

# --- the limits: pgbench writing what the batches write, same server, same concurrency -------
# limit_case LABEL SCRIPT BATCHES_PER_TX: a fresh database with one group armed on 64 shards (as
# fan_out arms it, 008_barrier_shards.sql) and a backlog of batch messages; pgbench runs SCRIPT
# with $CONCURRENCY clients for BENCH_LIMIT_SECS; files/s = result rows written ÷ seconds.
limit_case() {
  local label=$1 script=$2 per_tx=$3 msgs c0 c1 pg0 pg1 pgout files rate dry=
  db=${DB_PREFIX}_${label//[^a-z0-9]/_}
  fresh_db "$db"
  DSN=$(dsn_for "$db")
  msgs=$((LIMIT_SECS * 4000 * per_tx / (per_tx > 1 ? 20 : 1)))  # 40,000 or 100,000 batches at 10 s
  q "$DSN" "INSERT INTO postbox.barriers (group_id, expected, remaining, shards)
            VALUES ('limit', $msgs, 64, 64);
            INSERT INTO postbox.barrier_shards (group_id, shard, expected, remaining, child_ids)
            SELECT 'limit', s, $msgs / 64 + 1, $msgs / 64 + 1, '{}' FROM generate_series(0, 63) s;
            INSERT INTO postbox.mailbox (queue, type, execution_id, payload)
            SELECT 'file_batch', 'process_file_batch', 'limit', jsonb_build_object('batch_index', i)
            FROM generate_series(0, $msgs - 1) i" >/dev/null
  q "$DSN" "VACUUM ANALYZE postbox.mailbox" >/dev/null
  read -r -a c0 <<<"$(counters)"
  pg0=$(cpu_of "$(pg_pids)")
  pgout=$("$PGBENCH" -n -c "$CONCURRENCY" -j 2 -T "$LIMIT_SECS" -f "$script" "$DSN" 2>&1) ||
    { say "pgbench failed: $pgout"; exit 1; }
  pg1=$(cpu_of "$(pg_pids)")
  sleep 1.2
  read -r -a c1 <<<"$(counters)"
  files=$(q "$DSN" "SELECT count(*) FROM postbox.file_results")
  [ "$(q "$DSN" "SELECT count(*) FROM postbox.mailbox")" = 0 ] && dry=" (backlog ran out: a lower bound)"
  drop_db "$db"
  local n=$((files / BATCH))
  [ "$n" -gt 0 ] || { say "$label: pgbench wrote no result: $pgout"; exit 1; }
  rate=$(awk -v f="$files" -v s="$LIMIT_SECS" 'BEGIN { printf "%.0f", f / s }')
  RESULTS+=("$(printf '%-26s %5d %8d %9s %9d %12s %12s %14s' "$label" 0 "$files" "$LIMIT_SECS" "$rate" \
    "$(awk -v a="${c0[0]}" -v b="${c1[0]}" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n }')" \
    "$(awk -v a="${c0[1]}" -v b="${c1[1]}" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n }')" \
    "$(awk -v a="$pg0" -v b="$pg1" -v n="$n" 'BEGIN { printf "%.2f/-", (b - a) * 1000 / n }')")$dry")
  echo "${RESULTS[-1]}"
  LIMIT_RATE=$rate
}

limit_rate= machine_rate=
if wants limit; then
  # Today's commit path: per batch, its claim (one transaction), then its ack, 20 result rows
  # and its arrival on its shard (a second transaction). The claim walks the normal tier's
  # range of mailbox_claim_idx (queue, priority, visible_at, id) as mailbox_read.sql does:
  # without priority = 1 it sorted the whole backlog per claim (since migration 024).
  cat >"$WORK/limit.sql" <<SQL
WITH c AS (SELECT id FROM postbox.mailbox WHERE queue = 'file_batch' AND priority = 1
           AND visible_at <= now()
           ORDER BY visible_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
UPDATE postbox.mailbox m SET visible_at = now() + interval '60 seconds', read_ct = m.read_ct + 1,
       receipt = nextval('postbox.receipt_seq'), lease_owner = 'limit'
FROM c WHERE m.id = c.id RETURNING m.id, m.receipt, (m.payload->>'batch_index')::int AS b \gset
BEGIN;
DELETE FROM postbox.mailbox WHERE id = :id AND receipt = :receipt;
INSERT INTO postbox.file_results (execution_id, file_key, batch_index, status, result)
SELECT 'limit', 'f' || (:b * $BATCH + i), :b, 'done',
       jsonb_build_object('sha256', md5(i::text) || md5(i::text), 'size', 2048)
FROM generate_series(1, $BATCH) i;
WITH a AS (INSERT INTO postbox.barrier_arrivals (group_id, child_index, status, result)
           VALUES ('limit', :b, 'ok', '{}') ON CONFLICT DO NOTHING RETURNING 1)
UPDATE postbox.barrier_shards SET remaining = remaining - 1
WHERE group_id = 'limit' AND shard = :b % 64 AND EXISTS (SELECT 1 FROM a);
COMMIT;
SQL
  limit_case limit-2tx-per-batch "$WORK/limit.sql" 1
  limit_rate=$LIMIT_RATE
  # The machine's limit: the same rows (per batch 20 result rows, one arrival, one message
  # deleted) written 50 batches to a transaction, one statement (no lease write: the delete
  # takes the rows it locks), each client's arrivals summed on a shard of its own.
  cat >"$WORK/limit-machine.sql" <<SQL
WITH c AS (SELECT id FROM postbox.mailbox WHERE queue = 'file_batch' AND priority = 1
           AND visible_at <= now()
           ORDER BY visible_at, id LIMIT 50 FOR UPDATE SKIP LOCKED),
d AS (DELETE FROM postbox.mailbox m USING c WHERE m.id = c.id
      RETURNING (m.payload->>'batch_index')::int AS b),
r AS (INSERT INTO postbox.file_results (execution_id, file_key, batch_index, status, result)
      SELECT 'limit', 'f' || (d.b * $BATCH + i), d.b, 'done',
             jsonb_build_object('sha256', md5(i::text) || md5(i::text), 'size', 2048)
      FROM d, generate_series(1, $BATCH) i RETURNING 1),
a AS (INSERT INTO postbox.barrier_arrivals (group_id, child_index, status, result)
      SELECT 'limit', d.b, 'ok', '{}' FROM d ON CONFLICT DO NOTHING RETURNING 1)
UPDATE postbox.barrier_shards SET remaining = remaining - (SELECT count(*) FROM a)
WHERE group_id = 'limit' AND shard = :client_id % 64 AND (SELECT count(*) FROM r) >= 0;
SQL
  limit_case limit-machine-50-per-tx "$WORK/limit-machine.sql" 50
  machine_rate=$LIMIT_RATE
fi

if wants one || wants upload; then make_files "$WORK/files" "$FILES"; fi
if wants one; then
  for k in ${BENCH_ONE_NODES:-1 2 3}; do run_case "one-$FILES-nodes$k" "$k" "$FILES" submit_one; done
  write_topology tuned
  run_case "one-$FILES-nodes1-tuned" 1 "$FILES" submit_one
  write_topology
fi
if wants many; then
  for ((i = 0; i < MANY_EXECS; i++)); do make_files "$WORK/many/$(printf '%03d' "$i")" "$MANY_FILES"; done
  run_case "many-${MANY_EXECS}x$MANY_FILES" 1 "$((MANY_EXECS * MANY_FILES))" submit_many
  rm -rf "$WORK/many"
fi
if wants big && [ "$BIG_FILES" -gt 0 ]; then
  make_files "$WORK/big" "$BIG_FILES"
  run_case "big-$BIG_FILES" 1 "$BIG_FILES" submit_big
  rm -rf "$WORK/big"
fi

upload_rate=
if wants upload; then
  db=${DB_PREFIX}_upload
  fresh_db "$db"
  DSN=$(dsn_for "$db")
  t0=$(now)
  "$BUILD/postbox" --dsn "$DSN" --topology "$TOPOLOGY" submit --upload --workflow bench "$WORK/files" >/dev/null
  t1=$(now)
  stored=$(q "$DSN" "SELECT count(*) FROM postbox.blobs")
  drop_db "$db"
  [ "$stored" = "$FILES" ] || say "upload stored $stored blobs, not $FILES"
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  upload_rate=$(awk -v n="$FILES" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  echo "upload: submit --upload of $FILES files: ${secs} s, $upload_rate files/s (wall clock, CLI start included)"
fi

latency_line=
if wants latency; then
  db=${DB_PREFIX}_latency
  fresh_db "$db"
  DSN=$(dsn_for "$db")
  export POSTBOX_DSN=$DSN
  make_files "$WORK/one-file" 1
  start_nodes 1
  for ((i = 0; i < LATENCY_RUNS; i++)); do
    "$BUILD/postbox" --topology "$TOPOLOGY" submit --workflow bench "$WORK/one-file" >/dev/null
    # One at a time: the next submit waits until this one is terminal (an idle node).
    PGOPTIONS="-c statement_timeout=20s" q "$DSN" "DO \$\$ BEGIN
        WHILE EXISTS (SELECT 1 FROM postbox.executions WHERE finished_at IS NULL) LOOP
          PERFORM pg_sleep(0.002);
          COMMIT;  -- as in wait_all_terminal: no snapshot held while waiting
        END LOOP;
      END \$\$" >/dev/null || say "latency: execution $i not terminal after 20 s"
  done
  stop_nodes
  latency_line=$(q "$DSN" "SELECT 'latency submit->COMPLETED over ' || count(*) || ' one-file executions (server clock): p50 '
      || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ms, p90 '
      || round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ms, p99 '
      || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ms, max '
      || round(max(ms)::numeric, 1) || ' ms'
    FROM (SELECT extract(epoch FROM finished_at - created_at) * 1000 AS ms FROM postbox.executions
          WHERE status = 'COMPLETED') x")
  drop_db "$db"
  echo "$latency_line"
fi

echo
echo "case                       nodes    files   seconds   files/s commits/batch WAL flushes/batch  CPU ms/batch   SQL ms  buffers  round trips"
echo "                                                                                       (postgres/nodes)  /batch   /batch   /batch"
for r in "${RESULTS[@]}"; do echo "$r"; done
if [ ${#STATEMENT_DETAIL[@]} -gt 0 ]; then
  echo
  for r in "${STATEMENT_DETAIL[@]}"; do echo "$r"; done
fi
if [ -n "$limit_rate" ]; then
  echo
  echo "ratio to the limits: files/s ÷ $limit_rate (2 transactions per batch, today's commit path)" \
    "and ÷ $machine_rate (the machine: the same rows, 50 batches per transaction):"
  for r in "${RESULTS[@]}"; do
    awk -v lim="$limit_rate" -v mach="$machine_rate" \
      '$1 !~ /^limit/ { printf "  %-26s %.2f  %.2f\n", $1, $5 / lim, $5 / mach }' <<<"$r"
  done
fi
if [ ${#BASELINE[@]} -gt 0 ]; then
  # A Celery chord of the same workload (one task per batch of 20 files, RabbitMQ broker, Redis
  # result backend, acks_late), from Celery's design, not measured here: see docs/benchmarks.md.
  echo
  echo "per batch of $BATCH files, round trips and commits:"
  echo "  postbox (measured, ${BASELINE[0]}): ${BASELINE[1]} statements (round trips), ${BASELINE[2]} commits," \
    "${BASELINE[3]} WAL flushes"
  echo "  a Celery chord (RabbitMQ + Redis result backend, acks_late; from its design, an estimate, not measured):"
  echo "    2 round trips waited for: the task's result (SETEX + PUBLISH, one Redis pipeline) and the chord's"
  echo "    count (ZADD + ZCOUNT + GET + GET, one pipeline); the delivery (pushed, prefetched) and basic.ack"
  echo "    are not waited for; 0 durable commits waited for (Redis appendonly is off by default; RabbitMQ"
  echo "    writes acks and unconfirmed publishes to disk in the background)"
fi
[ -n "$upload_rate" ] && echo "upload: $upload_rate files/s"
[ -n "$latency_line" ] && echo "$latency_line"
exit 0
