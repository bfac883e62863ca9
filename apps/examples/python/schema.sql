-- The Python example's business tables: the rows a backend (Django, say) writes in the
-- same transaction as its postbox.submit / postbox.send, so both commit or neither does.
-- The continuations' table, tool_outcomes, is the C++ example's (apps/examples/tools/schema.sql).
CREATE TABLE IF NOT EXISTS uploads (
  id           bigserial PRIMARY KEY,
  label        text NOT NULL,
  execution_id text,                  -- what postbox.submit returned
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS tool_requests (
  call_id      text PRIMARY KEY,      -- the continuations carry it back to tool_outcomes
  tool         text NOT NULL,
  input        text NOT NULL,
  message_id   bigint,                -- what postbox.send returned
  created_at   timestamptz NOT NULL DEFAULT now()
);
