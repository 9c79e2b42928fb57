//! What the SQLite and PostgreSQL mail queues share: the status names and row helpers.

use auth_domain::ports::MailQueueStats;

/// Waiting for a first attempt, a retry, or the end of a worker's lease.
pub(crate) const PENDING: &str = "pending";
/// Given up on; kept for an operator.
pub(crate) const FAILED: &str = "failed";
/// The longest error text kept per job.
const MAX_ERROR_CHARS: usize = 500;

pub(crate) fn truncate_error(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

/// Folds `(status, count)` rows into the stats.
pub(crate) fn stats_from_counts(counts: &[(String, i64)]) -> MailQueueStats {
    let count_of = |status: &str| {
        counts.iter().find(|(name, _)| name == status).map_or(0, |(_, count)| u64::try_from(*count).unwrap_or(0))
    };
    MailQueueStats { pending: count_of(PENDING), failed: count_of(FAILED) }
}
