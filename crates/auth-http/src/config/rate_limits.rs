//! The rate limits, one variable each. The section is the domain's own [`RateLimits`]: its
//! defaults and its field names are the domain's, whatever the variables are called.

use auth_domain::RateLimits;

use super::{ConfigError, SettingsSource};

/// # Errors
/// The first invalid setting of the section, by variable name.
pub fn load(source: &SettingsSource) -> Result<RateLimits, ConfigError> {
    let defaults = RateLimits::default();
    Ok(RateLimits {
        login_failures_per_email: source.rate("AUTH_RATE_LOGIN_EMAIL", defaults.login_failures_per_email)?,
        login_per_ip: source.rate("AUTH_RATE_LOGIN_IP", defaults.login_per_ip)?,
        registration_per_ip: source.rate("AUTH_RATE_REGISTER_IP", defaults.registration_per_ip)?,
        mail_per_email: source.rate("AUTH_RATE_EMAIL_SEND", defaults.mail_per_email)?,
        refresh_per_session: source.rate("AUTH_RATE_REFRESH_SESSION", defaults.refresh_per_session)?,
        mfa_failures_per_user: source.rate("AUTH_RATE_MFA_USER", defaults.mfa_failures_per_user)?,
        client_auth_failures_per_ip: source.rate("AUTH_RATE_CLIENT_AUTH", defaults.client_auth_failures_per_ip)?,
    })
}
