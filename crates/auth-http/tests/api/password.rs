//! Forgot, reset and change password, end to end through the mail outbox.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, spawn_app};
use crate::infra::eventually;

const NEW_PASSWORD: &str = "amber-heron-glides-past-noon";

/// The token of the newest password-reset link mailed to `email`, once it has arrived.
async fn reset_token(app: &TestApp, email: &str) -> String {
    let marker = "/reset-password?token=";
    eventually("the reset mail", Duration::from_secs(5), || async {
        app.mails().iter().any(|mail| mail.contains(&format!("To: {email}")) && mail.contains(marker))
    })
    .await;
    let mail = app.mails().into_iter().rev().find(|mail| mail.contains(marker)).expect("a reset mail");
    let start = mail.find(marker).expect("a link") + marker.len();
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

async fn second_session(app: &TestApp, email: &str, password: &str) -> Tokens {
    let login = app.login(email, password).await;
    assert_eq!(login.status(), StatusCode::OK);
    Tokens::from_body(login.json().await.expect("JSON"))
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_mailed_link_and_every_session_ends() {
    let app = spawn_app().await;
    let laptop = app.signed_in_user("ada@example.com").await;
    let phone = second_session(&app, "ada@example.com", PASSWORD).await;

    let forgot = app.post_json("/v1/auth/password/forgot", &json!({ "email": "ADA@example.com" })).await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let token = reset_token(&app, "ada@example.com").await;
    assert!(app.mails().iter().any(|mail| mail.contains("http://auth.test/reset-password?token=")));

    let reset =
        app.post_json("/v1/auth/password/reset", &json!({ "token": token, "new_password": NEW_PASSWORD })).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);

    for tokens in [&laptop, &phone] {
        assert_problem(
            app.get_authorized("/v1/users/me", &tokens.access).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
        assert_problem(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }
    assert_problem(app.login("ada@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // A login right after the reset, very likely in the same second, gets a token that works.
    let fresh = second_session(&app, "ada@example.com", NEW_PASSWORD).await;
    assert_eq!(app.get_authorized("/v1/users/me", &fresh.access).await.status(), StatusCode::OK);

    let again =
        app.post_json("/v1/auth/password/reset", &json!({ "token": token, "new_password": NEW_PASSWORD })).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_token").await;
    eventually("the notice", Duration::from_secs(5), || async {
        app.mails().iter().any(|mail| mail.contains("Subject: Your password was changed"))
    })
    .await;
}

#[tokio::test]
async fn a_reset_to_a_weak_password_is_a_field_error() {
    let app = spawn_app().await;
    app.signed_in_user("ada@example.com").await;
    app.post_json("/v1/auth/password/forgot", &json!({ "email": "ada@example.com" })).await;
    let token = reset_token(&app, "ada@example.com").await;
    let weak = app.post_json("/v1/auth/password/reset", &json!({ "token": token, "new_password": "password" })).await;
    let problem = assert_problem(weak, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "new_password");
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), StatusCode::OK, "the password is unchanged");
}

#[tokio::test]
async fn forgot_password_answers_alike_for_every_address_and_mails_only_accounts() {
    let app = spawn_app().await;
    app.signed_in_user("ada@example.com").await;
    let mails_before = app.mails().len();
    let mut bodies = Vec::new();
    for email in ["nobody@example.com", "not-an-email", "ada@example.com"] {
        let response = app.post_json("/v1/auth/password/forgot", &json!({ "email": email })).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "for {email}");
        bodies.push(response.json::<Value>().await.expect("JSON"));
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "{bodies:?}");
    reset_token(&app, "ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.mails().len(), mails_before + 1, "only the account's address got a mail");
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let laptop = app.signed_in_user("ada@example.com").await;
    let phone = second_session(&app, "ada@example.com", PASSWORD).await;
    let change = |current: &'static str, new: &'static str| {
        app.client
            .post(app.url("/v1/users/me/password"))
            .bearer_auth(&laptop.access)
            .json(&json!({ "current_password": current, "new_password": new }))
            .send()
    };

    let wrong = change("not-the-password", NEW_PASSWORD).await.expect("sent");
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let weak = change(PASSWORD, "password").await.expect("sent");
    assert_problem(weak, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(app.get_authorized("/v1/users/me", &phone.access).await.status(), StatusCode::OK, "nothing changed yet");

    let changed = change(PASSWORD, NEW_PASSWORD).await.expect("sent");
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    assert_eq!(app.get_authorized("/v1/users/me", &laptop.access).await.status(), StatusCode::OK, "this session stays");
    assert_eq!(app.refresh(&laptop.refresh).await.status(), StatusCode::OK);
    assert_problem(app.get_authorized("/v1/users/me", &phone.access).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
    assert_problem(app.refresh(&phone.refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    assert_eq!(app.login("ada@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
    app.wait_for_mail("password-changed notice", |mail| mail.contains("Subject: Your password was changed")).await;
}

#[tokio::test]
async fn a_deleted_account_is_gone_with_every_token_and_its_audit_stays() {
    let app = spawn_app().await;
    let laptop = app.signed_in_user("ada@example.com").await;
    let phone = second_session(&app, "ada@example.com", PASSWORD).await;
    let delete = |password: &'static str| {
        app.client
            .delete(app.url("/v1/users/me"))
            .bearer_auth(&laptop.access)
            .json(&json!({ "password": password }))
            .send()
    };

    let wrong = delete("not-the-password").await.expect("sent");
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(app.get_authorized("/v1/users/me", &phone.access).await.status(), StatusCode::OK, "nothing deleted yet");

    assert_eq!(delete(PASSWORD).await.expect("sent").status(), StatusCode::NO_CONTENT);

    // A deleted user's tokens, of this session and the others, are refused at once.
    for tokens in [&laptop, &phone] {
        assert_problem(
            app.get_authorized("/v1/auth/verify", &tokens.access).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
        assert_problem(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }
    assert_problem(app.login("ada@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(
        app.register("ada@example.com", PASSWORD).await.status(),
        StatusCode::ACCEPTED,
        "the address is free again"
    );

    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_auth-http"))
        .args(["audit", "verify"])
        .env("AUTH_DATABASE_URL", format!("sqlite://{}", app.data.path().join("auth.db").display()))
        .output()
        .expect("runs");
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    // The deleted account's rows stay, their IP and user agent erased, and the chain still holds.
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(report.contains("had their IP or user agent erased"), "{report}");
}
