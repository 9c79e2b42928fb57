//! Refresh-token rotation: the grace window for retries, and reuse detection after it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Tokens, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_retry_inside_the_grace_window_gets_the_same_successor() {
    let app = spawn_app().await;
    let tokens = app.signed_in_user("ada@example.com").await;
    let first: Value = app.refresh(&tokens.refresh).await.json().await.expect("JSON");
    let retry: Value = app.refresh(&tokens.refresh).await.json().await.expect("JSON");
    assert_eq!(first["refresh_token"], retry["refresh_token"]);
    assert_ne!(first["refresh_token"], tokens.refresh.as_str());
    let onward = app.refresh(first["refresh_token"].as_str().expect("token")).await;
    assert_eq!(onward.status(), StatusCode::OK, "the successor keeps working");
}

#[tokio::test]
async fn two_concurrent_refreshes_of_one_token_get_the_identical_successor() {
    let app = spawn_app().await;
    let tokens = app.signed_in_user("ada@example.com").await;
    let (left, right) = tokio::join!(app.refresh(&tokens.refresh), app.refresh(&tokens.refresh));
    assert_eq!(left.status(), StatusCode::OK);
    assert_eq!(right.status(), StatusCode::OK);
    let left = Tokens::from_body(left.json().await.expect("JSON"));
    let right = Tokens::from_body(right.json().await.expect("JSON"));
    assert_eq!(left.refresh, right.refresh);
    assert_eq!(left.session_id, right.session_id);
    let me = app.get_authorized("/v1/users/me", &left.access).await;
    assert_eq!(me.status(), StatusCode::OK, "the session was not harmed");
}

#[tokio::test]
async fn reuse_after_the_grace_window_revokes_the_whole_session() {
    let app = spawn_app_with(&[("AUTH_REFRESH_GRACE", "1s")]).await;
    let tokens = app.signed_in_user("ada@example.com").await;
    let rotated = Tokens::from_body(app.refresh(&tokens.refresh).await.json().await.expect("JSON"));
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let reused = app.refresh(&tokens.refresh).await;
    assert_problem(reused, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;

    let successor = app.refresh(&rotated.refresh).await;
    assert_problem(successor, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    let access = app.get_authorized("/v1/users/me", &rotated.access).await;
    assert_problem(access, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn an_unknown_or_malformed_refresh_token_is_refused() {
    let app = spawn_app().await;
    let unknown = app.refresh("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    assert_problem(unknown, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    let malformed = app.refresh("definitely not a token").await;
    assert_problem(malformed, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}
