//! The use cases, as methods of one [`AuthService`] that holds the ports and the policy.
//!
//! Each use case has its own request and error types in its own module; the HTTP layer maps each
//! error enum to problem documents in one place.

mod admin;
mod authenticate;
mod login;
mod mail_delivery;
mod mfa;
mod oauth;
mod password;
mod profile;
mod refresh;
mod registration;
mod revocations;
mod sessions;
#[cfg(test)]
mod test_support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

pub use admin::{
    ADMIN_ROLE, AdminError, AuditFilter, AuditPage, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, UpdateUserRequest, UserPage,
};
pub use authenticate::AuthenticateError;
pub use login::{FAILURE_STREAK, LoginError, LoginOutcome, LoginRequest, MAX_BACKOFF, backoff_after};
pub use mail_delivery::{DeliveryReport, MailDelivery, MailDeliveryPolicy};
pub use mfa::{
    ConfirmTotpError, EnrolTotpError, MfaChallengeIssued, MfaLoginError, REAUTHENTICATION_WINDOW, RemoveTotpError,
    TotpEnrolment,
};
pub use oauth::{
    ClaimedClient, FeedPosition, Introspection, REVOCATION_FEED_OVERLAP, REVOCATION_FEED_PAGE, RevocationFeed,
};
pub use password::{ChangePasswordError, ForgotPasswordError, PendingResetMail, ResetPasswordError};
pub use profile::{DeleteAccountError, GrantRoleError, ProfileError, UpdateProfileRequest};
pub use refresh::RefreshError;
pub use registration::{PendingResend, RegisterError, RegisterRequest, ResendVerificationError, VerifyEmailError};
pub use sessions::{RevokeSessionError, SessionError, SessionView};

use crate::audit::{AuditEventKind, NewAuditEvent};
use crate::error::InfrastructureError;
use crate::ids::{MailJobId, SessionId, UserId};
use crate::mail::{Mail, QueuedMail};
use crate::password::PasswordPolicy;
use crate::ports::{
    AccessTokenCodec, AuditLog, BreachedPasswords, Clock, IdGenerator, MailQueue, MailedToken, OneTimeTokenRecord,
    OneTimeTokenRepository, PasswordHasher, RandomSource, RateLimiter, RevocationStore, SecondFactorRepository,
    SessionRepository, TokenPurpose, UserRepository,
};
use crate::rate_limit::{RateLimit, RateLimitExceeded};
use crate::session::Session;
use crate::tokens::{AccessClaims, OneTimeToken, RefreshSecret, RefreshToken, TokenPair};
use crate::user::User;

/// Every port a use case may need, built once at start-up.
#[derive(Clone)]
pub struct AuthPorts {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub one_time_tokens: Arc<dyn OneTimeTokenRepository>,
    pub audit: Arc<dyn AuditLog>,
    pub revocations: Arc<dyn RevocationStore>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub second_factors: Arc<dyn SecondFactorRepository>,
    /// Where mails go that no other state change accompanies; the others are queued by the
    /// repository that makes the change, in its transaction.
    pub mail_queue: Arc<dyn MailQueue>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub breached_passwords: Arc<dyn BreachedPasswords>,
    pub tokens: Arc<dyn AccessTokenCodec>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub random: Arc<dyn RandomSource>,
}

impl std::fmt::Debug for AuthPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthPorts")
    }
}

/// Limits per abuse vector; `None` switches one off.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Failed logins per normalised email, known or not; a success resets it.
    pub login_failures_per_email: Option<RateLimit>,
    /// Wrong second-factor codes per account (at login, enrolment and removal), with the same
    /// back-off as failed passwords; kept apart, so that AUTH_RATE_LOGIN_EMAIL=off does not
    /// leave six-digit codes open to guessing.
    pub mfa_failures_per_user: Option<RateLimit>,
    pub login_per_ip: Option<RateLimit>,
    /// Register, resend and forgot-password together, per client IP.
    pub registration_per_ip: Option<RateLimit>,
    /// Mails caused by register, resend and forgot-password together, per target address.
    pub mail_per_email: Option<RateLimit>,
    pub refresh_per_session: Option<RateLimit>,
    /// Failed HTTP Basic authentications of resource-server clients (introspection, the
    /// revocation feed), per client IP and claimed client id: a weak client secret cannot be
    /// guessed online, and one misconfigured client does not lock out others at its address.
    pub client_auth_failures_per_ip: Option<RateLimit>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            login_failures_per_email: Some(RateLimit::new(10, Duration::from_secs(15 * 60))),
            mfa_failures_per_user: Some(RateLimit::new(10, Duration::from_secs(15 * 60))),
            login_per_ip: Some(RateLimit::new(60, Duration::from_secs(60))),
            registration_per_ip: Some(RateLimit::new(10, Duration::from_secs(3600))),
            mail_per_email: Some(RateLimit::new(3, Duration::from_secs(3600))),
            refresh_per_session: Some(RateLimit::new(60, Duration::from_secs(60))),
            client_auth_failures_per_ip: Some(RateLimit::new(10, Duration::from_secs(15 * 60))),
        }
    }
}

/// The plain values the use cases are configured with.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: time::Duration,
    pub session_ttl: time::Duration,
    pub session_idle_ttl: time::Duration,
    pub refresh_grace: time::Duration,
    pub verify_email_ttl: time::Duration,
    pub reset_password_ttl: time::Duration,
    /// How long a login may wait for its second factor.
    pub mfa_token_ttl: time::Duration,
    /// The issuer name an authenticator app shows beside the account.
    pub totp_issuer: String,
    pub require_email_verification: bool,
    /// Mail the owner when a login comes from a device and address no live session of theirs uses.
    pub notify_new_sign_in: bool,
    pub password: PasswordPolicy,
    pub rate_limits: RateLimits,
    pub refresh_secret: RefreshSecret,
}

impl AuthPolicy {
    /// The contract's defaults, for a given issuer and refresh secret.
    pub fn with_defaults(issuer: impl Into<String>, refresh_secret: RefreshSecret) -> Self {
        Self {
            issuer: issuer.into(),
            audience: "authd".to_owned(),
            access_ttl: time::Duration::minutes(15),
            session_ttl: time::Duration::days(30),
            session_idle_ttl: time::Duration::days(7),
            refresh_grace: time::Duration::seconds(10),
            verify_email_ttl: time::Duration::hours(24),
            reset_password_ttl: time::Duration::minutes(30),
            mfa_token_ttl: time::Duration::minutes(5),
            totp_issuer: "authd".to_owned(),
            require_email_verification: true,
            notify_new_sign_in: true,
            password: PasswordPolicy::default(),
            rate_limits: RateLimits::default(),
            refresh_secret,
        }
    }
}

/// Where a request came from, for rate limits, sessions and the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The caller of a request that presented a valid, unrevoked access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub roles: Vec<String>,
    pub claims: AccessClaims,
}

/// The authentication use cases.
#[derive(Debug, Clone)]
pub struct AuthService {
    ports: AuthPorts,
    policy: AuthPolicy,
}

impl AuthService {
    pub fn new(ports: AuthPorts, policy: AuthPolicy) -> Self {
        Self { ports, policy }
    }

    pub fn policy(&self) -> &AuthPolicy {
        &self.policy
    }

    fn now(&self) -> OffsetDateTime {
        self.ports.clock.now()
    }

    fn new_refresh_token(&self) -> RefreshToken {
        RefreshToken::from_random_bytes(self.ports.random.token_bytes())
    }

    /// Wraps `mail` for the queue, stamped now.
    fn queued(&self, mail: Mail) -> QueuedMail {
        QueuedMail { id: MailJobId::from_uuid(self.ports.ids.new_id()), mail, queued_at: self.now() }
    }

    /// A fresh one-time token for `user`, with the mail that carries it.
    fn mailed_token(&self, user: &User, purpose: TokenPurpose, now: OffsetDateTime) -> MailedToken {
        let token = OneTimeToken::from_random_bytes(self.ports.random.token_bytes());
        let (ttl, mail) = match purpose {
            TokenPurpose::VerifyEmail => {
                (self.policy.verify_email_ttl, Mail::VerifyEmail { to: user.email.clone(), token: token.clone() })
            }
            TokenPurpose::PasswordReset => {
                (self.policy.reset_password_ttl, Mail::PasswordReset { to: user.email.clone(), token: token.clone() })
            }
        };
        MailedToken {
            record: OneTimeTokenRecord {
                hash: token.hash(),
                user_id: user.id,
                purpose,
                created_at: now,
                expires_at: now + ttl,
            },
            mail: self.queued(mail),
        }
    }

    /// Counts one event against an optional limit.
    async fn enforce(&self, limit: Option<RateLimit>, key: &str) -> Result<(), LimitError> {
        let Some(limit) = limit else { return Ok(()) };
        let decision = self.ports.rate_limiter.hit(key, limit).await?;
        match decision.exceeded() {
            Some(exceeded) => Err(LimitError::Exceeded(exceeded)),
            None => Ok(()),
        }
    }

    async fn audit(
        &self,
        kind: AuditEventKind,
        user_id: Option<UserId>,
        session_id: Option<SessionId>,
        context: &RequestContext,
        detail: Value,
    ) -> Result<(), InfrastructureError> {
        self.ports
            .audit
            .append(NewAuditEvent {
                kind,
                user_id,
                session_id,
                ip: context.ip.clone(),
                user_agent: context.user_agent.clone(),
                detail,
                created_at: self.now(),
            })
            .await
    }

    /// Signs an access token for `user` in `session` and pairs it with `refresh_token`.
    fn issue_token_pair(
        &self,
        user: User,
        session: &Session,
        refresh_token: RefreshToken,
        now: OffsetDateTime,
    ) -> Result<TokenPair, InfrastructureError> {
        let expires_at = now + self.policy.access_ttl;
        let claims = AccessClaims {
            iss: self.policy.issuer.clone(),
            sub: user.id,
            aud: self.policy.audience.clone(),
            exp: expires_at.unix_timestamp(),
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            jti: self.ports.ids.new_id().to_string(),
            sid: session.id,
            roles: user.role_names(),
            amr: session.amr.clone(),
            email_verified: user.email_verified,
        };
        let access_token = self.ports.tokens.sign(&claims)?;
        Ok(TokenPair {
            access_token,
            expires_in: self.policy.access_ttl.whole_seconds(),
            refresh_token,
            refresh_expires_in: (session.ends_at() - now).whole_seconds().max(0),
            session_id: session.id,
            user,
        })
    }

    /// Judges a new password: the policy, with the account's email and display name as guessable
    /// words, then the breached list. `Ok(Some(..))` is the field error to report.
    ///
    /// # Errors
    /// When the breached list cannot be consulted: the caller gets a 503 rather than a password
    /// that was never checked against it.
    async fn judge_new_password(
        &self,
        field: &'static str,
        password: &crate::password::Password,
        email: Option<&crate::email::Email>,
        display_name: Option<&crate::user::DisplayName>,
    ) -> Result<Option<crate::validation::FieldError>, InfrastructureError> {
        let mut guessable: Vec<&str> = Vec::new();
        if let Some(email) = email {
            guessable.push(email.as_str());
            guessable.extend(email.as_str().split(['@', '.', '_', '-', '+']).filter(|part| part.len() > 2));
        }
        if let Some(name) = display_name {
            guessable.push(name.as_str());
            guessable.extend(name.as_str().split_whitespace());
        }
        if let Err(error) = self.policy.password.check(field, password, &guessable) {
            return Ok(Some(error));
        }
        if self.ports.breached_passwords.contains(password).await? {
            return Ok(Some(crate::validation::FieldError::new(
                field,
                "breached",
                "appears in a list of passwords exposed in data breaches; choose another",
            )));
        }
        Ok(None)
    }

    /// Makes every access token of `session_id` fail at once, on every replica.
    async fn revoke_access_tokens(
        &self,
        session_id: SessionId,
        now: OffsetDateTime,
    ) -> Result<(), InfrastructureError> {
        self.ports.revocations.revoke_session(session_id, self.revocation_horizon(now)).await
    }

    /// Revokes every live session of `user_id` and makes all its access tokens fail at once, on
    /// every replica; returns how many sessions were live. The changes that must also stop a
    /// session being opened concurrently (a new password, disabling, a role removal) move the
    /// account's credentials version on before calling this, and deletion removes the account:
    /// a session is only ever opened on the current version of an existing account.
    async fn end_every_session(
        &self,
        user_id: UserId,
        reason: crate::session::RevocationReason,
        now: OffsetDateTime,
    ) -> Result<usize, InfrastructureError> {
        let revoked = self.ports.sessions.revoke_all_for_user(user_id, reason, now).await?;
        for session in &revoked {
            self.revoke_access_tokens(session.id, now).await?;
        }
        Ok(revoked.len())
    }
}

/// A rate-limit check that refused, or could not be made.
#[derive(Debug, thiserror::Error)]
enum LimitError {
    #[error(transparent)]
    Exceeded(RateLimitExceeded),
    #[error(transparent)]
    Infrastructure(#[from] InfrastructureError),
}

/// Rate-limit keys, in one place so that two use cases sharing a limit share its key. Client
/// addresses are keyed by their network ([`client_network`]): an IPv6 /64 counts as one client.
///
/// [`client_network`]: crate::rate_limit::client_network
mod limit_keys {
    use crate::email::Email;
    use crate::ids::{SessionId, UserId};
    use crate::rate_limit::client_network;

    pub fn login_failures(email: &str) -> String {
        format!("login-fail:email:{email}")
    }

    pub fn login_backoff(email: &str) -> String {
        format!("login-backoff:email:{email}")
    }

    pub fn login_ip(ip: &str) -> String {
        format!("login:ip:{}", client_network(ip))
    }

    pub fn registration_ip(ip: &str) -> String {
        format!("register:ip:{}", client_network(ip))
    }

    pub fn mail_to(email: &Email) -> String {
        format!("mail:email:{email}")
    }

    /// A configured client's own count at an address; made-up ids (`None`) share one there.
    pub fn client_auth_failures(ip: &str, configured_client_id: Option<&str>) -> String {
        let network = client_network(ip);
        match configured_client_id {
            Some(client_id) => format!("client-auth-fail:ip:{network}:client:{client_id}"),
            None => format!("client-auth-fail:ip:{network}:unknown-client"),
        }
    }

    pub fn refresh_session(session_id: SessionId) -> String {
        format!("refresh:session:{session_id}")
    }

    pub fn mfa_failures(user_id: UserId) -> String {
        format!("mfa-fail:user:{user_id}")
    }

    pub fn mfa_backoff(user_id: UserId) -> String {
        format!("mfa-backoff:user:{user_id}")
    }
}
