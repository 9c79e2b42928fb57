//! Unit tests of the second-factor use cases, with every port mocked.

use super::*;
use crate::password::PasswordHash;
use crate::ports::MfaChallenge;
use crate::ports::{PasswordCheck, TotpCredential};
use crate::services::LoginOutcome;
use crate::services::LoginRequest;
use crate::services::LoginService;
use crate::services::common::password_fingerprint;
use crate::services::test_support::{
    NOW, PortMocks, RANDOM_BYTES, STRONG_PASSWORD, allowed, principal_in, refused, request_context, session_of,
    verified_user,
};
use crate::session::Session;
use crate::totp::step_at;

mod login;
mod removal;

/// The secret every enrolment of these tests gets: the first bytes of the random source.
fn secret() -> TotpSecret {
    let mut bytes = [0u8; SECRET_BYTES];
    bytes.copy_from_slice(&RANDOM_BYTES[..SECRET_BYTES]);
    TotpSecret::from_bytes(bytes)
}

/// The code an authenticator app shows at [`NOW`].
fn current_code() -> String {
    format!("{:06}", secret().code_at_step(step_at(NOW)))
}

fn user_with_mfa() -> User {
    User { mfa_enabled: true, ..verified_user() }
}

fn confirmed(last_used_step: Option<i64>) -> TotpCredential {
    TotpCredential { secret: secret(), confirmed: true, last_used_step }
}

/// The caller's session signed in `ago`: within the re-authentication window, no password is
/// needed to change the second factor.
fn expect_signed_in(mocks: &mut PortMocks, ago: time::Duration) {
    let session = Session { created_at: NOW - ago, ..session_of(&verified_user()) };
    mocks.sessions.expect_find().returning(move |_| Ok(Some(session.clone())));
}

fn expect_user(mocks: &mut PortMocks, user: User) {
    mocks.users.expect_find_by_id().returning(move |_| Ok(Some(user.clone())));
}

/// A challenge for `user`, issued a minute ago.
fn challenge_for(user: &User) -> (MfaToken, MfaChallenge) {
    let token = MfaToken::from_random_bytes([3; 32]);
    let challenge = MfaChallenge {
        hash: token.hash(),
        user_id: user.id,
        password_fingerprint: password_fingerprint(user),
        created_at: NOW - time::Duration::minutes(1),
        expires_at: NOW + time::Duration::minutes(4),
    };
    (token, challenge)
}

fn expect_challenge(mocks: &mut PortMocks, challenge: Option<MfaChallenge>) {
    mocks.second_factors.expect_find_challenge().returning(move |_, now| {
        assert_eq!(now, NOW);
        Ok(challenge.clone())
    });
}

#[tokio::test]
async fn enrolment_stores_a_pending_secret_and_hands_out_its_uri() {
    let mut mocks = PortMocks::new();
    expect_signed_in(&mut mocks, time::Duration::minutes(1));
    let user = verified_user();
    let user_id = user.id;
    expect_user(&mut mocks, user);
    mocks
        .second_factors
        .expect_begin_totp()
        .withf(move |id, stored, at| *id == user_id && *stored == secret() && *at == NOW)
        .times(1)
        .returning(|_, _, _| Ok(true));

    let enrolment = mocks
        .into_service::<MfaService>()
        .begin_totp_enrolment(&principal_in(&session_of(&verified_user())), None, &request_context())
        .await
        .expect("enrolment starts");

    assert_eq!(enrolment.secret, secret().to_base32());
    assert!(enrolment.otpauth_uri.starts_with("otpauth://totp/authd:ada%40example.com?"), "{}", enrolment.otpauth_uri);
    assert!(enrolment.otpauth_uri.contains(&format!("secret={}", secret().to_base32())));
    assert!(!format!("{enrolment:?}").contains(&enrolment.secret), "Debug leaves the secret out");
}

#[tokio::test]
async fn enrolment_is_refused_while_a_second_factor_is_on() {
    let mut mocks = PortMocks::new();
    expect_user(&mut mocks, user_with_mfa());
    mocks.second_factors.expect_begin_totp().never();

    let principal = principal_in(&session_of(&verified_user()));
    let error = mocks.into_service::<MfaService>().begin_totp_enrolment(&principal, None, &request_context()).await;

    assert!(matches!(error, Err(EnrolTotpError::AlreadyEnabled)), "{error:?}");
}

#[tokio::test]
async fn a_right_first_code_confirms_and_returns_ten_distinct_recovery_codes() {
    let mut mocks = PortMocks::new();
    let mut counter = 0u8;
    mocks.random = crate::ports::MockRandomSource::new();
    mocks.random.expect_token_bytes().returning(move || {
        counter += 1;
        [counter; 32]
    });
    mocks.allow_every_rate_limit();
    expect_user(&mut mocks, verified_user());
    let pending = TotpCredential { secret: secret(), confirmed: false, last_used_step: None };
    mocks.second_factors.expect_find_totp().returning(move |_| Ok(Some(pending.clone())));
    mocks
        .second_factors
        .expect_confirm_totp()
        .withf(|_, step, hashes, at| *step == step_at(NOW) && hashes.len() == 10 && *at == NOW)
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    mocks.expect_audit(AuditEventKind::MfaEnabled, 1);
    let code = format!("{:06}", secret().code_at_step(step_at(NOW)));

    let codes = mocks
        .into_service::<MfaService>()
        .confirm_totp(&principal_in(&session_of(&verified_user())), &code, &request_context())
        .await
        .expect("confirmed");

    let mut hashes: Vec<_> = codes.iter().map(|code| code.hash().encode()).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 10);
}

#[tokio::test]
async fn a_wrong_first_code_is_counted_and_confirms_nothing() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    expect_user(&mut mocks, verified_user());
    let pending = TotpCredential { secret: secret(), confirmed: false, last_used_step: None };
    mocks.second_factors.expect_find_totp().returning(move |_| Ok(Some(pending.clone())));
    mocks.second_factors.expect_confirm_totp().never();
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    let wrong = format!("{:06}", (secret().code_at_step(step_at(NOW)) + 1) % 1_000_000);

    let error = mocks
        .into_service::<MfaService>()
        .confirm_totp(&principal_in(&session_of(&verified_user())), &wrong, &request_context())
        .await;

    assert!(matches!(error, Err(ConfirmTotpError::InvalidCode)), "{error:?}");
}
