//! Port: password hashing, memory-hard and bounded.

use async_trait::async_trait;

use crate::error::InfrastructureError;
use crate::password::{Password, PasswordHash};

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password is right; `needs_rehash` when the hash was made with other parameters.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes are running or waiting; the caller should retry later (HTTP 503).
    #[error("too many password hashes are in progress")]
    Overloaded,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password with the configured parameters, off the async worker threads.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// Checks `password` against `hash` in constant time.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<PasswordCheck, HashError>;

    /// Spends the time of one [`PasswordHasher::verify`] and discards the result, so that an
    /// unknown account takes as long to refuse as a known one.
    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError>;
}
