//! verify_email and resend_verification.

use super::*;

#[tokio::test]
async fn a_live_verification_token_marks_the_email_verified_and_returns_the_stored_user() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let user_id = user.id;
    let token = OneTimeToken::from_random_bytes([9; 32]);
    let token_hash = token.hash();
    mocks
        .one_time_tokens
        .expect_consume()
        .withf(move |hash, purpose, now| *hash == token_hash && *purpose == TokenPurpose::VerifyEmail && *now == NOW)
        .times(1)
        .returning(move |_, _, _| Ok(Some(user_id)));
    mocks
        .users
        .expect_mark_email_verified()
        .withf(move |id, at| *id == user_id && *at == NOW)
        .times(1)
        .returning(|_, _| Ok(()));
    mocks
        .audit
        .expect_append()
        .withf(move |event| event.kind == AuditEventKind::EmailVerified && event.user_id == Some(user_id))
        .times(1)
        .returning(|_| Ok(()));
    let stored = user.clone();
    mocks.users.expect_find_by_id().withf(move |id| *id == user_id).returning(move |_| Ok(Some(stored.clone())));

    let verified = mocks
        .into_service::<RegistrationService>()
        .verify_email(token.expose(), &request_context())
        .await
        .expect("a live token verifies");

    assert_eq!(verified, user);
}

#[tokio::test]
async fn an_unknown_used_or_expired_verification_token_is_invalid() {
    let mut mocks = PortMocks::new();
    mocks.one_time_tokens.expect_consume().times(1).returning(|_, _, _| Ok(None));
    mocks.users.expect_mark_email_verified().never();
    mocks.audit.expect_append().never();

    let error = mocks
        .into_service::<RegistrationService>()
        .verify_email(OneTimeToken::from_random_bytes([9; 32]).expose(), &request_context())
        .await
        .expect_err("a dead token is refused");

    assert!(matches!(error, VerifyEmailError::InvalidToken), "got {error:?}");
}

#[tokio::test]
async fn a_malformed_verification_token_is_invalid_without_touching_the_repository() {
    let mut mocks = PortMocks::new();
    mocks.one_time_tokens.expect_consume().never();
    mocks.users.expect_mark_email_verified().never();

    let error = mocks
        .into_service::<RegistrationService>()
        .verify_email("not-a-token", &request_context())
        .await
        .expect_err("a malformed token is refused");

    assert!(matches!(error, VerifyEmailError::InvalidToken), "got {error:?}");
}

#[tokio::test]
async fn a_verification_token_of_a_deleted_account_is_invalid() {
    let mut mocks = PortMocks::new();
    let user_id = verified_user().id;
    mocks.one_time_tokens.expect_consume().times(1).returning(move |_, _, _| Ok(Some(user_id)));
    mocks.users.expect_mark_email_verified().times(1).returning(|_, _| Err(UserRepositoryError::NotFound));
    mocks.audit.expect_append().never();

    let error = mocks
        .into_service::<RegistrationService>()
        .verify_email(OneTimeToken::from_random_bytes([9; 32]).expose(), &request_context())
        .await
        .expect_err("the account is gone");

    assert!(matches!(error, VerifyEmailError::InvalidToken), "got {error:?}");
}

#[tokio::test]
async fn resending_to_an_unverified_account_replaces_its_link_with_a_new_one_and_queues_it_in_one_step() {
    let mut mocks = PortMocks::new();
    let user = unverified_user();
    let expected = expected_verification(&user, 0);
    expect_one_allowed_hit(&mut mocks, "register:ip:203.0.113.7");
    expect_one_allowed_hit(&mut mocks, "mail:email:ada@example.com");
    mocks
        .users
        .expect_find_by_email()
        .withf(|email| email.as_str() == "ada@example.com")
        .times(1)
        .returning(move |_| Ok(Some(user.clone())));
    // Voiding the old link, storing the new one and queueing its mail is one call, one
    // transaction: no window in which the mailed link is void or the stored one unmailed.
    let replaced = Captured::<MailedToken>::new();
    let replaced_by_mock = replaced.clone();
    mocks.one_time_tokens.expect_replace().times(1).returning(move |verification| {
        replaced_by_mock.keep(verification.clone());
        Ok(())
    });
    mocks.mail_queue.expect_enqueue().never();

    let pending = mocks
        .into_service::<RegistrationService>()
        .resend_verification(" Ada@Example.com", &request_context())
        .await
        .expect("accepted");
    pending.deliver().await.expect("delivered");

    let verification = replaced.value();
    assert_mail_carries_the_stored_token(&verification, "ada@example.com");
    assert_eq!(verification, expected);
}

#[tokio::test]
async fn the_answer_to_a_resend_is_decided_before_the_account_is_looked_up() {
    let mut mocks = PortMocks::new();
    expect_one_allowed_hit(&mut mocks, "register:ip:203.0.113.7");
    expect_one_allowed_hit(&mut mocks, "mail:email:ada@example.com");
    // Any account-dependent work before the answer would make its timing tell known addresses.
    mocks.users.expect_find_by_email().never();
    mocks.expect_no_mail_queued();

    let pending =
        mocks.into_service::<RegistrationService>().resend_verification("ada@example.com", &request_context()).await;

    assert!(pending.is_ok(), "got {pending:?}");
}

#[tokio::test]
async fn resending_to_a_verified_or_unknown_address_answers_ok_and_mails_nothing() {
    for stored in [Some(verified_user()), None] {
        let mut mocks = PortMocks::new();
        // The limit counts either way, or its refusals would tell which addresses have accounts.
        expect_one_allowed_hit(&mut mocks, "register:ip:203.0.113.7");
        expect_one_allowed_hit(&mut mocks, "mail:email:ada@example.com");
        mocks.users.expect_find_by_email().times(1).returning(move |_| Ok(stored.clone()));
        mocks.expect_no_mail_queued();

        let pending = mocks
            .into_service::<RegistrationService>()
            .resend_verification("ada@example.com", &request_context())
            .await
            .expect("accepted");
        pending.deliver().await.expect("nothing to deliver is no failure");
    }
}

#[tokio::test]
async fn resending_to_a_malformed_address_answers_ok_and_mails_nothing() {
    let mut mocks = PortMocks::new();
    expect_one_allowed_hit(&mut mocks, "register:ip:203.0.113.7");
    mocks.users.expect_find_by_email().never();
    mocks.expect_no_mail_queued();

    let pending = mocks
        .into_service::<RegistrationService>()
        .resend_verification("ada-at-example.com", &request_context())
        .await
        .expect("the contract answers 202 whatever the address");
    pending.deliver().await.expect("nothing to deliver is no failure");
}

#[tokio::test]
async fn a_resend_finished_in_the_background_is_handed_to_the_background_tasks_not_run_inline() {
    let mut mocks = PortMocks::new();
    expect_one_allowed_hit(&mut mocks, "register:ip:203.0.113.7");
    expect_one_allowed_hit(&mut mocks, "mail:email:ada@example.com");
    let handed_off: std::sync::Arc<std::sync::Mutex<Vec<crate::ports::BackgroundTask>>> = Default::default();
    let keep = handed_off.clone();
    mocks.tasks.expect_spawn().times(1).returning(move |task| keep.lock().expect("unpoisoned").push(task));
    // The account is looked up only when the handed-off task runs.
    mocks.users.expect_find_by_email().times(1).returning(|_| Ok(None));
    mocks.expect_no_mail_queued();

    let service = mocks.into_service::<RegistrationService>();
    service.resend_verification("ada@example.com", &request_context()).await.expect("accepted").finish_in_background();
    let task = handed_off.lock().expect("unpoisoned").pop().expect("one task was handed off");
    task.await;
}
