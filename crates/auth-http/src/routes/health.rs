//! Liveness, readiness and metrics (the last on the management address only).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::probes::Probes;

/// The process lives.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Whether the process can serve, and each check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `unavailable` when any check failed.
    #[schema(example = "ready")]
    status: &'static str,
    checks: ReadinessChecks,
}

/// Each check: `ok` or `unavailable`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    #[schema(example = "ok")]
    database: &'static str,
    /// Redis, or `ok` when revocations and rate limits are kept in the process.
    #[schema(example = "ok")]
    cache: &'static str,
    #[schema(example = "ok")]
    signing_keys: &'static str,
}

/// Prometheus metrics: requests by route and status, their latency, problems by code, pool
/// usage. No user or email in any label.
///
/// Served only by the server of AUTH_METRICS_LISTEN, never on the API's address: some counters
/// (mail sent) move only for known addresses, so a public scrape would tell which emails have
/// accounts. Not an operation of the API, hence not in its OpenAPI document.
pub async fn metrics(probes: web::Data<Probes>) -> HttpResponse {
    let (open, in_use) = probes.database.pool_usage();
    metrics::gauge!("db_pool_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(in_use));
    // Read at scrape time, so that every replica reports the shared queue as it is now.
    if let Ok(stats) = probes.mail_queue.stats().await {
        #[allow(clippy::cast_precision_loss)]
        {
            metrics::gauge!("mail_queue_jobs", "status" => "pending").set(stats.pending as f64);
            metrics::gauge!("mail_queue_jobs", "status" => "failed").set(stats.failed as f64);
        }
    }
    let handle = crate::telemetry::metrics();
    handle.run_upkeep();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(handle.render())
}

/// Liveness
///
/// The process lives; nothing behind it is checked.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process lives.", body = Health)),
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness
///
/// The process can serve: the database and the cache answer, and a signing key is loaded. Each
/// check is bounded by its adapter's timeout; a failure names what failed.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready: every check is `ok`.", body = Readiness),
        (status = 503, description = "Not ready: `checks` names what failed. Not a problem document: a probe reads the status.", body = Readiness,
            example = json!({ "status": "unavailable", "checks": { "database": "unavailable", "cache": "ok", "signing_keys": "ok" } })),
    ),
)]
pub async fn readyz(probes: web::Data<Probes>) -> HttpResponse {
    let cache = async {
        match &probes.redis {
            Some(redis) => redis.ping().await,
            None => Ok(()),
        }
    };
    let (database, cache) = tokio::join!(probes.database.ping(), cache);
    let signing_keys = probes.codec.can_sign();
    let state = |ok: bool| if ok { "ok" } else { "unavailable" };
    let checks = ReadinessChecks {
        database: state(database.is_ok()),
        cache: state(cache.is_ok()),
        signing_keys: state(signing_keys),
    };
    if let Err(error) = &database {
        tracing::warn!(error = %error, "readiness check failed: database");
    }
    if let Err(error) = &cache {
        tracing::warn!(error = %error, "readiness check failed: cache");
    }
    if database.is_ok() && cache.is_ok() && signing_keys {
        HttpResponse::Ok().json(Readiness { status: "ready", checks })
    } else {
        HttpResponse::ServiceUnavailable().json(Readiness { status: "unavailable", checks })
    }
}
