-- $1 queue ('' for an actor: its type's queue), $2 type, $3 execution_id, $4 org,
-- $5 payload, $6 headers, $7 delay ms, $8 actor_type, $9 actor_key (NULL: no actor). A
-- message to an actor is numbered and parked or made its head by the trigger of
-- migration 019. $10 limit_key (NULL: none; migration 025). $11 priority 0..3 (NULL: the
-- type's default from postbox.type_priorities, else 1; migration 024).
INSERT INTO postbox.mailbox (queue, type, execution_id, org, payload, headers, visible_at,
                             actor_type, actor_key, limit_key, priority)
VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, now() + $7::bigint * interval '1 millisecond',
        $8, $9, $10,
        COALESCE($11::smallint,
                 (SELECT tp.priority FROM postbox.type_priorities tp WHERE tp.type = $2), 1))
RETURNING id
