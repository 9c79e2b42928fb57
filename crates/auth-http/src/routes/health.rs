//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::Dependencies;

/// The process lives.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The process can serve: its database answers (the in-process store always does).
pub async fn readyz(dependencies: web::Data<Dependencies>) -> HttpResponse {
    let database = dependencies.database.ping().await;
    let checks = json!({
        "database": if database.is_ok() { "ok" } else { "unavailable" },
        "cache": "ok",
    });
    match database {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks })),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed: database");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable", "checks": checks }))
        }
    }
}
