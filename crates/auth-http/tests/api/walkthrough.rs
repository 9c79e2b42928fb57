//! The README's walkthrough, and the outcomes around it: register, verify, log in, use, refresh.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Tokens, assert_problem, spawn_app};

fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).expect("a JWS part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

#[tokio::test]
async fn the_full_walkthrough_works() {
    let app = spawn_app().await;

    let registered = app
        .post_json(
            "/v1/auth/register",
            &json!({ "email": " Ada@Example.com ", "password": PASSWORD, "display_name": "Ada" }),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::ACCEPTED);
    assert_eq!(registered.json::<Value>().await.expect("JSON"), json!({ "status": "verification_sent" }));

    app.wait_for_mail("verification mail", |mail| mail.contains("To: ada@example.com")).await;
    let mails = app.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("http://auth.test/verify-email?token="), "the link uses AUTH_PUBLIC_URL");

    let before_verification = app.login("ada@example.com", PASSWORD).await;
    assert_problem(before_verification, StatusCode::FORBIDDEN, "email_not_verified").await;

    let token = app.verification_token("ada@example.com").await;
    let verified = app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let verified: Value = verified.json().await.expect("JSON");
    assert_eq!(verified["user"]["email"], "ada@example.com");
    assert_eq!(verified["user"]["email_verified"], true);
    assert_eq!(verified["user"]["display_name"], "Ada");

    let login = app.login("ADA@example.com", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.headers()["cache-control"], "no-store");
    assert_eq!(login.headers()["pragma"], "no-cache");
    let tokens = Tokens::from_body(login.json().await.expect("a token pair"));
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 900);
    assert_eq!(tokens.body["refresh_expires_in"], 7 * 24 * 3600);
    assert_eq!(tokens.body["user"]["id"], verified["user"]["id"]);
    assert!(tokens.refresh.len() >= 43, "at least 256 bits of randomness");

    let header = jwt_part(&tokens.access, 0);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let claims = jwt_part(&tokens.access, 1);
    assert_eq!(claims["iss"], "http://auth.test");
    assert_eq!(claims["aud"], "authd");
    assert_eq!(claims["sub"], verified["user"]["id"]);
    assert_eq!(claims["sid"], tokens.session_id);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["email_verified"], true);
    for claim in ["exp", "iat", "nbf", "jti", "roles"] {
        assert!(claims.get(claim).is_some(), "the token carries {claim}");
    }

    let jwks: Value =
        app.client.get(app.url("/.well-known/jwks.json")).send().await.expect("sent").json().await.expect("JSON");
    assert!(jwks["keys"].as_array().expect("keys").iter().any(|key| key["kid"] == header["kid"]));

    let me = app.get_authorized("/v1/users/me", &tokens.access).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().await.expect("JSON")["email"], "ada@example.com");

    let renamed = app
        .client
        .patch(app.url("/v1/users/me"))
        .bearer_auth(&tokens.access)
        .json(&json!({ "display_name": "Ada Lovelace" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(renamed.json::<Value>().await.expect("JSON")["display_name"], "Ada Lovelace");
    let me: Value = app.get_authorized("/v1/users/me", &tokens.access).await.json().await.expect("JSON");
    assert_eq!(me["display_name"], "Ada Lovelace", "GET /me reads the account as stored now");

    let gateway = app.get_authorized("/v1/auth/verify", &tokens.access).await;
    assert_eq!(gateway.status(), StatusCode::OK);
    assert_eq!(gateway.headers()["x-auth-user-id"], me["id"].as_str().expect("id"));
    assert_eq!(gateway.headers()["x-auth-session-id"], tokens.session_id.as_str());
    assert_eq!(gateway.headers()["x-auth-roles"], "");

    let refreshed = app.refresh(&tokens.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = Tokens::from_body(refreshed.json().await.expect("a token pair"));
    assert_ne!(refreshed.refresh, tokens.refresh);
    assert_eq!(refreshed.session_id, tokens.session_id);

    let logout = app.post_authorized("/v1/auth/logout", &refreshed.access).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let after = app.get_authorized("/v1/users/me", &refreshed.access).await;
    assert_problem(after, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn registering_a_known_email_looks_the_same_and_mails_a_notice() {
    let app = spawn_app().await;
    let first = app.register("grace@example.com", PASSWORD).await;
    let second = app.register("Grace@Example.com", "another-long-passphrase-9").await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(first.text().await.expect("body"), second.text().await.expect("body"));
    let notice =
        app.wait_for_mail("already-registered notice", |mail| mail.contains("You already have an account")).await;
    assert!(!notice.contains("token="), "the notice carries no verification link");
    assert_eq!(app.mails().len(), 2);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_are_refused_alike() {
    let app = spawn_app().await;
    app.signed_in_user("linus@example.com").await;
    let wrong = assert_problem(
        app.login("linus@example.com", "not-the-password-at-all").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = assert_problem(
        app.login("nobody@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    for field in ["type", "title", "status", "detail", "code"] {
        assert_eq!(wrong[field], unknown[field], "{field} must not tell the two apart");
    }
}

#[tokio::test]
async fn a_verification_token_works_once() {
    let app = spawn_app().await;
    app.register("barbara@example.com", PASSWORD).await;
    let token = app.verification_token("barbara@example.com").await;
    let first = app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = app.post_json("/v1/auth/verify-email", &json!({ "token": token })).await;
    assert_problem(second, StatusCode::BAD_REQUEST, "invalid_token").await;
    let garbage = app.post_json("/v1/auth/verify-email", &json!({ "token": "not-a-token" })).await;
    assert_problem(garbage, StatusCode::BAD_REQUEST, "invalid_token").await;
}

#[tokio::test]
async fn resending_voids_the_previous_link_and_always_answers_202() {
    let app = spawn_app().await;
    app.register("edsger@example.com", PASSWORD).await;
    let old_token = app.verification_token("edsger@example.com").await;
    for email in ["edsger@example.com", "stranger@example.com", "not-an-email"] {
        let resent = app.post_json("/v1/auth/verify-email/resend", &json!({ "email": email })).await;
        assert_eq!(resent.status(), StatusCode::ACCEPTED, "for {email}");
    }
    // The mail is sent after the answer, so that the answer's timing says nothing about the account.
    crate::infra::eventually("the resent mail", std::time::Duration::from_secs(5), || async { app.mails().len() >= 2 })
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.mails().len(), 2, "only the known, unverified address got a mail");
    let new_token = app.verification_token("edsger@example.com").await;
    assert_ne!(old_token, new_token);
    let old = app.post_json("/v1/auth/verify-email", &json!({ "token": old_token })).await;
    assert_problem(old, StatusCode::BAD_REQUEST, "invalid_token").await;
    let new = app.post_json("/v1/auth/verify-email", &json!({ "token": new_token })).await;
    assert_eq!(new.status(), StatusCode::OK);
}

#[tokio::test]
async fn health_readiness_and_request_ids() {
    let app = spawn_app().await;
    let health = app.client.get(app.url("/healthz")).header("x-request-id", "trace-me.1").send().await.expect("sent");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.headers()["x-request-id"], "trace-me.1");
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    assert_eq!(health.json::<Value>().await.expect("JSON"), json!({ "status": "ok" }));

    let ready = app.client.get(app.url("/readyz")).header("x-request-id", "bad id!").send().await.expect("sent");
    assert_eq!(ready.status(), StatusCode::OK);
    assert_ne!(ready.headers()["x-request-id"], "bad id!");
    assert_eq!(ready.json::<Value>().await.expect("JSON")["checks"]["database"], "ok");

    let jwks = app.client.get(app.url("/.well-known/jwks.json")).send().await.expect("sent");
    let cache_control = jwks.headers()["cache-control"].to_str().expect("ascii").to_owned();
    assert!(cache_control.starts_with("public, max-age="), "{cache_control}");
}

#[tokio::test]
async fn hsts_is_sent_when_configured() {
    let app = crate::helpers::spawn_app_with(&[("AUTH_HSTS", "max-age=63072000; includeSubDomains")]).await;
    let health = app.client.get(app.url("/healthz")).send().await.expect("sent");
    assert_eq!(health.headers()["strict-transport-security"], "max-age=63072000; includeSubDomains");
}

#[tokio::test]
async fn too_many_failed_logins_for_one_email_are_throttled() {
    let app = crate::helpers::spawn_app_with(&[("AUTH_RATE_LOGIN_EMAIL", "3/15m")]).await;
    app.signed_in_user("ken@example.com").await;
    for _ in 0..3 {
        let failed = app.login("ken@example.com", "wrong-password-attempt").await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = app.login("ken@example.com", PASSWORD).await;
    assert_eq!(throttled.headers()["ratelimit-limit"], "3");
    assert_eq!(throttled.headers()["ratelimit-remaining"], "0");
    assert!(throttled.headers().contains_key("retry-after"));
    assert_problem(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// Past the allowance, failures since the last success earn a back-off of their own, which
/// outlasts the window: an attacker who waits the window out still waits longer each time.
#[tokio::test]
async fn failures_beyond_the_allowance_back_off_exponentially_until_a_success() {
    let app = crate::helpers::spawn_app_with(&[("AUTH_RATE_LOGIN_EMAIL", "2/1s")]).await;
    app.signed_in_user("ken@example.com").await;
    for _ in 0..2 {
        let failed = app.login("ken@example.com", "wrong-password-attempt").await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED, "within the allowance");
    }
    assert_eq!(app.login("ken@example.com", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // Two windows later the window has forgotten them; the streak has not: the third failure
    // earns a 1 s wait, which even the right password honours.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.login("ken@example.com", "wrong-password-attempt").await.status(), StatusCode::UNAUTHORIZED);
    let waiting = app.login("ken@example.com", PASSWORD).await;
    assert_eq!(waiting.headers()["retry-after"], "1");
    assert_problem(waiting, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another address is not affected.
    assert_eq!(app.login("someone@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.login("ken@example.com", PASSWORD).await.status(), StatusCode::OK, "the wait is over");
    // A success lifts the back-off and forgets the failures.
    assert_eq!(app.login("ken@example.com", "wrong-password-attempt").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("ken@example.com", PASSWORD).await.status(), StatusCode::OK);
}
