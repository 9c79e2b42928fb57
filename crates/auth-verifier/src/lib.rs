//! Verifies authd access tokens inside another service, without calling authd per request.
//!
//! A [`Verifier`] fetches the issuer's signing keys (JWKS), keeps them decoded in memory, and
//! checks each token locally: the signature with the key its `kid` names, an algorithm pinned by
//! configuration (never taken from the token alone), `typ` = `at+jwt`, `iss`, `aud`, `exp`,
//! `nbf` and `iat` with a clock-skew leeway. With a revocation feed configured, it also polls
//! authd's `GET /v1/revocations` in the background and refuses tokens of revoked sessions, at most
//! `max_staleness` (5 s by default) after the revocation; if the feed cannot be reached for longer
//! than that, `verify` fails closed with [`VerifyError::RevocationFeedStale`] (failing open is an
//! explicit option). Without a feed, a logout only takes effect here when the token expires.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use auth_verifier::{RevocationFeed, Verifier, VerifyError};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder("https://auth.example.com", "authd")
//!     // Discovery at the issuer finds the JWKS; or name it: .jwks_url("http://authd:8080/.well-known/jwks.json")
//!     .revocation_feed(RevocationFeed::at_base_url("https://auth.example.com", "billing", "client-secret"))
//!     .max_staleness(Duration::from_secs(5))
//!     .build()
//!     .await?;
//!
//! # let token = "";
//! match verifier.verify(token).await {
//!     Ok(claims) => println!("user {} in session {}", claims.user_id(), claims.session_id()),
//!     Err(error) if error.is_unavailable() => println!("503: cannot verify right now ({error})"),
//!     Err(VerifyError::Revoked) => println!("401: logged out"),
//!     Err(error) => println!("401: {error}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! With the `actix` feature, handlers take an `AuthenticatedUser` argument instead, and the
//! `Verifier` goes in the app data as `web::Data<Verifier>`.
//!
//! The background tasks (JWKS refresh per its `Cache-Control: max-age`, revocation polling) run on
//! the Tokio runtime that awaited [`VerifierBuilder::build`], and end when the last clone of the
//! `Verifier` is dropped. Tokens are never logged. `docs/verifier.md` in the repository covers the
//! design: the staleness bound, the rate-limited refetch of unknown keys, the extractor's answers.
//!
//! TLS: without the `rustls` feature this crate enables no TLS backend of `reqwest`. To reach the
//! auth server over https, turn that feature on, or enable a backend on your own `reqwest`
//! dependency (Cargo unifies features), or hand a configured client to
//! [`VerifierBuilder::http_client`].

#[cfg(feature = "actix")]
mod actix;
mod claims;
mod config;
mod error;
mod http;
mod keys;
mod revocations;
mod verifier;

#[cfg(feature = "actix")]
pub use actix::{AuthenticatedUser, AuthenticationError};
pub use auth_claims::{AccessClaims, Audiences, SessionId, UserId};
pub use claims::Claims;
pub use config::{RevocationFeed, SigningAlgorithm, VerifierBuilder};
pub use error::{BuildError, FetchError, VerifyError};
pub use uuid::Uuid;
pub use verifier::Verifier;
