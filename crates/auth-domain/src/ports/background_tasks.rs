//! Port: work a use case hands off to finish after its caller has been answered.

use std::future::Future;
use std::pin::Pin;

/// A piece of handed-off work; it reports its own failures (to the log), since nobody waits for it.
pub type BackgroundTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs handed-off work to completion. Implementations track it, so that a process shutting down
/// waits for the work its requests handed off (within a bound) instead of dropping it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait BackgroundTasks: Send + Sync {
    /// Starts `task`; returns at once.
    fn spawn(&self, task: BackgroundTask);
}
