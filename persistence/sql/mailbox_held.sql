-- Is delivery ($1, $2) still ours: in the mailbox under this receipt and, when it holds
-- limit slots (migration 025), still holding the slot of each of its limits (a slot whose
-- lease ended and that another claim took is lost, and so is the delivery)? No lock.
SELECT 1 FROM postbox.mailbox m WHERE m.id = $1 AND m.receipt = $2
  AND (NOT m.limit_held OR NOT EXISTS (
    SELECT 1 FROM postbox.limits l
    WHERE l.max_in_flight IS NOT NULL
      AND ((l.scope = 'queue' AND l.key = m.queue) OR (l.scope = 'key' AND l.key = m.limit_key))
      AND NOT EXISTS (SELECT 1 FROM postbox.limit_slots s
                      WHERE s.scope = l.scope AND s.key = l.key AND s.message_id = m.id
                        AND s.receipt = m.receipt)))
