//! Port: the shared store of revoked sessions that every replica consults on every request.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::InfrastructureError;
use crate::ids::SessionId;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Marks a session revoked until `until`, the latest expiry of any access token it issued;
    /// after that the mark may be forgotten. MUST be visible to every replica once it returns.
    async fn revoke_session(&self, session_id: SessionId, until: OffsetDateTime) -> Result<(), InfrastructureError>;

    /// Whether the session was revoked. Called on every authenticated request: keep it cheap.
    async fn is_session_revoked(&self, session_id: SessionId) -> Result<bool, InfrastructureError>;
}
