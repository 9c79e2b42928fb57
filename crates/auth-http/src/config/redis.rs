//! Where revocations and rate limits are kept.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, SettingsSource};

/// Where revocations and rate limits are kept.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// In this process: one node only.
    InProcess,
    /// In Redis, shared by every replica; keys begin with `prefix`.
    Redis { url: SecretString, prefix: String },
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub store: StoreSettings,
    /// The longest a request waits for Redis before it gets a 503.
    pub timeout: Duration,
}

impl RedisSettings {
    /// # Errors
    /// The first invalid setting of the section, by variable name.
    pub fn load(source: &SettingsSource) -> Result<Self, ConfigError> {
        let store = match source.secret("AUTH_REDIS_URL")? {
            None => StoreSettings::InProcess,
            Some(url)
                if url.expose_secret().starts_with("redis://") || url.expose_secret().starts_with("rediss://") =>
            {
                // Read only with a URL, so that a prefix set alone is reported as not a setting.
                let prefix = source.text("AUTH_REDIS_PREFIX", "auth:");
                if prefix.is_empty() || prefix.contains(char::is_whitespace) {
                    return Err(ConfigError::new("AUTH_REDIS_PREFIX", "must be non-empty, without spaces"));
                }
                StoreSettings::Redis { url, prefix }
            }
            Some(_) => return Err(ConfigError::new("AUTH_REDIS_URL", "expected redis://...")),
        };
        Ok(Self { store, timeout: source.duration("AUTH_REDIS_TIMEOUT", "1s")? })
    }
}
