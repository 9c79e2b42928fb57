//! The OAuth 2.0 endpoints and the discovery document, as an OAuth client or a resource server
//! uses them: forms in, RFC 6749 JSON out.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, spawn_app_with};

const CLIENTS: (&str, &str) = ("AUTH_INTROSPECTION_CLIENTS", "gateway:s3cret-of-the-gateway,billing:another-secret");

async fn form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Response {
    app.client.post(app.url(path)).form(fields).send().await.expect("sent")
}

async fn introspect(app: &TestApp, credentials: Option<(&str, &str)>, token: &str) -> Response {
    let mut request = app.client.post(app.url("/oauth/introspect")).form(&[("token", token)]);
    if let Some((id, secret)) = credentials {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.expect("sent")
}

/// Asserts an RFC 6749 §5.2 error and returns its body.
async fn assert_oauth_error(response: Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(response.status(), status, "for an expected {error}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    body
}

async fn password_grant(app: &TestApp, email: &str, password: &str) -> Response {
    form(app, "/oauth/token", &[("grant_type", "password"), ("username", email), ("password", password)]).await
}

#[tokio::test]
async fn the_discovery_document_points_at_the_keys_and_the_endpoints() {
    let app = spawn_app_with(&[CLIENTS]).await;
    let response = app.client.get(app.url("/.well-known/openid-configuration")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.expect("JSON");
    assert_eq!(document["issuer"], "http://auth.test");
    assert_eq!(document["jwks_uri"], "http://auth.test/.well-known/jwks.json");
    assert_eq!(document["token_endpoint"], "http://auth.test/oauth/token");
    assert_eq!(document["revocation_endpoint"], "http://auth.test/oauth/revoke");
    assert_eq!(document["introspection_endpoint"], "http://auth.test/oauth/introspect");
    assert_eq!(document["grant_types_supported"], json!(["password", "refresh_token"]));
    assert_eq!(document["id_token_signing_alg_values_supported"], json!(["EdDSA"]));
}

#[tokio::test]
async fn the_token_endpoint_grants_by_password_and_by_refresh_token() {
    let app = spawn_app_with(&[CLIENTS]).await;
    app.signed_in_user("ada@example.com").await;

    let granted = password_grant(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(granted.status(), StatusCode::OK);
    assert_eq!(granted.headers()["cache-control"], "no-store");
    assert_eq!(granted.headers()["pragma"], "no-cache");
    let tokens: Value = granted.json().await.expect("JSON");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().expect("an access token");
    assert_eq!(app.get_authorized("/v1/users/me", access).await.status(), StatusCode::OK);

    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let refreshed = form(&app, "/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.expect("JSON");
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"], "the refresh token rotates");

    // RFC 6749 §5.2, each error with its code.
    let wrong = password_grant(&app, "ada@example.com", "not the password at all").await;
    assert_oauth_error(wrong, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let unknown = password_grant(&app, "nobody@example.com", PASSWORD).await;
    assert_oauth_error(unknown, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let bogus = form(&app, "/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", "bogus")]).await;
    assert_oauth_error(bogus, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let missing = form(&app, "/oauth/token", &[("grant_type", "password"), ("username", "ada@example.com")]).await;
    assert_oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    let no_grant = form(&app, "/oauth/token", &[("username", "ada@example.com")]).await;
    assert_oauth_error(no_grant, StatusCode::BAD_REQUEST, "invalid_request").await;
    let code = form(&app, "/oauth/token", &[("grant_type", "authorization_code"), ("code", "x")]).await;
    assert_oauth_error(code, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    let json_body = app.post_json("/oauth/token", &json!({ "grant_type": "password" })).await;
    assert_oauth_error(json_body, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Presented again within the grace window, a rotated-away token is a retry, as on /v1/auth/refresh.
    let retried = form(&app, "/oauth/token", &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    let retried: Value = retried.json().await.expect("JSON");
    assert_eq!(retried["refresh_token"], refreshed["refresh_token"], "the same successor");
}

#[tokio::test]
async fn revocation_ends_the_session_of_a_refresh_or_an_access_token_and_ignores_unknown_ones() {
    let app = spawn_app_with(&[CLIENTS]).await;
    let first = app.signed_in_user("ada@example.com").await;
    let second: Value = password_grant(&app, "ada@example.com", PASSWORD).await.json().await.expect("JSON");
    let second_access = second["access_token"].as_str().expect("access").to_owned();
    let second_refresh = second["refresh_token"].as_str().expect("refresh").to_owned();

    // A refresh token: its session ends, its access tokens with it.
    let revoked = form(&app, "/oauth/revoke", &[("token", &first.refresh), ("token_type_hint", "refresh_token")]).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(app.get_authorized("/v1/users/me", &first.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&first.refresh).await.status(), StatusCode::UNAUTHORIZED);
    // An access token: the session it names ends.
    assert_eq!(form(&app, "/oauth/revoke", &[("token", &second_access)]).await.status(), StatusCode::OK);
    assert_eq!(app.get_authorized("/v1/users/me", &second_access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&second_refresh).await.status(), StatusCode::UNAUTHORIZED);
    // Unknown, malformed or already revoked: the same 200 (RFC 7009 §2.2).
    for token in ["not-a-token", first.refresh.as_str(), "a.b.c"] {
        assert_eq!(form(&app, "/oauth/revoke", &[("token", token)]).await.status(), StatusCode::OK);
    }
    assert_oauth_error(form(&app, "/oauth/revoke", &[]).await, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn introspection_needs_a_client_and_tells_live_tokens_from_everything_else() {
    let app = spawn_app_with(&[CLIENTS]).await;
    let tokens = app.signed_in_user("ada@example.com").await;
    let gateway = Some(("gateway", "s3cret-of-the-gateway"));

    for credentials in [None, Some(("gateway", "wrong")), Some(("nobody", "s3cret-of-the-gateway"))] {
        let refused = introspect(&app, credentials, &tokens.access).await;
        assert_eq!(refused.headers()["www-authenticate"], "Basic realm=\"authd\"");
        assert_oauth_error(refused, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }

    let active: Value = introspect(&app, gateway, &tokens.access).await.json().await.expect("JSON");
    assert_eq!(active["active"], true);
    assert_eq!(active["sid"], tokens.session_id.as_str());
    assert_eq!(active["iss"], "http://auth.test");
    assert_eq!(active["aud"], "authd");
    assert_eq!(active["token_type"], "Bearer");
    assert_eq!(active["roles"], json!([]));
    assert!(active["exp"].as_i64() > active["iat"].as_i64());
    let by_billing = introspect(&app, Some(("billing", "another-secret")), &tokens.refresh).await;
    let refresh: Value = by_billing.json().await.expect("JSON");
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");
    assert_eq!(refresh["sub"], active["sub"]);

    let forged = format!("{}x", tokens.access);
    let empty = introspect(&app, gateway, "").await;
    assert_oauth_error(empty, StatusCode::BAD_REQUEST, "invalid_request").await;
    for token in ["garbage", forged.as_str()] {
        let inactive: Value = introspect(&app, gateway, token).await.json().await.expect("JSON");
        assert_eq!(inactive, json!({ "active": false }), "{token:?}");
    }
    assert_eq!(app.post_authorized("/v1/auth/logout", &tokens.access).await.status(), StatusCode::NO_CONTENT);
    for token in [&tokens.access, &tokens.refresh] {
        let after_logout: Value = introspect(&app, gateway, token).await.json().await.expect("JSON");
        assert_eq!(after_logout, json!({ "active": false }));
    }
}

#[tokio::test]
async fn the_password_grant_is_refused_for_an_account_with_a_second_factor() {
    let app = spawn_app_with(&[CLIENTS]).await;
    let tokens = app.signed_in_user("ada@example.com").await;
    let enrolment: Value = app.post_authorized("/v1/users/me/mfa/totp", &tokens.access).await.json().await.unwrap();
    let secret = enrolment["secret"].as_str().expect("secret");
    let code = crate::mfa::totp(secret, crate::mfa::current_step());
    let body = json!({ "code": code });
    let confirmed =
        app.request(reqwest::Method::POST, "/v1/users/me/mfa/totp/confirm", &tokens.access, Some(&body)).await;
    assert_eq!(confirmed.status(), StatusCode::OK);

    let refused = password_grant(&app, "ada@example.com", PASSWORD).await;
    let body = assert_oauth_error(refused, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(body["error_description"].as_str().unwrap().contains("second factor"), "{body}");
}
