//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::Dependencies;

/// Where `/metrics` is served: beside the API (the default), or only on AUTH_METRICS_LISTEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsExposure {
    /// This server serves them.
    Here,
    /// Another address does; this server answers 404, as for any unknown path.
    Elsewhere,
}

/// Prometheus text format: requests by route and status, their latency, problems by code, pools.
pub async fn metrics(
    dependencies: web::Data<Dependencies>,
    exposure: Option<web::Data<MetricsExposure>>,
) -> Result<HttpResponse, crate::error::ApiError> {
    if exposure.is_some_and(|exposure| **exposure == MetricsExposure::Elsewhere) {
        return Err(crate::error::ApiError::not_found("no route matches this method and path"));
    }
    let (open, in_use) = dependencies.database.pool_usage();
    metrics::gauge!("db_pool_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    // Read at scrape time, so that every replica reports the shared queue as it is now.
    if let Ok(stats) = dependencies.mail_queue.stats().await {
        #[allow(clippy::cast_precision_loss)]
        {
            metrics::gauge!("mail_queue_jobs", "status" => "pending").set(stats.pending as f64);
            metrics::gauge!("mail_queue_jobs", "status" => "failed").set(stats.failed as f64);
        }
    }
    let handle = crate::telemetry::metrics();
    handle.run_upkeep();
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render()))
}

/// The process lives.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The process can serve: the database and the cache answer, and a signing key is loaded.
/// Each check is bounded by its adapter's timeout; a failure names what failed.
pub async fn readyz(dependencies: web::Data<Dependencies>) -> HttpResponse {
    let cache = async {
        match &dependencies.redis {
            Some(redis) => redis.ping().await,
            None => Ok(()),
        }
    };
    let (database, cache) = tokio::join!(dependencies.database.ping(), cache);
    let signing_keys = dependencies.codec.can_sign();
    let state = |ok: bool| if ok { "ok" } else { "unavailable" };
    let checks = json!({
        "database": state(database.is_ok()),
        "cache": state(cache.is_ok()),
        "signing_keys": state(signing_keys),
    });
    if let Err(error) = &database {
        tracing::warn!(error = %error, "readiness check failed: database");
    }
    if let Err(error) = &cache {
        tracing::warn!(error = %error, "readiness check failed: cache");
    }
    if database.is_ok() && cache.is_ok() && signing_keys {
        HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable", "checks": checks }))
    }
}
