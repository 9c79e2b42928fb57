//! Outages: a slow or dead PostgreSQL or Redis gets a prompt 503 (never a hang, never a 500),
//! `/readyz` names what failed, and the service recovers without a restart.

use std::time::{Duration, Instant};

use auth_http::startup::MigrationPolicy;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, spawn_app_with, try_spawn_app};
use crate::infra::{
    FaultyProxy, Link, eventually, fresh_postgres_schema, fresh_redis_prefix, host_port, server_url, through_port,
};

/// The most a request may take when a backing service hangs: its timeout plus slack for a loaded
/// CI machine.
const PROMPT: Duration = Duration::from_secs(4);

async fn readiness(app: &TestApp) -> (StatusCode, Value) {
    let response = app.client.get(app.url("/readyz")).send().await.expect("sent");
    (response.status(), response.json().await.expect("JSON"))
}

/// An app whose PostgreSQL traffic passes through a proxy the test controls.
async fn app_behind_a_database_proxy() -> Option<(TestApp, FaultyProxy)> {
    let postgres = server_url("PostgreSQL fault tests", "AUTH_TEST_DATABASE_URL")?;
    let url = fresh_postgres_schema(&postgres).await;
    let proxy = FaultyProxy::start(host_port(&url)).await;
    let proxied = through_port(&url, proxy.port);
    let app = spawn_app_with(&[("AUTH_DATABASE_URL", &proxied), ("AUTH_DATABASE_TIMEOUT", "500ms")]).await;
    Some((app, proxy))
}

#[tokio::test]
async fn a_hanging_database_gets_a_prompt_503_and_the_service_recovers() {
    let Some((app, proxy)) = app_behind_a_database_proxy().await else { return };
    let tokens = app.signed_in_user("ada@example.com").await;

    proxy.set(Link::Stalled);
    let started = Instant::now();
    let response = app.get_authorized("/v1/users/me", &tokens.access).await;
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["database"], "unavailable");

    proxy.set(Link::Up);
    eventually("the service recovering", Duration::from_secs(15), || async {
        app.get_authorized("/v1/users/me", &tokens.access).await.status() == StatusCode::OK
    })
    .await;
    assert_eq!(readiness(&app).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_dead_database_gets_503_and_logins_work_again_once_it_is_back() {
    let Some((app, proxy)) = app_behind_a_database_proxy().await else { return };
    app.signed_in_user("ada@example.com").await;

    proxy.set(Link::Down);
    let started = Instant::now();
    let login = app.login("ada@example.com", crate::helpers::PASSWORD).await;
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert_problem(login, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;

    proxy.set(Link::Up);
    eventually("logins working again", Duration::from_secs(15), || async {
        app.login("ada@example.com", crate::helpers::PASSWORD).await.status() == StatusCode::OK
    })
    .await;
}

#[tokio::test]
async fn the_service_starts_while_the_database_is_down_and_becomes_ready_when_it_returns() {
    let Some(postgres) = server_url("PostgreSQL fault tests", "AUTH_TEST_DATABASE_URL") else { return };
    let url = fresh_postgres_schema(&postgres).await;
    let proxy = FaultyProxy::start(host_port(&url)).await;
    proxy.set(Link::Down);
    let proxied = through_port(&url, proxy.port);
    let app = spawn_app_with(&[("AUTH_DATABASE_URL", &proxied), ("AUTH_DATABASE_TIMEOUT", "500ms")]).await;

    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["database"], "unavailable");
    assert_eq!(body["checks"]["signing_keys"], "unavailable");
    let register = app.register("ada@example.com", crate::helpers::PASSWORD).await;
    assert_problem(register, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;

    proxy.set(Link::Up);
    eventually("readiness", Duration::from_secs(20), || async { readiness(&app).await.0 == StatusCode::OK }).await;
    app.signed_in_user("ada@example.com").await;
}

#[tokio::test]
async fn a_redis_outage_refuses_tokens_with_503_and_the_service_recovers() {
    let Some(redis) = server_url("Redis fault tests", "AUTH_TEST_REDIS_URL") else { return };
    let proxy = FaultyProxy::start(host_port(&redis)).await;
    let proxied = through_port(&redis, proxy.port);
    let prefix = fresh_redis_prefix();
    let app = spawn_app_with(&[
        ("AUTH_REDIS_URL", &proxied),
        ("AUTH_REDIS_PREFIX", &prefix),
        ("AUTH_REDIS_TIMEOUT", "300ms"),
    ])
    .await;
    let tokens = app.signed_in_user("ada@example.com").await;
    assert_eq!(app.get_authorized("/v1/auth/verify", &tokens.access).await.status(), StatusCode::OK);

    for link in [Link::Stalled, Link::Down] {
        proxy.set(link);
        let started = Instant::now();
        // Fail closed: a token whose revocation cannot be checked is not honoured.
        let refused = app.get_authorized("/v1/auth/verify", &tokens.access).await;
        assert!(started.elapsed() < PROMPT, "took {:?} with the link {link:?}", started.elapsed());
        assert_problem(refused, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
        let (status, body) = readiness(&app).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"]["cache"], "unavailable");
        assert_eq!(body["checks"]["database"], "ok");
    }

    proxy.set(Link::Up);
    eventually("the service recovering", Duration::from_secs(15), || async {
        app.get_authorized("/v1/auth/verify", &tokens.access).await.status() == StatusCode::OK
    })
    .await;
}

#[tokio::test]
async fn serve_refuses_pending_migrations_unless_told_to_migrate() {
    let Some(postgres) = server_url("PostgreSQL production-mode tests", "AUTH_TEST_DATABASE_URL") else { return };
    let url = fresh_postgres_schema(&postgres).await;
    let refused = try_spawn_app(&[("AUTH_DATABASE_URL", &url)], MigrationPolicy::Refuse).await;
    let message = format!("{:#}", refused.err().expect("pending migrations stop serve"));
    assert!(message.contains("pending") && message.contains("auth-http migrate"), "{message}");

    try_spawn_app(&[("AUTH_DATABASE_URL", &url)], MigrationPolicy::Apply).await.expect("serve --migrate applies them");
    let app =
        try_spawn_app(&[("AUTH_DATABASE_URL", &url)], MigrationPolicy::Refuse).await.expect("nothing pending now");
    assert_eq!(readiness(&app).await.0, StatusCode::OK);
}
