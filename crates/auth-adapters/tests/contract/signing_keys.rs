//! The contract of `SigningKeyStore`: stored keys come back intact, unretired ones only, oldest first.
//!
//! The store holds every key of the deployment, so each contract looks only at the keys it stored
//! itself (their ids share a unique prefix): it holds on a store that other tests write to as well.

use auth_domain::ports::{SigningKeyStore, StoredSigningKey};
use time::{Duration, OffsetDateTime};

use crate::support::{now, unique};

/// A key created at `created_at` and signing from then on, with distinctive bytes.
fn a_key(kid: String, created_at: OffsetDateTime) -> StoredSigningKey {
    StoredSigningKey {
        public_key: format!("public part of {kid}").into_bytes(),
        // Not valid ciphertext; the store must keep the bytes as they are, zeros included.
        encrypted_private_key: [&[0_u8, 255, 0][..], kid.as_bytes()].concat(),
        algorithm: "EdDSA".to_owned(),
        kid,
        created_at,
        activates_at: created_at,
        retired_at: None,
    }
}

/// The active keys whose id starts with `prefix`, in the order the store listed them.
async fn active_keys_of_this_test(keys: &dyn SigningKeyStore, prefix: &str) -> Vec<StoredSigningKey> {
    let listed = keys.list_active().await.expect("the listing succeeds");
    listed.into_iter().filter(|key| key.kid.starts_with(prefix)).collect()
}

pub async fn an_inserted_key_is_listed_as_it_was_stored(keys: &dyn SigningKeyStore) {
    let prefix = unique("key");
    let key = StoredSigningKey {
        algorithm: "ES256".to_owned(),
        activates_at: now() + Duration::hours(1),
        ..a_key(format!("{prefix}-only"), now())
    };

    keys.insert(key.clone()).await.expect("a new key is stored");

    assert_eq!(active_keys_of_this_test(keys, &prefix).await, [key]);
}

pub async fn active_keys_are_listed_oldest_first(keys: &dyn SigningKeyStore) {
    let prefix = unique("key");
    let now = now();
    // Their ids sort in yet another order than their age or the order they are stored in.
    let oldest = a_key(format!("{prefix}-charlie"), now - Duration::days(60));
    let middle = a_key(format!("{prefix}-alpha"), now - Duration::days(30));
    let newest = a_key(format!("{prefix}-bravo"), now - Duration::days(1));

    for key in [&newest, &oldest, &middle] {
        keys.insert(key.clone()).await.expect("a new key is stored");
    }

    let kids = |list: Vec<StoredSigningKey>| list.into_iter().map(|key| key.kid).collect::<Vec<_>>();
    assert_eq!(kids(active_keys_of_this_test(keys, &prefix).await), kids(vec![oldest, middle, newest]));
}

pub async fn a_retired_key_is_not_listed(keys: &dyn SigningKeyStore) {
    let prefix = unique("key");
    let now = now();
    let retired = StoredSigningKey {
        retired_at: Some(now - Duration::days(1)),
        ..a_key(format!("{prefix}-retired"), now - Duration::days(90))
    };
    let current = a_key(format!("{prefix}-current"), now - Duration::days(30));

    keys.insert(retired).await.expect("a retired key is stored");
    keys.insert(current.clone()).await.expect("a new key is stored");

    assert_eq!(active_keys_of_this_test(keys, &prefix).await, [current]);
}

/// These two need a store of their own: "none active" is about the whole store. Every fixture is
/// fresh, so they hold as long as nothing else writes to it during the test.
pub async fn the_first_key_is_stored_only_while_none_is_active(keys: &dyn SigningKeyStore) {
    let prefix = unique("key");
    let first = a_key(format!("{prefix}-first"), now());
    let second = a_key(format!("{prefix}-second"), now());

    assert!(keys.insert_unless_newer(first.clone(), None).await.expect("the store answers"));
    assert!(!keys.insert_unless_newer(second, None).await.expect("the store answers"));

    assert_eq!(keys.list_active().await.expect("the listing succeeds"), [first]);
}

pub async fn of_concurrent_first_keys_exactly_one_is_stored(keys: &dyn SigningKeyStore) {
    let prefix = unique("key");
    let candidates: Vec<StoredSigningKey> = (0..4).map(|n| a_key(format!("{prefix}-{n}"), now())).collect();
    let outcomes =
        futures_util::future::join_all(candidates.iter().map(|key| keys.insert_unless_newer(key.clone(), None))).await;
    let stored: Vec<bool> = outcomes.into_iter().map(|outcome| outcome.expect("the store answers")).collect();
    assert_eq!(stored.iter().filter(|stored| **stored).count(), 1, "{stored:?}");
    assert_eq!(keys.list_active().await.expect("the listing succeeds").len(), 1);
}

pub async fn a_key_is_stored_unless_one_was_created_since(keys: &dyn SigningKeyStore) {
    let prefix = unique("key");
    let now = now();
    let old = a_key(format!("{prefix}-old"), now - Duration::days(40));
    keys.insert(old).await.expect("a key is stored");

    let due = a_key(format!("{prefix}-due"), now);
    assert!(keys.insert_unless_newer(due.clone(), Some(now - Duration::days(30))).await.expect("the store answers"));
    let late = a_key(format!("{prefix}-late"), now);
    assert!(!keys.insert_unless_newer(late, Some(now - Duration::days(30))).await.expect("the store answers"));

    assert_eq!(active_keys_of_this_test(keys, &prefix).await.len(), 2);
}

pub async fn a_retired_key_leaves_the_active_list_but_not_the_full_one(keys: &dyn SigningKeyStore) {
    let prefix = unique("key");
    let now = now();
    let previous = a_key(format!("{prefix}-previous"), now - Duration::days(30));
    let current = a_key(format!("{prefix}-current"), now - Duration::days(1));
    keys.insert(previous.clone()).await.expect("a key is stored");
    keys.insert(current.clone()).await.expect("a key is stored");

    assert!(keys.retire(&previous.kid, now).await.expect("the store answers"));
    assert!(!keys.retire(&previous.kid, now).await.expect("the store answers"), "retired once only");
    assert!(!keys.retire(&format!("{prefix}-unknown"), now).await.expect("the store answers"));

    assert_eq!(active_keys_of_this_test(keys, &prefix).await, std::slice::from_ref(&current));
    let all: Vec<StoredSigningKey> = keys
        .list_all()
        .await
        .expect("the listing succeeds")
        .into_iter()
        .filter(|key| key.kid.starts_with(&prefix))
        .collect();
    assert_eq!(all, [StoredSigningKey { retired_at: Some(now), ..previous }, current]);
}

contract_tests! {
    backends: {
        sqlite => crate::backends::sqlite,
        postgres => crate::backends::postgres,
    },
    ports: |fixture| (&fixture.signing_keys),
    tests: [
        an_inserted_key_is_listed_as_it_was_stored,
        active_keys_are_listed_oldest_first,
        a_retired_key_is_not_listed,
        the_first_key_is_stored_only_while_none_is_active,
        of_concurrent_first_keys_exactly_one_is_stored,
        a_key_is_stored_unless_one_was_created_since,
        a_retired_key_leaves_the_active_list_but_not_the_full_one,
    ],
}
