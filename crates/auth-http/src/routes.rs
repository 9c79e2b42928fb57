//! The HTTP routes, thin: decode the request, call one use case, encode its answer.

mod auth;
pub mod health;
mod users;
mod well_known;

use actix_web::web;
use auth_domain::TokenPair;
use auth_domain::services::SessionView;
use auth_domain::user::User;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

/// Every route of the service.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::scope("/v1/auth")
                .route("/register", web::post().to(auth::register))
                .route("/verify-email", web::post().to(auth::verify_email))
                .route("/verify-email/resend", web::post().to(auth::resend_verification))
                .route("/login", web::post().to(auth::login))
                .route("/refresh", web::post().to(auth::refresh))
                .route("/logout", web::post().to(auth::logout))
                .route("/logout-all", web::post().to(auth::logout_all))
                .route("/password/forgot", web::post().to(auth::forgot_password))
                .route("/password/reset", web::post().to(auth::reset_password))
                .route("/verify", web::get().to(auth::verify)),
        )
        .service(
            web::scope("/v1/users/me")
                .route("", web::get().to(users::me))
                .route("", web::patch().to(users::update_me))
                .route("", web::delete().to(users::delete_me))
                .route("/password", web::post().to(users::change_password))
                .route("/sessions", web::get().to(users::sessions))
                .route("/sessions/{id}", web::delete().to(users::revoke_session)),
        )
        .route("/.well-known/jwks.json", web::get().to(well_known::jwks))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics));
}

fn rfc3339<S: Serializer>(instant: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    time::serde::rfc3339::serialize(instant, serializer)
}

/// A user as the contract shows it.
#[derive(Debug, Serialize)]
pub struct UserView {
    id: String,
    email: String,
    email_verified: bool,
    display_name: Option<String>,
    roles: Vec<String>,
    mfa_enabled: bool,
    #[serde(serialize_with = "rfc3339")]
    created_at: OffsetDateTime,
    #[serde(serialize_with = "rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            email_verified: user.email_verified,
            display_name: user.display_name.as_ref().map(|name| name.as_str().to_owned()),
            roles: user.role_names(),
            mfa_enabled: user.mfa_enabled,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// A token pair as the contract shows it; `Debug` leaves the tokens out.
#[derive(Serialize)]
pub struct TokenPairView {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    refresh_expires_in: i64,
    session_id: String,
    user: UserView,
}

impl std::fmt::Debug for TokenPairView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPairView").field("session_id", &self.session_id).finish_non_exhaustive()
    }
}

impl From<&TokenPair> for TokenPairView {
    fn from(pair: &TokenPair) -> Self {
        Self {
            access_token: pair.access_token.expose().to_owned(),
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token.expose().to_owned(),
            refresh_expires_in: pair.refresh_expires_in,
            session_id: pair.session_id.to_string(),
            user: UserView::from(&pair.user),
        }
    }
}

/// A session as its owner sees it.
#[derive(Debug, Serialize)]
pub struct SessionItem {
    id: String,
    #[serde(serialize_with = "rfc3339")]
    created_at: OffsetDateTime,
    #[serde(serialize_with = "rfc3339")]
    last_used_at: OffsetDateTime,
    ip: Option<String>,
    user_agent: Option<String>,
    current: bool,
}

impl From<&SessionView> for SessionItem {
    fn from(view: &SessionView) -> Self {
        Self {
            id: view.session.id.to_string(),
            created_at: view.session.created_at,
            last_used_at: view.session.last_used_at,
            ip: view.session.ip.clone(),
            user_agent: view.session.user_agent.clone(),
            current: view.current,
        }
    }
}
