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
            jsonwebtoken::decode::<AccessClaims>(token, &key.key, &key.validation).map_err(|error| {
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
        if data.claims.iat > latest_acceptable_issue {
            return Err(TokenRejection::NotYetValid);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use auth_domain::{SessionId, UserId};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::keys::{SigningAlgorithm, generate_signing_key};

    fn codec_with_key() -> (JwtCodec, MasterKey, StoredSigningKey) {
        let master_key = MasterKey::generate();
        let now = OffsetDateTime::now_utc();
        let key = generate_signing_key(SigningAlgorithm::EdDsa, &master_key, now, now);
        let codec = JwtCodec::new("https://auth.example.com", "authd");
        codec.install(std::slice::from_ref(&key), &master_key).unwrap();
        (codec, master_key, key)
    }

    fn claims() -> AccessClaims {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        AccessClaims {
            iss: "https://auth.example.com".into(),
            sub: UserId::from_uuid(uuid::Uuid::now_v7()),
            aud: "authd".into(),
            exp: now + 900,
            iat: now,
            nbf: now,
            jti: "j".into(),
            sid: SessionId::from_uuid(uuid::Uuid::now_v7()),
            roles: vec!["admin".into()],
            amr: vec!["pwd".into()],
            email_verified: true,
        }
    }

    fn sign(codec: &JwtCodec, claims: &AccessClaims) -> String {
        codec.sign(claims).unwrap().expose().to_owned()
    }

    fn replace_part(token: &str, index: usize, value: &Value) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[index] = URL_SAFE_NO_PAD.encode(value.to_string());
        parts.join(".")
    }

    #[test]
    fn a_signed_token_verifies_with_its_claims() {
        let (codec, _, key) = codec_with_key();
        let claims = claims();
        let token = sign(&codec, &claims);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
        assert_eq!(codec.verify(&token).unwrap(), claims);
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let (codec, _, key) = codec_with_key();
        let token = sign(&codec, &claims());
        let forged = replace_part(&token, 0, &json!({"alg": "none", "typ": "at+jwt", "kid": key.kid}));
        let forged = format!("{}.", forged.rsplit_once('.').unwrap().0);
        assert!(codec.verify(&forged).is_err());
    }

    #[test]
    fn a_token_signed_by_another_key_with_the_same_kid_is_refused() {
        let (codec, _, key) = codec_with_key();
        let (other, _, _) = codec_with_key();
        let token = sign(&other, &claims());
        let relabelled = replace_part(&token, 0, &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid}));
        assert_eq!(codec.verify(&relabelled), Err(TokenRejection::BadSignature));
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let (codec, _, _) = codec_with_key();
        let token = sign(&codec, &claims());
        let mut escalated = claims();
        escalated.roles.push("superuser".into());
        let tampered = replace_part(&token, 1, &serde_json::to_value(&escalated).unwrap());
        assert_eq!(codec.verify(&tampered), Err(TokenRejection::BadSignature));
    }

    #[test]
    fn expired_foreign_and_misaddressed_tokens_are_refused() {
        let (codec, _, _) = codec_with_key();
        let expired = AccessClaims { exp: claims().exp - 3600, ..claims() };
        assert_eq!(codec.verify(&sign(&codec, &expired)), Err(TokenRejection::Expired));
        let wrong_issuer = AccessClaims { iss: "https://evil.example.com".into(), ..claims() };
        assert_eq!(codec.verify(&sign(&codec, &wrong_issuer)), Err(TokenRejection::WrongIssuer));
        let wrong_audience = AccessClaims { aud: "other".into(), ..claims() };
        assert_eq!(codec.verify(&sign(&codec, &wrong_audience)), Err(TokenRejection::WrongAudience));
        let future = AccessClaims { nbf: claims().nbf + 3600, ..claims() };
        assert_eq!(codec.verify(&sign(&codec, &future)), Err(TokenRejection::NotYetValid));
    }

    #[test]
    fn a_token_of_an_unknown_key_or_of_no_shape_is_refused() {
        let (codec, _, _) = codec_with_key();
        let (other, _, _) = codec_with_key();
        assert_eq!(codec.verify(&sign(&other, &claims())), Err(TokenRejection::UnknownKey));
        assert_eq!(codec.verify("garbage"), Err(TokenRejection::Malformed));
        assert_eq!(codec.verify(&"a".repeat(MAX_TOKEN_LENGTH + 1)), Err(TokenRejection::Malformed));
    }

    #[test]
    fn a_token_verified_once_is_accepted_again_from_memory() {
        let (codec, _, _) = codec_with_key();
        let claims = claims();
        let token = sign(&codec, &claims);
        assert_eq!(codec.verify(&token).unwrap(), claims);
        assert_eq!(codec.current_ring().verified.len(), 1);
        assert_eq!(codec.verify(&token).unwrap(), claims);
        assert_eq!(codec.verify_uncached(&token).unwrap(), claims);
        // The second answer came from memory: a text planted there is answered without any check
        // (which only a token that verified can be, in real use).
        let planted = "not.a.token";
        let now = OffsetDateTime::now_utc().unix_timestamp();
        codec.current_ring().verified.insert(planted, claims.clone(), now + 60, now);
        assert_eq!(codec.verify(planted).unwrap(), claims);
        assert!(codec.verify_uncached(planted).is_err());
    }

    #[test]
    fn a_refused_token_is_not_remembered() {
        let (codec, _, _) = codec_with_key();
        let token = sign(&codec, &claims());
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(codec.verify(&tampered).is_err());
        assert!(codec.current_ring().verified.is_empty());
    }

    #[test]
    fn a_reload_with_the_same_keys_keeps_the_verified_tokens() {
        let (codec, master_key, key) = codec_with_key();
        let token = sign(&codec, &claims());
        codec.verify(&token).unwrap();
        codec.install(std::slice::from_ref(&key), &master_key).unwrap();
        assert_eq!(codec.current_ring().verified.len(), 1);
    }

    #[test]
    fn a_token_of_a_key_taken_out_of_the_ring_is_refused_even_when_it_was_verified_before() {
        let (codec, master_key, key) = codec_with_key();
        let token = sign(&codec, &claims());
        codec.verify(&token).unwrap();
        let now = OffsetDateTime::now_utc();
        let replacement = generate_signing_key(SigningAlgorithm::EdDsa, &master_key, now, now);
        codec.install(std::slice::from_ref(&replacement), &master_key).unwrap();
        assert_eq!(codec.verify(&token), Err(TokenRejection::UnknownKey));
        // And back: the old key's return starts from an empty cache, and verifies afresh.
        codec.install(&[key, replacement], &master_key).unwrap();
        assert!(codec.current_ring().verified.is_empty());
        assert!(codec.verify(&token).is_ok());
    }

    #[test]
    fn tokens_of_every_algorithm_sign_verify_and_are_published() {
        let master_key = MasterKey::generate();
        let now = OffsetDateTime::now_utc();
        for algorithm in SigningAlgorithm::ALL {
            let key = generate_signing_key(algorithm, &master_key, now, now);
            let codec = JwtCodec::new("https://auth.example.com", "authd");
            codec.install(std::slice::from_ref(&key), &master_key).unwrap();
            let claims = claims();
            let token = sign(&codec, &claims);
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(format!("{:?}", header.alg), algorithm.jose_name());
            assert_eq!(codec.verify_uncached(&token).unwrap(), claims, "{algorithm:?}");

            // An independent check: the JWK alone verifies the token.
            let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(codec.jwks()).unwrap();
            let jwk = jwks.find(&key.kid).unwrap();
            let mut validation = Validation::new(header.alg);
            validation.set_audience(&["authd"]);
            let decoded =
                jsonwebtoken::decode::<AccessClaims>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation);
            assert_eq!(decoded.unwrap().claims, claims, "{algorithm:?}");
            let published = &codec.jwks()["keys"][0];
            assert!(published.get("d").is_none() && published.get("p").is_none(), "{published}");
        }
    }

    #[test]
    fn a_pending_key_is_published_at_once_and_signs_from_its_activation() {
        let master_key = MasterKey::generate();
        let now = OffsetDateTime::now_utc();
        let current = generate_signing_key(SigningAlgorithm::EdDsa, &master_key, now, now - time::Duration::hours(1));
        let pending = generate_signing_key(SigningAlgorithm::Es256, &master_key, now, now + time::Duration::seconds(2));
        let codec = JwtCodec::new("https://auth.example.com", "authd");
        codec.install(&[pending.clone(), current.clone()], &master_key).unwrap();
        assert_eq!(codec.jwks()["keys"].as_array().unwrap().len(), 2);
        let kid_of = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        let before = sign(&codec, &claims());
        assert_eq!(kid_of(&before), current.kid);
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let after = sign(&codec, &claims());
        assert_eq!(kid_of(&after), pending.kid);
        assert!(codec.verify(&before).is_ok() && codec.verify(&after).is_ok());
        assert_eq!(codec.published_algorithms(), ["EdDSA", "ES256"]);
    }

    #[test]
    fn the_jwks_publishes_the_public_key_only() {
        let (codec, _, key) = codec_with_key();
        let jwks = codec.jwks();
        assert_eq!(jwks["keys"][0]["kid"], key.kid);
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert_eq!(jwks["keys"][0]["x"], URL_SAFE_NO_PAD.encode(&key.public_key));
        assert!(jwks["keys"][0].get("d").is_none());
    }
}
