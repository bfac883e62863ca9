-- $1 group_id, $2 child_index, $3 the message that held the place, $4 the message
-- that takes it. A child that fanned out hands its place in its own group to its
-- group's callback (or, with no children, to the callback it sent at once): that
-- message's outcome is then the child's.
UPDATE postbox.barriers
SET child_ids[$2 + 1] = $4
WHERE group_id = $1 AND child_ids[$2 + 1] = $3
