//! Test data shared by the contracts: instants as the stores keep them, unique values, users, and
//! the mails that the repositories queue.
//!
//! Every value that a store indexes (emails, token hashes, key ids, rate-limit keys, mail job ids)
//! is unique per call, so the contracts hold even on a backend whose tests share one database.

use std::time::Duration as StdDuration;

use auth_domain::mail::{MailJob, QueuedMail};
use auth_domain::ports::{MailQueue, MailQueueStats, MailedToken, OneTimeTokenRecord, TokenPurpose, UserRepository};
use auth_domain::user::{DisplayName, Role, User};
use auth_domain::{Email, Mail, MailJobId, OneTimeToken, PasswordHash, TokenHash, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

/// The current instant, truncated to the microsecond: the finest precision SQLite and PostgreSQL
/// keep, so that what a test stores compares equal to what it reads back.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).expect("a truncated nanosecond is in range")
}

/// A text unique to this call, starting with `prefix`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// 32 bytes no other call returns.
fn random_bytes() -> [u8; 32] {
    let mut bytes = [0; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes
}

/// A token hash no other call returns.
pub fn random_token_hash() -> TokenHash {
    TokenHash::from_bytes(random_bytes())
}

/// A one-time token no other call returns, as it is mailed (the stores keep only its hash).
pub fn a_one_time_token() -> OneTimeToken {
    OneTimeToken::from_random_bytes(random_bytes())
}

pub fn role(name: &str) -> Role {
    Role::parse(name).expect("the test's role names are valid")
}

pub fn display_name(name: &str) -> DisplayName {
    DisplayName::parse(name).expect("the test's display names are valid")
}

/// A user not yet stored, with a unique email, created a day ago, and with every field set to
/// something other than its default, so that a store dropping a field is caught.
pub fn a_user() -> User {
    let created_at = now() - time::Duration::days(1);
    User {
        id: UserId::from_uuid(Uuid::new_v4()),
        email: Email::parse(&format!("{}@example.com", unique("ada"))).expect("the test's emails are valid"),
        email_verified: false,
        display_name: Some(display_name("Ada Lovelace")),
        roles: vec![role("user")],
        mfa_enabled: true,
        disabled: false,
        password_hash: PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1${}", unique("hash"))),
        credentials_version: 0,
        created_at,
        updated_at: created_at,
    }
}

/// `mail`, queued now under a new job id.
pub fn queued(mail: Mail) -> QueuedMail {
    QueuedMail { id: MailJobId::from_uuid(Uuid::now_v7()), mail, queued_at: now() }
}

/// A new token of `purpose` for `user`, issued now and valid for an hour, with the mail that
/// carries it (a verification or a reset mail to the user's address), not stored.
pub fn a_mailed_token(user: &User, purpose: TokenPurpose) -> MailedToken {
    let token = a_one_time_token();
    let created_at = now();
    let record = OneTimeTokenRecord {
        hash: token.hash(),
        user_id: user.id,
        purpose,
        created_at,
        expires_at: created_at + time::Duration::hours(1),
    };
    let to = user.email.clone();
    let mail = match purpose {
        TokenPurpose::VerifyEmail => Mail::VerifyEmail { to, token },
        TokenPurpose::PasswordReset => Mail::PasswordReset { to, token },
    };
    MailedToken { record, mail: queued(mail) }
}

/// The verification token and mail a registration of `user` stores with it.
pub fn a_verification_of(user: &User) -> MailedToken {
    a_mailed_token(user, TokenPurpose::VerifyEmail)
}

/// A stored user, for the ports whose records belong to one. Its verification mail is queued too.
pub async fn an_existing_user(users: &dyn UserRepository) -> User {
    let user = a_user();
    users.insert(&user, &a_verification_of(&user)).await.expect("a new user with a unique email is stored");
    user
}

/// A mail queued on its own, straight into `queue`. A contract reuses its job id for the mail of a
/// repository's change: the queue refuses a second job under an id it holds, so the change's last
/// step fails, and the contract can see that nothing of the change was kept.
pub async fn a_directly_queued_mail(queue: &dyn MailQueue) -> QueuedMail {
    let to = Email::parse(&format!("{}@example.com", unique("bystander"))).expect("the test's emails are valid");
    let mail = queued(Mail::PasswordChanged { to });
    queue.enqueue(mail.clone()).await.expect("a new mail is queued");
    mail
}

/// The job that a first claim of `mail` hands out.
pub fn first_attempt_of(mail: &QueuedMail) -> MailJob {
    MailJob { id: mail.id, mail: mail.mail.clone(), attempts: 1, queued_at: mail.queued_at }
}

/// Long enough that no claim in a test outlives it by accident.
pub const LEASE: StdDuration = StdDuration::from_secs(5 * 60);

/// More than any test queues.
const EVERY_JOB: u32 = 1_000;

/// Claims every job queued so far (all are due a day from now) and returns them, oldest first.
/// A test that wants to see what one call queued empties the queue before it.
pub async fn claim_every_queued_job(queue: &dyn MailQueue) -> Vec<MailJob> {
    queue.claim_due(now() + time::Duration::days(1), LEASE, EVERY_JOB).await.expect("the claim runs")
}

/// Claims and completes every job queued so far, so that the queue holds only what comes next.
pub async fn empty_the_queue(queue: &dyn MailQueue) {
    for job in claim_every_queued_job(queue).await {
        queue.complete(job.id).await.expect("a claimed job completes");
    }
    assert_eq!(queue.stats().await.expect("the stats are read"), MailQueueStats::default(), "the queue is empty");
}

/// How often a concurrency contract runs its race. One race may come out right by luck; measured
/// on SQLite, a check-then-write store loses one of these within about ten rounds.
pub const RACE_ROUNDS: usize = 50;
