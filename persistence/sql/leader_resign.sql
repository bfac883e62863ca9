DELETE FROM postbox.leader_leases WHERE name = $1 AND holder = $2
