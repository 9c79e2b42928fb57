//! Use case: exchange a refresh token for a new token pair, rotating it.

use time::OffsetDateTime;

use super::common::{LimitError, limit_keys};
use super::{RequestContext, SessionService};
use crate::audit::{AuditDetail, AuditEventKind};
use crate::error::InfrastructureError;
use crate::ports::{Rotation, RotationOutcome};
use crate::rate_limit::RateLimitExceeded;
use crate::session::{RevocationReason, Session};
use crate::tokens::{RefreshToken, TokenPair};

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, malformed, or of a revoked session.
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    /// A rotated-away token came back after the grace window: the session is now revoked.
    #[error("the refresh token was used before; the session is revoked")]
    Reused,
    #[error("the session has expired")]
    SessionExpired,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error(transparent)]
    RateLimited(RateLimitExceeded),
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

impl From<LimitError> for RefreshError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Exceeded(exceeded) => Self::RateLimited(exceeded),
            LimitError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

impl SessionService {
    /// Rotates a refresh token.
    ///
    /// The current token is exchanged for its successor. A token rotated away less than the grace
    /// window ago is taken for a client retry and gets the very same successor; one presented
    /// later is reuse, a sign the token was stolen: the whole session is revoked and audited.
    ///
    /// # Errors
    /// See [`RefreshError`].
    pub async fn refresh(&self, presented: &str, context: &RequestContext) -> Result<TokenPair, RefreshError> {
        let token = RefreshToken::parse(presented).ok_or(RefreshError::InvalidRefreshToken)?;
        let (session, record) =
            self.sessions.find_by_refresh_token(&token.hash()).await?.ok_or(RefreshError::InvalidRefreshToken)?;
        let now = self.clock.now();
        // The account is checked first: disabling it revokes its sessions, and its owner should
        // learn that the account is disabled, not that the token is invalid.
        let user = self.users.find_by_id(session.user_id).await?.ok_or(RefreshError::InvalidRefreshToken)?;
        if user.disabled {
            return Err(RefreshError::AccountDisabled);
        }
        if session.is_revoked() {
            return Err(RefreshError::InvalidRefreshToken);
        }
        if session.credentials_version < user.credentials_version {
            // Opened before a new password, a disable or a role change that should have ended
            // it; end it now, whatever became of that revocation.
            self.sessions.revoke(session.id, RevocationReason::CredentialsChanged, now).await?;
            self.revocations.revoke_access_tokens(session.id, now).await?;
            return Err(RefreshError::InvalidRefreshToken);
        }
        if session.is_expired_at(now) {
            return Err(RefreshError::SessionExpired);
        }
        self.throttle
            .enforce(self.policy.rate_limits.refresh_per_session, &limit_keys::refresh_session(session.id))
            .await?;

        let successor = token.successor(&self.policy.refresh_secret);
        let outcome = match record.rotated_at {
            Some(rotated_at) => RotationOutcome::AlreadyRotated { rotated_at },
            None => {
                let rotation = Rotation {
                    session_id: session.id,
                    parent: record.hash.clone(),
                    successor: successor.hash(),
                    now,
                    idle_expires_at: now + self.policy.session_idle_ttl,
                };
                self.sessions.rotate(&rotation).await?
            }
        };
        let session = match outcome {
            RotationOutcome::Rotated => {
                Session { last_used_at: now, idle_expires_at: now + self.policy.session_idle_ttl, ..session }
            }
            RotationOutcome::AlreadyRotated { rotated_at } if now - rotated_at <= self.policy.refresh_grace => {
                // A retry: the first call already moved the session forward; reload for its limits.
                self.sessions.find(session.id).await?.unwrap_or(session)
            }
            RotationOutcome::AlreadyRotated { rotated_at } => {
                self.revoke_for_reuse(&session, rotated_at, now, context).await?;
                return Err(RefreshError::Reused);
            }
        };
        self.auditor
            .record(AuditEventKind::TokenRefreshed, Some(user.id), Some(session.id), context, AuditDetail::Nothing {})
            .await?;
        Ok(self.issuer.issue_token_pair(user, &session, successor, now)?)
    }

    async fn revoke_for_reuse(
        &self,
        session: &Session,
        rotated_at: OffsetDateTime,
        now: OffsetDateTime,
        context: &RequestContext,
    ) -> Result<(), InfrastructureError> {
        self.sessions.revoke(session.id, RevocationReason::RefreshTokenReuse, now).await?;
        self.revocations.revoke_access_tokens(session.id, now).await?;
        let seconds_since_rotation = (now - rotated_at).whole_seconds();
        self.auditor
            .record(
                AuditEventKind::RefreshTokenReuseDetected,
                Some(session.user_id),
                Some(session.id),
                context,
                AuditDetail::Reuse { seconds_since_rotation },
            )
            .await
    }
}

#[cfg(test)]
mod tests;
