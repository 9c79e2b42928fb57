//! What the readiness and metrics routes look at: built by startup, read by `routes::health`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use auth_adapters::jwt::JwtCodec;
use auth_adapters::redis_store::RedisStore;
use auth_domain::InfrastructureError;
use auth_domain::ports::MailQueue;

/// A ping under way.
pub type Ping<'a> = Pin<Box<dyn Future<Output = Result<(), InfrastructureError>> + Send + 'a>>;

/// The database as the probes see it, whichever it is.
pub trait DatabaseProbe: Send + Sync {
    /// # Errors
    /// When the database does not answer in time.
    fn ping(&self) -> Ping<'_>;

    /// Connections open, and of those how many are in use.
    fn pool_usage(&self) -> (u32, u32);
}

#[derive(Clone)]
pub struct Probes {
    pub database: Arc<dyn DatabaseProbe>,
    /// `None` when revocations and rate limits are kept in the process.
    pub redis: Option<RedisStore>,
    pub codec: Arc<JwtCodec>,
    pub mail_queue: Arc<dyn MailQueue>,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes").field("redis", &self.redis).field("codec", &self.codec).finish_non_exhaustive()
    }
}
