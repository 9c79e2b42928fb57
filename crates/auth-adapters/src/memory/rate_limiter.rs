//! The in-process rate limiter: a sliding-window estimate per key, bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use auth_domain::ports::RateLimiter;
use auth_domain::{InfrastructureError, RateDecision, RateLimit};

use super::poisoned;

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

impl Window {
    fn new(now: Instant, limit: RateLimit) -> Self {
        Self { started: now, length: limit.window, current: 0, previous: 0 }
    }

    /// Moves the window to the one `now` falls in; returns how far into it `now` is.
    fn roll(&mut self, now: Instant, limit: RateLimit) -> Duration {
        self.length = limit.window;
        let elapsed = now.duration_since(self.started);
        if elapsed < limit.window {
            return elapsed;
        }
        let windows_passed = elapsed.as_nanos() / limit.window.as_nanos().max(1);
        self.previous = if windows_passed == 1 { self.current } else { 0 };
        self.current = 0;
        self.started += limit.window * u32::try_from(windows_passed).unwrap_or(u32::MAX);
        now.duration_since(self.started)
    }

    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.started) >= self.length * 2
    }
}

/// The sliding-window arithmetic, in whole nanoseconds so that a decision and the wait it names
/// agree exactly (the Redis script does the same in milliseconds).
///
/// The estimate of the events in the sliding window is `previous × (window − elapsed) / window +
/// current`; an event fits while the estimate with it is at most `max`.
struct Estimate {
    window: u128,
    left: u128,
    previous: u128,
    current: u128,
    max: u128,
}

impl Estimate {
    fn new(window: &Window, elapsed: Duration, limit: RateLimit) -> Self {
        let length = limit.window.as_nanos().max(1);
        Self {
            window: length,
            left: length - elapsed.as_nanos().min(length),
            previous: u128::from(window.previous),
            current: u128::from(window.current),
            max: u128::from(limit.max),
        }
    }

    fn fits(&self, current: u128) -> bool {
        self.previous * self.left + current * self.window <= self.max * self.window
    }

    fn remaining(&self) -> u32 {
        let used = (self.previous * self.left + self.current * self.window).div_ceil(self.window);
        u32::try_from(self.max.saturating_sub(used)).unwrap_or(u32::MAX)
    }

    /// The time until one more event fits: later in this window, as the previous one's weight
    /// fades, or in the next, once this window's count is itself the fading one.
    fn wait_for_one_more(&self) -> u128 {
        if self.current < self.max && self.previous > 0 {
            let fading = (self.max - self.current - 1) * self.window / self.previous;
            return self.left.saturating_sub(fading);
        }
        let into_next = match self.max.checked_sub(1) {
            Some(spare) if self.current > 0 => self.window - (spare * self.window / self.current).min(self.window),
            // Nothing ever fits a limit of zero; two windows from now no count is left at all.
            _ => self.window,
        };
        self.left + into_next
    }
}

/// A wait rounded up to whole seconds, as `Retry-After` carries it: a caller that waits it
/// finds what it waited for. At least a second.
fn whole_seconds(nanos: u128) -> Duration {
    let seconds = nanos.div_ceil(1_000_000_000).max(1);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(u64::MAX))
}

/// A limiter key as held in memory: a digest, so that every entry has the same small size
/// however long the text it was made of (a malformed email may be kilobytes), and no email or
/// address sits in memory.
type KeyDigest = [u8; 16];

fn digest(key: &str) -> KeyDigest {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(key.as_bytes());
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&hash[..16]);
    digest
}

/// The counts of a limiter: one window per key, up to a cap, and past it one shared window per
/// limit that every further new key is counted under.
#[derive(Debug, Default)]
struct Counts {
    by_key: HashMap<KeyDigest, Window>,
    /// Keyed by the limit's count and window. Sharing a count errs towards refusing: a flood of
    /// fresh keys can only make new keys wait, never free a key whose count is already kept.
    overflow: HashMap<(u32, Duration), Window>,
}

impl Counts {
    /// The window `key` is counted in, making one when `create` allows (else `None` when it has
    /// none). Past `max_keys` keys, expired windows are swept out first; a new key that still
    /// finds no room goes to the overflow window of its limit.
    fn window(
        &mut self,
        key: KeyDigest,
        limit: RateLimit,
        now: Instant,
        max_keys: usize,
        create: bool,
    ) -> Option<&mut Window> {
        if !self.by_key.contains_key(&key) {
            if self.by_key.len() >= max_keys {
                self.by_key.retain(|_, window| !window.expired(now));
            }
            if self.by_key.len() >= max_keys {
                let overflow = self.overflow.entry((limit.max, limit.window));
                return if create { Some(overflow.or_insert_with(|| Window::new(now, limit))) } else { None };
            }
            if !create {
                return None;
            }
        }
        Some(self.by_key.entry(key).or_insert_with(|| Window::new(now, limit)))
    }
}

/// A sliding-window rate limiter in memory, bounded in size.
///
/// It keeps two fixed windows per key and weighs the previous one by how much of it still
/// overlaps the sliding window, which smooths the burst a plain fixed window allows at its edge.
/// It holds at most `max_keys` counts and `max_keys` blocks: see [`Counts`] and
/// [`InMemoryRateLimiter::block`] for what happens past that.
#[derive(Debug)]
pub struct InMemoryRateLimiter {
    windows: Mutex<Counts>,
    blocked_until: Mutex<HashMap<KeyDigest, Instant>>,
    max_keys: usize,
}

impl Default for InMemoryRateLimiter {
    fn default() -> Self {
        Self::with_max_keys(MAX_RATE_KEYS)
    }
}

/// The most keys the limiter holds, counts and blocks each: about 8 MB of each at most.
pub const MAX_RATE_KEYS: usize = 100_000;

impl InMemoryRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A limiter holding at most `max_keys` counts and `max_keys` blocks.
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self { windows: Mutex::default(), blocked_until: Mutex::default(), max_keys: max_keys.max(1) }
    }

    fn decide(&self, key: &str, limit: RateLimit, count: bool) -> Result<RateDecision, InfrastructureError> {
        let now = Instant::now();
        let mut counts = self.windows.lock().map_err(poisoned)?;
        let mut unseen = Window::new(now, limit);
        let window = match counts.window(digest(key), limit, now, self.max_keys, count) {
            Some(window) => window,
            // A peek at a key with no room to keep it: decided as if fresh.
            None => &mut unseen,
        };
        let elapsed = window.roll(now, limit);
        let mut estimate = Estimate::new(window, elapsed, limit);
        let allowed = estimate.fits(estimate.current + 1);
        // Only an allowed event is counted: a refusal then names a wait that holds however often
        // the caller knocks meanwhile, and the allowance still bounds what gets through.
        if count && allowed {
            window.current = window.current.saturating_add(1);
            estimate.current += 1;
        }
        let reset_after =
            if allowed { whole_seconds(estimate.left) } else { whole_seconds(estimate.wait_for_one_more()) };
        Ok(RateDecision {
            allowed,
            limit: limit.max,
            remaining: if allowed { estimate.remaining() } else { 0 },
            reset_after,
        })
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

    async fn undo(&self, key: &str, limit: RateLimit) -> Result<(), InfrastructureError> {
        let now = Instant::now();
        let mut counts = self.windows.lock().map_err(poisoned)?;
        if let Some(window) = counts.window(digest(key), limit, now, self.max_keys, false) {
            window.roll(now, limit);
            if window.current > 0 {
                window.current -= 1;
            } else {
                window.previous = window.previous.saturating_sub(1);
            }
        }
        Ok(())
    }

    async fn reset(&self, key: &str) -> Result<(), InfrastructureError> {
        let key = digest(key);
        self.windows.lock().map_err(poisoned)?.by_key.remove(&key);
        self.blocked_until.lock().map_err(poisoned)?.remove(&key);
        Ok(())
    }

    /// Past `max_keys` blocks, lapsed ones are swept out; if that frees no room, the block that
    /// ends first gives way, but only to one that ends later, so a flood of short blocks never
    /// lifts a longer one.
    async fn block(&self, key: &str, duration: Duration) -> Result<(), InfrastructureError> {
        let now = Instant::now();
        let mut blocks = self.blocked_until.lock().map_err(poisoned)?;
        place_block(&mut blocks, digest(key), now + duration, now, self.max_keys);
        Ok(())
    }

    async fn claim_block(&self, key: &str, duration: Duration) -> Result<Option<Duration>, InfrastructureError> {
        let now = Instant::now();
        let key = digest(key);
        let mut blocks = self.blocked_until.lock().map_err(poisoned)?;
        if let Some(left) =
            blocks.get(&key).and_then(|until| until.checked_duration_since(now)).filter(|left| !left.is_zero())
        {
            return Ok(Some(left));
        }
        place_block(&mut blocks, key, now + duration, now, self.max_keys);
        Ok(None)
    }

    async fn blocked_for(&self, key: &str) -> Result<Option<Duration>, InfrastructureError> {
        let now = Instant::now();
        let blocks = self.blocked_until.lock().map_err(poisoned)?;
        Ok(blocks.get(&digest(key)).and_then(|until| until.checked_duration_since(now)).filter(|left| !left.is_zero()))
    }
}

/// Blocks `key` until `until`, never shortening a block, within `max_keys` blocks.
fn place_block(
    blocks: &mut HashMap<KeyDigest, Instant>,
    key: KeyDigest,
    until: Instant,
    now: Instant,
    max_keys: usize,
) {
    if let Some(existing) = blocks.get_mut(&key) {
        *existing = (*existing).max(until);
        return;
    }
    if blocks.len() >= max_keys {
        blocks.retain(|_, until| *until > now);
    }
    if blocks.len() >= max_keys {
        let first_to_end = blocks.iter().min_by_key(|(_, until)| **until).map(|(key, until)| (*key, *until));
        match first_to_end {
            Some((weakest, ends)) if ends < until => {
                blocks.remove(&weakest);
            }
            // Every block held ends later than this one: this one is the one to give way.
            _ => return,
        }
    }
    blocks.insert(key, until);
}

#[cfg(test)]
mod tests {
    use super::super::SWEEP_THRESHOLD;
    use super::*;

    /// Sweeping for memory must not forget a long window because short ones were being counted:
    /// otherwise flooding one limit with fresh keys would reset every other.
    #[tokio::test]
    async fn a_sweep_keeps_the_counts_of_longer_windows() {
        let limiter = InMemoryRateLimiter::with_max_keys(SWEEP_THRESHOLD);
        let hourly = RateLimit::new(1, Duration::from_secs(3600));
        assert!(limiter.hit("register:ip:203.0.113.7", hourly).await.expect("counted").allowed);
        let fleeting = RateLimit::new(5, Duration::from_millis(1));
        for n in 0..SWEEP_THRESHOLD {
            limiter.hit(&format!("login:ip:10.0.{}.{}", n / 256, n % 256), fleeting).await.expect("counted");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        limiter.hit("login:ip:192.0.2.1", fleeting).await.expect("counted, sweeping first");

        assert!(limiter.windows.lock().expect("lock").by_key.len() < SWEEP_THRESHOLD, "the sweep ran");
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
            limiter
                .block(&format!("login-backoff:email:flood{n}@example.com"), Duration::from_secs(1))
                .await
                .expect("blocked");
        }

        assert!(limiter.windows.lock().expect("lock").by_key.len() <= 100, "the counts stay within the cap");
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
