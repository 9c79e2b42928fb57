//! The contract of `RevocationStore`: a session or a user revoked until an instant counts as
//! revoked until then; a user mark covers the tokens issued up to its second.

use auth_domain::ports::RevocationStore;
use auth_domain::{SessionId, UserId};
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

fn a_user_id() -> UserId {
    UserId::from_uuid(Uuid::new_v4())
}

/// Whether a token of a fresh (unrevoked) session of `user_id`, issued at `issued_at`, is revoked.
async fn is_users_token_revoked(store: &dyn RevocationStore, user_id: UserId, issued_at: time::OffsetDateTime) -> bool {
    store.is_token_revoked(a_session_id(), user_id, issued_at).await.expect("the lookup succeeds")
}

pub async fn a_user_mark_revokes_the_tokens_of_earlier_seconds_only(store: &dyn RevocationStore) {
    let user = a_user_id();
    let bystander = a_user_id();
    let mark = now();
    store.revoke_user_tokens(user, mark, mark + Duration::minutes(15)).await.expect("the mark is stored");

    assert!(is_users_token_revoked(store, user, mark - Duration::minutes(5)).await, "an older token");
    assert!(is_users_token_revoked(store, user, mark - Duration::seconds(1)).await, "a token of the second before");
    // The same second is the session marks' business: a login just after the mark must work.
    assert!(!is_users_token_revoked(store, user, mark).await, "a token of the same second");
    assert!(!is_users_token_revoked(store, user, mark + Duration::seconds(1)).await, "a token issued after");
    assert!(!is_users_token_revoked(store, bystander, mark - Duration::minutes(5)).await, "another user's token");
}

pub async fn a_session_mark_revokes_its_tokens_whoever_the_user(store: &dyn RevocationStore) {
    let session = a_session_id();
    store.revoke_session(session, now() + Duration::minutes(15)).await.expect("the revocation is stored");

    assert!(store.is_token_revoked(session, a_user_id(), now()).await.expect("the lookup succeeds"));
    assert!(!store.is_token_revoked(a_session_id(), a_user_id(), now()).await.expect("the lookup succeeds"));
}

pub async fn a_user_mark_only_moves_forward(store: &dyn RevocationStore) {
    let user = a_user_id();
    let later = now();
    let earlier = later - Duration::minutes(10);
    store.revoke_user_tokens(user, later, later + Duration::minutes(15)).await.expect("the mark is stored");
    // A slower replica's older logout arrives last: it must not lower the mark.
    store.revoke_user_tokens(user, earlier, earlier + Duration::minutes(15)).await.expect("the mark is stored");

    assert!(is_users_token_revoked(store, user, later - Duration::minutes(1)).await);
    assert!(!is_users_token_revoked(store, user, later).await);
}

pub async fn a_user_mark_that_has_lapsed_no_longer_counts(store: &dyn RevocationStore) {
    let user = a_user_id();
    let mark = now();
    store.revoke_user_tokens(user, mark, now() + Duration::try_from(SHORT).expect("short")).await.expect("stored");
    let older = mark - Duration::seconds(5);
    assert!(is_users_token_revoked(store, user, older).await);

    tokio::time::sleep(LAPSE_WAIT).await;

    assert!(!is_users_token_revoked(store, user, older).await);
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
        a_user_mark_revokes_the_tokens_of_earlier_seconds_only,
        a_session_mark_revokes_its_tokens_whoever_the_user,
        a_user_mark_only_moves_forward,
        a_user_mark_that_has_lapsed_no_longer_counts,
    ],
}
