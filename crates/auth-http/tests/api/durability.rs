//! Revocations that survive restarts, cache loss and races (issue 15, items 1 to 4, 8 and 11):
//! a restart of the embedded mode, a Redis that lost its keys, a role removal in the second of a
//! login, a command-line role removal beside a running server, logins in flight during a password
//! reset, a role removal seen by a downstream verifier, and second-factor changes that need a
//! fresh proof.

use std::time::{Duration, Instant};

use auth_http::startup::{Application, MigrationPolicy};
use auth_verifier::{RevocationFeed, Verifier};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, jwt_claims, spawn_app, spawn_app_with};
use crate::infra::{fresh_postgres_schema, fresh_redis_prefix, server_url};

/// A second process on the same settings (and so the same database), started with an empty
/// in-process store, as a restart is; returns its address.
async fn restarted(app: &TestApp) -> String {
    let application = Application::build(app.settings.clone(), MigrationPolicy::Apply).await.expect("it builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    address
}

/// The status `GET path` with `token` gets from the server at `address`.
async fn status_at(app: &TestApp, address: &str, path: &str, token: &str) -> StatusCode {
    app.client.get(format!("{address}{path}")).bearer_auth(token).send().await.expect("sent").status()
}

/// Runs `auth-http ARGS` against the app's database, as an operator beside the server would.
async fn cli(environment: Vec<(String, String)>, args: &[&str]) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_auth-http"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("AUTH_")) {
        command.env_remove(key);
    }
    command.args(args).envs(environment).env("AUTH_LOG_FORMAT", "json");
    let output = tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .expect("the command finishes");
    assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// What the command line needs to reach a deployment's database: the tests' master key.
fn cli_environment(database_url: &str, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut environment = vec![
        ("AUTH_DATABASE_URL".to_owned(), database_url.to_owned()),
        ("AUTH_MASTER_KEY".to_owned(), base64::engine::general_purpose::STANDARD.encode([42u8; 32])),
    ];
    environment.extend(extra.iter().cloned());
    environment
}

fn embedded_database_url(app: &TestApp) -> String {
    format!("sqlite://{}", app.data.path().join("auth.db").display())
}

/// Polls until `check` holds, or fails after `within`.
async fn within<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// Item 1: revocations survive a restart of the embedded mode.

#[tokio::test]
async fn a_restart_of_the_embedded_mode_never_revives_a_logged_out_or_disabled_users_token() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("admin@example.com").await;
    let logged_out = app.signed_in_user("ada@example.com").await;
    assert_eq!(app.post_authorized("/v1/auth/logout", &logged_out.access).await.status(), StatusCode::NO_CONTENT);
    let disabled = app.signed_in_user("bob@example.com").await;
    let bob = jwt_claims(&disabled.access)["sub"].as_str().expect("a subject").to_owned();
    let disable = app
        .request(Method::PATCH, &format!("/v1/admin/users/{bob}"), &admin.access, Some(&json!({ "disabled": true })))
        .await;
    assert_eq!(disable.status(), StatusCode::OK);
    let live = app.signed_in_user("cy@example.com").await;

    let address = restarted(&app).await;

    for (who, token) in [("logged out", &logged_out.access), ("disabled", &disabled.access)] {
        for path in ["/v1/auth/verify", "/v1/users/me"] {
            assert_eq!(status_at(&app, &address, path, token).await, StatusCode::UNAUTHORIZED, "{who}: {path}");
        }
    }
    assert_eq!(status_at(&app, &address, "/v1/auth/verify", &live.access).await, StatusCode::OK, "a live token");
}

// Item 1: revocations survive a Redis that lost its keys (restarted empty, evicted, flushed).

/// The settings of a production-mode deployment, or `None` (the suite says it skips).
async fn production(extra: &[(&str, &str)]) -> Option<(Vec<(String, String)>, tempfile::TempDir)> {
    let postgres = server_url("PostgreSQL durability tests", "AUTH_TEST_DATABASE_URL")?;
    let redis = server_url("Redis durability tests", "AUTH_TEST_REDIS_URL")?;
    let mail = tempfile::tempdir().expect("a temporary folder");
    let mut settings = vec![
        ("AUTH_DATABASE_URL".to_owned(), fresh_postgres_schema(&postgres).await),
        ("AUTH_REDIS_URL".to_owned(), redis),
        ("AUTH_REDIS_PREFIX".to_owned(), fresh_redis_prefix()),
        ("AUTH_MAIL_OUTBOX".to_owned(), mail.path().join("outbox").display().to_string()),
    ];
    settings.extend(extra.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())));
    Some((settings, mail))
}

async fn replica(settings: &[(String, String)]) -> TestApp {
    let borrowed: Vec<(&str, &str)> = settings.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
    spawn_app_with(&borrowed).await
}

fn setting<'a>(settings: &'a [(String, String)], name: &str) -> &'a str {
    &settings.iter().find(|(key, _)| key == name).expect("the setting is there").1
}

/// Deletes every key of the deployment's prefix, as a Redis restart without persistence, a
/// flush, or an eviction of the revocation marks does.
async fn lose_every_redis_key(settings: &[(String, String)]) {
    let client = redis::Client::open(setting(settings, "AUTH_REDIS_URL")).expect("a valid URL");
    let mut connection = client.get_multiplexed_async_connection().await.expect("Redis answers");
    let pattern = format!("{}*", setting(settings, "AUTH_REDIS_PREFIX"));
    let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut connection).await.expect("listed");
    assert!(!keys.is_empty(), "the deployment wrote its marks to Redis");
    let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut connection).await.expect("deleted");
}

#[tokio::test]
async fn a_redis_that_lost_its_keys_never_revives_a_revoked_token() {
    let Some((settings, _mail)) = production(&[]).await else { return };
    let app = replica(&settings).await;
    let logged_out = app.signed_in_user("ada@example.com").await;
    assert_eq!(app.post_authorized("/v1/auth/logout", &logged_out.access).await.status(), StatusCode::NO_CONTENT);
    let live = app.signed_in_user("bob@example.com").await;
    assert_eq!(app.get_authorized("/v1/users/me", &logged_out.access).await.status(), StatusCode::UNAUTHORIZED);

    lose_every_redis_key(&settings).await;

    // The replica that was running, and one started afterwards: both rebuild from PostgreSQL.
    assert_eq!(app.get_authorized("/v1/users/me", &logged_out.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_authorized("/v1/auth/verify", &logged_out.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_authorized("/v1/users/me", &live.access).await.status(), StatusCode::OK);
    lose_every_redis_key(&settings).await;
    let restarted = replica(&settings).await;
    assert_eq!(restarted.get_authorized("/v1/users/me", &logged_out.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(restarted.get_authorized("/v1/users/me", &live.access).await.status(), StatusCode::OK);
}

// Item 2: a role removal ends the tokens of the very second it happens in.

/// Waits for the start of a wall-clock second, where a mark by the second would miss the token.
async fn start_of_a_second() {
    let into = time::OffsetDateTime::now_utc().millisecond();
    tokio::time::sleep(Duration::from_millis(u64::from(1_000 - into) + 5)).await;
}

async fn a_role_removed_in_the_second_of_a_login_ends_its_token(app: &TestApp, grant: Vec<(String, String)>) {
    let admin = {
        app.signed_in_user("admin@example.com").await;
        cli(grant.clone(), &["users", "grant-role", "admin@example.com", "admin"]).await;
        Tokens::from_body(app.login("admin@example.com", PASSWORD).await.json().await.expect("a token pair"))
    };
    app.signed_in_user("ada@example.com").await;
    cli(grant.clone(), &["users", "grant-role", "ada@example.com", "admin"]).await;
    for _ in 0..3 {
        start_of_a_second().await;
        let ada = Tokens::from_body(app.login("ada@example.com", PASSWORD).await.json().await.expect("a token pair"));
        assert_eq!(jwt_claims(&ada.access)["roles"], json!(["admin"]));
        let ada_id = jwt_claims(&ada.access)["sub"].as_str().expect("a subject").to_owned();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let path = format!("/v1/admin/users/{ada_id}");
        let demoted = app.request(Method::PATCH, &path, &admin.access, Some(&json!({ "roles": [] }))).await;
        assert_eq!(demoted.status(), StatusCode::OK);

        assert_eq!(app.get_authorized("/v1/auth/verify", &ada.access).await.status(), StatusCode::UNAUTHORIZED);
        let regrant = app.request(Method::PATCH, &path, &ada.access, Some(&json!({ "roles": ["admin"] }))).await;
        assert_eq!(regrant.status(), StatusCode::UNAUTHORIZED, "the demoted token cannot grant the role back");
        cli(grant.clone(), &["users", "grant-role", "ada@example.com", "admin"]).await;
    }
    // And an administrator changes no role of its own, not even adding one.
    let admin_id = jwt_claims(&admin.access)["sub"].as_str().expect("a subject").to_owned();
    let own = app
        .request(
            Method::PATCH,
            &format!("/v1/admin/users/{admin_id}"),
            &admin.access,
            Some(&json!({ "roles": ["admin", "billing"] })),
        )
        .await;
    assert_problem(own, StatusCode::CONFLICT, "self_lockout").await;
}

#[tokio::test]
async fn a_role_removed_in_the_second_of_a_login_ends_its_token_in_the_embedded_mode() {
    let app = spawn_app().await;
    let grant = cli_environment(&embedded_database_url(&app), &[]);
    a_role_removed_in_the_second_of_a_login_ends_its_token(&app, grant).await;
}

#[tokio::test]
async fn a_role_removed_in_the_second_of_a_login_ends_its_token_with_postgres_and_redis() {
    let Some((settings, _mail)) = production(&[]).await else { return };
    let app = replica(&settings).await;
    let grant = cli_environment(setting(&settings, "AUTH_DATABASE_URL"), &[]);
    a_role_removed_in_the_second_of_a_login_ends_its_token(&app, grant).await;
}

// Item 3: a command-line role removal reaches a running embedded server.

#[tokio::test]
async fn a_command_line_role_removal_reaches_a_running_embedded_server_within_seconds() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("ada@example.com").await;
    assert_eq!(app.get_authorized("/v1/admin/users", &admin.access).await.status(), StatusCode::OK);

    cli(cli_environment(&embedded_database_url(&app), &[]), &["users", "revoke-role", "ada@example.com", "admin"])
        .await;

    within("the removal reaching the server", Duration::from_secs(3), || async {
        app.get_authorized("/v1/auth/verify", &admin.access).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(app.get_authorized("/v1/admin/users", &admin.access).await.status(), StatusCode::UNAUTHORIZED);
}

// Item 4: a login in flight during a password reset yields no session that outlives it.

#[tokio::test]
async fn logins_in_flight_during_a_password_reset_yield_no_session_that_outlives_it() {
    let app = spawn_app_with(&[
        ("AUTH_RATE_LOGIN_IP", "off"),
        ("AUTH_RATE_LOGIN_EMAIL", "off"),
        ("AUTH_RATE_REGISTER_IP", "off"),
        ("AUTH_RATE_EMAIL_SEND", "off"),
    ])
    .await;
    app.signed_in_user("ada@example.com").await;
    let passwords =
        [PASSWORD, "amber-heron-counts-the-tides", "quiet-walrus-paints-at-noon", "brisk-lemur-hums-a-fugue"];
    for round in 0..passwords.len() - 1 {
        let (old, new) = (passwords[round], passwords[round + 1]);
        // Only this round's link in the outbox.
        for mail in std::fs::read_dir(&app.outbox).into_iter().flatten().filter_map(Result::ok) {
            std::fs::remove_file(mail.path()).expect("an old mail is removed");
        }
        let forgot = app.post_json("/v1/auth/password/forgot", &json!({ "email": "ada@example.com" })).await;
        assert_eq!(forgot.status(), StatusCode::ACCEPTED);
        let reset_token = app.wait_for_mail("a reset link", |mail| mail.contains("/reset-password?token=")).await;
        let reset_token = crate::helpers::link_token(&reset_token, "/reset-password?token=");
        let logins: Vec<_> = (0..6)
            .map(|n| {
                let app_client = (app.client.clone(), app.url("/v1/auth/login"));
                async move {
                    tokio::time::sleep(Duration::from_millis(n * 7)).await;
                    let body = json!({ "email": "ada@example.com", "password": old });
                    app_client.0.post(app_client.1).json(&body).send().await.expect("sent")
                }
            })
            .collect();
        let reset = async {
            tokio::time::sleep(Duration::from_millis(15)).await;
            let body = json!({ "token": reset_token, "new_password": new });
            app.post_json("/v1/auth/password/reset", &body).await
        };
        let (responses, reset) = tokio::join!(futures_util::future::join_all(logins), reset);
        assert_eq!(reset.status(), StatusCode::NO_CONTENT, "round {round}");
        for response in responses {
            if response.status() != StatusCode::OK {
                continue;
            }
            let tokens = Tokens::from_body(response.json::<Value>().await.expect("a token pair"));
            assert_eq!(
                app.get_authorized("/v1/users/me", &tokens.access).await.status(),
                StatusCode::UNAUTHORIZED,
                "round {round}: a session opened on the old password outlived the reset"
            );
            assert_eq!(app.refresh(&tokens.refresh).await.status(), StatusCode::UNAUTHORIZED, "round {round}");
        }
    }
}

// Item 8: a downstream verifier hears of a role removal through the revocation feed.

#[tokio::test]
async fn a_downstream_verifier_refuses_a_token_whose_role_was_removed() {
    let app = spawn_app_with(&[("AUTH_INTROSPECTION_CLIENTS", "downstream:s3cret-of-downstream")]).await;
    let verifier = Verifier::builder("http://auth.test", "authd")
        .jwks_url(app.url("/.well-known/jwks.json"))
        .revocation_feed(RevocationFeed::at_base_url(&app.address, "downstream", "s3cret-of-downstream"))
        .build()
        .await
        .expect("the verifier starts");
    let admin = app.signed_in_admin("admin@example.com").await;
    let ada = app.signed_in_admin("ada@example.com").await;
    let claims = verifier.verify(&ada.access).await.expect("a live admin token verifies downstream");
    assert!(claims.roles().iter().any(|role| role == "admin"));

    let ada_id = jwt_claims(&ada.access)["sub"].as_str().expect("a subject").to_owned();
    let path = format!("/v1/admin/users/{ada_id}");
    let demoted = app.request(Method::PATCH, &path, &admin.access, Some(&json!({ "roles": [] }))).await;
    assert_eq!(demoted.status(), StatusCode::OK);

    within("the verifier refusing the demoted token", Duration::from_secs(6), || async {
        verifier.verify(&ada.access).await.is_err()
    })
    .await;
}

// Item 11: a second factor is changed only with a fresh proof.

/// Makes the caller's session look signed in `minutes` ago, as if it were refreshed since.
fn age_session(app: &TestApp, session_id: &str, minutes: i64) {
    use diesel::{Connection, RunQueryDsl, SqliteConnection};
    let mut connection =
        SqliteConnection::establish(&app.data.path().join("auth.db").display().to_string()).expect("the database");
    diesel::sql_query("PRAGMA busy_timeout = 5000").execute(&mut connection).expect("a busy timeout");
    let created = (time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formatted");
    // The stored form is fixed-width UTC text with microseconds.
    let created = format!("{}.000000Z", &created[..19]);
    let updated = diesel::sql_query("UPDATE sessions SET created_at = ? WHERE id = ?")
        .bind::<diesel::sql_types::Text, _>(created)
        .bind::<diesel::sql_types::Text, _>(session_id)
        .execute(&mut connection)
        .expect("updated");
    assert_eq!(updated, 1);
}

#[tokio::test]
async fn a_stolen_token_alone_cannot_enrol_or_remove_a_second_factor_after_five_minutes() {
    let app = spawn_app().await;
    let ada = app.signed_in_user("ada@example.com").await;
    age_session(&app, &ada.session_id, 6);

    let without = app.post_authorized("/v1/users/me/mfa/totp", &ada.access).await;
    assert_problem(without, StatusCode::FORBIDDEN, "reauthentication_required").await;
    let wrong = app
        .request(Method::POST, "/v1/users/me/mfa/totp", &ada.access, Some(&json!({ "password": "not-the-password" })))
        .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let removal =
        app.request(Method::DELETE, "/v1/users/me/mfa/totp", &ada.access, Some(&json!({ "code": "123456" }))).await;
    assert_problem(removal, StatusCode::FORBIDDEN, "reauthentication_required").await;

    let with =
        app.request(Method::POST, "/v1/users/me/mfa/totp", &ada.access, Some(&json!({ "password": PASSWORD }))).await;
    assert_eq!(with.status(), StatusCode::OK, "the password is a fresh proof");

    let fresh = Tokens::from_body(app.login("ada@example.com", PASSWORD).await.json().await.expect("a token pair"));
    assert_eq!(app.post_authorized("/v1/users/me/mfa/totp", &fresh.access).await.status(), StatusCode::OK);
}
