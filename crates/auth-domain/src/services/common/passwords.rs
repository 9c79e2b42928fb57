//! Password proofs shared by several areas: [`PasswordProof`] checks a signed-in caller's password
//! the way a login does, [`NewPasswordRules`] judges a password being set.

use std::sync::Arc;

use super::audit::Auditor;
use super::throttle::{Throttle, limit_keys};
use crate::audit::{AuditDetail, AuditEventKind};
use crate::email::Email;
use crate::error::InfrastructureError;
use crate::password::{Password, PasswordPolicy};
use crate::ports::{BreachedPasswords, HashError, PasswordCheck, PasswordHasher};
use crate::rate_limit::RateLimitExceeded;
use crate::services::RequestContext;
use crate::user::{DisplayName, User};
use crate::validation::FieldError;

/// The outcome of [`PasswordProof::confirm_password`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordConfirmation {
    Confirmed,
    /// Wrong, and counted as a failed login of the address.
    Wrong,
    /// Too many failures for the address: not even checked.
    Throttled(RateLimitExceeded),
}

/// Checks passwords against stored hashes, counting failures as failed logins of the address.
#[derive(Clone)]
pub(crate) struct PasswordProof {
    hasher: Arc<dyn PasswordHasher>,
    throttle: Throttle,
    auditor: Auditor,
}

impl std::fmt::Debug for PasswordProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordProof")
    }
}

impl PasswordProof {
    pub(crate) fn new(hasher: Arc<dyn PasswordHasher>, throttle: Throttle, auditor: Auditor) -> Self {
        Self { hasher, throttle, auditor }
    }

    /// Confirms the password of a signed-in caller before a sensitive change (a new password,
    /// deleting the account). A stolen access token must not become an oracle for the password:
    /// wrong passwords count, and are throttled, exactly like failed logins of the address.
    ///
    /// # Errors
    /// When the limiter or the hasher cannot be reached, or the hasher is overloaded.
    pub(crate) async fn confirm_password(
        &self,
        user: &User,
        password: &str,
        context: &RequestContext,
    ) -> Result<PasswordConfirmation, HashError> {
        let failure_key = limit_keys::login_failures(user.email.as_str());
        let backoff_key = limit_keys::login_backoff(user.email.as_str());
        let limit = self.throttle.limits().login_failures_per_email;
        if let Some(exceeded) = self.throttle.reserve_attempt(limit, &failure_key, &backoff_key).await? {
            return Ok(PasswordConfirmation::Throttled(exceeded));
        }
        let check = match self.hasher.verify(&Password::new(password), &user.password_hash).await {
            Ok(check) => check,
            Err(error) => {
                self.throttle.release_attempt(limit, &failure_key).await?;
                return Err(error);
            }
        };
        match check {
            PasswordCheck::Match { .. } => {
                self.throttle.clear_failures(limit, &failure_key, &backoff_key).await?;
                Ok(PasswordConfirmation::Confirmed)
            }
            PasswordCheck::Mismatch => {
                self.record_login_failure(&backoff_key, Some(user), context).await?;
                Ok(PasswordConfirmation::Wrong)
            }
        }
    }

    /// Counts a wrong password (or an unknown address) in the address's failure streak, and
    /// audits it.
    pub(crate) async fn record_login_failure(
        &self,
        backoff_key: &str,
        user: Option<&User>,
        context: &RequestContext,
    ) -> Result<(), InfrastructureError> {
        self.throttle.count_failure(self.throttle.limits().login_failures_per_email, backoff_key).await?;
        let reason = if user.is_some() { "wrong_password" } else { "unknown_email" };
        self.auditor
            .record(
                AuditEventKind::LoginFailed,
                user.map(|user| user.id),
                None,
                context,
                AuditDetail::Reason { reason },
            )
            .await
    }
}

/// What a new password must pass: the policy, then the breached list.
#[derive(Clone)]
pub(crate) struct NewPasswordRules {
    policy: PasswordPolicy,
    breached_passwords: Arc<dyn BreachedPasswords>,
}

impl std::fmt::Debug for NewPasswordRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPasswordRules").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl NewPasswordRules {
    pub(crate) fn new(policy: PasswordPolicy, breached_passwords: Arc<dyn BreachedPasswords>) -> Self {
        Self { policy, breached_passwords }
    }

    /// Judges a new password: the policy, with the account's email and display name as guessable
    /// words, then the breached list. `Ok(Some(..))` is the field error to report.
    ///
    /// # Errors
    /// When the breached list cannot be consulted: the caller gets a 503 rather than a password
    /// that was never checked against it.
    pub(crate) async fn judge_new_password(
        &self,
        field: &'static str,
        password: &Password,
        email: Option<&Email>,
        display_name: Option<&DisplayName>,
    ) -> Result<Option<FieldError>, InfrastructureError> {
        let mut guessable: Vec<&str> = Vec::new();
        if let Some(email) = email {
            guessable.push(email.as_str());
            guessable.extend(email.as_str().split(['@', '.', '_', '-', '+']).filter(|part| part.len() > 2));
        }
        if let Some(name) = display_name {
            guessable.push(name.as_str());
            guessable.extend(name.as_str().split_whitespace());
        }
        if let Err(error) = self.policy.check(field, password, &guessable) {
            return Ok(Some(error));
        }
        if self.breached_passwords.contains(password).await? {
            return Ok(Some(FieldError::new(
                field,
                "breached",
                "appears in a list of passwords exposed in data breaches; choose another",
            )));
        }
        Ok(None)
    }
}
