//! [`AccessTokenCodec`] with `jsonwebtoken`: EdDSA, `typ: at+jwt`, a `kid`, and the algorithm
//! pinned to the key on verification. Keys are decoded once into a [`KeyRing`], never per token,
//! and a token that verified is remembered until it expires ([`verified`]), so that a client
//! presenting the same token again does not pay for the signature check again.

mod der;
mod verified;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use auth_domain::ports::{AccessTokenCodec, StoredSigningKey, TokenRejection};
use auth_domain::{AccessClaims, InfrastructureError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::keys::{MasterKey, SealError};
pub use verified::VerifiedTokens;

/// The media type of access tokens (RFC 9068), carried in the `typ` header.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The most clock skew tolerated between us and the token's issuer, in seconds.
pub const MAX_CLOCK_SKEW_SECONDS: u64 = 30;
/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LENGTH: usize = 8 * 1024;

struct VerifyingKey {
    algorithm: Algorithm,
    /// The raw public key, to tell whether a reload changed the keys.
    public_key: Vec<u8>,
    key: DecodingKey,
    validation: Validation,
}

struct SigningKey {
    kid: String,
    algorithm: Algorithm,
    key: EncodingKey,
    /// When it starts signing.
    activates_at: OffsetDateTime,
}

/// The decoded keys: the one that signs, and every one that verifies, with the tokens verified
/// under exactly these verifying keys.
#[derive(Default)]
pub struct KeyRing {
    /// Oldest first: the last one whose time has come signs.
    signing: Vec<SigningKey>,
    verifying: HashMap<String, VerifyingKey>,
    jwks: Vec<Value>,
    verified: Arc<VerifiedTokens>,
}

impl KeyRing {
    fn signing_key_at(&self, now: OffsetDateTime) -> Option<&SigningKey> {
        self.signing.iter().rev().find(|key| key.activates_at <= now)
    }

    /// Whether both rings verify with exactly the same keys, so that what one verified the other
    /// would too.
    fn verifies_like(&self, other: &Self) -> bool {
        self.verifying.len() == other.verifying.len()
            && self.verifying.iter().all(|(kid, key)| {
                other
                    .verifying
                    .get(kid)
                    .is_some_and(|theirs| theirs.algorithm == key.algorithm && theirs.public_key == key.public_key)
            })
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("signing_kids", &self.signing.iter().map(|key| &key.kid).collect::<Vec<_>>())
            .field("verifying_kids", &self.verifying.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("signing key {kid} uses the unsupported algorithm {algorithm}")]
    UnsupportedAlgorithm { kid: String, algorithm: String },
    #[error("signing key {kid} does not open with the master key (was AUTH_MASTER_KEY changed?)")]
    Sealed {
        kid: String,
        #[source]
        source: SealError,
    },
    #[error("signing key {kid} has a malformed public key")]
    MalformedPublicKey { kid: String },
    #[error("signing key {kid} has a malformed private key")]
    MalformedPrivateKey { kid: String },
}

/// Signs and verifies access tokens with the keys of its current [`KeyRing`].
pub struct JwtCodec {
    ring: RwLock<Arc<KeyRing>>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCodec").field("issuer", &self.issuer).field("audience", &self.audience).finish()
    }
}

impl JwtCodec {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self { ring: RwLock::new(Arc::new(KeyRing::default())), issuer: issuer.into(), audience: audience.into() }
    }

    /// Replaces the key ring with `keys`: every listed key verifies and is published, and at any
    /// instant the newest of them whose `activates_at` has come signs, so that a pending key takes
    /// over on time without a reload.
    ///
    /// # Errors
    /// When a key cannot be decoded; the previous ring stays in place.
    pub fn install(&self, keys: &[StoredSigningKey], master_key: &MasterKey) -> Result<(), KeyRingError> {
        let mut ring = KeyRing::default();
        let mut keys: Vec<&StoredSigningKey> = keys.iter().collect();
        keys.sort_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)));
        for stored in keys {
            let (algorithm, key, jwk) = public_key(stored)?;
            ring.verifying.insert(
                stored.kid.clone(),
                VerifyingKey {
                    algorithm,
                    public_key: stored.public_key.clone(),
                    key,
                    validation: self.validation(algorithm),
                },
            );
            ring.jwks.push(jwk);
            let private_der = master_key
                .open(stored.kid.as_bytes(), &stored.encrypted_private_key)
                .map_err(|source| KeyRingError::Sealed { kid: stored.kid.clone(), source })?;
            ring.signing.push(SigningKey {
                kid: stored.kid.clone(),
                algorithm,
                key: private_key(algorithm, &private_der)
                    .ok_or_else(|| KeyRingError::MalformedPrivateKey { kid: stored.kid.clone() })?,
                activates_at: stored.activates_at,
            });
        }
        let mut current = self.ring.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The periodic reload usually finds the same keys: keep what they verified. Any change
        // (a key added, removed or replaced) starts an empty cache, so that a token of a key
        // taken out is never accepted from memory.
        if ring.verifies_like(&current) {
            ring.verified = current.verified.clone();
        }
        *current = Arc::new(ring);
        Ok(())
    }

    /// Whether a signing key is loaded, so that tokens can be issued.
    pub fn can_sign(&self) -> bool {
        self.current_ring().signing_key_at(OffsetDateTime::now_utc()).is_some()
    }

    /// The JSON Web Key Set of every key that may still verify a live token.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.current_ring().jwks })
    }

    /// The algorithms of the published keys, each named once, in the order of the keys'
    /// activation: what a verifier must accept right now.
    pub fn published_algorithms(&self) -> Vec<String> {
        let ring = self.current_ring();
        let mut names: Vec<String> = Vec::new();
        for algorithm in ring.jwks.iter().filter_map(|jwk| jwk["alg"].as_str()) {
            if !names.iter().any(|name| name == algorithm) {
                names.push(algorithm.to_owned());
            }
        }
        names
    }

    fn current_ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = MAX_CLOCK_SKEW_SECONDS;
        validation
    }
}

/// The algorithm, the verifying key and the JWK of a stored key.
fn public_key(stored: &StoredSigningKey) -> Result<(Algorithm, DecodingKey, Value), KeyRingError> {
    let malformed = || KeyRingError::MalformedPublicKey { kid: stored.kid.clone() };
    let public = &stored.public_key;
    match stored.algorithm.as_str() {
        "EdDSA" => {
            if public.len() != 32 {
                return Err(malformed());
            }
            let x = URL_SAFE_NO_PAD.encode(public);
            let jwk =
                json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": stored.kid, "alg": "EdDSA", "use": "sig" });
            Ok((Algorithm::EdDSA, DecodingKey::from_ed_der(public), jwk))
        }
        "ES256" => {
            // An uncompressed SEC1 point: 0x04, then x and y.
            if public.len() != 65 || public[0] != 4 {
                return Err(malformed());
            }
            let (x, y) = (URL_SAFE_NO_PAD.encode(&public[1..33]), URL_SAFE_NO_PAD.encode(&public[33..]));
            let key = DecodingKey::from_ec_components(&x, &y).map_err(|_| malformed())?;
            let jwk =
                json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": stored.kid, "alg": "ES256", "use": "sig" });
            Ok((Algorithm::ES256, key, jwk))
        }
        "RS256" => {
            let (modulus, exponent) = der::rsa_public_key(public).ok_or_else(malformed)?;
            let (n, e) = (URL_SAFE_NO_PAD.encode(modulus), URL_SAFE_NO_PAD.encode(exponent));
            let key = DecodingKey::from_rsa_components(&n, &e).map_err(|_| malformed())?;
            let jwk = json!({ "kty": "RSA", "n": n, "e": e, "kid": stored.kid, "alg": "RS256", "use": "sig" });
            Ok((Algorithm::RS256, key, jwk))
        }
        other => Err(KeyRingError::UnsupportedAlgorithm { kid: stored.kid.clone(), algorithm: other.into() }),
    }
}

/// The signing key from its PKCS#8 DER.
fn private_key(algorithm: Algorithm, pkcs8: &[u8]) -> Option<EncodingKey> {
    match algorithm {
        Algorithm::EdDSA => Some(EncodingKey::from_ed_der(pkcs8)),
        Algorithm::ES256 => Some(EncodingKey::from_ec_der(pkcs8)),
        // jsonwebtoken signs RSA with the PKCS#1 key that PKCS#8 wraps.
        Algorithm::RS256 => der::pkcs8_private_key(pkcs8).map(EncodingKey::from_rsa_der),
        _ => None,
    }
}

/// The claims of a token we signed: exactly those of [`AccessClaims`], which we write, and no
/// other. The shared type ignores unknown claims, as a verifier in another service must (so that
/// a newer issuer does not lock it out); here a claim we never write means the token is not one
/// of ours, and it is refused as `BadClaims`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExactClaims {
    #[serde(flatten)]
    claims: AccessClaims,
}

impl AccessTokenCodec for JwtCodec {
    fn sign(&self, claims: &AccessClaims) -> Result<auth_domain::tokens::AccessToken, InfrastructureError> {
        let ring = self.current_ring();
        let signing = ring
            .signing_key_at(OffsetDateTime::now_utc())
            .ok_or_else(|| InfrastructureError::unavailable("no signing key is loaded yet"))?;
        let mut header = Header::new(signing.algorithm);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(signing.kid.clone());
        jsonwebtoken::encode(&header, claims, &signing.key)
            .map(auth_domain::tokens::AccessToken::new)
            .map_err(InfrastructureError::unexpected)
    }

    /// The claims of a token verified before and not expired since, else the full check; a token
    /// that passes it is remembered until its `exp` (plus the skew).
    fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection> {
        if token.len() > MAX_TOKEN_LENGTH {
            return Err(TokenRejection::Malformed);
        }
        let ring = self.current_ring();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if let Some(claims) = ring.verified.get(token, now) {
            return Ok(claims);
        }
        let claims = self.verify_with(&ring, token)?;
        let usable_until = claims.exp.saturating_add(MAX_CLOCK_SKEW_SECONDS as i64);
        ring.verified.insert(token, claims.clone(), usable_until, now);
        Ok(claims)
    }
}

impl JwtCodec {
    /// The full check of [`AccessTokenCodec::verify`], signature included, without the cache of
    /// verified tokens (for benchmarks and comparisons).
    ///
    /// # Errors
    /// Why the token is refused.
    pub fn verify_uncached(&self, token: &str) -> Result<AccessClaims, TokenRejection> {
        if token.len() > MAX_TOKEN_LENGTH {
            return Err(TokenRejection::Malformed);
        }
        self.verify_with(&self.current_ring(), token)
    }

    fn verify_with(&self, ring: &KeyRing, token: &str) -> Result<AccessClaims, TokenRejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Malformed)?;
        let kid = header.kid.as_deref().ok_or(TokenRejection::UnknownKey)?;
        let key = ring.verifying.get(kid).ok_or(TokenRejection::UnknownKey)?;
        // The key decides the algorithm, never the token: this is what defeats `alg: none` and
        // HMAC-with-the-public-key forgeries.
        if header.alg != key.algorithm || header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenRejection::WrongAlgorithm);
        }
        let data =
            jsonwebtoken::decode::<ExactClaims>(token, &key.key, &key.validation).map_err(|error| {
                match error.kind() {
                    ErrorKind::InvalidSignature => TokenRejection::BadSignature,
                    ErrorKind::ExpiredSignature => TokenRejection::Expired,
                    ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
                    ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
                    ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
                    ErrorKind::InvalidAlgorithm => TokenRejection::WrongAlgorithm,
                    ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => {
                        TokenRejection::BadClaims
                    }
                    _ => TokenRejection::Malformed,
                }
            })?;
        let latest_acceptable_issue = OffsetDateTime::now_utc().unix_timestamp() + MAX_CLOCK_SKEW_SECONDS as i64;
        if data.claims.claims.iat > latest_acceptable_issue {
            return Err(TokenRejection::NotYetValid);
        }
        Ok(data.claims.claims)
    }
}

#[cfg(test)]
mod tests;
