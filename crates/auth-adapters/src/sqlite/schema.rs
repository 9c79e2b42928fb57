// @generated automatically by Diesel CLI.

diesel::table! {
    audit_events (seq) {
        seq -> Nullable<Integer>,
        id -> Text,
        user_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        event -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Text,
        created_at -> Text,
        prev_hash -> Text,
        hash -> Text,
        ip_digest -> Nullable<Text>,
        user_agent_digest -> Nullable<Text>,
    }
}

diesel::table! {
    mail_queue (id) {
        id -> Text,
        template -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        queued_at -> Text,
        next_attempt_at -> Text,
        last_error -> Nullable<Text>,
        failed_at -> Nullable<Text>,
    }
}

diesel::table! {
    one_time_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        purpose -> Text,
        created_at -> Text,
        expires_at -> Text,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        issued_at -> Text,
        rotated_at -> Nullable<Text>,
    }
}

diesel::table! {
    session_revocations (session_id) {
        session_id -> Text,
        revoked_at -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Text,
        last_used_at -> Text,
        expires_at -> Text,
        idle_expires_at -> Text,
        revoked_at -> Nullable<Text>,
        revoke_reason -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        amr -> Text,
        credentials_version -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        public_key -> Binary,
        encrypted_private_key -> Binary,
        created_at -> Text,
        activates_at -> Text,
        retired_at -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        email_verified -> Bool,
        display_name -> Nullable<Text>,
        roles -> Text,
        mfa_enabled -> Bool,
        disabled -> Bool,
        password_hash -> Text,
        created_at -> Text,
        updated_at -> Text,
        credentials_version -> BigInt,
    }
}

diesel::table! {
    mfa_challenges (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        password_fingerprint -> Text,
        created_at -> Text,
        expires_at -> Text,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Text,
        used_at -> Nullable<Text>,
    }
}

diesel::table! {
    totp_credentials (user_id) {
        user_id -> Text,
        sealed_secret -> Text,
        confirmed_at -> Nullable<Text>,
        last_used_step -> Nullable<BigInt>,
        created_at -> Text,
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
