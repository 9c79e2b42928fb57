-- The transactional outbox: a mail is written here in the transaction of the change that caused
-- it, and the delivery workers of every replica drain it.
CREATE TABLE mail_queue (
    id TEXT PRIMARY KEY NOT NULL,
    -- The template name, for operators; the mail itself is in the sealed payload.
    template TEXT NOT NULL,
    -- The mail (recipient, and any link token) sealed with a key derived from the master key.
    payload TEXT NOT NULL,
    -- 'pending' or 'failed'; a delivered mail's row is deleted.
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    queued_at TEXT NOT NULL,
    -- When a pending job is due: its first try, its next retry, or the end of its worker's lease.
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    failed_at TEXT
);
CREATE INDEX mail_queue_due_idx ON mail_queue (status, next_attempt_at);

-- The digests that the hash chain covers, kept when an erased account's IP and user agent are.
ALTER TABLE audit_events ADD COLUMN ip_digest TEXT;
ALTER TABLE audit_events ADD COLUMN user_agent_digest TEXT;
