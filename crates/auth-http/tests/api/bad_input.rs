//! Bad input gets a clear 4xx problem document: never a 5xx, never a panic.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

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
