//! Unit tests of mail delivery, with the queue, the mailer and the clock mocked.

use uuid::Uuid;

use super::*;
use crate::email::Email;
use crate::ids::MailJobId;
use crate::mail::Mail;
use crate::ports::{MockClock, MockMailQueue, MockMailer};
use crate::services::test_support::NOW;

const FIRST_RETRY: Duration = Duration::from_secs(10);
const MAX_RETRY: Duration = Duration::from_secs(60);
const MAX_ATTEMPTS: u32 = 5;
const LEASE: Duration = Duration::from_secs(120);
const BATCH: u32 = 8;

/// A policy whose cap is reached within its attempts: 10 s, 20 s, 40 s, then 60 s.
fn policy() -> MailDeliveryPolicy {
    MailDeliveryPolicy {
        max_attempts: MAX_ATTEMPTS,
        first_retry: FIRST_RETRY,
        max_retry: MAX_RETRY,
        lease: LEASE,
        batch: BATCH,
    }
}

/// The `n`th job of a batch, on its `attempts`th attempt.
fn job(n: u128, attempts: u32) -> MailJob {
    MailJob {
        id: job_id(n),
        mail: Mail::PasswordChanged { to: Email::parse("ada@example.com").expect("the sample address is valid") },
        attempts,
        queued_at: NOW - time::Duration::minutes(5),
    }
}

fn job_id(n: u128) -> MailJobId {
    MailJobId::from_uuid(Uuid::from_u128(0x3000 + n))
}

fn transient() -> DeliveryError {
    DeliveryError::Transient("421 try again later".to_owned())
}

fn rejected() -> DeliveryError {
    DeliveryError::Rejected("550 no such mailbox".to_owned())
}

/// One mock per port of [`MailDelivery`]; the clock always answers [`NOW`]. Tests add the calls
/// they expect; any other call panics.
struct DeliveryMocks {
    queue: MockMailQueue,
    mailer: MockMailer,
    clock: MockClock,
}

impl DeliveryMocks {
    fn new() -> Self {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        Self { queue: MockMailQueue::new(), mailer: MockMailer::new(), clock }
    }

    /// Hands out `jobs` on the first claim.
    fn expect_claimed(&mut self, jobs: Vec<MailJob>) {
        self.queue.expect_claim_due().times(1).returning(move |_, _, _| Ok(jobs.clone()));
    }

    /// The mailer is handed `claimed` as it was claimed, once, and answers `outcome`.
    fn expect_sent(&mut self, claimed: &MailJob, outcome: Result<(), DeliveryError>) {
        let claimed = claimed.clone();
        self.mailer.expect_send().withf(move |job| *job == claimed).times(1).return_const(outcome);
    }

    fn expect_completed(&mut self, id: MailJobId) {
        self.queue.expect_complete().withf(move |completed| *completed == id).times(1).returning(|_| Ok(()));
    }

    fn expect_failed(&mut self, id: MailJobId, reason: &'static str) {
        self.queue
            .expect_fail()
            .withf(move |failed, at, error| *failed == id && *at == NOW && error == reason)
            .times(1)
            .returning(|_, _, _| Ok(()));
    }

    fn expect_retried(&mut self, id: MailJobId, due: time::OffsetDateTime, reason: &'static str) {
        self.queue
            .expect_retry_at()
            .withf(move |retried, at, error| *retried == id && *at == due && error == reason)
            .times(1)
            .returning(|_, _, _| Ok(()));
    }

    fn expect_never_retried(&mut self) {
        self.queue.expect_retry_at().never();
    }

    fn expect_never_failed(&mut self) {
        self.queue.expect_fail().never();
    }

    fn into_delivery(self) -> MailDelivery {
        MailDelivery::new(Arc::new(self.queue), Arc::new(self.mailer), Arc::new(self.clock), policy())
    }
}

#[tokio::test]
async fn jobs_are_claimed_at_the_current_time_with_the_policys_lease_and_batch_size() {
    let mut mocks = DeliveryMocks::new();
    mocks
        .queue
        .expect_claim_due()
        .withf(|now, lease, limit| *now == NOW && *lease == LEASE && *limit == BATCH)
        .times(1)
        .returning(|_, _, _| Ok(Vec::new()));
    mocks.mailer.expect_send().never();

    let report = mocks.into_delivery().deliver_due().await.expect("an empty queue is no failure");

    assert_eq!(report, DeliveryReport::default());
}

#[tokio::test]
async fn a_delivered_job_is_completed_and_counted_as_delivered() {
    let mut mocks = DeliveryMocks::new();
    mocks.expect_claimed(vec![job(1, 1)]);
    mocks.expect_sent(&job(1, 1), Ok(()));
    mocks.expect_completed(job_id(1));
    mocks.expect_never_retried();
    mocks.expect_never_failed();

    let report = mocks.into_delivery().deliver_due().await.expect("the job is delivered");

    assert_eq!(report, DeliveryReport { delivered: 1, retried: 0, failed: 0 });
}

#[tokio::test]
async fn a_rejected_job_is_failed_with_the_servers_reason_and_not_retried() {
    // Refused for good even on its first attempt, with attempts to spare.
    let mut mocks = DeliveryMocks::new();
    mocks.expect_claimed(vec![job(1, 1)]);
    mocks.expect_sent(&job(1, 1), Err(rejected()));
    mocks.expect_failed(job_id(1), "550 no such mailbox");
    mocks.expect_never_retried();
    mocks.queue.expect_complete().never();

    let report = mocks.into_delivery().deliver_due().await.expect("a refusal is recorded");

    assert_eq!(report, DeliveryReport { delivered: 0, retried: 0, failed: 1 });
}

#[tokio::test]
async fn a_transient_failure_on_the_first_attempt_is_retried_after_the_first_wait() {
    let mut mocks = DeliveryMocks::new();
    mocks.expect_claimed(vec![job(1, 1)]);
    mocks.expect_sent(&job(1, 1), Err(transient()));
    mocks.expect_retried(job_id(1), NOW + FIRST_RETRY, "421 try again later");
    mocks.expect_never_failed();
    mocks.queue.expect_complete().never();

    let report = mocks.into_delivery().deliver_due().await.expect("the retry is recorded");

    assert_eq!(report, DeliveryReport { delivered: 0, retried: 1, failed: 0 });
}

#[tokio::test]
async fn a_transient_failure_on_the_third_attempt_waits_four_times_the_first_wait() {
    let mut mocks = DeliveryMocks::new();
    mocks.expect_claimed(vec![job(1, 3)]);
    mocks.expect_sent(&job(1, 3), Err(transient()));
    mocks.expect_retried(job_id(1), NOW + FIRST_RETRY * 4, "421 try again later");
    mocks.expect_never_failed();

    let report = mocks.into_delivery().deliver_due().await.expect("the retry is recorded");

    assert_eq!(report.retried, 1);
}

#[tokio::test]
async fn the_wait_before_a_retry_is_capped_at_the_longest_wait() {
    // The fourth wait would be 80 s, beyond the 60 s cap; the fifth attempt is still allowed.
    let mut mocks = DeliveryMocks::new();
    mocks.expect_claimed(vec![job(1, 4)]);
    mocks.expect_sent(&job(1, 4), Err(transient()));
    mocks.expect_retried(job_id(1), NOW + MAX_RETRY, "421 try again later");
    mocks.expect_never_failed();

    let report = mocks.into_delivery().deliver_due().await.expect("the retry is recorded");

    assert_eq!(report.retried, 1);
}

#[tokio::test]
async fn a_transient_failure_on_the_last_allowed_attempt_fails_the_job() {
    // Beyond the last one too: a job claimed before the policy was lowered is not retried forever.
    for attempts in [MAX_ATTEMPTS, MAX_ATTEMPTS + 1] {
        let mut mocks = DeliveryMocks::new();
        mocks.expect_claimed(vec![job(1, attempts)]);
        mocks.expect_sent(&job(1, attempts), Err(transient()));
        mocks.expect_failed(job_id(1), "421 try again later");
        mocks.expect_never_retried();

        let report = mocks.into_delivery().deliver_due().await.expect("the failure is recorded");

        assert_eq!(report, DeliveryReport { delivered: 0, retried: 0, failed: 1 }, "after {attempts} attempts");
    }
}

#[tokio::test]
async fn each_job_of_a_batch_gets_its_own_outcome() {
    let batch = vec![job(1, 1), job(2, 1), job(3, 2), job(4, MAX_ATTEMPTS), job(5, 1)];
    let mut mocks = DeliveryMocks::new();
    mocks.expect_claimed(batch.clone());
    mocks.expect_sent(&batch[0], Ok(()));
    mocks.expect_sent(&batch[1], Err(rejected()));
    mocks.expect_sent(&batch[2], Err(transient()));
    mocks.expect_sent(&batch[3], Err(transient()));
    mocks.expect_sent(&batch[4], Ok(()));
    mocks.expect_completed(job_id(1));
    mocks.expect_failed(job_id(2), "550 no such mailbox");
    mocks.expect_retried(job_id(3), NOW + FIRST_RETRY * 2, "421 try again later");
    mocks.expect_failed(job_id(4), "421 try again later");
    mocks.expect_completed(job_id(5));

    let report = mocks.into_delivery().deliver_due().await.expect("every outcome is recorded");

    assert_eq!(report, DeliveryReport { delivered: 2, retried: 1, failed: 2 });
    assert_eq!(report.claimed(), 5);
}

#[tokio::test]
async fn a_queue_that_cannot_be_read_is_an_error_and_nothing_is_sent() {
    let mut mocks = DeliveryMocks::new();
    mocks
        .queue
        .expect_claim_due()
        .times(1)
        .returning(|_, _, _| Err(InfrastructureError::unavailable("the database is down")));
    mocks.mailer.expect_send().never();

    let error = mocks.into_delivery().deliver_due().await.expect_err("the queue could not be read");

    assert!(matches!(error, InfrastructureError::Unavailable(_)), "got {error:?}");
}

#[tokio::test]
async fn a_delivery_that_cannot_be_recorded_is_an_error_and_stops_the_batch() {
    // The job stays leased, and is tried again when its lease runs out: it may arrive twice,
    // but is never lost. The rest of the batch waits for its leases too.
    let mut mocks = DeliveryMocks::new();
    mocks.expect_claimed(vec![job(1, 1), job(2, 1)]);
    mocks.expect_sent(&job(1, 1), Ok(()));
    mocks
        .queue
        .expect_complete()
        .withf(|id| *id == job_id(1))
        .times(1)
        .returning(|_| Err(InfrastructureError::unavailable("the database is down")));
    mocks.mailer.expect_send().withf(|job| job.id == job_id(2)).never();
    mocks.expect_never_retried();
    mocks.expect_never_failed();

    let error = mocks.into_delivery().deliver_due().await.expect_err("the outcome could not be recorded");

    assert!(matches!(error, InfrastructureError::Unavailable(_)), "got {error:?}");
}

#[test]
fn the_wait_after_a_failed_attempt_doubles_from_the_first_wait_up_to_the_longest() {
    let policy = policy();
    assert_eq!(policy.backoff_after(1), FIRST_RETRY);
    assert_eq!(policy.backoff_after(2), FIRST_RETRY * 2);
    assert_eq!(policy.backoff_after(3), FIRST_RETRY * 4);
    assert_eq!(policy.backoff_after(4), MAX_RETRY, "80 s is capped");
    assert_eq!(policy.backoff_after(40), MAX_RETRY);
    // No attempt yet (a job requeued by hand) waits as after the first.
    assert_eq!(policy.backoff_after(0), FIRST_RETRY);
}

#[test]
fn the_wait_after_a_failed_attempt_never_overflows() {
    assert_eq!(policy().backoff_after(u32::MAX), MAX_RETRY);
    // Even without a cap worth the name, the doubling saturates rather than overflowing.
    let uncapped = MailDeliveryPolicy { max_retry: Duration::MAX, ..policy() };
    assert!(uncapped.backoff_after(u32::MAX) >= uncapped.backoff_after(30));
    let huge_first = MailDeliveryPolicy { first_retry: Duration::MAX, max_retry: Duration::MAX, ..policy() };
    assert_eq!(huge_first.backoff_after(u32::MAX), Duration::MAX);
}

#[test]
fn the_default_policy_retries_for_hours_before_giving_up() {
    let policy = MailDeliveryPolicy::default();
    assert_eq!(policy.backoff_after(1), Duration::from_secs(10));
    assert_eq!(policy.backoff_after(u32::MAX), Duration::from_secs(3600));
    // 10 s doubling to 5120 s, capped at 1 h from the tenth wait: 5110 s, then two hours.
    let waits: Duration = (1..policy.max_attempts).map(|attempts| policy.backoff_after(attempts)).sum();
    assert_eq!(waits, Duration::from_secs(3 * 3600 + 25 * 60 + 10), "the last attempt comes {waits:?} after the first");
}

#[tokio::test]
async fn a_refusal_quoting_the_recipient_is_stored_without_the_address() {
    let mut mocks = DeliveryMocks::new();
    let claimed = job(1, 1);
    mocks.expect_claimed(vec![claimed.clone()]);
    let refusal = DeliveryError::Rejected("550 5.1.1 <Ada@Example.com>: Recipient address rejected".to_owned());
    mocks.expect_sent(&claimed, Err(refusal));
    mocks.expect_failed(job_id(1), "550 5.1.1 <[recipient]>: Recipient address rejected");
    mocks.expect_never_retried();

    let report = mocks.into_delivery().deliver_due().await.expect("the queue answers");

    assert_eq!(report.failed, 1);
}
