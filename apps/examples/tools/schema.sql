-- The executor example's own table: one row per tool call, written by the
-- tool_done / tool_failed handlers in the transaction that acks the continuation.
CREATE TABLE IF NOT EXISTS tool_outcomes (
  call_id     text PRIMARY KEY,
  status      text NOT NULL CHECK (status IN ('done', 'failed')),
  result      jsonb,
  error       text,
  message_id  bigint,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
