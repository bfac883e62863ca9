#!/usr/bin/env bash
# make demo: the main job on a fresh machine. A throwaway PostgreSQL in a /tmp
# folder of its own (or $POSTBOX_DSN), a webhook receiver, one node from
# config/examples/demo.yaml; submit the shipped sample documents, watch them,
# print the final status, a summary of the results and the webhook; stop all.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOPOLOGY=$ROOT/config/examples/demo.yaml
DOCS=$ROOT/demo/sample-docs
STATE=$BUILD/demo-pg.env
HOOKS=$BUILD/demo-webhooks.jsonl
NODE_LOG=$BUILD/demo-node.log
SINK_LOG=$BUILD/demo-sink.log
node_pid= sink_pid= started_pg=

cleanup() {
  [ -n "$node_pid" ] && kill -TERM "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null || true
  [ -n "$sink_pid" ] && kill -TERM "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null || true
  [ -n "$started_pg" ] && "$ROOT/tests/harness/pgtest.sh" stop "$STATE"
  return 0
}
trap cleanup EXIT

if [ -z "${POSTBOX_DSN:-}" ]; then
  "$ROOT/tests/harness/pgtest.sh" start "$STATE"
  started_pg=1
  . "$STATE"
  export POSTBOX_DSN=$PGTEST_DSN
  echo "== PostgreSQL 15 on 127.0.0.1:$PGTEST_PORT (throwaway, in $PGTEST_DIR)"
fi

rm -f "$HOOKS"
"$BUILD/postbox-webhook-sink" --port 0 --out "$HOOKS" 2>"$SINK_LOG" &
sink_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$SINK_LOG" 2>/dev/null && break; sleep 0.05; done
sink_port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$SINK_LOG" | head -1)
[ -n "$sink_port" ] || { echo "demo: the webhook receiver did not start: $(cat "$SINK_LOG")" >&2; exit 1; }
export POSTBOX_WEBHOOK_URL=http://127.0.0.1:$sink_port/hook
echo "== webhook receiver on $POSTBOX_WEBHOOK_URL"

"$BUILD/postbox" --topology "$TOPOLOGY" migrate
"$BUILD/postbox-node" --topology "$TOPOLOGY" --node a >"$NODE_LOG" 2>&1 &
node_pid=$!
echo "== node 'a' started (log: $NODE_LOG)"

count=$(find "$DOCS" -type f | wc -l)
echo "== submitting $count sample documents to workflow 'docs' (sha256 + size per file)"
set +e
"$BUILD/postbox" --topology "$TOPOLOGY" submit --workflow docs --wait "$DOCS" | tee "$BUILD/demo-status.txt"
rc=${PIPESTATUS[0]}
set -e
id=$(awk '$1 == "execution_id" {print $2}' "$BUILD/demo-status.txt")

echo "== summary of the results"
psql "$POSTBOX_DSN" -X -q -P footer=off <<SQL
SELECT status, count(*) AS files, sum((result->>'size')::bigint) AS bytes
FROM postbox.file_results WHERE execution_id = '$id' GROUP BY status;
SELECT regexp_replace(file_key, '.*/', '') AS file, result->>'size' AS size,
       left(result->>'sha256', 16) || '...' AS sha256
FROM postbox.file_results WHERE execution_id = '$id' ORDER BY file_key LIMIT 5;
SQL

echo "== webhook received"
for _ in $(seq 200); do [ -s "$HOOKS" ] && break; sleep 0.05; done
if [ -s "$HOOKS" ]; then cat "$HOOKS"; else echo "(none within 10 s: see $NODE_LOG)"; rc=1; fi

echo "== stopping the node (SIGTERM drains)"
kill -TERM "$node_pid"; wait "$node_pid" || true; node_pid=
exit "$rc"
