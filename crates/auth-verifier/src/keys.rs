//! The signing keys: the JWKS fetched, filtered to the pinned algorithms, decoded once into
//! [`VerifyingKey`]s, refreshed in the background, and refetched on an unknown `kid` no more
//! often than the configured interval.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::Url;

use crate::config::SigningAlgorithm;
use crate::error::{FetchError, VerifyError};
use crate::http;

/// A JWKS larger than this is refused: ours holds a handful of keys.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// The refresh period when the JWKS response says nothing about caching.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

/// One key of the JWKS, decoded, with the checks every token it verifies must pass.
pub(crate) struct VerifyingKey {
    pub(crate) algorithm: SigningAlgorithm,
    pub(crate) key: DecodingKey,
    pub(crate) validation: Validation,
}

/// What the claims of every token are checked against, whichever key signed it.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) leeway_seconds: u64,
}

impl ClaimRules {
    fn validation(&self, algorithm: SigningAlgorithm) -> Validation {
        let mut validation = Validation::new(algorithm.to_jsonwebtoken());
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = self.leeway_seconds;
        validation
    }
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
    /// Whether a JWKS was ever fetched: until then every token gets `KeysUnavailable`.
    loaded: bool,
    /// When the fetch that produced this set was sent: a slower, older fetch finishing later
    /// (a background refresh overtaken by a refetch after a rotation) must not replace it.
    fetched_at: Option<Instant>,
}

/// The keys currently trusted and how to fetch new ones.
pub(crate) struct KeyCache {
    client: reqwest::Client,
    url: Url,
    timeout: Duration,
    algorithms: Vec<SigningAlgorithm>,
    rules: ClaimRules,
    current: RwLock<Arc<KeySet>>,
    /// When a token's unknown `kid` last caused a fetch. Held across that fetch, so that tokens
    /// arriving meanwhile wait for its result instead of starting fetches of their own.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    min_refetch_interval: Duration,
    refresh_bounds: (Duration, Duration),
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.current_set();
        f.debug_struct("KeyCache")
            .field("url", &self.url.as_str())
            .field("algorithms", &self.algorithms)
            .field("kids", &set.keys.keys().collect::<Vec<_>>())
            .field("loaded", &set.loaded)
            .finish()
    }
}

pub(crate) struct KeyCacheSettings {
    pub(crate) client: reqwest::Client,
    pub(crate) url: Url,
    pub(crate) timeout: Duration,
    pub(crate) algorithms: Vec<SigningAlgorithm>,
    pub(crate) rules: ClaimRules,
    pub(crate) min_refetch_interval: Duration,
    pub(crate) refresh_bounds: (Duration, Duration),
}

impl KeyCache {
    pub(crate) fn new(settings: KeyCacheSettings) -> Self {
        Self {
            client: settings.client,
            url: settings.url,
            timeout: settings.timeout,
            algorithms: settings.algorithms,
            rules: settings.rules,
            current: RwLock::new(Arc::new(KeySet::default())),
            last_refetch: tokio::sync::Mutex::new(None),
            min_refetch_interval: settings.min_refetch_interval,
            refresh_bounds: settings.refresh_bounds,
        }
    }

    fn current_set(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The key named `kid`; an unknown `kid` causes one refetch, unless one was made less than
    /// the minimum interval ago.
    ///
    /// # Errors
    /// `UnknownKey` when the key is not listed (or a refetch is not allowed yet);
    /// `KeysUnavailable` when no JWKS could ever be fetched, or the refetch failed.
    pub(crate) async fn key_for(&self, kid: &str) -> Result<Arc<VerifyingKey>, VerifyError> {
        if let Some(key) = self.current_set().keys.get(kid) {
            return Ok(key.clone());
        }
        let mut last_refetch = self.last_refetch.lock().await;
        // A fetch made while this task waited for the lock may have brought the key.
        let set = self.current_set();
        if let Some(key) = set.keys.get(kid) {
            return Ok(key.clone());
        }
        if last_refetch.is_some_and(|at| at.elapsed() < self.min_refetch_interval) {
            return Err(if set.loaded { VerifyError::UnknownKey } else { VerifyError::KeysUnavailable });
        }
        *last_refetch = Some(Instant::now());
        tracing::info!(token.kid = %printable(kid), "a token names an unknown key; fetching the JWKS again");
        match self.refresh().await {
            Ok(_) => self.current_set().keys.get(kid).cloned().ok_or(VerifyError::UnknownKey),
            Err(error) => {
                tracing::warn!(jwks.url = %self.url, error = %error, error.cause = ?std::error::Error::source(&error),
                    "the JWKS could not be fetched");
                Err(VerifyError::KeysUnavailable)
            }
        }
    }

    /// Fetches the JWKS and replaces the trusted keys with it, so that retired keys drop out.
    /// Returns when to refresh next: the response's `max-age`, within the configured bounds.
    ///
    /// # Errors
    /// When the JWKS cannot be fetched or is not a JSON object with `keys`; the previous keys stay.
    pub(crate) async fn refresh(&self) -> Result<Duration, FetchError> {
        let started = Instant::now();
        let (document, headers) =
            http::get_json::<JwksDocument>(&self.client, self.url.clone(), self.timeout, None, MAX_JWKS_BYTES).await?;
        let mut keys = HashMap::new();
        for value in document.keys {
            match self.decode(value) {
                Ok((kid, key)) => {
                    keys.insert(kid, Arc::new(key));
                }
                Err(skipped) => tracing::debug!(jwks.url = %self.url, reason = skipped, "a JWKS entry is skipped"),
            }
        }
        if keys.is_empty() {
            tracing::warn!(jwks.url = %self.url, "the JWKS has no key usable with the allowed algorithms");
        }
        let count = keys.len();
        {
            let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if current.fetched_at.is_none_or(|installed| installed <= started) {
                *current = Arc::new(KeySet { keys, loaded: true, fetched_at: Some(started) });
            }
        }
        let (min, max) = self.refresh_bounds;
        let next = http::max_age(&headers).unwrap_or(DEFAULT_MAX_AGE).clamp(min, max);
        tracing::debug!(jwks.url = %self.url, jwks.keys = count, duration_ms = started.elapsed().as_millis() as u64,
            jwks.next_refresh_s = next.as_secs(), "the JWKS was fetched");
        Ok(next)
    }

    /// Whether a JWKS was fetched at least once.
    pub(crate) fn is_loaded(&self) -> bool {
        self.current_set().loaded
    }

    /// When to retry after a failed background refresh.
    pub(crate) fn retry_delay(&self) -> Duration {
        self.refresh_bounds.0
    }

    /// A usable key from one JWKS entry, or why it is skipped.
    fn decode(&self, value: serde_json::Value) -> Result<(String, VerifyingKey), &'static str> {
        let jwk: Jwk = serde_json::from_value(value).map_err(|_| "not a JWK")?;
        let kid = jwk.common.key_id.clone().ok_or("no kid")?;
        if jwk.common.public_key_use.as_ref().is_some_and(|key_use| *key_use != PublicKeyUse::Signature) {
            return Err("not a signature key (use)");
        }
        if jwk.common.key_operations.as_ref().is_some_and(|ops| !ops.contains(&KeyOperations::Verify)) {
            return Err("not a verification key (key_ops)");
        }
        // The key's own `alg` is required: guessing it from the key type would let one RSA key
        // verify under every RSA algorithm.
        let algorithm = jwk
            .common
            .key_algorithm
            .and_then(|algorithm| SigningAlgorithm::from_name(key_algorithm_name(algorithm)?))
            .ok_or("no alg, or not a signature algorithm we know")?;
        if !self.algorithms.contains(&algorithm) {
            return Err("its alg is not one of the allowed algorithms");
        }
        if !key_type_fits(&jwk.algorithm, algorithm) {
            return Err("its key type or curve does not fit its alg");
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| "its key material does not decode")?;
        Ok((kid, VerifyingKey { algorithm, key, validation: self.rules.validation(algorithm) }))
    }
}

#[derive(serde::Deserialize)]
struct JwksDocument {
    /// Entries one by one, so that one odd entry does not discard the whole set.
    keys: Vec<serde_json::Value>,
}

fn key_algorithm_name(algorithm: KeyAlgorithm) -> Option<&'static str> {
    Some(match algorithm {
        KeyAlgorithm::EdDSA => "EdDSA",
        KeyAlgorithm::ES256 => "ES256",
        KeyAlgorithm::ES384 => "ES384",
        KeyAlgorithm::RS256 => "RS256",
        KeyAlgorithm::RS384 => "RS384",
        KeyAlgorithm::RS512 => "RS512",
        KeyAlgorithm::PS256 => "PS256",
        KeyAlgorithm::PS384 => "PS384",
        KeyAlgorithm::PS512 => "PS512",
        _ => return None,
    })
}

/// Whether the key material is of the kind the algorithm signs with (an `oct` key never is).
fn key_type_fits(parameters: &AlgorithmParameters, algorithm: SigningAlgorithm) -> bool {
    use SigningAlgorithm as A;
    match parameters {
        AlgorithmParameters::OctetKeyPair(okp) => algorithm == A::EdDsa && okp.curve == EllipticCurve::Ed25519,
        AlgorithmParameters::EllipticCurve(ec) => {
            matches!((algorithm, &ec.curve), (A::Es256, EllipticCurve::P256) | (A::Es384, EllipticCurve::P384))
        }
        AlgorithmParameters::RSA(_) => {
            matches!(algorithm, A::Rs256 | A::Rs384 | A::Rs512 | A::Ps256 | A::Ps384 | A::Ps512)
        }
        _ => false,
    }
}

/// A `kid` as it may appear in a log line: it comes from an untrusted token, so it is cut short
/// and stripped of control characters.
pub(crate) fn printable(kid: &str) -> String {
    kid.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cache(algorithms: Vec<SigningAlgorithm>) -> KeyCache {
        KeyCache::new(KeyCacheSettings {
            client: reqwest::Client::new(),
            url: Url::parse("http://127.0.0.1:9/jwks.json").unwrap(),
            timeout: Duration::from_secs(1),
            algorithms,
            rules: ClaimRules { issuer: "i".into(), audience: "a".into(), leeway_seconds: 30 },
            min_refetch_interval: Duration::from_secs(10),
            refresh_bounds: (Duration::from_secs(30), Duration::from_secs(3600)),
        })
    }

    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn an_ed25519_key_with_its_alg_is_used() {
        let (kid, key) = cache(vec![SigningAlgorithm::EdDsa])
            .decode(json!({"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "k1", "alg": "EdDSA", "use": "sig"}))
            .unwrap();
        assert_eq!(kid, "k1");
        assert_eq!(key.algorithm, SigningAlgorithm::EdDsa);
    }

    #[test]
    fn keys_outside_the_pinned_algorithms_or_of_the_wrong_shape_are_skipped() {
        let eddsa_only = cache(vec![SigningAlgorithm::EdDsa]);
        let cases = [
            // No alg: never guessed.
            json!({"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "k"}),
            // An HMAC secret published as a key.
            json!({"kty": "oct", "k": X, "kid": "k", "alg": "HS256"}),
            // An encryption key.
            json!({"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "k", "alg": "EdDSA", "use": "enc"}),
            // No kid.
            json!({"kty": "OKP", "crv": "Ed25519", "x": X, "alg": "EdDSA"}),
            // An RSA key claiming EdDSA.
            json!({"kty": "RSA", "n": X, "e": "AQAB", "kid": "k", "alg": "EdDSA"}),
            // ES256, not pinned here.
            json!({"kty": "EC", "crv": "P-256", "x": X, "y": X, "kid": "k", "alg": "ES256"}),
            json!("not even an object"),
        ];
        for case in cases {
            assert!(eddsa_only.decode(case.clone()).is_err(), "{case} was accepted");
        }
        let es256 = cache(vec![SigningAlgorithm::Es256]);
        let p384_as_es256 = json!({"kty": "EC", "crv": "P-384", "x": X, "y": X, "kid": "k", "alg": "ES256"});
        assert!(es256.decode(p384_as_es256).is_err());
    }

    #[test]
    fn a_kid_is_made_safe_to_log() {
        assert_eq!(printable("a\nb\u{1b}[31m"), "ab[31m");
        assert_eq!(printable(&"k".repeat(500)).len(), 64);
    }
}
