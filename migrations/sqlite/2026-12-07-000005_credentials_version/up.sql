-- The credentials version of an account moves on at every change that must end what was granted
-- before it: a new password (change or reset), disabling, a change of roles. A session records
-- the version it was opened on. A session is opened only while the version it read is still the
-- account's (one conditional INSERT), so a login that was in flight when a reset or a role
-- removal completed never yields a session; and refresh refuses a session whose version is
-- behind its account's, whatever happened to the revocation that should have ended it.
ALTER TABLE users ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;
