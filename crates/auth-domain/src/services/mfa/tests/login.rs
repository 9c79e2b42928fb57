//! Login with a second factor: the challenge and its second step.

use super::*;

#[tokio::test]
async fn a_right_password_of_an_account_with_mfa_gets_a_challenge_and_no_session() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let user_id = user.id;
    let found = user.clone();
    mocks.users.expect_find_by_email().returning(move |_| Ok(Some(found.clone())));
    mocks.hasher.expect_verify().returning(|_, _| Ok(PasswordCheck::Match { needs_rehash: false }));
    let fingerprint = password_fingerprint(&user);
    mocks
        .second_factors
        .expect_create_challenge()
        .withf(move |challenge| {
            challenge.user_id == user_id
                && challenge.password_fingerprint == fingerprint
                && challenge.expires_at == NOW + time::Duration::minutes(5)
                && challenge.hash == MfaToken::from_random_bytes(RANDOM_BYTES).hash()
        })
        .times(1)
        .returning(|_| Ok(()));
    mocks.sessions.expect_create().never();
    mocks.tokens.expect_sign().never();
    mocks.audit.expect_append().never();

    let request = LoginRequest { email: "ada@example.com".to_owned(), password: "right".to_owned() };
    let outcome =
        mocks.into_service::<LoginService>().login(request, &request_context()).await.expect("the password is right");

    let LoginOutcome::MfaRequired(challenge) = outcome else { panic!("tokens without a second factor") };
    assert_eq!(challenge.expires_in, 300);
    assert_eq!(challenge.mfa_token, MfaToken::from_random_bytes(RANDOM_BYTES));
}

#[tokio::test]
async fn a_fresh_totp_code_completes_the_login_with_otp_in_amr() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge.clone()));
    expect_user(&mut mocks, user.clone());
    mocks.second_factors.expect_find_totp().returning(|_| Ok(Some(confirmed(Some(step_at(NOW) - 2)))));
    mocks
        .second_factors
        .expect_use_totp_step()
        .withf(|_, step| *step == step_at(NOW))
        .times(1)
        .returning(|_, _| Ok(true));
    let hash = challenge.hash.clone();
    mocks.second_factors.expect_consume_challenge().withf(move |used| *used == hash).times(1).returning(|_| Ok(true));
    mocks.expect_live_sessions(&user, vec![session_of(&user)]);
    mocks
        .sessions
        .expect_create()
        .withf(|session, _, _| session.amr == ["pwd", "otp"])
        .times(1)
        .returning(|_, _, _| Ok(crate::ports::SessionCreation::Created));
    mocks
        .tokens
        .expect_sign()
        .withf(|claims| claims.amr == ["pwd", "otp"])
        .times(1)
        .returning(|_| Ok(crate::tokens::AccessToken::new("signed".to_owned())));
    mocks.expect_audit(AuditEventKind::LoginSucceeded, 1);

    let pair = mocks
        .into_service::<LoginService>()
        .complete_mfa_login(token.expose(), &current_code(), &request_context())
        .await
        .expect("the login completes");

    assert_eq!(pair.user.id, user.id);
}

#[tokio::test]
async fn a_code_whose_step_was_used_is_a_replay_and_is_refused() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge));
    expect_user(&mut mocks, user);
    // The current step was used already: its code, and every older one, are spent.
    mocks.second_factors.expect_find_totp().returning(|_| Ok(Some(confirmed(Some(step_at(NOW))))));
    mocks.second_factors.expect_use_totp_step().never();
    mocks.second_factors.expect_consume_challenge().never();
    mocks.sessions.expect_create().never();
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);

    let error = mocks
        .into_service::<LoginService>()
        .complete_mfa_login(token.expose(), &current_code(), &request_context())
        .await;

    assert!(matches!(error, Err(MfaLoginError::InvalidCode)), "{error:?}");
}

#[tokio::test]
async fn a_code_another_request_spent_first_is_refused() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge));
    expect_user(&mut mocks, user);
    mocks.second_factors.expect_find_totp().returning(|_| Ok(Some(confirmed(None))));
    mocks.second_factors.expect_use_totp_step().times(1).returning(|_, _| Ok(false));
    mocks.second_factors.expect_consume_challenge().never();
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);

    let error = mocks
        .into_service::<LoginService>()
        .complete_mfa_login(token.expose(), &current_code(), &request_context())
        .await;

    assert!(matches!(error, Err(MfaLoginError::InvalidCode)), "{error:?}");
}

#[tokio::test]
async fn a_recovery_code_completes_the_login_once() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge));
    expect_user(&mut mocks, user.clone());
    let code = RecoveryCode::from_random_bytes(&[5; 10]);
    let hash = code.hash();
    let mut first = true;
    mocks.second_factors.expect_use_recovery_code().withf(move |_, used, _| *used == hash).times(2).returning(
        move |_, _, _| {
            let fresh = first;
            first = false;
            Ok(fresh)
        },
    );
    mocks.second_factors.expect_remaining_recovery_codes().returning(|_| Ok(9));
    mocks.second_factors.expect_consume_challenge().times(1).returning(|_| Ok(true));
    mocks.expect_live_sessions(&user, vec![session_of(&user)]);
    mocks.sessions.expect_create().times(1).returning(|_, _, _| Ok(crate::ports::SessionCreation::Created));
    mocks.accept_signing();
    mocks
        .audit
        .expect_append()
        .withf(|event| event.kind == AuditEventKind::LoginSucceeded && event.detail["recovery_codes_remaining"] == 9)
        .times(1)
        .returning(|_| Ok(()));
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    let service = mocks.into_service::<LoginService>();

    let typed = code.expose().to_uppercase();
    service.complete_mfa_login(token.expose(), &typed, &request_context()).await.expect("the first use completes");
    let again = service.complete_mfa_login(token.expose(), code.expose(), &request_context()).await;

    assert!(matches!(again, Err(MfaLoginError::InvalidCode)), "{again:?}");
}

#[tokio::test]
async fn an_unknown_or_expired_mfa_token_is_refused_before_any_code_is_checked() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    expect_challenge(&mut mocks, None);
    mocks.second_factors.expect_find_totp().never();
    mocks.second_factors.expect_use_recovery_code().never();

    let token = MfaToken::from_random_bytes([3; 32]);
    let error =
        mocks.into_service::<LoginService>().complete_mfa_login(token.expose(), "123456", &request_context()).await;

    assert!(matches!(error, Err(MfaLoginError::InvalidMfaToken)), "{error:?}");
}

#[tokio::test]
async fn a_password_changed_since_the_challenge_voids_it() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge));
    expect_user(
        &mut mocks,
        User { password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$bmV3$new"), ..user },
    );
    mocks.second_factors.expect_find_totp().never();

    let error = mocks
        .into_service::<LoginService>()
        .complete_mfa_login(token.expose(), &current_code(), &request_context())
        .await;

    assert!(matches!(error, Err(MfaLoginError::InvalidMfaToken)), "{error:?}");
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_passwords_under_a_limit_of_their_own() {
    let mut mocks = PortMocks::new();
    mocks.rate_limiter.expect_hit().withf(|key, _| key.starts_with("mfa-fail:user:")).returning(|_, _| Ok(refused()));
    mocks.rate_limiter.expect_hit().returning(|_, limit| Ok(allowed(limit)));
    let user = user_with_mfa();
    let (token, challenge) = challenge_for(&user);
    expect_challenge(&mut mocks, Some(challenge));
    expect_user(&mut mocks, user);
    mocks.second_factors.expect_find_totp().never();
    mocks.second_factors.expect_use_totp_step().never();

    // Even with failed-password limits switched off (AUTH_RATE_LOGIN_EMAIL=off): codes have
    // a limit of their own.
    let service =
        mocks.into_service_with_policy::<LoginService>(|policy| policy.rate_limits.login_failures_per_email = None);
    let error = service.complete_mfa_login(token.expose(), &current_code(), &request_context()).await;

    assert!(matches!(error, Err(MfaLoginError::RateLimited(_))), "{error:?}");
}
