//! Fuzz target: request bodies. The input is decoded as the JSON body of a route (the body types
//! of auth-http are private to their modules, so a mirror of their fields is decoded instead) and
//! every field goes through the domain parser its use case applies: `Email::parse`,
//! `Password::new` and the password policy (zxcvbn), `DisplayName::parse`, `Role::parse`, the
//! token and recovery-code parsers, the TOTP check. Input that is not such JSON is given to every
//! parser as it is (as a current password, which skips zxcvbn: it is slow). No panic, and what a
//! parser accepts parses again to itself: the adapters re-parse stored emails, names and roles
//! (`auth-adapters/src/stored.rs`), so a value accepted once but not twice would make an account
//! unreadable.
#![no_main]

use auth_domain::recovery_code::RecoveryCode;
use auth_domain::tokens::{MfaToken, OneTimeToken, RefreshToken};
use auth_domain::totp::TotpSecret;
use auth_domain::{DisplayName, Email, Password, PasswordPolicy, Role};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use time::OffsetDateTime;

/// Every field of the JSON bodies of the routes (`routes/auth.rs`, `users.rs`, `mfa.rs`,
/// `admin.rs`), with their JSON types.
#[derive(Deserialize, Default)]
struct Body {
    email: Option<String>,
    password: Option<String>,
    current_password: Option<String>,
    new_password: Option<String>,
    display_name: Option<String>,
    token: Option<String>,
    refresh_token: Option<String>,
    mfa_token: Option<String>,
    code: Option<String>,
    roles: Option<Vec<String>>,
    #[expect(dead_code, reason = "decoded for the shape of the admin body only")]
    disabled: Option<bool>,
}

fuzz_target!(|data: &[u8]| {
    let body = serde_json::from_slice::<Body>(data).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(data).into_owned();
        Body {
            email: Some(text.clone()),
            // A current password is only normalised and hashed: the raw input skips zxcvbn,
            // which takes milliseconds, and only the JSON bodies of new passwords pay for it.
            current_password: Some(text.clone()),
            display_name: Some(text.clone()),
            token: Some(text.clone()),
            code: Some(text.clone()),
            roles: Some(vec![text]),
            ..Body::default()
        }
    });

    let email = body.email.as_deref().and_then(|raw| Email::parse(raw).ok());
    if let Some(email) = &email {
        assert_eq!(Email::parse(email.as_str()).as_ref(), Ok(email), "a parsed email does not parse to itself");
    }
    let display_name = body.display_name.as_deref().and_then(|raw| DisplayName::parse(raw).ok());
    if let Some(name) = &display_name {
        assert_eq!(DisplayName::parse(name.as_str()).as_ref(), Ok(name));
    }
    for raw in body.roles.iter().flatten() {
        if let Ok(role) = Role::parse(raw) {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
    }

    // The registration's check: the email and display name count as guessable words.
    let user_inputs: Vec<&str> =
        email.iter().map(Email::as_str).chain(display_name.iter().map(DisplayName::as_str)).collect();
    let passwords = [&body.password, &body.new_password, &body.current_password];
    for raw in passwords.into_iter().flatten() {
        let password = Password::new(raw);
        // NFKC is idempotent: the hasher sees the same text at registration and at every login.
        assert_eq!(Password::new(password.expose()).expose(), password.expose());
    }
    // The policy judges new passwords (registration, reset, change), one per input: zxcvbn
    // takes milliseconds.
    if let Some(raw) = [&body.password, &body.new_password].into_iter().flatten().next() {
        let _ = PasswordPolicy::default().check("password", &Password::new(raw), &user_inputs);
    }

    for raw in [&body.token, &body.refresh_token, &body.mfa_token].into_iter().flatten() {
        let _ = (RefreshToken::parse(raw), OneTimeToken::parse(raw), MfaToken::parse(raw));
    }
    if let Some(code) = &body.code {
        if let Some(recovery) = RecoveryCode::parse(code) {
            // However it was typed, the code is stored and found by one hash.
            let again = RecoveryCode::parse(recovery.expose()).expect("a parsed code parses again");
            assert_eq!(again.hash(), recovery.hash());
        }
        let secret = TotpSecret::from_bytes([7; auth_domain::totp::SECRET_BYTES]);
        let _ = secret.verify(code, OffsetDateTime::now_utc(), Some(i64::MAX));
        let _ = secret.verify(code, OffsetDateTime::now_utc(), None);
    }
});
