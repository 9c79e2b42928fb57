//! Unit tests of token revocation and introspection, with every port mocked.

use super::*;
use crate::ports::TokenRejection;
use crate::services::test_support::{NOW, PortMocks, principal_in, request_context, session_of, verified_user};
use crate::session::RefreshTokenRecord;
use crate::user::User;

fn current_record(session: &Session, token: &RefreshToken) -> RefreshTokenRecord {
    RefreshTokenRecord { hash: token.hash(), session_id: session.id, issued_at: NOW, rotated_at: None }
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_session_and_its_access_tokens() {
    let mut mocks = PortMocks::new();
    let session = session_of(&verified_user());
    let token = RefreshToken::from_random_bytes([9; 32]);
    let found = (session.clone(), current_record(&session, &token));
    mocks.sessions.expect_find_by_refresh_token().returning(move |_| Ok(Some(found.clone())));
    mocks.sessions.expect_find().never();
    let session_id = session.id;
    mocks
        .sessions
        .expect_revoke()
        .withf(move |id, reason, at| *id == session_id && *reason == RevocationReason::Logout && *at == NOW)
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks.revocations.expect_revoke_session().withf(move |id, _| *id == session_id).times(1).returning(|_, _| Ok(()));
    mocks.expect_audit(AuditEventKind::Logout, 1);

    mocks.into_service().revoke_token(token.expose(), &request_context()).await.expect("revoked");
}

#[tokio::test]
async fn revoking_an_access_token_revokes_the_session_it_names() {
    let mut mocks = PortMocks::new();
    let session = session_of(&verified_user());
    let claims = principal_in(&session).claims;
    mocks.tokens.expect_verify().returning(move |_| Ok(claims.clone()));
    let stored = session.clone();
    mocks.sessions.expect_find().returning(move |_| Ok(Some(stored.clone())));
    mocks.sessions.expect_revoke().times(1).returning(|_, _, _| Ok(true));
    mocks.revocations.expect_revoke_session().times(1).returning(|_, _| Ok(()));
    mocks.expect_audit(AuditEventKind::Logout, 1);

    mocks.into_service().revoke_token("a.b.c", &request_context()).await.expect("revoked");
}

#[tokio::test]
async fn revoking_an_unknown_or_dead_token_does_nothing_and_succeeds() {
    let mut mocks = PortMocks::new();
    mocks.sessions.expect_find_by_refresh_token().returning(|_| Ok(None));
    mocks.tokens.expect_verify().returning(|_| Err(TokenRejection::Expired));
    mocks.sessions.expect_revoke().never();
    mocks.audit.expect_append().never();
    let service = mocks.into_service();

    service.revoke_token(RefreshToken::from_random_bytes([1; 32]).expose(), &request_context()).await.expect("ok");
    service.revoke_token("expired.access.token", &request_context()).await.expect("ok");
    service.revoke_token("", &request_context()).await.expect("ok");
}

#[tokio::test]
async fn a_live_access_token_introspects_as_its_claims_and_a_revoked_one_as_inactive() {
    let mut mocks = PortMocks::new();
    let claims = principal_in(&session_of(&verified_user())).claims;
    let signed = claims.clone();
    mocks.tokens.expect_verify().returning(move |_| Ok(signed.clone()));
    let mut revoked = false;
    mocks.revocations.expect_is_token_revoked().returning(move |_, _, _| {
        let answer = revoked;
        revoked = true;
        Ok(answer)
    });
    let service = mocks.into_service();

    assert_eq!(service.introspect("a.b.c").await.expect("answered"), Introspection::AccessToken(claims));
    assert_eq!(service.introspect("a.b.c").await.expect("answered"), Introspection::Inactive);
}

#[tokio::test]
async fn a_refresh_token_is_active_only_while_current_in_a_live_session_of_an_enabled_account() {
    let token = RefreshToken::from_random_bytes([9; 32]);
    let session = session_of(&verified_user());
    let rotated = RefreshTokenRecord { rotated_at: Some(NOW), ..current_record(&session, &token) };
    let revoked = Session { revoked_at: Some(NOW), ..session.clone() };
    let cases = [
        (session.clone(), current_record(&session, &token), verified_user(), true),
        (session.clone(), rotated, verified_user(), false),
        (revoked, current_record(&session, &token), verified_user(), false),
        (session.clone(), current_record(&session, &token), User { disabled: true, ..verified_user() }, false),
    ];
    for (session, record, user, active) in cases {
        let mut mocks = PortMocks::new();
        let found = (session.clone(), record);
        mocks.sessions.expect_find_by_refresh_token().returning(move |_| Ok(Some(found.clone())));
        mocks.users.expect_find_by_id().returning(move |_| Ok(Some(user.clone())));

        let answer = mocks.into_service().introspect(token.expose()).await.expect("answered");

        assert_eq!(answer != Introspection::Inactive, active, "{answer:?}");
    }
}
