//! The codec's tests: signing, every refusal, the cache of verified tokens, every algorithm.

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

/// Signs `payload` as the codec would, whatever it holds.
fn sign_raw(codec: &JwtCodec, payload: &Value) -> String {
    let ring = codec.current_ring();
    let signing = ring.signing_key_at(OffsetDateTime::now_utc()).unwrap();
    let mut header = Header::new(signing.algorithm);
    header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
    header.kid = Some(signing.kid.clone());
    jsonwebtoken::encode(&header, payload, &signing.key).unwrap()
}

#[test]
fn a_token_of_ours_carries_exactly_our_claims() {
    let (codec, _, _) = codec_with_key();
    let claims = claims();
    let written = serde_json::to_value(&claims).unwrap();
    assert_eq!(codec.verify_uncached(&sign_raw(&codec, &written)), Ok(claims));
    let mut extra = written.clone();
    extra["scope"] = json!("admin");
    assert_eq!(codec.verify_uncached(&sign_raw(&codec, &extra)), Err(TokenRejection::BadClaims));
    let mut audiences = written;
    audiences["aud"] = json!(["authd", "other"]);
    assert_eq!(codec.verify_uncached(&sign_raw(&codec, &audiences)), Err(TokenRejection::BadClaims));
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
        let decoded = jsonwebtoken::decode::<AccessClaims>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation);
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
