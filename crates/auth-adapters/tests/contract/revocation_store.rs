//! The contract of `RevocationStore`: a session revoked until an instant counts as revoked until then.

use auth_domain::SessionId;
use auth_domain::ports::RevocationStore;
use time::Duration;
use uuid::Uuid;

use crate::support::now;

fn a_session_id() -> SessionId {
    SessionId::from_uuid(Uuid::new_v4())
}

async fn is_revoked(store: &dyn RevocationStore, session_id: SessionId) -> bool {
    store.is_session_revoked(session_id).await.expect("the lookup succeeds")
}

pub async fn an_unknown_session_is_not_revoked(store: &dyn RevocationStore) {
    store.revoke_session(a_session_id(), now() + Duration::minutes(15)).await.expect("the revocation is stored");

    assert!(!is_revoked(store, a_session_id()).await);
}

pub async fn a_session_revoked_until_a_later_instant_is_revoked(store: &dyn RevocationStore) {
    let revoked = a_session_id();
    let bystander = a_session_id();

    store.revoke_session(revoked, now() + Duration::minutes(15)).await.expect("the revocation is stored");

    assert!(is_revoked(store, revoked).await);
    assert!(!is_revoked(store, bystander).await, "only the revoked session counts as revoked");
}

pub async fn a_revocation_that_has_lapsed_no_longer_counts(store: &dyn RevocationStore) {
    let session_id = a_session_id();

    store.revoke_session(session_id, now() - Duration::seconds(1)).await.expect("the revocation is stored");

    assert!(!is_revoked(store, session_id).await);
}

contract_tests! {
    backends: { in_memory => crate::backends::in_memory },
    ports: |fixture| (&fixture.revocations),
    tests: [
        an_unknown_session_is_not_revoked,
        a_session_revoked_until_a_later_instant_is_revoked,
        a_revocation_that_has_lapsed_no_longer_counts,
    ],
}
