// @generated automatically by Diesel CLI.

diesel::table! {
    audit_events (seq) {
        seq -> Int8,
        id -> Uuid,
        user_id -> Nullable<Uuid>,
        session_id -> Nullable<Uuid>,
        event -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Jsonb,
        created_at -> Timestamptz,
        prev_hash -> Text,
        hash -> Text,
        ip_digest -> Nullable<Text>,
        user_agent_digest -> Nullable<Text>,
    }
}

diesel::table! {
    mail_queue (id) {
        id -> Uuid,
        template -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Int4,
        queued_at -> Timestamptz,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        failed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    one_time_tokens (token_hash) {
        token_hash -> Bytea,
        user_id -> Uuid,
        purpose -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        issued_at -> Timestamptz,
        rotated_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    session_revocations (session_id) {
        session_id -> Uuid,
        revoked_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        idle_expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoke_reason -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        amr -> Array<Text>,
        credentials_version -> Int8,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        public_key -> Bytea,
        encrypted_private_key -> Bytea,
        created_at -> Timestamptz,
        activates_at -> Timestamptz,
        retired_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        email_verified -> Bool,
        display_name -> Nullable<Text>,
        roles -> Array<Text>,
        mfa_enabled -> Bool,
        disabled -> Bool,
        password_hash -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        credentials_version -> Int8,
    }
}

diesel::table! {
    mfa_challenges (token_hash) {
        token_hash -> Bytea,
        user_id -> Uuid,
        password_fingerprint -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Uuid,
        code_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    totp_credentials (user_id) {
        user_id -> Uuid,
        sealed_secret -> Text,
        confirmed_at -> Nullable<Timestamptz>,
        last_used_step -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(mfa_challenges -> users (user_id));
diesel::joinable!(one_time_tokens -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(totp_credentials -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    mail_queue,
    mfa_challenges,
    one_time_tokens,
    recovery_codes,
    refresh_tokens,
    session_revocations,
    sessions,
    signing_keys,
    totp_credentials,
    users,
);
