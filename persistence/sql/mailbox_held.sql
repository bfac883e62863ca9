-- Is delivery ($1, $2) still ours: in the mailbox under this receipt and, when it holds
-- limit slots (migration 025), still holding the slot of each of its limits (a slot whose
-- lease ended and that another claim took is lost, and so is the delivery)? No lock.
SELECT 1 FROM postbox.mailbox m WHERE m.id = $1 AND m.receipt = $2
  AND postbox.holds_its_slots(m.id, m.receipt, m.queue, m.limit_key, m.limit_held)
