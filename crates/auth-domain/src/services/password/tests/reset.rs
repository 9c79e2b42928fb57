//! reset_password.

use super::*;

// reset_password

#[tokio::test]
async fn a_malformed_reset_token_is_invalid_without_touching_the_repository() {
    let mut mocks = PortMocks::new();
    mocks.one_time_tokens.expect_consume().never();
    mocks.users.expect_find_by_id().never();
    expect_nothing_changed(&mut mocks);

    let error = mocks
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
            .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
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
        .into_service::<PasswordService>()
        .reset_password(token.expose(), STRONG_PASSWORD, &request_context())
        .await
        .expect_err("an overloaded hasher refuses");

    assert!(matches!(error, ResetPasswordError::Overloaded), "got {error:?}");
}
