#!/bin/sh
# outside_project: the template a user copies (apps/examples/outside) built the way a
# user builds it, against `cmake --install` of this build and nothing else, then run
# on a fresh database of the test PostgreSQL (and apps/examples/submit_and_wait.cpp
# built against postbox::client alone): one greet_all fans out three greets, and
# the callback writes exactly one row with their three results, in order.
# With --installed (deb_package_test.sh, after `apt-get install ./postbox_*.deb`) the
# same against the package in /usr, found by CMake's default search (no prefix given).
#   outside_project_test.sh BUILD_DIR SOURCE_DIR PGTEST_STATE [--installed]
set -eu
BUILD=$1; SRC=$2; STATE=$3; MODE=${4:-}
. "$STATE"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/postbox-outside.XXXXXX")
if [ "$MODE" = --installed ]; then
  PREFIX=/usr
  PREFIX_ARGS=
else
  PREFIX=$WORK/prefix
  PREFIX_ARGS=-DCMAKE_PREFIX_PATH=$PREFIX
fi
db=pbt_outside_$$
DSN="host=127.0.0.1 port=$PGTEST_PORT user=postgres dbname=$db"
node_pid=
fail() { echo "outside_project: $*" >&2; [ -f "$WORK/node.log" ] && tail -30 "$WORK/node.log" >&2; exit 1; }
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then kill -KILL "$node_pid"; fi
  psql "$PGTEST_DSN" -X -q -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
sql() { psql "$DSN" -X -q -A -t -c "$1"; }

[ "$MODE" = --installed ] || cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
# Only the install prefix: the repository's own folders are not on any include path.
cmake -S "$SRC/apps/examples/outside" -B "$WORK/build" ${PREFIX_ARGS:+"$PREFIX_ARGS"} \
  -DCMAKE_BUILD_TYPE=Debug >"$WORK/configure.log" 2>&1 || { cat "$WORK/configure.log" >&2; fail "configure failed"; }
found=$(sed -n 's/^postbox_DIR:PATH=//p' "$WORK/build/CMakeCache.txt")
case "$found" in "$PREFIX"/lib*/cmake/postbox) ;; *) fail "find_package(postbox) found '$found', not $PREFIX" ;; esac
cmake --build "$WORK/build" -j2 >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log" >&2; fail "build failed"; }

# A program that only submits and waits links postbox::client alone (no runtime).
mkdir -p "$WORK/client"
cat >"$WORK/client/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(client_only LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(postbox 0.20 CONFIG REQUIRED)
add_executable(submit $SRC/apps/examples/submit_and_wait.cpp)
target_link_libraries(submit PRIVATE postbox::client)
CMAKE
cmake -S "$WORK/client" -B "$WORK/client/build" ${PREFIX_ARGS:+"$PREFIX_ARGS"} >"$WORK/client.log" 2>&1 &&
  cmake --build "$WORK/client/build" >>"$WORK/client.log" 2>&1 || { tail -40 "$WORK/client.log" >&2; fail "the client-only build failed"; }

psql "$PGTEST_DSN" -X -q -c "CREATE DATABASE $db" >/dev/null
"$PREFIX/bin/postbox" --dsn "$DSN" migrate >/dev/null || fail "postbox migrate failed"
psql "$DSN" -X -q -f "$SRC/apps/examples/outside/schema.sql" >/dev/null

POSTBOX_DSN=$DSN GREETER_CONTROL_PORT=0 GREETER_HTTP_PORT=0 "$WORK/build/greeter" \
  --topology "$SRC/apps/examples/outside/greeter.yaml" --node greeter >"$WORK/node.log" 2>&1 &
node_pid=$!
"$PREFIX/bin/postbox" --dsn "$DSN" send --queue greeter --type greet_all \
  --json-payload '{"batch":"b1","names":["ada","bob","cy"]}' >/dev/null || fail "postbox send failed"

# The callback's row, within 30 s (the node is started, fans out and calls back).
deadline=$(($(date +%s) + 30))
until [ "$(sql "SELECT count(*) FROM greetings")" -ge 1 ]; do
  kill -0 "$node_pid" 2>/dev/null || fail "the node exited"
  [ "$(date +%s)" -lt "$deadline" ] || fail "no row in greetings within 30 s"
  sleep 0.2
done
# Exactly one row, its group's three results in child order; every message acked.
[ "$(sql "SELECT count(*) FROM greetings")" = 1 ] || fail "expected 1 row in greetings"
got=$(sql "SELECT children || ' ' || string_agg(r->'result'->>'greeting', ',' ORDER BY (r->>'index')::int)
           FROM greetings, jsonb_array_elements(results) r WHERE batch = 'b1' GROUP BY children")
[ "$got" = "3 hello, ada,hello, bob,hello, cy" ] || fail "unexpected row: '$got'"
[ "$(sql "SELECT count(*) FROM postbox.mailbox")" = 0 ] || fail "messages left in the mailbox"
[ "$(sql "SELECT count(*) FROM postbox.dead_letters")" = 0 ] || fail "dead letters"

# SIGTERM drains the node: it exits 0.
kill -TERM "$node_pid"
rc=0; wait "$node_pid" || rc=$?
node_pid=
[ "$rc" = 0 ] || fail "the node exited $rc after SIGTERM"
echo "outside_project: ok (greeter built against $PREFIX; 1 row, 3 greetings)"
