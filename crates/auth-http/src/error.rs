//! Every error a client can see: problem documents (RFC 9457), mapped from the domain in one place
//! (`domain`), and from the extractors' refusals (`payload`).
//!
//! The mappings are exhaustive on purpose: a new domain error does not compile until someone
//! decides what a client sees of it. 5xx bodies are opaque; their cause is logged here, once.

mod domain;
mod payload;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use auth_domain::{FieldError, InfrastructureError, RateLimitExceeded};
use serde::Serialize;

pub use self::payload::{json_error, query_error};
use crate::request_id::current_request_id;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document and the headers that go with it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    headers: Vec<(header::HeaderName, String)>,
}

/// A problem document (RFC 9457) as clients receive it, with `Content-Type: application/problem+json`.
/// Clients branch on `code`, never on `title` or `detail`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "urn:authd:problem:invalid_credentials",
    "title": "Unauthorized",
    "status": 401,
    "detail": "the email or password is wrong",
    "code": "invalid_credentials",
    "request_id": "0197a5c2-6f1e-7c3a-9d4b-2e8f1a6b5c3d"
}))]
pub struct Problem {
    /// `urn:authd:problem:` followed by the code.
    #[serde(rename = "type")]
    #[schema(example = "urn:authd:problem:invalid_credentials")]
    kind: String,
    /// The HTTP status's reason phrase.
    #[schema(example = "Unauthorized")]
    title: &'static str,
    /// The HTTP status code, the same as the response's.
    #[schema(example = 401)]
    status: u16,
    /// A sentence for people; it may change at any time.
    detail: String,
    /// The stable, machine-readable outcome; each operation lists the codes it can answer with.
    #[schema(example = "invalid_credentials")]
    code: &'static str,
    /// The request's `X-Request-Id`, to quote when asking about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    /// With `validation_failed` only: every invalid field at once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<ProblemFieldError>)]
    errors: Vec<FieldError>,
}

/// One invalid field of a request, as `errors` of a `validation_failed` problem lists it.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the JSON of auth_domain::FieldError, which the domain cannot derive a schema for"
)]
struct ProblemFieldError {
    /// The request field, e.g. `password`.
    #[schema(example = "password")]
    field: String,
    /// A stable code: `required`, `invalid`, `too_short`, `too_long`, `too_weak` or `breached`.
    #[schema(example = "too_short")]
    code: String,
    /// A sentence for people.
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), errors: Vec::new(), headers: Vec::new() }
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "validation_failed", "some fields are invalid");
        error.errors = errors;
        error
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 403 for a caller whose token is valid but lacks what the route requires.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 403 for a sensitive change that needs a fresh proof: a sign-in within the last 5 minutes,
    /// or the password.
    pub fn reauthentication_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "reauthentication_required",
            "sign in again, or give the password, to change the second factor",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 405 for a known path and a method it does not take (RFC 9110 §15.5.6): `allow` lists the
    /// methods it does take.
    pub fn method_not_allowed(allow: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not take this method; see Allow",
        )
        .with_header(header::ALLOW, allow)
    }

    /// 401 for a request that sent no token (RFC 6750 §3.1: no error code).
    pub fn missing_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "missing_token", "this route needs a Bearer access token")
            .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"authd\"")
    }

    /// 401 for a token that was presented and refused.
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", detail)
            .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"authd\", error=\"invalid_token\"")
    }

    /// 401 for a resource-server client whose HTTP Basic credentials are missing or wrong.
    pub fn invalid_client() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", "this route needs the HTTP Basic credentials of a client")
            .with_header(header::WWW_AUTHENTICATE, "Basic realm=\"authd\"")
    }

    pub fn rate_limited(exceeded: RateLimitExceeded) -> Self {
        let retry_after = exceeded.retry_after.as_secs().max(1).to_string();
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; retry later")
            .with_header(header::RETRY_AFTER, retry_after.clone())
            .with_header(header::HeaderName::from_static("ratelimit-limit"), exceeded.limit.to_string())
            .with_header(header::HeaderName::from_static("ratelimit-remaining"), "0")
            .with_header(header::HeaderName::from_static("ratelimit-reset"), retry_after)
    }

    /// 401 for a valid token whose account was deleted since it was issued.
    pub fn account_gone() -> Self {
        Self::invalid_token("the account no longer exists")
    }

    /// 403 for an account an administrator disabled.
    pub fn account_disabled() -> Self {
        Self::new(StatusCode::FORBIDDEN, "account_disabled", "this account is disabled")
    }

    pub fn overloaded() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the service is busy; retry shortly")
            .with_header(header::RETRY_AFTER, "1")
    }

    /// 503 or 500 for a failure behind a port; the cause is logged here and never shown.
    pub fn infrastructure(error: &InfrastructureError) -> Self {
        tracing::error!(error = %error, error.cause = ?std::error::Error::source(error), "a backing service failed");
        match error {
            InfrastructureError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "a backing service is unavailable; retry shortly",
            )
            .with_header(header::RETRY_AFTER, "1"),
            InfrastructureError::Unexpected(_) => Self::internal(),
        }
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "something went wrong on our side")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        // Login failures, reuse detections, rate-limit hits...: each outcome has its stable code.
        metrics::counter!("auth_problems_total", "code" => self.code).increment(1);
        let document = Problem {
            kind: format!("urn:authd:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            request_id: current_request_id(),
            errors: self.errors.clone(),
        };
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.append_header((name.clone(), value));
            }
        }
        response.body(serde_json::to_string(&document).unwrap_or_default())
    }
}

impl From<InfrastructureError> for ApiError {
    fn from(error: InfrastructureError) -> Self {
        Self::infrastructure(&error)
    }
}
