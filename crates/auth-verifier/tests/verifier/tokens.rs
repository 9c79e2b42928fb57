//! What a token must be to pass: signed by a published key with the pinned algorithm, of type
//! `at+jwt`, from our issuer, for our audience, within its validity; and the forgeries that fail.

use auth_verifier::{BuildError, SigningAlgorithm, Uuid, VerifyError};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{AUDIENCE, FakeAuth, ISSUER, TestKey, claims, claims_for, encode_part, now};

#[tokio::test]
async fn a_valid_token_verifies_and_exposes_its_claims() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let verifier = auth.builder().build().await.expect("the verifier builds");
    assert!(verifier.is_ready());
    let sid = Uuid::new_v4();
    let claims = claims_for(sid);
    let verified = verifier.verify(&key.sign(&claims)).await.expect("a valid token verifies");
    assert_eq!(verified.session_id(), sid);
    assert_eq!(verified.user_id().to_string(), claims["sub"].as_str().unwrap());
    assert_eq!(verified.roles(), ["admin"]);
    assert!(verified.has_role("admin"));
    assert_eq!(verified.authentication_methods(), ["pwd"]);
    assert_eq!(verified.expires_at(), claims["exp"].as_i64().unwrap());
    assert_eq!(verified.issuer(), ISSUER);
    assert_eq!(verified.audiences(), [AUDIENCE]);
    assert_eq!(verified.token_id(), claims["jti"].as_str().unwrap());
    assert!(verified.email_verified());
}

#[tokio::test]
async fn tokens_of_another_issuer_or_audience_or_outside_their_validity_are_refused() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let verifier = auth.builder().build().await.expect("the verifier builds");
    let with = |field: &str, value: Value| {
        let mut claims = claims();
        claims[field] = value;
        key.sign(&claims)
    };
    assert_eq!(verifier.verify(&with("iss", json!("https://evil.test"))).await, Err(VerifyError::WrongIssuer));
    assert_eq!(verifier.verify(&with("aud", json!("billing"))).await, Err(VerifyError::WrongAudience));
    assert_eq!(verifier.verify(&with("exp", json!(now() - 120))).await, Err(VerifyError::Expired));
    assert_eq!(verifier.verify(&with("nbf", json!(now() + 120))).await, Err(VerifyError::NotYetValid));
    assert_eq!(verifier.verify(&with("iat", json!(now() + 120))).await, Err(VerifyError::NotYetValid));
    // Within the 30 s leeway, a clock slightly behind or ahead of the issuer's is forgiven.
    assert!(verifier.verify(&with("exp", json!(now() - 10))).await.is_ok());
    assert!(verifier.verify(&with("nbf", json!(now() + 10))).await.is_ok());
    // Every claim is required, and identifiers are UUIDs.
    let mut without_sid = claims();
    without_sid.as_object_mut().unwrap().remove("sid");
    assert_eq!(verifier.verify(&key.sign(&without_sid)).await, Err(VerifyError::BadClaims));
    assert_eq!(verifier.verify(&with("sub", json!("alice"))).await, Err(VerifyError::BadClaims));
}

#[tokio::test]
async fn unsigned_and_hmac_forgeries_are_refused() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let verifier = auth.builder().build().await.expect("the verifier builds");

    let unsigned =
        format!("{}.{}.", encode_part(&json!({"alg": "none", "typ": "at+jwt", "kid": "k1"})), encode_part(&claims()));
    assert_eq!(verifier.verify(&unsigned).await, Err(VerifyError::WrongAlgorithm));

    // The classic: HS256 with the published public key as the HMAC secret.
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some("k1".to_owned());
    let secret = EncodingKey::from_secret(&key.public_bytes()).expect("any bytes make an HMAC key");
    let hmac = jsonwebtoken::encode(&header, &claims(), &secret).expect("an HS256 token signs");
    assert_eq!(verifier.verify(&hmac).await, Err(VerifyError::WrongAlgorithm));

    // Signed by a key of our own making, labelled with the published kid.
    let impostor = TestKey::generate("k1");
    assert_eq!(verifier.verify(&impostor.sign(&claims())).await, Err(VerifyError::BadSignature));

    // A genuine token whose payload was changed.
    let genuine = key.sign(&claims());
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut escalated = claims();
    escalated["roles"] = json!(["admin", "superuser"]);
    let tampered = format!("{}.{}.{}", parts[0], encode_part(&escalated), parts[2]);
    assert_eq!(verifier.verify(&tampered).await, Err(VerifyError::BadSignature));
}

#[tokio::test]
async fn the_header_must_name_an_access_token_a_known_key_and_nothing_critical() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let verifier = auth.builder().build().await.expect("the verifier builds");
    let signed = |header: Value| key.sign_raw(&header, &claims());
    assert!(verifier.verify(&signed(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1"}))).await.is_ok());
    assert!(verifier.verify(&signed(json!({"alg": "EdDSA", "typ": "application/AT+JWT", "kid": "k1"}))).await.is_ok());
    assert_eq!(
        verifier.verify(&signed(json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"}))).await,
        Err(VerifyError::WrongType)
    );
    assert_eq!(verifier.verify(&signed(json!({"alg": "EdDSA", "kid": "k1"}))).await, Err(VerifyError::WrongType));
    assert_eq!(verifier.verify(&signed(json!({"alg": "EdDSA", "typ": "at+jwt"}))).await, Err(VerifyError::UnknownKey));
    let critical = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "k1", "crit": ["exp"], "exp": 1});
    assert_eq!(verifier.verify(&signed(critical)).await, Err(VerifyError::Malformed));
    assert_eq!(verifier.verify("").await, Err(VerifyError::Malformed));
    assert_eq!(verifier.verify("a.b.c").await, Err(VerifyError::Malformed));
    assert_eq!(verifier.verify(&"a".repeat(9000)).await, Err(VerifyError::Malformed));
}

#[tokio::test]
async fn the_header_alg_must_be_pinned_and_equal_to_the_keys_alg() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;

    // The Ed25519 key is published as EdDSA; a token claiming ES256 for it is refused even when
    // both algorithms are allowed.
    let both = auth.builder().algorithms([SigningAlgorithm::EdDsa, SigningAlgorithm::Es256]).build().await.unwrap();
    let claiming_es256 = key.sign_raw(&json!({"alg": "ES256", "typ": "at+jwt", "kid": "k1"}), &claims());
    assert_eq!(both.verify(&claiming_es256).await, Err(VerifyError::WrongAlgorithm));
    assert!(both.verify(&key.sign(&claims())).await.is_ok());

    // Pinned to ES256 only: EdDSA tokens are refused, and the EdDSA key is not even loaded.
    let es256_only = auth.builder().algorithms([SigningAlgorithm::Es256]).build().await.unwrap();
    assert_eq!(es256_only.verify(&key.sign(&claims())).await, Err(VerifyError::WrongAlgorithm));
    assert_eq!(es256_only.verify(&claiming_es256).await, Err(VerifyError::UnknownKey));

    // A key published without its alg is not guessed at.
    let mut without_alg = key.jwk();
    without_alg.as_object_mut().unwrap().remove("alg");
    auth.publish_raw(vec![without_alg]);
    let strict = auth.builder().build().await.unwrap();
    assert_eq!(strict.verify(&key.sign(&claims())).await, Err(VerifyError::UnknownKey));
}

#[tokio::test]
async fn discovery_finds_the_jwks_of_the_configured_issuer_only() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let discovered = auth.builder().discover_from(&auth.base_url).build().await.expect("discovery works");
    assert!(discovered.verify(&key.sign(&claims())).await.is_ok());

    let mismatch =
        auth_verifier::Verifier::builder("https://other.test", AUDIENCE).discover_from(&auth.base_url).build().await;
    assert!(matches!(mismatch, Err(BuildError::IssuerMismatch { .. })), "{mismatch:?}");
    let nowhere = auth.builder().discover_from(format!("{}/nothing-here", auth.base_url)).build().await;
    assert!(matches!(nowhere, Err(BuildError::Discovery { .. })), "{nowhere:?}");
}
