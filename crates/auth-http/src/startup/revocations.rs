//! The background task that keeps the revocation cache complete and current: it restores the
//! cache from the database at start, then copies every new revocation the database records (from
//! any process: another replica whose cache write failed, a command-line `users revoke-role` beside
//! an embedded server) into it every second, and forgets expired marks once a minute.

use std::time::Duration;

use auth_domain::services::FeedPosition;
use auth_domain::services::RevocationService;
use tokio_util::sync::CancellationToken;

use super::background::{BackgroundTask, pause};

/// How often the database's revocations are copied into the cache: a revocation made by another
/// process takes effect here within this long.
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);
/// How often marks whose tokens have all expired are dropped from the cache.
const FORGET_INTERVAL: Duration = Duration::from_secs(60);

/// Starts the follower, which runs until told to stop. Failures are logged once per outage and
/// retried; checks made meanwhile restore the cache themselves when it is incomplete.
pub fn spawn_revocation_follower(service: RevocationService) -> BackgroundTask {
    BackgroundTask::spawn("revocation follower", move |stop| follow(service, stop))
}

async fn follow(service: RevocationService, stop: CancellationToken) {
    let mut position: Option<FeedPosition> = None;
    let mut failing = false;
    let mut last_forget = tokio::time::Instant::now();
    loop {
        let step = match position {
            None => service.restore_revocations().await,
            Some(from) => service.follow_revocations(from).await,
        };
        match step {
            Ok(next) => {
                position = Some(next);
                if failing {
                    tracing::info!("revocations are followed again");
                    failing = false;
                }
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(error = %error, "cannot follow revocations; retrying");
                    failing = true;
                }
            }
        }
        if last_forget.elapsed() >= FORGET_INTERVAL {
            last_forget = tokio::time::Instant::now();
            if let Err(error) = service.forget_expired_revocations().await {
                tracing::debug!(error = %error, "cannot forget expired revocations now");
            }
        }
        if !pause(&stop, FOLLOW_INTERVAL).await {
            return;
        }
    }
}
