//! The revocation feed: a revoked session is refused within `max_staleness`; a feed that cannot be
//! reached for longer fails closed (or open, when asked); the cursor is followed.
//!
//! The bounds are asserted as invariants that hold however slow the machine is: a verification
//! that *starts* more than `max_staleness` after the revocation (or the outage) may never succeed.
//! Only "eventually" waits on the clock, with a generous deadline.

use std::time::{Duration, Instant};

use auth_verifier::{RevocationFeed, Uuid, VerifyError};

use crate::support::{DEADLINE, FakeAuth, TestKey, claims_for, eventually, now};

/// The smallest bound the builder accepts: polls every 250 ms.
const MAX_STALENESS: Duration = Duration::from_millis(500);

#[tokio::test]
async fn a_revoked_session_is_refused_within_max_staleness() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let verifier = auth.builder_with_feed(MAX_STALENESS).build().await.expect("the verifier builds");
    let (revoked_sid, other_sid) = (Uuid::new_v4(), Uuid::new_v4());
    let token = key.sign(&claims_for(revoked_sid));
    let other = key.sign(&claims_for(other_sid));
    eventually("the token verifies", || async { verifier.verify(&token).await.ok() }).await;

    auth.revoke(revoked_sid, now() + 900);
    let revoked_at = Instant::now();
    let deadline = revoked_at + DEADLINE;
    loop {
        let started = Instant::now();
        let outcome = verifier.verify(&token).await;
        if started > revoked_at + MAX_STALENESS {
            assert!(outcome.is_err(), "accepted {:?} after the revocation", started - revoked_at);
        }
        if outcome == Err(VerifyError::Revoked) {
            break;
        }
        assert!(Instant::now() < deadline, "the revocation was never applied (last: {outcome:?})");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eventually("other sessions still verify", || async { verifier.verify(&other).await.ok() }).await;

    let cursors = auth.cursors_received();
    assert_eq!(cursors.first(), Some(&None), "the first poll asks for everything");
    assert!(cursors.iter().skip(1).all(Option::is_some), "later polls follow the cursor: {cursors:?}");
}

#[tokio::test]
async fn a_cursor_the_server_no_longer_knows_restarts_from_the_full_list() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let verifier = auth.builder_with_feed(MAX_STALENESS).build().await.expect("the verifier builds");
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    auth.revoke(first, now() + 900);
    let first_token = key.sign(&claims_for(first));
    eventually("the first revocation arrives", || async {
        (verifier.verify(&first_token).await == Err(VerifyError::Revoked)).then_some(())
    })
    .await;

    auth.reset_feed();
    let polls_before = auth.cursors_received().len();
    eventually("the verifier asks for the full list again", || async {
        auth.cursors_received().iter().skip(polls_before).any(Option::is_none).then_some(())
    })
    .await;
    auth.revoke(second, now() + 900);
    let second_token = key.sign(&claims_for(second));
    eventually("a revocation after the reset arrives", || async {
        (verifier.verify(&second_token).await == Err(VerifyError::Revoked)).then_some(())
    })
    .await;
    assert_eq!(verifier.verify(&first_token).await, Err(VerifyError::Revoked), "what was learnt is kept");
    eventually("other tokens verify: the list is fresh", || async {
        verifier.verify(&key.sign(&claims_for(Uuid::new_v4()))).await.ok()
    })
    .await;
}

#[tokio::test]
async fn revocations_published_before_the_start_are_known_at_once() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    // More than one page of them (the fake feed pages by two): all are read before the list is
    // called fresh.
    let revoked: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    for sid in &revoked {
        auth.revoke(*sid, now() + 900);
    }
    let verifier = auth.builder_with_feed(Duration::from_secs(30)).build().await.expect("the verifier builds");
    for sid in revoked {
        assert_eq!(verifier.verify(&key.sign(&claims_for(sid))).await, Err(VerifyError::Revoked));
    }
    assert!(verifier.verify(&key.sign(&claims_for(Uuid::new_v4()))).await.is_ok());
}

#[tokio::test]
async fn a_feed_down_longer_than_max_staleness_fails_closed_until_it_answers_again() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let verifier = auth.builder_with_feed(MAX_STALENESS).build().await.expect("the verifier builds");
    let token = key.sign(&claims_for(Uuid::new_v4()));
    eventually("the token verifies", || async { verifier.verify(&token).await.ok() }).await;

    auth.set_feed_down(true);
    let down_at = Instant::now();
    let deadline = down_at + DEADLINE;
    loop {
        let started = Instant::now();
        let outcome = verifier.verify(&token).await;
        if started > down_at + MAX_STALENESS {
            assert_eq!(outcome, Err(VerifyError::RevocationFeedStale), "{:?} into the outage", started - down_at);
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!verifier.is_ready());
    assert!(VerifyError::RevocationFeedStale.is_unavailable());

    auth.set_feed_down(false);
    eventually("tokens verify once the feed answers", || async { verifier.verify(&token).await.ok() }).await;
    assert!(verifier.is_ready());
}

#[tokio::test]
async fn failing_open_accepts_tokens_while_the_feed_is_down_but_remembers_what_it_knew() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let verifier = auth
        .builder_with_feed(MAX_STALENESS)
        .fail_open_when_feed_stale(true)
        .build()
        .await
        .expect("the verifier builds");
    let revoked_sid = Uuid::new_v4();
    let revoked = key.sign(&claims_for(revoked_sid));
    let live = key.sign(&claims_for(Uuid::new_v4()));
    auth.revoke(revoked_sid, now() + 900);
    eventually("the revocation arrives", || async {
        (verifier.verify(&revoked).await == Err(VerifyError::Revoked)).then_some(())
    })
    .await;

    auth.set_feed_down(true);
    let requests = auth.feed_requests();
    eventually("polls fail for longer than the bound", || async {
        (auth.feed_requests() >= requests + 4).then_some(())
    })
    .await;
    assert!(!verifier.is_ready());
    assert!(verifier.verify(&live).await.is_ok());
    assert_eq!(verifier.verify(&revoked).await, Err(VerifyError::Revoked));
}

#[tokio::test]
async fn wrong_feed_credentials_leave_the_list_stale() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let verifier = auth
        .builder()
        .revocation_feed(RevocationFeed::at_base_url(&auth.base_url, "resource-server", "wrong-secret"))
        .max_staleness(MAX_STALENESS)
        .build()
        .await
        .expect("bad credentials do not prevent the start");
    assert_eq!(verifier.verify(&key.sign(&claims_for(Uuid::new_v4()))).await, Err(VerifyError::RevocationFeedStale));
    assert!(!format!("{verifier:?}").contains("wrong-secret"), "the secret never shows in Debug output");
}

#[tokio::test]
async fn without_a_feed_no_revocation_is_checked() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let sid = Uuid::new_v4();
    auth.revoke(sid, now() + 900);
    let verifier = auth.builder().build().await.expect("the verifier builds");
    assert!(verifier.verify(&key.sign(&claims_for(sid))).await.is_ok(), "documented: logout waits for expiry");
    assert_eq!(auth.feed_requests(), 0);
}
