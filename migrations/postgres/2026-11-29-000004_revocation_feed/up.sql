-- The revocation feed (GET /v1/revocations): one row per revoked session, kept apart from
-- `sessions` so that deleting an account (which cascades to its sessions) does not erase the news
-- that its sessions were revoked. A trigger writes it, in the transaction that revokes, so that no
-- path that revokes a session can forget to; rows older than any access token can live are
-- dropped as new ones arrive.
CREATE TABLE session_revocations (
    session_id uuid PRIMARY KEY,
    revoked_at timestamptz NOT NULL
);

CREATE INDEX session_revocations_revoked_at_idx ON session_revocations (revoked_at);

CREATE FUNCTION record_session_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_revocations (session_id, revoked_at)
    VALUES (NEW.id, NEW.revoked_at)
    ON CONFLICT (session_id) DO NOTHING;
    -- Two days outlives the longest access token (AUTH_ACCESS_TTL is at most a day).
    DELETE FROM session_revocations WHERE revoked_at < NEW.revoked_at - interval '2 days';
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_revocation_feed AFTER UPDATE OF revoked_at ON sessions
FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION record_session_revocation();
