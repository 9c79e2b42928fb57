//! A downstream service that trusts authd's access tokens without calling authd per request: its
//! routes take an [`AuthenticatedUser`], which [`auth_verifier::Verifier`] checks locally.
//!
//! Start it on any listener, which is how tests drive it:
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let verifier = auth_verifier::Verifier::builder("http://127.0.0.1:8080", "authd")
//!     .jwks_url("http://127.0.0.1:8080/.well-known/jwks.json")
//!     .build()
//!     .await?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let address = listener.local_addr()?;
//! let server = downstream_example::run(listener, verifier)?;
//! let handle = server.handle();
//! tokio::spawn(server);
//! // ... GET http://{address}/whoami with a Bearer token ...
//! handle.stop(true).await;
//! # Ok(())
//! # }
//! ```

mod settings;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use auth_verifier::{AuthenticatedUser, Verifier};
use serde::Serialize;

pub use settings::{Settings, SettingsError};

/// What `GET /whoami` answers: who the token says the caller is.
#[derive(Debug, Serialize)]
pub struct WhoAmI {
    pub user_id: String,
    pub session_id: String,
    pub roles: Vec<String>,
}

/// The routes: `GET /whoami`, `GET /admin-only` (403 without the `admin` role), `GET /healthz`
/// and `GET /readyz` (503 until the verifier has keys and a fresh revocation list). The
/// [`Verifier`] must be in the app data as `web::Data<Verifier>`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/whoami", web::get().to(who_am_i))
        .route("/admin-only", web::get().to(admin_only))
        .route("/healthz", web::get().to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }))
        .route("/readyz", web::get().to(ready));
}

/// Serves [`configure`]'s routes on `listener` with `verifier`. The returned server does nothing
/// until awaited or spawned; its [`handle`](Server::handle) stops it.
///
/// # Errors
/// When the listener cannot be used.
pub fn run(listener: TcpListener, verifier: Verifier) -> std::io::Result<Server> {
    let verifier = web::Data::new(verifier);
    let server = HttpServer::new(move || App::new().app_data(verifier.clone()).configure(configure))
        .listen(listener)?
        // Tests start this next to authd on a two-core machine: two workers are plenty.
        .workers(2)
        .run();
    Ok(server)
}

async fn who_am_i(user: AuthenticatedUser) -> HttpResponse {
    HttpResponse::Ok().json(WhoAmI {
        user_id: user.user_id.to_string(),
        session_id: user.session_id.to_string(),
        roles: user.roles,
    })
}

async fn admin_only(user: AuthenticatedUser) -> HttpResponse {
    if !user.has_role("admin") {
        return HttpResponse::Forbidden().content_type("application/problem+json").json(serde_json::json!({
            "type": "urn:authd:problem:forbidden",
            "title": "Forbidden",
            "status": 403,
            "detail": "this route needs the admin role",
            "code": "forbidden",
        }));
    }
    HttpResponse::Ok().json(serde_json::json!({"user_id": user.user_id.to_string(), "admin": true}))
}

async fn ready(verifier: web::Data<Verifier>) -> HttpResponse {
    if verifier.is_ready() {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "not_ready"}))
    }
}
