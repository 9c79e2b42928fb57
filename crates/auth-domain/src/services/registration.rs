//! Use cases: register, verify an email address, resend the verification mail.

use std::sync::Arc;

use super::common::{Auditor, MailStamp, NewPasswordRules, Throttle};
use super::{AuthPolicy, AuthPorts};
use crate::ports::{
    BackgroundTasks, Clock, IdGenerator, MailQueue, OneTimeTokenRepository, PasswordHasher, UserRepository,
};

use super::RequestContext;
use super::common::{LimitError, limit_keys};
use crate::audit::{AuditDetail, AuditEventKind};
use crate::email::Email;
use crate::error::InfrastructureError;
use crate::ids::UserId;
use crate::mail::Mail;
use crate::password::Password;
use crate::ports::{HashError, TokenPurpose, UserRepositoryError};
use crate::rate_limit::RateLimitExceeded;
use crate::tokens::OneTimeToken;
use crate::user::{DisplayName, User};
use crate::validation::FieldError;

#[derive(Clone)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub display_name: Option<String>,
}

impl std::fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("display_name", &self.display_name)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the registration is invalid")]
    Validation(Vec<FieldError>),
    #[error(transparent)]
    RateLimited(RateLimitExceeded),
    #[error("too many password hashes are in progress")]
    Overloaded,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyEmailError {
    /// Unknown, already used, expired, or of another purpose: the client cannot tell which.
    #[error("the verification token is invalid")]
    InvalidToken,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

#[derive(Debug, thiserror::Error)]
pub enum ResendVerificationError {
    #[error(transparent)]
    RateLimited(RateLimitExceeded),
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

impl From<LimitError> for RegisterError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Exceeded(exceeded) => Self::RateLimited(exceeded),
            LimitError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

impl From<LimitError> for ResendVerificationError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Exceeded(exceeded) => Self::RateLimited(exceeded),
            LimitError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

impl From<HashError> for RegisterError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Overloaded => Self::Overloaded,
            HashError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

/// Registration, address verification, and resending the verification.
#[derive(Clone)]
pub struct RegistrationService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    mail_queue: Arc<dyn MailQueue>,
    one_time_tokens: Arc<dyn OneTimeTokenRepository>,
    ids: Arc<dyn IdGenerator>,
    clock: Arc<dyn Clock>,
    tasks: Arc<dyn BackgroundTasks>,
    throttle: Throttle,
    auditor: Auditor,
    new_passwords: NewPasswordRules,
    mails: MailStamp,
    policy: Arc<AuthPolicy>,
}

impl std::fmt::Debug for RegistrationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistrationService")
    }
}

impl RegistrationService {
    pub(super) fn new(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            hasher: Arc::clone(&ports.hasher),
            mail_queue: Arc::clone(&ports.mail_queue),
            one_time_tokens: Arc::clone(&ports.one_time_tokens),
            ids: Arc::clone(&ports.ids),
            clock: Arc::clone(&ports.clock),
            tasks: Arc::clone(&ports.tasks),
            throttle: ports.throttle(policy),
            auditor: ports.auditor(),
            new_passwords: ports.new_password_rules(policy),
            mails: ports.mail_stamp(policy),
            policy: Arc::clone(policy),
        }
    }

    /// Registers an account and mails a verification link.
    ///
    /// A known address gets an "already registered" mail instead, and the caller sees exactly
    /// the same outcome, having waited for the same password hash: registering reveals nothing
    /// about which addresses have accounts.
    ///
    /// # Errors
    /// [`RegisterError::Validation`] lists every invalid field; rate limits apply per client IP
    /// and per target address.
    pub async fn register(&self, request: RegisterRequest, context: &RequestContext) -> Result<(), RegisterError> {
        if let Some(ip) = &context.ip {
            self.throttle
                .enforce(self.policy.rate_limits.registration_per_ip, &limit_keys::registration_ip(ip))
                .await?;
        }

        let mut errors = Vec::new();
        let email = Email::parse(&request.email)
            .map_err(|error| errors.push(FieldError::new("email", error.code(), error.to_string())))
            .ok();
        let display_name = match request.display_name.as_deref() {
            None => None,
            Some(raw) => DisplayName::parse(raw).map_err(|error| errors.push(error)).ok(),
        };
        let password = Password::new(&request.password);
        if let Some(error) =
            self.new_passwords.judge_new_password("password", &password, email.as_ref(), display_name.as_ref()).await?
        {
            errors.push(error);
        }
        let Some(email) = email.filter(|_| errors.is_empty()) else {
            return Err(RegisterError::Validation(errors));
        };

        self.throttle.enforce(self.policy.rate_limits.mail_per_email, &limit_keys::mail_to(&email)).await?;

        // Hash before looking the address up, so both outcomes cost the same time.
        let password_hash = self.hasher.hash(&password).await?;
        if self.users.find_by_email(&email).await?.is_some() {
            self.mail_queue.enqueue(self.mails.queued(Mail::AlreadyRegistered { to: email })).await?;
            return Ok(());
        }

        let now = self.clock.now();
        let user = User {
            id: UserId::from_uuid(self.ids.new_id()),
            email: email.clone(),
            email_verified: false,
            display_name,
            roles: Vec::new(),
            mfa_enabled: false,
            disabled: false,
            password_hash,
            credentials_version: 0,
            created_at: now,
            updated_at: now,
        };
        let verification = self.mails.mailed_token(&user, TokenPurpose::VerifyEmail, now);
        match self.users.insert(&user, &verification).await {
            Ok(()) => {}
            // A concurrent registration of the same address won: answer as for a known address.
            Err(UserRepositoryError::EmailTaken) => {
                self.mail_queue.enqueue(self.mails.queued(Mail::AlreadyRegistered { to: email })).await?;
                return Ok(());
            }
            Err(UserRepositoryError::NotFound) => {
                return Err(InfrastructureError::unexpected("inserting a user reported it missing").into());
            }
            Err(UserRepositoryError::Infrastructure(error)) => return Err(error.into()),
        }
        self.auditor
            .record(AuditEventKind::UserRegistered, Some(user.id), None, context, AuditDetail::Nothing {})
            .await?;
        Ok(())
    }

    /// Marks the address of the token's user verified; the token is used up.
    ///
    /// # Errors
    /// [`VerifyEmailError::InvalidToken`] for any token that is not live.
    pub async fn verify_email(&self, token: &str, context: &RequestContext) -> Result<User, VerifyEmailError> {
        let token = OneTimeToken::parse(token).ok_or(VerifyEmailError::InvalidToken)?;
        let now = self.clock.now();
        let user_id = self
            .one_time_tokens
            .consume(&token.hash(), TokenPurpose::VerifyEmail, now)
            .await?
            .ok_or(VerifyEmailError::InvalidToken)?;
        match self.users.mark_email_verified(user_id, now).await {
            Ok(()) => {}
            Err(UserRepositoryError::NotFound) => return Err(VerifyEmailError::InvalidToken),
            Err(UserRepositoryError::EmailTaken) => {
                return Err(InfrastructureError::unexpected("verifying an email reported it taken").into());
            }
            Err(UserRepositoryError::Infrastructure(error)) => return Err(error.into()),
        }
        self.auditor
            .record(AuditEventKind::EmailVerified, Some(user_id), None, context, AuditDetail::Nothing {})
            .await?;
        self.users.find_by_id(user_id).await?.ok_or(VerifyEmailError::InvalidToken)
    }

    /// Accepts a request to mail a new verification link, after the rate limits. The answer is
    /// decided here, before anything depends on whether the address has an account: the caller
    /// gets the same outcome in the same time for every address, and runs the returned
    /// [`PendingResend`] afterwards (the HTTP layer does so after answering).
    ///
    /// # Errors
    /// Rate limits as for registration.
    pub async fn resend_verification(
        &self,
        email: &str,
        context: &RequestContext,
    ) -> Result<PendingResend, ResendVerificationError> {
        if let Some(ip) = &context.ip {
            self.throttle
                .enforce(self.policy.rate_limits.registration_per_ip, &limit_keys::registration_ip(ip))
                .await?;
        }
        // The contract answers 202 whatever the address: a malformed one has no account to mail.
        let Ok(email) = Email::parse(email) else { return Ok(PendingResend { service: self.clone(), email: None }) };
        self.throttle.enforce(self.policy.rate_limits.mail_per_email, &limit_keys::mail_to(&email)).await?;
        Ok(PendingResend { service: self.clone(), email: Some(email) })
    }
}

/// The account-dependent half of a resend, run after the caller has its answer.
#[derive(Debug)]
#[must_use = "a pending resend does nothing until it is delivered"]
pub struct PendingResend {
    service: RegistrationService,
    email: Option<Email>,
}

impl PendingResend {
    /// Hands the delivery to the background tasks, so that the caller is answered first and the
    /// time to answer says nothing about the account; a failure goes to the log.
    pub fn finish_in_background(self) {
        let tasks = std::sync::Arc::clone(&self.service.tasks);
        tasks.spawn(Box::pin(async move {
            if let Err(error) = self.deliver().await {
                tracing::error!(error = %error, "could not mail a new verification link");
            }
        }));
    }

    /// Mails a new link to an unverified account, voiding the previous one; does nothing for an
    /// unknown, malformed or already verified address.
    ///
    /// # Errors
    /// Only infrastructure failures, for the log: the caller was answered already.
    pub async fn deliver(self) -> Result<(), InfrastructureError> {
        let Some(email) = self.email else { return Ok(()) };
        let Some(user) = self.service.users.find_by_email(&email).await? else { return Ok(()) };
        if user.email_verified {
            return Ok(());
        }
        let service = &self.service;
        let verification = service.mails.mailed_token(&user, TokenPurpose::VerifyEmail, service.clock.now());
        service.one_time_tokens.replace(&verification).await
    }
}

#[cfg(test)]
mod tests;
