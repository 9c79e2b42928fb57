//! Failed client authentication at `/oauth/introspect` and `/v1/revocations` costs a bounded
//! amount: claimed client ids the service does not know share one count per address (each would
//! otherwise be a rate-limit key of its own), over-long credentials are refused before anything is
//! counted, and no claimed id reaches the logs, only a short digest of it.

use std::sync::PoisonError;

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_problem, spawn_app_with};

const CLIENTS: (&str, &str) = ("AUTH_INTROSPECTION_CLIENTS", "gateway:s3cret-of-the-gateway,billing:another-secret");

async fn read_feed(app: &TestApp, id: &str, secret: &str) -> reqwest::Response {
    app.client.get(app.url("/v1/revocations")).basic_auth(id, Some(secret)).send().await.expect("sent")
}

#[tokio::test]
async fn unknown_client_ids_share_one_count_per_address() {
    let app = spawn_app_with(&[CLIENTS]).await;
    for n in 0..10 {
        let response = read_feed(&app, &format!("made-up-client-{n}"), "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    // An eleventh made-up id is no fresh start.
    let throttled = read_feed(&app, "made-up-client-10", "guess").await;
    assert_problem(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let introspection = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth("made-up-client-11", Some("guess"))
        .form(&[("token", "anything")])
        .send()
        .await
        .expect("sent");
    assert_eq!(introspection.status(), StatusCode::TOO_MANY_REQUESTS);
    // The configured clients at that address keep counts of their own.
    assert_eq!(read_feed(&app, "gateway", "s3cret-of-the-gateway").await.status(), StatusCode::OK);
    assert_eq!(read_feed(&app, "billing", "wrong").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_configured_clients_failures_are_counted_for_it_alone() {
    let app = spawn_app_with(&[CLIENTS]).await;
    for attempt in 0..10 {
        assert_eq!(read_feed(&app, "gateway", "wrong-guess").await.status(), StatusCode::UNAUTHORIZED, "{attempt}");
    }
    let throttled = read_feed(&app, "gateway", "s3cret-of-the-gateway").await;
    assert_problem(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Neither the other configured client nor the unknown ids inherit the gateway's count.
    assert_eq!(read_feed(&app, "billing", "another-secret").await.status(), StatusCode::OK);
    assert_eq!(read_feed(&app, "made-up-client", "guess").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn over_long_credentials_are_refused_uncounted_and_no_claimed_id_is_logged() {
    let logs = crate::secrets::captured_logs();
    let app = spawn_app_with(&[CLIENTS]).await;
    // Unique to this test, so that no other test's logging can be mistaken for a leak here.
    let marker = format!("claimed-{}", uuid::Uuid::new_v4().simple());
    let huge = format!("{marker}{}", "x".repeat(11_000));
    for _ in 0..20 {
        let response = read_feed(&app, &huge, "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key("www-authenticate"));
    }
    // None of those was counted: an ordinary failure is still only a 401.
    let short = format!("{marker}-short");
    assert_eq!(read_feed(&app, &short, "guess").await.status(), StatusCode::UNAUTHORIZED);

    let logged = String::from_utf8_lossy(&logs.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
    let failures: Vec<&str> =
        logged.lines().filter(|line| line.contains("a resource-server client failed to authenticate")).collect();
    assert!(!failures.is_empty(), "the failures are logged");
    assert!(failures.iter().all(|line| line.contains("client.id_digest")), "{failures:?}");
    for line in logged.lines() {
        assert!(!line.contains(&marker), "a claimed client id is in a log line: {:.300}", line);
    }
}
