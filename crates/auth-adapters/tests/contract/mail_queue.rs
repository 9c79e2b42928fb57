//! The contract of `MailQueue`: the transactional outbox that the delivery workers drain.
//!
//! Every contract passes the queue its own `now`, so that leases run out and retries come due
//! without waiting. Every fixture is fresh, so the jobs and stats a contract sees are its own.
//! The contract that needs a second queue over the same store, sealing under another master key,
//! is in [`sealed_under_another_master_key`].

use std::collections::HashSet;
use std::sync::Arc;

use auth_domain::mail::{MailJob, QueuedMail};
use auth_domain::ports::{FailedMail, MailQueue, MailQueueStats};
use auth_domain::{Email, Mail, MailJobId};
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::support::{LEASE, RACE_ROUNDS, a_one_time_token, first_attempt_of, now, unique};

/// The smallest step between two instants that the stores tell apart.
const MICROSECOND: Duration = Duration::microseconds(1);

/// More than any contract queues.
const EVERY_JOB: u32 = 100;

fn an_address() -> Email {
    Email::parse(&format!("{}@example.com", unique("grace"))).expect("the test's emails are valid")
}

/// `mail`, queued at `queued_at` under a new job id.
fn queued_at(queued_at: OffsetDateTime, mail: Mail) -> QueuedMail {
    QueuedMail { id: MailJobId::from_uuid(Uuid::now_v7()), mail, queued_at }
}

/// A verification mail, carrying a token, to a new address, queued at `at`.
fn a_mail_queued_at(at: OffsetDateTime) -> QueuedMail {
    queued_at(at, Mail::VerifyEmail { to: an_address(), token: a_one_time_token() })
}

/// Queues `mail` on its own.
async fn enqueue(queue: &dyn MailQueue, mail: &QueuedMail) {
    queue.enqueue(mail.clone()).await.expect("a new mail is queued");
}

/// Claims up to `limit` jobs due at `now`, each leased for [`LEASE`].
async fn claim(queue: &dyn MailQueue, now: OffsetDateTime, limit: u32) -> Vec<MailJob> {
    queue.claim_due(now, LEASE, limit).await.expect("the claim runs")
}

/// Claims the one job due at `now`, which the test knows is there.
async fn claim_the_one_job(queue: &dyn MailQueue, now: OffsetDateTime) -> MailJob {
    let mut jobs = claim(queue, now, EVERY_JOB).await;
    assert_eq!(jobs.len(), 1, "exactly one job is due at {now}: {jobs:?}");
    jobs.remove(0)
}

async fn stats(queue: &dyn MailQueue) -> MailQueueStats {
    queue.stats().await.expect("the stats are read")
}

async fn failed(queue: &dyn MailQueue) -> Vec<FailedMail> {
    queue.list_failed(EVERY_JOB).await.expect("the failed jobs are listed")
}

fn ids(jobs: &[MailJob]) -> Vec<MailJobId> {
    jobs.iter().map(|job| job.id).collect()
}

pub async fn a_queued_mail_is_claimed_back_whole_with_its_first_attempt_counted(queue: &dyn MailQueue) {
    let start = now();
    let to = an_address();
    let mails = [
        Mail::VerifyEmail { to: to.clone(), token: a_one_time_token() },
        Mail::PasswordReset { to: to.clone(), token: a_one_time_token() },
        Mail::AlreadyRegistered { to: to.clone() },
        Mail::PasswordChanged { to: to.clone() },
        Mail::NewSignIn {
            to: to.clone(),
            ip: Some("2001:db8::42".to_owned()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) contract-tests/1.0".to_owned()),
            at: start - Duration::minutes(1),
        },
        Mail::NewSignIn { to, ip: None, user_agent: None, at: start - Duration::minutes(1) },
    ];
    let queued: Vec<QueuedMail> = mails
        .into_iter()
        .zip(0..)
        .map(|(mail, index)| queued_at(start - Duration::seconds(10 - index), mail))
        .collect();
    for mail in &queued {
        enqueue(queue, mail).await;
    }

    let mut jobs = claim(queue, start, EVERY_JOB).await;

    // In the order they were queued: the order a claim returns is another contract's concern.
    jobs.sort_by_key(|job| job.queued_at);
    assert_eq!(jobs, queued.iter().map(first_attempt_of).collect::<Vec<_>>());
}

pub async fn a_mail_is_not_due_before_the_instant_it_was_queued_at(queue: &dyn MailQueue) {
    let start = now();
    let mail = a_mail_queued_at(start);
    enqueue(queue, &mail).await;

    assert_eq!(claim(queue, start - MICROSECOND, EVERY_JOB).await, [], "claimed before it was queued");
    assert_eq!(claim(queue, start, EVERY_JOB).await, [first_attempt_of(&mail)]);
}

pub async fn a_claim_takes_at_most_its_limit_oldest_due_first(queue: &dyn MailQueue) {
    let start = now();
    let [oldest, second, third, newest] =
        [4, 3, 2, 1].map(|minutes_ago| a_mail_queued_at(start - Duration::minutes(minutes_ago)));
    // Queued in an order that is neither the due order nor its reverse.
    for mail in [&second, &newest, &oldest, &third] {
        enqueue(queue, mail).await;
    }

    let first_claim = claim(queue, start, 3).await;
    let second_claim = claim(queue, start, 3).await;

    let first_claimed: HashSet<MailJobId> = ids(&first_claim).into_iter().collect();
    assert_eq!(first_claimed, HashSet::from([oldest.id, second.id, third.id]), "the three oldest are claimed");
    assert_eq!(ids(&first_claim), [oldest.id, second.id, third.id], "and returned oldest due first");
    assert_eq!(ids(&second_claim), [newest.id], "what the first claim left");
    assert_eq!(claim(queue, start, 3).await, [], "nothing is left");
}

pub async fn a_claimed_job_is_claimed_again_only_once_its_lease_has_ended(queue: &dyn MailQueue) {
    let start = now();
    let mail = a_mail_queued_at(start);
    enqueue(queue, &mail).await;
    assert_eq!(claim_the_one_job(queue, start).await, first_attempt_of(&mail));
    let lease_end = start + LEASE;

    assert_eq!(claim(queue, start, EVERY_JOB).await, [], "claimed twice at once");
    assert_eq!(claim(queue, lease_end - MICROSECOND, EVERY_JOB).await, [], "claimed again while its lease ran");
    assert_eq!(stats(queue).await, MailQueueStats { pending: 1, failed: 0 }, "a leased job is still pending");

    // Its worker died without an outcome: the job is due again, one more attempt counted.
    let second_attempt = claim_the_one_job(queue, lease_end).await;

    assert_eq!(second_attempt, MailJob { attempts: 2, ..first_attempt_of(&mail) });
}

pub async fn a_completed_job_leaves_the_queue(queue: &dyn MailQueue) {
    let start = now();
    let (delivered, bystander) = (a_mail_queued_at(start), a_mail_queued_at(start));
    enqueue(queue, &delivered).await;
    let job = claim_the_one_job(queue, start).await;
    enqueue(queue, &bystander).await;

    queue.complete(job.id).await.expect("a claimed job completes");

    assert_eq!(stats(queue).await, MailQueueStats { pending: 1, failed: 0 }, "only the bystander is left");
    let much_later = start + Duration::days(1);
    assert_eq!(claim(queue, much_later, EVERY_JOB).await, [first_attempt_of(&bystander)]);
    queue.complete(bystander.id).await.expect("a claimed job completes");
    assert_eq!(stats(queue).await, MailQueueStats::default());
    assert_eq!(claim(queue, much_later + Duration::days(1), EVERY_JOB).await, []);
    assert_eq!(failed(queue).await, []);
}

pub async fn a_job_retried_at_an_instant_is_due_at_exactly_that_instant_and_stays_pending(queue: &dyn MailQueue) {
    let start = now();
    let mail = a_mail_queued_at(start);
    enqueue(queue, &mail).await;
    let job = claim_the_one_job(queue, start).await;

    // Sooner than the lease would end: the retry instant decides, not the lease.
    let retry_soon = start + Duration::minutes(1);
    queue.retry_at(job.id, retry_soon, "421 4.7.0 try again later").await.expect("the retry is stored");

    assert_eq!(stats(queue).await, MailQueueStats { pending: 1, failed: 0 });
    assert_eq!(claim(queue, retry_soon - MICROSECOND, EVERY_JOB).await, [], "due before its retry");
    let second_attempt = claim_the_one_job(queue, retry_soon).await;
    assert_eq!(second_attempt, MailJob { attempts: 2, ..first_attempt_of(&mail) });

    // Later than the lease ends: the job waits for the retry instant, not for the lease.
    let retry_late = retry_soon + Duration::hours(1);
    queue.retry_at(job.id, retry_late, "connection refused").await.expect("the retry is stored");

    assert_eq!(claim(queue, retry_late - MICROSECOND, EVERY_JOB).await, [], "due before its retry");
    assert_eq!(claim_the_one_job(queue, retry_late).await, MailJob { attempts: 3, ..first_attempt_of(&mail) });
    assert_eq!(stats(queue).await, MailQueueStats { pending: 1, failed: 0 });
    assert_eq!(failed(queue).await, []);
}

pub async fn a_failed_job_is_kept_for_an_operator_and_never_claimed_again(queue: &dyn MailQueue) {
    let start = now();
    let mail = a_mail_queued_at(start);
    enqueue(queue, &mail).await;
    let job = claim_the_one_job(queue, start).await;
    let failed_at = start + Duration::seconds(3);

    queue.fail(job.id, failed_at, "550 5.1.1 no such mailbox").await.expect("the failure is stored");

    assert_eq!(stats(queue).await, MailQueueStats { pending: 0, failed: 1 });
    assert_eq!(claim(queue, start + Duration::days(1), EVERY_JOB).await, [], "a failed job was claimed");
    assert_eq!(
        failed(queue).await,
        [FailedMail {
            id: mail.id,
            template: "verify_email".to_owned(),
            attempts: 1,
            last_error: "550 5.1.1 no such mailbox".to_owned(),
            queued_at: start,
            failed_at,
        }]
    );
}

pub async fn a_failure_message_longer_than_500_characters_is_stored_truncated(queue: &dyn MailQueue) {
    let start = now();
    let mail = a_mail_queued_at(start);
    enqueue(queue, &mail).await;
    let job = claim_the_one_job(queue, start).await;
    // Characters, not bytes: a cut through a multi-byte character would not be text any more.
    let long_error = format!("550 {}", "é".repeat(600));

    queue.fail(job.id, start, &long_error).await.expect("the failure is stored");

    let failed = failed(queue).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].last_error, long_error.chars().take(500).collect::<String>());
}

pub async fn failed_jobs_are_listed_newest_failure_first_up_to_the_limit(queue: &dyn MailQueue) {
    let start = now();
    let mails = [a_mail_queued_at(start), a_mail_queued_at(start), a_mail_queued_at(start)];
    for mail in &mails {
        enqueue(queue, mail).await;
    }
    claim(queue, start, EVERY_JOB).await;
    // Failed in an order that is neither the order they were queued in nor its reverse.
    for (mail, seconds_later) in mails.iter().zip([2, 1, 3]) {
        queue.fail(mail.id, start + Duration::seconds(seconds_later), "550").await.expect("the failure is stored");
    }

    let listed = queue.list_failed(2).await.expect("the failed jobs are listed");

    let listed_ids: Vec<MailJobId> = listed.iter().map(|failed| failed.id).collect();
    assert_eq!(listed_ids, [mails[2].id, mails[0].id]);
}

pub async fn a_requeued_job_is_due_at_once_with_its_attempts_starting_over(queue: &dyn MailQueue) {
    let start = now();
    let mail = a_mail_queued_at(start);
    enqueue(queue, &mail).await;
    claim_the_one_job(queue, start).await;
    let job = claim_the_one_job(queue, start + LEASE).await;
    assert_eq!(job.attempts, 2);
    queue.fail(job.id, start + LEASE, "550").await.expect("the failure is stored");
    let requeued_at = start + Duration::hours(1);

    assert!(queue.requeue_failed(job.id, requeued_at).await.expect("the requeue runs"), "a failed job requeues");

    assert_eq!(stats(queue).await, MailQueueStats { pending: 1, failed: 0 });
    assert_eq!(failed(queue).await, []);
    assert_eq!(claim(queue, requeued_at - MICROSECOND, EVERY_JOB).await, [], "due before it was requeued");
    assert_eq!(claim_the_one_job(queue, requeued_at).await, first_attempt_of(&mail), "attempts start over");
}

pub async fn requeueing_an_unknown_or_a_pending_job_is_refused_and_changes_nothing(queue: &dyn MailQueue) {
    let start = now();
    let pending = a_mail_queued_at(start);
    enqueue(queue, &pending).await;
    claim_the_one_job(queue, start).await;

    let unknown = MailJobId::from_uuid(Uuid::now_v7());
    assert!(!queue.requeue_failed(unknown, start).await.expect("the requeue runs"), "an unknown job requeued");
    assert!(!queue.requeue_failed(pending.id, start).await.expect("the requeue runs"), "a pending job requeued");

    assert_eq!(stats(queue).await, MailQueueStats { pending: 1, failed: 0 });
    assert_eq!(claim(queue, start, EVERY_JOB).await, [], "the requeue ended the job's lease");
    let second_attempt = claim_the_one_job(queue, start + LEASE).await;
    assert_eq!(second_attempt, MailJob { attempts: 2, ..first_attempt_of(&pending) }, "the attempts restarted");
}

/// Eight workers claim at once, three jobs each at most, from twenty due jobs: each job goes to
/// one of them, and all twenty go. Generic rather than `&dyn`, to hand each worker its own clone.
pub async fn concurrent_claims_hand_each_due_job_to_exactly_one_worker<Queue>(queue: &Queue)
where
    Queue: MailQueue + Clone + 'static,
{
    const JOBS: usize = 20;
    const WORKERS: usize = 8;
    const LIMIT: u32 = 3;
    for round in 0..RACE_ROUNDS {
        let start = now();
        let mails: Vec<QueuedMail> = (0..JOBS).map(|_| a_mail_queued_at(start - Duration::seconds(1))).collect();
        for mail in &mails {
            enqueue(queue, mail).await;
        }
        let starting_line = Arc::new(Barrier::new(WORKERS));

        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (queue, starting_line) = (queue.clone(), Arc::clone(&starting_line));
                tokio::spawn(async move {
                    starting_line.wait().await;
                    queue.claim_due(start, LEASE, LIMIT).await
                })
            })
            .collect();
        let mut claimed = Vec::new();
        for worker in workers {
            let jobs = worker.await.expect("the worker did not panic").expect("a concurrent claim runs");
            assert!(jobs.len() <= LIMIT as usize, "round {round}: a claim exceeded its limit: {jobs:?}");
            claimed.extend(ids(&jobs));
        }

        let distinct: HashSet<MailJobId> = claimed.iter().copied().collect();
        assert_eq!(distinct.len(), claimed.len(), "round {round}: a job was handed out twice: {claimed:?}");
        let queued: HashSet<MailJobId> = mails.iter().map(|mail| mail.id).collect();
        assert_eq!(distinct, queued, "round {round}: the workers together claim every due job");
        for id in claimed {
            queue.complete(id).await.expect("a claimed job completes");
        }
    }
}

contract_tests! {
    backends: {
        sqlite => crate::backends::sqlite,
        postgres => crate::backends::postgres,
    },
    ports: |fixture| (&fixture.mail_queue),
    tests: [
        a_queued_mail_is_claimed_back_whole_with_its_first_attempt_counted,
        a_mail_is_not_due_before_the_instant_it_was_queued_at,
        a_claim_takes_at_most_its_limit_oldest_due_first,
        a_claimed_job_is_claimed_again_only_once_its_lease_has_ended,
        a_completed_job_leaves_the_queue,
        a_job_retried_at_an_instant_is_due_at_exactly_that_instant_and_stays_pending,
        a_failed_job_is_kept_for_an_operator_and_never_claimed_again,
        a_failure_message_longer_than_500_characters_is_stored_truncated,
        failed_jobs_are_listed_newest_failure_first_up_to_the_limit,
        a_requeued_job_is_due_at_once_with_its_attempts_starting_over,
        requeueing_an_unknown_or_a_pending_job_is_refused_and_changes_nothing,
        concurrent_claims_hand_each_due_job_to_exactly_one_worker,
    ],
}

/// A job that the queue cannot open any more: here, one queued through a second queue over the
/// same store that seals under another master key, as a deployment whose master key changed.
mod sealed_under_another_master_key {
    use auth_domain::ports::{MailQueue, MailQueueStats};
    use time::Duration;

    use super::{a_mail_queued_at, claim, enqueue, failed, stats};
    use crate::support::{first_attempt_of, now};

    pub async fn a_job_is_marked_failed_at_claim_and_never_handed_out(
        queue: &dyn MailQueue,
        queue_under_another_key: &dyn MailQueue,
    ) {
        let start = now();
        let unreadable = a_mail_queued_at(start - Duration::seconds(1));
        let readable = a_mail_queued_at(start);
        enqueue(queue_under_another_key, &unreadable).await;
        enqueue(queue, &readable).await;

        let jobs = claim(queue, start, 10).await;

        assert_eq!(jobs, [first_attempt_of(&readable)], "only the readable job is handed out");
        assert_eq!(stats(queue).await, MailQueueStats { pending: 1, failed: 1 });
        let failed = failed(queue).await;
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!((failed[0].id, failed[0].template.as_str()), (unreadable.id, "verify_email"));
        assert!(!failed[0].last_error.is_empty(), "the operator is not told why: {failed:?}");
        queue.complete(readable.id).await.expect("a claimed job completes");
        assert_eq!(claim(queue, start + Duration::days(1), 10).await, [], "the unreadable job was tried again");
        assert_eq!(stats(queue).await, MailQueueStats { pending: 0, failed: 1 });
    }

    contract_tests! {
        backends: {
            sqlite => crate::backends::sqlite,
            postgres => crate::backends::postgres,
        },
        ports: |fixture| (&fixture.mail_queue, &fixture.mail_queue_under_another_key),
        tests: [
            a_job_is_marked_failed_at_claim_and_never_handed_out,
        ],
    }
}
