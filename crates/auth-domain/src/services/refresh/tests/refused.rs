//! Refreshes that are refused: revoked, expired, disabled, unknown, malformed, rate-limited or behind the account's credentials.

use super::*;

#[tokio::test]
async fn a_refresh_token_of_a_revoked_session_is_invalid() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let session = Session { revoked_at: Some(NOW - time::Duration::hours(1)), ..session_of(&user) };
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    expect_user_and_limits(&mut mocks, user);
    expect_no_tokens(&mut mocks);
    expect_session_untouched(&mut mocks);

    let error = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect_err("revoked");

    assert!(matches!(error, RefreshError::InvalidRefreshToken), "got {error:?}");
}

#[tokio::test]
async fn a_refresh_token_of_a_session_past_its_idle_limit_is_refused_as_expired() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let session = Session { idle_expires_at: NOW - time::Duration::seconds(1), ..session_of(&user) };
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    expect_user_and_limits(&mut mocks, user);
    expect_no_tokens(&mut mocks);
    expect_session_untouched(&mut mocks);

    let error = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect_err("expired");

    assert!(matches!(error, RefreshError::SessionExpired), "got {error:?}");
}

#[tokio::test]
async fn a_refresh_token_of_a_session_past_its_absolute_limit_is_refused_as_expired() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let session = Session { expires_at: NOW, ..session_of(&user) };
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    expect_user_and_limits(&mut mocks, user);
    expect_no_tokens(&mut mocks);

    let error = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect_err("expired");

    assert!(matches!(error, RefreshError::SessionExpired), "got {error:?}");
}

#[tokio::test]
async fn a_refresh_for_a_disabled_account_is_refused_without_rotating() {
    let mut mocks = PortMocks::new();
    let user = User { disabled: true, ..verified_user() };
    let session = session_of(&user);
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    expect_user_and_limits(&mut mocks, user);
    expect_no_tokens(&mut mocks);

    let error = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect_err("disabled");

    assert!(matches!(error, RefreshError::AccountDisabled), "got {error:?}");
}

#[tokio::test]
async fn a_refresh_for_a_disabled_account_whose_sessions_were_revoked_is_refused_as_disabled() {
    let mut mocks = PortMocks::new();
    let user = User { disabled: true, ..verified_user() };
    let session = Session { revoked_at: Some(NOW - time::Duration::minutes(5)), ..session_of(&user) };
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    expect_user_and_limits(&mut mocks, user);
    expect_no_tokens(&mut mocks);

    let error = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect_err("disabled");

    assert!(matches!(error, RefreshError::AccountDisabled), "got {error:?}");
}

#[tokio::test]
async fn an_unknown_refresh_token_is_invalid() {
    let mut mocks = PortMocks::new();
    mocks.sessions.expect_find_by_refresh_token().times(1).returning(|_| Ok(None));
    mocks.users.expect_find_by_id().never();
    expect_no_tokens(&mut mocks);

    let error = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect_err("unknown");

    assert!(matches!(error, RefreshError::InvalidRefreshToken), "got {error:?}");
}

#[tokio::test]
async fn a_malformed_refresh_token_is_invalid_without_touching_the_repository() {
    let mut mocks = PortMocks::new();
    mocks.sessions.expect_find_by_refresh_token().never();
    expect_no_tokens(&mut mocks);

    let error = mocks
        .into_service::<SessionService>()
        .refresh("not-a-refresh-token", &request_context())
        .await
        .expect_err("malformed");

    assert!(matches!(error, RefreshError::InvalidRefreshToken), "got {error:?}");
}

#[tokio::test]
async fn refreshes_beyond_the_session_limit_are_rate_limited_without_rotating() {
    let mut mocks = PortMocks::new();
    let user = verified_user();
    let session = session_of(&user);
    let limit_key = format!("refresh:session:{}", session.id);
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    mocks.rate_limiter.expect_hit().withf(move |key, _| key == limit_key).times(1).returning(|_, _| Ok(refused()));
    mocks.users.expect_find_by_id().returning(move |_| Ok(Some(user.clone())));
    expect_no_tokens(&mut mocks);

    let error = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect_err("limited");

    assert!(matches!(error, RefreshError::RateLimited(exceeded) if exceeded == refusal()), "got {error:?}");
}

#[tokio::test]
async fn a_session_opened_before_the_accounts_credentials_changed_is_ended_not_refreshed() {
    // A login in flight while a password reset completed, whose session the reset's revocation
    // missed: refresh looks at the credentials version, whatever became of that revocation.
    let mut mocks = PortMocks::new();
    let user = User { credentials_version: 4, ..verified_user() };
    let session = Session { credentials_version: 3, ..session_of(&user) };
    let session_id = session.id;
    expect_token_found(&mut mocks, &session, record_of(&session, None));
    expect_user_and_limits(&mut mocks, user);
    expect_no_tokens(&mut mocks);
    mocks
        .sessions
        .expect_revoke()
        .withf(move |id, reason, _| *id == session_id && *reason == RevocationReason::CredentialsChanged)
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks.revocations.expect_revoke_session().withf(move |id, _| *id == session_id).times(1).returning(|_, _| Ok(()));

    let error = mocks
        .into_service::<SessionService>()
        .refresh(presented().expose(), &request_context())
        .await
        .expect_err("stale");

    assert!(matches!(error, RefreshError::InvalidRefreshToken), "got {error:?}");
}
