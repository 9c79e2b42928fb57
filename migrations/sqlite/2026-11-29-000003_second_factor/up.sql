-- TOTP credentials: pending until a first code confirms them. The secret is sealed with a key
-- derived from the master key, the user id bound in, so the database alone never yields codes.
CREATE TABLE totp_credentials (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret TEXT NOT NULL,
    confirmed_at TEXT,
    -- The last time step whose code was accepted; it and every earlier step are spent.
    last_used_step BIGINT,
    created_at TEXT NOT NULL
);

-- Single-use recovery codes, stored as SHA-256 hashes (80-bit codes: no search through them).
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TEXT,
    PRIMARY KEY (user_id, code_hash)
);

-- Logins whose password passed and whose second factor is awaited (mfa_token, as a hash).
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);

-- How each session's login was proven (RFC 8176 values), carried by its tokens as `amr`.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '["pwd"]';
