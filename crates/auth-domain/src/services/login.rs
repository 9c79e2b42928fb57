//! Use case: log in with email and password, opening a session.

use serde_json::json;
use time::OffsetDateTime;

use super::mfa::MfaChallengeIssued;
use super::{AuthService, LimitError, RequestContext, limit_keys};
use crate::audit::AuditEventKind;
use crate::email::Email;
use crate::error::InfrastructureError;
use crate::ids::SessionId;
use crate::mail::{Mail, QueuedMail};
use crate::password::Password;
use crate::ports::{HashError, PasswordCheck, PasswordUpdate, SessionCreation, UserRepositoryError};
use crate::rate_limit::{RateLimit, RateLimitExceeded};
use crate::session::{RefreshTokenRecord, Session};
use crate::tokens::TokenPair;
use crate::user::User;

/// The outcome of [`AuthService::confirm_password`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PasswordConfirmation {
    Confirmed,
    /// Wrong, and counted as a failed login of the address.
    Wrong,
    /// Too many failures for the address: not even checked.
    Throttled(RateLimitExceeded),
}

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

impl AuthService {
    /// Checks the credentials and opens a session, or, when the account has a second factor,
    /// hands out the challenge that [`AuthService::complete_mfa_login`] completes.
    ///
    /// An unknown email costs the same password verification as a wrong password and gets the
    /// same error. Whether the account is verified or disabled is told only to a caller who
    /// proved the password.
    ///
    /// # Errors
    /// See [`LoginError`]; failed attempts count per email (known or not) and all attempts per IP.
    pub async fn login(&self, request: LoginRequest, context: &RequestContext) -> Result<LoginOutcome, LoginError> {
        if let Some(ip) = &context.ip {
            self.enforce(self.policy.rate_limits.login_per_ip, &limit_keys::login_ip(ip)).await?;
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
            Some(email) => self.ports.users.find_by_email(email).await?,
            None => None,
        };
        if let Some(exceeded) = self.reserve_attempt(limit, &failure_key, &backoff_key).await? {
            // The row names the account the attempt was aimed at, so that administrators find it
            // by user; the answer is the same for a known and an unknown address.
            self.audit(AuditEventKind::LoginThrottled, user.as_ref().map(|user| user.id), None, context, json!({}))
                .await?;
            return Err(LoginError::RateLimited(exceeded));
        }
        let check = match &user {
            Some(user) => self.ports.hasher.verify(&password, &user.password_hash).await,
            None => self.ports.hasher.verify_dummy(&password).await.map(|()| PasswordCheck::Mismatch),
        };
        let check = match check {
            Ok(check) => check,
            Err(error) => {
                // No password was checked: the reserved attempt is not a failure.
                self.release_attempt(limit, &failure_key).await?;
                return Err(error.into());
            }
        };
        let (user, needs_rehash) = match (user, check) {
            (Some(user), PasswordCheck::Match { needs_rehash }) => (user, needs_rehash),
            (user, _) => {
                self.record_login_failure(&backoff_key, user.as_ref(), context).await?;
                return Err(LoginError::InvalidCredentials);
            }
        };
        self.clear_failures(limit, &failure_key, &backoff_key).await?;
        if user.disabled {
            return Err(LoginError::AccountDisabled);
        }
        if self.policy.require_email_verification && !user.email_verified {
            return Err(LoginError::EmailNotVerified);
        }

        let now = self.now();
        let mut user = user;
        if needs_rehash {
            let new_hash = self.ports.hasher.hash(&password).await?;
            let update = PasswordUpdate::Rehash { previous: user.password_hash.clone() };
            match self.ports.users.update_password_hash(user.id, &new_hash, now, update).await {
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
            return Ok(LoginOutcome::MfaRequired(self.issue_mfa_challenge(&user, now).await?));
        }
        let pair = self.open_session(user, vec!["pwd".to_owned()], context, now, json!({})).await?;
        Ok(LoginOutcome::Authenticated(pair))
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
        audit_detail: serde_json::Value,
    ) -> Result<TokenPair, OpenSessionError> {
        let mut user = user;
        for _ in 0..OPEN_SESSION_ATTEMPTS {
            let session = Session {
                id: SessionId::from_uuid(self.ports.ids.new_id()),
                user_id: user.id,
                created_at: now,
                last_used_at: now,
                expires_at: now + self.policy.session_ttl,
                idle_expires_at: now + self.policy.session_idle_ttl,
                revoked_at: None,
                ip: context.ip.clone(),
                user_agent: context.user_agent.clone(),
                amr: amr.clone(),
                credentials_version: user.credentials_version,
            };
            let refresh_token = self.new_refresh_token();
            let record = RefreshTokenRecord {
                hash: refresh_token.hash(),
                session_id: session.id,
                issued_at: now,
                rotated_at: None,
            };
            let notice = self.sign_in_notice(&user, context, now).await?;
            match self.ports.sessions.create(&session, &record, notice).await? {
                SessionCreation::Created => {
                    self.audit(AuditEventKind::LoginSucceeded, Some(user.id), Some(session.id), context, audit_detail)
                        .await?;
                    return Ok(self.issue_token_pair(user, &session, refresh_token, now)?);
                }
                SessionCreation::CredentialsChanged => {
                    let current = self.ports.users.find_by_id(user.id).await?;
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
        let sessions = self.ports.sessions.list_active_for_user(user.id, now).await?;
        let known_device =
            sessions.iter().any(|session| session.ip == context.ip && session.user_agent == context.user_agent);
        if known_device {
            return Ok(None);
        }
        Ok(Some(self.queued(Mail::NewSignIn {
            to: user.email.clone(),
            ip: context.ip.clone(),
            user_agent: context.user_agent.clone(),
            at: now,
        })))
    }

    /// Confirms the password of a signed-in caller before a sensitive change (a new password,
    /// deleting the account). A stolen access token must not become an oracle for the password:
    /// wrong passwords count, and are throttled, exactly like failed logins of the address.
    ///
    /// # Errors
    /// When the limiter or the hasher cannot be reached, or the hasher is overloaded.
    pub(super) async fn confirm_password(
        &self,
        user: &User,
        password: &str,
        context: &RequestContext,
    ) -> Result<PasswordConfirmation, HashError> {
        let failure_key = limit_keys::login_failures(user.email.as_str());
        let backoff_key = limit_keys::login_backoff(user.email.as_str());
        let limit = self.policy.rate_limits.login_failures_per_email;
        if let Some(exceeded) = self.reserve_attempt(limit, &failure_key, &backoff_key).await? {
            return Ok(PasswordConfirmation::Throttled(exceeded));
        }
        let check = match self.ports.hasher.verify(&Password::new(password), &user.password_hash).await {
            Ok(check) => check,
            Err(error) => {
                self.release_attempt(limit, &failure_key).await?;
                return Err(error);
            }
        };
        match check {
            PasswordCheck::Match { .. } => {
                self.clear_failures(limit, &failure_key, &backoff_key).await?;
                Ok(PasswordConfirmation::Confirmed)
            }
            PasswordCheck::Mismatch => {
                self.record_login_failure(&backoff_key, Some(user), context).await?;
                Ok(PasswordConfirmation::Wrong)
            }
        }
    }

    /// Reserves one attempt at a secret (a password for an address, a second-factor code for an
    /// account) before it is checked; `Some` is a refusal, and nothing may be checked then.
    ///
    /// The attempt is counted first, under `failure_key` and `limit`, atomically: of any number of
    /// concurrent attempts at most the allowance gets checked, where "peek, check, then count"
    /// let all of them past the peek. A success clears the count ([`AuthService::clear_failures`]);
    /// a check that cannot be made gives the attempt back ([`AuthService::release_attempt`]).
    ///
    /// Beyond the allowance, failures since the last success (their streak, under `backoff_key`)
    /// earn a back-off: each further attempt first claims, atomically, the wait its own failure
    /// would earn, so concurrent attempts cannot slip through one back-off together.
    pub(super) async fn reserve_attempt(
        &self,
        limit: Option<RateLimit>,
        failure_key: &str,
        backoff_key: &str,
    ) -> Result<Option<RateLimitExceeded>, InfrastructureError> {
        let Some(limit) = limit else { return Ok(None) };
        let decision = self.ports.rate_limiter.hit(failure_key, limit).await?;
        if let Some(exceeded) = decision.exceeded() {
            return Ok(Some(exceeded));
        }
        let streak = self.ports.rate_limiter.peek(backoff_key, FAILURE_STREAK).await?;
        let failures = FAILURE_STREAK.max.saturating_sub(streak.remaining);
        let Some(wait) = backoff_after(failures.saturating_add(1), limit.max) else { return Ok(None) };
        match self.ports.rate_limiter.claim_block(backoff_key, wait).await? {
            None => Ok(None),
            Some(left) => {
                self.ports.rate_limiter.undo(failure_key, limit).await?;
                Ok(Some(RateLimitExceeded { limit: limit.max, retry_after: whole_seconds_up(left) }))
            }
        }
    }

    /// Gives back an attempt reserved by [`AuthService::reserve_attempt`] whose secret could not
    /// be checked (the hasher was overloaded, a store failed): it was no failure.
    pub(super) async fn release_attempt(
        &self,
        limit: Option<RateLimit>,
        failure_key: &str,
    ) -> Result<(), InfrastructureError> {
        match limit {
            Some(limit) => self.ports.rate_limiter.undo(failure_key, limit).await,
            None => Ok(()),
        }
    }

    /// Forgets the failures, their streak and the back-off counted under these keys, after a
    /// proven secret.
    pub(super) async fn clear_failures(
        &self,
        limit: Option<RateLimit>,
        failure_key: &str,
        backoff_key: &str,
    ) -> Result<(), InfrastructureError> {
        if limit.is_some() {
            self.ports.rate_limiter.reset(failure_key).await?;
            self.ports.rate_limiter.reset(backoff_key).await?;
        }
        Ok(())
    }

    /// Counts one failure in the streak under `backoff_key`; the failure itself was counted
    /// under `limit` when its attempt was reserved.
    pub(super) async fn count_failure(
        &self,
        limit: Option<RateLimit>,
        backoff_key: &str,
    ) -> Result<(), InfrastructureError> {
        if limit.is_some() {
            self.ports.rate_limiter.hit(backoff_key, FAILURE_STREAK).await?;
        }
        Ok(())
    }

    pub(super) async fn record_login_failure(
        &self,
        backoff_key: &str,
        user: Option<&crate::user::User>,
        context: &RequestContext,
    ) -> Result<(), InfrastructureError> {
        self.count_failure(self.policy.rate_limits.login_failures_per_email, backoff_key).await?;
        let reason = if user.is_some() { "wrong_password" } else { "unknown_email" };
        self.audit(AuditEventKind::LoginFailed, user.map(|user| user.id), None, context, json!({ "reason": reason }))
            .await
    }
}

/// The failures since the last success that the back-off counts: a count that only a success
/// (or a day or two without failures) clears, so that the back-off keeps growing while an
/// attacker trickles guesses in at the pace the window allows.
pub const FAILURE_STREAK: RateLimit = RateLimit::new(1_000_000, std::time::Duration::from_secs(24 * 3600));
/// The longest wait one failure imposes.
pub const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The wait the `failures`th failure in a streak earns, where `allowance` failures are free
/// (the configured count of the limit, e.g. AUTH_RATE_LOGIN_EMAIL's 10): none up to it, then
/// 1 s, doubling, at most [`MAX_BACKOFF`].
pub fn backoff_after(failures: u32, allowance: u32) -> Option<std::time::Duration> {
    let beyond = failures.checked_sub(allowance).filter(|beyond| *beyond > 0)?;
    let seconds = 1u64.checked_shl(beyond - 1).unwrap_or(u64::MAX);
    Some(std::time::Duration::from_secs(seconds).min(MAX_BACKOFF))
}

/// A wait rounded up to whole seconds, as `Retry-After` carries it: a caller that waits it finds
/// the wait over.
fn whole_seconds_up(wait: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests;
