-- Per queue: ready, in flight (leased), delayed (nacked with a delay), dead letters
-- not yet retried, the age of the oldest message, and the live messages that hold a
-- dedup key (migration 023); then, under limits (migration 025), throttled (waiting for a
-- token) and waiting for a slot, which are neither in flight nor delayed. A keyed actor's
-- parked messages
-- (visible_at = 'infinity': waiting for their turn, or a blocked head) are none of these. The pipeline's queues always show.
-- Then ready per priority tier: low, normal, high, urgent (migration 024).
WITH names AS (
  SELECT queue FROM postbox.mailbox
  UNION SELECT queue FROM postbox.dead_letters
  UNION SELECT unnest(ARRAY['orchestrator', 'file_batch', 'callback'])
)
SELECT n.queue,
       count(m.id) FILTER (WHERE m.visible_at <= now()) AS ready,
       count(m.id) FILTER (WHERE m.visible_at > now() AND m.receipt IS NOT NULL
                                 AND m.limit_wait IS NULL) AS in_flight,
       count(m.id) FILTER (WHERE m.visible_at > now() AND m.visible_at < 'infinity'
                                 AND m.receipt IS NULL AND m.limit_wait IS NULL) AS delayed,
       (SELECT count(*) FROM postbox.dead_letters d
        WHERE d.queue = n.queue AND d.retried_at IS NULL) AS dead,
       COALESCE(extract(epoch FROM now() - min(m.enqueued_at)), 0)::float8 AS oldest_age_s,
       count(m.id) FILTER (WHERE m.dedup_key IS NOT NULL) AS dedup_keys,
       count(m.id) FILTER (WHERE m.visible_at > now() AND m.limit_wait = 'rate') AS throttled,
       count(m.id) FILTER (WHERE m.visible_at > now() AND m.limit_wait = 'slot') AS waiting_slot,
       count(m.id) FILTER (WHERE m.visible_at <= now() AND m.priority = 0) AS ready_low,
       count(m.id) FILTER (WHERE m.visible_at <= now() AND m.priority = 1) AS ready_normal,
       count(m.id) FILTER (WHERE m.visible_at <= now() AND m.priority = 2) AS ready_high,
       count(m.id) FILTER (WHERE m.visible_at <= now() AND m.priority = 3) AS ready_urgent
FROM names n
LEFT JOIN postbox.mailbox m ON m.queue = n.queue
GROUP BY n.queue
ORDER BY n.queue
