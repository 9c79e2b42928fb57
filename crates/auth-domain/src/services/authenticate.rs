//! Use case: authenticate a request by its access token.

use super::{AuthService, Principal};
use crate::error::InfrastructureError;
use crate::ports::TokenRejection;

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("the access token is invalid: {0}")]
    InvalidToken(TokenRejection),
    #[error("the access token's session is revoked")]
    Revoked,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

impl AuthService {
    /// Verifies an access token's signature and claims in memory, then asks the revocation cache
    /// whether its session was revoked. No database is touched while the cache is complete.
    ///
    /// # Errors
    /// [`AuthenticateError::InvalidToken`] or [`AuthenticateError::Revoked`] for a token that must be
    /// refused; [`AuthenticateError::Infrastructure`] when revocation cannot be checked, in which
    /// case the token is refused too (fail closed).
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticateError> {
        let claims = self.ports.tokens.verify(access_token).map_err(AuthenticateError::InvalidToken)?;
        if self.is_session_revoked(claims.sid).await? {
            return Err(AuthenticateError::Revoked);
        }
        Ok(Principal { user_id: claims.sub, session_id: claims.sid, roles: claims.roles.clone(), claims })
    }
}

#[cfg(test)]
mod tests;
