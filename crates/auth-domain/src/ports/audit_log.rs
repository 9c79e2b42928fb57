//! Port: the append-only audit log.

use async_trait::async_trait;

use crate::audit::NewAuditEvent;
use crate::error::InfrastructureError;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends one event. Events are never changed or removed once appended.
    async fn append(&self, event: NewAuditEvent) -> Result<(), InfrastructureError>;
}
