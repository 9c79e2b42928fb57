//! Port: the list of passwords known from breaches.

use async_trait::async_trait;

use crate::error::InfrastructureError;
use crate::password::Password;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BreachedPasswords: Send + Sync {
    /// Whether `password` appears in the list. An implementation with no list answers `false`.
    async fn contains(&self, password: &Password) -> Result<bool, InfrastructureError>;
}

/// No list configured: nothing counts as breached.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBreachedPasswords;

#[async_trait]
impl BreachedPasswords for NoBreachedPasswords {
    async fn contains(&self, _password: &Password) -> Result<bool, InfrastructureError> {
        Ok(false)
    }
}
