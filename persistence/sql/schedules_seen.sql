-- A running node still declares the topology schedules named in $1 (text[]).
UPDATE postbox.schedules SET seen_at = now()
 WHERE name = ANY ($1::text[]) AND defined_by = 'topology'
