DROP TABLE audit_events;
DROP TABLE signing_keys;
DROP TABLE one_time_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
