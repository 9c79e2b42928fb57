//! Routes under /v1/users/me: the caller's own account and sessions.

use actix_web::{HttpResponse, web};
use auth_domain::services::UpdateProfileRequest;
use auth_domain::{AuthService, SessionId};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::{SessionItem, UserView};
use crate::error::ApiError;
use crate::extractors::{Authenticated, ClientContext};

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeBody {
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    service: web::Data<AuthService>,
    caller: Authenticated,
    client: ClientContext,
    body: web::Json<ChangePasswordBody>,
) -> Result<HttpResponse, ApiError> {
    service.change_password(&caller.0, &body.current_password, &body.new_password, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeBody {
    password: String,
}

pub async fn delete_me(
    service: web::Data<AuthService>,
    caller: Authenticated,
    client: ClientContext,
    body: web::Json<DeleteMeBody>,
) -> Result<HttpResponse, ApiError> {
    service.delete_account(&caller.0, &body.password, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn me(service: web::Data<AuthService>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let user = service.current_user(&caller.0).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

pub async fn update_me(
    service: web::Data<AuthService>,
    caller: Authenticated,
    client: ClientContext,
    body: web::Json<UpdateMeBody>,
) -> Result<HttpResponse, ApiError> {
    let request = UpdateProfileRequest { display_name: body.into_inner().display_name };
    let user = service.update_current_user(&caller.0, request, &client.0).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

pub async fn sessions(service: web::Data<AuthService>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let sessions = service.list_sessions(&caller.0).await?;
    let items: Vec<SessionItem> = sessions.iter().map(SessionItem::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "sessions": items })))
}

pub async fn revoke_session(
    service: web::Data<AuthService>,
    caller: Authenticated,
    client: ClientContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // A malformed id names no session: the same 404 as another user's session.
    let session_id: SessionId = path.parse().map_err(|_| ApiError::not_found("no such session"))?;
    service.revoke_own_session(&caller.0, session_id, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
