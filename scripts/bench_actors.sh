#!/usr/bin/env bash
# make bench-actors: a durable throwaway PostgreSQL (fsync and synchronous_commit on)
# or $POSTBOX_DSN, then postbox-bench-actors against it: keyed vs plain msg/s on one
# queue and a hot key's turns/s, each beside pgbench running the same statements; then
# cold keys' latency beside a hot key's backlog, with the claim's and the promotion's
# plans. Extra arguments go to postbox-bench-actors: --seconds S (5) --backlog N
# (100000) --keys K (1000) --clients C (4) --batch B (1) --hot N (100000) --cold K
# (1000) --quick. Usage: scripts/bench_actors.sh [BUILD] [ARGS...]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=$BUILD/bench-actors-pg.env
if [ -z "${POSTBOX_DSN:-}" ]; then
  trap '"$ROOT/tests/harness/pgtest.sh" stop "$STATE"' EXIT
  "$ROOT/tests/harness/pgtest.sh" start "$STATE" --durable
  . "$STATE"
  export POSTBOX_DSN=$PGTEST_DSN
fi
"$BUILD/postbox-bench-actors" --dsn "$POSTBOX_DSN" "${@:2}"
