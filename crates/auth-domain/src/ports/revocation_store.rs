//! Port: the shared store of revoked sessions that every replica consults on every request.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::InfrastructureError;
use crate::ids::{SessionId, UserId};

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Marks a session revoked until `until`, the latest expiry of any access token it issued;
    /// after that the mark may be forgotten. MUST be visible to every replica once it returns.
    async fn revoke_session(&self, session_id: SessionId, until: OffsetDateTime) -> Result<(), InfrastructureError>;

    /// Whether the session was revoked.
    async fn is_session_revoked(&self, session_id: SessionId) -> Result<bool, InfrastructureError>;

    /// Revokes every token of `user_id` issued in a second before `issued_before`'s (`iat` counts
    /// whole seconds), until `until`. Tokens of that very second are left to the session marks the
    /// caller writes too, so that a login just after the mark is not refused. A later mark replaces
    /// an earlier one; an earlier one never shortens or lowers a later one. MUST be visible to every
    /// replica once it returns.
    async fn revoke_user_tokens(
        &self,
        user_id: UserId,
        issued_before: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(), InfrastructureError>;

    /// Whether a token of `session_id` and `user_id`, issued at `issued_at`, is revoked, by its
    /// session's mark or its user's. Called on every authenticated request: one round trip.
    async fn is_token_revoked(
        &self,
        session_id: SessionId,
        user_id: UserId,
        issued_at: OffsetDateTime,
    ) -> Result<bool, InfrastructureError>;
}
