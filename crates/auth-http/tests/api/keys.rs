//! Signing keys seen from outside: the key lifecycle through `auth-http keys`, every algorithm
//! verified through the JWKS alone, and an independent JOSE implementation (PyJWT) verifying our
//! tokens from the discovery document alone.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};

const ISSUER: &str = "http://auth.test";

/// `auth-http` on the test app's database, with the test master key.
pub fn keys_command(app: &TestApp, arguments: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auth-http"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("AUTH_")) {
        command.env_remove(key);
    }
    command
        .arg("keys")
        .args(arguments)
        .env("AUTH_DATABASE_URL", format!("sqlite://{}", app.data.path().join("auth.db").display()))
        .env("AUTH_MASTER_KEY", base64::engine::general_purpose::STANDARD.encode([42u8; 32]))
        .env("AUTH_LOG_FORMAT", "json")
        .output()
        .expect("auth-http runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn jwks(app: &TestApp) -> JwkSet {
    let response = app.client.get(app.url("/.well-known/jwks.json")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let cache_control = response.headers()["cache-control"].to_str().expect("ASCII").to_owned();
    assert_eq!(cache_control, "public, max-age=60");
    response.json().await.expect("a JWKS")
}

pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).expect("a JWS header").kid.expect("a kid")
}

/// Verifies `token` as an outside service would: with the published key of its `kid`, the
/// algorithm pinned to that key's.
async fn verify_through_jwks(app: &TestApp, token: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|error| error.to_string())?;
    let jwks = jwks(app).await;
    let kid = header.kid.as_deref().ok_or("no kid")?;
    let jwk = jwks.find(kid).ok_or_else(|| format!("{kid} is not published"))?;
    let published_algorithm = jwk.common.key_algorithm.ok_or("a JWK without alg")?;
    if format!("{published_algorithm:?}") != format!("{:?}", header.alg) {
        return Err(format!("the token says {:?}, its key {published_algorithm:?}", header.alg));
    }
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&["authd"]);
    validation.set_issuer(&[ISSUER]);
    let key = DecodingKey::from_jwk(jwk).map_err(|error| error.to_string())?;
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|data| data.claims).map_err(|error| error.to_string())
}

/// Polls `condition` until it holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !condition().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fresh_access_token(app: &TestApp, email: &str) -> String {
    let response = app.login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("a token pair");
    body["access_token"].as_str().expect("access_token").to_owned()
}

#[tokio::test]
async fn a_rotation_publishes_first_signs_later_and_a_retired_key_stops_verifying() {
    let app = spawn_app().await;
    let before = app.signed_in_user("ada@example.com").await.access;
    let first_kid = kid_of(&before);
    assert_eq!(jwks(&app).await.keys.len(), 1);
    verify_through_jwks(&app, &before).await.expect("the first key's token verifies through the JWKS");

    let activation = Duration::from_secs(6);
    let rotated = keys_command(&app, &["rotate", "--activate-after", "6s"]);
    let rotated_at = Instant::now();
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let next_kid = stdout(&rotated).split_whitespace().next().expect("the new kid").to_owned();
    assert_ne!(next_kid, first_kid);

    // Published before it signs: verifiers' caches can hold it before its first token.
    eventually(Duration::from_secs(5), "the next key is published", || async {
        jwks(&app).await.find(&next_kid).is_some()
    })
    .await;
    let meanwhile = fresh_access_token(&app, "ada@example.com").await;
    // The next key must not sign before its activation; the rotation was stamped before
    // `rotated_at`, so by then at least `activation` minus the CLI's own run has passed.
    if kid_of(&meanwhile) != first_kid {
        assert_eq!(kid_of(&meanwhile), next_kid);
        assert!(rotated_at.elapsed() >= activation - Duration::from_secs(2), "the next key signed early");
    }

    eventually(Duration::from_secs(15), "the next key signs", || async {
        kid_of(&fresh_access_token(&app, "ada@example.com").await) == next_kid
    })
    .await;
    let after = fresh_access_token(&app, "ada@example.com").await;

    // Tokens from before and after the rotation both verify, through the JWKS and at the API.
    for token in [&before, &after] {
        verify_through_jwks(&app, token).await.expect("verifies through the JWKS");
        assert_eq!(app.get_authorized("/v1/users/me", token).await.status(), StatusCode::OK);
    }
    let listed = stdout(&keys_command(&app, &["list"]));
    let status_of = |kid: &str| {
        listed.lines().find(|line| line.starts_with(kid)).and_then(|line| line.split('\t').nth(2)).map(str::to_owned)
    };
    assert_eq!(status_of(&next_kid).as_deref(), Some("current"), "{listed}");
    assert_eq!(status_of(&first_kid).as_deref(), Some("previous"), "{listed}");

    // The current key and unknown keys cannot be retired.
    let refused = keys_command(&app, &["retire", &next_kid]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("current"), "{refused:?}");
    assert!(!keys_command(&app, &["retire", "no-such-kid"]).status.success());

    // Retiring the previous key takes it out of the JWKS, and its tokens are refused.
    let retired = keys_command(&app, &["retire", &first_kid]);
    assert!(retired.status.success(), "{}", String::from_utf8_lossy(&retired.stderr));
    // At once: within one key reload (AUTH_KEY_RELOAD_INTERVAL, a second), with slack for a loaded machine.
    eventually(Duration::from_secs(3), "the retired key leaves the JWKS", || async {
        jwks(&app).await.find(&first_kid).is_none()
    })
    .await;
    assert_eq!(app.get_authorized("/v1/users/me", &before).await.status(), StatusCode::UNAUTHORIZED);
    assert!(verify_through_jwks(&app, &before).await.is_err());
    assert_eq!(app.get_authorized("/v1/users/me", &after).await.status(), StatusCode::OK);
    assert!(!keys_command(&app, &["retire", &first_kid]).status.success(), "retired once only");
    let listed = stdout(&keys_command(&app, &["list"]));
    assert!(listed.lines().any(|line| line.starts_with(&first_kid) && line.contains("\tretired\t")), "{listed}");
}

#[tokio::test]
async fn es256_and_rs256_keys_sign_tokens_that_verify_through_the_jwks() {
    for algorithm in ["ES256", "RS256"] {
        let app = spawn_app_with(&[("AUTH_SIGNING_ALG", algorithm)]).await;
        let token = app.signed_in_user("ada@example.com").await.access;
        let header = jsonwebtoken::decode_header(&token).expect("a header");
        assert_eq!(format!("{:?}", header.alg), algorithm);
        let claims = verify_through_jwks(&app, &token).await.expect("verifies through the JWKS");
        assert_eq!(claims["aud"], "authd");
        assert_eq!(app.get_authorized("/v1/users/me", &token).await.status(), StatusCode::OK);
        let discovery: Value = app
            .client
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        assert_eq!(discovery["access_token_signing_alg_values_supported"], serde_json::json!([algorithm]));
        let published = serde_json::to_value(jwks(&app).await).expect("JSON");
        for private_member in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(published["keys"][0].get(private_member).is_none(), "{algorithm} publishes {private_member}");
        }
    }
}

/// A Python with PyJWT and cryptography: `AUTH_TEST_PYTHON` (CI provides one), else `python3` if
/// it has them. CI must have it; elsewhere its absence is said, not hidden.
fn python_with_pyjwt() -> Option<String> {
    let python = std::env::var("AUTH_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = Command::new(&python)
        .args(["-c", "import jwt, cryptography"])
        .output()
        .is_ok_and(|output| output.status.success());
    if found {
        return Some(python);
    }
    assert!(std::env::var_os("CI").is_none(), "CI must provide PyJWT (AUTH_TEST_PYTHON={python})");
    eprintln!("SKIPPED: the PyJWT cross-check (no Python with PyJWT and cryptography; set AUTH_TEST_PYTHON)");
    None
}

/// Given only the issuer URL and a token, finds the keys through the discovery document and
/// verifies the token with PyJWT; prints the claims, or fails.
const PYJWT_VERIFIER: &str = r#"
import json, sys, urllib.request
import jwt
issuer, token = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(issuer + "/.well-known/openid-configuration") as response:
    metadata = json.load(response)
signing_key = jwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(token)
claims = jwt.decode(
    token,
    signing_key.key,
    algorithms=metadata["access_token_signing_alg_values_supported"],
    audience="authd",
    issuer=metadata["issuer"],
)
print(json.dumps(claims))
"#;

#[tokio::test]
async fn pyjwt_verifies_our_tokens_from_the_discovery_document_alone() {
    let Some(python) = python_with_pyjwt() else { return };
    for algorithm in ["EdDSA", "ES256", "RS256"] {
        // The discovery document must point at where the service really is.
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port();
        let public_url = format!("http://127.0.0.1:{port}");
        let app = spawn_app_with(&[
            ("AUTH_LISTEN", &format!("127.0.0.1:{port}")),
            ("AUTH_PUBLIC_URL", &public_url),
            ("AUTH_SIGNING_ALG", algorithm),
        ])
        .await;
        let token = app.signed_in_user("ada@example.com").await.access;
        let run = |token: String| {
            let (python, public_url) = (python.clone(), public_url.clone());
            tokio::task::spawn_blocking(move || {
                Command::new(python).args(["-c", PYJWT_VERIFIER, &public_url, &token]).output().expect("Python runs")
            })
        };
        let verified = run(token.clone()).await.expect("joined");
        assert!(verified.status.success(), "{algorithm}: {}", String::from_utf8_lossy(&verified.stderr));
        let claims: Value = serde_json::from_slice(&verified.stdout).expect("the claims");
        assert_eq!(claims["iss"], public_url.as_str());
        assert_eq!(claims["sub"], crate::helpers::jwt_claims(&token)["sub"]);

        // And it refuses a token whose claims were changed after signing.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = crate::helpers::jwt_claims(&token);
        forged["roles"] = serde_json::json!(["admin"]);
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
        let refused = run(parts.join(".")).await.expect("joined");
        assert!(!refused.status.success(), "{algorithm}: PyJWT accepted a forged token");
    }
}
