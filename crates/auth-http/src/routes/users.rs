//! Routes under /v1/users/me: the caller's own account and sessions.

use actix_web::{HttpResponse, web};
use auth_domain::SessionId;
use auth_domain::services::UpdateProfileRequest;
use auth_domain::services::{AccountService, PasswordService, SessionService};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::{SessionItem, SessionList, UserView};
use crate::error::{ApiError, Problem};
use crate::extractors::{Authenticated, ClientContext};

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// The fields to change; an absent field is left as it is. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeBody {
    /// A new display name, or `null` to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "Ada")]
    display_name: Option<Option<String>>,
}

/// The current password, and the new one. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    #[schema(format = Password)]
    current_password: String,
    /// The same policy as at registration.
    #[schema(format = Password, min_length = 12, max_length = 128)]
    new_password: String,
}

/// Change the password
///
/// Revokes every other session of the account.
#[utoipa::path(
    post,
    path = "/v1/users/me/password",
    tag = "users",
    request_body = ChangePasswordBody,
    security(("bearer_auth" = [])),
    responses(
        (status = 204, description = "The password is changed; every other session is revoked."),
        (status = 400, description = "- `validation_failed`: the new password is refused; `errors` says why.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "- `invalid_credentials`: the current password is wrong.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "- `rate_limited`: too many wrong current passwords.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "- `overloaded`: too many passwords are being hashed; retry after `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn change_password(
    service: web::Data<PasswordService>,
    caller: Authenticated,
    client: ClientContext,
    body: web::Json<ChangePasswordBody>,
) -> Result<HttpResponse, ApiError> {
    service.change_password(&caller.0, &body.current_password, &body.new_password, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The password, to confirm. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeBody {
    #[schema(format = Password)]
    password: String,
}

/// Delete the account
///
/// The user, its sessions and tokens are gone; its audit rows are kept, their personal fields
/// erased.
#[utoipa::path(
    delete,
    path = "/v1/users/me",
    tag = "users",
    request_body = DeleteMeBody,
    security(("bearer_auth" = [])),
    responses(
        (status = 204, description = "The account is deleted."),
        (status = 401, description = "- `invalid_credentials`: the password is wrong.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "- `rate_limited`: too many wrong passwords.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "- `overloaded`: too many passwords are being hashed; retry after `Retry-After`.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete_me(
    service: web::Data<AccountService>,
    caller: Authenticated,
    client: ClientContext,
    body: web::Json<DeleteMeBody>,
) -> Result<HttpResponse, ApiError> {
    service.delete_account(&caller.0, &body.password, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Read the caller's account
///
/// As stored now, not as the token remembers it.
#[utoipa::path(
    get,
    path = "/v1/users/me",
    tag = "users",
    security(("bearer_auth" = [])),
    responses((status = 200, description = "The caller's account.", body = UserView)),
)]
pub async fn me(service: web::Data<AccountService>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let user = service.current_user(&caller.0).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

/// Update the caller's account
#[utoipa::path(
    patch,
    path = "/v1/users/me",
    tag = "users",
    request_body = UpdateMeBody,
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "The account as changed.", body = UserView),
        (status = 400, description = "- `validation_failed`: `display_name` is empty, too long or has control characters.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn update_me(
    service: web::Data<AccountService>,
    caller: Authenticated,
    client: ClientContext,
    body: web::Json<UpdateMeBody>,
) -> Result<HttpResponse, ApiError> {
    let request = UpdateProfileRequest { display_name: body.into_inner().display_name };
    let user = service.update_current_user(&caller.0, request, &client.0).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

/// List the caller's sessions
#[utoipa::path(
    get,
    path = "/v1/users/me/sessions",
    tag = "users",
    security(("bearer_auth" = [])),
    responses((status = 200, description = "Every live session of the account.", body = SessionList)),
)]
pub async fn sessions(service: web::Data<SessionService>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let sessions = service.list_sessions(&caller.0).await?;
    let sessions: Vec<SessionItem> = sessions.iter().map(SessionItem::from).collect();
    Ok(HttpResponse::Ok().json(SessionList { sessions }))
}

/// Revoke one of the caller's sessions
#[utoipa::path(
    delete,
    path = "/v1/users/me/sessions/{id}",
    tag = "users",
    params(("id" = String, Path, format = Uuid, description = "The session's id.")),
    security(("bearer_auth" = [])),
    responses(
        (status = 204, description = "The session is revoked."),
        (status = 404, description = "- `not_found`: no such session of the caller's (another user's session alike).", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn revoke_session(
    service: web::Data<SessionService>,
    caller: Authenticated,
    client: ClientContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // A malformed id names no session: the same 404 as another user's session.
    let session_id: SessionId = path.parse().map_err(|_| ApiError::not_found("no such session"))?;
    service.revoke_own_session(&caller.0, session_id, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
