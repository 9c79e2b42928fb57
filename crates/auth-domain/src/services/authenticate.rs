//! Use case: authenticate a request by its access token.

use std::sync::Arc;

use super::{AuthPolicy, AuthPorts, Principal, RevocationService};
use crate::error::InfrastructureError;
use crate::ports::{AccessTokenCodec, TokenRejection};
use crate::user::Role;

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("the access token is invalid: {0}")]
    InvalidToken(TokenRejection),
    #[error("the access token's session is revoked")]
    Revoked,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

/// Turns an access token into the caller it names, refusing revoked sessions.
#[derive(Clone)]
pub struct Authenticator {
    tokens: Arc<dyn AccessTokenCodec>,
    revocations: RevocationService,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator")
    }
}

impl Authenticator {
    pub(super) fn new(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
        Self { tokens: Arc::clone(&ports.tokens), revocations: RevocationService::new(ports, policy) }
    }

    /// Verifies an access token's signature and claims in memory, then asks the revocation cache
    /// whether its session was revoked. No database is touched while the cache is complete.
    ///
    /// # Errors
    /// [`AuthenticateError::InvalidToken`] or [`AuthenticateError::Revoked`] for a token that must be
    /// refused; [`AuthenticateError::Infrastructure`] when revocation cannot be checked, in which
    /// case the token is refused too (fail closed).
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticateError> {
        let claims = self.tokens.verify(access_token).map_err(AuthenticateError::InvalidToken)?;
        if self.revocations.is_session_revoked(claims.sid).await? {
            return Err(AuthenticateError::Revoked);
        }
        let roles = claims.roles.iter().filter_map(|role| Role::parse(role).ok()).collect();
        Ok(Principal { user_id: claims.sub, session_id: claims.sid, roles, claims })
    }
}

#[cfg(test)]
mod tests;
