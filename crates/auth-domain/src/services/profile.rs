//! Use cases: read and update one's own account; grant and revoke roles (operators).

use std::sync::Arc;

use super::common::{Auditor, PasswordProof};
use super::{AuthPolicy, AuthPorts, RevocationService};
use crate::ports::{Clock, SessionRepository, UserRepository};

use super::common::PasswordConfirmation;
use super::{Principal, RequestContext};
use crate::audit::{AuditDetail, AuditEventKind};
use crate::email::Email;
use crate::error::InfrastructureError;
use crate::ports::UserRepositoryError;
use crate::user::{DisplayName, InvalidRole, Role, User};
use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The token is valid but its user is gone.
    #[error("the account no longer exists")]
    UserGone,
    #[error("the update is invalid")]
    Validation(Vec<FieldError>),
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteAccountError {
    /// The password given to confirm is wrong.
    #[error("the password is wrong")]
    InvalidCredentials,
    /// Too many wrong passwords for this account, counted with failed logins.
    #[error(transparent)]
    RateLimited(crate::rate_limit::RateLimitExceeded),
    #[error("the account no longer exists")]
    UserGone,
    #[error("too many password hashes are in progress")]
    Overloaded,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

impl From<crate::ports::HashError> for DeleteAccountError {
    fn from(error: crate::ports::HashError) -> Self {
        match error {
            crate::ports::HashError::Overloaded => Self::Overloaded,
            crate::ports::HashError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GrantRoleError {
    #[error("no account has this email")]
    UnknownUser,
    #[error(transparent)]
    InvalidRole(#[from] InvalidRole),
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

/// A change to one's own account. `display_name: Some(None)` clears the name.
#[derive(Debug, Clone, Default)]
pub struct UpdateProfileRequest {
    pub display_name: Option<Option<String>>,
}

fn from_repository<E: From<InfrastructureError>>(error: UserRepositoryError, not_found: E) -> E {
    match error {
        UserRepositoryError::NotFound => not_found,
        UserRepositoryError::EmailTaken => {
            E::from(InfrastructureError::unexpected("an update that keeps the email reported it taken"))
        }
        UserRepositoryError::Infrastructure(error) => E::from(error),
    }
}

/// The caller's own account (profile, deletion), and the operator's role changes.
#[derive(Clone)]
pub struct AccountService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    clock: Arc<dyn Clock>,
    auditor: Auditor,
    proof: PasswordProof,
    revocations: RevocationService,
}

impl std::fmt::Debug for AccountService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountService")
    }
}

impl AccountService {
    pub(super) fn new(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            sessions: Arc::clone(&ports.sessions),
            clock: Arc::clone(&ports.clock),
            auditor: ports.auditor(),
            proof: ports.password_proof(policy),
            revocations: RevocationService::new(ports, policy),
        }
    }

    /// The caller's account as stored now, not as the token remembers it.
    ///
    /// # Errors
    /// [`ProfileError::UserGone`] when the account was deleted.
    pub async fn current_user(&self, principal: &Principal) -> Result<User, ProfileError> {
        self.users.find_by_id(principal.user_id).await?.ok_or(ProfileError::UserGone)
    }

    /// # Errors
    /// [`ProfileError::Validation`] for an invalid display name.
    pub async fn update_current_user(
        &self,
        principal: &Principal,
        request: UpdateProfileRequest,
        context: &RequestContext,
    ) -> Result<User, ProfileError> {
        if let Some(display_name) = request.display_name {
            let display_name = display_name
                .as_deref()
                .map(DisplayName::parse)
                .transpose()
                .map_err(|error| ProfileError::Validation(vec![error]))?;
            self.users
                .update_display_name(principal.user_id, display_name, self.clock.now())
                .await
                .map_err(|error| from_repository(error, ProfileError::UserGone))?;
            self.auditor
                .record(
                    AuditEventKind::UserUpdated,
                    Some(principal.user_id),
                    Some(principal.session_id),
                    context,
                    AuditDetail::Fields { fields: vec!["display_name"] },
                )
                .await?;
        }
        self.current_user(principal).await
    }

    /// Deletes the caller's account after checking its password: every session ends at once, on
    /// every replica; the user row goes, and with it sessions and tokens; audit rows stay.
    ///
    /// # Errors
    /// [`DeleteAccountError::InvalidCredentials`] when the password is wrong (counted and
    /// throttled like a failed login).
    pub async fn delete_account(
        &self,
        principal: &Principal,
        password: &str,
        context: &RequestContext,
    ) -> Result<(), DeleteAccountError> {
        use crate::session::RevocationReason;

        let user = self.users.find_by_id(principal.user_id).await?.ok_or(DeleteAccountError::UserGone)?;
        match self.proof.confirm_password(&user, password, context).await? {
            PasswordConfirmation::Confirmed => {}
            PasswordConfirmation::Wrong => return Err(DeleteAccountError::InvalidCredentials),
            PasswordConfirmation::Throttled(exceeded) => return Err(DeleteAccountError::RateLimited(exceeded)),
        }
        let now = self.clock.now();
        // Revoked first, so that no token of the account outlives it, even for an instant.
        let revoked = self.sessions.revoke_all_for_user(user.id, RevocationReason::AccountDeleted, now).await?;
        self.revocations.revoke_access_tokens(principal.session_id, now).await?;
        for session in revoked.iter().filter(|session| session.id != principal.session_id) {
            self.revocations.revoke_access_tokens(session.id, now).await?;
        }
        self.users.delete(user.id).await.map_err(|error| from_repository(error, DeleteAccountError::UserGone))?;
        self.auditor
            .record(
                AuditEventKind::UserDeleted,
                Some(user.id),
                Some(principal.session_id),
                context,
                AuditDetail::SessionsRevoked { sessions_revoked: revoked.len() },
            )
            .await?;
        Ok(())
    }

    /// Adds a role to the account of `email` (idempotent). Takes effect in the next access token.
    ///
    /// # Errors
    /// [`GrantRoleError::UnknownUser`] when no account has this email.
    pub async fn grant_role(&self, email: &str, role: &str) -> Result<User, GrantRoleError> {
        self.change_roles(email, role, true).await
    }

    /// Removes a role from the account of `email` (idempotent). Every session of the account ends
    /// at once, on every replica (and in the revocation feed), so that no token keeps claiming the
    /// role; a login in flight meanwhile opens no session on the old roles.
    ///
    /// # Errors
    /// [`GrantRoleError::UnknownUser`] when no account has this email.
    pub async fn revoke_role(&self, email: &str, role: &str) -> Result<User, GrantRoleError> {
        self.change_roles(email, role, false).await
    }

    async fn change_roles(&self, email: &str, role: &str, grant: bool) -> Result<User, GrantRoleError> {
        let role = Role::parse(role)?;
        let email = Email::parse(email).map_err(|_| GrantRoleError::UnknownUser)?;
        let user = self.users.find_by_email(&email).await?.ok_or(GrantRoleError::UnknownUser)?;
        let mut roles = user.roles.clone();
        roles.retain(|existing| existing != &role);
        if grant {
            roles.push(role.clone());
            roles.sort();
        }
        if roles != user.roles {
            self.users
                .set_roles(user.id, &roles, self.clock.now())
                .await
                .map_err(|error| from_repository(error, GrantRoleError::UnknownUser))?;
            if !grant {
                // Every live token claims the role: the sessions end, on every replica.
                self.revocations
                    .end_every_session(user.id, crate::session::RevocationReason::RoleRemoved, self.clock.now())
                    .await?;
            }
            let kind = if grant { AuditEventKind::RoleGranted } else { AuditEventKind::RoleRevoked };
            self.auditor
                .record(
                    kind,
                    Some(user.id),
                    None,
                    &RequestContext::default(),
                    AuditDetail::Role { role: role.as_str().to_owned() },
                )
                .await?;
        }
        self.users.find_by_id(user.id).await?.ok_or(GrantRoleError::UnknownUser)
    }
}

#[cfg(test)]
mod tests;
