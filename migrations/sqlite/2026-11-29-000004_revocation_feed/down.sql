DROP TRIGGER sessions_revocation_feed;
DROP TABLE session_revocations;
