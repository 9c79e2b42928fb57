//! Login: the "new sign-in" notice.

use super::*;

// The "new sign-in" notice

#[tokio::test]
async fn a_login_from_a_new_device_queues_a_new_sign_in_notice_with_the_request_ip_and_user_agent() {
    let first_login = Vec::new();
    let other_device = vec![live_session_from("198.51.100.23", "other-browser/2.0")];
    for live in [first_login, other_device] {
        let mut mocks = PortMocks::new();
        let notice = expect_successful_login(&mut mocks);
        mocks.expect_live_sessions(&verified_user(), live);
        // The notice goes with the session, in its transaction, not to the queue apart.
        mocks.expect_no_mail_queued();

        mocks
            .into_service::<LoginService>()
            .login(credentials(PASSWORD), &request_context())
            .await
            .expect("the login succeeds")
            .tokens();

        assert_eq!(notice.value(), Some(new_sign_in_notice()));
    }
}

#[tokio::test]
async fn a_login_from_the_ip_and_user_agent_of_a_live_session_queues_no_notice() {
    let mut mocks = PortMocks::new();
    let notice = expect_successful_login(&mut mocks);
    let known_device = live_session_from(CLIENT_IP, CLIENT_USER_AGENT);
    mocks.expect_live_sessions(&verified_user(), vec![live_session_from("198.51.100.23", "other/2.0"), known_device]);
    mocks.expect_no_mail_queued();

    mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect("the login succeeds")
        .tokens();

    assert_eq!(notice.value(), None);
}

#[tokio::test]
async fn a_login_from_the_ip_of_a_live_session_with_another_user_agent_queues_a_notice() {
    let mut mocks = PortMocks::new();
    let notice = expect_successful_login(&mut mocks);
    mocks.expect_live_sessions(&verified_user(), vec![live_session_from(CLIENT_IP, "other-browser/2.0")]);
    mocks.expect_no_mail_queued();

    mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect("the login succeeds")
        .tokens();

    assert_eq!(notice.value(), Some(new_sign_in_notice()));
}

#[tokio::test]
async fn a_login_with_the_user_agent_of_a_live_session_from_another_ip_queues_a_notice() {
    let mut mocks = PortMocks::new();
    let notice = expect_successful_login(&mut mocks);
    mocks.expect_live_sessions(&verified_user(), vec![live_session_from("198.51.100.23", CLIENT_USER_AGENT)]);
    mocks.expect_no_mail_queued();

    mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect("the login succeeds")
        .tokens();

    assert_eq!(notice.value(), Some(new_sign_in_notice()));
}

#[tokio::test]
async fn with_new_sign_in_notices_off_a_login_queues_none_and_does_not_list_the_sessions() {
    let mut mocks = PortMocks::new();
    let notice = expect_successful_login(&mut mocks);
    mocks.sessions.expect_list_active_for_user().never();
    mocks.expect_no_mail_queued();

    mocks
        .into_service_with_policy::<LoginService>(|policy| policy.notify_new_sign_in = false)
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect("the login succeeds")
        .tokens();

    assert_eq!(notice.value(), None);
}

#[tokio::test]
async fn a_failure_to_list_the_live_sessions_fails_the_login_before_any_session_is_opened() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    expect_user_found(&mut mocks, verified_user());
    expect_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: false });
    mocks
        .sessions
        .expect_list_active_for_user()
        .times(1)
        .returning(|_, _| Err(InfrastructureError::unavailable("the database is down")));
    expect_no_session(&mut mocks);
    mocks.audit.expect_append().never();
    mocks.expect_no_mail_queued();

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("failed");

    assert!(matches!(error, LoginError::Infrastructure(InfrastructureError::Unavailable(_))), "got {error:?}");
}
