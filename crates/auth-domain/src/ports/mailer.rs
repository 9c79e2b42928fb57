//! Port: mail delivery.

use async_trait::async_trait;

use crate::error::InfrastructureError;
use crate::mail::Mail;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Renders and delivers (or durably queues) `mail`. On `Ok` the mail will not be lost.
    async fn send(&self, mail: Mail) -> Result<(), InfrastructureError>;
}
