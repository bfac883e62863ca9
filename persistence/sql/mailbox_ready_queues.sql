-- The ready probe (issue 24 item 6): which of a node's queues $1 (text[]) have work a claim
-- could take now, in one statement for all of them, so an idle node costs one poll per
-- interval however many queues it serves. Work: a message visible now, in any tier (one
-- short descent of mailbox_claim_idx per tier), or a woken actor key (postbox.actor_promote
-- makes its head: migration 019).
SELECT q
FROM unnest($1::text[]) AS q
WHERE EXISTS (SELECT 1 FROM postbox.mailbox m
              WHERE m.queue = q AND m.priority IN (0, 1, 2, 3) AND m.visible_at <= now())
   OR EXISTS (SELECT 1 FROM postbox.actor_seqs s WHERE s.queue = q AND s.wake)
