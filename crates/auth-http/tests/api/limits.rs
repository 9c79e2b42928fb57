//! The rate limits over HTTP, as an attacker would probe them: concurrent guesses, the failed-login
//! allowance, honest `Retry-After`, per-network IPv6 keys, and the audit of a throttled login.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, jwt_claims, spawn_app_with};
use crate::mfa::{current_step, enable, password_step, second_step, totp};

const WRONG_PASSWORD: &str = "wrong-password-attempt";

/// Counts the statuses of `responses`, and checks that every one is a 401 or a 429.
fn checked_and_throttled(responses: &[Response]) -> (usize, usize) {
    let checked = responses.iter().filter(|response| response.status() == StatusCode::UNAUTHORIZED).count();
    let throttled = responses.iter().filter(|response| response.status() == StatusCode::TOO_MANY_REQUESTS).count();
    let statuses: Vec<StatusCode> = responses.iter().map(Response::status).collect();
    assert_eq!(checked + throttled, responses.len(), "only 401 and 429 expected: {statuses:?}");
    (checked, throttled)
}

/// Forty wrong second-factor codes sent at once: a limiter that peeks, checks, then counts lets
/// them past the peek together. At most the allowance (AUTH_RATE_MFA_USER, here 3) may be checked.
#[tokio::test]
async fn concurrent_wrong_second_factor_codes_are_checked_at_most_the_allowance() {
    let app = spawn_app_with(&[("AUTH_RATE_MFA_USER", "3/15m")]).await;
    let tokens = app.signed_in_user("ada@example.com").await;
    let (secret, _) = enable(&app, &tokens).await;
    let mfa_token = password_step(&app, "ada@example.com").await;
    let right: u32 = totp(&secret, current_step()).parse().expect("six digits");
    // Well-formed, and never one of the three steps a code may match.
    let wrong = format!("{:06}", (right + 500_000) % 1_000_000);

    let attempts = (0..40).map(|_| second_step(&app, &mfa_token, &wrong));
    let responses = futures_util::future::join_all(attempts).await;

    let (checked, throttled) = checked_and_throttled(&responses);
    assert!(checked <= 3, "{checked} wrong codes were checked; the allowance is 3");
    assert_eq!(throttled, 40 - checked);
}

/// The same race with passwords: the hashing takes long enough for every request to pass a peek.
#[tokio::test]
async fn concurrent_wrong_passwords_are_checked_at_most_the_allowance() {
    let app = spawn_app_with(&[("AUTH_HASH_QUEUE", "64")]).await;
    app.signed_in_user("ada@example.com").await;

    let attempts = (0..20).map(|_| app.login("ada@example.com", WRONG_PASSWORD));
    let responses = futures_util::future::join_all(attempts).await;

    let (checked, throttled) = checked_and_throttled(&responses);
    assert!(checked <= 10, "{checked} wrong passwords were checked; AUTH_RATE_LOGIN_EMAIL allows 10");
    assert_eq!(throttled, 20 - checked);
    // The right password is throttled too now: the allowance is spent.
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// The contract's allowance: 10 failed logins per 15 minutes are never delayed; the 11th attempt is
/// refused.
#[tokio::test]
async fn ten_wrong_passwords_are_answered_and_only_the_eleventh_attempt_is_throttled() {
    let app = spawn_app_with(&[]).await;
    app.signed_in_user("ada@example.com").await;
    for attempt in 1..=10 {
        let failed = app.login("ada@example.com", WRONG_PASSWORD).await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED, "failure {attempt} of the allowed 10");
    }
    let throttled = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(throttled.headers()["ratelimit-limit"], "10");
    assert_problem(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// A client that waits what `Retry-After` said is let through by the same limit.
#[tokio::test]
async fn a_refresh_made_once_retry_after_has_passed_is_allowed() {
    let app = spawn_app_with(&[("AUTH_RATE_REFRESH_SESSION", "2/3s")]).await;
    let mut refresh_token = app.signed_in_user("ada@example.com").await.refresh;
    let retry_after = loop {
        let response = app.refresh(&refresh_token).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let seconds = response.headers()["retry-after"].to_str().expect("ASCII").parse().expect("seconds");
            break Duration::from_secs(seconds);
        }
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("a token pair");
        refresh_token = body["refresh_token"].as_str().expect("a refresh token").to_owned();
    };
    // Knocking again while refused must not push the door further shut than the header said.
    assert_eq!(app.refresh(&refresh_token).await.status(), StatusCode::TOO_MANY_REQUESTS);

    tokio::time::sleep(retry_after).await;

    assert_eq!(app.refresh(&refresh_token).await.status(), StatusCode::OK, "waited Retry-After = {retry_after:?}");
}

async fn login_from(app: &TestApp, ip: &str, email: &str) -> Response {
    app.client
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": email, "password": WRONG_PASSWORD }))
        .send()
        .await
        .expect("sent")
}

/// One subscriber gets a whole /64: walking through its addresses must not reset the per-IP limit.
#[tokio::test]
async fn logins_from_the_addresses_of_one_ipv6_64_share_the_per_ip_limit() {
    let app = spawn_app_with(&[("AUTH_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let mut statuses = Vec::new();
    for n in 1..=70 {
        let ip = format!("2001:db8:1:2:{n:x}::{n:x}");
        statuses.push(login_from(&app, &ip, &format!("user{n}@example.com")).await.status());
    }
    let allowed = statuses.iter().filter(|status| **status == StatusCode::UNAUTHORIZED).count();
    assert_eq!(allowed, 60, "AUTH_RATE_LOGIN_IP allows 60 a minute per /64: {statuses:?}");
    assert!(statuses[60..].iter().all(|status| *status == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    // Another /64 of the same /48 is another subscriber.
    assert_eq!(login_from(&app, "2001:db8:1:3::1", "other@example.com").await.status(), StatusCode::UNAUTHORIZED);
}

/// Administrators find a throttled login under the account it was aimed at; the caller cannot
/// tell a known address from an unknown one by the answer.
#[tokio::test]
async fn a_throttled_login_of_a_known_address_is_audited_under_its_account() {
    let app = spawn_app_with(&[("AUTH_RATE_LOGIN_EMAIL", "2/15m")]).await;
    let admin = app.signed_in_admin("admin@example.com").await;
    let ada = app.signed_in_user("ada@example.com").await;
    let ada_id = jwt_claims(&ada.access)["sub"].as_str().expect("sub").to_owned();

    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..2 {
            assert_eq!(app.login(email, WRONG_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        }
        let throttled = app.login(email, WRONG_PASSWORD).await;
        let limit = throttled.headers()["ratelimit-limit"].clone();
        let mut body = assert_problem(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        body["request_id"] = Value::Null;
        answers.push((limit, body));
    }
    assert_eq!(answers[0], answers[1], "a known and an unknown address are throttled alike");

    let path = format!("/v1/admin/audit?user_id={ada_id}&event=login_throttled");
    let audit: Value = app.get_authorized(&path, &admin.access).await.json().await.expect("JSON");
    let events = audit["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "the throttled login is filed under ada: {audit}");
    assert_eq!(events[0]["user_id"], ada_id.as_str());
}
