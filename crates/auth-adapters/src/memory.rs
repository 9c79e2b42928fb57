//! The in-process revocation store and rate limiter of the embedded mode: one node only.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use auth_domain::ports::{RevocationCheck, RevocationStore};
use auth_domain::{InfrastructureError, SessionId};
use time::OffsetDateTime;

mod rate_limiter;

pub use rate_limiter::{InMemoryRateLimiter, MAX_RATE_KEYS};

/// Past this many entries, a write first sweeps out the expired ones, so memory stays bounded by
/// what is live.
const SWEEP_THRESHOLD: usize = 10_000;

/// Revoked sessions, kept in memory until their last access token has expired.
///
/// A process starts with an empty store, which says so ([`RevocationCheck::Incomplete`]) until
/// it is restored from the database: a restart never forgets a revocation.
#[derive(Debug, Default)]
pub struct InMemoryRevocationStore {
    revoked_until: RwLock<HashMap<SessionId, OffsetDateTime>>,
    complete: AtomicBool,
}

impl InMemoryRevocationStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn mark(revoked: &mut HashMap<SessionId, OffsetDateTime>, session_id: SessionId, until: OffsetDateTime) {
        let entry = revoked.entry(session_id).or_insert(until);
        *entry = (*entry).max(until);
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
        Self::mark(&mut revoked, session_id, until);
        Ok(())
    }

    async fn check_session(
        &self,
        session_id: SessionId,
        now: OffsetDateTime,
    ) -> Result<RevocationCheck, InfrastructureError> {
        let revoked = self.revoked_until.read().map_err(poisoned)?;
        if revoked.get(&session_id).is_some_and(|until| *until > now) {
            return Ok(RevocationCheck::Revoked);
        }
        // Read under the lock that `restore` holds while it sets the flag: never complete
        // before the restored marks are in.
        if self.complete.load(Ordering::Acquire) { Ok(RevocationCheck::Live) } else { Ok(RevocationCheck::Incomplete) }
    }

    async fn restore(&self, revoked: &[(SessionId, OffsetDateTime)]) -> Result<(), InfrastructureError> {
        let mut marks = self.revoked_until.write().map_err(poisoned)?;
        for (session_id, until) in revoked {
            Self::mark(&mut marks, *session_id, *until);
        }
        self.complete.store(true, Ordering::Release);
        Ok(())
    }

    async fn forget_expired(&self, now: OffsetDateTime) -> Result<(), InfrastructureError> {
        self.revoked_until.write().map_err(poisoned)?.retain(|_, until| *until > now);
        Ok(())
    }
}
