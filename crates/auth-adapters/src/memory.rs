//! The in-process revocation store and rate limiter of the embedded mode: one node only.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use auth_domain::ports::{RateLimiter, RevocationStore};
use auth_domain::{InfrastructureError, RateDecision, RateLimit, SessionId, UserId};
use time::OffsetDateTime;

/// Past this many entries, a write first sweeps out the expired ones, so memory stays bounded by
/// what is live.
const SWEEP_THRESHOLD: usize = 10_000;

/// Revoked sessions and users, kept in memory until their last access token has expired.
#[derive(Debug, Default)]
pub struct InMemoryRevocationStore {
    revoked_until: RwLock<HashMap<SessionId, OffsetDateTime>>,
    /// Per user: tokens issued at or before this second are revoked, until the instant.
    users_revoked: RwLock<HashMap<UserId, UserMark>>,
}

#[derive(Debug, Clone, Copy)]
struct UserMark {
    issued_before: i64,
    until: OffsetDateTime,
}

impl InMemoryRevocationStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned<T>(_: T) -> InfrastructureError {
    InfrastructureError::unexpected("an in-process store lock was poisoned by a panic")
}

#[async_trait]
impl RevocationStore for InMemoryRevocationStore {
    async fn revoke_session(&self, session_id: SessionId, until: OffsetDateTime) -> Result<(), InfrastructureError> {
        let mut revoked = self.revoked_until.write().map_err(poisoned)?;
        if revoked.len() >= SWEEP_THRESHOLD {
            let now = OffsetDateTime::now_utc();
            revoked.retain(|_, until| *until > now);
        }
        let entry = revoked.entry(session_id).or_insert(until);
        *entry = (*entry).max(until);
        Ok(())
    }

    async fn is_session_revoked(&self, session_id: SessionId) -> Result<bool, InfrastructureError> {
        let revoked = self.revoked_until.read().map_err(poisoned)?;
        Ok(revoked.get(&session_id).is_some_and(|until| *until > OffsetDateTime::now_utc()))
    }

    async fn revoke_user_tokens(
        &self,
        user_id: UserId,
        issued_before: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(), InfrastructureError> {
        let now = OffsetDateTime::now_utc();
        if until <= now {
            return Ok(());
        }
        let mut marks = self.users_revoked.write().map_err(poisoned)?;
        if marks.len() >= SWEEP_THRESHOLD {
            marks.retain(|_, mark| mark.until > now);
        }
        let mark = UserMark { issued_before: issued_before.unix_timestamp(), until };
        let entry = marks.entry(user_id).or_insert(mark);
        if entry.until <= now {
            *entry = mark;
        }
        entry.issued_before = entry.issued_before.max(mark.issued_before);
        entry.until = entry.until.max(mark.until);
        Ok(())
    }

    async fn is_token_revoked(
        &self,
        session_id: SessionId,
        user_id: UserId,
        issued_at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError> {
        if self.is_session_revoked(session_id).await? {
            return Ok(true);
        }
        let marks = self.users_revoked.read().map_err(poisoned)?;
        Ok(marks.get(&user_id).is_some_and(|mark| {
            mark.until > OffsetDateTime::now_utc() && issued_at.unix_timestamp() < mark.issued_before
        }))
    }
}

/// Counts of the current and the previous window of one key.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    /// The window length of the limit this key is counted under: keys of one limiter serve
    /// limits of different lengths, and each is swept by its own.
    length: Duration,
    current: u32,
    previous: u32,
}

/// A sliding-window rate limiter in memory.
///
/// It keeps two fixed windows per key and weighs the previous one by how much of it still
/// overlaps the sliding window, which smooths the burst a plain fixed window allows at its edge.
#[derive(Debug)]
pub struct InMemoryRateLimiter {
    windows: Mutex<HashMap<String, Window>>,
    blocked_until: Mutex<HashMap<String, Instant>>,
    max_keys: usize,
}

impl Default for InMemoryRateLimiter {
    fn default() -> Self {
        Self::with_max_keys(MAX_RATE_KEYS)
    }
}

/// The most keys the limiter holds, counts and blocks each.
pub const MAX_RATE_KEYS: usize = 100_000;

impl InMemoryRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A limiter holding at most `max_keys` counts and `max_keys` blocks.
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self { windows: Mutex::default(), blocked_until: Mutex::default(), max_keys }
    }

    fn decide(&self, key: &str, limit: RateLimit, count: bool) -> Result<RateDecision, InfrastructureError> {
        let now = Instant::now();
        let mut windows = self.windows.lock().map_err(poisoned)?;
        if windows.len() >= SWEEP_THRESHOLD {
            windows.retain(|_, window| now.duration_since(window.started) < window.length * 2);
        }
        let window = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            length: limit.window,
            current: 0,
            previous: 0,
        });
        window.length = limit.window;
        let mut elapsed = now.duration_since(window.started);
        if elapsed >= limit.window {
            let windows_passed = elapsed.as_nanos() / limit.window.as_nanos().max(1);
            window.previous = if windows_passed == 1 { window.current } else { 0 };
            window.current = 0;
            window.started += limit.window * u32::try_from(windows_passed).unwrap_or(u32::MAX);
            elapsed = now.duration_since(window.started);
        }
        let overlap = 1.0 - elapsed.as_secs_f64() / limit.window.as_secs_f64();
        let estimate = |current: u32| f64::from(window.previous) * overlap + f64::from(current);
        let allowed = estimate(window.current + 1) <= f64::from(limit.max);
        if count {
            window.current = window.current.saturating_add(1);
        }
        let used = estimate(window.current).ceil();
        let remaining = (f64::from(limit.max) - used).max(0.0) as u32;
        let reset_after = (limit.window - elapsed).max(Duration::from_secs(1));
        Ok(RateDecision { allowed, limit: limit.max, remaining: if allowed { remaining } else { 0 }, reset_after })
    }
}

#[async_trait]
impl RateLimiter for InMemoryRateLimiter {
    async fn hit(&self, key: &str, limit: RateLimit) -> Result<RateDecision, InfrastructureError> {
        self.decide(key, limit, true)
    }

    async fn peek(&self, key: &str, limit: RateLimit) -> Result<RateDecision, InfrastructureError> {
        self.decide(key, limit, false)
    }

    async fn reset(&self, key: &str) -> Result<(), InfrastructureError> {
        self.windows.lock().map_err(poisoned)?.remove(key);
        self.blocked_until.lock().map_err(poisoned)?.remove(key);
        Ok(())
    }

    async fn block(&self, key: &str, duration: Duration) -> Result<(), InfrastructureError> {
        let now = Instant::now();
        let mut blocks = self.blocked_until.lock().map_err(poisoned)?;
        if blocks.len() >= SWEEP_THRESHOLD {
            blocks.retain(|_, until| *until > now);
        }
        let until = now + duration;
        let entry = blocks.entry(key.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
        Ok(())
    }

    async fn blocked_for(&self, key: &str) -> Result<Option<Duration>, InfrastructureError> {
        let now = Instant::now();
        let blocks = self.blocked_until.lock().map_err(poisoned)?;
        Ok(blocks.get(key).and_then(|until| until.checked_duration_since(now)).filter(|left| !left.is_zero()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sweeping for memory must not forget a long window because short ones were being counted:
    /// otherwise flooding one limit with fresh keys would reset every other.
    #[tokio::test]
    async fn a_sweep_keeps_the_counts_of_longer_windows() {
        let limiter = InMemoryRateLimiter::new();
        let hourly = RateLimit::new(1, Duration::from_secs(3600));
        assert!(limiter.hit("register:ip:203.0.113.7", hourly).await.expect("counted").allowed);
        let fleeting = RateLimit::new(5, Duration::from_millis(1));
        for n in 0..SWEEP_THRESHOLD {
            limiter.hit(&format!("login:ip:10.0.{}.{}", n / 256, n % 256), fleeting).await.expect("counted");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        limiter.hit("login:ip:192.0.2.1", fleeting).await.expect("counted, sweeping first");

        assert!(limiter.windows.lock().expect("lock").len() < SWEEP_THRESHOLD, "the sweep ran");
        assert!(
            !limiter.hit("register:ip:203.0.113.7", hourly).await.expect("counted").allowed,
            "the hour is remembered"
        );
    }

    /// Fresh keys cost an attacker nothing (any email, any address): a flood of them must neither
    /// grow memory without bound nor push out the count the attacker has already run up.
    #[tokio::test]
    async fn a_flood_of_fresh_keys_neither_grows_the_limiter_past_its_cap_nor_resets_a_count() {
        let limiter = InMemoryRateLimiter::with_max_keys(100);
        let hourly = RateLimit::new(3, Duration::from_secs(3600));
        for _ in 0..hourly.max {
            assert!(limiter.hit("login-fail:email:victim@example.com", hourly).await.expect("counted").allowed);
        }
        limiter.block("login-backoff:email:victim@example.com", Duration::from_secs(600)).await.expect("blocked");

        for n in 0..1_000 {
            limiter.hit(&format!("login-fail:email:flood{n}@example.com"), hourly).await.expect("counted");
            limiter.block(&format!("login-backoff:email:flood{n}@example.com"), Duration::from_secs(1)).await.expect("blocked");
        }

        assert!(limiter.windows.lock().expect("lock").len() <= 100, "the counts stay within the cap");
        assert!(limiter.blocked_until.lock().expect("lock").len() <= 100, "the blocks stay within the cap");
        assert!(
            !limiter.hit("login-fail:email:victim@example.com", hourly).await.expect("decided").allowed,
            "the victim's count survived the flood"
        );
        assert!(
            limiter.blocked_for("login-backoff:email:victim@example.com").await.expect("answered").is_some(),
            "the longer block survived the flood"
        );
    }
}
