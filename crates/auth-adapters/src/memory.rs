//! The in-process revocation store and rate limiter of the embedded mode: one node only.

use std::collections::HashMap;
use std::sync::RwLock;

use async_trait::async_trait;
use auth_domain::ports::RevocationStore;
use auth_domain::{InfrastructureError, SessionId, UserId};
use time::OffsetDateTime;

mod rate_limiter;

pub use rate_limiter::{InMemoryRateLimiter, MAX_RATE_KEYS};

/// Past this many entries, a write first sweeps out the expired ones, so memory stays bounded by
/// what is live.
const SWEEP_THRESHOLD: usize = 10_000;

/// Revoked sessions and users, kept in memory until their last access token has expired.
#[derive(Debug, Default)]
pub struct InMemoryRevocationStore {
    revoked_until: RwLock<HashMap<SessionId, OffsetDateTime>>,
    /// Per user: tokens issued at or before this second are revoked, until the instant.
    users_revoked: RwLock<HashMap<UserId, UserMark>>,
}

#[derive(Debug, Clone, Copy)]
struct UserMark {
    issued_before: i64,
    until: OffsetDateTime,
}

impl InMemoryRevocationStore {
    pub fn new() -> Self {
        Self::default()
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
        let entry = revoked.entry(session_id).or_insert(until);
        *entry = (*entry).max(until);
        Ok(())
    }

    async fn is_session_revoked(&self, session_id: SessionId) -> Result<bool, InfrastructureError> {
        let revoked = self.revoked_until.read().map_err(poisoned)?;
        Ok(revoked.get(&session_id).is_some_and(|until| *until > OffsetDateTime::now_utc()))
    }

    async fn revoke_user_tokens(
        &self,
        user_id: UserId,
        issued_before: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(), InfrastructureError> {
        let now = OffsetDateTime::now_utc();
        if until <= now {
            return Ok(());
        }
        let mut marks = self.users_revoked.write().map_err(poisoned)?;
        if marks.len() >= SWEEP_THRESHOLD {
            marks.retain(|_, mark| mark.until > now);
        }
        let mark = UserMark { issued_before: issued_before.unix_timestamp(), until };
        let entry = marks.entry(user_id).or_insert(mark);
        if entry.until <= now {
            *entry = mark;
        }
        entry.issued_before = entry.issued_before.max(mark.issued_before);
        entry.until = entry.until.max(mark.until);
        Ok(())
    }

    async fn is_token_revoked(
        &self,
        session_id: SessionId,
        user_id: UserId,
        issued_at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError> {
        if self.is_session_revoked(session_id).await? {
            return Ok(true);
        }
        let marks = self.users_revoked.read().map_err(poisoned)?;
        Ok(marks.get(&user_id).is_some_and(|mark| {
            mark.until > OffsetDateTime::now_utc() && issued_at.unix_timestamp() < mark.issued_before
        }))
    }
}
