//! change_password.

use super::*;
use serde_json::json;

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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
        .change_password(&principal, CURRENT_PASSWORD, STRONG_PASSWORD, &request_context())
        .await
        .expect_err("throttled");

    assert!(matches!(error, ChangePasswordError::RateLimited(_)), "got {error:?}");
}
