#!/usr/bin/env python3
"""A backend (Django, say) enqueues work in its own transaction, with psycopg 3.

  enqueue.py submit --workflow docs FILE...     an `uploads` row and postbox.submit: one
                                                transaction; prints the execution id
  enqueue.py submit --rollback ...              the same, rolled back: shows neither remains
  enqueue.py call --tool upper --input hi --call-id c1
                                                a `tool_requests` row and postbox.send to the
                                                executor with on_success / on_error: one
                                                transaction; prints the message id
The DSN is --dsn or $POSTBOX_DSN. Tables: schema.sql here and ../tools/schema.sql.
"""
import argparse
import os
import sys

try:
    import psycopg
    from psycopg.types.json import Jsonb
except ImportError:
    print(f"enqueue.py: psycopg 3 is missing for {sys.executable}: "
          "apt-get install python3-psycopg (or make deps), which serves /usr/bin/python3",
          file=sys.stderr)
    sys.exit(2)

EXECUTOR = "executor"         # the queue worker.py serves (python.yaml)
CALLBACKS = "tool_callbacks"  # where the C++ example's tool_done / tool_failed handlers run


def collect_files(paths):
    """Absolute paths, folders walked in order: the files `postbox submit` would send."""
    files = []
    for path in paths:
        path = os.path.abspath(path)
        if os.path.isdir(path):
            files += sorted(os.path.join(d, f) for d, _, names in os.walk(path) for f in names)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise SystemExit(f"enqueue.py: no such file or folder: {path}")
    return files


def submit(conn, args):
    files = collect_files(args.paths)
    with conn.transaction() as tx:
        # Your business row and the execution: both commit, or neither does.
        execution_id = conn.execute(
            "SELECT postbox.submit(%s, %s::text[], batch_size => %s, org => %s)",
            (args.workflow, files, args.batch_size, args.org)).fetchone()[0]
        upload_id = conn.execute(
            "INSERT INTO uploads (label, execution_id) VALUES (%s, %s) RETURNING id",
            (args.label, execution_id)).fetchone()[0]
        if args.rollback:
            raise psycopg.Rollback(tx)  # as an exception in `transaction.atomic()` would
    if not args.rollback:
        print(execution_id)
        return 0
    uploads, executions, messages = conn.execute(
        "SELECT (SELECT count(*) FROM uploads WHERE id = %s),"
        "       (SELECT count(*) FROM postbox.executions WHERE id = %s),"
        "       (SELECT count(*) FROM postbox.mailbox WHERE execution_id = %s)",
        (upload_id, execution_id, execution_id)).fetchone()
    print(f"rolled back: uploads row {upload_id}: {uploads}, "
          f"execution {execution_id}: {executions}, its messages: {messages}")
    return 0 if uploads == executions == messages == 0 else 1


def call(conn, args):
    # The caller's continuations (seed 003): each fires exactly once, with the call's
    # result (on_success) or its real error text (on_error) added to this payload.
    headers = {
        "on_success": {"queue": CALLBACKS, "type": "tool_done",
                       "payload": {"call_id": args.call_id}},
        "on_error": {"queue": CALLBACKS, "type": "tool_failed",
                     "payload": {"call_id": args.call_id}},
    }
    with conn.transaction() as tx:
        message_id = conn.execute(
            "SELECT postbox.send(%s, %s, %s, headers => %s)",
            (EXECUTOR, "tool_call", Jsonb({"tool": args.tool, "input": args.input}),
             Jsonb(headers))).fetchone()[0]
        # A call_id used before fails here, and the message above goes with it.
        conn.execute(
            "INSERT INTO tool_requests (call_id, tool, input, message_id) "
            "VALUES (%s, %s, %s, %s)",
            (args.call_id, args.tool, args.input, message_id))
        if args.rollback:
            raise psycopg.Rollback(tx)
    if not args.rollback:
        print(message_id)
        return 0
    requests, messages = conn.execute(
        "SELECT (SELECT count(*) FROM tool_requests WHERE call_id = %s),"
        "       (SELECT count(*) FROM postbox.mailbox WHERE id = %s)",
        (args.call_id, message_id)).fetchone()
    print(f"rolled back: tool_requests row {args.call_id}: {requests}, "
          f"message {message_id}: {messages}")
    return 0 if requests == messages == 0 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("POSTBOX_DSN"),
                        help="libpq DSN (default: $POSTBOX_DSN)")
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("submit", help="an uploads row + postbox.submit")
    s.add_argument("--workflow", required=True, help="a workflow a node has recorded")
    s.add_argument("--label", default="upload", help="the uploads row's label")
    s.add_argument("--batch-size", type=int, help="files per batch (the workflow's default)")
    s.add_argument("--org", default="")
    s.add_argument("--rollback", action="store_true", help="roll back and show nothing remains")
    s.add_argument("paths", nargs="+", metavar="FILE", help="files or folders")
    c = commands.add_parser("call", help="a tool_requests row + postbox.send to the executor")
    c.add_argument("--tool", required=True, help="wordcount, upper, sleep (others fail)")
    c.add_argument("--input", required=True)
    c.add_argument("--call-id", required=True, help="names the call in tool_outcomes")
    c.add_argument("--rollback", action="store_true", help="roll back and show nothing remains")
    args = parser.parse_args()
    if not args.dsn:
        parser.error("no database: give --dsn or set POSTBOX_DSN")
    try:
        with psycopg.connect(args.dsn, autocommit=True) as conn:  # BEGIN/COMMIT explicit
            return submit(conn, args) if args.command == "submit" else call(conn, args)
    except psycopg.Error as e:
        # One line: postbox's SQL API names the bad argument (SQLSTATE 22023).
        message = e.diag.message_primary or str(e).strip().splitlines()[0]
        print(f"enqueue.py: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
