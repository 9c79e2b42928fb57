//! Routes under /v1/admin: operators manage accounts and read the audit log. Every route needs
//! the `admin` role.

use actix_web::{HttpResponse, web};
use auth_domain::ports::AuditRecord;
use auth_domain::services::AdminService;
use auth_domain::services::{AuditFilter, UpdateUserRequest};
use auth_domain::{FieldError, UserId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::{UserView, rfc3339};
use crate::error::{ApiError, Problem};
use crate::extractors::{AdminCaller, ClientContext};

/// Cursors are opaque to clients: a kind tag and a position, base64url. The tag keeps a users
/// cursor from being taken for an audit one. Public (as `routes::cursors`) for the fuzz targets.
pub fn encode_cursor(kind: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{position}"))
}

/// The position of a cursor that [`encode_cursor`] made for the list `kind`.
///
/// # Errors
/// A 400 `invalid_cursor` for anything else: not base64url, not UTF-8, another kind, or a
/// position that does not parse as `T`.
pub fn decode_cursor<T: std::str::FromStr>(kind: &str, cursor: &str) -> Result<T, ApiError> {
    let invalid = || ApiError::bad_request("invalid_cursor", "the cursor is not one this list handed out");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let position = text.strip_prefix(kind).and_then(|rest| rest.strip_prefix(':')).ok_or_else(invalid)?;
    position.parse().map_err(|_| invalid())
}

/// A user id from the path: a malformed one names no user, the same 404 as an unknown one.
fn user_id(path: &str) -> Result<UserId, ApiError> {
    path.parse().map_err(|_| ApiError::not_found("no such user"))
}

/// A user as operators see it: the contract's User, and whether it is disabled.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminUser)]
pub struct AdminUserView {
    #[serde(flatten)]
    user: UserView,
    /// A disabled account can neither log in nor refresh.
    disabled: bool,
}

impl From<&auth_domain::User> for AdminUserView {
    fn from(user: &auth_domain::User) -> Self {
        Self { user: UserView::from(user), disabled: user.disabled }
    }
}

/// A page of users.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    users: Vec<AdminUserView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Only users whose email contains this text (case-insensitive).
    email: Option<String>,
    /// Users per page, 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List and search users
///
/// In creation order; paging with `cursor` neither skips nor repeats a user when others register
/// meanwhile.
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    tag = "admin",
    params(ListUsersQuery),
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "A page of users.", body = UserList),
        (status = 400, description = "- `validation_failed`: `limit` is out of range, or `email` too long.\n- `invalid_cursor`: the cursor was not handed out by this list.\n- `invalid_query`: the query string does not parse.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "- `forbidden`: the caller lacks the `admin` role.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_users(
    service: web::Data<AdminService>,
    caller: AdminCaller,
    query: web::Query<ListUsersQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let after: Option<UserId> = query.cursor.as_deref().map(|cursor| decode_cursor("users", cursor)).transpose()?;
    let page = service.admin_list_users(&caller.principal, query.email.as_deref(), after, query.limit).await?;
    Ok(HttpResponse::Ok().json(UserList {
        users: page.users.iter().map(AdminUserView::from).collect(),
        next_cursor: page.next_after.map(|id| encode_cursor("users", &id.to_string())),
    }))
}

/// Read a user
#[utoipa::path(
    get,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    params(("id" = String, Path, format = Uuid, description = "The user's id.")),
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "The user.", body = AdminUserView),
        (status = 403, description = "- `forbidden`: the caller lacks the `admin` role.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "- `not_found`: no such user.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_user(
    service: web::Data<AdminService>,
    caller: AdminCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = service.admin_get_user(&caller.principal, user_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(AdminUserView::from(&user)))
}

/// The fields to change; an absent field is left as it is. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    /// The complete new set of roles (each 1 to 64 of `a-z 0-9 _ - . :`).
    #[schema(example = json!(["admin"]))]
    roles: Option<Vec<String>>,
    /// `true` disables the account and ends every session of it at once; `false` enables it.
    disabled: Option<bool>,
}

/// Change a user's roles, or disable or enable it
///
/// Disabling ends every session at once, on every replica: live access tokens get 401, refresh
/// and login 403 `account_disabled`. Removing a role ends the live access tokens, so that the next
/// one (after a refresh) no longer claims it.
#[utoipa::path(
    patch,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    params(("id" = String, Path, format = Uuid, description = "The user's id.")),
    request_body = UpdateUserBody,
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "The user as changed.", body = AdminUserView),
        (status = 400, description = "- `validation_failed`: a role name is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "- `forbidden`: the caller lacks the `admin` role.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "- `not_found`: no such user.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "- `self_lockout`: administrators cannot disable themselves or remove their own `admin` role.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn update_user(
    service: web::Data<AdminService>,
    caller: AdminCaller,
    client: ClientContext,
    path: web::Path<String>,
    body: web::Json<UpdateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let request = UpdateUserRequest { roles: body.roles, disabled: body.disabled };
    let user = service.admin_update_user(&caller.principal, user_id(&path)?, request, &client.0).await?;
    Ok(HttpResponse::Ok().json(AdminUserView::from(&user)))
}

/// Delete a user
///
/// As the user's own deletion does: sessions and tokens end at once; audit rows are kept, their
/// personal fields erased.
#[utoipa::path(
    delete,
    path = "/v1/admin/users/{id}",
    tag = "admin",
    params(("id" = String, Path, format = Uuid, description = "The user's id.")),
    security(("bearer_auth" = [])),
    responses(
        (status = 204, description = "The user is deleted."),
        (status = 403, description = "- `forbidden`: the caller lacks the `admin` role.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "- `not_found`: no such user.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "- `self_lockout`: administrators cannot delete their own account here.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete_user(
    service: web::Data<AdminService>,
    caller: AdminCaller,
    client: ClientContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    service.admin_delete_user(&caller.principal, user_id(&path)?, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session of a user
///
/// Access tokens stop working at once, on every replica; refresh tokens too.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{id}/sessions/revoke",
    tag = "admin",
    params(("id" = String, Path, format = Uuid, description = "The user's id.")),
    security(("bearer_auth" = [])),
    responses(
        (status = 204, description = "Every session of the user is revoked."),
        (status = 403, description = "- `forbidden`: the caller lacks the `admin` role.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "- `not_found`: no such user.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn revoke_user_sessions(
    service: web::Data<AdminService>,
    caller: AdminCaller,
    client: ClientContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    service.admin_revoke_sessions(&caller.principal, user_id(&path)?, &client.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One audit event.
#[derive(Serialize, ToSchema)]
#[schema(as = AuditEvent)]
pub struct AuditEventView {
    #[schema(format = Uuid)]
    id: String,
    /// The account the event is about; it may have been deleted since.
    #[schema(format = Uuid)]
    user_id: Option<String>,
    #[schema(format = Uuid)]
    session_id: Option<String>,
    #[schema(example = "login_succeeded")]
    event: String,
    /// `null` when unknown, or erased with the account.
    ip: Option<String>,
    user_agent: Option<String>,
    /// Event-specific facts, e.g. `actor_id` of the administrator who acted; never a secret.
    #[schema(value_type = Object)]
    detail: serde_json::Value,
    #[serde(serialize_with = "rfc3339")]
    created_at: OffsetDateTime,
}

impl From<&AuditRecord> for AuditEventView {
    fn from(record: &AuditRecord) -> Self {
        Self {
            id: record.id.to_string(),
            user_id: record.user_id.map(|id| id.to_string()),
            session_id: record.session_id.map(|id| id.to_string()),
            event: record.event.clone(),
            ip: record.ip.clone(),
            user_agent: record.user_agent.clone(),
            detail: record.detail.clone(),
            created_at: record.created_at,
        }
    }
}

/// A page of audit events.
#[derive(Serialize, ToSchema)]
pub struct AuditEventList {
    events: Vec<AuditEventView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQueryParams {
    /// Only events about this user.
    #[param(format = Uuid)]
    user_id: Option<String>,
    /// Only events of this name, e.g. `login_failed`.
    event: Option<String>,
    /// Only events at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Events per page, 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Read the audit log
///
/// Oldest first; paging with `cursor` neither skips nor repeats an event when others are
/// appended meanwhile, so it also serves to follow the log.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    tag = "admin",
    params(AuditQueryParams),
    security(("bearer_auth" = [])),
    responses(
        (status = 200, description = "A page of audit events.", body = AuditEventList),
        (status = 400, description = "- `validation_failed`: `user_id` is not a UUID, `since` not an RFC 3339 instant, or `limit` out of range.\n- `invalid_cursor`: the cursor was not handed out by this list.\n- `invalid_query`: the query string does not parse.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "- `forbidden`: the caller lacks the `admin` role.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn audit_events(
    service: web::Data<AdminService>,
    caller: AdminCaller,
    query: web::Query<AuditQueryParams>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let mut errors = Vec::new();
    let user_id = query.user_id.as_deref().and_then(|text| {
        text.parse::<UserId>().map_err(|_| errors.push(FieldError::new("user_id", "invalid", "must be a UUID"))).ok()
    });
    // An offset may carry a valid local time past year 9999 in UTC (`9999-12-31T23:59:59-23:59`),
    // which no store can take: such an instant is as invalid as a malformed one.
    let since = query.since.as_deref().and_then(|text| {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()
            .and_then(|instant| instant.checked_to_offset(time::UtcOffset::UTC))
            .or_else(|| {
                errors.push(FieldError::new("since", "invalid", "must be an RFC 3339 instant"));
                None
            })
    });
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let after: Option<i64> = query.cursor.as_deref().map(|cursor| decode_cursor("audit", cursor)).transpose()?;
    // Positions are the log's sequence numbers, which start at 1: a negative one was never handed out.
    if after.is_some_and(i64::is_negative) {
        return Err(ApiError::bad_request("invalid_cursor", "the cursor is not one this list handed out"));
    }
    let filter = AuditFilter { user_id, event: query.event, since, after, limit: query.limit };
    let page = service.admin_audit_events(&caller.principal, filter).await?;
    Ok(HttpResponse::Ok().json(AuditEventList {
        events: page.events.iter().map(AuditEventView::from).collect(),
        next_cursor: page.next_after.map(|seq| encode_cursor("audit", &seq.to_string())),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_decodes_only_as_its_own_kind() {
        let cursor = encode_cursor("audit", "42");
        assert_eq!(decode_cursor::<i64>("audit", &cursor).unwrap(), 42);
        assert_eq!(decode_cursor::<i64>("users", &cursor).unwrap_err().code(), "invalid_cursor");
        assert_eq!(decode_cursor::<i64>("audit", "not base64!").unwrap_err().code(), "invalid_cursor");
        let not_a_number = encode_cursor("audit", "forty-two");
        assert_eq!(decode_cursor::<i64>("audit", &not_a_number).unwrap_err().code(), "invalid_cursor");
    }
}
