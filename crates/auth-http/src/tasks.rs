//! Work a request hands off to finish after its response, tracked so that shutdown waits for it.

use std::future::Future;
use std::time::Duration;

use auth_domain::ports::{BackgroundTask, BackgroundTasks};
use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

/// The work requests hand off: what must not hold the response back, or make its timing tell
/// anything (the mail of a resend or of a forgotten password).
///
/// The work runs on the runtime that made this, not on the HTTP worker that answered: a worker's
/// runtime ends with the server, and would drop unfinished work with it.
#[derive(Debug, Clone)]
pub struct Deferred {
    tracker: TaskTracker,
    runtime: Handle,
}

impl Deferred {
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn on_current_runtime() -> Self {
        Self { tracker: TaskTracker::new(), runtime: Handle::current() }
    }

    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.tracker.spawn_on(work, &self.runtime);
    }

    /// How much handed-off work has not finished.
    pub fn pending(&self) -> usize {
        self.tracker.len()
    }

    /// Waits until every piece of work handed off so far has finished, at most `limit`; whether
    /// it all did. Meant for shutdown, once no request can hand off more.
    pub async fn drain(&self, limit: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait()).await.is_ok()
    }
}

/// The domain's port for handed-off work: the use cases hand their second halves here.
impl BackgroundTasks for Deferred {
    fn spawn(&self, task: BackgroundTask) {
        Deferred::spawn(self, task);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_drain_waits_for_the_work_handed_off() {
        let deferred = Deferred::on_current_runtime();
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        deferred.spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
        });
        assert_eq!(deferred.pending(), 1);
        assert!(deferred.drain(Duration::from_secs(5)).await);
        assert!(done.load(Ordering::SeqCst));
        assert_eq!(deferred.pending(), 0);
    }

    #[tokio::test]
    async fn a_drain_gives_up_after_its_limit() {
        let deferred = Deferred::on_current_runtime();
        deferred.spawn(std::future::pending());
        assert!(!deferred.drain(Duration::from_millis(20)).await);
    }
}
