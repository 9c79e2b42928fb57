//! Bad input gets a clear 4xx problem document: never a 5xx, never a panic.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("sent");
    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_json").await;
}

#[tokio::test]
async fn a_wrong_content_type_is_a_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("content-type", "text/plain")
        .body(json!({ "email": "a@example.com", "password": PASSWORD }).to_string())
        .send()
        .await
        .expect("sent");
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

#[tokio::test]
async fn an_unknown_field_is_a_400_naming_it() {
    let app = spawn_app().await;
    let response = app
        .post_json("/v1/auth/register", &json!({ "email": "a@example.com", "password": PASSWORD, "admin": true }))
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(problem["detail"].as_str().expect("detail").contains("admin"), "{problem}");
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_a_400_that_does_not_echo_it() {
    let app = spawn_app().await;
    let response = app.post_json("/v1/auth/login", &json!({ "email": "a@example.com", "password": 918273645 })).await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(!problem.to_string().contains("918273645"), "{problem}");
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    let app = spawn_app().await;
    let response = app
        .post_json("/v1/auth/register", &json!({ "email": "a@example.com", "password": "x".repeat(20 * 1024) }))
        .await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn an_overlong_email_and_a_weak_password_are_field_errors() {
    let app = spawn_app().await;
    let email = format!("{}@example.com", "a".repeat(250));
    let response = app.register(&email, "password").await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|error| (error["field"].as_str().expect("field"), error["code"].as_str().expect("code")))
        .collect();
    assert_eq!(fields, [("email", "too_long"), ("password", "too_short")]);
    assert!(app.mails().is_empty());
}

#[tokio::test]
async fn unknown_routes_are_problem_documents() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/v1/nothing-here")).send().await.expect("sent");
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn no_garbage_gets_a_server_error() {
    let app = spawn_app().await;
    let bodies = [
        "",
        "null",
        "[]",
        "\"text\"",
        "{}",
        "{\"email\": null, \"password\": null}",
        "{\"email\": \"\\u0000@example.com\", \"password\": \"\\ud800\"}",
        "{\"email\": {\"nested\": 1}}",
        "{\"refresh_token\": 12}",
        "{\"token\": \"\"}",
        "\u{feff}{}",
    ];
    for path in [
        "/v1/auth/register",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/auth/verify-email",
        "/v1/auth/verify-email/resend",
    ] {
        for body in bodies {
            let response = app
                .client
                .post(app.url(path))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("sent");
            let status = response.status();
            assert!(status.is_client_error() || status.is_success(), "{path} with {body:?} gave {status}");
        }
    }
    let weird_auth =
        app.client.get(app.url("/v1/users/me")).header("authorization", "Bearer ").send().await.expect("sent");
    assert_eq!(weird_auth.status(), StatusCode::UNAUTHORIZED);
}

/// A revocation-feed cursor the feed never handed out: the earliest instant `time` knows (looking
/// back from it overflowed and panicked the worker), and instants past any representable one.
#[tokio::test]
async fn a_crafted_revocation_cursor_is_a_400_not_a_panic() {
    use base64::Engine;
    let app = spawn_app_with(&[("AUTH_INTROSPECTION_CLIENTS", "gateway:s3cret-of-the-gateway")]).await;
    let earliest = time::OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT);
    let earliest_micros = earliest.unix_timestamp_nanos() / 1_000;
    let session = "0197a5c2-6f1e-7c3a-9d4b-2e8f1a6b5c3d";
    let cursors = [
        format!("rev1:{earliest_micros}"),
        format!("rev1:{earliest_micros}:{session}"),
        "rev1:-1".to_owned(),
        format!("rev1:{}", i64::MIN),
        format!("rev1:{}:{session}", i64::MIN),
        format!("rev1:{}", i64::MAX),
    ];
    for cursor in cursors {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&cursor);
        let response = app
            .client
            .get(app.url(&format!("/v1/revocations?since={encoded}")))
            .basic_auth("gateway", Some("s3cret-of-the-gateway"))
            .send()
            .await
            .unwrap_or_else(|error| panic!("{cursor}: the connection dropped: {error}"));
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    }
}

/// The audit log's query at its edges: instants whose UTC form is past year 9999, forged
/// cursors, and limits past any page size are 400s.
#[tokio::test]
async fn crafted_audit_queries_are_400s_not_server_errors() {
    use base64::Engine;
    let app = spawn_app().await;
    let admin = app.signed_in_admin("auditor@example.com").await;
    let get = |query: String| {
        let app = &app;
        let access = admin.access.clone();
        async move {
            let path = format!("/v1/admin/audit?{query}");
            app.get_authorized(&path, &access).await
        }
    };
    for since in
        ["9999-12-31T23:59:59-23:59", "-9999-01-01T00:00:00Z", "+10000-01-01T00:00:00Z", "2025-13-01T00:00:00Z"]
    {
        let response = get(format!("since={}", since.replace('+', "%2B"))).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    }
    // The earliest instant that has a UTC form is an ordinary filter.
    let earliest = get("since=0000-01-01T00:00:00%2B23:59".to_owned()).await;
    assert_eq!(earliest.status(), StatusCode::OK);
    for limit in ["0", "201", "4294967295"] {
        assert_problem(get(format!("limit={limit}")).await, StatusCode::BAD_REQUEST, "validation_failed").await;
    }
    for limit in ["4294967296", "-1", "99999999999999999999999"] {
        assert_problem(get(format!("limit={limit}")).await, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    for position in [i64::MIN.to_string(), "-1".to_owned(), "99999999999999999999".to_owned()] {
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("audit:{position}"));
        assert_problem(get(format!("cursor={cursor}")).await, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    }
}
