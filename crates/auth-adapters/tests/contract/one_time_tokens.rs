//! The contract of `OneTimeTokenRepository`: a mailed token works once, in time, for its purpose only.
//!
//! Every contract also takes a `UserRepository`, only to store the users the tokens belong to: a
//! relational backend's foreign keys refuse a token of an unknown user.

use auth_domain::ports::{OneTimeTokenRecord, OneTimeTokenRepository, TokenPurpose, UserRepository};
use auth_domain::{TokenHash, UserId};
use time::{Duration, OffsetDateTime};

use crate::support::{RACE_ROUNDS, an_existing_user, now, random_token_hash};

/// Stores a token of `purpose` for `user_id`, issued at `now` and valid for one hour from then.
async fn a_stored_token(
    tokens: &dyn OneTimeTokenRepository,
    user_id: UserId,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> TokenHash {
    let record = OneTimeTokenRecord {
        hash: random_token_hash(),
        user_id,
        purpose,
        created_at: now,
        expires_at: now + Duration::hours(1),
    };
    let hash = record.hash.clone();
    tokens.insert(record).await.expect("a new token is stored");
    hash
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
    let hash = a_stored_token(tokens, user.id, TokenPurpose::VerifyEmail, now).await;

    assert_eq!(consume(tokens, &random_token_hash(), TokenPurpose::VerifyEmail, now).await, None, "unknown token");
    assert_eq!(consume(tokens, &hash, TokenPurpose::VerifyEmail, now).await, Some(user.id));
    assert_eq!(consume(tokens, &hash, TokenPurpose::VerifyEmail, now).await, None, "the token was used up");
}

pub async fn an_expired_token_is_not_consumed(tokens: &dyn OneTimeTokenRepository, users: &dyn UserRepository) {
    let user = an_existing_user(users).await;
    let now = now();
    let expired_an_hour_ago =
        a_stored_token(tokens, user.id, TokenPurpose::PasswordReset, now - Duration::hours(2)).await;
    let valid_for_an_hour = a_stored_token(tokens, user.id, TokenPurpose::PasswordReset, now).await;

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
    let hash = a_stored_token(tokens, user.id, TokenPurpose::VerifyEmail, now).await;

    assert_eq!(consume(tokens, &hash, TokenPurpose::PasswordReset, now).await, None);
    assert_eq!(consume(tokens, &hash, TokenPurpose::VerifyEmail, now).await, Some(user.id));
}

pub async fn deleting_a_users_tokens_voids_only_that_purpose_of_that_user(
    tokens: &dyn OneTimeTokenRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let other_user = an_existing_user(users).await;
    let now = now();
    let older_verification = a_stored_token(tokens, user.id, TokenPurpose::VerifyEmail, now).await;
    let other_older_verification = a_stored_token(tokens, user.id, TokenPurpose::VerifyEmail, now).await;
    let reset = a_stored_token(tokens, user.id, TokenPurpose::PasswordReset, now).await;
    let other_users_verification = a_stored_token(tokens, other_user.id, TokenPurpose::VerifyEmail, now).await;

    tokens.delete_for_user(user.id, TokenPurpose::VerifyEmail).await.expect("the deletion succeeds");
    let newer_verification = a_stored_token(tokens, user.id, TokenPurpose::VerifyEmail, now).await;

    assert_eq!(consume(tokens, &older_verification, TokenPurpose::VerifyEmail, now).await, None);
    assert_eq!(consume(tokens, &other_older_verification, TokenPurpose::VerifyEmail, now).await, None);
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
        let hash = a_stored_token(tokens, user.id, TokenPurpose::PasswordReset, now).await;

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
        deleting_a_users_tokens_voids_only_that_purpose_of_that_user,
        of_concurrent_consumptions_of_one_token_exactly_one_succeeds,
    ],
}
