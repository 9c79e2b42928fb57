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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_domain::InfrastructureError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind};
use tracing::Instrument;

mod rate_limiter;
mod revocations;

pub use rate_limiter::RedisRateLimiter;
pub use revocations::RedisRevocationStore;

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
