//! The contract of `SecondFactorRepository`: TOTP enrolment and its spent steps, recovery codes,
//! and the challenges of logins waiting for their second factor.

use auth_domain::ports::{MfaChallenge, SecondFactorRepository, UserRepository};
use auth_domain::totp::{SECRET_BYTES, TotpSecret};
use auth_domain::user::User;
use auth_domain::{TokenHash, UserId};
use time::Duration;

use crate::support::{RACE_ROUNDS, an_existing_user, now, random_token_hash};

fn a_secret(byte: u8) -> TotpSecret {
    TotpSecret::from_bytes([byte; SECRET_BYTES])
}

fn codes(count: usize) -> Vec<TokenHash> {
    (0..count).map(|_| random_token_hash()).collect()
}

/// A user with a confirmed TOTP credential whose last used step is 100, and its recovery codes.
async fn a_user_with_totp(
    second_factors: &dyn SecondFactorRepository,
    users: &dyn UserRepository,
) -> (User, Vec<TokenHash>) {
    let user = an_existing_user(users).await;
    let recovery = codes(10);
    assert!(second_factors.begin_totp(user.id, &a_secret(1), now()).await.expect("begun"));
    assert!(second_factors.confirm_totp(user.id, 100, &recovery, now()).await.expect("confirmed"));
    (user, recovery)
}

async fn mfa_enabled(users: &dyn UserRepository, id: UserId) -> bool {
    users.find_by_id(id).await.expect("the lookup succeeds").expect("the user is stored").mfa_enabled
}

pub async fn a_pending_enrolment_holds_its_secret_and_a_new_one_replaces_it(
    second_factors: &dyn SecondFactorRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    assert_eq!(second_factors.find_totp(user.id).await.expect("found"), None);

    assert!(second_factors.begin_totp(user.id, &a_secret(1), now()).await.expect("begun"));
    assert!(second_factors.begin_totp(user.id, &a_secret(2), now()).await.expect("begun again"));

    let pending = second_factors.find_totp(user.id).await.expect("found").expect("pending");
    assert_eq!(pending.secret, a_secret(2));
    assert!(!pending.confirmed);
    assert_eq!(pending.last_used_step, None);
    assert!(!second_factors.use_totp_step(user.id, 5).await.expect("checked"), "a pending secret logs nobody in");
}

pub async fn confirming_stores_the_codes_and_turns_mfa_on_once(
    second_factors: &dyn SecondFactorRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let before = mfa_enabled(users, user.id).await;
    assert!(!second_factors.confirm_totp(user.id, 1, &codes(10), now()).await.expect("checked"), "nothing pending");
    assert_eq!(mfa_enabled(users, user.id).await, before);

    let (user, _) = a_user_with_totp(second_factors, users).await;

    let credential = second_factors.find_totp(user.id).await.expect("found").expect("stored");
    assert!(credential.confirmed);
    assert_eq!(credential.last_used_step, Some(100));
    assert!(mfa_enabled(users, user.id).await);
    assert_eq!(second_factors.remaining_recovery_codes(user.id).await.expect("counted"), 10);
    assert!(!second_factors.confirm_totp(user.id, 101, &codes(10), now()).await.expect("checked"), "twice");
    assert!(!second_factors.begin_totp(user.id, &a_secret(9), now()).await.expect("checked"), "while confirmed");
    assert_eq!(second_factors.find_totp(user.id).await.expect("found").expect("kept").secret, a_secret(1));
}

pub async fn a_step_is_used_once_and_never_an_earlier_one(
    second_factors: &dyn SecondFactorRepository,
    users: &dyn UserRepository,
) {
    let (user, _) = a_user_with_totp(second_factors, users).await;

    assert!(!second_factors.use_totp_step(user.id, 100).await.expect("checked"), "the confirming step");
    assert!(!second_factors.use_totp_step(user.id, 99).await.expect("checked"), "an earlier step");
    assert!(second_factors.use_totp_step(user.id, 101).await.expect("checked"));
    assert!(!second_factors.use_totp_step(user.id, 101).await.expect("checked"), "the same step again");
    assert_eq!(second_factors.find_totp(user.id).await.expect("found").expect("kept").last_used_step, Some(101));
}

/// How many of four results are `true`.
fn winners(results: [bool; 4]) -> usize {
    results.into_iter().filter(|won| *won).count()
}

pub async fn of_concurrent_uses_of_one_step_or_code_exactly_one_succeeds(
    second_factors: &dyn SecondFactorRepository,
    users: &dyn UserRepository,
) {
    let (user, recovery) = a_user_with_totp(second_factors, users).await;
    for round in 0..RACE_ROUNDS {
        let step = 200 + i64::try_from(round).expect("small");
        let use_step = || async { second_factors.use_totp_step(user.id, step).await.expect("checked") };
        let (a, b, c, d) = tokio::join!(use_step(), use_step(), use_step(), use_step());
        assert_eq!(winners([a, b, c, d]), 1, "round {round}: one step, one login");
    }
    let use_code = || async { second_factors.use_recovery_code(user.id, &recovery[0], now()).await.expect("checked") };
    let (a, b, c, d) = tokio::join!(use_code(), use_code(), use_code(), use_code());
    assert_eq!(winners([a, b, c, d]), 1, "one recovery code, one login");
}

pub async fn a_recovery_code_is_spent_once_and_only_for_its_user(
    second_factors: &dyn SecondFactorRepository,
    users: &dyn UserRepository,
) {
    let (user, recovery) = a_user_with_totp(second_factors, users).await;
    let (other, _) = a_user_with_totp(second_factors, users).await;

    assert!(!second_factors.use_recovery_code(other.id, &recovery[0], now()).await.expect("checked"));
    assert!(!second_factors.use_recovery_code(user.id, &random_token_hash(), now()).await.expect("checked"));
    assert!(second_factors.use_recovery_code(user.id, &recovery[0], now()).await.expect("checked"));
    assert!(!second_factors.use_recovery_code(user.id, &recovery[0], now()).await.expect("checked"));
    assert_eq!(second_factors.remaining_recovery_codes(user.id).await.expect("counted"), 9);
    assert_eq!(second_factors.remaining_recovery_codes(other.id).await.expect("counted"), 10);
}

pub async fn removing_takes_the_secret_and_the_codes_and_turns_mfa_off(
    second_factors: &dyn SecondFactorRepository,
    users: &dyn UserRepository,
) {
    let (user, recovery) = a_user_with_totp(second_factors, users).await;

    assert!(second_factors.remove_totp(user.id, now()).await.expect("removed"));

    assert_eq!(second_factors.find_totp(user.id).await.expect("found"), None);
    assert!(!mfa_enabled(users, user.id).await);
    assert!(!second_factors.use_recovery_code(user.id, &recovery[1], now()).await.expect("checked"));
    assert_eq!(second_factors.remaining_recovery_codes(user.id).await.expect("counted"), 0);
    assert!(!second_factors.remove_totp(user.id, now()).await.expect("checked"), "nothing left to remove");
    assert!(second_factors.begin_totp(user.id, &a_secret(3), now()).await.expect("a new enrolment can begin"));
}

pub async fn a_challenge_is_found_until_it_expires_and_consumed_once(
    second_factors: &dyn SecondFactorRepository,
    users: &dyn UserRepository,
) {
    let user = an_existing_user(users).await;
    let issued = now();
    let challenge = MfaChallenge {
        hash: random_token_hash(),
        user_id: user.id,
        password_fingerprint: "fingerprint".to_owned(),
        created_at: issued,
        expires_at: issued + Duration::minutes(5),
    };
    second_factors.create_challenge(&challenge).await.expect("stored");

    let found = second_factors.find_challenge(&challenge.hash, issued + Duration::minutes(4)).await.expect("read");
    assert_eq!(found, Some(challenge.clone()));
    let late = second_factors.find_challenge(&challenge.hash, challenge.expires_at).await.expect("read");
    assert_eq!(late, None, "expired at its expiry");
    assert_eq!(second_factors.find_challenge(&random_token_hash(), issued).await.expect("read"), None);

    let consume = || async { second_factors.consume_challenge(&challenge.hash).await.expect("consumed") };
    let (a, b, c, d) = tokio::join!(consume(), consume(), consume(), consume());
    assert_eq!(winners([a, b, c, d]), 1);
    assert_eq!(second_factors.find_challenge(&challenge.hash, issued).await.expect("read"), None);
}

contract_tests! {
    backends: {
        sqlite => crate::backends::sqlite,
        postgres => crate::backends::postgres,
    },
    ports: |fixture| (&fixture.second_factors, &fixture.users),
    tests: [
        a_pending_enrolment_holds_its_secret_and_a_new_one_replaces_it,
        confirming_stores_the_codes_and_turns_mfa_on_once,
        a_step_is_used_once_and_never_an_earlier_one,
        a_recovery_code_is_spent_once_and_only_for_its_user,
        removing_takes_the_secret_and_the_codes_and_turns_mfa_off,
        of_concurrent_uses_of_one_step_or_code_exactly_one_succeeds,
        a_challenge_is_found_until_it_expires_and_consumed_once,
    ],
}
