//! The contract of `RateLimiter`: up to `max` events per key and window, then refusals until reset.
//!
//! The window is a minute, far longer than any contract takes, so no window ends mid-test.

use std::time::Duration;

use auth_domain::ports::RateLimiter;
use auth_domain::{RateDecision, RateLimit};

use crate::support::{RACE_ROUNDS, unique};

const WINDOW: Duration = Duration::from_secs(60);
const LIMIT: RateLimit = RateLimit::new(3, WINDOW);

async fn hit(limiter: &dyn RateLimiter, key: &str) -> RateDecision {
    limiter.hit(key, LIMIT).await.expect("the hit is counted")
}

async fn peek(limiter: &dyn RateLimiter, key: &str) -> RateDecision {
    limiter.peek(key, LIMIT).await.expect("the peek succeeds")
}

/// Hits `key` until its limit is used up, checking each decision on the way.
async fn use_up(limiter: &dyn RateLimiter, key: &str) {
    for used in 1..=LIMIT.max {
        let decision = hit(limiter, key).await;
        assert!(decision.allowed, "hit {used} of {} must be allowed: {decision:?}", LIMIT.max);
        assert_eq!((decision.limit, decision.remaining), (LIMIT.max, LIMIT.max - used), "after hit {used}");
    }
}

fn assert_refused(decision: RateDecision) {
    assert!(!decision.allowed, "the event must be refused: {decision:?}");
    assert_eq!((decision.limit, decision.remaining), (LIMIT.max, 0), "{decision:?}");
    assert!(decision.reset_after > Duration::ZERO, "a refusal says how long to wait: {decision:?}");
    // The honest wait for a window used up at its start is the rest of it and a third of the next
    // (3/60 s: 80 s), until the previous window's weight lets one more in; never past two windows,
    // when nothing counted is left.
    assert!(decision.reset_after <= WINDOW * 2, "no wait is longer than two windows: {decision:?}");
}

pub async fn hits_are_allowed_up_to_the_limit_then_refused(limiter: &dyn RateLimiter) {
    let key = unique("login");

    use_up(limiter, &key).await;

    assert_refused(hit(limiter, &key).await);
    assert_refused(hit(limiter, &key).await);
}

pub async fn peeking_does_not_count(limiter: &dyn RateLimiter) {
    let key = unique("login");

    for _ in 0..=LIMIT.max * 2 {
        let decision = peek(limiter, &key).await;
        assert!(decision.allowed, "nothing was counted yet: {decision:?}");
        assert_eq!((decision.limit, decision.remaining), (LIMIT.max, LIMIT.max), "{decision:?}");
    }
    use_up(limiter, &key).await;

    assert_refused(peek(limiter, &key).await);
}

pub async fn resetting_a_key_forgets_its_events(limiter: &dyn RateLimiter) {
    let key = unique("login");
    use_up(limiter, &key).await;
    assert_refused(hit(limiter, &key).await);

    limiter.reset(&key).await.expect("the reset succeeds");

    use_up(limiter, &key).await;
    assert_refused(hit(limiter, &key).await);
}

pub async fn keys_are_counted_independently(limiter: &dyn RateLimiter) {
    let exhausted = unique("login");
    let fresh = unique("login");
    use_up(limiter, &exhausted).await;

    use_up(limiter, &fresh).await;

    assert_refused(hit(limiter, &exhausted).await);
    assert_refused(hit(limiter, &fresh).await);

    limiter.reset(&exhausted).await.expect("the reset succeeds");
    assert!(hit(limiter, &exhausted).await.allowed);
    assert_refused(hit(limiter, &fresh).await);
}

pub async fn of_concurrent_hits_on_one_key_exactly_the_limit_are_allowed(limiter: &dyn RateLimiter) {
    for round in 0..RACE_ROUNDS {
        let key = unique("login");

        // Eight hits in flight at once: a limiter that reads, then writes in a second step lets
        // several of them see the same count.
        let (a, b, c, d) = tokio::join!(hit(limiter, &key), hit(limiter, &key), hit(limiter, &key), hit(limiter, &key));
        let (e, f, g, h) = tokio::join!(hit(limiter, &key), hit(limiter, &key), hit(limiter, &key), hit(limiter, &key));

        let decisions = [a, b, c, d, e, f, g, h];
        let mut remaining: Vec<u32> =
            decisions.iter().filter(|decision| decision.allowed).map(|decision| decision.remaining).collect();
        remaining.sort_unstable();
        assert_eq!(
            remaining,
            [0, 1, 2],
            "round {round}: exactly {} hits allowed, each its own count: {decisions:?}",
            LIMIT.max
        );
        for decision in decisions.into_iter().filter(|decision| !decision.allowed) {
            assert_refused(decision);
        }
    }
}

pub async fn events_are_forgotten_once_two_windows_have_passed(limiter: &dyn RateLimiter) {
    let short = RateLimit::new(3, Duration::from_millis(300));
    let key = unique("login");
    for used in 1..=short.max {
        let decision = limiter.hit(&key, short).await.expect("the hit is counted");
        assert!(decision.allowed, "hit {used} must be allowed: {decision:?}");
        assert_eq!(decision.remaining, short.max - used, "after hit {used}: {decision:?}");
    }

    // Past two whole windows, neither the current nor the previous window holds these events.
    tokio::time::sleep(short.window * 3).await;

    let decision = limiter.hit(&key, short).await.expect("the hit is counted");
    assert!(decision.allowed, "the old events no longer count: {decision:?}");
    assert_eq!(decision.remaining, short.max - 1, "only this hit counts: {decision:?}");
}

pub async fn a_block_lasts_its_duration_and_never_shortens(limiter: &dyn RateLimiter) {
    let key = unique("blocked");
    assert_eq!(limiter.blocked_for(&key).await.expect("the limiter answers"), None);

    limiter.block(&key, Duration::from_secs(60)).await.expect("blocked");
    limiter.block(&key, Duration::from_secs(5)).await.expect("blocked again, for less");

    let left = limiter.blocked_for(&key).await.expect("the limiter answers").expect("still blocked");
    assert!(left > Duration::from_secs(50) && left <= Duration::from_secs(60), "{left:?}");
    assert_eq!(limiter.blocked_for(&unique("other")).await.expect("the limiter answers"), None, "keys are independent");
}

pub async fn a_block_lapses_and_a_reset_lifts_it(limiter: &dyn RateLimiter) {
    let lapsing = unique("lapsing");
    limiter.block(&lapsing, Duration::from_millis(300)).await.expect("blocked");
    assert!(limiter.blocked_for(&lapsing).await.expect("the limiter answers").is_some());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(limiter.blocked_for(&lapsing).await.expect("the limiter answers"), None);

    let lifted = unique("lifted");
    limiter.block(&lifted, Duration::from_secs(60)).await.expect("blocked");
    limiter.reset(&lifted).await.expect("reset");
    assert_eq!(limiter.blocked_for(&lifted).await.expect("the limiter answers"), None);
}

/// A refusal names a wait in whole seconds (what `Retry-After` carries), and a hit made once it
/// has passed is allowed, even by a caller who kept knocking in between: refused hits are not
/// counted, so they cannot push the door further shut than the refusal said.
pub async fn a_hit_made_once_the_named_wait_has_passed_is_allowed(limiter: &dyn RateLimiter) {
    let limit = RateLimit::new(2, Duration::from_secs(2));
    let key = unique("retry");
    for used in 1..=limit.max {
        assert!(limiter.hit(&key, limit).await.expect("counted").allowed, "hit {used} is allowed");
    }
    let refused = limiter.hit(&key, limit).await.expect("decided");
    assert!(!refused.allowed, "{refused:?}");
    assert_eq!(refused.reset_after.subsec_nanos(), 0, "a wait in whole seconds: {refused:?}");
    assert!(refused.reset_after <= limit.window * 2, "{refused:?}");
    for _ in 0..3 {
        assert!(!limiter.hit(&key, limit).await.expect("decided").allowed, "still refused");
    }

    tokio::time::sleep(refused.reset_after).await;

    let decision = limiter.hit(&key, limit).await.expect("counted");
    assert!(decision.allowed, "waited {:?} as told: {decision:?}", refused.reset_after);
}

/// An undone hit frees its place for another; an undo with nothing counted changes nothing.
pub async fn an_undone_hit_frees_its_place(limiter: &dyn RateLimiter) {
    let key = unique("undo");
    limiter.undo(&key, LIMIT).await.expect("nothing to undo");
    use_up(limiter, &key).await;
    assert_refused(hit(limiter, &key).await);

    limiter.undo(&key, LIMIT).await.expect("undone");

    let decision = hit(limiter, &key).await;
    assert!(decision.allowed, "the undone place is free again: {decision:?}");
    assert_refused(hit(limiter, &key).await);
}

/// Of concurrent claims of one block exactly one places it; the others learn how long it lasts.
pub async fn of_concurrent_claims_of_a_block_exactly_one_places_it(limiter: &dyn RateLimiter) {
    for round in 0..RACE_ROUNDS {
        let key = unique("claim");
        let wait = Duration::from_secs(30);
        let claim = || limiter.claim_block(&key, wait);
        let (a, b, c, d) = tokio::join!(claim(), claim(), claim(), claim());
        let claims = [a, b, c, d].map(|claim| claim.expect("the limiter answers"));
        let placed = claims.iter().filter(|claim| claim.is_none()).count();
        assert_eq!(placed, 1, "round {round}: {claims:?}");
        for left in claims.iter().flatten() {
            assert!(*left > Duration::from_secs(25) && *left <= wait, "round {round}: {left:?}");
        }
        let left = limiter.blocked_for(&key).await.expect("the limiter answers").expect("blocked");
        assert!(left <= wait, "{left:?}");
    }
}

contract_tests! {
    backends: {
        in_memory => crate::backends::in_memory,
        redis => crate::backends::redis,
    },
    ports: |fixture| (&fixture.rate_limiter),
    tests: [
        hits_are_allowed_up_to_the_limit_then_refused,
        peeking_does_not_count,
        resetting_a_key_forgets_its_events,
        keys_are_counted_independently,
        of_concurrent_hits_on_one_key_exactly_the_limit_are_allowed,
        events_are_forgotten_once_two_windows_have_passed,
        a_block_lasts_its_duration_and_never_shortens,
        a_block_lapses_and_a_reset_lifts_it,
        a_hit_made_once_the_named_wait_has_passed_is_allowed,
        an_undone_hit_frees_its_place,
        of_concurrent_claims_of_a_block_exactly_one_places_it,
    ],
}
