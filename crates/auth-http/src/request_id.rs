//! The middleware every request passes: request id, security headers, and one log line.

use std::time::Instant;

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::error::ApiError;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// The most header bytes (names and values) a request may carry: an Authorization header with the
/// longest token we accept, and ordinary browser headers, fit with room to spare.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, for problem documents.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The request's id, in the request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The client's own id when it is 1 to 128 characters of `[A-Za-z0-9._-]`; otherwise a new one.
fn choose_request_id(presented: Option<&HeaderValue>) -> String {
    presented
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// Settings of [`middleware`] that come from configuration.
#[derive(Debug, Clone, Default)]
pub struct ResponseHeaders {
    pub hsts: Option<HeaderValue>,
}

/// Gives every request an id (echoed in `X-Request-Id` and problem documents), adds the security
/// headers of the contract, and logs one line per request.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let started = Instant::now();
    let request_id = choose_request_id(request.headers().get(&REQUEST_ID_HEADER));
    let header_bytes: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.as_bytes().len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        let refusal = REQUEST_ID.sync_scope(request_id.clone(), || {
            ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                format!("the request headers are larger than {} KiB", MAX_HEADER_BYTES / 1024),
            )
            .error_response()
        });
        let mut response = request.into_response(refusal).map_into_right_body();
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        return Ok(response);
    }
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let hsts = request.app_data::<actix_web::web::Data<ResponseHeaders>>().and_then(|headers| headers.hsts.clone());
    // The method as the metrics, span and log see it: one of a fixed set, since a client may send
    // any token as a method and each distinct label would be kept for the process's life.
    let method = method_label(request.method());
    let path = request.path().to_owned();
    // One span per request, the child of the caller's `traceparent` when it sends one; the port
    // calls made while serving it (database, Redis, hashing) are its children.
    // The route pattern, known before the handler runs: the span is named after it (never after
    // a path with ids in it).
    let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request.id = %request_id,
        user.id = tracing::field::Empty,
    );
    let _ = span.set_parent(crate::telemetry::remote_context(request.headers()));

    let mut response = REQUEST_ID.scope(request_id.clone(), next.call(request)).instrument(span.clone()).await?;

    span.record("http.response.status_code", i64::from(response.status().as_u16()));
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    let _entered = span.enter();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    if path.starts_with("/v1/") && !headers.contains_key(header::CACHE_CONTROL) {
        // Everything under /v1 is personal; no shared cache may keep it.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    // Labels are the route pattern and the status, never a path with ids in it, nor a user.
    // Every label is bounded: a known method or "other", a route pattern or "unmatched", a status.
    let labels = [("method", method.to_owned()), ("route", route.clone()), ("status", status.to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    tracing::info!(
        http.method = %method,
        http.route = %route,
        http.status = status,
        duration_ms = format_args!("{duration_ms:.2}"),
        request.id = %request_id,
        "request served"
    );
    Ok(response.map_into_left_body())
}

/// The name of a method RFC 9110 or RFC 5789 defines, else `other`.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_client_request_id_is_kept() {
        assert_eq!(choose_request_id(Some(&HeaderValue::from_static("abc-123._X"))), "abc-123._X");
    }

    #[test]
    fn a_malformed_or_missing_request_id_is_replaced() {
        let replaced = choose_request_id(Some(&HeaderValue::from_static("has space")));
        assert_ne!(replaced, "has space");
        assert!(uuid::Uuid::parse_str(&replaced).is_ok());
        assert!(uuid::Uuid::parse_str(&choose_request_id(None)).is_ok());
        let long = "a".repeat(129);
        assert_ne!(choose_request_id(Some(&HeaderValue::from_str(&long).expect("ascii"))), long);
    }
}
