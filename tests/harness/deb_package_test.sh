#!/bin/sh
# deb_package: the Debian package of this build, installed on this machine and used.
# `cpack` packs the binaries already built (nothing is rebuilt); the .deb's Depends must
# name the package of every shared library the binaries load (ldd + dpkg -S); it must
# hold nothing test-only. `apt-get install --no-download` installs it offline (make deps
# installed every dependency), then: `postbox --version`, the files and conffiles, the
# user, the project's own build still reads its headers from the source tree, the
# template project builds against /usr alone and runs (outside_project_test.sh
# --installed), and the stock node runs from /etc/postbox as postbox-node@.service
# would start it (its ExecStart, EnvironmentFile and User; no systemd here), completes
# an execution and drains on SIGTERM. The package is purged whatever happens.
# Needs root: it changes /usr, /etc and the user list (CI's throwaway machine).
#   deb_package_test.sh BUILD_DIR SOURCE_DIR PGTEST_STATE
set -eu
BUILD=$(cd "$1" && pwd); SRC=$(cd "$2" && pwd); STATE=$3
if [ "$(id -u)" -ne 0 ]; then
  echo "deb_package: needs root (it installs the .deb with apt-get and purges it); run it on a throwaway machine" >&2
  exit 1
fi
. "$STATE"
export DEBIAN_FRONTEND=noninteractive
NAME=node1  # the node of /etc/postbox/node.yaml
db=pbt_deb_$$
DSN="host=127.0.0.1 port=$PGTEST_PORT user=postgres dbname=$db"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/postbox-deb.XXXXXX")
chmod 755 "$WORK"  # apt reads the .deb as _apt; the node (user postbox) reads the inputs
installed=; had_user=; node_pid=
fail() { echo "deb_package: $*" >&2; [ -f "$WORK/node.log" ] && tail -30 "$WORK/node.log" >&2; exit 1; }
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then kill -KILL "$node_pid"; fi
  if [ -n "$installed" ]; then
    rm -f "/etc/postbox/$NAME.env"
    if dpkg-query -W postbox >/dev/null 2>&1; then
      apt-get purge -y -qq postbox >"$WORK/purge.log" 2>&1 || cat "$WORK/purge.log" >&2
    fi
    if [ -z "$had_user" ] && getent passwd postbox >/dev/null; then
      deluser --system --quiet postbox >/dev/null 2>&1 || true
      ! getent group postbox >/dev/null || delgroup --system --quiet postbox >/dev/null 2>&1 || true
    fi
  fi
  psql "$PGTEST_DSN" -X -q -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
sql() { psql "$DSN" -X -q -A -t -c "$1"; }

# This machine must not have postbox already: the test purges what it installed.
! dpkg-query -W postbox >/dev/null 2>&1 || fail "a postbox package is known to dpkg here (dpkg -l postbox); not touching it"
[ ! -e /etc/postbox ] || fail "/etc/postbox exists; not touching it"
getent passwd postbox >/dev/null && had_user=1

# --- the package ------------------------------------------------------------------
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
deb=$WORK/pkg/postbox_${version}_$(dpkg --print-architecture).deb
cpack --config "$BUILD/CPackConfig.cmake" -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1 || { cat "$WORK/cpack.log" >&2; fail "cpack failed"; }
[ -f "$deb" ] || { ls "$WORK/pkg" >&2; fail "cpack did not make $(basename "$deb")"; }
depends=$(dpkg-deb -f "$deb" Depends | tr -d ' ')
for bin in postbox postbox-node postbox-webhook-sink; do
  ldd "$BUILD/$bin" >"$WORK/ldd"
  # the libraries it links directly (NEEDED), where the loader finds them
  for needed in $(readelf -d "$BUILD/$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    case "$needed" in ld-linux*) continue ;; esac
    lib=$(sed -n "s|^[[:space:]]*$needed => \(/[^ ]*\) .*|\1|p" "$WORK/ldd")
    [ -n "$lib" ] || fail "$bin: the loader does not find $needed"
    real=$(readlink -f "$lib")
    owner=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null) ||
      fail "no Debian package owns $real ($bin loads it)"
    owner=${owner%%:*}
    case ",$depends," in *",$owner,"* | *",$owner("*) ;; *) fail "$bin loads $real ($owner) but Depends is '$depends'" ;; esac
  done
done
case ",$depends," in *,adduser,*) ;; *) fail "Depends lacks adduser (postinst): '$depends'" ;; esac
recommends=$(dpkg-deb -f "$deb" Recommends)
for dev in libcaf-dev libpqxx-dev libyaml-cpp-dev libboost-json1.81-dev; do
  case "$recommends" in *"$dev"*) ;; *) fail "Recommends lacks $dev: '$recommends'" ;; esac
done
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$WORK/contents"
bins=$(grep '^/usr/bin/.' "$WORK/contents" | sort | tr '\n' ' ')
[ "$bins" = "/usr/bin/postbox /usr/bin/postbox-node /usr/bin/postbox-webhook-sink " ] || fail "binaries in the package: $bins"
! grep -Eq 'test|bench|example_tools|greeter' "$WORK/contents" || fail "test-only files in the package: $(grep -E 'test|bench|example_tools|greeter' "$WORK/contents")"

# --- installed offline, as CI installs it ------------------------------------------
# Offline: apt would fetch nothing but the .deb itself (`--no-download` refuses a local
# .deb: "Pathname to install is not absolute"), Recommends included.
apt-get install -s "$deb" >"$WORK/simulate.log" 2>&1 || { cat "$WORK/simulate.log" >&2; fail "apt-get install -s failed"; }
others=$(sed -n 's/^Inst \([^ ]*\) .*/\1/p' "$WORK/simulate.log" | grep -vx postbox || true)
[ -z "$others" ] || fail "apt-get would download $(echo "$others" | tr '\n' ' ')(run make deps first)"
installed=1
apt-get install -y -qq "$deb" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; fail "apt-get install failed"; }
dpkg-query -W -f='${Status}' postbox | grep -q 'install ok installed' || fail "postbox is not installed"
/usr/bin/postbox --version | grep -q "^postbox $version " || fail "postbox --version: $(/usr/bin/postbox --version)"
/usr/bin/postbox-node --version | grep -q "^postbox-node $version " || fail "postbox-node --version: $(/usr/bin/postbox-node --version)"
dpkg -L postbox >"$WORK/files"
for f in /usr/bin/postbox /usr/bin/postbox-node /usr/bin/postbox-webhook-sink \
  /lib/systemd/system/postbox-node@.service /etc/postbox/node.yaml /etc/postbox/example.env \
  /usr/include/postbox/postbox.hpp /usr/include/postbox/version.hpp /usr/lib/libpostbox_runtime.a \
  /usr/lib/libpostbox_client.a /usr/lib/cmake/postbox/postboxConfig.cmake \
  /usr/lib/cmake/postbox/postboxConfigVersion.cmake /usr/lib/pkgconfig/postbox.pc \
  /usr/share/doc/postbox/service.md; do
  grep -qx "$f" "$WORK/files" || fail "dpkg -L postbox lacks $f"
  [ -e "$f" ] || fail "$f is listed but not on disk"
done
conffiles=$(dpkg-query -W -f='${Conffiles}' postbox)
for f in /etc/postbox/node.yaml /etc/postbox/example.env; do
  echo "$conffiles" | grep -q " $f " || fail "$f is not a conffile: '$conffiles'"
done
getent passwd postbox | grep -q ':/usr/sbin/nologin$' || fail "no system user postbox: $(getent passwd postbox)"
[ "$(pkg-config --modversion postbox)" = "$version" ] || fail "pkg-config --modversion postbox: $(pkg-config --modversion postbox)"

# The project's own targets still read postbox/*.hpp from the source tree (its -I comes
# before /usr/include), with /usr/include/postbox installed.
python3 - "$BUILD/compile_commands.json" "$SRC/apps/postbox_node_main.cpp" >"$WORK/cc.sh" <<'PY'
import json, shlex, sys
for e in json.load(open(sys.argv[1])):
    if e["file"] == sys.argv[2]:
        args = shlex.split(e["command"])
        i = args.index("-o")
        del args[i:i + 2]
        print("cd " + shlex.quote(e["directory"]) + " && " + shlex.join(args + ["-fsyntax-only", "-H"]))
PY
[ -s "$WORK/cc.sh" ] || fail "no compile command for apps/postbox_node_main.cpp in compile_commands.json"
sh "$WORK/cc.sh" 2>"$WORK/headers" >/dev/null || { tail "$WORK/headers" >&2; fail "compiling postbox_node_main.cpp failed"; }
grep -q "$SRC/include/postbox/" "$WORK/headers" || fail "postbox_node_main.cpp read no header from $SRC/include/postbox"
! grep -q ' /usr/include/postbox/' "$WORK/headers" || fail "the project's build read /usr/include/postbox: $(grep ' /usr/include/postbox/' "$WORK/headers" | head -3)"

# --- the template project against /usr alone ----------------------------------------
"$SRC/tests/harness/outside_project_test.sh" "$BUILD" "$SRC" "$STATE" --installed || fail "the template project against /usr failed"

# --- the stock node as postbox-node@node1.service starts it --------------------------
unit=/lib/systemd/system/postbox-node@.service
# systemd-analyze (package systemd) works without a running systemd; it exits 0 on an
# unknown key or a bad value, so any output is a failure. The instance, so %i resolves.
if command -v systemd-analyze >/dev/null; then
  cp "$unit" "$WORK/postbox-node@$NAME.service"
  systemd-analyze verify "$WORK/postbox-node@$NAME.service" >"$WORK/verify.log" 2>&1 && [ ! -s "$WORK/verify.log" ] ||
    { cat "$WORK/verify.log" >&2; fail "systemd-analyze verify postbox-node@$NAME.service"; }
else
  echo "deb_package: systemd-analyze not installed (package systemd): the unit is not verified"
fi
exec_start=$(sed -n 's/^ExecStart=//p' "$unit" | sed "s/%i/$NAME/g")
env_file=$(sed -n 's/^EnvironmentFile=//p' "$unit" | sed "s/%i/$NAME/g")
user=$(sed -n 's/^User=//p' "$unit")
stop_timeout=$(sed -n 's/^TimeoutStopSec=//p' "$unit")
[ "$env_file" = "/etc/postbox/$NAME.env" ] && [ "$user" = postbox ] && [ -n "$stop_timeout" ] ||
  fail "unexpected unit: EnvironmentFile=$env_file User=$user TimeoutStopSec=$stop_timeout"
# The operator's step (docs/service.md): NAME.env from example.env; here this test's
# database and no ports (other tests run beside it).
sed -e "s|^POSTBOX_DSN=.*|POSTBOX_DSN=\"$DSN\"|" -e 's/^POSTBOX_CONTROL_PORT=.*/POSTBOX_CONTROL_PORT=0/' \
  -e 's/^POSTBOX_HTTP_PORT=.*/POSTBOX_HTTP_PORT=0/' /etc/postbox/example.env >"$env_file"
chmod 600 "$env_file"
psql "$PGTEST_DSN" -X -q -c "CREATE DATABASE $db" >/dev/null
mkdir "$WORK/in" && for i in 1 2 3; do echo "document $i" >"$WORK/in/doc$i.txt"; done
(set -a && . "$env_file" && /usr/bin/postbox migrate) >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; fail "postbox migrate failed"; }
# shellcheck disable=SC2086  # ExecStart is split into words as systemd splits it
(set -a && . "$env_file" && cd / &&
  exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs $exec_start) >"$WORK/node.log" 2>&1 &
node_pid=$!
id=$(set -a && . "$env_file" && /usr/bin/postbox submit --workflow docs --upload "$WORK/in" 2>"$WORK/submit.log") ||
  { cat "$WORK/submit.log" >&2; fail "postbox submit failed"; }
# The node completes it within 60 s.
deadline=$(($(date +%s) + 60))
until [ "$(sql "SELECT status FROM postbox.executions WHERE id = '$id'")" = COMPLETED ]; do
  kill -0 "$node_pid" 2>/dev/null || fail "the node exited"
  [ "$(date +%s)" -lt "$deadline" ] || fail "execution $id not COMPLETED within 60 s: $(sql "SELECT status, files_done, files_failed, error FROM postbox.executions")"
  sleep 0.2
done
[ "$(sql "SELECT files_done FROM postbox.executions WHERE id = '$id'")" = 3 ] || fail "expected 3 files done"
[ "$(sql "SELECT count(*) FROM postbox.file_results WHERE execution_id = '$id'")" = 3 ] || fail "expected 3 file results"
[ "$(ps -o user= -p "$node_pid")" = postbox ] || fail "the node runs as '$(ps -o user= -p "$node_pid")', not postbox"
# systemctl stop: SIGTERM drains, exit 0 well within TimeoutStopSec.
start=$(date +%s)
kill -TERM "$node_pid"
rc=0; wait "$node_pid" || rc=$?
node_pid=
took=$(($(date +%s) - start))
[ "$rc" = 0 ] || fail "the node exited $rc after SIGTERM"
[ "$took" -lt "${stop_timeout%s}" ] || fail "the node took ${took}s to drain (TimeoutStopSec=$stop_timeout)"
echo "deb_package: ok ($(basename "$deb"): installed, template built against /usr, node $NAME ran from /etc/postbox and drained)"
