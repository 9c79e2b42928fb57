//! Listing and revoking one's own sessions.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, Tokens, assert_problem, spawn_app};

#[tokio::test]
async fn a_user_lists_their_sessions_and_revokes_one() {
    let app = spawn_app().await;
    let laptop = app.signed_in_user("ada@example.com").await;
    let phone = Tokens::from_body(
        app.client
            .post(app.url("/v1/auth/login"))
            .header("user-agent", "PhoneApp/1.0")
            .json(&serde_json::json!({ "email": "ada@example.com", "password": PASSWORD }))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON"),
    );

    let listed: Value = app.get_authorized("/v1/users/me/sessions", &laptop.access).await.json().await.expect("JSON");
    let sessions = listed["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|session| session["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], laptop.session_id.as_str());
    let phone_entry = sessions.iter().find(|session| session["id"] == phone.session_id.as_str()).expect("the phone");
    assert_eq!(phone_entry["user_agent"], "PhoneApp/1.0");
    assert_eq!(phone_entry["ip"], "127.0.0.1");

    let revoked = app
        .client
        .delete(app.url(&format!("/v1/users/me/sessions/{}", phone.session_id)))
        .bearer_auth(&laptop.access)
        .send()
        .await
        .expect("sent");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get_authorized("/v1/users/me", &phone.access).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
    let listed: Value = app.get_authorized("/v1/users/me/sessions", &laptop.access).await.json().await.expect("JSON");
    assert_eq!(listed["sessions"].as_array().expect("sessions").len(), 1);
}

#[tokio::test]
async fn another_users_or_an_unknown_session_is_not_found() {
    let app = spawn_app().await;
    let ada = app.signed_in_user("ada@example.com").await;
    let grace = app.signed_in_user("grace@example.com").await;
    for id in [grace.session_id.as_str(), "01900000-0000-7000-8000-000000000000", "not-a-uuid"] {
        let response = app
            .client
            .delete(app.url(&format!("/v1/users/me/sessions/{id}")))
            .bearer_auth(&ada.access)
            .send()
            .await
            .expect("sent");
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_eq!(app.get_authorized("/v1/users/me", &grace.access).await.status(), StatusCode::OK, "untouched");
}
