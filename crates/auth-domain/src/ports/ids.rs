//! Port: fresh identifiers.

use uuid::Uuid;

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A new identifier, unique across every process; time-ordered (UUID v7) in production.
    fn new_id(&self) -> Uuid;
}
