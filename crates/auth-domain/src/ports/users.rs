//! Port: user accounts.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::email::Email;
use crate::error::InfrastructureError;
use crate::ids::UserId;
use crate::password::PasswordHash;
use crate::user::{DisplayName, Role, User};

#[derive(Debug, thiserror::Error)]
pub enum UserRepositoryError {
    /// Another account has this (normalised) email.
    #[error("an account with this email exists")]
    EmailTaken,
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// # Errors
    /// MUST return [`UserRepositoryError::EmailTaken`] when the email is already in use, including
    /// when a concurrent insert of the same email won the race.
    async fn insert(&self, user: &User) -> Result<(), UserRepositoryError>;

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, InfrastructureError>;

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, InfrastructureError>;

    /// # Errors
    /// [`UserRepositoryError::NotFound`] when there is no such user.
    async fn mark_email_verified(&self, id: UserId, at: OffsetDateTime) -> Result<(), UserRepositoryError>;

    /// # Errors
    /// [`UserRepositoryError::NotFound`] when there is no such user.
    async fn update_display_name(
        &self,
        id: UserId,
        display_name: Option<DisplayName>,
        at: OffsetDateTime,
    ) -> Result<(), UserRepositoryError>;

    /// # Errors
    /// [`UserRepositoryError::NotFound`] when there is no such user.
    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
    ) -> Result<(), UserRepositoryError>;

    /// Deletes the account; its sessions, refresh tokens and one-time tokens go with it. Audit
    /// rows stay.
    ///
    /// # Errors
    /// [`UserRepositoryError::NotFound`] when there is no such user.
    async fn delete(&self, id: UserId) -> Result<(), UserRepositoryError>;

    /// Replaces the user's roles.
    ///
    /// # Errors
    /// [`UserRepositoryError::NotFound`] when there is no such user.
    async fn set_roles(&self, id: UserId, roles: &[Role], at: OffsetDateTime) -> Result<(), UserRepositoryError>;
}
