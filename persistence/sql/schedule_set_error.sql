-- Schedule $1 cannot be evaluated or sent ($2 says why): it is not fired until redefined.
UPDATE postbox.schedules SET error = $2, updated_at = now() WHERE name = $1
