//! The admin API over HTTP: the role it requires, cursor pagination, disabling at once, roles,
//! deletion, revoking sessions, and the audit log with the acting administrator.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, jwt_claims, spawn_app, spawn_app_with};

/// Registration and mail limits off: these tests register many accounts from one address.
const MANY_ACCOUNTS: &[(&str, &str)] = &[("AUTH_RATE_REGISTER_IP", "off"), ("AUTH_RATE_EMAIL_SEND", "off")];

async fn get(app: &TestApp, path: &str, access: &str) -> Value {
    let response = app.get_authorized(path, access).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.expect("JSON")
}

async fn user_id_of(app: &TestApp, admin: &Tokens, email: &str) -> String {
    let page = get(app, &format!("/v1/admin/users?email={email}"), &admin.access).await;
    page["users"][0]["id"].as_str().expect("the user is listed").to_owned()
}

#[tokio::test]
async fn every_admin_route_refuses_callers_without_the_admin_role() {
    let app = spawn_app().await;
    let reader = app.signed_in_user("reader@example.com").await;
    let someone = "0197a5c2-6f1e-7c3a-9d4b-2e8f1a6b5c3d";
    let routes = [
        (Method::GET, "/v1/admin/users".to_owned(), None),
        (Method::GET, format!("/v1/admin/users/{someone}"), None),
        (Method::PATCH, format!("/v1/admin/users/{someone}"), Some(json!({ "disabled": true }))),
        (Method::DELETE, format!("/v1/admin/users/{someone}"), None),
        (Method::POST, format!("/v1/admin/users/{someone}/sessions/revoke"), None),
        (Method::GET, "/v1/admin/audit".to_owned(), None),
    ];
    for (method, path, body) in routes {
        let response = app.request(method.clone(), &path, &reader.access, body.as_ref()).await;
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
        let anonymous = app.client.request(method, app.url(&path)).send().await.expect("sent");
        assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    }
    assert_eq!(jwt_claims(&reader.access)["roles"], json!([]));
}

#[tokio::test]
async fn paging_through_users_is_stable_while_others_register() {
    let app = spawn_app_with(MANY_ACCOUNTS).await;
    let admin = app.signed_in_admin("admin@example.com").await;
    for n in 0..5 {
        assert_eq!(app.register(&format!("user{n}@example.com"), PASSWORD).await.status(), StatusCode::ACCEPTED);
    }

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/admin/users?limit=2&cursor={cursor}"),
            None => "/v1/admin/users?limit=2".to_owned(),
        };
        let page = get(&app, &path, &admin.access).await;
        let users = page["users"].as_array().expect("users");
        assert!(users.len() <= 2);
        seen.extend(users.iter().map(|user| user["email"].as_str().unwrap().to_owned()));
        assert!(users.iter().all(|user| user["disabled"] == false && user.get("password_hash").is_none()));
        pages += 1;
        // Accounts registered between pages come after every earlier one: they never shift a page.
        assert_eq!(app.register(&format!("late{pages}@example.com"), PASSWORD).await.status(), StatusCode::ACCEPTED);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 20, "the pages never end");
    }

    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "no user twice: {seen:?}");
    for expected in ["admin@example.com", "user0@example.com", "user4@example.com", "late1@example.com"] {
        assert!(seen.iter().any(|email| email == expected), "{expected} missing from {seen:?}");
    }
    let position = |email: &str| seen.iter().position(|seen| seen == email).unwrap();
    assert!(position("admin@example.com") < position("user0@example.com"));
    assert!(position("user0@example.com") < position("user4@example.com"), "creation order: {seen:?}");

    let found = get(&app, "/v1/admin/users?email=USER3", &admin.access).await;
    assert_eq!(found["users"].as_array().unwrap().len(), 1);
    assert_eq!(found["users"][0]["email"], "user3@example.com");
    assert_eq!(found["next_cursor"], Value::Null);
    let wildcard = get(&app, "/v1/admin/users?email=%25", &admin.access).await;
    assert_eq!(wildcard["users"], json!([]), "a % in the search is a literal %");

    let bad_limit = app.get_authorized("/v1/admin/users?limit=0", &admin.access).await;
    assert_problem(bad_limit, StatusCode::BAD_REQUEST, "validation_failed").await;
    let bad_cursor = app.get_authorized("/v1/admin/users?cursor=bm9wZQ", &admin.access).await;
    assert_problem(bad_cursor, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    let bad_query = app.get_authorized("/v1/admin/users?limit=many", &admin.access).await;
    assert_problem(bad_query, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn disabling_a_user_ends_its_live_token_at_once_and_blocks_login_and_refresh() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("admin@example.com").await;
    let ada = app.signed_in_user("ada@example.com").await;
    let ada_id = user_id_of(&app, &admin, "ada@example.com").await;
    assert_eq!(app.get_authorized("/v1/users/me", &ada.access).await.status(), StatusCode::OK);

    let path = format!("/v1/admin/users/{ada_id}");
    let disabled = app.request(Method::PATCH, &path, &admin.access, Some(&json!({ "disabled": true }))).await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let body: Value = disabled.json().await.unwrap();
    assert_eq!(body["disabled"], true);
    assert_eq!(body["email"], "ada@example.com");

    // At once: the very next request with the live access token is refused.
    assert_problem(app.get_authorized("/v1/users/me", &ada.access).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
    assert_problem(app.refresh(&ada.refresh).await, StatusCode::FORBIDDEN, "account_disabled").await;
    assert_problem(app.login("ada@example.com", PASSWORD).await, StatusCode::FORBIDDEN, "account_disabled").await;

    let enabled = app.request(Method::PATCH, &path, &admin.access, Some(&json!({ "disabled": false }))).await;
    assert_eq!(enabled.status(), StatusCode::OK);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), StatusCode::OK);

    let events =
        get(&app, &format!("/v1/admin/audit?user_id={ada_id}&event=user_updated_by_admin"), &admin.access).await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let admin_id = jwt_claims(&admin.access)["sub"].clone();
    assert!(events.iter().all(|event| event["detail"]["actor_id"] == admin_id), "{events:?}");
    assert_eq!(events[0]["detail"]["disabled"], json!({ "from": false, "to": true }));
    assert_eq!(events[0]["detail"]["sessions_revoked"], 1);
}

#[tokio::test]
async fn roles_read_delete_and_revoking_sessions() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("admin@example.com").await;
    let ada = app.signed_in_user("ada@example.com").await;
    let ada_id = user_id_of(&app, &admin, "ada@example.com").await;
    let path = format!("/v1/admin/users/{ada_id}");

    let read = get(&app, &path, &admin.access).await;
    assert_eq!((read["email"].clone(), read["roles"].clone()), (json!("ada@example.com"), json!([])));

    let roles = json!({ "roles": ["billing:read", "support", "support"] });
    let updated: Value = app.request(Method::PATCH, &path, &admin.access, Some(&roles)).await.json().await.unwrap();
    assert_eq!(updated["roles"], json!(["billing:read", "support"]));
    let bad_role = app.request(Method::PATCH, &path, &admin.access, Some(&json!({ "roles": ["Admin"] }))).await;
    assert_problem(bad_role, StatusCode::BAD_REQUEST, "validation_failed").await;
    let unknown_field = app.request(Method::PATCH, &path, &admin.access, Some(&json!({ "email": "x@y.z" }))).await;
    assert_problem(unknown_field, StatusCode::BAD_REQUEST, "invalid_body").await;

    // Removing a role ends every session of the account: no token keeps claiming it, and a
    // sign-in brings the new roles.
    let relogin = Tokens::from_body(app.login("ada@example.com", PASSWORD).await.json().await.unwrap());
    assert_eq!(jwt_claims(&relogin.access)["roles"], json!(["billing:read", "support"]));
    let demoted = app.request(Method::PATCH, &path, &admin.access, Some(&json!({ "roles": ["support"] }))).await;
    assert_eq!(demoted.status(), StatusCode::OK);
    assert_eq!(app.get_authorized("/v1/users/me", &relogin.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&relogin.refresh).await.status(), StatusCode::UNAUTHORIZED);
    let refreshed = Tokens::from_body(app.login("ada@example.com", PASSWORD).await.json().await.unwrap());
    assert_eq!(jwt_claims(&refreshed.access)["roles"], json!(["support"]));

    // Revoking the sessions ends every token of the account at once.
    let revoke = app.post_authorized(&format!("{path}/sessions/revoke"), &admin.access).await;
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    for access in [&ada.access, &refreshed.access] {
        assert_eq!(app.get_authorized("/v1/users/me", access).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.refresh(&refreshed.refresh).await.status(), StatusCode::UNAUTHORIZED);

    // An administrator cannot lock themselves out.
    let admin_id = jwt_claims(&admin.access)["sub"].as_str().unwrap().to_owned();
    let own = format!("/v1/admin/users/{admin_id}");
    let self_disable = app.request(Method::PATCH, &own, &admin.access, Some(&json!({ "disabled": true }))).await;
    assert_problem(self_disable, StatusCode::CONFLICT, "self_lockout").await;
    assert_problem(app.request(Method::DELETE, &own, &admin.access, None).await, StatusCode::CONFLICT, "self_lockout")
        .await;

    let deleted = app.request(Method::DELETE, &path, &admin.access, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get_authorized(&path, &admin.access).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(app.request(Method::DELETE, &path, &admin.access, None).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    assert_problem(
        app.get_authorized("/v1/admin/users/not-a-uuid", &admin.access).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let deletion = get(&app, &format!("/v1/admin/audit?user_id={ada_id}&event=user_deleted"), &admin.access).await;
    assert_eq!(deletion["events"][0]["detail"]["actor_id"], json!(admin_id));
    let earlier = get(&app, &format!("/v1/admin/audit?user_id={ada_id}&event=user_registered"), &admin.access).await;
    assert_eq!(earlier["events"][0]["ip"], Value::Null, "the deleted account's audit rows lose their IP");
}

#[tokio::test]
async fn the_audit_log_pages_in_order_and_filters() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("admin@example.com").await;
    for _ in 0..3 {
        assert_eq!(app.login("admin@example.com", "wrong password!").await.status(), StatusCode::UNAUTHORIZED);
    }

    let mut events: Vec<Value> = Vec::new();
    let mut path = "/v1/admin/audit?limit=2".to_owned();
    loop {
        let page = get(&app, &path, &admin.access).await;
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        let Some(cursor) = page["next_cursor"].as_str() else { break };
        path = format!("/v1/admin/audit?limit=2&cursor={cursor}");
    }
    let names: Vec<&str> = events.iter().map(|event| event["event"].as_str().unwrap()).collect();
    // The first start made the first signing key, before any account existed.
    assert_eq!(names[..2], ["signing_key_rotated", "user_registered"], "oldest first: {names:?}");
    assert_eq!(names.iter().filter(|name| **name == "login_failed").count(), 3, "{names:?}");
    assert!(names.contains(&"role_granted"), "{names:?}");
    let ids: HashSet<&str> = events.iter().map(|event| event["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "no event twice");
    for event in &events {
        for field in ["id", "user_id", "event", "ip", "user_agent", "detail", "created_at"] {
            assert!(event.get(field).is_some(), "{field} missing from {event}");
        }
    }

    let failed = get(&app, "/v1/admin/audit?event=login_failed", &admin.access).await;
    assert_eq!(failed["events"].as_array().unwrap().len(), 3);
    let future = get(&app, "/v1/admin/audit?since=2999-01-01T00:00:00Z", &admin.access).await;
    assert_eq!(future["events"], json!([]));
    let bad = app.get_authorized("/v1/admin/audit?since=yesterday&user_id=42", &admin.access).await;
    let problem = assert_problem(bad, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    // A cursor of the users list is not one of the audit log's.
    assert_eq!(app.register("second@example.com", PASSWORD).await.status(), StatusCode::ACCEPTED);
    let users = get(&app, "/v1/admin/users?limit=1", &admin.access).await;
    let users_cursor = users["next_cursor"].as_str().expect("a second user, so a next page");
    let response = app.get_authorized(&format!("/v1/admin/audit?cursor={users_cursor}"), &admin.access).await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_cursor").await;
}
