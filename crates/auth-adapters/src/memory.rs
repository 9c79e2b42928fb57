//! The in-process revocation cache and rate limiter of the embedded mode: one node only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use auth_domain::ports::{RateLimiter, RevocationCheck, RevocationStore};
use auth_domain::{InfrastructureError, RateDecision, RateLimit, SessionId};
use time::OffsetDateTime;

/// Past this many entries, a write first sweeps out the expired ones, so memory stays bounded by
/// what is live.
const SWEEP_THRESHOLD: usize = 10_000;

/// Revoked sessions, kept in memory until their last access token has expired.
///
/// A process starts with an empty store, which says so ([`RevocationCheck::Incomplete`]) until
/// it is restored from the database: a restart never forgets a revocation.
#[derive(Debug, Default)]
pub struct InMemoryRevocationStore {
    revoked_until: RwLock<HashMap<SessionId, OffsetDateTime>>,
    complete: AtomicBool,
}

impl InMemoryRevocationStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn mark(revoked: &mut HashMap<SessionId, OffsetDateTime>, session_id: SessionId, until: OffsetDateTime) {
        let entry = revoked.entry(session_id).or_insert(until);
        *entry = (*entry).max(until);
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
        Self::mark(&mut revoked, session_id, until);
        Ok(())
    }

    async fn check_session(
        &self,
        session_id: SessionId,
        now: OffsetDateTime,
    ) -> Result<RevocationCheck, InfrastructureError> {
        let revoked = self.revoked_until.read().map_err(poisoned)?;
        if revoked.get(&session_id).is_some_and(|until| *until > now) {
            return Ok(RevocationCheck::Revoked);
        }
        // Read under the lock that `restore` holds while it sets the flag: never complete
        // before the restored marks are in.
        if self.complete.load(Ordering::Acquire) {
            Ok(RevocationCheck::Live)
        } else {
            Ok(RevocationCheck::Incomplete)
        }
    }

    async fn restore(&self, revoked: &[(SessionId, OffsetDateTime)]) -> Result<(), InfrastructureError> {
        let mut marks = self.revoked_until.write().map_err(poisoned)?;
        for (session_id, until) in revoked {
            Self::mark(&mut marks, *session_id, *until);
        }
        self.complete.store(true, Ordering::Release);
        Ok(())
    }

    async fn forget_expired(&self, now: OffsetDateTime) -> Result<(), InfrastructureError> {
        self.revoked_until.write().map_err(poisoned)?.retain(|_, until| *until > now);
        Ok(())
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
#[derive(Debug, Default)]
pub struct InMemoryRateLimiter {
    windows: Mutex<HashMap<String, Window>>,
    blocked_until: Mutex<HashMap<String, Instant>>,
}

impl InMemoryRateLimiter {
    pub fn new() -> Self {
        Self::default()
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
}
