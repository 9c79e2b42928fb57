//! The loops a process runs beside its server (key reloads, mail delivery, revocations): each is
//! a [`BackgroundTask`] that stops when told, so that shutdown is an order, not an accident.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One loop, and the means to stop it.
#[derive(Debug)]
pub struct BackgroundTask {
    name: &'static str,
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

impl BackgroundTask {
    /// Runs `body` with the token that tells it to stop; a loop should check it between steps,
    /// so that a step under way (a mail batch, a key reload) can finish.
    pub fn spawn<Body, Running>(name: &'static str, body: Body) -> Self
    where
        Body: FnOnce(CancellationToken) -> Running,
        Running: Future<Output = ()> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let handle = tokio::spawn(body(stop.clone()));
        Self { name, stop, handle }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Ends the task at once, wherever it is: for a process that never served (a failed start,
    /// a one-off command), where there is nothing to finish.
    pub fn abort(self) {
        self.handle.abort();
    }
}

/// Sleeps `duration`, or less when told to stop; whether to go on.
pub async fn pause(stop: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(duration) => true,
    }
}

/// Tells every task to stop, and waits for them together at most `limit`; a task still running
/// then is aborted (the work it drops is not lost: a mail's lease expires and another worker
/// delivers it, and the next start reloads the keys).
pub async fn stop_all(tasks: Vec<BackgroundTask>, limit: Duration) {
    for task in &tasks {
        task.stop.cancel();
    }
    let deadline = tokio::time::Instant::now() + limit;
    for mut task in tasks {
        match tokio::time::timeout_at(deadline, &mut task.handle).await {
            Ok(Ok(())) => tracing::debug!(task = task.name, "background task stopped"),
            Ok(Err(error)) => tracing::warn!(task = task.name, error = %error, "background task had failed"),
            Err(_) => {
                task.handle.abort();
                tracing::warn!(task = task.name, limit = ?limit, "background task did not stop in time; aborted");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_loop_stops_at_its_next_pause() {
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        let task = BackgroundTask::spawn("test loop", |stop| async move {
            while pause(&stop, Duration::from_secs(3600)).await {}
            flag.store(true, Ordering::SeqCst);
        });
        stop_all(vec![task], Duration::from_secs(5)).await;
        assert!(stopped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_order_is_aborted_after_the_limit() {
        let task = BackgroundTask::spawn("stubborn", |_| std::future::pending());
        let started = std::time::Instant::now();
        stop_all(vec![task], Duration::from_millis(50)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
