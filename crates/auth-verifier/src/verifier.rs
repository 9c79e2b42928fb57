//! [`Verifier`]: building it (discovery, first fetches, background tasks) and `verify`, the
//! checks every token goes through, in order.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use serde::Deserialize;
use tokio::task::AbortHandle;

use crate::claims::Claims;
use crate::config::{KeySource, SigningAlgorithm, VerifierBuilder, parse_url};
use crate::error::{BuildError, FetchError, VerifyError};
use crate::http;
use crate::keys::{ClaimRules, KeyCache, KeyCacheSettings};
use crate::revocations::{RevocationList, RevocationSettings};

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// A discovery document larger than this is refused.
const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// Verifies access tokens of one issuer for one audience.
///
/// Cheap to clone: clones share the keys, the revocation list and the background tasks, which
/// stop when the last clone is dropped. Build one per process with [`Verifier::builder`].
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audience: String,
    algorithms: Vec<SigningAlgorithm>,
    leeway_seconds: i64,
    keys: KeyCache,
    revocations: Option<RevocationList>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The tasks hold only weak references and would end at their next wake-up anyway; the
        // JWKS task may sleep for an hour, so end them now.
        for task in self.tasks.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..) {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("keys", &self.inner.keys)
            .field("revocations", &self.inner.revocations)
            .finish()
    }
}

impl Verifier {
    /// A builder for a verifier of tokens issued by `issuer` (the exact `iss`) for `audience`
    /// (one of `aud`).
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder::new(issuer, audience)
    }

    /// The claims of `token` if it is an access token of our issuer, for our audience, signed by
    /// a key of the JWKS with a pinned algorithm, within its validity period (with the leeway),
    /// and of a session not revoked.
    ///
    /// Waits on the network only when the token names a key not seen yet (one JWKS fetch at
    /// most, rate-limited); otherwise all in memory.
    ///
    /// # Errors
    /// Why the token is refused; see [`VerifyError::is_unavailable`] for the refusals that are
    /// not the token's fault.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let inner = &self.inner;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Malformed);
        }
        let header = TokenHeader::parse(token)?;
        if header.crit.is_some() {
            return Err(VerifyError::Malformed);
        }
        // The token's `alg` is only a claim: it must be pinned, and below, equal the key's.
        let algorithm = SigningAlgorithm::from_name(&header.alg)
            .filter(|algorithm| inner.algorithms.contains(algorithm))
            .ok_or(VerifyError::WrongAlgorithm)?;
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(VerifyError::WrongType);
        }
        let kid = header.kid.as_deref().ok_or(VerifyError::UnknownKey)?;
        let key = inner.keys.key_for(kid).await?;
        if key.algorithm != algorithm {
            return Err(VerifyError::WrongAlgorithm);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation)
            .map_err(|error| rejection(error.kind()))?
            .claims;
        let now = unix_now();
        if claims.issued_at() > now.saturating_add(inner.leeway_seconds) {
            return Err(VerifyError::NotYetValid);
        }
        if let Some(revocations) = &inner.revocations {
            revocations.check(claims.session_id(), now)?;
        }
        Ok(claims)
    }

    /// The issuer this verifier accepts.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The audience this verifier accepts.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// Whether tokens can be verified right now: a JWKS was fetched, and the revocation list
    /// (when a feed is configured) is within its staleness bound. For readiness probes.
    pub fn is_ready(&self) -> bool {
        self.inner.keys.is_loaded() && self.inner.revocations.as_ref().is_none_or(RevocationList::is_fresh)
    }

    /// Fetches the JWKS now, outside the schedule (after a key rotation was announced, say).
    ///
    /// # Errors
    /// When the JWKS cannot be fetched; the previous keys stay.
    pub async fn refresh_keys(&self) -> Result<(), FetchError> {
        self.inner.keys.refresh().await.map(|_| ())
    }
}

impl VerifierBuilder {
    /// Builds the verifier: discovery (unless a JWKS URL was given), a first JWKS fetch and a
    /// first revocation poll, then the background tasks (JWKS refresh, revocation polling) on the
    /// current Tokio runtime.
    ///
    /// A failed first JWKS fetch or poll does not fail the build: the background tasks retry, and
    /// meanwhile `verify` answers `KeysUnavailable` or `RevocationFeedStale`
    /// ([`Verifier::is_ready`] tells). Discovery does fail it, as a configuration error would.
    ///
    /// # Errors
    /// Invalid settings, a discovery document that cannot be fetched or names another issuer,
    /// or no Tokio runtime.
    pub async fn build(self) -> Result<Verifier, BuildError> {
        self.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let client = match &self.http_client {
            Some(client) => client.clone(),
            None => reqwest::Client::builder()
                .timeout(self.http_timeout)
                .user_agent(concat!("auth-verifier/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(BuildError::HttpClient)?,
        };
        let jwks_url = match &self.key_source {
            Some(KeySource::Jwks { url }) => parse_url("JWKS", url)?,
            Some(KeySource::Discovery { base_url }) => self.discover(&client, base_url).await?,
            None => self.discover(&client, &self.issuer).await?,
        };
        let leeway_seconds = self.leeway.as_secs();
        let poll_interval = self.poll_interval();
        let keys = KeyCache::new(KeyCacheSettings {
            client: client.clone(),
            url: jwks_url,
            timeout: self.http_timeout,
            algorithms: self.algorithms.clone(),
            rules: ClaimRules { issuer: self.issuer.clone(), audience: self.audience.clone(), leeway_seconds },
            min_refetch_interval: self.min_jwks_refetch_interval,
            refresh_bounds: self.jwks_refresh_bounds,
        });
        let revocations = match self.revocation_feed {
            Some(feed) => Some(RevocationList::new(RevocationSettings {
                client,
                url: parse_url("revocation feed", feed.url())?,
                feed,
                max_staleness: self.max_staleness,
                fail_open: self.fail_open_when_feed_stale,
                leeway_seconds: i64::try_from(leeway_seconds).unwrap_or(i64::MAX),
                // A poll slower than its period would delay the next one and age the list.
                request_timeout: self.http_timeout.min(poll_interval),
            })),
            None => None,
        };
        let inner = Arc::new(Inner {
            issuer: self.issuer,
            audience: self.audience,
            algorithms: self.algorithms,
            leeway_seconds: i64::try_from(leeway_seconds).unwrap_or(i64::MAX),
            keys,
            revocations,
            tasks: Mutex::new(Vec::new()),
        });

        let first_poll = async {
            if let Some(revocations) = &inner.revocations {
                revocations.poll().await;
            }
        };
        let (first_fetch, ()) = tokio::join!(inner.keys.refresh(), first_poll);
        let next_refresh = first_fetch.unwrap_or_else(|error| {
            tracing::warn!(error = %error, error.cause = ?std::error::Error::source(&error),
                "the JWKS could not be fetched at start; retrying in the background");
            inner.keys.retry_delay()
        });

        let weak = Arc::downgrade(&inner);
        let mut tasks = vec![runtime.spawn(refresh_keys_periodically(weak.clone(), next_refresh)).abort_handle()];
        if inner.revocations.is_some() {
            tasks.push(runtime.spawn(poll_revocations_periodically(weak, poll_interval)).abort_handle());
        }
        *inner.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = tasks;
        Ok(Verifier { inner })
    }

    /// The JWKS URL named by the discovery document at `base_url`, whose issuer must be ours.
    async fn discover(&self, client: &reqwest::Client, base_url: &str) -> Result<reqwest::Url, BuildError> {
        #[derive(Deserialize)]
        struct DiscoveryDocument {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!("{}/.well-known/openid-configuration", base_url.trim_end_matches('/'));
        let parsed = parse_url("discovery", &url)?;
        let (document, _) =
            http::get_json::<DiscoveryDocument>(client, parsed, self.http_timeout, None, MAX_DISCOVERY_BYTES)
                .await
                .map_err(|source| BuildError::Discovery { url: url.clone(), source })?;
        if document.issuer != self.issuer {
            return Err(BuildError::IssuerMismatch { expected: self.issuer.clone(), found: document.issuer });
        }
        parse_url("JWKS", &document.jwks_uri)
    }
}

async fn refresh_keys_periodically(inner: Weak<Inner>, mut delay: Duration) {
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = inner.upgrade() else { return };
        delay = match inner.keys.refresh().await {
            Ok(next) => next,
            Err(error) => {
                tracing::warn!(error = %error, error.cause = ?std::error::Error::source(&error),
                    "the JWKS could not be refreshed; keeping the keys we have");
                inner.keys.retry_delay()
            }
        };
    }
}

async fn poll_revocations_periodically(inner: Weak<Inner>, period: Duration) {
    // A fixed rate, not a pause after each poll: the list's age then stays below one period plus
    // one poll's duration.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if let Some(revocations) = &inner.revocations {
            revocations.poll().await;
        }
    }
}

/// The parts of a JOSE header that decide how a token is checked.
#[derive(Deserialize)]
struct TokenHeader {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

impl TokenHeader {
    fn parse(token: &str) -> Result<Self, VerifyError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        let json = URL_SAFE_NO_PAD.decode(header).map_err(|_| VerifyError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| VerifyError::Malformed)
    }
}

/// `at+jwt`, or its full media type (RFC 9068 §2.1); media types compare case-insensitively.
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

fn rejection(kind: &ErrorKind) -> VerifyError {
    match kind {
        ErrorKind::InvalidSignature => VerifyError::BadSignature,
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
        ErrorKind::InvalidIssuer => VerifyError::WrongIssuer,
        ErrorKind::InvalidAudience => VerifyError::WrongAudience,
        ErrorKind::InvalidAlgorithm => VerifyError::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => {
            VerifyError::BadClaims
        }
        _ => VerifyError::Malformed,
    }
}

/// Now, in seconds since the Unix epoch, as `exp` and `nbf` count.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(header: &serde_json::Value) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header.to_string()))
    }

    #[test]
    fn a_header_is_read_only_from_a_three_part_token() {
        let token = encoded(&serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k"}));
        let header = TokenHeader::parse(&token).unwrap();
        assert_eq!((header.alg.as_str(), header.kid.as_deref()), ("EdDSA", Some("k")));
        assert!(TokenHeader::parse(&format!("{token}.extra.parts")).is_err(), "a JWE is not a JWS");
        assert!(TokenHeader::parse("e30.e30").is_err());
        assert!(TokenHeader::parse("not base64!.e30.c2ln").is_err());
        assert!(TokenHeader::parse(&encoded(&serde_json::json!({"typ": "at+jwt"}))).is_err(), "alg is required");
    }

    #[test]
    fn the_access_token_type_is_matched_as_a_media_type() {
        assert!(is_access_token_type("at+jwt"));
        assert!(is_access_token_type("AT+JWT"));
        assert!(is_access_token_type("application/at+jwt"));
        assert!(!is_access_token_type("JWT"));
        assert!(!is_access_token_type("at+jwt "));
    }
}
