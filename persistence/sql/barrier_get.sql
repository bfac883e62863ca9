SELECT expected, remaining, fired_at IS NOT NULL FROM postbox.barriers WHERE execution_id = $1
