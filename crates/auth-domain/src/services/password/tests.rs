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

    let pending = mocks.into_service().forgot_password(" Ada@Example.COM ", &request_context()).await;

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
        .into_service()
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
        .into_service()
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
        .into_service()
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

    let pending =
        mocks.into_service().forgot_password(" Ada@Example.COM ", &request_context()).await.expect("accepted");
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

    let pending = mocks.into_service().forgot_password("ada@example.com", &request_context()).await.expect("accepted");
    pending.deliver().await.expect("nothing to deliver is no failure");
}

// reset_password

#[tokio::test]
async fn a_malformed_reset_token_is_invalid_without_touching_the_repository() {
    let mut mocks = PortMocks::new();
    mocks.one_time_tokens.expect_consume().never();
    mocks.users.expect_find_by_id().never();
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service()
        .reset_password("not-a-token", STRONG_PASSWORD, &request_context())
        .await
        .expect_err("a malformed token is refused");

    assert!(matches!(error, ResetPasswordError::InvalidToken), "got {error:?}");
}

#[tokio::test]
async fn an_unknown_used_or_expired_reset_token_is_invalid_and_changes_nothing() {
    let mut mocks = PortMocks::new();
    let token = presented_token();
    expect_token_consumed(&mut mocks, &token, None);
    mocks.users.expect_find_by_id().never();
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service()
        .reset_password(token.expose(), STRONG_PASSWORD, &request_context())
        .await
        .expect_err("a dead token is refused");

    assert!(matches!(error, ResetPasswordError::InvalidToken), "got {error:?}");
}

#[tokio::test]
async fn a_reset_token_of_a_deleted_account_is_invalid() {
    let mut mocks = PortMocks::new();
    let token = presented_token();
    let user_id = verified_user().id;
    expect_token_consumed(&mut mocks, &token, Some(user_id));
    mocks.users.expect_find_by_id().times(1).returning(|_| Ok(None));
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service()
        .reset_password(token.expose(), STRONG_PASSWORD, &request_context())
        .await
        .expect_err("the account is gone");

    assert!(matches!(error, ResetPasswordError::InvalidToken), "got {error:?}");
}

#[tokio::test]
async fn a_weak_new_password_spends_the_reset_token_and_stores_nothing() {
    for (weak, code) in [("hunter2", "too_short"), ("passwordpassword", "too_weak")] {
        let mut mocks = PortMocks::new();
        let token = presented_token();
        let user = verified_user();
        // The token is consumed before the password is judged.
        expect_token_consumed(&mut mocks, &token, Some(user.id));
        expect_user_found(&mut mocks, user);
        expect_nothing_changed(&mut mocks);

        let error = mocks
            .into_service()
            .reset_password(token.expose(), weak, &request_context())
            .await
            .expect_err("a weak password is refused");

        let ResetPasswordError::Validation(errors) = error else {
            panic!("expected a validation error, got {error:?}")
        };
        assert_eq!(field_errors(&errors), [("new_password", code)]);
    }
}

#[tokio::test]
async fn a_new_password_made_of_the_account_email_is_too_weak() {
    let mut mocks = PortMocks::new();
    let token = presented_token();
    let user = verified_user();
    expect_token_consumed(&mut mocks, &token, Some(user.id));
    expect_user_found(&mut mocks, user);
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service()
        .reset_password(token.expose(), "ada@example.com!", &request_context())
        .await
        .expect_err("the account's own address is guessable");

    let ResetPasswordError::Validation(errors) = error else { panic!("expected a validation error, got {error:?}") };
    assert_eq!(field_errors(&errors), [("new_password", "too_weak")]);
}

#[tokio::test]
async fn a_breached_new_password_is_a_field_error_and_nothing_is_stored() {
    let mut mocks = PortMocks::new();
    let token = presented_token();
    let user = verified_user();
    expect_token_consumed(&mut mocks, &token, Some(user.id));
    expect_user_found(&mut mocks, user);
    let mut breached = MockBreachedPasswords::new();
    breached.expect_contains().withf(|password| password.expose() == STRONG_PASSWORD).times(1).returning(|_| Ok(true));
    mocks.breached_passwords = Some(breached);
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service()
        .reset_password(token.expose(), STRONG_PASSWORD, &request_context())
        .await
        .expect_err("a breached password is refused");

    let ResetPasswordError::Validation(errors) = error else { panic!("expected a validation error, got {error:?}") };
    assert_eq!(field_errors(&errors), [("new_password", "breached")]);
}

#[tokio::test]
async fn a_successful_reset_stores_the_new_hash_with_a_notice_to_the_owner_then_revokes_every_session() {
    let mut mocks = PortMocks::new();
    let token = presented_token();
    let user = verified_user();
    let user_id = user.id;
    let sessions = vec![session_of(&user), other_session(&session_of(&user), 1)];
    let session_ids: Vec<SessionId> = sessions.iter().map(|session| session.id).collect();
    let mut order = Sequence::new();
    expect_token_consumed(&mut mocks, &token, Some(user_id));
    expect_user_found(&mut mocks, user);
    mocks
        .hasher
        .expect_hash()
        .withf(|password| password.expose() == STRONG_PASSWORD)
        .times(1)
        .returning(|_| Ok(PasswordHash::new(NEW_HASH)));
    // Revoking before the new hash is stored would let the old password open a session that stays.
    mocks
        .users
        .expect_update_password_hash()
        .withf(move |id, hash, at, notice| {
            *id == user_id
                && *hash == PasswordHash::new(NEW_HASH)
                && *at == NOW
                && new_password(notice)
                    .is_some_and(|(notice, keep)| is_password_changed_notice_to_ada(Some(notice)) && keep.is_none())
        })
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _, _, _| Ok(()));
    mocks
        .sessions
        .expect_revoke_all_for_user()
        .withf(move |id, reason, at| *id == user_id && *reason == RevocationReason::PasswordReset && *at == NOW)
        .times(1)
        .in_sequence(&mut order)
        .returning(move |_, _, _| Ok(sessions.clone()));
    mocks.sessions.expect_revoke_all_for_user_except().never();
    for session_id in session_ids {
        mocks
            .revocations
            .expect_revoke_session()
            .withf(move |id, until| *id == session_id && outlives_its_access_tokens(*until))
            .times(1)
            .returning(|_, _| Ok(()));
    }
    mocks
        .audit
        .expect_append()
        .withf(move |event| {
            event.kind == AuditEventKind::PasswordReset
                && event.user_id == Some(user_id)
                && event.ip.as_deref() == Some(CLIENT_IP)
        })
        .times(1)
        .returning(|_| Ok(()));
    // The notice went with the hash; nothing more is mailed.
    mocks.expect_no_mail_queued();

    mocks
        .into_service()
        .reset_password(token.expose(), STRONG_PASSWORD, &request_context())
        .await
        .expect("a live token and a strong password reset the password");
}

#[tokio::test]
async fn a_reset_queues_a_password_changed_notice_to_the_owner_with_the_new_hash() {
    let mut mocks = PortMocks::new();
    let token = presented_token();
    let user = verified_user();
    expect_token_consumed(&mut mocks, &token, Some(user.id));
    expect_user_found(&mut mocks, user);
    mocks.hasher.expect_hash().times(1).returning(|_| Ok(PasswordHash::new(NEW_HASH)));
    let notice = capture_notice_stored_with_the_hash(&mut mocks);
    mocks.sessions.expect_revoke_all_for_user().times(1).returning(|_, _, _| Ok(Vec::new()));
    mocks.expect_audit(AuditEventKind::PasswordReset, 1);
    mocks.expect_no_mail_queued();

    mocks
        .into_service()
        .reset_password(token.expose(), STRONG_PASSWORD, &request_context())
        .await
        .expect("the password is reset");

    assert_eq!(notice.value(), Some(queued_mail(0, Mail::PasswordChanged { to: verified_user().email })));
}

#[tokio::test]
async fn a_reset_of_an_account_deleted_meanwhile_is_invalid_and_queues_nothing_else() {
    let mut mocks = PortMocks::new();
    let token = presented_token();
    let user = verified_user();
    expect_token_consumed(&mut mocks, &token, Some(user.id));
    expect_user_found(&mut mocks, user);
    mocks.hasher.expect_hash().times(1).returning(|_| Ok(PasswordHash::new(NEW_HASH)));
    // The repository queues the notice only with the hash it stores; here it stored neither.
    mocks.users.expect_update_password_hash().times(1).returning(|_, _, _, _| Err(UserRepositoryError::NotFound));
    mocks.sessions.expect_revoke_all_for_user().never();
    mocks.revocations.expect_revoke_session().never();
    mocks.audit.expect_append().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service()
        .reset_password(token.expose(), STRONG_PASSWORD, &request_context())
        .await
        .expect_err("the account is gone");

    assert!(matches!(error, ResetPasswordError::InvalidToken), "got {error:?}");
}

#[tokio::test]
async fn an_unreadable_breached_list_fails_the_reset_without_storing_anything() {
    let mut mocks = PortMocks::new();
    let token = presented_token();
    let user = verified_user();
    expect_token_consumed(&mut mocks, &token, Some(user.id));
    expect_user_found(&mut mocks, user);
    let mut breached = MockBreachedPasswords::new();
    breached.expect_contains().times(1).returning(|_| Err(InfrastructureError::unavailable("the list is unreachable")));
    mocks.breached_passwords = Some(breached);
    // Registration and password changes judge new passwords alike: an unchecked one is not stored.
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service()
        .reset_password(token.expose(), STRONG_PASSWORD, &request_context())
        .await
        .expect_err("the list could not be consulted");

    assert!(matches!(error, ResetPasswordError::Infrastructure(InfrastructureError::Unavailable(_))), "got {error:?}");
}

#[tokio::test]
async fn an_overloaded_hasher_makes_a_reset_answer_overloaded_without_storing_anything() {
    let mut mocks = PortMocks::new();
    let token = presented_token();
    let user = verified_user();
    expect_token_consumed(&mut mocks, &token, Some(user.id));
    expect_user_found(&mut mocks, user);
    mocks.hasher.expect_hash().times(1).returning(|_| Err(HashError::Overloaded));
    mocks.users.expect_update_password_hash().never();
    mocks.sessions.expect_revoke_all_for_user().never();
    mocks.audit.expect_append().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service()
        .reset_password(token.expose(), STRONG_PASSWORD, &request_context())
        .await
        .expect_err("an overloaded hasher refuses");

    assert!(matches!(error, ResetPasswordError::Overloaded), "got {error:?}");
}

// change_password

#[tokio::test]
async fn a_wrong_current_password_is_refused_and_changes_nothing() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let principal = principal_in(&session_of(&user));
    expect_user_found(&mut mocks, user);
    expect_not_throttled(&mut mocks);
    // The wrong guess counts against the address, like a failed login, and is audited.
    mocks
        .rate_limiter
        .expect_hit()
        .withf(|key, _| key == "login-backoff:email:ada@example.com")
        .times(1)
        .returning(|_, limit| Ok(allowed(limit)));
    mocks.rate_limiter.expect_reset().never();
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    expect_current_password_checked(&mut mocks, PasswordCheck::Mismatch);
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service()
        .change_password(&principal, CURRENT_PASSWORD, STRONG_PASSWORD, &request_context())
        .await
        .expect_err("a wrong current password is refused");

    assert!(matches!(error, ChangePasswordError::InvalidCredentials), "got {error:?}");
}

#[tokio::test]
async fn a_weak_new_password_is_refused_after_the_current_one_and_changes_nothing() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let principal = principal_in(&session_of(&user));
    expect_user_found(&mut mocks, user);
    expect_not_throttled(&mut mocks);
    mocks.rate_limiter.expect_reset().times(2).returning(|_| Ok(()));
    expect_current_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: false });
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service()
        .change_password(&principal, CURRENT_PASSWORD, "passwordpassword", &request_context())
        .await
        .expect_err("a weak password is refused");

    let ChangePasswordError::Validation(errors) = error else { panic!("expected a validation error, got {error:?}") };
    assert_eq!(field_errors(&errors), [("new_password", "too_weak")]);
}

#[tokio::test]
async fn a_changed_password_is_stored_with_a_notice_to_the_owner_and_revokes_every_other_session_but_the_callers() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let user_id = user.id;
    let current = session_of(&user);
    let principal = principal_in(&current);
    let caller_session = principal.session_id;
    let others = vec![other_session(&current, 1), other_session(&current, 2)];
    let other_ids: Vec<SessionId> = others.iter().map(|session| session.id).collect();
    let mut order = Sequence::new();
    expect_user_found(&mut mocks, user);
    expect_not_throttled(&mut mocks);
    mocks.rate_limiter.expect_reset().times(2).returning(|_| Ok(()));
    expect_current_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: false });
    mocks
        .hasher
        .expect_hash()
        .withf(|password| password.expose() == STRONG_PASSWORD)
        .times(1)
        .returning(|_| Ok(PasswordHash::new(NEW_HASH)));
    mocks
        .users
        .expect_update_password_hash()
        .withf(move |id, hash, at, notice| {
            *id == user_id
                && *hash == PasswordHash::new(NEW_HASH)
                && *at == NOW
                && new_password(notice).is_some_and(|(notice, keep)| {
                    is_password_changed_notice_to_ada(Some(notice)) && keep == Some(caller_session)
                })
        })
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _, _, _| Ok(()));
    mocks
        .sessions
        .expect_revoke_all_for_user_except()
        .withf(move |id, keep, reason, at| {
            *id == user_id && *keep == caller_session && *reason == RevocationReason::PasswordChanged && *at == NOW
        })
        .times(1)
        .in_sequence(&mut order)
        .returning(move |_, _, _, _| Ok(others.clone()));
    mocks.sessions.expect_revoke_all_for_user().never();
    // A mark on the user would end the caller's session too.
    mocks.revocations.expect_revoke_session().withf(move |id, _| *id == caller_session).never();
    for other_id in other_ids {
        mocks
            .revocations
            .expect_revoke_session()
            .withf(move |id, until| *id == other_id && outlives_its_access_tokens(*until))
            .times(1)
            .returning(|_, _| Ok(()));
    }
    mocks
        .audit
        .expect_append()
        .withf(move |event| {
            event.kind == AuditEventKind::PasswordChanged
                && event.user_id == Some(user_id)
                && event.session_id == Some(caller_session)
                && event.detail == json!({ "sessions_revoked": 2 })
        })
        .times(1)
        .returning(|_| Ok(()));
    // The notice went with the hash; nothing more is mailed.
    mocks.expect_no_mail_queued();

    mocks
        .into_service()
        .change_password(&principal, CURRENT_PASSWORD, STRONG_PASSWORD, &request_context())
        .await
        .expect("the password is changed");
}

#[tokio::test]
async fn a_password_change_queues_a_password_changed_notice_to_the_owner_with_the_new_hash() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let principal = principal_in(&session_of(&user));
    expect_user_found(&mut mocks, user);
    expect_not_throttled(&mut mocks);
    mocks.rate_limiter.expect_reset().times(2).returning(|_| Ok(()));
    expect_current_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: false });
    mocks.hasher.expect_hash().times(1).returning(|_| Ok(PasswordHash::new(NEW_HASH)));
    let notice = capture_notice_stored_with_the_hash(&mut mocks);
    mocks.sessions.expect_revoke_all_for_user_except().times(1).returning(|_, _, _, _| Ok(Vec::new()));
    mocks.expect_audit(AuditEventKind::PasswordChanged, 1);
    mocks.expect_no_mail_queued();

    mocks
        .into_service()
        .change_password(&principal, CURRENT_PASSWORD, STRONG_PASSWORD, &request_context())
        .await
        .expect("the password is changed");

    assert_eq!(notice.value(), Some(queued_mail(0, Mail::PasswordChanged { to: verified_user().email })));
}

#[tokio::test]
async fn changing_the_password_of_a_deleted_account_is_user_gone() {
    let mut mocks = PortMocks::new();
    let principal = principal_in(&session_of(&verified_user()));
    mocks.users.expect_find_by_id().times(1).returning(|_| Ok(None));
    mocks.hasher.expect_verify().never();
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service()
        .change_password(&principal, CURRENT_PASSWORD, STRONG_PASSWORD, &request_context())
        .await
        .expect_err("the account is gone");

    assert!(matches!(error, ChangePasswordError::UserGone), "got {error:?}");
}

#[tokio::test]
async fn an_account_deleted_while_its_password_changes_is_user_gone_and_no_session_is_touched_nor_mail_queued() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let principal = principal_in(&session_of(&user));
    expect_user_found(&mut mocks, user);
    expect_not_throttled(&mut mocks);
    mocks.rate_limiter.expect_reset().times(2).returning(|_| Ok(()));
    expect_current_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: false });
    mocks.hasher.expect_hash().times(1).returning(|_| Ok(PasswordHash::new(NEW_HASH)));
    mocks.users.expect_update_password_hash().times(1).returning(|_, _, _, _| Err(UserRepositoryError::NotFound));
    mocks.sessions.expect_revoke_all_for_user_except().never();
    mocks.revocations.expect_revoke_session().never();
    mocks.audit.expect_append().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service()
        .change_password(&principal, CURRENT_PASSWORD, STRONG_PASSWORD, &request_context())
        .await
        .expect_err("the account is gone");

    assert!(matches!(error, ChangePasswordError::UserGone), "got {error:?}");
}

#[tokio::test]
async fn a_throttled_account_cannot_guess_its_current_password() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let principal = principal_in(&session_of(&user));
    expect_user_found(&mut mocks, user);
    mocks.rate_limiter.expect_hit().times(1).returning(|_, _| Ok(refused()));
    mocks.hasher.expect_verify().never();
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service()
        .change_password(&principal, CURRENT_PASSWORD, STRONG_PASSWORD, &request_context())
        .await
        .expect_err("throttled");

    assert!(matches!(error, ChangePasswordError::RateLimited(_)), "got {error:?}");
}
