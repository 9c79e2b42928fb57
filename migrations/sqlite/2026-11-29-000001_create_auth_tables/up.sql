-- Identifiers are UUIDs in their hyphenated text form; instants are UTC in the fixed-width form
-- YYYY-MM-DDTHH:MM:SS.ffffffZ, so that text order is time order. The PostgreSQL schema uses
-- native uuid and timestamptz columns for the same tables.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    -- Normalised (trimmed, lower-cased) by the domain before it gets here.
    email TEXT NOT NULL UNIQUE,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    display_name TEXT,
    -- A JSON array of role names.
    roles TEXT NOT NULL DEFAULT '[]',
    mfa_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    idle_expires_at TEXT NOT NULL,
    revoked_at TEXT,
    revoke_reason TEXT,
    ip TEXT,
    user_agent TEXT
);
-- Listing a user's sessions, and revoking them all.
CREATE INDEX sessions_user_id_created_at_idx ON sessions (user_id, created_at);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token, URL-safe base64; the token itself is never stored.
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at TEXT NOT NULL,
    rotated_at TEXT
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE one_time_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
-- Voiding a user's earlier tokens of one purpose.
CREATE INDEX one_time_tokens_user_id_purpose_idx ON one_time_tokens (user_id, purpose);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    algorithm TEXT NOT NULL,
    public_key BLOB NOT NULL,
    -- XChaCha20-Poly1305 under the master key: 24-byte nonce, then ciphertext and tag.
    encrypted_private_key BLOB NOT NULL,
    created_at TEXT NOT NULL,
    activates_at TEXT NOT NULL,
    retired_at TEXT
);

CREATE TABLE audit_events (
    -- The order of the hash chain.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    -- No foreign key: audit rows outlive the accounts they speak of.
    user_id TEXT,
    session_id TEXT,
    event TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    -- A JSON object.
    detail TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    -- SHA-256 of the previous row's hash and this row's content, hex; the chain starts at 64 zeros.
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_user_id_seq_idx ON audit_events (user_id, seq);
CREATE INDEX audit_events_event_seq_idx ON audit_events (event, seq);
CREATE INDEX audit_events_created_at_idx ON audit_events (created_at);
