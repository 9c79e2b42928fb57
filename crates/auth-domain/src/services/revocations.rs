//! Use cases: whether a session is revoked, by the revocation cache that the database backs; and
//! keeping that cache complete (restored when it lost its marks, followed as the database moves).

use time::OffsetDateTime;

use super::{AuthService, FeedPosition};
use crate::error::InfrastructureError;
use crate::ids::SessionId;
use crate::ports::RevocationCheck;

impl AuthService {
    /// Whether `session_id` is revoked. The cache answers; when it does not hold the complete
    /// record (a fresh process, a Redis that restarted empty, evicted or was flushed), it is first
    /// restored from the database, so that no restart or cache loss ever revives a revoked token.
    ///
    /// # Errors
    /// [`InfrastructureError`] when either cannot be read, or the cache still cannot say after a
    /// restore: the caller refuses the token (fail closed).
    pub async fn is_session_revoked(&self, session_id: SessionId) -> Result<bool, InfrastructureError> {
        match self.ports.revocations.check_session(session_id, self.now()).await? {
            RevocationCheck::Revoked => return Ok(true),
            RevocationCheck::Live => return Ok(false),
            RevocationCheck::Incomplete => {}
        }
        tracing::warn!("the revocation cache does not hold the complete record; restoring it from the database");
        // Another replica restoring at the same time may make this restore give up; its own
        // completes the cache all the same, so the check is made again either way.
        let restored = self.restore_revocations().await;
        match self.ports.revocations.check_session(session_id, self.now()).await? {
            RevocationCheck::Revoked => Ok(true),
            RevocationCheck::Live => Ok(false),
            RevocationCheck::Incomplete => Err(restored.err().unwrap_or_else(|| {
                InfrastructureError::unavailable("the revocation cache lost its marks again while being restored")
            })),
        }
    }

    /// Copies every revocation whose access tokens may still be live from the database into the
    /// cache, then marks the cache complete. Returns where [`AuthService::follow_revocations`]
    /// goes on from.
    ///
    /// # Errors
    /// Only infrastructure failures; the cache stays incomplete then.
    pub async fn restore_revocations(&self) -> Result<FeedPosition, InfrastructureError> {
        let mut revoked = Vec::new();
        let mut position = None;
        loop {
            let page = self.revocation_feed(position).await?;
            revoked.extend(page.sessions);
            position = Some(page.next);
            if !page.more {
                break;
            }
        }
        self.ports.revocations.restore(&revoked).await?;
        tracing::info!(revocations = revoked.len(), "the revocation cache was restored from the database");
        Ok(position.unwrap_or(FeedPosition::CaughtUp(self.now())))
    }

    /// Copies into the cache the revocations the database recorded since `position`, including
    /// those written by another process (a command-line `users revoke-role` beside an embedded
    /// server) or whose cache write failed after the database's. Returns where to go on from.
    ///
    /// # Errors
    /// Only infrastructure failures; the caller tries again from the same position.
    pub async fn follow_revocations(&self, position: FeedPosition) -> Result<FeedPosition, InfrastructureError> {
        let mut position = position;
        loop {
            let page = self.revocation_feed(Some(position)).await?;
            for (session_id, until) in &page.sessions {
                self.ports.revocations.revoke_session(*session_id, *until).await?;
            }
            position = page.next;
            if !page.more {
                return Ok(position);
            }
        }
    }

    /// Forgets the cached revocations whose tokens have all expired.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn forget_expired_revocations(&self) -> Result<(), InfrastructureError> {
        self.ports.revocations.forget_expired(self.now()).await
    }

    /// Until when a revocation made at `revoked_at` must be remembered: a token signed just then
    /// lives for the access TTL, and the verifier allows some clock skew, so a little margin is
    /// added.
    pub(super) fn revocation_horizon(&self, revoked_at: OffsetDateTime) -> OffsetDateTime {
        revoked_at + self.policy.access_ttl + time::Duration::minutes(1)
    }
}

#[cfg(test)]
mod tests;
