//! Logout and logout-all take effect on access tokens at once.

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, Tokens, assert_problem, spawn_app};

#[tokio::test]
async fn logout_makes_the_access_and_refresh_tokens_fail_at_once() {
    let app = spawn_app().await;
    let tokens = app.signed_in_user("ada@example.com").await;
    assert_eq!(app.get_authorized("/v1/auth/verify", &tokens.access).await.status(), StatusCode::OK);

    assert_eq!(app.post_authorized("/v1/auth/logout", &tokens.access).await.status(), StatusCode::NO_CONTENT);

    let gateway = app.get_authorized("/v1/auth/verify", &tokens.access).await;
    assert_eq!(gateway.headers()["www-authenticate"], "Bearer realm=\"authd\", error=\"invalid_token\"");
    assert_problem(gateway, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_problem(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_and_no_other() {
    let app = spawn_app().await;
    let first = app.signed_in_user("ada@example.com").await;
    let second = Tokens::from_body(app.login("ada@example.com", PASSWORD).await.json().await.expect("JSON"));
    let other_user = app.signed_in_user("grace@example.com").await;

    assert_eq!(app.post_authorized("/v1/auth/logout-all", &second.access).await.status(), StatusCode::NO_CONTENT);

    for tokens in [&first, &second] {
        assert_problem(
            app.get_authorized("/v1/users/me", &tokens.access).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
        assert_problem(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }
    assert_eq!(app.get_authorized("/v1/users/me", &other_user.access).await.status(), StatusCode::OK);
    // Logging in again at once (very likely in the same second) gives a token that works.
    let again = Tokens::from_body(app.login("ada@example.com", PASSWORD).await.json().await.expect("JSON"));
    assert_eq!(app.get_authorized("/v1/users/me", &again.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_protected_route_without_a_token_asks_for_one() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/v1/users/me")).send().await.expect("sent");
    assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"authd\"");
    assert_problem(response, StatusCode::UNAUTHORIZED, "missing_token").await;

    let garbage = app.get_authorized("/v1/users/me", "not.a.jwt").await;
    assert_problem(garbage, StatusCode::UNAUTHORIZED, "invalid_token").await;
}
