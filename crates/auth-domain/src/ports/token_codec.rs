//! Port: signing and verifying access tokens.

use crate::error::InfrastructureError;
use crate::tokens::{AccessClaims, AccessToken};

/// Why a presented access token was refused. None of these reveal anything to the client beyond
/// `invalid_token`; they exist for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("the token is not a well-formed JWS")]
    Malformed,
    #[error("the token's key id is unknown")]
    UnknownKey,
    #[error("the token's algorithm or type is not the one its key signs with")]
    WrongAlgorithm,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token lacks a required claim or has one of the wrong type")]
    BadClaims,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait AccessTokenCodec: Send + Sync {
    /// Signs `claims` with the current signing key.
    ///
    /// # Errors
    /// Only when no key is usable or the signer fails: an infrastructure fault.
    fn sign(&self, claims: &AccessClaims) -> Result<AccessToken, InfrastructureError>;

    /// Checks the signature with the key the token names, pinned to that key's algorithm, and
    /// every claim: `typ` is `at+jwt`; `iss` and `aud` are ours; `exp`, `nbf` and `iat` allow at
    /// most the configured skew. It MUST NOT touch a database: this runs on every request.
    fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection>;
}
