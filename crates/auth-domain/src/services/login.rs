//! Use case: log in with email and password, opening a session.

use time::OffsetDateTime;

use std::sync::Arc;

use super::common::{
    Auditor, LimitError, MailStamp, PasswordProof, SecondFactorGate, Throttle, TokenIssuer, limit_keys,
};
use super::common::{SecondFactorCheck, password_fingerprint};
use super::mfa::{MfaChallengeIssued, MfaLoginError};
use super::{AuthPolicy, AuthPorts, RequestContext};
use crate::audit::{AuditDetail, AuditEventKind};
use crate::email::Email;
use crate::error::InfrastructureError;
use crate::ids::SessionId;
use crate::mail::{Mail, QueuedMail};
use crate::password::Password;
use crate::ports::{
    Clock, HashError, IdGenerator, PasswordCheck, PasswordHasher, PasswordUpdate, SecondFactorRepository,
    SessionCreation, SessionRepository, UserRepository, UserRepositoryError,
};
use crate::rate_limit::RateLimitExceeded;
use crate::session::{RefreshTokenRecord, Session};
use crate::tokens::MfaToken;
use crate::tokens::TokenPair;
use crate::user::User;

#[derive(Clone)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("email", &self.email).field("password", &"[redacted]").finish()
    }
}

/// What a right password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// A new session and its tokens.
    Authenticated(TokenPair),
    /// The account has a second factor: the login completes with it and this challenge.
    MfaRequired(MfaChallengeIssued),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown email and wrong password alike.
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("the email address is not verified yet")]
    EmailNotVerified,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error(transparent)]
    RateLimited(RateLimitExceeded),
    #[error("too many password hashes are in progress")]
    Overloaded,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

impl From<LimitError> for LoginError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Exceeded(exceeded) => Self::RateLimited(exceeded),
            LimitError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

impl From<OpenSessionError> for LoginError {
    fn from(error: OpenSessionError) -> Self {
        match error {
            // The password it was granted on is no longer the account's, or the account was
            // disabled or deleted meanwhile: as if the password had been wrong.
            OpenSessionError::CredentialsChanged => Self::InvalidCredentials,
            OpenSessionError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

/// Why no session was opened for a user who had proved who they are.
#[derive(Debug, thiserror::Error)]
pub(super) enum OpenSessionError {
    /// The password was changed or reset, or the account disabled or deleted, while the login
    /// was in flight.
    #[error("the account's credentials changed while the session was being opened")]
    CredentialsChanged,
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

/// How often a session is tried again on a newer credentials version whose password is still
/// the one proven (a role changed meanwhile), before the login gives up.
const OPEN_SESSION_ATTEMPTS: usize = 3;

impl From<HashError> for LoginError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Overloaded => Self::Overloaded,
            HashError::Infrastructure(error) => Self::Infrastructure(error),
        }
    }
}

/// Login with a password, and its second step with a second factor.
#[derive(Clone)]
pub struct LoginService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    second_factors: Arc<dyn SecondFactorRepository>,
    ids: Arc<dyn IdGenerator>,
    clock: Arc<dyn Clock>,
    throttle: Throttle,
    auditor: Auditor,
    proof: PasswordProof,
    factors: SecondFactorGate,
    issuer: TokenIssuer,
    mails: MailStamp,
    policy: Arc<AuthPolicy>,
}

impl std::fmt::Debug for LoginService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginService")
    }
}

impl LoginService {
    pub(super) fn new(ports: &AuthPorts, policy: &Arc<AuthPolicy>) -> Self {
        Self {
            users: Arc::clone(&ports.users),
            sessions: Arc::clone(&ports.sessions),
            hasher: Arc::clone(&ports.hasher),
            second_factors: Arc::clone(&ports.second_factors),
            ids: Arc::clone(&ports.ids),
            clock: Arc::clone(&ports.clock),
            throttle: ports.throttle(policy),
            auditor: ports.auditor(),
            proof: ports.password_proof(policy),
            factors: ports.second_factor_gate(policy),
            issuer: ports.token_issuer(policy),
            mails: ports.mail_stamp(policy),
            policy: Arc::clone(policy),
        }
    }

    /// Checks the credentials and opens a session, or, when the account has a second factor,
    /// hands out the challenge that [`LoginService::complete_mfa_login`] completes.
    ///
    /// An unknown email costs the same password verification as a wrong password and gets the
    /// same error. Whether the account is verified or disabled is told only to a caller who
    /// proved the password.
    ///
    /// # Errors
    /// See [`LoginError`]; failed attempts count per email (known or not) and all attempts per IP.
    pub async fn login(&self, request: LoginRequest, context: &RequestContext) -> Result<LoginOutcome, LoginError> {
        if let Some(ip) = &context.ip {
            self.throttle.enforce(self.policy.rate_limits.login_per_ip, &limit_keys::login_ip(ip)).await?;
        }
        let password = Password::new(&request.password);
        let email = Email::parse(&request.email).ok();
        // A malformed address is refused like an unknown one; its failures are counted under the
        // trimmed, lower-cased text so that it cannot be varied to dodge the limit.
        let attempted =
            email.as_ref().map_or_else(|| request.email.trim().to_lowercase(), |email| email.as_str().to_owned());
        let failure_key = limit_keys::login_failures(&attempted);
        let backoff_key = limit_keys::login_backoff(&attempted);
        let limit = self.policy.rate_limits.login_failures_per_email;

        let user = match &email {
            Some(email) => self.users.find_by_email(email).await?,
            None => None,
        };
        if let Some(exceeded) = self.throttle.reserve_attempt(limit, &failure_key, &backoff_key).await? {
            // The row names the account the attempt was aimed at, so that administrators find it
            // by user; the answer is the same for a known and an unknown address.
            self.auditor
                .record(
                    AuditEventKind::LoginThrottled,
                    user.as_ref().map(|user| user.id),
                    None,
                    context,
                    AuditDetail::Nothing {},
                )
                .await?;
            return Err(LoginError::RateLimited(exceeded));
        }
        let check = match &user {
            Some(user) => self.hasher.verify(&password, &user.password_hash).await,
            None => self.hasher.verify_dummy(&password).await.map(|()| PasswordCheck::Mismatch),
        };
        let check = match check {
            Ok(check) => check,
            Err(error) => {
                // No password was checked: the reserved attempt is not a failure.
                self.throttle.release_attempt(limit, &failure_key).await?;
                return Err(error.into());
            }
        };
        let (user, needs_rehash) = match (user, check) {
            (Some(user), PasswordCheck::Match { needs_rehash }) => (user, needs_rehash),
            (user, _) => {
                self.proof.record_login_failure(&backoff_key, user.as_ref(), context).await?;
                return Err(LoginError::InvalidCredentials);
            }
        };
        self.throttle.clear_failures(limit, &failure_key, &backoff_key).await?;
        if user.disabled {
            return Err(LoginError::AccountDisabled);
        }
        if self.policy.require_email_verification && !user.email_verified {
            return Err(LoginError::EmailNotVerified);
        }

        let now = self.clock.now();
        let mut user = user;
        if needs_rehash {
            let new_hash = self.hasher.hash(&password).await?;
            let update = PasswordUpdate::Rehash { previous: user.password_hash.clone() };
            match self.users.update_password_hash(user.id, &new_hash, now, update).await {
                Ok(()) => user.password_hash = new_hash,
                Err(UserRepositoryError::NotFound) => return Err(LoginError::InvalidCredentials),
                Err(UserRepositoryError::EmailTaken) => {
                    return Err(
                        InfrastructureError::unexpected("re-hashing a password reported its email taken").into()
                    );
                }
                Err(UserRepositoryError::Infrastructure(error)) => return Err(error.into()),
            }
        }

        if user.mfa_enabled {
            return Ok(LoginOutcome::MfaRequired(self.factors.issue_mfa_challenge(&user, now).await?));
        }
        let pair = self.open_session(user, vec!["pwd".to_owned()], context, now, AuditDetail::Nothing {}).await?;
        Ok(LoginOutcome::Authenticated(pair))
    }

    /// Completes a login that [`LoginService::login`] answered with a challenge: the second factor
    /// (a TOTP code or a recovery code) and the challenge's token open the session, whose tokens
    /// carry `amr: ["pwd", "otp"]`.
    ///
    /// # Errors
    /// See [`MfaLoginError`]; wrong codes count and are throttled per account like passwords.
    pub async fn complete_mfa_login(
        &self,
        mfa_token: &str,
        code: &str,
        context: &RequestContext,
    ) -> Result<TokenPair, MfaLoginError> {
        if let Some(ip) = &context.ip {
            self.throttle.enforce(self.policy.rate_limits.login_per_ip, &limit_keys::login_ip(ip)).await?;
        }
        let token = MfaToken::parse(mfa_token).ok_or(MfaLoginError::InvalidMfaToken)?;
        let now = self.clock.now();
        let challenge =
            self.second_factors.find_challenge(&token.hash(), now).await?.ok_or(MfaLoginError::InvalidMfaToken)?;
        let user = self.users.find_by_id(challenge.user_id).await?.ok_or(MfaLoginError::InvalidMfaToken)?;
        if password_fingerprint(&user) != challenge.password_fingerprint {
            return Err(MfaLoginError::InvalidMfaToken);
        }
        if user.disabled {
            return Err(MfaLoginError::AccountDisabled);
        }
        let factor = match self.factors.check_second_factor(&user, code, context, now).await? {
            SecondFactorCheck::Passed(factor) => factor,
            SecondFactorCheck::Wrong => return Err(MfaLoginError::InvalidCode),
            SecondFactorCheck::Throttled(exceeded) => return Err(MfaLoginError::RateLimited(exceeded)),
        };
        if !self.second_factors.consume_challenge(&challenge.hash).await? {
            return Err(MfaLoginError::InvalidMfaToken);
        }
        let amr = vec!["pwd".to_owned(), "otp".to_owned()];
        Ok(self.open_session(user, amr, context, now, factor.audit_detail()).await?)
    }

    /// Opens a session for a user who proved who they are with `amr`, and signs its first tokens.
    ///
    /// The session is stored only on the credentials version `user` was read at. When that moved
    /// on meanwhile, the account is read again: a role change leaves the proven password valid,
    /// and the session is opened on the new version (with the new roles); a new password, a
    /// disabled or a deleted account ends the attempt.
    ///
    /// # Errors
    /// [`OpenSessionError::CredentialsChanged`] when the proof no longer holds.
    pub(super) async fn open_session(
        &self,
        user: User,
        amr: Vec<String>,
        context: &RequestContext,
        now: OffsetDateTime,
        audit_detail: AuditDetail,
    ) -> Result<TokenPair, OpenSessionError> {
        let mut user = user;
        for _ in 0..OPEN_SESSION_ATTEMPTS {
            let session = Session {
                id: SessionId::from_uuid(self.ids.new_id()),
                user_id: user.id,
                created_at: now,
                last_used_at: now,
                expires_at: now + self.policy.session_ttl,
                idle_expires_at: now + self.policy.session_idle_ttl,
                revoked_at: None,
                ip: context.ip.map(|ip| ip.to_string()),
                user_agent: context.user_agent.clone(),
                amr: amr.clone(),
                credentials_version: user.credentials_version,
            };
            let refresh_token = self.issuer.new_refresh_token();
            let record = RefreshTokenRecord {
                hash: refresh_token.hash(),
                session_id: session.id,
                issued_at: now,
                rotated_at: None,
            };
            let notice = self.sign_in_notice(&user, context, now).await?;
            match self.sessions.create(&session, &record, notice).await? {
                SessionCreation::Created => {
                    self.auditor
                        .record(AuditEventKind::LoginSucceeded, Some(user.id), Some(session.id), context, audit_detail)
                        .await?;
                    return Ok(self.issuer.issue_token_pair(user, &session, refresh_token, now)?);
                }
                SessionCreation::CredentialsChanged => {
                    let current = self.users.find_by_id(user.id).await?;
                    match current {
                        Some(current) if !current.disabled && current.password_hash == user.password_hash => {
                            user = current;
                        }
                        _ => return Err(OpenSessionError::CredentialsChanged),
                    }
                }
            }
        }
        Err(OpenSessionError::CredentialsChanged)
    }

    /// The "new sign-in" mail, unless it is off or a live session of the user already comes from
    /// the same address with the same user agent (the owner's own device, signing in again).
    async fn sign_in_notice(
        &self,
        user: &User,
        context: &RequestContext,
        now: OffsetDateTime,
    ) -> Result<Option<QueuedMail>, InfrastructureError> {
        if !self.policy.notify_new_sign_in {
            return Ok(None);
        }
        let sessions = self.sessions.list_active_for_user(user.id, now).await?;
        let known_device = sessions.iter().any(|session| {
            session.ip == context.ip.map(|ip| ip.to_string()) && session.user_agent == context.user_agent
        });
        if known_device {
            return Ok(None);
        }
        Ok(Some(self.mails.queued(Mail::NewSignIn {
            to: user.email.clone(),
            ip: context.ip.map(|ip| ip.to_string()),
            user_agent: context.user_agent.clone(),
            at: now,
        })))
    }
}

#[cfg(test)]
mod tests;
