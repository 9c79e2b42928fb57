//! The HTTP routes, thin: decode the request, call one use case, encode its answer.

mod admin;
mod auth;
mod docs;
pub mod health;
mod mfa;
pub(crate) mod oauth;
mod revocations;
mod users;
pub(crate) mod well_known;

/// The opaque cursors that the revocation feed and the admin lists hand out and take back. Public
/// only so that the fuzz targets in `fuzz/` can feed them what a client may send; the handlers are
/// their one other user.
pub mod cursors {
    pub use super::admin::{decode_cursor as decode_list_cursor, encode_cursor as encode_list_cursor};
    pub use super::revocations::{decode_cursor as decode_feed_cursor, encode_cursor as encode_feed_cursor};
}

use actix_web::web;
use auth_domain::TokenPair;
use auth_domain::services::SessionView;
use auth_domain::user::User;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Declares the route table once: `configure` registers exactly these routes, [`ROUTES`] lists
/// them, and `RoutePaths` documents them, so that no route can be served undocumented and the
/// OpenAPI tests can hold the document against what is really served.
macro_rules! route_table {
    ($($method:ident $path:literal => $module:ident::$handler:ident,)*) => {
        /// Every route of the service as `(method, path)`, the method in lower case and the path in
        /// the form OpenAPI and actix share (`{id}`). The Swagger UI's asset files under `/docs/`
        /// are not listed: they are the page's plumbing, not an operation. Every `get` route
        /// answers `HEAD` too.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// Registers every route of the service, and the Swagger UI's asset files, one resource per
        /// path: a method the path does not take gets 405 with `Allow` (RFC 9110 §15.5.6) instead
        /// of falling through to the 404 of unknown paths, and `HEAD` is served wherever `GET` is
        /// (§9.3.2; actix sends a HEAD response's headers without its body).
        pub fn configure(config: &mut web::ServiceConfig) {
            let mut resources = Resources::default();
            $(
                resources.add($path, stringify!($method), web::$method().to($module::$handler));
                if stringify!($method) == "get" {
                    resources.add($path, "head", web::head().to($module::$handler));
                }
            )*
            resources.add(docs::ASSETS, "get", web::get().to(docs::swagger_ui_asset));
            resources.add(docs::ASSETS, "head", web::head().to(docs::swagger_ui_asset));
            resources.register(config);
        }

        /// The operations of every route, from each handler's `#[utoipa::path]`: a handler
        /// registered above without one does not compile.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($module::$handler),*))]
        pub(crate) struct RoutePaths;
    };
}

/// The routes of each path, gathered into one actix resource per path with the methods it takes.
#[derive(Default)]
struct Resources(Vec<PathResource>);

struct PathResource {
    path: &'static str,
    /// Upper case, in the order of the route table: the `Allow` header of a 405.
    methods: Vec<String>,
    resource: actix_web::Resource,
}

impl Resources {
    fn add(&mut self, path: &'static str, method: &str, route: actix_web::Route) {
        let index = self.0.iter().position(|known| known.path == path).unwrap_or_else(|| {
            self.0.push(PathResource { path, methods: Vec::new(), resource: web::resource(path) });
            self.0.len() - 1
        });
        let entry = &mut self.0[index];
        entry.methods.push(method.to_uppercase());
        // `Resource::route` takes the resource by value: swap in a blank one meanwhile.
        let resource = std::mem::replace(&mut entry.resource, web::resource(path));
        entry.resource = resource.route(route);
    }

    fn register(self, config: &mut web::ServiceConfig) {
        for PathResource { methods, resource, .. } in self.0 {
            let allow = methods.join(", ");
            let refuse = move || {
                let allow = allow.clone();
                async move { Err::<actix_web::HttpResponse, _>(crate::error::ApiError::method_not_allowed(&allow)) }
            };
            config.service(resource.default_service(web::to(refuse)));
        }
    }
}

route_table! {
    post "/v1/auth/register" => auth::register,
    post "/v1/auth/verify-email" => auth::verify_email,
    post "/v1/auth/verify-email/resend" => auth::resend_verification,
    post "/v1/auth/login" => auth::login,
    post "/v1/auth/login/mfa" => auth::login_mfa,
    post "/v1/auth/refresh" => auth::refresh,
    post "/v1/auth/logout" => auth::logout,
    post "/v1/auth/logout-all" => auth::logout_all,
    post "/v1/auth/password/forgot" => auth::forgot_password,
    post "/v1/auth/password/reset" => auth::reset_password,
    get "/v1/auth/verify" => auth::verify,
    get "/v1/users/me" => users::me,
    patch "/v1/users/me" => users::update_me,
    delete "/v1/users/me" => users::delete_me,
    post "/v1/users/me/password" => users::change_password,
    get "/v1/users/me/sessions" => users::sessions,
    delete "/v1/users/me/sessions/{id}" => users::revoke_session,
    post "/v1/users/me/mfa/totp" => mfa::begin_totp,
    post "/v1/users/me/mfa/totp/confirm" => mfa::confirm_totp,
    delete "/v1/users/me/mfa/totp" => mfa::remove_totp,
    get "/v1/admin/users" => admin::list_users,
    get "/v1/admin/users/{id}" => admin::get_user,
    patch "/v1/admin/users/{id}" => admin::update_user,
    delete "/v1/admin/users/{id}" => admin::delete_user,
    post "/v1/admin/users/{id}/sessions/revoke" => admin::revoke_user_sessions,
    get "/v1/admin/audit" => admin::audit_events,
    get "/.well-known/jwks.json" => well_known::jwks,
    get "/.well-known/openid-configuration" => well_known::openid_configuration,
    get "/.well-known/oauth-authorization-server" => well_known::authorization_server_metadata,
    post "/oauth/token" => oauth::token,
    post "/oauth/revoke" => oauth::revoke,
    post "/oauth/introspect" => oauth::introspect,
    get "/v1/revocations" => revocations::feed,
    get "/healthz" => health::healthz,
    get "/readyz" => health::readyz,
    get "/openapi.json" => docs::openapi_json,
    get "/docs" => docs::swagger_ui,
}

/// A response that no cache may keep (RFC 6749 §5.1): it carries a credential.
fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header((actix_web::http::header::PRAGMA, "no-cache"));
    builder
}

fn rfc3339<S: Serializer>(instant: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    time::serde::rfc3339::serialize(instant, serializer)
}

/// A user as the contract shows it: as stored now, not as a token remembers it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView {
    #[schema(format = Uuid)]
    id: String,
    /// Trimmed; compared case-insensitively.
    #[schema(format = Email, example = "ada@example.com", max_length = 254)]
    email: String,
    email_verified: bool,
    #[schema(example = "Ada")]
    display_name: Option<String>,
    #[schema(example = json!(["admin"]))]
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

/// A session's tokens and its user. Responses that carry one are never cached.
// `Debug` is written by hand below, to leave the tokens out.
#[derive(Serialize, ToSchema)]
#[schema(as = TokenPair)]
pub struct TokenPairView {
    /// A JWS compact JWT (`typ: at+jwt`), for `Authorization: Bearer`.
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    expires_in: i64,
    /// Opaque; rotates on every refresh. Keep it secret and use it once.
    refresh_token: String,
    /// Seconds until the session ends (the earlier of its idle and absolute limits).
    #[schema(example = 604_800)]
    refresh_expires_in: i64,
    #[schema(format = Uuid)]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionItem {
    #[schema(format = Uuid)]
    id: String,
    #[serde(serialize_with = "rfc3339")]
    created_at: OffsetDateTime,
    #[serde(serialize_with = "rfc3339")]
    last_used_at: OffsetDateTime,
    /// The client address seen when the session was made.
    ip: Option<String>,
    user_agent: Option<String>,
    /// Whether this is the session of the token that asked.
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

/// A list of the caller's live sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    sessions: Vec<SessionItem>,
}

/// The answer of requests that are accepted whatever the address, so that it tells nothing about
/// which addresses have accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    status: AcceptedStatus,
}

/// `verification_sent` for registration and a new verification link, `accepted` for a
/// password-reset request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AcceptedStatus {
    VerificationSent,
    Accepted,
}

impl Accepted {
    fn response(status: AcceptedStatus) -> actix_web::HttpResponse {
        actix_web::HttpResponse::Accepted().json(Self { status })
    }
}
