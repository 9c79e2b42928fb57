//! The contract of `RevocationStore`: a session revoked until an instant counts as revoked until
//! then; the store says it is incomplete until it was restored, keeps marks written while it is
//! restored, and forgets lapsed marks.

use auth_domain::SessionId;
use auth_domain::ports::{RevocationCheck, RevocationStore};
use time::Duration;
use uuid::Uuid;

use crate::support::now;

/// A revocation this short is still live when the test checks it at once, and has lapsed after
/// [`LAPSE_WAIT`]; the contracts that wait use it. Marks may be kept to the whole second.
const SHORT: std::time::Duration = std::time::Duration::from_millis(500);
const LAPSE_WAIT: std::time::Duration = std::time::Duration::from_millis(2_100);

fn a_session_id() -> SessionId {
    SessionId::from_uuid(Uuid::new_v4())
}

/// Marks the store complete (an empty restore), as the server does at start.
async fn complete(store: &dyn RevocationStore) {
    store.restore(&[]).await.expect("the restore succeeds");
}

async fn is_revoked(store: &dyn RevocationStore, session_id: SessionId) -> bool {
    match store.check_session(session_id, now()).await.expect("the lookup succeeds") {
        RevocationCheck::Revoked => true,
        RevocationCheck::Live => false,
        RevocationCheck::Incomplete => panic!("the store was restored: it must be complete"),
    }
}

pub async fn an_unknown_session_is_not_revoked(store: &dyn RevocationStore) {
    complete(store).await;
    store.revoke_session(a_session_id(), now() + Duration::minutes(15)).await.expect("the revocation is stored");

    assert!(!is_revoked(store, a_session_id()).await);
}

pub async fn a_session_revoked_until_a_later_instant_is_revoked(store: &dyn RevocationStore) {
    complete(store).await;
    let revoked = a_session_id();
    let bystander = a_session_id();

    store.revoke_session(revoked, now() + Duration::minutes(15)).await.expect("the revocation is stored");

    assert!(is_revoked(store, revoked).await);
    assert!(!is_revoked(store, bystander).await, "only the revoked session counts as revoked");
}

pub async fn a_revocation_that_has_lapsed_no_longer_counts(store: &dyn RevocationStore) {
    complete(store).await;
    let session_id = a_session_id();

    store.revoke_session(session_id, now() - Duration::seconds(1)).await.expect("the revocation is stored");

    assert!(!is_revoked(store, session_id).await);
}

pub async fn a_revocation_counts_until_its_instant_and_not_after(store: &dyn RevocationStore) {
    complete(store).await;
    let session_id = a_session_id();

    store.revoke_session(session_id, now() + SHORT).await.expect("the revocation is stored");
    assert!(is_revoked(store, session_id).await, "revoked until its instant");

    tokio::time::sleep(LAPSE_WAIT).await;
    assert!(!is_revoked(store, session_id).await, "no longer revoked once its instant has passed");
}

pub async fn a_later_revocation_extends_an_earlier_one_and_an_earlier_never_shortens_a_later(
    store: &dyn RevocationStore,
) {
    complete(store).await;
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

pub async fn a_store_is_incomplete_until_restored_and_then_holds_what_was_restored(store: &dyn RevocationStore) {
    let (revoked, bystander) = (a_session_id(), a_session_id());
    assert_eq!(store.check_session(bystander, now()).await.expect("checked"), RevocationCheck::Incomplete);

    store.restore(&[(revoked, now() + Duration::minutes(15))]).await.expect("restored");

    assert!(is_revoked(store, revoked).await, "a restored mark counts");
    assert!(!is_revoked(store, bystander).await, "complete now: an unmarked session is live");
}

pub async fn a_revocation_alone_never_makes_a_store_complete(store: &dyn RevocationStore) {
    let (revoked, bystander) = (a_session_id(), a_session_id());

    store.revoke_session(revoked, now() + Duration::minutes(15)).await.expect("stored");

    assert_eq!(store.check_session(revoked, now()).await.expect("checked"), RevocationCheck::Revoked);
    assert_eq!(
        store.check_session(bystander, now()).await.expect("checked"),
        RevocationCheck::Incomplete,
        "one mark says nothing of the others"
    );
}

pub async fn a_restore_keeps_the_marks_written_before_it(store: &dyn RevocationStore) {
    // A revocation made after the restorer read the database, written before its restore.
    let (written_meanwhile, restored) = (a_session_id(), a_session_id());
    store.revoke_session(written_meanwhile, now() + Duration::minutes(15)).await.expect("stored");

    store.restore(&[(restored, now() + Duration::minutes(15))]).await.expect("restored");

    assert!(is_revoked(store, written_meanwhile).await, "a restore adds; it never replaces");
    assert!(is_revoked(store, restored).await);
}

pub async fn a_restore_never_shortens_a_mark(store: &dyn RevocationStore) {
    let session = a_session_id();
    store.revoke_session(session, now() + Duration::minutes(15)).await.expect("stored");

    store.restore(&[(session, now() + SHORT)]).await.expect("restored");
    tokio::time::sleep(LAPSE_WAIT).await;

    assert!(is_revoked(store, session).await, "the later instant wins");
}

pub async fn forgetting_expired_marks_keeps_the_live_ones_and_the_store_complete(store: &dyn RevocationStore) {
    complete(store).await;
    let (lapsing, live) = (a_session_id(), a_session_id());
    store.revoke_session(lapsing, now() + SHORT).await.expect("stored");
    store.revoke_session(live, now() + Duration::minutes(15)).await.expect("stored");
    tokio::time::sleep(LAPSE_WAIT).await;

    store.forget_expired(now()).await.expect("forgotten");

    assert!(!is_revoked(store, lapsing).await);
    assert!(is_revoked(store, live).await, "a live mark stays");
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
        a_store_is_incomplete_until_restored_and_then_holds_what_was_restored,
        a_revocation_alone_never_makes_a_store_complete,
        a_restore_keeps_the_marks_written_before_it,
        a_restore_never_shortens_a_mark,
        forgetting_expired_marks_keeps_the_live_ones_and_the_store_complete,
    ],
}
