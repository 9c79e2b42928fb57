//! Use cases: log out, log out everywhere, list and revoke one's own sessions.

use serde_json::json;

use super::{AuthService, Principal, RequestContext};
use crate::audit::AuditEventKind;
use crate::error::InfrastructureError;
use crate::ids::SessionId;
use crate::session::{RevocationReason, Session};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[derive(Debug, thiserror::Error)]
pub enum RevokeSessionError {
    /// No live session with this id belongs to the caller (another user's session included).
    #[error("no such session")]
    NotFound,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

/// A session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub session: Session,
    /// Whether this is the session of the token that asked.
    pub current: bool,
}

impl AuthService {
    /// Revokes the caller's session: its refresh token stops working, and its access tokens fail
    /// at once on every replica.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn logout(&self, principal: &Principal, context: &RequestContext) -> Result<(), SessionError> {
        let now = self.now();
        self.ports.sessions.revoke(principal.session_id, RevocationReason::Logout, now).await?;
        self.revoke_access_tokens(principal.session_id, now).await?;
        self.audit(AuditEventKind::Logout, Some(principal.user_id), Some(principal.session_id), context, json!({}))
            .await?;
        Ok(())
    }

    /// Revokes every session of the caller, the current one included, and every access token the
    /// caller holds, at once on every replica.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn logout_all(&self, principal: &Principal, context: &RequestContext) -> Result<(), SessionError> {
        let now = self.now();
        let revoked =
            self.ports.sessions.revoke_all_for_user(principal.user_id, RevocationReason::LogoutAll, now).await?;
        // A mark per revoked session, and the caller's even if it was revoked already.
        self.revoke_access_tokens(principal.session_id, now).await?;
        for session in revoked.iter().filter(|session| session.id != principal.session_id) {
            self.revoke_access_tokens(session.id, now).await?;
        }
        self.audit(
            AuditEventKind::LogoutAll,
            Some(principal.user_id),
            Some(principal.session_id),
            context,
            json!({ "sessions_revoked": revoked.len() }),
        )
        .await?;
        Ok(())
    }

    /// The caller's live sessions, newest first, with the current one marked.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn list_sessions(&self, principal: &Principal) -> Result<Vec<SessionView>, SessionError> {
        let sessions = self.ports.sessions.list_active_for_user(principal.user_id, self.now()).await?;
        Ok(sessions
            .into_iter()
            .map(|session| SessionView { current: session.id == principal.session_id, session })
            .collect())
    }

    /// Revokes one of the caller's own sessions.
    ///
    /// # Errors
    /// [`RevokeSessionError::NotFound`] when the session does not exist, is not the caller's, or
    /// is no longer live: the caller cannot tell these apart.
    pub async fn revoke_own_session(
        &self,
        principal: &Principal,
        session_id: SessionId,
        context: &RequestContext,
    ) -> Result<(), RevokeSessionError> {
        let now = self.now();
        let session = self.ports.sessions.find(session_id).await?.ok_or(RevokeSessionError::NotFound)?;
        if session.user_id != principal.user_id || !session.is_active_at(now) {
            return Err(RevokeSessionError::NotFound);
        }
        if !self.ports.sessions.revoke(session_id, RevocationReason::RevokedByUser, now).await? {
            return Err(RevokeSessionError::NotFound);
        }
        self.revoke_access_tokens(session_id, now).await?;
        self.audit(AuditEventKind::SessionRevoked, Some(principal.user_id), Some(session_id), context, json!({}))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
