//! Use cases: whether a session is revoked, by the revocation cache that the database backs; and
//! keeping that cache complete (restored when it lost its marks, followed as the database moves).

use time::OffsetDateTime;

use std::sync::Arc;

use super::{AuthPolicy, AuthPorts, FeedPosition, REVOCATION_FEED_OVERLAP, REVOCATION_FEED_PAGE, RevocationFeed};
use crate::error::InfrastructureError;
use crate::ids::{SessionId, UserId};
use crate::ports::{Clock, RevocationCheck, RevocationStore, SessionRepository};
use crate::session::RevocationReason;

/// Revoked sessions: the cache every replica checks (backed by the database, which is the
/// record), the feed resource servers poll, and ending a session's access tokens at once.
#[derive(Clone)]
pub struct RevocationService {
    store: Arc<dyn RevocationStore>,
    sessions: Arc<dyn SessionRepository>,
    clock: Arc<dyn Clock>,
    policy: Arc<AuthPolicy>,
}

impl std::fmt::Debug for RevocationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevocationService")
    }
}

impl RevocationService {
    pub(super) fn new(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
        Self {
            store: Arc::clone(&ports.revocations),
            sessions: Arc::clone(&ports.sessions),
            clock: Arc::clone(&ports.clock),
            policy: Arc::clone(policy),
        }
    }

    /// The sessions revoked since `position` (every revocation whose tokens may still be live
    /// when `None`), for resource servers that verify tokens themselves: they refuse a listed
    /// session's tokens until its `exp`, and learn of a logout within one polling interval.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn revocation_feed(&self, position: Option<FeedPosition>) -> Result<RevocationFeed, InfrastructureError> {
        let now = self.clock.now();
        // A session revoked before this has no access token left alive.
        let oldest_relevant = now - (self.revocation_horizon(now) - now);
        let (from, after) = match position {
            None => (oldest_relevant, None),
            // Checked: a cursor comes from the caller, and looking back from the earliest instant
            // `time` knows would overflow (a panic). Nothing before `oldest_relevant` matters anyway.
            Some(FeedPosition::CaughtUp(since)) => (
                since.checked_sub(REVOCATION_FEED_OVERLAP).map_or(oldest_relevant, |from| from.max(oldest_relevant)),
                None,
            ),
            Some(FeedPosition::After { revoked_at, .. }) if revoked_at < oldest_relevant => (oldest_relevant, None),
            Some(FeedPosition::After { revoked_at, session_id }) => (revoked_at, Some(session_id)),
        };
        let revoked = self.sessions.revoked_since(from, after, REVOCATION_FEED_PAGE).await?;
        let more = revoked.len() == REVOCATION_FEED_PAGE;
        let next = match revoked.last() {
            // Keyset paging: rows that share one instant (a logout-all) are never read twice
            // or skipped, however many there are.
            Some(last) if more => FeedPosition::After { revoked_at: last.revoked_at, session_id: last.session_id },
            _ => FeedPosition::CaughtUp(now),
        };
        Ok(RevocationFeed {
            sessions: revoked
                .into_iter()
                .map(|session| (session.session_id, self.revocation_horizon(session.revoked_at)))
                .collect(),
            next,
            more,
        })
    }

    /// Whether `session_id` is revoked. The cache answers; when it does not hold the complete
    /// record (a fresh process, a Redis that restarted empty, evicted or was flushed), it is first
    /// restored from the database, so that no restart or cache loss ever revives a revoked token.
    ///
    /// # Errors
    /// [`InfrastructureError`] when either cannot be read, or the cache still cannot say after a
    /// restore: the caller refuses the token (fail closed).
    pub async fn is_session_revoked(&self, session_id: SessionId) -> Result<bool, InfrastructureError> {
        match self.store.check_session(session_id, self.clock.now()).await? {
            RevocationCheck::Revoked => return Ok(true),
            RevocationCheck::Live => return Ok(false),
            RevocationCheck::Incomplete => {}
        }
        tracing::warn!("the revocation cache does not hold the complete record; restoring it from the database");
        // Another replica restoring at the same time may make this restore give up; its own
        // completes the cache all the same, so the check is made again either way.
        let restored = self.restore_revocations().await;
        match self.store.check_session(session_id, self.clock.now()).await? {
            RevocationCheck::Revoked => Ok(true),
            RevocationCheck::Live => Ok(false),
            RevocationCheck::Incomplete => Err(restored.err().unwrap_or_else(|| {
                InfrastructureError::unavailable("the revocation cache lost its marks again while being restored")
            })),
        }
    }

    /// Copies every revocation whose access tokens may still be live from the database into the
    /// cache, then marks the cache complete. Returns where [`RevocationService::follow_revocations`]
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
        self.store.restore(&revoked).await?;
        tracing::info!(revocations = revoked.len(), "the revocation cache was restored from the database");
        Ok(position.unwrap_or(FeedPosition::CaughtUp(self.clock.now())))
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
                self.store.revoke_session(*session_id, *until).await?;
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
        self.store.forget_expired(self.clock.now()).await
    }

    /// Makes every access token of `session_id` fail at once, on every replica.
    pub(crate) async fn revoke_access_tokens(
        &self,
        session_id: SessionId,
        now: OffsetDateTime,
    ) -> Result<(), InfrastructureError> {
        self.store.revoke_session(session_id, self.revocation_horizon(now)).await
    }

    /// Revokes every live session of `user_id` and makes all its access tokens fail at once, on
    /// every replica; returns how many sessions were live. The changes that must also stop a
    /// session being opened concurrently (a new password, disabling, a role removal) move the
    /// account's credentials version on before calling this, and deletion removes the account:
    /// a session is only ever opened on the current version of an existing account.
    pub(crate) async fn end_every_session(
        &self,
        user_id: UserId,
        reason: RevocationReason,
        now: OffsetDateTime,
    ) -> Result<usize, InfrastructureError> {
        let revoked = self.sessions.revoke_all_for_user(user_id, reason, now).await?;
        for session in &revoked {
            self.revoke_access_tokens(session.id, now).await?;
        }
        Ok(revoked.len())
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
