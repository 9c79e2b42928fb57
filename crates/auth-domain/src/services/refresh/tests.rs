//! Unit tests of the refresh use cases, with every port mocked.

use std::sync::{Arc, Mutex};

use super::*;
use crate::ports::MockClock;
use crate::services::test_support::{
    NOW, PortMocks, SIGNED_ACCESS_TOKEN, refresh_secret, refusal, refused, request_context, session_of, verified_user,
};
use crate::session::RefreshTokenRecord;
use crate::user::User;
use serde_json::json;

mod refused;

/// The refresh token the client presents in every test.
fn presented() -> RefreshToken {
    RefreshToken::from_random_bytes([3; 32])
}

/// What the first successful refresh of [`presented`] hands out.
fn expected_successor() -> RefreshToken {
    presented().successor(&refresh_secret())
}

fn record_of(session: &Session, rotated_at: Option<OffsetDateTime>) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: presented().hash(),
        session_id: session.id,
        issued_at: NOW - time::Duration::hours(1),
        rotated_at,
    }
}

fn expect_token_found(mocks: &mut PortMocks, session: &Session, record: RefreshTokenRecord) {
    let session = session.clone();
    mocks
        .sessions
        .expect_find_by_refresh_token()
        .withf(|hash| *hash == presented().hash())
        .times(1)
        .returning(move |_| Ok(Some((session.clone(), record.clone()))));
}

/// Lets the refresh limit through and finds `user` whenever asked.
fn expect_user_and_limits(mocks: &mut PortMocks, user: User) {
    mocks.allow_every_rate_limit();
    let user_id = user.id;
    mocks.users.expect_find_by_id().withf(move |id| *id == user_id).returning(move |_| Ok(Some(user.clone())));
}

fn expect_session_untouched(mocks: &mut PortMocks) {
    mocks.sessions.expect_revoke().never();
    mocks.revocations.expect_revoke_session().never();
}

fn expect_no_tokens(mocks: &mut PortMocks) {
    mocks.sessions.expect_rotate().never();
    mocks.tokens.expect_sign().never();
}

#[tokio::test]
async fn a_current_refresh_token_is_rotated_to_its_hmac_successor() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let session = session_of(&user);
    let session_id = session.id;
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    expect_user_and_limits(&mut mocks, user);
    mocks
        .sessions
        .expect_rotate()
        .withf(move |rotation| {
            *rotation
                == Rotation {
                    session_id,
                    parent: presented().hash(),
                    successor: expected_successor().hash(),
                    now: NOW,
                    idle_expires_at: NOW + time::Duration::days(7),
                }
        })
        .times(1)
        .returning(|_| Ok(RotationOutcome::Rotated));
    expect_session_untouched(&mut mocks);
    mocks.accept_signing();
    mocks.expect_audit(AuditEventKind::TokenRefreshed, 1);

    let pair = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect("refreshed");

    assert_eq!(pair.refresh_token.expose(), expected_successor().expose());
    assert_ne!(pair.refresh_token.expose(), presented().expose());
    assert_eq!(pair.access_token.expose(), SIGNED_ACCESS_TOKEN);
    assert_eq!(pair.session_id, session_id);
    assert_eq!(pair.refresh_expires_in, 7 * 24 * 3600, "the rotation moves the idle limit");
}

#[tokio::test]
async fn a_retry_inside_the_grace_window_gets_the_same_successor_as_the_first_call_without_revoking() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let session = session_of(&user);
    let first_call_at = NOW - time::Duration::seconds(5);
    // The clock reads a shared instant, so the retry can come five seconds after the first call.
    let current_time = Arc::new(Mutex::new(first_call_at));
    let clock_reading = Arc::clone(&current_time);
    mocks.clock = MockClock::new();
    mocks.clock.expect_now().returning(move || *clock_reading.lock().expect("no test thread panicked"));
    // The first call finds the token current; the retry finds it rotated by the first call.
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    expect_token_found(&mut mocks, &session, record_of(&session, Some(first_call_at)));
    expect_user_and_limits(&mut mocks, user);
    mocks.sessions.expect_rotate().times(1).returning(|_| Ok(RotationOutcome::Rotated));
    mocks
        .sessions
        .expect_rotate()
        .times(0..=1)
        .returning(move |_| Ok(RotationOutcome::AlreadyRotated { rotated_at: first_call_at }));
    let refreshed_session = Session {
        last_used_at: first_call_at,
        idle_expires_at: first_call_at + time::Duration::days(7),
        ..session.clone()
    };
    mocks.sessions.expect_find().returning(move |_| Ok(Some(refreshed_session.clone())));
    expect_session_untouched(&mut mocks);
    mocks.accept_signing();
    mocks.expect_audit(AuditEventKind::TokenRefreshed, 2);
    let service = mocks.into_service::<SessionService>();

    let first = service.refresh(presented().expose(), &request_context()).await.expect("the first call refreshes");
    *current_time.lock().expect("no test thread panicked") = NOW;
    let retry = service.refresh(presented().expose(), &request_context()).await.expect("the retry refreshes");

    assert_eq!(first.refresh_token.expose(), expected_successor().expose());
    assert_eq!(retry.refresh_token.expose(), first.refresh_token.expose());
    assert_eq!(retry.session_id, session.id);
}

#[tokio::test]
async fn a_refresh_token_reused_after_the_grace_window_revokes_the_session() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let user_id = user.id;
    let session = session_of(&user);
    let session_id = session.id;
    let rotated_at = NOW - time::Duration::seconds(11);
    expect_token_found(&mut mocks, &session, record_of(&session, Some(rotated_at)));
    expect_user_and_limits(&mut mocks, user);
    mocks.sessions.expect_rotate().times(0..=1).returning(move |_| Ok(RotationOutcome::AlreadyRotated { rotated_at }));
    mocks
        .sessions
        .expect_revoke()
        .withf(move |id, reason, at| *id == session_id && *reason == RevocationReason::RefreshTokenReuse && *at == NOW)
        .times(1)
        .returning(|_, _, _| Ok(true));
    // The mark must outlive every access token of the session, with the verifier's 30 s of skew.
    mocks
        .revocations
        .expect_revoke_session()
        .withf(move |id, until| {
            *id == session_id && *until >= NOW + time::Duration::minutes(15) + time::Duration::seconds(30)
        })
        .times(1)
        .returning(|_, _| Ok(()));
    mocks
        .audit
        .expect_append()
        .withf(move |event| {
            event.kind == AuditEventKind::RefreshTokenReuseDetected
                && event.user_id == Some(user_id)
                && event.session_id == Some(session_id)
                && event.detail == json!({ "seconds_since_rotation": 11 })
        })
        .times(1)
        .returning(|_| Ok(()));
    mocks.tokens.expect_sign().never();

    let error = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect_err("reuse");

    assert!(matches!(error, RefreshError::Reused), "got {error:?}");
}

#[tokio::test]
async fn a_rotation_lost_to_a_concurrent_refresh_inside_the_grace_window_succeeds_with_the_same_successor() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let session = session_of(&user);
    let rotated_at = NOW - time::Duration::seconds(1);
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    expect_user_and_limits(&mut mocks, user);
    mocks.sessions.expect_rotate().times(1).returning(move |_| Ok(RotationOutcome::AlreadyRotated { rotated_at }));
    // The winner moved the idle limit; the answer must be computed from the session as it is now.
    let moved_by_the_winner =
        Session { last_used_at: rotated_at, idle_expires_at: rotated_at + time::Duration::days(7), ..session.clone() };
    let session_id = session.id;
    mocks
        .sessions
        .expect_find()
        .withf(move |id| *id == session_id)
        .returning(move |_| Ok(Some(moved_by_the_winner.clone())));
    expect_session_untouched(&mut mocks);
    mocks.accept_signing();
    mocks.expect_audit(AuditEventKind::TokenRefreshed, 1);

    let pair = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect("refreshed");

    assert_eq!(pair.refresh_token.expose(), expected_successor().expose());
    assert_eq!(pair.refresh_expires_in, 7 * 24 * 3600 - 1);
}

#[tokio::test]
async fn a_rotation_lost_to_a_refresh_long_before_the_grace_window_is_reuse() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let session = session_of(&user);
    let session_id = session.id;
    let rotated_at = NOW - time::Duration::seconds(30);
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    expect_user_and_limits(&mut mocks, user);
    mocks.sessions.expect_rotate().times(1).returning(move |_| Ok(RotationOutcome::AlreadyRotated { rotated_at }));
    mocks.sessions.expect_revoke().withf(move |id, _, _| *id == session_id).times(1).returning(|_, _, _| Ok(true));
    mocks.revocations.expect_revoke_session().withf(move |id, _| *id == session_id).times(1).returning(|_, _| Ok(()));
    mocks.expect_audit(AuditEventKind::RefreshTokenReuseDetected, 1);
    mocks.tokens.expect_sign().never();

    let error = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect_err("reuse");

    assert!(matches!(error, RefreshError::Reused), "got {error:?}");
}
