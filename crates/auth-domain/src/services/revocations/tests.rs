//! Unit tests of the revocation cache's use cases: restored from the database before it is
//! believed, followed as the database moves.

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::*;
use crate::ports::RevokedSession;
use crate::services::test_support::{NOW, PortMocks};

fn session(n: u128) -> SessionId {
    SessionId::from_uuid(Uuid::from_u128(n))
}

/// The database's record: sessions revoked ten and one minutes ago.
fn expect_database_record(mocks: &mut PortMocks) {
    mocks.sessions.expect_revoked_since().returning(|_, _, _| {
        Ok(vec![
            RevokedSession { session_id: session(1), revoked_at: NOW - time::Duration::minutes(10) },
            RevokedSession { session_id: session(2), revoked_at: NOW - time::Duration::minutes(1) },
        ])
    });
}

#[tokio::test]
async fn an_incomplete_cache_is_restored_from_the_database_before_a_session_is_called_live() {
    let mut mocks = PortMocks::new();
    expect_database_record(&mut mocks);
    let restored = Arc::new(Mutex::new(Vec::new()));
    let restored_by_mock = Arc::clone(&restored);
    let cache = Arc::clone(&restored);
    mocks.revocations.expect_restore().times(1).returning(move |revoked| {
        restored_by_mock.lock().expect("no panic").extend_from_slice(revoked);
        Ok(())
    });
    // Incomplete until restored; then it answers from what was restored.
    mocks.revocations.expect_check_session().times(2).returning(move |session_id, _| {
        let marks = cache.lock().expect("no panic");
        if marks.is_empty() {
            return Ok(RevocationCheck::Incomplete);
        }
        Ok(if marks.iter().any(|(id, _)| *id == session_id) { RevocationCheck::Revoked } else { RevocationCheck::Live })
    });
    let service = mocks.into_service::<RevocationService>();

    assert!(service.is_session_revoked(session(2)).await.expect("answered"), "a revoked session stays revoked");
    let restored = restored.lock().expect("no panic").clone();
    let ttl = service.policy.access_ttl;
    assert_eq!(
        restored,
        [
            (session(1), NOW - time::Duration::minutes(10) + ttl + time::Duration::minutes(1)),
            (session(2), NOW - time::Duration::minutes(1) + ttl + time::Duration::minutes(1)),
        ],
        "each mark lasts as long as the session's last access token can"
    );
}

#[tokio::test]
async fn a_cache_that_cannot_be_completed_refuses_rather_than_calls_a_session_live() {
    let mut mocks = PortMocks::new();
    expect_database_record(&mut mocks);
    mocks.revocations.expect_restore().times(1).returning(|_| Ok(()));
    mocks.revocations.expect_check_session().times(2).returning(|_, _| Ok(RevocationCheck::Incomplete));

    let error =
        mocks.into_service::<RevocationService>().is_session_revoked(session(3)).await.expect_err("fail closed");

    assert!(matches!(error, InfrastructureError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_database_that_cannot_be_read_leaves_the_cache_incomplete_and_the_token_refused() {
    let mut mocks = PortMocks::new();
    mocks.sessions.expect_revoked_since().returning(|_, _, _| Err(InfrastructureError::unavailable("down")));
    mocks.revocations.expect_restore().never();
    mocks.revocations.expect_check_session().times(2).returning(|_, _| Ok(RevocationCheck::Incomplete));

    let error =
        mocks.into_service::<RevocationService>().is_session_revoked(session(3)).await.expect_err("fail closed");

    assert!(matches!(error, InfrastructureError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn following_copies_what_the_database_recorded_since_into_the_cache() {
    let mut mocks = PortMocks::new();
    expect_database_record(&mut mocks);
    let marked = Arc::new(Mutex::new(Vec::new()));
    let marked_by_mock = Arc::clone(&marked);
    mocks.revocations.expect_revoke_session().times(2).returning(move |session_id, _| {
        marked_by_mock.lock().expect("no panic").push(session_id);
        Ok(())
    });
    mocks.revocations.expect_restore().never();

    let next = mocks
        .into_service::<RevocationService>()
        .follow_revocations(FeedPosition::CaughtUp(NOW - time::Duration::minutes(20)))
        .await
        .expect("followed");

    assert_eq!(*marked.lock().expect("no panic"), [session(1), session(2)]);
    assert_eq!(next, FeedPosition::CaughtUp(NOW));
}
