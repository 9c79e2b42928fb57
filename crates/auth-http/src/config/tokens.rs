//! What the issued tokens and mailed links say, and how long they work.

use std::time::Duration;

use super::{ConfigError, ServerSettings, SettingsSource};

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    /// The name authenticator apps show beside a TOTP account.
    pub totp_issuer: String,
    pub access_ttl: Duration,
    pub session_ttl: Duration,
    pub session_idle_ttl: Duration,
    pub refresh_grace: Duration,
    /// How long a mailed verification link works.
    pub verify_email_ttl: Duration,
    /// How long a mailed password-reset link works.
    pub reset_password_ttl: Duration,
    /// How long a login may wait for its second factor.
    pub mfa_token_ttl: Duration,
}

impl TokenSettings {
    /// The issuers default to names of the public URL, hence `server`.
    ///
    /// # Errors
    /// The first invalid setting of the section, by variable name.
    pub fn load(source: &SettingsSource, server: &ServerSettings) -> Result<Self, ConfigError> {
        let issuer = source
            .derived("AUTH_ISSUER", "value of AUTH_PUBLIC_URL")
            .map_or_else(|| server.public_url.clone(), str::to_owned);
        if issuer.trim().is_empty() {
            return Err(ConfigError::new("AUTH_ISSUER", "must not be empty"));
        }
        let totp_issuer = source
            .derived("AUTH_TOTP_ISSUER", "host of AUTH_PUBLIC_URL")
            .unwrap_or(server.public_host())
            .trim()
            .to_owned();
        if totp_issuer.is_empty() || totp_issuer.chars().count() > 100 || totp_issuer.contains(':') {
            return Err(ConfigError::new("AUTH_TOTP_ISSUER", "expected 1 to 100 characters without ':'"));
        }
        let audience = source.text("AUTH_AUDIENCE", "authd");
        if audience.trim().is_empty() {
            return Err(ConfigError::new("AUTH_AUDIENCE", "must not be empty"));
        }
        let access_ttl = source.duration("AUTH_ACCESS_TTL", "15m")?;
        if access_ttl > Duration::from_secs(86_400) {
            // Access tokens cannot be recalled from a verifier that trusts their signature; and the
            // revocation feed keeps two days of news.
            return Err(ConfigError::new("AUTH_ACCESS_TTL", "at most 1d: access tokens are meant to be short-lived"));
        }
        Ok(Self {
            issuer,
            audience,
            totp_issuer,
            access_ttl,
            session_ttl: source.duration("AUTH_SESSION_TTL", "30d")?,
            session_idle_ttl: source.duration("AUTH_SESSION_IDLE_TTL", "7d")?,
            refresh_grace: source.duration("AUTH_REFRESH_GRACE", "10s")?,
            verify_email_ttl: source.duration("AUTH_VERIFY_EMAIL_TTL", "24h")?,
            reset_password_ttl: source.duration("AUTH_RESET_PASSWORD_TTL", "30m")?,
            mfa_token_ttl: source.duration("AUTH_MFA_TOKEN_TTL", "5m")?,
        })
    }
}
