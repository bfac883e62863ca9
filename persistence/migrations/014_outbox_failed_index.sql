-- 014: failed outbox rows by kind. /metrics counts them on every scrape
-- (metrics_gauges.sql, postbox_outbox_failed); without this index that count read the
-- whole outbox. Failed rows are few (they wait for an operator), so the index is small
-- and the count a probe.
CREATE INDEX outbox_failed_idx ON postbox.outbox (kind) WHERE state = 'failed';
