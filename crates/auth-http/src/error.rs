//! Every error a client can see: problem documents (RFC 9457), mapped from the domain in one place.
//!
//! The matches below are exhaustive on purpose: a new domain error does not compile until someone
//! decides what a client sees of it. 5xx bodies are opaque; their cause is logged here, once.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use auth_domain::services::{
    AdminError, AuthenticateError, ChangePasswordError, ConfirmTotpError, DeleteAccountError, EnrolTotpError,
    ForgotPasswordError, GrantRoleError, LoginError, MfaLoginError, ProfileError, RefreshError, RegisterError,
    RemoveTotpError, ResendVerificationError, ResetPasswordError, RevokeSessionError, SessionError, VerifyEmailError,
};
use auth_domain::{FieldError, InfrastructureError, RateLimitExceeded};
use serde::Serialize;

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

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Validation(errors) => Self::validation(errors),
            RegisterError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            RegisterError::Overloaded => Self::overloaded(),
            RegisterError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<VerifyEmailError> for ApiError {
    fn from(error: VerifyEmailError) -> Self {
        match error {
            VerifyEmailError::InvalidToken => {
                Self::bad_request("invalid_token", "the token is unknown, already used or expired")
            }
            VerifyEmailError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<ResendVerificationError> for ApiError {
    fn from(error: ResendVerificationError) -> Self {
        match error {
            ResendVerificationError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            ResendVerificationError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "the email or password is wrong")
            }
            LoginError::EmailNotVerified => {
                Self::new(StatusCode::FORBIDDEN, "email_not_verified", "verify your email address first")
            }
            LoginError::AccountDisabled => {
                Self::new(StatusCode::FORBIDDEN, "account_disabled", "this account is disabled")
            }
            LoginError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            LoginError::Overloaded => Self::overloaded(),
            LoginError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::InvalidRefreshToken => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_refresh_token", "the refresh token is not valid")
            }
            RefreshError::Reused => Self::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "this refresh token was used before; the session has been revoked",
            ),
            RefreshError::SessionExpired => {
                Self::new(StatusCode::UNAUTHORIZED, "session_expired", "the session has expired")
            }
            RefreshError::AccountDisabled => {
                Self::new(StatusCode::FORBIDDEN, "account_disabled", "this account is disabled")
            }
            RefreshError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            RefreshError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::InvalidToken(rejection) => {
                tracing::debug!(token.rejection = %rejection, "access token refused");
                Self::invalid_token("the access token is invalid or expired")
            }
            AuthenticateError::Revoked => Self::invalid_token("the access token's session has ended"),
            // Fail closed: a token whose revocation cannot be checked is not honoured.
            AuthenticateError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(error: ProfileError) -> Self {
        match error {
            ProfileError::UserGone => Self::invalid_token("the account no longer exists"),
            ProfileError::Validation(errors) => Self::validation(errors),
            ProfileError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<RevokeSessionError> for ApiError {
    fn from(error: RevokeSessionError) -> Self {
        match error {
            RevokeSessionError::NotFound => Self::not_found("no such session"),
            RevokeSessionError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<ForgotPasswordError> for ApiError {
    fn from(error: ForgotPasswordError) -> Self {
        match error {
            ForgotPasswordError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            ForgotPasswordError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<ResetPasswordError> for ApiError {
    fn from(error: ResetPasswordError) -> Self {
        match error {
            ResetPasswordError::InvalidToken => {
                Self::bad_request("invalid_token", "the token is unknown, already used or expired")
            }
            ResetPasswordError::Validation(errors) => Self::validation(errors),
            ResetPasswordError::Overloaded => Self::overloaded(),
            ResetPasswordError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(error: ChangePasswordError) -> Self {
        match error {
            ChangePasswordError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "the current password is wrong")
            }
            ChangePasswordError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            ChangePasswordError::Validation(errors) => Self::validation(errors),
            ChangePasswordError::UserGone => Self::invalid_token("the account no longer exists"),
            ChangePasswordError::Overloaded => Self::overloaded(),
            ChangePasswordError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<DeleteAccountError> for ApiError {
    fn from(error: DeleteAccountError) -> Self {
        match error {
            DeleteAccountError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "the password is wrong")
            }
            DeleteAccountError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            DeleteAccountError::UserGone => Self::invalid_token("the account no longer exists"),
            DeleteAccountError::Overloaded => Self::overloaded(),
            DeleteAccountError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<GrantRoleError> for ApiError {
    fn from(error: GrantRoleError) -> Self {
        match error {
            GrantRoleError::UnknownUser => Self::not_found("no account has this email"),
            GrantRoleError::InvalidRole(error) => Self::bad_request("invalid_role", error.to_string()),
            GrantRoleError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<MfaLoginError> for ApiError {
    fn from(error: MfaLoginError) -> Self {
        match error {
            // One code for both: either way the client asks for a code again, or logs in again.
            MfaLoginError::InvalidMfaToken => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_mfa_code",
                "the MFA token is unknown, expired or used; log in again",
            ),
            MfaLoginError::InvalidCode => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_mfa_code", "the code is wrong, spent or replayed")
            }
            MfaLoginError::AccountDisabled => {
                Self::new(StatusCode::FORBIDDEN, "account_disabled", "this account is disabled")
            }
            MfaLoginError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            MfaLoginError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<EnrolTotpError> for ApiError {
    fn from(error: EnrolTotpError) -> Self {
        match error {
            EnrolTotpError::AlreadyEnabled => {
                Self::new(StatusCode::CONFLICT, "mfa_already_enabled", "a second factor is already enabled")
            }
            EnrolTotpError::ReauthenticationRequired => Self::reauthentication_required(),
            EnrolTotpError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "the password is wrong")
            }
            EnrolTotpError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            EnrolTotpError::Overloaded => Self::overloaded(),
            EnrolTotpError::UserGone => Self::invalid_token("the account no longer exists"),
            EnrolTotpError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<ConfirmTotpError> for ApiError {
    fn from(error: ConfirmTotpError) -> Self {
        match error {
            ConfirmTotpError::NotPending => {
                Self::new(StatusCode::CONFLICT, "mfa_not_pending", "no TOTP enrolment is pending; start one first")
            }
            ConfirmTotpError::InvalidCode => Self::bad_request("invalid_mfa_code", "the code is wrong"),
            ConfirmTotpError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            ConfirmTotpError::UserGone => Self::invalid_token("the account no longer exists"),
            ConfirmTotpError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<RemoveTotpError> for ApiError {
    fn from(error: RemoveTotpError) -> Self {
        match error {
            RemoveTotpError::NotEnabled => Self::bad_request("mfa_not_enabled", "no second factor is enabled"),
            RemoveTotpError::InvalidCode => {
                Self::bad_request("invalid_mfa_code", "the code is wrong, spent or replayed")
            }
            RemoveTotpError::ReauthenticationRequired => Self::reauthentication_required(),
            RemoveTotpError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "the password is wrong")
            }
            RemoveTotpError::Overloaded => Self::overloaded(),
            RemoveTotpError::RateLimited(exceeded) => Self::rate_limited(exceeded),
            RemoveTotpError::UserGone => Self::invalid_token("the account no longer exists"),
            RemoveTotpError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Forbidden => Self::forbidden("this needs the admin role"),
            AdminError::NotFound => Self::not_found("no such user"),
            AdminError::Validation(errors) => Self::validation(errors),
            AdminError::SelfLockout => Self::new(StatusCode::CONFLICT, "self_lockout", error.to_string()),
            AdminError::Infrastructure(error) => Self::infrastructure(&error),
        }
    }
}

/// Turns a query string that does not parse into a 400 (serde's message names the parameter,
/// and query values are not secrets).
pub fn query_error(error: &actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::bad_request("invalid_query", format!("the query string is invalid: {error}"))
}

/// Turns the JSON extractor's errors into problem documents: 413, 415 or 400, never a 500.
pub fn json_error(error: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError;
    match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is larger than 16 KiB")
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be application/json",
        ),
        JsonPayloadError::Deserialize(error) if error.is_data() => {
            ApiError::bad_request("invalid_body", schema_mismatch(&error))
        }
        JsonPayloadError::Deserialize(_) => {
            ApiError::bad_request("malformed_json", "the request body is not valid JSON")
        }
        JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is larger than 16 KiB")
        }
        _ => ApiError::bad_request("invalid_body", "the request body could not be read"),
    }
}

/// Describes a body that is JSON but not of the expected shape, without echoing any value from it
/// (serde's own messages quote values, and a value may be a password).
fn schema_mismatch(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let names_a_field = message.starts_with("unknown field") || message.starts_with("missing field");
    if names_a_field {
        let field = message.split(" at line ").next().unwrap_or_default();
        format!("the request body does not match the schema: {field}")
    } else {
        format!(
            "the request body does not match the schema: a value has the wrong type (line {}, column {})",
            error.line(),
            error.column()
        )
    }
}
