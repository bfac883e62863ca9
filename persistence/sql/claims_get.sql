SELECT state, owner, message_id, receipt FROM postbox.claims WHERE execution_id = $1
