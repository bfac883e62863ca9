-- 018: which process runs under each node name. `incarnation` is the name the process
-- gives itself ("name:pid:start-ms", the same text mailbox.alone_on holds when it runs a
-- suspect alone), written when it registers and with every heartbeat. A reader that
-- finds a suspect abandoned while it ran alone charges the crash only when that
-- incarnation is gone: its row names another process, or its heartbeat is stale. A
-- partitioned or frozen but live node's suspect is not charged (mailbox_read.sql).
ALTER TABLE postbox.nodes ADD COLUMN IF NOT EXISTS incarnation text;
