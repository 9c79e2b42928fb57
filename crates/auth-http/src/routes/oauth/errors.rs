//! The OAuth 2.0 endpoints' errors: RFC 6749 §5.2 JSON (`error`, `error_description`), and how the
//! domain's outcomes become them.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use auth_domain::services::{ClientAuthError, LoginError, RefreshError};
use auth_domain::{InfrastructureError, RateLimitExceeded};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::routes::no_store;

impl From<ClientAuthError> for OAuthError {
    fn from(error: ClientAuthError) -> Self {
        match error {
            ClientAuthError::Throttled(exceeded) => {
                Self::rate_limited(&exceeded, "too many failed client authentications from this address")
            }
            ClientAuthError::Rejected => Self::invalid_client(),
            ClientAuthError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<ClientAuthError> for ApiError {
    fn from(error: ClientAuthError) -> Self {
        match error {
            ClientAuthError::Throttled(exceeded) => Self::rate_limited(exceeded),
            ClientAuthError::Rejected => Self::invalid_client(),
            ClientAuthError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

/// An OAuth error, as RFC 6749 §5.2 has it.
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`,
    /// `temporarily_unavailable` or `server_error`.
    #[schema(example = "invalid_grant")]
    error: &'static str,
    /// A sentence for people.
    error_description: String,
}

impl OAuthError {
    pub(super) fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into(), retry_after: None }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub(super) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub(super) fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "HTTP Basic credentials of a configured client are required",
        )
    }

    pub(super) fn unavailable(retry_after: u64, description: impl Into<String>) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", description)
        }
    }

    /// RFC 6749 has no code for a rate limit; `temporarily_unavailable` is the one clients retry.
    pub(super) fn rate_limited(exceeded: &RateLimitExceeded, description: &str) -> Self {
        Self {
            retry_after: Some(exceeded.retry_after.as_secs().max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable", description)
        }
    }

    pub(super) fn infrastructure(error: &InfrastructureError) -> Self {
        tracing::error!(error = %error, error.cause = ?std::error::Error::source(error), "a backing service failed");
        match error {
            InfrastructureError::Unavailable(_) => Self::unavailable(1, "a backing service is unavailable"),
            InfrastructureError::Unexpected(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "something went wrong on our side")
            }
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.error, self.description)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        metrics::counter!("auth_problems_total", "code" => self.error).increment(1);
        let mut response = no_store(HttpResponse::build(self.status));
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if self.error == "invalid_client" {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"authd\"")));
        }
        response.json(OAuthErrorBody { error: self.error, error_description: self.description.clone() })
    }
}

/// Turns a form that does not parse (or is not a form) into `invalid_request`.
pub fn form_error(error: &actix_web::error::UrlencodedError) -> OAuthError {
    OAuthError::invalid_request(format!("the request body must be an application/x-www-form-urlencoded form: {error}"))
}

impl From<LoginError> for OAuthError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => Self::invalid_grant("the username or password is wrong"),
            LoginError::EmailNotVerified => Self::invalid_grant("the email address is not verified yet"),
            LoginError::AccountDisabled => Self::invalid_grant("the account is disabled"),
            LoginError::RateLimited(exceeded) => Self::rate_limited(&exceeded, "too many attempts; retry later"),
            LoginError::Overloaded => Self::unavailable(1, "the service is busy; retry shortly"),
            LoginError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<RefreshError> for OAuthError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::InvalidRefreshToken => Self::invalid_grant("the refresh token is not valid"),
            RefreshError::Reused => Self::invalid_grant("the refresh token was used before; the session is revoked"),
            RefreshError::SessionExpired => Self::invalid_grant("the session has expired"),
            RefreshError::AccountDisabled => Self::invalid_grant("the account is disabled"),
            RefreshError::RateLimited(exceeded) => Self::rate_limited(&exceeded, "too many refreshes; retry later"),
            RefreshError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}
