//! [`Throttle`]: the rate limits and failure back-offs every area counts against.

use std::sync::Arc;

use crate::error::InfrastructureError;
use crate::ports::RateLimiter;
use crate::rate_limit::{RateLimit, RateLimitExceeded};
use crate::services::RateLimits;

/// A rate-limit check that refused, or could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LimitError {
    #[error(transparent)]
    Exceeded(RateLimitExceeded),
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

/// The limiter and the configured limits; cheap to clone.
#[derive(Clone)]
pub(crate) struct Throttle {
    rate_limiter: Arc<dyn RateLimiter>,
    limits: RateLimits,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Throttle {
    pub(crate) fn new(rate_limiter: Arc<dyn RateLimiter>, limits: RateLimits) -> Self {
        Self { rate_limiter, limits }
    }

    pub(crate) fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// Counts one event against an optional limit.
    pub(crate) async fn enforce(&self, limit: Option<RateLimit>, key: &str) -> Result<(), LimitError> {
        let Some(limit) = limit else { return Ok(()) };
        let decision = self.rate_limiter.hit(key, limit).await?;
        match decision.exceeded() {
            Some(exceeded) => Err(LimitError::Exceeded(exceeded)),
            None => Ok(()),
        }
    }

    /// Reserves one attempt at a secret (a password for an address, a second-factor code for an
    /// account) before it is checked; `Some` is a refusal, and nothing may be checked then.
    ///
    /// The attempt is counted first, under `failure_key` and `limit`, atomically: of any number of
    /// concurrent attempts at most the allowance gets checked, where "peek, check, then count"
    /// let all of them past the peek. A success clears the count ([`Throttle::clear_failures`]);
    /// a check that cannot be made gives the attempt back ([`Throttle::release_attempt`]).
    ///
    /// Beyond the allowance, failures since the last success (their streak, under `backoff_key`)
    /// earn a back-off: each further attempt first claims, atomically, the wait its own failure
    /// would earn, so concurrent attempts cannot slip through one back-off together.
    pub(crate) async fn reserve_attempt(
        &self,
        limit: Option<RateLimit>,
        failure_key: &str,
        backoff_key: &str,
    ) -> Result<Option<RateLimitExceeded>, InfrastructureError> {
        let Some(limit) = limit else { return Ok(None) };
        let decision = self.rate_limiter.hit(failure_key, limit).await?;
        if let Some(exceeded) = decision.exceeded() {
            return Ok(Some(exceeded));
        }
        let streak = self.rate_limiter.peek(backoff_key, FAILURE_STREAK).await?;
        let failures = FAILURE_STREAK.max.saturating_sub(streak.remaining);
        let Some(wait) = backoff_after(failures.saturating_add(1), limit.max) else { return Ok(None) };
        match self.rate_limiter.claim_block(backoff_key, wait).await? {
            None => Ok(None),
            Some(left) => {
                self.rate_limiter.undo(failure_key, limit).await?;
                Ok(Some(RateLimitExceeded { limit: limit.max, retry_after: whole_seconds_up(left) }))
            }
        }
    }

    /// Gives back an attempt reserved by [`Throttle::reserve_attempt`] whose secret could not be
    /// checked (the hasher was overloaded, a store failed): it was no failure.
    pub(crate) async fn release_attempt(
        &self,
        limit: Option<RateLimit>,
        failure_key: &str,
    ) -> Result<(), InfrastructureError> {
        match limit {
            Some(limit) => self.rate_limiter.undo(failure_key, limit).await,
            None => Ok(()),
        }
    }

    /// Forgets the failures, their streak and the back-off counted under these keys, after a
    /// proven secret.
    pub(crate) async fn clear_failures(
        &self,
        limit: Option<RateLimit>,
        failure_key: &str,
        backoff_key: &str,
    ) -> Result<(), InfrastructureError> {
        if limit.is_some() {
            self.rate_limiter.reset(failure_key).await?;
            self.rate_limiter.reset(backoff_key).await?;
        }
        Ok(())
    }

    /// Counts one failure in the streak under `backoff_key`; the failure itself was counted
    /// under `limit` when its attempt was reserved.
    pub(crate) async fn count_failure(
        &self,
        limit: Option<RateLimit>,
        backoff_key: &str,
    ) -> Result<(), InfrastructureError> {
        if limit.is_some() {
            self.rate_limiter.hit(backoff_key, FAILURE_STREAK).await?;
        }
        Ok(())
    }
}

/// The failures since the last success that the back-off counts: a count that only a success
/// (or a day or two without failures) clears, so that the back-off keeps growing while an
/// attacker trickles guesses in at the pace the window allows.
pub const FAILURE_STREAK: RateLimit = RateLimit::new(1_000_000, std::time::Duration::from_secs(24 * 3600));
/// The longest wait one failure imposes.
pub const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The wait the `failures`th failure in a streak earns, where `allowance` failures are free
/// (the configured count of the limit, e.g. AUTH_RATE_LOGIN_EMAIL's 10): none up to it, then
/// 1 s, doubling, at most [`MAX_BACKOFF`].
pub fn backoff_after(failures: u32, allowance: u32) -> Option<std::time::Duration> {
    let beyond = failures.checked_sub(allowance).filter(|beyond| *beyond > 0)?;
    let seconds = 1u64.checked_shl(beyond - 1).unwrap_or(u64::MAX);
    Some(std::time::Duration::from_secs(seconds).min(MAX_BACKOFF))
}

/// A wait rounded up to whole seconds, as `Retry-After` carries it: a caller that waits it finds
/// the wait over.
fn whole_seconds_up(wait: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

/// Rate-limit keys, in one place so that two use cases sharing a limit share its key. Client
/// addresses are keyed by their network ([`client_network`]): an IPv6 /64 counts as one client.
///
/// [`client_network`]: crate::rate_limit::client_network_of
pub(crate) mod limit_keys {
    use crate::email::Email;
    use crate::ids::{SessionId, UserId};
    use std::net::IpAddr;

    use crate::rate_limit::client_network_of;

    pub fn login_failures(email: &str) -> String {
        format!("login-fail:email:{email}")
    }

    pub fn login_backoff(email: &str) -> String {
        format!("login-backoff:email:{email}")
    }

    pub fn login_ip(ip: &IpAddr) -> String {
        format!("login:ip:{}", client_network_of(*ip))
    }

    pub fn registration_ip(ip: &IpAddr) -> String {
        format!("register:ip:{}", client_network_of(*ip))
    }

    pub fn mail_to(email: &Email) -> String {
        format!("mail:email:{email}")
    }

    /// A configured client's own count at an address; made-up ids (`None`) share one there.
    pub fn client_auth_failures(ip: &IpAddr, configured_client_id: Option<&str>) -> String {
        let network = client_network_of(*ip);
        match configured_client_id {
            Some(client_id) => format!("client-auth-fail:ip:{network}:client:{client_id}"),
            None => format!("client-auth-fail:ip:{network}:unknown-client"),
        }
    }

    pub fn refresh_session(session_id: SessionId) -> String {
        format!("refresh:session:{session_id}")
    }

    pub fn mfa_failures(user_id: UserId) -> String {
        format!("mfa-fail:user:{user_id}")
    }

    pub fn mfa_backoff(user_id: UserId) -> String {
        format!("mfa-backoff:user:{user_id}")
    }
}
