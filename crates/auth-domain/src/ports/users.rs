//! Port: user accounts.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::email::Email;
use crate::error::InfrastructureError;
use crate::ids::{SessionId, UserId};
use crate::mail::QueuedMail;
use crate::password::PasswordHash;
use crate::ports::MailedToken;
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

/// One page of users in a stable order (by id, which is time-ordered), for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    /// Only users whose (normalised) email contains this text, compared case-insensitively.
    pub email_contains: Option<String>,
    /// Only users after this one in the order: the previous page's last user.
    pub after: Option<UserId>,
    pub limit: u32,
}

/// Why a password hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordUpdate {
    /// The same password, hashed again with new parameters: nothing else changes. Stored only
    /// while the account's hash is still `previous`, so that a login that was in flight when a
    /// reset completed never puts the old password back.
    Rehash { previous: PasswordHash },
    /// A new password. The credentials version moves on, the "password changed" notice is queued,
    /// and `keep` (the session of the caller who changed it, if any) moves to the new version, all
    /// in one transaction.
    NewPassword { notice: QueuedMail, keep: Option<SessionId> },
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new account with its verification token and queues the mail that carries the
    /// token, all in one transaction: there is never an account whose first link was lost.
    ///
    /// # Errors
    /// MUST return [`UserRepositoryError::EmailTaken`] when the email is already in use, including
    /// when a concurrent insert of the same email won the race; nothing is stored then.
    async fn insert(&self, user: &User, verification: &MailedToken) -> Result<(), UserRepositoryError>;

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

    /// Stores a new hash, and what [`PasswordUpdate`] says goes with it, in one transaction.
    ///
    /// # Errors
    /// [`UserRepositoryError::NotFound`] when there is no such user; nothing is queued then.
    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        at: OffsetDateTime,
        update: PasswordUpdate,
    ) -> Result<(), UserRepositoryError>;

    /// Deletes the account; its sessions, refresh tokens and one-time tokens go with it. Audit
    /// rows stay, pseudonymised in the same transaction: their IP and user-agent fields are
    /// erased (their digests stay, so the hash chain still verifies), and the user id they keep
    /// no longer leads to anybody.
    ///
    /// # Errors
    /// [`UserRepositoryError::NotFound`] when there is no such user.
    async fn delete(&self, id: UserId) -> Result<(), UserRepositoryError>;

    /// Replaces the user's roles, and moves the credentials version on.
    ///
    /// # Errors
    /// [`UserRepositoryError::NotFound`] when there is no such user.
    async fn set_roles(&self, id: UserId, roles: &[Role], at: OffsetDateTime) -> Result<(), UserRepositoryError>;

    /// Disables or re-enables the account, and moves the credentials version on.
    ///
    /// # Errors
    /// [`UserRepositoryError::NotFound`] when there is no such user.
    async fn set_disabled(&self, id: UserId, disabled: bool, at: OffsetDateTime) -> Result<(), UserRepositoryError>;

    /// Users in id order, after `query.after`, at most `query.limit` of them. Users inserted
    /// meanwhile never shift a later page: ids only grow.
    async fn list(&self, query: &UserQuery) -> Result<Vec<User>, InfrastructureError>;
}
