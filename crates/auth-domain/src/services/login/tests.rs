//! Unit tests of the login use cases, with every port mocked.

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::*;
use crate::password::PasswordHash;
use crate::rate_limit::RateDecision;
use crate::services::test_support::{
    CLIENT_IP, CLIENT_USER_AGENT, Captured, ISSUER, NOW, PortMocks, RANDOM_BYTES, SIGNED_ACCESS_TOKEN, allowed,
    queued_mail, refusal, refused, request_context, session_of, verified_user,
};
use crate::services::{FAILURE_STREAK, MAX_BACKOFF, backoff_after};
use crate::tokens::{AccessClaims, AccessToken, RefreshToken};
use crate::user::User;
use serde_json::json;

mod in_flight;
mod sign_in_notice;
mod throttling;

const PASSWORD: &str = "the password of ada";

/// The tokens of a login that needed no second factor.
trait Tokens {
    fn tokens(self) -> TokenPair;
}

impl Tokens for LoginOutcome {
    fn tokens(self) -> TokenPair {
        match self {
            LoginOutcome::Authenticated(pair) => pair,
            LoginOutcome::MfaRequired(_) => panic!("the login asked for a second factor"),
        }
    }
}
const IP_KEY: &str = "login:ip:203.0.113.7";
const FAILURE_KEY: &str = "login-fail:email:ada@example.com";

fn credentials(password: &str) -> LoginRequest {
    LoginRequest { email: " Ada@Example.com".to_owned(), password: password.to_owned() }
}

/// The back-off key of the address whose failure key is `failure_key`.
fn backoff_key_of(failure_key: &str) -> String {
    failure_key.replacen("login-fail:", "login-backoff:", 1)
}

/// Lets the attempt through the per-IP limit, and reserves it under the failed-attempts limit of
/// its email, counted before the password is checked; the failures since the last success are
/// few, so no back-off applies. A success may lift the back-off.
fn expect_limits_allow(mocks: &mut PortMocks, failure_key: &'static str) {
    mocks.rate_limiter.expect_hit().withf(|key, _| key == IP_KEY).times(1).returning(|_, limit| Ok(allowed(limit)));
    mocks
        .rate_limiter
        .expect_hit()
        .withf(move |key, _| key == failure_key)
        .times(1)
        .returning(|_, limit| Ok(allowed(limit)));
    let backoff_key = backoff_key_of(failure_key);
    mocks
        .rate_limiter
        .expect_peek()
        .withf(move |key, limit| key == backoff_key && *limit == FAILURE_STREAK)
        .times(1)
        .returning(|_, limit| Ok(allowed(limit)));
    mocks.rate_limiter.expect_claim_block().never();
    let backoff_key = backoff_key_of(failure_key);
    mocks.rate_limiter.expect_reset().withf(move |key| key == backoff_key).returning(|_| Ok(()));
}

/// The failure joins the streak the back-off counts; the reservation already counted it under
/// the limit.
fn expect_failure_counted(mocks: &mut PortMocks, failure_key: &'static str) {
    let backoff_key = backoff_key_of(failure_key);
    mocks
        .rate_limiter
        .expect_hit()
        .withf(move |key, limit| key == backoff_key && *limit == FAILURE_STREAK)
        .times(1)
        .returning(|_, limit| Ok(allowed(limit)));
    mocks.rate_limiter.expect_reset().never();
    mocks.rate_limiter.expect_undo().never();
}

fn expect_user_found(mocks: &mut PortMocks, user: User) {
    mocks
        .users
        .expect_find_by_email()
        .withf(|email| email.as_str() == "ada@example.com")
        .times(1)
        .returning(move |_| Ok(Some(user.clone())));
}

fn expect_password_checked(mocks: &mut PortMocks, outcome: PasswordCheck) {
    let stored_hash = verified_user().password_hash;
    mocks
        .hasher
        .expect_verify()
        .withf(move |password, hash| password.expose() == PASSWORD && *hash == stored_hash)
        .times(1)
        .returning(move |_, _| Ok(outcome));
}

fn expect_no_session(mocks: &mut PortMocks) {
    mocks.sessions.expect_create().never();
    mocks.tokens.expect_sign().never();
}

/// Lets a correct password for Ada's verified account through and keeps the sign-in notice the
/// session is created with.
fn expect_successful_login(mocks: &mut PortMocks) -> Captured<Option<QueuedMail>> {
    mocks.allow_every_rate_limit();
    expect_user_found(mocks, verified_user());
    expect_password_checked(mocks, PasswordCheck::Match { needs_rehash: false });
    let notice = Captured::new();
    let notice_by_mock = notice.clone();
    mocks.sessions.expect_create().times(1).returning(move |_, _, notice| {
        notice_by_mock.keep(notice);
        Ok(crate::ports::SessionCreation::Created)
    });
    mocks.accept_signing();
    mocks.expect_audit(AuditEventKind::LoginSucceeded, 1);
    notice
}

/// A live session of Ada's opened from `ip` with `user_agent`.
fn live_session_from(ip: &str, user_agent: &str) -> Session {
    Session {
        id: SessionId::from_uuid(Uuid::from_u128(0x5E01)),
        ip: Some(ip.to_owned()),
        user_agent: Some(user_agent.to_owned()),
        ..session_of(&verified_user())
    }
}

/// The "new sign-in" notice a login with [`request_context`] queues for Ada; the session took
/// the first generated id, the mail the second.
fn new_sign_in_notice() -> QueuedMail {
    queued_mail(
        1,
        Mail::NewSignIn {
            to: verified_user().email,
            ip: Some(CLIENT_IP.to_owned()),
            user_agent: Some(CLIENT_USER_AGENT.to_owned()),
            at: NOW,
        },
    )
}

#[tokio::test]
async fn a_successful_login_opens_a_session_and_signs_claims_for_it() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let user_id = user.id;
    expect_limits_allow(&mut mocks, FAILURE_KEY);
    mocks.rate_limiter.expect_reset().withf(|key| key == FAILURE_KEY).times(1).returning(|_| Ok(()));
    mocks.rate_limiter.expect_hit().withf(|key, _| key == FAILURE_KEY).never();
    expect_user_found(&mut mocks, user);
    expect_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: false });
    mocks.hasher.expect_hash().never();
    mocks.users.expect_update_password_hash().never();
    // Ada signs in again from the device of a live session: no notice, which other tests cover.
    mocks.expect_live_sessions(&verified_user(), vec![session_of(&verified_user())]);
    let created = Arc::new(Mutex::new(None::<Session>));
    let created_by_mock = Arc::clone(&created);
    let first_refresh_token = RefreshToken::from_random_bytes(RANDOM_BYTES);
    let first_hash = first_refresh_token.hash();
    mocks
        .sessions
        .expect_create()
        .withf(move |session, record, _| {
            record.session_id == session.id
                && record.hash == first_hash
                && record.issued_at == NOW
                && record.rotated_at.is_none()
        })
        .times(1)
        .returning(move |session, _, _| {
            *created_by_mock.lock().expect("no test thread panicked") = Some(session.clone());
            Ok(crate::ports::SessionCreation::Created)
        });
    let signed = Arc::new(Mutex::new(None::<AccessClaims>));
    let signed_by_mock = Arc::clone(&signed);
    mocks.tokens.expect_sign().times(1).returning(move |claims| {
        *signed_by_mock.lock().expect("no test thread panicked") = Some(claims.clone());
        Ok(AccessToken::new(SIGNED_ACCESS_TOKEN.to_owned()))
    });
    mocks
        .audit
        .expect_append()
        .withf(move |event| {
            event.kind == AuditEventKind::LoginSucceeded
                && event.user_id == Some(user_id)
                && event.session_id.is_some()
                && event.ip.as_deref() == Some(CLIENT_IP)
        })
        .times(1)
        .returning(|_| Ok(()));

    let pair = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect("the login succeeds")
        .tokens();

    let session = created.lock().expect("no test thread panicked").clone().expect("a session was created");
    assert_eq!(session.id, pair.session_id);
    assert_eq!(session.user_id, user_id);
    assert_eq!((session.created_at, session.last_used_at), (NOW, NOW));
    assert_eq!(session.expires_at, NOW + time::Duration::days(30));
    assert_eq!(session.idle_expires_at, NOW + time::Duration::days(7));
    assert_eq!(session.revoked_at, None);
    assert_eq!(session.ip, request_context().ip.map(|ip| ip.to_string()));
    assert_eq!(session.user_agent, request_context().user_agent);

    let claims = signed.lock().expect("no test thread panicked").clone().expect("claims were signed");
    assert_eq!(claims.sub, user_id);
    assert_eq!(claims.sid, pair.session_id);
    assert_eq!(claims.roles, ["reader"]);
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, "authd");
    assert_eq!(claims.exp, (NOW + time::Duration::minutes(15)).unix_timestamp());
    assert_eq!((claims.iat, claims.nbf), (NOW.unix_timestamp(), NOW.unix_timestamp()));
    assert_eq!(claims.amr, ["pwd"]);
    assert!(claims.email_verified);

    assert_eq!(pair.access_token.expose(), SIGNED_ACCESS_TOKEN);
    assert_eq!(pair.expires_in, 15 * 60);
    assert_eq!(pair.refresh_token.expose(), first_refresh_token.expose());
    assert_eq!(pair.refresh_expires_in, 7 * 24 * 3600, "the idle limit ends the session first");
    assert_eq!(pair.user.id, user_id);
}

#[tokio::test]
async fn a_wrong_password_is_refused_as_invalid_credentials_and_counted_against_the_email() {
    let mut mocks = PortMocks::new();
    let user_id = verified_user().id;
    expect_limits_allow(&mut mocks, FAILURE_KEY);
    expect_failure_counted(&mut mocks, FAILURE_KEY);
    expect_user_found(&mut mocks, verified_user());
    expect_password_checked(&mut mocks, PasswordCheck::Mismatch);
    expect_no_session(&mut mocks);
    mocks
        .audit
        .expect_append()
        .withf(move |event| {
            event.kind == AuditEventKind::LoginFailed
                && event.user_id == Some(user_id)
                && event.detail == json!({ "reason": "wrong_password" })
        })
        .times(1)
        .returning(|_| Ok(()));

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("refused");

    assert!(matches!(error, LoginError::InvalidCredentials), "got {error:?}");
}

#[tokio::test]
async fn an_unknown_email_costs_a_dummy_verification_and_is_refused_like_a_wrong_password() {
    let mut mocks = PortMocks::new();
    expect_limits_allow(&mut mocks, FAILURE_KEY);
    expect_failure_counted(&mut mocks, FAILURE_KEY);
    mocks.users.expect_find_by_email().times(1).returning(|_| Ok(None));
    mocks.hasher.expect_verify().never();
    mocks.hasher.expect_verify_dummy().withf(|password| password.expose() == PASSWORD).times(1).returning(|_| Ok(()));
    expect_no_session(&mut mocks);
    mocks
        .audit
        .expect_append()
        .withf(|event| {
            event.kind == AuditEventKind::LoginFailed
                && event.user_id.is_none()
                && event.detail == json!({ "reason": "unknown_email" })
        })
        .times(1)
        .returning(|_| Ok(()));

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("refused");

    assert!(matches!(error, LoginError::InvalidCredentials), "got {error:?}");
}

#[tokio::test]
async fn a_malformed_email_is_refused_like_an_unknown_one_and_counted_under_its_normalised_text() {
    let mut mocks = PortMocks::new();
    expect_limits_allow(&mut mocks, "login-fail:email:not an address");
    expect_failure_counted(&mut mocks, "login-fail:email:not an address");
    mocks.users.expect_find_by_email().never();
    mocks.hasher.expect_verify_dummy().times(1).returning(|_| Ok(()));
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    expect_no_session(&mut mocks);

    let request = LoginRequest { email: "  Not An Address ".to_owned(), password: PASSWORD.to_owned() };
    let error = mocks.into_service::<LoginService>().login(request, &request_context()).await.expect_err("refused");

    assert!(matches!(error, LoginError::InvalidCredentials), "got {error:?}");
}

#[tokio::test]
async fn an_unverified_account_is_told_so_only_after_a_correct_password() {
    let mut mocks = PortMocks::new();
    expect_limits_allow(&mut mocks, FAILURE_KEY);
    mocks.rate_limiter.expect_reset().returning(|_| Ok(()));
    mocks.rate_limiter.expect_hit().withf(|key, _| key == FAILURE_KEY).never();
    expect_user_found(&mut mocks, User { email_verified: false, ..verified_user() });
    expect_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: false });
    expect_no_session(&mut mocks);

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("refused");

    assert!(matches!(error, LoginError::EmailNotVerified), "got {error:?}");
}

#[tokio::test]
async fn a_disabled_account_is_told_so_only_after_a_correct_password() {
    let mut mocks = PortMocks::new();
    expect_limits_allow(&mut mocks, FAILURE_KEY);
    mocks.rate_limiter.expect_reset().returning(|_| Ok(()));
    mocks.rate_limiter.expect_hit().withf(|key, _| key == FAILURE_KEY).never();
    expect_user_found(&mut mocks, User { disabled: true, ..verified_user() });
    expect_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: false });
    expect_no_session(&mut mocks);

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("refused");

    assert!(matches!(error, LoginError::AccountDisabled), "got {error:?}");
}

#[tokio::test]
async fn a_wrong_password_for_an_unverified_or_disabled_account_reveals_nothing_about_it() {
    for user in [User { email_verified: false, ..verified_user() }, User { disabled: true, ..verified_user() }] {
        let mut mocks = PortMocks::new();
        expect_limits_allow(&mut mocks, FAILURE_KEY);
        expect_failure_counted(&mut mocks, FAILURE_KEY);
        expect_user_found(&mut mocks, user);
        expect_password_checked(&mut mocks, PasswordCheck::Mismatch);
        mocks.expect_audit(AuditEventKind::LoginFailed, 1);
        expect_no_session(&mut mocks);

        let error = mocks
            .into_service::<LoginService>()
            .login(credentials(PASSWORD), &request_context())
            .await
            .expect_err("refused");

        assert!(matches!(error, LoginError::InvalidCredentials), "got {error:?}");
    }
}
