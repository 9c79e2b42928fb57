//! Use cases: log out, log out everywhere, list and revoke one's own sessions.

use std::sync::Arc;

use super::common::{Auditor, Throttle, TokenIssuer};
use super::{AuthPolicy, AuthPorts, Principal, RequestContext, RevocationService};
use crate::audit::{AuditDetail, AuditEventKind};
use crate::error::InfrastructureError;
use crate::ids::SessionId;
use crate::ports::{Clock, SessionRepository, UserRepository};
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

/// A session after its login: refresh, logout, logout everywhere, and the owner's view of them.
#[derive(Clone)]
pub struct SessionService {
    pub(super) sessions: Arc<dyn SessionRepository>,
    pub(super) users: Arc<dyn UserRepository>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) throttle: Throttle,
    pub(super) auditor: Auditor,
    pub(super) issuer: TokenIssuer,
    pub(super) revocations: RevocationService,
    pub(super) policy: Arc<AuthPolicy>,
}

impl std::fmt::Debug for SessionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionService")
    }
}

impl SessionService {
    pub(super) fn new(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
        Self {
            sessions: Arc::clone(&ports.sessions),
            users: Arc::clone(&ports.users),
            clock: Arc::clone(&ports.clock),
            throttle: ports.throttle(policy),
            auditor: ports.auditor(),
            issuer: ports.token_issuer(policy),
            revocations: RevocationService::new(ports, policy),
            policy: Arc::clone(policy),
        }
    }

    /// Revokes the caller's session: its refresh token stops working, and its access tokens fail
    /// at once on every replica.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn logout(&self, principal: &Principal, context: &RequestContext) -> Result<(), SessionError> {
        let now = self.clock.now();
        self.sessions.revoke(principal.session_id, RevocationReason::Logout, now).await?;
        self.revocations.revoke_access_tokens(principal.session_id, now).await?;
        self.auditor
            .record(
                AuditEventKind::Logout,
                Some(principal.user_id),
                Some(principal.session_id),
                context,
                AuditDetail::Nothing {},
            )
            .await?;
        Ok(())
    }

    /// Revokes every session of the caller, the current one included, and every access token the
    /// caller holds, at once on every replica.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn logout_all(&self, principal: &Principal, context: &RequestContext) -> Result<(), SessionError> {
        let now = self.clock.now();
        let revoked = self.sessions.revoke_all_for_user(principal.user_id, RevocationReason::LogoutAll, now).await?;
        // A mark per revoked session, and the caller's even if it was revoked already.
        self.revocations.revoke_access_tokens(principal.session_id, now).await?;
        for session in revoked.iter().filter(|session| session.id != principal.session_id) {
            self.revocations.revoke_access_tokens(session.id, now).await?;
        }
        self.auditor
            .record(
                AuditEventKind::LogoutAll,
                Some(principal.user_id),
                Some(principal.session_id),
                context,
                AuditDetail::SessionsRevoked { sessions_revoked: revoked.len() },
            )
            .await?;
        Ok(())
    }

    /// The caller's live sessions, newest first, with the current one marked.
    ///
    /// # Errors
    /// Only infrastructure failures.
    pub async fn list_sessions(&self, principal: &Principal) -> Result<Vec<SessionView>, SessionError> {
        let sessions = self.sessions.list_active_for_user(principal.user_id, self.clock.now()).await?;
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
        let now = self.clock.now();
        let session = self.sessions.find(session_id).await?.ok_or(RevokeSessionError::NotFound)?;
        if session.user_id != principal.user_id || !session.is_active_at(now) {
            return Err(RevokeSessionError::NotFound);
        }
        if !self.sessions.revoke(session_id, RevocationReason::RevokedByUser, now).await? {
            return Err(RevokeSessionError::NotFound);
        }
        self.revocations.revoke_access_tokens(session_id, now).await?;
        self.auditor
            .record(
                AuditEventKind::SessionRevoked,
                Some(principal.user_id),
                Some(session_id),
                context,
                AuditDetail::Nothing {},
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
