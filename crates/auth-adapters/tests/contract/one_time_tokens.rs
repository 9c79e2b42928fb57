//! The contract of `OneTimeTokenRepository`: a mailed token works once, in time, for its purpose
//! only, and only while it is its user's newest of that purpose.
//!
//! Every contract also takes a `UserRepository`, only to store the users the tokens belong to: a
//! relational backend's foreign keys refuse a token of an unknown user. The mail that `replace`
//! queues with the token is checked in [`outbox`].

use auth_domain::ports::{MailedToken, OneTimeTokenRepository, TokenPurpose, UserRepository};
use auth_domain::user::User;
use auth_domain::{TokenHash, UserId};
use time::{Duration, OffsetDateTime};

use crate::support::{RACE_ROUNDS, a_mailed_token, an_existing_user, now, random_token_hash};

/// A token of `purpose` for `user`, issued at `now` and valid for one hour from then, with its mail.
fn a_token_issued_at(user: &User, purpose: TokenPurpose, now: OffsetDateTime) -> MailedToken {
    let mut token = a_mailed_token(user, purpose);
    token.record.created_at = now;
    token.record.expires_at = now + Duration::hours(1);
    token
}

/// Stores a token of `purpose` for `user` (voiding the user's earlier ones of that purpose), issued
/// at `now` and valid for one hour from then.
async fn a_stored_token(
    tokens: &dyn OneTimeTokenRepository,
    user: &User,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> TokenHash {
    let token = a_token_issued_at(user, purpose, now);
    tokens.replace(&token).await.expect("a new token is stored");
    token.record.hash
}

async fn consume(
    tokens: &dyn OneTimeTokenRepository,
    hash: &TokenHash,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> Option<UserId> {
    tokens.consume(hash, purpose, now).await.expect("the consumption runs")
}

pub async fn a_token_is_consumed_once_then_never_again(
    tokens: &dyn OneTimeTokenRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let now = now();
    let hash = a_stored_token(tokens, &user, TokenPurpose::VerifyEmail, now).await;

    assert_eq!(consume(tokens, &random_token_hash(), TokenPurpose::VerifyEmail, now).await, None, "unknown token");
    assert_eq!(consume(tokens, &hash, TokenPurpose::VerifyEmail, now).await, Some(user.id));
    assert_eq!(consume(tokens, &hash, TokenPurpose::VerifyEmail, now).await, None, "the token was used up");
}

pub async fn an_expired_token_is_not_consumed(tokens: &dyn OneTimeTokenRepository, users: &dyn UserRepository) {
    // Two users: a newer token of the same user would void the older one, expired or not.
    let (user, other_user) = (an_existing_user(users).await, an_existing_user(users).await);
    let now = now();
    let expired_an_hour_ago =
        a_stored_token(tokens, &user, TokenPurpose::PasswordReset, now - Duration::hours(2)).await;
    let valid_for_an_hour = a_stored_token(tokens, &other_user, TokenPurpose::PasswordReset, now).await;

    assert_eq!(consume(tokens, &expired_an_hour_ago, TokenPurpose::PasswordReset, now).await, None);
    // Expiry is judged at the `now` passed in, not by the backend's own clock.
    let in_two_hours = now + Duration::hours(2);
    assert_eq!(consume(tokens, &valid_for_an_hour, TokenPurpose::PasswordReset, in_two_hours).await, None);
}

pub async fn a_token_presented_for_another_purpose_is_refused_and_stays_usable(
    tokens: &dyn OneTimeTokenRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let now = now();
    let hash = a_stored_token(tokens, &user, TokenPurpose::VerifyEmail, now).await;

    assert_eq!(consume(tokens, &hash, TokenPurpose::PasswordReset, now).await, None);
    assert_eq!(consume(tokens, &hash, TokenPurpose::VerifyEmail, now).await, Some(user.id));
}

pub async fn a_new_token_voids_the_users_older_ones_of_that_purpose_only(
    tokens: &dyn OneTimeTokenRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let other_user = an_existing_user(users).await;
    let now = now();
    let oldest_verification = a_stored_token(tokens, &user, TokenPurpose::VerifyEmail, now).await;
    let older_verification = a_stored_token(tokens, &user, TokenPurpose::VerifyEmail, now).await;
    let reset = a_stored_token(tokens, &user, TokenPurpose::PasswordReset, now).await;
    let other_users_verification = a_stored_token(tokens, &other_user, TokenPurpose::VerifyEmail, now).await;

    let newer_verification = a_stored_token(tokens, &user, TokenPurpose::VerifyEmail, now).await;

    assert_eq!(consume(tokens, &oldest_verification, TokenPurpose::VerifyEmail, now).await, None);
    assert_eq!(consume(tokens, &older_verification, TokenPurpose::VerifyEmail, now).await, None);
    assert_eq!(consume(tokens, &reset, TokenPurpose::PasswordReset, now).await, Some(user.id));
    assert_eq!(consume(tokens, &other_users_verification, TokenPurpose::VerifyEmail, now).await, Some(other_user.id));
    assert_eq!(consume(tokens, &newer_verification, TokenPurpose::VerifyEmail, now).await, Some(user.id));
}

pub async fn of_concurrent_consumptions_of_one_token_exactly_one_succeeds(
    tokens: &dyn OneTimeTokenRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    for round in 0..RACE_ROUNDS {
        let now = now();
        let hash = a_stored_token(tokens, &user, TokenPurpose::PasswordReset, now).await;

        let (a, b, c, d) = tokio::join!(
            tokens.consume(&hash, TokenPurpose::PasswordReset, now),
            tokens.consume(&hash, TokenPurpose::PasswordReset, now),
            tokens.consume(&hash, TokenPurpose::PasswordReset, now),
            tokens.consume(&hash, TokenPurpose::PasswordReset, now),
        );

        let outcomes: Vec<Option<UserId>> =
            [a, b, c, d].into_iter().map(|outcome| outcome.expect("a losing consumption returns None")).collect();
        let successes: Vec<&Option<UserId>> = outcomes.iter().filter(|outcome| outcome.is_some()).collect();
        assert_eq!(successes, [&Some(user.id)], "round {round}: exactly one consumption must succeed: {outcomes:?}");
    }
}

contract_tests! {
    backends: {
        sqlite => crate::backends::sqlite,
        postgres => crate::backends::postgres,
    },
    ports: |fixture| (&fixture.one_time_tokens, &fixture.users),
    tests: [
        a_token_is_consumed_once_then_never_again,
        an_expired_token_is_not_consumed,
        a_token_presented_for_another_purpose_is_refused_and_stays_usable,
        a_new_token_voids_the_users_older_ones_of_that_purpose_only,
        of_concurrent_consumptions_of_one_token_exactly_one_succeeds,
    ],
}

/// What `replace` queues in the transaction that stores the token: each contract claims the queue
/// back through the `MailQueue` of the same store.
mod outbox {
    use auth_domain::mail::QueuedMail;
    use auth_domain::ports::{MailQueue, OneTimeTokenRepository, TokenPurpose, UserRepository};

    use super::{a_token_issued_at, consume};
    use crate::support::{
        a_directly_queued_mail, an_existing_user, claim_every_queued_job, empty_the_queue, first_attempt_of, now,
    };

    pub async fn replacing_a_token_queues_exactly_its_mail(
        tokens: &dyn OneTimeTokenRepository,
        users: &dyn UserRepository,
        queue: &dyn MailQueue,
    ) {
        let user = an_existing_user(users).await;
        empty_the_queue(queue).await;
        let now = now();
        let reset = a_token_issued_at(&user, TokenPurpose::PasswordReset, now);

        tokens.replace(&reset).await.expect("a new token is stored");

        assert_eq!(claim_every_queued_job(queue).await, [first_attempt_of(&reset.mail)]);
        assert_eq!(consume(tokens, &reset.record.hash, TokenPurpose::PasswordReset, now).await, Some(user.id));
    }

    pub async fn a_replacement_whose_mail_cannot_be_queued_keeps_the_older_token_working(
        tokens: &dyn OneTimeTokenRepository,
        users: &dyn UserRepository,
        queue: &dyn MailQueue,
    ) {
        let user = an_existing_user(users).await;
        let now = now();
        let older = a_token_issued_at(&user, TokenPurpose::PasswordReset, now);
        tokens.replace(&older).await.expect("a new token is stored");
        empty_the_queue(queue).await;
        let already_queued = a_directly_queued_mail(queue).await;
        let mut newer = a_token_issued_at(&user, TokenPurpose::PasswordReset, now);
        // The queue refuses a second job under an id it holds: the last step of the replacement fails.
        newer.mail = QueuedMail { id: already_queued.id, ..newer.mail };

        let outcome = tokens.replace(&newer).await;

        assert!(outcome.is_err(), "the replacement cannot succeed without queueing its mail: {outcome:?}");
        assert_eq!(claim_every_queued_job(queue).await, [first_attempt_of(&already_queued)]);
        assert_eq!(consume(tokens, &newer.record.hash, TokenPurpose::PasswordReset, now).await, None, "newer stored");
        assert_eq!(
            consume(tokens, &older.record.hash, TokenPurpose::PasswordReset, now).await,
            Some(user.id),
            "voided"
        );
    }

    contract_tests! {
        backends: {
            sqlite => crate::backends::sqlite,
            postgres => crate::backends::postgres,
        },
        ports: |fixture| (&fixture.one_time_tokens, &fixture.users, &fixture.mail_queue),
        tests: [
            replacing_a_token_queues_exactly_its_mail,
            a_replacement_whose_mail_cannot_be_queued_keeps_the_older_token_working,
        ],
    }
}
