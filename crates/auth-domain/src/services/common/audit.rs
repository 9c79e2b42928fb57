//! [`Auditor`]: appends the audit events of the use cases, stamped by the clock.

use std::sync::Arc;

use crate::audit::{AuditDetail, AuditEventKind, NewAuditEvent};
use crate::error::InfrastructureError;
use crate::ids::{SessionId, UserId};
use crate::ports::{AuditLog, Clock};
use crate::services::RequestContext;

/// Writes one audit event per security-relevant outcome; held by every area that has any.
#[derive(Clone)]
pub(crate) struct Auditor {
    log: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auditor")
    }
}

impl Auditor {
    pub(crate) fn new(log: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> Self {
        Self { log, clock }
    }

    pub(crate) async fn record(
        &self,
        kind: AuditEventKind,
        user_id: Option<UserId>,
        session_id: Option<SessionId>,
        context: &RequestContext,
        detail: AuditDetail,
    ) -> Result<(), InfrastructureError> {
        self.log
            .append(NewAuditEvent {
                kind,
                user_id,
                session_id,
                ip: context.ip.map(|ip| ip.to_string()),
                user_agent: context.user_agent.clone(),
                detail: detail.to_json(),
                created_at: self.clock.now(),
            })
            .await
    }
}
