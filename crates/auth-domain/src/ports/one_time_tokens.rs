//! Port: single-use tokens mailed to users, stored as hashes.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::InfrastructureError;
use crate::ids::UserId;
use crate::mail::QueuedMail;
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

/// A one-time token and the mail that carries it, stored together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailedToken {
    pub record: OneTimeTokenRecord,
    pub mail: QueuedMail,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OneTimeTokenRepository: Send + Sync {
    /// In one transaction: voids every token of the same user and purpose, stores this one, and
    /// queues its mail. Only the newest link works.
    async fn replace(&self, token: &MailedToken) -> Result<(), InfrastructureError>;

    /// Uses the token up. MUST return the user only when a token with this hash and purpose exists
    /// and has not expired at `now`, and MUST make it unusable in the same atomic step, so that two
    /// concurrent calls cannot both succeed.
    async fn consume(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, InfrastructureError>;
}
