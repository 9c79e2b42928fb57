//! Routes under /v1/auth: register, verify, log in, refresh, log out, and the gateway check.

use actix_web::{HttpResponse, web};
use auth_domain::Role;
use auth_domain::services::{LoginOutcome, LoginRequest, RegisterRequest};
use auth_domain::services::{LoginService, PasswordService, RegistrationService, SessionService};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Accepted, AcceptedStatus, TokenPairView, UserView, no_store};
use crate::error::{ApiError, Problem};
use crate::extractors::{Authenticated, ClientContext};

/// A new account. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Trimmed and compared case-insensitively.
    #[schema(format = Email, example = "ada@example.com", max_length = 254)]
    email: String,
    /// NFKC-normalised, then 12 to 128 characters (the minimum is configurable), strong enough
    /// for zxcvbn (score 3 by default) and not in the breached-password list.
    #[schema(format = Password, min_length = 12, max_length = 128)]
    password: String,
    #[serde(default)]
    #[schema(example = "Ada")]
    display_name: Option<String>,
}

/// A single-use token from a mailed link. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    token: String,
}

/// An email address. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    #[schema(format = Email, example = "ada@example.com", max_length = 254)]
    email: String,
}

/// The token of a password-reset mail and the new password. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordBody {
    token: String,
    /// The same policy as at registration.
    #[schema(format = Password, min_length = 12, max_length = 128)]
    new_password: String,
}

/// Credentials. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(format = Email, example = "ada@example.com", max_length = 254)]
    email: String,
    #[schema(format = Password)]
    password: String,
}

/// The current refresh token of a session. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

/// The account whose email address was just verified.
#[derive(Serialize, ToSchema)]
pub struct Verified {
    user: UserView,
}

fn token_response(pair: &auth_domain::TokenPair) -> HttpResponse {
    no_store(HttpResponse::Ok()).json(TokenPairView::from(pair))
}

/// The answer to a right password of an account with a second factor.
#[derive(Serialize, ToSchema)]
pub struct MfaRequired {
    /// Always `true`.
    mfa_required: bool,
    /// Single use; give it to `POST /v1/auth/login/mfa` with a code.
    mfa_token: String,
    /// Seconds until `mfa_token` expires.
    #[schema(example = 300)]
    expires_in: i64,
}

/// What a login answers with a right password.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Tokens(TokenPairView),
    MfaRequired(MfaRequired),
}

/// Register an account
///
/// Answers the same whether or not the address is known (a known address gets a "you already
/// have an account" mail instead of a verification link).
#[utoipa::path(
    post,
    path = "/v1/auth/register",
    tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 202, description = "A verification link is mailed, or a notice if the address has an account.", body = Accepted,
            example = json!({ "status": "verification_sent" })),
        (status = 400, description = "- `validation_failed`: a field is invalid; `errors` lists each (`password`: `too_short`, `too_long`, `too_weak`, `breached`; `email`; `display_name`).", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "- `rate_limited`: too many registrations, resends and resets from this address, or mails to this email.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "- `overloaded`: too many passwords are being hashed; retry after `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn register(
    service: web::Data<RegistrationService>,
    client: ClientContext,
    body: web::Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let request = RegisterRequest { email: body.email, password: body.password, display_name: body.display_name };
    service.register(request, &client.0).await?;
    Ok(Accepted::response(AcceptedStatus::VerificationSent))
}

/// Verify an email address
///
/// With the token of the link mailed at registration.
#[utoipa::path(
    post,
    path = "/v1/auth/verify-email",
    tag = "auth",
    request_body = TokenBody,
    responses(
        (status = 200, description = "The address is verified.", body = Verified),
        (status = 400, description = "- `invalid_token`: the token is unknown, already used or expired.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn verify_email(
    service: web::Data<RegistrationService>,
    client: ClientContext,
    body: web::Json<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let user = service.verify_email(&body.token, &client.0).await?;
    Ok(HttpResponse::Ok().json(Verified { user: UserView::from(&user) }))
}

/// Mail a new verification link
///
/// Always 202, whether or not the address has an unverified account.
#[utoipa::path(
    post,
    path = "/v1/auth/verify-email/resend",
    tag = "auth",
    request_body = EmailBody,
    responses(
        (status = 202, description = "Accepted; a link is mailed if the address has an unverified account.", body = Accepted,
            example = json!({ "status": "verification_sent" })),
        (status = 429, description = "- `rate_limited`: too many registrations, resends and resets from this address, or mails to this email.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn resend_verification(
    service: web::Data<RegistrationService>,
    client: ClientContext,
    body: web::Json<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    // Answered before the account is looked up, so that the time to answer says nothing about it.
    service.resend_verification(&body.email, &client.0).await?.finish_in_background();
    Ok(Accepted::response(AcceptedStatus::VerificationSent))
}

/// Log in
///
/// Unknown emails and wrong passwords get the same answer in the same time. An account with a
/// second factor gets an `mfa_token` instead of tokens: `POST /v1/auth/login/mfa` completes the
/// login. Either response carries `Cache-Control: no-store` and `Pragma: no-cache`.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "A new session and its token pair; or, when the account has a second factor, the token that `POST /v1/auth/login/mfa` takes with a code.", body = LoginResponse),
        (status = 401, description = "- `invalid_credentials`: the email or password is wrong (an unknown email alike).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "- `email_not_verified`: verify the address first.\n- `account_disabled`: an administrator disabled the account.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "- `rate_limited`: too many attempts from this address, or failures for this email (exponential back-off).", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "- `overloaded`: too many passwords are being hashed; retry after `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn login(
    service: web::Data<LoginService>,
    client: ClientContext,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let outcome = service.login(LoginRequest { email: body.email, password: body.password }, &client.0).await?;
    let response = match outcome {
        LoginOutcome::Authenticated(pair) => LoginResponse::Tokens(TokenPairView::from(&pair)),
        LoginOutcome::MfaRequired(challenge) => LoginResponse::MfaRequired(MfaRequired {
            mfa_required: true,
            mfa_token: challenge.mfa_token.expose().to_owned(),
            expires_in: challenge.expires_in,
        }),
    };
    Ok(no_store(HttpResponse::Ok()).json(response))
}

/// The second step of a login. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginBody {
    /// From the answer of `POST /v1/auth/login`.
    mfa_token: String,
    /// A current six-digit TOTP code, or an unused recovery code.
    #[schema(example = "123456")]
    code: String,
}

/// Complete a login with a second factor
///
/// With the `mfa_token` of `POST /v1/auth/login` and a TOTP code or a recovery code. The
/// session's access tokens carry `amr: ["pwd", "otp"]`.
#[utoipa::path(
    post,
    path = "/v1/auth/login/mfa",
    tag = "auth",
    request_body = MfaLoginBody,
    responses(
        (status = 200, description = "A new session and its token pair.", body = TokenPairView),
        (status = 401, description = "- `invalid_mfa_code`: the code is wrong, spent or replayed; or the `mfa_token` is unknown, expired (5 minutes) or used (log in again).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "- `account_disabled`: an administrator disabled the account.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "- `rate_limited`: too many wrong codes for this account (counted like wrong passwords), or attempts from this address.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn login_mfa(
    service: web::Data<LoginService>,
    client: ClientContext,
    body: web::Json<MfaLoginBody>,
) -> Result<HttpResponse, ApiError> {
    let pair = service.complete_mfa_login(&body.mfa_token, &body.code, &client.0).await?;
    Ok(token_response(&pair))
}

/// Refresh a token pair
///
/// Rotates the refresh token. Presenting a rotated-away token again within the grace window
/// returns the same successor; after it, the whole session is revoked.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "The session's next token pair.", body = TokenPairView),
        (status = 401, description = "- `invalid_refresh_token`: unknown or malformed, or of a revoked session (logged out, revoked, or ended by a new password, disabling or a role change).\n- `refresh_token_reused`: used before, after the grace window; the session is now revoked.\n- `session_expired`: the session reached its idle or absolute limit.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "- `account_disabled`: an administrator disabled the account.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "- `rate_limited`: too many refreshes of this session.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn refresh(
    service: web::Data<SessionService>,
    client: ClientContext,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let pair = service.refresh(&body.refresh_token, &client.0).await?;
    Ok(token_response(&pair))
}

/// Log out
///
/// Revokes this session; its access tokens stop working at once, on every replica.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    security(("bearer_auth" = [])),
    responses((status = 204, description = "The session is revoked.")),
)]
pub async fn logout(
    service: web::Data<SessionService>,
    caller: Authenticated,
    client: ClientContext,
) -> Result<HttpResponse, ApiError> {
    service.logout(&caller.0, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Log out everywhere
///
/// Revokes every session of the caller.
#[utoipa::path(
    post,
    path = "/v1/auth/logout-all",
    tag = "auth",
    security(("bearer_auth" = [])),
    responses((status = 204, description = "Every session of the account is revoked.")),
)]
pub async fn logout_all(
    service: web::Data<SessionService>,
    caller: Authenticated,
    client: ClientContext,
) -> Result<HttpResponse, ApiError> {
    service.logout_all(&caller.0, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Request a password reset
///
/// Always 202, whether or not the address has an account.
#[utoipa::path(
    post,
    path = "/v1/auth/password/forgot",
    tag = "auth",
    request_body = EmailBody,
    responses(
        (status = 202, description = "Accepted; a reset link is mailed if the address has an account.", body = Accepted,
            example = json!({ "status": "accepted" })),
        (status = 429, description = "- `rate_limited`: too many registrations, resends and resets from this address, or mails to this email.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn forgot_password(
    service: web::Data<PasswordService>,
    client: ClientContext,
    body: web::Json<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    // Answered before the account is looked up, so that the time to answer says nothing about it.
    service.forgot_password(&body.email, &client.0).await?.finish_in_background();
    Ok(Accepted::response(AcceptedStatus::Accepted))
}

/// Reset a password
///
/// With the token of the mailed link. Revokes every session of the account.
#[utoipa::path(
    post,
    path = "/v1/auth/password/reset",
    tag = "auth",
    request_body = ResetPasswordBody,
    responses(
        (status = 204, description = "The password is changed and every session revoked."),
        (status = 400, description = "- `invalid_token`: the token is unknown, already used or expired.\n- `validation_failed`: the new password is refused; `errors` says why.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "- `overloaded`: too many passwords are being hashed; retry after `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn reset_password(
    service: web::Data<PasswordService>,
    client: ClientContext,
    body: web::Json<ResetPasswordBody>,
) -> Result<HttpResponse, ApiError> {
    service.reset_password(&body.token, &body.new_password, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Check an access token (for gateways)
///
/// For nginx `auth_request`, Traefik ForwardAuth and Envoy ext_authz: 200 with the caller's
/// identity in headers, or 401.
#[utoipa::path(
    get,
    path = "/v1/auth/verify",
    tag = "auth",
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "The token is live; the caller's identity is in the headers.",
            headers(
                ("X-Auth-User-Id" = String, description = "The user's id (a UUID)."),
                ("X-Auth-Session-Id" = String, description = "The session's id (a UUID)."),
                ("X-Auth-Roles" = String, description = "The roles, comma-separated; present and empty when there are none."),
            )),
    ),
)]
pub async fn verify(caller: Authenticated) -> HttpResponse {
    let principal = caller.0;
    HttpResponse::Ok()
        .insert_header(("X-Auth-User-Id", principal.user_id.to_string()))
        .insert_header(("X-Auth-Session-Id", principal.session_id.to_string()))
        .insert_header(("X-Auth-Roles", principal.roles.iter().map(Role::as_str).collect::<Vec<_>>().join(",")))
        .finish()
}
