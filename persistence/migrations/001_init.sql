-- 001: the durable mailbox, claims, barriers, executions, results, blobs, outbox, nodes.
-- Migrations are never edited once landed; add a new numbered file instead.

CREATE SEQUENCE postbox.receipt_seq;

-- The mailbox: one row per undelivered message. A read sets visible_at into the
-- future (the lease) and a fresh receipt; ack/renew/nack/dead_letter require it.
CREATE TABLE postbox.mailbox (
  id           bigserial PRIMARY KEY,
  queue        text        NOT NULL,
  type         text        NOT NULL,
  execution_id text,
  org          text,
  payload      jsonb       NOT NULL,
  headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  enqueued_at  timestamptz NOT NULL DEFAULT now(),
  visible_at   timestamptz NOT NULL DEFAULT now(),
  read_ct      integer     NOT NULL DEFAULT 0,
  receipt      bigint,
  lease_owner  text,
  last_error   text
);
-- The claim query: WHERE queue = $1 AND visible_at <= now() ORDER BY visible_at, id.
CREATE INDEX mailbox_claim_idx ON postbox.mailbox (queue, visible_at, id);
CREATE INDEX mailbox_execution_idx ON postbox.mailbox (execution_id) WHERE execution_id IS NOT NULL;
-- Keep the hot table small and vacuumed: it is a queue, rows are short-lived.
ALTER TABLE postbox.mailbox SET (autovacuum_vacuum_scale_factor = 0.01,
                                 autovacuum_vacuum_threshold = 1000);

-- Wake consumers: one NOTIFY per queue and statement (payload = queue name).
CREATE FUNCTION postbox.mailbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('postbox_mailbox', q.queue) FROM (SELECT DISTINCT queue FROM new_rows) q;
  RETURN NULL;
END $$;
CREATE TRIGGER mailbox_notify AFTER INSERT ON postbox.mailbox
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION postbox.mailbox_notify();

-- A poisoned message, whole: identity, payload, headers, and why/when/where it died.
CREATE TABLE postbox.dead_letters (
  id              bigserial PRIMARY KEY,
  message_id      bigint      NOT NULL,
  queue           text        NOT NULL,
  type            text        NOT NULL,
  execution_id    text,
  org             text,
  payload         jsonb       NOT NULL,
  headers         jsonb       NOT NULL,
  enqueued_at     timestamptz NOT NULL,
  read_ct         integer     NOT NULL,
  last_error      text,
  reason          text        NOT NULL,
  dead_at         timestamptz NOT NULL DEFAULT now(),
  dead_by         text,
  retried_at      timestamptz,
  retried_as      bigint
);
CREATE INDEX dead_letters_queue_idx ON postbox.dead_letters (queue, dead_at);
CREATE INDEX dead_letters_execution_idx ON postbox.dead_letters (execution_id);

CREATE TABLE postbox.executions (
  id            text PRIMARY KEY,
  org           text        NOT NULL DEFAULT '',
  workflow      text        NOT NULL,
  status        text        NOT NULL DEFAULT 'QUEUED'
                CHECK (status IN ('QUEUED', 'EXECUTING', 'COMPLETED', 'ERROR', 'STOPPED')),
  batch_size    integer     NOT NULL DEFAULT 10 CHECK (batch_size > 0),
  files_total   integer     NOT NULL DEFAULT 0,
  files_done    integer     NOT NULL DEFAULT 0,
  files_failed  integer     NOT NULL DEFAULT 0,
  error         text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz
);
CREATE INDEX executions_status_idx ON postbox.executions (status, updated_at);
CREATE INDEX executions_created_idx ON postbox.executions (created_at DESC);

-- One orchestration claim per execution, fenced by the delivery that holds it
-- (message_id + receipt): a newer delivery of the same message takes it over.
CREATE TABLE postbox.claims (
  execution_id text PRIMARY KEY,
  owner        text        NOT NULL,
  state        text        NOT NULL CHECK (state IN ('active', 'tombstone')),
  message_id   bigint,
  receipt      bigint,
  claimed_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX claims_state_idx ON postbox.claims (state, updated_at);

CREATE TABLE postbox.barriers (
  execution_id text PRIMARY KEY,
  expected     integer     NOT NULL CHECK (expected > 0),
  remaining    integer     NOT NULL CHECK (remaining >= 0),
  armed_at     timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  fired_at     timestamptz
);
CREATE TABLE postbox.barrier_arrivals (
  execution_id text    NOT NULL REFERENCES postbox.barriers ON DELETE CASCADE,
  batch_index  integer NOT NULL,
  arrived_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (execution_id, batch_index)
);

CREATE TABLE postbox.file_results (
  execution_id text        NOT NULL,
  file_key     text        NOT NULL,
  batch_index  integer     NOT NULL,
  status       text        NOT NULL CHECK (status IN ('done', 'failed')),
  result       jsonb,
  error        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (execution_id, file_key)
);

CREATE TABLE postbox.blobs (
  id           text PRIMARY KEY,
  name         text        NOT NULL,
  size         bigint      NOT NULL,
  sha256       text        NOT NULL,
  content      bytea       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- Side effects of terminal states, written at most once per (execution, kind).
CREATE TABLE postbox.outbox (
  id              bigserial PRIMARY KEY,
  execution_id    text        NOT NULL,
  kind            text        NOT NULL,
  payload         jsonb       NOT NULL,
  state           text        NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_owner     text,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  UNIQUE (execution_id, kind)
);
CREATE INDEX outbox_due_idx ON postbox.outbox (next_attempt_at, id) WHERE state = 'pending';

CREATE TABLE postbox.nodes (
  name         text PRIMARY KEY,
  host         text        NOT NULL,
  control_port integer,
  http_port    integer,
  roles        text[]      NOT NULL DEFAULT '{}',
  pid          integer,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Leader leases (the reaper): one row per role, renewed by its holder within a term.
CREATE TABLE postbox.leader_leases (
  name        text PRIMARY KEY,
  holder      text        NOT NULL,
  term        bigint      NOT NULL DEFAULT 1,
  expires_at  timestamptz NOT NULL
);
