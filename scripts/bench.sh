#!/usr/bin/env bash
# make bench: a durable throwaway PostgreSQL (fsync and synchronous_commit on,
# for a fair comparison) or $POSTBOX_DSN, then postbox-bench against it. Per case
# (send_batch of 100, read+ack at batch 1 and at batch 100) it prints postbox's
# msg/s and raw SQL's (pgbench -T running the same statement shapes), both sides
# for the same seconds on the same backlog with the same clients, and the ratio.
# Then the claim with limits (postbox.claim_limited, max_in_flight, then also a rate)
# beside the plain claim at batch 1 and 16, postbox's side only, with the ratio.
# Extra arguments go to postbox-bench: --seconds S (10) --backlog N (400000)
# --clients C (4) --quick (postbox only, 2 s). Usage: scripts/bench.sh [BUILD] [ARGS...]
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
