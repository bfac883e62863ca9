#!/usr/bin/env python3
"""The executor of seed 003 in Python: serves `tool_call` on queue `executor`.

postbox starts this program and keeps it (topology key `programs:`). For each message
it writes one JSON line to stdin; we answer one JSON line on stdout. postbox does the
leasing, retries, dead letters and the caller's on_success / on_error continuations.
stdout carries protocol lines only: log to stderr. EOF on stdin means exit.
Standard library only; the tools give exactly the results of apps/examples/tools/tools.cpp.
"""
import json
import sys
import time

# Whatever else writes to stdout (a stray print in a tool) goes to stderr instead:
# one line that is not an answer would fail the message.
PROTOCOL = sys.stdout
sys.stdout = sys.stderr


def log(text):
    print(f"worker.py: {text}", file=sys.stderr, flush=True)


def leading_int(text):
    """The integer `text` starts with, like C's atoll ("250ms" -> 250, "x" -> 0)."""
    text = text.lstrip(" \t\n\v\f\r")
    end = 1 if text[:1] in ("+", "-") else 0
    while end < len(text) and text[end] in "0123456789":
        end += 1
    try:
        return int(text[:end])
    except ValueError:
        return 0


def run_tool(tool, text):
    """The expensive call (an LLM, a paid API) in the real system; here three small tools.

    Returns the result, or None for a tool we do not have.
    """
    if tool == "wordcount":
        return {"words": len(text.encode().split())}  # ASCII whitespace, as C++ `>>`
    if tool == "upper":
        return {"text": text.encode().upper().decode()}  # ASCII letters, as C++ toupper
    if tool == "sleep":  # a slow call: sleeps `input` milliseconds (0 to 60000)
        ms = min(max(leading_int(text), 0), 60000)
        time.sleep(ms / 1000)
        return {"slept_ms": ms}
    return None


def answer(message):
    """The answer line for one message (a dict from the line postbox wrote)."""
    payload = message.get("payload")
    if message.get("type") != "tool_call" or not isinstance(payload, dict):
        # Not something we can ever run: no retry, dead-lettered now, on_error fires.
        return {"ok": False, "retry": False,
                "error": f"worker.py serves tool_call with an object payload, "
                         f"got {message.get('type')!r}"}
    tool, text = payload.get("tool", ""), payload.get("input", "")
    if not isinstance(tool, str) or not isinstance(text, str):
        return {"ok": False, "retry": False,
                "error": "tool_call: fields 'tool' and 'input' must be strings"}
    result = run_tool(tool, text)
    if result is None:
        # Retryable as far as we know; the executor queue's max_attempts 1 means it is
        # not retried: the call is dead-lettered and the caller's on_error gets this text.
        return {"ok": False, "retry": True,
                "error": f"no tool named '{tool}' (attempt {message.get('attempt', 1)})"}
    # `result` goes to on_success; `reply` is what `postbox ask` prints.
    return {"ok": True, "result": result, "reply": result}


def main():
    log("ready")
    for line in sys.stdin.buffer:  # bytes, decoded as UTF-8 whatever the locale
        if not line.strip():
            continue
        try:
            message = json.loads(line.decode("utf-8"))
            if not isinstance(message, dict):
                raise ValueError(f"expected a JSON object, got {type(message).__name__}")
        except ValueError as e:  # also bad UTF-8
            message = {}
            reply = {"ok": False, "retry": False, "error": f"malformed input line: {e}"}
        else:
            try:
                reply = answer(message)
            except Exception as e:  # a bug in a tool fails this message, not the worker
                reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        log(f"message {message.get('id')}: {'ok' if reply['ok'] else reply['error']}")
        PROTOCOL.write(json.dumps(reply) + "\n")  # ASCII only (ensure_ascii)
        PROTOCOL.flush()
    log("stdin closed, exiting")


if __name__ == "__main__":
    main()
