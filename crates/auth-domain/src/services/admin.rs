//! Use cases of operators: find, read, change, disable and delete accounts, end their sessions,
//! and read the audit log. Every change is audited with the acting administrator.

use std::sync::Arc;

use super::common::Auditor;
use super::{AuthPolicy, AuthPorts, RevocationService};
use crate::ports::{AuditLog, Clock, UserRepository};

use super::{Principal, RequestContext};
use crate::audit::{AuditDetail, AuditEventKind, Change};
use crate::email::MAX_EMAIL_LENGTH;
use crate::error::InfrastructureError;
use crate::ids::UserId;
use crate::ports::{AuditQuery, AuditRecord, UserQuery, UserRepositoryError};
use crate::session::RevocationReason;
use crate::user::{Role, User};
use crate::validation::FieldError;

/// The role the operator use cases require.
pub const ADMIN_ROLE: &str = "admin";
/// Items per page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The most items a page may hold.
pub const MAX_PAGE_SIZE: u32 = 200;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The caller lacks the `admin` role.
    #[error("this needs the admin role")]
    Forbidden,
    #[error("no such user")]
    NotFound,
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    /// An administrator may not disable or delete their own account, nor change its roles: there
    /// might be no administrator left to undo it, and a token that still claims a role its owner
    /// lost must not be able to grant it back.
    #[error("an administrator cannot disable, delete or change the roles of their own account")]
    SelfLockout,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

impl From<UserRepositoryError> for AdminError {
    fn from(error: UserRepositoryError) -> Self {
        match error {
            UserRepositoryError::NotFound => Self::NotFound,
            UserRepositoryError::EmailTaken => Self::Infrastructure(InfrastructureError::unexpected(
                "an update that keeps the email reported it taken",
            )),
            UserRepositoryError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

/// One page of users, and where the next one starts.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<User>,
    /// The last user of this page, when more may follow.
    pub next_after: Option<UserId>,
}

/// One page of audit events, and where the next one starts.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditRecord>,
    /// The position of this page's last event, when more may follow.
    pub next_after: Option<i64>,
}

/// A change an administrator makes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateUserRequest {
    /// The complete new set of roles.
    pub roles: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

/// A filter of the audit log, as the caller gave it.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<UserId>,
    pub event: Option<String>,
    pub since: Option<time::OffsetDateTime>,
    pub after: Option<i64>,
    pub limit: Option<u32>,
}

fn page_size(limit: Option<u32>) -> Result<u32, AdminError> {
    match limit.unwrap_or(DEFAULT_PAGE_SIZE) {
        size @ 1..=MAX_PAGE_SIZE => Ok(size),
        _ => Err(AdminError::Validation(vec![FieldError::new(
            "limit",
            "invalid",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        )])),
    }
}

fn parse_roles(raw: &[String]) -> Result<Vec<Role>, AdminError> {
    let mut roles = raw
        .iter()
        .map(|role| Role::parse(role))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| AdminError::Validation(vec![FieldError::new("roles", "invalid", error.to_string())]))?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// The admin API: accounts, their sessions, the audit log.
#[derive(Clone)]
pub struct AdminService {
    users: Arc<dyn UserRepository>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    auditor: Auditor,
    revocations: RevocationService,
}

impl std::fmt::Debug for AdminService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminService")
    }
}

impl AdminService {
    pub(super) fn new(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            audit: Arc::clone(&ports.audit),
            clock: Arc::clone(&ports.clock),
            auditor: ports.auditor(),
            revocations: RevocationService::new(ports, policy),
        }
    }

    fn require_admin(principal: &Principal) -> Result<(), AdminError> {
        if principal.roles.iter().any(|role| role.as_str() == ADMIN_ROLE) { Ok(()) } else { Err(AdminError::Forbidden) }
    }

    /// Users in creation order, optionally those whose email contains `email`.
    ///
    /// # Errors
    /// [`AdminError::Forbidden`] without the admin role; a validation error for a bad `limit`.
    pub async fn admin_list_users(
        &self,
        principal: &Principal,
        email: Option<&str>,
        after: Option<UserId>,
        limit: Option<u32>,
    ) -> Result<UserPage, AdminError> {
        Self::require_admin(principal)?;
        let limit = page_size(limit)?;
        let email_contains = email.map(|text| text.trim().to_lowercase()).filter(|text| !text.is_empty());
        if email_contains.as_ref().is_some_and(|text| text.chars().count() > MAX_EMAIL_LENGTH) {
            return Err(AdminError::Validation(vec![FieldError::new(
                "email",
                "too_long",
                format!("must be at most {MAX_EMAIL_LENGTH} characters long"),
            )]));
        }
        // One more than asked, to tell whether another page follows.
        let query = UserQuery { email_contains, after, limit: limit + 1 };
        let mut users = self.users.list(&query).await?;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let next_after = if more { users.last().map(|user| user.id) } else { None };
        Ok(UserPage { users, next_after })
    }

    /// # Errors
    /// [`AdminError::NotFound`], or [`AdminError::Forbidden`] without the admin role.
    pub async fn admin_get_user(&self, principal: &Principal, id: UserId) -> Result<User, AdminError> {
        Self::require_admin(principal)?;
        self.users.find_by_id(id).await?.ok_or(AdminError::NotFound)
    }

    /// Changes an account's roles and whether it is disabled. Disabling, or removing a role, ends
    /// every session of the account at once, on every replica, so that no token keeps a role it
    /// lost. An administrator cannot change its own roles nor disable itself.
    ///
    /// # Errors
    /// See [`AdminError`].
    pub async fn admin_update_user(
        &self,
        principal: &Principal,
        id: UserId,
        request: UpdateUserRequest,
        context: &RequestContext,
    ) -> Result<User, AdminError> {
        Self::require_admin(principal)?;
        let roles = request.roles.as_deref().map(parse_roles).transpose()?;
        let user = self.users.find_by_id(id).await?.ok_or(AdminError::NotFound)?;
        if id == principal.user_id {
            // An administrator changes no role of its own (a token still claiming a role it lost
            // must not be able to grant it back) and does not disable itself.
            let roles_change = roles.as_ref().is_some_and(|roles| *roles != user.roles);
            if roles_change || request.disabled == Some(true) {
                return Err(AdminError::SelfLockout);
            }
        }
        let now = self.clock.now();
        let mut roles_change = None;
        let mut disabled_change = None;
        let mut sessions_revoked = None;
        if let Some(roles) = roles.filter(|roles| *roles != user.roles) {
            self.users.set_roles(id, &roles, now).await?;
            let removed_any = user.roles.iter().any(|role| !roles.contains(role));
            if removed_any {
                // Every live token claims the removed role: the sessions end, on every replica.
                let ended = self.revocations.end_every_session(id, RevocationReason::RoleRemoved, now).await?;
                sessions_revoked = Some(ended);
            }
            let names = roles.iter().map(|role| role.as_str().to_owned()).collect();
            roles_change = Some(Change { from: user.role_names(), to: names });
        }
        if let Some(disabled) = request.disabled.filter(|disabled| *disabled != user.disabled) {
            self.users.set_disabled(id, disabled, now).await?;
            if disabled {
                let ended = self.revocations.end_every_session(id, RevocationReason::AdminAction, now).await?;
                sessions_revoked = Some(sessions_revoked.unwrap_or(0) + ended);
            }
            disabled_change = Some(Change { from: user.disabled, to: disabled });
        }
        if roles_change.is_some() || disabled_change.is_some() {
            let detail = AuditDetail::AdminUpdate {
                roles: roles_change,
                disabled: disabled_change,
                sessions_revoked,
                actor_id: principal.user_id.to_string(),
            };
            self.auditor.record(AuditEventKind::UserUpdatedByAdmin, Some(id), None, context, detail).await?;
        }
        self.users.find_by_id(id).await?.ok_or(AdminError::NotFound)
    }

    /// Deletes an account as [`AccountService::delete_account`](super::AccountService::delete_account) does, without its password.
    ///
    /// # Errors
    /// See [`AdminError`].
    pub async fn admin_delete_user(
        &self,
        principal: &Principal,
        id: UserId,
        context: &RequestContext,
    ) -> Result<(), AdminError> {
        Self::require_admin(principal)?;
        if id == principal.user_id {
            return Err(AdminError::SelfLockout);
        }
        self.users.find_by_id(id).await?.ok_or(AdminError::NotFound)?;
        let now = self.clock.now();
        let ended = self.revocations.end_every_session(id, RevocationReason::AccountDeleted, now).await?;
        self.users.delete(id).await?;
        let detail = AuditDetail::AdminAction { actor_id: principal.user_id.to_string(), sessions_revoked: ended };
        self.auditor.record(AuditEventKind::UserDeleted, Some(id), None, context, detail).await?;
        Ok(())
    }

    /// Ends every session of an account at once; returns how many were live.
    ///
    /// # Errors
    /// See [`AdminError`].
    pub async fn admin_revoke_sessions(
        &self,
        principal: &Principal,
        id: UserId,
        context: &RequestContext,
    ) -> Result<usize, AdminError> {
        Self::require_admin(principal)?;
        self.users.find_by_id(id).await?.ok_or(AdminError::NotFound)?;
        let ended = self.revocations.end_every_session(id, RevocationReason::AdminAction, self.clock.now()).await?;
        let detail = AuditDetail::AdminAction { actor_id: principal.user_id.to_string(), sessions_revoked: ended };
        self.auditor.record(AuditEventKind::SessionRevoked, Some(id), None, context, detail).await?;
        Ok(ended)
    }

    /// The audit log, oldest first, filtered.
    ///
    /// # Errors
    /// [`AdminError::Forbidden`] without the admin role; a validation error for a bad `limit`.
    pub async fn admin_audit_events(
        &self,
        principal: &Principal,
        filter: AuditFilter,
    ) -> Result<AuditPage, AdminError> {
        Self::require_admin(principal)?;
        let limit = page_size(filter.limit)?;
        let query = AuditQuery {
            user_id: filter.user_id,
            event: filter.event,
            since: filter.since,
            after: filter.after,
            limit: limit + 1,
        };
        let mut events = self.audit.query(&query).await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next_after = if more { events.last().map(|event| event.seq) } else { None };
        Ok(AuditPage { events, next_after })
    }
}

#[cfg(test)]
mod tests;
