//! Port: mail delivery, one attempt at a time; the mail queue retries.

use async_trait::async_trait;

use crate::mail::MailJob;

/// Why an attempt did not deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The server is down, slow, or answered with a temporary (4xx) refusal: worth another try.
    #[error("mail delivery failed for now: {0}")]
    Transient(String),
    /// The server refused the mail for good (a 5xx answer, e.g. an unknown mailbox).
    #[error("mail delivery was refused: {0}")]
    Rejected(String),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Renders the job's mail and hands it to the next hop. `Ok` means the hop accepted it.
    ///
    /// The messages MUST carry a `Message-ID` derived from the job id, so that a retry after a
    /// lost acknowledgement can be recognised downstream as the same mail.
    ///
    /// # Errors
    /// The message of an error names the server's answer, never the mail's content.
    async fn send(&self, job: &MailJob) -> Result<(), DeliveryError>;
}
