//! Routes under /v1/auth: register, verify, log in, refresh, log out, and the gateway check.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use auth_domain::AuthService;
use auth_domain::services::{LoginRequest, RegisterRequest};
use serde::Deserialize;
use serde_json::json;

use super::{TokenPairView, UserView};
use crate::error::ApiError;
use crate::extractors::{Authenticated, ClientContext};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    email: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordBody {
    token: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

fn verification_sent() -> HttpResponse {
    HttpResponse::Accepted().json(json!({ "status": "verification_sent" }))
}

/// A token response: never cached (RFC 6749 §5.1).
fn token_response(pair: &auth_domain::TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenPairView::from(pair))
}

pub async fn register(
    service: web::Data<AuthService>,
    client: ClientContext,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let request = RegisterRequest { email: body.email, password: body.password, display_name: body.display_name };
    service.register(request, &client.0).await?;
    Ok(verification_sent())
}

pub async fn verify_email(
    service: web::Data<AuthService>,
    client: ClientContext,
    body: web::Json<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    #[derive(serde::Serialize)]
    struct Verified {
        user: UserView,
    }
    let user = service.verify_email(&body.token, &client.0).await?;
    Ok(HttpResponse::Ok().json(Verified { user: UserView::from(&user) }))
}

pub async fn resend_verification(
    service: web::Data<AuthService>,
    client: ClientContext,
    body: web::Json<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    let pending = service.resend_verification(&body.email, &client.0).await?;
    // Answered before the account is looked up, so that the time to answer says nothing about it.
    tokio::spawn(async move {
        if let Err(error) = pending.deliver().await {
            tracing::error!(error = %error, "could not mail a new verification link");
        }
    });
    Ok(verification_sent())
}

pub async fn login(
    service: web::Data<AuthService>,
    client: ClientContext,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let pair = service.login(LoginRequest { email: body.email, password: body.password }, &client.0).await?;
    Ok(token_response(&pair))
}

pub async fn refresh(
    service: web::Data<AuthService>,
    client: ClientContext,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let pair = service.refresh(&body.refresh_token, &client.0).await?;
    Ok(token_response(&pair))
}

pub async fn logout(
    service: web::Data<AuthService>,
    caller: Authenticated,
    client: ClientContext,
) -> Result<HttpResponse, ApiError> {
    service.logout(&caller.0, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn logout_all(
    service: web::Data<AuthService>,
    caller: Authenticated,
    client: ClientContext,
) -> Result<HttpResponse, ApiError> {
    service.logout_all(&caller.0, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn forgot_password(
    service: web::Data<AuthService>,
    client: ClientContext,
    body: web::Json<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    let pending = service.forgot_password(&body.email, &client.0).await?;
    // Answered before the account is looked up, so that the time to answer says nothing about it.
    tokio::spawn(async move {
        if let Err(error) = pending.deliver().await {
            tracing::error!(error = %error, "could not mail a password-reset link");
        }
    });
    Ok(HttpResponse::Accepted().json(json!({ "status": "accepted" })))
}

pub async fn reset_password(
    service: web::Data<AuthService>,
    client: ClientContext,
    body: web::Json<ResetPasswordBody>,
) -> Result<HttpResponse, ApiError> {
    service.reset_password(&body.token, &body.new_password, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// For gateways (nginx `auth_request`, Traefik ForwardAuth, Envoy ext_authz): 200 with the
/// caller's identity in headers, or 401.
pub async fn verify(caller: Authenticated) -> HttpResponse {
    let principal = caller.0;
    HttpResponse::Ok()
        .insert_header(("X-Auth-User-Id", principal.user_id.to_string()))
        .insert_header(("X-Auth-Session-Id", principal.session_id.to_string()))
        .insert_header(("X-Auth-Roles", principal.roles.join(",")))
        .finish()
}
