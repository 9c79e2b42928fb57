//! Unit tests of the password use cases, with every port mocked.

use mockall::Sequence;
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;
use crate::ids::SessionId;
use crate::mail::QueuedMail;
use crate::ports::{MailedToken, MockBreachedPasswords, OneTimeTokenRecord, PasswordCheck, PasswordUpdate};
use crate::services::test_support::{
    CLIENT_IP, Captured, NOW, PortMocks, RANDOM_BYTES, STRONG_PASSWORD, allowed, principal_in, queued_mail, refusal,
    refused, request_context, session_of, verified_user,
};
use crate::session::Session;
use crate::user::User;

mod change;
mod reset;

const IP_KEY: &str = "register:ip:203.0.113.7";
const MAIL_KEY: &str = "mail:email:ada@example.com";
const CURRENT_PASSWORD: &str = "the current password of ada";
const NEW_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bmV3$new";

/// The token a reset link carries in these tests; any well-formed token would do.
fn presented_token() -> OneTimeToken {
    OneTimeToken::from_random_bytes([9; 32])
}

/// Another session of the same user, opened on another device.
fn other_session(current: &Session, n: u128) -> Session {
    Session {
        id: SessionId::from_uuid(Uuid::from_u128(0x5E00 + n)),
        created_at: NOW - time::Duration::days(3),
        ..current.clone()
    }
}

/// Whether `until` outlives every access token issued up to now (15 minutes by default).
fn outlives_its_access_tokens(until: OffsetDateTime) -> bool {
    until >= NOW + time::Duration::minutes(15)
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

/// Whether the notice stored with a new password hash is the "password changed" mail to Ada.
fn is_password_changed_notice_to_ada(notice: Option<&QueuedMail>) -> bool {
    let Some(QueuedMail { mail: Mail::PasswordChanged { to }, .. }) = notice else { return false };
    to.as_str() == "ada@example.com"
}

/// Lets the new hash be stored, keeping the notice it is stored with.
/// The notice a new password is stored with, and the session it keeps.
fn new_password(update: &PasswordUpdate) -> Option<(&QueuedMail, Option<SessionId>)> {
    match update {
        PasswordUpdate::NewPassword { notice, keep } => Some((notice, *keep)),
        PasswordUpdate::Rehash { .. } => None,
    }
}

fn capture_notice_stored_with_the_hash(mocks: &mut PortMocks) -> Captured<Option<QueuedMail>> {
    let notice = Captured::new();
    let notice_by_mock = notice.clone();
    mocks.users.expect_update_password_hash().times(1).returning(move |_, _, _, update| {
        notice_by_mock.keep(new_password(&update).map(|(notice, _)| notice.clone()));
        Ok(())
    });
    notice
}

/// Nothing about the account may change: no hash, no stored password, no revocation, no mail.
/// The account's failed-attempt limit and back-off let the current-password check through.
fn expect_not_throttled(mocks: &mut PortMocks) {
    mocks
        .rate_limiter
        .expect_hit()
        .withf(|key, _| key == "login-fail:email:ada@example.com")
        .times(1)
        .returning(|_, limit| Ok(allowed(limit)));
    mocks
        .rate_limiter
        .expect_peek()
        .withf(|key, _| key == "login-backoff:email:ada@example.com")
        .times(1)
        .returning(|_, limit| Ok(allowed(limit)));
}

fn expect_nothing_changed(mocks: &mut PortMocks) {
    mocks.hasher.expect_hash().never();
    mocks.users.expect_update_password_hash().never();
    mocks.sessions.expect_revoke_all_for_user().never();
    mocks.sessions.expect_revoke_all_for_user_except().never();
    mocks.revocations.expect_revoke_session().never();
    mocks.audit.expect_append().never();
    mocks.expect_no_mail_queued();
}

fn expect_token_consumed(mocks: &mut PortMocks, token: &OneTimeToken, owner: Option<UserId>) {
    let token_hash = token.hash();
    mocks
        .one_time_tokens
        .expect_consume()
        .withf(move |hash, purpose, now| *hash == token_hash && *purpose == TokenPurpose::PasswordReset && *now == NOW)
        .times(1)
        .returning(move |_, _, _| Ok(owner));
}

fn expect_user_found(mocks: &mut PortMocks, user: User) {
    let user_id = user.id;
    mocks.users.expect_find_by_id().withf(move |id| *id == user_id).returning(move |_| Ok(Some(user.clone())));
}

fn expect_current_password_checked(mocks: &mut PortMocks, outcome: PasswordCheck) {
    let stored_hash = verified_user().password_hash;
    mocks
        .hasher
        .expect_verify()
        .withf(move |password, hash| password.expose() == CURRENT_PASSWORD && *hash == stored_hash)
        .times(1)
        .returning(move |_, _| Ok(outcome));
}

fn field_errors(errors: &[FieldError]) -> Vec<(&str, &str)> {
    errors.iter().map(|error| (error.field, error.code)).collect()
}

// forgot_password and PendingResetMail::deliver

#[tokio::test]
async fn a_reset_request_is_answered_before_any_account_is_looked_up() {
    let mut mocks = PortMocks::new();
    expect_one_allowed_hit(&mut mocks, IP_KEY);
    expect_one_allowed_hit(&mut mocks, MAIL_KEY);
    // Any account-dependent work before the answer would make its timing tell known addresses.
    mocks.users.expect_find_by_email().never();
    mocks.users.expect_find_by_id().never();
    mocks.audit.expect_append().never();
    mocks.expect_no_mail_queued();

    let pending =
        mocks.into_service::<PasswordService>().forgot_password(" Ada@Example.COM ", &request_context()).await;

    assert!(pending.is_ok(), "got {pending:?}");
}

#[tokio::test]
async fn reset_requests_beyond_the_ip_limit_are_rate_limited_before_the_address_is_counted() {
    let mut mocks = PortMocks::new();
    mocks.rate_limiter.expect_hit().withf(|key, _| key == IP_KEY).times(1).returning(|_, _| Ok(refused()));
    mocks.rate_limiter.expect_hit().withf(|key, _| key == MAIL_KEY).never();
    mocks.users.expect_find_by_email().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service::<PasswordService>()
        .forgot_password("ada@example.com", &request_context())
        .await
        .expect_err("the limit refuses");

    assert!(matches!(error, ForgotPasswordError::RateLimited(exceeded) if exceeded == refusal()), "got {error:?}");
}

#[tokio::test]
async fn reset_requests_mailing_one_address_too_often_are_rate_limited() {
    let mut mocks = PortMocks::new();
    expect_one_allowed_hit(&mut mocks, IP_KEY);
    mocks.rate_limiter.expect_hit().withf(|key, _| key == MAIL_KEY).times(1).returning(|_, _| Ok(refused()));
    mocks.users.expect_find_by_email().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service::<PasswordService>()
        .forgot_password("ADA@example.com", &request_context())
        .await
        .expect_err("the limit refuses");

    assert!(matches!(error, ForgotPasswordError::RateLimited(exceeded) if exceeded == refusal()), "got {error:?}");
}

#[tokio::test]
async fn a_reset_request_for_a_malformed_address_answers_ok_and_delivers_nothing() {
    let mut mocks = PortMocks::new();
    expect_one_allowed_hit(&mut mocks, IP_KEY);
    mocks.users.expect_find_by_email().never();
    mocks.audit.expect_append().never();
    mocks.expect_no_mail_queued();

    let pending = mocks
        .into_service::<PasswordService>()
        .forgot_password("ada-at-example.com", &request_context())
        .await
        .expect("the contract answers 202 whatever the address");
    pending.deliver().await.expect("nothing to deliver is no failure");
}

#[tokio::test]
async fn delivering_to_a_known_address_replaces_older_links_with_a_new_one_and_queues_its_mail_in_one_step() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let user_id = user.id;
    let new_token = OneTimeToken::from_random_bytes(RANDOM_BYTES);
    expect_one_allowed_hit(&mut mocks, IP_KEY);
    expect_one_allowed_hit(&mut mocks, MAIL_KEY);
    mocks
        .users
        .expect_find_by_email()
        .withf(|email| email.as_str() == "ada@example.com")
        .times(1)
        .returning(move |_| Ok(Some(user.clone())));
    // Voiding older links, storing the new one and queueing its mail is one call, one
    // transaction: no window in which the mailed link is void or the stored one unmailed.
    let replaced = Captured::<MailedToken>::new();
    let replaced_by_mock = replaced.clone();
    mocks.one_time_tokens.expect_replace().times(1).returning(move |reset| {
        replaced_by_mock.keep(reset.clone());
        Ok(())
    });
    mocks.mail_queue.expect_enqueue().never();
    mocks
        .audit
        .expect_append()
        .withf(move |event| {
            event.kind == AuditEventKind::PasswordResetRequested
                && event.user_id == Some(user_id)
                && event.session_id.is_none()
                && event.ip.as_deref() == Some(CLIENT_IP)
        })
        .times(1)
        .returning(|_| Ok(()));

    let pending = mocks
        .into_service::<PasswordService>()
        .forgot_password(" Ada@Example.COM ", &request_context())
        .await
        .expect("accepted");
    pending.deliver().await.expect("the mail is queued");

    let reset = replaced.value();
    assert_eq!(
        reset.record,
        OneTimeTokenRecord {
            hash: new_token.hash(),
            user_id,
            purpose: TokenPurpose::PasswordReset,
            created_at: NOW,
            expires_at: NOW + time::Duration::minutes(30),
        }
    );
    let Mail::PasswordReset { to, token } = &reset.mail.mail else {
        panic!("expected a reset mail, got {:?}", reset.mail.mail)
    };
    assert_eq!(to.as_str(), "ada@example.com");
    assert_eq!(token.hash(), reset.record.hash, "the mailed token must be the stored one");
    assert_eq!(token.expose(), new_token.expose());
    assert_eq!(reset.mail, queued_mail(0, Mail::PasswordReset { to: verified_user().email, token: new_token }));
}

#[tokio::test]
async fn delivering_to_an_unknown_address_stores_and_queues_nothing() {
    let mut mocks = PortMocks::new();
    // The limits count either way, or their refusals would tell which addresses have accounts.
    expect_one_allowed_hit(&mut mocks, IP_KEY);
    expect_one_allowed_hit(&mut mocks, MAIL_KEY);
    mocks
        .users
        .expect_find_by_email()
        .withf(|email| email.as_str() == "ada@example.com")
        .times(1)
        .returning(|_| Ok(None));
    mocks.audit.expect_append().never();
    mocks.expect_no_mail_queued();

    let pending = mocks
        .into_service::<PasswordService>()
        .forgot_password("ada@example.com", &request_context())
        .await
        .expect("accepted");
    pending.deliver().await.expect("nothing to deliver is no failure");
}
