//! The contract of `RevocationStore`: a session revoked until an instant counts as revoked until then.

use auth_domain::SessionId;
use auth_domain::ports::RevocationStore;
use time::Duration;
use uuid::Uuid;

use crate::support::now;

/// A revocation this short is still live when the test checks it at once, and has lapsed after
/// [`LAPSE_WAIT`]; the contracts that wait use it.
const SHORT: std::time::Duration = std::time::Duration::from_millis(500);
const LAPSE_WAIT: std::time::Duration = std::time::Duration::from_millis(1_000);

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

pub async fn a_revocation_counts_until_its_instant_and_not_after(store: &dyn RevocationStore) {
    let session_id = a_session_id();

    store.revoke_session(session_id, now() + SHORT).await.expect("the revocation is stored");
    assert!(is_revoked(store, session_id).await, "revoked until its instant");

    tokio::time::sleep(LAPSE_WAIT).await;
    assert!(!is_revoked(store, session_id).await, "no longer revoked once its instant has passed");
}

pub async fn a_later_revocation_extends_an_earlier_one_and_an_earlier_never_shortens_a_later(
    store: &dyn RevocationStore,
) {
    let extended = a_session_id();
    let not_shortened = a_session_id();

    store.revoke_session(extended, now() + SHORT).await.expect("the revocation is stored");
    store.revoke_session(extended, now() + Duration::minutes(15)).await.expect("the revocation is stored");
    store.revoke_session(not_shortened, now() + Duration::minutes(15)).await.expect("the revocation is stored");
    store.revoke_session(not_shortened, now() + SHORT).await.expect("the revocation is stored");
    tokio::time::sleep(LAPSE_WAIT).await;

    assert!(is_revoked(store, extended).await, "the later instant wins when it comes second");
    assert!(is_revoked(store, not_shortened).await, "the later instant wins when it came first");
}

contract_tests! {
    backends: {
        in_memory => crate::backends::in_memory,
        redis => crate::backends::redis,
    },
    ports: |fixture| (&fixture.revocations),
    tests: [
        an_unknown_session_is_not_revoked,
        a_session_revoked_until_a_later_instant_is_revoked,
        a_revocation_that_has_lapsed_no_longer_counts,
        a_revocation_counts_until_its_instant_and_not_after,
        a_later_revocation_extends_an_earlier_one_and_an_earlier_never_shortens_a_later,
    ],
}
