//! The rate limiter on Redis: one Lua script per decision, on the shared connection.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use auth_domain::ports::RateLimiter;
use auth_domain::{InfrastructureError, RateDecision, RateLimit};
use redis::Script;

use super::RedisStore;

/// A sliding-window rate limiter on Redis, the same approximation as the in-process one.
///
/// Each key has one hash holding the counts of the current and the previous fixed window; the
/// previous window is weighed by how much of it still overlaps the sliding window. One Lua script
/// decides and counts in one round trip, atomically, on the Redis server's clock, so that
/// replicas with skewed clocks agree on where a window starts.
#[derive(Debug, Clone)]
pub struct RedisRateLimiter {
    store: RedisStore,
}

impl RedisRateLimiter {
    pub fn new(store: RedisStore) -> Self {
        Self { store }
    }

    /// The Redis key of a rate-limit key. The limit keys name email addresses and IPs; Redis holds
    /// only their SHA-256, so no personal data sits in the cache (nor in a `SCAN` or a dump).
    pub fn redis_key(prefix: &str, key: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest[..16].iter().map(|byte| format!("{byte:02x}")).collect();
        format!("{prefix}rate:{hex}")
    }

    fn key(&self, key: &str) -> String {
        Self::redis_key(self.store.prefix(), key)
    }

    /// The key of a block on `key`: the same digest, in its own namespace.
    fn block_key(&self, key: &str) -> String {
        Self::redis_key(self.store.prefix(), key).replacen("rate:", "block:", 1)
    }

    /// Runs the limiter script on `key` in `mode` (`hit`, `peek` or `undo`).
    async fn run_script(
        &self,
        operation: &'static str,
        key: &str,
        limit: RateLimit,
        mode: &'static str,
    ) -> Result<(i64, i64, i64), InfrastructureError> {
        let key = self.key(key);
        // Windows are whole milliseconds on the server; a window shorter than that is one.
        let window_ms = u64::try_from(limit.window.as_millis()).unwrap_or(u64::MAX).max(1);
        self.store
            .run(operation, |mut connection| async move {
                RATE_LIMIT_SCRIPT.key(key).arg(limit.max).arg(window_ms).arg(mode).invoke_async(&mut connection).await
            })
            .await
    }

    async fn decide(&self, key: &str, limit: RateLimit, count: bool) -> Result<RateDecision, InfrastructureError> {
        let (operation, mode) = if count { ("rate limit hit", "hit") } else { ("rate limit peek", "peek") };
        let (allowed, remaining, reset_after_ms) = self.run_script(operation, key, limit, mode).await?;
        let reply = || format!("[{allowed}, {remaining}, {reset_after_ms}]");
        let allowed = match allowed {
            0 => false,
            1 => true,
            _ => return Err(self.store.unexpected_reply(operation, reply())),
        };
        let (Ok(remaining), Ok(reset_after_ms)) = (u32::try_from(remaining), u64::try_from(reset_after_ms)) else {
            return Err(self.store.unexpected_reply(operation, reply()));
        };
        // Whole seconds, rounded up, as `Retry-After` carries them: waiting them is enough.
        let reset_after = Duration::from_secs(reset_after_ms.div_ceil(1000).max(1));
        Ok(RateDecision {
            allowed,
            limit: limit.max,
            remaining: if allowed { remaining.min(limit.max) } else { 0 },
            reset_after,
        })
    }
}

/// Decides one event under the hash `KEYS[1]` against a limit of `ARGV[1]` events per window of
/// `ARGV[2]` milliseconds; `ARGV[3]` says what to do: `hit` counts the event when it is allowed,
/// `peek` only decides, `undo` takes back one counted event.
///
/// The hash holds `window` (its length in ms), `index` (the current window's number since the
/// epoch), `current` and `previous` (their counts). A hash written for another window length is
/// ignored, as is one more than a window old. If the server clock went back (a failover to a
/// skewed replica), the stored later window is kept as the current one, so the counts are not
/// lost. Returns `{allowed (1 or 0), remaining, wait_ms}` with the same arithmetic as the
/// in-process limiter, in whole milliseconds: an event fits while
/// `previous × left + (current + 1) × window ≤ max × window` (`left`: what remains of this
/// window); a refused hit is not counted, and its wait is the time until one more event fits.
static RATE_LIMIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local mode = ARGV[3]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local index = math.floor(now / window)

local stored = redis.call('HMGET', KEYS[1], 'window', 'index', 'current', 'previous')
local current, previous = 0, 0
if tonumber(stored[1]) == window then
  local stored_index = tonumber(stored[2]) or 0
  if stored_index >= index then
    index = stored_index
    current = tonumber(stored[3]) or 0
    previous = tonumber(stored[4]) or 0
  elseif stored_index == index - 1 then
    previous = tonumber(stored[3]) or 0
  end
end

local left = window - math.max(now - index * window, 0)
local function save()
  redis.call('HSET', KEYS[1], 'window', window, 'index', index, 'current', current, 'previous', previous)
  redis.call('PEXPIRE', KEYS[1], 2 * window)
end

if mode == 'undo' then
  if current > 0 then
    current = current - 1
    save()
  elseif previous > 0 then
    previous = previous - 1
    save()
  end
  return {1, 0, 0}
end

local allowed = previous * left + (current + 1) * window <= max * window
if allowed and mode == 'hit' then
  current = current + 1
  save()
end

local remaining, wait = 0, left
if allowed then
  remaining = math.max(max - math.ceil((previous * left + current * window) / window), 0)
elseif current < max and previous > 0 then
  wait = left - math.floor((max - current - 1) * window / previous)
elseif max >= 1 and current > 0 then
  wait = left + window - math.min(math.floor((max - 1) * window / current), window)
else
  wait = left + window
end
return {allowed and 1 or 0, remaining, math.max(wait, 0)}
",
    )
});

/// Blocks a key for `ARGV[1]` milliseconds, never shortening a longer block: `SET NX` creates it;
/// when it already exists, `PEXPIRE GT` (Redis 7) only ever extends it. One script, so the block
/// cannot expire between the two commands.
static BLOCK_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then
  return 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'GT')
return 0
",
    )
});

/// Blocks `KEYS[1]` for `ARGV[1]` milliseconds unless it is blocked already: returns -1 when it
/// placed the block, else the milliseconds the existing one has left. One script, so that of
/// concurrent claims exactly one places it.
static CLAIM_BLOCK_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then
  return -1
end
return redis.call('PTTL', KEYS[1])
",
    )
});

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, limit: RateLimit) -> Result<RateDecision, InfrastructureError> {
        self.decide(key, limit, true).await
    }

    async fn peek(&self, key: &str, limit: RateLimit) -> Result<RateDecision, InfrastructureError> {
        self.decide(key, limit, false).await
    }

    async fn undo(&self, key: &str, limit: RateLimit) -> Result<(), InfrastructureError> {
        self.run_script("rate limit undo", key, limit, "undo").await.map(|_| ())
    }

    async fn reset(&self, key: &str) -> Result<(), InfrastructureError> {
        let keys = [self.key(key), self.block_key(key)];
        let _deleted: i64 = self
            .store
            .run("rate limit reset", |mut connection| async move {
                redis::cmd("DEL").arg(&keys).query_async(&mut connection).await
            })
            .await?;
        Ok(())
    }

    async fn block(&self, key: &str, duration: Duration) -> Result<(), InfrastructureError> {
        let key = self.block_key(key);
        let milliseconds = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX).max(1);
        // The revocation script's semantics exactly: create, or only ever extend.
        let _created: i64 = self
            .store
            .run("rate limit block", |mut connection| async move {
                BLOCK_SCRIPT.key(key).arg(milliseconds).invoke_async(&mut connection).await
            })
            .await?;
        Ok(())
    }

    async fn claim_block(&self, key: &str, duration: Duration) -> Result<Option<Duration>, InfrastructureError> {
        let key = self.block_key(key);
        let milliseconds = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX).max(1);
        let left_ms: i64 = self
            .store
            .run("rate limit claim block", |mut connection| async move {
                CLAIM_BLOCK_SCRIPT.key(key).arg(milliseconds).invoke_async(&mut connection).await
            })
            .await?;
        // -1: this call placed the block. A block that lapsed between the two commands of the
        // script cannot happen (a script is atomic), but 0 or less would mean none is left.
        Ok(u64::try_from(left_ms).ok().filter(|left| *left > 0).map(Duration::from_millis))
    }

    async fn blocked_for(&self, key: &str) -> Result<Option<Duration>, InfrastructureError> {
        let key = self.block_key(key);
        let left_ms: i64 = self
            .store
            .run("rate limit blocked for", |mut connection| async move {
                redis::cmd("PTTL").arg(key).query_async(&mut connection).await
            })
            .await?;
        // PTTL: -2 no such key, -1 no expiry (never written so), else milliseconds left.
        Ok(u64::try_from(left_ms).ok().filter(|left| *left > 0).map(Duration::from_millis))
    }
}
