//! Unit tests of the registration use cases, with every port mocked.

use super::*;
use crate::mail::QueuedMail;
use crate::password::PasswordHash;
use crate::ports::{MailedToken, OneTimeTokenRecord};
use crate::services::test_support::{
    CLIENT_IP, Captured, NOW, PortMocks, RANDOM_BYTES, STRONG_PASSWORD, allowed, generated_id, queued_mail, refusal,
    refused, request_context, verified_user,
};
use crate::user::DisplayName;

mod verification;

fn registration(email: &str, password: &str, display_name: Option<&str>) -> RegisterRequest {
    RegisterRequest {
        email: email.to_owned(),
        password: password.to_owned(),
        display_name: display_name.map(str::to_owned),
    }
}

fn unverified_user() -> User {
    User { email_verified: false, ..verified_user() }
}

/// Lets exactly one event under `key` through the rate limiter.
fn expect_one_allowed_hit(mocks: &mut PortMocks, key: &'static str) {
    mocks
        .rate_limiter
        .expect_hit()
        .withf(move |hit_key, _| hit_key == key)
        .times(1)
        .returning(|_, limit| Ok(allowed(limit)));
}

fn is_already_registered_mail_to_ada(queued: &QueuedMail) -> bool {
    matches!(&queued.mail, Mail::AlreadyRegistered { to } if to.as_str() == "ada@example.com")
        && queued.queued_at == NOW
}

/// A verification link for `user`, as a use case stores and mails it when its mail is the `n`th
/// call to the id generator: the token made of [`RANDOM_BYTES`], alive for 24 hours.
fn expected_verification(user: &User, n: u64) -> MailedToken {
    let token = OneTimeToken::from_random_bytes(RANDOM_BYTES);
    MailedToken {
        record: OneTimeTokenRecord {
            hash: token.hash(),
            user_id: user.id,
            purpose: TokenPurpose::VerifyEmail,
            created_at: NOW,
            expires_at: NOW + time::Duration::hours(24),
        },
        mail: queued_mail(n, Mail::VerifyEmail { to: user.email.clone(), token }),
    }
}

/// Checks what a stored verification link is worth: the mail is addressed to `email` and
/// carries the very token whose hash is stored, as a verification link.
fn assert_mail_carries_the_stored_token(verification: &MailedToken, email: &str) {
    let Mail::VerifyEmail { to, token } = &verification.mail.mail else {
        panic!("expected a verification mail, got {:?}", verification.mail.mail)
    };
    assert_eq!(to.as_str(), email);
    assert_eq!(token.hash(), verification.record.hash, "the mailed token must be the stored one");
    assert_eq!(token.expose(), OneTimeToken::from_random_bytes(RANDOM_BYTES).expose());
    assert_eq!(verification.record.purpose, TokenPurpose::VerifyEmail);
}

#[tokio::test]
async fn a_valid_registration_stores_an_unverified_user_with_a_verification_link_and_its_mail_together() {
    let mut mocks = PortMocks::new();
    let new_user_id = UserId::from_uuid(generated_id(0));
    expect_one_allowed_hit(&mut mocks, "register:ip:203.0.113.7");
    expect_one_allowed_hit(&mut mocks, "mail:email:ada@example.com");
    mocks
        .hasher
        .expect_hash()
        .withf(|password| password.expose() == STRONG_PASSWORD)
        .times(1)
        .returning(|_| Ok(PasswordHash::new("$argon2id$fresh")));
    mocks
        .users
        .expect_find_by_email()
        .withf(|email| email.as_str() == "ada@example.com")
        .times(1)
        .returning(|_| Ok(None));
    let inserted = Captured::<(User, MailedToken)>::new();
    let inserted_by_mock = inserted.clone();
    mocks
        .users
        .expect_insert()
        .withf(move |user, _| {
            user.id == new_user_id
                && user.email.as_str() == "ada@example.com"
                && !user.email_verified
                && user.display_name.as_ref().map(DisplayName::as_str) == Some("Ada Lovelace")
                && user.roles.is_empty()
                && !user.disabled
                && user.password_hash == PasswordHash::new("$argon2id$fresh")
                && user.created_at == NOW
        })
        .times(1)
        .returning(move |user, verification| {
            inserted_by_mock.keep((user.clone(), verification.clone()));
            Ok(())
        });
    // The link and its mail go with the account, in its transaction: nothing is queued apart.
    mocks.expect_no_mail_queued();
    mocks
        .audit
        .expect_append()
        .withf(move |event| {
            event.kind == AuditEventKind::UserRegistered
                && event.user_id == Some(new_user_id)
                && event.ip.as_deref() == Some(CLIENT_IP)
        })
        .times(1)
        .returning(|_| Ok(()));

    mocks
        .into_service::<RegistrationService>()
        .register(registration("  Ada@Example.COM ", STRONG_PASSWORD, Some(" Ada Lovelace ")), &request_context())
        .await
        .expect("a valid registration succeeds");

    let (user, verification) = inserted.value();
    assert_mail_carries_the_stored_token(&verification, "ada@example.com");
    assert_eq!(verification.record.expires_at, NOW + time::Duration::hours(24));
    // The account took the first generated id, the mail the second.
    assert_eq!(verification, expected_verification(&user, 1));
}

#[tokio::test]
async fn an_invalid_email_and_a_short_password_are_listed_together_and_nothing_is_stored() {
    let mut mocks = PortMocks::new();
    expect_one_allowed_hit(&mut mocks, "register:ip:203.0.113.7");
    mocks.hasher.expect_hash().never();
    mocks.users.expect_find_by_email().never();
    mocks.users.expect_insert().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service::<RegistrationService>()
        .register(registration("ada-at-example.com", "hunter2", None), &request_context())
        .await
        .expect_err("an invalid registration is refused");

    let RegisterError::Validation(errors) = error else { panic!("expected a validation error, got {error:?}") };
    let fields: Vec<(&str, &str)> = errors.iter().map(|error| (error.field, error.code)).collect();
    assert_eq!(fields, [("email", "invalid_email"), ("password", "too_short")]);
}

#[tokio::test]
async fn an_invalid_display_name_and_a_guessable_password_are_listed_together() {
    let mut mocks = PortMocks::new();
    expect_one_allowed_hit(&mut mocks, "register:ip:203.0.113.7");
    mocks.hasher.expect_hash().never();
    mocks.users.expect_insert().never();

    let error = mocks
        .into_service::<RegistrationService>()
        .register(registration("ada@example.com", "passwordpassword", Some("   ")), &request_context())
        .await
        .expect_err("an invalid registration is refused");

    let RegisterError::Validation(errors) = error else { panic!("expected a validation error, got {error:?}") };
    let fields: Vec<(&str, &str)> = errors.iter().map(|error| (error.field, error.code)).collect();
    assert_eq!(fields, [("display_name", "required"), ("password", "too_weak")]);
}

#[tokio::test]
async fn a_password_from_the_breached_list_is_a_field_error_and_nothing_is_stored() {
    let mut mocks = PortMocks::new();
    expect_one_allowed_hit(&mut mocks, "register:ip:203.0.113.7");
    let mut breached = crate::ports::MockBreachedPasswords::new();
    breached.expect_contains().withf(|password| password.expose() == STRONG_PASSWORD).times(1).returning(|_| Ok(true));
    mocks.breached_passwords = Some(breached);
    mocks.hasher.expect_hash().never();
    mocks.users.expect_insert().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service::<RegistrationService>()
        .register(registration("ada@example.com", STRONG_PASSWORD, None), &request_context())
        .await
        .expect_err("a breached password is refused");

    let RegisterError::Validation(errors) = error else { panic!("expected a validation error, got {error:?}") };
    let fields: Vec<(&str, &str)> = errors.iter().map(|error| (error.field, error.code)).collect();
    assert_eq!(fields, [("password", "breached")]);
}

#[tokio::test]
async fn a_known_email_gets_an_already_registered_mail_and_the_same_answer_after_the_same_hash() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    // The hash is computed even though it is thrown away, so that a known address takes as long.
    mocks.hasher.expect_hash().times(1).returning(|_| Ok(PasswordHash::new("$argon2id$discarded")));
    mocks.users.expect_find_by_email().times(1).returning(|_| Ok(Some(verified_user())));
    mocks.users.expect_insert().never();
    mocks.one_time_tokens.expect_replace().never();
    mocks
        .mail_queue
        .expect_enqueue()
        .withf(|queued| *queued == queued_mail(0, Mail::AlreadyRegistered { to: verified_user().email }))
        .times(1)
        .returning(|_| Ok(()));
    mocks.audit.expect_append().never();

    let result = mocks
        .into_service::<RegistrationService>()
        .register(registration("ada@example.com", STRONG_PASSWORD, None), &request_context())
        .await;

    assert!(result.is_ok(), "a known address must look like a new one, got {result:?}");
}

#[tokio::test]
async fn a_registration_that_loses_the_race_for_its_email_answers_as_for_a_known_email() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    mocks.hasher.expect_hash().times(1).returning(|_| Ok(PasswordHash::new("$argon2id$fresh")));
    mocks.users.expect_find_by_email().times(1).returning(|_| Ok(None));
    // The repository stored nothing, the verification link and its mail included.
    mocks.users.expect_insert().times(1).returning(|_, _| Err(UserRepositoryError::EmailTaken));
    mocks.one_time_tokens.expect_replace().never();
    mocks.mail_queue.expect_enqueue().withf(is_already_registered_mail_to_ada).times(1).returning(|_| Ok(()));
    mocks.audit.expect_append().never();

    let result = mocks
        .into_service::<RegistrationService>()
        .register(registration("ada@example.com", STRONG_PASSWORD, None), &request_context())
        .await;

    assert!(result.is_ok(), "losing the race must look like a new registration, got {result:?}");
}

#[tokio::test]
async fn registrations_beyond_the_ip_limit_are_rate_limited_before_any_hashing() {
    let mut mocks = PortMocks::new();
    mocks
        .rate_limiter
        .expect_hit()
        .withf(|key, _| key == "register:ip:203.0.113.7")
        .times(1)
        .returning(|_, _| Ok(refused()));
    mocks.hasher.expect_hash().never();
    mocks.users.expect_insert().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service::<RegistrationService>()
        .register(registration("ada@example.com", STRONG_PASSWORD, None), &request_context())
        .await
        .expect_err("the limit refuses");

    assert!(matches!(error, RegisterError::RateLimited(exceeded) if exceeded == refusal()), "got {error:?}");
}

#[tokio::test]
async fn registrations_mailing_one_address_too_often_are_rate_limited_before_any_hashing() {
    let mut mocks = PortMocks::new();
    expect_one_allowed_hit(&mut mocks, "register:ip:203.0.113.7");
    mocks
        .rate_limiter
        .expect_hit()
        .withf(|key, _| key == "mail:email:ada@example.com")
        .times(1)
        .returning(|_, _| Ok(refused()));
    mocks.hasher.expect_hash().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service::<RegistrationService>()
        .register(registration("ADA@example.com", STRONG_PASSWORD, None), &request_context())
        .await
        .expect_err("the limit refuses");

    assert!(matches!(error, RegisterError::RateLimited(exceeded) if exceeded == refusal()), "got {error:?}");
}

#[tokio::test]
async fn an_overloaded_hasher_makes_registration_answer_overloaded_without_storing_anything() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    mocks.hasher.expect_hash().times(1).returning(|_| Err(HashError::Overloaded));
    mocks.users.expect_find_by_email().never();
    mocks.users.expect_insert().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service::<RegistrationService>()
        .register(registration("ada@example.com", STRONG_PASSWORD, None), &request_context())
        .await
        .expect_err("an overloaded hasher refuses");

    assert!(matches!(error, RegisterError::Overloaded), "got {error:?}");
}
