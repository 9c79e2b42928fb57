//! Port: the durable mail queue (a transactional outbox) that the delivery workers drain.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::InfrastructureError;
use crate::ids::MailJobId;
use crate::mail::{MailJob, QueuedMail};

/// What an operator needs to see of the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailQueueStats {
    /// Waiting for a first attempt or a retry.
    pub pending: u64,
    /// Given up on: out of attempts, or refused for good.
    pub failed: u64,
}

/// A failed mail, for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedMail {
    pub id: MailJobId,
    pub template: String,
    pub attempts: u32,
    pub last_error: String,
    pub queued_at: OffsetDateTime,
    pub failed_at: OffsetDateTime,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MailQueue: Send + Sync {
    /// Queues a mail that no other state change goes with. Mails that do go with one are queued
    /// by the repository method that makes the change, in its transaction.
    async fn enqueue(&self, mail: QueuedMail) -> Result<(), InfrastructureError>;

    /// Claims up to `limit` pending jobs due at `now` (oldest due first), counting one more attempt
    /// for each and leasing them until `now + lease`.
    ///
    /// MUST never hand one job to two callers while its lease runs, including callers in other
    /// processes sharing the store. A job whose lease ran out without an outcome (its worker died)
    /// is due again. A stored job that can no longer be read (e.g. sealed under another master
    /// key) MUST be marked failed rather than returned or retried forever.
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<MailJob>, InfrastructureError>;

    /// The job was delivered: it leaves the queue, and its content with it.
    async fn complete(&self, id: MailJobId) -> Result<(), InfrastructureError>;

    /// The attempt failed for now: the job is due again at `at`.
    async fn retry_at(&self, id: MailJobId, at: OffsetDateTime, error: &str) -> Result<(), InfrastructureError>;

    /// Gives up on the job: it stays, failed, for an operator to see or to requeue.
    async fn fail(&self, id: MailJobId, at: OffsetDateTime, error: &str) -> Result<(), InfrastructureError>;

    async fn stats(&self) -> Result<MailQueueStats, InfrastructureError>;

    /// The failed jobs, newest first.
    async fn list_failed(&self, limit: u32) -> Result<Vec<FailedMail>, InfrastructureError>;

    /// Makes a failed job pending again, due at `now`, with its attempts reset.
    /// `Ok(false)` when there is no failed job with this id.
    async fn requeue_failed(&self, id: MailJobId, now: OffsetDateTime) -> Result<bool, InfrastructureError>;
}
