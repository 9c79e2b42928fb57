//! [`VerifierBuilder`]: every setting of a [`Verifier`](crate::Verifier), with its default and
//! its bounds, and the value types it takes ([`SigningAlgorithm`], [`RevocationFeed`]).

use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::error::BuildError;

/// The polling floor of the revocation feed: never more often than this, whatever the bound.
pub(crate) const MIN_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// An asymmetric JWS algorithm a token may be signed with.
///
/// There is deliberately no `none` and no HMAC variant: a verifier holding only public keys must
/// never accept them (the classic forgery signs with HS256 using the public key as the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// Ed25519 (`EdDSA`), the issuer's default.
    EdDsa,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
}

impl SigningAlgorithm {
    /// The `alg` name (RFC 7518), as in the token header and the JWK.
    pub fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
        }
    }

    /// The algorithm of an `alg` name, if it is one of ours (exact, case-sensitive, as RFC 7515
    /// requires).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::EdDsa,
            Self::Es256,
            Self::Es384,
            Self::Rs256,
            Self::Rs384,
            Self::Rs512,
            Self::Ps256,
            Self::Ps384,
            Self::Ps512,
        ]
        .into_iter()
        .find(|algorithm| algorithm.name() == name)
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm;
        match self {
            Self::EdDsa => Algorithm::EdDSA,
            Self::Es256 => Algorithm::ES256,
            Self::Es384 => Algorithm::ES384,
            Self::Rs256 => Algorithm::RS256,
            Self::Rs384 => Algorithm::RS384,
            Self::Rs512 => Algorithm::RS512,
            Self::Ps256 => Algorithm::PS256,
            Self::Ps384 => Algorithm::PS384,
            Self::Ps512 => Algorithm::PS512,
        }
    }
}

impl std::fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where and as whom to poll the revocation feed (`GET /v1/revocations`, HTTP Basic).
///
/// `Debug` prints the client id but never the secret.
#[derive(Clone)]
pub struct RevocationFeed {
    url: String,
    client_id: String,
    client_secret: SecretString,
}

impl RevocationFeed {
    /// The feed at `url` (the full URL of `/v1/revocations`), with a resource-server client's
    /// credentials (one of the auth server's AUTH_INTROSPECTION_CLIENTS).
    pub fn new(url: impl Into<String>, client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self { url: url.into(), client_id: client_id.into(), client_secret: SecretString::from(client_secret.into()) }
    }

    /// The feed of the auth server at `base_url` (`{base_url}/v1/revocations`).
    pub fn at_base_url(base_url: &str, client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::new(format!("{}/v1/revocations", base_url.trim_end_matches('/')), client_id, client_secret)
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(crate) fn client_secret(&self) -> &str {
        self.client_secret.expose_secret()
    }
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// Where the JWKS comes from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    /// `{base}/.well-known/openid-configuration`, whose `jwks_uri` is used.
    Discovery {
        base_url: String,
    },
    Jwks {
        url: String,
    },
}

/// Builds a [`Verifier`](crate::Verifier); start with [`Verifier::builder`](crate::Verifier::builder).
///
/// Defaults: keys found through discovery at the issuer URL, EdDSA only, no revocation feed,
/// `max_staleness` 5 s (fail closed), unknown-`kid` refetches at most every 10 s, 30 s of clock
/// skew, background JWKS refresh per `Cache-Control: max-age` bounded to 30 s ..= 1 h, HTTP
/// timeout 5 s.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is awaited"]
pub struct VerifierBuilder {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) key_source: Option<KeySource>,
    pub(crate) algorithms: Vec<SigningAlgorithm>,
    pub(crate) revocation_feed: Option<RevocationFeed>,
    pub(crate) max_staleness: Duration,
    pub(crate) fail_open_when_feed_stale: bool,
    pub(crate) min_jwks_refetch_interval: Duration,
    pub(crate) leeway: Duration,
    pub(crate) jwks_refresh_bounds: (Duration, Duration),
    pub(crate) http_timeout: Duration,
    pub(crate) http_client: Option<reqwest::Client>,
}

impl VerifierBuilder {
    pub(crate) fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            key_source: None,
            algorithms: vec![SigningAlgorithm::EdDsa],
            revocation_feed: None,
            max_staleness: Duration::from_secs(5),
            fail_open_when_feed_stale: false,
            min_jwks_refetch_interval: Duration::from_secs(10),
            leeway: Duration::from_secs(30),
            jwks_refresh_bounds: (Duration::from_secs(30), Duration::from_secs(3600)),
            http_timeout: Duration::from_secs(5),
            http_client: None,
        }
    }

    /// Fetch the keys from this JWKS URL, with no discovery.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.key_source = Some(KeySource::Jwks { url: url.into() });
        self
    }

    /// Find the JWKS through the discovery document of the auth server at `base_url`
    /// (`{base_url}/.well-known/openid-configuration`), when it is reached at another address than
    /// the issuer (an internal service name, say). The document's `issuer` must still be the
    /// configured issuer. Without this or [`jwks_url`](Self::jwks_url), discovery uses the issuer.
    pub fn discover_from(mut self, base_url: impl Into<String>) -> Self {
        self.key_source = Some(KeySource::Discovery { base_url: base_url.into() });
        self
    }

    /// The algorithms a token may use (default: EdDSA only). A token is accepted only when its
    /// header's `alg` and its key's `alg` are equal and in this set.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = SigningAlgorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Poll this revocation feed and refuse tokens of revoked sessions. Without a feed, a logout
    /// only takes effect on other services when the token expires.
    pub fn revocation_feed(mut self, feed: RevocationFeed) -> Self {
        self.revocation_feed = Some(feed);
        self
    }

    /// How old the revocation list may be before `verify` stops trusting it (default 5 s; at
    /// least 500 ms). This is the longest a revoked session's tokens can still be accepted.
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// Accept tokens (checking them against the last list known) while the revocation feed is
    /// stale, instead of refusing them with `RevocationFeedStale`. Off by default: a revoked
    /// session then stays usable for as long as the auth server is unreachable.
    pub fn fail_open_when_feed_stale(mut self, fail_open: bool) -> Self {
        self.fail_open_when_feed_stale = fail_open;
        self
    }

    /// The shortest time between two JWKS fetches caused by tokens with an unknown `kid`
    /// (default 10 s), so that tokens with made-up `kid`s cannot make us hammer the auth server.
    pub fn min_jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_jwks_refetch_interval = interval;
        self
    }

    /// The clock skew tolerated on `exp`, `nbf` and `iat` (default 30 s; whole seconds).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The bounds on the background JWKS refresh period, which otherwise follows the JWKS
    /// response's `Cache-Control: max-age` (default 30 s ..= 1 h). A failed refresh is retried
    /// after the lower bound.
    pub fn jwks_refresh_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.jwks_refresh_bounds = (min, max);
        self
    }

    /// The timeout of each request to the auth server (default 5 s). Revocation polls are also
    /// cut at their polling period.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Use this HTTP client (its TLS setup, proxies, ...) instead of a default one. Each request
    /// still carries [`http_timeout`](Self::http_timeout), which takes precedence over the
    /// client's own timeout.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Checks that the settings make sense together, before anything is fetched.
    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        let invalid = |message: &str| Err(BuildError::InvalidConfig(message.to_owned()));
        if self.issuer.trim().is_empty() {
            return invalid("the issuer must not be empty");
        }
        if self.key_source.is_none() {
            // Discovery at the issuer: it must then be a URL.
            parse_url("issuer", &self.issuer)?;
        }
        if let Some(KeySource::Jwks { url }) = &self.key_source {
            parse_url("JWKS", url)?;
        }
        if self.audience.trim().is_empty() {
            return invalid("the audience must not be empty");
        }
        if self.algorithms.is_empty() {
            return invalid("at least one signing algorithm must be allowed");
        }
        if self.max_staleness < MIN_POLL_INTERVAL * 2 {
            // The feed is polled at most every 250 ms; a bound below two periods would turn every
            // slightly slow poll into refused requests.
            return invalid("max_staleness must be at least 500 ms");
        }
        let (min, max) = self.jwks_refresh_bounds;
        if min.is_zero() || min > max {
            return invalid("the JWKS refresh bounds must satisfy 0 < min <= max");
        }
        if self.http_timeout.is_zero() {
            return invalid("the HTTP timeout must not be zero");
        }
        if let Some(feed) = &self.revocation_feed {
            parse_url("revocation feed", feed.url())?;
            if feed.client_id().is_empty() || feed.client_id().contains(':') {
                return invalid("the revocation feed's client id must be non-empty and without ':'");
            }
        }
        Ok(())
    }

    /// The revocation feed's polling period: half the staleness bound, so that one lost poll
    /// does not yet make the list stale, and never below the floor.
    pub(crate) fn poll_interval(&self) -> Duration {
        (self.max_staleness / 2).max(MIN_POLL_INTERVAL)
    }
}

pub(crate) fn parse_url(what: &'static str, url: &str) -> Result<Url, BuildError> {
    let invalid = |reason: String| BuildError::InvalidUrl { what, url: url.to_owned(), reason };
    let parsed = Url::parse(url).map_err(|error| invalid(error.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("expected an http or https URL".to_owned()));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> VerifierBuilder {
        VerifierBuilder::new("https://auth.example.com", "authd")
    }

    #[test]
    fn the_client_secret_never_shows_in_debug_output() {
        let feed = RevocationFeed::at_base_url("https://auth.example.com/", "billing", "hunter2-very-secret");
        let printed = format!("{:?}", builder().revocation_feed(feed));
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("[redacted]") && printed.contains("billing"));
        assert!(printed.contains("https://auth.example.com/v1/revocations"));
    }

    #[test]
    fn settings_out_of_range_are_refused_before_anything_is_fetched() {
        assert!(builder().validate().is_ok());
        assert!(builder().algorithms([]).validate().is_err());
        assert!(builder().max_staleness(Duration::from_millis(300)).validate().is_err());
        assert!(builder().jwks_refresh_bounds(Duration::from_secs(10), Duration::from_secs(1)).validate().is_err());
        assert!(VerifierBuilder::new("not a url", "authd").validate().is_err());
        assert!(VerifierBuilder::new("authd-issuer", "authd").jwks_url("http://auth/jwks.json").validate().is_ok());
        assert!(builder().jwks_url("file:///etc/passwd").validate().is_err());
        assert!(VerifierBuilder::new("https://auth.example.com", " ").validate().is_err());
        let colon = RevocationFeed::new("https://auth.example.com/v1/revocations", "a:b", "s");
        assert!(builder().revocation_feed(colon).validate().is_err());
    }

    #[test]
    fn the_feed_is_polled_twice_per_staleness_bound_but_never_faster_than_the_floor() {
        assert_eq!(builder().poll_interval(), Duration::from_millis(2500));
        assert_eq!(builder().max_staleness(Duration::from_millis(500)).poll_interval(), MIN_POLL_INTERVAL);
    }

    #[test]
    fn algorithm_names_round_trip_and_hmac_is_not_one_of_them() {
        for name in ["EdDSA", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
            assert_eq!(SigningAlgorithm::from_name(name).map(SigningAlgorithm::name), Some(name));
        }
        for name in ["none", "HS256", "eddsa", ""] {
            assert_eq!(SigningAlgorithm::from_name(name), None);
        }
    }
}
