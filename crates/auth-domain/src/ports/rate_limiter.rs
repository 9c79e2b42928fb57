//! Port: counting events per key within a window.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::InfrastructureError;
use crate::rate_limit::{RateDecision, RateLimit};

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Decides whether one more event under `key` is within `limit` and, if it is, counts it,
    /// atomically: of any number of concurrent hits, at most the allowance is allowed. A refused
    /// event is not counted, so that the wait a refusal names holds however often the caller
    /// knocks meanwhile; the allowance alone bounds what gets through.
    ///
    /// `reset_after` is in whole seconds, rounded up: on a refusal, the time until one more event
    /// fits (a hit made once it has passed is allowed, unless others were counted meanwhile); on
    /// an allowed event, the time until the current window ends.
    async fn hit(&self, key: &str, limit: RateLimit) -> Result<RateDecision, InfrastructureError>;

    /// Decides whether one more event under `key` would be within `limit`, without counting it.
    async fn peek(&self, key: &str, limit: RateLimit) -> Result<RateDecision, InfrastructureError>;

    /// Takes back one event counted under `key` by [`RateLimiter::hit`]: an attempt counted before
    /// it was checked that turned out not to be one to count (a success, or a check that could not
    /// be made). Nothing happens when nothing is counted.
    async fn undo(&self, key: &str, limit: RateLimit) -> Result<(), InfrastructureError>;

    /// Forgets every event counted under `key`, and lifts any block on it.
    async fn reset(&self, key: &str) -> Result<(), InfrastructureError>;

    /// Blocks `key` for `duration` from now. A block never shortens a longer one already there.
    async fn block(&self, key: &str, duration: Duration) -> Result<(), InfrastructureError>;

    /// Blocks `key` for `duration` unless it is blocked already, atomically: of concurrent claims
    /// exactly one places the block and gets `None`; the others get how much longer it lasts.
    async fn claim_block(&self, key: &str, duration: Duration) -> Result<Option<Duration>, InfrastructureError>;

    /// How much longer `key` is blocked, if it is.
    async fn blocked_for(&self, key: &str) -> Result<Option<Duration>, InfrastructureError>;
}
