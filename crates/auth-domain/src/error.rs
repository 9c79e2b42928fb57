//! The one error every port may return when its backing service fails, whatever the port.

use std::error::Error;

/// A boxed cause, kept for the log line and never shown to a client.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// A failure of the infrastructure behind a port, as opposed to a domain outcome.
///
/// Adapters translate their driver errors into one of these two variants, once, at the edge.
#[derive(Debug, thiserror::Error)]
pub enum InfrastructureError {
    /// The backing service could not be reached or did not answer in time; the request may be
    /// retried later. The HTTP layer answers 503.
    #[error("a backing service is unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug, corrupt data, a broken invariant. The HTTP layer answers 500.
    #[error("unexpected failure in a backing service")]
    Unexpected(#[source] BoxError),
}

impl InfrastructureError {
    /// Wraps any error as [`InfrastructureError::Unexpected`].
    pub fn unexpected(error: impl Into<BoxError>) -> Self {
        Self::Unexpected(error.into())
    }

    /// Wraps any error as [`InfrastructureError::Unavailable`].
    pub fn unavailable(error: impl Into<BoxError>) -> Self {
        Self::Unavailable(error.into())
    }
}
