//! The revocation feed, `GET /v1/revocations`: resource servers learn of every revoked session,
//! by whatever path it was revoked, with HTTP Basic client credentials.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, jwt_claims, spawn_app_with};

const CLIENTS: (&str, &str) = ("AUTH_INTROSPECTION_CLIENTS", "gateway:s3cret-of-the-gateway");

async fn feed(app: &TestApp, since: Option<&str>) -> (HashMap<String, i64>, String) {
    // Cursors are base64url: safe in a query string as they are.
    let path = since.map_or_else(|| "/v1/revocations".to_owned(), |since| format!("/v1/revocations?since={since}"));
    let response =
        app.client.get(app.url(&path)).basic_auth("gateway", Some("s3cret-of-the-gateway")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("JSON");
    let sessions = body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|entry| (entry["sid"].as_str().expect("sid").to_owned(), entry["exp"].as_i64().expect("exp")))
        .collect();
    (sessions, body["cursor"].as_str().expect("a cursor").to_owned())
}

async fn another_session(app: &TestApp, email: &str) -> Tokens {
    let response = app.login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    Tokens::from_body(response.json().await.expect("a token pair"))
}

#[tokio::test]
async fn only_a_configured_client_reads_the_feed() {
    let app = spawn_app_with(&[CLIENTS]).await;
    let anonymous = app.client.get(app.url("/v1/revocations")).send().await.expect("sent");
    assert_eq!(anonymous.headers()["www-authenticate"], "Basic realm=\"authd\"");
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let wrong = app.client.get(app.url("/v1/revocations")).basic_auth("gateway", Some("guess")).send().await;
    assert_problem(wrong.expect("sent"), StatusCode::UNAUTHORIZED, "invalid_client").await;
    let user = app.signed_in_user("ada@example.com").await;
    let bearer = app.get_authorized("/v1/revocations", &user.access).await;
    assert_problem(bearer, StatusCode::UNAUTHORIZED, "invalid_client").await;

    let forged = app
        .client
        .get(app.url("/v1/revocations?since=not-a-cursor"))
        .basic_auth("gateway", Some("s3cret-of-the-gateway"))
        .send()
        .await
        .expect("sent");
    assert_problem(forged, StatusCode::BAD_REQUEST, "invalid_cursor").await;
}

#[tokio::test]
async fn logout_logout_all_password_change_deletion_and_disabling_each_list_what_they_revoked() {
    let app = spawn_app_with(&[CLIENTS]).await;
    let (nothing, cursor) = feed(&app, None).await;
    assert!(nothing.is_empty(), "{nothing:?}");

    let laptop = app.signed_in_user("ada@example.com").await;
    let phone = another_session(&app, "ada@example.com").await;
    let tablet = another_session(&app, "ada@example.com").await;
    let grace = app.signed_in_user("grace@example.com").await;
    let grace_phone = another_session(&app, "grace@example.com").await;
    let bystander = app.signed_in_user("linus@example.com").await;

    // A logout lists its session, refused until its last access token could have expired.
    assert_eq!(app.post_authorized("/v1/auth/logout", &laptop.access).await.status(), StatusCode::NO_CONTENT);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (after_logout, cursor) = feed(&app, Some(&cursor)).await;
    assert_eq!(after_logout.keys().collect::<Vec<_>>(), [&laptop.session_id]);
    let exp = after_logout[&laptop.session_id];
    assert!((now + 15 * 60..=now + 17 * 60).contains(&exp), "exp {exp} is about the access TTL from now ({now})");

    // A password change lists every other session of the account; this one stays.
    let changed = app
        .client
        .post(app.url("/v1/users/me/password"))
        .bearer_auth(&phone.access)
        .json(&json!({ "current_password": PASSWORD, "new_password": "a-brand-new-passphrase-42" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let (after_change, cursor) = feed(&app, Some(&cursor)).await;
    assert!(after_change.contains_key(&tablet.session_id), "{after_change:?}");
    assert!(!after_change.contains_key(&phone.session_id), "{after_change:?}");

    // Logout-all lists the sessions it ended.
    assert_eq!(app.post_authorized("/v1/auth/logout-all", &phone.access).await.status(), StatusCode::NO_CONTENT);
    let (after_logout_all, cursor) = feed(&app, Some(&cursor)).await;
    assert!(after_logout_all.contains_key(&phone.session_id), "{after_logout_all:?}");

    // Deleting the account lists its sessions, although the sessions themselves are gone.
    let deleted = app
        .client
        .delete(app.url("/v1/users/me"))
        .bearer_auth(&grace.access)
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (after_deletion, cursor) = feed(&app, Some(&cursor)).await;
    for session in [&grace.session_id, &grace_phone.session_id] {
        assert!(after_deletion.contains_key(session), "{after_deletion:?}");
    }

    // Disabling an account lists its sessions.
    let alan = app.signed_in_user("alan@example.com").await;
    let admin = app.signed_in_admin("admin@example.com").await;
    let alan_id = jwt_claims(&alan.access)["sub"].as_str().expect("sub").to_owned();
    let path = format!("/v1/admin/users/{alan_id}");
    let disabled = app.request(Method::PATCH, &path, &admin.access, Some(&json!({ "disabled": true }))).await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let (after_disabling, _) = feed(&app, Some(&cursor)).await;
    assert!(after_disabling.contains_key(&alan.session_id), "{after_disabling:?}");

    // A verifier starting now reads every revocation whose tokens may still be live, and never a
    // session that was not revoked.
    let (everything, _) = feed(&app, None).await;
    for session in [&laptop, &phone, &tablet, &grace, &grace_phone, &alan] {
        assert!(everything.contains_key(&session.session_id), "{everything:?}");
    }
    for live in [&bystander, &admin] {
        assert!(!everything.contains_key(&live.session_id));
    }
    assert_eq!(everything.len(), 6, "{everything:?}");
}

#[tokio::test]
async fn guessing_a_client_secret_is_throttled_on_the_feed_and_introspection_alike_for_that_client_id() {
    let app = spawn_app_with(&[CLIENTS]).await;
    let guess =
        |secret: &'static str| app.client.get(app.url("/v1/revocations")).basic_auth("gateway", Some(secret)).send();
    // Ten wrong guesses, half of them at the introspection endpoint: one count for the address.
    for attempt in 0..10 {
        let response = if attempt % 2 == 0 {
            guess("wrong-guess").await.expect("sent")
        } else {
            app.client
                .post(app.url("/oauth/introspect"))
                .basic_auth("gateway", Some("wrong-guess"))
                .form(&[("token", "anything")])
                .send()
                .await
                .expect("sent")
        };
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Now even the right secret waits, at both endpoints.
    let throttled = guess("s3cret-of-the-gateway").await.expect("sent");
    assert!(throttled.headers().contains_key("retry-after"));
    assert_problem(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let introspection = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth("gateway", Some("s3cret-of-the-gateway"))
        .form(&[("token", "anything")])
        .send()
        .await
        .expect("sent");
    assert_eq!(introspection.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = introspection.json().await.expect("an OAuth error");
    assert_eq!(body["error"], "temporarily_unavailable");
    // Another client id at the same address is not locked out by this one's failures.
    let other = app.client.get(app.url("/v1/revocations")).basic_auth("billing", Some("wrong")).send().await;
    assert_eq!(other.expect("sent").status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_polling_with_the_right_secret_is_never_throttled() {
    let app = spawn_app_with(&[CLIENTS]).await;
    let mut cursor: Option<String> = None;
    for _ in 0..30 {
        let (_, next) = feed(&app, cursor.as_deref()).await;
        cursor = Some(next);
    }
}
