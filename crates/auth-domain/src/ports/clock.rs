//! Port: the current time, so that use cases can be tested at any instant.

use time::OffsetDateTime;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant in UTC.
    fn now(&self) -> OffsetDateTime;
}
