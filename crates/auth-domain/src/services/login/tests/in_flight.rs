//! Login: a change of credentials that completes while a login is in flight.

use super::*;

// A change of credentials that completes while a login is in flight

#[tokio::test]
async fn a_login_whose_password_was_reset_while_it_was_in_flight_opens_no_session() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    expect_user_found(&mut mocks, verified_user());
    expect_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: false });
    mocks.expect_live_sessions(&verified_user(), Vec::new());
    // The reset moved the version on between the read and the insert: nothing is stored.
    mocks
        .sessions
        .expect_create()
        .withf(|session, _, _| session.credentials_version == verified_user().credentials_version)
        .times(1)
        .returning(|_, _, _| Ok(crate::ports::SessionCreation::CredentialsChanged));
    let reset = User {
        password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$bmV3$reset"),
        credentials_version: verified_user().credentials_version + 1,
        ..verified_user()
    };
    mocks.users.expect_find_by_id().times(1).returning(move |_| Ok(Some(reset.clone())));
    mocks.tokens.expect_sign().never();
    mocks.expect_audit(AuditEventKind::LoginSucceeded, 0);

    let error = mocks
        .into_service::<LoginService>()
        .login(credentials(PASSWORD), &request_context())
        .await
        .expect_err("no session");

    assert!(matches!(error, LoginError::InvalidCredentials), "got {error:?}");
}

#[tokio::test]
async fn a_login_whose_roles_changed_while_it_was_in_flight_opens_its_session_with_the_new_roles() {
    let mut mocks = PortMocks::new();
    mocks.allow_every_rate_limit();
    let before = User { roles: vec![crate::user::Role::parse("admin").expect("a role")], ..verified_user() };
    let after = User { roles: Vec::new(), credentials_version: before.credentials_version + 1, ..before.clone() };
    let (old_version, new_version) = (before.credentials_version, after.credentials_version);
    expect_user_found(&mut mocks, before);
    expect_password_checked(&mut mocks, PasswordCheck::Match { needs_rehash: false });
    mocks.sessions.expect_list_active_for_user().returning(|_, _| Ok(Vec::new()));
    mocks.mail_queue.expect_enqueue().never();
    mocks
        .sessions
        .expect_create()
        .withf(move |session, _, _| session.credentials_version == old_version)
        .times(1)
        .returning(|_, _, _| Ok(crate::ports::SessionCreation::CredentialsChanged));
    mocks
        .sessions
        .expect_create()
        .withf(move |session, _, _| session.credentials_version == new_version)
        .times(1)
        .returning(|_, _, _| Ok(crate::ports::SessionCreation::Created));
    mocks.users.expect_find_by_id().times(1).returning(move |_| Ok(Some(after.clone())));
    let signed = Arc::new(Mutex::new(None::<AccessClaims>));
    let signed_by_mock = Arc::clone(&signed);
    mocks.tokens.expect_sign().times(1).returning(move |claims| {
        *signed_by_mock.lock().expect("no panic") = Some(claims.clone());
        Ok(AccessToken::new("header.claims.signature".to_owned()))
    });
    mocks.expect_audit(AuditEventKind::LoginSucceeded, 1);

    mocks.into_service::<LoginService>().login(credentials(PASSWORD), &request_context()).await.expect("logged in");

    let claims = signed.lock().expect("no panic").clone().expect("signed");
    assert!(claims.roles.is_empty(), "the token must not claim the removed role: {:?}", claims.roles);
}
