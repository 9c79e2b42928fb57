//! Several replicas on one PostgreSQL database and one Redis: the production mode's promise that
//! any replica may serve any request.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, spawn_app_with};
use crate::infra::{fresh_postgres_schema, fresh_redis_prefix, server_url};

/// The settings of one shared deployment: a fresh schema, a fresh Redis prefix, and one mail
/// outbox (any replica's worker may deliver any replica's mail), in a folder kept as long as the
/// returned guard.
async fn shared_deployment(extra: &[(&str, &str)]) -> Option<(Vec<(String, String)>, tempfile::TempDir)> {
    let postgres = server_url("PostgreSQL production-mode tests", "AUTH_TEST_DATABASE_URL")?;
    let redis = server_url("Redis production-mode tests", "AUTH_TEST_REDIS_URL")?;
    let mut settings = vec![
        ("AUTH_DATABASE_URL".to_owned(), fresh_postgres_schema(&postgres).await),
        ("AUTH_REDIS_URL".to_owned(), redis),
        ("AUTH_REDIS_PREFIX".to_owned(), fresh_redis_prefix()),
    ];
    let mail = tempfile::tempdir().expect("a temporary folder");
    settings.push(("AUTH_MAIL_OUTBOX".to_owned(), mail.path().join("outbox").display().to_string()));
    settings.extend(extra.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())));
    Some((settings, mail))
}

async fn replica(settings: &[(String, String)]) -> TestApp {
    let borrowed: Vec<(&str, &str)> = settings.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
    spawn_app_with(&borrowed).await
}

#[tokio::test]
async fn a_logout_on_one_replica_is_refused_at_once_on_another() {
    let Some((settings, _mail)) = shared_deployment(&[]).await else { return };
    let first = replica(&settings).await;
    let second = replica(&settings).await;
    let tokens = first.signed_in_user("ada@example.com").await;
    assert_eq!(second.get_authorized("/v1/users/me", &tokens.access).await.status(), StatusCode::OK);

    assert_eq!(second.post_authorized("/v1/auth/logout", &tokens.access).await.status(), StatusCode::NO_CONTENT);

    assert_problem(
        first.get_authorized("/v1/auth/verify", &tokens.access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    assert_problem(first.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn a_refresh_retried_on_another_replica_gets_the_same_successor_and_reuse_is_caught_anywhere() {
    let Some((settings, _mail)) = shared_deployment(&[("AUTH_REFRESH_GRACE", "2s")]).await else { return };
    let first = replica(&settings).await;
    let second = replica(&settings).await;
    let tokens = first.signed_in_user("ada@example.com").await;

    let (left, right) = tokio::join!(first.refresh(&tokens.refresh), second.refresh(&tokens.refresh));
    assert_eq!(left.status(), StatusCode::OK);
    assert_eq!(right.status(), StatusCode::OK);
    let left = Tokens::from_body(left.json().await.expect("JSON"));
    let right = Tokens::from_body(right.json().await.expect("JSON"));
    assert_eq!(left.refresh, right.refresh, "both replicas hand out the one successor");

    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_problem(second.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_problem(first.get_authorized("/v1/users/me", &left.access).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
}

#[tokio::test]
async fn rate_limits_count_across_replicas() {
    let Some((settings, _mail)) = shared_deployment(&[("AUTH_RATE_LOGIN_EMAIL", "3/15m")]).await else { return };
    let first = replica(&settings).await;
    let second = replica(&settings).await;
    first.signed_in_user("ada@example.com").await;
    for app in [&first, &second, &first] {
        assert_eq!(app.login("ada@example.com", "wrong-password-attempt").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_problem(second.login("ada@example.com", PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        .await;
}

#[tokio::test]
async fn replicas_starting_together_on_an_empty_database_agree_on_one_signing_key() {
    let Some((settings, _mail)) = shared_deployment(&[]).await else { return };
    let (first, second, third) = tokio::join!(replica(&settings), replica(&settings), replica(&settings));
    let mut kids = Vec::new();
    for app in [&first, &second, &third] {
        let jwks: Value =
            app.client.get(app.url("/.well-known/jwks.json")).send().await.expect("sent").json().await.expect("JSON");
        let keys = jwks["keys"].as_array().expect("keys").clone();
        assert_eq!(keys.len(), 1, "one key, not one per replica: {jwks}");
        kids.push(keys[0]["kid"].clone());
    }
    assert!(kids.windows(2).all(|pair| pair[0] == pair[1]), "{kids:?}");
    let tokens = first.signed_in_user("ada@example.com").await;
    assert_eq!(third.get_authorized("/v1/users/me", &tokens.access).await.status(), StatusCode::OK);
}
