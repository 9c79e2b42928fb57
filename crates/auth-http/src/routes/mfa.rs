//! Routes under /v1/users/me/mfa: the caller's second factor.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use auth_domain::services::MfaService;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::extractors::{Authenticated, ClientContext, OptionalJson};

/// A pending TOTP enrolment.
#[derive(Serialize, ToSchema)]
#[schema(as = TotpEnrolment)]
pub struct TotpEnrolmentView {
    /// The shared secret, base32 (RFC 4648, unpadded), for typing into an authenticator app.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    secret: String,
    /// The same secret as an `otpauth://totp/` URI (SHA1, 6 digits, 30 s), for a QR code.
    #[schema(
        example = "otpauth://totp/example.com:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=example.com&algorithm=SHA1&digits=6&period=30"
    )]
    otpauth_uri: String,
}

/// A code of the second factor. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    #[schema(example = "123456")]
    code: String,
}

/// The password, to change the second factor without a sign-in of the last 5 minutes. Unknown
/// fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthenticationBody {
    /// Needed unless the caller's session signed in within the last 5 minutes.
    #[schema(example = "correct horse battery staple")]
    password: Option<String>,
}

/// A code of the second factor, and the password unless the session signed in within the last 5
/// minutes. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemovalBody {
    #[schema(example = "123456")]
    code: String,
    /// Needed unless the caller's session signed in within the last 5 minutes.
    #[schema(example = "correct horse battery staple")]
    password: Option<String>,
}

/// The recovery codes of a newly enabled second factor: shown this once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, each accepted wherever a TOTP code is.
    #[schema(example = json!(["abcd-efgh-ijkl-mnop"]))]
    recovery_codes: Vec<String>,
}

/// Start a TOTP enrolment
///
/// Returns a new secret, pending until a code of it is confirmed; starting again replaces a
/// pending secret. The caller's session must have signed in within the last 5 minutes, or the
/// body gives the password: a stolen access token alone cannot lock the owner out.
#[utoipa::path(
    post,
    path = "/v1/users/me/mfa/totp",
    tag = "mfa",
    request_body(content = Option<ReauthenticationBody>, description = "Optional: the password, when the sign-in is older than 5 minutes."),
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "The pending secret, for the authenticator app.", body = TotpEnrolmentView),
        (status = 401, description = "- `invalid_credentials`: the password is wrong.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "- `reauthentication_required`: sign in again, or give the password.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "- `mfa_already_enabled`: remove the second factor first.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "- `rate_limited`: too many wrong passwords.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn begin_totp(
    service: web::Data<MfaService>,
    caller: Authenticated,
    client: ClientContext,
    body: OptionalJson<ReauthenticationBody>,
) -> Result<HttpResponse, ApiError> {
    let password = body.0.and_then(|body| body.password);
    let enrolment = service.begin_totp_enrolment(&caller.0, password.as_deref(), &client.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TotpEnrolmentView { secret: enrolment.secret, otpauth_uri: enrolment.otpauth_uri }))
}

/// Confirm the TOTP enrolment
///
/// With a current code of the pending secret. Enables the second factor and returns ten recovery
/// codes, shown this once.
#[utoipa::path(
    post,
    path = "/v1/users/me/mfa/totp/confirm",
    tag = "mfa",
    request_body = CodeBody,
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "The second factor is on.", body = RecoveryCodes),
        (status = 400, description = "- `invalid_mfa_code`: the code is wrong.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "- `mfa_not_pending`: no enrolment was started (or it is confirmed already).", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "- `rate_limited`: too many wrong codes.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn confirm_totp(
    service: web::Data<MfaService>,
    caller: Authenticated,
    client: ClientContext,
    body: web::Json<CodeBody>,
) -> Result<HttpResponse, ApiError> {
    let codes = service.confirm_totp(&caller.0, &body.code, &client.0).await?;
    let recovery_codes = codes.iter().map(|code| code.expose().to_owned()).collect();
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(RecoveryCodes { recovery_codes }))
}

/// Remove the second factor
///
/// With a current TOTP code or an unused recovery code. A pending enrolment is dropped without.
/// The caller's session must have signed in within the last 5 minutes, or the body gives the
/// password.
#[utoipa::path(
    delete,
    path = "/v1/users/me/mfa/totp",
    tag = "mfa",
    request_body = RemovalBody,
    security(("bearer_auth" = [])),
    responses(
        (status = 204, description = "The second factor and its recovery codes are gone."),
        (status = 400, description = "- `invalid_mfa_code`: the code is wrong, spent or replayed.\n- `mfa_not_enabled`: there is no second factor to remove.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "- `invalid_credentials`: the password is wrong.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "- `reauthentication_required`: sign in again, or give the password.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "- `rate_limited`: too many wrong codes or passwords.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn remove_totp(
    service: web::Data<MfaService>,
    caller: Authenticated,
    client: ClientContext,
    body: web::Json<RemovalBody>,
) -> Result<HttpResponse, ApiError> {
    service.remove_totp(&caller.0, &body.code, body.password.as_deref(), &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
