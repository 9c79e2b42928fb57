//! Removing the second factor, and re-authentication for a change of it.

use super::*;

#[tokio::test]
async fn removal_takes_a_fresh_code_and_is_audited() {
    let mut mocks = PortMocks::new();
    expect_signed_in(&mut mocks, time::Duration::minutes(1));
    mocks.allow_every_rate_limit();
    expect_user(&mut mocks, user_with_mfa());
    mocks.second_factors.expect_find_totp().returning(|_| Ok(Some(confirmed(None))));
    mocks.second_factors.expect_use_totp_step().times(1).returning(|_, _| Ok(true));
    mocks.second_factors.expect_remove_totp().withf(|_, at| *at == NOW).times(1).returning(|_, _| Ok(true));
    mocks.expect_audit(AuditEventKind::MfaDisabled, 1);
    let principal = principal_in(&session_of(&verified_user()));

    mocks
        .into_service::<MfaService>()
        .remove_totp(&principal, &current_code(), None, &request_context())
        .await
        .expect("removed");
}

#[tokio::test]
async fn removal_with_a_wrong_code_removes_nothing() {
    let mut mocks = PortMocks::new();
    expect_signed_in(&mut mocks, time::Duration::minutes(1));
    mocks.allow_every_rate_limit();
    expect_user(&mut mocks, user_with_mfa());
    mocks.second_factors.expect_find_totp().times(1).returning(|_| Ok(Some(confirmed(None))));
    mocks.second_factors.expect_use_totp_step().never();
    mocks.second_factors.expect_remove_totp().never();
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    let principal = principal_in(&session_of(&verified_user()));
    // A well-formed code, half a million away from the right one.
    let wrong = format!("{:06}", (current_code().parse::<u32>().expect("digits") + 500_000) % 1_000_000);

    let error = mocks.into_service::<MfaService>().remove_totp(&principal, &wrong, None, &request_context()).await;

    assert!(matches!(error, Err(RemoveTotpError::InvalidCode)), "{error:?}");
}

// Re-authentication for a change of the second factor

#[tokio::test]
async fn enrolment_with_a_stale_sign_in_and_no_password_needs_reauthentication() {
    let mut mocks = PortMocks::new();
    expect_user(&mut mocks, verified_user());
    expect_signed_in(&mut mocks, REAUTHENTICATION_WINDOW + time::Duration::seconds(1));
    mocks.second_factors.expect_begin_totp().never();

    let principal = principal_in(&session_of(&verified_user()));
    let error = mocks.into_service::<MfaService>().begin_totp_enrolment(&principal, None, &request_context()).await;

    assert!(matches!(error, Err(EnrolTotpError::ReauthenticationRequired)), "{error:?}");
}

#[tokio::test]
async fn enrolment_with_a_stale_sign_in_and_a_wrong_password_is_refused_and_counted() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    expect_user(&mut mocks, verified_user());
    expect_signed_in(&mut mocks, time::Duration::days(1));
    mocks.hasher.expect_verify().times(1).returning(|_, _| Ok(PasswordCheck::Mismatch));
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    mocks.second_factors.expect_begin_totp().never();

    let principal = principal_in(&session_of(&verified_user()));
    let error =
        mocks.into_service::<MfaService>().begin_totp_enrolment(&principal, Some("not it"), &request_context()).await;

    assert!(matches!(error, Err(EnrolTotpError::InvalidCredentials)), "{error:?}");
}

#[tokio::test]
async fn enrolment_with_a_stale_sign_in_and_the_password_starts() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    expect_user(&mut mocks, verified_user());
    expect_signed_in(&mut mocks, time::Duration::days(1));
    mocks.hasher.expect_verify().times(1).returning(|_, _| Ok(PasswordCheck::Match { needs_rehash: false }));
    mocks.second_factors.expect_begin_totp().times(1).returning(|_, _, _| Ok(true));

    let principal = principal_in(&session_of(&verified_user()));
    mocks
        .into_service::<MfaService>()
        .begin_totp_enrolment(&principal, Some(STRONG_PASSWORD), &request_context())
        .await
        .expect("the password is a fresh proof");
}

#[tokio::test]
async fn removal_with_a_stale_sign_in_and_no_password_needs_reauthentication() {
    let mut mocks = PortMocks::new();
    expect_user(&mut mocks, user_with_mfa());
    expect_signed_in(&mut mocks, REAUTHENTICATION_WINDOW + time::Duration::seconds(1));
    mocks.second_factors.expect_remove_totp().never();

    let principal = principal_in(&session_of(&verified_user()));
    let error =
        mocks.into_service::<MfaService>().remove_totp(&principal, &current_code(), None, &request_context()).await;

    assert!(matches!(error, Err(RemoveTotpError::ReauthenticationRequired)), "{error:?}");
}
