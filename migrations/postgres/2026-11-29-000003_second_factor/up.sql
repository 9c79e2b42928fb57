-- The same tables as migrations/sqlite, with PostgreSQL's native types.

CREATE TABLE totp_credentials (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- Sealed with a key derived from the master key, the user id bound in.
    sealed_secret text NOT NULL,
    confirmed_at timestamptz,
    -- The last time step whose code was accepted; it and every earlier step are spent.
    last_used_step bigint,
    created_at timestamptz NOT NULL
);

-- Single-use recovery codes, stored as SHA-256 hashes.
CREATE TABLE recovery_codes (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Logins whose password passed and whose second factor is awaited (mfa_token, as a hash).
CREATE TABLE mfa_challenges (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_fingerprint text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);

-- How each session's login was proven (RFC 8176 values), carried by its tokens as `amr`.
ALTER TABLE sessions ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}';
