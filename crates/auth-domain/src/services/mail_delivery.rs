//! Use case: drain the mail queue, one batch at a time, with retries and back-off.
//!
//! Every replica runs this in a loop; the queue's leases keep two replicas off one job.

use std::sync::Arc;
use std::time::Duration;

use crate::error::InfrastructureError;
use crate::mail::MailJob;
use crate::ports::{Clock, DeliveryError, MailQueue, Mailer};

/// How hard to try.
#[derive(Debug, Clone)]
pub struct MailDeliveryPolicy {
    /// Attempts before a job is given up on and marked failed.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles with each further one.
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub max_retry: Duration,
    /// How long a claimed job is kept from other workers; longer than one delivery can take.
    pub lease: Duration,
    /// Jobs claimed at once.
    pub batch: u32,
}

impl Default for MailDeliveryPolicy {
    fn default() -> Self {
        Self {
            // 10 s doubling to the 1 h cap: the 12th and last attempt comes about 3.4 h after the first.
            max_attempts: 12,
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(3600),
            lease: Duration::from_secs(120),
            batch: 16,
        }
    }
}

impl MailDeliveryPolicy {
    /// The wait after the `attempts`-th failed attempt: `first_retry * 2^(attempts - 1)`, capped.
    pub fn backoff_after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.first_retry.saturating_mul(1 << doublings).min(self.max_retry)
    }
}

/// What one pass over the queue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: u32,
    pub retried: u32,
    pub failed: u32,
}

impl DeliveryReport {
    pub fn claimed(&self) -> u32 {
        self.delivered + self.retried + self.failed
    }
}

/// Delivers queued mail through a [`Mailer`].
#[derive(Clone)]
pub struct MailDelivery {
    queue: Arc<dyn MailQueue>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    policy: MailDeliveryPolicy,
}

impl std::fmt::Debug for MailDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailDelivery").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl MailDelivery {
    pub fn new(
        queue: Arc<dyn MailQueue>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        policy: MailDeliveryPolicy,
    ) -> Self {
        Self { queue, mailer, clock, policy }
    }

    pub fn policy(&self) -> &MailDeliveryPolicy {
        &self.policy
    }

    /// Claims the jobs that are due and tries each once. A caller that gets a full batch back
    /// (`claimed() == batch`) should call again at once: more may be waiting.
    ///
    /// # Errors
    /// When the queue cannot be read or an outcome cannot be recorded. A job whose outcome was
    /// not recorded is tried again when its lease runs out: a mail may then arrive twice (with
    /// the same `Message-ID`), but is never lost.
    pub async fn deliver_due(&self) -> Result<DeliveryReport, InfrastructureError> {
        let jobs = self.queue.claim_due(self.clock.now(), self.policy.lease, self.policy.batch).await?;
        let mut report = DeliveryReport::default();
        for job in jobs {
            self.deliver(&job, &mut report).await?;
        }
        Ok(report)
    }

    async fn deliver(&self, job: &MailJob, report: &mut DeliveryReport) -> Result<(), InfrastructureError> {
        let template = job.mail.template_name();
        // Servers often quote the recipient in a refusal; the address stays out of logs and the queue.
        let outcome = self.mailer.send(job).await.map_err(|error| match error {
            DeliveryError::Transient(reason) => DeliveryError::Transient(without_recipient(&reason, job)),
            DeliveryError::Rejected(reason) => DeliveryError::Rejected(without_recipient(&reason, job)),
        });
        match outcome {
            Ok(()) => {
                self.queue.complete(job.id).await?;
                report.delivered += 1;
                tracing::info!(mail.job = %job.id, mail.template = template, mail.attempts = job.attempts, "mail delivered");
            }
            Err(DeliveryError::Rejected(reason)) => {
                self.queue.fail(job.id, self.clock.now(), &reason).await?;
                report.failed += 1;
                tracing::error!(mail.job = %job.id, mail.template = template, error = %reason, "mail refused for good; marked failed");
            }
            Err(DeliveryError::Transient(reason)) if job.attempts >= self.policy.max_attempts => {
                self.queue.fail(job.id, self.clock.now(), &reason).await?;
                report.failed += 1;
                tracing::error!(mail.job = %job.id, mail.template = template, mail.attempts = job.attempts, error = %reason, "mail out of attempts; marked failed");
            }
            Err(DeliveryError::Transient(reason)) => {
                let wait = self.policy.backoff_after(job.attempts);
                let at = self.clock.now() + wait;
                self.queue.retry_at(job.id, at, &reason).await?;
                report.retried += 1;
                tracing::warn!(mail.job = %job.id, mail.template = template, mail.attempts = job.attempts, retry_in_ms = wait.as_millis() as u64, error = %reason, "mail delivery failed; will retry");
            }
        }
        Ok(())
    }
}

/// `reason` with the job's recipient address replaced, in any letter case.
fn without_recipient(reason: &str, job: &MailJob) -> String {
    let address = job.mail.recipient().as_str();
    let lowered = reason.to_lowercase();
    let mut cleaned = String::with_capacity(reason.len());
    let mut rest = 0;
    // Emails are stored lower-cased and ASCII case folding keeps byte offsets, so a match in the
    // lowered text is at the same place in the original.
    for (start, _) in lowered.match_indices(address) {
        if reason.is_char_boundary(start) && reason.is_char_boundary(start + address.len()) {
            cleaned.push_str(&reason[rest..start]);
            cleaned.push_str("[recipient]");
            rest = start + address.len();
        }
    }
    cleaned.push_str(&reason[rest..]);
    cleaned
}

#[cfg(test)]
mod tests;
