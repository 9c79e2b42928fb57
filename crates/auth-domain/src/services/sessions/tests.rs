//! Unit tests of the sessions use cases, with every port mocked.

use time::OffsetDateTime;
use uuid::Uuid;

use super::*;
use crate::ids::UserId;
use crate::services::test_support::{NOW, PortMocks, principal_in, request_context, session_of, verified_user};
use serde_json::json;

/// Another session of the same user, opened on another device.
fn other_session(current: &Session, n: u128) -> Session {
    Session {
        id: SessionId::from_uuid(Uuid::from_u128(0x5E00 + n)),
        created_at: NOW - time::Duration::days(3),
        ..current.clone()
    }
}

/// Whether `until` outlives every access token a session issued up to now, with 30 s of skew.
fn outlives_its_access_tokens(until: OffsetDateTime) -> bool {
    until >= NOW + time::Duration::minutes(15) + time::Duration::seconds(30)
}

fn expect_marked_revoked(mocks: &mut PortMocks, session_id: SessionId) {
    mocks
        .revocations
        .expect_revoke_session()
        .withf(move |id, until| *id == session_id && outlives_its_access_tokens(*until))
        .times(1)
        .returning(|_, _| Ok(()));
}

#[tokio::test]
async fn logging_out_revokes_the_session_in_the_repository_and_in_the_revocation_store() {
    let mut mocks = PortMocks::new();
    let principal = principal_in(&session_of(&verified_user()));
    let session_id = principal.session_id;
    mocks
        .sessions
        .expect_revoke()
        .withf(move |id, reason, at| *id == session_id && *reason == RevocationReason::Logout && *at == NOW)
        .times(1)
        .returning(|_, _, _| Ok(true));
    expect_marked_revoked(&mut mocks, session_id);
    mocks.expect_audit(AuditEventKind::Logout, 1);

    mocks.into_service::<SessionService>().logout(&principal, &request_context()).await.expect("logged out");
}

#[tokio::test]
async fn logging_out_everywhere_revokes_and_marks_every_session() {
    let mut mocks = PortMocks::new();
    let current = session_of(&verified_user());
    let principal = principal_in(&current);
    let user_id = principal.user_id;
    let revoked = vec![other_session(&current, 1), current.clone(), other_session(&current, 2)];
    for session in &revoked {
        expect_marked_revoked(&mut mocks, session.id);
    }
    mocks
        .sessions
        .expect_revoke_all_for_user()
        .withf(move |id, reason, at| *id == user_id && *reason == RevocationReason::LogoutAll && *at == NOW)
        .times(1)
        .returning(move |_, _, _| Ok(revoked.clone()));
    mocks
        .audit
        .expect_append()
        .withf(|event| event.kind == AuditEventKind::LogoutAll && event.detail == json!({ "sessions_revoked": 3 }))
        .times(1)
        .returning(|_| Ok(()));

    mocks
        .into_service::<SessionService>()
        .logout_all(&principal, &request_context())
        .await
        .expect("logged out everywhere");
}

#[tokio::test]
async fn logging_out_everywhere_marks_the_caller_and_the_user_even_when_every_session_was_revoked_already() {
    let mut mocks = PortMocks::new();
    let current = session_of(&verified_user());
    let principal = principal_in(&current);
    expect_marked_revoked(&mut mocks, current.id);
    mocks.sessions.expect_revoke_all_for_user().times(1).returning(|_, _, _| Ok(Vec::new()));
    mocks.expect_audit(AuditEventKind::LogoutAll, 1);

    mocks
        .into_service::<SessionService>()
        .logout_all(&principal, &request_context())
        .await
        .expect("logged out everywhere");
}

#[tokio::test]
async fn listing_sessions_marks_only_the_current_one_and_keeps_the_repository_order() {
    let mut mocks = PortMocks::new();
    let current = session_of(&verified_user());
    let principal = principal_in(&current);
    let user_id = principal.user_id;
    let newer = other_session(&current, 1);
    let older = other_session(&current, 2);
    let listed = vec![newer.clone(), current.clone(), older.clone()];
    mocks
        .sessions
        .expect_list_active_for_user()
        .withf(move |id, now| *id == user_id && *now == NOW)
        .times(1)
        .returning(move |_, _| Ok(listed.clone()));

    let views = mocks.into_service::<SessionService>().list_sessions(&principal).await.expect("listed");

    assert_eq!(
        views,
        [
            SessionView { session: newer, current: false },
            SessionView { session: current, current: true },
            SessionView { session: older, current: false },
        ]
    );
}

#[tokio::test]
async fn revoking_another_users_session_is_not_found_and_revokes_nothing() {
    let mut mocks = PortMocks::new();
    let principal = principal_in(&session_of(&verified_user()));
    let strangers_session = Session {
        id: SessionId::from_uuid(Uuid::from_u128(0xBAD)),
        user_id: UserId::from_uuid(Uuid::from_u128(0xB0B)),
        ..session_of(&verified_user())
    };
    let target = strangers_session.id;
    mocks.sessions.expect_find().withf(move |id| *id == target).returning(move |_| Ok(Some(strangers_session.clone())));
    mocks.sessions.expect_revoke().never();
    mocks.revocations.expect_revoke_session().never();
    mocks.audit.expect_append().never();

    let error = mocks
        .into_service::<SessionService>()
        .revoke_own_session(&principal, target, &request_context())
        .await
        .expect_err("not the caller's session");

    assert!(matches!(error, RevokeSessionError::NotFound), "got {error:?}");
}

#[tokio::test]
async fn revoking_an_unknown_or_dead_session_is_not_found() {
    let current = session_of(&verified_user());
    let revoked = Session { revoked_at: Some(NOW - time::Duration::hours(1)), ..other_session(&current, 1) };
    let expired = Session { idle_expires_at: NOW - time::Duration::seconds(1), ..other_session(&current, 2) };
    for stored in [None, Some(revoked), Some(expired)] {
        let mut mocks = PortMocks::new();
        mocks.sessions.expect_find().times(1).returning(move |_| Ok(stored.clone()));
        mocks.sessions.expect_revoke().never();
        mocks.revocations.expect_revoke_session().never();

        let error = mocks
            .into_service::<SessionService>()
            .revoke_own_session(&principal_in(&current), other_session(&current, 1).id, &request_context())
            .await
            .expect_err("no live session");

        assert!(matches!(error, RevokeSessionError::NotFound), "got {error:?}");
    }
}

#[tokio::test]
async fn revoking_ones_own_session_revokes_and_marks_it() {
    let mut mocks = PortMocks::new();
    let current = session_of(&verified_user());
    let principal = principal_in(&current);
    let other = other_session(&current, 1);
    let target = other.id;
    mocks.sessions.expect_find().withf(move |id| *id == target).returning(move |_| Ok(Some(other.clone())));
    mocks
        .sessions
        .expect_revoke()
        .withf(move |id, reason, at| *id == target && *reason == RevocationReason::RevokedByUser && *at == NOW)
        .times(1)
        .returning(|_, _, _| Ok(true));
    expect_marked_revoked(&mut mocks, target);
    mocks
        .audit
        .expect_append()
        .withf(move |event| event.kind == AuditEventKind::SessionRevoked && event.session_id == Some(target))
        .times(1)
        .returning(|_| Ok(()));

    mocks
        .into_service::<SessionService>()
        .revoke_own_session(&principal, target, &request_context())
        .await
        .expect("revoked");
}
