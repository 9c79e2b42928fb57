//! The plain values the use cases are configured with, and the contract's defaults.

use std::time::Duration;

use super::ResourceClients;
use crate::password::PasswordPolicy;
use crate::rate_limit::RateLimit;
use crate::tokens::RefreshSecret;

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
    /// The resource servers that may introspect tokens and read the revocation feed.
    pub resource_clients: ResourceClients,
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
            resource_clients: ResourceClients::default(),
        }
    }
}
