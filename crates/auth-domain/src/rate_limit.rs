//! Rate limits, the limiter's decision, and the error a refused request carries.

use std::time::Duration;

/// At most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

impl RateLimit {
    pub const fn new(max: u32, window: Duration) -> Self {
        Self { max, window }
    }
}

/// What the limiter decided about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// When the window frees up again; on a refusal, how long the caller should wait.
    pub reset_after: Duration,
}

impl RateDecision {
    /// The error to return when this decision refused the event.
    pub fn exceeded(&self) -> Option<RateLimitExceeded> {
        (!self.allowed).then_some(RateLimitExceeded { limit: self.limit, retry_after: self.reset_after })
    }
}

/// A request refused by a rate limit: the HTTP layer answers 429 with these figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit of {limit} exceeded; retry after {retry_after:?}")]
pub struct RateLimitExceeded {
    pub limit: u32,
    pub retry_after: Duration,
}
