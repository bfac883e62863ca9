#!/bin/sh
# The harness works from a checkout below a 0700 folder (/root, a `mktemp -d` folder):
# start with the state file (and PGTEST_TMP, which used to place the cluster) inside a
# fresh 0700 folder, check the server answers, and that stop removes its folder.
# As root this fails when the cluster is put anywhere the `postgres` user cannot reach.
set -eu
PGTEST_SH=${1:?usage: pgtest_test.sh PGTEST_SH}
fail() { echo "pgtest_test: $*" >&2; exit 1; }
root=$(mktemp -d)                          # 0700, like /root
state=$root/checkout/build/pgtest.env
cleanup() { "$PGTEST_SH" stop "$state" >/dev/null 2>&1 || true; rm -rf "$root"; }
trap cleanup EXIT
chmod 700 "$root"
mkdir -p "$root/checkout/build"
[ "$(stat -c %a "$root")" = 700 ] || fail "could not make a 0700 folder"

PGTEST_TMP=$root/checkout/build "$PGTEST_SH" start "$state" || fail "start failed"
[ -f "$state" ] || fail "no state file at $state"
. "$state"
case "$PGTEST_DIR" in "$root"/*) fail "cluster $PGTEST_DIR is inside the 0700 folder" ;; esac
[ "$(stat -c %a "$PGTEST_DIR")" = 755 ] || fail "cluster folder $PGTEST_DIR is not 0755"
got=$(psql "$PGTEST_DSN" -X -A -t -c 'SELECT 1') || fail "SELECT 1 failed on $PGTEST_DSN"
[ "$got" = 1 ] || fail "SELECT 1 returned '$got'"

"$PGTEST_SH" stop "$state" || fail "stop failed"
[ ! -e "$PGTEST_DIR" ] || fail "stop left $PGTEST_DIR behind"
[ ! -e "$state" ] || fail "stop left the state file"
[ -f "$root/checkout/build/pgtest.server.log" ] || fail "no server log kept next to the state file"
echo "pgtest_test: ok (cluster was $PGTEST_DIR)"
