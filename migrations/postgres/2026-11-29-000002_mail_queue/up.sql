-- The transactional outbox: a mail is written here in the transaction of the change that caused
-- it, and the delivery workers of every replica drain it (claiming with FOR UPDATE SKIP LOCKED).
CREATE TABLE mail_queue (
    id uuid PRIMARY KEY,
    -- The template name, for operators; the mail itself is in the sealed payload.
    template text NOT NULL,
    -- The mail (recipient, and any link token) sealed with a key derived from the master key.
    payload text NOT NULL,
    -- 'pending' or 'failed'; a delivered mail's row is deleted.
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    queued_at timestamptz NOT NULL,
    -- When a pending job is due: its first try, its next retry, or the end of its worker's lease.
    next_attempt_at timestamptz NOT NULL,
    last_error text,
    failed_at timestamptz
);
CREATE INDEX mail_queue_due_idx ON mail_queue (next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_queue_failed_idx ON mail_queue (failed_at) WHERE status = 'failed';

-- The digests that the hash chain covers, kept when an erased account's IP and user agent are.
ALTER TABLE audit_events ADD COLUMN ip_digest text;
ALTER TABLE audit_events ADD COLUMN user_agent_digest text;
