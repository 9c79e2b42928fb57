//! Port: single-use tokens mailed to users, stored as hashes.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::InfrastructureError;
use crate::ids::UserId;
use crate::tokens::TokenHash;

/// What a one-time token is for; a token of one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    VerifyEmail,
    PasswordReset,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeTokenRecord {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OneTimeTokenRepository: Send + Sync {
    async fn insert(&self, record: OneTimeTokenRecord) -> Result<(), InfrastructureError>;

    /// Uses the token up. MUST return the user only when a token with this hash and purpose exists
    /// and has not expired at `now`, and MUST make it unusable in the same atomic step, so that two
    /// concurrent calls cannot both succeed.
    async fn consume(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, InfrastructureError>;

    /// Voids every token of `purpose` held for `user_id`, so that only a newer one works.
    async fn delete_for_user(&self, user_id: UserId, purpose: TokenPurpose) -> Result<(), InfrastructureError>;
}
