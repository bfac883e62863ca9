#!/usr/bin/env bash
# make demo: a throwaway PostgreSQL under the build folder (or $POSTBOX_DSN),
# the schema, and the mailbox at work. The file pipeline joins it in issue 3.
set -euo pipefail
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=$BUILD/demo-pg.env
if [ -z "${POSTBOX_DSN:-}" ]; then
  trap '"$ROOT/tests/harness/pgtest.sh" stop "$STATE"' EXIT
  PGTEST_TMP=$BUILD "$ROOT/tests/harness/pgtest.sh" start "$STATE"
  . "$STATE"
  export POSTBOX_DSN=$PGTEST_DSN
  echo "== PostgreSQL 15 started on port $PGTEST_PORT (data under $PGTEST_DIR)"
fi
echo "== postbox migrate"
"$BUILD/postbox" migrate
echo "== postbox migrate again (idempotent)"
"$BUILD/postbox" migrate
echo "== tables in schema postbox"
psql "$POSTBOX_DSN" -Atc "SELECT tablename FROM pg_tables WHERE schemaname = 'postbox' ORDER BY 1" | sed 's/^/   /'
echo "== mailbox throughput (a short run of the benchmark)"
"$BUILD/postbox-bench" --dsn "$POSTBOX_DSN" --messages 5000 --quick
echo
echo "The actor pipeline (submit, status, webhooks over the sample documents) comes with issue 3."
