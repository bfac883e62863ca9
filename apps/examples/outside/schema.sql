-- greeter's own table: one row per greet_all, written by its fan-out's callback in
-- the transaction that acks the callback (a redelivery cannot write a second row).
CREATE TABLE IF NOT EXISTS greetings (
  batch       text PRIMARY KEY,
  group_id    text NOT NULL,
  children    int NOT NULL,
  results     jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
