//! The HTTP servers: the API with its middleware and extractor limits, and `/metrics` alone.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header::HeaderValue;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use auth_adapters::jwt::JwtCodec;
use auth_domain::AuthServices;

use crate::app_services::AppServices;
use crate::config::Settings;
use crate::error::{ApiError, json_error, query_error};
use crate::extractors::TrustedProxies;
use crate::probes::Probes;
use crate::request_id::{ResponseHeaders, middleware};
use crate::routes;

/// The largest request body accepted, JSON or not.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the API's handlers are given.
pub(super) struct Shared {
    pub services: AuthServices,
    pub codec: Arc<JwtCodec>,
    pub probes: Probes,
}

/// CORS for the configured browser origins only. Credentials (cookies) are not allowed: the API
/// takes Bearer tokens, which a browser never attaches on its own.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            actix_web::http::header::RETRY_AFTER,
        ])
        .max_age(600)
        // Another origin's request is served without CORS headers (the browser then withholds the
        // answer), not refused: same-origin pages and non-browser clients send Origin too.
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// A server of `/metrics` alone, for AUTH_METRICS_LISTEN: scrapers reach it on an internal
/// address. It is the only place metrics are served: the API's address answers 404 for them.
pub(super) fn run_metrics(listener: TcpListener, probes: Probes) -> anyhow::Result<Server> {
    let probes = web::Data::new(probes);
    let server = HttpServer::new(move || {
        App::new().app_data(probes.clone()).route("/metrics", web::get().to(routes::health::metrics))
    })
    .workers(1)
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    Ok(server)
}

pub(super) fn run(listener: TcpListener, shared: Shared, settings: &Settings) -> anyhow::Result<Server> {
    let server_settings = &settings.server;
    let services = AppServices::new(shared.services);
    let codec = web::Data::from(shared.codec);
    let probes = web::Data::new(shared.probes);
    let proxies = web::Data::new(TrustedProxies(server_settings.trusted_proxies.clone()));
    let response_headers = web::Data::new(ResponseHeaders {
        hsts: server_settings
            .hsts
            .as_deref()
            .map(HeaderValue::from_str)
            .transpose()
            .context("AUTH_HSTS is not a header value")?,
    });
    let cors_origins = server_settings.cors_origins.clone();
    let discovery = web::Data::new(routes::well_known::Discovery::new(
        &server_settings.public_url,
        &settings.tokens.issuer,
        settings.keys.signing_algorithm.jose_name(),
    ));
    let server = HttpServer::new(move || {
        App::new()
            .wrap(cors(&cors_origins))
            .wrap(from_fn(middleware))
            .app_data(codec.clone())
            .app_data(probes.clone())
            .app_data(proxies.clone())
            .app_data(response_headers.clone())
            .app_data(discovery.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .app_data(
                web::FormConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .error_handler(|error, _| routes::oauth::form_error(&error).into()),
            )
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .content_type_required(true)
                    .error_handler(|error, _| json_error(error).into()),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("no such resource").into()))
            .app_data(web::QueryConfig::default().error_handler(|error, _| query_error(&error).into()))
            .configure(|config| services.register(config))
            .configure(routes::configure)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::not_found("no route matches this method and path"))
            }))
    })
    .listen(listener)?
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(5))
    .keep_alive(Duration::from_secs(30))
    .shutdown_timeout(15)
    .run();
    Ok(server)
}
