DROP TRIGGER sessions_revocation_feed ON sessions;
DROP FUNCTION record_session_revocation();
DROP TABLE session_revocations;
