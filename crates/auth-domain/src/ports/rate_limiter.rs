//! Port: counting events per key within a window.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::InfrastructureError;
use crate::rate_limit::{RateDecision, RateLimit};

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one event under `key` and decides whether it is within `limit`. A refused event
    /// still counts, so that hammering a closed door keeps it closed.
    async fn hit(&self, key: &str, limit: RateLimit) -> Result<RateDecision, InfrastructureError>;

    /// Decides whether one more event under `key` would be within `limit`, without counting it.
    async fn peek(&self, key: &str, limit: RateLimit) -> Result<RateDecision, InfrastructureError>;

    /// Forgets every event counted under `key`, and lifts any block on it.
    async fn reset(&self, key: &str) -> Result<(), InfrastructureError>;

    /// Blocks `key` for `duration` from now. A block never shortens a longer one already there.
    async fn block(&self, key: &str, duration: Duration) -> Result<(), InfrastructureError>;

    /// How much longer `key` is blocked, if it is.
    async fn blocked_for(&self, key: &str) -> Result<Option<Duration>, InfrastructureError>;
}
