//! Use cases: forgot password, reset it with a mailed token, change it knowing the current one.

use std::sync::Arc;

use super::common::{Auditor, MailStamp, NewPasswordRules, PasswordProof, Throttle};
use super::{AuthPolicy, AuthPorts, RevocationService};
use crate::ports::{BackgroundTasks, Clock, OneTimeTokenRepository, PasswordHasher, SessionRepository, UserRepository};

use super::common::{LimitError, PasswordConfirmation, limit_keys};
use super::{Principal, RequestContext};
use crate::audit::{AuditDetail, AuditEventKind};
use crate::email::Email;
use crate::error::InfrastructureError;
use crate::ids::UserId;
use crate::mail::Mail;
use crate::password::{Password, PasswordHash};
use crate::ports::{HashError, TokenPurpose, UserRepositoryError};
use crate::rate_limit::RateLimitExceeded;
use crate::session::RevocationReason;
use crate::tokens::OneTimeToken;
use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ForgotPasswordError {
    #[error(transparent)]
    RateLimited(RateLimitExceeded),
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[derive(Debug, thiserror::Error)]
pub enum ResetPasswordError {
    /// Unknown, used, expired, or of another purpose.
    #[error("the reset token is invalid")]
    InvalidToken,
    #[error("the new password is invalid")]
    Validation(Vec<FieldError>),
    #[error("too many password hashes are in progress")]
    Overloaded,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    /// The current password is wrong.
    #[error("the current password is wrong")]
    InvalidCredentials,
    /// Too many wrong current passwords for this account, counted with failed logins.
    #[error(transparent)]
    RateLimited(RateLimitExceeded),
    #[error("the new password is invalid")]
    Validation(Vec<FieldError>),
    #[error("the account no longer exists")]
    UserGone,
    #[error("too many password hashes are in progress")]
    Overloaded,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

impl From<LimitError> for ForgotPasswordError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Exceeded(exceeded) => Self::RateLimited(exceeded),
            LimitError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

macro_rules! hash_errors_into {
    ($($error:ty),+) => {$(
        impl From<HashError> for $error {
            fn from(error: HashError) -> Self {
                match error {
                    HashError::Overloaded => Self::Overloaded,
                    HashError::Infrastructure(error) => Self::Infrastructure(error),
                }
            }
        }
    )+};
}

hash_errors_into!(ResetPasswordError, ChangePasswordError);

/// The account-dependent half of a forgot-password request, run after the caller has its answer.
#[derive(Debug)]
#[must_use = "a pending reset mail does nothing until it is delivered"]
pub struct PendingResetMail {
    service: PasswordService,
    email: Option<Email>,
    context: RequestContext,
}

impl PendingResetMail {
    /// Hands the delivery to the background tasks, so that the caller is answered first and the
    /// time to answer says nothing about the account; a failure goes to the log.
    pub fn finish_in_background(self) {
        let tasks = std::sync::Arc::clone(&self.service.tasks);
        tasks.spawn(Box::pin(async move {
            if let Err(error) = self.deliver().await {
                tracing::error!(error = %error, "could not mail a password-reset link");
            }
        }));
    }

    /// Mails a reset link to the account of the address, voiding earlier links; does nothing for
    /// an unknown or malformed address.
    ///
    /// # Errors
    /// Only infrastructure failures, for the log: the caller was answered already.
    pub async fn deliver(self) -> Result<(), InfrastructureError> {
        let Some(email) = self.email else { return Ok(()) };
        let service = self.service;
        let Some(user) = service.users.find_by_email(&email).await? else { return Ok(()) };
        let reset = service.mails.mailed_token(&user, TokenPurpose::PasswordReset, service.clock.now());
        service.one_time_tokens.replace(&reset).await?;
        service
            .auditor
            .record(AuditEventKind::PasswordResetRequested, Some(user.id), None, &self.context, AuditDetail::Nothing {})
            .await
    }
}

/// Forgotten, reset and changed passwords.
#[derive(Clone)]
pub struct PasswordService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    one_time_tokens: Arc<dyn OneTimeTokenRepository>,
    clock: Arc<dyn Clock>,
    tasks: Arc<dyn BackgroundTasks>,
    throttle: Throttle,
    auditor: Auditor,
    proof: PasswordProof,
    new_passwords: NewPasswordRules,
    mails: MailStamp,
    revocations: RevocationService,
    policy: Arc<AuthPolicy>,
}

impl std::fmt::Debug for PasswordService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordService")
    }
}

impl PasswordService {
    pub(super) fn new(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            sessions: Arc::clone(&ports.sessions),
            hasher: Arc::clone(&ports.hasher),
            one_time_tokens: Arc::clone(&ports.one_time_tokens),
            clock: Arc::clone(&ports.clock),
            tasks: Arc::clone(&ports.tasks),
            throttle: ports.throttle(policy),
            auditor: ports.auditor(),
            proof: ports.password_proof(policy),
            new_passwords: ports.new_password_rules(policy),
            mails: ports.mail_stamp(policy),
            revocations: RevocationService::new(ports, policy),
            policy: Arc::clone(policy),
        }
    }

    /// Accepts a request for a password-reset mail, after the rate limits (shared with
    /// registration). As for resend, the answer is decided before the account is looked up; the
    /// caller runs the returned [`PendingResetMail`] afterwards.
    ///
    /// # Errors
    /// Rate limits only.
    pub async fn forgot_password(
        &self,
        email: &str,
        context: &RequestContext,
    ) -> Result<PendingResetMail, ForgotPasswordError> {
        if let Some(ip) = &context.ip {
            self.throttle
                .enforce(self.policy.rate_limits.registration_per_ip, &limit_keys::registration_ip(ip))
                .await?;
        }
        let email = Email::parse(email).ok();
        if let Some(email) = &email {
            self.throttle.enforce(self.policy.rate_limits.mail_per_email, &limit_keys::mail_to(email)).await?;
        }
        Ok(PendingResetMail { service: self.clone(), email, context: context.clone() })
    }

    /// Sets a new password with a mailed token; every session of the account is revoked.
    ///
    /// # Errors
    /// [`ResetPasswordError::InvalidToken`] for a token that is not live. The token is used up
    /// first, whatever follows: a refused new password, or a failure after it, needs a new link.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        context: &RequestContext,
    ) -> Result<(), ResetPasswordError> {
        let token = OneTimeToken::parse(token).ok_or(ResetPasswordError::InvalidToken)?;
        let new_password = Password::new(new_password);
        let now = self.clock.now();
        let user_id = self
            .one_time_tokens
            .consume(&token.hash(), TokenPurpose::PasswordReset, now)
            .await?
            .ok_or(ResetPasswordError::InvalidToken)?;
        let user = self.users.find_by_id(user_id).await?.ok_or(ResetPasswordError::InvalidToken)?;
        // A weak password spends the token: the owner asks for a new link, which is cheap, and a
        // token that survives failed attempts would be one more thing to guess against.
        if let Some(error) = self
            .new_passwords
            .judge_new_password("new_password", &new_password, Some(&user.email), user.display_name.as_ref())
            .await?
        {
            return Err(ResetPasswordError::Validation(vec![error]));
        }
        let hash = self.hasher.hash(&new_password).await?;
        let notice = self.mails.queued(Mail::PasswordChanged { to: user.email.clone() });
        self.store_password_hash(user_id, &hash, now, notice, None).await.map_err(|error| match error {
            UserRepositoryError::NotFound => ResetPasswordError::InvalidToken,
            other => ResetPasswordError::Infrastructure(unexpected(other)),
        })?;
        self.revocations.end_every_session(user_id, RevocationReason::PasswordReset, now).await?;
        self.auditor
            .record(AuditEventKind::PasswordReset, Some(user_id), None, context, AuditDetail::Nothing {})
            .await?;
        Ok(())
    }

    /// Changes the caller's password; every other session is revoked, the caller's stays.
    ///
    /// # Errors
    /// [`ChangePasswordError::InvalidCredentials`] when the current password is wrong.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current_password: &str,
        new_password: &str,
        context: &RequestContext,
    ) -> Result<(), ChangePasswordError> {
        let user = self.users.find_by_id(principal.user_id).await?.ok_or(ChangePasswordError::UserGone)?;
        match self.proof.confirm_password(&user, current_password, context).await? {
            PasswordConfirmation::Confirmed => {}
            PasswordConfirmation::Wrong => return Err(ChangePasswordError::InvalidCredentials),
            PasswordConfirmation::Throttled(exceeded) => return Err(ChangePasswordError::RateLimited(exceeded)),
        }
        let new_password = Password::new(new_password);
        if let Some(error) = self
            .new_passwords
            .judge_new_password("new_password", &new_password, Some(&user.email), user.display_name.as_ref())
            .await?
        {
            return Err(ChangePasswordError::Validation(vec![error]));
        }
        let hash = self.hasher.hash(&new_password).await?;
        let now = self.clock.now();
        let notice = self.mails.queued(Mail::PasswordChanged { to: user.email.clone() });
        let keep = Some(principal.session_id);
        self.store_password_hash(user.id, &hash, now, notice, keep).await.map_err(|error| match error {
            UserRepositoryError::NotFound => ChangePasswordError::UserGone,
            other => ChangePasswordError::Infrastructure(unexpected(other)),
        })?;
        let revoked = self
            .sessions
            .revoke_all_for_user_except(user.id, principal.session_id, RevocationReason::PasswordChanged, now)
            .await?;
        for session in &revoked {
            self.revocations.revoke_access_tokens(session.id, now).await?;
        }
        self.auditor
            .record(
                AuditEventKind::PasswordChanged,
                Some(user.id),
                Some(principal.session_id),
                context,
                AuditDetail::SessionsRevoked { sessions_revoked: revoked.len() },
            )
            .await?;
        Ok(())
    }

    /// Stores a new password: the credentials version moves on, so that no login still in flight
    /// on the old password opens a session; `keep` is the caller's own session, which stays.
    async fn store_password_hash(
        &self,
        user_id: UserId,
        hash: &PasswordHash,
        now: time::OffsetDateTime,
        notice: crate::mail::QueuedMail,
        keep: Option<crate::ids::SessionId>,
    ) -> Result<(), UserRepositoryError> {
        let update = crate::ports::PasswordUpdate::NewPassword { notice, keep };
        self.users.update_password_hash(user_id, hash, now, update).await
    }
}

fn unexpected(error: UserRepositoryError) -> InfrastructureError {
    match error {
        UserRepositoryError::Infrastructure(error) => error,
        other => InfrastructureError::unexpected(other),
    }
}

#[cfg(test)]
mod tests;
