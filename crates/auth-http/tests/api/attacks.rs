//! The classic attacks on JWT access tokens, against the protected routes and against the verifier
//! itself.
//!
//! Every forged token is built by hand here, from base64url, `serde_json` and `ed25519-dalek`, so
//! that this file shares no code with the verifier it attacks: a bug in the verifier cannot be
//! mirrored by the same bug in the forger. (The only borrowed piece is the HMAC of `jsonwebtoken`'s
//! `crypto::sign`, used to *make* HMAC forgeries; the verifier never calls it.)
//!
//! Each test first shows that the untampered token (or the same forgery with nothing wrong in it)
//! is accepted, so a refusal can only come from the one thing the test changed.

use auth_adapters::jwt::JwtCodec;
use auth_adapters::keys::MasterKey;
use auth_domain::ports::{AccessTokenCodec, StoredSigningKey, TokenRejection};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use diesel::sql_types::{Binary, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::{TestApp, Tokens, assert_problem, spawn_app};

/// The routes every forged token is tried against: the API itself and the gateway check.
const PROTECTED_ROUTES: [&str; 2] = ["/v1/users/me", "/v1/auth/verify"];
/// What RFC 6750 §3.1 says a refused token gets back.
const INVALID_TOKEN_CHALLENGE: &str = "Bearer realm=\"authd\", error=\"invalid_token\"";
/// What RFC 6750 §3.1 says a request without any token gets back: no error code.
const MISSING_TOKEN_CHALLENGE: &str = "Bearer realm=\"authd\"";
/// The issuer and audience of the test applications.
const ISSUER: &str = "http://auth.test";
const AUDIENCE: &str = "authd";
/// The verifier's documented clock-skew allowance, restated here rather than imported so that a
/// change to it is a visible, deliberate change to this test.
const SKEW_SECONDS: i64 = 30;

// ---------------------------------------------------------------------------------------------
// Forging tools.
// ---------------------------------------------------------------------------------------------

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWS part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// The raw text of one part of a compact JWS.
fn raw_part(token: &str, index: usize) -> &str {
    token.split('.').nth(index).expect("a JWS part")
}

fn eddsa_header(kid: &str) -> Value {
    json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid })
}

/// Signs `signing_input` (the `header.payload` text) with Ed25519 and appends the signature.
fn sign_input_eddsa(key: &ed25519_dalek::SigningKey, signing_input: &str) -> String {
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

fn sign_eddsa(key: &ed25519_dalek::SigningKey, header: &Value, claims: &Value) -> String {
    sign_input_eddsa(key, &format!("{}.{}", encode_part(header), encode_part(claims)))
}

/// An HMAC-signed token: the forgery of an attacker who hopes the verifier takes the algorithm
/// from the token and the secret from wherever it keeps the key.
fn sign_hmac(algorithm: Algorithm, secret: &[u8], header: &Value, claims: &Value) -> String {
    let signing_input = format!("{}.{}", encode_part(header), encode_part(claims));
    let key = EncodingKey::from_secret(secret).expect("a non-empty HMAC secret");
    let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, algorithm).expect("an HMAC");
    format!("{signing_input}.{signature}")
}

fn fresh_ed25519_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers.
// ---------------------------------------------------------------------------------------------

/// Asserts that both protected routes refuse `token` with 401, the `invalid_token` challenge and
/// the `invalid_token` problem code.
async fn assert_refused_everywhere(app: &TestApp, token: &str, attack: &str) {
    for route in PROTECTED_ROUTES {
        let response = app.get_authorized(route, token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{attack}: {route} let the token through");
        let challenge = response.headers().get("www-authenticate").and_then(|value| value.to_str().ok());
        assert_eq!(challenge, Some(INVALID_TOKEN_CHALLENGE), "{attack}: the challenge of {route}");
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

/// Asserts that both protected routes accept `token`: the control half of every attack.
async fn assert_accepted_everywhere(app: &TestApp, token: &str, what: &str) {
    for route in PROTECTED_ROUTES {
        let response = app.get_authorized(route, token).await;
        assert_eq!(response.status(), StatusCode::OK, "{what} should be accepted by {route}");
    }
}

/// The single key of the JWKS: its `kid`, its `x` as published, and `x` decoded.
async fn published_key(app: &TestApp) -> (String, String, Vec<u8>) {
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("the request is sent")
        .json()
        .await
        .expect("a JWKS");
    let keys = jwks["keys"].as_array().expect("a key list");
    assert_eq!(keys.len(), 1, "a fresh application publishes one key: {jwks}");
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    let kid = keys[0]["kid"].as_str().expect("a kid").to_owned();
    let x = keys[0]["x"].as_str().expect("an x").to_owned();
    let raw = URL_SAFE_NO_PAD.decode(&x).expect("x is base64url");
    assert_eq!(raw.len(), 32, "an Ed25519 public key");
    (kid, x, raw)
}

/// The server's own private signing key, opened the way an insider with the master key could.
///
/// The test applications run on a known master key (base64 of `[42; 32]`), so the sealed key in
/// their database is ours to open. That lets the claim checks be proven over HTTP too: a token
/// signed with the server's real key whose only fault is one claim.
fn server_signing_key(app: &TestApp, kid: &str) -> ed25519_dalek::SigningKey {
    #[derive(QueryableByName)]
    struct SealedKey {
        #[diesel(sql_type = Binary)]
        encrypted_private_key: Vec<u8>,
    }
    let database = app.data.path().join("auth.db");
    let mut connection = SqliteConnection::establish(&database.display().to_string()).expect("the test database opens");
    diesel::sql_query("PRAGMA busy_timeout = 5000").execute(&mut connection).expect("a busy timeout");
    let sealed: SealedKey = diesel::sql_query("SELECT encrypted_private_key FROM signing_keys WHERE kid = ?")
        .bind::<Text, _>(kid)
        .get_result(&mut connection)
        .expect("the published key is stored");
    let master_key = MasterKey::from_base64(&STANDARD.encode([42u8; 32])).expect("the test master key");
    let private_der = master_key.open(kid.as_bytes(), &sealed.encrypted_private_key).expect("the key opens");
    ed25519_dalek::SigningKey::from_pkcs8_der(&private_der).expect("an Ed25519 PKCS#8 key")
}

async fn signed_in(app: &TestApp) -> Tokens {
    let tokens = app.signed_in_user("mallory@example.com").await;
    assert_accepted_everywhere(app, &tokens.access, "the genuine token").await;
    tokens
}

// ---------------------------------------------------------------------------------------------
// Attacks over HTTP.
// ---------------------------------------------------------------------------------------------

/// Guards: the algorithm is pinned to the key, so `alg: none` (in any spelling) with an empty
/// signature is not "a token that needs no verification". Fails if the verifier trusts the
/// header's `alg`, or if an unsigned JWS parses as valid.
#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let app = spawn_app().await;
    let tokens = signed_in(&app).await;
    let (kid, _, _) = published_key(&app).await;
    let payload = raw_part(&tokens.access, 1);

    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = encode_part(&json!({ "alg": alg, "typ": "at+jwt", "kid": kid }));
        assert_refused_everywhere(&app, &format!("{header}.{payload}."), &format!("alg {alg}")).await;
        assert_refused_everywhere(&app, &format!("{header}.{payload}"), &format!("alg {alg}, two parts")).await;
    }
}

/// Guards: HMAC is never accepted, in particular not keyed with the public key (the RS/HS and
/// Ed/HS key-confusion attack). The forger knows only the JWKS; both the raw 32 bytes of `x` and
/// its base64url text (what a naive verifier might hand to HMAC as "the key") are tried. Fails if
/// the verifier lets the token choose HMAC.
#[tokio::test]
async fn an_hmac_token_keyed_with_the_public_key_is_refused() {
    let app = spawn_app().await;
    let tokens = signed_in(&app).await;
    let (kid, x_text, x_raw) = published_key(&app).await;
    let claims = decode_part(&tokens.access, 1);

    for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let header = json!({ "alg": format!("{algorithm:?}"), "typ": "at+jwt", "kid": kid });
        for (secret, secret_name) in [(x_raw.as_slice(), "raw x"), (x_text.as_bytes(), "base64url x")] {
            let forged = sign_hmac(algorithm, secret, &header, &claims);
            assert_refused_everywhere(&app, &forged, &format!("{algorithm:?} keyed with the {secret_name}")).await;
        }
    }
}

/// Guards: a token whose signature was removed is not treated as unsigned-but-fine. Fails if a
/// missing or empty signature part skips verification.
#[tokio::test]
async fn a_token_stripped_of_its_signature_is_refused() {
    let app = spawn_app().await;
    let tokens = signed_in(&app).await;
    let (header, payload) = (raw_part(&tokens.access, 0), raw_part(&tokens.access, 1));

    assert_refused_everywhere(&app, &format!("{header}.{payload}."), "empty signature").await;
    assert_refused_everywhere(&app, &format!("{header}.{payload}"), "no signature part").await;
}

/// Guards: the signature is actually checked, bit for bit. Every single character of the
/// signature is changed in turn. Fails if verification is skipped or only partial.
#[tokio::test]
async fn a_token_with_any_signature_character_changed_is_refused() {
    let app = spawn_app().await;
    let tokens = signed_in(&app).await;
    let (signing_input, signature) = tokens.access.rsplit_once('.').expect("a compact JWS");

    for position in 0..signature.len() {
        let mut altered: Vec<char> = signature.chars().collect();
        altered[position] = if altered[position] == 'A' { 'B' } else { 'A' };
        let altered: String = altered.into_iter().collect();
        let forged = format!("{signing_input}.{altered}");
        assert_refused_everywhere(&app, &forged, &format!("signature changed at {position}")).await;
    }
}

/// Guards: the signature covers the payload. The genuine signature is kept while the claims are
/// escalated (the admin role), redirected (another user's id), prolonged (a day more), or merely
/// re-serialised with the same meaning. Fails if the signature is checked over anything but the
/// exact bytes presented.
#[tokio::test]
async fn a_token_with_a_tampered_payload_is_refused() {
    let app = spawn_app().await;
    let tokens = signed_in(&app).await;
    let victim = app.signed_in_user("victim@example.com").await;
    let (header, signature) = (raw_part(&tokens.access, 0), raw_part(&tokens.access, 2));
    let claims = decode_part(&tokens.access, 1);

    let mut escalated = claims.clone();
    escalated["roles"] = json!(["admin"]);
    let mut impersonating = claims.clone();
    impersonating["sub"] = decode_part(&victim.access, 1)["sub"].clone();
    impersonating["sid"] = decode_part(&victim.access, 1)["sid"].clone();
    let mut prolonged = claims.clone();
    prolonged["exp"] = json!(claims["exp"].as_i64().expect("exp") + 24 * 3600);
    let reserialised = URL_SAFE_NO_PAD.encode(serde_json::to_string_pretty(&claims).expect("JSON"));

    for (payload, what) in [
        (encode_part(&escalated), "roles changed to admin"),
        (encode_part(&impersonating), "sub and sid of another user"),
        (encode_part(&prolonged), "exp a day later"),
        (reserialised, "the same claims, re-serialised"),
    ] {
        assert_refused_everywhere(&app, &format!("{header}.{payload}.{signature}"), what).await;
    }
}

/// Guards: the key is the one the server holds under that `kid`, not one the token brings along.
/// A stranger signs well-formed claims with a fresh Ed25519 key under the server's `kid`, under
/// its own `kid`, with its public key embedded as a `jwk` header (CVE-2018-0114) or linked by
/// `jku`, and with `kid` values that try path traversal and SQL injection (signed by HMAC with
/// the empty key, which is what reading `/dev/null` would give). Fails if any of those keys is
/// consulted.
#[tokio::test]
async fn a_token_signed_by_a_key_the_server_does_not_hold_is_refused() {
    let app = spawn_app().await;
    let tokens = signed_in(&app).await;
    let (kid, _, _) = published_key(&app).await;
    let claims = decode_part(&tokens.access, 1);
    let stranger = fresh_ed25519_key();
    let stranger_x = URL_SAFE_NO_PAD.encode(stranger.verifying_key().to_bytes());
    let stranger_jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": stranger_x, "kid": kid });

    let mut forgeries = vec![
        (sign_eddsa(&stranger, &eddsa_header(&kid), &claims), "a stranger's key under the server's kid".to_owned()),
        (
            sign_eddsa(&stranger, &eddsa_header("stranger-key"), &claims),
            "a stranger's key under its own kid".to_owned(),
        ),
        (
            sign_eddsa(
                &stranger,
                &json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid, "jwk": stranger_jwk }),
                &claims,
            ),
            "an embedded jwk".to_owned(),
        ),
        (
            sign_eddsa(
                &stranger,
                &json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid, "jku": "http://evil.test/jwks.json" }),
                &claims,
            ),
            "a jku link".to_owned(),
        ),
    ];
    // HMAC pads its key with zeros to the block size, so a key of one zero byte gives the same MAC
    // as the empty key (which `jsonwebtoken` refuses to sign with).
    for injected_kid in ["../../../../../../dev/null", "/dev/null", "' OR '1'='1", "x' UNION SELECT 'AAAA' --"] {
        let header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": injected_kid });
        forgeries.push((sign_hmac(Algorithm::HS256, &[0], &header, &claims), format!("kid {injected_kid}")));
    }
    for (forged, what) in forgeries {
        assert_refused_everywhere(&app, &forged, &what).await;
    }
}

/// Guards, over HTTP and with the server's real key: every claim is checked by the running
/// service, not only by the codec in isolation. Each token is signed with the server's own key
/// and has exactly one fault; the same signing without a fault is accepted, and so is a token
/// expired by less than the clock-skew allowance. Fails if the service skips a claim check, or if
/// it stops tolerating a few seconds of skew.
#[tokio::test]
async fn tokens_signed_with_the_servers_own_key_are_still_refused_for_a_bad_claim() {
    let app = spawn_app().await;
    let tokens = signed_in(&app).await;
    let (kid, _, x_raw) = published_key(&app).await;
    let server_key = server_signing_key(&app, &kid);
    assert_eq!(server_key.verifying_key().to_bytes().as_slice(), x_raw.as_slice(), "the key the JWKS publishes");
    let claims = decode_part(&tokens.access, 1);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let resign = |header: &Value, change: &dyn Fn(&mut Value)| {
        let mut changed = claims.clone();
        change(&mut changed);
        sign_eddsa(&server_key, header, &changed)
    };
    let header = eddsa_header(&kid);

    // The controls: our signing reproduces the server's, and the skew allowance holds.
    assert_accepted_everywhere(&app, &resign(&header, &|_| {}), "the same claims, re-signed").await;
    let within_skew = resign(&header, &|claims| claims["exp"] = json!(now - 10));
    assert_accepted_everywhere(&app, &within_skew, "a token expired 10 s ago (within the skew)").await;

    let faults: Vec<(String, &str)> = vec![
        (resign(&header, &|claims| claims["exp"] = json!(now - SKEW_SECONDS - 30)), "expired beyond the skew"),
        (resign(&header, &|claims| claims["nbf"] = json!(now + 300)), "nbf 5 min ahead"),
        (resign(&header, &|claims| claims["iat"] = json!(now + 300)), "iat 5 min ahead"),
        (resign(&header, &|claims| claims["aud"] = json!("another-service")), "another audience"),
        (resign(&header, &|claims| claims["iss"] = json!("http://evil.test")), "another issuer"),
        (
            resign(&header, &|claims| {
                claims.as_object_mut().expect("claims").remove("sid");
            }),
            "no sid",
        ),
        (resign(&json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid }), &|_| {}), "typ JWT"),
        (resign(&json!({ "alg": "EdDSA", "kid": kid }), &|_| {}), "no typ"),
        (resign(&eddsa_header("unknown-kid"), &|_| {}), "an unknown kid"),
        (resign(&json!({ "alg": "EdDSA", "typ": "at+jwt" }), &|_| {}), "no kid"),
    ];
    for (forged, what) in faults {
        assert_refused_everywhere(&app, &forged, what).await;
    }
}

/// Guards: logout takes effect on the access token at once, not at its expiry. Fails if the
/// revocation check is skipped after a valid signature.
#[tokio::test]
async fn a_valid_token_of_a_logged_out_session_is_refused() {
    let app = spawn_app().await;
    let tokens = signed_in(&app).await;

    assert_eq!(app.post_authorized("/v1/auth/logout", &tokens.access).await.status(), StatusCode::NO_CONTENT);

    assert_refused_everywhere(&app, &tokens.access, "a logged-out session's token").await;
}

/// Guards: the `Authorization` scheme is parsed as RFC 7235 says (case-insensitively, so
/// `bearer` and `BEARER` work), a non-Bearer scheme counts as no token (`missing_token`, a
/// challenge without an error code), and `Bearer` with nothing after it is refused as an invalid
/// token. Fails if the scheme match becomes case-sensitive, or if Basic credentials or an empty
/// Bearer are let through.
#[tokio::test]
async fn the_authorization_scheme_is_parsed_strictly_but_case_insensitively() {
    let app = spawn_app().await;
    let tokens = signed_in(&app).await;
    let send = |route: &'static str, authorization: String| {
        app.client.get(app.url(route)).header("authorization", authorization).send()
    };

    for route in PROTECTED_ROUTES {
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            let response = send(route, format!("{scheme} {}", tokens.access)).await.expect("sent");
            assert_eq!(response.status(), StatusCode::OK, "scheme {scheme} on {route}");
        }

        let basic = format!("Basic {}", STANDARD.encode(format!("mallory@example.com:{}", crate::helpers::PASSWORD)));
        for (authorization, what) in [(basic, "Basic credentials"), (tokens.access.clone(), "a token without a scheme")]
        {
            let response = send(route, authorization).await.expect("sent");
            let challenge = response.headers().get("www-authenticate").and_then(|value| value.to_str().ok());
            assert_eq!(challenge, Some(MISSING_TOKEN_CHALLENGE), "{what} on {route}");
            assert_problem(response, StatusCode::UNAUTHORIZED, "missing_token").await;
        }

        for authorization in ["Bearer", "Bearer ", "bearer"] {
            let response = send(route, authorization.to_owned()).await.expect("sent");
            let challenge = response.headers().get("www-authenticate").and_then(|value| value.to_str().ok());
            assert_eq!(challenge, Some(INVALID_TOKEN_CHALLENGE), "{authorization:?} on {route}");
            assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The verifier in process, with a key this test controls.
// ---------------------------------------------------------------------------------------------

/// A [`JwtCodec`] whose only key is one this test generated, so that any claim can be signed.
struct ControlledCodec {
    codec: JwtCodec,
    key: ed25519_dalek::SigningKey,
    kid: String,
}

impl ControlledCodec {
    fn new() -> Self {
        let key = fresh_ed25519_key();
        let kid = "controlled-key".to_owned();
        let master_key = MasterKey::generate();
        let private_der = key.to_pkcs8_der().expect("an Ed25519 key encodes as PKCS#8");
        let now = OffsetDateTime::now_utc();
        let stored = StoredSigningKey {
            kid: kid.clone(),
            algorithm: "EdDSA".into(),
            public_key: key.verifying_key().to_bytes().to_vec(),
            encrypted_private_key: master_key.seal(kid.as_bytes(), private_der.as_bytes()),
            created_at: now,
            activates_at: now,
            retired_at: None,
        };
        let codec = JwtCodec::new(ISSUER, AUDIENCE);
        codec.install(&[stored], &master_key).expect("the key installs");
        Self { codec, key, kid }
    }

    fn header(&self) -> Value {
        eddsa_header(&self.kid)
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        sign_eddsa(&self.key, header, claims)
    }

    fn verify(&self, token: &str) -> Result<(), TokenRejection> {
        self.codec.verify(token).map(drop)
    }

    /// The control of every in-process test: a well-formed token of this key is accepted.
    fn assert_accepts_a_valid_token(&self) {
        assert_eq!(self.verify(&self.sign(&self.header(), &valid_claims())), Ok(()));
    }
}

/// Every claim the contract requires, all valid now.
fn valid_claims() -> Value {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "iss": ISSUER,
        "sub": uuid::Uuid::now_v7().to_string(),
        "aud": AUDIENCE,
        "exp": now + 900,
        "iat": now,
        "nbf": now,
        "jti": uuid::Uuid::new_v4().to_string(),
        "sid": uuid::Uuid::now_v7().to_string(),
        "roles": [],
        "amr": ["pwd"],
        "email_verified": true,
    })
}

fn claims_with(change: impl FnOnce(&mut Value)) -> Value {
    let mut claims = valid_claims();
    change(&mut claims);
    claims
}

/// Guards: `exp`, `nbf` and `iat` are enforced, and `iss` and `aud` must be ours. Fails if any of
/// these checks is dropped from the verifier's validation.
#[test]
fn the_verifier_refuses_tokens_out_of_their_lifetime_or_addressed_elsewhere() {
    let verifier = ControlledCodec::new();
    verifier.assert_accepts_a_valid_token();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let header = verifier.header();

    let cases = [
        (claims_with(|claims| claims["exp"] = json!(now - SKEW_SECONDS - 30)), TokenRejection::Expired),
        (claims_with(|claims| claims["nbf"] = json!(now + 300)), TokenRejection::NotYetValid),
        (claims_with(|claims| claims["iat"] = json!(now + 300)), TokenRejection::NotYetValid),
        (claims_with(|claims| claims["aud"] = json!("another-service")), TokenRejection::WrongAudience),
        (claims_with(|claims| claims["iss"] = json!("http://evil.test")), TokenRejection::WrongIssuer),
        (claims_with(|claims| claims["iss"] = json!("http://auth.test.evil.test")), TokenRejection::WrongIssuer),
    ];
    for (claims, expected) in cases {
        assert_eq!(verifier.verify(&verifier.sign(&header, &claims)), Err(expected), "claims {claims}");
    }
}

/// Guards: the clock-skew allowance is bounded both ways. A token expired, or not yet valid, or
/// issued in the future by 10 s is accepted (so a slightly slow or fast clock does not lock
/// users out), and by 30 s + 30 s it is refused (so the allowance is not unbounded). Fails if the
/// leeway is removed, or widened to a minute or more.
#[test]
fn the_clock_skew_allowance_is_thirty_seconds_either_way() {
    let verifier = ControlledCodec::new();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let header = verifier.header();
    let within = 10;
    let beyond = SKEW_SECONDS + 30;

    let cases = [
        ("exp", now - within, Ok(())),
        ("exp", now - beyond, Err(TokenRejection::Expired)),
        ("nbf", now + within, Ok(())),
        ("nbf", now + beyond, Err(TokenRejection::NotYetValid)),
        ("iat", now + within, Ok(())),
        ("iat", now + beyond, Err(TokenRejection::NotYetValid)),
    ];
    for (claim, value, expected) in cases {
        let claims = claims_with(|claims| claims[claim] = json!(value));
        assert_eq!(verifier.verify(&verifier.sign(&header, &claims)), expected, "{claim} = now {:+}", value - now);
    }
}

/// Guards: every claim of the contract is required; a token lacking `sid` (which the revocation
/// check needs) or any other is refused rather than filled with a default. Fails if a claim
/// becomes optional.
#[test]
fn the_verifier_refuses_a_token_missing_any_required_claim() {
    let verifier = ControlledCodec::new();
    verifier.assert_accepts_a_valid_token();
    let header = verifier.header();

    for claim in ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "roles", "amr", "email_verified"] {
        let claims = claims_with(|claims| {
            claims.as_object_mut().expect("claims").remove(claim);
        });
        assert_eq!(
            verifier.verify(&verifier.sign(&header, &claims)),
            Err(TokenRejection::BadClaims),
            "a token without {claim}"
        );
    }
}

/// Guards: only a token naming a key we hold, with `typ: at+jwt` and the key's own algorithm, is
/// looked at. Fails if an unknown or missing `kid` falls back to some default key, if a plain
/// `JWT` (e.g. an ID token of the same issuer) passes as an access token, or if `alg` is taken
/// from the token.
#[test]
fn the_verifier_refuses_an_unknown_key_a_foreign_type_and_a_foreign_algorithm() {
    let verifier = ControlledCodec::new();
    verifier.assert_accepts_a_valid_token();
    let claims = valid_claims();
    let kid = verifier.kid.clone();
    let public_key = verifier.key.verifying_key().to_bytes();

    let signed = |header: Value| verifier.sign(&header, &claims);
    let cases = [
        (signed(eddsa_header("unknown-kid")), TokenRejection::UnknownKey, "an unknown kid"),
        (signed(json!({ "alg": "EdDSA", "typ": "at+jwt" })), TokenRejection::UnknownKey, "no kid"),
        (signed(json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid })), TokenRejection::WrongAlgorithm, "typ JWT"),
        (signed(json!({ "alg": "EdDSA", "kid": kid })), TokenRejection::WrongAlgorithm, "no typ"),
        (
            sign_hmac(Algorithm::HS256, &public_key, &json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid }), &claims),
            TokenRejection::WrongAlgorithm,
            "HS256 keyed with the public key",
        ),
    ];
    for (token, expected, what) in cases {
        assert_eq!(verifier.verify(&token), Err(expected), "{what}");
    }
    let unsigned =
        format!("{}.{}.", encode_part(&json!({ "alg": "none", "typ": "at+jwt", "kid": kid })), encode_part(&claims));
    assert!(verifier.verify(&unsigned).is_err(), "alg none");
}

/// Guards: a signature by any other key is refused even under our `kid`. Fails if the signature
/// check is skipped once the `kid` resolves.
#[test]
fn the_verifier_refuses_a_signature_of_another_key_under_its_kid() {
    let verifier = ControlledCodec::new();
    verifier.assert_accepts_a_valid_token();

    let forged = sign_eddsa(&fresh_ed25519_key(), &verifier.header(), &valid_claims());

    assert_eq!(verifier.verify(&forged), Err(TokenRejection::BadSignature));
}

/// Guards: what is not a well-formed JWS is refused as malformed, never panics, and never reaches
/// a claim check: undecodable base64 in each part, a header or payload that is not JSON (each
/// correctly signed, so only the parsing can refuse it), and the wrong number of parts. Fails if
/// the parser accepts any of these.
#[test]
fn the_verifier_refuses_what_is_not_a_well_formed_jws() {
    let verifier = ControlledCodec::new();
    verifier.assert_accepts_a_valid_token();
    let valid = verifier.sign(&verifier.header(), &valid_claims());
    let (header, payload, signature) = (raw_part(&valid, 0), raw_part(&valid, 1), raw_part(&valid, 2));
    let not_json = URL_SAFE_NO_PAD.encode("this is not JSON");

    let cases = [
        (format!("!!not*base64!!.{payload}.{signature}"), TokenRejection::Malformed, "garbage header"),
        (
            sign_input_eddsa(&verifier.key, &format!("{header}.!!not*base64!!")),
            TokenRejection::Malformed,
            "garbage payload",
        ),
        (format!("{header}.{payload}.!!not*base64!!"), TokenRejection::Malformed, "garbage signature"),
        (
            sign_input_eddsa(&verifier.key, &format!("{not_json}.{payload}")),
            TokenRejection::Malformed,
            "a non-JSON header",
        ),
        (
            sign_input_eddsa(&verifier.key, &format!("{header}.{not_json}")),
            TokenRejection::BadClaims,
            "a non-JSON payload",
        ),
        (format!("{header}.{payload}"), TokenRejection::Malformed, "two parts"),
        (format!("{header}.{payload}.{signature}.{signature}"), TokenRejection::Malformed, "four parts"),
        (String::new(), TokenRejection::Malformed, "nothing"),
    ];
    for (token, expected, what) in cases {
        assert_eq!(verifier.verify(&token), Err(expected), "{what}");
    }
}

/// Guards: a token over 8 KiB is refused before any parsing, so that huge headers cannot make the
/// verifier decode and parse megabytes per request. The oversized token is otherwise valid and
/// correctly signed, and one just under the limit is accepted, so only the length can refuse it.
/// Fails if the length check is removed (or made much stricter).
#[test]
fn the_verifier_refuses_an_oversized_token_before_parsing_it() {
    let verifier = ControlledCodec::new();
    let header = verifier.header();
    let with_roles = |count: usize| {
        let roles: Vec<String> = (0..count).map(|index| format!("role-{index:05}")).collect();
        verifier.sign(&header, &claims_with(|claims| claims["roles"] = json!(roles)))
    };
    let limit = 8 * 1024;
    let mut count = 0;
    while with_roles(count + 1).len() <= limit - 64 {
        count += 1;
    }
    let just_under = with_roles(count);
    let mut over = count;
    while with_roles(over).len() <= limit {
        over += 1;
    }
    let just_over = with_roles(over);
    assert!(just_under.len() <= limit && just_over.len() > limit && just_over.len() < limit + 64);

    assert_eq!(verifier.verify(&just_under), Ok(()), "{} bytes", just_under.len());
    assert_eq!(verifier.verify(&just_over), Err(TokenRejection::Malformed), "{} bytes", just_over.len());
}
