//! The revocation store and rate limiter on Redis, shared by every replica.
//!
//! [`RedisStore`] owns one multiplexed connection (a [`ConnectionManager`]) that every request
//! shares; [`RedisRevocationStore`] and [`RedisRateLimiter`] are the two ports built on it. The
//! key layout is documented in `docs/redis.md`.
//!
//! Failure policy: every command is bounded by the store's timeout. A connection failure, a
//! timeout, or a server that says it cannot serve right now (loading, read-only replica, out of
//! memory) is [`InfrastructureError::Unavailable`]; a reply of a shape we did not ask for, or any
//! other server error, is [`InfrastructureError::Unexpected`]. Neither ever carries the URL: its
//! password would end up in the logs.

use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use auth_domain::ports::{RateLimiter, RevocationStore};
use auth_domain::{InfrastructureError, RateDecision, RateLimit, SessionId, UserId};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult, Script, ServerErrorKind};
use time::OffsetDateTime;
use tracing::Instrument;

/// A configuration that cannot work, found before any connection is attempted.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    /// The URL does not parse, or asks for something this build cannot do (such as TLS). The
    /// reason never quotes the URL, which may hold a password.
    #[error("the Redis URL is invalid: {reason}")]
    InvalidUrl { reason: String },
    /// A zero timeout would refuse every request.
    #[error("the Redis timeout must be longer than zero")]
    ZeroTimeout,
}

/// The one shared Redis connection of a process; cheap to clone.
///
/// It connects lazily, on the first command, so that the service starts (and `/readyz` says what
/// is down) while Redis is unreachable. A connection that failed or timed out is thrown away and
/// the next command opens a new one, which is how the store recovers when Redis comes back, and
/// how it gets off a half-open TCP connection that would otherwise never report an error.
///
/// Why one multiplexed connection rather than a pool (deadpool-redis): Redis answers one command
/// at a time per server anyway, a multiplexed connection pipelines every concurrent request on
/// one socket, and deadpool-redis spends an extra round trip on every checkout (see
/// `docs/redis.md`).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// `host:port` or the socket path: what the errors say, never the password.
    address: String,
    prefix: String,
    timeout: Duration,
    /// The current connection, if any. A plain mutex is enough: it is only held to clone or
    /// replace the handle, never across an `.await`.
    connection: Mutex<ConnectionSlot>,
}

#[derive(Default)]
struct ConnectionSlot {
    /// Counts the connections made, so that a request whose connection failed only throws away
    /// that connection, not a newer one another request has already made.
    generation: u64,
    manager: Option<ConnectionManager>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.inner.address)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// Why a Redis command failed, with the operation and the server address (never the URL).
#[derive(Debug, thiserror::Error)]
enum RedisFailure {
    #[error("Redis at {address} did not answer `{operation}` within {timeout:?}")]
    TimedOut { address: String, operation: &'static str, timeout: Duration },
    #[error("Redis at {address} failed `{operation}`")]
    Command {
        address: String,
        operation: &'static str,
        #[source]
        source: RedisError,
    },
    #[error("Redis at {address} answered `{operation}` with {reply}")]
    UnexpectedReply { address: String, operation: &'static str, reply: String },
}

impl RedisStore {
    /// A store for the server at `url` whose keys all start with `prefix`, each command bounded by
    /// `timeout`. Checks the URL but does not connect: the first command does.
    ///
    /// # Errors
    ///
    /// [`RedisSetupError::InvalidUrl`] when the URL does not parse or needs a feature this build
    /// lacks (`rediss://` needs TLS); [`RedisSetupError::ZeroTimeout`] for a zero timeout.
    pub fn new(url: &str, prefix: String, timeout: Duration) -> Result<Self, RedisSetupError> {
        if timeout.is_zero() {
            return Err(RedisSetupError::ZeroTimeout);
        }
        // The redis crate's parse errors name what is wrong, never the URL itself.
        let client =
            redis::Client::open(url).map_err(|error| RedisSetupError::InvalidUrl { reason: error.to_string() })?;
        let address = client.get_connection_info().addr().to_string();
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                address,
                prefix,
                timeout,
                connection: Mutex::new(ConnectionSlot::default()),
            }),
        })
    }

    /// Whether Redis answers, for the readiness probe.
    ///
    /// # Errors
    ///
    /// [`InfrastructureError::Unavailable`] when Redis cannot be reached or does not answer in time.
    pub async fn ping(&self) -> Result<(), InfrastructureError> {
        let reply: String = self
            .run("PING", |mut connection| async move { redis::cmd("PING").query_async(&mut connection).await })
            .await?;
        if reply == "PONG" { Ok(()) } else { Err(self.unexpected_reply("PING", format!("{reply:?}"))) }
    }

    /// The key prefix every key of this store starts with.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The current connection and its generation, making one (lazily: it connects on its first
    /// command) when there is none.
    fn connection(&self) -> Result<(u64, ConnectionManager), InfrastructureError> {
        let mut slot = self
            .inner
            .connection
            .lock()
            .map_err(|_| InfrastructureError::unexpected("the Redis connection lock was poisoned by a panic"))?;
        if let Some(manager) = &slot.manager {
            return Ok((slot.generation, manager.clone()));
        }
        // No retries inside the manager: each command already fails fast and the next one
        // reconnects, so a retry loop would only hold a request past its timeout.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.inner.timeout))
            .set_response_timeout(Some(self.inner.timeout))
            .set_number_of_retries(0);
        let manager = ConnectionManager::new_lazy_with_config(self.inner.client.clone(), config)
            .map_err(|source| self.command_failure("connect", source))?;
        slot.generation += 1;
        slot.manager = Some(manager.clone());
        tracing::debug!(
            redis.address = %self.inner.address,
            redis.connection = slot.generation,
            "opening a Redis connection"
        );
        Ok((slot.generation, manager))
    }

    /// Throws away connection `generation` if it is still the current one, so that the next
    /// command opens a new one. Requests already running on it finish on it.
    fn discard(&self, generation: u64) {
        if let Ok(mut slot) = self.inner.connection.lock()
            && slot.generation == generation
            && slot.manager.take().is_some()
        {
            tracing::debug!(
                redis.address = %self.inner.address,
                redis.connection = generation,
                "dropping a failed Redis connection"
            );
        }
    }

    /// Runs `command` on the shared connection within the timeout, translating its failure.
    async fn run<T, Command, Reply>(&self, operation: &'static str, command: Command) -> Result<T, InfrastructureError>
    where
        Command: FnOnce(ConnectionManager) -> Reply,
        Reply: Future<Output = RedisResult<T>>,
    {
        let (generation, connection) = self.connection()?;
        let span = tracing::info_span!("redis", otel.name = operation, otel.kind = "client", db.system = "redis");
        match tokio::time::timeout(self.inner.timeout, command(connection)).instrument(span).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => {
                let error = self.command_failure(operation, source);
                if matches!(error, InfrastructureError::Unavailable(_)) {
                    self.discard(generation);
                }
                Err(error)
            }
            Err(_elapsed) => {
                self.discard(generation);
                Err(InfrastructureError::unavailable(RedisFailure::TimedOut {
                    address: self.inner.address.clone(),
                    operation,
                    timeout: self.inner.timeout,
                }))
            }
        }
    }

    fn command_failure(&self, operation: &'static str, source: RedisError) -> InfrastructureError {
        let unavailable = is_unavailable(&source);
        let failure = RedisFailure::Command { address: self.inner.address.clone(), operation, source };
        if unavailable { InfrastructureError::unavailable(failure) } else { InfrastructureError::unexpected(failure) }
    }

    fn unexpected_reply(&self, operation: &'static str, reply: String) -> InfrastructureError {
        InfrastructureError::unexpected(RedisFailure::UnexpectedReply {
            address: self.inner.address.clone(),
            operation,
            reply,
        })
    }
}

/// Whether `error` means "Redis cannot serve this now, try later" rather than a bug.
fn is_unavailable(error: &RedisError) -> bool {
    if error.is_io_error() || error.is_timeout() || error.is_connection_dropped() || error.is_connection_refusal() {
        return true;
    }
    match error.kind() {
        // A wrong password is a misconfiguration, but what the operator sees must be "Redis is
        // down" on /readyz, and the fix (a new password) needs a new connection anyway.
        ErrorKind::AuthenticationFailed => true,
        // Loading a dump, a failover in progress, a replica that became read-only.
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly,
        ) => true,
        // Out of memory (maxmemory with a no-eviction policy), another script hogging the
        // server, snapshots failing (writes refused): all pass. A password missing where one is
        // required goes with the wrong password above.
        ErrorKind::Extension => matches!(error.code(), Some("OOM" | "BUSY" | "MISCONF" | "NOAUTH" | "WRONGPASS")),
        _ => false,
    }
}

/// Revoked sessions on Redis: one key per session, expiring with the session's last access token.
#[derive(Debug, Clone)]
pub struct RedisRevocationStore {
    store: RedisStore,
}

impl RedisRevocationStore {
    pub fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn key(&self, session_id: SessionId) -> String {
        format!("{}revoked:session:{session_id}", self.store.prefix())
    }

    fn user_key(&self, user_id: UserId) -> String {
        format!("{}revoked:user:{user_id}", self.store.prefix())
    }
}

/// The milliseconds from now until `until`, rounded up; `None` when `until` has passed.
fn time_to_live_ms(until: OffsetDateTime) -> Option<i64> {
    // `until` is on this process's clock (it is an access token's expiry), so the time to live is
    // too. Rounded up, so that a mark never lapses before `until`.
    let time_to_live_us = (until - OffsetDateTime::now_utc()).whole_microseconds();
    (time_to_live_us > 0).then(|| i64::try_from((time_to_live_us + 999) / 1_000).unwrap_or(i64::MAX))
}

/// Marks a user's tokens issued up to `ARGV[1]` (seconds) revoked for `ARGV[2]` milliseconds. A
/// mark only ever moves forward: a lower one arriving late neither lowers nor shortens it.
static REVOKE_USER_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if (not current) or tonumber(current) < tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if ttl > tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
  return 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'GT')
return 0
",
    )
});

/// Marks a session revoked for `ARGV[1]` milliseconds, never shortening a longer mark: `SET NX`
/// creates it; when it already exists, `PEXPIRE GT` (Redis 7) only ever extends it. One script, so
/// the mark cannot expire between the two commands.
static REVOKE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
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

#[async_trait]
impl RevocationStore for RedisRevocationStore {
    async fn revoke_session(&self, session_id: SessionId, until: OffsetDateTime) -> Result<(), InfrastructureError> {
        // Past `until` every token of the session has expired already: nothing is left to refuse.
        let Some(time_to_live_ms) = time_to_live_ms(until) else { return Ok(()) };
        let key = self.key(session_id);
        let _created: i64 = self
            .store
            .run("revoke session", |mut connection| async move {
                REVOKE_SCRIPT.key(key).arg(time_to_live_ms).invoke_async(&mut connection).await
            })
            .await?;
        Ok(())
    }

    async fn is_session_revoked(&self, session_id: SessionId) -> Result<bool, InfrastructureError> {
        let key = self.key(session_id);
        let found: i64 = self
            .store
            .run("is session revoked", |mut connection| async move {
                redis::cmd("EXISTS").arg(key).query_async(&mut connection).await
            })
            .await?;
        match found {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.store.unexpected_reply("is session revoked", format!("EXISTS = {other}"))),
        }
    }

    async fn revoke_user_tokens(
        &self,
        user_id: UserId,
        issued_before: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(), InfrastructureError> {
        let Some(time_to_live_ms) = time_to_live_ms(until) else { return Ok(()) };
        let key = self.user_key(user_id);
        let issued_before = issued_before.unix_timestamp();
        let _raised: i64 = self
            .store
            .run("revoke user tokens", |mut connection| async move {
                REVOKE_USER_SCRIPT.key(key).arg(issued_before).arg(time_to_live_ms).invoke_async(&mut connection).await
            })
            .await?;
        Ok(())
    }

    async fn is_token_revoked(
        &self,
        session_id: SessionId,
        user_id: UserId,
        issued_at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError> {
        let keys = [self.key(session_id), self.user_key(user_id)];
        // One round trip for both marks.
        let (session_mark, user_mark): (Option<String>, Option<String>) = self
            .store
            .run("is token revoked", |mut connection| async move {
                redis::cmd("MGET").arg(&keys).query_async(&mut connection).await
            })
            .await?;
        if session_mark.is_some() {
            return Ok(true);
        }
        match user_mark.map(|mark| mark.parse::<i64>()) {
            None => Ok(false),
            Some(Ok(issued_before)) => Ok(issued_at.unix_timestamp() < issued_before),
            Some(Err(_)) => {
                Err(self.store.unexpected_reply("is token revoked", "a user mark is not a number".to_owned()))
            }
        }
    }
}

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
/// in-process limiter, in whole milliseconds: an event fits while `previous × left + (current +
/// 1) × window ≤ max × window` (`left`: what remains of this window); a refused hit is not
/// counted, and its wait is the time until one more event fits.
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
                REVOKE_SCRIPT.key(key).arg(milliseconds).invoke_async(&mut connection).await
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
