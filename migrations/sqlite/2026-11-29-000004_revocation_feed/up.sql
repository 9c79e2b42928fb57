-- The revocation feed (GET /v1/revocations): one row per revoked session, kept apart from
-- `sessions` so that deleting an account (which cascades to its sessions) does not erase the news
-- that its sessions were revoked. A trigger writes it, so that no path that revokes a session can
-- forget to; rows older than any access token can live are dropped as new ones arrive.
CREATE TABLE session_revocations (
    session_id TEXT PRIMARY KEY NOT NULL,
    revoked_at TEXT NOT NULL
);

CREATE INDEX session_revocations_revoked_at_idx ON session_revocations (revoked_at);

CREATE TRIGGER sessions_revocation_feed AFTER UPDATE OF revoked_at ON sessions
WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO session_revocations (session_id, revoked_at) VALUES (NEW.id, NEW.revoked_at);
    -- Instants are stored as fixed-width UTC text (2026-11-29T16:55:15.123456Z), which sorts in
    -- time order; two days outlives the longest access token (AUTH_ACCESS_TTL is at most a day).
    DELETE FROM session_revocations
    WHERE revoked_at < strftime('%Y-%m-%dT%H:%M:%S', substr(NEW.revoked_at, 1, 19), '-2 days');
END;
