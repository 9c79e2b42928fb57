//! The second factor over HTTP: enrolment, confirmation, login with TOTP and recovery codes,
//! replay, expiry and removal. Codes are computed here from the secret with an implementation of
//! RFC 6238 of the test's own, and cross-checked with Python's pyotp when it is installed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, jwt_claims, spawn_app, spawn_app_with};

/// RFC 4648 base32, unpadded, as authenticator apps read it.
fn base32_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bytes, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for character in text.bytes() {
        let value = alphabet.iter().position(|&c| c == character).expect("a base32 character");
        buffer = (buffer << 5) | u32::try_from(value).expect("small");
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push(u8::try_from((buffer >> bits) & 0xff).expect("a byte"));
        }
    }
    bytes
}

/// The RFC 6238 code of `secret` (base32) for time step `step`: HMAC-SHA1, 6 digits.
pub fn totp(secret: &str, step: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&base32_decode(secret)).expect("any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let value =
        u32::from_be_bytes([digest[offset], digest[offset + 1], digest[offset + 2], digest[offset + 3]]) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

pub fn current_step() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs() / 30
}

/// A Python with pyotp: `AUTH_TEST_PYTHON` (CI sets it to a virtualenv that has pyotp), else
/// `python3` if it has pyotp. CI must have it; elsewhere its absence is said, not hidden.
fn python_with_pyotp() -> Option<String> {
    let python = std::env::var("AUTH_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = std::process::Command::new(&python)
        .args(["-c", "import pyotp"])
        .output()
        .is_ok_and(|output| output.status.success());
    if found {
        return Some(python);
    }
    assert!(std::env::var_os("CI").is_none(), "CI must provide pyotp (AUTH_TEST_PYTHON={python})");
    eprintln!("SKIPPED: the pyotp cross-check (no Python with pyotp; set AUTH_TEST_PYTHON)");
    None
}

/// Starts a TOTP enrolment for `tokens`' account; returns the secret and the URI.
async fn begin(app: &TestApp, tokens: &Tokens) -> (String, String) {
    let response = app.post_authorized("/v1/users/me/mfa/totp", &tokens.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("JSON");
    (body["secret"].as_str().expect("secret").to_owned(), body["otpauth_uri"].as_str().expect("uri").to_owned())
}

async fn confirm(app: &TestApp, tokens: &Tokens, code: &str) -> reqwest::Response {
    app.request(Method::POST, "/v1/users/me/mfa/totp/confirm", &tokens.access, Some(&json!({ "code": code }))).await
}

/// Enables TOTP on `tokens`' account with the code of the current step; returns the secret and
/// the recovery codes.
pub async fn enable(app: &TestApp, tokens: &Tokens) -> (String, Vec<String>) {
    let (secret, _) = begin(app, tokens).await;
    let response = confirm(app, tokens, &totp(&secret, current_step())).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    let codes =
        body["recovery_codes"].as_array().expect("codes").iter().map(|code| code.as_str().expect("a code").to_owned());
    (secret, codes.collect())
}

/// Logs in with the password; returns the `mfa_token` of the challenge.
pub async fn password_step(app: &TestApp, email: &str) -> String {
    let response = app.login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body.get("access_token").is_none(), "no token before the second factor: {body}");
    let lifetime = body["expires_in"].as_i64().expect("expires_in");
    assert!((1..=300).contains(&lifetime), "5 minutes by default: {body}");
    body["mfa_token"].as_str().expect("an mfa_token").to_owned()
}

pub async fn second_step(app: &TestApp, mfa_token: &str, code: &str) -> reqwest::Response {
    app.post_json("/v1/auth/login/mfa", &json!({ "mfa_token": mfa_token, "code": code })).await
}

#[tokio::test]
async fn totp_enrolment_login_replay_recovery_and_removal() {
    let app = spawn_app().await;
    let email = "ada@example.com";
    let tokens = app.signed_in_user(email).await;

    let (secret, uri) = begin(&app, &tokens).await;
    assert_eq!(base32_decode(&secret).len(), 20, "a 160-bit secret");
    assert!(uri.starts_with("otpauth://totp/auth.test:ada%40example.com?"), "{uri}");
    for parameter in [&format!("secret={secret}"), "issuer=auth.test", "algorithm=SHA1", "digits=6", "period=30"] {
        assert!(uri.contains(parameter), "{uri} lacks {parameter}");
    }
    // Pending: logins still take the password alone.
    assert!(app.login(email, PASSWORD).await.json::<Value>().await.unwrap()["access_token"].is_string());

    let wrong = format!("{:06}", (totp(&secret, current_step()).parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_problem(confirm(&app, &tokens, &wrong).await, StatusCode::BAD_REQUEST, "invalid_mfa_code").await;
    let step = current_step();
    let confirmed = confirm(&app, &tokens, &totp(&secret, step)).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let codes: Vec<String> = confirmed.json::<Value>().await.unwrap()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    let me: Value = app.get_authorized("/v1/users/me", &tokens.access).await.json().await.unwrap();
    assert_eq!(me["mfa_enabled"], true);
    let again = app.post_authorized("/v1/users/me/mfa/totp", &tokens.access).await;
    assert_problem(again, StatusCode::CONFLICT, "mfa_already_enabled").await;

    // The confirming code's step is spent: the same code cannot log in (no replay in its window).
    let mfa_token = password_step(&app, email).await;
    let replay = second_step(&app, &mfa_token, &totp(&secret, step)).await;
    assert_problem(replay, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    // The next step's code is within the drift allowed, and fresh.
    let next = totp(&secret, step + 1);
    let completed = second_step(&app, &mfa_token, &next).await;
    assert_eq!(completed.status(), StatusCode::OK);
    assert_eq!(completed.headers()["cache-control"], "no-store");
    let session = Tokens::from_body(completed.json().await.unwrap());
    assert_eq!(jwt_claims(&session.access)["amr"], json!(["pwd", "otp"]));
    // The mfa_token was used up, and the code too.
    assert_problem(second_step(&app, &mfa_token, &next).await, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let fresh_token = password_step(&app, email).await;
    assert_problem(second_step(&app, &fresh_token, &next).await, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    // A refreshed token still says how the session was proven.
    let refreshed = app.refresh(&session.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = Tokens::from_body(refreshed.json().await.unwrap());
    assert_eq!(jwt_claims(&refreshed.access)["amr"], json!(["pwd", "otp"]));

    // A recovery code works once, typed in any case.
    let by_recovery = second_step(&app, &fresh_token, &codes[0].to_uppercase()).await;
    assert_eq!(by_recovery.status(), StatusCode::OK);
    let third_token = password_step(&app, email).await;
    let spent = second_step(&app, &third_token, &codes[0]).await;
    assert_problem(spent, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;

    // Removal needs a code; a recovery code will do. Then the password alone logs in again.
    let remove = |code: &str| {
        let body = json!({ "code": code });
        let app = &app;
        let access = tokens.access.clone();
        async move { app.request(Method::DELETE, "/v1/users/me/mfa/totp", &access, Some(&body)).await }
    };
    assert_problem(remove("000000").await, StatusCode::BAD_REQUEST, "invalid_mfa_code").await;
    assert_eq!(remove(&codes[1]).await.status(), StatusCode::NO_CONTENT);
    assert_problem(remove(&codes[2]).await, StatusCode::BAD_REQUEST, "mfa_not_enabled").await;
    let plain = app.login(email, PASSWORD).await.json::<Value>().await.unwrap();
    assert_eq!(jwt_claims(plain["access_token"].as_str().unwrap())["amr"], json!(["pwd"]));
}

#[tokio::test]
async fn our_codes_and_uri_agree_with_pyotp() {
    let Some(python) = python_with_pyotp() else { return };
    let app = spawn_app().await;
    let tokens = app.signed_in_user("ada@example.com").await;
    let (secret, uri) = begin(&app, &tokens).await;

    let script = "import sys, pyotp\n\
        totp = pyotp.parse_uri(sys.argv[1])\n\
        assert totp.digits == 6 and totp.interval == 30 and totp.issuer == 'auth.test', totp\n\
        assert totp.name == 'ada@example.com', totp.name\n\
        print(totp.at(int(sys.argv[2]) * 30))";
    let step = current_step();
    let output = std::process::Command::new(&python)
        .args(["-c", script, &uri, &step.to_string()])
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let pyotp_code = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(pyotp_code, totp(&secret, step), "pyotp and the test's RFC 6238 disagree");

    // And the service accepts pyotp's code.
    assert_eq!(confirm(&app, &tokens, &pyotp_code).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_mfa_token_expires() {
    let app = spawn_app_with(&[("AUTH_MFA_TOKEN_TTL", "1s")]).await;
    let email = "ada@example.com";
    let tokens = app.signed_in_user(email).await;
    let (secret, _) = enable(&app, &tokens).await;

    let mfa_token = password_step(&app, email).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let late = second_step(&app, &mfa_token, &totp(&secret, current_step() + 1)).await;
    let problem = assert_problem(late, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    assert!(problem["detail"].as_str().unwrap().contains("log in again"), "{problem}");
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_account() {
    // Failed-password limits off: codes are limited on their own.
    let app = spawn_app_with(&[("AUTH_RATE_MFA_USER", "3/15m"), ("AUTH_RATE_LOGIN_EMAIL", "off")]).await;
    let email = "ada@example.com";
    let tokens = app.signed_in_user(email).await;
    let (secret, _) = enable(&app, &tokens).await;
    let mfa_token = password_step(&app, email).await;

    for _ in 0..3 {
        assert_problem(second_step(&app, &mfa_token, "000000").await, StatusCode::UNAUTHORIZED, "invalid_mfa_code")
            .await;
    }
    // Even the right code waits now: guessing cannot continue at full speed.
    let right = second_step(&app, &mfa_token, &totp(&secret, current_step() + 1)).await;
    let problem = assert_problem(right, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(problem["detail"].is_string());
}

#[tokio::test]
async fn second_factor_routes_need_a_token_and_a_well_formed_body() {
    let app = spawn_app().await;
    let missing = app.client.post(app.url("/v1/users/me/mfa/totp")).send().await.unwrap();
    assert_problem(missing, StatusCode::UNAUTHORIZED, "missing_token").await;
    let malformed = app.post_json("/v1/auth/login/mfa", &json!({ "mfa_token": "nope" })).await;
    assert_problem(malformed, StatusCode::BAD_REQUEST, "invalid_body").await;
    let unknown = app.post_json("/v1/auth/login/mfa", &json!({ "mfa_token": "nope", "code": "123456" })).await;
    assert_problem(unknown, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let tokens = app.signed_in_user("ada@example.com").await;
    let not_started = confirm(&app, &tokens, "123456").await;
    assert_problem(not_started, StatusCode::CONFLICT, "mfa_not_pending").await;
}
