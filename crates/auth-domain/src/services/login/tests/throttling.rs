//! Login: the rate limits, re-hashing, an overloaded hasher, and the back-off of failed attempts.

use super::*;

#[tokio::test]
async fn a_throttled_email_is_refused_and_audited_under_its_account_without_checking_the_password() {
    let mut mocks = PortMocks::new();
    let user_id = verified_user().id;
    mocks.rate_limiter.expect_hit().withf(|key, _| key == IP_KEY).times(1).returning(|_, limit| Ok(allowed(limit)));
    mocks.rate_limiter.expect_hit().withf(|key, _| key == FAILURE_KEY).times(1).returning(|_, _| Ok(refused()));
    mocks.rate_limiter.expect_peek().never();
    expect_user_found(&mut mocks, verified_user());
    mocks.hasher.expect_verify().never();
    mocks.hasher.expect_verify_dummy().never();
    mocks
        .audit
        .expect_append()
        .withf(move |event| {
            event.kind == AuditEventKind::LoginThrottled
                && event.ip.as_deref() == Some(CLIENT_IP)
                && event.user_id == Some(user_id)
        })
        .times(1)
        .returning(|_| Ok(()));
    expect_no_session(&mut mocks);

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("refused");

    assert!(matches!(error, LoginError::RateLimited(exceeded) if exceeded == refusal()), "got {error:?}");
}

#[tokio::test]
async fn logins_beyond_the_ip_limit_are_rate_limited_before_anything_else() {
    let mut mocks = PortMocks::new();
    mocks.rate_limiter.expect_hit().withf(|key, _| key == IP_KEY).times(1).returning(|_, _| Ok(refused()));
    mocks.rate_limiter.expect_peek().never();
    mocks.users.expect_find_by_email().never();
    mocks.hasher.expect_verify().never();
    mocks.hasher.expect_verify_dummy().never();
    expect_no_session(&mut mocks);

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("refused");

    assert!(matches!(error, LoginError::RateLimited(exceeded) if exceeded == refusal()), "got {error:?}");
}

#[tokio::test]
async fn a_password_hashed_with_old_parameters_is_rehashed_on_login() {
    let mut mocks = PortMocks::new();
    let user_id = verified_user().id;
    let new_hash = PasswordHash::new("$argon2id$v=19$m=47104,t=1,p=1$c2FsdA$rehashed");
    mocks.allow_every_rate_limit();
    expect_user_found(&mut mocks, verified_user());
    expect_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: true });
    let rehashed = new_hash.clone();
    mocks
        .hasher
        .expect_hash()
        .withf(|password| password.expose() == PASSWORD)
        .times(1)
        .returning(move |_| Ok(rehashed.clone()));
    let expected_hash = new_hash.clone();
    // Upgrading the hash is no password change: no notice goes with it.
    mocks
        .users
        .expect_update_password_hash()
        .withf(move |id, hash, at, update| {
            *id == user_id
                && *hash == expected_hash
                && *at == NOW
                && matches!(update, crate::ports::PasswordUpdate::Rehash { previous } if *previous == verified_user().password_hash)
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    mocks.expect_live_sessions(&verified_user(), vec![session_of(&verified_user())]);
    mocks.sessions.expect_create().times(1).returning(|_, _, _| Ok(crate::ports::SessionCreation::Created));
    mocks.mail_queue.expect_enqueue().never();
    mocks.accept_signing();
    mocks.expect_audit(AuditEventKind::LoginSucceeded, 1);

    let pair = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect("the login succeeds")
        .tokens();

    assert_eq!(pair.user.password_hash, new_hash);
}

#[tokio::test]
async fn an_overloaded_hasher_during_login_answers_overloaded_without_counting_a_failure() {
    let mut mocks = PortMocks::new();
    expect_limits_allow(&mut mocks, FAILURE_KEY);
    // The attempt was reserved before the hash; unchecked, it is given back.
    mocks.rate_limiter.expect_undo().withf(|key, _| key == FAILURE_KEY).times(1).returning(|_, _| Ok(()));
    mocks.rate_limiter.expect_hit().withf(|_, limit| *limit == FAILURE_STREAK).never();
    expect_user_found(&mut mocks, verified_user());
    mocks.hasher.expect_verify().times(1).returning(|_, _| Err(HashError::Overloaded));
    mocks.audit.expect_append().never();
    expect_no_session(&mut mocks);

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("refused");

    assert!(matches!(error, LoginError::Overloaded), "got {error:?}");
}

#[test]
fn the_back_off_starts_after_the_configured_allowance_and_doubles_up_to_a_cap() {
    use std::time::Duration;
    // AUTH_RATE_LOGIN_EMAIL's count, not a constant: the contract's 10 failures are free.
    assert_eq!(backoff_after(10, 10), None);
    assert_eq!(backoff_after(11, 10), Some(Duration::from_secs(1)));
    assert_eq!(backoff_after(12, 10), Some(Duration::from_secs(2)));
    assert_eq!(backoff_after(14, 10), Some(Duration::from_secs(8)));
    assert_eq!(backoff_after(4, 3), Some(Duration::from_secs(1)), "a lower configured count starts sooner");
    assert_eq!(backoff_after(u32::MAX, 10), Some(MAX_BACKOFF));
}

#[tokio::test]
async fn an_attempt_beyond_the_allowance_claims_the_back_off_its_failure_earns_before_the_check() {
    let mut mocks = PortMocks::new();
    mocks.rate_limiter.expect_hit().withf(|key, _| key == IP_KEY).times(1).returning(|_, limit| Ok(allowed(limit)));
    mocks
        .rate_limiter
        .expect_hit()
        .withf(|key, _| key == FAILURE_KEY)
        .times(1)
        .returning(|_, limit| Ok(allowed(limit)));
    // Eleven failures since the last success: this attempt would be the twelfth, earning 2 s.
    mocks
        .rate_limiter
        .expect_peek()
        .times(1)
        .returning(|_, limit| Ok(RateDecision { remaining: limit.max - 11, ..allowed(limit) }));
    let backoff_key = backoff_key_of(FAILURE_KEY);
    mocks
        .rate_limiter
        .expect_claim_block()
        .withf(move |key, wait| key == backoff_key && *wait == std::time::Duration::from_secs(2))
        .times(1)
        .returning(|_, _| Ok(None));
    expect_failure_counted(&mut mocks, FAILURE_KEY);
    expect_user_found(&mut mocks, verified_user());
    expect_password_checked(&mut mocks, PasswordCheck::Mismatch);
    mocks.expect_audit(AuditEventKind::LoginFailed, 1);
    expect_no_session(&mut mocks);

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("refused");

    assert!(matches!(error, LoginError::InvalidCredentials), "got {error:?}");
}

#[tokio::test]
async fn an_address_in_back_off_is_throttled_without_checking_the_password_and_its_attempt_given_back() {
    let mut mocks = PortMocks::new();
    mocks.rate_limiter.expect_hit().withf(|key, _| key == IP_KEY).times(1).returning(|_, limit| Ok(allowed(limit)));
    mocks
        .rate_limiter
        .expect_hit()
        .withf(|key, _| key == FAILURE_KEY)
        .times(1)
        .returning(|_, limit| Ok(allowed(limit)));
    mocks
        .rate_limiter
        .expect_peek()
        .times(1)
        .returning(|_, limit| Ok(RateDecision { remaining: limit.max - 12, ..allowed(limit) }));
    // Another attempt holds the back-off: 2.2 s left, which the caller is told as 3 whole seconds.
    mocks.rate_limiter.expect_claim_block().times(1).returning(|_, _| Ok(Some(std::time::Duration::from_millis(2200))));
    mocks.rate_limiter.expect_undo().withf(|key, _| key == FAILURE_KEY).times(1).returning(|_, _| Ok(()));
    mocks.hasher.expect_verify().never();
    mocks.hasher.expect_verify_dummy().never();
    expect_user_found(&mut mocks, verified_user());
    mocks.expect_audit(AuditEventKind::LoginThrottled, 1);

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("throttled");

    let LoginError::RateLimited(exceeded) = error else { panic!("got {error:?}") };
    assert_eq!(exceeded.retry_after, std::time::Duration::from_secs(3));
}
