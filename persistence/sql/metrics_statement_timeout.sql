-- Bounds the statements of the current transaction to $1 ms (a scrape must not hang).
SELECT set_config('statement_timeout', $1::text, true)
