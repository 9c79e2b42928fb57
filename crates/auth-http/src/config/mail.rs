//! Mail: the transport, the sender, and the delivery worker's pace.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, SettingsSource};

#[derive(Debug, Clone)]
pub struct MailSettings {
    pub outbox: PathBuf,
    /// `None`: mail is written to `outbox`.
    pub smtp_url: Option<SecretString>,
    /// The longest an SMTP connection or command may take.
    pub smtp_timeout: Duration,
    pub from: String,
    /// Delivery attempts of a mail before it is marked failed.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; doubled after each further one, up to an hour.
    pub retry: Duration,
    /// How often each replica looks for due mail.
    pub poll_interval: Duration,
    /// Mail the owner of an account when it is signed in to from a new device or address.
    pub new_sign_in: bool,
}

impl MailSettings {
    /// # Errors
    /// The first invalid setting of the section, by variable name.
    pub fn load(source: &SettingsSource) -> Result<Self, ConfigError> {
        let smtp_url = source.secret("AUTH_SMTP_URL")?;
        if let Some(url) = &smtp_url {
            let url = url.expose_secret();
            let host = url.strip_prefix("smtp://").or_else(|| url.strip_prefix("smtps://"));
            // Only the shape is judged here; the message never repeats the URL, which may hold a password.
            if host.is_none_or(|rest| rest.is_empty() || rest.contains(char::is_whitespace)) {
                return Err(ConfigError::new(
                    "AUTH_SMTP_URL",
                    "expected smtp://host:port (STARTTLS with ?tls=required) or smtps://user:password@host:port",
                ));
            }
        }
        let from = source.text("AUTH_MAIL_FROM", "no-reply@localhost");
        if auth_domain::Email::parse(&from).is_err() {
            return Err(ConfigError::new("AUTH_MAIL_FROM", format!("expected an email address, got {from:?}")));
        }
        Ok(Self {
            outbox: PathBuf::from(source.text("AUTH_MAIL_OUTBOX", "data/outbox")),
            smtp_url,
            smtp_timeout: source.duration("AUTH_SMTP_TIMEOUT", "10s")?,
            from,
            max_attempts: u32::try_from(source.count("AUTH_MAIL_MAX_ATTEMPTS", 12, 1, 100)?).unwrap_or(12),
            retry: source.duration("AUTH_MAIL_RETRY", "10s")?,
            poll_interval: source.duration("AUTH_MAIL_POLL_INTERVAL", "1s")?,
            new_sign_in: source.flag("AUTH_MAIL_NEW_SIGN_IN", true)?,
        })
    }
}
