//! The key cache: an unknown `kid` refetches the JWKS, at most once per interval however many
//! tokens ask; the background refresh drops retired keys; an unreachable JWKS is not the token's
//! fault; the background tasks end with the verifier.

use std::time::{Duration, Instant};

use auth_verifier::VerifyError;
use serde_json::json;
use tokio::task::JoinSet;

use crate::support::{FakeAuth, TestKey, claims, eventually};

#[tokio::test]
async fn an_unknown_kid_causes_one_refetch_which_finds_a_newly_published_key() {
    let old = TestKey::generate("old");
    let auth = FakeAuth::start(&[&old]).await;
    let verifier = auth.builder().build().await.expect("the verifier builds");
    assert_eq!(auth.jwks_requests(), 1, "one fetch at start");
    assert!(verifier.verify(&old.sign(&claims())).await.is_ok());
    assert_eq!(auth.jwks_requests(), 1, "a known kid needs no fetch");

    let new = TestKey::generate("new");
    auth.publish(&[&old, &new]);
    assert!(verifier.verify(&new.sign(&claims())).await.is_ok(), "the rotated-in key is found");
    assert_eq!(auth.jwks_requests(), 2);
    assert!(verifier.verify(&new.sign(&claims())).await.is_ok());
    assert_eq!(auth.jwks_requests(), 2, "and kept");
}

#[tokio::test]
async fn a_flood_of_unknown_kids_refetches_at_most_once_per_interval() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    // The default interval (10 s) is far longer than this flood can take.
    let verifier = auth.builder().build().await.expect("the verifier builds");
    let mut flood = JoinSet::new();
    for n in 0..200 {
        let verifier = verifier.clone();
        let token = TestKey::generate(&format!("random-{n}")).sign(&claims());
        flood.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(outcome) = flood.join_next().await {
        assert_eq!(outcome.expect("no panic"), Err(VerifyError::UnknownKey));
    }
    assert_eq!(auth.jwks_requests(), 2, "one fetch at start, one refetch for the whole flood");
    assert!(verifier.verify(&key.sign(&claims())).await.is_ok(), "known keys still verify");

    // A shorter interval: refetches resume after it, and stay within one per interval.
    let auth = FakeAuth::start(&[&key]).await;
    let interval = Duration::from_millis(300);
    let verifier = auth.builder().min_jwks_refetch_interval(interval).build().await.expect("the verifier builds");
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        n += 1;
        let token = TestKey::generate(&format!("random-{n}")).sign(&claims());
        assert_eq!(verifier.verify(&token).await, Err(VerifyError::UnknownKey));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let refetches = auth.jwks_requests() - 1;
    let allowed = (elapsed.as_millis() / interval.as_millis()) as usize + 1;
    assert!(refetches >= 2, "refetching resumes after the interval ({refetches} in {elapsed:?})");
    assert!(refetches <= allowed, "{refetches} refetches in {elapsed:?} ({n} tokens), at most {allowed} allowed");
}

#[tokio::test]
async fn a_key_dropped_from_the_jwks_stops_verifying_after_the_background_refresh() {
    let retiring = TestKey::generate("retiring");
    let current = TestKey::generate("current");
    let auth = FakeAuth::start(&[&retiring, &current]).await;
    auth.set_jwks_max_age(0);
    let verifier = auth
        .builder()
        .jwks_refresh_bounds(Duration::from_millis(100), Duration::from_secs(3600))
        .build()
        .await
        .expect("the verifier builds");
    let token = retiring.sign(&claims());
    assert!(verifier.verify(&token).await.is_ok());

    // No token asks for anything: the refresh alone follows the JWKS.
    let before = auth.jwks_requests();
    eventually("the JWKS is refreshed in the background", || async {
        (auth.jwks_requests() >= before + 2).then_some(())
    })
    .await;

    auth.publish(&[&current]);
    eventually("the retired key is dropped", || async {
        (verifier.verify(&token).await == Err(VerifyError::UnknownKey)).then_some(())
    })
    .await;
    assert!(verifier.verify(&current.sign(&claims())).await.is_ok());
}

#[tokio::test]
async fn an_unreachable_jwks_is_reported_as_unavailable_until_it_answers() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    auth.set_jwks_down(true);
    let verifier = auth
        .builder()
        .min_jwks_refetch_interval(Duration::from_millis(100))
        .build()
        .await
        .expect("a JWKS that is down does not prevent the start");
    assert!(!verifier.is_ready());
    let token = key.sign(&claims());
    let refused = verifier.verify(&token).await.expect_err("no keys, no verification");
    assert_eq!(refused, VerifyError::KeysUnavailable);
    assert!(refused.is_unavailable());

    auth.set_jwks_down(false);
    eventually("the keys are fetched", || async { verifier.verify(&token).await.ok() }).await;
    assert!(verifier.is_ready());
}

#[tokio::test]
async fn odd_jwks_entries_are_skipped_without_losing_the_good_ones() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[]).await;
    auth.publish_raw(vec![
        json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"}),
        json!({"kty": "weird"}),
        json!(42),
        key.jwk(),
    ]);
    let verifier = auth.builder().build().await.expect("the verifier builds");
    assert!(verifier.verify(&key.sign(&claims())).await.is_ok());
}

#[tokio::test]
async fn the_background_tasks_end_when_the_last_handle_is_dropped() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    auth.set_jwks_max_age(0);
    let verifier = auth
        .builder()
        .jwks_refresh_bounds(Duration::from_millis(50), Duration::from_millis(50))
        .build()
        .await
        .expect("the verifier builds");
    let clone = verifier.clone();
    drop(verifier);
    let before = auth.jwks_requests();
    eventually("a clone keeps the refresh going", || async { (auth.jwks_requests() >= before + 2).then_some(()) })
        .await;

    drop(clone);
    // A fetch already under way may still land; after that, nothing. Alive, the task would fetch
    // six times in any of these windows.
    eventually("the fetches stop", || async {
        let before = auth.jwks_requests();
        tokio::time::sleep(Duration::from_millis(300)).await;
        (auth.jwks_requests() == before).then_some(())
    })
    .await;
}
