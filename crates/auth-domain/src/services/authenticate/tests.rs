//! Unit tests of the authenticate use cases, with every port mocked.

use super::*;
use crate::ports::RevocationCheck;
use crate::services::test_support::{PortMocks, principal_in, session_of, verified_user};

const ACCESS_TOKEN: &str = "header.claims.signature";

/// The principal a valid [`ACCESS_TOKEN`] stands for.
fn expected_principal() -> Principal {
    principal_in(&session_of(&verified_user()))
}

fn expect_token_verifies(mocks: &mut PortMocks) {
    let claims = expected_principal().claims;
    mocks.tokens.expect_verify().withf(|token| token == ACCESS_TOKEN).times(1).returning(move |_| Ok(claims.clone()));
}

#[tokio::test]
async fn a_valid_token_of_a_live_session_authenticates_its_principal() {
    let mut mocks = PortMocks::new();
    let expected = expected_principal();
    let session_id = expected.session_id;
    expect_token_verifies(&mut mocks);
    mocks
        .revocations
        .expect_check_session()
        .withf(move |session, _| *session == session_id)
        .times(1)
        .returning(|_, _| Ok(RevocationCheck::Live));

    let principal = mocks.into_service::<Authenticator>().authenticate(ACCESS_TOKEN).await.expect("the token is valid");

    assert_eq!(principal, expected_principal());
}

#[tokio::test]
async fn a_token_the_codec_rejects_is_invalid_without_asking_the_revocation_store() {
    let mut mocks = PortMocks::new();
    mocks.tokens.expect_verify().times(1).returning(|_| Err(TokenRejection::BadSignature));
    mocks.revocations.expect_check_session().never();

    let error =
        mocks.into_service::<Authenticator>().authenticate(ACCESS_TOKEN).await.expect_err("the token is refused");

    assert!(matches!(error, AuthenticateError::InvalidToken(TokenRejection::BadSignature)), "got {error:?}");
}

#[tokio::test]
async fn a_valid_token_of_a_revoked_session_is_refused() {
    let mut mocks = PortMocks::new();
    expect_token_verifies(&mut mocks);
    mocks.revocations.expect_check_session().times(1).returning(|_, _| Ok(RevocationCheck::Revoked));

    let error =
        mocks.into_service::<Authenticator>().authenticate(ACCESS_TOKEN).await.expect_err("the session is revoked");

    assert!(matches!(error, AuthenticateError::Revoked), "got {error:?}");
}

#[tokio::test]
async fn a_token_whose_revocation_cannot_be_checked_is_refused() {
    let mut mocks = PortMocks::new();
    expect_token_verifies(&mut mocks);
    mocks
        .revocations
        .expect_check_session()
        .times(1)
        .returning(|_, _| Err(InfrastructureError::unavailable("the revocation store is down")));

    let error = mocks.into_service::<Authenticator>().authenticate(ACCESS_TOKEN).await.expect_err("fail closed");

    assert!(matches!(error, AuthenticateError::Infrastructure(InfrastructureError::Unavailable(_))), "got {error:?}");
}
