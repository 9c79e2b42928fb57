//! Unit tests of the second-factor use cases, with every port mocked.

use super::*;
use crate::password::PasswordHash;
use crate::ports::{PasswordCheck, TotpCredential};
use crate::services::LoginOutcome;
use crate::services::LoginRequest;
use crate::services::test_support::{
    NOW, PortMocks, RANDOM_BYTES, STRONG_PASSWORD, allowed, principal_in, refused, request_context, session_of,
    verified_user,
};
use crate::session::Session;
use crate::totp::step_at;

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
        .into_service()
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
    let error = mocks.into_service().begin_totp_enrolment(&principal, None, &request_context()).await;

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
        .into_service()
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
        .into_service()
        .confirm_totp(&principal_in(&session_of(&verified_user())), &wrong, &request_context())
        .await;

    assert!(matches!(error, Err(ConfirmTotpError::InvalidCode)), "{error:?}");
}

#[tokio::test]
async fn a_right_password_of_an_account_with_mfa_gets_a_challenge_and_no_session() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let user_id = user.id;
    let found = user.clone();
    mocks.users.expect_find_by_email().returning(move |_| Ok(Some(found.clone())));
    mocks.hasher.expect_verify().returning(|_, _| Ok(PasswordCheck::Match { needs_rehash: false }));
    let fingerprint = password_fingerprint(&user);
    mocks
        .second_factors
        .expect_create_challenge()
        .withf(move |challenge| {
            challenge.user_id == user_id
                && challenge.password_fingerprint == fingerprint
                && challenge.expires_at == NOW + time::Duration::minutes(5)
                && challenge.hash == MfaToken::from_random_bytes(RANDOM_BYTES).hash()
        })
        .times(1)
        .returning(|_| Ok(()));
    mocks.sessions.expect_create().never();
    mocks.tokens.expect_sign().never();
    mocks.audit.expect_append().never();

    let request = LoginRequest { email: "ada@example.com".to_owned(), password: "right".to_owned() };
    let outcome = mocks.into_service().login(request, &request_context()).await.expect("the password is right");

    let LoginOutcome::MfaRequired(challenge) = outcome else { panic!("tokens without a second factor") };
    assert_eq!(challenge.expires_in, 300);
    assert_eq!(challenge.mfa_token, MfaToken::from_random_bytes(RANDOM_BYTES));
}

#[tokio::test]
async fn a_fresh_totp_code_completes_the_login_with_otp_in_amr() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge.clone()));
    expect_user(&mut mocks, user.clone());
    mocks.second_factors.expect_find_totp().returning(|_| Ok(Some(confirmed(Some(step_at(NOW) - 2)))));
    mocks
        .second_factors
        .expect_use_totp_step()
        .withf(|_, step| *step == step_at(NOW))
        .times(1)
        .returning(|_, _| Ok(true));
    let hash = challenge.hash.clone();
    mocks.second_factors.expect_consume_challenge().withf(move |used| *used == hash).times(1).returning(|_| Ok(true));
    mocks.expect_live_sessions(&user, vec![session_of(&user)]);
    mocks
        .sessions
        .expect_create()
        .withf(|session, _, _| session.amr == ["pwd", "otp"])
        .times(1)
        .returning(|_, _, _| Ok(crate::ports::SessionCreation::Created));
    mocks
        .tokens
        .expect_sign()
        .withf(|claims| claims.amr == ["pwd", "otp"])
        .times(1)
        .returning(|_| Ok(crate::tokens::AccessToken::new("signed".to_owned())));
    mocks.expect_audit(AuditEventKind::LoginSucceeded, 1);

    let pair = mocks
        .into_service()
        .complete_mfa_login(token.expose(), &current_code(), &request_context())
        .await
        .expect("the login completes");

    assert_eq!(pair.user.id, user.id);
}

#[tokio::test]
async fn a_code_whose_step_was_used_is_a_replay_and_is_refused() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge));
    expect_user(&mut mocks, user);
    // The current step was used already: its code, and every older one, are spent.
    mocks.second_factors.expect_find_totp().returning(|_| Ok(Some(confirmed(Some(step_at(NOW))))));
    mocks.second_factors.expect_use_totp_step().never();
    mocks.second_factors.expect_consume_challenge().never();
    mocks.sessions.expect_create().never();
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);

    let error = mocks.into_service().complete_mfa_login(token.expose(), &current_code(), &request_context()).await;

    assert!(matches!(error, Err(MfaLoginError::InvalidCode)), "{error:?}");
}

#[tokio::test]
async fn a_code_another_request_spent_first_is_refused() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge));
    expect_user(&mut mocks, user);
    mocks.second_factors.expect_find_totp().returning(|_| Ok(Some(confirmed(None))));
    mocks.second_factors.expect_use_totp_step().times(1).returning(|_, _| Ok(false));
    mocks.second_factors.expect_consume_challenge().never();
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);

    let error = mocks.into_service().complete_mfa_login(token.expose(), &current_code(), &request_context()).await;

    assert!(matches!(error, Err(MfaLoginError::InvalidCode)), "{error:?}");
}

#[tokio::test]
async fn a_recovery_code_completes_the_login_once() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge));
    expect_user(&mut mocks, user.clone());
    let code = RecoveryCode::from_random_bytes(&[5; 10]);
    let hash = code.hash();
    let mut first = true;
    mocks.second_factors.expect_use_recovery_code().withf(move |_, used, _| *used == hash).times(2).returning(
        move |_, _, _| {
            let fresh = first;
            first = false;
            Ok(fresh)
        },
    );
    mocks.second_factors.expect_remaining_recovery_codes().returning(|_| Ok(9));
    mocks.second_factors.expect_consume_challenge().times(1).returning(|_| Ok(true));
    mocks.expect_live_sessions(&user, vec![session_of(&user)]);
    mocks.sessions.expect_create().times(1).returning(|_, _, _| Ok(crate::ports::SessionCreation::Created));
    mocks.accept_signing();
    mocks
        .audit
        .expect_append()
        .withf(|event| event.kind == AuditEventKind::LoginSucceeded && event.detail["recovery_codes_remaining"] == 9)
        .times(1)
        .returning(|_| Ok(()));
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    let service = mocks.into_service();

    let typed = code.expose().to_uppercase();
    service.complete_mfa_login(token.expose(), &typed, &request_context()).await.expect("the first use completes");
    let again = service.complete_mfa_login(token.expose(), code.expose(), &request_context()).await;

    assert!(matches!(again, Err(MfaLoginError::InvalidCode)), "{again:?}");
}

#[tokio::test]
async fn an_unknown_or_expired_mfa_token_is_refused_before_any_code_is_checked() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    expect_challenge(&mut mocks, None);
    mocks.second_factors.expect_find_totp().never();
    mocks.second_factors.expect_use_recovery_code().never();

    let token = MfaToken::from_random_bytes([3; 32]);
    let error = mocks.into_service().complete_mfa_login(token.expose(), "123456", &request_context()).await;

    assert!(matches!(error, Err(MfaLoginError::InvalidMfaToken)), "{error:?}");
}

#[tokio::test]
async fn a_password_changed_since_the_challenge_voids_it() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge));
    expect_user(
        &mut mocks,
        User { password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$bmV3$new"), ..user },
    );
    mocks.second_factors.expect_find_totp().never();

    let error = mocks.into_service().complete_mfa_login(token.expose(), &current_code(), &request_context()).await;

    assert!(matches!(error, Err(MfaLoginError::InvalidMfaToken)), "{error:?}");
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_passwords_under_a_limit_of_their_own() {
    let mut mocks = PortMocks::new();
    mocks.rate_limiter.expect_hit().withf(|key, _| key.starts_with("mfa-fail:user:")).returning(|_, _| Ok(refused()));
    mocks.rate_limiter.expect_hit().returning(|_, limit| Ok(allowed(limit)));
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge));
    expect_user(&mut mocks, user);
    mocks.second_factors.expect_find_totp().never();
    mocks.second_factors.expect_use_totp_step().never();

    // Even with failed-password limits switched off (AUTH_RATE_LOGIN_EMAIL=off): codes have
    // a limit of their own.
    let service = mocks.into_service_with_policy(|policy| policy.rate_limits.login_failures_per_email = None);
    let error = service.complete_mfa_login(token.expose(), &current_code(), &request_context()).await;

    assert!(matches!(error, Err(MfaLoginError::RateLimited(_))), "{error:?}");
}

#[tokio::test]
async fn removal_takes_a_fresh_code_and_is_audited() {
    let mut mocks = PortMocks::new();
    expect_signed_in(&mut mocks, time::Duration::minutes(1));
    mocks.allow_every_rate_limit();
    expect_user(&mut mocks, user_with_mfa());
    mocks.second_factors.expect_find_totp().returning(|_| Ok(Some(confirmed(None))));
    mocks.second_factors.expect_use_totp_step().times(1).returning(|_, _| Ok(true));
    mocks.second_factors.expect_remove_totp().withf(|_, at| *at == NOW).times(1).returning(|_, _| Ok(true));
    mocks.expect_audit(AuditEventKind::MfaDisabled, 1);
    let principal = principal_in(&session_of(&verified_user()));

    mocks.into_service().remove_totp(&principal, &current_code(), None, &request_context()).await.expect("removed");
}

#[tokio::test]
async fn removal_with_a_wrong_code_removes_nothing() {
    let mut mocks = PortMocks::new();
    expect_signed_in(&mut mocks, time::Duration::minutes(1));
    mocks.allow_every_rate_limit();
    expect_user(&mut mocks, user_with_mfa());
    mocks.second_factors.expect_find_totp().times(1).returning(|_| Ok(Some(confirmed(None))));
    mocks.second_factors.expect_use_totp_step().never();
    mocks.second_factors.expect_remove_totp().never();
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    let principal = principal_in(&session_of(&verified_user()));
    // A well-formed code, half a million away from the right one.
    let wrong = format!("{:06}", (current_code().parse::<u32>().expect("digits") + 500_000) % 1_000_000);

    let error = mocks.into_service().remove_totp(&principal, &wrong, None, &request_context()).await;

    assert!(matches!(error, Err(RemoveTotpError::InvalidCode)), "{error:?}");
}

// Re-authentication for a change of the second factor

#[tokio::test]
async fn enrolment_with_a_stale_sign_in_and_no_password_needs_reauthentication() {
    let mut mocks = PortMocks::new();
    expect_user(&mut mocks, verified_user());
    expect_signed_in(&mut mocks, REAUTHENTICATION_WINDOW + time::Duration::seconds(1));
    mocks.second_factors.expect_begin_totp().never();

    let principal = principal_in(&session_of(&verified_user()));
    let error = mocks.into_service().begin_totp_enrolment(&principal, None, &request_context()).await;

    assert!(matches!(error, Err(EnrolTotpError::ReauthenticationRequired)), "{error:?}");
}

#[tokio::test]
async fn enrolment_with_a_stale_sign_in_and_a_wrong_password_is_refused_and_counted() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    expect_user(&mut mocks, verified_user());
    expect_signed_in(&mut mocks, time::Duration::days(1));
    mocks.hasher.expect_verify().times(1).returning(|_, _| Ok(PasswordCheck::Mismatch));
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    mocks.second_factors.expect_begin_totp().never();

    let principal = principal_in(&session_of(&verified_user()));
    let error = mocks.into_service().begin_totp_enrolment(&principal, Some("not it"), &request_context()).await;

    assert!(matches!(error, Err(EnrolTotpError::InvalidCredentials)), "{error:?}");
}

#[tokio::test]
async fn enrolment_with_a_stale_sign_in_and_the_password_starts() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    expect_user(&mut mocks, verified_user());
    expect_signed_in(&mut mocks, time::Duration::days(1));
    mocks.hasher.expect_verify().times(1).returning(|_, _| Ok(PasswordCheck::Match { needs_rehash: false }));
    mocks.second_factors.expect_begin_totp().times(1).returning(|_, _, _| Ok(true));

    let principal = principal_in(&session_of(&verified_user()));
    mocks
        .into_service()
        .begin_totp_enrolment(&principal, Some(STRONG_PASSWORD), &request_context())
        .await
        .expect("the password is a fresh proof");
}

#[tokio::test]
async fn removal_with_a_stale_sign_in_and_no_password_needs_reauthentication() {
    let mut mocks = PortMocks::new();
    expect_user(&mut mocks, user_with_mfa());
    expect_signed_in(&mut mocks, REAUTHENTICATION_WINDOW + time::Duration::seconds(1));
    mocks.second_factors.expect_remove_totp().never();

    let principal = principal_in(&session_of(&verified_user()));
    let error = mocks.into_service().remove_totp(&principal, &current_code(), None, &request_context()).await;

    assert!(matches!(error, Err(RemoveTotpError::ReauthenticationRequired)), "{error:?}");
}
