-- The same tables as migrations/sqlite, with PostgreSQL's native types.

CREATE TABLE users (
    id uuid PRIMARY KEY,
    -- Normalised (trimmed, lower-cased) by the domain; the check keeps every writer honest, so
    -- that the plain unique index is a case-insensitive one.
    email text NOT NULL CHECK (email = lower(email)),
    email_verified boolean NOT NULL DEFAULT false,
    display_name text,
    roles text[] NOT NULL DEFAULT '{}',
    mfa_enabled boolean NOT NULL DEFAULT false,
    disabled boolean NOT NULL DEFAULT false,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
-- Log in and register look users up by email.
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoke_reason text,
    ip text,
    user_agent text
);
-- Listing a user's sessions (newest first) and revoking them all.
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at DESC);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token; the token itself is never stored.
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at timestamptz NOT NULL,
    rotated_at timestamptz
);
-- Deleting a session's tokens with it (the cascade), and finding a session's current token.
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE one_time_tokens (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
-- Voiding a user's earlier tokens of one purpose.
CREATE INDEX one_time_tokens_user_id_purpose_idx ON one_time_tokens (user_id, purpose);

CREATE TABLE signing_keys (
    kid text PRIMARY KEY,
    algorithm text NOT NULL,
    public_key bytea NOT NULL,
    -- XChaCha20-Poly1305 under the master key: 24-byte nonce, then ciphertext and tag.
    encrypted_private_key bytea NOT NULL,
    created_at timestamptz NOT NULL,
    activates_at timestamptz NOT NULL,
    retired_at timestamptz
);

CREATE TABLE audit_events (
    -- The order of the hash chain.
    seq bigserial PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    -- No foreign key: audit rows outlive the accounts they speak of.
    user_id uuid,
    session_id uuid,
    event text NOT NULL,
    ip text,
    user_agent text,
    detail jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    -- SHA-256 of the previous row's hash and this row's content, hex; the chain starts at 64 zeros.
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX audit_events_user_id_seq_idx ON audit_events (user_id, seq);
CREATE INDEX audit_events_event_seq_idx ON audit_events (event, seq);
CREATE INDEX audit_events_created_at_idx ON audit_events (created_at);
