-- $1 group_id: one row when the group is armed (fired or not), none once it was pruned.
SELECT 1 FROM postbox.barriers WHERE group_id = $1
