ALTER TABLE audit_events DROP COLUMN user_agent_digest;
ALTER TABLE audit_events DROP COLUMN ip_digest;
DROP TABLE mail_queue;
