//! Port: sessions and their refresh-token families.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::InfrastructureError;
use crate::ids::{SessionId, UserId};
use crate::mail::QueuedMail;
use crate::session::{RefreshTokenRecord, RevocationReason, Session};
use crate::tokens::TokenHash;

/// One refresh: the presented token is exchanged for its successor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub session_id: SessionId,
    pub parent: TokenHash,
    pub successor: TokenHash,
    pub now: OffsetDateTime,
    /// The session's new idle limit.
    pub idle_expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationOutcome {
    /// This call rotated the token.
    Rotated,
    /// Another call rotated it first, at that instant.
    AlreadyRotated { rotated_at: OffsetDateTime },
}

/// What became of a request to open a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCreation {
    Created,
    /// The account's credentials version is no longer the session's, or the account is disabled
    /// or gone: something that must end every session completed while this one was being opened.
    /// Nothing was stored.
    CredentialsChanged,
}

/// A session as the revocation feed lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokedSession {
    pub session_id: SessionId,
    pub revoked_at: OffsetDateTime,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session with its first refresh token and, when there is one, queues the
    /// sign-in notice, all in one transaction, but only while the account is enabled and its
    /// credentials version is still `session.credentials_version`.
    ///
    /// # Errors
    /// MUST return [`SessionCreation::CredentialsChanged`], storing nothing, when the account's
    /// version moved on, it is disabled, or it is gone; the check and the insert are one atomic
    /// step, so that a change that completes concurrently either sees the session (and revokes it)
    /// or makes the insert fail.
    async fn create(
        &self,
        session: &Session,
        first_token: &RefreshTokenRecord,
        notice: Option<QueuedMail>,
    ) -> Result<SessionCreation, InfrastructureError>;

    async fn find(&self, id: SessionId) -> Result<Option<Session>, InfrastructureError>;

    /// The token with this hash, current or rotated away, with its session.
    async fn find_by_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, RefreshTokenRecord)>, InfrastructureError>;

    /// Marks `parent` rotated, stores `successor` as the current token and moves the session's
    /// last use and idle limit, in one atomic step. MUST return
    /// [`RotationOutcome::AlreadyRotated`] without changing anything when `parent` was rotated
    /// before, so that of two concurrent rotations exactly one wins, on any number of replicas.
    async fn rotate(&self, rotation: &Rotation) -> Result<RotationOutcome, InfrastructureError>;

    /// Revokes one session; returns whether it was live (not already revoked).
    async fn revoke(
        &self,
        id: SessionId,
        reason: RevocationReason,
        at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError>;

    /// Revokes every live session of a user; returns the sessions this call revoked.
    async fn revoke_all_for_user(
        &self,
        user_id: UserId,
        reason: RevocationReason,
        at: OffsetDateTime,
    ) -> Result<Vec<Session>, InfrastructureError>;

    /// Revokes every live session of a user but `keep`; returns the sessions this call revoked.
    async fn revoke_all_for_user_except(
        &self,
        user_id: UserId,
        keep: SessionId,
        reason: RevocationReason,
        at: OffsetDateTime,
    ) -> Result<Vec<Session>, InfrastructureError>;

    /// The user's sessions that are neither revoked nor expired at `now`, newest first.
    async fn list_active_for_user(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, InfrastructureError>;

    /// The sessions revoked at or after `since` (strictly after the position `(since, after)` in
    /// the order of the listing when `after` is given), oldest revocation first, then by session
    /// id, at most `limit`. Every revocation is listed, by whatever path it came (logout,
    /// logout-all, password change or reset, disabling, deletion of the account, reuse detection),
    /// for at least two days.
    async fn revoked_since(
        &self,
        since: OffsetDateTime,
        after: Option<SessionId>,
        limit: usize,
    ) -> Result<Vec<RevokedSession>, InfrastructureError>;
}
