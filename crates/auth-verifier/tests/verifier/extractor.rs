//! The actix-web extractor: 401 with `WWW-Authenticate` without a usable token, 503 when we cannot
//! tell, and the caller when the token verifies.

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, test, web};
use auth_verifier::{AuthenticatedUser, RevocationFeed, Uuid, Verifier};
use serde_json::{Value, json};

use crate::support::{FakeAuth, TestKey, claims_for};

async fn me(user: AuthenticatedUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": user.user_id, "session_id": user.session_id, "roles": user.roles,
        "admin": user.has_role("admin"), "auditor": user.has_role("auditor"),
    }))
}

macro_rules! app {
    ($verifier:expr) => {
        test::init_service(App::new().app_data(web::Data::new($verifier)).route("/me", web::get().to(me))).await
    };
}

fn header(response: &actix_web::dev::ServiceResponse, name: &str) -> Option<String> {
    response.headers().get(name).map(|value| value.to_str().expect("ASCII").to_owned())
}

#[actix_web::test]
async fn without_a_token_the_answer_is_401_with_a_bearer_challenge() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let app = app!(auth.builder().build().await.expect("the verifier builds"));
    for request in [
        test::TestRequest::get().uri("/me"),
        test::TestRequest::get().uri("/me").insert_header(("Authorization", "Basic dXNlcjpwYXNz")),
    ] {
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&response, "WWW-Authenticate").as_deref(), Some("Bearer"));
        assert_eq!(header(&response, "Content-Type").as_deref(), Some("application/problem+json"));
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["code"], "missing_token");
        assert_eq!(body["status"], 401);
    }
}

#[actix_web::test]
async fn a_refused_token_gets_401_invalid_token() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let app = app!(auth.builder().build().await.expect("the verifier builds"));
    let forged = TestKey::generate("k1").sign(&claims_for(Uuid::new_v4()));
    let request = test::TestRequest::get().uri("/me").insert_header(("Authorization", format!("Bearer {forged}")));
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "WWW-Authenticate").as_deref(), Some("Bearer error=\"invalid_token\""));
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["code"], "invalid_token");
}

#[actix_web::test]
async fn a_valid_token_gives_the_handler_its_user() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let app = app!(auth.builder().build().await.expect("the verifier builds"));
    let sid = Uuid::new_v4();
    let claims = claims_for(sid);
    let request = test::TestRequest::get()
        .uri("/me")
        .insert_header(("Authorization", format!("bearer {}", key.sign(&claims))))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = test::read_body_json(response).await;
    assert_eq!(body["user_id"], claims["sub"]);
    assert_eq!(body["session_id"], sid.to_string());
    assert_eq!(body["roles"], json!(["admin"]));
    assert_eq!((body["admin"].as_bool(), body["auditor"].as_bool()), (Some(true), Some(false)));
}

#[actix_web::test]
async fn a_stale_revocation_list_gets_503_not_401() {
    let key = TestKey::generate("k1");
    let auth = FakeAuth::start(&[&key]).await;
    let verifier = Verifier::builder(crate::support::ISSUER, crate::support::AUDIENCE)
        .jwks_url(auth.jwks_url())
        .revocation_feed(RevocationFeed::at_base_url(&auth.base_url, "resource-server", "wrong-secret"))
        .build()
        .await
        .expect("the verifier builds");
    let app = app!(verifier);
    let token = key.sign(&claims_for(Uuid::new_v4()));
    let request = test::TestRequest::get().uri("/me").insert_header(("Authorization", format!("Bearer {token}")));
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&response, "Retry-After").as_deref(), Some("1"));
    assert_eq!(header(&response, "WWW-Authenticate"), None);
}

#[actix_web::test]
async fn a_missing_verifier_is_a_500_not_a_pass() {
    let app = test::init_service(App::new().route("/me", web::get().to(me))).await;
    let request = test::TestRequest::get().uri("/me").insert_header(("Authorization", "Bearer a.b.c"));
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
