#!/usr/bin/env python3
# A test program for external-program handlers: does what each message's payload
# says ("do": ok | error | reject | crash | hang | garbage | large | send | send_actor |
# send_actor_bad | stderr |
# slow | env | spawn), so tests can drive every path of the protocol. ECHO_BOOT_MS,
# ECHO_BOOT_STDERR_LINES and ECHO_READY_DIR in its environment make it start slowly,
# write much on stderr at start and say when it is ready.
import json
import os
import subprocess
import sys
import time


def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    # A slow start (ECHO_BOOT_MS, as a heavy import would be), then a file named by its
    # pid in ECHO_READY_DIR: tests see when it is ready without reading its stdout.
    time.sleep(int(os.environ.get("ECHO_BOOT_MS", "0")) / 1000.0)
    # A chatty start (ECHO_BOOT_STDERR_LINES): more than a pipe holds, so it blocks
    # until someone reads its stderr.
    for i in range(int(os.environ.get("ECHO_BOOT_STDERR_LINES", "0"))):
        print("booting, step %05d of a long and chatty start-up" % i, file=sys.stderr)
    sys.stderr.flush()
    if os.environ.get("ECHO_READY_DIR"):
        with open(os.path.join(os.environ["ECHO_READY_DIR"], str(os.getpid())), "w") as f:
            f.write("ready")
    for line in sys.stdin:
        msg = json.loads(line)
        p = msg["payload"]
        do = p.get("do", "ok")
        if p.get("pidfile"):
            with open(p["pidfile"], "w") as f:
                f.write(str(os.getpid()))
        base = {"pid": os.getpid(), "attempt": msg["attempt"], "id": msg["id"],
                "deadline_ms": msg["deadline_ms"]}
        if do == "ok":
            answer({"ok": True, "result": dict(base, value=p.get("value")),
                    "reply": {"value": p.get("value")}})
        elif do == "error":
            answer({"ok": False, "error": "asked to fail (attempt %d)" % msg["attempt"]})
        elif do == "reject":
            answer({"ok": False, "error": "rejected for good", "retry": False})
        elif do == "crash":
            print("crashing on purpose", file=sys.stderr, flush=True)
            os._exit(3)
        elif do == "hang":
            time.sleep(3600)
        elif do == "garbage":
            sys.stdout.write("this is not json\n")
            sys.stdout.flush()
        elif do == "large":
            answer({"ok": True, "result": {"data": "x" * int(p["size"])}})
        elif do == "send":
            answer({"ok": True, "result": base,
                    "send": [{"queue": "sink", "type": "sunk",
                              "payload": {"from": msg["id"], "n": i}} for i in range(2)]})
        elif do == "send_actor":
            # Keyed messages to actor {type, key} (no queue: the type's), in order.
            answer({"ok": True, "result": base,
                    "send": [{"actor": {"type": p["actor_type"], "key": p["key"]},
                              "type": "tick", "payload": {"from": msg["id"], "n": i}}
                             for i in range(3)]})
        elif do == "send_actor_bad":
            answer({"ok": True, "result": base,
                    "send": [{"actor": {"type": "ledger", "key": p["key"]}, "type": "tick",
                              "delay_ms": 5}]})
        elif do == "stderr":
            print("hello from stderr", file=sys.stderr, flush=True)
            answer({"ok": True, "result": base})
        elif do == "slow":
            time.sleep(p.get("ms", 200) / 1000.0)
            answer({"ok": True, "result": base})
        elif do == "env":
            answer({"ok": True, "result": dict(base, env=dict(os.environ))})
        elif do == "spawn":
            # Two grandchildren that outlive nothing: one in this program's process
            # group (sleep 1000 &), one that left it (setsid, as a daemon does).
            kept = subprocess.Popen(["sleep", "1000"])
            escaped = subprocess.Popen(["sleep", "1001"], start_new_session=True)
            answer({"ok": True, "result": dict(base, children=[kept.pid, escaped.pid])})
        else:
            answer({"ok": False, "error": "unknown do: %r" % do, "retry": False})


if __name__ == "__main__":
    main()
