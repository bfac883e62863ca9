#!/usr/bin/env bash
# make bench: a durable throwaway PostgreSQL (fsync and synchronous_commit on,
# for a fair comparison) or $POSTBOX_DSN, then postbox-bench against it.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=$BUILD/bench-pg.env
if [ -z "${POSTBOX_DSN:-}" ]; then
  trap '"$ROOT/tests/harness/pgtest.sh" stop "$STATE"' EXIT
  "$ROOT/tests/harness/pgtest.sh" start "$STATE" --durable
  . "$STATE"
  export POSTBOX_DSN=$PGTEST_DSN
fi
"$BUILD/postbox-bench" --dsn "$POSTBOX_DSN" "${@:2}"
