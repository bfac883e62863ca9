SELECT expected, remaining, fired_at IS NOT NULL FROM postbox.barriers WHERE group_id = $1
