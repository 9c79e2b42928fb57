//! The actix-web extractor (feature `actix`): [`AuthenticatedUser`] from `Authorization: Bearer`,
//! and [`AuthenticationError`], the 401 or 503 answer when there is none.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use uuid::Uuid;

use crate::{Claims, Verifier, VerifyError};

/// The caller of a request, proven by a Bearer access token that [`Verifier::verify`] accepted.
///
/// The [`Verifier`] is taken from the app data, as `web::Data<Verifier>` (or a plain `Verifier`
/// registered with `App::app_data`). A request without a usable token never reaches the handler:
///
/// - no `Authorization: Bearer` header: 401, `WWW-Authenticate: Bearer` (no error code, as
///   RFC 6750 §3.1 asks when no credentials were sent), problem code `missing_token`;
/// - a token refused: 401, `WWW-Authenticate: Bearer error="invalid_token"`, code `invalid_token`;
/// - keys unavailable or revocation feed stale: 503 with `Retry-After: 1`, code
///   `service_unavailable`: the token may well be fine, we cannot tell right now, and a 401 would
///   make clients throw away good tokens and log their users out;
/// - no `Verifier` in the app data: 500 (a wiring mistake, logged).
///
/// Bodies are RFC 9457 problem documents (`application/problem+json`).
#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    /// The user (`sub`).
    pub user_id: Uuid,
    /// The login session (`sid`).
    pub session_id: Uuid,
    /// The roles the token carries.
    pub roles: Vec<String>,
    /// Every claim of the token.
    pub claims: Claims,
}

impl AuthenticatedUser {
    /// Whether the token carries `role` (exact match).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }
}

impl From<Claims> for AuthenticatedUser {
    fn from(claims: Claims) -> Self {
        Self { user_id: claims.user_id(), session_id: claims.session_id(), roles: claims.roles().to_vec(), claims }
    }
}

impl FromRequest for AuthenticatedUser {
    type Error = AuthenticationError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = request
            .app_data::<web::Data<Verifier>>()
            .map(|data| data.get_ref().clone())
            .or_else(|| request.app_data::<Verifier>().cloned());
        let token = bearer_token(request);
        Box::pin(async move {
            let Some(verifier) = verifier else {
                tracing::error!("AuthenticatedUser needs a Verifier in the app data (web::Data<Verifier>)");
                return Err(AuthenticationError::new(AuthenticationFailure::NoVerifier));
            };
            let token = token.ok_or(AuthenticationError::new(AuthenticationFailure::MissingToken))?;
            match verifier.verify(&token).await {
                Ok(claims) => Ok(Self::from(claims)),
                Err(error) => {
                    if error.is_unavailable() {
                        tracing::warn!(token.rejection = %error, "a token cannot be verified now");
                    } else {
                        tracing::debug!(token.rejection = %error, "a token was refused");
                    }
                    Err(AuthenticationError::new(AuthenticationFailure::Refused(error)))
                }
            }
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 7235 §2.1). Another scheme, or no header, is no token.
fn bearer_token(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(token.trim().to_owned())
}

#[derive(Debug, Clone, Copy)]
enum AuthenticationFailure {
    MissingToken,
    Refused(VerifyError),
    NoVerifier,
}

/// Why [`AuthenticatedUser`] could not be extracted; answers as described there.
#[derive(Debug, Clone)]
pub struct AuthenticationError {
    failure: AuthenticationFailure,
}

impl AuthenticationError {
    fn new(failure: AuthenticationFailure) -> Self {
        Self { failure }
    }

    /// Why the token was refused, when one was presented and verified.
    pub fn verify_error(&self) -> Option<VerifyError> {
        match self.failure {
            AuthenticationFailure::Refused(error) => Some(error),
            _ => None,
        }
    }

    fn code(&self) -> &'static str {
        match self.failure {
            AuthenticationFailure::MissingToken => "missing_token",
            AuthenticationFailure::Refused(error) if error.is_unavailable() => "service_unavailable",
            AuthenticationFailure::Refused(_) => "invalid_token",
            AuthenticationFailure::NoVerifier => "internal_error",
        }
    }
}

impl std::fmt::Display for AuthenticationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.failure {
            AuthenticationFailure::MissingToken => f.write_str("this route needs a Bearer access token"),
            AuthenticationFailure::Refused(error) if error.is_unavailable() => {
                f.write_str("the token cannot be verified right now; retry shortly")
            }
            AuthenticationFailure::Refused(error) => error.fmt(f),
            AuthenticationFailure::NoVerifier => f.write_str("something went wrong on our side"),
        }
    }
}

impl std::error::Error for AuthenticationError {}

impl ResponseError for AuthenticationError {
    fn status_code(&self) -> StatusCode {
        match self.failure {
            AuthenticationFailure::MissingToken => StatusCode::UNAUTHORIZED,
            AuthenticationFailure::Refused(error) if error.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            AuthenticationFailure::Refused(_) => StatusCode::UNAUTHORIZED,
            AuthenticationFailure::NoVerifier => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json")));
        match self.failure {
            AuthenticationFailure::MissingToken => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            AuthenticationFailure::Refused(error) if error.is_unavailable() => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            AuthenticationFailure::Refused(_) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            AuthenticationFailure::NoVerifier => {}
        }
        response.body(
            serde_json::json!({
                "type": format!("urn:authd:problem:{}", self.code()),
                "title": status.canonical_reason().unwrap_or("Error"),
                "status": status.as_u16(),
                "detail": self.to_string(),
                "code": self.code(),
            })
            .to_string(),
        )
    }
}
