//! Why a token is refused ([`VerifyError`]), why a verifier cannot be built ([`BuildError`]), and
//! why a fetch from the auth server failed ([`FetchError`]).

/// Why [`Verifier::verify`](crate::Verifier::verify) refused a token.
///
/// Most variants say the token is not acceptable (answer 401). Two say that *we* cannot decide
/// right now, whatever the token: [`KeysUnavailable`](Self::KeysUnavailable) and
/// [`RevocationFeedStale`](Self::RevocationFeedStale); [`is_unavailable`](Self::is_unavailable)
/// tells them apart (answer 503, the client may retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a compact JWS with a JSON header and payload, longer than 8 KiB, or carrying a `crit`
    /// header this library does not understand.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// The `typ` header is not `at+jwt`: an ID token or some other JWT offered as an access token.
    #[error("the token is not an access token (typ at+jwt)")]
    WrongType,
    /// No `kid`, or a `kid` the JWKS does not list, even after a refetch (or a refetch was not
    /// allowed yet: see [`VerifierBuilder::min_jwks_refetch_interval`](crate::VerifierBuilder::min_jwks_refetch_interval)).
    #[error("the token names no known signing key")]
    UnknownKey,
    /// The header's `alg` is not the algorithm of the key its `kid` names, or not one of the
    /// pinned algorithms (`none` and HMAC algorithms never are).
    #[error("the token's algorithm is not allowed for its key")]
    WrongAlgorithm,
    /// The signature does not verify with the key the `kid` names.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// `exp` has passed, beyond the leeway.
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future, beyond the leeway.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    /// `aud` does not name the configured audience.
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// A required claim is missing or has the wrong shape (`sub` and `sid` must be UUIDs).
    #[error("the token lacks a required claim or has a malformed one")]
    BadClaims,
    /// The token's session was revoked (logout, password change, admin action...).
    #[error("the token's session was revoked")]
    Revoked,
    /// The revocation feed has not answered for longer than the staleness bound, so a revocation
    /// might have been missed; the verifier fails closed. Not the token's fault.
    #[error("the revocation feed has not been reached recently enough to trust the token")]
    RevocationFeedStale,
    /// The signing keys could not be fetched, so no token can be checked. Not the token's fault.
    #[error("the signing keys are unavailable")]
    KeysUnavailable,
}

impl VerifyError {
    /// Whether the refusal is about our ability to verify (keys unavailable, revocation feed
    /// stale) rather than about the token: such requests deserve a 503, not a 401.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::KeysUnavailable | Self::RevocationFeedStale)
    }
}

/// Why [`VerifierBuilder::build`](crate::VerifierBuilder::build) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is out of range or inconsistent; the message names it.
    #[error("invalid verifier configuration: {0}")]
    InvalidConfig(String),
    /// A URL does not parse, or is not http(s).
    #[error("invalid {what} URL {url:?}: {reason}")]
    InvalidUrl {
        /// Which URL: `issuer`, `JWKS`, `discovery` or `revocation feed`.
        what: &'static str,
        url: String,
        reason: String,
    },
    /// The discovery document could not be fetched or read.
    #[error("the discovery document at {url} could not be fetched")]
    Discovery {
        url: String,
        #[source]
        source: FetchError,
    },
    /// The discovery document names another issuer than the configured one (RFC 8414 §3.3: the
    /// metadata must not be used then).
    #[error("the discovery document names the issuer {found:?}, expected {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built")]
    HttpClient(#[source] reqwest::Error),
    /// `build` was not called from within a Tokio runtime, which the background tasks need.
    #[error("the verifier must be built inside a Tokio runtime (its background tasks run there)")]
    NoRuntime,
}

/// Why a request to the auth server (JWKS, discovery, revocation feed) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request could not be sent or timed out, or the body could not be read.
    #[error("the request failed")]
    Http(#[source] reqwest::Error),
    /// The server answered with a status other than 200.
    #[error("the server answered {0}")]
    Status(u16),
    /// The body was larger than this library accepts.
    #[error("the response is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The body is not the expected JSON.
    #[error("the response is not the expected JSON")]
    Json(#[source] serde_json::Error),
}
