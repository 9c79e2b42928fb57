//! Port: the append-only audit log.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use crate::audit::NewAuditEvent;
use crate::error::InfrastructureError;
use crate::ids::{SessionId, UserId};

/// A filtered page of the audit log, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub user_id: Option<UserId>,
    /// An event name, e.g. `login_failed`.
    pub event: Option<String>,
    /// Only events created at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Only events after this position: the previous page's last [`AuditRecord::seq`].
    pub after: Option<i64>,
    pub limit: u32,
}

/// An audit row as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The row's position in the log (and its hash chain); grows with every append.
    pub seq: i64,
    pub id: uuid::Uuid,
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    pub event: String,
    /// `None` once erased with its account.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Value,
    pub created_at: OffsetDateTime,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends one event. Events are never changed or removed once appended.
    async fn append(&self, event: NewAuditEvent) -> Result<(), InfrastructureError>;

    /// The events matching `query`, in append order, at most `query.limit`. Events appended
    /// meanwhile come after every earlier one, so paging never skips or repeats a row.
    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, InfrastructureError>;
}
